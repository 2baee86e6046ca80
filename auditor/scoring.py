"""Scoring: findings in, levels out — exactly the rubric's Scoring section, explained in words.

Check scores: pass 1, partial 0.5, fail 0; unknown and waived are left out. Per dimension the
levels are walked from 1 upward: a level with no checks of the dimension is vacuous (achieved);
with fewer than half of its (unwaived) checks assessed it has insufficient evidence; otherwise it
is achieved when the assessed checks' mean reaches the threshold (0.8), else not achieved. The
walk stops at the first level that is not achieved or lacks evidence; the dimension's level is
the top of the unbroken run of achieved levels (0, "Not started", when level 1 is not achieved).
A dimension whose walk stops for insufficient evidence before achieving any level that has checks
(or that has no unwaived checks at all) is *not assessed*. Overall = the lowest level among the assessed dimensions.

Scoring knows only findings and definitions: nothing here asks where evidence came from, except
each finding's provenance (observed / self-reported) for the confidence split.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.evidence import Finding, Outcome, Provenance
from checks.base import DIMENSIONS, LEVEL_NAMES, CheckDef
from checks.runner import assess_with

SCORES = {Outcome.PASS: 1.0, Outcome.PARTIAL: 0.5, Outcome.FAIL: 0.0}
LEVELS = (1, 2, 3, 4, 5)
_EPS = 1e-9  # 4/5 must reach 0.8


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, "Not started")


def _outcomes(findings: Iterable[Finding], defs: list[CheckDef]) -> dict[str, Finding]:
    """The finding of every definition; a check with no finding counts as unknown."""
    by_id = {f.check_id: f for f in findings}
    return {
        d.id: by_id.get(d.id)
        or Finding(d.id, Outcome.UNKNOWN, "No finding was produced.", missing=assess_with(d))
        for d in defs
    }


def score(findings: list[Finding], defs: list[CheckDef], threshold: float = 0.8) -> dict[str, Any]:
    """The scores of a set of findings as JSON-ready dicts (overall, dimensions, confidence,
    counts); see the module docstring for the method."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    found = _outcomes(findings, defs)
    dimensions = {
        dim: _walk(dim, [d for d in defs if d.dimension == dim], found, threshold)
        for dim in DIMENSIONS
    }
    assessed = [d for d in DIMENSIONS if dimensions[d]["assessed"]]
    not_assessed = [d for d in DIMENSIONS if not dimensions[d]["assessed"]]
    if assessed:
        level = min(dimensions[d]["level"] for d in assessed)
        # weakest first: the first dimension named is the one that sets the level
        named = sorted(assessed, key=lambda d: (dimensions[d]["level"], DIMENSIONS.index(d)))
        statement = f"Level {level} on {_join(named)} evidence"
        if not_assessed:
            statement += f"; {_join(not_assessed)} not assessed ({_why_not(not_assessed, dimensions, defs, found)})"
    else:
        level = 0
        statement = (
            "No level: no dimension has enough evidence to be assessed ("
            + _why_not(not_assessed, dimensions, defs, found)
            + ")"
        )
    return {
        "overall": {
            "level": level,
            "name": level_name(level),
            "assessed_dimensions": assessed,
            "not_assessed": not_assessed,
            "statement": statement,
        },
        "dimensions": dimensions,
        "confidence": _confidence(defs, found),
        "counts": {str(o): sum(1 for f in found.values() if f.outcome == o) for o in Outcome},
        "threshold": threshold,
    }


