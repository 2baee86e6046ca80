"""Detectors on layouts met in the real-repository calibration corpus (docs/calibration.md,
issue 12 item 7): practices the repositories plainly show that the git detectors had missed.

- data validation written as tests (Great Expectations expectations or pandera schemas run by
  pytest over the dataset), and data-quality gates inside SageMaker Pipelines;
- model monitoring configured through Vertex AI's lower-level clients (GAPIC
  `ModelDeploymentMonitoringJob`, skew/drift objectives in a batch-prediction request);
- model registration through Vertex `Model.upload` carrying version metadata;
- README set-up instructions outside code blocks, under headings of the author's choosing;
- Prefect 2 deployment specs (`*-deployment.yaml`) and Taskcluster CI (`.taskcluster.yml`).

Every fixture is written for this suite, a minimal paraphrase of a layout, not anybody's file.
Each positive case has a decoy next to it (a README mention, a commented-out line, a stub, a
baseline-only step, a client that only lists), per ../shared/design/signals.md.
"""

from __future__ import annotations

from mlaudit.collectors.git.code import analyze_code
from mlaudit.collectors.git.files import analyze_files
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem


def run(files: dict[str, str]) -> list[EvidenceItem]:
    view = RepoView.from_files("repo", files)
    return analyze_code(view)


def run_all(files: dict[str, str]) -> list[EvidenceItem]:
    view = RepoView.from_files("repo", files)
    return [*analyze_code(view), *analyze_files(view)]


def of(items: list[EvidenceItem], signal: str) -> list[EvidenceItem]:
    return [i for i in items if i.signal == signal]


def tools(items: list[EvidenceItem], signal: str) -> set[str]:
    return {i.attributes["tool"] for i in of(items, signal)}


# -- data validation as tests ----------------------------------------------------------------
GX_CONFTEST = """\
import great_expectations as ge
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def frame(request):
    return ge.dataset.PandasDataset(pd.read_csv(request.config.getoption("--data")))
"""

GX_DATA_TEST = """\
def test_labels_are_known(frame):
    frame.expect_table_columns_to_match_ordered_list(column_list=["id", "text", "label"])
    frame.expect_column_values_to_be_in_set(column="label", value_set=["a", "b"])
    results = frame.validate(only_return_failures=True).to_json_dict()
    assert results["success"]
"""

# a tool that *reads* GX projects, tested with fixtures it builds: not the practice
GX_READER_TEST = """\
import great_expectations as gx
import great_expectations.expectations as gxe

from reader import read_suites


def test_reader_lists_suites(tmp_path):
    ctx = gx.get_context(mode="file", project_root_dir=str(tmp_path))
    suite = ctx.suites.add(gx.ExpectationSuite(name="orders"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="id"))
    assert read_suites(tmp_path) == ["orders"]
"""

PANDERA_DATA_TEST = """\
import pandas as pd
import pandera as pa

SCHEMA = pa.DataFrameSchema({"price": pa.Column(float, pa.Check.ge(0))})


def test_prices_are_positive():
    SCHEMA.validate(pd.read_parquet("data/prices.parquet"))
"""

JSONSCHEMA_TEST = """\
import jsonschema


def test_config_shape():
    schema = {"type": "object"}
    jsonschema.validate({}, schema)
    assert True
"""


def test_gx_expectations_run_by_pytest_are_data_validation():
    items = run({"tests/data/conftest.py": GX_CONFTEST, "tests/data/test_dataset.py": GX_DATA_TEST,
                 "src/model.py": "import sklearn\n"})
    dv = of(items, "data_validation")
    assert [(i.attributes["tool"], i.attributes["path"], i.attributes["line"]) for i in dv] == [
        ("great_expectations", "tests/data/test_dataset.py", 2)]
    assert dv[0].attributes["in_tests"] is True


def test_pandera_schema_validated_in_a_test_is_data_validation():
    assert tools(run({"tests/test_prices.py": PANDERA_DATA_TEST}), "data_validation") == {"pandera"}


PANDERA_INFERRED = """\
import pandera as pa


class DataSchemaAndStatistics:
    def infer_schema(self, data):
        self.schema = pa.infer_schema(data)
        return self.schema

    def load_schema(self, schema_json):
        self.schema = pa.DataFrameSchema.from_json(schema_json)

    def validate_data(self, new_data):
        return self.schema.validate(new_data, lazy=True)
"""


