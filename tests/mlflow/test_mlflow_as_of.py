"""MLflow read as of a past date (`scan --as-of D`): runs, registered models and model versions
count by their own timestamps up to the end of D; aliases and stages keep no history, so the
registry leaves a gap (`registered_model.production`) and production checks are unknown, with
the reason, instead of failing.

The store is a real sqlite database written with MLflow's client; registered models and versions
are back-dated with SQL afterwards (the client always stamps "now", and a store's history is what
is being tested). The same file is then read directly and through a real `mlflow server`, and
both reads must give the same evidence.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import running_server
from mlflow_scenarios import DAY_MS, now_ms, run, writing_to

from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.mlflow.collector import PRODUCTION_GAP, MlflowCollector
from mlaudit.config import Config, MlflowSettings, MlflowTarget
from mlaudit.engine import as_of_moment, audit

AS_OF = (datetime.now(UTC) - timedelta(days=5)).date()
CUT_MS = int(as_of_moment(AS_OF).timestamp() * 1000)


def days_before_cut(days: float) -> float:
    """`days_ago` for mlflow_scenarios.run: `days` before the end of the as-of day."""
    return (now_ms() - (CUT_MS - days * DAY_MS)) / DAY_MS


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, template_db: Path) -> dict:
    home = tmp_path_factory.mktemp("asof")
    db = home / "mlflow.db"
    db.write_bytes(template_db.read_bytes())
    uri = f"sqlite:///{db}"
    with writing_to(uri) as client:
        exp = client.create_experiment("asof-churn")
        old = run(client, exp, user="ada", commit="aaaa", metrics={"auc": 0.8}, days_ago=days_before_cut(40))
        run(client, exp, user="grace", metrics={"auc": 0.82}, days_ago=days_before_cut(10))
        new = run(client, exp, user="alan", metrics={"auc": 0.9}, days_ago=1)  # after the date
        client.create_registered_model("churn", description="Churn propensity", tags={"team": "growth"})
        client.create_model_version("churn", f"runs:/{old}/model", run_id=old)
        client.create_model_version("churn", f"runs:/{new}/model", run_id=new)
        client.set_registered_model_alias("churn", "champion", "2")
        client.create_registered_model("forecast")  # registered after the as-of date
        client.create_model_version("forecast", f"runs:/{new}/model", run_id=new)
        client.set_registered_model_alias("forecast", "production", "1")
    con = sqlite3.connect(db)  # history: churn and its first version existed before the date
    with con:
        con.execute("UPDATE registered_models SET creation_time = ? WHERE name = 'churn'", (CUT_MS - 50 * DAY_MS,))
        con.execute("UPDATE model_versions SET creation_time = ? WHERE name = 'churn' AND version = 1",
                    (CUT_MS - 35 * DAY_MS,))
    con.close()
    with running_server(uri, home) as server:
        yield {"sqlite": uri, "server": server, "db": db}


def collect(uri: str, as_of: date | None):
    collector = MlflowCollector(MlflowSettings(targets=[MlflowTarget(uri=uri, name="tracking")]))
    return collector.collect(CollectContext(lookback_days=180, as_of=as_of_moment(as_of)))


def by_signal(result, signal: str) -> dict[str, dict]:
    return {i.attributes.get("name") or i.attributes.get("experiment"): i.attributes
            for i in result.evidence if i.signal == signal}


def comparable(result) -> list[dict]:
    items = [json.loads(json.dumps(i.to_dict(), default=str)) for i in result.evidence]
    for item in items:
        item.pop("observed_at")
        item["attributes"].pop("ui_url", None)
        item["attributes"].pop("last_run_ui_url", None)
    return sorted(items, key=lambda d: (d["signal"], d["locator"]))


@pytest.mark.parametrize("kind", ["sqlite", "server"])
def test_counts_what_existed_on_the_date(store, kind) -> None:
    past = collect(store[kind], AS_OF)
    runs = by_signal(past, "experiment_runs")["asof-churn"]
    assert runs["runs_in_window"] == 2 and runs["users"] == 2 and runs["as_of"] == AS_OF.isoformat()
    assert runs["last_run_at"] <= f"{AS_OF.isoformat()}T23:59:59Z"
    models = by_signal(past, "registered_model")
    assert set(models) == {"churn"}  # forecast was registered after the date
    churn = models["churn"]
    assert churn["versions"] == 1 and churn["latest_version"] == 1 and churn["lineage"] == 1
    assert churn["as_of"] == AS_OF.isoformat()
    # aliases have no history: today's `champion` says nothing of that day
    for key in ("aliases", "alias_versions", "stages", "production", "production_versions"):
        assert key not in churn, key
    assert "aliases: not known as of" in next(i.excerpt for i in past.evidence if i.signal == "registered_model")
    assert "aliases and stages keep no history" in past.gaps[PRODUCTION_GAP]
    assert past.targets[0]["registered_models"] == 1 and past.targets[0]["model_versions"] == 1
    assert past.targets[0]["production_models"] is None


@pytest.mark.parametrize("kind", ["sqlite", "server"])
def test_today_reads_everything_and_leaves_no_gap(store, kind) -> None:
    today = collect(store[kind], None)
    assert by_signal(today, "experiment_runs")["asof-churn"]["runs_in_window"] == 3
    models = by_signal(today, "registered_model")
    assert set(models) == {"churn", "forecast"}
    assert models["churn"]["versions"] == 2 and models["churn"]["production"] is True
    assert models["churn"]["aliases"] == ["champion"] and "as_of" not in models["churn"]
    assert PRODUCTION_GAP not in today.gaps


def test_direct_and_server_reads_agree_as_of_the_date(store) -> None:
    assert comparable(collect(store["sqlite"], AS_OF)) == comparable(collect(store["server"], AS_OF))


def findings(result) -> dict[str, dict]:
    return {f["check_id"]: f for f in result.report["findings"]}


def test_production_checks_are_unknown_with_the_reason_not_failed(store, tmp_path) -> None:
    target = MlflowTarget(uri=store["sqlite"], name="tracking")
    past = audit(Config(mlflow=MlflowSettings(targets=[target]), as_of=AS_OF), scan_path=tmp_path)
    today = audit(Config(mlflow=MlflowSettings(targets=[target])), scan_path=tmp_path)
    [run_past] = [c for c in past.report["collectors"] if c["name"] == "mlflow"]
    assert past.exit_code == 0 and run_past["status"] == "ok"  # read, not skipped as a live source
    assert run_past["gaps"][PRODUCTION_GAP].startswith("tracking: as-of audit:")
    was, now = findings(past), findings(today)
    # runs are dated: tracking is assessed as of the date
    assert was["L2.experiment-tracking"]["outcome"] == "pass"
    for check in ("L2.model-in-production", "L3.multiple-models-in-production"):
        assert was[check]["outcome"] == "unknown", (check, was[check]["explanation"])
        assert "aliases and stages keep no history" in was[check]["explanation"]
    # the other side: today the aliases decide (two production models)
    assert now["L2.model-in-production"]["outcome"] == "pass"
    assert now["L3.multiple-models-in-production"]["outcome"] == "pass"
    # registered versions are dated: the registry is assessed as of the date (one model, one version)
    assert was["L3.model-registry"]["outcome"] == "partial" and now["L3.model-registry"]["outcome"] == "pass"
