"""Code detectors on Python/notebook layouts seen in real public repositories (second pass):
copier/cookiecutter and Databricks-bundle templates, Databricks notebook sources, ZenML and
Metaflow projects, Feast feature repos, monitoring side-cars, Airflow provider operators.

Every fixture here is written for this suite: a minimal paraphrase of a layout pattern, not a
copy of anybody's files. Each test names the pattern and asserts the exact signals it must (or
must not) produce, per ../shared/design/signals.md.
"""

from __future__ import annotations

from mlaudit.collectors.git.code import analyze_code
from mlaudit.collectors.git.pyscan import detemplate
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

TOOL_SIGNALS = ("experiment_tracking", "model_registry_use", "feature_store", "model_monitoring",
                "data_validation", "orchestration", "lineage", "model_serving", "batch_inference",
                "training_infra", "data_pipeline", "warehouse", "scheduled_retraining")


def run(files: dict[str, str]) -> list[EvidenceItem]:
    return analyze_code(RepoView.from_files("repo", files))


def of(items: list[EvidenceItem], signal: str) -> list[EvidenceItem]:
    return [i for i in items if i.signal == signal]


def tools(items: list[EvidenceItem], signal: str) -> set[str]:
    return {i.attributes["tool"] for i in of(items, signal)}


def signals(items: list[EvidenceItem]) -> set[str]:
    return {i.signal for i in items if i.signal in TOOL_SIGNALS}


# -- copier/Jinja project templates: Python with tags ------------------------------------------
COPIER_INFERENCE_PIPELINE = """\
# {% include 'license_header' %}
from steps import (
    load_data,
{%- if drift_checks %}
    gate_on_drift,
{%- endif %}
    predict,
)
from zenml import pipeline
from zenml.integrations.evidently.steps import evidently_report_step


@pipeline
def {{product_name}}_inference():
    frame = load_data(source="{{product_name}}_source")
{%- if drift_checks %}
    report, _ = evidently_report_step(reference_dataset=frame, comparison_dataset=frame)
    gate_on_drift(report)
{%- endif %}
    predict(frame)
"""

COPIER_TRAINING_PIPELINE = """\
from zenml import pipeline
from zenml.integrations.mlflow.steps.mlflow_registry import mlflow_register_model_step
from steps import fit


@pipeline
def {{ pipeline_name }}_training():
    model = fit()
    mlflow_register_model_step(model, name="{{ model_name }}")
"""

ZENML_PROMOTION = """\
from zenml.client import Client


def promote(name: str, version: str, target: str) -> None:
    registry = Client().active_stack.model_registry
    registry.update_model_version(name=name, version=version, stage=target, metadata={})
"""


def test_copier_template_modules_are_parsed_and_conditional_blocks_are_opt_in() -> None:
    items = run({"template/pipelines/inference.py": COPIER_INFERENCE_PIPELINE,
                 "template/pipelines/training.py": COPIER_TRAINING_PIPELINE,
                 "template/utils/promote.py": ZENML_PROMOTION})
    monitoring = of(items, "model_monitoring")
    assert [(m.attributes["tool"], m.attributes["line"], m.attributes.get("opt_in")) for m in monitoring] == [
        ("evidently", 17, True)]
    assert tools(items, "orchestration") == {"zenml"}
    assert {i.attributes["path"] for i in of(items, "orchestration")} == {
        "template/pipelines/inference.py", "template/pipelines/training.py"}
    registry = {(i.attributes["tool"], i.attributes["action"], i.attributes["path"]) for i in
                of(items, "model_registry_use")}
    assert registry == {("mlflow", "register", "template/pipelines/training.py"),
                        ("zenml", "stage", "template/utils/promote.py")}
    assert all("opt_in" not in i.attributes for i in of(items, "model_registry_use"))


