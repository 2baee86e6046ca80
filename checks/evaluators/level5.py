"""Level 5 — Advanced: feature/model store, notebook repository, lineage, cost, many models."""

from __future__ import annotations

from mlaudit.checks.base import CheckContext, Verdict, evaluator
from mlaudit.checks.evaluators.support import (
    PASS_SHARE,
    answer_text,
    cite,
    count,
    graded,
    model_count_verdict,
    names,
    number,
    signal_gap,
    strong,
    survey_answer,
    tools,
    weakness,
)
from mlaudit.evidence import EvidenceItem, Outcome

#: a repository whose code is at least this share notebooks is a notebook repository
NOTEBOOK_SHARE = 0.5
#: at least this share of ML resources must carry cost-allocation tags
TAGGED_SHARE = 0.5


@evaluator("L5.feature-store")
def feature_store(ctx: CheckContext) -> Verdict | None:
    """Feature definitions in / reads from a feature store in code (`feature_store`, not
    notebook-only/opt-in), or planned `feature_group` (A: SageMaker Feature Store `name`,
    `status`) -> pass; only weak code evidence -> partial; nothing, with repos scanned -> fail
    (AWS alone: None)."""
    code = ctx.signal("feature_store")
    groups = ctx.signal("feature_group")
    if strong(code) or groups:
        parts = []
        if strong(code):
            parts.append(f"{tools(strong(code))} in {names(i.subject for i in strong(code))}")
        if groups:
            parts.append(f"{len(groups)} feature group(s)")
        return Verdict(
            Outcome.PASS,
            "A feature store is in use: " + "; ".join(parts) + ".",
            cite(strong(code), groups),
        )
    if code:
        return Verdict(
            Outcome.PARTIAL,
            f"Feature store use is only {weakness(code)} ({tools(code)}) "
            f"in {names(i.subject for i in code)}.",
            cite(code),
        )
    if ctx.repositories():  # absence on AWS alone is not a fail: feature stores live in code
        return Verdict(
            Outcome.FAIL,
            f"No feature store in {len(ctx.repositories())} scanned "
            "repositories" + (" or AWS" if ctx.ran("aws") else "") + ".",
            cite(ctx.ml_repositories()),
        )
    return None


def _discoverable(m: EvidenceItem) -> bool:
    a = m.attributes
    return bool((a.get("description") and a.get("tags")) or a.get("model_card"))


@evaluator("L5.discoverable-model-store")
def discoverable_model_store(ctx: CheckContext) -> Verdict | None:
    """Planned `registered_model` attributes `description`, `tags` and `model_card`: share of
    registered models with a description and tags (or a model card): >= 80% -> pass, above 0 ->
    partial, 0 or an empty registry -> fail; registry unreadable (a gap) -> None."""
    models = ctx.signal("registered_model")
    if not models:
        if signal_gap(ctx, "registered_model"):
            return None
        return Verdict(Outcome.FAIL, "The model registry that was read holds no registered models.")
    good = [m for m in models if _discoverable(m)]
    label = lambda m: str(m.attributes.get("name") or m.locator)  # noqa: E731
    share = len(good) / len(models)
    bad = [label(m) for m in models if m not in good]
    text = f"{len(good)} of {len(models)} registered models have a description and tags or a model card"
    text += f"; lacking: {names(bad)}." if bad else "."
    return Verdict(
        graded(share, PASS_SHARE),
        text,
        cite([m for m in models if m not in good], good),
        {"discoverable": len(good), "total": len(models), "share": round(share, 3)},
    )


def _notebook_repo(item: EvidenceItem) -> bool:
    share = item.attributes.get("share_of_code")
    if share is None:
        return count(item, "count") >= 10
    return number(share) >= NOTEBOOK_SHARE


@evaluator("L5.notebook-repository")
def notebook_repository(ctx: CheckContext) -> Verdict | None:
    """A repository that is mostly notebooks (`notebooks.share_of_code` >= 0.5) with an `index`
    and outputs stripped (`outputs_stripped` or a `strip_tool`) -> pass; such a repository
    without index or stripping -> partial; notebooks only scattered across project repos, or no
    notebooks anywhere -> fail. No repositories -> None."""
    if not ctx.repositories():
        return None
    books = ctx.signal("notebooks")
    central = [b for b in books if _notebook_repo(b)]
    if not central:
        total = sum(count(b, "count") for b in books)
        text = (
            f"{total} notebooks scattered across {len(books)} repos ({names(b.subject for b in books)}); "
            "none is kept in a notebook repository."
            if books
            else f"No notebooks in {len(ctx.repositories())} scanned repositories."
        )
        return Verdict(Outcome.FAIL, text, cite(books))

    def tidy(b: EvidenceItem) -> bool:
        stripped = b.attributes.get("outputs_stripped") or b.attributes.get("strip_tool")
        return bool(b.attributes.get("index") and stripped)

    good = [b for b in central if tidy(b)]
    if good:
        return Verdict(
            Outcome.PASS,
            f"Notebook repository with an index and stripped outputs: "
            f"{names(b.subject for b in good)}.",
            cite(good),
        )
    lacks = []
    if not any(b.attributes.get("index") for b in central):
        lacks.append("an index")
    if not any(
        b.attributes.get("outputs_stripped") or b.attributes.get("strip_tool") for b in central
    ):
        lacks.append("stripped outputs (nbstripout/jupytext)")
    return Verdict(
        Outcome.PARTIAL,
        f"Notebooks are centralised in {names(b.subject for b in central)}, "
        f"but without {' and '.join(lacks) or 'an index and stripped outputs together'}.",
        cite(central),
    )


