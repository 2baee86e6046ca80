"""Real engine output for the renderer tests: the demo's organisation (three repositories with
history and GitHub/GitLab remotes, an sqlite MLflow store, survey answers) plus a repository whose name, remote and files carry markup, audited by the engine with an
AWS account that fails (a profile that does not exist), Great Expectations not configured, two
waivers that apply and one that expired, and three shipped frameworks (google-mlops,
microsoft-mlops, ml-test-score) scored from the same findings.

Built once per test process (`engine_report()`), in a temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from gitutil import commit_files, git, make_repo

XSS = "<script>alert(1)</script>"
XSS_REPO = f"evil/{XSS}"  # the target's name (a folder name cannot hold the slash)
XSS_URL = "javascript:alert(document.cookie)//"
XSS_EXCERPT = '<img src=x onerror=alert("pwned")> <script>steal()</script>'
ORGANISATION = "Acme & Co <ML>"
MISSING_PROFILE = "mlaudit-tests-no-such-profile"
#: two waivers that apply (neither check passes in this organisation) and one that expired
WAIVED = ("L5.feature-store", "L4.data-catalog")
EXPIRED = "L3.settled-stack"
GITHUB_URL = "https://github.com/example/churn-service"
GITLAB_URL = "https://gitlab.com/example/ml-platform"
#: the shipped frameworks the report is also scored against
FRAMEWORKS = ("google-mlops", "microsoft-mlops", "ml-test-score")
DAG = """from airflow import DAG
from airflow.operators.python import PythonOperator

with DAG("features_daily", schedule="@daily") as dag:
    PythonOperator(task_id="build", python_callable=print)
"""


@cache
def _built() -> tuple[dict[str, Any], Path]:
    from mlaudit.checks.frameworks import shipped
    from mlaudit.collectors.aws.settings import AwsAccount, AwsSettings
    from mlaudit.config import Config, GitSettings, GitTarget, MlflowSettings, MlflowTarget, Waiver
    from mlaudit.demo import MLFLOW_UI, SURVEY, build_mlflow_store, patched_env, quiet_libraries
    from mlaudit.demo_org import build as build_git_org
    from mlaudit.engine import audit

    root = Path(tempfile.mkdtemp(prefix="mlaudit-engine-report-"))
    atexit.register(shutil.rmtree, root, True)
    repos = build_git_org(root / "repos")
    evil = make_repo(root / "evil", {
        "train.py": "import sklearn\nimport mlflow\n\n# " + XSS_EXCERPT + "\nmlflow.log_metric('auc', 0.9)\n",
        "infra/main.tf": 'resource "aws_sagemaker_endpoint" "evil" {  # ' + XSS_EXCERPT + '\n  name = "evil"\n}\n',
        "monitor.py": "from evidently.report import Report\n\nReport(metrics=[]).run()  # " + XSS_EXCERPT + "\n",
    })
    git(evil, "remote", "add", "origin", XSS_URL)
    commit_files(evil, {"README.md": f"# {XSS}\n"}, "readme")
    # a file whose path needs escaping in a web link
    commit_files(repos / "ml-platform", {"dags/features daily.py": DAG}, "daily features DAG")
    commits = {name: git(repos / name, "rev-parse", "HEAD").strip() for name in ("churn-service", "ml-platform")}
    survey = root / "survey.yaml"
    survey.write_text(SURVEY.format(today=date.today().isoformat()), encoding="utf-8")
    today = date.today()
    with quiet_libraries(), patched_env({}, ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")):
        uri = build_mlflow_store(root / "mlflow.db", commits)
        config = Config(
            organisation=ORGANISATION,
            git=GitSettings(targets=[GitTarget(path=repos), GitTarget(path=evil, name=XSS_REPO)]),
            mlflow=MlflowSettings(targets=[MlflowTarget(uri=uri, name="tracking", ui_url=MLFLOW_UI)]),
            aws=AwsSettings(accounts=[AwsAccount(name="prod", profile=MISSING_PROFILE)], regions=("eu-west-1",)),
            survey=survey,
            threshold=0.8,
            frameworks=[shipped(f) for f in FRAMEWORKS],
            waivers=[
                *(Waiver(c, "planned | next quarter", "lead@example.com",
                         (today + timedelta(days=90)).isoformat()) for c in WAIVED),
                Waiver(EXPIRED, "review was due", "cto@example.com", (today - timedelta(days=10)).isoformat()),
            ],
        )
        result = audit(config)
    return result.report, root


def engine_report() -> dict[str, Any]:
    """A deep copy of the audited organisation's report (tests may change their copy)."""
    return copy.deepcopy(_built()[0])


def repo_commit(name: str) -> str:
    """The commit the audit read in the repository `name`."""
    return git(_built()[1] / "repos" / name, "rev-parse", "HEAD").strip()
