"""Refs read from their files (`repos.read_head`, `repos.read_ref`): the same commit, branch and
origin as GitPython reads them, for every layout a re-scan meets; and where the light reader is
not sure (linked worktrees, config includes, quoted values) it says so, and GitPython is asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import git as gitpython
import pytest

from mlaudit.collectors.git.collector import GitCollector, _origin_url
from mlaudit.collectors.git.repos import RepoRef, read_head, read_ref
from mlaudit.config import GitSettings, GitTarget
from tests.gitutil import commit_files, git, make_repo


def _gitpython(git_dir: Path, branch: str | None = None) -> tuple[str | None, str | None, str | None]:
    repo = gitpython.Repo(git_dir)
    try:
        commit, name = GitCollector(GitSettings(targets=[GitTarget(path=git_dir)]))._head(
            repo, RepoRef(git_dir, "r", branch=branch))
        return commit, name, _origin_url(repo)
    finally:
        repo.close()


def _layouts(tmp_path: Path) -> dict[str, tuple[Path, str | None]]:
    """name -> (git dir, branch asked for)"""
    plain = make_repo(tmp_path / "plain", {"a.py": "x = 1\n"})
    commit_files(plain, {"b.py": "y = 2\n"}, message="second")
    git(plain, "branch", "feature/deep")
    git(plain, "remote", "add", "origin", "https://example.com/org/plain.git")
    packed = make_repo(tmp_path / "packed", {"a.py": "x = 1\n"})
    git(packed, "pack-refs", "--all")
    detached = make_repo(tmp_path / "detached", {"a.py": "x = 1\n"})
    commit_files(detached, {"b.py": "y = 2\n"}, message="second")
    git(detached, "checkout", "-q", "--detach", "HEAD~1")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", f"file://{plain}", str(clone))
    git(clone, "checkout", "-q", "-b", "local-work")
    commit_files(clone, {"c.py": "z = 3\n"}, message="local")
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", f"file://{packed}", str(bare))
    empty = make_repo(tmp_path / "empty")
    git(empty, "remote", "add", "origin", "git@example.com:org/empty.git")
    return {
        "plain": (plain / ".git", None), "plain, branch": (plain / ".git", "feature/deep"),
        "packed": (packed / ".git", None), "packed, branch": (packed / ".git", "main"),
        "detached": (detached / ".git", None),
        "clone (origin/HEAD)": (clone / ".git", None), "clone, remote branch": (clone / ".git", "main"),
        "clone, local branch": (clone / ".git", "local-work"),
        "bare": (bare, None), "empty": (empty / ".git", None),
    }


def test_the_light_reader_reads_what_gitpython_reads(tmp_path: Path) -> None:
    for name, (git_dir, branch) in _layouts(tmp_path).items():
        light = read_head(git_dir, branch)
        assert light is not None, name
        heavy = _gitpython(git_dir, branch)
        assert light == heavy, name
    clone = tmp_path / "clone" / ".git"
    assert read_head(clone, None)[1] == "main"  # origin/HEAD names the remote's default branch
    assert read_head(tmp_path / "detached" / ".git", None)[1] is None
    assert read_head(tmp_path / "empty" / ".git", None) == (None, None, "git@example.com:org/empty.git")
    assert read_ref(tmp_path / "empty" / ".git") == ""  # unborn
    packed = tmp_path / "packed" / ".git"
    assert read_ref(packed) == git(packed.parent, "rev-parse", "HEAD").strip()


def test_where_the_light_reader_is_not_sure_it_says_so(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "x = 1\n"})
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    linked = Path(git(tmp_path / "wt", "rev-parse", "--git-dir").strip())
    assert read_head(linked, None) is None and read_ref(linked) is None
    quoted = make_repo(tmp_path / "q", {"a.py": "x = 1\n"})
    with open(quoted / ".git" / "config", "a") as fh:
        fh.write('[remote "origin"]\n\turl = "https://example.com/a b.git"\n')
    assert read_head(quoted / ".git", None) is None
    included = make_repo(tmp_path / "i", {"a.py": "x = 1\n"})
    with open(included / ".git" / "config", "a") as fh:
        fh.write("[include]\n\tpath = other.cfg\n")
    assert read_head(included / ".git", None) is None
    # a branch asked for and absent: GitPython words the error
    assert read_head(repo / ".git", "no-such-branch") is None


def test_a_scan_of_plain_repositories_never_imports_gitpython(tmp_path: Path) -> None:
    """Refs and the origin are read from their files, cold or from the scan cache: GitPython (its
    import alone ~90 ms in every worker) is left for the layouts that reader is unsure of."""
    org = tmp_path / "org"
    for n in range(3):
        make_repo(org / f"r{n}", {"train.py": f"import mlflow\nmlflow.log_metric('m{n}', 1)\n"})
    env = {**os.environ, "HOME": str(tmp_path / "home"), "MLAUDIT_SCAN_CACHE": "on"}
    script = ("import sys\nfrom mlaudit.cli import main\n"
              "try:\n    main(['scan', sys.argv[1], '-o', sys.argv[2], '-q'])\n"
              "except SystemExit as exc:\n    print('exit', exc.code)\n"
              "print('gitpython', 'git' in sys.modules)\n")
    runs = [subprocess.run([sys.executable, "-c", script, str(org), str(tmp_path / f"out{i}")],
                           capture_output=True, text=True, env=env, timeout=120) for i in range(2)]
    assert "exit 0" in runs[0].stdout and "gitpython False" in runs[0].stdout, runs[0].stderr
    assert "exit 0" in runs[1].stdout and "gitpython False" in runs[1].stdout, runs[1].stderr
    assert (tmp_path / "out1" / "report.json").read_text().count('"train.py') == \
        (tmp_path / "out0" / "report.json").read_text().count('"train.py')


@pytest.mark.parametrize("head", ["ref: refs/heads/a\n", "ref: refs/heads/b\n"])
def test_a_cycle_of_symbolic_refs_is_left_to_gitpython(tmp_path: Path, head: str) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "x = 1\n"})
    (repo / ".git" / "refs" / "heads" / "a").write_text("ref: refs/heads/b\n")
    (repo / ".git" / "refs" / "heads" / "b").write_text("ref: refs/heads/a\n")
    (repo / ".git" / "HEAD").write_text(head)
    assert read_head(repo / ".git", None) is None


def test_real_path_is_realpath_with_the_folders_kept(tmp_path: Path) -> None:
    """`repos.real_path` resolves a repository's git directory as os.path.realpath does, through
    symlinked folders, symlinked repositories, relative and chained links, dangling links, loops
    and paths that do not exist, while resolving each parent folder once for all its children."""
    from mlaudit.collectors.git.repos import real_path

    org = tmp_path / "org"
    (org / "team" / "a" / ".git").mkdir(parents=True)
    (org / "team" / "b" / ".git").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere" / "c"
    (elsewhere / ".git").mkdir(parents=True)
    os.symlink(org / "team", org / "linked-team")  # a symlinked folder
    os.symlink(elsewhere, org / "team" / "c")  # a symlinked repository
    os.symlink("a", org / "team" / "rel")  # relative
    os.symlink(org / "team" / "rel", org / "team" / "chain")  # a link to a link
    os.symlink(tmp_path / "nowhere", org / "team" / "dangling")
    os.symlink(org / "team" / "loop2", org / "team" / "loop1")
    os.symlink(org / "team" / "loop1", org / "team" / "loop2")
    (org / "team" / "gitfile").mkdir()
    (org / "team" / "gitfile" / ".git").write_text("gitdir: ../a/.git\n")  # a file, not followed
    parents: dict[str, str] = {}
    names = ["a", "b", "c", "rel", "chain", "dangling", "loop1", "gitfile", "missing"]
    for base in (org / "team", org / "linked-team"):
        for name in names:
            for path in (base / name / ".git", base / name):
                assert real_path(str(path), parents) == os.path.realpath(path), path
    assert real_path("/", parents) == "/"
    # each folder resolved once and kept: tmp_path, org, the two bases and each name under them
    # as the parent of its .git (the folders above tmp_path vary with the test runner)
    ours = [k for k in parents if k == str(tmp_path) or k.startswith(str(tmp_path) + "/")]
    assert str(org / "linked-team") in parents and len(ours) == 4 + len(names) * 2, sorted(ours)
