"""Incremental re-scans: an unchanged commit is not read again; anything that could change the
result (a new commit, another detector version, a damaged entry) is read afresh."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.git import scancache
from mlaudit.collectors.git.collector import GitCollector
from mlaudit.config import GitSettings, GitTarget
from tests.gitutil import commit_files, make_repo

TRAIN = "import mlflow\n\ndef train():\n    mlflow.start_run()\n    mlflow.log_metric('auc', 0.9)\n"
FILES = {"train.py": TRAIN, "requirements.txt": "scikit-learn\nmlflow\n",
         ".github/workflows/ci.yml": "on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n      - run: pytest\n"}


def _facts(result) -> list[tuple]:
    return [(e.signal, e.locator, json.dumps(e.attributes, sort_keys=True, default=str), e.excerpt)
            for e in result.evidence]


def _collect(org: Path, cache: Path, workers: int = 1):
    collector = GitCollector(GitSettings(targets=[GitTarget(path=org)], workers=workers))
    return collector.collect(CollectContext(lookback_days=180, cache_dir=str(cache)))


@pytest.fixture
def cache_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAUDIT_SCAN_CACHE", "on")


def test_unchanged_repository_comes_from_the_cache(tmp_path: Path, cache_on: None) -> None:
    org = tmp_path / "org"
    make_repo(org / "a", FILES)
    make_repo(org / "b", {"README.md": "# b\n"})
    cold = _collect(org, tmp_path / "cache")
    assert not any(t.get("cached") for t in cold.targets)
    warm = _collect(org, tmp_path / "cache")
    assert all(t.get("cached") for t in warm.targets)
    assert _facts(warm) == _facts(cold)  # team activity (its history kept too) is equal
    strip = ("duration_s", "cached", "blobs_parsed", "blobs_searched")
    assert [{k: v for k, v in t.items() if k not in strip} for t in warm.targets] == \
        [{k: v for k, v in t.items() if k not in strip} for t in cold.targets]
    entries = list((tmp_path / "cache" / "scans").rglob("*.json"))
    # per repository: its tree's entry and its history's
    assert len(entries) == 4 and not list((tmp_path / "cache" / "scans").rglob(".tmp-*"))


def test_a_new_commit_or_detector_version_is_read_again(tmp_path: Path, cache_on: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    org = tmp_path / "org"
    repo = make_repo(org / "a", {"README.md": "# a\n"})
    make_repo(org / "b", {"README.md": "# b\n"})
    _collect(org, tmp_path / "cache")
    commit_files(repo, {"train.py": TRAIN}, "add training")
    second = _collect(org, tmp_path / "cache")
    cached = {t["name"]: bool(t.get("cached")) for t in second.targets}
    assert cached == {"a": False, "b": True}
    assert any(e.signal == "experiment_tracking" and e.subject == "a" for e in second.evidence)
    monkeypatch.setattr(scancache, "detector_version", lambda: "another-version")
    third = _collect(org, tmp_path / "cache")
    assert not any(t.get("cached") for t in third.targets)


def test_a_damaged_entry_is_a_miss_and_off_means_off(tmp_path: Path, cache_on: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    org = tmp_path / "org"
    make_repo(org / "a", FILES)
    cold = _collect(org, tmp_path / "cache")
    for entry in (tmp_path / "cache" / "scans").rglob("*.json"):
        entry.write_text('{"key": "x", "evidence": [')
    again = _collect(org, tmp_path / "cache")
    assert not any(t.get("cached") for t in again.targets)
    assert _facts(again) == _facts(cold)
    monkeypatch.setenv("MLAUDIT_SCAN_CACHE", "off")
    other = tmp_path / "other-cache"
    _collect(org, other)
    assert not other.exists()


def test_detector_version_follows_the_collector_source() -> None:
    version = scancache.detector_version()
    assert len(version) == 16 and version == scancache.detector_version()


def test_an_estate_reads_only_what_changed(tmp_path: Path, cache_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enough repositories for worker processes on the first run; the second run reads the one
    that changed and takes the rest from the cache, with the same evidence as a cold run."""
    org = tmp_path / "org"
    repos = [make_repo(org / f"r{i}", {**FILES, "README.md": f"# r{i}\n"}) for i in range(9)]
    _collect(org, tmp_path / "cache", workers=2)
    commit_files(repos[3], {"serve.py": "import joblib\nmodel = joblib.load('m.pkl')\n"}, "serve")
    warm = _collect(org, tmp_path / "cache", workers=2)
    assert {t["name"]: bool(t.get("cached")) for t in warm.targets} == {f"r{i}": i != 3 for i in range(9)}
    monkeypatch.setenv("MLAUDIT_SCAN_CACHE", "off")
    cold = _collect(org, tmp_path / "unused")
    assert sorted(_facts(warm)) == sorted(_facts(cold))


