"""Level 4 — Scaling: orchestration, data/model quality monitoring, catalogue, warehouse, pods."""

from __future__ import annotations

from mlaudit.checks.base import CheckContext, Verdict, evaluator
from mlaudit.checks.evaluators.support import (
    PASS_SHARE,
    answer_text,
    by_library,
    by_subject,
    cite,
    contributor_groups,
    count,
    endpoint_in_service,
    etl_evidence,
    graded,
    ml_repo_names,
    names,
    number,
    registered_in_production,
    repository_items,
    signal_gap,
    strong,
    survey_answer,
    tools,
    weakness,
    with_survey,
)
from mlaudit.evidence import EvidenceItem, Outcome

#: at least this share of catalogue tables must carry a description ("most")
DESCRIBED_SHARE = 0.5
#: validation runs in the window for "run regularly"
REGULAR_RUNS = 2


@evaluator("L4.orchestration")
def orchestration(ctx: CheckContext) -> Verdict | None:
    """Planned `pipeline_execution` (A: `tool`, `name`, `executions_in_window`) with executions
    in the window -> pass. Orchestrator code/config (`orchestration`, any repo) not notebook-only
    or opt-in -> pass too (pipelines are defined for an orchestrator; executions on an orchestrator
    no source reads cannot be counted, and unknown never lowers a level); only notebook-only/opt-in
    orchestration -> fail (nothing would run it), named in the explanation. Nothing, with repos
    scanned -> fail (absence on AWS alone is not a fail; None)."""
    runs = [e for e in ctx.signal("pipeline_execution") if count(e, "executions_in_window") > 0]
    code = ctx.signal("orchestration")
    if runs:
        n = sum(count(e, "executions_in_window") for e in runs)
        return Verdict(
            Outcome.PASS,
            f"{n} orchestrated pipeline executions in the window ({tools(runs)}): "
            f"{names(str(e.attributes.get('name') or e.locator) for e in runs)}.",
            cite(runs, strong(code)),
            {"executions_in_window": n},
        )
    if strong(code):
        repos = by_subject(strong(code))
        return Verdict(
            Outcome.PASS,
            f"Pipelines defined for an orchestrator ({tools(strong(code))}) in {len(repos)} "
            f"repos: {names(repos)} (executions were not observed: no orchestrator was read).",
            cite(strong(code)),
        )
    if code:
        return Verdict(
            Outcome.FAIL,
            f"Orchestration is only {weakness(code)} in {names(i.subject for i in code)}; "
            "no pipeline runs on an orchestrator.",
            cite(code),
        )
    if ctx.repositories():  # absence on AWS alone is not a fail: pipelines live in code
        return Verdict(
            Outcome.FAIL,
            f"No orchestrated pipelines in {len(ctx.repositories())} scanned repositories"
            + (" and no pipeline executions in AWS" if ctx.ran("aws") else "")
            + ".",
            cite(ctx.ml_repositories()),
        )
    return None


@evaluator("L4.data-quality-monitoring")
def data_quality_monitoring(ctx: CheckContext) -> Verdict | None:
    """Planned `gx_validation` (X: `checkpoint`, `runs_in_window`, `pass_rate`) and
    `data_quality_run` (A, Glue Data Quality: `ruleset`, `runs_in_window`, `pass_rate`).
    >= 2 validation runs in the window -> pass (pass rate reported); 1 -> partial. Git: data
    validation code in a repo where a scheduled pipeline or a scheduled CI data-check step runs
    (`_validation_schedules`) -> pass, without a pass rate (partial where the checks are only
    hand-written, `tool: custom`). Suites (`gx_suite`) but no runs, or
    nothing -> fail; results unreadable (a gap) -> None."""
    results = ctx.signal("gx_validation") + ctx.signal("data_quality_run")
    ran = [r for r in results if count(r, "runs_in_window") > 0]
    total = sum(count(r, "runs_in_window") for r in ran)
    if ran:
        rates = [number(r.attributes.get("pass_rate"), -1) for r in ran]
        known = [x for x in rates if x >= 0]
        rate = sum(known) / len(known) if known else None
        text = (
            f"{total} data quality validation run(s) in the window across {len(ran)} checkpoint(s)"
        )
        text += f", mean pass rate {rate:.0%}." if rate is not None else "."
        outcome = Outcome.PASS if total >= REGULAR_RUNS else Outcome.PARTIAL
        if outcome is Outcome.PARTIAL:
            text += " A single run is not a regular check."
        return Verdict(outcome, text, cite(ran), {"runs_in_window": total, "pass_rate": rate})
    # validation code inside scheduled pipelines runs each time they do (git supports the check)
    sched = _validation_schedules(ctx)
    library, custom = by_library(v for v in ctx.signal("data_validation")
                                 if v.attributes.get("scheduled") or v.subject in sched)
    if library or custom:
        # hand-written checks in a scheduled pipeline are partial, as they are for
        # L3.data-validation: the rubric asks for a validation tool's runs
        return Verdict(
            Outcome.PASS if library else Outcome.PARTIAL,
            f"Data checks ({tools(library or custom)}) run inside scheduled pipelines in "
            f"{names(i.subject for i in library or custom)}"
            + ("" if library else ", hand-written only (no validation library)")
            + "; no validation results were read to give a pass rate.",
            cite(library or custom, results),
            {"runs_in_window": None},
        )
    if signal_gap(ctx, "gx_validation", "data_quality_run") and not results:
        return None
    suites = ctx.signal("gx_suite")
    text = "No data quality validation runs in the window"
    if suites:
        text += f"; {len(suites)} expectation suite(s) exist but are not run"
    return Verdict(Outcome.FAIL, text + ".", cite(results, suites), {"runs_in_window": 0})