def _walk(
    dim: str, defs: list[CheckDef], found: dict[str, Finding], threshold: float
) -> dict[str, Any]:
    levels: list[dict[str, Any]] = []
    level = 0
    stopped_at: int | None = None
    stop_reason: str | None = None
    achieved_with_checks = False
    for lvl in LEVELS:
        checks = sorted((d for d in defs if d.level == lvl), key=lambda d: d.id)
        outcome = {d.id: found[d.id].outcome for d in checks}
        considered = [d.id for d in checks if outcome[d.id] != Outcome.WAIVED]
        assessed = [c for c in considered if outcome[c] in SCORES]
        mean = (
            round(sum(SCORES[outcome[c]] for c in assessed) / len(assessed), 4)
            if assessed
            else None
        )
        failing = [c for c in assessed if outcome[c] != Outcome.PASS]
        unknown = [c for c in considered if outcome[c] == Outcome.UNKNOWN]
        if stopped_at is not None:
            status, blocking = "not_reached", []
        elif not considered:
            status, blocking = "vacuous", []
            level = lvl
        elif len(assessed) * 2 < len(considered):
            status, blocking = "insufficient_evidence", unknown
            stopped_at, stop_reason = lvl, "insufficient_evidence"
        elif mean is not None and mean + _EPS >= threshold:
            status, blocking = "achieved", []
            level = lvl
            achieved_with_checks = True
        else:
            status, blocking = "not_achieved", failing
            stopped_at, stop_reason = lvl, "not_achieved"
        levels.append(
            {
                "level": lvl,
                "status": status,
                "score": mean,
                "checks": len(checks),
                "assessed": len(assessed),
                "passing": [c for c in assessed if outcome[c] == Outcome.PASS],
                "blocking": blocking,
                "failing": failing,
                "unknown": unknown,
            }
        )
    # assessed once a level with checks is judged; a dimension with no (unwaived) checks at all
    # is not assessed either, though its vacuous walk never stops
    is_assessed = achieved_with_checks or stop_reason == "not_achieved"
    entry = {
        "level": level,
        "name": level_name(level),
        "assessed": is_assessed,
        "stopped_at": stopped_at,
        "stop_reason": stop_reason,
        "explanation": "",
        "levels": levels,
        "confidence": _confidence(defs, found),
    }
    entry["explanation"] = _explain(dim, entry, {d.id: d for d in defs}, found, threshold)
    return entry


def _explain(
    dim: str,
    entry: dict[str, Any],
    defs: dict[str, CheckDef],
    found: dict[str, Finding],
    threshold: float,
) -> str:
    level, stop = entry["level"], entry["stopped_at"]
    if not entry["assessed"] and stop is None:
        return f"{dim}: not assessed — the rubric has no (unwaived) checks for it"
    if stop is None:
        return f"{dim}: level {level}; every level achieved"
    at = entry["levels"][stop - 1]
    if entry["stop_reason"] == "not_achieved":
        reasons = "; ".join(
            f"{c} {found[c].outcome}: {_first_sentence(found[c].explanation)}"
            for c in at["blocking"]
        )
        return (
            f"{dim}: level {level}; level {stop} not achieved (score {at['score']:.2f} < "
            f"{threshold:.2f}) — {reasons}"
        )
    steps = _assess_steps([found[c] for c in at["unknown"]], [defs[c] for c in at["unknown"]])
    head = (
        f"{dim}: level {level}; evidence ends at level {level}"
        if entry["assessed"]
        else f"{dim}: not assessed"
    )
    return (
        f"{head} — level {stop} has {at['assessed']} of {at['checks']} checks assessed; "
        f"to assess further: {steps}"
    )


def _assess_steps(findings: list[Finding], defs: list[CheckDef]) -> str:
    """Group what would assess the unknowns: 'answer the survey (S5, S8); configure AWS access'."""
    questions: list[str] = []
    other: list[str] = []
    for finding, defn in zip(findings, defs, strict=True):
        for step in finding.missing or assess_with(defn):
            if step.startswith("answer survey question "):
                questions.append(step.rsplit(" ", 1)[1])
            elif step not in other:
                other.append(step)
    parts = []
    if questions:
        qs = sorted(set(questions), key=lambda q: int(q[1:]) if q[1:].isdigit() else 0)
        parts.append(f"answer the survey ({', '.join(qs)})")
    parts += other
    return "; ".join(parts) or "no source could assess these checks"


def _why_not(
    dims: list[str], scores: dict[str, Any], defs: list[CheckDef], found: dict[str, Finding]
) -> str:
    """'no survey' when only survey questions would assess them and nothing self-reported exists."""
    any_survey = any(f.provenance == str(Provenance.SELF_REPORTED) for f in found.values())
    by_id = {d.id: d for d in defs}
    survey_only = True
    for dim in dims:
        stop = scores[dim]["stopped_at"]
        if stop is None:
            survey_only = False  # no checks at all: the survey would not help
            continue
        for c in scores[dim]["levels"][stop - 1]["unknown"]:
            if "S" not in by_id[c].collectors:
                survey_only = False
    return "no survey" if survey_only and not any_survey else "insufficient evidence"


