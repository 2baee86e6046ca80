"""Typed records: what each reader returns, before anything is judged or joined.

Readers fill these from one service in one account and region; `evidence.py` joins them across
services (alarms and schedules onto endpoints, tags onto model groups, rules onto pipelines) and
turns them into evidence items.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Where:
    account_id: str
    account: str  # display name
    region: str
    partition: str = "aws"


@dataclass
class Endpoint:
    where: Where
    name: str
    arn: str
    status: str
    config: str | None = None
    models: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    instance_types: list[str] = field(default_factory=list)
    data_capture: bool = False
    schedules: list[str] = field(default_factory=list)  # as Search reports them
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class MonitoringSchedule:
    where: Where
    name: str
    arn: str
    endpoint: str | None
    status: str
    kind: str | None
    last_execution_status: str | None = None
    last_execution_at: str | None = None


@dataclass
class Execution:
    """An orchestrated pipeline (SageMaker pipeline, state machine, MWAA environment) and its runs."""

    where: Where
    tool: str
    name: str
    arn: str
    executions_in_window: int | None
    succeeded: int | None
    failed: int | None = None
    training: bool = False
    steps: list[str] = field(default_factory=list)
    last_run_at: str | None = None
    status: str | None = None


@dataclass
class Rule:
    where: Where
    kind: str  # eventbridge-rule | scheduler-schedule
    name: str
    arn: str
    schedule: str | None
    state: str
    targets: list[str] = field(default_factory=list)


@dataclass
class TrainingJobs:
    where: Where
    jobs_in_window: int
    sampled: int
    spot_jobs: int
    instance_types: list[str]
    arns: list[str] = field(default_factory=list)


@dataclass
class FeatureGroup:
    where: Where
    name: str
    arn: str
    status: str
    online: bool | None
    offline: bool | None


@dataclass
class ModelPackageGroup:
    where: Where
    name: str
    arn: str
    description: str | None
    versions: int
    approved_versions: int
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class GlueDatabase:
    where: Where
    name: str
    arn: str
    tables: int
    described_tables: int


@dataclass
class GlueJob:
    where: Where
    name: str
    arn: str
    runs_in_window: int
    last_status: str | None
    last_run_at: str | None


@dataclass
class DataQualityRuleset:
    where: Where
    name: str
    arn: str
    target: str | None  # database.table
    runs_in_window: int
    pass_rate: float | None


@dataclass
class Warehouse:
    where: Where
    tool: str  # redshift | redshift-serverless | athena
    name: str
    arn: str
    status: str | None


@dataclass
class Alarm:
    where: Where
    name: str
    arn: str
    endpoint: str
    metric: str
    state: str | None


@dataclass
class Budget:
    where: Where
    name: str
    arn: str
    limit: str | None
    scoped_to_ml: bool


@dataclass
class CostAllocationTags:
    where: Where
    active_tags: list[str]


@dataclass
class TaggedResources:
    """ARN -> tags for the ML resource types, from the tagging API (one call pages them all)."""

    where: Where
    tags: dict[str, dict[str, str]]


@dataclass
class Inventory:
    """Counts with no signal of their own, shown on the account's summary item."""

    where: Where
    counts: dict[str, int]
    model_cards: list[str] = field(default_factory=list)
    crawlers: int = 0


Record = (Endpoint | MonitoringSchedule | Execution | Rule | TrainingJobs | FeatureGroup
          | ModelPackageGroup | GlueDatabase | GlueJob | DataQualityRuleset | Warehouse | Alarm
          | Budget | CostAllocationTags | TaggedResources | Inventory)
