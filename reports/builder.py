"""The report builder: an audit's result (collector runs, evidence, findings, scores) turned
into the report model — the dict report.schema.json describes and every renderer reads.

The engine runs collectors, checks and scoring and builds no section itself; renderers turn the
model into HTML, JSON and Markdown and know nothing of how it was made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlaudit import __version__
from mlaudit.checks.base import CheckDef
from mlaudit.evidence import EvidenceItem, Finding, now_iso
from mlaudit.reports.json_report import SCHEMA_VERSION
from mlaudit.sources import source_letters


@dataclass
class AuditResult:
    """What an audit produced, as plain data (the engine fills it; nothing here runs anything)."""

    #: each collector that ran, as its report row (`CollectorRun.to_dict()`)
    collectors: list[dict[str, Any]]
    evidence: list[EvidenceItem]
    findings: list[Finding]
    definitions: list[CheckDef]
    #: `scoring.score(...)`: overall, dimensions, confidence, counts
    scores: dict[str, Any]
    #: the run's facts: started_at, duration_s, lookback_days, threshold, config_file, scan_path,
    #: fail_under, exit_code
    run: dict[str, Any]
    threshold: float
    organisation: str | None = None
    available: set[str] = field(default_factory=set)
    gaps: dict[str, str] = field(default_factory=dict)
    #: the configured waivers (`Waiver.to_dict()`)
    waivers: list[dict[str, str]] = field(default_factory=list)
    #: the survey collector's run (None when no answers file was configured)
    survey_run: dict[str, Any] | None = None
    #: the frameworks to report the findings against (`mlaudit.checks.frameworks.Framework`)
    frameworks: list[Any] = field(default_factory=list)
    #: `scoring.score_repositories(...)`, when the engine has already computed it
    repositories: list[dict[str, Any]] | None = None


def build_report(result: AuditResult) -> dict[str, Any]:
    """The report model of an audit."""
    from mlaudit.scoring import framework_results, methodology, next_steps, score_repositories

    defs = result.definitions
    by_id = {d.id: d for d in defs}
    survey = _survey_section(result)
    report = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mlaudit", "version": __version__},
        "generated_at": now_iso(),
        "organisation": result.organisation,
        "run": {"finished_at": now_iso(), **result.run},
        "collectors": result.collectors + _not_configured(result.collectors),
        "summary": result.scores,
        "repositories": result.repositories if result.repositories is not None
        else score_repositories(result.evidence, defs, threshold=result.threshold),
        "next_steps": next_steps(result.findings, defs, result.scores),
        "findings": [_finding_dict(f, by_id[f.check_id].to_dict()) for f in result.findings],
        "evidence": _cited_evidence(result.findings, result.evidence, survey),
        "methodology": methodology(defs, result.threshold),
        "survey": survey,
        "waivers": _waivers_section(result.waivers, result.findings, by_id),
    }
    if result.frameworks:  # each asked-for framework, from the same findings
        report["frameworks"] = framework_results(result.frameworks, result.findings, result.threshold)
    return report


def _cited_evidence(findings: list[Finding], evidence: list[EvidenceItem],
                    survey: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every item a finding cites, the survey section names, and every repository item."""
    cited: dict[str, dict[str, Any]] = {}
    for f in findings:
        for item in f.evidence:
            cited.setdefault(item.id, item.to_dict())
    wanted: set[str] = set()
    if survey is not None:
        # the answers and the observed side of each verified claim are kept, so every locator
        # the survey section names can be followed in the report
        wanted = {a["evidence"] for a in survey["answers"]}
        wanted |= {i for a in survey["answers"] for i in a["observed_evidence"]}
    for item in evidence:
        # repository items are always kept: renderers use them to build links for other evidence
        if item.id in wanted or item.signal == "repository":
            cited.setdefault(item.id, item.to_dict())
    return sorted(cited.values(), key=lambda e: (e["subject"], e["signal"], e["locator"]))


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


def _survey_section(result: AuditResult) -> dict[str, Any] | None:
    """The report's `survey` section (None when no answers file was configured)."""
    run = result.survey_run
    if run is None:
        return None
    from mlaudit.checks.survey_claims import survey_section

    return survey_section(result.evidence, available=result.available, gaps=result.gaps,
                          target=run["targets"][0] if run["targets"] else None,
                          status=run["status"], error=run["error"])


def _waivers_section(waivers: list[dict[str, str]], findings: list[Finding],
                     by_id: dict[str, Any]) -> list[dict[str, Any]]:
    """Every configured waiver: whether it applied, or expired and stopped applying."""
    found = {f.check_id: f for f in findings}
    out = []
    for w in waivers:
        f = found.get(w["check"])
        applied = f is not None and str(f.outcome) == "waived"
        expired = bool(f is not None and f.waiver and f.waiver.get("expired"))
        without = None
        if f is not None:
            without = f.metrics.get("outcome_without_waiver") if applied else str(f.outcome)
        out.append({
            **w,
            "title": by_id[w["check"]].title if w["check"] in by_id else None,
            "applied": applied,
            "expired": expired,
            "outcome": str(f.outcome) if f is not None else None,
            "outcome_without_waiver": without,
        })
    return out


def _not_configured(ran: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row for every registered source that was not configured."""
    have = {row["name"] for row in ran}
    return [{"name": name, "letter": letter, "status": "not_configured", "duration_s": 0.0,
             "targets": [], "errors": [], "warnings": [], "gaps": {}, "evidence_count": 0}
            for name, letter in source_letters().items() if name not in have]
