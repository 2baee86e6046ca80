"""Claims checked against evidence: each survey answer that implies something a collector can
observe is compared with that evidence. Observed evidence decides; a claim that no source which
ran can observe is "not verifiable", never "confirmed". Also the report's `survey` section.

Verification reuses the evaluators' helpers (production models, pod grouping, framework census),
so the survey section and the findings count the same things the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mlaudit.checks.base import CheckContext
from mlaudit.checks.definitions import definitions_by_id
from mlaudit.checks.evaluators.support import (
    NOT_FRAMEWORKS,
    contributor_groups,
    count,
    endpoint_in_service,
    names,
    production_models,
    production_observable,
    signal_gap,
    strong,
)
from mlaudit.checks.runner import implying_evidence
from mlaudit.evidence import EvidenceItem
from mlaudit.questions import STALE_AFTER_DAYS, answers_from_evidence, load_questions
from mlaudit.questions import today as _today
from mlaudit.sources import letters_of

log = logging.getLogger("mlaudit.survey")

CONFIRMED, CONTRADICTED, NOT_VERIFIABLE = "confirmed", "contradicted", "not_verifiable"
STATUSES = (CONFIRMED, CONTRADICTED, NOT_VERIFIABLE)
#: observed items named per verified claim (a bounded sample, as for findings)
MAX_OBSERVED = 10


@dataclass
class _Check:
    """The outcome of verifying one answer."""

    status: str
    claim: str
    observed: str | None = None
    items: list[EvidenceItem] = field(default_factory=list)


def verify_claims(
    evidence: list[EvidenceItem],
    answers: Mapping[str, Any] | Any,
    *,
    available: Iterable[str] | None = None,
    gaps: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Each answered question with its verification: `confirmed`, `contradicted` or
    `not_verifiable`, the claim, what was observed and the observed evidence's locators.

    `available` is the rubric letters of the sources that ran (default: those with evidence);
    `gaps` the signals a source could not read. Observed evidence decides; a claim no source
    that ran can observe is not verifiable.
    """
    answers = getattr(answers, "answers", answers)  # a SurveyAnswers, or the answers by question
    evidence = [e for e in evidence if e.signal != "survey_answer"]
    letters = (
        set(available)
        if available is not None
        else letters_of(e.collector for e in evidence)
    )
    ctx = CheckContext(evidence=evidence, available=letters, gaps=dict(gaps or {}))
    out = []
    for q in load_questions():
        if q.id not in answers:
            continue
        value = answers[q.id]
        verify = _VERIFIERS.get(q.id)
        if verify is None:
            check = _Check(NOT_VERIFIABLE, f"'{q.display(value)}'", _UNOBSERVABLE)
        else:
            try:
                check = verify(ctx, value)
            except Exception as exc:  # a verification bug must not stop the audit
                log.exception("verifying survey answer %s failed", q.id)
                check = _Check(
                    NOT_VERIFIABLE,
                    f"'{q.display(value)}'",
                    f"the check against evidence failed ({type(exc).__name__}: {exc})",
                )
        items = check.items[:MAX_OBSERVED]
        locator = f"survey:{q.id}"
        out.append(
            {
                "question": q.id,
                "text": q.text,
                "answer": value,
                "answer_text": q.display(value),
                "locator": locator,
                "informs": list(q.informs),
                "status": check.status,
                "claim": check.claim,
                "observed": check.observed,
                "explanation": _explain(check, locator),
                "observed_locators": [i.locator for i in items],
                "observed_evidence": [i.id for i in items],
            }
        )
    return out


_UNOBSERVABLE = "no source mlaudit reads can show this; it rests on the survey alone"


def _explain(check: _Check, locator: str) -> str:
    where = ""
    if check.items:
        shown = ", ".join(i.locator for i in check.items[:3])
        more = len(check.items) - 3
        where = f" (at {shown}{f' and {more} more' if more > 0 else ''})"
    if check.status == CONFIRMED:
        return f"Confirmed: the survey ({locator}) says {check.claim}; observed: {check.observed}{where}."
    if check.status == CONTRADICTED:
        return (
            f"Contradicted claim: the survey ({locator}) says {check.claim}, but observed: "
            f"{check.observed}{where}. Observed evidence decides."
        )
    return f"Not verifiable: the survey ({locator}) says {check.claim}; {check.observed}."


