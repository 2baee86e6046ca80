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
    assert not workers.holds_repositories(few)
    assert workers.holds_repositories(few, at_least=PROCESS_POOL_MIN_REPOS - 1)
    many = _org(tmp_path / "many", PROCESS_POOL_MIN_REPOS, nested=True)  # org/team/repo
    assert workers.holds_repositories(many)
    assert not workers.holds_repositories(many, depth=1)
    hidden = tmp_path / "hidden"
    _org(hidden / ".cache", PROCESS_POOL_MIN_REPOS)  # a hidden folder is not entered
    assert not workers.holds_repositories(hidden)
    assert not workers.holds_repositories(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    assert not workers.holds_repositories(tmp_path / "file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_folder_is_not_counted(tmp_path: Path) -> None:
    org = _org(tmp_path / "org", PROCESS_POOL_MIN_REPOS, nested=True)
    (org / "team0").chmod(0)
    try:
        assert not workers.holds_repositories(org)
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
    cfg.write_text(f"git:\n  workers: 1\n  targets:\n    - path: {org}\n")
    one = subprocess.run([sys.executable, "-m", "mlaudit.cli", "-vv", "scan", "--config", str(cfg), "--out",
                          str(tmp_path / "c"), "--no-cache", "--format", "json"],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    assert "worker server started ahead" not in one.stderr
    cfg.write_text(f"git:\n  targets:\n    - path: {org}\n")
    two = subprocess.run([sys.executable, "-m", "mlaudit.cli", "-vv", "scan", "--config", str(cfg), "--out",
                          str(tmp_path / "d"), "--no-cache", "--format", "json"],
                         capture_output=True, text=True, timeout=300)
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