def _confidence(defs: list[CheckDef], found: dict[str, Finding]) -> dict[str, Any]:
    """Share of (unwaived) checks assessed, split by provenance: a finding resting on any observed
    or inferred evidence counts as observed; only purely self-reported ones count as such."""
    eligible = [found[d.id] for d in defs if found[d.id].outcome != Outcome.WAIVED]
    assessed = [f for f in eligible if f.outcome in SCORES]
    self_reported = sum(1 for f in assessed if f.provenance == str(Provenance.SELF_REPORTED))
    observed = len(assessed) - self_reported
    n = len(eligible)

    def share(x: int) -> float:
        return round(x / n, 3) if n else 0.0

    return {
        "checks": n,
        "assessed": len(assessed),
        "observed": observed,
        "self_reported": self_reported,
        "share_assessed": share(len(assessed)),
        "share_observed": share(observed),
        "share_self_reported": share(self_reported),
    }


def _first_sentence(text: str) -> str:
    head = text.split(". ", 1)[0].strip()
    return head.rstrip(".")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_RANK = {Outcome.FAIL: 0, Outcome.PARTIAL: 1, Outcome.UNKNOWN: 2}


def next_steps(
    findings: list[Finding], defs: list[CheckDef], scores: dict[str, Any], limit: int = 10
) -> list[dict[str, Any]]:
    """What keeps the organisation from its next overall level, most pressing first:
    1. failing/partial checks of the weakest assessed dimension(s) at the level that stopped them;
    2. the other dimensions' failing/partial checks at their stopping levels;
    3. unknown checks at the stopping levels (weakest dimensions first), then other unknowns up
       to the next overall level — each with what would assess it.
    Within a group: lower level first, then fail before partial, rubric dimension order, ID."""
    found = _outcomes(findings, defs)
    by_id = {d.id: d for d in defs}
    dims = scores["dimensions"]
    overall = scores["overall"]["level"]
    assessed = scores["overall"]["assessed_dimensions"]
    weakest = [d for d in DIMENSIONS if d in assessed and dims[d]["level"] == overall]

    def at_stop(dim: str) -> list[str]:
        stop = dims[dim]["stopped_at"]
        return (
            [] if stop is None else [d.id for d in defs if d.dimension == dim and d.level == stop]
        )

    def key(c: str) -> tuple:
        d = by_id[c]
        return (d.level, _RANK.get(found[c].outcome, 3), DIMENSIONS.index(d.dimension), d.id)

    def failing(ids: Iterable[str]) -> list[str]:
        return sorted(
            (c for c in ids if found[c].outcome in (Outcome.FAIL, Outcome.PARTIAL)), key=key
        )

    def unknowns(ids: Iterable[str]) -> list[str]:
        return sorted((c for c in ids if found[c].outcome == Outcome.UNKNOWN), key=key)

    others = [d for d in DIMENSIONS if d not in weakest]
    ranked = failing(c for dim in weakest for c in at_stop(dim))
    ranked += failing(c for dim in others for c in at_stop(dim))
    ranked += unknowns(c for dim in weakest for c in at_stop(dim))
    ranked += unknowns(
        [c for dim in others for c in at_stop(dim)] + [d.id for d in defs if d.level <= overall + 1]
    )
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in ranked:
        if c in seen:
            continue
        seen.add(c)
        d, f = by_id[c], found[c]
        steps.append(
            {
                "check_id": c,
                "title": d.title,
                "level": d.level,
                "dimension": d.dimension,
                "outcome": str(f.outcome),
                "reason": f.explanation,
                "remediation": d.remediation,
                "framework": d.framework,
                "assess_with": (list(f.missing) or assess_with(d))
                if f.outcome == Outcome.UNKNOWN
                else [],
            }
        )
        if len(steps) >= limit:
            break
    return steps
