"""The clone cache's housekeeping against real git remotes (`file://` with uploadpack.allowFilter):
markers, `git.mirror_retention_days`, folders that are not mlaudit's left alone, and locks that let
concurrent runs share one cache (two scans of one URL into an empty cache: both succeed, one clone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gitutil import commit_files, git, make_repo

from mlaudit.collectors.git.mirrors import LOCKS, MARKER, MirrorCache, read_marker
from mlaudit.collectors.git.repos import RepoError, cache_path

pytestmark = pytest.mark.faults  # part of the fault matrix (`pytest -m faults`)

TRAIN = "import mlflow\n\nmlflow.log_metric('auc', 0.9)\n"


def upstream(tmp_path: Path, name: str = "model") -> str:
    repo = make_repo(tmp_path / "remotes" / name, {"train.py": TRAIN, "README.md": f"# {name}\n"})
    git(repo, "config", "uploadpack.allowFilter", "true")
    return f"file://{repo}"


def age(folder: Path, days: float) -> None:
    """Make a mirror look unused for `days` (its marker is all housekeeping reads)."""
    marker = json.loads((folder / MARKER).read_text())
    marker["last_used"] = (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")
    (folder / MARKER).write_text(json.dumps(marker))


def mlaudit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlaudit.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MLAUDIT_SCAN_CACHE": "off", **(env or {})})


def test_a_mirror_carries_a_marker_and_is_fetched_on_the_next_run(tmp_path: Path) -> None:
    url = upstream(tmp_path)
    cache = tmp_path / "cache"
    with MirrorCache(cache) as mirrors:
        dest, action = mirrors.get(url, filter_spec="blob:limit=1024")
    assert action == "cloned" and dest == cache_path(cache, url)
    marker = read_marker(dest)
    assert marker is not None
    assert marker["url"] == url and marker["filter"] == "blob:limit=1024"
    assert marker["created"] <= marker["last_used"]
    assert git(dest, "config", "remote.origin.partialclonefilter").strip() == "blob:limit=1024"
    assert oct((dest / MARKER).stat().st_mode & 0o777) == "0o600"
    commit_files(Path(url.removeprefix("file://")), {"serve.py": "print(1)\n"}, message="second")
    with MirrorCache(cache) as mirrors:
        again, action = mirrors.get(url, filter_spec="blob:limit=1024")
    assert (again, action) == (dest, "fetched")
    later = read_marker(dest)
    assert later is not None and later["created"] == marker["created"] and later["last_used"] > marker["last_used"]
    assert "second" in git(dest, "log", "--format=%s", "-1")


def test_retention_removes_only_unused_mlaudit_mirrors(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    used, stale, recent = upstream(tmp_path, "used"), upstream(tmp_path, "stale"), upstream(tmp_path, "recent")
    for url in (used, stale, recent):
        with MirrorCache(cache) as mirrors:
            mirrors.get(url)
    age(cache_path(cache, stale), 45)
    age(cache_path(cache, recent), 20)
    age(cache_path(cache, used), 400)  # removed at the start like any unused mirror, then cloned again
    # folders that are not mlaudit's, however old: a user's notes, a bare repository, a symlink
    (cache / "notes").mkdir()
    (cache / "notes" / "todo.txt").write_text("keep me\n")
    git(tmp_path, "clone", "-q", "--bare", used.removeprefix("file://"), str(cache / "someone-else.git"))
    (cache / "elsewhere").symlink_to(tmp_path / "remotes")
    (cache / "fake").mkdir()
    (cache / "fake" / MARKER).write_text("not json written by mlaudit\n")
    for p in (cache / "notes", cache / "someone-else.git", cache / "fake"):
        os.utime(p, (0, 0))
    cfg = tmp_path / "mlaudit.yaml"
    cfg.write_text(f"git:\n  cache_dir: {cache}\n  mirror_retention_days: 30\n  targets:\n    - url: {used}\n")
    proc = mlaudit("-v", "scan", "--config", str(cfg), "-o", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr
    assert "clone cache: removed 2 mirror(s) unused for more than 30 days" in proc.stderr
    assert not cache_path(cache, stale).exists()
    assert cache_path(cache, recent).is_dir()
    assert read_marker(cache_path(cache, used)) is not None  # cloned again for this run
    assert (cache / "notes" / "todo.txt").read_text() == "keep me\n"
    assert (cache / "someone-else.git" / "HEAD").is_file()
    assert (cache / "elsewhere").is_symlink() and (tmp_path / "remotes" / "stale").is_dir()
    assert (cache / "fake" / MARKER).is_file()
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert any(e["signal"] == "experiment_tracking" for e in report["evidence"])


def test_default_retention_is_ninety_days(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old, young = upstream(tmp_path, "old"), upstream(tmp_path, "young")
    with MirrorCache(cache) as mirrors:
        mirrors.get(old)
        mirrors.get(young)
    age(cache_path(cache, old), 91)
    age(cache_path(cache, young), 89)
    assert MirrorCache(cache).prune() == [old]
    assert sorted(p.name for p in cache.iterdir() if p.name != LOCKS) == [cache_path(cache, young).name]


def test_a_mirror_in_use_by_another_run_is_never_removed(tmp_path: Path) -> None:
    url = upstream(tmp_path)
    cache = tmp_path / "cache"
    holder = MirrorCache(cache)
    dest, _ = holder.get(url)  # held (shared lock) until closed, as during a scan
    age(dest, 365)
    try:
        assert MirrorCache(cache).prune(30) == []
        assert git(dest, "rev-parse", "HEAD")
    finally:
        holder.close()
    assert MirrorCache(cache).prune(30) == [url]
    assert not dest.exists()


def test_a_removal_cut_short_is_finished_and_the_mirror_cloned_again(tmp_path: Path) -> None:
    url = upstream(tmp_path)
    cache = tmp_path / "cache"
    with MirrorCache(cache) as mirrors:
        dest, _ = mirrors.get(url)
    marker = read_marker(dest)
    assert marker is not None
    # what a kill -9 early in a removal leaves: marked as being removed, the packs gone, the
    # folder still looking like a repository
    (dest / MARKER).write_text(json.dumps({**marker, "removing": True}))
    subprocess.run(["rm", "-rf", str(dest / "objects" / "pack"), str(dest / "packed-refs")], check=True)
    with MirrorCache(cache) as mirrors:
        again, action = mirrors.get(url)
    assert (again, action) == (dest, "cloned")
    assert git(dest, "cat-file", "-t", "HEAD").strip() == "commit"
    assert not read_marker(dest).get("removing")  # type: ignore[union-attr]
    # later: only the marker and config were left (kill -9 late in a removal); housekeeping
    # finishes the removal however recently the mirror was used
    for child in dest.iterdir():
        if child.name not in (MARKER, "config"):
            subprocess.run(["rm", "-rf", str(child)], check=True)
    (dest / MARKER).write_text(json.dumps({**marker, "removing": True}))
    assert MirrorCache(cache).prune(30) == [url]
    assert not dest.exists()


def test_a_foreign_folder_at_a_mirrors_place_is_an_error_and_kept(tmp_path: Path) -> None:
    url = upstream(tmp_path)
    cache = tmp_path / "cache"
    dest = cache_path(cache, url)
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("data\n")
    with pytest.raises(RepoError, match="exists and is not an mlaudit mirror"), MirrorCache(cache) as mirrors:
        mirrors.get(url)
    assert (dest / "mine.txt").read_text() == "data\n"


def test_retention_is_validated(tmp_path: Path) -> None:
    cfg = tmp_path / "mlaudit.yaml"
    cfg.write_text(f"git:\n  mirror_retention_days: 0\n  targets: [{tmp_path}]\n")
    proc = mlaudit("scan", "--config", str(cfg))
    assert proc.returncode == 2 and "mirror_retention_days" in proc.stderr and "Traceback" not in proc.stderr


def _blocked_flock_waiters(lock_files: list[Path]) -> int:
    """Processes waiting (`->` in /proc/locks) for an flock on one of `lock_files`."""
    inodes = {f.stat().st_ino for f in lock_files if f.exists()}
    waiting = 0
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and "FLOCK" in fields and int(fields[-3].split(":")[-1]) in inodes:
            waiting += 1
    return waiting


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks to see a waiting run")
def test_two_scans_cloning_one_url_into_an_empty_cache_at_once(tmp_path: Path) -> None:
    """The first run's clone is held inside git (a pack-objects hook from the user's global git
    config waits for a file) until the second run is seen waiting for the mirror's lock; then
    both finish: one clone, the other run fetches into it (or finds it fresh), both reports whole."""
    url = upstream(tmp_path)
    cache = tmp_path / "cache"
    gate, started = tmp_path / "release", tmp_path / "clone-started"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\ntouch "{started}"\nn=0\nwhile [ ! -e "{gate}" ] && [ $n -lt 1200 ]; do '
                    f'sleep 0.05; n=$((n+1)); done\nexec "$@"\n')
    hook.chmod(0o755)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(f"[uploadpack]\n\tpackObjectsHook = {hook}\n")
    cfg = tmp_path / "mlaudit.yaml"
    cfg.write_text(f"git:\n  cache_dir: {cache}\n  targets:\n    - url: {url}\n")
    env = {**os.environ, "MLAUDIT_SCAN_CACHE": "off", "GIT_CONFIG_GLOBAL": str(gitconfig),
           "GIT_TRACE2_EVENT": str(tmp_path / "trace.json")}

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "mlaudit.cli", "-v", "scan", "--config", str(cfg),
                                 "-o", str(tmp_path / name)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)

    procs = [start("first")]
    try:
        for _ in range(1200):  # the first run is inside its clone
            if started.exists() or procs[0].poll() is not None:
                break
            time.sleep(0.05)
        assert started.exists(), procs[0].communicate()
        procs.append(start("second"))
        locks = [cache / LOCKS / f"{cache_path(cache, url).name}.{kind}" for kind in ("use", "update")]
        for _ in range(1200):  # the second run waits for the mirror
            if _blocked_flock_waiters(locks) or procs[1].poll() is not None:
                break
            time.sleep(0.05)
        assert _blocked_flock_waiters(locks) == 1, procs[1].communicate()
        gate.touch()
        outcomes = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    finally:
        gate.touch()
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [o[0] for o in outcomes] == [0, 0], outcomes
    logs = [o[2] for o in outcomes]
    assert f"cloned {url}" in logs[0]
    assert f"cloned {url}" not in logs[1] and (f"fetched {url}" in logs[1] or f"up to date {url}" in logs[1])
    clones = [json.loads(line) for line in (tmp_path / "trace.json").read_text().splitlines()]
    assert sum(1 for e in clones if e.get("event") == "start" and e.get("argv", [None, None])[1:2] == ["clone"]) == 1
    for name in ("first", "second"):
        report = json.loads((tmp_path / name / "report.json").read_text())
        assert any(e["signal"] == "experiment_tracking" for e in report["evidence"])
    assert [p.name for p in cache.iterdir() if p.name != LOCKS] == [cache_path(cache, url).name]
