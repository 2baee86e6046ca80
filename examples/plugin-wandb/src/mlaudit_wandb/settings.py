"""The `wandb:` config section turned into settings (paths resolved against the config's folder;
errors name the file, line and key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_BASE_URL = "https://api.wandb.ai"
DEFAULT_KEY_ENV = "WANDB_API_KEY"
DEFAULT_MAX_RUNS = 1000


@dataclass(frozen=True)
class ApiSettings:
    projects: tuple[str, ...]
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = DEFAULT_KEY_ENV
    max_runs: int = DEFAULT_MAX_RUNS


@dataclass
class WandbSettings:
    paths: list[Path] = field(default_factory=list)
    api: ApiSettings | None = None
    timeout_s: float | None = None


def from_config(section: dict[str, Any], where: Any) -> WandbSettings:
    if not section.get("paths") and not section.get("api"):
        raise where.error("name local wandb/ folders (paths:), W&B projects (api:), or both")
    paths = []
    for i, raw in enumerate(section.get("paths") or []):
        path = where.path(raw)
        if not path.is_dir():
            raise where.error(f"not a folder: {path}", "paths", i)
        paths.append(path)
    api = section.get("api")
    return WandbSettings(
        paths=paths,
        api=ApiSettings(tuple(api["projects"]), api.get("base_url", DEFAULT_BASE_URL).rstrip("/"),
                        api.get("api_key_env", DEFAULT_KEY_ENV),
                        api.get("max_runs", DEFAULT_MAX_RUNS)) if api else None,
        timeout_s=section.get("timeout_s"),
    )
