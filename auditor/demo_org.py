"""The demo's git organisation: three repositories with real history, on local disk.

Used by `mlaudit demo` (auditor.demo) and by `examples/example_org.py`:
- `research-notebooks`: notebook-only analyses (level 1-2 material);
- `churn-service`: a training service with CI running tests, MLflow tracking, a FastAPI server,
  Docker and pinned dependencies (level 3 material; remote on GitHub);
- `ml-platform`: Airflow DAGs that retrain on a schedule, a Feast repository, Evidently
  monitoring, Great Expectations, Terraform for SageMaker (level 4-5 material; remote on GitLab).
Commits are made by several people over recent months, with explicit author and committer
identities, so no git configuration is needed on the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

PEOPLE = [
    "Ada Lovelace <ada@example.com>",
    "Grace Hopper <grace@example.com>",
    "Alan Turing <alan@example.com>",
    "Katherine Johnson <katherine@example.com>",
]
BOT = "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>"


def notebook(*cells: tuple[str, str], outputs: bool = False) -> str:
    nb_cells = []
    for kind, src in cells:
        cell: dict = {"cell_type": kind, "metadata": {}, "source": src.splitlines(keepends=True)}
        if kind == "code":
            cell["execution_count"] = 1 if outputs else None
            cell["outputs"] = ([{"output_type": "stream", "name": "stdout", "text": ["0.87\n"]}]
                               if outputs else [])
        nb_cells.append(cell)
    return json.dumps({"cells": nb_cells, "metadata": {"kernelspec": {"name": "python3"}},
                       "nbformat": 4, "nbformat_minor": 5}, indent=1)


RESEARCH = {
    "README.md": "# Research notebooks\n\nExploratory analyses. We plan to try MLflow and Airflow someday.\n",
    "requirements.txt": "pandas\nscikit-learn\nmatplotlib\n# mlflow\n",
    "notebooks/01-explore-churn.ipynb": notebook(
        ("markdown", "# Churn exploration\nLater: log runs with `mlflow.log_metric`."),
        ("code", "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n"
                 "df = pd.read_csv('churn.csv')\nmodel = LogisticRegression().fit(df[['tenure']], df['churned'])\n"),
        outputs=True,
    ),
    "notebooks/02-features.ipynb": notebook(
        ("code", "import pandas as pd\nimport seaborn as sns\ndf = pd.read_csv('churn.csv')\ndf.describe()\n"),
        outputs=True,
    ),
}

CHURN = {
    "README.md": "# churn-service\n\nTrain and serve the churn model.\n\n```bash\npip install -r requirements.txt\n"
                 "python -m churn.train\nuvicorn churn.serve:app\n```\n",
    "requirements.txt": "pandas==2.2.2\nscikit-learn==1.5.1\nmlflow==2.16.0\nfastapi==0.115.0\n"
                        "uvicorn==0.30.6\njoblib==1.4.2\npytest==8.3.2\n",
    "churn/__init__.py": "",
    "churn/features.py": "import pandas as pd\n\n\ndef build_features(df: pd.DataFrame) -> pd.DataFrame:\n"
                         "    out = df.copy()\n    out['tenure_years'] = out['tenure'] / 12\n    return out\n",
    "churn/train.py": (
        "import joblib\nimport mlflow\nimport pandas as pd\nfrom sklearn.ensemble import RandomForestClassifier\n"
        "from sklearn.metrics import roc_auc_score\n\nfrom churn.features import build_features\n\n\n"
        "def train(path: str = 'data/churn.csv') -> float:\n"
        "    df = build_features(pd.read_csv(path))\n"
        "    mlflow.set_experiment('churn')\n"
        "    with mlflow.start_run():\n"
        "        model = RandomForestClassifier(n_estimators=200).fit(df[['tenure_years']], df['churned'])\n"
        "        auc = roc_auc_score(df['churned'], model.predict_proba(df[['tenure_years']])[:, 1])\n"
        "        mlflow.log_param('n_estimators', 200)\n"
        "        mlflow.log_metric('auc', auc)\n"
        "        mlflow.sklearn.log_model(model, 'model', registered_model_name='churn')\n"
        "    joblib.dump(model, 'model.joblib')\n    return auc\n\n\n"
        "if __name__ == '__main__':\n    train()\n"
    ),
    "churn/serve.py": (
        "import joblib\nimport pandas as pd\nfrom fastapi import FastAPI\n\n"
        "app = FastAPI()\nmodel = joblib.load('model.joblib')\n\n\n"
        "@app.post('/predict')\ndef predict(tenure: float) -> dict:\n"
        "    proba = model.predict_proba(pd.DataFrame({'tenure_years': [tenure / 12]}))[0, 1]\n"
        "    return {'churn_probability': float(proba)}\n"
    ),
    "tests/test_features.py": (
        "import pandas as pd\n\nfrom churn.features import build_features\n\n\n"
        "def test_tenure_in_years():\n"
        "    out = build_features(pd.DataFrame({'tenure': [12, 24]}))\n"
        "    assert list(out['tenure_years']) == [1.0, 2.0]\n"
    ),
    "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
                  "COPY churn churn\nCMD [\"uvicorn\", \"churn.serve:app\", \"--host\", \"0.0.0.0\"]\n",
    ".github/workflows/ci.yml": (
        "name: ci\non:\n  push:\n    branches: [main]\n  pull_request:\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-python@v5\n"
        "        with:\n          python-version: '3.11'\n      - run: pip install -r requirements.txt\n"
        "      - run: ruff check .\n      - run: pytest -q\n"
    ),
    ".github/CODEOWNERS": "* @example/churn-team\n",
    "pyproject.toml": "[tool.ruff]\nline-length = 100\n",
}

PLATFORM = {
    "README.md": "# ml-platform\n\nShared pipelines, features and monitoring.\n\n```bash\nmake install\nterraform -chdir=infra apply\n```\n",
    "requirements.txt": "apache-airflow==2.10.2\nfeast==0.40.1\nevidently==0.4.33\ngreat-expectations==1.1.0\n"
                        "xgboost==2.1.1\npandas==2.2.2\n",
    "dags/retrain_churn.py": (
        "from datetime import datetime\n\nfrom airflow import DAG\nfrom airflow.operators.python import PythonOperator\n\n"
        "from platform_lib.training import train_churn_model\n\n"
        "with DAG('retrain_churn', schedule='@weekly', start_date=datetime(2024, 1, 1), catchup=False) as dag:\n"
        "    train = PythonOperator(task_id='train_model', python_callable=train_churn_model)\n"
    ),
    "dags/monitor_drift.py": (
        "from datetime import datetime\n\nfrom airflow import DAG\nfrom airflow.operators.python import PythonOperator\n\n"
        "from platform_lib.monitoring import drift_report\n\n"
        "with DAG('monitor_drift', schedule='@daily', start_date=datetime(2024, 1, 1), catchup=False) as dag:\n"
        "    PythonOperator(task_id='drift_report', python_callable=drift_report)\n"
    ),
    "platform_lib/__init__.py": "",
    "platform_lib/training.py": (
        "import pandas as pd\nimport xgboost as xgb\n\n\ndef train_churn_model() -> None:\n"
        "    df = pd.read_parquet('s3://example-features/churn.parquet')\n"
        "    model = xgb.XGBClassifier(n_estimators=300).fit(df.drop(columns=['churned']), df['churned'])\n"
        "    model.save_model('/tmp/churn.json')\n"
    ),
    "platform_lib/monitoring.py": (
        "import pandas as pd\nfrom evidently.metric_preset import DataDriftPreset\nfrom evidently.report import Report\n\n\n"
        "def drift_report() -> None:\n    reference = pd.read_parquet('s3://example-features/reference.parquet')\n"
        "    current = pd.read_parquet('s3://example-features/current.parquet')\n"
        "    report = Report(metrics=[DataDriftPreset()])\n"
        "    report.run(reference_data=reference, current_data=current)\n    report.save_html('/tmp/drift.html')\n"
    ),
    "platform_lib/validation.py": (
        "import great_expectations as gx\nimport pandas as pd\n\n\ndef validate(df: pd.DataFrame) -> bool:\n"
        "    context = gx.get_context()\n    batch = context.data_sources.pandas_default.read_dataframe(df)\n"
        "    result = batch.validate(gx.expectations.ExpectColumnValuesToNotBeNull(column='customer_id'))\n"
        "    return result.success\n"
    ),
    "features/feature_store.yaml": "project: churn\nregistry: s3://example-features/registry.db\nprovider: aws\n"
                                   "online_store:\n  type: dynamodb\n  region: eu-west-1\n",
    "features/churn_features.py": (
        "from datetime import timedelta\n\nfrom feast import Entity, FeatureView, Field, FileSource\n"
        "from feast.types import Float32\n\ncustomer = Entity(name='customer', join_keys=['customer_id'])\n"
        "source = FileSource(path='s3://example-features/churn.parquet', timestamp_field='ts')\n"
        "churn_features = FeatureView(name='churn_features', entities=[customer], ttl=timedelta(days=1),\n"
        "                             schema=[Field(name='tenure_years', dtype=Float32)], source=source)\n"
    ),
    "infra/main.tf": (
        "resource \"aws_sagemaker_endpoint\" \"churn\" {\n  name                 = \"churn\"\n"
        "  endpoint_config_name = aws_sagemaker_endpoint_configuration.churn.name\n}\n\n"
        "resource \"aws_sagemaker_endpoint_configuration\" \"churn\" {\n  name = \"churn\"\n"
        "  production_variants {\n    variant_name = \"main\"\n    model_name   = \"churn\"\n"
        "    instance_type = \"ml.m5.large\"\n    initial_instance_count = 1\n  }\n}\n"
    ),
    "tests/test_training.py": (
        "import pandas as pd\nimport xgboost as xgb\n\n\ndef test_model_learns_a_separable_split():\n"
        "    df = pd.DataFrame({'x': [0, 0, 1, 1] * 5, 'y': [0, 0, 1, 1] * 5})\n"
        "    model = xgb.XGBClassifier(n_estimators=5).fit(df[['x']], df['y'])\n"
        "    assert (model.predict(df[['x']]) == df['y']).all()\n"
    ),
    ".github/workflows/ci.yml": (
        "name: ci\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: pip install -r requirements.txt\n      - run: pytest\n"
    ),
    ".pre-commit-config.yaml": "repos:\n  - repo: https://github.com/kynan/nbstripout\n    rev: 0.7.1\n"
                               "    hooks:\n      - id: nbstripout\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n"
                               "    rev: v0.6.8\n    hooks:\n      - id: ruff\n",
    "CODEOWNERS": "* @example/platform-team\n",
    "docs/data-dictionary.md": (
        "# Data dictionary\n\n| table | column | type | meaning | owner |\n|---|---|---|---|---|\n"
        "| customers | customer_id | string | account id | crm |\n| customers | tenure | int | months since signup | crm |\n"
        "| events | churned | bool | cancelled within 30 days | billing |\n"
    ),
}


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                        **(env or {})})


def _commit(repo: Path, files: dict[str, str], message: str, author: str, days_ago: int) -> None:
    for rel, content in files.items():
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        _git(repo, "add", "--", rel)
    name, _, email = author.partition(" <")
    when = (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email.rstrip(">"), "GIT_AUTHOR_DATE": when,
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email.rstrip(">"), "GIT_COMMITTER_DATE": when}
    _git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)


def _build_repo(path: Path, files: dict[str, str], authors: list[str], remote: str | None) -> None:
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    items = sorted(files.items())
    # spread the files over several commits by several people, oldest first
    chunks = [dict(items[i::3]) for i in range(3)]
    for i, chunk in enumerate(chunks):
        _commit(path, chunk, f"add {', '.join(sorted(chunk))[:60]}", authors[i % len(authors)], 120 - 30 * i)
    _commit(path, {"CHANGELOG.md": "# Changelog\n\n- first release\n"}, "changelog", authors[-1], 3)
    if remote:
        _git(path, "remote", "add", "origin", remote)


def build(dest: Path) -> Path:
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} exists and is not empty; choose another folder")
    dest.mkdir(parents=True, exist_ok=True)
    _build_repo(dest / "research-notebooks", RESEARCH, PEOPLE[:1], None)
    _build_repo(dest / "churn-service", CHURN, PEOPLE[:3], "https://github.com/example/churn-service.git")
    _build_repo(dest / "ml-platform", PLATFORM, PEOPLE[1:], "https://gitlab.com/example/ml-platform.git")
    _commit(dest / "ml-platform", {"requirements.txt": PLATFORM["requirements.txt"] + "# bump\n"},
            "Bump deps", BOT, 2)
    return dest

