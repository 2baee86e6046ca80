"""Archetype ML repositories, layered as a team grows (issue 12, item 8: the synthetic corpus).

Each layer adds the practices of one maturity level to the one below, as real files a team
would commit (training code, tests, workflows, DAGs, Terraform), never one-line markers:
- NOTEBOOKS: exploratory notebooks and an unpinned requirements file (level 1);
- SCRIPT: a training script, unpinned requirements, a README with set-up steps (level 1);
- EXPLORING: + a Dockerfile, unit tests, MLflow tracking, an ETL module (level 2);
- BUILDING: + CI running ML tests, model registration, pinned dependencies, Terraform, review
  config, pandera validation (level 3);
- SCALING: + an Airflow DAG retraining weekly, Evidently monitoring, GX validation in a task,
  a DataHub ingestion recipe, dbt on Snowflake (level 4);
- ADVANCED: + a Feast feature repository, data-aware scheduling (Airflow Datasets), OpenLineage
  (level 5);
- MARKERS: a feature-store tutorial with a monitoring notebook — level-5 tools without tests,
  CI or tracking (never above 2).
"""

from __future__ import annotations

from pathlib import Path

from gitutil import commit_files, git

from mlaudit.demo_org import notebook

NOTEBOOKS = {
    "README.md": "# Churn analysis\n\nExploratory notebooks on the churn export of March.\n",
    "requirements.txt": "pandas\nscikit-learn\nmatplotlib\nseaborn\n",
    "notebooks/01-explore.ipynb": notebook(
        ("markdown", "# Churn exploration\nWhat drives cancellations?"),
        ("code", "import pandas as pd\nimport seaborn as sns\n\ndf = pd.read_csv('../data/churn.csv')\n"
                 "sns.histplot(df, x='tenure', hue='churned')\ndf.describe()\n"),
        outputs=True,
    ),
    "notebooks/02-baseline.ipynb": notebook(
        ("code", "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n"
                 "from sklearn.model_selection import cross_val_score\n\n"
                 "df = pd.read_csv('../data/churn.csv')\nX, y = df[['tenure', 'monthly_spend']], df['churned']\n"
                 "print(cross_val_score(LogisticRegression(max_iter=500), X, y, cv=5).mean())\n"),
        outputs=True,
    ),
}

SCRIPT = {
    "README.md": (
        "# churn-model\n\nPredicts which customers cancel within 30 days.\n\n## Getting started\n\n"
        "```bash\npython -m venv .venv && . .venv/bin/activate\npip install -r requirements.txt\n"
        "python src/churn/train.py --data data/churn.csv\n```\n"
    ),
    "requirements.txt": "pandas>=2.0\nscikit-learn>=1.3\njoblib\n",
    "src/churn/__init__.py": "",
    "src/churn/features.py": (
        "import pandas as pd\n\n\ndef build_features(df: pd.DataFrame) -> pd.DataFrame:\n"
        "    out = df.copy()\n    out['tenure_years'] = out['tenure'] / 12\n"
        "    out['spend_per_year'] = out['monthly_spend'] * 12\n    return out\n"
    ),
    "src/churn/train.py": (
        "import argparse\n\nimport joblib\nimport pandas as pd\nfrom sklearn.ensemble import GradientBoostingClassifier\n"
        "from sklearn.metrics import roc_auc_score\nfrom sklearn.model_selection import train_test_split\n\n"
        "from churn.features import build_features\n\nFEATURES = ['tenure_years', 'spend_per_year']\n\n\n"
        "def train(path: str) -> float:\n    df = build_features(pd.read_csv(path))\n"
        "    X_train, X_test, y_train, y_test = train_test_split(df[FEATURES], df['churned'], test_size=0.2)\n"
        "    model = GradientBoostingClassifier().fit(X_train, y_train)\n"
        "    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])\n"
        "    joblib.dump(model, 'model.joblib')\n    return auc\n\n\n"
        "if __name__ == '__main__':\n    parser = argparse.ArgumentParser()\n"
        "    parser.add_argument('--data', default='data/churn.csv')\n"
        "    print(train(parser.parse_args().data))\n"
    ),
}

