"""End to end over real repositories: an organisation at three maturities, and one of decoys."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitutil import make_repo

from mlaudit.config import Config, GitSettings, GitTarget
from mlaudit.engine import audit
from mlaudit.reports.json_report import validate_report


@pytest.fixture(scope="module")
def org_audit(example_org: Path):
    return audit(Config(git=GitSettings(targets=[GitTarget(path=example_org)])), scan_path=example_org)


def evidence(result, subject: str, signal: str) -> list[dict]:
    return [e for e in result.report["evidence"] if e["subject"] == subject and e["signal"] == signal]


def signals(result) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in result.findings:
        for e in f.evidence:
            out.setdefault(e.subject, set()).add(e.signal)
    return out


def outcomes(result) -> dict[str, str]:
    return {f.check_id: str(f.outcome) for f in result.findings}


def test_report_is_valid_and_complete(org_audit) -> None:
    validate_report(org_audit.report)
    assert org_audit.exit_code == 0
    assert len(org_audit.report["findings"]) == 39


def test_repositories_are_classified(org_audit) -> None:
    repos = {e["subject"]: e for e in org_audit.report["evidence"] if e["signal"] == "repository"}
    assert set(repos) == {"research-notebooks", "churn-service", "ml-platform"}
    assert all(r["attributes"]["is_ml"] for r in repos.values())
    assert repos["churn-service"]["attributes"]["web_url"] == "https://github.com/example/churn-service"
    assert repos["ml-platform"]["attributes"]["web_url"] == "https://gitlab.com/example/ml-platform"
    assert repos["research-notebooks"]["attributes"]["web_url"] is None


def test_git_only_outcomes_match_each_repositorys_maturity(org_audit) -> None:
    o = outcomes(org_audit)
    # the training service and the platform test in CI; the notebooks do not
    assert o["L3.ci-tests"] == "partial" and o["L3.ml-tests"] == "partial"
    assert o["L1.ml-code-versioned"] == "pass"
    assert o["L2.first-hires"] == "pass"  # several people commit to ML repos
    # tracking code with no tracker read is tracking (the tracker would only count the runs)
    assert o["L2.experiment-tracking"] == "pass"
    assert o["L2.model-in-production"] == "pass"  # FastAPI serving + Dockerfile in churn-service
    assert o["L5.feature-store"] == "pass"  # Feast repo in ml-platform
    assert o["L4.scheduled-retraining"] == "pass"  # weekly retraining DAG
    assert o["L4.orchestration"] == "pass"  # Airflow code; executions were not observed
    assert o["L3.infrastructure-as-code"] == "pass"  # Terraform for SageMaker
    assert o["L3.data-validation"] == "pass"  # GX in code
    # sources that are not configured stay unknown, never fail
    for check in ("L1.strategy", "L4.per-version-performance", "L5.cost-management"):
        assert o[check] == "unknown", check
    # git supports the registry check: ml-platform's training code registers model versions
    assert o["L3.model-registry"] == "pass"


def test_findings_cite_the_right_files(org_audit) -> None:
    by_check = {f.check_id: f for f in org_audit.findings}
    sched = by_check["L4.scheduled-retraining"].evidence
    assert any(e.locator.startswith("ml-platform:dags/retrain_churn.py:") for e in sched)
    assert not any("monitor_drift" in e.locator for e in sched)  # a monitoring schedule is not retraining
    fs = by_check["L5.feature-store"].evidence
    assert all(e.subject == "ml-platform" for e in fs)
    tracking = by_check["L2.experiment-tracking"].evidence
    assert tracking and all(e.subject == "churn-service" for e in tracking)


def test_team_activity_counts_every_human_and_excludes_bots(example_org: Path) -> None:
    from mlaudit.collectors.base import CollectContext
    from mlaudit.collectors.git.collector import GitCollector

    result = GitCollector(GitSettings(targets=[GitTarget(path=example_org)])).collect(CollectContext())
    team = {e.subject: e.attributes for e in result.evidence if e.signal == "team_activity"}
    # the root commit counts too (its empty parent list once made the record unreadable)
    assert team["ml-platform"]["contributors"] == 3 and team["ml-platform"]["commits"] == 4
    assert team["ml-platform"]["bot_commits"] == 1
    assert team["research-notebooks"]["contributors"] == 1


def test_scores_are_honest_for_git_only(org_audit) -> None:
    s = org_audit.report["summary"]
    assert s["dimensions"]["technical"]["assessed"] and s["dimensions"]["process"]["assessed"]
    # serving code in a container shows a model in production; strategy rests on the survey
    assert s["dimensions"]["product"]["assessed"] and s["dimensions"]["product"]["assumptions"] == [1]
    assert s["confidence"]["self_reported"] == 0 and s["confidence"]["observed"] == s["confidence"]["assessed"]
    assert s["overall"]["level"] == min(
        d["level"] for d in s["dimensions"].values() if d["assessed"]
    )
    # each repository has its own level, from its own evidence: the platform leads, the
    # notebooks lag (no tracking, tests or CI), the service sits between them
    repos = {r["name"]: r for r in org_audit.report["repositories"]}
    assert repos["research-notebooks"]["level"] == 1
    assert repos["research-notebooks"]["weakest"]["check_id"] == "L3.ci-tests"
    assert repos["churn-service"]["level"] == 3
    assert repos["ml-platform"]["level"] >= 4
    assert [r["name"] for r in org_audit.report["repositories"]][0] == "ml-platform"


DECOYS = {
    "README.md": (
        "# Decoy\n\nWe use MLflow, Airflow, Feast, Evidently, Great Expectations, DVC, Kubeflow and W&B.\n"
        "Run `mlflow.log_metric` and `pytest` someday.\n"
    ),
    "requirements.txt": "pandas\n# mlflow==2.16.0\n# apache-airflow\n# feast\n",
    ".gitignore": "mlruns/\nwandb/\n.dvc/tmp\n",
    "poetry.lock": '[[package]]\nname = "mlflow"\nversion = "2.16.0"\n\n[[package]]\nname = "evidently"\n',
    "src/tracking.py": (
        "def log_run(metrics):\n    \"\"\"TODO: call mlflow.log_metric here.\"\"\"\n"
        "    print('mlflow.log_metric', metrics)\n\n\n"
        "def monitor():\n    # from evidently.report import Report\n    return None\n"
    ),
    "src/pipeline/README.md": "# pipeline\n\nA folder named pipeline is not orchestration.\n",
    "Makefile": "run:\n\tpython src/tracking.py\n",
    "notebooks/notes.ipynb": (
        '{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["import mlflow\\n", '
        '"mlflow.autolog()"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    ),
}


def test_decoys_are_not_evidence(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "decoy", DECOYS)
    result = audit(Config(git=GitSettings(targets=[GitTarget(path=repo)])))
    tool_signals = {"experiment_tracking", "orchestration", "feature_store", "model_monitoring",
                    "data_validation", "data_versioning", "model_registry_use", "ci_pipeline",
                    "automated_tests", "scheduled_retraining", "lineage"}
    cited = {e.signal for f in result.findings for e in f.evidence}
    assert not (cited & tool_signals), cited & tool_signals
    o = outcomes(result)
    assert o["L4.orchestration"] in ("fail", "unknown")
    assert o["L5.feature-store"] in ("fail", "unknown")
    assert o["L2.experiment-tracking"] in ("fail", "unknown")
