"""The engine: run collectors concurrently, then checks, scoring and the JSON report.

config → collectors → evidence → checks → findings → scoring → report dict. Each collector runs
in its own daemon thread with a timeout; whatever one raises (or an overrun) is recorded as its
failure, its checks come out `unknown`, and the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlaudit import __version__
from mlaudit.collectors.base import CollectContext, Collector, CollectorError, CollectorResult
from mlaudit.config import Config
from mlaudit.evidence import Finding, now_iso
from mlaudit.redact import redact

log = logging.getLogger("mlaudit")

SCHEMA_VERSION = "2.0"
EXIT_OK, EXIT_BELOW, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


@dataclass
class CollectorRun:
    collector: Collector
    status: str = "pending"  # ok | partial | failed | timeout
    result: CollectorResult = field(default_factory=CollectorResult)
    error: str | None = None
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        errors = [e.to_dict() for e in self.result.errors]
        if self.error:
            errors.insert(0, {"target": self.collector.name, "message": self.error})
        return {
            "name": self.collector.name,
            "letter": self.collector.letter,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "targets": self.result.targets,
            "errors": errors,
            "warnings": self.result.warnings,
            "gaps": self.result.gaps,
            "evidence_count": len(self.result.evidence),
        }


def build_collectors(config: Config) -> list[Collector]:
    """One collector per configured source; each module is imported only when configured."""
    collectors: list[Collector] = []
    if config.sources:  # fleet (issue 16): discovered repositories, plus any configured targets
        from mlaudit.collectors.discovery.collector import DiscoveringGitCollector
        from mlaudit.config import GitSettings

        collectors.append(DiscoveringGitCollector(config.git or GitSettings(), config.sources))
    elif config.git is not None:
        from mlaudit.collectors.git.collector import GitCollector

        collectors.append(GitCollector(config.git))
    if config.mlflow is not None:
        from mlaudit.collectors.mlflow.collector import MlflowCollector

        collectors.append(MlflowCollector(config.mlflow))
    if config.aws is not None:
        from mlaudit.collectors.aws.collector import AwsCollector

        collectors.append(AwsCollector(config.aws))
    if config.great_expectations is not None:
        from mlaudit.collectors.gx.collector import GxCollector

        collectors.append(GxCollector(config.great_expectations))
    if config.survey is not None:
        from mlaudit.survey import SurveyCollector

        collectors.append(SurveyCollector(config.survey))
    return collectors


@dataclass
class _Outcome:
    """What a collector's thread produced; only the joining thread copies it into the run."""

    status: str = "pending"
    result: CollectorResult = field(default_factory=CollectorResult)
    error: str | None = None
    duration_s: float = 0.0
    done: bool = False
    abandoned: bool = False  # the run timed out: whatever comes later is dropped


def run_collectors(collectors: list[Collector], ctx: CollectContext,
                   timeouts: dict[str, float]) -> list[CollectorRun]:
    """Each collector in its own daemon thread; a run is written only by this (the joining)
    thread, so a collector that overruns its timeout and finishes later changes nothing."""
    runs = [CollectorRun(c) for c in collectors]
    lock = threading.Lock()

    def work(run: CollectorRun, out: _Outcome) -> None:
        started = time.perf_counter()
        status, result, error = "failed", CollectorResult(), None
        try:
            result = run.collector.collect(ctx)
            status = "partial" if result.errors else "ok"
        except CollectorError as exc:
            error = redact(str(exc))
        except Exception as exc:  # noqa: BLE001 - a collector bug must not stop the audit
            error = redact(f"internal error: {type(exc).__name__}: {exc}")
            log.debug("collector %s crashed:\n%s", run.collector.name, traceback.format_exc(),
                      extra={"collector": run.collector.name})
        with lock:
            if out.abandoned:
                log.warning("the %s collector finished %.1fs after its timeout; its late result "
                            "(%s, %d evidence items) is dropped", run.collector.name,
                            time.perf_counter() - started - timeouts.get(run.collector.name, 900.0),
                            status, len(result.evidence), extra={"collector": run.collector.name})
                return
            out.status, out.result, out.error = status, result, error
            out.duration_s, out.done = time.perf_counter() - started, True

    threads = []
    for run in runs:
        out = _Outcome()
        t = threading.Thread(target=work, args=(run, out), name=f"collector-{run.collector.name}",
                             daemon=True)
        t.start()
        threads.append((t, run, out, time.monotonic() + timeouts.get(run.collector.name, 900.0)))
    for t, run, out, deadline in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        with lock:
            if not out.done:
                out.abandoned = True
                limit = timeouts.get(run.collector.name, 900.0)
                run.status, run.error, run.duration_s = "timeout", f"timed out after {limit:.0f}s", limit
                continue
        run.status, run.result, run.error, run.duration_s = out.status, out.result, out.error, out.duration_s
    return runs


@dataclass
class Audit:
    report: dict[str, Any]
    findings: list[Finding]
    exit_code: int