TRAIN_TRACKED = (
    "import argparse\n\nimport joblib\nimport mlflow\nimport pandas as pd\n"
    "from sklearn.ensemble import GradientBoostingClassifier\nfrom sklearn.metrics import roc_auc_score\n"
    "from sklearn.model_selection import train_test_split\n\nfrom churn.features import build_features\n\n"
    "FEATURES = ['tenure_years', 'spend_per_year']\n\n\n"
    "def train(path: str, register: bool = False) -> float:\n    df = build_features(pd.read_parquet(path))\n"
    "    X_train, X_test, y_train, y_test = train_test_split(df[FEATURES], df['churned'], test_size=0.2)\n"
    "    mlflow.set_experiment('churn')\n    with mlflow.start_run():\n"
    "        model = GradientBoostingClassifier(n_estimators=200).fit(X_train, y_train)\n"
    "        auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])\n"
    "        mlflow.log_params({'n_estimators': 200})\n        mlflow.log_metric('auc', auc)\n"
    "        mlflow.sklearn.log_model(model, 'model')\n"
    "    joblib.dump(model, 'model.joblib')\n    return auc\n\n\n"
    "if __name__ == '__main__':\n    parser = argparse.ArgumentParser()\n"
    "    parser.add_argument('--data', default='data/churn.parquet')\n"
    "    print(train(parser.parse_args().data))\n"
)

# Level 2: a container, unit tests, experiment tracking and an ETL step
EXPLORING = {
    **SCRIPT,
    "requirements.txt": "pandas>=2.0\npyarrow\nscikit-learn>=1.3\nmlflow>=2.10\nsqlalchemy>=2\njoblib\npytest\n",
    "src/churn/train.py": TRAIN_TRACKED,
    "src/churn/etl.py": (
        "import pandas as pd\nfrom sqlalchemy import create_engine\n\n\n"
        "def extract(dsn: str) -> pd.DataFrame:\n    engine = create_engine(dsn)\n"
        "    return pd.read_sql('SELECT customer_id, tenure, monthly_spend, churned FROM customers', engine)\n\n\n"
        "def transform(df: pd.DataFrame) -> pd.DataFrame:\n    df = df.dropna(subset=['tenure'])\n"
        "    return df[df['monthly_spend'] >= 0]\n\n\n"
        "def load(df: pd.DataFrame, path: str) -> None:\n    df.to_parquet(path, index=False)\n\n\n"
        "def run(dsn: str, path: str = 'data/churn.parquet') -> None:\n    load(transform(extract(dsn)), path)\n"
    ),
    "tests/test_features.py": (
        "import pandas as pd\n\nfrom churn.features import build_features\n\n\n"
        "def test_tenure_in_years():\n    df = pd.DataFrame({'tenure': [12, 24], 'monthly_spend': [10.0, 20.0]})\n"
        "    out = build_features(df)\n    assert list(out['tenure_years']) == [1.0, 2.0]\n"
        "    assert list(out['spend_per_year']) == [120.0, 240.0]\n"
    ),
    "Dockerfile": (
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\n"
        "COPY src src\nENV PYTHONPATH=/app/src\nENTRYPOINT [\"python\", \"src/churn/train.py\"]\n"
    ),
}

