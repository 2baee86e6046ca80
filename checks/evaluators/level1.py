"""Level 1 — Getting Started: strategy, opportunity matrix, data audit, versioned ML code."""

from __future__ import annotations

from mlaudit.checks.base import CheckContext, Verdict, evaluator
from mlaudit.checks.evaluators.support import (
    answer_text,
    cite,
    is_weak,
    names,
    repository_items,
    strong,
    survey_answer,
    weakness,
    with_survey,
)
from mlaudit.evidence import Outcome


@evaluator("L1.strategy")
def strategy(ctx: CheckContext) -> Verdict | None:
    """Survey only. S1 written/reviewed + S4 a sponsor or programme -> pass; a written strategy
    without a champion, or an informal one -> partial; none -> fail. Unanswered -> None."""
    s1 = survey_answer(ctx, "S1")
    if s1 is None:
        return None
    s4 = survey_answer(ctx, "S4")
    plan = answer_text(s1)
    champion = s4 is not None and answer_text(s4) not in ("", "none")
    cited = [i for i in (s1, s4) if i is not None]
    if plan.startswith("none") or plan in ("", "no"):
        return Verdict(Outcome.FAIL, f"S1: no ML strategy ({plan or 'no answer'}).", cited)
    if ("written" in plan or "reviewed" in plan) and champion:
        return Verdict(Outcome.PASS, f"S1: {plan}; S4: {answer_text(s4)} (self-reported).", cited)
    missing = "no executive champion (S4)" if not champion else "the strategy is not written down"
    return Verdict(Outcome.PARTIAL, f"S1: {plan}; {missing}.", cited)


@evaluator("L1.opportunity-matrix")
def opportunity_matrix(ctx: CheckContext) -> Verdict | None:
    """Survey only. S2 once or refreshed -> pass; no -> fail."""
    s2 = survey_answer(ctx, "S2")
    if s2 is None:
        return None
    answer = answer_text(s2)
    ok = answer not in ("", "no", "none")
    return Verdict(Outcome.PASS if ok else Outcome.FAIL, f"S2: {answer or 'no answer'}.", [s2])


@evaluator("L1.data-audit")
def data_audit(ctx: CheckContext) -> Verdict | None:
    """S3 is the primary source (complete/repeated -> pass, partial -> partial, no -> fail).

    Observed support: a committed data inventory, data dictionary or profiling artefact
    (`data_audit`, not notebook-only) is the artefact of an audit -> pass; notebook-only profiling,
    or only a catalogue (`data_catalog` in code, or the planned `glue_catalog` signal with tables)
    -> partial. With neither and no survey answer, ML repositories without any such artefact
    -> fail (git is then the only witness); with neither and no ML repository -> None. Observed evidence decides when the survey disagrees (contradicted claim).
    """
    audits = ctx.signal("data_audit")
    catalogs = ctx.signal("data_catalog") + [
        c for c in ctx.signal("glue_catalog") if int(c.attributes.get("tables") or 0) > 0
    ]
    observed = None
    if strong(audits):
        kinds = sorted({str(i.attributes.get("kind") or "data audit") for i in strong(audits)})
        observed = Verdict(
            Outcome.PASS,
            f"Data audit artefacts ({', '.join(kinds)}) in {names(i.subject for i in strong(audits))}.",
            cite(strong(audits), catalogs),
        )
    elif audits or catalogs:
        parts = []
        if audits:
            parts.append(
                f"only {weakness(audits)} data profiling in {names(i.subject for i in audits)}"
            )
        if catalogs:
            parts.append(f"a data catalogue in {names(i.subject for i in catalogs)}")
        observed = Verdict(
            Outcome.PARTIAL,
            "Some support for a data audit: "
            + " and ".join(parts)
            + "; no committed data inventory, data dictionary or profiling report.",
            cite(audits, catalogs),
        )
    claimed = None
    s3 = survey_answer(ctx, "S3")
    ml = ctx.ml_repositories()
    if observed is None and s3 is None and ml:
        # Git's silence: reported as a fail the runner turns into `unknown` (git only supports
        # this check; the survey decides it), unless a higher practice implies the audit.
        return Verdict(
            Outcome.FAIL,
            f"No data inventory, data dictionary, profiling report or catalogue in the {len(ml)} ML "
            f"repositories ({names(r.subject for r in ml)}); answer survey question S3 if a data "
            "audit was done outside version control.",
            cite(repository_items(ctx, [r.subject for r in ml])),
            {"ml_repos": len(ml)},
        )
    if s3 is not None:
        answer = answer_text(s3)
        if "complete" in answer or "repeated" in answer:
            outcome = Outcome.PASS
        elif "partial" in answer:
            outcome = Outcome.PARTIAL
        else:
            outcome = Outcome.FAIL
        claimed = Verdict(outcome, f"S3: {answer or 'no answer'} (self-reported)", [s3])
    # A survey "no" is not contradicted by a catalogue; only a real audit artefact contradicts it.
    if observed is not None and claimed is not None and observed.outcome == Outcome.PARTIAL:
        return with_survey(None, claimed, "S3")
    return with_survey(observed, claimed, "S3")


@evaluator("L1.ml-code-versioned")
def ml_code_versioned(ctx: CheckContext) -> Verdict | None:
    """Pass when at least one scanned repository holds ML code (`repository.is_ml`); fail when
    repositories were scanned and none does; None when no repository was scanned."""
    repos = ctx.repositories()
    if not repos:
        return None
    ml = ctx.ml_repositories()
    if not ml:
        return Verdict(
            Outcome.FAIL,
            f"None of the {len(repos)} scanned repositories holds ML code "
            f"(no framework imports, training entry points or ML notebooks): {names(r.subject for r in repos)}.",
            cite(repos),
            {"ml_repos": 0, "repos": len(repos)},
        )
    notebook_only = [r.subject for r in ml if is_weak(r)]
    text = f"ML code is in version control in {len(ml)} of {len(repos)} scanned repositories: {names(r.subject for r in ml)}."
    if notebook_only:
        text += f" ({names(notebook_only)} hold ML code only in notebooks.)"
    return Verdict(
        Outcome.PASS,
        text,
        cite(repository_items(ctx, [r.subject for r in ml])),
        {"ml_repos": len(ml), "repos": len(repos)},
    )
