"""Build real git repositories with real commits for tests (no mocks of git)."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", **(env or {})}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=full_env
    ).stdout


def commit_files(
    repo: Path,
    files: dict[str, str | bytes | None],
    message: str = "change",
    author: str = "Ada Lovelace <ada@example.com>",
    days_ago: float = 1.0,
) -> str:
    """Write (or delete, when the value is None) files and commit them; returns the commit sha."""
    for rel, content in files.items():
        target = repo / rel
        if content is None:
            git(repo, "rm", "-q", "--", rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        git(repo, "add", "--", rel)
    name, _, email = author.partition(" <")
    when = (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    env = {
        "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email.rstrip(">"),
        "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email.rstrip(">"),
        "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when,
    }
    git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(
    path: Path,
    files: dict[str, str | bytes] | None = None,
    author: str = "Ada Lovelace <ada@example.com>",
    days_ago: float = 1.0,
    branch: str = "main",
) -> Path:
    """A new repository at `path` with one commit holding `files` (none when empty)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    if files:
        commit_files(path, files, message="initial commit", author=author, days_ago=days_ago)
    return path
