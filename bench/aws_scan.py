"""Benchmark: the AWS collector against moto, concurrent against serial, calls against the minimum.

    python bench/aws_scan.py [--accounts 2] [--regions 4] [--endpoints 300] [--pipelines 50]
                             [--tables 200] [--alarms 100] [--workers 8] [--moto-url URL]
                             [--rtt-ms 20]

Starts `moto_server` on a free loopback port (or uses --moto-url), populates accounts x regions
with endpoints (each with its own model and endpoint config), SageMaker pipelines, Glue tables
(in databases of 50) and CloudWatch alarms on endpoint metrics, then in the same run:
- collects with `settings.max_workers` workers (the collector as shipped), and
- collects again with one worker: the same calls, made serially (the baseline);
and prints both wall times, their ratio (goal <= 0.5), the API calls made and the minimum the
resource counts and page sizes require (goal <= 1.1 x). APIs moto lacks are answered by empty
Stubber clients in both runs (no network, counted as calls in both, and in the minimum).

`--rtt-ms` adds the same network round trip to every HTTP request of both runs. Real AWS APIs
answer in tens of milliseconds over the network; moto on loopback answers at once, CPU-bound in
one Python process, so with `--rtt-ms 0` two cores bound the concurrent run to roughly the
server's share of the serial time. The report prints which round trip was used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "aws")]
REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1", "us-east-2"]
TABLES_PER_DB = 50


def start_moto() -> tuple[str, subprocess.Popen[bytes]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()  # noqa: S310 - loopback
            return url, proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto_server did not start")


def populate(account: str, region: str, a: argparse.Namespace) -> None:
    from awsutil import account_session, seed_alarm, seed_pipeline

    session = account_session(account, region)
    sm = session.client("sagemaker")
    for i in range(a.endpoints):
        sm.create_model(ModelName=f"m{i}", ExecutionRoleArn=f"arn:aws:iam::{account}:role/sm",
                        PrimaryContainer={"Image": "img:1"})
        sm.create_endpoint_config(EndpointConfigName=f"c{i}", ProductionVariants=[{
            "VariantName": "main", "ModelName": f"m{i}", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName=f"e{i}", EndpointConfigName=f"c{i}")
    for i in range(a.pipelines):
        seed_pipeline(session, account, f"p{i}", runs=1)
    glue = session.client("glue")
    for d in range(math.ceil(a.tables / TABLES_PER_DB)):
        glue.create_database(DatabaseInput={"Name": f"db{d}"})
        for t in range(min(TABLES_PER_DB, a.tables - d * TABLES_PER_DB)):
            glue.create_table(DatabaseName=f"db{d}", TableInput={"Name": f"t{t}", "Description": "x"})
    for i in range(a.alarms):
        seed_alarm(session, f"alarm{i}", f"e{i % max(a.endpoints, 1)}")


def minimum(a: argparse.Namespace, accounts: int, regions: int) -> Counter[tuple[str, str]]:
    """The fewest calls the counts and the APIs' largest pages allow, per operation."""
    from mlaudit.collectors.aws.readers import READERS

    pairs = accounts * regions
    need: Counter[tuple[str, str]] = Counter()
    # every list the collector makes once per account and region (or per account, for global ones)
    firsts = {
        "sagemaker-endpoints": [("sagemaker", "Search")], "sagemaker-monitoring": [("sagemaker", "ListMonitoringSchedules")],
        "sagemaker-pipelines": [("sagemaker", "ListPipelines")], "sagemaker-feature-store": [("sagemaker", "ListFeatureGroups")],
        "sagemaker-registry": [("sagemaker", "ListModelPackageGroups")], "sagemaker-training": [("sagemaker", "ListTrainingJobs")],
        "sagemaker-inventory": [("sagemaker", op) for op in ("ListModelCards", "ListNotebookInstances", "ListDomains",
                                                             "ListDataQualityJobDefinitions", "ListModelQualityJobDefinitions")],
        "step-functions": [("stepfunctions", "ListStateMachines")], "mwaa": [("mwaa", "ListEnvironments")],
        "eventbridge": [("events", "ListRules")], "scheduler": [("scheduler", "ListSchedules")],
        "glue-catalog": [("glue", "GetDatabases")], "glue-jobs": [("glue", "GetJobs"), ("glue", "GetCrawlers")],
        "glue-data-quality": [("glue", "ListDataQualityRulesets")], "redshift": [("redshift", "DescribeClusters")],
        "redshift-serverless": [("redshift-serverless", "ListWorkgroups")], "athena": [("athena", "ListWorkGroups")],
        "cloudwatch-alarms": [("cloudwatch", "DescribeAlarms")], "tagging": [("resourcegroupstaggingapi", "GetResources")],
        "budgets": [("budgets", "DescribeBudgets")], "cost-allocation-tags": [("ce", "ListCostAllocationTags")],
    }
    for reader in READERS:
        for op in firsts[reader.name]:
            need[op] += accounts if reader.scope == "account" else pairs
    need[("sagemaker", "Search")] = pairs * max(1, math.ceil(a.endpoints / 100))
    need[("sagemaker", "DescribeEndpointConfig")] = pairs * a.endpoints  # the model behind each endpoint
    need[("sagemaker", "DescribePipeline")] = pairs * a.pipelines  # training steps in the definition
    need[("sagemaker", "ListPipelineExecutions")] = pairs * a.pipelines  # runs in the window
    databases = math.ceil(a.tables / TABLES_PER_DB)
    need[("glue", "GetTables")] = pairs * databases * max(1, math.ceil(TABLES_PER_DB / 100))
    need[("cloudwatch", "DescribeAlarms")] = pairs * max(1, math.ceil(a.alarms / 100))
    need[("sts", "AssumeRole")] = accounts
    need[("sts", "GetCallerIdentity")] = accounts
    need[("ec2", "DescribeRegions")] = accounts
    return need


