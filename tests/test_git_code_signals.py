"""Code detectors of the git collector, on real git repositories and in-memory trees."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlaudit.collectors.git.code import DETECTORS, analyze_code
from mlaudit.collectors.git.view import RepoView, TreeEntry
from mlaudit.evidence import EvidenceItem
from tests.gitutil import make_repo


# -- helpers ---------------------------------------------------------------------------------
def git_view(root: Path, files: dict[str, str | bytes]) -> RepoView:
    """A RepoView over a real repository: tree from `git ls-tree`, blobs from `git cat-file`."""
    repo = make_repo(root, files)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-l", "-z", "HEAD"], check=True,
                             capture_output=True).stdout.decode()
    entries = {}
    for record in filter(None, listing.split("\0")):
        meta, _, path = record.partition("\t")
        mode, _kind, sha, size = meta.split()
        entries[path] = TreeEntry(path, sha, int(size), mode)

    def read(sha: str) -> bytes:
        return subprocess.run(["git", "-C", str(repo), "cat-file", "-p", sha], check=True,
                              capture_output=True).stdout

    return RepoView(name="repo", commit=commit, entries=entries, reader=read)


def run(files: dict[str, str | bytes]) -> list[EvidenceItem]:
    return analyze_code(RepoView.from_files("repo", files))


def found(items: list[EvidenceItem], signal: str) -> set[tuple[str | None, str | None, int | None]]:
    return {(e.tool, e.attributes.get("path"), e.attributes.get("line")) for e in items if e.signal == signal}


def tools(items: list[EvidenceItem], signal: str) -> set[str | None]:
    return {e.tool for e in items if e.signal == signal}


def only(items: list[EvidenceItem], signal: str) -> EvidenceItem:
    matching = [e for e in items if e.signal == signal]
    assert len(matching) == 1, matching
    return matching[0]


def notebook(*cells: tuple[str, str]) -> str:
    """An nbformat-4 notebook, written the way Jupyter writes it (source as a list of lines)."""
    return json.dumps({
        "cells": [{"cell_type": kind, "metadata": {}, "source": src.splitlines(keepends=True),
                   **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                  for kind, src in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }, indent=1)


TOOL_SIGNALS = ("experiment_tracking", "model_registry_use", "feature_store", "model_monitoring",
                "data_validation", "orchestration", "scheduled_retraining", "lineage", "model_serving",
                "batch_inference", "training_infra", "data_pipeline", "warehouse", "data_catalog",
                "data_audit")

DECOYS = {
    "README.md": "We log everything with `mlflow.log_metric` and `wandb.init`, deploy with SageMaker\n"
                 "`model.deploy()`, orchestrate with Airflow `DAG(...)` and validate with great_expectations.\n",
    "docs/guide.md": "import evidently\nfrom feast import FeatureStore\n",
    "src/commented.py": "# import mlflow\n# mlflow.log_metric('acc', 1)\n# from airflow import DAG\nx = 1\n",
    "src/strings.py": '"""Uses mlflow.start_run() and wandb.log() and feast.FeatureView."""\n'
                      "SNIPPET = 'mlflow.register_model(uri, name)'\nHELP = 'DAG(schedule=\"@daily\")'\n",
    "src/stub.py": "def track(metrics):\n    print('mlflow.log_metric', metrics)\n\n"
                   "def register():\n    raise NotImplementedError('mlflow.register_model')\n\n"
                   "def monitor():\n    return 'evidently Report'\n",
    "analysis.ipynb": notebook(("markdown", "import mlflow\nmlflow.log_metric('x', 1)\nimport torch\n"),
                              ("code", "x = 1\nprint('wandb.init()')\n")),
    "requirements.txt": "mlflow==2.9\nwandb\n# torch==2.1\nscikit-learn==1.3\n",
}


def test_a_byte_order_mark_does_not_hide_a_file(tmp_path: Path) -> None:
    """Windows editors start files with a UTF-8 BOM; Python runs them, so they are code."""
    bom = b"\xef\xbb\xbf"
    dag = ("from airflow import DAG\nfrom airflow.operators.python import PythonOperator\n"
           "with DAG('features', schedule_interval='@daily') as dag:\n"
           "    PythonOperator(task_id='compute', python_callable=print)\n")
    train = "import mlflow\nfrom sklearn.linear_model import Ridge\nmlflow.log_metric('r2', Ridge().fit(X, y).score(X, y))\n"
    items = analyze_code(git_view(tmp_path / "r", {"dags/features.py": bom + dag.encode(),
                                                   "train.py": bom + train.encode()}))
    assert found(items, "orchestration") == {("airflow", "dags/features.py", 3)}
    assert found(items, "experiment_tracking") == {("mlflow", "train.py", 3)}
    assert only(items, "ml_frameworks").attributes["frameworks"]["sklearn"] == "imported"
    # a BOM in the middle of a file is not a file start: that file stays unparsable and quiet
    assert found(run({"odd.py": "import mlflow\n\ufeffmlflow.log_metric('a', 1)\n"}), "experiment_tracking") == set()


# -- decoys ----------------------------------------------------------------------------------
def test_decoys_give_no_tool_evidence(tmp_path: Path) -> None:
    items = analyze_code(git_view(tmp_path / "r", DECOYS))
    assert [e for e in items if e.signal in TOOL_SIGNALS] == []
    census = only(items, "ml_frameworks")
    # a requirement line is declared_only; a commented one and a markdown cell are nothing
    assert census.attributes["frameworks"] == {"sklearn": "declared_only"}
    assert census.attributes["notebook_files"] == 1
    assert census.attributes["notebook_ml_cells"] == 0


def test_model_libraries_and_inference_runtimes_are_ml_code() -> None:
    """A service that runs models through an inference runtime or a model library (ONNX Runtime,
    InsightFace, Ultralytics, OpenVINO, timm, PEFT, vLLM) holds ML code as much as one that
    imports torch; a requirement line alone is only declared, a comment or README nothing."""
    items = run({"edge/detect.py": "import onnxruntime as ort\nfrom insightface.app import FaceAnalysis\n\n"
                                   "sess = ort.InferenceSession('m.onnx')\n",
                 "train/yolo.py": "from ultralytics import YOLO\nYOLO('yolov8n.pt').train(data='cats.yaml')\n",
                 "requirements.txt": "openvino==2024.1\n# vllm\n",
                 "README.md": "Serve with vLLM or TensorRT.\n"})
    frameworks = only(items, "ml_frameworks").attributes["frameworks"]
    assert frameworks == {"onnxruntime": "imported", "insightface": "imported", "ultralytics": "imported",
                          "openvino": "declared_only"}
    # an LLM API client is not a model library: no ML code
    api = only(run({"app.py": "import openai\nopenai.chat.completions.create(model='gpt-4o')\n"}), "ml_frameworks")
    assert api.attributes["frameworks"] == {}


# -- experiment tracking ---------------------------------------------------------------------
def test_mlflow_tracking_resolves_aliases_on_a_real_repo(tmp_path: Path) -> None:
    files = {
        **DECOYS,
        "src/train.py": (
            "import mlflow as mf\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "\n"
            "def train(X, y):\n"
            "    # mf.log_param('commented', 1)\n"
            "    with mf.start_run():\n"
            "        model = LogisticRegression().fit(X, y)\n"
            "        mf.log_metric('acc', model.score(X, y))\n"
        ),
    }
    view = git_view(tmp_path / "r", files)
    items = analyze_code(view)
    assert found(items, "experiment_tracking") == {("mlflow", "src/train.py", 6), ("mlflow", "src/train.py", 8)}
    first = [e for e in items if e.signal == "experiment_tracking"][0]
    assert first.attributes["occurrences"] == 2
    assert first.excerpt == "with mf.start_run():"
    assert first.locator == f"repo:src/train.py:6@{view.commit[:12]}"
    assert "notebook_only" not in first.attributes
    census = only(items, "ml_frameworks")
    assert census.attributes["frameworks"]["sklearn"] == "imported"
    assert census.attributes["training_entry_points"] == ["src/train.py"]


@pytest.mark.parametrize(("code", "tool"), [
    ("import wandb\nrun = wandb.init(project='p')\nrun.log({'a': 1})\n", "wandb"),
    ("import neptune\nrun = neptune.init_run(project='p')\n", "neptune"),
    ("from comet_ml import Experiment\nexp = Experiment(project_name='p')\n", "comet"),
    ("from clearml import Task\ntask = Task.init(project_name='p')\n", "clearml"),
    ("from aim import Run\nrun = Run()\n", "aim"),
    ("from dvclive import Live\nwith Live() as live:\n    live.log_metric('a', 1)\n", "dvclive"),
    ("from torch.utils.tensorboard import SummaryWriter\nw = SummaryWriter('runs')\n", "tensorboard"),
    ("import tensorflow as tf\nw = tf.summary.create_file_writer('logs')\n", "tensorboard"),
    ("import tensorflow as tf\ndef model_fn(f, labels, mode):\n    tf.summary.scalar('train_accuracy', acc)\n",
     "tensorboard"),
    ("from catalyst.dl import SupervisedRunner\nrunner = SupervisedRunner()\n"
     "runner.train(model=m, loaders=l, logdir='logs/fold0', num_epochs=5)\n", "tensorboard"),
    ("from pytorch_lightning.loggers import WandbLogger\nlogger = WandbLogger(project='p')\n", "wandb"),
    ("from lightning.pytorch.loggers import MLFlowLogger\nlogger = MLFlowLogger()\n", "mlflow"),
    ("from transformers import TrainingArguments\nargs = TrainingArguments('out', report_to='wandb')\n", "wandb"),
    ("from transformers import TrainingArguments\nargs = TrainingArguments('o', report_to=['mlflow'])\n", "mlflow"),
    ("from sagemaker.experiments.run import Run\nwith Run(experiment_name='e') as run:\n    run.log_metric('a', 1)\n",
     "sagemaker-experiments"),
    ("from google.cloud import aiplatform\naiplatform.start_run('r')\n", "vertex-experiments"),
    ("from azureml.core import Run\nrun = Run.get_context()\nrun.log('acc', 0.9)\n", "azureml"),
    ("import mlflow.pytorch\nmlflow.pytorch.autolog()\n", "mlflow"),
])
def test_tracking_tools(code: str, tool: str) -> None:
    items = run({"train.py": code})
    assert tools(items, "experiment_tracking") == {tool}


@pytest.mark.parametrize("code", [
    "import optuna\nstudy = optuna.create_study()\nstudy.optimize(lambda t: 1.0, n_trials=3)\n",
    "from hyperopt import fmin\nfmin(fn=abs, space=None)\n",
    "import json\njson.dump({'acc': 0.9}, open('metrics.json', 'w'))\nprint('acc', 0.9)\n",
    "from transformers import TrainingArguments\nargs = TrainingArguments('o', report_to='none')\n",
    "import mlflow\nmodel = mlflow.pyfunc.load_model('models:/m/1')\n",
    # a Catalyst runner without a log directory writes no logs; summaries merely read back
    "from catalyst.dl import SupervisedRunner\nSupervisedRunner().train(model=m, loaders=l, num_epochs=5)\n",
    "import tensorflow as tf\nfor e in tf.compat.v1.train.summary_iterator('events'):\n    print(e)\n",
    "# tf.summary.scalar('acc', acc)  # TensorBoard logging disabled\nimport tensorflow as tf\n",
])
def test_not_tracking(code: str) -> None:
    assert tools(run({"train.py": code}), "experiment_tracking") == set()


# -- model registry --------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "tool", "action"), [
    ("import mlflow\nmlflow.register_model('runs:/1/model', 'churn')\n", "mlflow", "register"),
    ("import mlflow\nmlflow.sklearn.log_model(m, 'model', registered_model_name='churn')\n", "mlflow", "register"),
    ("from mlflow import MlflowClient\nc = MlflowClient()\nc.set_registered_model_alias('m', 'champion', 3)\n",
     "mlflow", "alias"),
    ("import mlflow\n\ndef promote(client, v):\n    client.transition_model_version_stage('m', v, 'Production')\n",
     "mlflow", "stage"),
    ("from sagemaker.workflow.step_collections import RegisterModel\nstep = RegisterModel(name='r')\n",
     "sagemaker", "register"),
    ("import sagemaker\nargs = model.register(model_package_group_name='g', approval_status='Pending')\n",
     "sagemaker", "register"),
    ("import boto3\nsm = boto3.client('sagemaker')\nsm.update_model_package(ModelPackageArn=a, "
     "ModelApprovalStatus='Approved')\n", "sagemaker", "approve"),
    ("from google.cloud import aiplatform\naiplatform.Model.upload(display_name='m', parent_model=p)\n",
     "vertex", "register"),
    ("from azure.ai.ml import MLClient\nml = MLClient(c, s, r, w)\nml.models.create_or_update(model)\n",
     "azureml", "register"),
])
def test_registry_actions(code: str, tool: str, action: str) -> None:
    items = [e for e in run({"promote.py": code}) if e.signal == "model_registry_use"]
    assert {(e.tool, e.attributes["action"]) for e in items} == {(tool, action)}


@pytest.mark.parametrize("code", [
    "registry = Registry()\nregistry.register('model', obj)\n",
    "from feast import FeatureStore\nstore = FeatureStore('.')\nprint(store.registry)\n",
    "import mlflow\nmodel = mlflow.pyfunc.load_model('models:/churn/latest')\n",
    "import boto3\nboto3.client('s3').download_file('b', 'latest/model.pkl', 'm.pkl')\n",
])
def test_not_registry(code: str) -> None:
    assert tools(run({"x.py": code}), "model_registry_use") == set()


# -- feature store ---------------------------------------------------------------------------
FEAST_DEFS = (
    "from feast import Entity, FeatureView, Field\n"
    "driver = Entity(name='driver', join_keys=['driver_id'])\n"
    "stats = FeatureView(name='driver_stats', entities=[driver])\n"
)


def test_feast_needs_a_feature_store_yaml(tmp_path: Path) -> None:
    with_yaml = analyze_code(git_view(tmp_path / "a", {"repo/features.py": FEAST_DEFS,
                                                       "repo/feature_store.yaml": "project: p\n"}))
    assert found(with_yaml, "feature_store") == {("feast", "repo/features.py", 2), ("feast", "repo/features.py", 3)}
    assert found(run({"features.py": FEAST_DEFS}), "feature_store") == set()


@pytest.mark.parametrize(("code", "tool"), [
    ("from sagemaker.feature_store.feature_group import FeatureGroup\nfg = FeatureGroup(name='f', sagemaker_session=s)\n",
     "sagemaker-feature-store"),
    ("from databricks.feature_engineering import FeatureEngineeringClient\nfe = FeatureEngineeringClient()\n",
     "databricks"),
    ("from databricks.feature_store import FeatureStoreClient\nfs = FeatureStoreClient()\n", "databricks"),
    ("import hopsworks\nproject = hopsworks.login()\nfs = project.get_feature_store()\n", "hopsworks"),
    ("from tecton import batch_feature_view\n@batch_feature_view(sources=[s])\ndef f(df):\n    return df\n",
     "tecton"),
    ("from google.cloud import aiplatform\nfs = aiplatform.Featurestore.create(featurestore_id='f')\n",
     "vertex-feature-store"),
])
def test_feature_stores(code: str, tool: str) -> None:
    assert tools(run({"features.py": code}), "feature_store") == {tool}


# -- model monitoring ------------------------------------------------------------------------
def test_monitoring_tools_and_schedules() -> None:
    items = run({
        "monitor/drift.py": "from evidently.report import Report\nfrom evidently.metric_preset import DataDriftPreset\n"
                            "report = Report(metrics=[DataDriftPreset()])\n",
        "monitor/sm.py": "from sagemaker.model_monitor import DefaultModelMonitor\n"
                         "mon = DefaultModelMonitor(role=r)\nmon.suggest_baseline(baseline_dataset='s3://b')\n"
                         "mon.create_monitoring_schedule(endpoint_input='ep', schedule_cron_expression='cron(0 * ? * * *)')\n",
        "serve/metrics.py": "from prometheus_client import Counter, Histogram\n"
                            "REQS = Counter('http_requests_total', 'Requests')\n"
                            "LAT = Histogram('prediction_latency_seconds', 'Model prediction latency')\n",
    })
    assert found(items, "model_monitoring") == {
        ("evidently", "monitor/drift.py", 3),
        ("sagemaker-model-monitor", "monitor/sm.py", 4), ("prometheus", "serve/metrics.py", 3)}
    sm = next(e for e in items if e.tool == "sagemaker-model-monitor")
    assert sm.attributes["scheduled"] is True


def test_monitoring_module_called_from_a_scheduled_dag_is_scheduled() -> None:
    items = run({
        "lib/drift.py": "from evidently import Report\n\ndef drift():\n    return Report(metrics=[])\n",
        "dags/monitor.py": "from airflow import DAG\nfrom lib.drift import drift\n"
                           "with DAG('monitor', schedule='@daily'):\n    pass\n",
    })
    assert only(items, "model_monitoring").attributes["scheduled"] is True


def test_baselining_alone_is_not_monitoring() -> None:
    code = ("from sagemaker.model_monitor import DefaultModelMonitor\nmon = DefaultModelMonitor(role=r)\n"
            "mon.suggest_baseline(baseline_dataset='s3://b/train.csv')\n")
    assert found(run({"baseline.py": code}), "model_monitoring") == set()


def test_evidently_in_a_scheduled_dag_is_scheduled() -> None:
    code = ("from airflow import DAG\nfrom evidently.test_suite import TestSuite\n"
            "with DAG('drift', schedule='@hourly'):\n    suite = TestSuite(tests=[])\n")
    items = run({"dags/drift.py": code})
    mon = only(items, "model_monitoring")
    assert (mon.tool, mon.attributes["line"], mon.attributes["scheduled"]) == ("evidently", 4, True)
    assert found(items, "scheduled_retraining") == set()  # a monitoring-only schedule


# -- data validation -------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "tool", "line"), [
    ("import great_expectations as gx\ncontext = gx.get_context()\n", "great_expectations", 2),
    ("import pandera as pa\nschema = pa.DataFrameSchema({'a': pa.Column(int)})\n", "pandera", 2),
    ("import pandera as pa\nclass Orders(pa.DataFrameModel):\n    amount: int\n", "pandera", 2),
    ("from deepchecks.tabular.suites import data_integrity\nresult = data_integrity().run(ds)\n", "deepchecks", 2),
    ("import tensorflow_data_validation as tfdv\nanomalies = tfdv.validate_statistics(stats, schema)\n", "tfdv", 2),
    ("from soda.scan import Scan\nscan = Scan()\nscan.execute()\n", "soda", (2, 3)),
    ("from pandantic import BaseModel\n\nclass Games(BaseModel):\n    points: int\n", "pandantic", 3),
    ("from pandantic import Pandantic\nvalidator = Pandantic(schema=Games)\n", "pandantic", 2),
    ("import pandas as pd\n\ndef validate_orders(df: pd.DataFrame) -> None:\n"
     "    assert df['amount'].notnull().all(), 'missing amounts'\n", "custom", 3),
    ("import pandas as pd\n\ndef check_schema(df):\n    if set(df.columns) != {'a', 'b'}:\n"
     "        raise ValueError('bad columns')\n", "custom", 3),
])
def test_data_validation(code: str, tool: str, line: int | tuple[int, ...]) -> None:
    lines = line if isinstance(line, tuple) else (line,)
    assert {(t, ln) for t, _, ln in found(run({"validate.py": code}), "data_validation")} == {
        (tool, ln) for ln in lines}


# what a validator finds may reach its `raise` or `return` through local names (the common
# template: a list of missing columns filled in a loop, then `if missing: ...`)
_MISSING_RAISES = ("import pandas as pd\n\n"
                   "def check_required_columns(df, required):\n"
                   "    missing = [c for c in required if c not in df.columns]\n"
                   "    if missing:\n"
                   "        raise ValueError(f'missing columns: {missing}')\n"
                   "    return df\n")
_MISSING_ANSWERS = ("import pandas as pd\n\n"
                    "class DataValidation:\n"
                    "    def validate_columns(self, data: pd.DataFrame) -> bool:\n"
                    "        missing_columns = []\n"
                    "        for column in self.config.columns:\n"
                    "            if column not in data.columns:\n"
                    "                missing_columns.append(column)\n"
                    "        if missing_columns:\n"
                    "            return False\n"
                    "        return True\n")
_STATUS_ANSWERS = ("import pandas as pd\n\n"
                   "class DataValidation:\n"
                   "    def validate_number_of_columns(self, dataframe) -> bool:\n"
                   "        status = len(dataframe.columns) == len(self.schema['columns'])\n"
                   "        return status\n")
_HF_RAISES = ("from datasets import DatasetDict\n\n"
              "def validate_dataset_schema(ds: DatasetDict, required=('text', 'label')) -> bool:\n"
              "    train_columns = ds['train'].column_names\n"
              "    for col in required:\n"
              "        if col not in train_columns:\n"
              "            raise ValueError(col)\n"
              "    return True\n")


_REQUIRE_RAISES = ("import pandas as pd\n\n"
                   "def require_columns(df: pd.DataFrame, cols: list[str]) -> None:\n"
                   "    missing = [c for c in cols if c not in df.columns]\n"
                   "    if missing:\n"
                   "        raise ValueError(missing)\n")
_ISSUES_ANSWERS = ("import pandas as pd\n\n"
                   "def check_data_quality(df):\n"
                   "    issues = []\n"
                   "    if 'target' not in df.columns:\n"
                   "        issues.append('no target')\n"
                   "    if (df['target'] < 0).any():\n"
                   "        issues.append('negative target')\n"
                   "    return issues\n")


@pytest.mark.parametrize(("code", "line", "verdict_only"), [
    (_MISSING_RAISES, 3, False), (_HF_RAISES, 3, False), (_REQUIRE_RAISES, 3, False),
    (_MISSING_ANSWERS, 4, True), (_STATUS_ANSWERS, 4, True), (_ISSUES_ANSWERS, 3, True),
])
def test_custom_validation_through_local_names(code: str, line: int, verdict_only: bool) -> None:
    """A check that raises on what it found is validation; one that only answers (returns False,
    or a yes/no about the frame, for a caller that may or may not act) is kept `verdict_only`."""
    item = only(run({"src/components/data_validation.py": code}), "data_validation")
    assert (item.tool, item.attributes["line"]) == ("custom", line)
    assert bool(item.attributes.get("verdict_only")) is verdict_only


def test_hand_written_data_checks_are_partial_and_a_library_passes() -> None:
    """`L3.data-validation` asks for expectations captured with a validation library (GX, pandera,
    deepchecks, TFDV, Soda, dbt tests): hand-written checks are partial (those that only answer
    are named so), a library's checks pass."""
    from mlaudit.checks.base import CheckContext
    from mlaudit.checks.evaluators.level3 import data_validation
    from mlaudit.evidence import Outcome

    def verdict(files: dict[str, str]) -> Any:
        items = analyze_code(RepoView.from_files("repo", files))
        repo = EvidenceItem(collector="git", signal="repository", locator="repo", subject="repo",
                            attributes={"is_ml": True})
        return data_validation(CheckContext(evidence=[*items, repo], available={"G"}))

    answering = verdict({"src/validation.py": _MISSING_ANSWERS})
    assert answering.outcome == Outcome.PARTIAL and "answer-only" in answering.explanation
    raising = verdict({"src/validation.py": _MISSING_ANSWERS, "src/checks.py": _MISSING_RAISES})
    assert raising.outcome == Outcome.PARTIAL
    assert "hand-written data checks (no validation library) in repo" in raising.explanation
    library = verdict({"src/checks.py": _MISSING_RAISES,
                       "src/schema.py": "import pandera as pa\nschema = pa.DataFrameSchema({'a': pa.Column(int)})\n"})
    assert library.outcome == Outcome.PASS and "pandera" in library.explanation


