"""The runner: the ceremony every check shares, so evaluators hold only their logic.

For each definition, in rubric order: a live waiver makes the finding `waived`; a check none of
whose sources ran is `unknown` (saying which sources failed, and what would assess it); an
evaluator that returns None, or raises, gives `unknown`, never `fail`; otherwise the verdict
becomes a finding with the definition's remediation and a bounded sample of evidence.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from mlaudit.checks.base import (
    EVALUATORS,
    MAX_CITED,
    CheckContext,
    CheckDef,
    Verdict,
    is_weak,
)
from mlaudit.evidence import AS_OF_NOT_READ, EvidenceItem, Finding, Outcome, Provenance
from mlaudit.sources import by_letter, label_of

log = logging.getLogger("mlaudit.checks")


def assess_with(defn: CheckDef, exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """What would assess `defn`: a step per source letter not in `exclude`, survey per question."""
    out: list[str] = []
    for letter in defn.collectors:
        if letter in exclude:
            continue
        if letter == "S" and defn.survey:
            out.extend(f"answer survey question {q}" for q in defn.survey)
        else:
            source = by_letter(letter)
            out.append(source.enable if source else f"configure {letter}")
    return out


def _sources(letters: list[str]) -> str:
    return " or ".join(label_of(x) for x in dict.fromkeys(letters)) or "none"


def run_checks(
    ctx: CheckContext,
    waivers: dict[str, dict] | None = None,
    defs: list[CheckDef] | None = None,
    today: date | None = None,
) -> list[Finding]:
    """One finding per definition (rubric order). `waivers` maps a check ID to a waiver dict
    (reason, owner, expires/expiry as an ISO date); an expired waiver stops applying and is
    flagged on the finding (`waiver["expired"] = True`)."""
    if defs is None:
        from mlaudit.checks.definitions import load_definitions

        defs = load_definitions()
    today = today or datetime.now(UTC).date()
    waivers = waivers or {}
    findings = []
    for defn in defs:
        waiver = waivers.get(defn.id)
        if waiver is not None and not _expired(waiver, today):
            underlying = _assess(defn, ctx)
            findings.append(
                Finding(
                    check_id=defn.id,
                    outcome=Outcome.WAIVED,
                    explanation=f"Waived: {waiver.get('reason') or 'no reason given'}"
                    + (f" (owner {waiver['owner']})" if waiver.get("owner") else "")
                    + f". Without the waiver: {underlying.outcome}.",
                    evidence=underlying.evidence,
                    remediation=defn.remediation,
                    metrics={
                        **underlying.metrics,
                        "outcome_without_waiver": str(underlying.outcome),
                    },
                    waiver=dict(waiver),
                )
            )
            continue
        finding = _assess(defn, ctx)
        if waiver is not None:
            expiry = waiver.get("expires") or waiver.get("expiry")
            finding.waiver = {**waiver, "expired": True}
            finding.explanation += f" (A waiver expired on {expiry} and no longer applies.)"
        findings.append(finding)
    return findings


def _expired(waiver: dict[str, Any], today: date) -> bool:
    if waiver.get("expired"):
        return True
    expiry = waiver.get("expires") or waiver.get("expiry")
    if not expiry:
        return False
    if isinstance(expiry, datetime):
        expiry = expiry.date()
    if isinstance(expiry, str):
        try:
            expiry = date.fromisoformat(expiry[:10])
        except ValueError:
            return False  # the config loader reports malformed dates; don't guess here
    return isinstance(expiry, date) and expiry < today


def _assess(defn: CheckDef, ctx: CheckContext) -> Finding:
    letters = list(defn.collectors)
    ran = [x for x in letters if x in ctx.available]
    failed = {x: ctx.failed[x] for x in letters if x in ctx.failed}
    failures = "; ".join(
        f"{label_of(x)} not read ({why})"
        if why.startswith(AS_OF_NOT_READ)
        else f"{label_of(x)} failed: {why}"
        for x, why in sorted(failed.items())
    )
    fix_failed = [
        f"audit without --as-of to read {label_of(x)} ({why})"
        if why.startswith(AS_OF_NOT_READ)
        else f"fix the {label_of(x)} source ({why})"
        for x, why in sorted(failed.items())
    ]

    def unknown(explanation: str, exclude: set[str]) -> Finding:
        missing = fix_failed + assess_with(defn, exclude | set(failed))
        return Finding(
            defn.id, Outcome.UNKNOWN, explanation, remediation=defn.remediation, missing=missing
        )

    if not ran:
        if failed:
            return _implied(defn, ctx, unknown(f"Not assessed: {failures}.", set()))
        return _implied(
            defn,
            ctx,
            unknown(
                f"Not assessed: nothing that could assess it ran (it needs {_sources(letters)}).",
                set(),
            ),
        )
    evaluate = EVALUATORS.get(defn.id)
    if evaluate is None:  # the loader prevents this; kept so a partial registry degrades to unknown
        return unknown("Not assessed: no evaluator is registered for this check.", set(ran))
    try:
        verdict = evaluate(ctx)
    except Exception as exc:  # an evaluator bug (a plugin's too) must not stop the audit
        # one line; the traceback only with -vv (debug)
        log.warning("evaluator for %s failed: %s: %s", defn.id, type(exc).__name__, exc)
        log.debug("evaluator for %s failed", defn.id, exc_info=True)
        return unknown(
            f"Not assessed: the evaluator failed ({type(exc).__name__}: {exc}).", set(ran)
        )
    if verdict is None:
        text = f"Not assessed: the available sources ({_sources(ran)}) hold no evidence either way."
        if failures:
            text += f" {failures}."
        # a survey that ran may still lack the answers this check needs
        return _implied(defn, ctx, unknown(text, set(ran) - {"S"}))
    if not isinstance(verdict, Verdict) or verdict.outcome is Outcome.WAIVED:
        return unknown(
            f"Not assessed: the evaluator returned {verdict!r} instead of a verdict.", set(ran)
        )
    if verdict.outcome is Outcome.UNKNOWN:
        return _implied(defn, ctx, unknown(verdict.explanation, set(ran)))
    if verdict.outcome is Outcome.FAIL and not deciders_read(defn, ctx):
        # only supporting sources were read, and their silence proves nothing
        silent = _sources([x for x in ran if x not in defn.decides])
        text = (
            f"Not assessed: {silent} show no sign of it ({first_sentence(verdict.explanation)}), but "
            f"their silence proves nothing here; it is decided by {_sources(list(defn.decides))}."
            if defn.decides
            else f"Not assessed: {silent} show no sign of it ({first_sentence(verdict.explanation)}), "
            "but no source can prove its absence."
        )
        if failures:  # a deciding source that failed is why nothing decides it
            text += f" {failures}."
        finding = unknown(text, set(ran) - {"S"} if _answered(defn, ctx) else set(ran))
        finding.metrics = {**verdict.metrics, "outcome_on_silence": "fail"}
        return _implied(defn, ctx, finding)
    explanation = verdict.explanation
    if failures:
        explanation += f" ({failures}; this finding rests on {_sources(ran)} alone.)"
    finding = Finding(
        check_id=defn.id,
        outcome=verdict.outcome,
        explanation=explanation,
        evidence=list(verdict.evidence[:MAX_CITED]),
        remediation=defn.remediation,
        metrics=dict(verdict.metrics),
    )
    if finding.outcome is Outcome.FAIL and finding.provenance == str(Provenance.SELF_REPORTED):
        return _implied(defn, ctx, finding)  # observed (inferred) evidence outweighs a claim
    if finding.outcome is Outcome.PARTIAL and not deciders_read(defn, ctx):
        # partial support from sources that do not decide the check never outranks a higher
        # practice that implies it (a catalogue alone is "some support" for a data audit, but
        # the data validation beside it implies the audit was done)
        return _implied(defn, ctx, finding)
    return finding


def first_sentence(text: str) -> str:
    """The first sentence of an explanation, without its full stop."""
    return text.split(". ", 1)[0].strip().rstrip(".")


def _answered(defn: CheckDef, ctx: CheckContext) -> bool:
    """Whether the survey answered any of the check's questions."""
    asked = set(defn.survey)
    return any(i.attributes.get("question") in asked for i in ctx.signal("survey_answer"))


