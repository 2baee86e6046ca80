"""Records -> evidence: join what services say about each other, then one item per fact.

Subject is the account's display name (its name in the config, else its ID); every item carries
`account_id`, `region` and `console_url`, and its locator is the resource's ARN.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import quote

from mlaudit.collectors.aws import records as r
from mlaudit.evidence import EvidenceItem

COLLECTOR = "aws"
_KINDS = {"DataQuality": "data-quality", "ModelQuality": "model-quality", "ModelBias": "bias",
          "ModelExplainability": "explainability"}
_LIVE_SCHEDULES = ("scheduled",)
_TRAINING_SDK = ("sagemaker:createTrainingJob", "sagemaker:createHyperParameterTuningJob",
                 "sagemaker:startPipelineExecution", "sagemaker:createAutoMLJob")


def console_url(arn: str) -> str:
    """A console link for an ARN: a service page where one is known, else the ARN resolver."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ""
    _, partition, service, region, _account, resource = parts
    domain = {"aws-cn": "console.amazonaws.cn", "aws-us-gov": "console.amazonaws-us-gov.com"}.get(
        partition, "console.aws.amazon.com")
    host = f"https://{region}.{domain}" if region else f"https://{domain}"
    kind, _, name = resource.replace(":", "/", 1).partition("/")
    pages = {
        ("sagemaker", "endpoint"): f"/sagemaker/home?region={region}#/endpoints/{name}",
        ("states", "stateMachine"): f"/states/home?region={region}#/statemachines/view/{quote(arn, safe='')}",
        ("glue", "database"): f"/glue/home?region={region}#/v2/data-catalog/databases/view/{name}",
        ("glue", "job"): f"/gluestudio/home?region={region}#/editor/job/{name}/runs",
        ("events", "rule"): f"/events/home?region={region}#/eventbus/default/rules/{name}",
        ("redshift", "cluster"): f"/redshiftv2/home?region={region}#cluster-details?cluster={name}",
        ("cloudwatch", "alarm"): f"/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(name)}",
        ("budgets", "budget"): "/billing/home#/budgets",
        ("sagemaker", "training-job"): f"/sagemaker/home?region={region}#/jobs",
    }
    page = pages.get((service, kind))
    if page:
        return host + page
    return f"https://{domain}/go/view?arn={quote(arn, safe='')}"


def item(signal: str, where: r.Where, arn: str, excerpt: str | None = None, **attrs: Any) -> EvidenceItem:
    attrs.update(account_id=where.account_id, region=where.region, console_url=console_url(arn))
    return EvidenceItem(collector=COLLECTOR, signal=signal, locator=arn, subject=where.account,
                        attributes=attrs, excerpt=excerpt)


def _key(where: r.Where, name: str | None) -> tuple[str, str, str]:
    return (where.account_id, where.region, name or "")


def build_evidence(recs: list[Any], readable: set[tuple[str, str]]) -> list[EvidenceItem]:
    """`readable` holds (account_id, reader) pairs that worked everywhere, for counts that are
    only honest when complete (cost tags)."""
    by_type: dict[type, list[Any]] = defaultdict(list)
    for rec in recs:
        by_type[type(rec)].append(rec)
    out: list[EvidenceItem] = []
    out += _endpoints(by_type[r.Endpoint], by_type[r.MonitoringSchedule], by_type[r.Alarm])
    for s in by_type[r.MonitoringSchedule]:
        out.append(item("monitoring_schedule", s.where, s.arn, name=s.name, endpoint=s.endpoint,
                        status=s.status, kind=_KINDS.get(s.kind or "", s.kind),
                        last_execution_status=s.last_execution_status,
                        last_execution_at=s.last_execution_at))
    executions: list[r.Execution] = by_type[r.Execution]
    for e in executions:
        out.append(item("pipeline_execution", e.where, e.arn, tool=e.tool, name=e.name,
                        executions_in_window=e.executions_in_window, succeeded=e.succeeded,
                        failed=e.failed, training=e.training, steps=e.steps,
                        last_run_at=e.last_run_at, status=e.status))
    trains = {e.arn: e.training for e in executions}
    for rule in by_type[r.Rule]:
        hits = [t for t in rule.targets if _trains(t, trains)]
        out.append(item("eventbridge_rule", rule.where, rule.arn, name=rule.name, kind=rule.kind,
                        schedule=rule.schedule, state=rule.state, targets=rule.targets,
                        trains=bool(hits), training_targets=hits))
    for t in by_type[r.TrainingJobs]:
        arn = f"arn:{t.where.partition}:sagemaker:{t.where.region}:{t.where.account_id}:training-job/*"
        out.append(item("training_job", t.where, arn, jobs_in_window=t.jobs_in_window,
                        instance_types=t.instance_types, described=t.sampled))
        out.append(item("spot_training", t.where, arn + "#spot", jobs=t.sampled, spot_jobs=t.spot_jobs,
                        jobs_in_window=t.jobs_in_window))
    for f in by_type[r.FeatureGroup]:
        out.append(item("feature_group", f.where, f.arn, name=f.name, status=f.status,
                        online_store=f.online, offline_store=f.offline))
    tags = _tag_index(by_type[r.TaggedResources], by_type[r.Endpoint])
    cards = {(i.where.account_id, c) for i in by_type[r.Inventory] for c in i.model_cards}
    for g in by_type[r.ModelPackageGroup]:
        out.append(item("registered_model", g.where, g.arn, name=g.name, versions=g.versions,
                        approved_versions=g.approved_versions, approval=g.statuses,
                        description=g.description, tags=tags.get(g.arn, {}),
                        model_card=(g.where.account_id, g.name) in cards, registry="sagemaker"))
    for d in by_type[r.GlueDatabase]:
        out.append(item("glue_catalog", d.where, d.arn, database=d.name, tables=d.tables,
                        described_tables=d.described_tables))
    for j in by_type[r.GlueJob]:
        out.append(item("glue_job_run", j.where, j.arn, job=j.name, runs_in_window=j.runs_in_window,
                        last_status=j.last_status, last_run_at=j.last_run_at, tool="glue"))
    for q in by_type[r.DataQualityRuleset]:
        out.append(item("data_quality_run", q.where, q.arn, ruleset=q.name, target=q.target,
                        runs_in_window=q.runs_in_window, pass_rate=q.pass_rate, tool="glue-data-quality"))
    for w in by_type[r.Warehouse]:
        out.append(item("warehouse", w.where, w.arn, tool=w.tool, name=w.name, status=w.status))
    for b in by_type[r.Budget]:
        out.append(item("budget", b.where, b.arn, name=b.name, limit=b.limit, scoped_to_ml=b.scoped_to_ml))
    out += _cost_tags(by_type[r.CostAllocationTags], _ml_arns(recs), tags, readable)
    out += _inventory(by_type[r.Inventory])
    return out


