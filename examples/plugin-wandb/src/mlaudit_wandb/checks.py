"""The plugin's checks (entry point group `mlaudit.checks`): rubric entries as data and one
evaluator each. Both are unscored (no level, no dimension): mlaudit reports them under "Other
checks" and they never move a level — W&B is one tracker among several, and the rubric's own
`L2.experiment-tracking` stays the scored check."""

from __future__ import annotations

from mlaudit.checks import CheckContext, PluginChecks, Verdict
from mlaudit.evidence import Outcome

RUBRIC = [
    {
        "id": "wandb.tracked-runs",
        "title": "Experiments tracked in Weights & Biases",
        "criterion": "W&B holds runs that logged metrics: training is tracked, not only printed.",
        "collectors": ["W"],
        "remediation": "Call wandb.init() in training code and log the metrics each run produces "
                       "(run.log); keep the wandb/ run folders or sync them to a W&B project.",
    },
    {
        "id": "wandb.runs-have-commit",
        "title": "W&B runs record their git commit",
        "criterion": "Every W&B run records the git commit of the code it ran.",
        "collectors": ["W"],
        "remediation": "Run training from a git checkout (wandb records the commit itself), and "
                       "do not turn off git capture (settings disable_git).",
    },
]


def _places(ctx: CheckContext) -> list:
    return ctx.signal("wandb_folder") + ctx.signal("wandb_project")


def tracked_runs(ctx: CheckContext) -> Verdict | None:
    runs, places = ctx.signal("wandb_run"), _places(ctx)
    if not runs and not places:
        return None
    logging = [r for r in runs if r.attributes.get("history_steps")]
    where = f"{len(places)} W&B folder(s) or project(s)"
    if logging:
        return Verdict(Outcome.PASS, f"{len(logging)} of {len(runs)} W&B run(s) in {where} logged "
                       "metrics.", logging, {"runs": len(runs), "logging_metrics": len(logging)})
    if runs:
        return Verdict(Outcome.PARTIAL, f"{len(runs)} W&B run(s) in {where}, none of which logged a "
                       "metric.", runs, {"runs": len(runs), "logging_metrics": 0})
    return Verdict(Outcome.FAIL, f"No W&B runs in {where}: "
                   + ", ".join(p.subject for p in places[:5]) + ".", places, {"runs": 0})


def runs_have_commit(ctx: CheckContext) -> Verdict | None:
    runs = ctx.signal("wandb_run")
    if not runs:
        return None  # no run says anything about commits: unknown, not fail
    without = [r for r in runs if not r.attributes.get("has_commit")]
    metrics = {"runs": len(runs), "without_commit": len(without)}
    if not without:
        return Verdict(Outcome.PASS, f"All {len(runs)} W&B run(s) record a git commit.", runs, metrics)
    names = ", ".join(str(r.attributes.get("name")) for r in without[:5])
    outcome = Outcome.FAIL if len(without) == len(runs) else Outcome.PARTIAL
    return Verdict(outcome, f"{len(runs) - len(without)} of {len(runs)} W&B run(s) record a git commit; "
                   f"without: {names}.", without, metrics)


CHECKS = PluginChecks(
    rubric=RUBRIC,
    evaluators={"wandb.tracked-runs": tracked_runs, "wandb.runs-have-commit": runs_have_commit},
)
