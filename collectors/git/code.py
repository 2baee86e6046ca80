"""Code-based detectors of the git collector: what the repository's Python actually calls.

Every `.py` file and the code cells of every notebook are read once; a cheap token prefilter
skips files that mention nothing we detect, the rest become `SourceScan`s (resolved calls,
decorators and base classes) matched against `DETECTORS`, a table of plain data. Adding a tool
is one row. A few detections need more than one fact (a web route plus a model load, a schedule
plus training code); they combine the table's internal facts (signals starting with `_`).
Evidence is kept small: per repository, signal and tool at most three sample items, the first
carrying `occurrences`.
"""

from __future__ import annotations

import ast
import configparser
import functools
import logging
import posixpath
import re
import threading
import tomllib
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from mlaudit import safe_yaml
from mlaudit.collectors.git.prefilter import (
    Condition,
    Keyword,
    Prefilter,
    required_keyword,
    telling,
)
from mlaudit.collectors.git.pyscan import (
    UNRESOLVED,
    Detector,
    DetectorIndex,
    Hit,
    NotebookCode,
    SourceScan,
    match_scan,
    notebook_code,
    raw_notebook_line,
    walk,
    words_of,
)
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

log = logging.getLogger(__name__)

MAX_SAMPLES = 3
MAX_LISTED = 20
SM = ("sagemaker", "boto3")  # SageMaker APIs are reached through the SDK or a boto3 client
VERTEX = ("google.cloud.aiplatform", "google.cloud.aiplatform_v1", "google.cloud.aiplatform_v1beta1")  # SDK and GAPIC


# -- hooks: conditions a qualified name alone cannot express ---------------------------------
def _kw(node: ast.AST, *names: str) -> ast.expr | None:
    for k in getattr(node, "keywords", ()):
        if k.arg in names:
            return k.value
    return None


def _module_constant(scan: SourceScan, name: str) -> ast.expr | None:
    for stmt in scan.tree.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            return stmt.value
    return None


_MISSING = object()


def _value_text(scan: SourceScan, expr: ast.expr | None) -> Any:
    """A keyword's value as data: a constant, `datasets` for data-aware triggers, else its source."""
    if expr is None:
        return _MISSING
    if isinstance(expr, ast.Name):
        expr = _module_constant(scan, expr.id) or expr
    if isinstance(expr, ast.Constant):
        return expr.value if expr.value is None or isinstance(expr.value, str | int | float) else str(expr.value)
    if isinstance(expr, ast.List | ast.Tuple) or (
        isinstance(expr, ast.Call) and (scan.resolve(expr.func) or "").endswith(("Dataset", "Asset"))
    ):
        return "datasets"
    return ast.unparse(expr)[:80]


_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.comprehension, ast.ListComp, ast.SetComp,
          ast.DictComp, ast.GeneratorExp)


def _loop_called(scan: SourceScan) -> set[str]:
    """Names of functions called inside loops or comprehensions (DAG factories)."""
    if "loop_called" not in scan.memo:
        names: set[str] = set()
        for node in walk(scan.tree):
            if isinstance(node, _LOOPS):
                for sub in walk(node):
                    if isinstance(sub, ast.Call):
                        leaf = (scan.resolve(sub.func) or "").rsplit(".", 1)[-1].lstrip(UNRESOLVED)
                        names.add(leaf)
        scan.memo["loop_called"] = names
    return scan.memo["loop_called"]


def _generated(scan: SourceScan, node: ast.AST) -> bool:
    """A pipeline built in a loop, or by a factory function called in one (metadata-driven)."""
    for anc in scan.ancestors(node):
        if isinstance(anc, _LOOPS):
            return True
        if isinstance(anc, ast.FunctionDef | ast.AsyncFunctionDef) and anc.name in _loop_called(scan):
            return True
    return False


def _orchestration(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any]:
    return {"metadata_driven": True} if _generated(scan, node) else {}


def _airflow_dag(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any]:
    value = _value_text(scan, _kw(node, "schedule", "schedule_interval", "timetable"))
    return {"schedule": None if value is _MISSING else value, **_orchestration(scan, node, qual)}


TRAIN_WORDS = {"train", "retrain", "training", "retraining", "trainer", "fit", "finetune",
               "finetuning", "refit"}


def _training(scan: SourceScan) -> bool:
    return bool(TRAIN_WORDS & scan.words)


def _airflow_schedule(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any] | None:
    value = _value_text(scan, _kw(node, "schedule", "schedule_interval", "timetable"))
    if value is _MISSING or value is None or str(value).lower() in {"none", "@once", "once", "datasets", "null"}:
        return None
    return {"schedule": value, "training": _training(scan)}


def _schedule_from(*names: str) -> Callable[[SourceScan, ast.AST, str], Mapping[str, Any]]:
    """A schedule fact whose value is the first of `names` given (or the first argument)."""

    def hook(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any]:
        value: Any = _MISSING
        for name in names:
            value = _value_text(scan, _kw(node, name))
            if value is not _MISSING:
                value = value if name in {"cron", "cron_schedule", "schedule", "expression", "cron_expression"} \
                    else f"{name}={value}"
                break
        if value is _MISSING and getattr(node, "args", None):
            value = _value_text(scan, node.args[0])
        return {"schedule": None if value is _MISSING else value, "training": _training(scan)}

    return hook


def _dagster_deps(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any] | None:
    if _kw(node, "deps", "ins", "non_argument_deps"):
        return {}
    fn = scan.decorated.get(id(node))
    params = [a.arg for a in getattr(getattr(fn, "args", None), "args", [])]
    return {} if [p for p in params if p not in {"context", "self", "config"}] else None


_MODEL_METRIC = re.compile(r"predict|inference|infer|model|drift|score|confidence", re.IGNORECASE)


def _model_metric(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any] | None:
    """A Prometheus metric about predictions or models, not generic request telemetry."""
    texts = [a.value for a in getattr(node, "args", [])[:2] if isinstance(a, ast.Constant)]
    texts += [v.value for a in getattr(node, "args", [])[:1] if isinstance(a, ast.JoinedStr)
              for v in a.values if isinstance(v, ast.Constant)]  # f"evidently_{name}"
    texts += [k.value.value for k in getattr(node, "keywords", [])
              if k.arg in {"name", "documentation"} and isinstance(k.value, ast.Constant)]
    return {} if any(isinstance(t, str) and _MODEL_METRIC.search(t) for t in texts) else None


_TRACKERS = {"wandb": "wandb", "mlflow": "mlflow", "tensorboard": "tensorboard", "comet_ml": "comet",
             "neptune": "neptune", "clearml": "clearml", "dvclive": "dvclive", "aim": "aim"}


def _report_to(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any] | None:
    """`TrainingArguments(report_to="wandb")`, `Accelerator(log_with="mlflow")`: the tracker named."""
    expr = _kw(node, "report_to", "log_with")
    values = [expr.value] if isinstance(expr, ast.Constant) else [
        e.value for e in getattr(expr, "elts", []) if isinstance(e, ast.Constant)]
    tools = [_TRACKERS[v.lower()] for v in values if isinstance(v, str) and v.lower() in _TRACKERS]
    return {"tool": tools[0]} if tools else None


def _gating_quality_check(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any] | None:
    """A SageMaker Pipelines `QualityCheckStep` over data that can fail the run: not a
    baseline-only step (`skip_check=True`) nor one told to pass on violations."""
    for name in ("skip_check", "fail_on_violation"):
        expr = _kw(node, name)
        if isinstance(expr, ast.Constant) and expr.value is (name == "skip_check"):
            return None
    if not any(q.rsplit(".", 1)[-1] == "DataQualityCheckConfig" for q, _ in scan.calls):
        return None  # model-quality checks compare predictions, not the data
    return {}


def _stack_tracker(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any]:
    """`@step(experiment_tracker=...)`: a ZenML step logging to the stack's tracker, named
    when the file imports its integration."""
    for mod in sorted(scan.modules):
        parts = mod.split(".")
        if parts[:2] == ["zenml", "integrations"] and len(parts) > 2 and parts[2] in _TRACKERS:
            return {"tool": _TRACKERS[parts[2]]}
    return {}


_WAREHOUSE_URLS = {"snowflake": "snowflake", "redshift": "redshift", "bigquery": "bigquery",
                   "awsathena": "athena", "databricks": "databricks-sql"}


def _warehouse_url(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any] | None:
    first = getattr(node, "args", [None])[:1]
    if first and isinstance(first[0], ast.Constant) and isinstance(first[0].value, str):
        scheme = first[0].value.split(":", 1)[0].lower()
        for key, tool in _WAREHOUSE_URLS.items():
            if key in scheme:
                return {"tool": tool}
    return None


# -- the detector table ----------------------------------------------------------------------
def _d(signal: str, tool: str, *calls: str, deco: tuple[str, ...] = (), bases: tuple[str, ...] = (),
       imports: tuple[str, ...] = (), kwargs: tuple[str, ...] = (), needs: tuple[str, ...] = (),
       paths: tuple[str, ...] = (), hook: Any = None, **attrs: Any) -> Detector:
    return Detector(signal, tool, calls=calls, decorators=deco, bases=bases, imports=imports,
                    kwargs=kwargs, requires_import=needs, requires_path=paths,
                    attrs=tuple(attrs.items()), hook=hook)


