"""Read-only, enforced in code: every boto3 client the collector makes carries this guard.

The guard hooks botocore's `before-parameter-build` event, the first thing that happens when an
operation is called, so an operation outside `READ_ONLY_OPERATIONS` raises before its parameters
are even serialised, let alone sent. The allowlist is explicit (service, operation) pairs, and each
pair must also look like a read (Describe/List/Get/Search/BatchGet) or be one of the two STS calls
that only mint or name credentials. `docs/aws-iam-policy.json` lists exactly their IAM actions.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

READ_PREFIXES = ("Describe", "List", "Get", "Search", "BatchGet")
#: not reads, but they change nothing in the audited account: they mint or name credentials
CREDENTIAL_OPERATIONS = {("sts", "AssumeRole"), ("sts", "GetCallerIdentity")}

#: boto3 service name -> operations the collector calls
READ_ONLY_OPERATIONS: dict[str, tuple[str, ...]] = {
    "sts": ("AssumeRole", "GetCallerIdentity"),
    "ec2": ("DescribeRegions",),
    "sagemaker": (
        "Search", "DescribeEndpointConfig", "ListMonitoringSchedules", "DescribeMonitoringSchedule",
        "ListPipelines", "DescribePipeline", "ListPipelineExecutions", "ListFeatureGroups",
        "DescribeFeatureGroup", "ListModelPackageGroups", "ListModelPackages", "ListModelCards",
        "ListTrainingJobs", "DescribeTrainingJob", "ListNotebookInstances", "ListDomains",
        "ListDataQualityJobDefinitions", "ListModelQualityJobDefinitions",
    ),
    "stepfunctions": ("ListStateMachines", "DescribeStateMachine", "ListExecutions"),
    "mwaa": ("ListEnvironments", "GetEnvironment"),
    "events": ("ListRules", "ListTargetsByRule"),
    "scheduler": ("ListSchedules", "GetSchedule"),
    "glue": (
        "GetDatabases", "GetTables", "GetCrawlers", "GetJobs", "GetJobRuns",
        "ListDataQualityRulesets", "ListDataQualityResults", "BatchGetDataQualityResult",
    ),
    "redshift": ("DescribeClusters",),
    "redshift-serverless": ("ListWorkgroups",),
    "athena": ("ListWorkGroups",),
    "cloudwatch": ("DescribeAlarms",),
    "budgets": ("DescribeBudgets",),
    "ce": ("ListCostAllocationTags",),
    "resourcegroupstaggingapi": ("GetResources",),
}

#: IAM action prefixes that differ from the boto3 service name
_IAM_PREFIX = {"stepfunctions": "states", "mwaa": "airflow", "resourcegroupstaggingapi": "tag"}
#: operations whose IAM action is not `prefix:Operation`
_IAM_ACTION = {
    ("budgets", "DescribeBudgets"): "budgets:ViewBudget",
    ("glue", "BatchGetDataQualityResult"): "glue:GetDataQualityResult",
}


class ReadOnlyViolation(PermissionError):
    """An operation outside the read-only allowlist was attempted; nothing was sent."""


def is_allowed(service: str, operation: str) -> bool:
    if operation not in READ_ONLY_OPERATIONS.get(service, ()):
        return False
    return operation.startswith(READ_PREFIXES) or (service, operation) in CREDENTIAL_OPERATIONS


def iam_action(service: str, operation: str) -> str:
    """The IAM action an operation needs (`budgets:ViewBudget` for DescribeBudgets, ...)."""
    return _IAM_ACTION.get((service, operation)) or f"{_IAM_PREFIX.get(service, service)}:{operation}"


def policy_actions() -> set[str]:
    return {iam_action(s, op) for s, ops in READ_ONLY_OPERATIONS.items() for op in ops}


class ReadOnlyGuard:
    """Installed on every client: refuses writes before a request exists; counts what it sees.

    `calls` counts operations called (one per API call, whatever the retries); `requests`
    counts HTTP attempts, retries included.
    """

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def install(self, client: Any) -> Any:
        service = client.meta.service_model.service_name
        events = client.meta.events

        def check(model: Any = None, **_: Any) -> None:
            operation = model.name
            if not is_allowed(service, operation):
                raise ReadOnlyViolation(
                    f"mlaudit is read-only: refused {service}:{operation} before sending it"
                )
            with self._lock:
                self.calls[(service, operation)] += 1

        def sent(**kwargs: Any) -> None:
            name = kwargs.get("event_name", "")
            with self._lock:
                self.requests[(service, name.rsplit(".", 1)[-1])] += 1

        # first in line, so nothing registered earlier (a Stubber, say) can act before the check
        events.register_first("before-parameter-build.*.*", check, unique_id="mlaudit-read-only")
        events.register_first("before-send.*.*", sent, unique_id="mlaudit-count-requests")
        return client

    def operations(self) -> set[tuple[str, str]]:
        with self._lock:
            return set(self.calls)

    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())
