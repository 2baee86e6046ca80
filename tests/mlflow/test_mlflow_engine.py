"""Through the engine: observed registry evidence moves the organisation's levels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow_scenarios import SECRET, mature_registry, mine, no_registry, scan, writing_to

from mlaudit.collectors.mlflow.scan import parse_source
from mlaudit.collectors.mlflow.stores import describe_http_error, strip_credentials
from mlaudit.config import Config, GitSettings, GitTarget, MlflowSettings, MlflowTarget
from mlaudit.engine import audit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def git_only(example_org: Path):
    return audit(Config(git=GitSettings(targets=[GitTarget(path=example_org)])), scan_path=example_org)


def levels(result) -> dict[str, int]:
    return {d: v["level"] for d, v in result.report["summary"]["dimensions"].items()}


def outcomes(result) -> dict[str, str]:
    return {f["check_id"]: f["outcome"] for f in result.report["findings"]}


def test_a_mature_registry_moves_a_level(example_org: Path, git_only, new_store) -> None:
    uri = new_store("sqlite")
    with writing_to(uri) as client:
        mature_registry(client, "org-")
    cfg = Config(git=GitSettings(targets=[GitTarget(path=example_org)]),
                 mlflow=MlflowSettings(targets=[MlflowTarget(uri=uri, name="prod-tracking")]))
    result = audit(cfg, scan_path=example_org)
    assert result.exit_code == 0
    before, after = outcomes(git_only), outcomes(result)
    # git alone: tracking and registration calls in code; the tracker then shows the runs
    assert before["L2.experiment-tracking"] == "pass" and after["L2.experiment-tracking"] == "pass"
    assert "no tracker was read" in next(
        f["explanation"] for f in git_only.report["findings"] if f["check_id"] == "L2.experiment-tracking")
    assert before["L3.model-registry"] == "pass" and after["L3.model-registry"] == "pass"
    assert before["L4.per-version-performance"] == "unknown"
    assert after["L4.per-version-performance"] == "pass"
    assert after["L5.discoverable-model-store"] == "pass"
    assert after["L5.lineage"] == "pass"
    moved = {d: (levels(git_only)[d], levels(result)[d]) for d in levels(result)
             if levels(result)[d] != levels(git_only)[d]}
    assert moved, (levels(git_only), levels(result))
    assert all(new > old for old, new in moved.values())
    cited = [e for e in result.report["evidence"] if e["collector"] == "mlflow"]
    assert {e["subject"] for e in cited} == {"prod-tracking"}
    assert any(e["locator"].startswith("models:/org-svc-") for e in cited)


def test_an_unused_tracker_fails_what_it_can_judge(example_org: Path, new_store) -> None:
    """A tracker read with no recent runs and no registered model: observed absence is a fail."""
    uri = new_store("sqlite")
    cfg = Config(mlflow=MlflowSettings(targets=[MlflowTarget(uri=uri)]))
    result = audit(cfg)
    o = outcomes(result)
    assert o["L2.experiment-tracking"] == "fail"
    assert o["L3.model-registry"] == "fail"


def test_secrets_never_reach_the_report(new_store, prefix) -> None:
    uri = new_store("server")
    with writing_to(uri) as client:
        no_registry(client, prefix)
    target = uri.replace("http://", "http://auditor:Sup3rSecretPw@")
    result = audit(Config(mlflow=MlflowSettings(targets=[MlflowTarget(uri=target)])))
    text = json.dumps(result.report)
    assert "Sup3rSecretPw" not in text and SECRET not in text
    [collector] = [c for c in result.report["collectors"] if c["name"] == "mlflow"]
    assert collector["targets"][0]["uri"] == uri


def test_small_pages_give_the_same_answer(new_store, prefix) -> None:
    from mlflow_scenarios import many_models

    uri = new_store("sqlite")
    with writing_to(uri) as client:
        no_registry(client, prefix)
        many_models(client, prefix)
    big, small = scan(uri, page_size=1000), scan(uri, page_size=2)
    assert [e.to_dict()["attributes"] for e in big.evidence] == \
        [e.to_dict()["attributes"] for e in small.evidence]
    assert small.targets[0]["api_calls"] > big.targets[0]["api_calls"]
    assert len(mine(small, prefix, "registered_model")) == 6


def test_cli_start_up_does_not_import_mlflow() -> None:
    code = ("import sys, mlaudit.cli, mlaudit.engine, mlaudit.collectors.mlflow.collector; "
            "sys.exit(1 if 'mlflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_helpers() -> None:
    assert parse_source("runs:/abc123/model") == ("abc123", None)
    assert parse_source("models:/m-0f1e2d") == (None, "m-0f1e2d")
    assert parse_source("s3://bucket/model") == (None, None)
    assert parse_source(None) == (None, None)
    assert strip_credentials("https://u:p@mlflow.example.com:8443/base/") == \
        "https://mlflow.example.com:8443/base"

    class Denied(Exception):
        error_code = "PERMISSION_DENIED"

    assert "permission denied (HTTP 403)" in describe_http_error(Denied("no"), "srv")
    assert "HTTP 404" in describe_http_error(Exception("error code 404 != 200"), "srv")
    tls = describe_http_error(Exception("SSLError: certificate verify failed"), "srv")
    assert "verify_tls" in tls