ET, MR, FS, MM, DV = "experiment_tracking", "model_registry_use", "feature_store", "model_monitoring", "data_validation"
OR, LN, SV, BI, TI = "orchestration", "lineage", "model_serving", "batch_inference", "training_infra"
DP, WH, DC, DA = "data_pipeline", "warehouse", "data_catalog", "data_audit"
AIRFLOW_DAG = ("airflow.DAG", "airflow.models.DAG", "airflow.models.dag.DAG", "airflow.sdk.DAG")
AIRFLOW_DECO = ("airflow.decorators.dag", "airflow.sdk.dag", "airflow.decorators.dag.dag")

# decorators that add an HTTP route (not `on_event`, `middleware`, `before_first_request`, ...)
_VERBS = ("route", "api_route", "get", "post", "put", "patch", "delete", "websocket")

DETECTORS: tuple[Detector, ...] = (
    # experiment tracking
    _d(ET, "mlflow", "mlflow.log_*", "mlflow.start_run", "mlflow.autolog", "mlflow.*.autolog",
       "mlflow.set_experiment", "mlflow.create_experiment", "mlflow.*.log_model", "mlflow.evaluate",
       "mlflow*MlflowClient().log_*", "mlflow*MlflowClient().create_run"),
    _d(ET, "mlflow", "*MLFlowLogger", "*MLflowLogger", "*MLflowCallback", "*MLflowLoggerCallback"),
    _d(ET, "wandb", "wandb.init", "wandb.log", "wandb.init().*", "wandb.watch", "wandb.sweep", "wandb.agent",
       "wandb.Artifact", "wandb.*WandbCallback", "wandb.*WandbMetricsLogger", "wandb.run.log*", "wandb.config.update"),
    _d(ET, "wandb", "*WandbLogger", "*WandbLoggerCallback"),
    _d(ET, "neptune", "neptune.init_run", "neptune.init", "neptune.new.init*", "neptune.create_experiment",
       "neptune.init_run().*", "neptune.*NeptuneCallback", "*NeptuneLogger"),
    _d(ET, "comet", "comet_ml.Experiment", "comet_ml.start", "comet_ml.init", "comet_ml.*Experiment",
       "comet_ml.Experiment().*", "*CometLogger"),
    _d(ET, "clearml", "clearml.Task.init", "trains.Task.init", "clearml.Task.init().*", "clearml.Logger.*"),
    _d(ET, "aim", "aim.Run", "aim.sdk.Run", "aim.Run().*", "aim.*AimLogger", "aim.*AimCallback"),
    _d(ET, "dvclive", "dvclive.Live", "dvclive.Live().*", "dvclive.*Callback", "dvclive.*Logger"),
    _d(ET, "tensorboard", "torch.utils.tensorboard.SummaryWriter", "tensorboardX.SummaryWriter",
       "tensorflow.summary.create_file_writer", "tensorflow.summary.FileWriter",
       "tensorflow.compat.v1.summary.FileWriter", "tensorflow.*callbacks.TensorBoard",
       "keras.callbacks.TensorBoard", "*TensorBoardLogger"),
    _d(ET, "sagemaker-experiments", "sagemaker.experiments*Run", "sagemaker.experiments*load_run",
       "sagemaker.experiments*Run().*", "smexperiments.*"),
    _d(ET, "vertex-experiments", "google.cloud.aiplatform.start_run", "google.cloud.aiplatform.log_metrics",
       "google.cloud.aiplatform.log_params", "google.cloud.aiplatform.log_time_series_metrics"),
    _d(ET, "vertex-experiments", "google.cloud.aiplatform.init", kwargs=("experiment",)),
    _d(ET, "azureml", "azureml.core*Run*.log*", "azureml.core*start_logging"),
    _d(ET, "sacred", "sacred.observers.*"),
    _d(ET, "polyaxon", "polyaxon.tracking.*"),
    _d(ET, "transformers", "*", kwargs=("report_to", "log_with"), hook=_report_to),
    _d(ET, "zenml", deco=("zenml.step", "zenml.steps.step"), kwargs=("experiment_tracker",), hook=_stack_tracker),
    # Dagster resources are wired by reference (`resources={"mlflow": mlflow_tracking}`), not called
    _d(ET, "mlflow", imports=("dagster_mlflow",)),
    _d(ET, "wandb", imports=("dagster_wandb",)),
    # model registry
    _d(MR, "mlflow", "mlflow.register_model", action="register"),
    _d(MR, "mlflow", "mlflow.*log_model", kwargs=("registered_model_name",), action="register"),
    _d(MR, "mlflow", "*.create_model_version", "*.create_registered_model", needs=("mlflow",), action="register"),
    _d(MR, "mlflow", "*.set_registered_model_alias", needs=("mlflow",), action="alias"),
    _d(MR, "mlflow", "*.copy_model_version", needs=("mlflow",), action="register"),
    _d(MR, "mlflow", "*.transition_model_version_stage", needs=("mlflow",), action="stage"),
    _d(MR, "sagemaker", "sagemaker.workflow*RegisterModel", action="register"),
    _d(MR, "sagemaker", "*.register", needs=("sagemaker",),
       kwargs=("model_package_group_name", "approval_status", "model_package_name"), action="register"),
    _d(MR, "sagemaker", "*.create_model_package", needs=SM, action="register"),
    _d(MR, "sagemaker", "*.update_model_package", needs=SM, kwargs=("ModelApprovalStatus",), action="approve"),
    _d(MR, "vertex", "google.cloud.aiplatform.Model.upload*", "google.cloud.aiplatform.models.Model.upload*",
       kwargs=("parent_model", "version_aliases"), action="register"),
    # an upload carrying version metadata (labels, a version description) is a registry entry too
    _d(MR, "vertex", "google.cloud.aiplatform.Model.upload*", "google.cloud.aiplatform.models.Model.upload*",
       kwargs=("labels", "version_description", "is_default_version"), action="register"),
    _d(MR, "vertex", "google.cloud.aiplatform*ModelRegistry*.add_version_aliases", action="alias"),
    _d(MR, "azureml", "azureml.core*Model.register", "azureml.core*Run*.register_model", action="register"),
    _d(MR, "azureml", "*.models.create_or_update", needs=("azure.ai.ml",), action="register"),
    _d(MR, "mlflow", "*log_model", kwargs=("registered_model_name",), needs=("databricks",), action="register"),
    _d(MR, "mlflow", "zenml.integrations.mlflow.steps*mlflow_register_model_step*", action="register"),
    _d(MR, "zenml", "zenml.client.Client().active_stack.model_registry.register_model_version", action="register"),
    _d(MR, "zenml", "zenml.client.Client().active_stack.model_registry.update_model_version", kwargs=("stage",),
       action="stage"),
    _d(MR, "zenml", "zenml*.set_stage", action="stage"),
    # feature stores
    _d(FS, "feast", "feast.FeatureStore", "feast.*FeatureView", "feast.Entity", "feast.FeatureService",
       "feast.feature_store.FeatureStore", deco=("feast.on_demand_feature_view",),
       paths=("**/feature_store.yaml", "**/feature_store.yml")),
    _d(FS, "feast", "feast.RepoConfig", "feast.repo_config.RepoConfig"),
    _d(FS, "tecton", "tecton.*", deco=("tecton.*",)),
    _d(FS, "hopsworks", "hopsworks.login", "hopsworks.connection", "hsfs.*", "hopsworks.login().*"),
    _d(FS, "sagemaker-feature-store", "sagemaker.feature_store.*"),
    _d(FS, "sagemaker-feature-store", "*.create_feature_group", needs=SM),
    _d(FS, "vertex-feature-store", "google.cloud.aiplatform.Featurestore*", "google.cloud.aiplatform.Feature*",
       "google.cloud.aiplatform_v1*Featurestore*", "vertexai.resources.preview.feature_store.*"),
    _d(FS, "databricks", "databricks.feature_store.*", "databricks.feature_engineering.*"),
    _d(FS, "featureform", "featureform.*"),
    _d(FS, "feast", "zenml.integrations.feast.*"),
    # model monitoring
    _d(MM, "evidently", "evidently.*", "zenml.integrations.evidently.*"),
    _d(MM, "whylogs", "whylogs.*", "zenml.integrations.whylogs.*"),
    _d(MM, "nannyml", "nannyml.*"),
    _d(MM, "alibi-detect", "alibi_detect.*"),
    _d(MM, "arize", "arize.*"),
    _d(MM, "sagemaker-model-monitor", "*.create_monitoring_schedule", needs=SM, scheduled=True),
    _d(MM, "vertex-model-monitoring", "google.cloud.aiplatform.ModelDeploymentMonitoringJob*",
       "google.cloud.aiplatform.model_monitoring.*", scheduled=True),
    _d(MM, "vertex-model-monitoring", "google.cloud.aiplatform_v1*.ModelDeploymentMonitoringJob*",
       "google.cloud.aiplatform_v1*.types.*ModelDeploymentMonitoringJob*",
       "*.create_model_deployment_monitoring_job", needs=VERTEX, scheduled=True),
    # batch prediction jobs with skew/drift objectives (`model_monitoring_config=`)
    _d(MM, "vertex-model-monitoring", "*", kwargs=("model_monitoring_config", "model_monitoring_objective_config"),
       needs=VERTEX, via="batch_prediction"),
    _d(MM, "azureml", "azure.ai.ml.entities.MonitorSchedule", scheduled=True),
    _d(MM, "azureml", "azureml.datadrift.*"),
    _d(MM, "prometheus", "prometheus_client.Counter", "prometheus_client.Histogram", "prometheus_client.Gauge",
       "prometheus_client.Summary", hook=_model_metric),
    # data validation
    _d(DV, "great_expectations", "great_expectations.*", "great_expectations_provider.*"),
    _d(DV, "pandera", "pandera.*DataFrameSchema", "pandera.*SeriesSchema", deco=("pandera.*check_*",),
       bases=("pandera.*DataFrameModel", "pandera.*SchemaModel")),
    _d(DV, "deepchecks", "deepchecks.*", "zenml.integrations.deepchecks.*"),
    _d(DV, "great_expectations", "zenml.integrations.great_expectations.*"),
    _d(DV, "tfdv", "tensorflow_data_validation.validate*", "tensorflow_data_validation.display_anomalies"),
    _d(DV, "tfx", "tfx.*ExampleValidator"),
    _d(DV, "soda", "soda.*"),
    _d(DV, "pydeequ", "pydeequ.*"),
    _d(DV, "glue-data-quality", "awsgluedq.*"),
    _d(DV, "sagemaker-quality-check", "sagemaker.workflow*QualityCheckStep", hook=_gating_quality_check),
    # orchestration
    _d(OR, "airflow", *AIRFLOW_DAG, deco=AIRFLOW_DECO, hook=_airflow_dag),
    _d(OR, "airflow", "dagfactory.DagFactory", "dagfactory.load_yaml_dags", metadata_driven=True),
    _d(OR, "prefect", "prefect.Flow", deco=("prefect.flow", "prefect.flows.flow"), hook=_orchestration),
    _d(OR, "dagster", "dagster.Definitions", "dagster.define_asset_job",
       deco=("dagster.asset", "dagster.op", "dagster.job", "dagster.graph", "dagster.multi_asset",
             "dagster.graph_asset", "dagster.repository", "dagster.solid", "dagster.pipeline"),
       hook=_orchestration),
    _d(OR, "kubeflow", "kfp.compiler*", "kfp.v2.compiler*", "kfp.Client().create_run_from_pipeline_*",
       "kfp.dsl.ContainerOp", deco=("kfp.dsl.pipeline", "kfp.v2.dsl.pipeline"), hook=_orchestration),
    _d(OR, "metaflow", bases=("metaflow.FlowSpec",)),
    _d(OR, "zenml", deco=("zenml.pipeline", "zenml.step", "zenml.pipelines.pipeline", "zenml.steps.step")),
    _d(OR, "flyte", "flytekit.LaunchPlan*", deco=("flytekit.workflow", "flytekit.task", "flytekit.dynamic")),
    _d(OR, "kedro", "kedro.pipeline.*"),
    _d(OR, "luigi", bases=("luigi.Task", "luigi.WrapperTask", "luigi.ExternalTask", "luigi.contrib.*")),
    _d(OR, "sagemaker-pipelines", "sagemaker.workflow.pipeline.Pipeline", hook=_orchestration),
    _d(OR, "tfx", "tfx.orchestration.pipeline.Pipeline", "tfx.v1.dsl.Pipeline", "tfx.dsl.*Pipeline",
       "tfx.orchestration.*Runner*", "tfx.v1.orchestration.*"),
    _d(OR, "azureml-pipelines", "azureml.pipeline.core.Pipeline", deco=("azure.ai.ml.dsl.pipeline",)),
    _d(OR, "vertex-pipelines", "google.cloud.aiplatform.PipelineJob", "google.cloud.aiplatform.pipeline_jobs.PipelineJob"),
    _d(OR, "step-functions", "stepfunctions.workflow.Workflow", "stepfunctions.*",
       "aws_cdk.aws_stepfunctions.StateMachine", "aws_cdk.aws_stepfunctions.*"),
    _d(OR, "argo", "hera.*"),
    # schedules (internal: they become scheduled_retraining when the file is about training)
    _d("_schedule", "airflow", *AIRFLOW_DAG, deco=AIRFLOW_DECO, hook=_airflow_schedule),
    _d("_schedule", "dagster", "dagster.ScheduleDefinition", "dagster.build_schedule_from_partitioned_job",
       deco=("dagster.schedule",), hook=_schedule_from("cron_schedule")),
    _d("_schedule", "prefect", "*.serve", "*.deploy", "*.to_deployment", needs=("prefect",),
       kwargs=("cron", "interval", "rrule", "schedule", "schedules"),
       hook=_schedule_from("cron", "interval", "rrule", "schedule")),
    _d("_schedule", "prefect", "prefect.*CronSchedule", "prefect.*IntervalSchedule", "prefect.*RRuleSchedule",
       hook=_schedule_from("cron", "interval", "rrule")),
    _d("_schedule", "metaflow", deco=("metaflow.schedule",), hook=_schedule_from("cron", "daily", "weekly", "hourly")),
    _d("_schedule", "flyte", "flytekit.CronSchedule", "flytekit.FixedRate", hook=_schedule_from("schedule", "cron_expression")),
    _d("_schedule", "kubeflow", "*.create_recurring_run", needs=("kfp",), hook=_schedule_from("cron_expression", "interval_second")),
    _d("_schedule", "vertex-pipelines", "google.cloud.aiplatform.PipelineJobSchedule", "*.create_schedule",
       needs=("google.cloud.aiplatform",), hook=_schedule_from("cron", "cron_expression")),
    _d("_schedule", "sagemaker-pipelines", "sagemaker.workflow*PipelineSchedule", hook=_schedule_from("cron", "rate", "at")),
    _d("_schedule", "azureml", "azure.ai.ml.entities.JobSchedule", "azure.ai.ml.entities.CronTrigger",
       "azure.ai.ml.entities.RecurrenceTrigger", "azureml.pipeline.core.Schedule.create",
       hook=_schedule_from("expression", "recurrence", "frequency")),
    _d("_schedule", "schedule", "schedule.every*", hook=_schedule_from()),
    _d("_schedule", "apscheduler", "apscheduler.*add_job", kwargs=("trigger",), hook=_schedule_from("trigger")),
    # lineage
    _d(LN, "airflow-datasets", "airflow.datasets.Dataset", "airflow.Dataset", "airflow.sdk.Asset",
       "airflow.sdk.definitions.asset.Asset", "airflow.assets*Asset"),
    _d(LN, "openlineage", "openlineage.*", "airflow.providers.openlineage.*"),
    _d(LN, "dagster-assets", deco=("dagster.asset", "dagster.multi_asset"), hook=_dagster_deps),
    _d(LN, "dagster-assets", "dagster.AssetIn", "dagster.AssetDep"),
    _d(LN, "mlflow", "mlflow.log_input", "mlflow*MlflowClient().log_inputs"),
    # serving (internal facts: a web route, a model load; combined per file in _serving)
    _d("_model_load", "model", "joblib.load", "sklearn.externals.joblib.load", "pickle.load", "pickle.loads",
       "cloudpickle.load", "dill.load", "torch.load", "torch.jit.load", "torch.hub.load",
       "tensorflow.saved_model.load", "*load_model", "*.from_pretrained", "transformers.pipeline",
       "onnxruntime.InferenceSession", "xgboost.Booster", "lightgbm.Booster", "spacy.load",
       "sentence_transformers.SentenceTransformer", "ultralytics.YOLO", "*load_learner",
       "tensorflow_hub.load", "tensorflow_hub.KerasLayer", "tensorflow.lite.Interpreter"),
    _d("_route", "fastapi", deco=tuple(f"fastapi.{c}().{v}" for c in ("FastAPI", "APIRouter") for v in _VERBS)),
    _d("_route", "fastapi", deco=("*.get", "*.post", "*.put", "*.api_route", "*.websocket"), needs=("fastapi",)),
    _d("_route", "flask", deco=tuple(f"flask.{c}().{v}" for c in ("Flask", "Blueprint") for v in _VERBS)),
    _d("_route", "flask", deco=("*.route", "*.post", "*.get"), needs=("flask",)),
    _d("_route", "starlette", "starlette.routing.Route"),
    _d("_route", "aiohttp", "aiohttp.web.*add_route*", "aiohttp.web.*add_post", deco=("aiohttp.web.RouteTableDef().*",)),
    _d("_route", "sanic", deco=("sanic.Sanic().*",)),
    _d("_route", "litestar", deco=("litestar.get", "litestar.post")),
    _d("_route", "gradio", "gradio.Interface", "gradio.Blocks", "gradio.ChatInterface"),
    _d("_route", "streamlit", imports=("streamlit",)),
    _d("_route", "functions-framework", deco=("functions_framework.http",)),
    _d("_route", "azure-functions", deco=("azure.functions.FunctionApp().route",)),
    _d("_route", "tornado", bases=("tornado.web.RequestHandler",)),
    _d("_route", "grpc", "grpc.server", "grpc.aio.server"),
    _d(SV, "bentoml", "bentoml.Service", deco=("bentoml.service", "bentoml.api", "bentoml.Service().api")),
    _d(SV, "ray-serve", "ray.serve.run", "ray.serve.start", deco=("ray.serve.deployment", "ray.serve.*deployment")),
    _d(SV, "torchserve", bases=("ts.torch_handler.*",)),
    _d(SV, "triton", imports=("triton_python_backend_utils",)),
    _d(SV, "kserve", "kserve.ModelServer*", "kserve.*InferenceService", "kfserving.*InferenceService",
       bases=("kserve.Model", "kserve.KFModel", "kserve.model.Model", "kfserving.KFModel")),
    _d(SV, "seldon", "seldon_core.*", bases=("mlserver.MLModel",)),
    _d(SV, "litserve", bases=("litserve.LitAPI",)),
    _d(SV, "sagemaker-endpoint", "sagemaker.*deploy", "sagemaker.serve.*ModelBuilder"),
    _d(SV, "sagemaker-endpoint", "*.deploy", needs=("sagemaker",),
       kwargs=("initial_instance_count", "instance_type", "endpoint_name", "serverless_inference_config")),
    _d(SV, "sagemaker-endpoint", "*.create_endpoint", needs=SM, kwargs=("EndpointName", "EndpointConfigName")),
    _d(SV, "vertex-endpoint", "google.cloud.aiplatform.*deploy", "google.cloud.aiplatform.Endpoint.create",
       "*ModelDeployOp", "*EndpointCreateOp"),
    _d(SV, "azureml-endpoint", "azure.ai.ml.entities.ManagedOnlineEndpoint", "azure.ai.ml.entities.ManagedOnlineDeployment",
       "azure.ai.ml.entities.KubernetesOnline*", "azureml.core*Model.deploy", "azureml.core.webservice.*"),
    # batch inference
    _d(BI, "sagemaker-batch-transform", "sagemaker.transformer.Transformer", "sagemaker.*.transformer",
       "sagemaker.workflow.steps.TransformStep"),
    _d(BI, "sagemaker-batch-transform", "*.create_transform_job", needs=SM),
    _d(BI, "vertex-batch-prediction", "google.cloud.aiplatform.*batch_predict",
       "google.cloud.aiplatform.BatchPredictionJob*", "*ModelBatchPredictOp"),
    _d(BI, "azureml-batch", "azure.ai.ml.entities.BatchEndpoint", "azure.ai.ml.entities.*BatchDeployment"),
    _d(BI, "spark", "mlflow.pyfunc.spark_udf"),
    _d(BI, "databricks", "databricks.feature_store*score_batch", "databricks.feature_engineering*score_batch"),
    # training compute
    _d(TI, "sagemaker", "sagemaker.estimator.Estimator", "sagemaker.estimator.Framework", "sagemaker.*Estimator",
       "sagemaker.*PyTorch", "sagemaker.*TensorFlow", "sagemaker.*SKLearn", "sagemaker.*XGBoost",
       "sagemaker.*HuggingFace", "sagemaker.*MXNet", "sagemaker.amazon.*", "sagemaker.*HyperparameterTuner",
       "sagemaker.workflow.steps.TrainingStep", "sagemaker.workflow.steps.TuningStep", "sagemaker.*ModelTrainer"),
    _d(TI, "sagemaker", "*.create_training_job", "*.create_hyper_parameter_tuning_job", needs=SM),
    _d(TI, "vertex", "google.cloud.aiplatform.CustomJob*", "google.cloud.aiplatform.*TrainingJob",
       "google.cloud.aiplatform.HyperparameterTuningJob", "google.cloud.aiplatform_v1*CustomJob*",
       "google_cloud_pipeline_components.*TrainingJob*", "google_cloud_pipeline_components.*CustomJob*",
       "google_cloud_pipeline_components.*create_custom_training_job_*",
       "airflow.providers.google.cloud.operators.vertex_ai.*Training*"),
    _d(TI, "sagemaker", "airflow.providers.amazon.aws.operators.sagemaker.SageMakerTrainingOperator",
       "airflow.providers.amazon.aws.operators.sagemaker.SageMakerTuningOperator"),
    _d(SV, "sagemaker-endpoint", "airflow.providers.amazon.aws.operators.sagemaker.SageMakerEndpointOperator"),
    _d(SV, "vertex-endpoint", "airflow.providers.google.cloud.operators.vertex_ai.endpoint_service.DeployModelOperator"),
    _d(BI, "sagemaker-batch-transform", "airflow.providers.amazon.aws.operators.sagemaker.SageMakerTransformOperator"),
    _d(BI, "vertex-batch-prediction", "airflow.providers.google.cloud.operators.vertex_ai.*BatchPredictionJob*"),
    _d(TI, "azureml", "azure.ai.ml.command", "azure.ai.ml.entities.AmlCompute", "azure.ai.ml.entities.CommandJob",
       "azureml.core.ScriptRunConfig", "azureml.core*AmlCompute*", "azureml.train.*", "azureml.core.Experiment().submit"),
    _d(TI, "azureml", "*.jobs.create_or_update", needs=("azure.ai.ml",)),
    _d(TI, "ray", "ray.train.*Trainer"),
    _d(TI, "aws-batch", deco=("metaflow.batch",)),
    _d(TI, "kubernetes", deco=("metaflow.kubernetes",)),
    # data pipelines and warehouses
    _d(DP, "glue", "awsglue.*"),
    _d(DP, "spark", "pyspark.sql*SparkSession.builder*", "pyspark.SparkContext", "pyspark.context.SparkContext",
       "~spark.read*", "~spark.sql", "~spark.table", "~spark.createDataFrame"),
    _d(DP, "beam", "apache_beam.Pipeline", "apache_beam.pipeline.Pipeline"),
    _d(DP, "dbt", "dbt.cli.main.dbtRunner"),
    _d(DP, "dlt", "dlt.pipeline", "dlt.read*", deco=("dlt.table", "dlt.view", "dlt.resource", "dlt.source")),
    _d(DP, "flink", "pyflink.*"),
    _d(WH, "redshift", "redshift_connector.connect", "awswrangler.redshift.*"),
    _d(WH, "snowflake", "snowflake.connector.*", "snowflake.snowpark*Session*"),
    _d(WH, "bigquery", "google.cloud.bigquery.*", "pandas_gbq.*", "pandas.read_gbq"),
    _d(WH, "athena", "pyathena.*", "awswrangler.athena.*"),
    _d(WH, "athena", "*.start_query_execution", needs=("boto3",)),
    _d(WH, "databricks-sql", "databricks.sql.connect"),
    # warehouse and ETL operators of orchestrators (Airflow providers)
    _d(WH, "athena", "airflow.providers.amazon.aws.operators.athena.*", "airflow.providers.amazon.aws.hooks.athena.*"),
    _d(WH, "redshift", "airflow.providers.amazon.aws.operators.redshift*", "airflow.providers.amazon.aws.transfers.*redshift*"),
    _d(WH, "snowflake", "airflow.providers.snowflake.*", "dagster_snowflake*"),
    _d(WH, "bigquery", "airflow.providers.google.cloud.operators.bigquery.*",
       "airflow.providers.google.cloud.transfers.*bigquery*", "dagster_gcp.bigquery*", "dagster_gcp.BigQuery*"),
    _d(WH, "databricks-sql", "airflow.providers.databricks.operators.databricks_sql.*"),
    _d(DP, "glue", "airflow.providers.amazon.aws.operators.glue.*"),
    _d(DP, "dbt", "airflow.providers.dbt.*", "dagster_dbt.*", "cosmos.DbtDag", "cosmos.DbtTaskGroup"),
    _d(DP, "spark", "airflow.providers.apache.spark.operators.*", "airflow.providers.amazon.aws.operators.emr.*"),
    _d(WH, "sqlalchemy", "sqlalchemy.create_engine", hook=_warehouse_url),
    # catalogues and data audits
    _d(DC, "datahub", "datahub.*", "datahub_provider.*"),
    _d(DC, "amundsen", "databuilder.*", "amundsen_common.*"),
    _d(DC, "openmetadata", "metadata.ingestion.*", "metadata.workflow.*", "metadata.generated.*"),
    _d(DC, "atlas", "pyapacheatlas.*"),
    _d(DC, "gcp-data-catalog", "google.cloud.datacatalog*"),
    _d(DA, "ydata-profiling", "ydata_profiling.*ProfileReport", "pandas_profiling.*ProfileReport", kind="profiling"),
    _d(DA, "ydata-profiling", "*.profile_report", needs=("ydata_profiling", "pandas_profiling"), kind="profiling"),
    _d(DA, "sweetviz", "sweetviz.*", kind="profiling"),
    _d(DA, "dataprep", "dataprep.eda.*", kind="profiling"),
    _d(DA, "dtale", "dtale.show", kind="profiling"),
)

