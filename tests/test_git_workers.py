"""The git collector's worker server, started ahead of the scan where a scan will use it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gitutil import make_repo

from mlaudit.collectors.git import workers
from mlaudit.collectors.git.collector import PROCESS_POOL_MIN_REPOS


def _org(root: Path, n: int, nested: bool = False) -> Path:
    for i in range(n):
        where = root / (f"team{i % 2}" if nested else "") / f"svc{i:02d}"
        make_repo(where, {"train.py": f"import sklearn\nx = {i}\n"})
    return root


def test_a_folder_holds_enough_repositories_counted_cheaply(tmp_path: Path) -> None:
    assert workers.POOL_MIN_REPOS == PROCESS_POOL_MIN_REPOS
    few = _org(tmp_path / "few", PROCESS_POOL_MIN_REPOS - 1)
    assert not workers.pool_likely(few)
    many = _org(tmp_path / "many", PROCESS_POOL_MIN_REPOS, nested=True)  # org/team/repo
    assert workers.pool_likely(many)
    assert not workers.pool_likely(many, depth=1)
    hidden = tmp_path / "hidden"
    _org(hidden / ".cache", PROCESS_POOL_MIN_REPOS)  # a hidden folder is not entered
    assert not workers.pool_likely(hidden)
    assert not workers.pool_likely(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    assert not workers.pool_likely(tmp_path / "file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_folder_is_not_counted(tmp_path: Path) -> None:
    org = _org(tmp_path / "org", PROCESS_POOL_MIN_REPOS, nested=True)
    (org / "team0").chmod(0)
    try:
        assert not workers.pool_likely(org)
    finally:
        (org / "team0").chmod(0o755)


def test_the_pool_size_is_the_workers_at_most_one_per_core() -> None:
    cores = os.cpu_count() or 1
    assert workers.pool_size(1) == 1
    assert workers.pool_size(0) == 1
    assert workers.pool_size(cores + 5) == cores


def _scan(org: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlaudit.cli", "-vv", "scan", str(org), "--out", str(out),
                           "--no-cache", "--format", "json", *extra],
                          capture_output=True, text=True, timeout=300)


def _scan_with(cfg: Path, text: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`mlaudit -vv scan --config CFG` with `text` written to CFG first."""
    cfg.write_text(text)
    return subprocess.run([sys.executable, "-m", "mlaudit.cli", "-vv", "scan", "--config", str(cfg), "--out",
                           str(out), "--no-cache", "--format", "json"], capture_output=True, text=True, timeout=300)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the scan runs in threads")
def test_scan_starts_the_worker_server_ahead_where_it_will_use_it(tmp_path: Path) -> None:
    """`mlaudit scan ORG` of enough repositories starts the server before the GX search and the
    repository discovery; the workers then scan from it and find what they find without it."""
    org = _org(tmp_path / "org", PROCESS_POOL_MIN_REPOS)
    early = _scan(org, tmp_path / "a")
    assert early.returncode == 0, early.stderr
    assert "worker server started ahead of the scan" in early.stderr
    small = _org(tmp_path / "small", 2)
    late = _scan(small, tmp_path / "b")
    assert late.returncode == 0, late.stderr
    assert "worker server started ahead" not in late.stderr
    import json

    report = json.loads((tmp_path / "a" / "report.json").read_text())
    names = sorted(r["name"] for r in report["repositories"])
    assert names == [f"svc{i:02d}" for i in range(PROCESS_POOL_MIN_REPOS)]
    # one worker: no server at all
    cfg = tmp_path / "one.yaml"
    one = _scan_with(cfg, f"git:\n  workers: 1\n  targets:\n    - path: {org}\n", tmp_path / "c")
    assert one.returncode == 0, one.stderr
    assert "worker server started ahead" not in one.stderr
    two = _scan_with(cfg, f"git:\n  targets:\n    - path: {org}\n", tmp_path / "d")
    assert two.returncode == 0, two.stderr
    assert "worker server started ahead of the scan" in two.stderr