def test_detemplate_keeps_line_numbers_and_rejects_nothing_to_do() -> None:
    text, conditional = detemplate("a = 1\n{% if x %}\nb = '{{ y.z }}'\n{% endif %}\nc = 2\n") or ("", set())
    assert text.split("\n") == ["a = 1", "", "b = 'y_z'", "", "c = 2", ""]
    assert conditional == {3}
    assert detemplate("a = 1\n") is None


def test_inline_template_tags_mixed_with_code_still_do_not_parse() -> None:
    items = run({"{{cookiecutter.repo}}/train.py":
                 "import wandb\n{% if cookiecutter.tracking %}wandb.init(){% endif %}\n"})
    assert signals(items) == set()


# -- Databricks asset-bundle (Go template) projects -----------------------------------------------
GO_TEMPLATE_FEATURE_TEST = """\
import pandas as pd
from {{template "project_pkg"}}.feature_engineering.features.trip_features import compute_trip_features


def test_trip_features_count_windows(spark):
    frame = spark.createDataFrame(pd.DataFrame({"zip": [1]}))
    assert compute_trip_features(frame).count() == 1
"""

GO_TEMPLATE_BATCH_SCORING = """\
import mlflow


def score(spark, model_uri, source, target):
    table = spark.table(source)
    {{- if (eq .use_feature_store `yes`) }}
    from databricks.feature_engineering import FeatureEngineeringClient
    scored = FeatureEngineeringClient().score_batch(model_uri=model_uri, df=table)
    {{- else }}
    udf = mlflow.pyfunc.spark_udf(spark, model_uri)
    scored = table.withColumn("prediction", udf())
    {{- end }}
    scored.write.mode("overwrite").saveAsTable(target)
"""


def test_go_template_tests_and_batch_scoring_are_read() -> None:
    root = "template/{{.project_pkg}}.tmpl"
    items = run({f"{root}/tests/feature_engineering/trip_features_test.py": GO_TEMPLATE_FEATURE_TEST,
                 f"{root}/feature_engineering/features/trip_features.py": "def compute_trip_features(df):\n"
                                                                           "    return df\n",
                 f"{root}/deployment/batch_inference/predict.py": GO_TEMPLATE_BATCH_SCORING})
    auto = of(items, "automated_tests")
    assert len(auto) == 1 and auto[0].attributes["template"] is True
    ml = of(items, "ml_tests")
    assert len(ml) == 1 and ml[0].attributes["targets"] == [
        "template_project_pkg.feature_engineering.features.trip_features.compute_trip_features"]
    batch = {(i.attributes["tool"], i.attributes.get("opt_in")) for i in of(items, "batch_inference")}
    assert batch == {("databricks", True), ("spark", True)}
    assert of(items, "model_serving") == []


# -- Databricks notebook sources with bare magics --------------------------------------------------
DATABRICKS_NOTEBOOK_SOURCE = """\
# Databricks notebook source
import os
%pip install -r ../requirements.txt
%cd ../deployment

# COMMAND ----------

from mlflow import MlflowClient

client = MlflowClient()
client.set_registered_model_alias(name=dbutils.widgets.get("model"), alias="champion", version="3")
"""


def test_databricks_notebook_source_with_magics_is_parsed() -> None:
    items = run({"deployment/notebooks/Promote.py": DATABRICKS_NOTEBOOK_SOURCE})
    registry = of(items, "model_registry_use")
    assert [(r.attributes["tool"], r.attributes["action"], r.attributes["line"]) for r in registry] == [
        ("mlflow", "alias", 11)]
    assert "opt_in" not in registry[0].attributes


FEATURE_STORE_TRAINING = """\
import mlflow
from databricks.feature_store import FeatureStoreClient

fs = FeatureStoreClient()
training_set = fs.create_training_set(df, feature_lookups=lookups, label="fare")
model = fit(training_set.load_df())
fs.log_model(model, artifact_path="model", flavor=mlflow.sklearn, training_set=training_set,
             registered_model_name="taxi_fare")
"""


