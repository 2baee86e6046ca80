"""Readers: one unit of collection (a service, or one concern of SageMaker) in one account and
region, returning typed records. Each API is called once per account and region, pages as large
as the API allows, and history is read only as far back as the look-back window.

A reader is listed in `READERS` with the boto3 service it uses and the signals it feeds; when its
API is denied, the collector puts exactly those signals into the result's gaps.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlaudit.collectors.aws import records as r

#: page sizes where the service model does not give the maximum
_PAGE_MAX = {"MaxRecords": 100, "ResourcesPerPage": 100}
#: at most this many training jobs are described for spot/instance details (most recent first)
TRAINING_SAMPLE = 100


@dataclass
class ReaderContext:
    where: r.Where
    since: datetime
    client: Callable[[str], Any]  # boto3 service name -> guarded client

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        w = self.where
        return f"arn:{w.partition}:{service}:{w.region if region else ''}:{w.account_id}:{resource}"


def pages(client: Any, method: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every page of a list call, at the largest page size the API allows."""
    if client.can_paginate(method):
        paginator = client.get_paginator(method)
        limit = paginator._pagination_cfg.get("limit_key")  # noqa: SLF001 - botocore has no public accessor
        size = None
        if limit:
            shape = paginator._model.input_shape.members.get(limit)  # noqa: SLF001
            size = (shape.metadata.get("max") if shape is not None else None) or _PAGE_MAX.get(limit)
        config = {"PageSize": size} if size else {}
        yield from paginator.paginate(**params, PaginationConfig=config)
        return
    token_key = "NextToken"
    while True:
        page = getattr(client, method)(**params)
        yield page
        token = page.get(token_key)
        if not token:
            return
        params = {**params, token_key: token}


def items(client: Any, method: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    for page in pages(client, method, **params):
        yield from page.get(key) or []


def iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value) if value else None


def after(value: Any, since: datetime) -> bool:
    return isinstance(value, datetime) and value >= since


# -- SageMaker ---------------------------------------------------------------------------------
def sagemaker_endpoints(ctx: ReaderContext) -> list[r.Endpoint]:
    """Search returns full endpoints (variants, data capture, schedules, tags) 100 a page; the
    model behind each InService endpoint comes from its endpoint config, described once."""
    sm = ctx.client("sagemaker")
    out: list[r.Endpoint] = []
    for hit in items(sm, "search", "Results", Resource="Endpoint"):
        e = hit.get("Endpoint") or {}
        variants = e.get("ProductionVariants") or []
        out.append(r.Endpoint(
            where=ctx.where, name=e["EndpointName"], arn=e["EndpointArn"],
            status=e.get("EndpointStatus", ""), config=e.get("EndpointConfigName"),
            variants=[v.get("VariantName", "") for v in variants],
            data_capture=bool((e.get("DataCaptureConfig") or {}).get("EnableCapture")),
            schedules=[s.get("MonitoringScheduleName", "") for s in e.get("MonitoringSchedules") or []],
            tags={t["Key"]: t.get("Value", "") for t in e.get("Tags") or []},
        ))
    configs: dict[str, dict[str, Any]] = {}
    for ep in out:
        if ep.status != "InService" or not ep.config:
            continue
        if ep.config not in configs:
            configs[ep.config] = sm.describe_endpoint_config(EndpointConfigName=ep.config)
        variants = configs[ep.config].get("ProductionVariants") or []
        ep.models = sorted({v["ModelName"] for v in variants if v.get("ModelName")})
        ep.instance_types = sorted({v["InstanceType"] for v in variants if v.get("InstanceType")})
        ep.data_capture = ep.data_capture or bool(
            (configs[ep.config].get("DataCaptureConfig") or {}).get("EnableCapture"))
    return out