@pytest.mark.parametrize("code", [
    "import pandas as pd\n\ndef validate_args(args):\n    assert args.lr > 0\n",
    "import tensorflow_data_validation as tfdv\nstats = tfdv.generate_statistics_from_csv('d.csv')\n",
    "def validate_orders(df):\n    print('great_expectations expect_column_values_to_not_be_null')\n",
    # a filter that drops rows, returning the frame: row tagging, never a verdict
    "import pandas as pd\n\ndef check_outliers(df):\n    df = df[df['amount'] > 0]\n    return df\n",
    # profiling: counts what is missing and prints it; nothing fails, nothing is answered
    "import pandas as pd\n\ndef check_missing(df):\n    report = df.isnull().sum()\n    print(report)\n"
    "    return report\n",
    # helpers named like validators that look at no frame, or only report what they computed
    "import os\nimport pandas as pd\n\ndef ensure_dir(path):\n    if not os.path.isdir(path):\n"
    "        os.makedirs(path)\n    return path\n",
    "import pandas as pd\n\ndef expect_columns(df):\n    cols = list(df.columns)\n    print(cols)\n"
    "    return cols\n",
    # a verdict about a file, not about a frame
    "import os\nimport pandas as pd\n\ndef check_paths(cfg):\n    if not os.path.exists(cfg.path):\n"
    "        return False\n    return True\n",
    # a local name filled from something else than the frame
    "import pandas as pd\n\ndef validate_settings(settings):\n    missing = [k for k in ('a', 'b') if k not in settings]\n"
    "    if missing:\n        raise KeyError(missing)\n",
    # a pydantic request schema (an API's input model) is not a dataframe's
    "from pydantic import BaseModel\n\nclass Request(BaseModel):\n    points: int\n",
    # drift between two windows of a frame is monitoring, not validation of the data
    "import pandas as pd\n\ndef _check_metric_drift(df, column):\n    if df.empty or len(df) < 10:\n"
    "        return False\n    return abs(df[column].mean()) > 1\n",
    # HF datasets' name alone, without a validator
    "from datasets import load_dataset\n\ndef load(name):\n    ds = load_dataset(name)\n    return ds['train']\n",
])
def test_not_validation(code: str) -> None:
    assert found(run({"validate.py": code}), "data_validation") == set()


