"""The W&B collector: runs found in local `wandb/` folders (each run's `run-ID.wandb` log read
with wandb's protobuf records, see runlog.py) and runs of W&B projects read through the public
API (`wandb.Api`, the official client). Read only.

Signals:
- `wandb_folder` (one per configured folder): `runs` — how many run logs it holds;
- `wandb_project` (one per API project): `runs` — how many runs the API lists;
- `wandb_run` (one per run): `run_id`, `name`, `state`, `job_type`, `commit` (12 characters) and
  `has_commit`, `history_steps` (rows of metrics logged), `metrics` (names, never values),
  `config_keys` (a count; values are never read into evidence), `source` (offline | api).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlaudit.collectors.base import (
    CollectContext,
    Collector,
    CollectorError,
    CollectorResult,
    TargetError,
)
from mlaudit.evidence import EvidenceItem
from mlaudit_wandb.runlog import RunLogError, read_run_log, summary_of
from mlaudit_wandb.settings import WandbSettings

NAME = "wandb"


def run_logs(folder: Path) -> list[Path]:
    """The run logs under a configured folder: a run folder itself, a `wandb/` folder of run
    folders, or a project folder holding `wandb/`. The `latest-run` link is not counted twice."""
    seen: dict[Path, Path] = {}
    for base in (folder, folder / "wandb"):
        if not base.is_dir():
            continue
        for log in [*base.glob("run-*.wandb"), *base.glob("*/run-*.wandb")]:
            if log.parent.name == "latest-run" or log.parent.is_symlink():
                continue
            seen.setdefault(log.resolve(), log)
    return sorted(seen.values())


class WandbCollector(Collector):
    name = NAME
    letter = "W"

    def __init__(self, settings: WandbSettings) -> None:
        self.settings = settings

    def describe(self) -> str:
        parts = [str(p) for p in self.settings.paths]
        if self.settings.api:
            parts += [f"{p} ({self.settings.api.base_url})" for p in self.settings.api.projects]
        return "W&B " + ", ".join(parts)

    def collect(self, ctx: CollectContext) -> CollectorResult:
        result = CollectorResult()
        for folder in self.settings.paths:
            self._folder(folder, result, ctx.as_of)
        if self.settings.api is not None and ctx.as_of is not None:
            # the API shows today's projects; an as-of audit reads the run logs' dates only
            result.warnings.append(f"the W&B API was not read: it shows today, not "
                                   f"{ctx.as_of.date().isoformat()}")
        elif self.settings.api is not None:
            self._api(result)
        if not result.targets:
            raise CollectorError("; ".join(e.message for e in result.errors) or "nothing was read")
        return result

    # -- local run folders --------------------------------------------------------------------
    def _folder(self, folder: Path, result: CollectorResult, as_of: datetime | None) -> None:
        logs = run_logs(folder)
        read = later = 0
        for path in logs:
            try:
                log = read_run_log(path)
            except (OSError, RunLogError) as exc:
                result.errors.append(TargetError(str(path), str(exc)))
                continue
            if as_of is not None and log.started_at and _moment(log.started_at) > as_of:
                later += 1  # started after the audit's date: not there yet
                continue
            read += 1
            attrs = summary_of(log)
            if log.truncated:
                result.warnings.append(f"{path}: the last record is incomplete (a run still writing?)")
            subject = f"{log.entity}/{log.project}" if log.project else str(folder)
            result.evidence.append(EvidenceItem(
                collector=NAME, signal="wandb_run", locator=str(path), subject=subject,
                attributes={**attrs, "tool": "wandb", "folder": str(folder)}))
        result.evidence.append(EvidenceItem(
            collector=NAME, signal="wandb_folder", locator=str(folder), subject=str(folder),
            attributes={"tool": "wandb", "runs": read, "unreadable": len(logs) - read - later}))
        result.targets.append({"name": str(folder), "kind": "W&B folder", "runs": read})

    # -- the public API -----------------------------------------------------------------------
    def _api(self, result: CollectorResult) -> None:
        api_settings = self.settings.api
        assert api_settings is not None
        key = os.environ.get(api_settings.api_key_env)
        if not key:
            for project in api_settings.projects:
                result.errors.append(TargetError(project, f"no API key: set {api_settings.api_key_env}"))
            return
        import wandb

        try:
            api = wandb.Api(api_key=key, overrides={"base_url": api_settings.base_url}, timeout=30)
        except Exception as exc:  # noqa: BLE001 - the client's errors name what went wrong
            for project in api_settings.projects:
                result.errors.append(TargetError(project, _reason(exc)))
            return
        projects: list[str] = []  # each once, whether named or found under its entity
        for entry in api_settings.projects:
            try:
                found = [entry] if "/" in entry else [f"{entry}/{p.name}" for p in api.projects(entry)]
            except Exception as exc:  # noqa: BLE001
                result.errors.append(TargetError(entry, _reason(exc)))
                continue
            projects += [p for p in found if p not in projects]
        for project in projects:
            try:
                self._project(api, project, result)
            except Exception as exc:  # noqa: BLE001
                result.errors.append(TargetError(project, _reason(exc)))

    def _project(self, api: Any, project: str, result: CollectorResult) -> None:
        limit = self.settings.api.max_runs if self.settings.api else 0
        items = []
        for run in api.runs(project, per_page=min(limit, 100)):
            if len(items) >= limit:
                result.warnings.append(f"{project}: only the first {limit} runs were read (max_runs)")
                break
            attrs: dict[str, Any] = run._attrs  # the fields the runs query returned
            commit = attrs.get("commit") or ""
            items.append(EvidenceItem(
                collector=NAME, signal="wandb_run", locator=run.url, subject=project,
                attributes={"tool": "wandb", "run_id": run.id, "name": attrs.get("displayName") or run.id,
                            "state": run.state, "job_type": attrs.get("jobType"),
                            "commit": commit[:12] or None, "has_commit": bool(commit),
                            "history_steps": int(attrs.get("historyLineCount") or 0),
                            "started_at": attrs.get("createdAt"), "source": "api"}))
        result.evidence.extend(items)
        result.evidence.append(EvidenceItem(
            collector=NAME, signal="wandb_project", locator=f"{self.settings.api.base_url}/{project}"
            if self.settings.api else project, subject=project,
            attributes={"tool": "wandb", "runs": len(items)}))
        result.targets.append({"name": project, "kind": "W&B project", "runs": len(items)})


def _moment(text: str) -> datetime:
    """A run log's start time (ISO 8601, UTC, `...Z`) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _reason(exc: Exception) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