def collect(settings: object, workers: int) -> tuple[float, Counter[tuple[str, str]], int]:
    from awsutil import Stubs

    from mlaudit.collectors.aws.collector import AwsCollector
    from mlaudit.collectors.base import CollectContext

    settings.max_workers = workers  # type: ignore[attr-defined]
    collector = AwsCollector(settings, client_factory=Stubs())  # type: ignore[arg-type]
    started = time.perf_counter()
    result = collector.collect(CollectContext(lookback_days=30))
    elapsed = time.perf_counter() - started
    if result.gaps or result.errors:
        raise SystemExit(f"unexpected gaps/errors: {result.gaps} {result.errors}")
    return elapsed, Counter(collector.guard.calls), len(result.evidence)


def add_round_trip(seconds: float) -> None:
    """Every HTTP request botocore sends waits `seconds` first, as a request to AWS would."""
    import botocore.endpoint

    send = botocore.endpoint.Endpoint._send

    def delayed(self, request):  # type: ignore[no-untyped-def]
        time.sleep(seconds)
        return send(self, request)

    botocore.endpoint.Endpoint._send = delayed  # type: ignore[method-assign]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=2)
    p.add_argument("--regions", type=int, default=4)
    p.add_argument("--endpoints", type=int, default=300)
    p.add_argument("--pipelines", type=int, default=50)
    p.add_argument("--tables", type=int, default=200)
    p.add_argument("--alarms", type=int, default=100)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--moto-url")
    p.add_argument("--rtt-ms", type=float, default=20.0,
                   help="network round trip added to every request of both runs (0: loopback only)")
    a = p.parse_args()

    proc = None
    url = a.moto_url
    if not url:
        url, proc = start_moto()
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    try:
        from awsutil import new_account_id, role_arn

        from mlaudit.config import AwsAccount, AwsSettings

        accounts = [new_account_id() for _ in range(a.accounts)]
        regions = REGIONS[: a.regions]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda ar: populate(ar[0], ar[1], a), [(x, r) for x in accounts for r in regions]))
        print(f"populated {a.accounts} accounts x {a.regions} regions x ({a.endpoints} endpoints, "
              f"{a.pipelines} pipelines, {a.tables} Glue tables, {a.alarms} alarms) "
              f"in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        settings = AwsSettings(accounts=[AwsAccount(name=f"acct{i}", role_arn=role_arn(x), regions=tuple(regions))
                                         for i, x in enumerate(accounts)])
        if a.rtt_ms > 0:  # after populating: only the measured runs pay the round trip
            add_round_trip(a.rtt_ms / 1000)
        collect(settings, a.workers)  # warm-up: service models parsed, moto's caches filled
        concurrent, calls, evidence = collect(settings, a.workers)
        serial, serial_calls, _ = collect(settings, 1)
        need = minimum(a, a.accounts, a.regions)
        made, least = sum(calls.values()), sum(need.values())
        report = {
            "estate": {"accounts": a.accounts, "regions": a.regions, "endpoints": a.endpoints,
                       "pipelines": a.pipelines, "tables": a.tables, "alarms": a.alarms},
            "workers": a.workers, "rtt_ms": a.rtt_ms, "evidence_items": evidence,
            "wall_s": round(concurrent, 2), "serial_s": round(serial, 2),
            "wall_over_serial": round(concurrent / serial, 3), "goal_wall_over_serial": 0.5,
            "api_calls": made, "serial_api_calls": sum(serial_calls.values()), "minimum_calls": least,
            "calls_over_minimum": round(made / least, 3), "goal_calls_over_minimum": 1.1,
            "over_minimum_by_operation": {f"{s}:{o}": [calls[(s, o)], need[(s, o)]]
                                          for s, o in sorted(set(calls) | set(need)) if calls[(s, o)] != need[(s, o)]},
        }
        print(json.dumps(report, indent=2))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