def _validation_schedules(ctx: CheckContext) -> set[str]:
    """Repos whose data checks run on a time trigger: a scheduled orchestrated pipeline or
    retraining (the data pipeline the checks belong to), or a scheduled CI workflow whose steps
    run data checks (`ml_steps` holds `data_tests`: a GX checkpoint, `dbt test`, a validate-data
    script). A CI cron that only runs unit tests or a drift script runs no data check."""
    return _scheduled_repos(ctx, ci_step="data_tests")


def _scheduled_repos(ctx: CheckContext, ci_step: str | None = None) -> set[str]:
    """Repos where something runs on a time trigger: orchestration or retraining with a
    schedule, or CI with one (with `ci_step`, only CI whose steps include it)."""
    out = {i.subject for i in ctx.signal("orchestration") if i.attributes.get("schedule")}
    out |= {i.subject for i in ctx.signal("scheduled_retraining")}
    out |= {i.subject for i in ctx.signal("ci_pipeline") if i.attributes.get("schedules")
            and (ci_step is None or ci_step in (i.attributes.get("ml_steps") or ()))}
    return out


def _monitored_units(ctx: CheckContext) -> tuple[list[str], list[str], list[EvidenceItem]]:
    """(production units, monitored ones, evidence) from endpoints/registry/monitoring schedules."""
    scheduled_for = {
        str(m.attributes.get("endpoint"))
        for m in ctx.signal("monitoring_schedule")
        if str(m.attributes.get("status", "scheduled")).lower()
        in ("scheduled", "enabled", "active")
    }
    units = [e for e in ctx.signal("endpoint") if endpoint_in_service(e)]
    if not units:
        units = [m for m in ctx.signal("registered_model") if registered_in_production(m)]
    label = lambda i: str(i.attributes.get("name") or i.locator)  # noqa: E731
    monitored = [u for u in units if u.attributes.get("monitored") or label(u) in scheduled_for]
    return [label(u) for u in units], [label(u) for u in monitored], units