# -- orchestration ---------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "tool", "line"), [
    ("from airflow.decorators import dag, task\n@dag(schedule=None)\ndef etl():\n    pass\n", "airflow", 2),
    ("from prefect import flow\n@flow\ndef pipeline():\n    pass\n", "prefect", 2),
    ("from dagster import asset\n@asset\ndef orders():\n    return 1\n", "dagster", 2),
    ("from kfp import dsl\n@dsl.pipeline(name='p')\ndef p():\n    pass\n", "kubeflow", 2),
    ("from metaflow import FlowSpec, step\nclass TrainFlow(FlowSpec):\n    pass\n", "metaflow", 2),
    ("from zenml import pipeline\n@pipeline\ndef p():\n    pass\n", "zenml", 2),
    ("from flytekit import workflow\n@workflow\ndef wf():\n    pass\n", "flyte", 2),
    ("from kedro.pipeline import Pipeline, node\ndef create():\n    return Pipeline([])\n", "kedro", 3),
    ("import luigi\nclass Extract(luigi.Task):\n    pass\n", "luigi", 2),
    ("from sagemaker.workflow.pipeline import Pipeline\np = Pipeline(name='p', steps=[])\n", "sagemaker-pipelines", 2),
    ("from tfx import v1 as tfx\np = tfx.dsl.Pipeline(pipeline_name='p', components=[])\n", "tfx", 2),
    ("from azure.ai.ml import dsl\n@dsl.pipeline(compute='c')\ndef p():\n    pass\n", "azureml-pipelines", 2),
    ("from google.cloud import aiplatform\njob = aiplatform.PipelineJob(display_name='p', template_path='p.json')\n",
     "vertex-pipelines", 2),
    ("from aws_cdk import aws_stepfunctions as sfn\nsm = sfn.StateMachine(self, 'SM')\n", "step-functions", 2),
])
def test_orchestrators(code: str, tool: str, line: int) -> None:
    assert (tool, "pipeline.py", line) in found(run({"pipeline.py": code}), "orchestration")
    assert tools(run({"pipeline.py": code}), "orchestration") == {tool}


