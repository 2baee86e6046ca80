"""Level 2 — Exploring: first hires, experiment tracking, data pipeline, first production model."""

from __future__ import annotations

from mlaudit.checks.base import CheckContext, Verdict, evaluator
from mlaudit.checks.evaluators.support import (
    answer_number,
    answer_text,
    by_subject,
    cite,
    count,
    etl_evidence,
    ml_repo_names,
    names,
    production_gap,
    production_models,
    production_observable,
    production_unknown,
    repo_names,
    repository_items,
    signal_gap,
    strong,
    survey_answer,
    tools,
    weakness,
    with_survey,
)
from mlaudit.evidence import Outcome

FIRST_ROLES = {
    "pm": ("pm with ml experience", "dedicated ml pm"),
    "scientist": ("ml scientist",),
    "engineer": ("ml engineer",),
}


@evaluator("L2.first-hires")
def first_hires(ctx: CheckContext) -> Verdict | None:
    """Observed: distinct human contributors (union of `team_activity.contributor_ids`) across
    ML repos in the look-back window: >= 2 -> pass; 1 or 0 -> fail. Survey S5: an ML-experienced
    PM, an ML scientist and an ML engineer -> pass; two of the three -> partial; else fail.
    Observed decides; a disagreeing S5 is a contradicted claim. No activity and no S5 -> None."""
    ml = ml_repo_names(ctx)
    activity = ctx.signal("team_activity", ml)
    observed = None
    if activity:
        people: set[str] = set()
        for item in activity:
            people.update(str(c) for c in item.attributes.get("contributor_ids") or [])
        window = max(int(i.attributes.get("window_days") or 0) for i in activity)
        active = sorted({i.subject for i in activity if i.attributes.get("contributor_ids")})
        span = f"in the last {window} days" if window else "in the look-back window"
        if len(people) >= 2:
            outcome = Outcome.PASS
            text = (
                f"{len(people)} distinct human contributors to ML repos {span} ({names(active)})."
            )
        else:
            outcome = Outcome.FAIL
            who = "Only one human contributor" if people else "No human commits"
            text = (
                f"{who} to {len(ml)} ML repos {span}; the framework asks for at least two "
                "technical members."
            )
        observed = Verdict(outcome, text, cite(activity), {"contributors": len(people)})
    claimed = None
    s5 = survey_answer(ctx, "S5")
    if s5 is not None:
        answer = answer_text(s5)
        have = [role for role, labels in FIRST_ROLES.items() if any(x in answer for x in labels)]
        outcome = (
            Outcome.PASS if len(have) == 3 else Outcome.PARTIAL if len(have) == 2 else Outcome.FAIL
        )
        claimed = Verdict(outcome, f"S5 roles filled: {answer or 'none'} (self-reported)", [s5])
    # contributors in git support the check; only the survey decides who was hired
    return with_survey(observed, claimed, "S5", observed_decides=False)


@evaluator("L2.experiment-tracking")
def experiment_tracking(ctx: CheckContext) -> Verdict | None:
    """Planned `experiment_runs` (M: `experiment`, `runs_in_window`) with runs in the window ->
    pass. Tracking calls in ML repo code (`experiment_tracking`): partial (the rubric's "G,
    partial alone") when they are only weak (notebook-only, opt-in) or when a tracker was read and
    holds no recent runs; pass when no tracker was read, since nothing read says the runs stopped
    (the stricter reading, partial here too, agreed less with the calibration corpus:
    docs/calibration.md, "Check by check"). Nothing anywhere -> fail when ML repos were scanned
    or a tracker was read; None when neither could be judged."""
    runs = ctx.signal("experiment_runs")
    recent = [r for r in runs if count(r, "runs_in_window") > 0]
    ml = ml_repo_names(ctx)
    code = ctx.signal("experiment_tracking", ml)
    total_runs = sum(count(r, "runs_in_window") for r in recent)
    if recent:
        exps = names(str(r.attributes.get("experiment") or r.subject) for r in recent)
        return Verdict(
            Outcome.PASS,
            f"{total_runs} runs logged in the look-back window across "
            f"{sum(count(r, 'experiments') or 1 for r in recent)} "
            f"experiment(s): {exps}.",
            cite(recent, code),
            {"runs_in_window": total_runs},
        )
    if code:
        repos = by_subject(code)
        tracker_read = bool(runs) or ctx.ran("mlflow")
        text = (
            f"Tracking calls ({tools(code)}) in code of {len(repos)} of {len(ml)} ML repos: "
            f"{names(repos)}"
        )
        metrics = {"repos_tracking": len(repos), "ml_repos": len(ml)}
        if not strong(code):
            text += f" (only {weakness(code)})."
            return Verdict(Outcome.PARTIAL, text, cite(code, runs), metrics)
        if tracker_read:
            text += "; the tracker that was read holds no runs in the look-back window."
            return Verdict(Outcome.PARTIAL, text, cite(strong(code), code, runs), metrics)
        text += " (no tracker was read to count the runs)."
        return Verdict(Outcome.PASS, text, cite(strong(code), code), metrics)
    if runs:
        return Verdict(
            Outcome.FAIL,
            f"The tracker holds {len(runs)} experiment(s) but no runs in the "
            "look-back window, and no ML repo logs to a tracker.",
            cite(runs),
        )
    tracker_read = ctx.ran("mlflow") and signal_gap(ctx, "experiment_runs") is None
    if ml or tracker_read:
        looked = []
        if ml:
            looked.append(f"{len(ml)} ML repos ({names(ml)})")
        if tracker_read:
            looked.append("the tracking server")
        return Verdict(
            Outcome.FAIL,
            "No experiment tracking found in " + " or ".join(looked) + ".",
            cite(repository_items(ctx, ml)),
        )
    return None


