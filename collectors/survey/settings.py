"""The survey source's settings: the config's `survey:` key names the answers file."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def from_config(value: str, where: Any) -> Path:
    survey = where.path(value)
    if not survey.is_file():
        raise where.error(f"survey answers file not found: {survey}")
    return survey