# -- frameworks ------------------------------------------------------------------------------
FRAMEWORK_MODULES = {
    "sklearn": "sklearn", "torch": "torch", "torchvision": "torch", "torchaudio": "torch", "torchtext": "torch",
    "tensorflow": "tensorflow", "keras": "keras", "tf_keras": "keras", "xgboost": "xgboost",
    "lightgbm": "lightgbm", "catboost": "catboost", "jax": "jax", "flax": "flax",
    "transformers": "transformers", "pytorch_lightning": "lightning", "lightning": "lightning",
    "statsmodels": "statsmodels", "prophet": "prophet", "fbprophet": "prophet", "spacy": "spacy",
    "gensim": "gensim", "nltk": "nltk", "fastai": "fastai", "mxnet": "mxnet", "paddle": "paddle",
    "sentence_transformers": "sentence_transformers", "h2o": "h2o", "autogluon": "autogluon",
    "pycaret": "pycaret", "sktime": "sktime", "darts": "darts", "neuralprophet": "neuralprophet",
    "pmdarima": "pmdarima", "diffusers": "diffusers", "pyspark.ml": "spark-ml", "pyspark.mllib": "spark-ml",
}
FRAMEWORK_PACKAGES = {
    "scikit-learn": "sklearn", "sklearn": "sklearn", "torch": "torch", "pytorch": "torch", "torchvision": "torch",
    "torchaudio": "torch", "tensorflow": "tensorflow", "tensorflow-gpu": "tensorflow",
    "tensorflow-cpu": "tensorflow", "tensorflow-macos": "tensorflow", "tf-nightly": "tensorflow",
    "keras": "keras", "tf-keras": "keras", "xgboost": "xgboost", "py-xgboost": "xgboost",
    "lightgbm": "lightgbm", "catboost": "catboost", "jax": "jax", "jaxlib": "jax", "flax": "flax",
    "transformers": "transformers", "pytorch-lightning": "lightning", "lightning": "lightning",
    "statsmodels": "statsmodels", "prophet": "prophet", "fbprophet": "prophet", "spacy": "spacy",
    "gensim": "gensim", "nltk": "nltk", "fastai": "fastai", "mxnet": "mxnet", "paddlepaddle": "paddle",
    "paddlepaddle-gpu": "paddle", "sentence-transformers": "sentence_transformers", "h2o": "h2o",
    "autogluon": "autogluon", "pycaret": "pycaret", "sktime": "sktime", "darts": "darts", "u8darts": "darts",
    "neuralprophet": "neuralprophet", "pmdarima": "pmdarima", "diffusers": "diffusers",
}