def test_airflow_schedule_and_metadata_driven_dags(tmp_path: Path) -> None:
    files = {
        "dags/etl.py": "from airflow import DAG\nfrom datetime import timedelta\n"
                       "with DAG('etl', schedule_interval=timedelta(hours=1)) as d:\n    pass\n",
        "dags/factory.py": "import yaml\nfrom airflow import DAG\n\ndef build(cfg):\n"
                           "    return DAG(cfg['id'], schedule=cfg['schedule'])\n\n"
                           "for cfg in yaml.safe_load(open('dags.yaml')):\n"
                           "    globals()[cfg['id']] = build(cfg)\n",
    }
    items = [e for e in analyze_code(git_view(tmp_path / "r", files)) if e.signal == "orchestration"]
    assert {(e.attributes["path"], e.attributes["line"], e.attributes["schedule"]) for e in items} == {
        ("dags/etl.py", 3, "timedelta(hours=1)"), ("dags/factory.py", 5, "cfg['schedule']")}
    assert items[0].attributes["metadata_driven"] is True
    assert items[0].attributes["occurrences"] == 2


def test_a_folder_named_pipeline_is_not_orchestration() -> None:
    items = run({"pipeline/run.py": "import subprocess\nsubprocess.run(['dvc', 'repro'])\n",
                 "pipeline/steps.py": "def pipeline():\n    return [1, 2]\n"})
    assert found(items, "orchestration") == set()


# -- scheduled retraining ---------------------------------------------------------------------
TRAIN_DAG = ("from airflow import DAG\nfrom airflow.operators.python import PythonOperator\n"
             "from src.train import train_model\n"
             "with DAG('weekly', schedule='{schedule}') as dag:\n"
             "    PythonOperator(task_id='retrain', python_callable=train_model)\n")
INGEST_DAG = ("from airflow import DAG\nfrom airflow.operators.bash import BashOperator\n"
              "with DAG('ingest', schedule='@daily') as dag:\n"
              "    BashOperator(task_id='copy_raw', bash_command='aws s3 sync a b')\n")


def test_airflow_training_schedule(tmp_path: Path) -> None:
    items = analyze_code(git_view(tmp_path / "r", {"dags/train.py": TRAIN_DAG.format(schedule="0 3 * * 1"),
                                                    "dags/ingest.py": INGEST_DAG}))
    item = only(items, "scheduled_retraining")
    assert (item.attributes["path"], item.attributes["line"]) == ("dags/train.py", 4)
    assert (item.attributes["trigger"], item.attributes["schedule"]) == ("airflow", "0 3 * * 1")


@pytest.mark.parametrize("schedule", ["@once", "None"])
def test_unscheduled_training_dag_is_not_scheduled_retraining(schedule: str) -> None:
    code = TRAIN_DAG.format(schedule=schedule).replace("'None'", "None")
    items = run({"dags/train.py": code})
    assert found(items, "scheduled_retraining") == set()
    assert tools(items, "orchestration") == {"airflow"}


