"""`mlaudit demo`: a small sandbox organisation on local disk, audited with the ordinary scan.

The sandbox (in `DIR/org/`):
- three git repositories at different maturity, with real history (`auditor.demo_org`);
- an sqlite MLflow store (`mlflow.db`) written with MLflow's client: experiments, runs with
  params, metrics, git-commit tags and datasets as inputs, registered models with aliases;
- a Great Expectations 1.x project (`data-quality/`) built with GX's API, its checkpoint run on
  several days (some runs failing);
- survey answers (`survey.yaml`), one claim of which the systems contradict;
- an AWS estate in moto's in-process mode: endpoints, a SageMaker pipeline with executions, a
  model package group, a Glue catalogue, alarms, a scheduled retraining rule, a budget.

Then `auditor.engine.audit` runs on a Config naming exactly those targets (AWS under `mock_aws`,
with dummy credentials set for the demo only) and the reports are written to `DIR/report/`.
Nothing here touches the network: MLflow's and GX's telemetry are switched off, moto answers every
AWS call in-process, and the APIs moto lacks are answered by botocore Stubbers.

Heavy libraries (mlflow, great_expectations, moto) are imported only inside the build steps.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from mlaudit.demo_org import build as build_git_org
from mlaudit.errors import UsageError

log = logging.getLogger("mlaudit")

MARKER = ".mlaudit-demo"
ORGANISATION = "Demo Corp (sandbox)"
REGION = "eu-west-1"
#: where `mlflow ui --backend-store-uri sqlite:///DIR/org/mlflow.db` serves by default
MLFLOW_UI = "http://127.0.0.1:5000"
DAY_MS = 86_400_000

#: environment for the whole demo: no telemetry from MLflow or GX, no progress bars
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "TQDM_DISABLE": "1",
    "GIT_TERMINAL_PROMPT": "0",
}
#: environment while moto is active: dummy credentials, one region, no machine AWS config
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
AWS_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
             "AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")

SURVEY = f"""\
# Survey answers for the demo organisation (as `mlaudit survey` writes them).
version: 1
organisation: {ORGANISATION}
respondent: Dana Example
role: Head of ML
date: {{today}}
answers:
  S1: written
  S2: refreshed each planning cycle
  S3: partial
  S4: named sponsor
  S5: [PM with ML experience, ML scientist, ML engineer, data engineer]
  S6: 6
  S7: Agile adapted to ML
  S8: {{{{org_model: centralized, pods: 1}}}}
  S9: pilot
  S10: sometimes
  S11: [lead engineer]
  S12: shipped
  S13: documented standard
"""


@dataclass
class DemoResult:
    out: Path
    report_dir: Path
    written: dict[str, Path]
    report: dict[str, Any]
    exit_code: int
    kept: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ environment


@contextlib.contextmanager
def patched_env(values: dict[str, str], unset: tuple[str, ...] = ()) -> Iterator[None]:
    """Set (and unset) environment variables, restoring every one afterwards."""
    saved = {k: os.environ.get(k) for k in (*values, *unset)}
    try:
        for k in unset:
            os.environ.pop(k, None)
        os.environ.update(values)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence MLflow's, alembic's and GX's logging, warnings and progress output."""
    names = ("mlflow", "alembic", "great_expectations", "sqlalchemy", "botocore", "moto", "urllib3")
    loggers = {n: logging.getLogger(n) for n in names}
    levels = {n: lg.level for n, lg in loggers.items()}
    sink = io.StringIO()
    try:
        for lg in loggers.values():
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for n, lg in loggers.items():
            lg.setLevel(levels[n])


# ------------------------------------------------------------------------------ git


def _head(repo: Path) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


# ------------------------------------------------------------------------------ MLflow


def _mlflow_alembic_quiet() -> None:
    # MLflow configures alembic's logger when it migrates a new database; keep it at ERROR
    logging.getLogger("alembic").setLevel(logging.ERROR)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.ERROR)