def framework_of(module: str) -> str | None:
    if module.startswith("."):
        return None
    parts = module.split(".")
    return FRAMEWORK_MODULES.get(".".join(parts[:2])) or FRAMEWORK_MODULES.get(parts[0])


# -- reading the repository ------------------------------------------------------------------
_SKIP_DIRS = re.compile(r"(^|/)(site-packages|dist-packages|node_modules|\.venv|venv|\.tox|\.nox|"
                        r"__pypackages__|\.ipynb_checkpoints|\.git)/")
_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test|tests)\.py$")
# helpers, fixtures and scenario builders beside the tests: they wire tools up to test them, which
# is not the project using them
_TEST_SUPPORT = re.compile(r"(^|/)(tests?|testing)/")
_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w., \t]+))", re.MULTILINE)
_INDEX = DetectorIndex(DETECTORS)


def is_test_file(path: str) -> bool:
    return bool(_TEST_FILE.search(path)) or path.endswith("/conftest.py") or path == "conftest.py"


# CI definitions come under many names (Cloud Build and Azure configs in any folder), so any
# YAML may be one; the other runners are named files
_RUNNER_FILES = re.compile(
    r"(\.ya?ml|(^|/)(Jenkinsfile[^/]*|Makefile|makefile|GNUmakefile|justfile|tox\.ini|noxfile\.py))$"
)
_RUNS_TESTS = re.compile(r"\b(py\.?test|unittest|nose2?|nosetests)\b")
_PY_PATH = re.compile(r"(?<![\w/.-])((?:\.?/)?[\w.-]+(?:/[\w.-]+)*\.py)(?:::[\w\[\]-]+)?(?![\w/])")


