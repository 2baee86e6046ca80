"""A 200-repository estate with eight quarters of dated git history (for the history browser
tests): real repositories whose practices arrive quarter by quarter, so the trend moves."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from gitutil import git

ML = ("import mlflow\nimport sklearn\nfrom sklearn.linear_model import LogisticRegression\n\n"
      "def train(x, y):\n    model = LogisticRegression().fit(x, y)\n    mlflow.log_metric('auc', 0.9)\n"
      "    return model\n")
PLAIN_ML = "import sklearn\nfrom sklearn.linear_model import LogisticRegression\n\ndef train(x, y):\n    return LogisticRegression().fit(x, y)\n"
TESTS = "from model.train import train\n\ndef test_train():\n    assert train([[0], [1]], [0, 1])\n"
DAG = ("from airflow import DAG\nfrom airflow.operators.python import PythonOperator\n\n"
       "with DAG('features', schedule='@daily') as dag:\n    PythonOperator(task_id='build', python_callable=print)\n")
CI = ("on: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
      "      - uses: actions/checkout@v4\n      - run: pip install -r requirements.txt\n      - run: pytest\n")
DOCKER = "FROM python:3.11-slim\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
TERRAFORM = 'resource "aws_sagemaker_model" "churn" {\n  name = "churn"\n  execution_role_arn = "arn"\n}\n'


def steps(i: int) -> list[tuple[int, dict[str, str]]]:
    """What repository `i` gains at which quarter (index into the eight quarter ends)."""
    out = [(i % 3, {"model/train.py": PLAIN_ML, "requirements.txt": "scikit-learn==1.4.0\n"}),
           (2 + i % 3, {"tests/test_train.py": TESTS})]
    if i % 2 == 0:
        out.append((3 + i % 2, {"model/train.py": ML, "dags/features.py": DAG,
                                "requirements.txt": "scikit-learn==1.4.0\nmlflow==2.16.0\napache-airflow==2.9.0\n"}))
    if i % 3 == 0:
        out.append((5, {".github/workflows/ci.yml": CI}))
    if i % 4 == 0:
        out.append((6, {"Dockerfile": DOCKER, "infra/main.tf": TERRAFORM}))
    return sorted(out, key=lambda s: s[0])


def build_estate(org: Path, ends: list[date], count: int = 200) -> Path:
    for i in range(count):
        repo = org / f"repo-{i:03d}"
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        for quarter, files in steps(i):
            for rel, text in files.items():
                (repo / rel).parent.mkdir(parents=True, exist_ok=True)
                (repo / rel).write_text(text)
            git(repo, "add", "-A")
            when = f"{ends[quarter].isoformat()}T09:00:00+0000"
            git(repo, "commit", "-q", "-m", f"quarter {quarter}", env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})
    return org