def _s3_data_audit(ctx: Any, value: Any) -> _Check:
    claim = f"the data audit is {value!s}"
    artefacts = strong(ctx.signal("data_audit"))
    # higher practices that imply an audit (the rubric's `implied_by`), as the check reads them
    artefacts += [i for i, _ in implying_evidence(definitions_by_id()["L1.data-audit"], ctx)]
    if not artefacts:
        return _Check(
            NOT_VERIFIABLE,
            claim,
            "no data inventory, dictionary or profiling artefact was read, and an audit kept "
            "outside version control leaves no trace",
        )
    what = f"data audit artefacts in {_names(i.subject for i in artefacts)}"
    status = CONTRADICTED if value == "no" else CONFIRMED
    return _Check(status, claim, what, artefacts)


TECHNICAL_ROLES = ("ML scientist", "ML engineer", "data engineer", "ML architect", "QA engineer")


def _s5_roles(ctx: Any, value: Any) -> _Check:
    roles = list(value or [])
    technical = [r for r in roles if r in TECHNICAL_ROLES]
    needed = min(len(technical), 2)
    claim = (
        f"the filled roles are {'; '.join(roles) or 'none'}, so at least {needed} technical "
        f"{'person writes' if needed == 1 else 'people write'} ML code"
        if technical
        else f"the filled roles are {'; '.join(roles) or 'none'}, with no technical ML role"
    )
    ml = sorted({r.subject for r in ctx.ml_repositories()})
    activity = ctx.signal("team_activity", ml)
    if not activity:
        return _Check(
            NOT_VERIFIABLE,
            claim,
            "no history of ML repositories was read (add git repositories to scan)",
        )
    people: set[str] = set()
    for item in activity:
        people.update(str(c) for c in item.attributes.get("contributor_ids") or [])
    window = max(int(i.attributes.get("window_days") or 0) for i in activity)
    span = f"in the last {window} days" if window else "in the look-back window"
    seen = (
        f"{len(people)} distinct human contributor(s) to {len(ml)} ML repo(s) {span} ({_names(ml)})"
    )
    cited = [i for i in activity if i.attributes.get("contributor_ids")] or activity
    if not technical:
        if len(people) >= 2:
            return _Check(CONTRADICTED, claim, seen, cited)
        if people:
            return _Check(
                NOT_VERIFIABLE,
                claim,
                seen + "; one person writes ML code, and their role cannot be observed",
                cited,
            )
        return _Check(CONFIRMED, claim, seen, cited)
    if len(people) >= needed:
        return _Check(CONFIRMED, claim, seen, cited)
    # fewer committers than claimed roles proves nothing: hires need not commit to these repos
    return _Check(
        NOT_VERIFIABLE, claim, seen + "; people who do not commit here cannot be observed", cited
    )


def _s6_production(ctx: Any, value: Any) -> _Check:
    n = int(value)
    claim = f"{n} model(s) serve production decisions"
    found, items = production_models(ctx)
    # registry items read as of a past date cannot show production then (a gap): not looked
    registry = [] if signal_gap(ctx, "registered_model.production") else ctx.signal("registered_model")
    looked = ctx.signal("endpoint") + registry
    if not found and not looked and not production_observable(ctx):
        return _s6_from_code(ctx, n, claim)
    seen = (
        f"{len(found)} model(s) in production (InService endpoints or registry production "
        f"aliases/stages): {_names(found)}"
    )
    if not found and looked:
        seen += f"; {len(looked)} endpoint(s)/registered model(s) read, none in production"
    return _Check(CONFIRMED if len(found) == n else CONTRADICTED, claim, seen, items or looked)


