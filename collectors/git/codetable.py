"""The code detectors' table: which qualified names, decorators, base classes and imports mean
which signal for which tool (`DETECTORS`, one row per tool and usage), the hooks a few rows need,
and the framework modules and packages of the census. Adding a tool is one row here; the
prefilter (`prefilter.py`) derives its keywords from this table."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from typing import Any

from mlaudit.collectors.git.pathrules import PathRule
from mlaudit.collectors.git.pyscan import UNRESOLVED, Detector, SourceScan, walk

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


#: words of a module's path that name a data stage (`components/data_ingestion.py`, `etl/load.py`)
_STAGE_WORDS = {"ingest", "ingestion", "etl", "extract", "extraction", "preprocess", "preprocessing", "dataset", "datasets", "feature", "features",
                "prepare", "preparation", "transform", "transformation", "featurize", "featurization"}
_DATA_WORDS = {"processing", "process", "prep", "cleaning", "clean"}  # with "data": data_processing.py
_READ_LEAVES = {"read_csv", "read_parquet", "read_sql", "read_sql_query", "read_sql_table", "read_excel",
                "read_feather", "read_json", "read_table", "scan_csv", "scan_parquet", "read_database"}


def data_stage(path: str) -> str | None:
    """The data stage a module's path names (`src/components/data_ingestion.py` -> ingestion);
    None for other modules and for tests. Hits depend on it: part of their cache key."""
    words = set(re.split(r"[/_.-]+", path.lower()))
    if words & {"test", "tests", "conftest"}:
        return None
    stage = sorted(words & _STAGE_WORDS) or (sorted(words & _DATA_WORDS) if "data" in words else [])
    return stage[0] if stage else None


def _stage_module(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any] | None:
    """A pipeline module: a data-stage module (by its path) that reads a dataset and writes one
    out (`pd.read_csv(...)` ... `train.to_csv(...)`); not a notebook, not a test."""
    stage = data_stage(scan.path) if scan.notebook is None else None
    reads = any(q.rsplit(".", 1)[-1].lstrip(UNRESOLVED) in _READ_LEAVES for q, _ in scan.calls)
    return {"stage": stage, "via": "pipeline_module"} if stage and reads else None


#: SQL that writes a table or a file (DuckDB runs it in-process: `CREATE TABLE features AS ...`,
#: `COPY (...) TO 'out.parquet'`, `INSERT INTO ...`); views and plain SELECTs write nothing
_SQL_WRITE = re.compile(r"\b(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?TABLE|COPY\b[\s\S]*?\bTO\b|"
                        r"INSERT\s+(?:OR\s+\w+\s+)?INTO)\b", re.IGNORECASE)
_WRITE_LEAVES = {"to_parquet", "to_csv", "to_feather", "to_sql", "write_parquet", "write_csv", "write_database"}


def _literal_parts(expr: ast.AST | None) -> list[str]:
    """The literal text of a string (one part) or of an f-string (its constant parts, in order)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.JoinedStr):
        return [v.value for v in expr.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def _sql_text(node: ast.AST) -> str:
    """The literal text of a call's first argument (a string, or an f-string's literal parts)."""
    args = getattr(node, "args", [])
    return "".join(_literal_parts(args[0] if args else None))


def _duckdb_etl(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any] | None:
    """A DuckDB pipeline module: SQL run through DuckDB that writes a table or a file, or a
    dataset DuckDB produced written out (`con.execute(sql).df().to_parquet(...)`). Not a notebook
    (test modules are not matched at all); queries that only read (a dashboard's SELECT) are not
    a pipeline. Content alone decides (a parse shared by identical blobs shares its hits)."""
    if scan.notebook is not None:
        return None
    leaf = qual.rsplit(".", 1)[-1].lstrip(UNRESOLVED)
    if leaf in _WRITE_LEAVES:
        uses = any(q.split(".", 1)[0] == "duckdb" and q.rsplit(".", 1)[-1] in {"connect", "sql", "query", "execute"}
                   or q.startswith("duckdb.read_") for q, _ in scan.calls)
        return {"via": "pipeline_module"} if uses else None
    return {"via": "pipeline_module"} if _SQL_WRITE.search(_sql_text(node)) else None


def _literal_prefix(expr: ast.AST | None) -> str:
    """The literal start of a string or f-string expression (`f"runs:/{run_id}/model"` ->
    `runs:/`); empty for anything else, or an f-string that starts with a placeholder."""
    starts_literal = not isinstance(expr, ast.JoinedStr) or (
        bool(expr.values) and isinstance(expr.values[0], ast.Constant))
    parts = _literal_parts(expr)
    return parts[0] if parts and starts_literal else ""


def _run_artifact(scan: SourceScan, node: ast.AST, qual: str) -> Mapping[str, Any] | None:
    """A model loaded from a tracked run (`mlflow.pyfunc.load_model(f"runs:/{run_id}/model")`,
    the URI given directly, by `model_uri=`, or through a variable of the same function or
    module assigned such a string): the runs it serves from were logged to the tracker, so the
    code is tracking evidence. `models:/` (the registry), paths and other URIs are not."""
    args = getattr(node, "args", [])
    expr = _kw(node, "model_uri") or (args[0] if args else None)
    if isinstance(expr, ast.Name):
        name = expr.id
        values = [n.value for n in walk(scan.tree) if isinstance(n, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in n.targets)]
        return {"via": "run_artifact"} if any(_literal_prefix(v).startswith("runs:/") for v in values) else None
    return {"via": "run_artifact"} if _literal_prefix(expr).startswith("runs:/") else None


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
    _d(ET, "mlflow", "mlflow.*load_model", hook=_run_artifact),
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
    # summary ops: an Estimator writes them to its model_dir, TF2 to the default writer
    _d(ET, "tensorboard", "tensorflow.summary.scalar", "tensorflow.summary.histogram", "tensorflow.summary.image",
       "tensorflow.compat.v1.summary.scalar", "tensorflow.compat.v1.summary.histogram"),
    # Catalyst runners write TensorBoard logs under the `logdir` they train with
    _d(ET, "tensorboard", "catalyst.*Runner().train", kwargs=("logdir",)),
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
    _d(DV, "pandera", "pandera.*DataFrameSchema", "pandera.*SeriesSchema", "pandera.infer_schema",
       "pandera.*DataFrameSchema.from_json", "pandera.*DataFrameSchema.from_yaml", "pandera.io.from_*",
       deco=("pandera.*check_*",),
       bases=("pandera.*DataFrameModel", "pandera.*SchemaModel")),
    # pandantic: pydantic models that validate a dataframe row by row (`Model.parse_df(df)`)
    _d(DV, "pandantic", "pandantic.Pandantic", bases=("pandantic.BaseModel", "pandantic.*.BaseModel")),
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
    _d(DP, "pandas", "*.to_csv", "*.to_parquet", "*.to_sql", "*.to_feather", needs=("pandas",), hook=_stage_module),
    _d(DP, "polars", "*.write_parquet", "*.write_csv", "*.write_database", needs=("polars",), hook=_stage_module),
    _d(DP, "duckdb", "duckdb.sql", "duckdb.execute", "duckdb.query", "*.execute", "*.sql", "*.to_parquet",
       "*.write_parquet", "*.to_csv", "*.write_csv", needs=("duckdb",), hook=_duckdb_etl),
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
    # model libraries and inference runtimes: training or serving a model is ML code whichever runs it
    "ultralytics": "ultralytics", "timm": "timm", "peft": "peft", "trl": "trl", "detectron2": "detectron2",
    "mmdet": "openmmlab", "mmseg": "openmmlab", "mmpretrain": "openmmlab", "mmcls": "openmmlab",
    "onnxruntime": "onnxruntime", "openvino": "openvino", "tflite_runtime": "tensorflow", "tensorrt": "tensorrt",
    "insightface": "insightface", "vllm": "vllm",
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
    "ultralytics": "ultralytics", "timm": "timm", "peft": "peft", "trl": "trl", "detectron2": "detectron2",
    "mmdet": "openmmlab", "mmsegmentation": "openmmlab", "mmpretrain": "openmmlab",
    "onnxruntime": "onnxruntime", "onnxruntime-gpu": "onnxruntime", "openvino": "openvino",
    "tflite-runtime": "tensorflow", "tensorrt": "tensorrt", "insightface": "insightface", "vllm": "vllm",
}


def framework_of(module: str) -> str | None:
    if module.startswith("."):
        return None
    parts = module.split(".")
    return FRAMEWORK_MODULES.get(".".join(parts[:2])) or FRAMEWORK_MODULES.get(parts[0])


#: folders whose files are somebody else's code or generated environments: never read
SKIP_DIR_NAMES = ("site-packages", "dist-packages", "node_modules", ".venv", "venv", ".tox", ".nox",
                  "__pypackages__", ".ipynb_checkpoints", ".git")
SKIP_DIRS = PathRule(r"(^|/)(" + "|".join(map(re.escape, SKIP_DIR_NAMES)) + r")/")