# Level 3: CI runs the ML tests, models are registered, pins, Terraform, review, pandera
BUILDING = {
    **EXPLORING,
    "requirements.txt": None,
    "pyproject.toml": (
        "[project]\nname = \"churn\"\nversion = \"1.4.0\"\nrequires-python = \">=3.11\"\n"
        "dependencies = [\"pandas\", \"pyarrow\", \"scikit-learn\", \"mlflow\", \"sqlalchemy\", \"pandera\", \"fastapi\"]\n\n"
        "[tool.uv]\ndev-dependencies = [\"pytest\", \"ruff\"]\n\n[tool.ruff]\nline-length = 100\n"
    ),
    "uv.lock": (
        "version = 1\nrequires-python = \">=3.11\"\n\n[[package]]\nname = \"mlflow\"\nversion = \"2.16.0\"\n"
        "source = { registry = \"https://pypi.org/simple\" }\n\n[[package]]\nname = \"pandas\"\n"
        "version = \"2.2.2\"\nsource = { registry = \"https://pypi.org/simple\" }\n\n[[package]]\n"
        "name = \"scikit-learn\"\nversion = \"1.5.1\"\nsource = { registry = \"https://pypi.org/simple\" }\n"
    ),
    "src/churn/train.py": TRAIN_TRACKED.replace(
        "mlflow.sklearn.log_model(model, 'model')",
        "mlflow.sklearn.log_model(model, 'model', registered_model_name='churn' if register else None)",
    ),
    "src/churn/schema.py": (
        "import pandera as pa\nfrom pandera.typing import Series\n\n\nclass Customers(pa.DataFrameModel):\n"
        "    customer_id: Series[str] = pa.Field(unique=True)\n    tenure: Series[int] = pa.Field(ge=0)\n"
        "    monthly_spend: Series[float] = pa.Field(ge=0)\n    churned: Series[bool]\n"
    ),
    "src/churn/serve.py": (
        "import joblib\nimport pandas as pd\nfrom fastapi import FastAPI\n\napp = FastAPI()\n"
        "model = joblib.load('model.joblib')\n\n\n@app.post('/predict')\n"
        "def predict(tenure: float, monthly_spend: float) -> dict:\n"
        "    X = pd.DataFrame({'tenure_years': [tenure / 12], 'spend_per_year': [monthly_spend * 12]})\n"
        "    return {'churn_probability': float(model.predict_proba(X)[0, 1])}\n"
    ),
    "tests/test_train.py": (
        "import numpy as np\nimport pandas as pd\nfrom sklearn.ensemble import GradientBoostingClassifier\n\n"
        "from churn.features import build_features\nfrom churn.train import FEATURES\n\n\n"
        "def test_model_beats_chance_on_a_separable_sample():\n    rng = np.random.default_rng(0)\n"
        "    df = pd.DataFrame({'tenure': rng.integers(1, 60, 200), 'monthly_spend': rng.random(200) * 50})\n"
        "    df['churned'] = df['tenure'] < 12\n    X = build_features(df)[FEATURES]\n"
        "    model = GradientBoostingClassifier().fit(X, df['churned'])\n"
        "    assert model.score(X, df['churned']) > 0.9\n"
    ),
    ".github/workflows/ci.yml": (
        "name: ci\non:\n  push:\n    branches: [main]\n  pull_request:\njobs:\n  test:\n"
        "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
        "      - uses: astral-sh/setup-uv@v3\n      - run: uv sync --frozen\n"
        "      - run: uv run ruff check .\n      - run: uv run pytest -q tests\n"
    ),
    ".github/CODEOWNERS": "* @example/churn-team\n",
    ".pre-commit-config.yaml": (
        "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n    rev: v0.6.8\n"
        "    hooks:\n      - id: ruff\n"
    ),
    "infra/main.tf": (
        "terraform {\n  required_providers {\n    aws = { source = \"hashicorp/aws\", version = \"~> 5.0\" }\n  }\n}\n\n"
        "resource \"aws_s3_bucket\" \"models\" {\n  bucket = \"example-churn-models\"\n}\n\n"
        "resource \"aws_ecr_repository\" \"churn\" {\n  name = \"churn-service\"\n}\n"
    ),
}