def test_a_pandera_schema_inferred_or_loaded_from_a_file_is_data_validation():
    """`pa.infer_schema(df)` and `DataFrameSchema.from_json(...)` build the schemas new data is
    validated against (a course project's DAG validated each batch this way)."""
    items = run({"dataset/scripts/data_schema.py": PANDERA_INFERRED})
    dv = of(items, "data_validation")
    assert {i.attributes["tool"] for i in dv} == {"pandera"}
    assert {i.attributes["line"] for i in dv} <= {6, 10}
    decoys = run({"src/schema.py": "# import pandera as pa\n# schema = pa.infer_schema(df)\n",
                  "README.md": "We validate with `pa.infer_schema(df).validate(new)`.\n",
                  "src/io.py": "import pandera as pa\n\ndef save(schema, path):\n    pa.io.to_yaml(schema, path)\n"})
    assert of(decoys, "data_validation") == []


def test_decoys_gx_reader_tests_json_schema_and_mentions_are_not_validation():
    items = run({
        "tests/test_reader.py": GX_READER_TEST,            # builds GX fixtures, asserts on a reader
        "tests/test_config.py": JSONSCHEMA_TEST,          # `validate` of another library
        "tests/test_notes.py": "def test_doc():\n    text = 'expect_column_values_to_be_unique'\n"
                               "    assert text\n",       # an expectation name in a string
        "README.md": "Data is validated with `df.expect_column_values_to_not_be_null()`.\n",
        "tests/data/conftest.py": GX_CONFTEST,            # a fixture alone validates nothing
    })
    assert of(items, "data_validation") == []


SM_QUALITY_GATE = """\
from sagemaker.workflow.check_job_config import CheckJobConfig
from sagemaker.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep


def monitor_step(scores_uri, baseline_uri, role):
    config = DataQualityCheckConfig(baseline_dataset=scores_uri, output_s3_uri="s3://b/checks")
    return QualityCheckStep(
        name="CheckScores",
        skip_check=False,
        register_new_baseline=False,
        quality_check_config=config,
        check_job_config=CheckJobConfig(role=role),
        supplied_baseline_constraints=baseline_uri + "/constraints.json",
    )
"""

SM_BASELINE_ONLY = SM_QUALITY_GATE.replace("skip_check=False", "skip_check=True").replace(
    "register_new_baseline=False", "register_new_baseline=True")

SM_MODEL_QUALITY = """\
from sagemaker.workflow.quality_check_step import ModelQualityCheckConfig, QualityCheckStep


def model_step(uri):
    return QualityCheckStep(name="ModelQuality", quality_check_config=ModelQualityCheckConfig(
        baseline_dataset=uri, problem_type="Regression", ground_truth_attribute="y"))
"""


def test_sagemaker_data_quality_step_that_can_fail_the_pipeline_is_validation():
    items = run({"pipelines/batch.py": SM_QUALITY_GATE})
    assert [(i.attributes["tool"], i.attributes["line"]) for i in of(items, "data_validation")] == [
        ("sagemaker-quality-check", 7)]


def test_decoys_baseline_only_and_model_quality_steps_are_not_data_validation():
    assert of(run({"pipelines/build.py": SM_BASELINE_ONLY}), "data_validation") == []
    assert of(run({"pipelines/model.py": SM_MODEL_QUALITY}), "data_validation") == []
    no_gate = SM_QUALITY_GATE.replace("skip_check=False,", "skip_check=False, fail_on_violation=False,")
    assert of(run({"pipelines/batch.py": no_gate}), "data_validation") == []


# -- monitoring through Vertex AI clients ----------------------------------------------------
VERTEX_GAPIC_MONITORING = """\
from google.cloud import aiplatform_v1beta1 as beta


def create_job(client, parent, endpoint, objectives, schedule):
    job = beta.ModelDeploymentMonitoringJob(
        display_name="churn-monitoring",
        endpoint=endpoint,
        model_deployment_monitoring_objective_configs=objectives,
        model_deployment_monitoring_schedule_config=schedule,
    )
    return client.create_model_deployment_monitoring_job(parent=parent, model_deployment_monitoring_job=job)
"""

VERTEX_LIST_ONLY = """\
from google.cloud import aiplatform_v1beta1 as beta
\"\"\"Dashboards list ModelDeploymentMonitoringJob resources; they create none.\"\"\"


def jobs(client, parent):
    return [j.display_name for j in client.list_model_deployment_monitoring_jobs(parent=parent)]
"""