def runner_invoked_tests(view: RepoView) -> set[str]:
    """Test modules a CI definition or Makefile runs by path (`pytest src/tests/model_tests.py`),
    whatever they are named: the runner collects them although their names do not follow the
    `test_*.py` convention. A path counts when its line (or, for Cloud Build style arg lists,
    its file) runs a test runner and the path names a test module."""
    by_tail: dict[str, list[str]] = defaultdict(list)
    for entry in view.with_suffix(".py"):
        by_tail[entry.name].append(entry.path)
    found: set[str] = set()
    for path in view.paths:
        if not _RUNNER_FILES.search(path) or _SKIP_DIRS.search(path):
            continue
        entry = view.entries[path]
        if entry.size > 256 * 1024:
            continue
        text = view.text(path) or ""
        if not _RUNS_TESTS.search(text):
            continue
        lines = [ln for ln in text.splitlines() if not ln.strip().startswith(("#", "//"))]
        whole = "\n".join(lines)
        for line in lines:
            for m in _PY_PATH.finditer(line):
                token = m.group(1).lstrip("./") if m.group(1).startswith("./") else m.group(1)
                name = posixpath.basename(token)
                if "test" not in name.lower() or not (_RUNS_TESTS.search(line) or _RUNS_TESTS.search(whole)):
                    continue
                for candidate in by_tail.get(name, ()):
                    if candidate == token or candidate.endswith("/" + token):
                        found.add(candidate)
    return found


#: False parses every Python file and notebook (the prefilter's reference; tests compare both)
USE_PREFILTER = True
#: a test file is worth parsing for its test functions (`test*`) even when it names no tool
_TEST_KEYWORDS = (Keyword("test", start=True, end=False),)
#: identifiers the census looks for beyond framework modules: training calls (`.fit(...)`)
_CENSUS_LEAVES = ("fit", "fit_generator", "train")


def prefilter_keywords() -> set[Keyword]:
    """Every keyword the prefilter needs, derived from the tables (see `prefilter`): a required
    literal of every pattern (or, for a bare `*`, the call keywords it is gated on), the module of
    every import rule, the framework modules and training calls of the census, and the
    identifiers structural detectors look for."""
    out: set[Keyword] = set()
    for det in DETECTORS:
        for pat in (*det.calls, *det.decorators, *det.bases):
            kw = required_keyword(pat)
            needs = [required_keyword(m) for m in det.requires_import]
            if needs and all(needs) and not telling(kw):
                out.update(k for k in needs if k is not None)  # the import it is gated on
            elif kw is not None:
                out.add(kw)
            elif det.kwargs:
                out.update(Keyword(k) for k in det.kwargs)
            else:
                raise ValueError(f"detector {det.signal}/{det.tool}: pattern {pat!r} has no keyword")
        out.update(k for k in map(required_keyword, det.imports) if k is not None)
    out.update(k for k in map(required_keyword, FRAMEWORK_MODULES) if k is not None)
    out.update(Keyword(leaf) for leaf in _CENSUS_LEAVES)
    for keywords, _, _ in STRUCTURAL_NEEDS.values():
        out.update(keywords)
    return out


@functools.cache
def code_prefilter(testing: bool = False) -> Prefilter:
    conditions = [Condition(name, conj, words) for name, (_, conj, words) in STRUCTURAL_NEEDS.items() if conj]
    keywords = prefilter_keywords() | (set(_TEST_KEYWORDS) if testing else set())
    return Prefilter(keywords, conditions)


def _wanted(text: str, testing: bool = False) -> bool:
    """The prefilter: can the file carry anything a detector, the census or a test looks for?"""
    return not USE_PREFILTER or code_prefilter(testing).wanted(text)


@dataclass
class RepoFacts:
    """Everything gathered from one repository's Python before evidence is assembled."""

    hits: list[Hit] = field(default_factory=list)
    notebooks: dict[str, NotebookCode] = field(default_factory=dict)
    frameworks: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # name -> paths
    training_entry_points: set[str] = field(default_factory=set)
    notebook_ml_cells: int = 0
    python_files: int = 0
    notebook_files: int = 0
    local_imports: dict[str, set[str]] = field(default_factory=dict)  # path -> local modules it imports
    tests: list[tuple[str, list[tuple[str, int]], set[str]]] = field(default_factory=list)


def analyze_code(view: RepoView) -> list[EvidenceItem]:
    """Evidence from the repository's Python files and notebook code cells."""
    facts = RepoFacts()
    local_tops = _local_top_names(view)
    invoked = runner_invoked_tests(view)
    path_cache: dict[Detector, bool] = {}

    def paths_ok(det: Detector) -> bool:
        if not det.requires_path:
            return True
        if det not in path_cache:
            path_cache[det] = bool(view.glob(*det.requires_path))
        return path_cache[det]

    # modules whose bytes hold no keyword at all, found by one byte search in git: never read
    matching = view.grep(code_prefilter().grep_pattern(), ["*.py"]) if USE_PREFILTER and view.grep else None
    view.prefetch(e.path for e in view.with_suffix(".py", ".ipynb") if not _SKIP_DIRS.search(e.path) and (
        e.suffix == ".ipynb" or (_SCANS.get(e.sha) is None and (
            matching is None or e.path in matching or is_test_file(e.path) or e.path in invoked))))
    for entry in list(view.with_suffix(".py", ".ipynb")):
        path = entry.path
        if _SKIP_DIRS.search(path):
            continue
        notebook = entry.suffix == ".ipynb"
        if notebook:
            facts.notebook_files += 1
        else:
            facts.python_files += 1
            if posixpath.basename(path).startswith("train") and not is_test_file(path) and "{{" not in path:
                facts.training_entry_points.add(path)
        testing = not notebook and (is_test_file(path) or path in invoked)
        if matching is not None and not notebook and not testing and path not in matching \
                and entry.suffix == ".py":
            view.searched += 1
            continue
        cached = _SCANS.get(entry.sha)
        view.cache_lookups += 1
        view.cache_hits += cached is not None
        if isinstance(cached, _Notebook) and notebook:
            _declared_in_magics(cached.code, path, facts)
            if isinstance(cached.scan, SourceScan):
                _use_scan(_at_path(cached.scan, path), cached.code, False, facts, local_tops, paths_ok)
            continue
        if cached is _UNWANTED and not testing and not notebook:
            continue  # identical content was already found irrelevant: not even read
        if isinstance(cached, SourceScan) and not notebook:
            _use_scan(_at_path(cached, path), None, testing, facts, local_tops, paths_ok)
            continue
        # read outside the guard below: an unreadable object is the repository's error, not a
        # file to skip quietly
        text = view.text(path)
        if not text:
            continue
        try:
            _scan_file(view, path, text, notebook, facts, local_tops, paths_ok, testing, entry.sha)
        except (RecursionError, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            log.debug("skipping %s:%s: %s", view.name, path, exc)
    return _assemble(view, facts)


class _ScanCache:
    """Parsed Python keyed by blob id, shared across the repositories one process scans.

    Estates repeat files verbatim (templates, copied helpers, vendored modules, empty
    `__init__.py`): git names identical content by the same blob id, so each is read and parsed
    once. Bounded by the source bytes it holds, least recently used first out.
    """

    def __init__(self, max_source_bytes: int = 2 * 1024 * 1024, max_file: int = 32 * 1024) -> None:
        self.max_source_bytes, self.max_file = max_source_bytes, max_file
        self._items: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, sha: str) -> object:
        with self._lock:
            hit = self._items.get(sha)
            if hit is None:
                return None
            self._items.move_to_end(sha)
            return hit[0]

    def put(self, sha: str, value: object, size: int) -> None:
        if size > self.max_file:
            return
        with self._lock:
            if sha in self._items:
                return
            self._items[sha] = (value, size)
            self._bytes += size
            while self._bytes > self.max_source_bytes and self._items:
                _, (_, old) = self._items.popitem(last=False)
                self._bytes -= old