def test_feature_store_client_logging_a_registered_model_is_registry_use() -> None:
    items = run({"training/notebooks/TrainWithFS.py": FEATURE_STORE_TRAINING})
    assert [(i.attributes["tool"], i.attributes["action"]) for i in of(items, "model_registry_use")] == [
        ("mlflow", "register")]
    assert tools(items, "feature_store") == {"databricks"}


def test_log_model_with_registered_name_outside_mlflow_and_databricks_is_not_registry_use() -> None:
    items = run({"train.py": "from mytools import tracker\n\n"
                             "tracker.log_model(m, registered_model_name='x')\n"})
    assert of(items, "model_registry_use") == []


# -- ZenML stacks and other orchestrator integrations ------------------------------------------
ZENML_TRACKED_STEP = """\
from zenml import step
from zenml.client import Client
from zenml.integrations.mlflow.experiment_trackers import MLFlowExperimentTracker

tracker = Client().active_stack.experiment_tracker


@step(experiment_tracker=tracker.name)
def trainer(frame):
    return fit(frame)
"""


def test_zenml_step_bound_to_the_stack_tracker_is_tracking() -> None:
    items = run({"steps/trainer.py": ZENML_TRACKED_STEP,
                 "steps/plain.py": "from zenml import step\n\n@step\ndef load():\n    return 1\n"})
    tracking = of(items, "experiment_tracking")
    assert [(t.attributes["tool"], t.attributes["path"]) for t in tracking] == [("mlflow", "steps/trainer.py")]


def test_dagster_mlflow_resource_and_metaflow_batch_compute() -> None:
    items = run({
        "assets.py": "from dagster import asset, Definitions\nfrom dagster_mlflow import mlflow_tracking\n\n"
                     "@asset(required_resource_keys={'mlflow'})\ndef model(context):\n"
                     "    context.resources.mlflow.log_params({'a': 1})\n\n"
                     "defs = Definitions(assets=[model], resources={'mlflow': mlflow_tracking})\n",
        "flow.py": "from metaflow import FlowSpec, step, batch\n\nclass TrainFlow(FlowSpec):\n"
                   "    @batch(gpu=1, memory=16000)\n    @step\n    def train(self):\n        self.next(self.end)\n",
    })
    assert tools(items, "experiment_tracking") == {"mlflow"}
    assert [(t.attributes["tool"], t.attributes["path"]) for t in of(items, "training_infra")] == [
        ("aws-batch", "flow.py")]
    assert tools(items, "orchestration") == {"dagster", "metaflow"}


def test_airflow_provider_operators_name_the_warehouse_and_etl() -> None:
    dag = """\
from airflow.decorators import dag
from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator


@dag(dag_id="ingest")
def ingest():
    crawl = GlueJobOperator(task_id="etl", job_name="clean")
    merge = AthenaOperator(task_id="merge", query="merge.sql", database="lake")
    crawl >> merge


ingest()
"""
    items = run({"dags/ingest.py": dag})
    assert tools(items, "warehouse") == {"athena"}
    assert tools(items, "data_pipeline") == {"glue"}
    assert of(items, "scheduled_retraining") == []


# -- serving vs. side services ------------------------------------------------------------------
def test_flask_lifecycle_hooks_are_not_routes_and_a_metrics_service_is_not_serving() -> None:
    model_server = """\
import pickle
from flask import Flask, request

app = Flask(__name__)


@app.before_first_request
def load():
    global MODEL
    with open("model.pkl", "rb") as fh:
        MODEL = pickle.load(fh)


@app.route("/predict", methods=["POST"])
def predict():
    return str(MODEL.predict([request.json["x"]])[0])
"""
    drift_service = """\
from flask import Flask, request
from evidently.model_monitoring import ModelMonitoring, DataDriftMonitor

app = Flask(__name__)
monitor = ModelMonitoring(monitors=[DataDriftMonitor()])


@app.route("/iterate/<name>", methods=["POST"])
def iterate(name):
    monitor.execute(REFERENCE, request.json, None)
    return "ok"
"""
    items = run({"model_server/app.py": model_server, "monitoring/service.py": drift_service})
    serving = of(items, "model_serving")
    assert [(s.attributes["path"], s.attributes["line"]) for s in serving] == [("model_server/app.py", 14)]
    assert tools(items, "model_monitoring") == {"evidently"}