def sagemaker_monitoring(ctx: ReaderContext) -> list[r.MonitoringSchedule]:
    sm = ctx.client("sagemaker")
    out = []
    for s in items(sm, "list_monitoring_schedules", "MonitoringScheduleSummaries"):
        detail = sm.describe_monitoring_schedule(MonitoringScheduleName=s["MonitoringScheduleName"])
        last = detail.get("LastMonitoringExecutionSummary") or {}
        out.append(r.MonitoringSchedule(
            where=ctx.where, name=s["MonitoringScheduleName"], arn=s["MonitoringScheduleArn"],
            endpoint=s.get("EndpointName") or detail.get("EndpointName"),
            status=s.get("MonitoringScheduleStatus", ""),
            kind=s.get("MonitoringType") or detail.get("MonitoringType"),
            last_execution_status=last.get("MonitoringExecutionStatus"),
            last_execution_at=iso(last.get("ScheduledTime")),
        ))
    return out


_TRAINING_STEPS = {"Training", "Tuning", "AutoML"}


def sagemaker_pipelines(ctx: ReaderContext) -> list[r.Execution]:
    sm = ctx.client("sagemaker")
    out = []
    for p in items(sm, "list_pipelines", "PipelineSummaries"):
        name = p["PipelineName"]
        steps: list[str] = []
        definition = sm.describe_pipeline(PipelineName=name).get("PipelineDefinition")
        try:
            steps = sorted({s.get("Type", "") for s in json.loads(definition or "{}").get("Steps", [])})
        except (ValueError, AttributeError):
            steps = []
        runs = Counter()
        last = None
        for ex in items(sm, "list_pipeline_executions", "PipelineExecutionSummaries",
                        PipelineName=name, CreatedAfter=ctx.since, SortBy="CreationTime",
                        SortOrder="Descending"):
            if not after(ex.get("StartTime"), ctx.since):
                continue
            runs[ex.get("PipelineExecutionStatus", "")] += 1
            last = max(filter(None, [last, iso(ex.get("StartTime"))]), default=None)
        out.append(r.Execution(
            where=ctx.where, tool="sagemaker-pipelines", name=name, arn=p["PipelineArn"],
            executions_in_window=sum(runs.values()), succeeded=runs["Succeeded"],
            failed=runs["Failed"], training=bool(_TRAINING_STEPS & set(steps)), steps=steps,
            last_run_at=last,
        ))
    return out


def sagemaker_feature_groups(ctx: ReaderContext) -> list[r.FeatureGroup]:
    sm = ctx.client("sagemaker")
    out = []
    for g in items(sm, "list_feature_groups", "FeatureGroupSummaries"):
        d = sm.describe_feature_group(FeatureGroupName=g["FeatureGroupName"])
        out.append(r.FeatureGroup(
            where=ctx.where, name=g["FeatureGroupName"], arn=g["FeatureGroupArn"],
            status=g.get("FeatureGroupStatus", ""),
            online=bool((d.get("OnlineStoreConfig") or {}).get("EnableOnlineStore")),
            offline=bool(d.get("OfflineStoreConfig")),
        ))
    return out


def sagemaker_registry(ctx: ReaderContext) -> list[r.ModelPackageGroup]:
    sm = ctx.client("sagemaker")
    out = []
    for g in items(sm, "list_model_package_groups", "ModelPackageGroupSummaryList"):
        statuses: Counter[str] = Counter(
            p.get("ModelApprovalStatus", "") for p in items(
                sm, "list_model_packages", "ModelPackageSummaryList",
                ModelPackageGroupName=g["ModelPackageGroupName"]))
        out.append(r.ModelPackageGroup(
            where=ctx.where, name=g["ModelPackageGroupName"], arn=g["ModelPackageGroupArn"],
            description=g.get("ModelPackageGroupDescription"), versions=sum(statuses.values()),
            approved_versions=statuses["Approved"], statuses=dict(statuses),
        ))
    return out