def _s6_from_code(ctx: Any, n: int, claim: str) -> _Check:
    """With no endpoints or registry read, code can still show whether any path to production
    exists (as L2.model-in-production reads it), though not how many models take it."""
    ml = sorted({r.subject for r in ctx.ml_repositories()})
    if not ml:
        return _Check(
            NOT_VERIFIABLE,
            claim,
            "no endpoints, model registry or ML repositories were read (configure aws: or mlflow:)",
        )
    paths = strong(ctx.signal("model_serving", ml)) + ctx.signal("batch_inference", ml)
    if paths:
        seen = f"serving or batch scoring code in {_names(i.subject for i in paths)}"
        if n == 0:
            return _Check(CONTRADICTED, claim, seen, paths)
        return _Check(
            NOT_VERIFIABLE,
            claim,
            seen + "; without endpoints or a model registry (aws:, mlflow:) the models in "
            "production cannot be counted",
            paths,
        )
    seen = (
        f"no serving code or batch scoring in {len(ml)} ML repo(s) ({_names(ml)}); endpoints "
        "and the model registry were not read, and models are often served from elsewhere"
    )
    cited = [r for r in ctx.ml_repositories()]
    return _Check(NOT_VERIFIABLE, claim, seen, cited)


def _s8_pods(ctx: Any, value: Any) -> _Check:
    model = value.get("org_model") if isinstance(value, dict) else value
    pods = value.get("pods") if isinstance(value, dict) else None
    if pods is None:
        return _Check(
            NOT_VERIFIABLE,
            f"the organisation model is {model}",
            "no pod count was given, and an organisation model cannot be observed",
        )
    p = int(pods)
    claim = f"there are {p} pod(s) ({model})"
    ml = sorted({r.subject for r in ctx.ml_repositories()})
    activity = [a for a in ctx.signal("team_activity", ml) if a.attributes.get("contributor_ids")]
    owners = ctx.signal("code_ownership", ml)
    if not activity and not owners:
        return _Check(
            NOT_VERIFIABLE,
            claim,
            "no contributor history or CODEOWNERS of ML repositories was read",
        )
    # the same grouping as L4.multiple-pods: repos linked by shared contributors, or by owner team
    groups = contributor_groups(activity)
    with_people = [g for g in groups if len(g[1]) >= 2]
    team_sets = {frozenset(map(str, o.attributes.get("teams") or [])) for o in owners}
    n = max(len(with_people), len(team_sets - {frozenset()}))
    seen = f"{n} pod(s): {len(groups)} group(s) of ML repos with disjoint contributors, {len(with_people)} with two or more people"
    if with_people:
        seen += f" ({'; '.join(_names(g[0]) for g in with_people)})"
    teams = sorted({t for s in team_sets for t in s})
    if teams:
        seen += f"; CODEOWNERS teams: {_names(teams)}"
    cited = [*owners, *activity]
    if p <= 1 and n >= 2:  # more pods observed than claimed: the observation decides
        return _Check(CONTRADICTED, claim, seen, cited)
    if n >= p:
        return _Check(CONFIRMED, claim, seen, cited)
    # fewer pods in git proves nothing: pods may work in repositories that were not scanned
    return _Check(NOT_VERIFIABLE, claim, seen + "; pods outside the scanned repositories cannot be observed", cited)


def _s10_platform(ctx: Any, value: Any) -> _Check:
    claim = f"time for long-term platform work: {value}"
    ml = ctx.ml_repositories()
    aws = ctx.ran("aws")
    if not ml and not aws:
        return _Check(NOT_VERIFIABLE, claim, "no ML repositories or AWS account were read")
    orchestration = strong(ctx.signal("orchestration")) + [
        p for p in ctx.signal("pipeline_execution") if count(p, "executions_in_window") > 0
    ]
    monitoring = (
        strong(ctx.signal("model_monitoring"))
        + ctx.signal("monitoring_schedule")
        + [
            e
            for e in ctx.signal("endpoint")
            if endpoint_in_service(e) and e.attributes.get("monitored")
        ]
    )
    where = " and ".join(
        x for x in (f"{len(ml)} ML repo(s)" if ml else "", "AWS" if aws else "") if x
    )
    parts = []
    if orchestration:
        parts.append(f"orchestration ({_names(_tool(i) for i in orchestration)})")
    if monitoring:
        parts.append(f"model monitoring ({_names(_tool(i) for i in monitoring)})")
    seen = (
        f"{' and '.join(parts)} in {where}"
        if parts
        else f"no orchestration or model monitoring in {where}"
    )
    cited = orchestration + monitoring or [*ml]
    if value == "no":
        if not parts:
            return _Check(CONFIRMED, claim, seen, cited)
        return _Check(
            NOT_VERIFIABLE,
            claim,
            seen + "; a platform can be bought or built as project work",
            cited,
        )
    if parts:
        return _Check(CONFIRMED, claim, seen, cited)
    # platform work that has not (yet) produced orchestration or monitoring proves nothing
    return _Check(
        NOT_VERIFIABLE,
        claim,
        seen + "; platform work need not show as orchestration or monitoring yet",
        cited,
    )


