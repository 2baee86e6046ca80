"""What is an ML repository (issue 12, item 10): a tool that merely *reads* ML systems, or stages
them for its own tests, demos and benchmarks, does not practise what it reads.

- readers: MLflow `search_*`/`get_*` calls and a Great Expectations context opened only to read
  stored suites and validation results are neither tracking, registration nor data validation;
- staging code: a module importing a test double (moto, botocore's Stubber, unittest.mock) seeds a
  sandbox — its `create_registered_model`, GX suites and SageMaker endpoints are fixtures, wherever
  the module lives; so are benchmarks (`bench/`) that build the projects they time;
- tests of the harness: a test exercising a helper beside the tests (`tests/awsutil.py`'s
  `seed_pipeline`) is not an ML test;
and, on the other side, the same calls in a team's own code still count, GX/pandera checks in
`tests/` (a `tests/data/conftest.py` fixture included) are data validation, and a repository whose
ML-system code is all readers is not an ML repository (its level is 0, "no ML code").
Every fixture is written for this suite.
"""

from __future__ import annotations

from mlaudit.collectors.git.code import analyze_code
from mlaudit.collectors.git.collector import repository_item
from mlaudit.collectors.git.files import analyze_files
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem


def scan(files: dict[str, str]) -> tuple[list[EvidenceItem], EvidenceItem]:
    view = RepoView.from_files("repo", files)
    items = [*analyze_code(view), *analyze_files(view)]
    return items, repository_item(view, items, None, "main")


def signals(items: list[EvidenceItem]) -> set[str]:
    return {i.signal for i in items}


def paths(items: list[EvidenceItem], signal: str) -> set[str]:
    return {str(i.attributes.get("path")) for i in items if i.signal == signal}


MLFLOW_READER = """\
from mlflow import MlflowClient


def read_registry(uri):
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    models = client.search_registered_models(max_results=100)
    runs = client.search_runs(experiment_ids=["0"], max_results=500)
    latest = [client.get_latest_versions(m.name) for m in models]
    return models, runs, latest
"""

GX_READER = """\
import great_expectations as gx


def read_results(root):
    context = gx.get_context(mode="file", project_root_dir=root)
    suites = context.list_expectation_suite_names()
    results = [context.get_validation_result(name) for name in suites]
    return [r.to_json_dict() for r in results]
"""

GX_STORE_READER = """\
def open_store(config):
    from great_expectations.data_context.util import instantiate_class_from_config

    store = instantiate_class_from_config(config=config, runtime_environment={}, config_defaults={})
    return [store.get(key) for key in store.list_keys()]
"""

SANDBOX = """\
from pathlib import Path


def seed_registry(client):
    client.create_registered_model("churn", description="demo")
    client.create_model_version("churn", "runs:/abc/model", run_id="abc")
    client.set_registered_model_alias("churn", "production", "1")


def seed_gx(root: Path):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    suite = ctx.suites.add(gx.ExpectationSuite(name="orders"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="id"))


def seed_aws():
    import boto3
    from moto import mock_aws

    with mock_aws():
        sm = boto3.client("sagemaker", region_name="us-east-1")
        sm.create_endpoint(EndpointName="churn-prod", EndpointConfigName="churn-config")


def run(out):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{out}/mlflow.db")
    seed_registry(MlflowClient())
"""

BENCH = """\
import great_expectations as gx


def build(workdir):
    ctx = gx.get_context(mode="file", project_root_dir=str(workdir))
    ds = ctx.data_sources.add_pandas_filesystem("warehouse", base_directory=str(workdir))
    suite = ctx.suites.add(gx.ExpectationSuite(name="orders"))
    return ds, suite
"""

HARNESS_HELPER = """\
def seed_pipeline(client, name="churn-retrain"):
    return client.create_pipeline(PipelineName=name, RoleArn="arn:aws:iam::1:role/x")


def serving(port):
    return f"http://127.0.0.1:{port}/invocations"
"""

HARNESS_TEST = """\
from awsutil import seed_pipeline, serving


def test_pipeline_is_read(client):
    arn = seed_pipeline(client)
    assert arn.endswith("churn-retrain")


def test_serving_url():
    assert serving(8080).startswith("http://")
"""

TOOL_REPO = {
    "README.md": "# audit-tool\n\nReads MLflow, GX and SageMaker and reports on them.\n",
    "pyproject.toml": "[project]\nname = 'audit-tool'\ndependencies = ['mlflow', 'great_expectations']\n",
    "audit_tool/__init__.py": "",
    "audit_tool/readers/mlflow_reader.py": MLFLOW_READER,
    "audit_tool/readers/gx_reader.py": GX_READER,
    "audit_tool/readers/gx_stores.py": GX_STORE_READER,
    "audit_tool/demo.py": SANDBOX,
    "bench/gx_bench.py": BENCH,
    "tests/awsutil.py": HARNESS_HELPER,
    "tests/test_reader.py": HARNESS_TEST,
}


