"""Claims checked against evidence: organisations where a survey answer is confirmed, contradicted
or not verifiable. Git evidence comes from real repositories read by the real GitCollector; the
AWS and MLflow side is built as the evidence items those collectors emit."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitutil import commit_files, make_repo

from mlaudit.checks import run_checks
from mlaudit.checks.base import CheckContext
from mlaudit.checks.definitions import load_definitions
from mlaudit.checks.survey_claims import CONFIRMED, CONTRADICTED, NOT_VERIFIABLE, verify_claims
from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.git.collector import GitCollector
from mlaudit.config import GitSettings, GitTarget
from mlaudit.evidence import EvidenceItem, Outcome

FOUR_FRAMEWORKS = "import torch\nimport sklearn\nimport xgboost\nimport lightgbm\n\n\ndef train():\n    return 1\n"
TORCH = "import torch\n\n\ndef train():\n    return torch.zeros(1)\n"
DAG = "from airflow import DAG\n\nwith DAG('train', schedule='@daily') as dag:\n    pass\n"
DRIFT = "from evidently.report import Report\nfrom evidently.metric_preset import DataDriftPreset\n\n\ndef drift():\n    return Report(metrics=[DataDriftPreset()])\n"
ARN = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/churn"
MODEL_URI = "models:/fraud@production"


def collect(root: Path) -> list[EvidenceItem]:
    result = GitCollector(GitSettings(targets=[GitTarget(path=root)])).collect(CollectContext())
    return result.evidence


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory) -> list[EvidenceItem]:
    """One ML repository, one person, four ML frameworks, no orchestration or monitoring."""
    root = tmp_path_factory.mktemp("solo")
    make_repo(root / "models", {"train.py": FOUR_FRAMEWORKS}, author="Ada <ada@example.com>")
    return collect(root)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> list[EvidenceItem]:
    """Two ML repositories, each worked on by its own two people (two pods); one framework;
    an Airflow DAG and Evidently drift monitoring."""
    root = tmp_path_factory.mktemp("team")
    churn = make_repo(
        root / "churn",
        {"train.py": TORCH, "dags/train.py": DAG, "monitor/drift.py": DRIFT},
        author="Alice <alice@example.com>",
    )
    commit_files(churn, {"README.md": "churn\n"}, author="Bob <bob@example.com>")
    fraud = make_repo(root / "fraud", {"train.py": TORCH}, author="Carol <carol@example.com>")
    commit_files(fraud, {"README.md": "fraud\n"}, author="Dave <dave@example.com>")
    return collect(root)


def endpoint(name: str = "churn", status: str = "InService") -> EvidenceItem:
    return EvidenceItem(
        "aws",
        "endpoint",
        ARN.replace("churn", name),
        "123456789012",
        attributes={"name": name, "status": status, "model": name},
    )


def registered(name: str = "fraud", production: bool = True) -> EvidenceItem:
    return EvidenceItem(
        "mlflow",
        "registered_model",
        f"models:/{name}@production" if production else f"models:/{name}",
        "http://mlflow:5000",
        attributes={"name": name, "production": production, "versions": 3},
    )


def claim(
    evidence: list[EvidenceItem], qid: str, answer, available: str | None = None, **kw
) -> dict:
    letters = set(available) if available is not None else None
    (out,) = verify_claims(evidence, {qid: answer}, available=letters, **kw)
    assert out["question"] == qid and out["locator"] == f"survey:{qid}"
    return out


# ------------------------------------------------------------------------------ S6 production


def test_s6_confirmed_by_endpoints_and_production_aliases() -> None:
    c = claim([endpoint(), registered()], "S6", 2, "AM")
    assert c["status"] == CONFIRMED
    assert set(c["observed_locators"]) == {ARN, MODEL_URI}
    assert "churn" in c["observed"] and "fraud" in c["observed"]


def test_s6_contradicted_names_both_sides_with_locators() -> None:
    c = claim([endpoint(), endpoint("old", status="OutOfService"), registered()], "S6", 5, "AM")
    assert c["status"] == CONTRADICTED
    assert "survey:S6" in c["explanation"] and ARN in c["explanation"]
    assert "5 model(s)" in c["claim"] and "2 model(s) in production" in c["observed"]
    assert ARN in c["observed_locators"] and MODEL_URI in c["observed_locators"]
    assert ARN.replace("churn", "old") not in c["observed_locators"]


def test_s6_an_empty_registry_that_was_read_decides() -> None:
    assert claim([], "S6", 0, "M")["status"] == CONFIRMED
    assert claim([registered(production=False)], "S6", 1, "M")["status"] == CONTRADICTED


def test_s6_not_verifiable_without_endpoints_registry_or_code() -> None:
    assert claim([], "S6", 3, "")["status"] == NOT_VERIFIABLE
    # AWS ran but could not list endpoints: never "confirmed"
    denied = {"endpoint": "AccessDenied", "registered_model": "AccessDenied"}
    c = claim([], "S6", 0, "A", gaps=denied)
    assert c["status"] == NOT_VERIFIABLE and "not verifiable" in c["explanation"].lower()


def test_s6_from_code_alone(solo: list[EvidenceItem], tmp_path: Path) -> None:
    # no serving or batch code in the only ML repo proves nothing: models are served elsewhere too
    assert claim(solo, "S6", 2, "G")["status"] == NOT_VERIFIABLE
    assert claim(solo, "S6", 0, "G")["status"] == NOT_VERIFIABLE
    # serving code exists, but without endpoints or a registry models cannot be counted
    make_repo(
        tmp_path / "svc",
        {
            "app.py": "import joblib\nfrom fastapi import FastAPI\n\napp = FastAPI()\n"
            "model = joblib.load('model.pkl')\n\n\n@app.post('/predict')\ndef predict(x):\n"
            "    return model.predict(x)\n",
            "train.py": TORCH,
        },
    )
    serving = collect(tmp_path / "svc")
    assert any(e.signal == "model_serving" for e in serving)
    assert claim(serving, "S6", 2, "G")["status"] == NOT_VERIFIABLE
    assert claim(serving, "S6", 0, "G")["status"] == CONTRADICTED


# ------------------------------------------------------------------------------ S5 roles


FIRST_HIRES = ["PM with ML experience", "ML scientist", "ML engineer"]


def test_s5_claimed_team_of_two_technical_people_but_one_contributor(solo) -> None:
    # one committer cannot contradict hires: they need not commit to the scanned repositories
    c = claim(solo, "S5", FIRST_HIRES, "GS")
    assert c["status"] == NOT_VERIFIABLE
    assert "at least 2 technical people" in c["claim"]
    assert "1 distinct human contributor" in c["observed"]
    assert c["observed_locators"] and all("models@" in x for x in c["observed_locators"])


def test_s5_confirmed_by_distinct_contributors(team) -> None:
    c = claim(team, "S5", FIRST_HIRES, "G")
    assert c["status"] == CONFIRMED and "4 distinct human contributor" in c["observed"]


def test_s5_no_technical_role_but_several_committers_is_contradicted(team, solo) -> None:
    assert claim(team, "S5", ["PM with ML experience"], "G")["status"] == CONTRADICTED
    # one person writes ML code; their role is not observable
    assert claim(solo, "S5", [], "G")["status"] == NOT_VERIFIABLE


def test_s5_not_verifiable_without_git() -> None:
    assert claim([endpoint()], "S5", FIRST_HIRES, "A")["status"] == NOT_VERIFIABLE


# ------------------------------------------------------------------------------ S13 stack


def test_s13_standard_contradicted_by_framework_census(solo) -> None:
    c = claim(solo, "S13", "documented standard", "G")
    assert c["status"] == CONTRADICTED
    assert "4 ML framework(s)" in c["observed"]
    for fw in ("torch", "sklearn", "xgboost", "lightgbm"):
        assert fw in c["observed"]
    assert c["observed_locators"] == [next(e.locator for e in solo if e.signal == "ml_frameworks")]


def test_s13_standard_confirmed_and_no_standard_cases(team, solo) -> None:
    assert claim(team, "S13", "internal platform", "G")["status"] == CONFIRMED
    assert claim(solo, "S13", "no", "G")["status"] == CONFIRMED
    # one framework everywhere says nothing about whether a standard was written down
    assert claim(team, "S13", "no", "G")["status"] == NOT_VERIFIABLE
    assert claim([], "S13", "internal platform", "")["status"] == NOT_VERIFIABLE


# ------------------------------------------------------------------------------ S10 platform


def test_s10_platform_work_against_orchestration_and_monitoring(team, solo) -> None:
    c = claim(team, "S10", "planned every quarter", "G")
    assert c["status"] == CONFIRMED
    assert (
        "orchestration (airflow)" in c["observed"]
        and "model monitoring (evidently)" in c["observed"]
    )
    assert any("dags/train.py" in x for x in c["observed_locators"])
    c = claim(solo, "S10", "planned every quarter", "G")
    assert c["status"] == NOT_VERIFIABLE and "no orchestration or model monitoring" in c["observed"]
    assert claim(solo, "S10", "sometimes", "G")["status"] == NOT_VERIFIABLE
    assert claim(solo, "S10", "no", "G")["status"] == CONFIRMED
    assert claim([], "S10", "planned every quarter", "")["status"] == NOT_VERIFIABLE


def test_s10_aws_pipelines_and_monitoring_schedules_count() -> None:
    pipeline = EvidenceItem(
        "aws",
        "pipeline_execution",
        "arn:aws:states:eu-west-1:123456789012:stateMachine:train",
        "123456789012",
        attributes={"tool": "step-functions", "name": "train", "executions_in_window": 12},
    )
    assert claim([pipeline], "S10", "planned every quarter", "A")["status"] == CONFIRMED
    assert claim([], "S10", "planned every quarter", "A")["status"] == NOT_VERIFIABLE


# ------------------------------------------------------------------------------ S8 pods


def test_s8_pods_against_contributor_groups(team, solo) -> None:
    c = claim(team, "S8", {"org_model": "hybrid", "pods": 2}, "G")
    assert c["status"] == CONFIRMED and c["observed"].startswith("2 pod(s)")
    c = claim(solo, "S8", {"org_model": "hybrid", "pods": 2}, "G")
    assert c["status"] == NOT_VERIFIABLE and "survey:S8" in c["explanation"]
    # claiming a single team while two disjoint groups of people work on ML repos
    assert claim(team, "S8", {"org_model": "single team", "pods": 1}, "G")["status"] == CONTRADICTED


def test_s8_codeowners_teams_count_as_pods(tmp_path: Path) -> None:
    make_repo(
        tmp_path / "org" / "a",
        {"train.py": TORCH, "CODEOWNERS": "* @acme/recsys\n"},
    )
    make_repo(
        tmp_path / "org" / "b",
        {"train.py": TORCH, "CODEOWNERS": "* @acme/risk\n"},
    )
    evidence = collect(tmp_path / "org")
    c = claim(evidence, "S8", {"org_model": "decentralized", "pods": 2}, "G")
    assert c["status"] == CONFIRMED and "@acme/recsys" in c["observed"]
    assert any("CODEOWNERS" in x for x in c["observed_locators"])


def test_s8_without_pod_count_or_git_is_not_verifiable(team) -> None:
    assert claim(team, "S8", {"org_model": "hybrid"}, "G")["status"] == NOT_VERIFIABLE
    assert claim([], "S8", {"org_model": "hybrid", "pods": 3}, "")["status"] == NOT_VERIFIABLE


# ------------------------------------------------------------------------------ the rest


def test_unobservable_questions_are_never_confirmed(team) -> None:
    answers = {
        "S1": "written",
        "S2": "once",
        "S4": "funded programme",
        "S7": "Kanban",
        "S9": "pilot",
        "S11": ["lead PM"],
        "S12": "shipped",
    }
    out = verify_claims(team + [endpoint(), registered()], answers, available={"G", "A", "M"})
    assert [o["question"] for o in out] == list(answers)
    assert {o["status"] for o in out} == {NOT_VERIFIABLE}
    assert all(o["observed_locators"] == [] for o in out)


def test_nothing_configured_makes_every_claim_not_verifiable() -> None:
    answers = {
        "S3": "complete",
        "S5": FIRST_HIRES,
        "S6": 4,
        "S8": {"org_model": "hybrid", "pods": 3},
        "S10": "planned every quarter",
        "S13": "internal platform",
    }
    out = verify_claims([], answers)
    assert {o["status"] for o in out} == {NOT_VERIFIABLE}


def test_s3_data_audit_artefact_contradicts_a_no(tmp_path: Path) -> None:
    make_repo(
        tmp_path / "data",
        {
            "train.py": TORCH,
            "docs/data_dictionary.md": "# Data dictionary\n\n| column | meaning |\n|---|---|\n"
            "| customer_id | the customer's account number |\n| churned | left within 90 days |\n",
        },
    )
    evidence = collect(tmp_path / "data")
    assert any(e.signal == "data_audit" for e in evidence)
    assert claim(evidence, "S3", "no", "G")["status"] == CONTRADICTED
    assert claim(evidence, "S3", "complete", "G")["status"] == CONFIRMED
    assert claim([], "S3", "complete", "G")["status"] == NOT_VERIFIABLE


def test_available_defaults_to_the_sources_with_evidence(team) -> None:
    assert claim(team, "S5", FIRST_HIRES)["status"] == CONFIRMED
    assert claim([], "S6", 1)["status"] == NOT_VERIFIABLE


def test_findings_and_survey_section_agree_that_observed_decides(solo, team) -> None:
    """One decision for claim and outcome: a claim contradicted by observed evidence shows on the
    check too, whose outcome is the observed one; silence contradicts nothing on either side."""
    def answer(q, value):
        return EvidenceItem(
            "survey", "survey_answer", f"survey:{q}", "survey", provenance="self-reported",
            attributes={"question": q, "answer": value, "stale": False},
        )

    defs = [d for d in load_definitions() if d.id == "L2.first-hires"]
    # S5 names no technical role, git shows two people committing to one ML repo
    no_tech = answer("S5", ["PM with ML experience"])
    (f,) = run_checks(CheckContext(team + [no_tech], available={"G", "S"}), defs=defs)
    assert f.outcome == Outcome.PASS and f.provenance == "observed"
    assert f.metrics["contradicted_claim"]["question"] == "S5"
    assert claim(team, "S5", ["PM with ML experience"], "GS")["status"] == CONTRADICTED
    # one committer: the claim of a team stands on the check and is not verifiable in the section
    s5 = answer("S5", FIRST_HIRES)
    (f,) = run_checks(CheckContext(solo + [s5], available={"G", "S"}), defs=defs)
    assert f.outcome == Outcome.PASS and f.provenance == "self-reported"
    assert "contradicted_claim" not in f.metrics
    assert claim(solo + [s5], "S5", FIRST_HIRES, "GS")["status"] == NOT_VERIFIABLE
    # S6 = 25 on a git-only scan: not verifiable, and the check rests on the answer, said so
    many = [d for d in load_definitions() if d.id == "L5.many-models-in-production"]
    (f,) = run_checks(CheckContext(solo + [answer("S6", 25)], available={"G", "S"}), defs=many)
    assert f.provenance == "self-reported" and "contradicted_claim" not in f.metrics
    assert claim(solo, "S6", 25, "GS")["status"] == NOT_VERIFIABLE


def test_an_unreadable_answer_is_not_verifiable_not_a_crash() -> None:
    c = claim([endpoint()], "S6", "many", "A")
    assert c["status"] == NOT_VERIFIABLE and "failed" in c["observed"]
