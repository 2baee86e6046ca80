"""MlflowCollector: tracking servers, sqlite/PostgreSQL/MySQL databases and file stores, read
into evidence.

Read-only by construction: servers are only sent search/get requests, local stores are opened
without write access (see `collectors.mlflow.stores`). MLflow itself is imported only when the
collector runs, so CLI start-up stays light.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

from mlaudit.collectors.base import (
    CollectContext,
    Collector,
    CollectorError,
    CollectorResult,
    TargetError,
)
from mlaudit.collectors.mlflow.settings import MlflowSettings, MlflowTarget
from mlaudit.collectors.mlflow.stores import (
    StoreError,
    describe_http_error,
    open_source,
    strip_credentials,
)
from mlaudit.redact import redact

#: the gap an as-of read leaves: which registered versions served production then
PRODUCTION_GAP = "registered_model.production"


class MlflowCollector(Collector):
    name: ClassVar[str] = "mlflow"
    # not live: an as-of read counts runs, registered models and versions by their timestamps
    # (aliases and stages keep no history: a gap, `registered_model.production`)
    letter: ClassVar[str] = "M"

    def __init__(self, settings: MlflowSettings) -> None:
        self.settings = settings

    def describe(self) -> str:
        return f"mlflow ({len(self.settings.targets)} target(s))"

    def collect(self, ctx: CollectContext) -> CollectorResult:
        # MLflow 3 reports usage unless told not to; an auditor has no business phoning home.
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        result = CollectorResult()
        if not self.settings.targets:
            raise CollectorError("no MLflow tracking URI configured (mlflow.targets is empty)")
        for target in self.settings.targets:
            ctx.logger.info("reading MLflow target %s", target.label)
            try:
                self._collect_one(target, ctx, result)
            except StoreError as exc:
                result.errors.append(TargetError(target.label, redact(str(exc))))
        if not result.targets:
            raise CollectorError("no MLflow target could be read: "
                                 + "; ".join(e.message for e in result.errors))
        return result

    def _collect_one(self, target: MlflowTarget, ctx: CollectContext,
                     result: CollectorResult) -> None:
        from mlaudit.collectors.mlflow.scan import TargetScan

        started = time.perf_counter()
        source = open_source(target, self.settings.timeout_s)
        with source.active():
            scan = TargetScan(target, source, self.settings.page_size, ctx.lookback_days,
                              result.warnings.append, now=ctx.now(), as_of=ctx.as_of is not None,
                              max_runs=self.settings.max_runs_per_experiment)
            try:
                scan.read()
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - MLflow, requests and file errors alike
                raise StoreError(source.explain(exc) if source.explain
                                 else self._explain(exc, target, source.kind)) from None
            finally:
                _close(source)
        result.warnings.extend(f"{target.label}: {w}" for w in dict.fromkeys(source.warnings))
        evidence = scan.evidence()
        result.evidence.extend(evidence)
        if scan.registry_error:
            result.gaps["registered_model"] = scan.registry_error
        elif scan.production_unknown and source.registry is not None:
            day = ctx.as_of.date().isoformat() if ctx.as_of else ""
            result.gaps[PRODUCTION_GAP] = (
                f"{target.label}: as-of audit: registered models and versions are counted by "
                f"their creation time, but aliases and stages keep no history, so which version "
                f"served production on {day} is not known")
        info: dict[str, Any] = {"name": target.label, "kind": source.kind,
                                "uri": redact(strip_credentials(target.uri))
                                if source.kind == "server" else redact(target.uri)}
        if source.ui_base:
            info["ui_url"] = redact(source.ui_base)
        info.update(source.info)
        info.update(scan.summary(evidence))
        info["duration_s"] = round(time.perf_counter() - started, 3)
        result.targets.append(info)

    def _explain(self, exc: BaseException, target: MlflowTarget, kind: str) -> str:
        if kind in ("server", "databricks"):
            return describe_http_error(exc, target.label)
        text = redact(str(exc)).strip().splitlines()
        first = text[0][:300] if text else type(exc).__name__
        what = "file store" if kind == "file" else "database"
        return f"{target.label}: cannot read the {what}: {first}"


def _close(source: Any) -> None:
    engine = getattr(source.tracking, "engine", None)
    if engine is not None and source.kind not in ("server", "databricks"):
        engine.dispose()
