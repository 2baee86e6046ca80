"""Scoring: findings in, levels out — the rubric's Scoring section, explained in words.

Check scores: pass 1, partial 0.5, fail 0; unknown and waived are left out. Per dimension the
levels are walked from 1 upward. At each level the dimension's checks of that level are taken:
- none: *vacuous* — counts as achieved, proves nothing;
- none of them assessed: *not assessed* — the walk goes on, and the level is named as an
  assumption beside the result ("process: level 3; level 1 not assessed — answer S3");
- otherwise *achieved* when the assessed checks score at least the threshold, else *not
  achieved*, and the walk stops (levels above are *not reached*).
The dimension's level is the highest level reached before the walk stops, counting only levels up
to the highest one *achieved on evidence* (a run of unassessed levels on top proves nothing). A
dimension whose walk stops at level 1 on evidence is at level 1, Getting Started, with level 1's
practices not yet in place (`stopped_at` 1; the framework has five levels and every organisation
starts at the first: a strategy and a data audit come before any ML code); one with no level
achieved on evidence otherwise is *not assessed* (level None). Unknown never lowers a level.
In a repository's walk, higher practices imply their basics, level by level: where the one level
between the highest achieved on evidence and the level the walk stopped at had none of its checks
assessed, and the stopping level scores at least half the threshold, that level counts as
reached, named as an assumption (`_implied_by_the_level_above`; calibrated on repositories in
docs/calibration.md). The organisation's dimensions are not walked so: their level-3 checks
include organisation-wide ones (`L3.settled-stack`) that a handful of scripts on one library pass.

The walk is per level by default; `walk="cumulative"` scores each level on the assessed checks of
all levels up to it (the alternative the calibration compared, see docs/calibration.md).

Overall = the lowest level among the assessed dimensions; none assessed -> no level (None).
Per repository, one walk over the technical and process checks that one repository's own git
evidence can decide gives each repository its level (`score_repositories`).

Unscored checks (a plugin's checks without a level or dimension) are left out of every walk, count
and next step: they are reported, never scored.

Scoring knows only findings and definitions: nothing here asks where evidence came from, except
each finding's provenance (observed / inferred / self-reported) for the confidence split.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlaudit.checks.base import DIMENSIONS, LEVEL_NAMES, CheckContext, CheckDef, scored
from mlaudit.checks.runner import assess_with, first_sentence
from mlaudit.evidence import EvidenceItem, Finding, Outcome, Provenance

DEFAULT_THRESHOLD = 0.7  # per-level walk; set by calibration (docs/calibration.md)
SCORES = {Outcome.PASS: 1.0, Outcome.PARTIAL: 0.5, Outcome.FAIL: 0.0}
LEVELS = (1, 2, 3, 4, 5)
WALKS = ("per-level", "cumulative")
_EPS = 1e-9  # 0.7 must be reached in floating point
#: dimensions one repository's own evidence can show; the org-wide checks are left out of its walk
REPO_DIMENSIONS = ("technical", "process")
#: checks about the organisation as a whole, not any one repository
ORG_ONLY = frozenset({"L3.settled-stack"})


def level_name(level: int | None) -> str:
    if level is None:
        return "Not assessed"
    return LEVEL_NAMES.get(level, "Not started")


def _outcomes(findings: Iterable[Finding], defs: list[CheckDef]) -> dict[str, Finding]:
    """The finding of every definition; a check with no finding counts as unknown."""
    by_id = {f.check_id: f for f in findings}
    return {
        d.id: by_id.get(d.id)
        or Finding(d.id, Outcome.UNKNOWN, "No finding was produced.", missing=assess_with(d))
        for d in defs
    }


def score(
    findings: list[Finding],
    defs: list[CheckDef],
    threshold: float = DEFAULT_THRESHOLD,
    walk: str = "per-level",
) -> dict[str, Any]:
    """The scores of a set of findings as JSON-ready dicts (overall, dimensions, confidence,
    counts); see the module docstring for the method."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if walk not in WALKS:
        raise ValueError(f"walk must be one of {', '.join(WALKS)}, got {walk!r}")
    defs = scored(defs)  # an unscored (plugin) check never moves a level nor counts
    found = _outcomes(findings, defs)
    dimensions = {
        dim: _walk(dim, [d for d in defs if d.dimension == dim], found, threshold, walk)
        for dim in DIMENSIONS
    }
    assessed = [d for d in DIMENSIONS if dimensions[d]["assessed"]]
    not_assessed = [d for d in DIMENSIONS if not dimensions[d]["assessed"]]
    level: int | None
    if assessed:
        level = min(dimensions[d]["level"] for d in assessed)
        # weakest first: the first dimension named is the one that sets the level
        named = sorted(assessed, key=lambda d: (dimensions[d]["level"], DIMENSIONS.index(d)))
        statement = f"Level {level} on {_join(named)} evidence"
        if not_assessed:
            statement += f"; {_join(not_assessed)} not assessed ({_why_not(not_assessed, dimensions, defs, found)})"
    else:
        level = None
        statement = (
            "No level: no dimension has a level achieved on evidence ("
            + _why_not(not_assessed, dimensions, defs, found)
            + ")"
        )
    return {
        "overall": {
            "level": level,
            "name": level_name(level),
            "assessed": level is not None,
            "assessed_dimensions": assessed,
            "not_assessed": not_assessed,
            "statement": statement,
        },
        "dimensions": dimensions,
        "confidence": _confidence(defs, found),
        "counts": {str(o): sum(1 for f in found.values() if f.outcome == o) for o in Outcome},
        "threshold": threshold,
        "walk": walk,
    }


