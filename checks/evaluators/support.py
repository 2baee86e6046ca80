"""Small helpers evaluators share: per-repository coverage, citing evidence, survey answers.

Everything here reads evidence through the `CheckContext` by signal name only; nothing asks
which collector produced an item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mlaudit.checks.base import MAX_CITED, CheckContext, Verdict, is_weak  # noqa: F401 (re-exported)
from mlaudit.evidence import EvidenceItem, Outcome

#: the rubric's ">= 80%" coverage bar
PASS_SHARE = 0.8


def strong(items: Iterable[EvidenceItem]) -> list[EvidenceItem]:
    return [i for i in items if not is_weak(i)]


def by_library(items: Iterable[EvidenceItem]) -> tuple[list[EvidenceItem], list[EvidenceItem]]:
    """Strong data checks split into those written with a validation tool and the hand-written
    ones (`tool: custom`): the rubric's data checks are a tool's; hand-written ones are partial."""
    checks = strong(items)
    return [i for i in checks if i.tool != "custom"], [i for i in checks if i.tool == "custom"]


def weakness(items: Iterable[EvidenceItem]) -> str:
    kinds = set()
    for i in items:
        if i.attributes.get("notebook_only"):
            kinds.add("notebook-only")
        if i.attributes.get("opt_in"):
            kinds.add("opt-in (off by default)")
        if i.attributes.get("verdict_only"):
            kinds.add("answer-only (return a verdict, never stop a run)")
    return " and ".join(sorted(kinds)) or "weak"


def names(subjects: Iterable[str], limit: int = 6) -> str:
    """`a, b, c and 2 more` — a bounded, sorted list of names for explanations."""
    items = sorted(set(subjects))
    if not items:
        return "none"
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def tools(items: Iterable[EvidenceItem]) -> str:
    found = sorted({str(i.tool) for i in items if i.tool})
    return ", ".join(found) if found else "unnamed tool"


def cite(*groups: Iterable[EvidenceItem], limit: int = MAX_CITED) -> list[EvidenceItem]:
    """The first `limit` distinct items of the groups, in order (strongest groups first)."""
    out: list[EvidenceItem] = []
    seen: set[str] = set()
    for group in groups:
        for item in group:
            if item.id not in seen:
                seen.add(item.id)
                out.append(item)
            if len(out) >= limit:
                return out
    return out


def by_subject(items: Iterable[EvidenceItem]) -> dict[str, list[EvidenceItem]]:
    out: dict[str, list[EvidenceItem]] = {}
    for item in items:
        out.setdefault(item.subject, []).append(item)
    return out


def number(value: Any, default: float = 0) -> float:
    """A numeric attribute, tolerating None, bools and strings."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def count(item: EvidenceItem, *keys: str) -> int:
    """The first present numeric attribute among `keys` (lists count their length)."""
    for key in keys:
        value = item.attributes.get(key)
        if isinstance(value, list | tuple | set | dict):
            return len(value)
        if value is not None:
            return int(number(value))
    return 0


def ml_repo_names(ctx: CheckContext) -> list[str]:
    return sorted({r.subject for r in ctx.ml_repositories()})


def repo_names(ctx: CheckContext) -> list[str]:
    return sorted({r.subject for r in ctx.repositories()})


@dataclass
class Coverage:
    """Which of a set of repositories have a property."""

    covered: list[str]
    missing: list[str]

    @property
    def total(self) -> int:
        return len(self.covered) + len(self.missing)

    @property
    def share(self) -> float:
        return len(self.covered) / self.total if self.total else 0.0

    def text(self, what: str, unit: str = "ML repos") -> str:
        out = f"{what} in {len(self.covered)} of {self.total} {unit}"
        if self.covered:
            out += f": {names(self.covered)}"
        if self.missing and self.covered:
            out += f"; missing in {names(self.missing)}"
        return out

    def metrics(self) -> dict[str, Any]:
        return {"covered": len(self.covered), "total": self.total, "share": round(self.share, 3)}


def coverage(subjects: Iterable[str], has: Callable[[str], bool]) -> Coverage:
    covered, missing = [], []
    for s in sorted(set(subjects)):
        (covered if has(s) else missing).append(s)
    return Coverage(covered, missing)


