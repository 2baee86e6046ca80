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
    assert _facts(warm) == _facts(cold)  # team activity is read anew, and equal
    strip = ("duration_s", "cached", "blobs_parsed", "blobs_searched")
    assert [{k: v for k, v in t.items() if k not in strip} for t in warm.targets] == \
        [{k: v for k, v in t.items() if k not in strip} for t in cold.targets]
    entries = list((tmp_path / "cache" / "scans").rglob("*.json"))
    assert len(entries) == 2 and not list((tmp_path / "cache" / "scans").rglob(".tmp-*"))


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