def audit(config: Config, scan_path: Path | None = None,
          collectors: list[Collector] | None = None) -> Audit:
    """Run a whole audit and return the report dict (the source of truth for every renderer)."""
    from mlaudit.checks import load_definitions, run_checks
    from mlaudit.checks.base import CheckContext
    from mlaudit.scoring import methodology, next_steps, score, score_repositories

    started_at, t0 = now_iso(), time.perf_counter()
    defs = load_definitions()
    collectors = build_collectors(config) if collectors is None else collectors
    ctx = CollectContext(lookback_days=config.lookback_days)
    timeouts = {c.name: float(c.timeout_s or config.timeout_s) for c in collectors}
    runs = run_collectors(collectors, ctx, timeouts)

    evidence = [item for run in runs if run.status in ("ok", "partial") for item in run.result.evidence]
    available = {run.collector.letter for run in runs if run.status in ("ok", "partial")}
    failed = {run.collector.letter: f"the {run.collector.name} collector {run.status}: {run.error}"
              for run in runs if run.status in ("failed", "timeout")}
    gaps = {sig: why for run in runs for sig, why in run.result.gaps.items()}
    check_ctx = CheckContext(evidence=evidence, available=available, failed=failed, gaps=gaps,
                             settings={"threshold": config.threshold, "lookback_days": config.lookback_days})
    findings = run_checks(check_ctx, waivers={w.check: w.to_dict() for w in config.waivers})
    scores = score(findings, defs, threshold=config.threshold)
    steps = next_steps(findings, defs, scores)

    exit_code = EXIT_OK
    if any(run.status != "ok" for run in runs):
        exit_code = EXIT_PARTIAL
    elif config.fail_under is not None and (scores["overall"]["level"] or 0) < config.fail_under:
        exit_code = EXIT_BELOW  # no level at all is below any threshold

    by_id = {d.id: d for d in defs}
    cited: dict[str, dict[str, Any]] = {}
    for f in findings:
        for item in f.evidence:
            cited.setdefault(item.id, item.to_dict())
    survey = _survey_section(runs, evidence, available, gaps)
    if survey is not None:
        # the answers and the observed side of each verified claim are kept, so every locator
        # the survey section names can be followed in the report
        wanted = {a["evidence"] for a in survey["answers"]}
        wanted |= {i for a in survey["answers"] for i in a["observed_evidence"]}
        for item in evidence:
            if item.id in wanted:
                cited.setdefault(item.id, item.to_dict())
    # repository items are always kept: renderers use them to build links for other evidence
    for item in evidence:
        if item.signal == "repository":
            cited.setdefault(item.id, item.to_dict())

    report = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mlaudit", "version": __version__},
        "generated_at": now_iso(),
        "organisation": config.organisation,
        "run": {
            "started_at": started_at,
            "finished_at": now_iso(),
            "duration_s": round(time.perf_counter() - t0, 3),
            "lookback_days": config.lookback_days,
            "threshold": config.threshold,
            "config_file": config.source,
            "scan_path": str(scan_path) if scan_path else None,
            "fail_under": config.fail_under,
            "exit_code": exit_code,
        },
        "collectors": [run.to_dict() for run in runs] + _not_configured(runs),
        "summary": scores,
        "repositories": score_repositories(evidence, defs, threshold=config.threshold),
        "next_steps": steps,
        "findings": [_finding_dict(f, by_id[f.check_id].to_dict()) for f in findings],
        "evidence": sorted(cited.values(), key=lambda e: (e["subject"], e["signal"], e["locator"])),
        "methodology": methodology(defs, config.threshold),
        "survey": survey,
        "waivers": _waivers_section(config, findings, by_id),
    }
    return Audit(report=report, findings=findings, exit_code=exit_code)


def _finding_dict(finding: Finding, definition: dict[str, Any]) -> dict[str, Any]:
    out = finding.to_dict()
    if out["provenance"] == "self-reported" and "self-reported" not in out["explanation"]:
        # honest: a finding resting only on survey answers says so in its own words
        out["explanation"] += " (Self-reported: this rests on survey answers alone.)"
    for key in ("title", "level", "dimension", "criterion", "framework", "anchors"):
        out[key] = definition[key]
    if not out["remediation"]:
        out["remediation"] = definition["remediation"]
    return out


def _survey_section(runs: list[CollectorRun], evidence: list[Any], available: set[str],
                    gaps: dict[str, str]) -> dict[str, Any] | None:
    """The report's `survey` section (None when no answers file was configured)."""
    run = next((r for r in runs if r.collector.name == "survey"), None)
    if run is None:
        return None
    from mlaudit.survey import survey_section

    return survey_section(evidence, available=available, gaps=gaps,
                          target=run.result.targets[0] if run.result.targets else None,
                          status=run.status, error=run.error)


def _waivers_section(config: Config, findings: list[Finding],
                     by_id: dict[str, Any]) -> list[dict[str, Any]]:
    """Every configured waiver: whether it applied, or expired and stopped applying."""
    found = {f.check_id: f for f in findings}
    out = []
    for w in config.waivers:
        f = found.get(w.check)
        applied = f is not None and str(f.outcome) == "waived"
        expired = bool(f is not None and f.waiver and f.waiver.get("expired"))
        without = None
        if f is not None:
            without = f.metrics.get("outcome_without_waiver") if applied else str(f.outcome)
        out.append({
            **w.to_dict(),
            "title": by_id[w.check].title if w.check in by_id else None,
            "applied": applied,
            "expired": expired,
            "outcome": str(f.outcome) if f is not None else None,
            "outcome_without_waiver": without,
        })
    return out


_ALL_SOURCES = {"git": "G", "mlflow": "M", "aws": "A", "gx": "X", "survey": "S"}


def _not_configured(runs: list[CollectorRun]) -> list[dict[str, Any]]:
    have = {run.collector.name for run in runs}
    return [{"name": name, "letter": letter, "status": "not_configured", "duration_s": 0.0,
             "targets": [], "errors": [], "warnings": [], "gaps": {}, "evidence_count": 0}
            for name, letter in _ALL_SOURCES.items() if name not in have]
