"""The git source's settings (the config's `git:` section)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MAX_BLOB = 1024 * 1024


@dataclass(frozen=True)
class GitTarget:
    path: Path | None = None
    url: str | None = None
    name: str | None = None
    branch: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.url or str(self.path)


@dataclass
class GitSettings:
    targets: list[GitTarget] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    max_blob_bytes: int = DEFAULT_MAX_BLOB
    max_depth: int = 4
    cache_dir: Path | None = None
    workers: int = 4
    timeout_s: float | None = None
    #: seconds one repository may take to read; past it, it stops being read (an error naming it)
    repo_timeout_s: float | None = None
    #: mirrors in the clone cache unused for longer are removed at the start of a run
    mirror_retention_days: float = 90.0


def from_config(git: dict[str, Any], where: Any) -> GitSettings:
    """The `git:` section (validated by settings.schema.json) as settings; `where` is the
    registry's SectionContext (paths, errors naming file, line and key)."""
    from mlaudit.collectors.git.repos import git_url_problem
    from mlaudit.redact import redact

    settings = GitSettings(
        exclude=list(git.get("exclude", [])),
        max_blob_bytes=git.get("max_blob_bytes", DEFAULT_MAX_BLOB),
        max_depth=git.get("max_depth", 4),
        workers=git.get("workers", 4),
        timeout_s=git.get("timeout_s"),
        repo_timeout_s=git.get("repo_timeout_s"),
        mirror_retention_days=git.get("mirror_retention_days", 90.0),
    )
    if "cache_dir" in git:
        settings.cache_dir = where.path(git["cache_dir"])
    for i, raw in enumerate(git.get("targets", [])):
        entry = {"path": raw} if isinstance(raw, str) else dict(raw)
        if isinstance(raw, str) and looks_like_url(raw):
            entry = {"url": raw}
        if "path" in entry:
            target = where.path(entry["path"])
            if not target.exists():
                raise where.error(f"path does not exist: {target}", "targets", i)
            settings.targets.append(GitTarget(path=target, name=entry.get("name"),
                                              branch=entry.get("branch")))
        else:
            if problem := git_url_problem(entry["url"]):
                raise where.error(f"{problem}: {redact(entry['url'])}", "targets", i)
            settings.targets.append(GitTarget(url=entry["url"], name=entry.get("name"),
                                              branch=entry.get("branch")))
    return settings


_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)


def looks_like_url(text: str) -> bool:
    return bool(_URL.match(text))
