"""Read-only by construction: the guard refuses writes before a request exists."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from awsutil import KEY, account_session, new_account_id, seed_endpoint

from mlaudit.collectors.aws.guard import (
    READ_ONLY_OPERATIONS,
    ReadOnlyGuard,
    ReadOnlyViolation,
    iam_action,
    is_allowed,
    policy_actions,
)

ROOT = Path(__file__).resolve().parents[2]


def test_write_call_is_refused_before_reaching_the_server() -> None:
    account = new_account_id()
    session = account_session(account, "eu-west-1")
    seed_endpoint(session, account, "keep-me")
    guard = ReadOnlyGuard()
    client = guard.install(session.client("sagemaker"))
    with pytest.raises(ReadOnlyViolation, match="refused sagemaker:DeleteEndpoint"):
        client.delete_endpoint(EndpointName="keep-me")
    with pytest.raises(ReadOnlyViolation):
        client.create_model_package_group(ModelPackageGroupName="nope")
    assert not guard.requests, "a refused call must not send anything"
    assert not guard.calls
    # the endpoint is still there, and reads go through
    assert client.search(Resource="Endpoint")["Results"][0]["Endpoint"]["EndpointName"] == "keep-me"
    assert guard.calls[("sagemaker", "Search")] == 1 and guard.requests[("sagemaker", "Search")] == 1


def test_read_shaped_operations_outside_the_allowlist_are_refused() -> None:
    guard = ReadOnlyGuard()
    client = guard.install(boto3.Session(**KEY).client("sagemaker", region_name="us-east-1"))
    with pytest.raises(ReadOnlyViolation, match="ListApps"):
        client.list_apps()
    assert not is_allowed("sts", "GetSessionToken")
    assert not is_allowed("glue", "StartJobRun")
    assert is_allowed("sts", "AssumeRole") and is_allowed("glue", "GetTables")


def test_allowlist_is_real_read_operations() -> None:
    session = boto3.Session(**KEY)
    for service, operations in READ_ONLY_OPERATIONS.items():
        model = session.client(service, region_name="us-east-1").meta.service_model
        for op in operations:
            assert op in model.operation_names, f"{service}:{op} is not an operation"
            assert is_allowed(service, op)


def test_shipped_policy_is_exactly_the_allowlist() -> None:
    policy = json.loads((ROOT / "docs" / "aws-iam-policy.json").read_text())
    actions = [a for st in policy["Statement"] for a in st["Action"]]
    assert all(st["Effect"] == "Allow" for st in policy["Statement"])
    assert sorted(actions) == sorted(policy_actions())
    assert iam_action("budgets", "DescribeBudgets") == "budgets:ViewBudget"
    assert iam_action("stepfunctions", "ListExecutions") == "states:ListExecutions"
    assert iam_action("mwaa", "GetEnvironment") == "airflow:GetEnvironment"
    assert iam_action("resourcegroupstaggingapi", "GetResources") == "tag:GetResources"
