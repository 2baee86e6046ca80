"""The rubric as data, the evaluators and the runner."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from mlaudit.checks import CheckContext, load_definitions, run_checks
from mlaudit.checks.base import DIMENSIONS, EVALUATORS, CheckDef, Verdict
from mlaudit.checks.definitions import RubricError, check_registry, parse_definitions
from mlaudit.evidence import EvidenceItem, Outcome, Provenance

ROOT = Path(__file__).resolve().parents[1]
RUBRIC_MD = ROOT.parent / "shared" / "design" / "rubric.md"
FRAMEWORK = ROOT.parent / "shared" / "seed" / "ml-maturity-framework.txt"


def _design(path: Path) -> Path:
    """The design documents live beside the checkout (../shared), as in every workplace and in
    CI; a checkout copied elsewhere without them skips these comparisons — except in CI."""
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI lays shared/ beside the checkout")
        pytest.skip(f"{path} is not beside this checkout")
    return path
DEFS = {d.id: d for d in load_definitions()}


# ------------------------------------------------------------------------------ builders
def ev(signal: str, subject: str = "a", collector: str = "git", **attributes) -> EvidenceItem:
    return EvidenceItem(
        collector, signal, f"{subject}:{signal}@0123456789ab", subject, attributes=attributes
    )


def repo(name: str, is_ml: bool = True, **attributes) -> EvidenceItem:
    return ev("repository", name, is_ml=is_ml, name=name, primary_language="Python", **attributes)


def survey(question: str, answer, **attributes) -> EvidenceItem:
    return EvidenceItem(
        "survey",
        "survey_answer",
        f"survey:{question}",
        "survey",
        Provenance.SELF_REPORTED,
        {"question": question, "answer": answer, **attributes},
    )


def ctx(
    *items: EvidenceItem, available: str = "G", failed: dict | None = None, gaps: dict | None = None
) -> CheckContext:
    return CheckContext(
        evidence=list(items), available=set(available), failed=failed or {}, gaps=gaps or {}
    )


def run(check_id: str, *items: EvidenceItem, available: str = "G", **kw):
    """The finding of one check through the runner."""
    (finding,) = run_checks(ctx(*items, available=available, **kw), defs=[DEFS[check_id]])
    return finding


def ml_repos(*names: str) -> list[EvidenceItem]:
    return [repo(n) for n in names]


# ------------------------------------------------------------------------------ rubric as data
def _rubric_md_checks() -> dict[str, tuple[str, tuple[str, ...]]]:
    rows = {}
    for line in _design(RUBRIC_MD).read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `(L[1-5]\.[a-z0-9-]+)` \| (\w+) \| ([A-Z, ]+) \|", line)
        if m:
            rows[m.group(1)] = (m.group(2), tuple(x.strip() for x in m.group(3).split(",")))
    return rows


def test_definitions_match_rubric_md():
    md = _rubric_md_checks()
    assert len(md) == 39  # the rubric's tables, parsed independently
    assert list(DEFS) == list(md), "same IDs, in rubric order"
    for check_id, (dim, collectors) in md.items():
        d = DEFS[check_id]
        assert d.level == int(check_id[1]), check_id
        assert d.dimension == dim, check_id
        # the rubric's sources come first, in its order; sources added here only support
        assert d.collectors[: len(collectors)] == collectors, check_id
        assert not set(d.collectors[len(collectors) :]) & set(d.decides), check_id


def test_survey_questions_named_in_rubric_are_in_definitions():
    text = _design(RUBRIC_MD).read_text(encoding="utf-8")
    for line in text.splitlines():
        m = re.match(r"^\| `(L[1-5]\.[a-z0-9-]+)` \|.*\|(.*)\|(.*)\|$", line)
        if m:
            named = set(re.findall(r"\bS\d+\b", m.group(2)))
            assert named <= set(DEFS[m.group(1)].survey), m.group(1)


def test_framework_passages_are_verbatim():
    source = " ".join(_design(FRAMEWORK).read_text(encoding="utf-8").split())
    for d in DEFS.values():
        assert d.framework, d.id
        for passage in d.framework.split(" … "):  # an ellipsis joins passages that are apart
            assert passage in source, (d.id, passage)


def test_every_definition_is_complete():
    for d in DEFS.values():
        assert d.title and d.criterion and d.anchors, d.id
        assert 40 <= len(d.remediation) <= 400, d.id
        assert d.dimension in DIMENSIONS
        if "S" in d.collectors and d.collectors != ("A", "G", "S"):
            assert d.survey, d.id


def test_every_definition_has_exactly_one_evaluator():
    assert set(EVALUATORS) == set(DEFS)


def test_load_definitions_is_cached_but_returns_a_fresh_list():
    a, b = load_definitions(), load_definitions()
    assert a == b and a is not b
    assert a[0] is b[0]


GOOD = {
    "id": "L3.x",
    "level": 3,
    "dimension": "process",
    "title": "t",
    "criterion": "c",
    "collectors": ["G"],
    "remediation": "r",
    "framework": "f",
    "decides": ["G"],
}


@pytest.mark.parametrize(
    "entry, message",
    [
        ({**GOOD, "level": 2}, "does not match"),
        ({**GOOD, "dimension": "finance"}, "dimension"),
        ({**GOOD, "id": "3.x"}, "L<level>"),
        ({**GOOD, "collectors": ["Q"]}, "collectors"),
        ({**GOOD, "remediation": ""}, "missing remediation"),
        ({**GOOD, "collectors": ["S"]}, "survey-only"),
        ({**GOOD, "survey": ["S1"]}, "not the survey"),
        ({k: v for k, v in GOOD.items() if k != "decides"}, "decides"),
        ({**GOOD, "decides": ["M"]}, "only name sources listed"),
        ({**GOOD, "implied_by": [{"because": "x"}]}, "needs `because` and `signals`"),
        ({**GOOD, "implied_by": [{"because": "x", "signals": ["Bad Signal"]}]}, "malformed"),
    ],
)
def test_parse_definitions_refuses_bad_entries(entry, message):
    with pytest.raises(RubricError, match=message):
        parse_definitions([entry])


def test_parse_definitions_refuses_duplicates():
    with pytest.raises(RubricError, match="duplicate"):
        parse_definitions([GOOD, GOOD])


def test_registry_check_names_missing_and_stray_evaluators():
    defs = parse_definitions([GOOD])
    with pytest.raises(RubricError, match="no evaluator registered for: L3.x"):
        check_registry(defs, set())
    with pytest.raises(RubricError, match="without a definition.*L9.y"):
        check_registry(defs, {"L3.x", "L9.y"})


# ------------------------------------------------------------------------------ every evaluator
RICH_GIT = [
    *ml_repos("alpha", "beta"),
    repo("web", is_ml=False),
    ev("ci_pipeline", "alpha", runs_tests=True, schedules=["0 3 * * 1"], ml_steps=["train"]),
    ev("ml_tests", "alpha"),
    ev("automated_tests", "beta"),
    ev("experiment_tracking", "alpha", tool="mlflow"),
    ev("ml_frameworks", "alpha", frameworks={"torch": "imported"}),
    ev("model_serving", "beta", tool="fastapi"),
    ev("containerization", "beta", kind="dockerfile"),
    ev("dependency_pinning", "beta", pinned=True),
    ev("orchestration", "alpha", tool="airflow", schedule="@daily"),
    ev("model_monitoring", "alpha", tool="evidently"),
    ev("notebooks", "alpha", count=3, share_of_code=0.2),
    ev("team_activity", "alpha", contributor_ids=["h1", "h2"], merge_share=0.8, window_days=180),
    ev("data_pipeline", "web", tool="dbt"),
    ev("warehouse", "web", tool="snowflake"),
]


@pytest.mark.parametrize("check_id", sorted(DEFS))
@pytest.mark.parametrize(
    "items", [[], [repo("web", is_ml=False)], RICH_GIT], ids=["empty", "no-ml", "rich-git"]
)
def test_every_evaluator_runs_on_git_only_contexts(check_id, items):
    result = EVALUATORS[check_id](ctx(*items, available="G"))
    assert result is None or isinstance(result, Verdict)
    if result is not None:
        assert result.outcome in (Outcome.PASS, Outcome.PARTIAL, Outcome.FAIL)
        assert result.explanation
        assert len(result.evidence) <= 10


@pytest.mark.parametrize("check_id", sorted(DEFS))
def test_every_evaluator_runs_on_an_empty_context_with_every_source(check_id):
    result = EVALUATORS[check_id](ctx(available="GMAXS"))
    assert result is None or isinstance(result, Verdict)


def test_empty_git_context_gives_only_unknowns():
    assert {f.outcome for f in run_checks(ctx(available="G"))} == {Outcome.UNKNOWN}


def test_evaluators_never_depend_on_which_collector_produced_an_item():
    renamed = [replace(i, collector="elsewhere") for i in RICH_GIT]
    a = [(f.check_id, f.outcome, f.explanation) for f in run_checks(ctx(*RICH_GIT))]
    b = [(f.check_id, f.outcome, f.explanation) for f in run_checks(ctx(*renamed))]
    assert a == b


# ------------------------------------------------------------------------------ level 1
def test_ml_code_versioned():
    assert run("L1.ml-code-versioned", *ml_repos("a")).outcome == Outcome.PASS
    f = run("L1.ml-code-versioned", repo("web", is_ml=False), repo("api", is_ml=False))
    assert f.outcome == Outcome.FAIL and "2 scanned" in f.explanation and len(f.evidence) == 2
    assert run("L1.ml-code-versioned").outcome == Outcome.UNKNOWN


def test_data_audit():
    assert run("L1.data-audit", ev("data_audit", kind="data dictionary")).outcome == Outcome.PASS
    weak = run("L1.data-audit", ev("data_audit", kind="profiling", notebook_only=True))
    assert weak.outcome == Outcome.PARTIAL and "notebook-only" in weak.explanation
    # a catalogue alone is partial support, but the rubric lists a catalogue among the practices
    # that imply a data audit: the inferred pass outranks partial support from a non-deciding source
    catalogue = run("L1.data-audit", ev("data_catalog", tool="datahub"))
    assert catalogue.outcome == Outcome.PASS and catalogue.provenance == "inferred"
    assert "Some support for a data audit" in catalogue.explanation
    # git is the only witness without a survey: ML repos with no artefact at all -> fail
    # git only supports a data audit: its silence leaves the check unknown, saying what decides it
    absent = run("L1.data-audit", *ml_repos("a"))
    assert absent.outcome == Outcome.UNKNOWN and "silence proves nothing" in absent.explanation
    assert absent.missing == ["answer survey question S3", "configure AWS access (aws:)"]
    assert absent.metrics["outcome_on_silence"] == "fail"
    # ... and a higher practice that cannot exist without one implies it (inferred)
    implied = run("L1.data-audit", *ml_repos("a"), ev("data_validation", "a", tool="pandera"))
    assert implied.outcome == Outcome.PASS and implied.provenance == "inferred"
    assert implied.metrics["inferred_from"] == ["data_validation"]
    assert implied.evidence[0].attributes["implies"] == "L1.data-audit"
    assert implied.evidence[0].locator == "a:data_validation@0123456789ab"
    # notebook-only or opt-in evidence of the higher practice implies nothing
    weak_only = run(
        "L1.data-audit", *ml_repos("a"), ev("data_validation", "a", tool="gx", notebook_only=True)
    )
    assert weak_only.outcome == Outcome.UNKNOWN


def test_data_audit_survey_and_contradiction():
    assert run("L1.data-audit", survey("S3", "complete"), available="S").outcome == Outcome.PASS
    assert run("L1.data-audit", survey("S3", "partial"), available="S").outcome == Outcome.PARTIAL
    f = run("L1.data-audit", survey("S3", "no"), ev("data_audit", kind="inventory"), available="GS")
    assert f.outcome == Outcome.PASS
    assert f.metrics["contradicted_claim"] == {
        "question": "S3",
        "claimed": "fail",
        "observed": "pass",
    }
    assert "Contradicted claim" in f.explanation


# ------------------------------------------------------------------------------ level 2
def test_first_hires():
    two = run(
        "L2.first-hires",
        *ml_repos("a", "b"),
        ev("team_activity", "a", contributor_ids=["x"]),
        ev("team_activity", "b", contributor_ids=["y"]),
    )
    assert two.outcome == Outcome.PASS and "2 distinct" in two.explanation
    one = run("L2.first-hires", *ml_repos("a"), ev("team_activity", "a", contributor_ids=["x"]))
    # one committer proves nothing about hires (a PM does not commit): unknown, not fail
    assert one.outcome == Outcome.UNKNOWN and "Only one human" in one.explanation
    assert run("L2.first-hires", *ml_repos("a")).outcome == Outcome.UNKNOWN
    # activity of non-ML repos does not count
    other = run(
        "L2.first-hires",
        *ml_repos("a"),
        repo("web", is_ml=False),
        ev("team_activity", "a", contributor_ids=["x"]),
        ev("team_activity", "web", contributor_ids=["y"]),
    )
    assert other.outcome == Outcome.UNKNOWN and "Only one human" in other.explanation


def test_first_hires_survey_only():
    roles = ["PM with ML experience", "ML scientist", "ML engineer"]
    assert run("L2.first-hires", survey("S5", roles), available="S").outcome == Outcome.PASS
    assert run("L2.first-hires", survey("S5", roles[:2]), available="S").outcome == Outcome.PARTIAL


def test_experiment_tracking():
    code = run(
        "L2.experiment-tracking", *ml_repos("a", "b"), ev("experiment_tracking", "a", tool="mlflow")
    )
    # code that logs to a tracker is tracking; no tracker was read to count the runs
    assert code.outcome == Outcome.PASS and "1 of 2 ML repos" in code.explanation
    assert "no tracker was read" in code.explanation
    nb = ev("experiment_tracking", "a", tool="mlflow", notebook_only=True)
    assert run("L2.experiment-tracking", *ml_repos("a"), nb).outcome == Outcome.PARTIAL
    # many mature teams track nothing in code (the tracker decides): git's silence is unknown
    silent = run("L2.experiment-tracking", *ml_repos("a"))
    assert silent.outcome == Outcome.UNKNOWN and "decided by MLflow" in silent.explanation
    # registering models from runs implies tracking
    reg = ev("model_registry_use", "a", tool="mlflow")
    inferred = run("L2.experiment-tracking", repo("a", is_ml=False), reg)
    assert inferred.outcome == Outcome.PASS and inferred.provenance == "inferred"
    runs = ev(
        "experiment_runs",
        "mlflow-server",
        collector="mlflow",
        experiment="churn",
        runs_in_window=12,
    )
    assert run("L2.experiment-tracking", runs, available="M").outcome == Outcome.PASS
    stale = ev("experiment_runs", "mlflow-server", experiment="churn", runs_in_window=0)
    mixed = run(
        "L2.experiment-tracking",
        stale,
        *ml_repos("a"),
        ev("experiment_tracking", "a", tool="mlflow"),
        available="GM",
    )
    assert mixed.outcome == Outcome.PARTIAL


def test_data_pipeline():
    assert (
        run(
            "L2.data-pipeline", repo("etl", is_ml=False), ev("data_pipeline", "etl", tool="glue")
        ).outcome
        == Outcome.PASS
    )
    assert (
        run(
            "L2.data-pipeline",
            *ml_repos("a"),
            ev("data_pipeline", "a", tool="spark", notebook_only=True),
        ).outcome
        == Outcome.PARTIAL
    )
    # ETL often lives outside the ML repositories: git's silence leaves it unknown
    assert run("L2.data-pipeline", *ml_repos("a")).outcome == Outcome.UNKNOWN
    job = ev("glue_job_run", "acct", job="nightly", runs_in_window=30)
    assert run("L2.data-pipeline", job, available="A").outcome == Outcome.PASS


def test_model_in_production():
    served = [*ml_repos("a", "b"), ev("model_serving", "a", tool="fastapi")]
    assert run("L2.model-in-production", *served).outcome == Outcome.PARTIAL
    boxed = run("L2.model-in-production", *served, ev("containerization", "a", kind="dockerfile"))
    assert boxed.outcome == Outcome.PASS and "1 of 2 ML repos" in boxed.explanation
    # a container in another repo does not make a's serving code deployable
    assert (
        run(
            "L2.model-in-production", *served, ev("containerization", "b", kind="dockerfile")
        ).outcome
        == Outcome.PARTIAL
    )
    # no serving code in git proves nothing (models are served from elsewhere) ...
    assert run("L2.model-in-production", *ml_repos("a")).outcome == Outcome.UNKNOWN
    # ... but endpoints that were read and serve nothing do
    down = ev("endpoint", "acct", name="ep", status="Failed")
    assert run("L2.model-in-production", down, available="A").outcome == Outcome.FAIL
    # monitoring a model implies the model is in production
    mon = ev("model_monitoring", "a", tool="evidently")
    assert run("L2.model-in-production", *ml_repos("a"), mon).provenance == "inferred"
    live = ev("endpoint", "acct", name="churn-ep", status="InService", model="churn")
    assert run("L2.model-in-production", live, available="A").outcome == Outcome.PASS
    alias = ev("registered_model", "mlflow", name="churn", aliases=["production"], versions=3)
    assert run("L2.model-in-production", alias, available="M").outcome == Outcome.PASS


def test_cloud_compute():
    assert (
        run("L2.cloud-compute", *ml_repos("a"), ev("training_infra", "a", tool="sagemaker")).outcome
        == Outcome.PASS
    )
    iac = ev(
        "infrastructure_as_code", "infra", tool="terraform", ml_resources=["aws_sagemaker_domain"]
    )
    assert run("L2.cloud-compute", *ml_repos("a"), iac).outcome == Outcome.PASS
    assert (
        run(
            "L2.cloud-compute",
            *ml_repos("a"),
            ev("training_infra", "a", tool="vertex", notebook_only=True),
        ).outcome
        == Outcome.PARTIAL
    )
    # compute can be chosen on any cloud: no source's silence decides it
    assert run("L2.cloud-compute", *ml_repos("a"), available="GA").outcome == Outcome.UNKNOWN


def test_cloud_compute_counts_cluster_manifests_by_what_trains_there():
    """Kubernetes manifests and Helm charts holding only serving (KServe, Seldon) are not the
    compute a team trains on; their training workloads count, as training infrastructure."""
    serving = ev("infrastructure_as_code", "a", tool="kubernetes", ml_resources=True,
                 kinds=["InferenceService", "Service"])
    chart = ev("infrastructure_as_code", "a", tool="helm", ml_resources=True)
    verdict = run("L2.cloud-compute", *ml_repos("a"), serving, chart)
    # (git's silence on training compute is unknown, not fail: other clouds exist)
    assert verdict.outcome == Outcome.UNKNOWN
    assert "Kubernetes manifests or Helm charts in a serve or host models, none trains one" \
        in verdict.explanation
    trains = ev("training_infra", "a", tool="kubeflow_training_operator")
    assert run("L2.cloud-compute", *ml_repos("a"), serving, trains).outcome == Outcome.PASS
    # the same serving declared in Terraform is still cloud compute chosen in code
    tf = ev("infrastructure_as_code", "a", tool="terraform", ml_resources=True)
    assert run("L2.cloud-compute", *ml_repos("a"), serving, tf).outcome == Outcome.PASS


# ------------------------------------------------------------------------------ level 3
def test_ci_tests_counts_and_names_repos():
    names = ["a", "b", "c", "d", "e"]
    ci = [ev("ci_pipeline", n, runs_tests=True) for n in names[:4]]
    assert run("L3.ci-tests", *ml_repos(*names), *ci).outcome == Outcome.PASS
    f = run("L3.ci-tests", *ml_repos(*names), *ci[:2], ev("ci_pipeline", "c", runs_tests=False))
    assert f.outcome == Outcome.PARTIAL
    assert "2 of 5 ML repos: a, b; missing in c, d, e" in f.explanation
    assert "runs no tests in c" in f.explanation
    assert f.metrics == {"covered": 2, "total": 5, "share": 0.4}
    assert {e.subject for e in f.evidence} >= {"a", "b"}
    assert run("L3.ci-tests", *ml_repos(*names)).outcome == Outcome.FAIL
    assert run("L3.ci-tests", repo("web", is_ml=False)).outcome == Outcome.UNKNOWN


def test_ci_tests_started_only_by_hand_are_partial():
    """A workflow started only by hand (`workflow_dispatch`) runs the tests when someone remembers
    to: it is named, and makes the check partial, not a pass; a push or schedule trigger beside it
    (or triggers that were not read, as in Jenkins) counts as CI running the tests."""
    by_hand = ev("ci_pipeline", "a", runs_tests=True, triggers=["manual"])
    f = run("L3.ci-tests", *ml_repos("a"), by_hand, ev("ci_pipeline", "a", runs_tests=False, triggers=["push"]))
    assert f.outcome == Outcome.PARTIAL
    assert "Tests run in CI only when started by hand in a." in f.explanation
    assert "runs no tests" not in f.explanation
    assert by_hand in f.evidence
    for triggers in (["manual", "push"], ["schedule"], None):
        attrs = {"triggers": triggers} if triggers else {}
        assert run("L3.ci-tests", *ml_repos("a"), ev("ci_pipeline", "a", runs_tests=True, **attrs)).outcome \
            == Outcome.PASS, triggers
    # one repository tested on push, another only by hand: 1 of 2 covered
    f = run("L3.ci-tests", *ml_repos("a", "b"), ev("ci_pipeline", "a", runs_tests=True, triggers=["push"]),
            ev("ci_pipeline", "b", runs_tests=True, triggers=["manual"]))
    assert f.outcome == Outcome.PARTIAL and f.metrics["covered"] == 1


def test_ml_tests():
    assert (
        run("L3.ml-tests", *ml_repos("a"), ev("ml_tests", "a", targets=["train"])).outcome
        == Outcome.PASS
    )
    f = run("L3.ml-tests", *ml_repos("a", "b"), ev("ml_tests", "a"), ev("automated_tests", "b"))
    assert f.outcome == Outcome.PARTIAL and "none exercise ML code" in f.explanation
    assert run("L3.ml-tests", *ml_repos("a"), ev("automated_tests", "a")).outcome == Outcome.FAIL


def test_code_review():
    repos = ml_repos("a", "b", "c")
    assert (
        run(
            "L3.code-review",
            *repos,
            ev("code_ownership", "a"),
            ev("pre_commit_or_lint", "b"),
        ).outcome
        == Outcome.PASS
    )
    assert run("L3.code-review", *repos, ev("code_ownership", "a")).outcome == Outcome.PARTIAL
    assert (
        run(
            "L3.code-review",
            *repos,
            ev("team_activity", "a", merge_share=0.2),
            ev("pre_commit_or_lint", "b", opt_in=True),
        ).outcome
        == Outcome.FAIL
    )
    merged = [ev("team_activity", n, merge_share=0.9) for n in ("a", "b")]
    assert run("L3.code-review", *repos, *merged).outcome == Outcome.PASS


def test_reproducible_environments():
    repos = ml_repos("a", "b", "c")
    both = [ev("dependency_pinning", n, pinned=True) for n in "ab"] + [
        ev("containerization", n, kind="dockerfile") for n in "ab"
    ]
    assert run("L3.reproducible-environments", *repos, *both).outcome == Outcome.PASS
    assert (
        run(
            "L3.reproducible-environments", *repos, ev("dependency_pinning", "a", pinned=True)
        ).outcome
        == Outcome.PARTIAL
    )
    assert (
        run(
            "L3.reproducible-environments", *repos, ev("dependency_pinning", "a", pinned=False)
        ).outcome
        == Outcome.FAIL
    )


def test_infrastructure_as_code():
    assert (
        run(
            "L3.infrastructure-as-code",
            *ml_repos("a"),
            repo("infra", is_ml=False),
            ev("infrastructure_as_code", "infra", tool="terraform", ml_resources=["x"]),
        ).outcome
        == Outcome.PASS
    )
    assert (
        run(
            "L3.infrastructure-as-code", *ml_repos("a"), ev("containerization", "a", kind="helm")
        ).outcome
        == Outcome.PASS
    )
    f = run(
        "L3.infrastructure-as-code",
        *ml_repos("a"),
        repo("infra", is_ml=False),
        ev("infrastructure_as_code", "infra", tool="terraform"),
    )
    assert f.outcome == Outcome.PARTIAL and "none declares ML resources" in f.explanation
    assert run("L3.infrastructure-as-code", *ml_repos("a")).outcome == Outcome.FAIL


def _stack(name, frameworks, tracker=None, language="Python"):
    items = [
        ev("repository", name, is_ml=True, primary_language=language),
        ev("ml_frameworks", name, frameworks={f: "imported" for f in frameworks}),
    ]
    if tracker:
        items.append(ev("experiment_tracking", name, tool=tracker))
    return items


def test_settled_stack():
    same = [*_stack("a", ["torch", "numpy", "pandas"], "mlflow"), *_stack("b", ["torch"], "mlflow")]
    f = run("L3.settled-stack", *same)
    assert f.outcome == Outcome.PASS and "2 of 2" in f.explanation
    # two frameworks are fine, a third framework in one repo of two is half the repos
    mixed = [*_stack("a", ["torch", "sklearn"]), *_stack("b", ["tensorflow", "xgboost"])]
    assert run("L3.settled-stack", *mixed).outcome == Outcome.PARTIAL
    spread = [
        *_stack("a", ["torch"], "mlflow"),
        *_stack("b", ["torch"], "wandb"),
        *_stack("c", ["torch"], "mlflow", language="R"),
        *_stack("d", ["jax", "flax", "optax"]),
    ]
    f = run("L3.settled-stack", *spread)
    assert f.outcome == Outcome.FAIL and "diverging: b, c, d" in f.explanation
    declared = [
        *_stack("a", ["torch"]),
        ev("repository", "b", is_ml=True, primary_language="Python"),
        ev("ml_frameworks", "b", frameworks={"tensorflow": "declared_only", "torch": "imported"}),
    ]
    assert run("L3.settled-stack", *declared).outcome == Outcome.PASS


def test_data_validation():
    assert (
        run(
            "L3.data-validation", *ml_repos("a"), ev("data_validation", "a", tool="pandera")
        ).outcome
        == Outcome.PASS
    )
    assert (
        run(
            "L3.data-validation",
            *ml_repos("a"),
            ev("data_validation", "a", tool="great_expectations", notebook_only=True),
        ).outcome
        == Outcome.PARTIAL
    )
    assert run("L3.data-validation", *ml_repos("a")).outcome == Outcome.FAIL
    suite = ev("gx_suite", "gx", collector="gx", name="orders", expectations=12)
    assert run("L3.data-validation", suite, available="X").outcome == Outcome.PASS


def test_model_registry():
    good = ev("registered_model", "mlflow", name="churn", versions=3, lineage=3)
    assert run("L3.model-registry", good, available="M").outcome == Outcome.PASS
    thin = ev("registered_model", "mlflow", name="churn", versions=1, lineage=1)
    assert run("L3.model-registry", thin, available="M").outcome == Outcome.PARTIAL
    assert run("L3.model-registry", available="M").outcome == Outcome.FAIL
    gap = run(
        "L3.model-registry",
        available="M",
        gaps={"registered_model": "403 on search_registered_models"},
    )
    assert gap.outcome == Outcome.UNKNOWN
    package = ev("registered_model", "acct", name="pkg", kind="sagemaker", approved_versions=1)
    assert run("L3.model-registry", package, available="A").outcome == Outcome.PASS


def test_models_in_production_counts():
    eps = [
        ev("endpoint", "acct", name=f"ep{i}", model=f"m{i}", status="InService") for i in range(3)
    ]
    assert run("L3.multiple-models-in-production", *eps[:2], available="A").outcome == Outcome.PASS
    assert run("L3.multiple-models-in-production", eps[0], available="A").outcome == Outcome.PARTIAL
    down = ev("endpoint", "acct", name="ep", status="Failed")
    assert run("L3.multiple-models-in-production", down, available="A").outcome == Outcome.FAIL
    assert run("L5.many-models-in-production", *eps, available="A").outcome == Outcome.FAIL
    f = run("L3.multiple-models-in-production", eps[0], survey("S6", 5), available="AS")
    assert f.outcome == Outcome.PARTIAL and "contradicted_claim" in f.metrics
    assert (
        run("L3.multiple-models-in-production", survey("S6", 4), available="S").outcome
        == Outcome.PASS
    )


# ------------------------------------------------------------------------------ level 4
def test_orchestration():
    dag = ev("orchestration", "a", tool="airflow")
    f = run("L4.orchestration", *ml_repos("a"), dag)
    assert f.outcome == Outcome.PASS and "executions were not observed" in f.explanation
    runs = ev(
        "pipeline_execution",
        "acct",
        tool="sagemaker-pipelines",
        name="train",
        executions_in_window=9,
    )
    assert (
        run("L4.orchestration", *ml_repos("a"), dag, runs, available="GA").outcome == Outcome.PASS
    )
    weak = run(
        "L4.orchestration", *ml_repos("a"), ev("orchestration", "a", tool="kfp", opt_in=True)
    )
    assert weak.outcome == Outcome.FAIL and "opt-in" in weak.explanation
    assert run("L4.orchestration", *ml_repos("a")).outcome == Outcome.FAIL


@pytest.mark.parametrize(
    "check_id",
    [
        "L2.data-pipeline",
        "L2.cloud-compute",
        "L4.orchestration",
        "L4.data-catalog",
        "L4.warehouse-etl",
        "L4.scheduled-retraining",
        "L5.feature-store",
    ],
)
def test_absence_on_aws_alone_is_unknown_not_fail(check_id):
    assert run(check_id, available="A").outcome == Outcome.UNKNOWN
    # git decides only where the practice lives in repositories (pipelines and their schedules,
    # and the feature store the ML code reads from); ETL, compute, catalogues and warehouses
    # often live elsewhere
    expected = Outcome.FAIL if "G" in DEFS[check_id].decides else Outcome.UNKNOWN
    assert run(check_id, *ml_repos("a"), available="GA").outcome == expected
    assert expected == Outcome.UNKNOWN or check_id in ("L4.orchestration", "L4.scheduled-retraining",
                                                       "L5.feature-store")


def test_model_monitoring_from_git():
    mon = ev("model_monitoring", "a", tool="evidently")
    f = run("L4.model-monitoring", *ml_repos("a"), mon)
    assert f.outcome == Outcome.PARTIAL and "not wired" in f.explanation
    assert (
        run(
            "L4.model-monitoring",
            *ml_repos("a"),
            ev("model_monitoring", "a", tool="evidently", scheduled=True),
        ).outcome
        == Outcome.PASS
    )
    assert (
        run(
            "L4.model-monitoring",
            *ml_repos("a"),
            mon,
            ev("orchestration", "a", tool="airflow", schedule="@daily"),
        ).outcome
        == Outcome.PASS
    )
    # a schedule in another repo does not wire a's monitoring
    assert (
        run(
            "L4.model-monitoring",
            *ml_repos("a", "b"),
            mon,
            ev("orchestration", "b", tool="airflow", schedule="@daily"),
        ).outcome
        == Outcome.PARTIAL
    )
    assert run("L4.model-monitoring", *ml_repos("a")).outcome == Outcome.UNKNOWN  # git only supports it


def test_model_monitoring_coverage_from_endpoints():
    eps = [
        ev("endpoint", "acct", name=f"ep{i}", status="InService", monitored=(i == 0))
        for i in range(4)
    ]
    f = run("L4.model-monitoring", *eps, available="A")
    assert f.outcome == Outcome.PARTIAL
    assert f.metrics["coverage"] == {"monitored": 1, "production": 4, "share": 0.25}
    assert "covers 1 of 4" in f.explanation
    sched = [
        ev("monitoring_schedule", "acct", endpoint=f"ep{i}", status="Scheduled")
        for i in range(1, 4)
    ]
    assert run("L4.model-monitoring", *eps, *sched, available="A").outcome == Outcome.PASS


def test_data_quality_monitoring():
    val = ev("gx_validation", "gx", checkpoint="orders", runs_in_window=30, pass_rate=0.9)
    f = run("L4.data-quality-monitoring", val, available="X")
    assert f.outcome == Outcome.PASS and "90%" in f.explanation
    once = ev("gx_validation", "gx", checkpoint="orders", runs_in_window=1)
    assert run("L4.data-quality-monitoring", once, available="X").outcome == Outcome.PARTIAL
    f = run("L4.data-quality-monitoring", ev("gx_suite", "gx", expectations=3), available="X")
    assert f.outcome == Outcome.FAIL and "not run" in f.explanation
    assert run("L4.data-quality-monitoring", *ml_repos("a")).outcome == Outcome.UNKNOWN


def test_data_quality_monitoring_from_git_needs_the_checks_on_a_schedule():
    """Git supports the check where data validation code runs on a time trigger: a scheduled
    orchestrated pipeline or retraining in its repo, or a scheduled CI workflow whose steps run
    data checks. A CI cron that runs unit tests and a drift script runs no data check (a
    predictive-maintenance repository with GX code and a nightly test workflow was rated 4 for 2)."""
    dv = ev("data_validation", "a", tool="great_expectations", path="src/validation/validate_data.py", line=15)
    nightly_tests = ev("ci_pipeline", "a", tool="github_actions", schedules=["0 2 * * *"], runs_tests=True, ml_steps=[])
    f = run("L4.data-quality-monitoring", *ml_repos("a"), dv, nightly_tests)
    assert f.outcome == Outcome.UNKNOWN
    nightly_checks = ev("ci_pipeline", "a", tool="github_actions", schedules=["0 2 * * *"], ml_steps=["data_tests"])
    f = run("L4.data-quality-monitoring", *ml_repos("a"), dv, nightly_checks)
    assert f.outcome == Outcome.PASS and "great_expectations" in f.explanation
    on_push_checks = ev("ci_pipeline", "a", tool="github_actions", ml_steps=["data_tests"])
    assert run("L4.data-quality-monitoring", *ml_repos("a"), dv, on_push_checks).outcome == Outcome.UNKNOWN
    dag = ev("orchestration", "a", tool="airflow", schedule="@daily", path="dags/etl.py")
    assert run("L4.data-quality-monitoring", *ml_repos("a"), dv, dag).outcome == Outcome.PASS
    retrain = ev("scheduled_retraining", "a", tool="github_actions", schedule="0 3 * * 1")
    assert run("L4.data-quality-monitoring", *ml_repos("a"), dv, retrain).outcome == Outcome.PASS
    scheduled_itself = ev("data_validation", "a", tool="great_expectations", path="dags/gx.py", scheduled=True)
    assert run("L4.data-quality-monitoring", *ml_repos("a"), scheduled_itself).outcome == Outcome.PASS
    # a schedule in another repository does not run this one's checks
    other = ev("ci_pipeline", "b", tool="github_actions", schedules=["0 2 * * *"], ml_steps=["data_tests"])
    assert run("L4.data-quality-monitoring", *ml_repos("a", "b"), dv, other).outcome == Outcome.UNKNOWN
    # hand-written checks in the scheduled pipeline: partial (the rubric asks for a validation tool);
    # checks that only answer (never stop a run) do not count at all
    custom = ev("data_validation", "a", tool="custom", path="src/checks.py", line=3)
    f = run("L4.data-quality-monitoring", *ml_repos("a"), custom, dag)
    assert f.outcome == Outcome.PARTIAL and "hand-written only" in f.explanation
    assert run("L4.data-quality-monitoring", *ml_repos("a"), custom, dv, dag).outcome == Outcome.PASS
    answering = ev("data_validation", "a", tool="custom", path="src/checks.py", line=3, verdict_only=True)
    assert run("L4.data-quality-monitoring", *ml_repos("a"), answering, dag).outcome == Outcome.UNKNOWN


def test_per_version_performance():
    good = ev(
        "registered_model", "mlflow", name="a", versions=4, versions_with_metrics=4, production=True
    )
    bad = ev(
        "registered_model", "mlflow", name="b", versions=4, versions_with_metrics=0, production=True
    )
    assert run("L4.per-version-performance", good, available="M").outcome == Outcome.PASS
    f = run("L4.per-version-performance", good, bad, available="M")
    assert f.outcome == Outcome.PARTIAL and "1 of 2 production models" in f.explanation


def test_data_catalog_and_warehouse():
    assert (
        run("L4.data-catalog", *ml_repos("a"), ev("data_catalog", "a", tool="datahub")).outcome
        == Outcome.PASS
    )
    assert run("L4.data-catalog", *ml_repos("a")).outcome == Outcome.UNKNOWN  # git only supports it
    glue = ev("glue_catalog", "acct", database="raw", tables=10, described_tables=2)
    f = run("L4.data-catalog", glue, available="A")
    assert f.outcome == Outcome.PARTIAL and "2 of 10" in f.explanation
    wh, etl = ev("warehouse", "w", tool="snowflake"), ev("data_pipeline", "w", tool="dbt")
    assert run("L4.warehouse-etl", repo("w", is_ml=False), wh, etl).outcome == Outcome.PASS
    assert run("L4.warehouse-etl", repo("w", is_ml=False), wh).outcome == Outcome.PARTIAL
    assert run("L4.warehouse-etl", repo("w", is_ml=False)).outcome == Outcome.UNKNOWN
    # the same notion of ETL as L2.data-pipeline: an orchestrated pipeline feeds the warehouse
    dag = ev("orchestration", "w", tool="airflow")
    both = run("L4.warehouse-etl", repo("w", is_ml=False), wh, dag)
    assert both.outcome == Outcome.PASS and "airflow" in both.explanation


def test_scheduled_retraining():
    assert (
        run(
            "L4.scheduled-retraining",
            *ml_repos("a"),
            ev("scheduled_retraining", "a", trigger="airflow", schedule="@weekly"),
        ).outcome
        == Outcome.PASS
    )
    assert (
        run(
            "L4.scheduled-retraining",
            *ml_repos("a"),
            ev("ci_pipeline", "a", schedules=["0 0 * * 0"], ml_steps=["train"]),
        ).outcome
        == Outcome.PASS
    )
    # a CI schedule that does not train is not retraining
    assert (
        run(
            "L4.scheduled-retraining",
            *ml_repos("a"),
            ev("ci_pipeline", "a", schedules=["0 0 * * 0"], ml_steps=["data_tests"]),
        ).outcome
        == Outcome.FAIL
    )
    assert (
        run(
            "L4.scheduled-retraining",
            *ml_repos("a"),
            ev("scheduled_retraining", "a", drift_triggered=True),
        ).outcome
        == Outcome.PARTIAL
    )
    rule = ev(
        "eventbridge_rule",
        "acct",
        name="weekly",
        schedule="rate(7 days)",
        state="ENABLED",
        trains=True,
    )
    assert run("L4.scheduled-retraining", rule, available="A").outcome == Outcome.PASS


def test_multiple_pods():
    repos = ml_repos("a", "b", "c")
    disjoint = [
        ev("team_activity", "a", contributor_ids=["1", "2"]),
        ev("team_activity", "b", contributor_ids=["2"]),
        ev("team_activity", "c", contributor_ids=["3", "4"]),
    ]
    f = run("L4.multiple-pods", *repos, *disjoint)
    assert f.outcome == Outcome.PASS and f.metrics["pods"] == 2
    shared = [
        ev("team_activity", "a", contributor_ids=["1", "2"]),
        ev("team_activity", "c", contributor_ids=["2", "3"]),
    ]
    assert run("L4.multiple-pods", *repos, *shared).outcome == Outcome.UNKNOWN  # git only supports it
    lone = [
        ev("team_activity", "a", contributor_ids=["1", "2"]),
        ev("team_activity", "c", contributor_ids=["9"]),
    ]
    assert run("L4.multiple-pods", *repos, *lone).outcome == Outcome.PARTIAL
    teams = [
        ev("code_ownership", "a", teams=["@org/vision"]),
        ev("code_ownership", "b", teams=["@org/nlp"]),
    ]
    assert run("L4.multiple-pods", *repos, *teams).outcome == Outcome.PASS
    assert run("L4.multiple-pods", *repos).outcome == Outcome.UNKNOWN


# ------------------------------------------------------------------------------ level 5
def test_feature_store():
    assert (
        run("L5.feature-store", *ml_repos("a"), ev("feature_store", "a", tool="feast")).outcome
        == Outcome.PASS
    )
    assert (
        run(
            "L5.feature-store", *ml_repos("a"), ev("feature_store", "a", tool="feast", opt_in=True)
        ).outcome
        == Outcome.PARTIAL
    )
    # git decides: ML code that uses a feature store reads from it (Feast, SageMaker Feature Store,
    # Databricks Feature Engineering calls), so no such call in any ML repository is a fail
    absent = run("L5.feature-store", *ml_repos("a"))
    assert absent.outcome == Outcome.FAIL and "No feature store" in absent.explanation


def test_notebook_repository():
    nb = {"count": 40, "share_of_code": 0.9}
    assert (
        run(
            "L5.notebook-repository",
            repo("nbs"),
            ev("notebooks", "nbs", index=True, outputs_stripped=True, **nb),
        ).outcome
        == Outcome.PASS
    )
    f = run(
        "L5.notebook-repository",
        repo("nbs"),
        ev("notebooks", "nbs", index=False, outputs_stripped=True, **nb),
    )
    assert f.outcome == Outcome.PARTIAL and "an index" in f.explanation
    scattered = run(
        "L5.notebook-repository", *ml_repos("a"), ev("notebooks", "a", count=4, share_of_code=0.1)
    )
    assert scattered.outcome == Outcome.FAIL and "scattered" in scattered.explanation


def test_lineage():
    assert (
        run("L5.lineage", *ml_repos("a"), ev("lineage", "a", tool="openlineage")).outcome
        == Outcome.PASS
    )
    assert (
        run(
            "L5.lineage",
            *ml_repos("a"),
            ev("orchestration", "a", tool="kedro", metadata_driven=True),
        ).outcome
        == Outcome.PARTIAL
    )
    assert run("L5.lineage", *ml_repos("a")).outcome == Outcome.UNKNOWN  # git only supports it
    inputs = ev("experiment_runs", "m", runs_in_window=3, dataset_inputs=3)
    linked = ev("registered_model", "m", name="x", versions=2, lineage=2)
    assert run("L5.lineage", inputs, linked, available="M").outcome == Outcome.PASS
    assert run("L5.lineage", inputs, available="M").outcome == Outcome.PARTIAL


def test_cost_management_and_discoverability():
    tags = ev("cost_tags", "acct", active_tags=["team"], ml_resources=10, tagged_ml_resources=8)
    budget = ev("budget", "acct", name="ml", limit=1000)
    assert run("L5.cost-management", tags, budget, available="A").outcome == Outcome.PASS
    f = run("L5.cost-management", budget, available="A")
    assert (
        f.outcome == Outcome.PARTIAL
        and "missing cost-allocation tags, managed spot training" in f.explanation
    )
    assert run("L5.cost-management", available="A").outcome == Outcome.FAIL
    gaps = {s: "AccessDenied" for s in ("cost_tags", "budget", "spot_training")}
    assert run("L5.cost-management", available="A", gaps=gaps).outcome == Outcome.UNKNOWN
    described = ev("registered_model", "m", name="a", description="churn", tags={"owner": "x"})
    bare = ev("registered_model", "m", name="b")
    assert run("L5.discoverable-model-store", described, available="M").outcome == Outcome.PASS
    assert (
        run("L5.discoverable-model-store", described, bare, available="M").outcome
        == Outcome.PARTIAL
    )


def test_survey_only_checks():
    assert (
        run(
            "L1.strategy", survey("S1", "written"), survey("S4", "named sponsor"), available="S"
        ).outcome
        == Outcome.PASS
    )
    assert (
        run("L1.strategy", survey("S1", "written"), survey("S4", "none"), available="S").outcome
        == Outcome.PARTIAL
    )
    assert run("L1.strategy", survey("S1", "none"), available="S").outcome == Outcome.FAIL
    f = run("L5.leadership-roles", survey("S11", ["lead engineer"]), available="S")
    assert f.outcome == Outcome.PARTIAL and f.provenance == "self-reported"
    assert (
        run("L4.platform-investment", survey("S10", "planned every quarter"), available="S").outcome
        == Outcome.PASS
    )
    assert run("L3.ml-process", survey("S7", "ad hoc"), available="S").outcome == Outcome.FAIL
    unanswered = run("L3.specialised-roles", available="S")
    assert unanswered.outcome == Outcome.UNKNOWN and unanswered.missing == [
        "answer survey question S5"
    ]


# ------------------------------------------------------------------------------ the runner
def test_unknown_when_no_source_can_assess_it():
    f = run("L5.discoverable-model-store", *ml_repos("a"), available="G")
    assert f.outcome == Outcome.UNKNOWN
    assert "nothing that could assess it ran" in f.explanation
    assert f.missing == ["configure MLflow tracking (mlflow:)", "configure AWS access (aws:)"]
    assert f.remediation == DEFS["L5.discoverable-model-store"].remediation
    # a supporting source that ran and is silent: unknown, naming what would decide it
    r = run("L3.model-registry", *ml_repos("a"), available="G")
    assert r.outcome == Outcome.UNKNOWN and "decided by MLflow" in r.explanation
    assert r.missing == ["configure MLflow tracking (mlflow:)", "configure AWS access (aws:)"]
    code = run("L3.model-registry", *ml_repos("a"), ev("model_registry_use", "a", tool="mlflow"))
    assert code.outcome == Outcome.PASS and "registered from code" in code.explanation
    s = run("L4.multiple-pods", available="")
    assert s.missing == ["answer survey question S8", "add git repositories to scan (git:)"]


def test_unknown_cites_a_failed_source():
    f = run(
        "L3.model-registry", available="", failed={"M": "connection refused to http://mlflow:5000"}
    )
    assert f.outcome == Outcome.UNKNOWN
    assert "connection refused" in f.explanation
    assert f.missing[0].startswith("fix the MLflow tracking/registry source")
    assert "configure AWS access (aws:)" in f.missing


def test_partial_sources_are_noted_on_the_finding():
    f = run(
        "L2.experiment-tracking",
        *ml_repos("a"),
        ev("experiment_tracking", "a", tool="mlflow"),
        failed={"M": "timeout"},
    )
    assert f.outcome == Outcome.PASS
    assert "MLflow tracking/registry failed: timeout" in f.explanation


def test_evaluator_none_and_exceptions_become_unknown(monkeypatch):
    monkeypatch.setitem(EVALUATORS, "L3.ci-tests", lambda ctx: None)
    f = run("L3.ci-tests", *ml_repos("a"))
    assert f.outcome == Outcome.UNKNOWN and "no evidence either way" in f.explanation

    def boom(ctx):
        raise KeyError("runs_tests")

    monkeypatch.setitem(EVALUATORS, "L3.ci-tests", boom)
    f = run("L3.ci-tests", *ml_repos("a"))
    assert f.outcome == Outcome.UNKNOWN and "KeyError" in f.explanation


def test_evidence_is_a_bounded_sample():
    names = [f"r{i:02}" for i in range(15)]
    f = run(
        "L3.ci-tests", *ml_repos(*names), *[ev("ci_pipeline", n, runs_tests=True) for n in names]
    )
    assert f.outcome == Outcome.PASS and "15 of 15" in f.explanation
    assert 0 < len(f.evidence) <= 10


def test_waivers():
    waiver = {"reason": "no models yet", "owner": "cto", "expires": "2999-01-01"}
    findings = run_checks(
        ctx(*ml_repos("a")), waivers={"L3.ci-tests": waiver}, defs=[DEFS["L3.ci-tests"]]
    )
    (f,) = findings
    assert f.outcome == Outcome.WAIVED and f.waiver == waiver
    assert f.metrics["outcome_without_waiver"] == "fail"
    assert "no models yet" in f.explanation
    old = {**waiver, "expires": "2020-01-01"}
    (g,) = run_checks(
        ctx(*ml_repos("a")),
        waivers={"L3.ci-tests": old},
        defs=[DEFS["L3.ci-tests"]],
        today=date(2025, 6, 1),
    )
    assert g.outcome == Outcome.FAIL and g.waiver["expired"] is True
    assert "expired" in g.explanation


def test_findings_come_in_rubric_order_one_per_check():
    findings = run_checks(ctx(*RICH_GIT))
    assert [f.check_id for f in findings] == list(DEFS)
    assert all(isinstance(f.remediation, str) and f.remediation for f in findings)


def test_custom_definitions_must_be_checkdefs():
    d = CheckDef("L3.ci-tests", 3, "process", "t", "c", ("G",), "r", "f")
    (f,) = run_checks(ctx(*ml_repos("a")), defs=[d])
    assert f.remediation == "r"


def test_model_monitoring_is_unknown_when_schedules_could_not_be_read() -> None:
    from mlaudit.checks import run_checks
    from mlaudit.checks.base import CheckContext
    from mlaudit.evidence import EvidenceItem, Outcome

    endpoints = [EvidenceItem(collector="aws", signal="endpoint", locator=f"arn:aws:sagemaker:eu-west-1:1:endpoint/e{i}",
                              subject="acct", attributes={"name": f"e{i}", "status": "InService", "monitored": False})
                 for i in range(3)]
    blind = CheckContext(evidence=endpoints, available={"A"},
                         gaps={"monitoring_schedule": "sagemaker:ListMonitoringSchedules denied"})
    seen = CheckContext(evidence=endpoints, available={"A"})
    f_blind = {f.check_id: f for f in run_checks(blind)}["L4.model-monitoring"]
    f_seen = {f.check_id: f for f in run_checks(seen)}["L4.model-monitoring"]
    assert f_blind.outcome == Outcome.UNKNOWN
    assert f_seen.outcome == Outcome.FAIL and f_seen.metrics["coverage"]["production"] == 3


def test_signal_by_subject_is_the_filter_in_evidence_order():
    """`CheckContext.signal(name, subjects)` answers from a per-subject index when a few subjects
    of a long list are asked (evaluators asking repository by repository): the same items, in
    evidence order, as filtering the whole list, for every shape of `subjects`."""
    import random

    rng = random.Random(7)
    names = [f"repo-{i:03d}" for i in range(120)]
    items = [ev(rng.choice(["ci_pipeline", "ml_tests", "containerization"]), rng.choice(names), n=i)
             for i in range(900)]
    ctx = CheckContext(evidence=items, available={"G"})

    def naive(signal, subjects):
        wanted = set(subjects)
        return [i for i in items if i.signal == signal and i.subject in wanted]

    for signal in ("ci_pipeline", "ml_tests", "containerization", "absent"):
        assert ctx.signal(signal) == [i for i in items if i.signal == signal]
        for k in (0, 1, 2, 5, 40, 120):
            chosen = rng.sample(names, k) + ["not-a-repo"]
            for subjects in (chosen, set(chosen), frozenset(chosen), iter(chosen), tuple(chosen)):
                got = ctx.signal(signal, subjects)
                assert got == naive(signal, chosen), (signal, k, type(subjects))
        # asked again (from the index now built), and the answer is a fresh list each time
        one = ctx.signal(signal, [names[3]])
        assert one == naive(signal, [names[3]]) and one is not ctx.signal(signal, [names[3]])