_PATH_GATED = tuple(d for d in DETECTORS if d.requires_path)


@dataclass(frozen=True)
class _Notebook:
    """A notebook's code cells and their parse (None when nothing in them is relevant)."""

    code: NotebookCode
    scan: SourceScan | None
_UNWANTED = object()
_SCANS = _ScanCache()


def _at_path(scan: SourceScan, path: str) -> SourceScan:
    """The cached parse of identical content, placed at another path. Derived facts depend on
    the content only, so they are carried over rather than recomputed."""
    moved = replace(scan, path=path)
    moved.__dict__.update({k: v for k, v in scan.__dict__.items() if k not in moved.__dataclass_fields__})
    return moved


def _scan_file(view: RepoView, path: str, text: str, notebook: bool, facts: RepoFacts,
               local_tops: set[str], paths_ok: Callable[[Detector], bool], testing: bool = False,
               sha: str | None = None) -> None:
    nb_code = None
    if notebook:
        nb_code = notebook_code(text)
        if nb_code is None:
            return
        _declared_in_magics(nb_code, path, facts)
        if not _wanted(nb_code.code):
            if sha:
                _SCANS.put(sha, _Notebook(nb_code, None), len(text))
            return
    elif not _wanted(text, testing):
        if sha and not testing:
            _SCANS.put(sha, _UNWANTED, len(text))
        return
    scan = SourceScan.build(path, text)
    view.parsed += 1
    if sha and notebook and nb_code is not None:
        _SCANS.put(sha, _Notebook(nb_code, scan), len(text))
    if scan is None:
        if not notebook and "{{" not in text:
            _census_fallback(path, text, facts)
        return
    if sha and not notebook:
        _SCANS.put(sha, scan, len(text))
    _use_scan(scan, nb_code, testing, facts, local_tops, paths_ok)


def _use_scan(scan: SourceScan, nb_code: NotebookCode | None, testing: bool, facts: RepoFacts,
              local_tops: set[str], paths_ok: Callable[[Detector], bool]) -> None:
    """Everything one parsed file contributes to the repository's facts."""
    path = scan.path
    if nb_code is not None:
        facts.notebooks[path] = nb_code
    _census(scan, facts)
    facts.local_imports[path] = {m for m in scan.modules if m.startswith(".") or m.split(".")[0] in local_tops}
    if testing:
        asserting = _asserting_tests(scan)
        facts.tests.append((path, asserting, _ml_targets(scan, local_tops) if asserting else set()))
        facts.hits.extend(_test_validation(scan))
        return
    if _TEST_SUPPORT.search(path):
        return
    facts.hits.extend(_matches(scan, paths_ok))


def _matches(scan: SourceScan, paths_ok: Callable[[Detector], bool]) -> list[Hit]:
    """Detector hits of one parsed file. They depend on its content, whether its file name
    reads like a batch-scoring script and which path-gated detectors the repository enables, so a parse shared by
    identical blobs also shares its hits, moved to this file's path."""
    stem = posixpath.splitext(posixpath.basename(scan.path))[0]
    key = ("hits", bool(_BATCH_WORDS & set(words_of(stem))), tuple(paths_ok(d) for d in _PATH_GATED))
    hits = scan.memo.get(key)
    if hits is None:
        hits = match_scan(_INDEX, scan, paths_ok) + _structural(scan)
        for hit in hits:  # rendered only when a template option is chosen
            if hit.line in scan.conditional:
                hit.attrs["opt_in"] = True
        scan.memo[key] = hits
    path = scan.path
    return [Hit(h.signal, h.tool, path, h.line, h.excerpt, dict(h.attrs), h.notebook) for h in hits]


# -- census ----------------------------------------------------------------------------------
def _census(scan: SourceScan, facts: RepoFacts) -> None:
    if "census" not in scan.memo:  # content-only, so shared by identical blobs
        names: set[str] = set()
        trains = False
        ml_lines: set[int] = set()
        for mod, line in scan.import_lines.items():
            name = framework_of(mod)
            if name:
                names.add(name)
                ml_lines.add(line)
        for qual, call in scan.calls:
            leaf = qual.rsplit(".", 1)[-1].lstrip(UNRESOLVED)
            if leaf in {"fit", "fit_generator"} or (leaf == "train" and (
                    "trainer" in words_of(qual) or qual in {"xgboost.train", "lightgbm.train", "catboost.train"})):
                trains = True
                ml_lines.add(call.lineno)
        cells = 0
        if scan.notebook is not None:
            found = {scan.notebook.cell_of(line) for line in ml_lines}
            cells = len({c[0] for c in found if c})
        scan.memo["census"] = (names, trains, cells)
    names, trains, cells = scan.memo["census"]
    for name in names:
        facts.frameworks[name].add(scan.path)
    if trains and not is_test_file(scan.path):
        facts.training_entry_points.add(scan.path)
    facts.notebook_ml_cells += cells


def _census_fallback(path: str, text: str, facts: RepoFacts) -> None:
    """Imports of a file that does not parse as Python 3 (py2 code) still count for the census."""
    for m in _IMPORT_LINE.finditer(text):
        for mod in (m.group(1),) if m.group(1) else m.group(2).split(","):
            words = mod.split()
            name = framework_of(words[0]) if words else None
            if name:
                facts.frameworks[name].add(path)


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)")


def _package(spec: str) -> str | None:
    m = _REQ_NAME.match(spec)
    return FRAMEWORK_PACKAGES.get(m.group(1).lower().replace("_", "-")) if m else None


def _declared_in_magics(nb: NotebookCode, path: str, facts: RepoFacts) -> None:
    for magic in nb.magics:
        parts = magic.lstrip("%!").split()
        if len(parts) >= 2 and parts[0] in {"pip", "pip3", "conda", "mamba"} and parts[1] == "install":
            for spec in parts[2:]:
                if not spec.startswith("-") and _package(spec):
                    facts.frameworks.setdefault("declared:" + str(_package(spec)), set()).add(path)


def declared_frameworks(view: RepoView) -> dict[str, set[str]]:
    """Frameworks named in dependency manifests (requirements, pyproject, setup, conda, Pipfile)."""
    found: dict[str, set[str]] = defaultdict(set)
    for entry in view.entries.values():
        if _SKIP_DIRS.search(entry.path):
            continue
        name, path = entry.name.lower(), entry.path
        specs: Iterable[str] = ()
        if (name.endswith((".txt", ".in")) and "requirements" in name) or (
                "/requirements/" in f"/{path}" and name.endswith((".txt", ".in"))):
            specs = _requirements(view.text(path) or "")
        elif name == "pyproject.toml":
            specs = _pyproject(view.text(path) or "")
        elif name == "pipfile":
            specs = _toml_keys(view.text(path) or "", ("packages",), ("dev-packages",))
        elif name == "setup.py":
            specs = _setup_py(view.text(path) or "")
        elif name == "setup.cfg":
            specs = _setup_cfg(view.text(path) or "")
        elif re.fullmatch(r"(environment|conda)[\w.\-]*\.ya?ml", name):
            specs = _conda(view.text(path) or "")
        try:
            for spec in specs:
                fw = _package(spec)
                if fw:
                    found[fw].add(path)
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:  # a malformed manifest
            log.debug("skipping manifest %s:%s: %s", view.name, path, exc)
    return found


def _requirements(text: str) -> Iterable[str]:
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            yield line