@evaluator("L2.data-pipeline")
def data_pipeline(ctx: CheckContext) -> Verdict | None:
    """ETL code (`data_pipeline`) or orchestrated pipelines (`orchestration`) in any scanned
    repository (data repos need not be ML repos), or
    the planned `glue_job_run` (A: `job`, `runs_in_window`) with runs in the window -> pass.
    Only notebook-only/opt-in ETL, or Glue jobs with no recent runs -> partial. Nothing, with
    repositories scanned -> fail (absence on AWS alone is not a fail); else None."""
    # a pipeline run by an orchestrator (an Airflow DAG, a Kedro pipeline, ...) moves data too
    code = etl_evidence(ctx)
    jobs = ctx.signal("glue_job_run")
    ran = [j for j in jobs if count(j, "runs_in_window") > 0]
    if strong(code) or ran:
        parts = []
        if strong(code):
            parts.append(
                f"ETL or pipeline code ({tools(strong(code))}) in {names(i.subject for i in strong(code))}"
            )
        if ran:
            parts.append(
                f"{len(ran)} Glue job(s) with runs in the window: "
                f"{names(str(j.attributes.get('job') or j.locator) for j in ran)}"
            )
        return Verdict(
            Outcome.PASS,
            "A data pipeline exists: " + "; ".join(parts) + ".",
            cite(strong(code), ran),
        )
    if code or jobs:
        parts = []
        if code:
            parts.append(f"only {weakness(code)} ETL code in {names(i.subject for i in code)}")
        if jobs:
            parts.append(f"{len(jobs)} Glue job(s) without runs in the window")
        return Verdict(
            Outcome.PARTIAL,
            "Weak signs of a data pipeline: " + "; ".join(parts) + ".",
            cite(code, jobs),
        )
    repos = repo_names(ctx)
    if repos:  # absence on AWS alone is not a fail: ETL lives in code
        return Verdict(
            Outcome.FAIL,
            f"No ETL or pipeline code (Glue, dbt, Spark, orchestrated pipelines) in {len(repos)} scanned "
            "repositories" + (" and no Glue jobs with runs" if ctx.ran("aws") else "") + ".",
            cite(ctx.ml_repositories() or ctx.repositories()),
        )
    return None


@evaluator("L2.model-in-production")
def model_in_production(ctx: CheckContext) -> Verdict | None:
    """Observed production (an InService `endpoint`, or a `registered_model` with a production
    alias/stage) -> pass. Git: serving code (`model_serving`) and `containerization` in the same
    ML repo -> pass; serving code alone, or batch scoring code (`batch_inference`) -> partial;
    none of these in the ML repos (and no production in a registry/endpoint that was read) ->
    fail. S6 (number of production models) is cross-checked: observed decides."""
    found, items = production_models(ctx)
    ml = ml_repo_names(ctx)
    serving = by_subject(strong(ctx.signal("model_serving", ml)))
    boxed = {s for s in serving if ctx.signal("containerization", [s])}
    batch = ctx.signal("batch_inference", ml)
    observed = None
    if found:
        observed = Verdict(
            Outcome.PASS,
            f"{len(found)} model(s) in production: {names(found)}.",
            cite(items, *(serving[s] for s in sorted(boxed))),
        )
    elif boxed:
        observed = Verdict(
            Outcome.PASS,
            f"Containerised serving code in {len(boxed)} of {len(ml)} ML repos: {names(boxed)}.",
            cite(*(serving[s] + ctx.signal("containerization", [s]) for s in sorted(boxed))),
        )
    elif serving or batch:
        what = []
        if serving:
            what.append(f"serving code without a container in {names(serving)}")
        if batch:
            what.append(f"batch scoring code in {names(i.subject for i in batch)}")
        observed = Verdict(
            Outcome.PARTIAL,
            "A path to production exists but no deployed model was observed: "
            + "; ".join(what)
            + ".",
            cite(*serving.values(), batch),
        )
    elif ml or production_observable(ctx):
        looked = [f"{len(ml)} ML repos"] if ml else []
        if production_observable(ctx):
            looked.append("endpoints and the model registry")
        observed = Verdict(
            Outcome.FAIL,
            "No model in production: no serving code, batch scoring or production "
            "endpoint/registry alias in " + " or ".join(looked) + ".",
            cite(repository_items(ctx, ml)),
        )
    claimed = None
    s6 = survey_answer(ctx, "S6")
    if s6 is not None:
        n = answer_number(s6) or 0
        claimed = Verdict(
            Outcome.PASS if n >= 1 else Outcome.FAIL,
            f"S6: {n} model(s) serve production decisions (self-reported)",
            [s6],
        )
    if (observed is None or observed.outcome is Outcome.FAIL) and production_gap(ctx):
        # a registry that ran but cannot show production (a denied API, an as-of read) proves
        # no absence: the answer stands, else the check is unknown and says why
        seen = observed.explanation if observed else "no model was seen in production"
        observed = None if claimed else production_unknown(ctx, seen)
    # code supports production; endpoints and a registry decide it
    return with_survey(observed, claimed, "S6", observed_decides=production_observable(ctx))


