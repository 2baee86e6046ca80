"""Databricks-hosted MLflow (`databricks`, `databricks-uc`, `databricks://PROFILE`) read through
MLflow's own client against a loopback server answering as Databricks' REST API does
(databricks_api.py): standard auth from DATABRICKS_HOST/DATABRICKS_TOKEN or a ~/.databrickscfg
profile, Unity Catalog names and aliases as locators, the largest page each API allows, page
tokens followed, and an unreachable or hanging host failing fast, the token never shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port
from databricks_api import Workspace, databricks, experiment, hanging, model, run, version
from mlflow_scenarios import DAY_MS, now_ms

from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.mlflow.collector import MlflowCollector
from mlaudit.config import Config, MlflowSettings, MlflowTarget
from mlaudit.engine import EXIT_PARTIAL, audit

TOKEN = "dapi0123456789abcdef0123456789abcd-2"
ENV = ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CONFIG_FILE",
       "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_ENABLE_DB_SDK")


def workspace(uc: bool = True) -> Workspace:
    now = now_ms()
    ws = Workspace(TOKEN)
    ws.experiments = [experiment("1001", "/Users/ada@acme.com/churn", created=now - 300 * DAY_MS),
                      experiment("1002", "/Shared/fraud", created=now - 200 * DAY_MS),
                      experiment("1003", "/Shared/old", deleted=True)]
    ws.runs = [run(f"c{i}", "1001", now - (i + 1) * DAY_MS, user="ada@acme.com" if i % 2 else "grace@acme.com",
                   commit=f"{i:04d}abcd", metrics={"auc": 0.8}, dataset="customers" if i < 2 else None)
               for i in range(5)]
    ws.runs += [run(f"f{i}", "1002", now - (i + 3) * DAY_MS, user="alan@acme.com", metrics={"f1": 0.7},
                    status="FAILED" if i == 2 else "FINISHED") for i in range(3)]
    ws.runs.append(run("old", "1002", now - 400 * DAY_MS, user="alan@acme.com"))  # outside the window
    prefix = "main.ml." if uc else ""
    ws.models = [model(f"{prefix}churn", now - 90 * DAY_MS, aliases={"champion": 2, "challenger": 1},
                       description="Churn propensity", tags={"team": "growth"}),
                 model(f"{prefix}fraud", now - 60 * DAY_MS),
                 model(f"{prefix}forecast", now - 30 * DAY_MS)]
    ws.versions = [version(f"{prefix}churn", 1, "c3", now - 40 * DAY_MS),
                   version(f"{prefix}churn", 2, "c0", now - 2 * DAY_MS, stage="Production" if not uc else "None"),
                   version(f"{prefix}fraud", 1, "f0", now - 5 * DAY_MS),
                   version(f"{prefix}forecast", 1, "old", now - 30 * DAY_MS)]
    if uc:
        ws.models[1]["aliases"] = [{"alias": "prod", "version": "1"}]
    return ws


@pytest.fixture
def env(monkeypatch, tmp_path):
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "home").mkdir()  # no ~/.databrickscfg unless a test writes one
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "home" / ".databrickscfg"))
    return monkeypatch


def collect(target: MlflowTarget, **settings):
    return MlflowCollector(MlflowSettings(targets=[target], **settings)).collect(CollectContext(lookback_days=180))


def models(result) -> dict[str, object]:
    return {i.attributes["name"]: i for i in result.evidence if i.signal == "registered_model"}


def test_unity_catalog_through_environment_auth(env) -> None:
    ws = workspace()
    with databricks(ws) as host:
        env.setenv("DATABRICKS_HOST", host)
        env.setenv("DATABRICKS_TOKEN", TOKEN)
        result = collect(MlflowTarget(uri="databricks", name="acme", ui_url=host))
    found = models(result)
    assert set(found) == {"main.ml.churn", "main.ml.fraud", "main.ml.forecast"}
    churn = found["main.ml.churn"]
    assert churn.locator == "models:/main.ml.churn@champion"
    assert churn.attributes["production"] is True and churn.attributes["production_versions"] == [2]
    assert churn.attributes["aliases"] == ["challenger", "champion"] and churn.attributes["documented"] is True
    assert churn.attributes["lineage"] == 2 and churn.attributes["versions_with_datasets"] == 1
    assert churn.attributes["ui_url"] == f"{host}/explore/data/models/main/ml/churn/version/2"
    assert found["main.ml.fraud"].locator == "models:/main.ml.fraud@prod"
    forecast = found["main.ml.forecast"]
    assert forecast.locator == "models:/main.ml.forecast/1" and forecast.attributes["production"] is False
    assert forecast.attributes["lineage"] == 1  # its run is outside the window, fetched by id
    runs = {i.attributes["experiment"]: i.attributes for i in result.evidence if i.signal == "experiment_runs"}
    assert runs["/Users/ada@acme.com/churn"]["runs_in_window"] == 5
    assert runs["/Users/ada@acme.com/churn"]["users"] == 2 and runs["/Users/ada@acme.com/churn"]["dataset_inputs"] == 2
    assert runs["/Shared/fraud"]["runs_in_window"] == 3 and runs["/Shared/fraud"]["failed_runs"] == 1
    assert runs["/Shared/fraud"]["ui_url"] == f"{host}/ml/experiments/1002"
    target = result.targets[0]
    assert target["kind"] == "databricks" and target["registry_kind"] == "unity-catalog"
    assert target["production_models"] == 2 and target["uri"] == "databricks"
    # the client made every call with the token, at the largest page each API allows
    assert {auth for *_, auth in ws.requests} == {f"Bearer {TOKEN}"}
    window = [c for c in ws.calls("/mlflow/runs/search") if "start_time >=" in c.get("filter", "")]
    assert window and {c["max_results"] for c in window} == {50_000}
    assert {int(c["max_results"]) for c in ws.calls("unity-catalog/registered-models/search")} == {1000}
    assert {int(c["max_results"]) for c in ws.calls("unity-catalog/model-versions/search")} == {1000}
    assert {c["max_results"] for c in ws.calls("/mlflow/experiments/search")} == {1000}
    assert TOKEN not in json.dumps([i.to_dict() for i in result.evidence] + result.targets, default=str)


def test_a_profile_and_small_pages_follow_page_tokens(env, tmp_path) -> None:
    ws = workspace()
    with databricks(ws) as host:
        cfg = tmp_path / "home" / ".databrickscfg"  # where DATABRICKS_CONFIG_FILE points, as the CLI's
        cfg.write_text(f"[DEFAULT]\nhost = http://127.0.0.1:{free_port()}\ntoken = wrong\n\n"
                       f"[acme]\nhost = {host}\ntoken = {TOKEN}\n")
        env.setenv("DATABRICKS_CONFIG_FILE", str(cfg))
        small = collect(MlflowTarget(uri="databricks://acme"), page_size=2)
        big = collect(MlflowTarget(uri="databricks-uc://acme"))
    tokens = [c.get("page_token") for c in ws.calls("/mlflow/runs/search") if c["max_results"] == 2]
    assert len([t for t in tokens if t]) >= 2  # pages beyond the first, asked for by token
    assert [c.get("page_token") for c in ws.calls("unity-catalog/registered-models/search")
            if int(c["max_results"]) == 2] == [None, "2"]

    def comparable(result) -> list[dict]:
        return sorted((i.signal, i.locator, json.dumps(i.attributes, sort_keys=True)) for i in result.evidence)

    assert comparable(small) == comparable(big) and len(models(big)) == 3
    assert small.targets[0]["api_calls"] > big.targets[0]["api_calls"]


def test_the_workspace_registry_by_stage(env) -> None:
    ws = workspace(uc=False)
    with databricks(ws) as host:
        env.setenv("DATABRICKS_HOST", host)
        env.setenv("DATABRICKS_TOKEN", TOKEN)
        result = collect(MlflowTarget(uri="databricks", registry_uri="databricks"))
    found = models(result)
    assert found["churn"].locator == "models:/churn/2" and found["churn"].attributes["stages"] == ["Production"]
    assert found["churn"].attributes["production"] is True  # champion alias and Production stage
    assert found["fraud"].attributes["production"] is False
    assert result.targets[0]["registry_kind"] == "workspace"
    assert {c["max_results"] for c in ws.calls("/mlflow/model-versions/search")} == {"10000"}
    assert {c["max_results"] for c in ws.calls("/mlflow/registered-models/search")} == {"1000"}


def test_a_wrong_token_is_named_and_never_shown(env, tmp_path) -> None:
    with databricks(workspace()) as host:
        env.setenv("DATABRICKS_HOST", host)
        env.setenv("DATABRICKS_TOKEN", "dapi" + "f" * 32)
        result = audit(Config(mlflow=MlflowSettings(targets=[MlflowTarget(uri="databricks", name="acme")])),
                       scan_path=tmp_path)
    [run_] = [c for c in result.report["collectors"] if c["name"] == "mlflow"]
    assert result.exit_code == EXIT_PARTIAL and run_["status"] == "failed"
    assert "acme: authentication failed (HTTP 401)" in run_["errors"][0]["message"]
    assert "dapi" + "f" * 32 not in json.dumps(result.report)


def cli(tmp_path: Path, host: str, timeout_s: int) -> tuple[subprocess.CompletedProcess, str, float]:
    config = tmp_path / "mlaudit.yaml"
    config.write_text(f"mlflow:\n  timeout_s: {timeout_s}\n  targets:\n    - uri: databricks\n      name: acme\n")
    env = {k: v for k, v in os.environ.items() if k not in ENV and k != "MLAUDIT_CONFIG"}
    env.update(DATABRICKS_HOST=host, DATABRICKS_TOKEN=TOKEN, HOME=str(tmp_path),
               DATABRICKS_CONFIG_FILE=str(tmp_path / ".databrickscfg"))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "-vv", "scan", "-c", str(config),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=300, cwd=tmp_path)
    outputs = "\n".join([proc.stdout, proc.stderr, *(p.read_text(errors="replace")
                                                     for p in (tmp_path / "out").rglob("*") if p.is_file())])
    return proc, outputs, time.monotonic() - started


@pytest.mark.parametrize("fault", ["unreachable", "hanging"])
def test_an_unreachable_or_hanging_host_ends_with_one_line(fault, tmp_path) -> None:
    if fault == "unreachable":
        proc, outputs, _ = cli(tmp_path, f"http://127.0.0.1:{free_port()}", 30)
        expected = "acme: the server is unreachable (connection failed after bounded retries)"
    else:
        with hanging() as host:
            proc, outputs, _ = cli(tmp_path, host, 20)
        expected = "acme: the server timed out after bounded retries"
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "Traceback" not in outputs and TOKEN not in outputs
    assert expected in outputs
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    [run_] = [c for c in report["collectors"] if c["name"] == "mlflow"]
    assert run_["errors"][0]["message"].endswith(expected)
    findings = {f["check_id"]: f["outcome"] for f in report["findings"]}
    assert findings["L4.per-version-performance"] == "unknown"


def test_max_runs_per_experiment_stops_fetching_older_runs(env) -> None:
    ws = workspace()
    now = now_ms()
    ws.runs += [run(f"bulk{i:02d}", "1001", now - (10 + i) * DAY_MS, user="bot@acme.com") for i in range(20)]
    with databricks(ws) as host:
        env.setenv("DATABRICKS_HOST", host)
        env.setenv("DATABRICKS_TOKEN", TOKEN)
        capped = collect(MlflowTarget(uri="databricks", name="acme"), page_size=2, max_runs_per_experiment=4)
    runs = {i.attributes["experiment"]: i for i in capped.evidence if i.signal == "experiment_runs"}
    churn = runs["/Users/ada@acme.com/churn"]
    # the 4 newest of 25 runs in the window were read and counted, and the evidence says so
    assert churn.attributes["runs_in_window"] == 4 and churn.attributes["runs_capped_at"] == 4
    assert churn.attributes["last_run"] == "runs:/c0" and "(the newest; more were not read)" in churn.excerpt
    assert runs["/Shared/fraud"].attributes["runs_in_window"] == 3 and "runs_capped_at" not in runs["/Shared/fraud"].attributes
    assert any("experiment '/Users/ada@acme.com/churn' has more than 4 runs in the window; the newest 4 were read"
               in w for w in capped.warnings)
    assert capped.targets[0]["capped_experiments"] == 1
    # once over the cap, the search started again without that experiment, from the time reached
    window = [c for c in ws.calls("/mlflow/runs/search") if "start_time >=" in c.get("filter", "")]
    restarted = [c for c in window if "start_time <=" in c["filter"]]
    assert restarted and all("1001" not in c["experiment_ids"] for c in restarted)
    asked_1001 = [c for c in window if "1001" in c["experiment_ids"]]
    assert len(asked_1001) * 2 < 25  # far fewer pages than the experiment's runs would take