def test_a_tool_that_reads_ml_systems_is_not_an_ml_repository() -> None:
    items, repo = scan(TOOL_REPO)
    found = signals(items)
    for signal in ("experiment_tracking", "model_registry_use", "data_validation", "model_serving",
                   "ml_tests"):
        assert signal not in found, (signal, [i.locator for i in items if i.signal == signal])
    assert repo.attributes["is_ml"] is False, repo.attributes["ml_reasons"]
    # the tests themselves are still seen as tests
    assert "automated_tests" in found


def test_the_same_calls_in_the_teams_own_code_count() -> None:
    """The other side: registration, GX checks and ML tests without any test double or harness."""
    items, repo = scan({
        "src/churn/__init__.py": "",
        "src/churn/register.py": SANDBOX.split("def seed_gx")[0].replace("seed_registry", "register")
        + "\n\nif __name__ == '__main__':\n    from mlflow import MlflowClient\n    register(MlflowClient())\n",
        "src/churn/quality.py": (
            "import great_expectations as gx\n\n\ndef check(root):\n"
            "    context = gx.get_context(project_root_dir=root)\n"
            "    result = context.get_checkpoint('orders').run()\n"
            "    if not result.success:\n        raise SystemExit('orders failed validation')\n"
        ),
        "src/churn/features.py": "def build(df):\n    return df.assign(tenure_years=df.tenure / 12)\n",
        "tests/test_features.py": (
            "import pandas as pd\nfrom churn.features import build\n\n\ndef test_tenure_years():\n"
            "    assert build(pd.DataFrame({'tenure': [12]})).tenure_years.tolist() == [1.0]\n"
        ),
    })
    assert paths(items, "model_registry_use") == {"src/churn/register.py"}
    assert paths(items, "data_validation") == {"src/churn/quality.py"}
    assert "ml_tests" in signals(items)
    assert repo.attributes["is_ml"] is True


def test_gx_and_pandera_checks_in_a_tests_conftest_are_data_validation() -> None:
    items, _ = scan({
        "src/churn/train.py": "from sklearn.linear_model import LogisticRegression\n\n\n"
                              "def train(X, y):\n    return LogisticRegression().fit(X, y)\n",
        "tests/data/conftest.py": (
            "import pandas as pd\nimport pandera as pa\nimport pytest\n\n"
            "SCHEMA = pa.DataFrameSchema({'id': pa.Column(int, unique=True)})\n\n\n"
            "@pytest.fixture(scope='session')\ndef orders():\n"
            "    df = pd.read_parquet('data/orders.parquet')\n    return SCHEMA.validate(df)\n"
        ),
    })
    dv = [i for i in items if i.signal == "data_validation"]
    assert {i.attributes.get("path") for i in dv} == {"tests/data/conftest.py"}
    assert all(i.attributes.get("in_tests") for i in dv)


def test_a_conftest_that_only_builds_a_gx_project_is_not_validation() -> None:
    """Decoy: a fixture that creates a GX project for the code under test runs no expectation."""
    items, _ = scan({
        "src/churn/train.py": "from sklearn.linear_model import LogisticRegression\n",
        "tests/conftest.py": (
            "import great_expectations as gx\nimport pytest\n\n\n@pytest.fixture\n"
            "def gx_project(tmp_path):\n    return gx.get_context(mode='file', project_root_dir=str(tmp_path))\n"
        ),
    })
    assert "data_validation" not in signals(items)


def test_a_module_importing_a_test_double_is_staging_wherever_it_lives() -> None:
    """moto in `src/` is still a sandbox; the same module without moto is the team's practice."""
    staged = "import mlflow\n" + SANDBOX.split("def run(out)")[0]
    items, _ = scan({"src/app/seed.py": staged})
    assert not signals(items) & {"model_registry_use", "data_validation", "model_serving"}
    items, _ = scan({"src/app/seed.py": staged.replace("    from moto import mock_aws\n\n", "")
                     .replace("    with mock_aws():\n        ", "    if True:\n        ")})
    assert {"model_registry_use", "data_validation"} <= signals(items)


def test_benchmarks_are_harness_but_a_pipeline_named_bench_marking_is_not() -> None:
    items, _ = scan({"bench/gx_bench.py": BENCH})
    assert "data_validation" not in signals(items)
    items, _ = scan({"pipelines/benchmark_quality.py": BENCH})
    assert "data_validation" in signals(items)