@pytest.mark.parametrize(("code", "trigger", "schedule"), [
    ("from dagster import ScheduleDefinition, define_asset_job\ntraining_job = define_asset_job('train_model')\n"
     "nightly = ScheduleDefinition(job=training_job, cron_schedule='0 2 * * *')\n", "dagster", "0 2 * * *"),
    ("from prefect import flow\n@flow\ndef retrain():\n    pass\nretrain.serve(name='r', cron='0 4 * * *')\n",
     "prefect", "0 4 * * *"),
    ("from metaflow import FlowSpec, schedule, step\n@schedule(daily=True)\nclass TrainFlow(FlowSpec):\n"
     "    pass\n", "metaflow", "daily=True"),
    ("from flytekit import CronSchedule, LaunchPlan\nfrom wf import training_wf\n"
     "lp = LaunchPlan.get_or_create(training_wf, schedule=CronSchedule(schedule='0 0 * * 0'))\n",
     "flyte", "0 0 * * 0"),
])
def test_other_training_schedules(code: str, trigger: str, schedule: str) -> None:
    item = only(run({"schedules.py": code}), "scheduled_retraining")
    assert (item.attributes["trigger"], item.attributes["schedule"]) == (trigger, schedule)


def test_composer_dag_training_on_vertex_is_scheduled_retraining() -> None:
    code = ("import datetime\nfrom airflow import models\n"
            "from airflow.providers.google.cloud.operators.vertex_ai.custom_job import "
            "CreateCustomTrainingJobOperator\n"
            "with models.DAG('weekly', schedule_interval=datetime.timedelta(days=7)) as dag:\n"
            "    CreateCustomTrainingJobOperator(task_id='job', region='r')\n")
    items = run({"dags/weekly.py": code})
    item = only(items, "scheduled_retraining")
    assert (item.attributes["line"], item.attributes["schedule"]) == (4, "datetime.timedelta(days=7)")
    assert found(items, "training_infra") == {("vertex", "dags/weekly.py", 5)}


def test_scoring_schedule_is_not_retraining() -> None:
    code = ("from dagster import ScheduleDefinition, define_asset_job\nscore_job = define_asset_job('score')\n"
            "s = ScheduleDefinition(job=score_job, cron_schedule='0 * * * *')\n")
    assert found(run({"schedules.py": code}), "scheduled_retraining") == set()


def test_learning_rate_scheduler_is_not_a_schedule() -> None:
    code = ("import torch\nopt = torch.optim.SGD(params, lr=0.1)\n"
            "sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)\nmodel.fit(x)\n")
    assert found(run({"train.py": code}), "scheduled_retraining") == set()


# -- lineage ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "tool", "line"), [
    ("from airflow import DAG, Dataset\nraw = Dataset('s3://b/raw')\nwith DAG('d', schedule=[raw]):\n    pass\n",
     "airflow-datasets", 2),
    ("from openlineage.client import OpenLineageClient\nclient = OpenLineageClient(url='http://m')\n", "openlineage", 2),
    ("from dagster import asset\n@asset\ndef raw():\n    return 1\n@asset\ndef clean(raw):\n    return raw\n",
     "dagster-assets", 5),
    ("import mlflow\nds = mlflow.data.from_pandas(df)\nmlflow.log_input(ds, context='training')\n", "mlflow", 3),
])
def test_lineage(code: str, tool: str, line: int) -> None:
    assert {(t, ln) for t, _, ln in found(run({"lineage.py": code}), "lineage")} == {(tool, line)}


def test_data_aware_schedule_is_not_a_time_trigger() -> None:
    code = ("from airflow import DAG, Dataset\nwith DAG('train', schedule=[Dataset('s3://f')]):\n"
            "    train_model()\n")
    assert found(run({"dags/t.py": code}), "scheduled_retraining") == set()


# -- serving and batch inference -------------------------------------------------------------
def test_fastapi_serving_with_model_loaded_in_a_local_module(tmp_path: Path) -> None:
    files = {
        "app/model.py": "import joblib\n\ndef load():\n    return joblib.load('model.joblib')\n",
        "app/main.py": "from fastapi import FastAPI\nfrom app.model import load\n\napp = FastAPI()\n"
                       "MODEL = load()\n\n@app.get('/health')\ndef health():\n    return {'ok': True}\n\n"
                       "@app.post('/predict')\ndef predict(x: list[float]):\n    return MODEL.predict([x]).tolist()\n",
        "web/server.py": "from flask import Flask\napp = Flask(__name__)\n@app.route('/')\ndef index():\n"
                         "    return 'hello'\n",
    }
    items = analyze_code(git_view(tmp_path / "r", files))
    assert found(items, "model_serving") == {("fastapi", "app/main.py", 7), ("fastapi", "app/main.py", 11)}


@pytest.mark.parametrize(("code", "tool"), [
    ("import flask, pickle\napp = flask.Flask(__name__)\nmodel = pickle.load(open('m.pkl', 'rb'))\n"
     "@app.route('/predict', methods=['POST'])\ndef predict():\n    return model.predict(1)\n", "flask"),
    ("import bentoml\n@bentoml.service\nclass Svc:\n    pass\n", "bentoml"),
    ("from ray import serve\n@serve.deployment\nclass M:\n    pass\n", "ray-serve"),
    ("from ts.torch_handler.base_handler import BaseHandler\nclass H(BaseHandler):\n    pass\n", "torchserve"),
    ("import triton_python_backend_utils as pb_utils\nclass TritonPythonModel:\n    pass\n", "triton"),
    ("import kserve\nclass M(kserve.Model):\n    pass\n", "kserve"),
    ("from sagemaker.pytorch import PyTorchModel\nm = PyTorchModel(model_data='s3://m')\n"
     "predictor = m.deploy(initial_instance_count=1, instance_type='ml.m5.large')\n", "sagemaker-endpoint"),
    ("from google.cloud import aiplatform\nmodel = aiplatform.Model.upload(display_name='m')\n"
     "endpoint = model.deploy(machine_type='n1-standard-4')\n", "vertex-endpoint"),
    ("import joblib\nmodel = joblib.load('/opt/ml/model.joblib')\n\ndef lambda_handler(event, context):\n"
     "    return model.predict(event['x'])\n", "aws-lambda"),
])
def test_serving_tools(code: str, tool: str) -> None:
    assert tools(run({"serve.py": code}), "model_serving") == {tool}


def test_batch_inference() -> None:
    items = run({
        "batch_predict.py": "import joblib, pandas as pd\nmodel = joblib.load('m.pkl')\ndf = pd.read_csv('in.csv')\n"
                            "df['y'] = model.predict(df)\ndf.to_csv('out.csv')\n",
        "transform.py": "from sagemaker.transformer import Transformer\nt = Transformer(model_name='m', "
                        "instance_count=1, instance_type='ml.m5.large')\nt.transform('s3://in')\n",
        "vertex_batch.py": "from google.cloud import aiplatform\nm = aiplatform.Model('m')\n"
                           "job = m.batch_predict(job_display_name='j', gcs_source='gs://in')\n",
    })
    assert found(items, "batch_inference") == {("custom", "batch_predict.py", 4),
                                               ("sagemaker-batch-transform", "transform.py", 2),
                                               ("vertex-batch-prediction", "vertex_batch.py", 3)}
    assert found(items, "model_serving") == set()


# -- training compute ------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "tool", "line"), [
    ("from sagemaker.estimator import Estimator\nest = Estimator(image_uri=i, role=r, instance_count=1)\n"
     "est.fit({'train': 's3://b'})\n", "sagemaker", 2),
    ("from sagemaker.pytorch import PyTorch\nest = PyTorch(entry_point='train.py')\n", "sagemaker", 2),
    ("from google.cloud import aiplatform\njob = aiplatform.CustomTrainingJob(display_name='t', script_path='t.py')\n",
     "vertex", 2),
    ("from azure.ai.ml import command\njob = command(code='./src', command='python train.py')\n", "azureml", 2),
    ("from google_cloud_pipeline_components import aiplatform as gcc\n"
     "op = gcc.CustomContainerTrainingJobRunOp(project='p')\n", "vertex", 2),
    ("from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator\n"
     "t = SageMakerTrainingOperator(task_id='train', config=cfg)\n", "sagemaker", 2),
])
def test_training_infra(code: str, tool: str, line: int) -> None:
    assert {(t, ln) for t, _, ln in found(run({"launch.py": code}), "training_infra")} == {(tool, line)}