def _pyproject(text: str) -> list[str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeError):
        return []
    project = data.get("project") or {}
    specs = list(project.get("dependencies") or [])
    for extra in (project.get("optional-dependencies") or {}).values():
        specs.extend(extra if isinstance(extra, list) else [])
    for group in (data.get("dependency-groups") or {}).values():
        specs.extend(s for s in group if isinstance(s, str))
    poetry = (data.get("tool") or {}).get("poetry") or {}
    specs.extend(poetry.get("dependencies") or {})
    specs.extend(poetry.get("dev-dependencies") or {})
    for group in (poetry.get("group") or {}).values():
        specs.extend((group or {}).get("dependencies") or {})
    return [s for s in specs if isinstance(s, str)]


def _toml_keys(text: str, *tables: tuple[str, ...]) -> list[str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeError):
        return []
    out: list[str] = []
    for table in tables:
        node: Any = data
        for key in table:
            node = node.get(key) if isinstance(node, dict) else None
        out.extend(node or {})
    return out


def _setup_py(text: str) -> list[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    return [n.value for n in walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and len(n.value) < 80 and "\n" not in n.value]


def _setup_cfg(text: str) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    out: list[str] = []
    if parser.has_option("options", "install_requires"):
        out.extend(_requirements(parser.get("options", "install_requires")))
    if parser.has_section("options.extras_require"):
        for _, value in parser.items("options.extras_require"):
            out.extend(_requirements(value))
    return out


def _conda(text: str) -> list[str]:
    try:
        data = safe_yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    deps = data.get("dependencies") if isinstance(data, dict) else None
    out: list[str] = []
    for dep in deps if isinstance(deps, list) else []:
        if isinstance(dep, str):
            out.append(dep.split("::")[-1].replace("=", "==", 1))
        elif isinstance(dep, dict):
            out.extend(d for d in dep.get("pip") or [] if isinstance(d, str))
    return out


# -- structural detections: one function each, over a scan ------------------------------------
_FRAME_ATTRS = {"columns", "dtypes", "isnull", "isna", "notnull", "notna", "duplicated", "is_unique",
                "empty", "nunique", "between", "isin", "dtype"}
_VALIDATOR_NAME = re.compile(r"^_?(validate|check|verify|assert)(_|$)")


def _checks_frame(expr: ast.AST) -> bool:
    for node in walk(expr):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return True
        if isinstance(node, ast.Attribute) and node.attr in _FRAME_ATTRS:
            return True
    return False


def _custom_validation(scan: SourceScan) -> list[Hit]:
    """A validate_*/check_* function asserting (or raising) on dataframe columns: `tool: custom`."""
    if not scan.imports_any(("pandas", "pyspark", "polars")):
        return []
    hits = []
    for fn in scan.functions:
        if not _VALIDATOR_NAME.match(fn.name):
            continue
        for node in walk(fn):
            test = node.test if isinstance(node, ast.Assert) else None
            if isinstance(node, ast.If) and any(isinstance(s, ast.Raise) for s in node.body):
                test = node.test
            if test is not None and _checks_frame(test):
                hits.append(Hit(DV, "custom", scan.path, fn.lineno, scan.source_line(fn.lineno), {},
                                scan.notebook is not None))
                break
    return hits


_MONITORING_KEYS = frozenset({"modelMonitoringConfig", "model_monitoring_config",
                              "modelDeploymentMonitoringObjectiveConfigs",
                              "model_deployment_monitoring_objective_configs"})
_OBJECTIVE_KEYS = frozenset({"objectiveConfigs", "objective_configs", "trainingPredictionSkewDetectionConfig",
                             "training_prediction_skew_detection_config", "predictionDriftDetectionConfig",
                             "prediction_drift_detection_config", "objectiveConfig", "objective_config"})


def _has_objective(expr: ast.AST) -> bool:
    return any(isinstance(n, ast.Dict) and any(isinstance(k, ast.Constant) and k.value in _OBJECTIVE_KEYS
                                               for k in n.keys) for n in walk(expr))


def _vertex_monitoring_request(scan: SourceScan) -> list[Hit]:
    """A Vertex AI request built as a dict (`message["modelMonitoringConfig"] = {...}` then
    `create_batch_prediction_job`): skew/drift objectives configured through the API."""
    if not any(m.startswith("google.cloud.aiplatform") for m in scan.modules):
        return []
    for node in walk(scan.tree):
        pairs: list[tuple[ast.AST | None, ast.AST]] = []
        if isinstance(node, ast.Dict):
            pairs = list(zip(node.keys, node.values, strict=True))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript):
            pairs = [(node.targets[0].slice, node.value)]
        for key, value in pairs:
            if isinstance(key, ast.Constant) and key.value in _MONITORING_KEYS and _has_objective(value):
                line = getattr(key, "lineno", node.lineno)
                return [Hit(MM, "vertex-model-monitoring", scan.path, line, scan.source_line(line),
                            {"via": "request", "scheduled": True}, scan.notebook is not None)]
    return []


_GX_EXPECTATION = re.compile(r"^expect_(column|table|compound|multicolumn|select_column|column_pair)\w*$")


def _test_validation(scan: SourceScan) -> list[Hit]:
    """Data validation written as tests (`tests/data/test_dataset.py`): a test function that
    runs Great Expectations expectations on a dataset, or validates it with a pandera schema.
    Tests of other code that merely build GX projects or mention expectations do not count."""
    pandera = any(m.split(".")[0] == "pandera" for m in scan.modules)
    if not pandera and not any("expect_" in line for line in scan.lines):
        return []  # no expectation is called anywhere in the file
    hits: list[Hit] = []
    for fn in _test_functions(scan.tree):
        found = sorted(
            (node.lineno, tool) for node in walk(fn)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            for tool in ("great_expectations" if _GX_EXPECTATION.match(node.func.attr) else
                         "pandera" if pandera and node.func.attr == "validate" else None,)
            if tool)
        if found:
            line, tool = found[0]
            hits.append(Hit(DV, tool, scan.path, line, scan.source_line(line), {"in_tests": True}, False))
    return hits


def _dbt_models(scan: SourceScan) -> list[Hit]:
    return [Hit(DP, "dbt", scan.path, fn.lineno, scan.source_line(fn.lineno), {}, False)
            for fn in scan.functions
            if fn.name == "model" and [a.arg for a in fn.args.args[:1]] == ["dbt"]]


def _lambda_handlers(scan: SourceScan) -> list[Hit]:
    return [Hit("_route", "aws-lambda", scan.path, fn.lineno, scan.source_line(fn.lineno), {}, False)
            for fn in scan.functions
            if fn.name.endswith("handler") and [a.arg for a in fn.args.args[:2]] == ["event", "context"]]


_BATCH_WORDS = {"batch", "predict", "prediction", "predictions", "score", "scoring", "inference", "infer"}
_WRITES = {"to_csv", "to_parquet", "to_json", "to_sql", "to_gbq", "write", "save", "dump", "saveAsTable",
           "put_object", "upload_file", "insert_rows_json"}


def _batch_script(scan: SourceScan) -> list[Hit]:
    """A predict/score script that loads a model, predicts and writes results, without a server."""
    stem = posixpath.splitext(posixpath.basename(scan.path))[0]
    if scan.notebook is not None or not _BATCH_WORDS & set(words_of(stem)):
        return []
    leaves = [(q.rsplit(".", 1)[-1].lstrip(UNRESOLVED), c) for q, c in scan.calls]
    predicts = [c for leaf, c in leaves if leaf in {"predict", "predict_proba"}]
    if predicts and any(leaf in _WRITES for leaf, _ in leaves):
        return [Hit("_batch", "custom", scan.path, predicts[0].lineno, scan.source_line(predicts[0].lineno), {}, False)]
    return []


STRUCTURAL: tuple[Callable[[SourceScan], list[Hit]], ...] = (
    _custom_validation, _dbt_models, _lambda_handlers, _batch_script, _vertex_monitoring_request)
#: what each structural detector needs in a file's text, for the prefilter: any of the keywords,
#: or (a condition) every expression, with one of its words (a test checks every one is listed)
STRUCTURAL_NEEDS: dict[str, tuple[tuple[Keyword, ...], tuple[str, ...], tuple[str, ...]]] = {
    # a validate_*/check_* function in a module importing a dataframe library
    "_custom_validation": ((), (r"(?<![A-Za-z0-9_])(?:pandas|pyspark|polars)(?![A-Za-z0-9_])",
                                r"(?<![A-Za-z0-9_])_?(?:validate|check|verify|assert)(?![A-Za-z0-9])"),
                           ("pandas", "pyspark", "polars")),
    "_dbt_models": ((Keyword("dbt"),), (), ()),
    "_lambda_handlers": ((Keyword("handler", start=False),), (), ()),
    "_batch_script": ((Keyword("predict"), Keyword("predict_proba")), (), ()),
    "_vertex_monitoring_request": ((Keyword("aiplatform", end=False),), (), ()),
}


def _structural(scan: SourceScan) -> list[Hit]:
    return [hit for detect in STRUCTURAL for hit in detect(scan)]