# Level 4: an orchestrator retraining weekly, monitoring, GX in a task, catalogue, warehouse
SCALING = {
    **BUILDING,
    "dags/retrain_churn.py": (
        "from datetime import datetime\n\nfrom airflow import DAG\nfrom airflow.operators.python import PythonOperator\n\n"
        "from churn.etl import run as run_etl\nfrom churn.quality import validate_customers\nfrom churn.train import train\n\n"
        "with DAG('retrain_churn', schedule='@weekly', start_date=datetime(2024, 1, 1), catchup=False) as dag:\n"
        "    extract = PythonOperator(task_id='extract', python_callable=run_etl, op_args=['{{ var.value.dsn }}'])\n"
        "    check = PythonOperator(task_id='validate', python_callable=validate_customers)\n"
        "    fit = PythonOperator(task_id='train_model', python_callable=train, op_args=['data/churn.parquet', True])\n"
        "    extract >> check >> fit\n"
    ),
    "dags/monitor_drift.py": (
        "from datetime import datetime\n\nfrom airflow import DAG\nfrom airflow.operators.python import PythonOperator\n\n"
        "from churn.monitoring import drift_report\n\n"
        "with DAG('monitor_drift', schedule='@daily', start_date=datetime(2024, 1, 1), catchup=False) as dag:\n"
        "    PythonOperator(task_id='drift_report', python_callable=drift_report)\n"
    ),
    "src/churn/monitoring.py": (
        "import pandas as pd\nfrom evidently.metric_preset import DataDriftPreset\nfrom evidently.report import Report\n\n\n"
        "def drift_report() -> None:\n    reference = pd.read_parquet('s3://example-churn/reference.parquet')\n"
        "    current = pd.read_parquet('s3://example-churn/scored/latest.parquet')\n"
        "    report = Report(metrics=[DataDriftPreset()])\n"
        "    report.run(reference_data=reference, current_data=current)\n    report.save_html('/tmp/drift.html')\n"
    ),
    "src/churn/quality.py": (
        "import great_expectations as gx\nimport pandas as pd\n\n\ndef validate_customers() -> None:\n"
        "    df = pd.read_parquet('data/churn.parquet')\n    context = gx.get_context()\n"
        "    batch = context.data_sources.pandas_default.read_dataframe(df)\n"
        "    result = batch.validate(gx.expectations.ExpectColumnValuesToNotBeNull(column='customer_id'))\n"
        "    if not result.success:\n        raise ValueError('customers failed validation')\n"
    ),
    "catalog/datahub_snowflake.yml": (
        "source:\n  type: snowflake\n  config:\n    account_id: example-eu\n    warehouse: ANALYTICS\n"
        "    include_table_lineage: true\nsink:\n  type: datahub-rest\n  config:\n    server: http://datahub-gms:8080\n"
    ),
    "warehouse/dbt_project.yml": (
        "name: churn_marts\nversion: '1.0.0'\nconfig-version: 2\nprofile: churn\nmodel-paths: ['models']\n"
    ),
    "warehouse/profiles.yml": (
        "churn:\n  target: prod\n  outputs:\n    prod:\n      type: snowflake\n      account: example-eu\n"
        "      user: dbt\n      database: ANALYTICS\n      warehouse: TRANSFORMING\n      schema: churn\n"
    ),
    "warehouse/models/customers.sql": (
        "select customer_id, tenure, monthly_spend, churned\nfrom {{ source('crm', 'customers') }}\n"
        "where customer_id is not null\n"
    ),
}