def _walk(
    dim: str,
    defs: list[CheckDef],
    found: dict[str, Finding],
    threshold: float,
    walk: str = "per-level",
    label: str | None = None,
    implied: bool = False,
) -> dict[str, Any]:
    """One walk over `defs`. `implied`: a repository's walk, where an unassessed level below a
    level half in place counts as reached (`_implied_by_the_level_above`)."""
    levels: list[dict[str, Any]] = []
    stopped_at: int | None = None
    top_evidence = 0  # highest level achieved on evidence
    pool: list[str] = []  # assessed checks so far (cumulative walk)
    for lvl in LEVELS:
        checks = sorted((d for d in defs if d.level == lvl), key=lambda d: d.id)
        outcome = {d.id: found[d.id].outcome for d in checks}
        considered = [d.id for d in checks if outcome[d.id] != Outcome.WAIVED]
        assessed = [c for c in considered if outcome[c] in SCORES]
        pool += assessed
        scored = pool if walk == "cumulative" else assessed
        mean = (
            round(sum(SCORES[found[c].outcome] for c in scored) / len(scored), 4)
            if scored and assessed
            else None
        )
        failing = [c for c in assessed if outcome[c] != Outcome.PASS]
        unknown = [c for c in considered if outcome[c] == Outcome.UNKNOWN]
        if stopped_at is not None:
            status, blocking = "not_reached", []
        elif not considered:
            status, blocking = "vacuous", []
        elif not assessed:
            status, blocking = "not_assessed", unknown
        elif mean is not None and mean + _EPS >= threshold:
            status, blocking = "achieved", []
            top_evidence = lvl
        else:
            status, blocking = "not_achieved", failing
            stopped_at = lvl
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
    gaps_below = [
        e["level"] for e in levels if e["status"] == "not_assessed" and e["level"] < (stopped_at or 6)
    ]
    if top_evidence:
        level: int | None = top_evidence
        assumptions = [x for x in gaps_below if x < top_evidence]
        if implied and _implied_by_the_level_above(levels, top_evidence, stopped_at, threshold):
            # the one level between them is taken as reached, named as an assumption
            level = top_evidence + 1
            assumptions.append(level)
    elif stopped_at is not None and not [x for x in gaps_below if x < stopped_at]:
        # level 1 (or the first level with checks) not achieved: the framework has five levels
        # and the first, Getting Started, is where every organisation begins (strategy, a data
        # audit, before any ML hire), so it is level 1 with its practices not yet in place
        # (`stopped_at` 1 says so), as careful reviewers judge a repository without ML code
        level, assumptions = 1, []
    else:
        level, assumptions = None, []
    entry = {
        "level": level,
        "name": level_name(level),
        "assessed": level is not None,
        "stopped_at": stopped_at,
        "stop_reason": "not_achieved" if stopped_at is not None else None,
        "assumptions": assumptions,
        "explanation": "",
        "levels": levels,
        "confidence": _confidence(defs, found),
    }
    entry["explanation"] = _explain(label or dim, entry, {d.id: d for d in defs}, found, threshold)
    return entry