def deciders_read(defn: CheckDef, ctx: CheckContext) -> bool:
    """Whether a deciding source of `defn` was read (for the survey: answered its questions)."""
    for letter in defn.decides:
        if letter == "S":
            if _answered(defn, ctx):
                return True
        elif letter in ctx.available:
            return True
    return False


def implying_evidence(defn: CheckDef, ctx: CheckContext) -> list[tuple[EvidenceItem, str]]:
    """Evidence of higher practices that imply `defn`'s practice, with the reason, strongest
    (not notebook-only, not opt-in) items only."""
    out: list[tuple[EvidenceItem, str]] = []
    for rule in defn.implied_by:
        for signal, attr in rule.matches():
            for item in ctx.signal(signal):
                if is_weak(item) or item.provenance != Provenance.OBSERVED:
                    continue
                if attr is not None and not item.attributes.get(attr):
                    continue
                out.append((item, rule.because))
    return out


def _implied(defn: CheckDef, ctx: CheckContext, finding: Finding) -> Finding:
    """An unknown, a self-reported fail or a partial resting only on supporting sources becomes an
    inferred pass when a higher practice that implies this one was observed; the implying evidence is cited with provenance `inferred`."""
    found = implying_evidence(defn, ctx)
    if not found:
        return finding
    cited = []
    seen: set[str] = set()
    for item, because in found:
        derived = EvidenceItem(
            collector="inference",
            signal=item.signal,
            locator=item.locator,
            subject=item.subject,
            provenance=Provenance.INFERRED,
            attributes={"implies": defn.id, "from": item.id, "tool": item.tool, "because": because},
            excerpt=item.excerpt,
            observed_at=item.observed_at,
        )
        if derived.id not in seen:
            seen.add(derived.id)
            cited.append(derived)
    signals = sorted({i.signal for i in cited})
    subjects = sorted({i.subject for i in cited})
    shown = ", ".join(subjects[:6]) + (
        f" and {len(subjects) - 6} more" if len(subjects) > 6 else ""
    )
    text = f"Inferred from higher practices: {', '.join(signals)} in {shown} — {found[0][1]}."
    metrics = dict(finding.metrics)
    metrics["inferred_from"] = signals
    if finding.outcome is Outcome.FAIL:  # a self-reported "no" that observed evidence outweighs
        metrics["contradicted_claim"] = {
            "question": ", ".join(defn.survey),
            "claimed": "fail",
            "observed": "pass",
        }
        text += (
            f" Contradicted claim: the survey answer suggests fail ({first_sentence(finding.explanation)})."
        )
        cited = cited[: MAX_CITED - len(finding.evidence)] + list(finding.evidence)
    else:
        text += f" ({first_sentence(finding.explanation)}.)"
        if finding.outcome is Outcome.PARTIAL:  # the partial support stays cited beside it
            own = [e for e in finding.evidence if e.locator not in {c.locator for c in cited}]
            cited = cited[: MAX_CITED - len(own)] + own
    return Finding(
        check_id=defn.id,
        outcome=Outcome.PASS,
        explanation=text,
        evidence=cited[:MAX_CITED],
        remediation=defn.remediation,
        metrics=metrics,
    )