def sagemaker_training(ctx: ReaderContext) -> list[r.TrainingJobs]:
    sm = ctx.client("sagemaker")
    jobs = list(items(sm, "list_training_jobs", "TrainingJobSummaries", CreationTimeAfter=ctx.since,
                      SortBy="CreationTime", SortOrder="Descending"))
    jobs = [j for j in jobs if after(j.get("CreationTime"), ctx.since)]
    spot, types = 0, Counter()
    for j in jobs[:TRAINING_SAMPLE]:
        d = sm.describe_training_job(TrainingJobName=j["TrainingJobName"])
        spot += bool(d.get("EnableManagedSpotTraining"))
        if it := (d.get("ResourceConfig") or {}).get("InstanceType"):
            types[it] += 1
    if not jobs:
        return []
    return [r.TrainingJobs(where=ctx.where, jobs_in_window=len(jobs), sampled=min(len(jobs), TRAINING_SAMPLE),
                           spot_jobs=spot, instance_types=sorted(types),
                           arns=[j["TrainingJobArn"] for j in jobs[:TRAINING_SAMPLE]])]


def sagemaker_inventory(ctx: ReaderContext) -> list[r.Inventory]:
    sm = ctx.client("sagemaker")
    cards = [c["ModelCardName"] for c in items(sm, "list_model_cards", "ModelCardSummaries")]
    counts = {
        "notebook_instances": sum(1 for _ in items(sm, "list_notebook_instances", "NotebookInstances")),
        "studio_domains": sum(1 for _ in items(sm, "list_domains", "Domains")),
        "model_cards": len(cards),
        "data_quality_job_definitions": sum(1 for _ in items(
            sm, "list_data_quality_job_definitions", "JobDefinitionSummaries")),
        "model_quality_job_definitions": sum(1 for _ in items(
            sm, "list_model_quality_job_definitions", "JobDefinitionSummaries")),
    }
    return [r.Inventory(where=ctx.where, counts=counts, model_cards=cards)]


