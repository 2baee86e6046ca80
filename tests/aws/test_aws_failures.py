"""Partial permissions, throttling, no credentials, unreachable endpoints, opt-in regions."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from awsutil import Stubs, account_session, new_account_id, role_arn, seed_endpoint, seed_glue

from mlaudit.collectors.aws.collector import AwsCollector
from mlaudit.collectors.base import CollectContext, CollectorError
from mlaudit.config import AwsAccount, AwsSettings, Config


def settings_for(account: str, regions: tuple[str, ...] = ("us-east-1",)) -> AwsSettings:
    return AwsSettings(accounts=[AwsAccount(name="acct", role_arn=role_arn(account), regions=regions)])


def test_access_denied_makes_only_that_signal_a_gap(stubs: Stubs) -> None:
    """moto's IAM enforcement is all-or-nothing, so the denial is a Stubber client error
    (AccessDeniedException on DescribeBudgets); everything else is read from moto."""
    account = new_account_id()
    seed_endpoint(account_session(account), account, "svc")
    stubs.error("budgets", account, "us-east-1", "describe_budgets", "AccessDeniedException", service="budgets")
    result = AwsCollector(settings_for(account), client_factory=stubs).collect(CollectContext())
    assert set(result.gaps) == {"budget"}
    assert "budgets:ViewBudget" in result.gaps["budget"]
    assert any("budgets:ViewBudget" in w for w in result.warnings)
    assert [e.attributes["name"] for e in result.evidence if e.signal == "endpoint"] == ["svc"]
    assert not result.errors


def test_gap_makes_the_check_unknown_not_fail(stubs: Stubs) -> None:
    from mlaudit.engine import audit

    account = new_account_id()
    for reader, service, method in [("budgets", "budgets", "describe_budgets"),
                                    ("cost-allocation-tags", "ce", "list_cost_allocation_tags"),
                                    ("sagemaker-training", "sagemaker", "list_training_jobs")]:
        stubs.error(reader, account, "us-east-1", method, "AccessDeniedException", service=service)
    settings = settings_for(account)
    run = audit(Config(aws=settings), collectors=[AwsCollector(settings, client_factory=stubs)])
    cost = next(f for f in run.findings if f.check_id == "L5.cost-management")
    assert str(cost.outcome) == "unknown"
    assert set(run.report["collectors"][0]["gaps"]) >= {"budget", "cost_tags", "spot_training"}


def test_throttling_is_retried_adaptively() -> None:
    """A Stubber short-circuits before botocore's retry loop, so it cannot show a retry; instead
    a `before-send` handler answers the first two Glue GetDatabases attempts with a real
    ThrottlingException response, and moto answers the third."""
    from botocore.awsrequest import AWSResponse

    account = new_account_id()
    session = account_session(account)
    seed_glue(session, "sales", tables=2, described=1)
    throttled = {"n": 0}
    body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'

    def throttle(request: Any, **_: Any) -> Any:
        if throttled["n"] < 2:
            throttled["n"] += 1
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1",
                                                   "x-amzn-ErrorType": "ThrottlingException"}, _Raw(body))
        return None

    def factory(reader: str, service: str, region: str, account_id: str) -> Any:
        if reader != "glue-catalog":
            return Stubs()(reader, service, region, account_id)
        client = session.client("glue", config=collector_config())
        client.meta.events.register("before-send.glue.GetDatabases", throttle)
        return client

    collector = AwsCollector(settings_for(account), client_factory=factory)
    result = collector.collect(CollectContext())
    assert throttled["n"] == 2
    assert collector.guard.calls[("glue", "GetDatabases")] == 1
    assert collector.guard.requests[("glue", "GetDatabases")] == 3  # two throttled + one
    assert not result.gaps
    catalog = next(e for e in result.evidence if e.signal == "glue_catalog")
    assert (catalog.attributes["tables"], catalog.attributes["described_tables"]) == (2, 1)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def collector_config() -> Any:
    from mlaudit.collectors.aws.guard import ReadOnlyGuard
    from mlaudit.collectors.aws.session import ClientPool

    return ClientPool(ReadOnlyGuard()).config()


def test_missing_credentials_is_a_clear_collector_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CollectorError, match="no AWS credentials found"):
        AwsCollector(AwsSettings(regions=("us-east-1",))).collect(CollectContext())


def test_missing_credentials_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlaudit.engine import audit

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    run = audit(Config(aws=AwsSettings(regions=("us-east-1",))))
    assert run.exit_code == 3
    aws = next(c for c in run.report["collectors"] if c["name"] == "aws")
    assert aws["status"] == "failed" and "no AWS credentials found" in aws["errors"][0]["message"]


def test_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(CollectorError, match="cannot reach the AWS endpoint"):
        AwsCollector(AwsSettings(regions=("us-east-1",))).collect(CollectContext())


def test_opt_in_region_not_enabled_is_a_target_error(stubs: Stubs) -> None:
    """moto reports opt-in regions such as ap-east-1 as `not-opted-in`."""
    good, optin = new_account_id(), new_account_id()
    settings = AwsSettings(accounts=[
        AwsAccount(name="good", role_arn=role_arn(good), regions=("us-east-1",)),
        AwsAccount(name="hk", role_arn=role_arn(optin), regions=("ap-east-1",)),
    ])
    result = AwsCollector(settings, client_factory=stubs).collect(CollectContext())
    assert [e.target for e in result.errors] == ["hk"]
    assert "opt-in region not enabled" in result.errors[0].message
    assert [t["name"] for t in result.targets] == ["good"]


def test_all_regions_lists_enabled_ones(stubs: Stubs) -> None:
    from mlaudit.collectors.aws.readers import READERS

    account = new_account_id()
    settings = AwsSettings(accounts=[AwsAccount(role_arn=role_arn(account), regions="all")])
    only_alarms = tuple(r for r in READERS if r.name == "cloudwatch-alarms")
    result = AwsCollector(settings, client_factory=stubs, readers=only_alarms).collect(CollectContext())
    regions = result.targets[0]["regions"]
    assert "us-east-1" in regions and "eu-west-1" in regions and "ap-east-1" not in regions
    assert result.targets[0]["name"] == account  # no name configured: the account ID


def test_profile_with_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stubs: Stubs) -> None:
    """A named profile that assumes a role: botocore's own credential chain, through AWS_ENDPOINT_URL."""
    account = new_account_id()
    seed_endpoint(account_session(account, "eu-west-1"), account, "profiled")
    config = tmp_path / "config"
    config.write_text(f"[profile audit]\nrole_arn = {role_arn(account)}\nsource_profile = base\n"
                      "region = eu-west-1\n[profile base]\naws_access_key_id = testing\n"
                      "aws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # else it wins over the profile's region
    settings = AwsSettings(accounts=[AwsAccount(name="audit", profile="audit")])
    result = AwsCollector(settings, client_factory=stubs).collect(CollectContext())
    assert result.targets[0]["account_id"] == account and result.targets[0]["regions"] == ["eu-west-1"]
    assert [e.attributes["name"] for e in result.evidence if e.signal == "endpoint"] == ["profiled"]


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(CollectorError, match="nope"):
        AwsCollector(AwsSettings(accounts=[AwsAccount(profile="nope")])).collect(CollectContext())