#: the share of the threshold at which a level not achieved still implies the unassessed level below
IMPLIED_SHARE = 0.5


def _implied_by_the_level_above(levels: list[dict[str, Any]], top_evidence: int, stopped_at: int | None,
                                threshold: float) -> bool:
    """Higher practices imply their basics, level by level: where the one level between the
    highest achieved on evidence and the level the walk stopped at had none of its checks
    assessed, and the stopping level scores at least half the threshold (its practices half in
    place: tests in CI, review discipline, pinned environments), the team works past the level
    in between, and that level counts as reached, named as an assumption. A level that is not
    reached that far (a stray partial) proves nothing of the one below, and neither does a run of
    unassessed levels on top."""
    if stopped_at is None or stopped_at != top_evidence + 2:
        return False
    between, stop = levels[top_evidence], levels[stopped_at - 1]
    return (between["status"] == "not_assessed" and stop["score"] is not None
            and stop["score"] + _EPS >= threshold * IMPLIED_SHARE)


def _explain(
    dim: str,
    entry: dict[str, Any],
    defs: dict[str, CheckDef],
    found: dict[str, Finding],
    threshold: float,
) -> str:
    level, stop = entry["level"], entry["stopped_at"]
    levels = entry["levels"]
    if not any(e["checks"] for e in levels):
        return f"{dim}: not assessed — the rubric has no (unwaived) checks for it"
    head = f"{dim}: level {level}" if level is not None else f"{dim}: not assessed"
    parts = [head]
    if stop is not None:
        at = levels[stop - 1]
        reasons = "; ".join(
            f"{c} {found[c].outcome}: {first_sentence(found[c].explanation)}"
            for c in at["blocking"]
        )
        # (stopped at the level it is at: the first level, whose practices are not in place yet)
        what = f"level {stop}'s practices not in place yet" if stop == level else f"level {stop} not achieved"
        parts.append(f"{what} (score {at['score']:.2f} < {threshold:.2f}) — {reasons}")
    elif level is not None and level < 5:
        above = [e for e in levels if e["level"] > level and e["status"] == "not_assessed"]
        if above:
            parts.append(f"evidence ends at level {level}")
    elif level == 5:
        parts.append("every level achieved")
    unassessed = [e for e in levels if e["status"] == "not_assessed"]
    if level is None:
        unassessed = [e for e in unassessed if stop is None or e["level"] < stop]
    elif entry["assumptions"]:
        unassessed = [e for e in unassessed if e["level"] in entry["assumptions"]]
    else:
        unassessed = [e for e in unassessed if e["level"] > level and stop is None][:1]
    if unassessed:
        ids = [c for e in unassessed for c in e["unknown"]]
        steps = _assess_steps([found[c] for c in ids], [defs[c] for c in ids])
        which = ", ".join(str(e["level"]) for e in unassessed)
        plural = "s" if len(unassessed) > 1 else ""
        implied = ""
        if level is not None and stop == level + 1 and level in entry["assumptions"]:
            implied = f", taken as reached for level {stop}'s practices in place (score {levels[stop - 1]['score']:.2f})"
        parts.append(f"level{plural} {which} not assessed{implied} — {steps}")
    return "; ".join(parts)


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
    unknown = [
        c
        for dim in dims
        for e in scores[dim]["levels"]
        if e["status"] == "not_assessed"
        for c in e["unknown"]
    ]
    survey_only = bool(unknown) and all("S" in by_id[c].collectors for c in unknown)
    return "no survey" if survey_only and not any_survey else "insufficient evidence"


