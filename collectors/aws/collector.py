"""AwsCollector: accounts x regions x readers, concurrently, read-only, into evidence.

1. Resolve each account (profile, assumed role or the default chain), its identity and regions.
2. Run every (account, region, reader) as one task on a thread pool; global services (Budgets,
   Cost Explorer) run once per account. Every client carries the read-only guard.
3. A denied or throttled API makes only its reader's signals a gap (with the missing IAM action);
   a region the account has not enabled, or an account that cannot be reached, is a target
   error; nothing readable at all is a CollectorError.
4. Join the records and turn them into evidence (`evidence.py`).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from mlaudit.collectors.aws.evidence import build_evidence
from mlaudit.collectors.aws.guard import ReadOnlyGuard, ReadOnlyViolation, iam_action
from mlaudit.collectors.aws.readers import READERS, Reader, ReaderContext
from mlaudit.collectors.aws.records import Where
from mlaudit.collectors.aws.session import (
    GLOBAL_REGION,
    REGION_DISABLED_CODES,
    THROTTLED_CODES,
    AccountError,
    AccountScope,
    ClientFactory,
    ClientPool,
    describe_boto_error,
    describe_client_error,
    error_code,
    is_denied,
    resolve_account,
)
from mlaudit.collectors.aws.settings import AwsSettings
from mlaudit.collectors.base import (
    CollectContext,
    Collector,
    CollectorError,
    CollectorResult,
    TargetError,
)

#: after this many operations of one service in one account and region gave up throttled, with
#: none succeeding, its readers still waiting there are not started: each would wait out every
#: retry in turn (AWS rate limits are per service, so one throttled service stops no other)
THROTTLE_BREAKER = 3


class ThrottledOut(Exception):
    """A reader not started because its account and region throttle every call."""

    def __init__(self, where: str, given_up: int) -> None:
        super().__init__(f"not read: {where} throttled every call so far ({given_up} operations gave up "
                         "after their retries)")


class AwsCollector(Collector):
    name: ClassVar[str] = "aws"
    live: ClassVar[bool] = True  # shows only its present state (no as-of reads)
    letter: ClassVar[str] = "A"

    def __init__(self, settings: AwsSettings, *, client_factory: ClientFactory | None = None,
                 readers: tuple[Reader, ...] | None = None) -> None:
        self.settings = settings
        # tests and the benchmark substitute clients for APIs a local emulator lacks
        self.client_factory = client_factory
        self.readers = readers if readers is not None else READERS
        self.guard = ReadOnlyGuard()

    def describe(self) -> str:
        return f"aws ({len(self.settings.accounts)} account(s))"

    def collect(self, ctx: CollectContext) -> CollectorResult:
        import boto3  # imported here so CLI start-up stays light

        result = CollectorResult()
        pool = ClientPool(self.guard, self.client_factory)
        # (account, region, service) -> [operations that gave up throttled, reads that succeeded]
        self._throttle: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        self._throttle_lock = threading.Lock()
        workers = max(1, self.settings.max_workers)
        started = time.perf_counter()

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aws") as executor:
            resolved = list(executor.map(
                lambda a: _attempt(lambda: resolve_account(a, self.settings.regions, pool, boto3)),
                self.settings.accounts))
            scopes: list[AccountScope] = []
            for account, (scope, error) in zip(self.settings.accounts, resolved, strict=True):
                if error is not None:
                    label = account.name or account.role_arn or account.profile or "default credentials"
                    result.errors.append(TargetError(label, str(error)))
                else:
                    scopes.append(scope)
                    result.warnings.extend(scope.warnings)
            if not scopes:
                raise CollectorError("no AWS account could be read: "
                                     + "; ".join(e.message for e in result.errors))
            since = datetime.now(UTC) - timedelta(days=ctx.lookback_days)
            tasks = self._tasks(scopes)
            outcomes = list(executor.map(lambda t: self._run(t, pool, since), tasks))

        records: list[Any] = []
        failures: dict[tuple[str, str], list[str]] = defaultdict(list)  # (account, region) -> codes
        ok: dict[tuple[str, str], int] = defaultdict(int)
        broken: set[tuple[str, str]] = set()  # (account_id, reader) that failed somewhere
        gaps: dict[str, list[str]] = defaultdict(list)
        missing: set[str] = set()
        throttled: dict[tuple[str, str], list[str]] = defaultdict(list)  # (account, region) -> readers
        for (scope, region, reader), (recs, exc) in zip(tasks, outcomes, strict=True):
            pair = (scope.account_id, region)
            if exc is None:
                records.extend(recs)
                ok[pair] += 1
                continue
            broken.add((scope.account_id, reader.name))
            failures[pair].append(error_code(exc))
            if isinstance(exc, ThrottledOut) or error_code(exc) in THROTTLED_CODES:
                throttled[pair].append(reader.name)
            why, action = _explain(exc, reader)
            if action:
                missing.add(action)
            for signal in reader.signals:
                gaps[signal].append(f"{scope.name}/{region} ({reader.name}): {why}")

        for (account_id, region), codes in failures.items():
            if not ok[(account_id, region)] and set(codes) <= REGION_DISABLED_CODES:
                scope = next(s for s in scopes if s.account_id == account_id)
                result.errors.append(TargetError(
                    f"{scope.name}/{region}",
                    f"every API call in {region} was refused ({codes[0]}): the region is probably not "
                    f"enabled for account {account_id} (an opt-in region); enable it or remove it "
                    "from `regions`"))
        for (account_id, region), names in throttled.items():
            # throttling is transient: what it hid is unknown, and the run says it was incomplete
            scope = next(s for s in scopes if s.account_id == account_id)
            nothing = not ok[(account_id, region)]
            result.errors.append(TargetError(
                f"{scope.name}/{region}",
                (f"every API call in {region} was throttled: nothing was read there"
                 if nothing else f"{len(names)} of {len(names) + ok[(account_id, region)]} readers "
                 f"were throttled in {region} ({', '.join(sorted(names)[:6])}"
                 + (", …" if len(names) > 6 else "") + "): their checks are unknown")
                + "; re-run later, or lower aws.max_workers or raise the account's API rate limits"))
        for signal, whys in gaps.items():
            shown = "; ".join(sorted(set(whys))[:5])
            more = len(set(whys)) - 5
            result.gaps[signal] = shown + (f"; and {more} more" if more > 0 else "")
        if missing:
            result.warnings.append("missing IAM permissions (add them to the audit role): "
                                   + ", ".join(sorted(missing)))

        readable = {(s.account_id, r.name) for s in scopes for r in self.readers} - broken
        result.evidence = build_evidence(records, readable)
        duration = round(time.perf_counter() - started, 3)
        for scope in scopes:
            result.targets.append({
                "name": scope.name, "kind": "aws-account", "account_id": scope.account_id,
                "regions": scope.regions, "role_arn": scope.account.role_arn,
                "profile": scope.account.profile, "duration_s": duration,
            })
        if result.targets:
            result.targets[0]["api_calls"] = self.guard.total_calls()
        return result

    def _tasks(self, scopes: list[AccountScope]) -> list[tuple[AccountScope, str, Reader]]:
        tasks = []
        for scope in scopes:
            for reader in self.readers:
                if reader.scope == "account":
                    tasks.append((scope, GLOBAL_REGION, reader))
                    continue
                offered = _offered(scope, reader.service)
                tasks.extend((scope, region, reader) for region in scope.regions
                             if not offered or region in offered)
        return tasks

    def _run(self, task: tuple[AccountScope, str, Reader], pool: ClientPool,
             since: datetime) -> tuple[list[Any], Exception | None]:
        scope, region, reader = task
        where = Where(scope.account_id, scope.name, region, scope.partition)
        rctx = ReaderContext(where, since, lambda service: pool.client(
            scope.session, scope.account_id, service, region, reader.name))
        counts = self._throttle[(scope.account_id, region, reader.service)]
        with self._throttle_lock:
            if counts[0] >= THROTTLE_BREAKER and not counts[1]:
                return [], ThrottledOut(f"{reader.service} in {scope.name}/{region}", counts[0])
        try:
            records = reader.read(rctx)
        except ReadOnlyViolation:
            raise  # a collector bug, never an audited system's answer
        except Exception as exc:  # noqa: BLE001 - one reader failing never stops the others
            if error_code(exc) in THROTTLED_CODES:
                with self._throttle_lock:
                    counts[0] += 1
            return [], exc
        with self._throttle_lock:
            counts[1] += 1
        return records, None


def _attempt(fn: Any) -> tuple[Any, Exception | None]:
    try:
        return fn(), None
    except AccountError as exc:
        return None, exc


def _offered(scope: AccountScope, service: str) -> set[str]:
    """Regions botocore knows the service in (empty when unknown: then try every region)."""
    try:
        return set(scope.session.get_available_regions(service, partition_name=scope.partition))
    except Exception:  # noqa: BLE001 - endpoint data missing: don't filter
        return set()


def _explain(exc: Exception, reader: Reader) -> tuple[str, str | None]:
    """Why a reader failed, and the IAM action to add when it was a denial."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        operation = getattr(exc, "operation_name", "") or ""
        service = reader.service
        text = describe_client_error(exc, service, operation)
        if is_denied(exc):
            return text, iam_action(service, operation)
        return text, None
    if isinstance(exc, BotoCoreError):
        return describe_boto_error(exc), None
    if isinstance(exc, ThrottledOut):
        return str(exc), None
    return f"{type(exc).__name__}: {exc}", None
