"""Accounts and regions: sessions, assumed roles, enabled regions, guarded clients, AWS errors.

boto3 is imported by the caller (the collector imports it inside `collect`) and passed in, so
importing this module stays free of it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlaudit.collectors.aws.guard import ReadOnlyGuard, iam_action
from mlaudit.collectors.aws.settings import AwsAccount

#: adaptive retries (client-side rate limiting) for throttling; generous for big estates
MAX_ATTEMPTS = 8
#: the identity probe fails fast: an unreachable endpoint should not wait out 8 back-offs
PROBE_ATTEMPTS = 2
ENABLED_OPT_IN = ("opt-in-not-required", "opted-in")
#: services with one global endpoint: read once per account, in this region
GLOBAL_REGION = "us-east-1"
DENIED_CODES = {
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess",
    "AuthorizationError", "AuthorizationErrorException", "NotAuthorized",
}
THROTTLED_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "SlowDown", "ProvisionedThroughputExceededException",
}
#: what a region that is not enabled for the account answers
REGION_DISABLED_CODES = {"UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure"}

#: (reader, service, region, account_id) -> a client to use instead of a fresh one, or None
ClientFactory = Callable[[str, str, str, str], Any]


class AccountError(Exception):
    """One account (or one region of it) could not be read; the message says why and what to do."""


@dataclass
class AccountScope:
    """One resolved account: its session, ID, display name and the regions to read."""

    account: AwsAccount
    session: Any
    account_id: str
    name: str
    regions: list[str]
    partition: str = "aws"
    warnings: list[str] = field(default_factory=list)


class ClientPool:
    """Guarded clients, one per (account, region, service), created once and shared by threads.

    boto3 sessions are not thread-safe but clients are: creation is serialised under a lock,
    calls are not.
    """

    def __init__(self, guard: ReadOnlyGuard, factory: ClientFactory | None = None) -> None:
        self.guard = guard
        self.factory = factory
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def config(self, attempts: int = MAX_ATTEMPTS) -> Any:
        from botocore.config import Config

        custom_endpoint = bool(os.environ.get("AWS_ENDPOINT_URL"))
        return Config(
            retries={"mode": "adaptive", "total_max_attempts": attempts},  # the first one included
            connect_timeout=10, read_timeout=60, max_pool_connections=32,
            user_agent_extra="mlaudit",
            # a single custom endpoint (a local emulator) has no `api.` style host prefixes
            inject_host_prefix=not custom_endpoint,
        )

    def client(self, session: Any, account_id: str, service: str, region: str,
               reader: str = "", attempts: int = MAX_ATTEMPTS) -> Any:
        if self.factory is not None:
            override = self.factory(reader, service, region, account_id)
            if override is not None:
                return self.guard.install(override)
        key = (account_id, region, service if attempts == MAX_ATTEMPTS else f"{service}#probe")
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                if attempts == MAX_ATTEMPTS:
                    attempts = configured_attempts(session)
                found = session.client(service, region_name=region, config=self.config(attempts))
                self.guard.install(found)
                self._clients[key] = found
            return found


def configured_attempts(session: Any) -> int:
    """The retry budget: the credential chain's own `max_attempts` (AWS_MAX_ATTEMPTS or the
    profile's `max_attempts`) when the user set one, else MAX_ATTEMPTS."""
    try:
        value = session._session.get_config_variable("max_attempts")  # botocore's resolver
    except Exception:  # noqa: BLE001 - a session without botocore's resolver: the default
        value = None
    try:
        return max(1, int(value)) if value is not None else MAX_ATTEMPTS
    except (TypeError, ValueError):
        return MAX_ATTEMPTS


def resolve_account(account: AwsAccount, default_regions: Any, pool: ClientPool,
                    boto3: Any) -> AccountScope:
    """Session (profile, role or the default chain), identity, and the regions to read."""
    from botocore.exceptions import BotoCoreError, ClientError

    label = account.name or account.role_arn or account.profile or "default credentials"
    try:
        base = boto3.Session(profile_name=account.profile) if account.profile else boto3.Session()
    except BotoCoreError as exc:  # ProfileNotFound and the like
        raise AccountError(f"{label}: {exc}") from None
    home = base.region_name or GLOBAL_REGION
    try:
        session = base
        if account.role_arn:
            sts = pool.client(base, "base", "sts", home, "sts", attempts=PROBE_ATTEMPTS)
            session = _assumed_session(base, sts, account, boto3)
        who = pool.client(session, f"probe:{label}", "sts", home, "sts", attempts=PROBE_ATTEMPTS)
        identity = who.get_caller_identity()
    except ClientError as exc:
        raise AccountError(f"{label}: {describe_client_error(exc, 'sts', 'AssumeRole' if account.role_arn else 'GetCallerIdentity')}") from None
    except BotoCoreError as exc:
        raise AccountError(f"{label}: {describe_boto_error(exc)}") from None
    account_id = identity["Account"]
    partition = identity["Arn"].split(":")[1] if identity.get("Arn", "").count(":") > 2 else "aws"
    scope = AccountScope(account, session, account_id, account.name or account_id, [], partition)
    wanted = account.regions if account.regions is not None else default_regions
    scope.regions = _regions(scope, wanted, pool, home)
    return scope


