"""Files read from a repository's checkout instead of through git: only where they are, byte for
byte, the blob the audited commit names (checked by its object id), so local edits, conversions
on checkout, symlinks, fifos and other commits checked out never become evidence; the checkout is
only read. And `git grep` in a worker of a pool that keeps every core busy runs one thread."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.git import blobs, code, worktree
from mlaudit.collectors.git.collector import GitCollector, _worker_started
from mlaudit.collectors.git.repos import RepoRef
from mlaudit.collectors.git.worktree import Checkout
from mlaudit.config import GitSettings, GitTarget
from tests.gitutil import commit_files, git, make_repo

TRAIN = "import mlflow\n\nmlflow.log_metric('auc', 0.9)\n"
PLAIN = "def total(rows):\n    return sum(rows)\n"


def _sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _tree(repo: Path) -> dict[str, str]:
    out = {}
    for line in git(repo, "ls-tree", "-r", "HEAD").splitlines():
        meta, path = line.split("\t", 1)
        out[path] = meta.split()[2]
    return out


def test_a_file_is_read_from_the_checkout_only_where_it_is_the_blob(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": TRAIN, "plain.py": PLAIN, "big.py": "x = 1\n" * 400,
                                      "dir/link_target.py": PLAIN})
    tree = _tree(repo)
    checkout = Checkout.of(repo / ".git", max_bytes=1024)
    assert checkout is not None
    assert checkout.read("train.py", tree["train.py"]) == TRAIN.encode()
    assert tree["train.py"] == _sha(TRAIN.encode())
    # a local edit: the committed blob is not what the checkout holds
    (repo / "plain.py").write_text(PLAIN + "import wandb\n")
    assert checkout.read("plain.py", tree["plain.py"]) is None
    # over the size limit: git reads it (and says why it is skipped)
    assert checkout.read("big.py", tree["big.py"]) is None
    assert checkout.misses == 1  # the local edit; a file over the limit is not a sign of a stale checkout
    assert checkout.size("big.py") == 2400 and checkout.size("nope.py") is None
    # a symlink in the checkout where the tree has a file, even to the very same bytes: not followed
    (repo / "train.py").unlink()
    (tmp_path / "outside.py").write_text(TRAIN)
    (repo / "train.py").symlink_to(tmp_path / "outside.py")
    assert checkout.read("train.py", tree["train.py"]) is None
    # a fifo is neither opened for reading nor waited on
    (repo / "dir" / "link_target.py").unlink()
    os.mkfifo(repo / "dir" / "link_target.py")
    assert checkout.read("dir/link_target.py", tree["dir/link_target.py"]) is None
    # a missing file, a path leaving the checkout
    assert checkout.read("nope.py", tree["train.py"]) is None
    assert checkout.read("/etc/passwd", tree["train.py"]) is None
    assert checkout.hits == 1


def test_a_checkout_that_keeps_missing_is_given_up(tmp_path: Path) -> None:
    files = {f"m{i}.py": f"x = {i}\n" for i in range(worktree.MAX_MISSES + 4)}
    repo = make_repo(tmp_path / "r", files)
    tree = _tree(repo)
    commit_files(repo, {p: f"y = {i}\n" for i, p in enumerate(files)}, "another commit")
    checkout = Checkout.of(repo / ".git", max_bytes=1 << 20)
    assert checkout is not None
    # the tree of the first commit against a checkout of the second: every file misses
    assert all(checkout.read(p, tree[p]) is None for p in files)
    assert not checkout.usable
    assert checkout.misses == worktree.MAX_MISSES + 1  # not read at all once given up


def test_no_checkout_is_read_where_there_is_none_next_to_the_git_directory(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": TRAIN})
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(tmp_path / "bare.git")], check=True)
    assert Checkout.of(tmp_path / "bare.git", 1 << 20) is None
    git(repo, "worktree", "add", "-q", str(tmp_path / "linked"))
    linked_dir = Path(git(tmp_path / "linked", "rev-parse", "--absolute-git-dir").strip())
    assert Checkout.of(linked_dir, 1 << 20) is None
    other = make_repo(tmp_path / "moved", {"train.py": TRAIN})
    git(other, "config", "core.worktree", str(tmp_path))
    assert Checkout.of(other / ".git", 1 << 20) is None
    fresh = tmp_path / "fresh"
    git_init = subprocess.run(["git", "init", "-q", str(fresh)], check=True)
    assert git_init.returncode == 0 and Checkout.of(fresh / ".git", 1 << 20) is None  # no index yet
    assert Checkout.of(repo / ".git", 1 << 20) is not None


def _scan(repo: Path, monkeypatch: pytest.MonkeyPatch, checkouts: bool) -> tuple[list[tuple[Any, ...]], dict]:
    monkeypatch.setattr(worktree, "USE_CHECKOUTS", checkouts)
    monkeypatch.setattr(code, "_SCANS", code._ScanCache())  # nothing carried over between modes
    collector = GitCollector(GitSettings(targets=[GitTarget(path=repo)], workers=1))
    items, info, error = collector._scan_one(RepoRef(repo / ".git", repo.name),
                                             datetime.now(UTC) - timedelta(days=180),
                                             CollectContext(lookback_days=180))
    assert error is None
    facts = [(e.signal, e.locator, repr(sorted(e.attributes.items())), e.excerpt) for e in items]
    return facts, info


def test_a_scan_finds_the_committed_content_whatever_the_checkout_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"train.py": TRAIN, "plain.py": PLAIN, "requirements.txt": "mlflow==2.9.0\n",
             "src/features.py": "import pandas as pd\n\ndef load(p):\n    return pd.read_parquet(p)\n",
             ".github/workflows/ci.yml": "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n"
                                         "    steps:\n      - run: pytest\n"}
    repo = make_repo(tmp_path / "r", files)
    clean, info = _scan(repo, monkeypatch, checkouts=True)
    assert info["checkout_reads"] > 0 and info["checkout_reads"] == info["blobs_read"]
    assert clean == _scan(repo, monkeypatch, checkouts=False)[0]
    # uncommitted edits: tracking dropped from train.py, another tracker added to plain.py, a new
    # file never committed; the scan still reports the commit, and leaves the checkout as it was
    (repo / "train.py").write_text(PLAIN)
    (repo / "plain.py").write_text("import wandb\nwandb.init()\n")
    (repo / "untracked.py").write_text("import wandb\nwandb.log({'a': 1})\n")
    status = git(repo, "status", "--porcelain")  # (first: it may refresh the index)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in repo.rglob("*") if p.is_file()}
    edited, info = _scan(repo, monkeypatch, checkouts=True)
    assert edited == clean
    assert any("mlflow" in f[2] for f in edited) and not any("wandb" in f[2] for f in edited)
    assert 0 < info["checkout_reads"] < info["blobs_read"]  # the edited files came through git
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in repo.rglob("*") if p.is_file()} == before
    assert git(repo, "status", "--porcelain") == status


def test_git_grep_runs_one_thread_in_a_worker_that_has_one_core(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool worker sets the threads of its searches from the cores it has to itself; the search
    finds the same files with one thread as with git's default."""
    repo = make_repo(tmp_path / "r", {"train.py": TRAIN, "plain.py": PLAIN})
    commit = git(repo, "rev-parse", "HEAD").strip()
    pf = code.code_prefilter()
    commands: list[list[str]] = []
    real_run = subprocess.run

    def spy(args: Any, *a: Any, **kw: Any) -> Any:
        commands.append(list(args))
        return real_run(args, *a, **kw)

    monkeypatch.setattr(blobs.subprocess, "run", spy)
    monkeypatch.setitem(blobs.GREP_THREADS, "n", 0)
    store = blobs.ObjectStore(repo / ".git")
    try:
        default = store.grep_paths(commit, pf.grep_pattern(), ["*.py"], perl=pf.perl_pattern())
        _worker_started(1)
        try:
            one = store.grep_paths(commit, pf.grep_pattern(), ["*.py"], perl=pf.perl_pattern())
        finally:
            import gc

            gc.enable()
            gc.unfreeze()
    finally:
        store.close()
    assert default == one == {"train.py"}
    greps = [c for c in commands if "grep" in c]
    assert "grep.threads=1" not in greps[0] and greps[-1][greps[-1].index("grep") - 2:][:2] == [
        "-c", "grep.threads=1"]
    assert blobs.GREP_THREADS["n"] == 1