# Level 5: a feature store and data-aware scheduling with lineage
ADVANCED = {
    **SCALING,
    "features/feature_store.yaml": (
        "project: churn\nregistry: s3://example-churn/feast/registry.db\nprovider: aws\n"
        "online_store:\n  type: dynamodb\n  region: eu-west-1\noffline_store:\n  type: snowflake.offline\n"
    ),
    "features/customer_features.py": (
        "from datetime import timedelta\n\nfrom feast import Entity, FeatureView, Field, FileSource\n"
        "from feast.types import Float32\n\ncustomer = Entity(name='customer', join_keys=['customer_id'])\n"
        "source = FileSource(path='s3://example-churn/features.parquet', timestamp_field='ts')\n"
        "customer_features = FeatureView(name='customer_features', entities=[customer], ttl=timedelta(days=1),\n"
        "                                schema=[Field(name='tenure_years', dtype=Float32),\n"
        "                                        Field(name='spend_per_year', dtype=Float32)], source=source)\n"
    ),
    "dags/features.py": (
        "from datetime import datetime\n\nfrom airflow import DAG\nfrom airflow.datasets import Dataset\n"
        "from airflow.operators.bash import BashOperator\n\nCUSTOMER_FEATURES = Dataset('s3://example-churn/features.parquet')\n\n"
        "with DAG('materialize_features', schedule='@hourly', start_date=datetime(2024, 1, 1), catchup=False) as dag:\n"
        "    BashOperator(task_id='materialize', bash_command='feast -c features materialize-incremental $(date -u +%FT%T)',\n"
        "                 outlets=[CUSTOMER_FEATURES])\n\n"
        "with DAG('score_churn', schedule=[CUSTOMER_FEATURES], start_date=datetime(2024, 1, 1), catchup=False) as scoring:\n"
        "    BashOperator(task_id='batch_score', bash_command='python -m churn.score')\n"
    ),
    "openlineage.yml": "transport:\n  type: http\n  url: http://marquez:5000\n  endpoint: api/v1/lineage\n",
}

# Level-5 tools without the basics: a Feast tutorial with a drift notebook (no tests, CI, tracking)
MARKERS = {
    "README.md": "# Feature store demo\n\nA walk-through of Feast with a drift check at the end.\n",
    "requirements.txt": "feast\nevidently\npandas\nscikit-learn\n",
    "feature_repo/feature_store.yaml": (
        "project: demo\nregistry: data/registry.db\nprovider: local\nonline_store:\n  type: sqlite\n"
        "  path: data/online_store.db\n"
    ),
    "feature_repo/features.py": ADVANCED["features/customer_features.py"].replace(
        "s3://example-churn/features.parquet", "data/features.parquet"),
    "monitor.py": (
        "import pandas as pd\nfrom evidently.metric_preset import DataDriftPreset\nfrom evidently.report import Report\n\n"
        "reference = pd.read_parquet('data/reference.parquet')\ncurrent = pd.read_parquet('data/current.parquet')\n"
        "report = Report(metrics=[DataDriftPreset()])\nreport.run(reference_data=reference, current_data=current)\n"
        "report.save_html('drift.html')\n"
    ),
    "train.py": (
        "import pandas as pd\nfrom feast import FeatureStore\nfrom sklearn.linear_model import LogisticRegression\n\n"
        "store = FeatureStore(repo_path='feature_repo')\nentities = pd.read_parquet('data/labels.parquet')\n"
        "df = store.get_historical_features(entity_df=entities, features=['customer_features:tenure_years']).to_df()\n"
        "model = LogisticRegression().fit(df[['tenure_years']], df['churned'])\n"
    ),
}

ARCHETYPES = {"notebooks": [NOTEBOOKS], "script": [SCRIPT], "exploring": [SCRIPT, EXPLORING],
              "building": [SCRIPT, EXPLORING, BUILDING],
              "scaling": [SCRIPT, EXPLORING, BUILDING, SCALING],
              "advanced": [SCRIPT, EXPLORING, BUILDING, SCALING, ADVANCED],
              "markers": [MARKERS]}
PEOPLE = ["Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>",
          "Alan Turing <alan@example.com>"]


def build_archetype(path: Path, name: str) -> Path:
    """A repository at `path` whose history adds the archetype's layers one commit at a time,
    by different people, weeks apart (deleting what a layer drops)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    present: dict[str, str] = {}
    for i, layer in enumerate(ARCHETYPES[name]):
        changed = {k: v for k, v in layer.items()
                   if (v is None and k in present) or (v is not None and present.get(k) != v)}
        commit_files(path, changed, f"{name}: step {i + 1}", author=PEOPLE[i % len(PEOPLE)],
                     days_ago=70 - 12 * i)
        present = {k: v for k, v in layer.items() if v is not None}
    return path