# -- tests -----------------------------------------------------------------------------------
def _test_functions(tree: ast.Module) -> Iterable[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and (node.name.startswith("Test") or any(
                (getattr(b, "attr", None) or getattr(b, "id", "")).endswith("TestCase") for b in node.bases)):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    yield item


def _asserts(fn: ast.AST) -> bool:
    for node in walk(fn):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            leaf = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
            if leaf.startswith(("assert", "Assert")) or leaf in {"raises", "warns", "fail", "assert_that"}:
                return True
    return False


def _asserting_tests(scan: SourceScan) -> list[tuple[str, int]]:
    return [(fn.name, fn.lineno) for fn in _test_functions(scan.tree) if _asserts(fn)]


ML_TARGET_WORDS = {"model", "models", "train", "training", "trainer", "feature", "features", "data",
                   "dataset", "datasets", "preprocess", "preprocessing", "predict", "predictor",
                   "prediction", "inference", "infer", "transform", "transforms", "transformer",
                   "evaluate", "evaluation", "estimator", "etl", "clean", "cleaning", "encoder",
                   "embedding", "embeddings", "score", "scoring", "forecast", "forecasting", "classifier",
                   "regressor", "network", "net", "loss", "losses", "ml", "learn", "augment",
                   "augmentation", "tokenizer", "dataloader", "ingest", "ingestion",
                   "serve", "serving", "pipeline", "pipelines"}
GLUE_WORDS = {"dag", "dags", "airflow", "operator", "operators", "plugin", "plugins", "infra", "cdk",
              "stack", "stacks", "terraform", "lambda", "conftest", "tests", "test", "exceptions",
              "errors", "config", "settings", "cli", "logging"}


def _local_top_names(view: RepoView) -> set[str]:
    names: set[str] = set()
    for path in view.entries:
        if path.endswith(".py") and not _SKIP_DIRS.search(path):
            parts = path.split("/")
            names.update(parts[:-1])
            names.add(parts[-1][:-3])
    return names - {"tests", "test", "conftest", "__init__", "setup"}


def _ml_targets(scan: SourceScan, local_tops: set[str]) -> set[str]:
    """What an asserting test file exercises: ML frameworks or the project's ML modules."""
    used = {n.id for fn in scan.functions for n in walk(fn) if isinstance(n, ast.Name)}
    targets: set[str] = set()
    for local, qual in scan.imports.items():
        if local not in used:
            continue
        fw = framework_of(qual)
        if fw:
            targets.add(fw)
            continue
        # in a project template the package is a placeholder (`{{cookiecutter.pkg}}.features`)
        is_local = qual.startswith(".") or qual.split(".")[0] in local_tops or (
            "{{" in scan.path and bool(set(qual.split(".")[1:-1]) & local_tops))
        parts = qual.lstrip(".").split(".")
        # `proj_ml.ops.hello`: the package names the project, its modules say what is tested
        words = set(words_of(" ".join(parts[1:] if len(parts) >= 3 else parts)))
        if is_local and words & ML_TARGET_WORDS and not words & GLUE_WORDS:
            targets.add(qual.lstrip("."))
    return targets


# -- assembling evidence ---------------------------------------------------------------------
def _opt(hit: Hit) -> dict[str, Any]:
    """The `opt_in` flag of an internal fact, carried to the signal it becomes."""
    return {"opt_in": True} if hit.attrs.get("opt_in") else {}


def _combine(facts: RepoFacts) -> list[Hit]:
    """Turn internal facts into signals: routes + model loads, schedules on training code."""
    by_path: dict[str, dict[str, list[Hit]]] = defaultdict(lambda: defaultdict(list))
    for hit in facts.hits:
        by_path[hit.path][hit.signal].append(hit)
    loaders = {p for p, sig in by_path.items() if sig.get("_model_load") and not p.endswith(".ipynb")}
    loader_stems = {posixpath.splitext(posixpath.basename(p))[0] for p in loaders} - {"__init__"}
    # modules imported by a scheduled file: monitoring in them runs on that schedule
    scheduled_imports = {part for p, sig in by_path.items() if sig.get("_schedule")
                         for m in facts.local_imports.get(p, ()) for part in m.lstrip(".").split(".")}
    out: list[Hit] = []
    for path, signals in by_path.items():
        routes = signals.get("_route", [])
        if routes:
            loads_here = bool(signals.get("_model_load"))
            loads_imported = any(set(re.split(r"[.]", m.lstrip("."))) & loader_stems
                                 for m in facts.local_imports.get(path, ()))
            if loads_here or (loads_imported and not path.endswith(".ipynb")):
                for r in routes:
                    out.append(Hit(SV, r.tool, r.path, r.line, r.excerpt, _opt(r), r.notebook))
        elif signals.get("_batch") and signals.get("_model_load"):
            out.extend(Hit(BI, h.tool, h.path, h.line, h.excerpt, _opt(h), h.notebook) for h in signals["_batch"])
        schedules = signals.get("_schedule", [])
        for s in schedules:
            if s.attrs.get("training"):
                out.append(Hit("scheduled_retraining", s.tool, s.path, s.line, s.excerpt,
                               {"trigger": s.tool, "schedule": s.attrs.get("schedule"), **_opt(s)}, s.notebook))
        stem = posixpath.splitext(posixpath.basename(path))[0]
        for hit in signals.get(MM, []):
            if (schedules or stem in scheduled_imports) and "scheduled" not in hit.attrs:
                hit.attrs["scheduled"] = True
        out.extend(h for sig, hs in signals.items() if not sig.startswith("_") for h in hs)
    return out


_FLAGS = ("metadata_driven", "scheduled")


def _assemble(view: RepoView, facts: RepoFacts) -> list[EvidenceItem]:
    items: list[EvidenceItem] = []
    groups: dict[tuple[str, str, Any], list[Hit]] = defaultdict(list)
    seen: set[tuple[str, str, str, int]] = set()
    for hit in _combine(facts):
        key = (hit.signal, hit.tool, hit.path, hit.line)
        if key in seen:
            continue
        seen.add(key)
        groups[(hit.signal, hit.tool, hit.attrs.get("action"))].append(hit)
    for (signal, tool, _), hits in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][2]))):
        hits.sort(key=lambda h: (h.notebook, "{{" in h.path, h.path, h.line))
        notebook_only = all(h.notebook for h in hits)
        opt_in = all(h.attrs.get("opt_in") for h in hits)
        for i, hit in enumerate(hits[:MAX_SAMPLES]):
            attrs: dict[str, Any] = {"tool": tool, **hit.attrs}
            attrs.pop("training", None)
            attrs.pop("opt_in", None)
            if opt_in:
                attrs["opt_in"] = True
            if i == 0:
                attrs["occurrences"] = len(hits)
                attrs["files"] = len({h.path for h in hits})
                for flag in _FLAGS:
                    if any(h.attrs.get(flag) for h in hits):
                        attrs[flag] = True
            if notebook_only:
                attrs["notebook_only"] = True
            if "{{" in hit.path:
                attrs["template"] = True
            line = hit.line
            nb = facts.notebooks.get(hit.path)
            if nb is not None:
                cell = nb.cell_of(hit.line)
                if cell:
                    attrs["cell"] = cell[0] + 1
                line = raw_notebook_line(view.text(hit.path) or "", nb, hit.line) or 0
            items.append(view.evidence(signal, hit.path, line or None, hit.excerpt, **attrs))
    items.extend(_test_items(view, facts))
    items.append(_census_item(view, facts))
    return items


def _test_items(view: RepoView, facts: RepoFacts) -> list[EvidenceItem]:
    items = []
    tested = sorted((p, fns, t) for p, fns, t in facts.tests if fns)
    if tested:
        items.append(_tests_item(view, "automated_tests", tested))
    ml = [(p, fns, t) for p, fns, t in tested if t]
    if ml:
        targets = sorted({x for _, _, t in ml for x in t})
        items.append(_tests_item(view, "ml_tests", ml, targets=targets[:MAX_LISTED]))
    return items


def _tests_item(view: RepoView, signal: str, tested: list[tuple[str, list[tuple[str, int]], set[str]]],
                **extra: Any) -> EvidenceItem:
    path, fns, _ = tested[0]
    name, line = fns[0]
    samples = [f"{p}:{f[0][1]}" for p, f, _ in tested[:MAX_SAMPLES]]
    attrs: dict[str, Any] = {"test_files": len(tested), "test_functions": sum(len(f) for _, f, _ in tested),
                             "samples": samples, **extra}
    if all("{{" in p for p, _, _ in tested):
        attrs["template"] = True
    return view.evidence(signal, path, line, (view.text(path) or "").split("\n")[line - 1].strip(), **attrs)


def _census_item(view: RepoView, facts: RepoFacts) -> EvidenceItem:
    frameworks: dict[str, str] = {}
    for name in sorted(facts.frameworks):
        if not name.startswith("declared:"):
            frameworks[name] = "imported"
    declared = declared_frameworks(view)
    for key, paths in facts.frameworks.items():
        if key.startswith("declared:"):
            declared.setdefault(key.split(":", 1)[1], set()).update(paths)
    for name in sorted(declared):
        frameworks.setdefault(name, "declared_only")
    imported_paths = {p for n, ps in facts.frameworks.items() if not n.startswith("declared:") for p in ps}
    attrs: dict[str, Any] = {
        "frameworks": frameworks,
        "python_files": facts.python_files,
        "notebook_files": facts.notebook_files,
        "training_entry_points": sorted(facts.training_entry_points)[:MAX_LISTED],
        "notebook_ml_cells": facts.notebook_ml_cells,
    }
    if len(facts.training_entry_points) > MAX_LISTED:
        attrs["training_entry_point_count"] = len(facts.training_entry_points)
    if imported_paths and all(p.endswith(".ipynb") for p in imported_paths):
        attrs["notebook_only"] = True
    return view.evidence("ml_frameworks", **attrs)