@evaluator("L4.model-monitoring")
def model_monitoring(ctx: CheckContext) -> Verdict | None:
    """Observed coverage when production endpoints/models are known: monitored (`endpoint.
    monitored`, a `monitoring_schedule` on it, or `registered_model.monitored`) / production:
    >= 80% -> pass, above 0 -> partial, 0 -> fail; reported as metrics.coverage.
    Git: `model_monitoring` in an ML repo wired to a schedule (its `scheduled` attribute, or an
    orchestration/CI schedule or retraining trigger in the same repo) -> pass; present but
    unscheduled, or only notebook-only/opt-in -> partial; none in the ML repos -> fail.
    Observed coverage decides when both exist; nothing to judge -> None. When monitoring
    schedules or alarms could not be read (a gap) and coverage is below the bar, the verdict is
    None unless code evidence exists, and the explanation says coverage may be understated."""
    production, monitored, units = _monitored_units(ctx)
    ml = ml_repo_names(ctx)
    code = ctx.signal("model_monitoring", ml)
    sched = _scheduled_repos(ctx)
    wired = [m for m in strong(code) if m.attributes.get("scheduled") or m.subject in sched]
    git = None
    if wired:
        git = Verdict(
            Outcome.PASS,
            f"Monitoring code ({tools(wired)}) runs on a schedule in "
            f"{names(i.subject for i in wired)}.",
            cite(wired),
        )
    elif code:
        why = f"only {weakness(code)}" if not strong(code) else "not wired to any schedule"
        git = Verdict(
            Outcome.PARTIAL,
            f"Monitoring code ({tools(code)}) in {names(i.subject for i in code)}, {why}.",
            cite(code),
        )
    elif ml:
        git = Verdict(
            Outcome.FAIL,
            f"No drift/performance monitoring code in {len(ml)} ML repos ({names(ml)}).",
            cite(repository_items(ctx, ml)),
        )
    if not production:
        return git
    share = len(monitored) / len(production)
    cov = {"monitored": len(monitored), "production": len(production), "share": round(share, 3)}
    blind = signal_gap(ctx, "monitoring_schedule", "cloudwatch_alarm")
    if blind and share < PASS_SHARE and git is None:
        # schedules or alarms could not be read: low coverage may only be what we could not see
        return None
    text = (
        f"Model monitoring covers {len(monitored)} of {len(production)} production endpoints/models"
        + (f"; unmonitored: {names(set(production) - set(monitored))}." if share < 1 else ".")
    )
    if blind and share < PASS_SHARE:
        text += f" Coverage may be understated: {blind}."
    if git is not None:
        text += f" In code: {git.explanation}"
    return Verdict(
        graded(share, PASS_SHARE),
        text,
        cite(units, git.evidence if git else [], ctx.signal("monitoring_schedule")),
        {"coverage": cov},
    )


@evaluator("L4.per-version-performance")
def per_version_performance(ctx: CheckContext) -> Verdict | None:
    """Planned `registered_model` attributes `versions` and `versions_with_metrics` (versions
    whose training/evaluation run logged metrics). A model's versions are comparable when at
    least two carry metrics (or its only version does). Judged over production models, or all
    registered models when none is marked production (where `production_versions_with_metrics`
    is known, the production version itself must carry metrics): >= 80% comparable -> pass, some ->
    partial, none or an empty registry -> fail; registry unreadable (a gap) -> None."""
    models = ctx.signal("registered_model")
    if not models:
        if signal_gap(ctx, "registered_model"):
            return None
        return Verdict(Outcome.FAIL, "No registered model versions to compare.")
    prod = [m for m in models if registered_in_production(m)]
    pool, scope = (prod, "production models") if prod else (models, "registered models")

    def comparable(m: EvidenceItem) -> bool:
        with_metrics = count(m, "versions_with_metrics")
        if prod and "production_versions_with_metrics" in m.attributes and not count(
            m, "production_versions_with_metrics"
        ):
            return False  # the version serving production must carry metrics to compare against
        return with_metrics >= min(max(count(m, "versions"), 1), 2)

    good = [m for m in pool if comparable(m)]
    label = lambda m: str(m.attributes.get("name") or m.locator)  # noqa: E731
    share = len(good) / len(pool)
    text = f"Versions carry comparable evaluation metrics for {len(good)} of {len(pool)} {scope}"
    bad = [label(m) for m in pool if m not in good]
    text += f"; without: {names(bad)}." if bad else "."
    return Verdict(
        graded(share, PASS_SHARE), text, cite(pool), {"comparable": len(good), "total": len(pool)}
    )