# -- data pipelines, warehouses, catalogues, audits --------------------------------------------
@pytest.mark.parametrize(("signal", "code", "tool"), [
    ("data_pipeline", "from awsglue.context import GlueContext\nfrom pyspark.context import SparkContext\n"
                      "glue = GlueContext(SparkContext.getOrCreate())\n", "glue"),
    ("data_pipeline", "from pyspark.sql import SparkSession\nspark = SparkSession.builder.appName('j').getOrCreate()\n",
     "spark"),
    ("data_pipeline", "import apache_beam as beam\nwith beam.Pipeline() as p:\n    pass\n", "beam"),
    ("data_pipeline", "def model(dbt, session):\n    return dbt.ref('orders')\n", "dbt"),
    ("warehouse", "import redshift_connector\nconn = redshift_connector.connect(host='h')\n", "redshift"),
    ("warehouse", "import snowflake.connector\nconn = snowflake.connector.connect(user='u')\n", "snowflake"),
    ("warehouse", "from google.cloud import bigquery\nclient = bigquery.Client()\n", "bigquery"),
    ("warehouse", "import awswrangler as wr\ndf = wr.athena.read_sql_query('select 1', database='d')\n", "athena"),
    ("warehouse", "from sqlalchemy import create_engine\ne = create_engine('snowflake://u@a/db')\n", "snowflake"),
    ("data_catalog", "from datahub.emitter.rest_emitter import DatahubRestEmitter\ne = DatahubRestEmitter('http://g')\n",
     "datahub"),
    ("data_catalog", "from metadata.ingestion.ometa.ometa_api import OpenMetadata\nom = OpenMetadata(cfg)\n",
     "openmetadata"),
    ("data_audit", "from ydata_profiling import ProfileReport\nProfileReport(df).to_file('r.html')\n", "ydata-profiling"),
    ("data_audit", "import sweetviz as sv\nsv.analyze(df).show_html()\n", "sweetviz"),
])
def test_data_platform_signals(signal: str, code: str, tool: str) -> None:
    assert tools(run({"job.py": code}), signal) == {tool}


INGEST = ("import pandas as pd\nfrom sklearn.model_selection import train_test_split\n\n"
          "class DataIngestion:\n    def run(self, raw):\n        df = pd.read_csv(raw)\n"
          "        train, test = train_test_split(df)\n        train.to_csv('artifacts/train.csv', index=False)\n"
          "        test.to_csv('artifacts/test.csv', index=False)\n")


@pytest.mark.parametrize(("path", "code", "tool", "stage"), [
    ("src/components/data_ingestion.py", INGEST, "pandas", "ingestion"),
    ("pipelines/abalone/preprocess.py", INGEST, "pandas", "preprocess"),
    ("etl/load_orders.py", INGEST, "pandas", "etl"),
    ("src/data_processing.py", INGEST, "pandas", "processing"),
    ("src/data/make_dataset.py", INGEST, "pandas", "dataset"),  # the cookiecutter-data-science layout
    ("src/features/build_features.py", INGEST, "pandas", "features"),
    ("jobs/transform.py", "import polars as pl\ndf = pl.read_parquet('raw.parquet')\n"
                          "df.filter(pl.col('x') > 0).write_parquet('clean.parquet')\n", "polars", "transform"),
])
def test_pipeline_modules_are_etl_code(path: str, code: str, tool: str, stage: str) -> None:
    """`ETL code (... pipeline modules)`: a module named for a data stage that reads a dataset and
    writes one out."""
    items = [e for e in run({path: code}) if e.signal == "data_pipeline"]
    assert {(e.tool, e.attributes["path"], e.attributes["stage"], e.attributes["via"]) for e in items} == \
        {(tool, path, stage, "pipeline_module")}


@pytest.mark.parametrize(("path", "code"), [
    ("src/components/model_trainer.py", INGEST),  # the same I/O in a module that is not a data stage
    ("src/predict.py", INGEST),
    # a dataset or feature module that only reads (a torch Dataset, a feature lookup)
    ("src/dataset.py", "import pandas as pd\n\nclass Frames:\n    def __init__(self, p):\n        self.df = pd.read_csv(p)\n"),
    ("src/features.py", "import pandas as pd\n\ndef load(p):\n    return pd.read_parquet(p)\n"),
    ("tests/test_data_ingestion.py", INGEST),  # a test of the stage is not the stage
    ("notebooks/preprocessing.ipynb", notebook(("code", INGEST))),  # notebooks are read as notebooks
    ("src/preprocess.py", "import pandas as pd\n\ndef save(df):\n    df.to_csv('out.csv')\n"),  # writes, reads nothing
    ("src/preprocess.py", "import pandas as pd\n\ndef load(p):\n    return pd.read_csv(p)\n"),  # reads, writes nothing
    ("src/preprocess.py", "import pandas as pd\ndf = pd.read_csv('a.csv')\n# df.to_csv('b.csv')\n"),
    ("README.md", "Run `python src/data_ingestion.py` to read the CSV and `to_csv` the splits.\n"),
])
def test_pipeline_module_decoys(path: str, code: str) -> None:
    assert found(run({path: code}), "data_pipeline") == set()


DUCK_TABLE = ("import duckdb\n\ndef build(db):\n    con = duckdb.connect(db)\n"
              "    con.execute(\"CREATE OR REPLACE TABLE features AS SELECT * FROM read_csv_auto('raw.csv')\")\n")


@pytest.mark.parametrize("code", [
    DUCK_TABLE,  # a table written by SQL, wherever the module lives (src/make_dataset.py)
    "import duckdb\n\ndef export(con, out):\n    con.execute(f\"COPY (SELECT * FROM labels) TO '{out}' (FORMAT PARQUET)\")\n",
    "import duckdb\ncon = duckdb.connect()\ndf = con.execute('SELECT * FROM read_parquet(?)', [p]).df()\n"
    "df.to_parquet('features.parquet', index=False)\n",  # what DuckDB read, written out by pandas
    "import duckdb\nduckdb.sql(\"INSERT INTO members SELECT * FROM staging\")\n",
])
def test_duckdb_pipeline_modules_are_etl_code(code: str) -> None:
    """DuckDB runs a pipeline in-process: SQL that writes a table or a file, or what it read
    written out, is a data pipeline wherever the module is (kkbox-churn-prediction's SQL feature
    builds)."""
    items = [e for e in run({"src/make_dataset.py": code}) if e.signal == "data_pipeline"]
    assert {(e.tool, e.attributes["path"], e.attributes["via"]) for e in items} == \
        {("duckdb", "src/make_dataset.py", "pipeline_module")}


@pytest.mark.parametrize(("path", "code"), [
    ("app/dashboard.py", "import duckdb\ncon = duckdb.connect('w.db')\n"
                         "rows = con.execute('SELECT count(*) FROM members').fetchall()\n"),  # reads only
    ("app/views.py", "import duckdb\ncon = duckdb.connect()\ncon.execute('CREATE VIEW v AS SELECT 1')\n"),
    ("src/store.py", "import sqlite3\ncon = sqlite3.connect('x.db')\ncon.execute('CREATE TABLE t (a)')\n"),
    ("src/store.py", "# import duckdb\nimport sqlite3\nsqlite3.connect('x').execute('CREATE TABLE t (a)')\n"),
    ("src/report.py", "import duckdb\ndf = load()\ndf.to_csv('out.csv')\n"),  # imports it, never runs it
    ("tests/test_build.py", DUCK_TABLE),  # a test of the build is not the build
    ("notebooks/explore.ipynb", notebook(("code", DUCK_TABLE))),
    ("README.md", "We build tables with DuckDB: `CREATE TABLE features AS ...`.\n"),
])
def test_duckdb_pipeline_decoys(path: str, code: str) -> None:
    assert tools(run({path: code}), "data_pipeline") == set()