def test_a_scan_cache_holding_entries_leaves_the_server_to_the_scan(tmp_path: Path) -> None:
    """With the scan cache on, the first scan (an empty cache) starts the server ahead; the next
    one, whose repositories the cache may answer for, does not (the scan starts it if it finds
    enough changed repositories), and reads them all from the cache."""
    org = _org(tmp_path / "org", PROCESS_POOL_MIN_REPOS)
    env = {**os.environ, "HOME": str(tmp_path / "home"), "MLAUDIT_SCAN_CACHE": "on"}
    runs = []
    for out in ("a", "b"):
        runs.append(subprocess.run([sys.executable, "-m", "mlaudit.cli", "-vv", "scan", str(org), "--out",
                                    str(tmp_path / out), "--format", "json"],
                                   capture_output=True, text=True, timeout=300, env=env))
        assert runs[-1].returncode == 0, runs[-1].stderr
    if (os.cpu_count() or 1) >= 2:
        assert "worker server started ahead of the scan" in runs[0].stderr
    assert "worker server started ahead" not in runs[1].stderr
    assert f"scan cache: {PROCESS_POOL_MIN_REPOS} of {PROCESS_POOL_MIN_REPOS} repositories unchanged" in runs[1].stderr
    cache = tmp_path / "home" / ".cache" / "mlaudit" / "scans"
    assert workers._has_entries(cache)
    assert not workers.start_early([org], 4, cache)
    assert not workers._has_entries(tmp_path / "nowhere") and not workers._has_entries(None)


def test_the_index_header_says_how_many_files_a_checkout_holds(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "x = 1\n", "b/c.py": "y = 2\n", "README.md": "# r\n"})
    assert workers.index_entries(repo / ".git") == 3
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    assert workers.index_entries(bare) is None  # no checkout, no index: counted as small
    broken = make_repo(tmp_path / "broken", {"a.py": "x = 1\n"})
    (broken / ".git" / "index").write_bytes(b"not an index at all")
    assert workers.index_entries(broken / ".git") is None
    (broken / ".git" / "index").write_bytes(b"DIRC\x00\x00")  # cut short
    assert workers.index_entries(broken / ".git") is None


def test_two_large_repositories_are_worth_worker_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "POOL_LARGE_FILES", 3)
    big = [make_repo(tmp_path / f"big{i}", {f"m{n}.py": f"x = {n}\n" for n in range(3)}) / ".git" for i in range(2)]
    small = [make_repo(tmp_path / f"small{i}", {"m.py": "x = 1\n"}) / ".git" for i in range(2)]
    assert workers.worth_a_pool(big)
    assert workers.worth_a_pool(big + small)
    assert not workers.worth_a_pool(big[:1] + small)  # one large repository alone: threads
    assert not workers.worth_a_pool(small)
    assert workers.worth_a_pool(small * (workers.POOL_MIN_REPOS // 2))  # enough of any size
    assert workers.pool_likely(tmp_path)
    assert not workers.pool_likely(big[0].parent)  # a folder that is one repository


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the scan runs in threads")
def test_a_few_large_repositories_are_read_side_by_side(tmp_path: Path) -> None:
    """Fewer repositories than POOL_MIN_REPOS are still read in worker processes (the server
    started ahead) when two of them are large; a few small ones are read in threads. Either
    way the report is the same."""
    files = {f"pkg/m{n:03d}.py": f"import sklearn\nx = {n}\n" for n in range(workers.POOL_LARGE_FILES)}
    for name in ("lib-a", "lib-b"):
        make_repo(tmp_path / "large" / name, {**files, "train.py": "import mlflow\nmlflow.log_metric('m', 1)\n"})
    large = _scan(tmp_path / "large", tmp_path / "a")
    assert large.returncode == 0, large.stderr
    assert "reading 2 repositories in 2 worker processes" in large.stderr
    assert "worker server started ahead of the scan" in large.stderr
    small = _org(tmp_path / "small", 2)
    late = _scan(small, tmp_path / "b")
    assert late.returncode == 0, late.stderr
    assert "worker processes" not in late.stderr and "worker server started ahead" not in late.stderr
    # one worker: the same repositories read in a thread
    one = _scan_with(tmp_path / "one.yaml", f"git:\n  workers: 1\n  targets:\n    - path: {tmp_path / 'large'}\n",
                     tmp_path / "c")
    assert one.returncode == 0, one.stderr
    assert "worker processes" not in one.stderr
    import gzip
    import json

    def found(out: str) -> tuple[list, list]:
        report = json.loads((tmp_path / out / "report.json").read_text())
        bundle = json.loads(gzip.decompress((tmp_path / out / "evidence.json.gz").read_bytes()))
        items = sorted(json.dumps({k: v for k, v in item.items() if k != "observed_at"}, sort_keys=True)
                             for source in bundle["sources"] if source["name"] == "git" for item in source["evidence"])
        return [(r["name"], r["level"]) for r in report["repositories"]], items
    assert found("a")[1] and found("a") == found("c")
    assert [name for name, _ in found("a")[0]] == ["lib-a", "lib-b"]