@evaluator("L4.data-catalog")
def data_catalog(ctx: CheckContext) -> Verdict | None:
    """Planned `glue_catalog` (A: `database`, `tables`, `described_tables`): most tables described
    (>= 50%) -> pass, tables mostly undescribed -> partial. A catalogue tool configured in code
    (`data_catalog`: DataHub, Amundsen, OpenMetadata) -> pass, opt-in only -> partial. Nothing,
    with repos scanned -> fail (absence on AWS alone is not a fail; None)."""
    glue = [g for g in ctx.signal("glue_catalog") if count(g, "tables") > 0]
    code = ctx.signal("data_catalog")
    tables = sum(count(g, "tables") for g in glue)
    described = sum(count(g, "described_tables") for g in glue)
    metrics = {"tables": tables, "described_tables": described} if glue else {}
    annotated = bool(glue) and described / tables >= DESCRIBED_SHARE
    if annotated or strong(code):
        parts = []
        if glue:
            parts.append(f"{described} of {tables} catalogue tables described")
        if strong(code):
            parts.append(
                f"catalogue tool configured ({tools(strong(code))}) in "
                f"{names(i.subject for i in strong(code))}"
            )
        return Verdict(
            Outcome.PASS,
            "A data catalogue exists: " + "; ".join(parts) + ".",
            cite(glue, strong(code)),
            metrics,
        )
    if glue or code:
        parts = []
        if glue:
            parts.append(f"only {described} of {tables} catalogue tables have a description")
        if code:
            parts.append(
                f"a catalogue tool only {weakness(code)} in {names(i.subject for i in code)}"
            )
        return Verdict(
            Outcome.PARTIAL, "; ".join(parts).capitalize() + ".", cite(glue, code), metrics
        )
    if ctx.repositories():  # absence on AWS alone is not a fail: catalogue tools live in code
        return Verdict(
            Outcome.FAIL,
            "No data catalogue: no catalogue tool configured in "
            f"{len(ctx.repositories())} scanned repositories"
            + (" and no Glue catalog tables" if ctx.ran("aws") else "")
            + ".",
            cite(ctx.ml_repositories()),
        )
    return None


@evaluator("L4.warehouse-etl")
def warehouse_etl(ctx: CheckContext) -> Verdict | None:
    """A `warehouse` (from code or from AWS: Redshift, Athena workgroups) and ETL feeding it
    (`data_pipeline` not notebook-only/opt-in, or `glue_job_run` with runs) -> pass; one of the
    two -> partial; neither -> fail when repos were scanned (AWS alone: None)."""
    wh = strong(ctx.signal("warehouse"))
    etl = strong(etl_evidence(ctx)) + [
        j for j in ctx.signal("glue_job_run") if count(j, "runs_in_window") > 0
    ]
    # dbt models are built inside a warehouse: dbt ETL is warehouse-fed ETL by construction
    in_warehouse = [e for e in etl if str(e.tool or "").lower() == "dbt"]
    if (wh or in_warehouse) and etl:
        wh = wh or in_warehouse
        return Verdict(
            Outcome.PASS, f"A warehouse ({tools(wh)}) fed by ETL ({tools(etl)}).", cite(wh, etl)
        )
    if wh:
        return Verdict(
            Outcome.PARTIAL,
            f"A warehouse ({tools(wh)}) in {names(i.subject for i in wh)}, "
            "but no ETL code or jobs feeding it.",
            cite(wh),
        )
    if etl:
        return Verdict(
            Outcome.PARTIAL,
            f"ETL ({tools(etl)}) in {names(i.subject for i in etl)}, but "
            "no data warehouse configured (Redshift, Athena, Snowflake, BigQuery or dbt).",
            cite(etl),
        )
    if ctx.repositories():  # absence on AWS alone is not a fail: warehouses live elsewhere too
        return Verdict(
            Outcome.FAIL, "Neither a data warehouse nor ETL was found.", cite(ctx.ml_repositories())
        )
    return None


def _trains(item: EvidenceItem) -> bool:
    return "train" in [str(s) for s in item.attributes.get("ml_steps") or []]


@evaluator("L4.scheduled-retraining")
def scheduled_retraining(ctx: CheckContext) -> Verdict | None:
    """A time trigger on training: `scheduled_retraining` with a schedule (not notebook-only/
    opt-in), a `ci_pipeline` with `schedules` whose `ml_steps` include train, or a planned
    `eventbridge_rule` (A: `name`, `schedule`, `state`, `trains`) enabled and targeting a
    training pipeline -> pass. Drift/event-triggered retraining only (`drift_triggered`), or only
    weak evidence -> partial. Nothing, with ML repos scanned -> fail (AWS alone: None)."""
    ml = ml_repo_names(ctx)
    sched = ctx.signal("scheduled_retraining")
    timed = [
        s
        for s in strong(sched)
        if s.attributes.get("schedule") or not s.attributes.get("drift_triggered")
    ]
    ci = [c for c in ctx.signal("ci_pipeline") if c.attributes.get("schedules") and _trains(c)]
    rules = [
        r
        for r in ctx.signal("eventbridge_rule")
        if r.attributes.get("trains")
        and str(r.attributes.get("state", "enabled")).lower() == "enabled"
    ]
    found = timed + ci + rules
    if found:
        where = names(i.subject for i in timed + ci)
        parts = [f"training on a time trigger in {where}"] if timed or ci else []
        if rules:
            parts.append(f"{len(rules)} enabled schedule rule(s) targeting training pipelines")
        return Verdict(
            Outcome.PASS, "Retraining is scheduled: " + "; ".join(parts) + ".", cite(found)
        )
    if sched:
        drift = [s for s in sched if s.attributes.get("drift_triggered")]
        why = "only drift/event-triggered" if drift else f"only {weakness(sched)}"
        return Verdict(
            Outcome.PARTIAL,
            f"Retraining is {why} in {names(i.subject for i in sched)}; "
            "no time trigger on training.",
            cite(sched),
        )
    if ml:  # absence on AWS alone is not a fail: schedules live in code
        return Verdict(
            Outcome.FAIL,
            f"No scheduled training in {len(ml)} ML repos"
            + (" or EventBridge rules" if ctx.ran("aws") else "")
            + ": training runs only by hand.",
            cite(repository_items(ctx, ml)),
        )
    return None