VERTEX_BATCH_REQUEST = """\
from google.cloud.aiplatform_v1beta1.services.job_service import JobServiceClient
from google.cloud.aiplatform_v1beta1.types import BatchPredictionJob
from google.protobuf.json_format import ParseDict


def submit(project, model, source, skew, dataset, emails):
    message = {"displayName": "scores", "model": model, "inputConfig": {"gcsSource": {"uris": [source]}}}
    if skew and dataset:
        message["modelMonitoringConfig"] = {
            "alertConfig": {"emailAlertConfig": {"userEmails": emails}},
            "objectiveConfigs": [{"trainingDataset": dataset, "trainingPredictionSkewDetectionConfig": skew}],
        }
    request = ParseDict(message, BatchPredictionJob()._pb)
    return JobServiceClient().create_batch_prediction_job(parent=project, batch_prediction_job=request)
"""


def test_vertex_monitoring_job_through_the_gapic_client_is_model_monitoring():
    items = run({"monitoring/create.py": VERTEX_GAPIC_MONITORING})
    mm = of(items, "model_monitoring")
    assert {i.attributes["tool"] for i in mm} == {"vertex-model-monitoring"}
    assert mm[0].attributes["scheduled"] is True


def test_skew_objectives_in_a_batch_prediction_request_are_model_monitoring():
    mm = of(run({"components/batch_predict.py": VERTEX_BATCH_REQUEST}), "model_monitoring")
    assert [(i.attributes["tool"], i.attributes["via"], i.attributes["line"]) for i in mm] == [
        ("vertex-model-monitoring", "request", 9)]


def test_decoys_listing_jobs_and_monitoring_keys_without_vertex_or_objectives():
    assert of(run({"dash.py": VERTEX_LIST_ONLY}), "model_monitoring") == []
    no_vertex = VERTEX_BATCH_REQUEST.replace("google.cloud.aiplatform_v1beta1", "acme.jobs")
    assert of(run({"batch.py": no_vertex}), "model_monitoring") == []
    empty = ("from google.cloud import aiplatform\n\n"
             "REQUEST = {'displayName': 'x', 'modelMonitoringConfig': None}\n")
    assert of(run({"batch.py": empty}), "model_monitoring") == []
    kwarg = "def f(job):\n    return job.batch_predict(model_monitoring_objective_config=None)\n"
    assert of(run({"batch.py": kwarg}), "model_monitoring") == []  # no aiplatform import


def test_batch_predict_with_monitoring_objectives_is_model_monitoring():
    src = ("from google.cloud import aiplatform\n\n\ndef score(model, objective):\n"
           "    return aiplatform.Model(model).batch_predict(job_display_name='s',\n"
           "        model_monitoring_objective_config=objective)\n")
    assert tools(run({"score.py": src}), "model_monitoring") == {"vertex-model-monitoring"}


# -- registration through Vertex Model.upload ------------------------------------------------
VERTEX_UPLOAD_LABELLED = """\
from google.cloud import aiplatform as vertex_ai


def register(name, artifacts, image, labels):
    model = vertex_ai.Model.upload(
        display_name=name,
        artifact_uri=artifacts,
        serving_container_image_uri=image,
        labels=labels,
    )
    return model.resource_name
"""

VERTEX_UPLOAD_BARE = """\
from google.cloud import aiplatform


def push(name, artifacts, image):
    # aiplatform.Model.upload(display_name=name, artifact_uri=artifacts, labels={"v": "1"})
    return aiplatform.Model.upload(display_name=name, artifact_uri=artifacts,
                                   serving_container_image_uri=image)
"""


def test_vertex_upload_with_version_metadata_is_registry_use():
    mr = of(run({"pipeline/components.py": VERTEX_UPLOAD_LABELLED}), "model_registry_use")
    assert [(i.attributes["tool"], i.attributes["action"], i.attributes["line"]) for i in mr] == [
        ("vertex", "register", 5)]


def test_decoys_bare_upload_and_commented_upload_are_not_registry_use():
    assert of(run({"push.py": VERTEX_UPLOAD_BARE}), "model_registry_use") == []


# -- README set-up instructions outside code blocks ------------------------------------------
README_STEP_BY_STEP = """\
# Bikeshare demand engine

## Motivation
The team wants to forecast rentals.

## How to run training - Step by step guide
1. Have python 3.9+ and an AWS profile
2. Run `make setup` from the root directory
3. Download the data with `python get_data.py`
"""

