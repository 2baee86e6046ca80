"""The AWS collector against moto: two accounts, three account/region pairs, estates at
different maturity. APIs moto lacks are scripted with botocore Stubbers (see awsutil.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from awsutil import (
    Stubs,
    account_session,
    feature_group_script,
    monitoring_script,
    new_account_id,
    role_arn,
    seed_alarm,
    seed_endpoint,
    seed_glue,
    seed_pipeline,
)

from mlaudit.collectors.aws.collector import AwsCollector
from mlaudit.collectors.aws.guard import iam_action, policy_actions
from mlaudit.collectors.base import CollectContext
from mlaudit.config import AwsAccount, AwsSettings, Config

ROOT = Path(__file__).resolve().parents[2]
MATURE_REGIONS = ("eu-west-1", "us-east-1")


def seed_mature(account: str) -> dict[str, Any]:
    """A scaling organisation: monitored endpoints, a scheduled training pipeline, a described
    catalogue, a registry with an approved package, spot training, a budget, a warehouse."""
    eu = account_session(account, "eu-west-1")
    us = account_session(account, "us-east-1")
    seed_endpoint(eu, account, "churn", tags=[{"Key": "cost-center", "Value": "ml"}])
    seed_endpoint(eu, account, "fraud")
    seed_endpoint(us, account, "recs")
    seed_alarm(eu, "churn-latency", "churn")
    pipeline = seed_pipeline(eu, account, "train-churn", runs=3)
    seed_pipeline(eu, account, "etl-only", runs=0, training=False)
    events = eu.client("events")
    events.put_rule(Name="nightly-retrain", ScheduleExpression="cron(0 2 * * ? *)", State="ENABLED")
    events.put_targets(Rule="nightly-retrain", Targets=[{"Id": "p", "Arn": pipeline,
                                                         "RoleArn": f"arn:aws:iam::{account}:role/events"}])
    seed_glue(eu, "sales", tables=4, described=3)
    glue = eu.client("glue")
    glue.create_job(Name="load-sales", Role="glue-role", Command={"Name": "glueetl", "ScriptLocation": "s3://s/x.py"})
    glue.start_job_run(JobName="load-sales")
    sm = eu.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="churn", ModelPackageGroupDescription="Churn model",
                                  Tags=[{"Key": "team", "Value": "growth"}])
    for status in ("Approved", "PendingManualApproval"):
        sm.create_model_package(ModelPackageGroupName="churn", ModelApprovalStatus=status,
                                InferenceSpecification={"Containers": [{"Image": "img:1"}],
                                                        "SupportedContentTypes": ["text/csv"],
                                                        "SupportedResponseMIMETypes": ["text/csv"]})
    sm.create_training_job(
        TrainingJobName="churn-spot", RoleArn=f"arn:aws:iam::{account}:role/sm",
        AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://out/"}, EnableManagedSpotTraining=True,
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200})
    us.client("redshift").create_cluster(ClusterIdentifier="warehouse", NodeType="ra3.xlplus",
                                         MasterUsername="admin", MasterUserPassword="Passw0rd-example")
    us.client("budgets").create_budget(AccountId=account, Budget={
        "BudgetName": "ml-training", "BudgetLimit": {"Amount": "1000", "Unit": "USD"},
        "TimeUnit": "MONTHLY", "BudgetType": "COST"})
    return {"pipeline": pipeline}


def seed_starter(account: str) -> None:
    """An exploring organisation: one endpoint, nothing around it."""
    seed_endpoint(account_session(account, "us-east-1"), account, "first-model")


def mature_stubs(stubs: Any, account: str) -> Any:
    stubs.add("sagemaker-monitoring", account, "eu-west-1", monitoring_script(account, "eu-west-1", [("fraud-dq", "fraud")]))
    stubs.add("sagemaker-feature-store", account, "eu-west-1", feature_group_script(account, "eu-west-1", "customers"))
    stubs.add("cost-allocation-tags", account, "us-east-1", [("list_cost_allocation_tags", {"CostAllocationTags": [
        {"TagKey": "cost-center", "Type": "UserDefined", "Status": "Active"}]})])
    return stubs


@pytest.fixture(scope="module")
def estate(module_env: str) -> dict[str, Any]:
    stubs = Stubs()
    mature, starter = new_account_id(), new_account_id()
    info = seed_mature(mature)
    seed_starter(starter)
    settings = AwsSettings(accounts=[
        AwsAccount(name="platform", role_arn=role_arn(mature), external_id="mlaudit-ext", regions=MATURE_REGIONS),
        AwsAccount(name="sandbox", role_arn=role_arn(starter), regions=("us-east-1",)),
    ], max_workers=8)
    collector = AwsCollector(settings, client_factory=mature_stubs(stubs, mature))
    result = collector.collect(CollectContext(lookback_days=90))
    return {"result": result, "collector": collector, "mature": mature, "starter": starter,
            "settings": settings, "stubs": stubs, **info}


def signal(result: Any, name: str, subject: str | None = None) -> list[Any]:
    return [e for e in result.evidence if e.signal == name and (subject is None or e.subject == subject)]


def by_name(items: list[Any]) -> dict[str, Any]:
    return {e.attributes["name"]: e for e in items}


def test_targets_subjects_and_no_gaps(estate: dict[str, Any]) -> None:
    result = estate["result"]
    assert not result.errors and not result.gaps, (result.errors, result.gaps)
    assert {t["name"]: t["regions"] for t in result.targets} == {
        "platform": list(MATURE_REGIONS), "sandbox": ["us-east-1"]}
    assert {e.subject for e in result.evidence} == {"platform", "sandbox"}
    for e in result.evidence:
        assert e.locator.startswith("arn:aws:"), e.locator
        assert e.attributes["console_url"].startswith("https://"), e.attributes
        assert e.attributes["region"] in MATURE_REGIONS


def test_endpoints_carry_model_and_monitoring(estate: dict[str, Any]) -> None:
    endpoints = by_name(signal(estate["result"], "endpoint"))
    assert set(endpoints) == {"churn", "fraud", "recs", "first-model"}
    assert endpoints["churn"].attributes["monitoring"] == ["cloudwatch-alarm"]
    assert endpoints["fraud"].attributes["monitoring"] == ["model-monitor:data-quality"]
    assert not endpoints["recs"].attributes["monitored"] and not endpoints["first-model"].attributes["monitored"]
    assert endpoints["churn"].attributes["model"] == "churn-model"
    assert endpoints["churn"].attributes["status"] == "InService"
    assert endpoints["recs"].attributes["region"] == "us-east-1"
    assert endpoints["churn"].attributes["console_url"] == (
        "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/endpoints/churn")
    schedule = signal(estate["result"], "monitoring_schedule")[0]
    expected = {"endpoint": "fraud", "status": "Scheduled", "kind": "data-quality",
                "last_execution_status": "Completed"}
    assert expected.items() <= schedule.attributes.items()


def test_orchestration_retraining_and_training(estate: dict[str, Any]) -> None:
    result = estate["result"]
    pipes = by_name(signal(result, "pipeline_execution"))
    assert pipes["train-churn"].attributes["executions_in_window"] == 3
    assert pipes["train-churn"].attributes["training"] is True
    assert pipes["etl-only"].attributes["training"] is False
    rule = by_name(signal(result, "eventbridge_rule"))["nightly-retrain"]
    assert rule.attributes["trains"] is True and rule.attributes["state"] == "ENABLED"
    assert rule.attributes["targets"] == [estate["pipeline"]]
    training = signal(result, "training_job")[0].attributes
    assert training["jobs_in_window"] == 1 and training["instance_types"] == ["ml.m5.xlarge"]
    spot = signal(result, "spot_training")[0].attributes
    assert (spot["jobs"], spot["spot_jobs"]) == (1, 1)


def test_catalogue_registry_features_cost(estate: dict[str, Any]) -> None:
    result = estate["result"]
    catalog = signal(result, "glue_catalog")[0].attributes
    assert (catalog["database"], catalog["tables"], catalog["described_tables"]) == ("sales", 4, 3)
    job = signal(result, "glue_job_run")[0].attributes
    assert job["job"] == "load-sales" and job["runs_in_window"] == 1
    model = signal(result, "registered_model")[0].attributes
    assert (model["name"], model["versions"], model["approved_versions"]) == ("churn", 2, 1)
    assert model["description"] == "Churn model" and model["tags"] == {"team": "growth"}
    group = signal(result, "feature_group")[0].attributes
    assert group["name"] == "customers" and group["online_store"] and group["offline_store"]
    assert [w.attributes["tool"] for w in signal(result, "warehouse")] == ["redshift"]
    budget = signal(result, "budget")[0].attributes
    assert budget["name"] == "ml-training" and budget["scoped_to_ml"] is True
    tags = signal(result, "cost_tags", "platform")[0].attributes
    assert tags["active_tags"] == ["cost-center"]
    assert tags["tagged_ml_resources"] == 1 and tags["ml_resources"] >= 6


def test_starter_account_has_only_its_endpoint(estate: dict[str, Any]) -> None:
    signals = {e.signal for e in estate["result"].evidence if e.subject == "sandbox"}
    assert signals == {"endpoint", "cost_tags"}


def test_each_api_once_per_account_region(estate: dict[str, Any]) -> None:
    calls = estate["collector"].guard.calls
    pairs = 3  # platform x 2 regions + sandbox x 1
    for op in [("sagemaker", "Search"), ("sagemaker", "ListPipelines"), ("cloudwatch", "DescribeAlarms"),
               ("glue", "GetDatabases"), ("events", "ListRules"), ("athena", "ListWorkGroups")]:
        assert calls[op] == pairs, (op, calls[op])
    assert calls[("budgets", "DescribeBudgets")] == 2  # global: once per account
    assert calls[("sagemaker", "DescribeEndpointConfig")] == 4  # one per InService endpoint config
    assert calls[("sagemaker", "ListPipelineExecutions")] == 2  # one per pipeline


def test_policy_covers_every_action_called(estate: dict[str, Any]) -> None:
    """Every operation the guard saw during a full scan has its action in the shipped policy,
    and the policy grants nothing the collector does not call."""
    policy = json.loads((ROOT / "docs" / "aws-iam-policy.json").read_text())
    granted = {a for st in policy["Statement"] if st["Effect"] == "Allow" for a in st["Action"]}
    seen = {iam_action(s, op) for s, op in estate["collector"].guard.operations()}
    assert seen <= granted, sorted(seen - granted)
    assert granted == policy_actions(), sorted(granted ^ policy_actions())
    # the scan exercised the allowlist (what it did not call here needs data moto lacks)
    assert len(seen) >= len(granted) - 8, sorted(granted - seen)


def test_engine_end_to_end_findings_move(estate: dict[str, Any]) -> None:
    """The whole pipeline: monitoring coverage and production models come from AWS evidence;
    adding a Model Monitor schedule on one more endpoint moves the coverage."""
    from mlaudit.engine import audit

    settings = estate["settings"]
    config = Config(aws=settings, lookback_days=90)
    first = audit(config, collectors=[AwsCollector(settings, client_factory=estate["stubs"])])
    findings = {f.check_id: f for f in first.findings}
    cov = findings["L4.model-monitoring"].metrics["coverage"]
    assert (cov["monitored"], cov["production"]) == (2, 4)
    assert str(findings["L4.model-monitoring"].outcome) == "partial"
    assert str(findings["L2.model-in-production"].outcome) == "pass"
    assert str(findings["L3.model-registry"].outcome) == "pass"
    assert str(findings["L4.orchestration"].outcome) == "pass"
    assert str(findings["L4.scheduled-retraining"].outcome) == "pass"
    assert str(findings["L5.cost-management"].outcome) == "pass"
    assert str(findings["L5.feature-store"].outcome) == "pass"
    assert first.exit_code == 0
    assert first.report["collectors"][0]["name"] == "aws"

    mature = estate["mature"]
    more = mature_stubs(Stubs(), mature)
    more.scripts[("sagemaker-monitoring", mature, "eu-west-1")].clear()
    more.add("sagemaker-monitoring", mature, "eu-west-1",
             monitoring_script(mature, "eu-west-1", [("fraud-dq", "fraud"), ("churn-mq", "churn")]))
    more.add("sagemaker-monitoring", mature, "us-east-1", monitoring_script(mature, "us-east-1", [("recs-dq", "recs")]))
    second = audit(config, collectors=[AwsCollector(settings, client_factory=more)])
    cov2 = {f.check_id: f for f in second.findings}["L4.model-monitoring"].metrics["coverage"]
    assert (cov2["monitored"], cov2["production"]) == (3, 4)