#: IaC whose training workloads are read as `training_infra` (see `cloud_compute`)
_CLUSTER_MANIFESTS = frozenset({"kubernetes", "helm"})


@evaluator("L2.cloud-compute")
def cloud_compute(ctx: CheckContext) -> Verdict | None:
    """Training compute chosen in code (`training_infra`, not notebook-only/opt-in), IaC with
    `ml_resources`, or the planned `training_job` (A: `jobs_in_window`) -> pass. Only
    notebook-only/opt-in training infra -> partial. ML repos scanned with none of these -> fail
    (training compute is declared in code or it is not); nothing to judge -> None.

    Kubernetes manifests and Helm charts count through `training_infra` only: the workloads
    that train there (Kubeflow training jobs, Ray jobs and clusters, GPU jobs that train) are
    read as training infrastructure, so what is left of their `ml_resources` is serving
    (KServe, Seldon, Triton) - the rubric asks for the compute a team trains on (calibration
    part 20: a serving-only study of KServe manifests judged level 1 read level 2)."""
    ml = ml_repo_names(ctx)
    infra = ctx.signal("training_infra")
    ml_iac = [i for i in ctx.signal("infrastructure_as_code") if i.attributes.get("ml_resources")]
    iac = [i for i in ml_iac if i.attributes.get("tool") not in _CLUSTER_MANIFESTS]
    serving_only = [i for i in ml_iac if i.attributes.get("tool") in _CLUSTER_MANIFESTS]
    jobs = [j for j in ctx.signal("training_job") if count(j, "jobs_in_window", "jobs") > 0]
    if strong(infra) or strong(iac) or jobs:
        parts = []
        if strong(infra):
            parts.append(
                f"training compute in code ({tools(strong(infra))}) in "
                f"{names(i.subject for i in strong(infra))}"
            )
        if strong(iac):
            parts.append(
                f"ML resources in IaC ({tools(strong(iac))}) in {names(i.subject for i in strong(iac))}"
            )
        if jobs:
            parts.append(
                f"{sum(count(j, 'jobs_in_window', 'jobs') for j in jobs)} cloud training job(s) in the window"
            )
        return Verdict(
            Outcome.PASS,
            "The team chooses its compute: " + "; ".join(parts) + ".",
            cite(strong(infra), strong(iac), jobs),
        )
    if infra or iac:
        return Verdict(
            Outcome.PARTIAL,
            f"Training infrastructure only {weakness(infra + iac)} in "
            f"{names(i.subject for i in infra + iac)}.",
            cite(infra, iac),
        )
    if ml:  # absence on AWS alone is not a fail: other clouds exist
        return Verdict(
            Outcome.FAIL,
            f"No training infrastructure in code in {len(ml)} ML repos ({names(ml)})"
            + (" and no cloud training jobs in the window" if ctx.ran("aws") else "")
            + (f"; the ML resources of the Kubernetes manifests or Helm charts in "
               f"{names(i.subject for i in serving_only)} serve or host models, none trains one"
               if serving_only else "")
            + ".",
            cite(repository_items(ctx, ml), serving_only),
        )
    return None


@evaluator("L2.first-project-focus")
def first_project_focus(ctx: CheckContext) -> Verdict | None:
    """Survey only. S12 shipped -> pass; in progress -> partial; no project yet -> fail."""
    s12 = survey_answer(ctx, "S12")
    if s12 is None:
        return None
    answer = answer_text(s12)
    if "shipped" in answer:
        outcome = Outcome.PASS
    elif "progress" in answer:
        outcome = Outcome.PARTIAL
    else:
        outcome = Outcome.FAIL
    return Verdict(outcome, f"S12: {answer or 'no answer'} (self-reported).", [s12])