def _assumed_session(base: Any, sts: Any, account: AwsAccount, boto3: Any) -> Any:
    """A session in the role's account whose credentials renew themselves (through the guarded
    STS client) before they expire, sharing the base session's model loader so that clients for
    many accounts don't each parse the service models again."""
    import botocore.session
    from botocore.credentials import RefreshableCredentials

    params: dict[str, Any] = {"RoleArn": account.role_arn, "RoleSessionName": "mlaudit-audit"}
    if account.external_id:
        params["ExternalId"] = account.external_id

    def fetch() -> dict[str, Any]:
        creds = sts.assume_role(**params)["Credentials"]
        return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"], "expiry_time": creds["Expiration"].isoformat()}

    core = botocore.session.Session()
    core.register_component("data_loader", base._session.get_component("data_loader"))  # noqa: SLF001
    core._credentials = RefreshableCredentials.create_from_metadata(  # noqa: SLF001
        fetch(), refresh_using=fetch, method="assume-role")
    return boto3.Session(botocore_session=core, region_name=base.region_name)


def _regions(scope: AccountScope, wanted: Any, pool: ClientPool, home: str) -> list[str]:
    """"all" -> every enabled region; a list -> those, each checked to be enabled when possible."""
    from botocore.exceptions import BotoCoreError, ClientError

    if wanted is None:
        if not scope.session.region_name:
            raise AccountError(f"{scope.name}: no region configured: set `regions` in the aws section, "
                               "AWS_REGION/AWS_DEFAULT_REGION, or a region in the profile")
        wanted = (scope.session.region_name,)
    ec2 = pool.client(scope.session, scope.account_id, "ec2", home, "regions")
    try:
        found = ec2.describe_regions(AllRegions=True)["Regions"]
    except (ClientError, BotoCoreError) as exc:
        if wanted == "all":
            why = describe_client_error(exc, "ec2", "DescribeRegions") if isinstance(exc, ClientError) \
                else describe_boto_error(exc)
            raise AccountError(f"{scope.name}: cannot list enabled regions for regions: all: {why}") from None
        scope.warnings.append(f"{scope.name}: could not verify that regions are enabled "
                              f"(ec2:DescribeRegions failed); reading {', '.join(wanted)} as given")
        return list(wanted)
    status = {r["RegionName"]: r.get("OptInStatus", "opt-in-not-required") for r in found}
    enabled = sorted(r for r, s in status.items() if s in ENABLED_OPT_IN)
    if wanted == "all":
        return enabled
    out = []
    for region in wanted:
        if region not in status:
            scope.warnings.append(f"{scope.name}: {region} is not an AWS region; skipped")
        elif status[region] not in ENABLED_OPT_IN:
            raise AccountError(f"{scope.name}: region {region} is an opt-in region not enabled for "
                               f"account {scope.account_id} ({status[region]}); enable it or remove it "
                               "from `regions`")
        else:
            out.append(region)
    return out


def error_code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def attempts(exc: Any) -> int:
    """How many HTTP attempts the call made (botocore counts the retries it made)."""
    meta = getattr(exc, "response", {}).get("ResponseMetadata", {})
    return int(meta.get("RetryAttempts", 0) or 0) + 1


def is_denied(exc: Any) -> bool:
    code = error_code(exc)
    return code in DENIED_CODES or code.endswith("AccessDenied") or code.endswith("AccessDeniedException")


def describe_client_error(exc: Any, service: str, operation: str) -> str:
    code = error_code(exc)
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")) or str(exc)
    if "<html" in message.lower():  # an HTML error page (a proxy, an emulator): its title is enough
        title = re.search(r"<title>(.*?)</title>", message, re.IGNORECASE | re.DOTALL)
        message = title.group(1).strip() if title else "an HTML error page"
    message = " ".join(message.split())[:200]
    if is_denied(exc):
        return f"access denied: the policy lacks {iam_action(service, operation)} ({code})"
    if code in THROTTLED_CODES:
        return f"throttled on {service}:{operation} after {attempts(exc)} attempt(s) ({code})"
    if code in REGION_DISABLED_CODES:
        return f"{code}: {message} (invalid credentials, or a region not enabled for the account)"
    if code in ("ExpiredToken", "ExpiredTokenException"):
        return f"credentials expired ({code}): refresh them (aws sso login, new session token)"
    return f"{service}:{operation} failed: {code or 'error'}: {message}"[:400]


def describe_boto_error(exc: Any) -> str:
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "name a profile or role_arn in the aws section, or run where an instance role is available")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        where = os.environ.get("AWS_ENDPOINT_URL")
        hint = f" (AWS_ENDPOINT_URL={where})" if where else ""
        return f"cannot reach the AWS endpoint{hint}: {exc}"
    if isinstance(exc, NoRegionError):
        return "no region configured: set `regions` in the aws section or AWS_REGION"
    return f"{type(exc).__name__}: {exc}"
