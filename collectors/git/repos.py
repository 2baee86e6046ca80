"""Finding, cloning and opening repositories — all read-only toward what is audited.

Local repositories are only read (`ls-tree`, `cat-file`, `log`). Remote URLs are mirrored into
mlaudit's own cache folder (never into an audited repository) and fetched on later runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from auditor.redact import redact

SKIP_DIRS = {"node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache", "site-packages"}
# Audits run as whatever user the scheduler uses; repositories owned by others are still only
# read, so git's ownership guard is relaxed for mlaudit's own git processes.
GIT_ENV = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "safe.directory",
    "GIT_CONFIG_VALUE_0": "*",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",
}


class RepoError(Exception):
    """A repository that cannot be read; the message names it."""


@dataclass(frozen=True)
class RepoRef:
    """A repository to audit: where its objects are, and what to call it."""

    git_dir: Path
    name: str
    url: str | None = None  # the remote it came from, credentials redacted
    branch: str | None = None


def is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").exists()


def git_dir_of(path: Path) -> Path | None:
    """The git directory of a work tree or bare repository at `path`, else None."""
    dotgit = path / ".git"
    if dotgit.is_dir() and is_git_dir(dotgit):
        return dotgit
    if dotgit.is_file():  # worktrees and submodules: "gitdir: <path>"
        text = dotgit.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            target = Path(text[7:].strip())
            target = target if target.is_absolute() else (path / target)
            if is_git_dir(target):
                return target
    if is_git_dir(path):
        return path
    return None


def discover(root: Path, max_depth: int = 4) -> Iterator[Path]:
    """Git directories at or under `root`, without following symlinks or entering repos."""
    root = root.resolve()
    found = git_dir_of(root)
    if found is not None:
        yield found
        return
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            children = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for entry in children:
            if not entry.is_dir(follow_symlinks=False) or entry.name in SKIP_DIRS:
                continue
            child = Path(entry.path)
            gd = git_dir_of(child)
            if gd is not None:
                yield gd
            elif depth + 1 < max_depth and not entry.name.startswith("."):
                stack.append((child, depth + 1))


def repo_name(git_dir: Path, root: Path) -> str:
    """A display name: the work tree's path relative to the scan root (its folder name at least)."""
    top = git_dir.parent if git_dir.name == ".git" else git_dir
    try:
        rel = top.resolve().relative_to(root.resolve())
        name = rel.as_posix()
    except ValueError:
        name = top.name
    if name in ("", "."):
        name = top.resolve().name
    return name.removesuffix(".git") or name


def run_git(args: list[str], cwd: Path | None = None, timeout: float = 600) -> str:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **GIT_ENV},
        )
    except subprocess.TimeoutExpired:
        raise RepoError(f"git {args[0]} timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        msg = redact(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
        raise RepoError(f"git {args[0]} failed: {msg}")
    return proc.stdout


def cache_path(cache_dir: Path, url: str) -> Path:
    clean = redact(url)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", clean.split("://")[-1]).strip("_")[-60:]
    digest = hashlib.sha1(url.encode()).hexdigest()[:10]
    return cache_dir / f"{slug}-{digest}.git"


def mirror(url: str, cache_dir: Path, timeout: float = 600) -> tuple[Path, str]:
    """Clone `url` into the cache (first run) or fetch it (later runs); returns (git dir, action)."""
    dest = cache_path(cache_dir, url)
    if is_git_dir(dest):
        run_git(["--git-dir", str(dest), "fetch", "--prune", "--quiet", "origin"], timeout=timeout)
        # keep HEAD on the remote's default branch if it moved
        try:
            run_git(["--git-dir", str(dest), "remote", "set-head", "origin", "--auto"], timeout=timeout)
        except RepoError:
            pass
        return dest, "fetched"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    run_git(["clone", "--mirror", "--quiet", url, str(tmp)], timeout=timeout)
    tmp.rename(dest)
    return dest, "cloned"


def web_url(remote: str | None) -> str | None:
    """https://host/owner/repo for GitHub and GitLab remotes, else None."""
    if not remote:
        return None
    m = re.match(r"^(?:https?://(?:[^@/]+@)?|ssh://(?:[^@/]+@)?|git@)([^/:]+)[:/](.+?)(?:\.git)?/?$", remote)
    if not m:
        return None
    host, path = m.group(1), m.group(2)
    host = host.split(":")[0]
    if "github" in host or "gitlab" in host:
        return f"https://{host}/{path}"
    return None