def test_an_unchanged_rescan_runs_no_git_and_makes_no_object_store(
        tmp_path: Path, cache_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-scan of unchanged commits takes the tree's evidence and the window's history from the
    cache: no object store is made and no git process runs, and the evidence is the cold run's."""
    from mlaudit.collectors.git import blobs, collector

    org = tmp_path / "org"
    make_repo(org / "a", FILES)
    make_repo(org / "b", {"README.md": "# b\n"})
    cold = _collect(org, tmp_path / "cache")
    stores: list[Path] = []
    real_init = blobs.ObjectStore.__init__

    def counting_init(self, git_dir: Path) -> None:
        stores.append(git_dir)
        real_init(self, git_dir)

    monkeypatch.setattr(blobs.ObjectStore, "__init__", counting_init)
    monkeypatch.setattr(collector.ObjectStore, "__init__", counting_init)
    warm = _collect(org, tmp_path / "cache")
    assert all(t.get("cached") for t in warm.targets)
    assert stores == []
    assert _facts(warm) == _facts(cold)
    activity = [e for e in warm.evidence if e.signal == "team_activity"]
    assert len(activity) == 2 and all(e.attributes["commits"] >= 1 for e in activity)


def test_cached_history_moves_with_the_window_and_a_longer_window_reads_again(
        tmp_path: Path, cache_on: None) -> None:
    """The history kept for a commit is filtered to a later window; a window starting earlier than
    the kept one runs git again; a malformed entry is a miss."""
    from datetime import UTC, datetime, timedelta

    from mlaudit.collectors.git.collector import cached_history, read_history
    from mlaudit.collectors.git.scancache import ScanCache
    from mlaudit.collectors.git.view import RepoView

    repo = make_repo(tmp_path / "r", {"README.md": "# r\n"})
    commit_files(repo, {"a.py": "x = 1\n"}, "second")
    git_dir = repo / ".git"
    head = (git_dir / "refs" / "heads" / "main").read_text().strip() if (git_dir / "refs" / "heads" / "main").exists() \
        else __import__("subprocess").run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                                          text=True, check=True).stdout.strip()
    view = RepoView(name="r", commit=head, entries={})
    calls: list[tuple[str, ...]] = []

    def git_run(*args: str, timeout: float = 600) -> str:
        import subprocess

        calls.append(args)
        return subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True,
                              check=True).stdout

    cache = ScanCache(tmp_path / "cache")
    now = datetime.now(UTC)
    first, _ = cached_history(git_run, view, now - timedelta(days=30), git_dir, cache)
    assert len(first) == 2 and len(calls) == 1
    # a later window (the clock moved on): from the cache, filtered; nothing in it is older than its start
    later = now + timedelta(days=400)
    kept, head_time = cached_history(git_run, view, later - timedelta(days=30), git_dir, cache)
    assert kept == [] and len(calls) == 1
    assert head_time() == max(ts for ts, _, _ in first) and len(calls) == 2  # dormant: the commit's own time
    assert head_time() == max(ts for ts, _, _ in first) and len(calls) == 2  # ... kept once asked
    same, _ = cached_history(git_run, view, now - timedelta(days=30), git_dir, cache)
    assert same == first and len(calls) == 2
    # a longer window than the one kept reads history again, and equals a direct read
    longer, _ = cached_history(git_run, view, now - timedelta(days=400), git_dir, cache)
    assert len(calls) == 3 and longer == read_history(git_run, head, now - timedelta(days=400))
    for entry in (tmp_path / "cache").rglob("*.json"):
        data = json.loads(entry.read_text())
        data["data"]["commits"] = [["not", "a", "commit", "at all"]]
        entry.write_text(json.dumps(data))
    again, _ = cached_history(git_run, view, now - timedelta(days=30), git_dir, cache)
    assert again == first and len(calls) == 5  # the malformed entry was a miss (plus the direct read above)