def graded(share: float, pass_at: float, *, strictly: bool = False) -> Outcome:
    """pass at or above `pass_at` (above, when `strictly`), partial above zero, else fail."""
    if share > pass_at if strictly else share >= pass_at:
        return Outcome.PASS
    return Outcome.PARTIAL if share > 0 else Outcome.FAIL


def repository_items(ctx: CheckContext, subjects: Iterable[str]) -> list[EvidenceItem]:
    wanted = set(subjects)
    return [r for r in ctx.repositories() if r.subject in wanted]


def signal_gap(ctx: CheckContext, *signals: str) -> str | None:
    """Why a source that ran could not see one of `signals` (a denied API, say), if it said so."""
    for s in signals:
        if s in ctx.gaps:
            return ctx.gaps[s]
    return None


# ------------------------------------------------------------------------------ survey
# Planned signal `survey_answer` (letter S, provenance self-reported): one item per answered
# question, subject "survey", locator "survey:S5", attributes `question` ("S5"), `answer`
# (a string from the rubric's answer list, a list of them for multi-select, or a number),
# `stale` (older than 120 days).


def survey_answer(ctx: CheckContext, question: str) -> EvidenceItem | None:
    for item in ctx.signal("survey_answer"):
        if item.attributes.get("question") == question:
            return item
    return None


def answer_text(item: EvidenceItem) -> str:
    value = item.attributes.get("answer")
    if isinstance(value, list | tuple | set):
        return "; ".join(str(v).lower() for v in value)
    return "" if value is None else str(value).lower()


def answer_number(item: EvidenceItem) -> int | None:
    value = item.attributes.get("answer")
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def with_survey(
    observed: Verdict | None,
    claimed: Verdict | None,
    question: str,
    *,
    observed_decides: bool = True,
) -> Verdict | None:
    """Merge an observed verdict with a survey-based one: one decision for claim and outcome.

    Observed evidence decides; a survey answer that disagrees is reported as a contradicted claim
    (in the explanation and in `metrics["contradicted_claim"]`). With no observed verdict, the
    survey's stands (self-reported). When the observed sources only *support* the check
    (`observed_decides` False), their silence (an observed fail) proves nothing: the answer
    stands, and the explanation says what was seen.
    """
    if observed is None:
        return claimed
    if claimed is None:
        return observed
    if observed.outcome is Outcome.FAIL and not observed_decides:
        note = f" Observed: {observed.explanation.rstrip('.')} — which cannot contradict the answer."
        return Verdict(claimed.outcome, claimed.explanation + "." + note, claimed.evidence, claimed.metrics)
    # the survey answer is always cited, so a reader can see what was claimed
    room = MAX_CITED - len(claimed.evidence)
    evidence = cite(observed.evidence[:room], claimed.evidence)
    metrics = {**claimed.metrics, **observed.metrics}
    explanation = observed.explanation
    if claimed.outcome != observed.outcome:
        metrics["contradicted_claim"] = {
            "question": question,
            "claimed": str(claimed.outcome),
            "observed": str(observed.outcome),
        }
        explanation += (
            f" Contradicted claim: the survey answer to {question} suggests "
            f"{claimed.outcome}, but observed evidence decides ({claimed.explanation})."
        )
    else:
        # same outcome, not necessarily the same facts (the report's survey section compares those)
        explanation += f" The survey answer to {question} gives the same outcome."
    return Verdict(observed.outcome, explanation, evidence, metrics)


def etl_evidence(ctx: CheckContext) -> list[EvidenceItem]:
    """Code that moves data: ETL (`data_pipeline`) or pipelines run by an orchestrator — one
    notion for every check that asks whether data pipelines exist."""
    return ctx.signal("data_pipeline") + ctx.signal("orchestration")


# ------------------------------------------------------------------------------ production
# Planned signals: `endpoint` (status, monitored, monitoring, model) and `registered_model`
# (name, versions, aliases, stages, production, ...). A model is "in production" when an endpoint
# serving it is InService or a registered model carries a production alias/stage.

PRODUCTION_WORDS = ("production", "prod", "champion", "live")


def endpoint_in_service(item: EvidenceItem) -> bool:
    return str(item.attributes.get("status", "")).lower() == "inservice"


