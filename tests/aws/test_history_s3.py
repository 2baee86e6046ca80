"""The run history on S3 (issue 15), through boto3 against moto_server over HTTP: real scans of
real git repositories stored under an S3 prefix, compared, re-scored and pruned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
from gitutil import commit_files, make_repo

PY = sys.executable
ML = "import torch\n\nclass Net(torch.nn.Module):\n    pass\n\ndef train():\n    return Net()\n"


def mlaudit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLAUDIT_CONFIG", "MLAUDIT_HISTORY")}
    return subprocess.run([PY, "-m", "mlaudit.cli", *args], capture_output=True, text=True, timeout=180,
                          env=env, stdin=subprocess.DEVNULL)


def bucket() -> str:
    name = f"mlaudit-history-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def keys(name: str) -> list[str]:
    return sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=name).get("Contents", []))


def test_scans_stored_on_s3_are_compared_rescored_and_pruned(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "vision", {"train.py": ML, "requirements.txt": "torch==2.3\n"}, days_ago=10)
    name = bucket()
    loc = f"s3://{name}/audits/acme"
    first = mlaudit("scan", str(org), "--history", loc, "-o", str(tmp_path / "r1"))
    assert first.returncode == 0, first.stderr
    commit_files(org / "vision", {"tests/test_train.py": "from train import train\n\ndef test_t():\n    assert train()\n"},
                 days_ago=0.1)
    second = mlaudit("scan", str(org), "--history", loc, "-o", str(tmp_path / "r2"))
    assert second.returncode == 0, second.stderr
    stored = keys(name)
    assert len(stored) == 6 and all(k.startswith("audits/acme/runs/") for k in stored)
    assert sum(k.endswith("/manifest.json") for k in stored) == 2
    report = json.loads((tmp_path / "r2" / "report.json").read_text())
    since = report["history"]["since_last_review"]
    assert report["history"]["location"] == loc
    assert [e["subject"] for e in since["evidence"]] == ["vision"]
    assert any("tests/test_train.py" in k for k in since["evidence"][0]["new"])
    out = mlaudit("diff", "previous", "latest", "--history", loc, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["evidence"] == since["evidence"]
    rescored = mlaudit("rescore", "latest", "--history", loc)
    assert rescored.returncode == 0 and "byte for byte" in rescored.stdout
    # retention on S3: the oldest run goes, manifest first
    third = mlaudit("-q", "scan", str(org), "--history", loc, "--history-keep", "1", "-o", str(tmp_path / "r3"))
    assert third.returncode == 0, third.stderr
    assert sum(k.endswith("/manifest.json") for k in keys(name)) == 1 and len(keys(name)) == 3


def test_a_run_without_its_manifest_is_never_read(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "vision", {"train.py": ML}, days_ago=10)
    name = bucket()
    loc = f"s3://{name}/h"
    assert mlaudit("-q", "scan", str(org), "--history", loc, "-o", str(tmp_path / "r")).returncode == 0
    s3 = boto3.client("s3")
    # a run killed after its first objects: report and evidence, no manifest
    s3.put_object(Bucket=name, Key="h/runs/20990101T000000Z-deadbeef/report.json.gz", Body=b"partial")
    # and a manifest that is not one
    s3.put_object(Bucket=name, Key="h/runs/20990101T000001Z-0badf00d/manifest.json", Body=b"{not json")
    listing = mlaudit("history", "list", "--history", loc)
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 1, listing.stdout
    assert "deadbeef" not in listing.stdout
    assert "0badf00d" in listing.stderr and "skipped" in listing.stderr


def test_concurrent_scans_into_one_s3_history(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "vision", {"train.py": ML}, days_ago=10)
    name = bucket()
    loc = f"s3://{name}/h"
    procs = [subprocess.Popen([PY, "-m", "mlaudit.cli", "-q", "scan", str(org), "--history", loc,
                               "-o", str(tmp_path / f"r{i}")], stderr=subprocess.PIPE, text=True) for i in range(2)]
    assert [p.wait(timeout=180) for p in procs] == [0, 0]
    from mlaudit.history import open_store

    store = open_store(loc)
    runs = store.runs()
    assert len(runs) == 2 and all(store.bundle(r)["sources"] for r in runs)


def test_unreachable_bucket_is_one_line(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "vision", {"train.py": ML}, days_ago=10)
    out = mlaudit("scan", str(org), "--history", "s3://no-such-bucket-mlaudit/h", "-o", str(tmp_path / "r"))
    # the audit is not lost: the report is written (without a trend), the run exits 3 saying why
    assert out.returncode == 3, out.stderr
    assert "history s3://no-such-bucket-mlaudit/h cannot be read" in out.stderr and "NoSuchBucket" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert "history" not in report and report["evidence_file"]["items"] > 0