def test_fastapi_startup_hook_alone_is_not_serving() -> None:
    items = run({"api.py": "import joblib\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n"
                           "@app.on_event('startup')\ndef load():\n    app.state.model = joblib.load('m.pkl')\n"})
    assert of(items, "model_serving") == []


def test_streamlit_app_scoring_with_a_loaded_model_is_serving_but_a_feast_feature_server_is_not() -> None:
    items = run({
        "feature_repo/feature_store.yaml": "project: credit\nprovider: local\n",
        "credit_model.py": "import joblib\nimport feast\n\nclass CreditModel:\n    def __init__(self):\n"
                           "        self.clf = joblib.load('model.bin')\n"
                           "        self.fs = feast.FeatureStore(repo_path='feature_repo')\n",
        "ui.py": "import streamlit as st\nfrom credit_model import CreditModel\n\nmodel = CreditModel()\n"
                 "st.title('Loan')\nst.write(model.clf.predict([[1]]))\n",
        "feature_server.py": "from feast import FeatureStore\n\nFeatureStore(repo_path='feature_repo').serve("
                             "host='0.0.0.0', port=6566)\n",
    })
    assert [(s.attributes["tool"], s.attributes["path"]) for s in of(items, "model_serving")] == [
        ("streamlit", "ui.py")]
    assert tools(items, "feature_store") == {"feast"}


def test_streamlit_dashboard_without_a_model_is_not_serving() -> None:
    items = run({"dash.py": "import pandas as pd\nimport streamlit as st\n\n"
                            "st.line_chart(pd.read_csv('sales.csv'))\n"})
    assert of(items, "model_serving") == []


# -- tests named after a project package ------------------------------------------------------------
def test_project_package_name_does_not_make_a_test_an_ml_test() -> None:
    items = run({
        "basic_ml/ops/hello.py": "def hello():\n    return 'hi'\n",
        "basic_ml/train.py": "def main():\n    return 1\n",
        "basic_ml_tests/test_ops/test_hello.py": "from basic_ml.ops.hello import hello\n\n"
                                                 "def test_hello():\n    assert hello() == 'hi'\n",
    })
    assert len(of(items, "automated_tests")) == 1
    assert of(items, "ml_tests") == []
    items = run({
        "basic_ml/train.py": "def main():\n    return 1\n",
        "tests/test_train.py": "from basic_ml.train import main\n\ndef test_main():\n    assert main() == 1\n",
    })
    assert of(items, "ml_tests")[0].attributes["targets"] == ["basic_ml.train.main"]


def test_attribute_aliases_resolve_through_assignment() -> None:
    items = run({"log.py": "import mlflow\n\nlog = mlflow.log_metric\nlog('rmse', 0.3)\n"})
    assert [(i.attributes["tool"], i.attributes["line"]) for i in of(items, "experiment_tracking")] == [
        ("mlflow", 4)]


def test_helpers_beside_the_tests_are_not_tool_wiring() -> None:
    from mlaudit.collectors.git.code import analyze_code
    from mlaudit.collectors.git.view import RepoView

    helper = (
        "from mlflow import MlflowClient\n\n\n"
        "def seed(client: MlflowClient):\n"
        "    client.create_registered_model('m')\n"
        "    client.create_model_version('m', 'runs:/1/model')\n"
    )
    view = RepoView.from_files("r", {"tests/support/scenarios.py": helper,
                                     "src/register.py": helper.replace("'m'", "'prod'")})
    items = [e for e in analyze_code(view) if e.signal == "model_registry_use"]
    assert items and all(e.attributes["path"] == "src/register.py" for e in items)