def test_a_corrupt_object_is_read_from_a_checkout_that_holds_its_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged loose object loses nothing where the checkout still holds the committed bytes
    (they hash to its id); without them it is one file skipped, as before."""
    repo = make_repo(tmp_path / "r", {"train.py": TRAIN, "serve.py": "import mlflow.pyfunc\n"})
    blob = git(repo, "rev-parse", "HEAD:train.py").strip()
    obj = repo / ".git" / "objects" / blob[:2] / blob[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"this is not zlib data")
    collector = GitCollector(GitSettings(targets=[GitTarget(path=repo)], workers=1))
    since, ctx = datetime.now(UTC) - timedelta(days=180), CollectContext(lookback_days=180)
    items, info, error = collector._scan_one(RepoRef(repo / ".git", "r"), since, ctx)
    assert error is None and info["coverage"]["skipped"] == {}
    assert any(e.signal == "experiment_tracking" and "train.py" in e.locator for e in items)
    (repo / "train.py").unlink()
    monkeypatch.setattr(code, "_SCANS", code._ScanCache())  # (not the parse of a moment ago)
    items, info, error = collector._scan_one(RepoRef(repo / ".git", "r"), since, ctx)
    assert error is None and info["coverage"]["skipped"] == {"corrupt objects": 1}
    assert not any("train.py" in e.locator for e in items)


def test_a_blob_over_the_size_limit_is_skipped_without_being_streamed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook whose checkout file is over `max_blob_bytes` is asked its size of git and
    skipped unread (as the reader would skip it after streaming it whole); the coverage and the
    evidence are those of a scan without the checkout."""
    import json as _json

    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": ["import sklearn\n", f"x = {i}\n" + "#" * 200 + "\n"]} for i in range(40)]
    notebook = _json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    assert len(notebook) > 8192
    repo = make_repo(tmp_path / "r", {"explore.ipynb": notebook, "train.py": TRAIN, "plain.py": PLAIN})
    big = git(repo, "rev-parse", "HEAD:explore.ipynb").strip()
    streamed: list[str] = []
    real_receive = blobs.BlobReader._receive

    def receive(self: Any, sha: str) -> Any:
        streamed.append(sha)
        return real_receive(self, sha)

    monkeypatch.setattr(blobs.BlobReader, "_receive", receive)

    def scan(checkouts: bool) -> tuple[list[tuple[Any, ...]], dict]:
        monkeypatch.setattr(worktree, "USE_CHECKOUTS", checkouts)
        monkeypatch.setattr(code, "_SCANS", code._ScanCache())
        collector = GitCollector(GitSettings(targets=[GitTarget(path=repo)], workers=1, max_blob_bytes=8192))
        items, info, error = collector._scan_one(RepoRef(repo / ".git", "r"),
                                                 datetime.now(UTC) - timedelta(days=180),
                                                 CollectContext(lookback_days=180))
        assert error is None
        return [(e.signal, e.locator, repr(sorted(e.attributes.items()))) for e in items], info

    with_checkout, info = scan(True)
    assert info["coverage"]["skipped"] == {"oversize": 1} and big not in streamed
    streamed.clear()
    without, info_without = scan(False)
    assert big in streamed  # (the reader streams it, then drops it)
    assert with_checkout == without and info["coverage"] == info_without["coverage"]
