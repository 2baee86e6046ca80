"""The MLflow source's settings (the config's `mlflow:` section)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlaudit.redact import redact

DEFAULT_PRODUCTION_ALIASES = ("production", "prod", "champion")
DEFAULT_PRODUCTION_STAGES = ("Production",)


@dataclass(frozen=True)
class MlflowTarget:
    uri: str
    name: str | None = None
    production_aliases: tuple[str, ...] = DEFAULT_PRODUCTION_ALIASES
    production_stages: tuple[str, ...] = DEFAULT_PRODUCTION_STAGES
    ui_url: str | None = None
    verify_tls: bool | str = True

    @property
    def label(self) -> str:
        return self.name or redact(self.uri)


@dataclass
class MlflowSettings:
    targets: list[MlflowTarget] = field(default_factory=list)
    page_size: int = 1000
    timeout_s: float | None = None