def build_mlflow_store(db: Path, commits: dict[str, str]) -> str:
    """An sqlite tracking store and model registry, written with MLflow's client API.

    Experiments: `churn` (runs of churn-service tagged with its real git commit, logging params,
    metrics and the training dataset), `fraud-exploration` (notebook runs, no commit, no
    dataset). Registered models: `churn` (three versions from tracked runs, alias `production`
    on the newest, `challenger` on the one before) and `fraud-scoring` (one version, no alias).
    """
    from mlflow import MlflowClient
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

    _mlflow_alembic_quiet()
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    now = int(time.time() * 1000)

    def run(exp: str, days_ago: float, user: str, metrics: dict[str, float],
            params: dict[str, str], commit: str | None = None, dataset: str | None = None) -> str:
        start = now - int(days_ago * DAY_MS)
        tags = {"mlflow.user": user, "mlflow.source.name": "churn/train.py"}
        if commit:
            tags["mlflow.source.git.commit"] = commit
        rid = client.create_run(exp, start_time=start, tags=tags).info.run_id
        client.log_batch(rid, metrics=[Metric(k, v, start, 0) for k, v in metrics.items()],
                         params=[Param(k, v) for k, v in params.items()])
        if dataset:
            ds = Dataset(name=dataset, digest=hashlib.sha256(dataset.encode()).hexdigest()[:12],
                         source_type="local", source=f"data/{dataset}.csv")
            client.log_inputs(rid, datasets=[
                DatasetInput(ds, tags=[InputTag("mlflow.data.context", "training")])])
        client.set_terminated(rid, status="FINISHED", end_time=start + 90_000)
        return rid

    churn = client.create_experiment("churn", tags={"team": "growth"})
    churn_runs = []
    for i, (days, auc) in enumerate(((60, 0.79), (41, 0.81), (20, 0.84), (9, 0.85), (2, 0.86))):
        churn_runs.append(run(churn, days, ("ada", "grace", "alan")[i % 3], {"auc": auc, "f1": auc - 0.1},
                              {"n_estimators": str(100 + 50 * i), "max_depth": "8"},
                              commit=commits["churn-service"], dataset="churn-2026q4"))
    fraud = client.create_experiment("fraud-exploration")
    fraud_runs = [run(fraud, days, "katherine", {"precision": p}, {"model": "logreg"})
                  for days, p in ((30, 0.61), (12, 0.66), (4, 0.64))]

    client.create_registered_model("churn", description="Churn propensity, scored nightly.",
                                   tags={"team": "growth", "tier": "1"})
    for rid in churn_runs[2:]:
        client.create_model_version("churn", f"runs:/{rid}/model", run_id=rid)
    client.set_registered_model_alias("churn", "production", "3")
    client.set_registered_model_alias("churn", "challenger", "2")
    client.create_registered_model("fraud-scoring")
    client.create_model_version("fraud-scoring", f"runs:/{fraud_runs[1]}/model", run_id=fraud_runs[1])
    _forget_mlflow_stores(client)
    return uri


def _forget_mlflow_stores(client: Any) -> None:
    """Close the client's database connections and drop MLflow's per-URI store cache.

    MLflow keeps one store (and connection pool) per URI for the life of the process; a second
    demo in the same process would otherwise write through connections to the database file the
    first demo deleted. These are MLflow internals, so a change in them is tolerated.
    """
    try:
        from mlflow.tracking._model_registry.utils import _get_store_registry
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        for store in (client._tracking_client.store, client._get_registry_client().store):
            engine = getattr(store, "engine", None)
            if engine is not None:
                engine.dispose()
        for registry in (_tracking_store_registry, _get_store_registry()):
            type(registry)._get_store_with_resolved_uri.cache_clear()
    except Exception:  # noqa: BLE001 - best effort: only a second demo in one process needs it
        log.debug("could not reset MLflow's store cache", exc_info=True)


# ------------------------------------------------------------------------------ Great Expectations

GOOD_ORDERS = "id,amount,country\n1,10,FR\n2,20,DE\n3,30,FR\n4,15,DE\n"
BAD_ORDERS = "id,amount,country\n1,10,FR\n2,,DE\n3,300,FR\n4,15,XX\n"


