"""Level 3 — Building: repeatable processes, settled stack, registry, more models in production."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

from mlaudit.checks.base import CheckContext, Verdict, evaluator
from mlaudit.checks.evaluators.support import (
    NOT_FRAMEWORKS,
    PASS_SHARE,
    answer_text,
    by_library,
    cite,
    count,
    coverage,
    graded,
    ml_repo_names,
    model_count_verdict,
    names,
    repository_items,
    signal_gap,
    strong,
    survey_answer,
    tools,
    weakness,
    with_survey,
)
from mlaudit.evidence import EvidenceItem, Outcome

#: a share of ML repos above this is "most"
MOST = 0.5
#: `team_activity.merge_share` at or above this counts as commits arriving through merges
MERGE_SHARE = 0.5


@evaluator("L3.ci-tests")
def ci_tests(ctx: CheckContext) -> Verdict | None:
    """Share of ML repos with a `ci_pipeline` whose `runs_tests` is true and that runs by itself
    (on push, pull request, merge, tag, schedule or another pipeline; a workflow started only by
    hand, `triggers: [manual]`, runs tests when someone remembers to): >= 80% -> pass, above 0 ->
    partial, 0 -> fail, or partial where tests run in CI only by hand. No ML repos -> None.
    A repository without tests running in CI whose CI definition does not parse (`ci_invalid`)
    is named, with the file and the parser's words. Tests whose failures CI swallows
    (`tests_ignored`: `pytest || true`, a step allowed to fail) gate nothing: named, partial
    where the repository holds tests, nothing where it holds none."""
    ml = ml_repo_names(ctx)
    if not ml:
        return None
    testing = [c for c in ctx.signal("ci_pipeline", ml) if c.attributes.get("runs_tests")]
    # a test run whose failure is swallowed (`pytest || true`, a step allowed to fail) gates nothing
    gating = [c for c in testing if not c.attributes.get("tests_ignored")]
    runs = [c for c in gating if not _by_hand_only(c)]
    cov = coverage(ml, {c.subject for c in runs}.__contains__)
    outcome = graded(cov.share, PASS_SHARE)
    text = cov.text("CI runs tests") + "."
    by_hand = sorted({c.subject for c in gating} - {c.subject for c in runs})
    if by_hand:
        text += f" Tests run in CI only when started by hand in {names(by_hand)}."
        if outcome is Outcome.FAIL:
            outcome = Outcome.PARTIAL
    swallowed = [c for c in testing if c.attributes.get("tests_ignored")
                 and c.subject not in {r.subject for r in gating}]
    with_tests = {t.subject for t in ctx.signal("automated_tests", ml)}
    if swallowed:
        where = sorted({c.subject for c in swallowed})
        text += (f" CI runs tests but ignores their failures (`|| true`, a step allowed to fail) in "
                 f"{names(where)}")
        if not set(where) & with_tests:
            text += ", which hold no tests for it to run."
        else:
            text += ": a failing test fails no build."
            if outcome is Outcome.FAIL:
                outcome = Outcome.PARTIAL
    idle = sorted({c.subject for c in ctx.signal("ci_pipeline", cov.missing)} - set(by_hand)
                  - {c.subject for c in swallowed})
    if idle:
        text += f" CI exists but runs no tests in {names(idle)}."
    # a CI definition its service refuses (not YAML) runs nothing: say so where nothing else runs
    refused = [r for r in ctx.signal("ci_invalid", cov.missing) if r.subject not in by_hand]
    if refused:
        text += (f" A CI definition is not valid YAML in {names(sorted({r.subject for r in refused}))} "
                 f"({refused[0].locator}: {refused[0].attributes.get('problem')}): its CI service refuses it,"
                 " so it runs nothing.")
    manual = [c for c in gating if c.subject in by_hand]
    return Verdict(outcome, text, cite(runs, manual, swallowed, refused, repository_items(ctx, cov.missing)),
                   cov.metrics())


def _by_hand_only(pipeline: EvidenceItem) -> bool:
    """A CI definition whose only trigger is a person starting it (GitHub's `workflow_dispatch`,
    GitLab's `when: manual`); where the triggers were not read, it is taken to run by itself."""
    triggers = pipeline.attributes.get("triggers") or []
    return bool(triggers) and set(triggers) <= {"manual"}


@evaluator("L3.ml-tests")
def ml_tests(ctx: CheckContext) -> Verdict | None:
    """Share of ML repos with `ml_tests` (tests importing model, feature or data code):
    >= 80% -> pass, above 0 -> partial, 0 -> fail (repos with only generic `automated_tests` are
    named). No ML repos -> None."""
    ml = ml_repo_names(ctx)
    if not ml:
        return None
    tests = ctx.signal("ml_tests", ml)
    cov = coverage(ml, {t.subject for t in tests}.__contains__)
    text = cov.text("Tests exercise model or data code") + "."
    generic = sorted({t.subject for t in ctx.signal("automated_tests", cov.missing)})
    if generic:
        text += f" {names(generic)} have tests, but none exercise ML code."
    return Verdict(
        graded(cov.share, PASS_SHARE),
        text,
        cite(tests, repository_items(ctx, cov.missing)),
        cov.metrics(),
    )


@evaluator("L3.code-review")
def code_review(ctx: CheckContext) -> Verdict | None:
    """Per ML repo, review discipline is any of: a CODEOWNERS file (`code_ownership`), a
    pre-commit/lint config (`pre_commit_or_lint`, not opt-in) or a CI lint step, or most commits
    arriving through merges (`team_activity.merge_share` >= 0.5). More than half of ML repos ->
    pass; some -> partial; none -> fail. No ML repos -> None."""
    ml = ml_repo_names(ctx)
    if not ml:
        return None
    why: dict[str, list[EvidenceItem]] = {}
    for item in ctx.signal("code_ownership", ml) + strong(ctx.signal("pre_commit_or_lint", ml)):
        why.setdefault(item.subject, []).append(item)
    for item in ctx.signal("ci_pipeline", ml):
        if item.attributes.get("lint"):
            why.setdefault(item.subject, []).append(item)
    for item in ctx.signal("team_activity", ml):
        if float(item.attributes.get("merge_share") or 0) >= MERGE_SHARE:
            why.setdefault(item.subject, []).append(item)
    cov = coverage(ml, lambda s: s in why)
    kinds = Counter(i.signal for items in why.values() for i in items)
    detail = ", ".join(f"{k} in {v}" for k, v in sorted(kinds.items()))
    text = cov.text("Review discipline (CODEOWNERS, lint/pre-commit or merge-based history)")
    text += f" ({detail})." if detail else "."
    return Verdict(
        graded(cov.share, MOST, strictly=True),
        text,
        cite(*why.values(), repository_items(ctx, cov.missing)),
        cov.metrics(),
    )


@evaluator("L3.model-registry")
def model_registry(ctx: CheckContext) -> Verdict | None:
    """Planned `registered_model` (M/A: `name`, `versions`, `lineage` = versions linked to a
    training run (int or bool), `approved_versions` for SageMaker model package groups).
    A model with >= 2 versions and lineage, or a package group with approved packages -> pass;
    registered models without that -> partial; a registry that was read and is empty -> fail
    (only MLflow decides: an empty SageMaker registry proves nothing about other registries);
    a registry that could not be read (a gap) -> None. With no registry read, training code that
    registers models (`model_registry_use`, git supports) -> pass; only notebook-only -> partial."""
    models = ctx.signal("registered_model")
    code = ctx.signal("model_registry_use")
    if not models:
        if strong(code):  # git supports: training code registers versions, with their runs
            return Verdict(
                Outcome.PASS,
                f"Models are registered from code ({tools(strong(code))}) in "
                f"{names(i.subject for i in strong(code))}"
                + ("; the registry itself was not read." if not ctx.ran("mlflow") else "."),
                cite(strong(code)),
            )
        if code:
            return Verdict(
                Outcome.PARTIAL,
                f"Model registration is only {weakness(code)} ({tools(code)}) in "
                f"{names(i.subject for i in code)}.",
                cite(code),
            )
        if signal_gap(ctx, "registered_model"):
            return None
        if ctx.ran("mlflow", "aws"):
            return Verdict(
                Outcome.FAIL, "The model registry that was read holds no registered models."
            )
        return Verdict(
            Outcome.FAIL,
            "No code registers model versions (MLflow register_model, SageMaker model packages, "
            "Vertex or Azure ML model uploads).",
        )
    good = [
        m
        for m in models
        if (count(m, "versions") >= 2 and count(m, "lineage") > 0)
        or count(m, "approved_versions") > 0
    ]
    label = lambda m: str(m.attributes.get("name") or m.locator)  # noqa: E731
    metrics = {"registered_models": len(models), "versioned_with_lineage": len(good)}
    if good:
        return Verdict(
            Outcome.PASS,
            f"{len(good)} of {len(models)} registered models have >= 2 versions with "
            f"lineage to training runs or approved packages: {names(map(label, good))}.",
            cite(good, models),
            metrics,
        )
    return Verdict(
        Outcome.PARTIAL,
        f"{len(models)} registered model(s) ({names(map(label, models))}), but none has "
        ">= 2 versions linked to training runs or an approved package.",
        cite(models),
        metrics,
    )


@evaluator("L3.reproducible-environments")
def reproducible_environments(ctx: CheckContext) -> Verdict | None:
    """Per ML repo: pinned dependencies (`dependency_pinning.pinned`) and `containerization`.
    Both in more than half of ML repos -> pass; either in any ML repo -> partial; neither
    anywhere -> fail. No ML repos -> None."""
    ml = ml_repo_names(ctx)
    if not ml:
        return None
    pinned = [p for p in ctx.signal("dependency_pinning", ml) if p.attributes.get("pinned")]
    boxed = ctx.signal("containerization", ml)
    pin_set, box_set = {p.subject for p in pinned}, {b.subject for b in boxed}
    both = coverage(ml, lambda s: s in pin_set and s in box_set)
    metrics = {**both.metrics(), "pinned": len(pin_set), "containerised": len(box_set)}
    text = (
        both.text("Pinned dependencies and containers") + f". Pinned in {len(pin_set)}, "
        f"containerised in {len(box_set)} of {len(ml)} ML repos."
    )
    if both.share > MOST:
        outcome = Outcome.PASS
    elif pin_set or box_set:
        outcome = Outcome.PARTIAL
    else:
        outcome = Outcome.FAIL
    return Verdict(outcome, text, cite(pinned, boxed, repository_items(ctx, both.missing)), metrics)


@evaluator("L3.infrastructure-as-code")
def infrastructure_as_code(ctx: CheckContext) -> Verdict | None:
    """`infrastructure_as_code` declaring ML resources (`ml_resources`) or living in an ML repo, or
    Kubernetes/Helm manifests (`containerization.kind`) in an ML repo -> pass; IaC only in
    non-ML repos without ML resources, or only opt-in -> partial; none -> fail. No repos -> None."""
    if not ctx.repositories():
        return None
    ml = set(ml_repo_names(ctx))
    iac = ctx.signal("infrastructure_as_code")
    k8s = [
        c
        for c in ctx.signal("containerization", ml)
        if str(c.attributes.get("kind")) in ("kubernetes", "helm")
    ]
    ml_iac = [i for i in strong(iac) if i.attributes.get("ml_resources") or i.subject in ml]
    if ml_iac or k8s:
        found = ml_iac + k8s
        return Verdict(
            Outcome.PASS,
            f"ML infrastructure declared in code ({tools(found)}) in "
            f"{names(i.subject for i in found)}.",
            cite(ml_iac, k8s),
        )
    if iac:
        return Verdict(
            Outcome.PARTIAL,
            f"Infrastructure as code ({tools(iac)}) in {names(i.subject for i in iac)}, "
            + ("but only opt-in." if not strong(iac) else "but none declares ML resources."),
            cite(iac),
        )
    return Verdict(
        Outcome.FAIL,
        f"No Terraform, CloudFormation/CDK, Pulumi or Kubernetes/Helm manifests in "
        f"{len(ctx.repositories())} scanned repositories.",
        cite(ctx.ml_repositories()),
    )


@evaluator("L3.settled-stack")
def settled_stack(ctx: CheckContext) -> Verdict | None:
    """The largest share of ML repos that agree on one stack: one `repository.primary_language`,
    imported frameworks (`ml_frameworks`, `imported` only; data/plotting libraries ignored)
    within one set of at most two, and tracking tools (`experiment_tracking.tool`) within one
    (or none). Share >= 80% -> pass, >= 50% -> partial, else fail. S13 (documented standard /
    internal platform) supports; observed decides. No ML repos and no S13 -> None."""
    observed = None
    ml = ctx.ml_repositories()
    if ml:
        profile = {}
        for repo in ml:
            fw = set()
            for census in ctx.signal("ml_frameworks", [repo.subject]):
                frameworks = census.attributes.get("frameworks") or {}
                fw |= {str(k).lower() for k, v in frameworks.items() if v == "imported"}
            trackers = {
                str(t.tool).lower()
                for t in ctx.signal("experiment_tracking", [repo.subject])
                if t.tool
            }
            lang = str(repo.attributes.get("primary_language") or "unknown").lower()
            profile[repo.subject] = (lang, fw - NOT_FRAMEWORKS, trackers)
        best, best_stack = _best_stack(profile)
        n = len(profile)
        share = len(best) / n
        lang, fws, trk = best_stack
        outliers = sorted(set(profile) - set(best))
        if best:
            stack = f"{lang}, {'+'.join(sorted(fws)) or 'no ML framework'}, {trk or 'no tracker'}"
            text = f"{len(best)} of {n} ML repos share one stack ({stack})"
            text += f"; diverging: {names(outliers)}." if outliers else "."
        else:
            text = (
                f"No stack of one language, at most two ML frameworks and one tracker fits any of "
                f"the {n} ML repos: "
                + "; ".join(
                    f"{s} uses {'+'.join(sorted(profile[s][1])) or 'no ML framework'}"
                    f" and {'+'.join(sorted(profile[s][2])) or 'no tracker'}"
                    for s in sorted(profile)[:6]
                )
                + "."
            )
        outcome = (
            Outcome.PASS
            if share >= PASS_SHARE
            else Outcome.PARTIAL
            if share >= 0.5
            else Outcome.FAIL
        )
        cited = cite(
            repository_items(ctx, outliers),
            ctx.signal("ml_frameworks", outliers),
            repository_items(ctx, best),
        )
        observed = Verdict(
            outcome, text, cited, {"conforming": len(best), "total": n, "share": round(share, 3)}
        )
    claimed = None
    s13 = survey_answer(ctx, "S13")
    if s13 is not None:
        answer = answer_text(s13)
        ok = "standard" in answer or "platform" in answer
        claimed = Verdict(
            Outcome.PASS if ok else Outcome.FAIL, f"S13: {answer} (self-reported)", [s13]
        )
    return with_survey(observed, claimed, "S13")


def _best_stack(profile: dict[str, tuple[str, set[str], set[str]]]) -> tuple[list[str], tuple]:
    """The (language, <= 2 frameworks, <= 1 tracker) choice that most repos conform to."""
    langs = sorted({p[0] for p in profile.values()})
    all_fw = sorted(set().union(*(p[1] for p in profile.values())))
    all_trk = sorted(set().union(*(p[2] for p in profile.values())))
    fw_sets = [frozenset(c) for k in (0, 1, 2) for c in combinations(all_fw, k)] or [frozenset()]
    trk_sets = [frozenset()] + [frozenset([t]) for t in all_trk]
    best: list[str] = []
    best_stack: tuple = (langs[0] if langs else "unknown", frozenset(), "")
    for lang in langs:
        for fws in fw_sets:
            for trk in trk_sets:
                ok = [
                    s
                    for s, (lg, fw, tr) in sorted(profile.items())
                    if lg == lang and fw <= fws and tr <= trk
                ]
                if len(ok) > len(best):
                    best, best_stack = ok, (lang, fws, next(iter(trk), ""))
    return best, best_stack


@evaluator("L3.data-validation")
def data_validation(ctx: CheckContext) -> Verdict | None:
    """Planned `gx_suite` (X: `name`, `expectations`) with expectations, or data checks written
    with a validation library in code (`data_validation` of a tool, not notebook-only/opt-in) in
    any repo -> pass; only hand-written checks (`tool: custom`: the rubric asks for expectations
    captured in GX, pandera, deepchecks, TFDV, Soda or dbt tests), only weak code signals, or
    empty suites -> partial; nothing, with repos scanned -> fail
    (a GX project without suites alone is not a fail: checks may live in code)."""
    suites = ctx.signal("gx_suite")
    filled = [s for s in suites if count(s, "expectations") > 0]
    code = ctx.signal("data_validation")
    library, custom = by_library(code)
    if filled or library:
        parts = []
        if filled:
            parts.append(f"{len(filled)} expectation suite(s) with expectations")
        if library:
            parts.append(
                f"data checks in code ({tools(library)}) in "
                f"{names(i.subject for i in library)}"
            )
        return Verdict(
            Outcome.PASS,
            "Data expectations are captured: " + "; ".join(parts) + ".",
            cite(filled, library),
        )
    if suites or code:
        parts = []
        if custom:
            parts.append(f"only hand-written data checks (no validation library) in "
                         f"{names(i.subject for i in custom)}")
        elif code:
            parts.append(f"only {weakness(code)} data checks in {names(i.subject for i in code)}")
        if suites:
            parts.append(f"{len(suites)} expectation suite(s) without expectations")
        return Verdict(Outcome.PARTIAL, "; ".join(parts).capitalize() + ".", cite(custom or code, suites))
    if ctx.repositories():  # no GX suites alone is not a fail: checks may live in code
        return Verdict(
            Outcome.FAIL,
            f"No data validation (GX, pandera, deepchecks, TFDV, Soda, dbt tests) in "
            f"{len(ctx.repositories())} scanned repositories"
            + (" or the GX project" if ctx.ran("gx") else "")
            + ".",
            cite(ctx.ml_repositories()),
        )
    return None


@evaluator("L3.multiple-models-in-production")
def multiple_models_in_production(ctx: CheckContext) -> Verdict | None:
    """Production models (InService `endpoint`s by model, `registered_model`s with a production
    alias/stage): >= 2 -> pass, 1 -> partial, 0 -> fail when endpoints or a registry were read.
    S6 cross-checked (observed decides); S6 alone is self-reported."""
    return model_count_verdict(ctx, 2)


SPECIALISED = ("dedicated ml pm", "data engineer", "ml architect", "qa engineer")


@evaluator("L3.specialised-roles")
def specialised_roles(ctx: CheckContext) -> Verdict | None:
    """Survey only (S5): of dedicated ML PM, data engineer, ML architect, QA engineer, >= 3
    filled -> pass, 1-2 -> partial, none -> fail."""
    s5 = survey_answer(ctx, "S5")
    if s5 is None:
        return None
    answer = answer_text(s5)
    have = [r for r in SPECIALISED if r in answer]
    outcome = Outcome.PASS if len(have) >= 3 else Outcome.PARTIAL if have else Outcome.FAIL
    missing = [r for r in SPECIALISED if r not in have]
    return Verdict(
        outcome,
        f"S5: {len(have)} of {len(SPECIALISED)} specialised roles filled"
        + (f"; missing {', '.join(missing)}." if missing else "."),
        [s5],
    )


@evaluator("L3.ml-process")
def ml_process(ctx: CheckContext) -> Verdict | None:
    """Survey only (S7): Agile adapted to ML, Kanban or a documented lifecycle -> pass;
    ad hoc -> fail."""
    s7 = survey_answer(ctx, "S7")
    if s7 is None:
        return None
    answer = answer_text(s7)
    ok = any(w in answer for w in ("agile", "kanban", "lifecycle"))
    return Verdict(Outcome.PASS if ok else Outcome.FAIL, f"S7: {answer or 'no answer'}.", [s7])


@evaluator("L3.go-to-market")
def go_to_market(ctx: CheckContext) -> Verdict | None:
    """Survey only (S9): in product with personas and sales enablement -> pass; pilot ->
    partial; not yet -> fail."""
    s9 = survey_answer(ctx, "S9")
    if s9 is None:
        return None
    answer = answer_text(s9)
    if "persona" in answer or "enablement" in answer:
        outcome = Outcome.PASS
    elif "pilot" in answer:
        outcome = Outcome.PARTIAL
    else:
        outcome = Outcome.FAIL
    return Verdict(outcome, f"S9: {answer or 'no answer'}.", [s9])