def _s13_stack(ctx: Any, value: Any) -> _Check:
    standard = value in ("documented standard", "internal platform")
    claim = (
        f"the stack is standardised ({value}): at most two ML frameworks"
        if standard
        else "the stack is not standardised"
    )
    ml = sorted({r.subject for r in ctx.ml_repositories()})
    census = ctx.signal("ml_frameworks", ml)
    if not ml:
        return _Check(NOT_VERIFIABLE, claim, "no ML repositories were read")
    used: dict[str, set[str]] = {}
    for item in census:
        for name, how in (item.attributes.get("frameworks") or {}).items():
            if how == "imported" and str(name).lower() not in NOT_FRAMEWORKS:
                used.setdefault(str(name).lower(), set()).add(item.subject)
    seen = f"{len(used)} ML framework(s) imported across {len(ml)} ML repo(s)"
    if used:
        seen += ": " + "; ".join(f"{fw} ({_names(repos, 3)})" for fw, repos in sorted(used.items()))
    cited = [i for i in census if any(i.subject in r for r in used.values())] or census
    if standard:
        return _Check(CONTRADICTED if len(used) > 2 else CONFIRMED, claim, seen, cited)
    if len(used) > 2:
        return _Check(CONFIRMED, claim, seen, cited)
    return _Check(
        NOT_VERIFIABLE,
        claim,
        seen + "; a small stack can be uniform without a standard",
        cited,
    )


_VERIFIERS: dict[str, Callable[[Any, Any], _Check]] = {
    "S3": _s3_data_audit,
    "S5": _s5_roles,
    "S6": _s6_production,
    "S8": _s8_pods,
    "S10": _s10_platform,
    "S13": _s13_stack,
}


def _tool(item: EvidenceItem) -> str:
    return str(item.attributes.get("tool") or item.attributes.get("kind") or item.signal)


def _names(values: Iterable[Any], limit: int = 6) -> str:
    return names((str(v) for v in values), limit)


# ------------------------------------------------------------------------------ report section


def survey_section(
    evidence: list[EvidenceItem],
    *,
    available: Iterable[str],
    gaps: Mapping[str, str] | None = None,
    target: Mapping[str, Any] | None = None,
    status: str = "ok",
    error: str | None = None,
) -> dict[str, Any]:
    """The report's `survey` section: who answered and when, staleness, and every answer with
    its verification (claims checked against the observed evidence)."""
    survey_items = [e for e in evidence if e.signal == "survey_answer"]
    answers = answers_from_evidence(survey_items)
    by_question = {str(e.attributes.get("question")): e for e in survey_items}
    target = dict(target or {})
    first = survey_items[0].attributes if survey_items else {}
    answered_on = target.get("date") or first.get("date")
    age = (_today() - date.fromisoformat(answered_on)).days if answered_on else None
    verified = verify_claims(evidence, answers, available=available, gaps=gaps)
    stale = bool(target.get("stale", first.get("stale", False)))
    for entry in verified:
        item = by_question.get(entry["question"])
        entry["evidence"] = item.id if item is not None else None
        entry["stale"] = stale
    return {
        "file": target.get("path") or target.get("name"),
        "status": status,
        "error": error,
        "respondent": target.get("respondent") or first.get("respondent"),
        "role": target.get("role") or first.get("role"),
        "date": answered_on,
        "age_days": age,
        "stale": stale,
        "stale_after_days": STALE_AFTER_DAYS,
        "answers": verified,
        "unanswered": [q.id for q in load_questions() if q.id not in answers],
        "counts": {s: sum(1 for v in verified if v["status"] == s) for s in STATUSES},
    }
