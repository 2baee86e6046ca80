"""The engine: run collectors concurrently, then checks and scoring; the report builder
(`mlaudit.reports.builder`) makes the report model.

config → collectors → evidence → checks → findings → scoring → report model. Each collector runs
in its own daemon thread with a timeout; whatever one raises (or an overrun) is recorded as its
failure, its checks come out `unknown`, and the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from mlaudit.collectors.base import CollectContext, Collector, CollectorError, CollectorResult
from mlaudit.config import Config
from mlaudit.evidence import Finding, now_iso
from mlaudit.redact import redact

log = logging.getLogger("mlaudit")

EXIT_OK, EXIT_BELOW, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


#: sources that show only their present state (`scan --as-of` cannot read them for a past date)
def as_of_moment(day: date | None) -> datetime | None:
    """The end of the as-of day (UTC): commits made that day still count."""
    if day is None:
        return None
    return datetime.combine(day, dt_time(23, 59, 59), tzinfo=UTC)


@dataclass
class CollectorRun:
    collector: Collector
    status: str = "pending"  # ok | partial | failed | timeout | not_read (as-of audit)
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
    """One collector per configured source (the registry); each module is imported only when
    its source is configured. Repositories discovered from GitHub / GitLab (`sources:`) are read
    by the git collector's discovering form, with any configured git targets."""
    collectors = [source.create(config.settings_of(source.name)) for source in config.configured()
                  if not (config.discovery and source.name == "git")]
    if config.discovery:  # fleet (issue 16)
        from mlaudit.collectors.discovery.collector import DiscoveringGitCollector
        from mlaudit.collectors.git.settings import GitSettings

        collectors.insert(0, DiscoveringGitCollector(config.git or GitSettings(), config.discovery))
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
    runs: list[CollectorRun] = field(default_factory=list)  # history: every evidence item kept
    #: seconds per phase of this audit (collect, checks, scoring, report model), for `-v`
    timings: dict[str, float] = field(default_factory=dict)


def audit(config: Config, scan_path: Path | None = None,
          collectors: list[Collector] | None = None,
          runs: list[CollectorRun] | None = None, today: date | None = None) -> Audit:
    """Run a whole audit: collectors, checks, scoring; the report builder makes the report
    model (the source of truth for every renderer).

    `runs` (history: a stored run replayed) skips collection; `today` dates waiver expiry."""
    from mlaudit.checks import load_definitions, run_checks
    from mlaudit.reports.builder import AuditResult, build_report
    from mlaudit.scorememo import ScoreMemo
    from mlaudit.scoring import gate_advanced, score, score_repositories

    started_at, t0 = now_iso(), time.perf_counter()
    defs = load_definitions()
    if runs is None:
        runs = _collect(config, build_collectors(config) if collectors is None else collectors)
    collected = time.perf_counter()
    check_ctx = _check_context(runs, config)
    waivers = {w.check: w.to_dict() for w in config.waivers}
    findings = run_checks(check_ctx, waivers=waivers, today=today)
    checked = time.perf_counter()
    memo = ScoreMemo.default()  # repository levels kept from earlier runs (None: cache off)
    repositories = score_repositories(check_ctx.evidence, defs, threshold=config.threshold, memo=memo)
    if memo is not None and (memo.hits or memo.misses):
        log.info("repository levels: %d of %d kept from an earlier run (evidence unchanged), %d computed",
                 memo.hits, memo.hits + memo.misses, memo.misses)
    findings = gate_advanced(check_ctx, findings, repositories, defs, waivers, today)
    scores = score(findings, defs, threshold=config.threshold)
    exit_code = _exit_code(runs, config, scores)
    scored = time.perf_counter()
    survey = next((r for r in runs if r.collector.name == "survey"), None)
    report = build_report(AuditResult(
        collectors=[run.to_dict() for run in runs], evidence=check_ctx.evidence,
        findings=findings, definitions=defs, scores=scores, threshold=config.threshold,
        repositories=repositories,
        organisation=config.organisation, available=check_ctx.available, gaps=check_ctx.gaps,
        waivers=[w.to_dict() for w in config.waivers], frameworks=list(config.frameworks),
        survey_run=survey.to_dict() | {"error": survey.error} if survey else None,
        run={
            "started_at": started_at,
            "duration_s": round(time.perf_counter() - t0, 3),
            "lookback_days": config.lookback_days,
            "as_of": config.as_of.isoformat() if config.as_of else None,
            "sandbox": config.sandbox,
            "threshold": config.threshold,
            "config_file": config.source,
            "scan_path": str(scan_path) if scan_path else None,
            "fail_under": config.fail_under,
            "exit_code": exit_code,
        },
    ))
    timings = {"collect": collected - t0, "checks": checked - collected, "scoring": scored - checked,
               "report model": time.perf_counter() - scored}
    return Audit(report=report, findings=findings, exit_code=exit_code, runs=runs, timings=timings)


def _collect(config: Config, collectors: list[Collector]) -> list[CollectorRun]:
    """Run the collectors. In an as-of audit a source that cannot show that date (a live
    source shows today; survey answers given later say nothing of it) is not read."""
    as_of = as_of_moment(config.as_of)
    ctx = CollectContext(lookback_days=config.lookback_days, as_of=as_of)
    unreadable = {c.name: why for c in collectors if as_of is not None and (why := c.unreadable_as_of(as_of))}
    timeouts = {c.name: float(c.timeout_s or config.timeout_s) for c in collectors}
    runs = run_collectors([c for c in collectors if c.name not in unreadable], ctx, timeouts)
    return runs + [CollectorRun(c, status="not_read", error=unreadable[c.name])
                   for c in collectors if c.name in unreadable]


def _check_context(runs: list[CollectorRun], config: Config) -> Any:
    """What the checks see: the evidence of every source that ran, which ran, which failed
    and why, and the signals a source could not read."""
    from mlaudit.checks.base import CheckContext

    ran = [run for run in runs if run.status in ("ok", "partial")]
    return CheckContext(
        evidence=[item for run in ran for item in run.result.evidence],
        available={run.collector.letter for run in ran},
        failed={run.collector.letter: f"the {run.collector.name} collector {run.status}: {run.error}"
                for run in runs if run.status in ("failed", "timeout")}
        | {run.collector.letter: str(run.error) for run in runs if run.status == "not_read"},
        gaps={sig: why for run in runs for sig, why in run.result.gaps.items()},
        settings={"threshold": config.threshold, "lookback_days": config.lookback_days},
    )


def _exit_code(runs: list[CollectorRun], config: Config, scores: dict[str, Any]) -> int:
    if any(run.status not in ("ok", "not_read") for run in runs):  # not read on purpose: no failure
        return EXIT_PARTIAL
    if config.fail_under is not None and (scores["overall"]["level"] or 0) < config.fail_under:
        return EXIT_BELOW  # no level at all is below any threshold
    return EXIT_OK
