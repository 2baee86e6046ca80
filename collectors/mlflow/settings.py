"""The MLflow source's settings (the config's `mlflow:` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    password_env: str | None = None  # SQL stores: the environment variable holding the password
    registry_uri: str | None = None  # Databricks: `databricks` for the workspace registry (default UC)

    @property
    def label(self) -> str:
        return self.name or redact(self.uri)


@dataclass
class MlflowSettings:
    targets: list[MlflowTarget] = field(default_factory=list)
    page_size: int | None = None  # None: each search's largest page (fewest calls)
    timeout_s: float | None = None
    max_runs_per_experiment: int = 50_000  # runs in the window read per experiment, newest first


def from_config(ml: dict[str, Any], where: Any) -> MlflowSettings:
    """The `mlflow:` section as settings (relative stores resolved against the config's folder)."""
    settings = MlflowSettings(page_size=ml.get("page_size"), timeout_s=ml.get("timeout_s"),
                              max_runs_per_experiment=ml.get("max_runs_per_experiment", 50_000))
    for raw in ml.get("targets", []):
        entry = {"uri": raw} if isinstance(raw, str) else dict(raw)
        settings.targets.append(MlflowTarget(
            uri=resolve_uri(entry["uri"], where.base_dir), name=entry.get("name"),
            production_aliases=tuple(entry.get("production_aliases", DEFAULT_PRODUCTION_ALIASES)),
            production_stages=tuple(entry.get("production_stages", DEFAULT_PRODUCTION_STAGES)),
            ui_url=entry.get("ui_url"), verify_tls=entry.get("verify_tls", True),
            password_env=entry.get("password_env"), registry_uri=entry.get("registry_uri"),
        ))
    return settings


def resolve_uri(uri: str, base_dir: Path) -> str:
    """Relative sqlite/file stores are resolved against the config's folder; servers stay as is."""
    from mlaudit.userfiles import resolve_path

    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((base_dir / uri[len("sqlite:///"):]).resolve())
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return "file://" + str((base_dir / uri[len("file:"):]).resolve())
    if uri in ("databricks", "databricks-uc"):  # a Databricks workspace, not a folder
        return uri
    if "://" not in uri and not uri.startswith("file:"):
        return "file://" + str(resolve_path(base_dir, uri).resolve())
    return uri