# -- orchestration -------------------------------------------------------------------------------
def _sfn_resources(definition: str) -> list[str]:
    """Every Task state's Resource in a state machine definition, nested states included."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Type") == "Task" and isinstance(node.get("Resource"), str):
                found.append(node["Resource"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    try:
        walk(json.loads(definition or "{}"))
    except ValueError:
        pass
    return found


def step_functions(ctx: ReaderContext) -> list[r.Execution]:
    """State machines whose tasks run SageMaker or Glue, with their executions in the window."""
    sfn = ctx.client("stepfunctions")
    out = []
    for m in items(sfn, "list_state_machines", "stateMachines"):
        resources = _sfn_resources(sfn.describe_state_machine(stateMachineArn=m["stateMachineArn"])
                                   .get("definition", ""))
        ml = [res for res in resources if ":sagemaker:" in res or ":glue:" in res]
        if not ml:
            continue
        runs: Counter[str] = Counter()
        last = None
        for page in pages(sfn, "list_executions", stateMachineArn=m["stateMachineArn"]):
            batch = page.get("executions") or []
            recent = [e for e in batch if after(e.get("startDate"), ctx.since)]
            for e in recent:
                runs[e.get("status", "")] += 1
                last = max(filter(None, [last, iso(e.get("startDate"))]), default=None)
            if len(recent) < len(batch):  # newest first: the rest is older than the window
                break
        steps = sorted({res.rsplit(":", 1)[-1] for res in ml})
        out.append(r.Execution(
            where=ctx.where, tool="step-functions", name=m["name"], arn=m["stateMachineArn"],
            executions_in_window=sum(runs.values()), succeeded=runs["SUCCEEDED"], failed=runs["FAILED"],
            training=any("createTrainingJob" in res or "createHyperParameterTuningJob" in res for res in ml),
            steps=steps, last_run_at=last,
        ))
    return out


def mwaa(ctx: ReaderContext) -> list[r.Execution]:
    """MWAA environments. DAG runs are not visible through the AWS API (only through Airflow's
    own API, which needs a web token), so executions stay unknown (None)."""
    client = ctx.client("mwaa")
    out = []
    for name in items(client, "list_environments", "Environments"):
        env = client.get_environment(Name=name).get("Environment") or {}
        out.append(r.Execution(
            where=ctx.where, tool="mwaa", name=name,
            arn=env.get("Arn") or ctx.arn("airflow", f"environment/{name}"),
            executions_in_window=None, succeeded=None, status=env.get("Status"),
        ))
    return out


def eventbridge(ctx: ReaderContext) -> list[r.Rule]:
    events = ctx.client("events")
    out = []
    for rule in items(events, "list_rules", "Rules"):
        targets = [t["Arn"] for t in items(events, "list_targets_by_rule", "Targets", Rule=rule["Name"])]
        out.append(r.Rule(
            where=ctx.where, kind="eventbridge-rule", name=rule["Name"], arn=rule["Arn"],
            schedule=rule.get("ScheduleExpression"), state=rule.get("State", ""), targets=targets,
        ))
    return out


def _ml_target(arn: str) -> bool:
    return any(k in arn for k in (":sagemaker:", ":states:", "sagemaker:create", "sfn:start"))


def scheduler(ctx: ReaderContext) -> list[r.Rule]:
    """EventBridge Scheduler: the list gives each target's ARN; schedules that target ML
    resources are read in full for their expression."""
    client = ctx.client("scheduler")
    out = []
    for s in items(client, "list_schedules", "Schedules"):
        target = (s.get("Target") or {}).get("Arn", "")
        expression = None
        if _ml_target(target):
            expression = client.get_schedule(Name=s["Name"], GroupName=s.get("GroupName", "default")) \
                .get("ScheduleExpression")
        out.append(r.Rule(
            where=ctx.where, kind="scheduler-schedule", name=s["Name"], arn=s["Arn"],
            schedule=expression, state=s.get("State", ""), targets=[target] if target else [],
        ))
    return out


# -- Glue, warehouses ------------------------------------------------------------------------------
def glue_catalog(ctx: ReaderContext) -> list[r.GlueDatabase]:
    glue = ctx.client("glue")
    out = []
    for db in items(glue, "get_databases", "DatabaseList"):
        tables = described = 0
        for t in items(glue, "get_tables", "TableList", DatabaseName=db["Name"]):
            tables += 1
            described += bool((t.get("Description") or "").strip())
        out.append(r.GlueDatabase(where=ctx.where, name=db["Name"], arn=ctx.arn("glue", f"database/{db['Name']}"),
                                  tables=tables, described_tables=described))
    return out


def glue_jobs(ctx: ReaderContext) -> list[r.GlueJob | r.Inventory]:
    glue = ctx.client("glue")
    out: list[r.GlueJob | r.Inventory] = []
    for job in items(glue, "get_jobs", "Jobs"):
        runs, last_status, last_at = 0, None, None
        for page in pages(glue, "get_job_runs", JobName=job["Name"]):
            batch = page.get("JobRuns") or []
            recent = [x for x in batch if after(x.get("StartedOn"), ctx.since)]
            if recent and last_status is None:
                last_status, last_at = recent[0].get("JobRunState"), iso(recent[0].get("StartedOn"))
            runs += len(recent)
            if len(recent) < len(batch):  # newest first
                break
        out.append(r.GlueJob(where=ctx.where, name=job["Name"], arn=ctx.arn("glue", f"job/{job['Name']}"),
                             runs_in_window=runs, last_status=last_status, last_run_at=last_at))
    crawlers = sum(1 for _ in items(glue, "get_crawlers", "Crawlers"))
    out.append(r.Inventory(where=ctx.where, counts={"glue_crawlers": crawlers}, crawlers=crawlers))
    return out


def glue_data_quality(ctx: ReaderContext) -> list[r.DataQualityRuleset]:
    """Rulesets, and their evaluation results in the window joined by target table; scores come
    100 at a time from BatchGetDataQualityResult."""
    glue = ctx.client("glue")
    rulesets = list(items(glue, "list_data_quality_rulesets", "Rulesets", MaxResults=1000))
    if not rulesets:
        return []
    results = list(items(glue, "list_data_quality_results", "Results", MaxResults=1000,
                         Filter={"StartedAfter": ctx.since}))
    scores: dict[str, dict[str, Any]] = {}
    ids = [x["ResultId"] for x in results]
    for i in range(0, len(ids), 100):
        for res in glue.batch_get_data_quality_result(ResultIds=ids[i:i + 100]).get("Results") or []:
            scores[res["ResultId"]] = res
    out = []
    for rs in rulesets:
        tt = rs.get("TargetTable") or {}
        target = f"{tt.get('DatabaseName')}.{tt.get('TableName')}" if tt else None
        mine = []
        for x in results:
            res = scores.get(x["ResultId"], {})
            table = ((x.get("DataSource") or {}).get("GlueTable") or {})
            by_name = res.get("RulesetName") == rs["Name"]
            by_table = target and f"{table.get('DatabaseName')}.{table.get('TableName')}" == target
            if by_name or (not res.get("RulesetName") and by_table):
                mine.append(res)
        rates = [float(m["Score"]) for m in mine if m.get("Score") is not None]
        out.append(r.DataQualityRuleset(
            where=ctx.where, name=rs["Name"], arn=ctx.arn("glue", f"dataQualityRuleset/{rs['Name']}"),
            target=target, runs_in_window=len(mine),
            pass_rate=round(sum(rates) / len(rates), 3) if rates else None,
        ))
    return out


def redshift(ctx: ReaderContext) -> list[r.Warehouse]:
    client = ctx.client("redshift")
    return [r.Warehouse(where=ctx.where, tool="redshift", name=c["ClusterIdentifier"],
                        arn=c.get("ClusterNamespaceArn") or ctx.arn("redshift", f"cluster:{c['ClusterIdentifier']}"),
                        status=c.get("ClusterStatus"))
            for c in items(client, "describe_clusters", "Clusters")]


def redshift_serverless(ctx: ReaderContext) -> list[r.Warehouse]:
    client = ctx.client("redshift-serverless")
    return [r.Warehouse(where=ctx.where, tool="redshift-serverless", name=w["workgroupName"],
                        arn=w["workgroupArn"], status=w.get("status"))
            for w in items(client, "list_workgroups", "workgroups")]


def athena(ctx: ReaderContext) -> list[r.Warehouse]:
    """Athena workgroups other than `primary`, which every account has whether it queries or not."""
    client = ctx.client("athena")
    return [r.Warehouse(where=ctx.where, tool="athena", name=w["Name"],
                        arn=ctx.arn("athena", f"workgroup/{w['Name']}"), status=w.get("State"))
            for w in items(client, "list_work_groups", "WorkGroups", MaxResults=50)
            if w["Name"] != "primary"]


# -- monitoring and cost ------------------------------------------------------------------------
def cloudwatch_alarms(ctx: ReaderContext) -> list[r.Alarm]:
    """Metric alarms on SageMaker endpoint metrics (AWS/SageMaker, EndpointName dimension),
    including metric-math alarms whose metrics are endpoint metrics."""
    cw = ctx.client("cloudwatch")
    out = []
    for a in items(cw, "describe_alarms", "MetricAlarms"):
        metrics = [(a.get("Namespace"), a.get("MetricName"), a.get("Dimensions") or [])]
        for m in a.get("Metrics") or []:
            stat = (m.get("MetricStat") or {}).get("Metric") or {}
            metrics.append((stat.get("Namespace"), stat.get("MetricName"), stat.get("Dimensions") or []))
        for ns, metric, dims in metrics:
            endpoint = next((d.get("Value") for d in dims if d.get("Name") == "EndpointName"), None)
            if ns and ns.startswith("AWS/SageMaker") and endpoint:
                out.append(r.Alarm(where=ctx.where, name=a["AlarmName"], arn=a["AlarmArn"], endpoint=endpoint,
                                   metric=metric or "", state=a.get("StateValue")))
                break
    return out


_ML_WORDS = ("sagemaker", "machine learning", "ml", "model", "training", "inference")


def budgets(ctx: ReaderContext) -> list[r.Budget]:
    client = ctx.client("budgets")
    out = []
    for b in items(client, "describe_budgets", "Budgets", AccountId=ctx.where.account_id):
        filters = json.dumps(b.get("CostFilters") or {}).lower()
        name = b["BudgetName"]
        scoped = "sagemaker" in filters or any(
            w in name.lower().replace("-", " ").replace("_", " ").split() for w in _ML_WORDS)
        limit = b.get("BudgetLimit") or {}
        out.append(r.Budget(where=ctx.where, name=name, arn=ctx.arn("budgets", f"budget/{name}", region=False),
                            limit=f"{limit.get('Amount')} {limit.get('Unit')}" if limit else None,
                            scoped_to_ml=scoped))
    return out


def cost_allocation_tags(ctx: ReaderContext) -> list[r.CostAllocationTags]:
    client = ctx.client("ce")
    active = [t["TagKey"] for t in items(client, "list_cost_allocation_tags", "CostAllocationTags",
                                          Status="Active", Type="UserDefined")]
    return [r.CostAllocationTags(where=ctx.where, active_tags=sorted(active))]


def tagged_resources(ctx: ReaderContext) -> list[r.TaggedResources]:
    client = ctx.client("resourcegroupstaggingapi")
    tags = {m["ResourceARN"]: {t["Key"]: t.get("Value", "") for t in m.get("Tags") or []}
            for m in items(client, "get_resources", "ResourceTagMappingList",
                           ResourceTypeFilters=["sagemaker", "states", "glue", "airflow"])}
    return [r.TaggedResources(where=ctx.where, tags=tags)]


@dataclass(frozen=True)
class Reader:
    name: str
    service: str
    read: Callable[[ReaderContext], list[Any]]
    signals: tuple[str, ...]
    scope: str = "regional"  # regional | account (global services, read once per account)


READERS: tuple[Reader, ...] = (
    Reader("sagemaker-endpoints", "sagemaker", sagemaker_endpoints, ("endpoint",)),
    Reader("sagemaker-monitoring", "sagemaker", sagemaker_monitoring, ("monitoring_schedule",)),
    Reader("sagemaker-pipelines", "sagemaker", sagemaker_pipelines, ("pipeline_execution",)),
    Reader("sagemaker-feature-store", "sagemaker", sagemaker_feature_groups, ("feature_group",)),
    Reader("sagemaker-registry", "sagemaker", sagemaker_registry, ("registered_model",)),
    Reader("sagemaker-training", "sagemaker", sagemaker_training, ("training_job", "spot_training")),
    Reader("sagemaker-inventory", "sagemaker", sagemaker_inventory, ("aws_inventory",)),
    Reader("step-functions", "stepfunctions", step_functions, ("pipeline_execution",)),
    Reader("mwaa", "mwaa", mwaa, ("pipeline_execution",)),
    Reader("eventbridge", "events", eventbridge, ("eventbridge_rule",)),
    Reader("scheduler", "scheduler", scheduler, ("eventbridge_rule",)),
    Reader("glue-catalog", "glue", glue_catalog, ("glue_catalog",)),
    Reader("glue-jobs", "glue", glue_jobs, ("glue_job_run",)),
    Reader("glue-data-quality", "glue", glue_data_quality, ("data_quality_run",)),
    Reader("redshift", "redshift", redshift, ("warehouse",)),
    Reader("redshift-serverless", "redshift-serverless", redshift_serverless, ("warehouse",)),
    Reader("athena", "athena", athena, ("warehouse",)),
    Reader("cloudwatch-alarms", "cloudwatch", cloudwatch_alarms, ("cloudwatch_alarm",)),
    Reader("tagging", "resourcegroupstaggingapi", tagged_resources, ("cost_tags",)),
    Reader("budgets", "budgets", budgets, ("budget",), scope="account"),
    Reader("cost-allocation-tags", "ce", cost_allocation_tags, ("cost_tags",), scope="account"),
)