def test_a_model_served_from_a_tracked_run_is_tracking_evidence() -> None:
    """`mlflow.<flavor>.load_model(f"runs:/{run_id}/model")` in the project's code: the runs it
    serves from were logged to the tracker (a served model whose training notebook alone logs)."""
    serve = ("import mlflow\n\nclass ModelServe:\n    def load(self):\n"
             "        model_uri = f\"runs:/{RUN_ID}/{MODEL_NAME}\"\n        self.model = mlflow.lightgbm.load_model(model_uri)\n")
    items = run({"src/model/inference.py": serve,
                 "src/api.py": "import mlflow\nm = mlflow.pyfunc.load_model(model_uri='runs:/abc123/model')\n"})
    hits = [e for e in items if e.signal == "experiment_tracking"]
    assert {(e.tool, e.attributes.get("path"), e.attributes.get("line")) for e in hits} == {
        ("mlflow", "src/model/inference.py", 6), ("mlflow", "src/api.py", 2)}
    assert all(e.attributes.get("via") == "run_artifact" for e in hits)


@pytest.mark.parametrize("code", [
    "import mlflow\nm = mlflow.pyfunc.load_model('models:/churn/Production')\n",  # the registry, not a run
    "import mlflow\nm = mlflow.sklearn.load_model('artifacts/model')\n",  # a local path
    "import mlflow\nuri = 'model_dir'\nm = mlflow.sklearn.load_model(uri)\n",
    "from tensorflow import keras\nm = keras.models.load_model('runs:/x/model')\n",  # not MLflow
    "import mlflow\n# m = mlflow.pyfunc.load_model('runs:/abc/model')\n",  # commented out
    'import mlflow\ndef load(uri):\n    """runs:/... URIs are accepted."""\n    return mlflow.pyfunc.load_model(uri)\n',
])
def test_run_artifact_decoys(code: str) -> None:
    assert found(run({"src/serve.py": code}), "experiment_tracking") == set()


def test_a_tool_reexported_by_the_project_is_the_tool() -> None:
    """`from common_lit.utils.mlflow_wrapper import mlflow` (a wrapper holding `import mlflow`, or
    a stand-in when it is not installed): calls through it are the tool's own calls."""
    wrapper = ("try:\n    import mlflow\nexcept ImportError:\n    from unittest.mock import MagicMock\n"
               "    mlflow = MagicMock()\n")
    train = "from common_lit.utils.mlflow_wrapper import mlflow\n\ndef fit():\n    mlflow.log_metric('loss', 0.1)\n"
    items = run({"common_lit/utils/mlflow_wrapper.py": wrapper, "common_lit/train.py": train,
                 "common_lit/relative.py": "from .utils.compat import wandb\nwandb.init(project='x')\n",
                 "common_lit/utils/compat.py": "import wandb\n",
                 "common_lit/jobs/fit.py": "from . import mlflow\nmlflow.log_param('lr', 0.1)\n",
                 "common_lit/jobs/__init__.py": "import mlflow\n"})
    assert found(items, "experiment_tracking") >= {("mlflow", "common_lit/train.py", 4),
                                                   ("wandb", "common_lit/relative.py", 2),
                                                   ("mlflow", "common_lit/jobs/fit.py", 2)}


@pytest.mark.parametrize("files", [
    # the project's own module named like the tool: read on its own, not taken for the tool
    {"proj/tracking/mlflow.py": "def log_metric(name, value):\n    print(name, value)\n",
     "proj/train.py": "from proj.tracking import mlflow\nmlflow.log_metric('loss', 0.1)\n"},
    # a third-party package's attribute of that name is not the project re-exporting the tool
    {"proj/train.py": "from somelib.helpers import mlflow\nmlflow.log_metric('loss', 0.1)\n"},
    # a comment and a string
    {"proj/train.py": "# from proj.utils import mlflow; mlflow.log_metric('a', 1)\nx = 'mlflow.log_metric'\n",
     "proj/utils.py": "import mlflow\n"},
])
def test_reexport_decoys(files: dict[str, str]) -> None:
    assert found(run(files), "experiment_tracking") == set()


def test_identical_content_at_a_stage_path_and_elsewhere() -> None:
    """Hits are cached per content; the stage named by the path is part of the key."""
    items = run({"src/model.py": INGEST, "src/ingest.py": INGEST})
    assert {p for _, p, _ in found(items, "data_pipeline")} == {"src/ingest.py"}


def test_profiling_is_an_audit_not_validation() -> None:
    items = run({"eda.py": "from ydata_profiling import ProfileReport\nProfileReport(df)\n"})
    assert only(items, "data_audit").attributes["kind"] == "profiling"
    assert found(items, "data_validation") == set()


def test_postgres_engine_is_not_a_warehouse() -> None:
    assert found(run({"db.py": "import sqlalchemy\ne = sqlalchemy.create_engine('postgresql://h/db')\n"}),
                 "warehouse") == set()


# -- notebooks -------------------------------------------------------------------------------
def test_notebook_code_cells_are_evidence_marked_notebook_only(tmp_path: Path) -> None:
    nb = notebook(
        ("markdown", "# Experiments\nWe use `mlflow.log_metric` and xgboost.\n"),
        ("code", "!pip install xgboost lightgbm\n%matplotlib inline\nimport mlflow\nimport xgboost as xgb\n"),
        ("code", "with mlflow.start_run():\n    booster = xgb.train(params, dtrain)\n"),
        ("code", "def broken(:\n"),
    )
    view = git_view(tmp_path / "r", {"notebooks/explore.ipynb": nb})
    items = analyze_code(view)
    item = only(items, "experiment_tracking")
    assert item.tool == "mlflow" and item.attributes["notebook_only"] is True
    assert item.excerpt == "with mlflow.start_run():"
    assert item.attributes["cell"] == 3
    raw = nb.splitlines()
    assert "with mlflow.start_run()" in raw[item.attributes["line"] - 1]
    census = only(items, "ml_frameworks")
    assert census.attributes["frameworks"] == {"xgboost": "imported", "lightgbm": "declared_only"}
    assert census.attributes["notebook_only"] is True
    assert census.attributes["notebook_ml_cells"] == 2
    assert census.attributes["training_entry_points"] == ["notebooks/explore.ipynb"]


def test_module_evidence_outranks_notebook_samples() -> None:
    items = run({"a.ipynb": notebook(("code", "import wandb\nwandb.init()\n")),
                 "train.py": "import wandb\nwandb.init()\n"})
    tracking = [e for e in items if e.signal == "experiment_tracking"]
    assert [e.attributes["path"] for e in tracking] == ["train.py", "a.ipynb"]
    assert not any(e.attributes.get("notebook_only") for e in tracking)


# -- framework census ------------------------------------------------------------------------
def test_framework_census_from_manifests(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": "[project]\nname='x'\ndependencies=['torch>=2', 'numpy']\n"
                          "[tool.poetry.dependencies]\ncatboost = '^1.2'\n",
        "environment.yml": "name: e\ndependencies:\n  - python=3.11\n  - pytorch\n  - pip:\n    - transformers==4.40\n",
        "setup.py": "from setuptools import setup\n# 'keras'\nsetup(install_requires=['lightgbm>=4'])\n",
        "requirements/dev.txt": "-r base.txt\nstatsmodels==0.14  # forecasting\n#prophet\n",
        "src/model.py": "import torch.nn as nn\nfrom sklearn.metrics import f1_score\n",
        "legacy/py2.py": "import tensorflow as tf\nprint 'hello'\n",
    }
    census = only(analyze_code(git_view(tmp_path / "r", files)), "ml_frameworks")
    assert census.attributes["frameworks"] == {
        "sklearn": "imported", "tensorflow": "imported", "torch": "imported", "catboost": "declared_only",
        "lightgbm": "declared_only", "statsmodels": "declared_only", "transformers": "declared_only"}
    assert census.attributes["python_files"] == 3
    assert census.attributes["training_entry_points"] == []
    assert "notebook_only" not in census.attributes