def _endpoints(endpoints: list[r.Endpoint], schedules: list[r.MonitoringSchedule],
               alarms: list[r.Alarm]) -> list[EvidenceItem]:
    kinds: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for s in schedules:
        if s.status.lower() in _LIVE_SCHEDULES:
            kinds[_key(s.where, s.endpoint)].add("model-monitor:" + _KINDS.get(s.kind or "", s.kind or "unknown"))
    for a in alarms:
        kinds[_key(a.where, a.endpoint)].add("cloudwatch-alarm")
    out = []
    for e in endpoints:
        monitoring = set(kinds.get(_key(e.where, e.name), set()))
        if e.schedules and not any(k.startswith("model-monitor") for k in monitoring):
            monitoring.add("model-monitor")  # Search reports schedules even where listing them is denied
        out.append(item(
            "endpoint", e.where, e.arn, name=e.name, status=e.status,
            model=e.models[0] if len(e.models) == 1 else (", ".join(e.models) or None), models=e.models,
            variants=e.variants, instance_types=e.instance_types, data_capture=e.data_capture,
            monitored=bool(monitoring), monitoring=sorted(monitoring),
        ))
    return out


def _trains(target: str, trains: dict[str, bool]) -> bool:
    if target in trains:
        return trains[target]
    if any(sdk in target for sdk in _TRAINING_SDK):
        return True
    # a pipeline outside the regions read: a SageMaker pipeline is a model-building pipeline
    return ":sagemaker:" in target and ":pipeline/" in target


def _tag_index(tagged: list[r.TaggedResources], endpoints: list[r.Endpoint]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for t in tagged:
        out.update(t.tags)
    for e in endpoints:
        if e.tags:
            out.setdefault(e.arn, {}).update(e.tags)
    return out


def _ml_arns(recs: list[Any]) -> dict[str, set[str]]:
    """Per account: the ARNs of ML resources that cost-allocation tags should cover."""
    out: dict[str, set[str]] = defaultdict(set)
    for rec in recs:
        if isinstance(rec, r.Endpoint | r.FeatureGroup | r.ModelPackageGroup):
            out[rec.where.account_id].add(rec.arn)
        elif isinstance(rec, r.Execution) and rec.tool != "mwaa":
            out[rec.where.account_id].add(rec.arn)
        elif isinstance(rec, r.TrainingJobs):
            out[rec.where.account_id].update(rec.arns)
    return out


def _cost_tags(active: list[r.CostAllocationTags], ml: dict[str, set[str]],
               tags: dict[str, dict[str, str]], readable: set[tuple[str, str]]) -> list[EvidenceItem]:
    out = []
    for a in active:
        arns = ml.get(a.where.account_id, set())
        complete = (a.where.account_id, "tagging") in readable
        tagged = sum(1 for arn in arns if set(tags.get(arn, {})) & set(a.active_tags))
        arn = f"arn:{a.where.partition}:ce::{a.where.account_id}:cost-allocation-tags"
        out.append(item("cost_tags", a.where, arn, active_tags=a.active_tags,
                        ml_resources=len(arns) if complete else None,
                        tagged_ml_resources=tagged if complete else None))
    return out


def _inventory(inventories: list[r.Inventory]) -> list[EvidenceItem]:
    per: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    where: dict[tuple[str, str], r.Where] = {}
    for inv in inventories:
        key = (inv.where.account_id, inv.where.region)
        where[key] = inv.where
        for k, v in inv.counts.items():
            per[key][k] += v
    out = []
    for key, counts in sorted(per.items()):
        w = where[key]
        if any(counts.values()):
            arn = f"arn:{w.partition}:sagemaker:{w.region}:{w.account_id}:inventory"
            out.append(item("aws_inventory", w, arn, **dict(counts)))
    return out