def _confidence(defs: list[CheckDef], found: dict[str, Finding]) -> dict[str, Any]:
    """Share of (unwaived) checks assessed, split by provenance: a finding resting on any observed
    evidence counts as observed, one resting on inferred evidence (a higher practice implying it)
    as inferred, and only purely self-reported ones as self-reported."""
    eligible = [found[d.id] for d in defs if found[d.id].outcome != Outcome.WAIVED]
    assessed = [f for f in eligible if f.outcome in SCORES]
    self_reported = sum(1 for f in assessed if f.provenance == str(Provenance.SELF_REPORTED))
    inferred = sum(1 for f in assessed if f.provenance == str(Provenance.INFERRED))
    observed = len(assessed) - self_reported - inferred
    n = len(eligible)

    def share(x: int) -> float:
        return round(x / n, 3) if n else 0.0

    return {
        "checks": n,
        "assessed": len(assessed),
        "observed": observed,
        "inferred": inferred,
        "self_reported": self_reported,
        "share_assessed": share(len(assessed)),
        "share_observed": share(observed),
        "share_inferred": share(inferred),
        "share_self_reported": share(self_reported),
    }



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
    defs = scored(defs)
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
    assumed = [
        d.id for d in defs if d.level in dims[d.dimension].get("assumptions", ())
    ]
    ranked += unknowns(
        [c for dim in others for c in at_stop(dim)]
        + assumed
        + [d.id for d in defs if d.level <= (overall or 0) + 1]
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


# ------------------------------------------------------------------------------ per repository
def score_repositories(
    evidence: list[EvidenceItem],
    defs: list[CheckDef],
    threshold: float = DEFAULT_THRESHOLD,
    walk: str = "per-level",
    memo: Any = None,
) -> list[dict[str, Any]]:
    """Each scanned repository's own level: the technical and process checks run on that
    repository's git evidence alone, then one walk over them together (and one per dimension, for
    the repository x dimension matrix). Sorted by level, highest first, then name.

    `memo` (an `auditor.scorememo.ScoreMemo`): a repository whose evidence, definitions, threshold,
    walk and scoring code are all what they were when a result was kept gets that result."""
    from mlaudit.checks.runner import run_checks

    repo_defs = [d for d in defs if d.dimension in REPO_DIMENSIONS and d.id not in ORG_ONLY]
    repos = sorted(
        {e.subject: e for e in evidence if e.signal == "repository" and e.collector == "git"}.items()
    )
    by_subject: dict[str, list[EvidenceItem]] = {}
    for item in evidence:
        if item.collector == "git":
            by_subject.setdefault(item.subject, []).append(item)
    if memo is not None:
        memo.begin(repo_defs, threshold, walk)
    out = []
    for name, item in repos:
        key = memo.key(by_subject.get(name, [])) if memo is not None else None
        kept = memo.get(key) if memo is not None else None
        if kept is not None:
            out.append(kept)
            continue
        ctx = CheckContext(evidence=by_subject.get(name, []), available={"G"})
        findings = run_checks(ctx, defs=repo_defs)
        found = _outcomes(findings, repo_defs)
        combined = _walk(name, repo_defs, found, threshold, walk, label=name, implied=True)
        per_dim = {
            dim: _walk(dim, [d for d in repo_defs if d.dimension == dim], found, threshold, walk, implied=True)
            for dim in REPO_DIMENSIONS
        }
        activity = next((e for e in by_subject.get(name, []) if e.signal == "team_activity"), None)
        dormant = activity is not None and not activity.attributes.get("commits")
        out.append(
            {
                "name": name,
                "is_ml": bool(item.attributes.get("is_ml")),
                "level": combined["level"],
                "name_level": combined["name"],
                "assessed": combined["assessed"],
                "explanation": combined["explanation"],
                "dormant": dormant,
                "last_commit_at": activity.attributes.get("last_commit_at") if activity else None,
                "weakest": _weakest(combined, found),
                "dimensions": {
                    dim: {
                        "level": v["level"],
                        "name": v["name"],
                        "assessed": v["assessed"],
                        "weakest": _weakest(v, found),
                    }
                    for dim, v in per_dim.items()
                },
                "checks": {c: str(f.outcome) for c, f in found.items()},
                "confidence": combined["confidence"],
            }
        )
        if memo is not None:
            memo.put(key, out[-1])
    if memo is not None:
        memo.save()
    out.sort(key=lambda r: (-(r["level"] if r["level"] is not None else -1), r["name"]))
    return out


#: the org's checks from this level up count a repository's evidence only where that repository
#: has the basics: "higher practices imply their basics", so level-5 markers in a repository whose
#: own walk stops below BASICS_LEVEL (a feature-store tutorial without tests or CI) are not the
#: organisation practising level 5
ADVANCED_LEVEL = 5
BASICS_LEVEL = 3


def gate_advanced(
    ctx: CheckContext,
    findings: list[Finding],
    repositories: list[dict[str, Any]],
    defs: list[CheckDef],
    waivers: dict[str, dict] | None = None,
    today: Any = None,
) -> list[Finding]:
    """The org's findings with its level-5 checks re-run on the evidence of the repositories that
    have the basics (own level >= BASICS_LEVEL); repository evidence of the others is set aside
    for those checks, and each finding whose outcome changes says which and why."""
    from mlaudit.checks.runner import run_checks

    lacking = {r["name"]: r["level"] for r in repositories
               if r["level"] is None or r["level"] < BASICS_LEVEL}
    advanced = [d for d in scored(defs) if d.level >= ADVANCED_LEVEL]
    if not lacking or not advanced:
        return findings
    kept = [e for e in ctx.evidence
            if e.collector != "git" or e.subject not in lacking or e.signal == "repository"]
    gated_ctx = CheckContext(evidence=kept, available=set(ctx.available), failed=dict(ctx.failed),
                             gaps=dict(ctx.gaps), settings=dict(ctx.settings))
    regated = {f.check_id: f for f in run_checks(gated_ctx, waivers=waivers, defs=advanced, today=today)}
    out = []
    for finding in findings:
        new = regated.get(finding.check_id)
        cited = sorted({e.subject for e in finding.evidence
                        if e.subject in lacking and e.signal != "repository"})
        if new is None or (new.outcome == finding.outcome and not cited):
            out.append(finding)
            continue
        set_aside = cited or sorted(lacking)
        levels = ", ".join(f"{n} (own level {lacking[n] if lacking[n] is not None else 'not assessed'})"
                           for n in set_aside[:6])
        new.explanation += (
            f" Not counted for the organisation: the evidence of {levels}, which "
            f"{'lacks' if len(set_aside) == 1 else 'lack'} the basics (a level-{ADVANCED_LEVEL} practice "
            f"counts where its repository reaches level {BASICS_LEVEL} on its own evidence)."
        )
        new.metrics = {**new.metrics, "set_aside_repositories": set_aside}
        if new.outcome != finding.outcome:
            new.metrics["outcome_with_them"] = str(finding.outcome)
        out.append(new)
    return out


def _weakest(entry: dict[str, Any], found: dict[str, Finding]) -> dict[str, Any] | None:
    """The check that holds a walk back: the first blocking check where it stopped, else the
    lowest-scoring assessed check above the level reached."""
    stop = entry["stopped_at"]
    if stop is not None:
        at = entry["levels"][stop - 1]
        ranked = sorted(at["blocking"], key=lambda c: (_RANK.get(found[c].outcome, 3), c))
        if ranked:
            c = ranked[0]
            return {
                "check_id": c,
                "outcome": str(found[c].outcome),
                "explanation": first_sentence(found[c].explanation),
            }
    return None


def methodology(defs: list[CheckDef], threshold: float, walk: str = "per-level") -> dict[str, Any]:
    """The report's methodology appendix: the rules above in words, and the rubric's data on
    which sources decide each check and which higher practices imply it."""
    return {
        "threshold": threshold,
        "walk": walk,
        "rules": [
            "Check scores: pass 1, partial 0.5, fail 0; unknown and waived are left out.",
            "Absence is evidence only where the practice would show: each check names the sources "
            "that decide it (its system of record). Only a deciding source that was read can make a "
            "check fail by showing nothing; the silence of a supporting source leaves it unknown, "
            "with what would decide it.",
            "Higher practices imply their basics: evidence of a practice that cannot exist without "
            "another counts as inferred support for it (listed below).",
            "Per dimension, levels are walked from 1 upward. A level with no checks of the dimension "
            "is vacuous; a level none of whose checks was assessed is not assessed — the walk goes "
            "on and the level is named as an assumption; otherwise the level is achieved when the "
            f"assessed checks score at least {threshold:.0%}"
            + (" (cumulatively over the levels up to it)" if walk == "cumulative" else "")
            + ", and the walk stops at the first level not achieved.",
            "A dimension's level is the highest level reached, counting only levels up to the "
            "highest one achieved on evidence; a dimension with none is not assessed. A walk that "
            "stops at level 1 gives level 1, Getting Started, with level 1's practices not in place "
            "yet: the framework has five levels and every organisation starts at the first. Unknown "
            "never lowers a level. In a repository's own walk, higher practices imply their basics: "
            "where the one level between the highest achieved on evidence and the level the walk "
            "stopped at had no check assessed, and the stopping level scores at least half the "
            "threshold, that level counts as reached and is named as an assumption.",
            "The overall level is the lowest level among the assessed dimensions.",
            "Each repository gets its own level from one walk over the technical and process checks "
            "its own git evidence can decide.",
            f"The organisation's level-{ADVANCED_LEVEL} checks count a repository's evidence only where "
            f"that repository reaches level {BASICS_LEVEL} on its own evidence: level-{ADVANCED_LEVEL} "
            "markers without the basics (a feature-store tutorial without tests or CI) are set aside, "
            "and the finding names them.",
            "Confidence is the share of checks assessed, split by provenance (observed, inferred, "
            "self-reported).",
            "Observed evidence decides an outcome; a claim it contradicts never leaves its check at "
            "pass on the claim alone.",
        ],
        "sources_by_check": {
            d.id: {"decides": list(d.decides), "supports": list(d.supports)} for d in defs
        },
        "implications": [
            {"check": d.id, "signals": list(i.signals), "because": i.because}
            for d in defs
            for i in d.implied_by
        ],
        "sources": [
            "Framework: 'Building A Mature High-Performing ML team' (five levels, four dimensions).",
            "Anchors: Google ML Test Score (MTS), Google Cloud MLOps levels (GCP), Azure MLOps maturity "
            "(AZ), AWS Well-Architected ML Lens (WA), Marvelous MLOps assessment (MMA).",
        ],
    }


# ------------------------------------------------------------------------------ frameworks
#: a criterion's status from its checks' outcomes (see `criterion_status`)
CRITERION_STATUSES = ("met", "not_met", "unknown", "not_assessable")


def criterion_status(match: str, outcomes: list[Outcome]) -> str:
    """A framework criterion from the outcomes of its checks. Waived checks are left out.
    `all`: not met when any check fails or is partial, else unknown when any is unknown, else
    met. `any`: met when any check passes, else unknown when any is unknown, else not met.
    Unknown never counts as met or as not met; a criterion whose checks are all waived is unknown."""
    considered = [o for o in outcomes if o != Outcome.WAIVED]
    if not considered:
        return "unknown"
    if match == "any":
        if Outcome.PASS in considered:
            return "met"
        return "unknown" if Outcome.UNKNOWN in considered else "not_met"
    if any(o in (Outcome.FAIL, Outcome.PARTIAL) for o in considered):
        return "not_met"
    return "unknown" if Outcome.UNKNOWN in considered else "met"


def framework_results(frameworks: Iterable[Any], findings: list[Finding],
                      threshold: float = DEFAULT_THRESHOLD) -> list[dict[str, Any]]:
    """Each framework's result from the audit's findings (nothing is collected again)."""
    return [framework_result(fw, findings, threshold) for fw in frameworks]


def framework_result(fw: Any, findings: list[Finding],
                     threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """One framework (`mlaudit.checks.frameworks.Framework`) scored on the findings: per level
    or section, its criteria met / not met / unknown / not assessable by mlaudit; for a leveled
    framework, a walk as the rubric's (see `_framework_walk`) gives the achieved level."""
    found = {f.check_id: f for f in findings}
    threshold = fw.threshold or threshold
    groups = []
    for g in fw.groups:
        criteria = []
        for c in g.criteria:
            outcomes = [found[cid].outcome if cid in found else Outcome.UNKNOWN for cid in c.checks]
            status = "not_assessable" if c.not_assessable else criterion_status(c.match, outcomes)
            criteria.append({**c.to_dict(), "status": status,
                             "outcomes": {cid: str(o) for cid, o in zip(c.checks, outcomes, strict=True)}})
        counted = [c for c in criteria if not c["optional"] and c["status"] != "not_assessable"]
        counts = {s: sum(1 for c in counted if c["status"] == s) for s in ("met", "not_met", "unknown")}
        counts["not_assessable"] = sum(1 for c in criteria if c["status"] == "not_assessable")
        counts["optional"] = sum(1 for c in criteria if c["optional"] and c["status"] != "not_assessable")
        assessed = counts["met"] + counts["not_met"]
        extra = [f"{counts['unknown']} unknown"] if counts["unknown"] else []
        if counts["not_assessable"]:
            extra.append(f"{counts['not_assessable']} not assessable by mlaudit")
        summary = "asks for nothing (the starting point)" if not criteria else (f"{counts['met']} of {len(counted)} {'criterion' if len(counted) == 1 else 'criteria'}"
                   " met" + (f" ({', '.join(extra)})" if extra else ""))
        groups.append({
            "key": g.key, "level": g.level, "title": g.title, "description": g.description,
            "criteria": criteria, "counts": counts, "total": len(counted),
            "share_met": round(counts["met"] / assessed, 4) if assessed else None,
            "status": None, "summary": summary,
        })
    out: dict[str, Any] = {
        "id": fw.id, "title": fw.title, "source": fw.source, "citation": fw.citation,
        "description": fw.description, "origin": fw.origin, "file": fw.file,
        "kind": "levels" if fw.leveled else "sections", "threshold": threshold, "groups": groups,
        "level": None, "level_title": None, "assumptions": [], "headline": "",
    }
    if fw.leveled:
        _framework_walk(out, threshold)
    out["statement"] = _framework_statement(out)
    return out


def _framework_walk(out: dict[str, Any], threshold: float) -> None:
    """Levels are walked upward as the rubric's are: a level without counted criteria is
    vacuous; one none of whose criteria is assessed is not assessed (the walk goes on); else it
    is achieved when at least `threshold` of its assessed criteria are met, and the walk stops at
    the first level not achieved. The achieved level is the highest level reached, counting
    only up to the highest level achieved on evidence — or, when none is, the highest of the
    vacuous levels the walk passed before stopping (a level 0 that asks for nothing)."""
    stopped = False
    top: int | None = None
    floor: int | None = None
    passed_only_vacuous = True
    for g in out["groups"]:
        if stopped:
            g["status"] = "not_reached"
        elif not g["total"]:
            g["status"] = "vacuous"
            if passed_only_vacuous:
                floor = g["level"]
        elif g["share_met"] is None:
            g["status"] = "not_assessed"
            passed_only_vacuous = False
        elif g["share_met"] + _EPS >= threshold:
            g["status"] = "achieved"
            top = g["level"]
            passed_only_vacuous = False
        else:
            g["status"] = "not_achieved"
            stopped = True
    if top is None and stopped and floor is not None:
        top = floor
    out["level"] = top
    if top is not None:
        reached = next(g for g in out["groups"] if g["level"] == top)
        out["level_title"] = reached["title"]
        out["assumptions"] = [g["level"] for g in out["groups"]
                              if g["status"] == "not_assessed" and g["level"] < top]


def _framework_statement(out: dict[str, Any]) -> str:
    """'Google Cloud MLOps levels: level 1 (ML pipeline automation) achieved; level 1: 7 of 9
    criteria met, …' — each level or section as 'M of N criteria met', with what is unknown."""
    parts = [f"{'level ' + g['key'] if g['level'] is not None else g['title']}: {g['summary']}"
             for g in out["groups"] if g["total"] or g["counts"]["not_assessable"]]
    if out["kind"] == "sections":
        met = sum(g["counts"]["met"] for g in out["groups"])
        total = sum(g["total"] for g in out["groups"])
        out["headline"] = (f"{out['title']}: {met} of {total} assessable criteria met across "
                           f"{len(out['groups'])} sections")
        return out["headline"] + "; " + "; ".join(parts)
    if out["level"] is None:
        first = next((g for g in out["groups"] if g["status"] == "not_achieved"), None)
        head = (f"no level achieved (level {first['key']} not achieved)" if first
                else "not assessed (no level achieved on evidence)")
    else:
        head = f"level {out['level']} ({out['level_title']}) achieved"
        if out["assumptions"]:
            head += f", assuming level {', '.join(str(x) for x in out['assumptions'])} (not assessed)"
    out["headline"] = f"{out['title']}: {head}"
    return out["headline"] + "; " + "; ".join(parts)