def registered_in_production(item: EvidenceItem) -> bool:
    a = item.attributes
    if a.get("production"):
        return True
    labels = [str(x).lower() for x in [*(a.get("aliases") or []), *(a.get("stages") or [])]]
    return any(label in PRODUCTION_WORDS for label in labels)


def production_models(ctx: CheckContext) -> tuple[set[str], list[EvidenceItem]]:
    """Distinct production model names (endpoints count by their model, else their own name)."""
    found: set[str] = set()
    items: list[EvidenceItem] = []
    for item in ctx.signal("endpoint"):
        if endpoint_in_service(item):
            found.add(
                str(item.attributes.get("model") or item.attributes.get("name") or item.locator)
            )
            items.append(item)
    for item in ctx.signal("registered_model"):
        if registered_in_production(item):
            found.add(str(item.attributes.get("name") or item.locator))
            items.append(item)
    return found, items


#: gaps that hide production: endpoints or a registry not read, or a registry read as of a past
#: date whose aliases and stages (which keep no history) say nothing of production then
PRODUCTION_GAPS = ("endpoint", "registered_model", "registered_model.production")


def production_gap(ctx: CheckContext) -> str | None:
    """Why a source that ran could not see which models were in production, if one said so."""
    return signal_gap(ctx, *PRODUCTION_GAPS)


def production_observable(ctx: CheckContext) -> bool:
    """Whether any source that ran can see production models (endpoints or a registry)."""
    return ctx.ran("aws", "mlflow") and production_gap(ctx) is None


def production_unknown(ctx: CheckContext, explanation: str) -> Verdict | None:
    """An `unknown` verdict naming the gap, when a gap hides production (else None)."""
    gap = production_gap(ctx)
    if gap is None:
        return None
    return Verdict(Outcome.UNKNOWN, f"Not assessed: {explanation.rstrip('.')}, but {gap}.")


def model_count_verdict(ctx: CheckContext, needed: int) -> Verdict | None:
    """Production models counted against `needed`: pass at it, partial at half or more."""
    claimed = None
    answer = survey_answer(ctx, "S6")
    if answer is not None and answer_number(answer) is not None:
        n = answer_number(answer) or 0
        claimed = Verdict(
            _count_outcome(n, needed),
            f"survey answer S6: {n} model(s) serve production decisions (self-reported)",
            [answer],
            {"claimed_models": n},
        )
    observed = None
    found, items = production_models(ctx)
    if not found and claimed is None:
        hidden = production_unknown(ctx, "no model was seen in production")
        if hidden is not None:
            return hidden
    if found or production_observable(ctx):
        observed = Verdict(
            _count_outcome(len(found), needed),
            f"{len(found)} model(s) observed in production (InService endpoints or registry "
            f"production aliases/stages; {needed} needed): {names(found)}.",
            cite(items),
            {"production_models": len(found), "needed": needed},
        )
    return with_survey(observed, claimed, "S6")


def _count_outcome(n: int, needed: int) -> Outcome:
    if n >= needed:
        return Outcome.PASS
    return Outcome.PARTIAL if n > 0 and n * 2 >= needed else Outcome.FAIL


#: imported libraries that are data/plotting tools, not ML frameworks, for the stack census
NOT_FRAMEWORKS = frozenset(
    {
        "numpy",
        "pandas",
        "scipy",
        "matplotlib",
        "seaborn",
        "plotly",
        "polars",
        "pyarrow",
        "statsmodels",
        "mlflow",
        "wandb",
    }
)


def contributor_groups(activity: list[EvidenceItem]) -> list[tuple[list[str], set[str]]]:
    """Connected components of repos linked by a shared contributor: [(repos, contributors)]."""
    groups: list[tuple[list[str], set[str]]] = []
    for item in sorted(activity, key=lambda a: a.subject):
        people = {str(c) for c in item.attributes.get("contributor_ids") or []}
        repos = [item.subject]
        rest = []
        for g_repos, g_people in groups:
            if g_people & people:
                repos += g_repos
                people |= g_people
            else:
                rest.append((g_repos, g_people))
        groups = [*rest, (sorted(set(repos)), people)]
    return sorted(groups, key=lambda g: g[0])