README_NESTED = """\
# Recommender

## Setup

### Virtual env
* `python -m venv venv`
* `pip install -r requirements.txt`

#### Metaflow: configuration
`METAFLOW_PROFILE=dev python flow.py run`
"""

README_TOOLS_ONLY = """\
# Churn analysis

## Tools
We rely on `docker`, `pip` and `mlflow` for this project, see `python train.py` in the paper.

## Setup
Install the dependencies listed in `requirements.txt` and you are ready.

## Results
Our run of `python train.py --epochs 3` reached 0.91 AUC.
"""


def documentation(files: dict[str, str]) -> list[EvidenceItem]:
    return of(run_all(files), "documentation")


def test_inline_commands_under_a_home_made_setup_heading_are_setup_instructions():
    doc = documentation({"README.md": README_STEP_BY_STEP, "get_data.py": "print('x')\n"})
    assert [(d.attributes["path"], d.attributes["line"], d.attributes["setup_commands"]) for d in doc] == [
        ("README.md", 8, 2)]


def test_inline_commands_in_subsections_of_setup_and_upper_case_readme_name():
    doc = documentation({"README.MD": README_NESTED})
    assert [(d.attributes["path"], d.attributes["setup_commands"]) for d in doc] == [("README.MD", 3)]


def test_decoys_tool_names_prose_setup_and_results_are_not_setup_instructions():
    assert documentation({"README.md": README_TOOLS_ONLY}) == []


# -- Taskcluster task graphs and scheduled hooks (outside CI) ---------------------------------
TC_GRAPH = """\
version: 1
tasks:
  $let:
    repository: https://example.org/churn
  in:
    - ID: retrieve-events
      created: { $fromNow: "" }
      provisionerId: proj-churn
      workerType: batch
      payload:
        image: example/churn-retrieval:${version}
        command: [churn-retrieve-events, /cache/]
    - ID: train-churn
      dependencies: [retrieve-events]
      provisionerId: proj-churn
      workerType: compute-large
      payload:
        image: example/churn-trainer:${version}
        command: [churn-train, churn, --limit, "500000"]
"""

TC_HOOK = """\
{
  "schedule": ["0 0 1,16 * *"],
  "metadata": {"name": "churn data pipeline", "owner": "team@example.org"},
  "task": {
    "provisionerId": "proj-churn",
    "workerType": "batch",
    "payload": {
      "image": "example/spawn-pipeline",
      "command": ["python", "/code/spawn_pipeline.py", "/code/churn-pipeline.yml"]
    }
  }
}
"""


def test_taskcluster_task_graph_is_orchestration_and_its_scheduled_hook_retrains() -> None:
    items = run_all({"infra/churn-pipeline.yml": TC_GRAPH, "infra/taskcluster-hook-churn.json": TC_HOOK})
    [orch] = of(items, "orchestration")
    assert orch.attributes["tool"] == "taskcluster" and orch.attributes["tasks"] == 2
    [sched] = of(items, "scheduled_retraining")
    assert sched.attributes["trigger"] == "taskcluster_hook"
    assert sched.attributes["schedule"] == "0 0 1,16 * *"
    assert sched.attributes["spawns"] == ["infra/churn-pipeline.yml"]


def test_taskcluster_decoys() -> None:
    # tasks without dependencies are a list of jobs, not a pipeline
    loose = TC_GRAPH.replace("      dependencies: [retrieve-events]\n", "")
    assert not of(run_all({"infra/churn-pipeline.yml": loose}), "orchestration")
    # a scheduled hook whose graph only retrieves data is not retraining
    no_train = TC_GRAPH.replace("churn-train, churn", "churn-export, events").replace("trainer", "exporter")
    items = run_all({"infra/churn-pipeline.yml": no_train, "infra/taskcluster-hook-churn.json": TC_HOOK})
    assert of(items, "orchestration") and not of(items, "scheduled_retraining")
    # a hook without a schedule (triggered by hand or by pulse messages) is not scheduled
    manual = TC_HOOK.replace('"schedule": ["0 0 1,16 * *"],', '"schedule": [],')
    items = run_all({"infra/churn-pipeline.yml": TC_GRAPH, "infra/taskcluster-hook-churn.json": manual})
    assert not of(items, "scheduled_retraining")
    # the in-repo CI file is CI, not an orchestrated pipeline
    assert not of(run_all({".taskcluster.yml": TC_GRAPH}), "orchestration")
    # a README describing the pipeline is prose
    assert not of(run_all({"README.md": TC_GRAPH}), "orchestration")
