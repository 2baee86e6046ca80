"""Helpers for the AWS collector tests: isolated accounts, seeded estates, Stubber scripts.

moto picks the account of a request from its access key, and keys minted by `sts:AssumeRole`
belong to the account in the role ARN, so assuming `arn:aws:iam::<fresh id>:role/...` gives a
test an empty account nobody else touches, even on a moto server shared by xdist workers.

moto 5.2.5 lacks some APIs the collector reads (SageMaker ListMonitoringSchedules and
ListFeatureGroups, MWAA, Redshift Serverless, Glue Data Quality, Cost Explorer
ListCostAllocationTags). For those readers `Stubs` hands the collector a botocore `Stubber`
client whose responses botocore validates against the service model's output shapes.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

KEY = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def new_account_id() -> str:
    return str(100_000_000_000 + uuid.uuid4().int % 899_999_999_999)


def role_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/mlaudit-audit"


def account_session(account_id: str, region: str = "us-east-1") -> Any:
    """An unguarded session in `account_id`, for seeding moto (tests write; the collector never)."""
    import boto3

    creds = boto3.client("sts", region_name="us-east-1", **KEY).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/seeder", RoleSessionName="seeder")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=region)


# -- stubs for APIs moto lacks ---------------------------------------------------------------------
#: reader -> (boto3 service, [(method, empty response)]): what the reader calls on an empty account
EMPTY = {
    "sagemaker-monitoring": ("sagemaker", [("list_monitoring_schedules", {"MonitoringScheduleSummaries": []})]),
    "sagemaker-feature-store": ("sagemaker", [("list_feature_groups", {"FeatureGroupSummaries": []})]),
    "mwaa": ("mwaa", [("list_environments", {"Environments": []})]),
    "glue-data-quality": ("glue", [("list_data_quality_rulesets", {"Rulesets": []})]),
    "redshift-serverless": ("redshift-serverless", [("list_workgroups", {"workgroups": []})]),
    "cost-allocation-tags": ("ce", [("list_cost_allocation_tags", {"CostAllocationTags": []})]),
}


_LOCK = threading.Lock()


@functools.cache
def _stub_session() -> Any:
    """One session for every stub client: service models are parsed once, not per client."""
    import boto3

    return boto3.Session(**KEY)


class Stubs:
    """A collector `client_factory`: Stubber clients for chosen (reader, account, region)s.

    `add(reader, account, region, [(method, response), ...])` scripts a reader; readers moto
    lacks get empty responses unless scripted. `error(...)` scripts a client error instead.
    Every Stubber response is validated by botocore against the service's output shape.
    """

    def __init__(self) -> None:
        self.scripts: dict[tuple[str, str, str], list[tuple[str, Any, str | None]]] = defaultdict(list)
        self.service: dict[str, str] = {name: svc for name, (svc, _) in EMPTY.items()}
        self.stubbers: list[Any] = []

    def add(self, reader: str, account: str, region: str, calls: list[tuple[str, dict[str, Any]]],
            service: str | None = None) -> Stubs:
        if service:
            self.service[reader] = service
        self.scripts[(reader, account, region)] += [(m, resp, None) for m, resp in calls]
        return self

    def error(self, reader: str, account: str, region: str, method: str, code: str,
              service: str | None = None, status: int = 400) -> Stubs:
        if service:
            self.service[reader] = service
        self.scripts[(reader, account, region)].append((method, {"code": code, "status": status}, "error"))
        return self

    def __call__(self, reader: str, service: str, region: str, account_id: str) -> Any:
        from botocore.stub import Stubber

        script = self.scripts.get((reader, account_id, region))
        if script is None:
            if reader not in EMPTY:
                return None  # moto answers
            script = [(m, resp, None) for m, resp in EMPTY[reader][1]]
        with _LOCK:
            client = _stub_session().client(service, region_name=region)
        stubber = Stubber(client)
        for method, response, kind in script:
            if kind == "error":
                stubber.add_client_error(method, service_error_code=response["code"],
                                         service_message=f"User is not authorized to perform {method}",
                                         http_status_code=response["status"])
            else:
                stubber.add_response(method, response)
        stubber.activate()
        self.stubbers.append(stubber)
        return client


# -- estates ----------------------------------------------------------------------------------------
NOW = datetime.now(UTC)
ROLE = "arn:aws:iam::{account}:role/sagemaker-exec"


def seed_endpoint(session: Any, account: str, name: str, model: str | None = None,
                  tags: list[dict[str, str]] | None = None) -> str:
    sm = session.client("sagemaker")
    model = model or f"{name}-model"
    try:
        sm.create_model(ModelName=model, ExecutionRoleArn=ROLE.format(account=account),
                        PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/m:1"})
    except sm.exceptions.ClientError:
        pass  # the model is shared by several endpoints
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": "main", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    return sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config",
                              Tags=tags or [])["EndpointArn"]


def seed_pipeline(session: Any, account: str, name: str, runs: int, training: bool = True) -> str:
    import json

    sm = session.client("sagemaker")
    step = {"Name": "train", "Type": "Training" if training else "Processing", "Arguments": {}}
    arn = sm.create_pipeline(PipelineName=name, RoleArn=ROLE.format(account=account),
                             PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": [step]}))["PipelineArn"]
    for _ in range(runs):
        sm.start_pipeline_execution(PipelineName=name)
    return arn


def seed_glue(session: Any, database: str, tables: int, described: int) -> None:
    glue = session.client("glue")
    glue.create_database(DatabaseInput={"Name": database})
    for i in range(tables):
        table: dict[str, Any] = {"Name": f"t{i}"}
        if i < described:
            table["Description"] = f"table {i}, one row per customer"
        glue.create_table(DatabaseName=database, TableInput=table)


def seed_alarm(session: Any, name: str, endpoint: str) -> None:
    session.client("cloudwatch").put_metric_alarm(
        AlarmName=name, Namespace="AWS/SageMaker", MetricName="ModelLatency", Statistic="Average",
        Period=300, EvaluationPeriods=1, Threshold=500.0, ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "main"}])


def schedule_summary(account: str, region: str, name: str, endpoint: str, kind: str = "DataQuality") -> dict[str, Any]:
    return {"MonitoringScheduleName": name,
            "MonitoringScheduleArn": f"arn:aws:sagemaker:{region}:{account}:monitoring-schedule/{name}",
            "CreationTime": NOW - timedelta(days=30), "LastModifiedTime": NOW - timedelta(days=1),
            "MonitoringScheduleStatus": "Scheduled", "EndpointName": endpoint, "MonitoringType": kind}


def schedule_detail(account: str, region: str, name: str, endpoint: str, kind: str = "DataQuality") -> dict[str, Any]:
    s = schedule_summary(account, region, name, endpoint, kind)
    return {**{k: s[k] for k in ("MonitoringScheduleArn", "MonitoringScheduleName", "MonitoringScheduleStatus",
                                 "MonitoringType", "CreationTime", "LastModifiedTime", "EndpointName")},
            "MonitoringScheduleConfig": {"ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}},
            "LastMonitoringExecutionSummary": {
                "MonitoringScheduleName": name, "ScheduledTime": NOW - timedelta(hours=1),
                "CreationTime": NOW - timedelta(hours=1), "LastModifiedTime": NOW - timedelta(hours=1),
                "MonitoringExecutionStatus": "Completed", "EndpointName": endpoint}}


def monitoring_script(account: str, region: str, pairs: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    """ListMonitoringSchedules then one DescribeMonitoringSchedule per (schedule, endpoint)."""
    calls: list[tuple[str, dict[str, Any]]] = [("list_monitoring_schedules", {
        "MonitoringScheduleSummaries": [schedule_summary(account, region, n, e) for n, e in pairs]})]
    calls += [("describe_monitoring_schedule", schedule_detail(account, region, n, e)) for n, e in pairs]
    return calls


def feature_group_script(account: str, region: str, name: str) -> list[tuple[str, dict[str, Any]]]:
    arn = f"arn:aws:sagemaker:{region}:{account}:feature-group/{name}"
    return [
        ("list_feature_groups", {"FeatureGroupSummaries": [{
            "FeatureGroupName": name, "FeatureGroupArn": arn, "CreationTime": NOW - timedelta(days=60),
            "FeatureGroupStatus": "Created", "OfflineStoreStatus": {"Status": "Active"}}]}),
        ("describe_feature_group", {
            "FeatureGroupArn": arn, "FeatureGroupName": name, "RecordIdentifierFeatureName": "customer_id",
            "EventTimeFeatureName": "event_time", "CreationTime": NOW - timedelta(days=60),
            "FeatureDefinitions": [{"FeatureName": "customer_id", "FeatureType": "String"}],
            "OnlineStoreConfig": {"EnableOnlineStore": True},
            "OfflineStoreConfig": {"S3StorageConfig": {"S3Uri": "s3://features/offline"}},
            "FeatureGroupStatus": "Created", "NextToken": ""}),
    ]