def build_gx_project(root: Path) -> Path:
    """A GX 1.x project: an `orders` suite run nightly by a checkpoint (bad data twice, then
    good), a `customers` suite with a checkpoint that alerts on failure, never run."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier

    data = root / "data"
    data.mkdir(parents=True)
    (data / "orders.csv").write_text(GOOD_ORDERS)
    (data / "customers.csv").write_text("id,email\n1,a@example.com\n2,b@example.com\n")
    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    ds = ctx.data_sources.add_pandas_filesystem("warehouse", base_directory=str(data))
    orders = ds.add_csv_asset("orders").add_batch_definition_path("orders_csv", path="orders.csv")
    suite = ctx.suites.add(gx.ExpectationSuite(name="orders"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="id"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="amount"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=100))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="country", value_set=["FR", "DE"]))
    orders_vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name="orders_daily", data=orders, suite=suite))
    customers = ds.add_csv_asset("customers").add_batch_definition_path("customers_csv",
                                                                        path="customers.csv")
    csuite = ctx.suites.add(gx.ExpectationSuite(name="customers"))
    csuite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="email"))
    customers_vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name="customers_weekly", data=customers, suite=csuite))
    nightly = ctx.checkpoints.add(gx.Checkpoint(name="nightly", validation_definitions=[orders_vd],
                                                actions=[]))
    ctx.checkpoints.add(gx.Checkpoint(
        name="weekly", validation_definitions=[customers_vd],
        actions=[gx.checkpoint.SlackNotificationAction(
            name="alert", slack_webhook="${SLACK_WEBHOOK}", notify_on="failure")]))
    today = datetime.now(UTC).replace(microsecond=0)
    for days, csv in ((6, BAD_ORDERS), (4, BAD_ORDERS), (2, GOOD_ORDERS), (1, GOOD_ORDERS)):
        when = today - timedelta(days=days)
        (data / "orders.csv").write_text(csv)
        nightly.run(run_id=RunIdentifier(run_name=f"nightly-{when:%Y%m%d}", run_time=when))
    return root


# ------------------------------------------------------------------------------ AWS (moto)


def seed_aws(account: str = "123456789012") -> None:
    """Resources in moto's in-process backend (call inside `mock_aws`); the demo writes, the
    collector only reads."""
    import json

    import boto3

    role = f"arn:aws:iam::{account}:role/sagemaker-execution"
    sm = boto3.client("sagemaker", region_name=REGION)
    for name, model in (("churn-prod", "churn-v3"), ("fraud-shadow", "fraud-v1")):
        sm.create_model(ModelName=model, ExecutionRoleArn=role,
                        PrimaryContainer={"Image": f"{account}.dkr.ecr.{REGION}.amazonaws.com/{model}:1"})
        sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
            "VariantName": "main", "ModelName": model, "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config",
                           Tags=[{"Key": "team", "Value": "growth"}])
    definition = {"Version": "2020-12-01", "Steps": [
        {"Name": "features", "Type": "Processing", "Arguments": {}},
        {"Name": "train", "Type": "Training", "Arguments": {}}]}
    pipeline = sm.create_pipeline(PipelineName="churn-retrain", RoleArn=role,
                                  PipelineDefinition=json.dumps(definition))["PipelineArn"]
    for _ in range(3):
        sm.start_pipeline_execution(PipelineName="churn-retrain")
    sm.create_model_package_group(ModelPackageGroupName="churn",
                                  ModelPackageGroupDescription="Churn propensity models")
    for status in ("Approved", "PendingManualApproval"):
        sm.create_model_package(
            ModelPackageGroupName="churn", ModelApprovalStatus=status,
            InferenceSpecification={"Containers": [{"Image": f"{account}.dkr.ecr.{REGION}.amazonaws.com/churn:1"}],
                                    "SupportedContentTypes": ["text/csv"],
                                    "SupportedResponseMIMETypes": ["text/csv"]})
    glue = boto3.client("glue", region_name=REGION)
    glue.create_database(DatabaseInput={"Name": "analytics", "Description": "Curated tables"})
    for i, (table, described) in enumerate((("customers", True), ("orders", True),
                                            ("events", True), ("scratch_2024", False))):
        entry: dict[str, Any] = {"Name": table}
        if described:
            entry["Description"] = f"{table}: one row per {('customer', 'order', 'event')[i]}"
        glue.create_table(DatabaseName="analytics", TableInput=entry)
    glue.create_job(Name="build-features", Role=role, Command={"Name": "glueetl",
                                                               "ScriptLocation": "s3://demo/etl.py"})
    glue.start_job_run(JobName="build-features")
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        AlarmName="churn-prod-latency", Namespace="AWS/SageMaker", MetricName="ModelLatency",
        Statistic="Average", Period=300, EvaluationPeriods=1, Threshold=500.0,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "EndpointName", "Value": "churn-prod"},
                    {"Name": "VariantName", "Value": "main"}])
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="weekly-churn-retrain", ScheduleExpression="rate(7 days)", State="ENABLED")
    events.put_targets(Rule="weekly-churn-retrain", Targets=[
        {"Id": "pipeline", "Arn": pipeline, "RoleArn": f"arn:aws:iam::{account}:role/events"}])
    boto3.client("budgets", region_name="us-east-1").create_budget(AccountId=account, Budget={
        "BudgetName": "ml-platform-monthly", "BudgetLimit": {"Amount": "5000", "Unit": "USD"},
        "TimeUnit": "MONTHLY", "BudgetType": "COST"})


def stub_clients() -> Callable[[str, str, str, str], Any]:
    """A collector `client_factory` answering, in-process, the APIs moto 5 lacks.

    Each gets a botocore Stubber (responses validated against the service model): one Model
    Monitor schedule on `churn-prod`; no feature groups, MWAA environments, Glue Data Quality
    rulesets, Redshift Serverless workgroups or active cost allocation tags. Every other reader
    gets None, so moto answers it.
    """
    import boto3
    from botocore.stub import Stubber

    now = datetime.now(UTC)

    def schedule(account: str, region: str) -> list[tuple[str, dict[str, Any]]]:
        name, endpoint = "churn-prod-data-quality", "churn-prod"
        arn = f"arn:aws:sagemaker:{region}:{account}:monitoring-schedule/{name}"
        base = {"MonitoringScheduleName": name, "MonitoringScheduleArn": arn,
                "CreationTime": now - timedelta(days=30), "LastModifiedTime": now - timedelta(days=1),
                "MonitoringScheduleStatus": "Scheduled", "EndpointName": endpoint,
                "MonitoringType": "DataQuality"}
        detail = {**base,
                  "MonitoringScheduleConfig": {"ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}},
                  "LastMonitoringExecutionSummary": {
                      "MonitoringScheduleName": name, "ScheduledTime": now - timedelta(hours=1),
                      "CreationTime": now - timedelta(hours=1), "LastModifiedTime": now - timedelta(hours=1),
                      "MonitoringExecutionStatus": "Completed", "EndpointName": endpoint}}
        return [("list_monitoring_schedules", {"MonitoringScheduleSummaries": [base]}),
                ("describe_monitoring_schedule", detail)]

    scripts: dict[str, Callable[[str, str], list[tuple[str, dict[str, Any]]]]] = {
        "sagemaker-monitoring": schedule,
        "sagemaker-feature-store": lambda a, r: [("list_feature_groups", {"FeatureGroupSummaries": []})],
        "mwaa": lambda a, r: [("list_environments", {"Environments": []})],
        "glue-data-quality": lambda a, r: [("list_data_quality_rulesets", {"Rulesets": []})],
        "redshift-serverless": lambda a, r: [("list_workgroups", {"workgroups": []})],
        "cost-allocation-tags": lambda a, r: [("list_cost_allocation_tags", {"CostAllocationTags": []})],
    }
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")

    def factory(reader: str, service: str, region: str, account_id: str) -> Any:
        script = scripts.get(reader)
        if script is None:
            return None
        client = session.client(service, region_name=region)
        stubber = Stubber(client)
        for method, response in script(account_id, region):
            stubber.add_response(method, response)
        stubber.activate()
        return client

    return factory


# ------------------------------------------------------------------------------ the demo


def prepare(out: Path) -> None:
    """Make `out` ready: create it, or clear a previous demo; never clear anything else."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"not a folder: {out}")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise UsageError(f"{out} exists and is not a previous mlaudit demo (no {MARKER} file "
                             "in it); choose another folder with --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("Built by `mlaudit demo`; the next demo run here replaces this folder.\n")


def run_demo(out: Path, keep: bool = False,
             progress: Callable[[str], None] = lambda _: None,
             frameworks: list[Any] | None = None, print_evidence: bool = False) -> DemoResult:
    """Build the sandbox in `out`, audit it, write `out/report/`; return what happened.
    `frameworks` (`mlaudit.checks.frameworks.Framework`) are reported besides the rubric."""
    try:
        from moto import mock_aws
    except ImportError:  # moto is what emulates AWS; without it the demo still audits the rest
        mock_aws = None
    from mlaudit.config import (
        AwsSettings,
        Config,
        GitSettings,
        GitTarget,
        GxSettings,
        MlflowSettings,
        MlflowTarget,
        Waiver,
    )
    from mlaudit.engine import audit, build_collectors
    from mlaudit.reports import write_reports

    out = Path(out).resolve()
    prepare(out)
    org = out / "org"
    timings: dict[str, float] = {}

    def step(label: str, fn: Callable[[], Any]) -> Any:
        progress(label)
        t0 = time.perf_counter()
        with quiet_libraries():
            value = fn()
        timings[label] = round(time.perf_counter() - t0, 2)
        return value

    with patched_env(QUIET_ENV):
        step("git repositories", lambda: build_git_org(org / "repos"))
        commits = {name: _head(org / "repos" / name) for name in ("churn-service", "ml-platform")}
        db = org / "mlflow.db"
        uri = step("MLflow store", lambda: build_mlflow_store(db, commits))
        step("Great Expectations project", lambda: build_gx_project(org / "data-quality"))
        survey = org / "survey.yaml"
        survey.write_text(SURVEY.format(today=date.today().isoformat()), encoding="utf-8")

        today = date.today()
        config = Config(
            organisation=ORGANISATION,
            sandbox=True,  # github.com/example, 127.0.0.1:5000: locators, not links
            output=out / "report",
            git=GitSettings(targets=[GitTarget(path=org / "repos")]),
            mlflow=MlflowSettings(targets=[MlflowTarget(uri=uri, name="demo-tracking",
                                                        ui_url=MLFLOW_UI)]),
            aws=AwsSettings(regions=(REGION,)) if mock_aws is not None else None,
            great_expectations=GxSettings(projects=[org / "data-quality"]),
            survey=survey,
            waivers=[
                Waiver("L5.feature-store", "Feast rollout is planned for next quarter",
                       "platform-lead@example.com", (today + timedelta(days=90)).isoformat()),
                Waiver("L3.settled-stack", "Stack review was due last quarter",
                       "cto@example.com", (today - timedelta(days=10)).isoformat()),
            ],
            frameworks=list(frameworks or []),
        )
        notes: list[str] = []
        if mock_aws is None:
            notes.append("moto is not installed, so the demo has no AWS estate "
                         "(pip install 'moto>=5,<6' to add it)")
            result = step("audit", lambda: audit(config))
        else:
            from mlaudit.collectors.aws.collector import AwsCollector

            with patched_env(AWS_ENV, AWS_UNSET), mock_aws():
                step("AWS estate (moto, in-process)", seed_aws)
                collectors = [AwsCollector(config.aws, client_factory=stub_clients())
                              if c.name == "aws" else c for c in build_collectors(config)]
                result = step("audit", lambda: audit(config, collectors=collectors))
    written = write_reports(result.report, config.output, formats=config.formats,
                            print_evidence=print_evidence)
    kept: Path | None = org
    if not keep:
        shutil.rmtree(org)
        kept = None
    return DemoResult(out=out, report_dir=Path(config.output), written=written,
                      report=result.report, exit_code=result.exit_code, kept=kept, timings=timings,
                      notes=notes)