@evaluator("L4.multiple-pods")
def multiple_pods(ctx: CheckContext) -> Verdict | None:
    """Observed: ML repos grouped by shared contributors (`team_activity.contributor_ids`, a
    connected-components grouping); a group with >= 2 contributors is a pod. Distinct CODEOWNERS
    teams (`code_ownership.teams`) across ML repos count as pods too. >= 2 pods -> pass; one pod
    beside single-person groups -> partial; otherwise fail. S8's pod count (attribute `pods`)
    is cross-checked; observed decides. No activity, no CODEOWNERS and no S8 -> None."""
    ml = ml_repo_names(ctx)
    activity = [a for a in ctx.signal("team_activity", ml) if a.attributes.get("contributor_ids")]
    owners = ctx.signal("code_ownership", ml)
    observed = None
    if activity or owners:
        groups = contributor_groups(activity)
        pods = [g for g in groups if len(g[1]) >= 2]
        teams = sorted({str(t) for o in owners for t in o.attributes.get("teams") or []})
        # repos owned by different team sets are owned by different pods
        team_sets = {frozenset(map(str, o.attributes.get("teams") or [])) for o in owners}
        n = max(len(pods), len(team_sets - {frozenset()}))
        text = (
            f"{len(groups)} group(s) of ML repos with disjoint contributors, {len(pods)} with "
            f"two or more people" + (f": {'; '.join(names(g[0]) for g in pods)}" if pods else "")
        )
        if teams:
            text += f"; CODEOWNERS teams: {names(teams)}"
        if n >= 2:
            outcome = Outcome.PASS
        elif n == 1 and len(groups) >= 2:
            outcome = Outcome.PARTIAL
            text += "; the other groups are single contributors, not pods"
        else:
            outcome = Outcome.FAIL
        observed = Verdict(
            outcome,
            text + ".",
            cite(owners, activity),
            {"pods": n, "groups": len(groups), "teams": len(teams)},
        )
    claimed = None
    s8 = survey_answer(ctx, "S8")
    if s8 is not None and s8.attributes.get("pods") is not None:
        n = int(number(s8.attributes.get("pods")))
        claimed = Verdict(
            Outcome.PASS if n >= 2 else Outcome.FAIL,
            f"S8: {n} pod(s) (self-reported)",
            [s8],
            {"claimed_pods": n},
        )
    # contributor groups in git support the check; the survey decides the pod count
    return with_survey(observed, claimed, "S8", observed_decides=False)


@evaluator("L4.org-model")
def org_model(ctx: CheckContext) -> Verdict | None:
    """Survey only (S8): centralized, decentralized or hybrid -> pass; single team -> fail."""
    s8 = survey_answer(ctx, "S8")
    if s8 is None:
        return None
    answer = answer_text(s8)
    ok = any(w in answer for w in ("centralized", "centralised", "hybrid"))
    return Verdict(Outcome.PASS if ok else Outcome.FAIL, f"S8: {answer or 'no answer'}.", [s8])


@evaluator("L4.platform-investment")
def platform_investment(ctx: CheckContext) -> Verdict | None:
    """Survey only (S10): planned every quarter -> pass; sometimes -> partial; no -> fail."""
    s10 = survey_answer(ctx, "S10")
    if s10 is None:
        return None
    answer = answer_text(s10)
    outcome = (
        Outcome.PASS
        if "planned" in answer or "quarter" in answer
        else Outcome.PARTIAL
        if "sometimes" in answer
        else Outcome.FAIL
    )
    return Verdict(outcome, f"S10: {answer or 'no answer'}.", [s10])
