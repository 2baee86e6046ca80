"""The git source's settings (the config's `git:` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