@evaluator("L5.lineage")
def lineage(ctx: CheckContext) -> Verdict | None:
    """A `lineage` item (OpenLineage, Airflow Datasets/Assets, Dagster assets, or a platform's
    lineage tracking) not notebook-only/opt-in, or planned `experiment_runs.dataset_inputs` > 0
    together with `registered_model.lineage` > 0 -> pass. Dataset inputs alone, metadata-driven
    orchestration (`orchestration.metadata_driven`) or weak lineage -> partial. Nothing, with
    repos scanned or a tracker read -> fail."""
    items = ctx.signal("lineage")
    inputs = [r for r in ctx.signal("experiment_runs") if count(r, "dataset_inputs") > 0]
    linked = [m for m in ctx.signal("registered_model") if count(m, "lineage") > 0]
    meta = [o for o in ctx.signal("orchestration") if o.attributes.get("metadata_driven")]
    if strong(items) or (inputs and linked):
        parts = []
        if strong(items):
            parts.append(f"{tools(strong(items))} in {names(i.subject for i in strong(items))}")
        if inputs and linked:
            parts.append(
                f"datasets logged as run inputs in {len(inputs)} experiment(s), "
                f"{len(linked)} registered model(s) linked to runs"
            )
        return Verdict(
            Outcome.PASS,
            "Data/model lineage is recorded: " + "; ".join(parts) + ".",
            cite(strong(items), inputs, linked),
        )
    if items or inputs or meta:
        parts = []
        if items:
            parts.append(f"only {weakness(items)} lineage in {names(i.subject for i in items)}")
        if inputs:
            parts.append("datasets logged as run inputs, not linked to registered versions")
        if meta:
            parts.append(
                f"metadata-driven pipelines in {names(i.subject for i in meta)}, without lineage"
            )
        return Verdict(
            Outcome.PARTIAL, "; ".join(parts).capitalize() + ".", cite(items, inputs, meta)
        )
    tracker_read = ctx.ran("mlflow") and not signal_gap(ctx, "experiment_runs")
    if ctx.repositories() or tracker_read:
        return Verdict(
            Outcome.FAIL,
            "No lineage: no dataset inputs on runs, data-aware scheduling "
            "or OpenLineage emission found.",
            cite(ctx.ml_repositories()),
        )
    return None


@evaluator("L5.cost-management")
def cost_management(ctx: CheckContext) -> Verdict | None:
    """Three planned AWS signals: `cost_tags` (`active_tags`, `ml_resources`,
    `tagged_ml_resources`; counts when tags are active and, if known, >= 50% of ML resources carry
    them), `budget` (`name`, `limit`), `spot_training` (`jobs`, `spot_jobs` > 0). Two or more of
    the three -> pass, one -> partial, none -> fail; all three unreadable (gaps) -> None."""
    tags = [
        t
        for t in ctx.signal("cost_tags")
        if t.attributes.get("active_tags")
        and (
            not count(t, "ml_resources")
            or count(t, "tagged_ml_resources") / count(t, "ml_resources") >= TAGGED_SHARE
        )
    ]
    budgets = ctx.signal("budget")
    spot = [s for s in ctx.signal("spot_training") if count(s, "spot_jobs") > 0]
    have = {"cost-allocation tags": tags, "budgets": budgets, "managed spot training": spot}
    met = [k for k, v in have.items() if v]
    if not met and all(signal_gap(ctx, s) for s in ("cost_tags", "budget", "spot_training")):
        return None
    outcome = Outcome.PASS if len(met) >= 2 else Outcome.PARTIAL if met else Outcome.FAIL
    missing = [k for k in have if k not in met]
    text = f"Cost control: {', '.join(met) or 'none'} ({len(met)} of 3)"
    text += f"; missing {', '.join(missing)}." if missing else "."
    return Verdict(
        outcome, text, cite(tags, budgets, spot, ctx.signal("cost_tags")), {"controls": len(met)}
    )


@evaluator("L5.many-models-in-production")
def many_models_in_production(ctx: CheckContext) -> Verdict | None:
    """Production models (as for L3.multiple-models-in-production): >= 10 -> pass, 5-9 ->
    partial, fewer -> fail when endpoints or a registry were read; S6 cross-checked."""
    return model_count_verdict(ctx, 10)


LEADS = ("head of data science", "lead engineer", "lead pm")


@evaluator("L5.leadership-roles")
def leadership_roles(ctx: CheckContext) -> Verdict | None:
    """Survey only (S11): all of head of data science, lead engineer, lead PM -> pass; one or
    two -> partial; none -> fail."""
    s11 = survey_answer(ctx, "S11")
    if s11 is None:
        return None
    answer = answer_text(s11)
    have = [r for r in LEADS if r in answer]
    outcome = Outcome.PASS if len(have) == 3 else Outcome.PARTIAL if have else Outcome.FAIL
    return Verdict(
        outcome, f"S11: {len(have)} of 3 leadership roles ({', '.join(have) or 'none'}).", [s11]
    )
