"""The Great Expectations source's settings (the config's `great_expectations:` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class GxSettings:
    projects: list[Path] = field(default_factory=list)
    timeout_s: float | None = None