def test_cache_entries_are_read_back_unredacted_only_under_the_same_redaction_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries come back without redacting again; the key's digest covers the redaction code,
    so entries written under other redaction rules are never read."""
    from mlaudit import redact
    from mlaudit.evidence import EvidenceItem

    item = EvidenceItem("git", "experiment_tracking", "r:train.py:3@abc", "r",
                        attributes={"tool": "mlflow", "url": "https://user:hunter2@example.com/x"})
    assert "hunter2" not in json.dumps(item.to_dict())
    back = EvidenceItem.from_dict(item.to_dict(), redacted=True)
    assert back == item and back.id == item.id
    secret = "password=hunter2"
    planted = {**item.to_dict(), "excerpt": secret}
    assert EvidenceItem.from_dict(planted, redacted=True).excerpt == secret  # trusted as written
    assert "hunter2" not in str(EvidenceItem.from_dict(planted).excerpt)  # anything else is redacted
    with pytest.raises(TypeError):
        EvidenceItem.from_dict({**item.to_dict(), "locator": None}, redacted=True)
    before = scancache.detector_version()
    changed = tmp_path / "redact.py"
    changed.write_bytes(Path(redact.__file__).read_bytes() + b"\n# another rule\n")
    monkeypatch.setattr(redact, "__file__", str(changed))
    scancache.detector_version.cache_clear()
    try:
        assert scancache.detector_version() != before
    finally:
        monkeypatch.undo()
        scancache.detector_version.cache_clear()
    assert scancache.detector_version() == before


def test_unchanged_repositories_are_read_in_one_thread_changed_ones_in_the_pool(
        tmp_path: Path, cache_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged repository is a few cache files to decode: they are read in the collector's
    own thread (threads contending for the interpreter read them three times slower); a changed
    repository of a small estate still goes to the thread pool (git runs there)."""
    import threading

    from mlaudit.collectors.git import collector

    org = tmp_path / "org"
    changed = make_repo(org / "a", FILES)
    make_repo(org / "b", {"README.md": "# b\n"})
    make_repo(org / "c", {"README.md": "# c\n"})
    cold = _collect(org, tmp_path / "cache", workers=4)
    commit_files(changed, {"serve.py": "import joblib\n"}, "serve")
    threads: dict[str, str] = {}
    real = collector.GitCollector._scan_one

    def recording(self, ref, *args, **kw):
        threads[ref.name] = threading.current_thread().name
        return real(self, ref, *args, **kw)

    monkeypatch.setattr(collector.GitCollector, "_scan_one", recording)
    here = threading.current_thread().name
    warm = _collect(org, tmp_path / "cache", workers=4)
    assert {t["name"]: bool(t.get("cached")) for t in warm.targets} == {"a": False, "b": True, "c": True}
    assert threads["b"] == threads["c"] == here
    assert threads["a"].startswith("git")
    assert [t["name"] for t in warm.targets] == [t["name"] for t in cold.targets]  # the estate's order
    unchanged = {"b", "c"}
    assert [e for e in _facts(warm) if e[1].split(":")[0] in unchanged] == \
        [e for e in _facts(cold) if e[1].split(":")[0] in unchanged]