def test_census_item_is_always_one_per_repo() -> None:
    census = only(run({"main.go": "package main\n"}), "ml_frameworks")
    assert census.attributes["frameworks"] == {}
    assert census.locator == "repo@000000000000"


# -- tests -----------------------------------------------------------------------------------
def test_automated_and_ml_tests(tmp_path: Path) -> None:
    files = {
        "src/features/build.py": "def add_ratio(df):\n    return df\n",
        "src/utils.py": "def test_connection():\n    assert True\n",  # a helper in a module: not a test
        "tests/test_features.py": "from src.features.build import add_ratio\n\n"
                                  "def test_ratio():\n    assert add_ratio(1) == 1\n",
        "tests/test_dags.py": "from airflow.models import DagBag\n\n"
                              "def test_no_import_errors():\n    bag = DagBag('dags')\n    assert not bag.import_errors\n",
        "tests/test_empty.py": "def test_todo():\n    pass\n",
        "tests/test_model.py": "import unittest\nimport numpy as np\nfrom sklearn.linear_model import Ridge\n\n"
                               "class TestModel(unittest.TestCase):\n    def test_fit(self):\n"
                               "        m = Ridge().fit(np.ones((2, 1)), [1, 2])\n        self.assertEqual(len(m.coef_), 1)\n",
        "pkg/io_test.py": "import pytest\n\ndef test_raises():\n    with pytest.raises(ValueError):\n        int('x')\n",
    }
    items = analyze_code(git_view(tmp_path / "r", files))
    auto = only(items, "automated_tests")
    assert (auto.attributes["test_files"], auto.attributes["test_functions"]) == (4, 4)
    assert (auto.attributes["path"], auto.attributes["line"]) == ("pkg/io_test.py", 3)
    ml = only(items, "ml_tests")
    assert (ml.attributes["test_files"], ml.attributes["targets"]) == (2, ["sklearn", "src.features.build.add_ratio"])
    assert (ml.attributes["path"], ml.attributes["line"]) == ("tests/test_features.py", 3)
    assert ml.excerpt == "def test_ratio():"


def test_tests_in_nested_test_classes_are_collected() -> None:
    """pytest collects `Test*` classes nested in a test class: their asserting methods are tests
    (and exercise ML code here). A nested class not named `Test*`, and a nested helper method not
    named `test*`, are not."""
    nested = ("from app.data.sentiment_data import SentimentDataLayer\n\n"
              "class TestSentimentDataLayer:\n"
              "    class TestInitialization:\n"
              "        def test_unsupported_model(self):\n"
              "            with pytest.raises(ValueError):\n"
              "                SentimentDataLayer({'model': 'x'})\n\n"
              "        def helper(self):\n"
              "            assert True\n"
              "    class Fixtures:\n"
              "        def test_not_collected(self):\n"
              "            assert True\n")
    items = run({"app/data/sentiment_data.py": "class SentimentDataLayer:\n    pass\n",
                 "tests/unit/test_sentiment_data.py": nested})
    auto = only(items, "automated_tests")
    assert (auto.attributes["test_functions"], auto.attributes["line"]) == (1, 5)
    assert only(items, "ml_tests").attributes["targets"] == ["app.data.sentiment_data.SentimentDataLayer"]


def test_a_service_folders_own_ml_packages_under_test() -> None:
    """A service's tests run from its folder import its packages by their own names
    (`from pipeline.candidate_generator import X`, `from evaluation.metrics import ndcg_at_k`): a top
    package that is one word of ML code says what is tested, as a module's name does. A top package
    named for the project (`shop.utils.money`), glue under an ML word (`pipeline.config`) and a
    helper package beside the tests are not ML code."""
    svc = "backend/ml_service"
    items = run({f"{svc}/pipeline/candidate_generator.py": "class CandidateGenerator:\n    pass\n",
                 f"{svc}/evaluation/metrics.py": "def ndcg_at_k(r, k):\n    return 0.0\n",
                 f"{svc}/tests/test_candidate_generator.py":
                     "from pipeline.candidate_generator import CandidateGenerator\n\n"
                     "def test_merge():\n    assert CandidateGenerator() is not None\n",
                 f"{svc}/tests/test_metrics.py":
                     "from evaluation.metrics import ndcg_at_k\n\n"
                     "def test_ndcg():\n    assert ndcg_at_k([1], 1) == 0.0\n"})
    assert only(items, "ml_tests").attributes["targets"] == [
        "evaluation.metrics.ndcg_at_k", "pipeline.candidate_generator.CandidateGenerator"]
    glue = run({"shop/utils/money.py": "def cents(x):\n    return x\n",
                "pipeline/config/settings.py": "DEBUG = True\n",
                "tests/helpers/pipeline_factory.py": "def make():\n    return 1\n",
                "tests/test_money.py": "from shop.utils.money import cents\n"
                                       "from pipeline.config.settings import DEBUG\n\n"
                                       "def test_cents():\n    assert cents(1) == 1 and DEBUG\n"})
    assert only(glue, "automated_tests").attributes["test_files"] == 1
    assert found(glue, "ml_tests") == set()


def test_template_tests_without_functions_and_assertion_free_tests_count_for_nothing() -> None:
    items = run({"{{cookiecutter.name}}/tests/test_x.py": "import {{ cookiecutter.pkg }}\n",
                 "tests/test_smoke.py": "import torch\n\ndef test_import():\n    torch.zeros(1)\n"})
    assert found(items, "automated_tests") == set() and found(items, "ml_tests") == set()


def test_dag_smoke_tests_are_not_ml_tests() -> None:
    items = run({"dags/training_dag.py": "x = 1\n",
                 "tests/test_dag.py": "from dags.training_dag import dag\n\ndef test_dag():\n"
                                      "    assert dag.dag_id == 'training'\n"})
    assert only(items, "automated_tests").attributes["test_files"] == 1
    assert found(items, "ml_tests") == set()


# -- robustness and volume --------------------------------------------------------------------
def test_unparsable_and_odd_files_are_skipped_quietly() -> None:
    items = run({
        "{{cookiecutter.repo}}/train.py": "import mlflow\n{% if cookiecutter.tracking %}mlflow.autolog(){% endif %}\n",
        "py2.py": "import mlflow\nprint 'x'\nmlflow.log_metric('a', 1)\n",
        "bad.ipynb": "{not json",
        "weird.ipynb": json.dumps([1, 2]),
        "blob.py": b"\x00\x01binary",
        "empty.py": "",
    })
    assert [e for e in items if e.signal in TOOL_SIGNALS] == []


def test_samples_are_capped_with_occurrences() -> None:
    files = {f"jobs/job{i}.py": "import mlflow\nmlflow.autolog()\n" for i in range(6)}
    tracking = [e for e in run(files) if e.signal == "experiment_tracking"]
    assert len(tracking) == 3
    assert (tracking[0].attributes["occurrences"], tracking[0].attributes["files"]) == (6, 6)
    assert "occurrences" not in tracking[1].attributes


def test_template_paths_are_flagged() -> None:
    items = run({"{{cookiecutter.repo}}/src/train.py": "import wandb\nwandb.init()\n"})
    assert only(items, "experiment_tracking").attributes["template"] is True


def test_tests_are_not_tool_wiring() -> None:
    items = run({"tests/test_track.py": "import mlflow\n\ndef test_log():\n    mlflow.log_metric('a', 1)\n"
                                        "    assert True\n"})
    assert found(items, "experiment_tracking") == set()


def test_every_detector_names_a_known_signal() -> None:
    known = set(TOOL_SIGNALS) | {"_schedule", "_route", "_model_load"}
    assert {d.signal for d in DETECTORS} <= known
    assert all(d.calls or d.decorators or d.bases or d.imports for d in DETECTORS)
