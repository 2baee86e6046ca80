"""The Great Expectations source's settings (the config's `great_expectations:` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class GxSettings:
    projects: list[Path] = field(default_factory=list)
    timeout_s: float | None = None


def from_config(gx: dict[str, Any], where: Any) -> GxSettings:
    """The `great_expectations:` section as settings; every project folder must exist."""
    settings = GxSettings(timeout_s=gx.get("timeout_s"))
    for i, raw in enumerate(gx.get("projects", [])):
        project = where.path(raw)
        if not project.exists():
            raise where.error(f"path does not exist: {project}", "projects", i)
        settings.projects.append(project)
    return settings
