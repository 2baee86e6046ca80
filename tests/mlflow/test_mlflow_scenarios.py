"""The same scenarios read from a tracking server, an sqlite database and a file store."""

from __future__ import annotations

import json

import pytest
from mlflow_scenarios import (
    SECRET,
    datasets_as_inputs,
    logged_model_version,
    many_models,
    mine,
    no_registry,
    production_alias_with_lineage,
    scan,
    writing_to,
)

from mlaudit.config import MlflowTarget

BACKENDS = ("sqlite", "file", "server")


def populate(new_store, kind: str, scenario, prefix: str):
    uri = new_store(kind)
    with writing_to(uri) as client:
        written = scenario(client, prefix)
    return uri, written


@pytest.mark.parametrize("kind", BACKENDS)
def test_tracking_without_registry(new_store, prefix: str, kind: str) -> None:
    uri, w = populate(new_store, kind, no_registry, prefix)
    result = scan(uri)
    [exp] = mine(result, prefix, "experiment_runs")
    a = exp.attributes
    assert a["experiment"] == f"{prefix}exploration"
    assert exp.locator == f"experiments:/{w.experiments[f'{prefix}exploration']}"
    assert a["runs_in_window"] == 3  # the 400-day-old run is outside the window
    assert a["users"] == 2 and len(a["user_ids"]) == 2 and "alice" not in json.dumps(a)
    assert a["commits_tagged"] == 1 and a["failed_runs"] == 1
    assert a["dataset_inputs"] == 0 and a["params"] == 2 and a["metrics"] == 1
    assert a["last_run_at"].endswith("Z") and a["last_run"].startswith("runs:/")
    assert not mine(result, prefix, "registered_model")
    # parameter values (here a password) never reach evidence; only key counts do
    assert SECRET not in json.dumps([e.to_dict() for e in result.evidence])
    if kind == "server":
        assert a["ui_url"].endswith(f"/#/experiments/{w.experiments[f'{prefix}exploration']}")
    else:
        assert "ui_url" not in a
        [info] = result.targets
        assert info["registered_models"] == 0 and info["runs_in_window"] == 3
        assert not [e for e in result.evidence if e.signal in ("registered_model", "lineage")]


@pytest.mark.parametrize("kind", BACKENDS)
def test_production_alias_and_lineage(new_store, prefix: str, kind: str) -> None:
    uri, w = populate(new_store, kind, production_alias_with_lineage, prefix)
    result = scan(uri)
    [model] = mine(result, prefix, "registered_model")
    a = model.attributes
    assert model.locator == f"models:/{prefix}churn/2"
    assert a["versions"] == 2 and a["latest_version"] == 2
    # aliases come from the registered model (search_model_versions carries none)
    assert a["aliases"] == ["challenger", "champion"]
    assert a["alias_versions"] == {"challenger": 1, "champion": 2}
    assert a["production"] is True and a["production_versions"] == [2]
    assert a["lineage"] == 2 and a["versions_with_metrics"] == 2
    assert a["production_versions_with_metrics"] == 1 and a["metric_keys"] == ["auc"]
    assert f"runs:/{w.runs['v2']}" in a["source_runs"]
    assert a["description"] == "Churn propensity" and a["tags"] == ["team"] and a["documented"]
    assert a["cadence"]["versions_in_window"] == 2
    assert a["cadence"]["median_days_between_versions"] is not None
    [exp] = mine(result, prefix, "experiment_runs")
    assert exp.attributes["commits_tagged"] == 2
    if kind == "server":
        assert a["ui_url"].endswith(f"/#/models/{prefix}churn/versions/2")


def test_production_aliases_are_configurable(new_store, prefix: str) -> None:
    uri, _ = populate(new_store, "sqlite", production_alias_with_lineage, prefix)
    target = MlflowTarget(uri=uri, production_aliases=("challenger",), production_stages=())
    [model] = mine(scan(target), prefix, "registered_model")
    assert model.attributes["production_versions"] == [1]
    target = MlflowTarget(uri=uri, production_aliases=("live",), ui_url="https://mlflow.example.com/")
    [model] = mine(scan(target), prefix, "registered_model")
    assert model.attributes["production"] is False
    assert model.attributes["ui_url"] == f"https://mlflow.example.com/#/models/{prefix}churn/versions/2"


@pytest.mark.parametrize("kind", BACKENDS)
def test_many_models_documented_and_staged(new_store, prefix: str, kind: str) -> None:
    uri, _ = populate(new_store, kind, many_models, prefix)
    result = scan(uri)
    models = {m.attributes["name"]: m.attributes for m in mine(result, prefix, "registered_model")}
    assert len(models) == 6
    assert sum(1 for m in models.values() if m["documented"]) == 3
    assert models[f"{prefix}model-0"]["stages"] == ["Production"]
    assert models[f"{prefix}model-0"]["production"] is True
    assert models[f"{prefix}model-1"]["stages"] == ["Staging"]
    assert models[f"{prefix}model-1"]["production"] is False
    assert models[f"{prefix}model-2"]["stages"] == ["Archived"]
    assert [n for n, m in models.items() if m["production"]] == [f"{prefix}model-0"]
    # even-numbered models' runs logged metrics, odd ones did not
    assert models[f"{prefix}model-4"]["versions_with_metrics"] == 1
    assert models[f"{prefix}model-3"]["versions_with_metrics"] == 0
    # a version from a bare artefact path has no lineage
    assert models[f"{prefix}model-5"]["versions"] == 2
    assert models[f"{prefix}model-5"]["lineage"] == 1
    assert models[f"{prefix}model-5"]["description"] == "" and models[f"{prefix}model-5"]["tags"] == []


@pytest.mark.parametrize("kind", BACKENDS)
def test_datasets_logged_as_inputs(new_store, prefix: str, kind: str) -> None:
    uri, w = populate(new_store, kind, datasets_as_inputs, prefix)
    result = scan(uri)
    [exp] = mine(result, prefix, "experiment_runs")
    assert exp.attributes["dataset_inputs"] == 2 and exp.attributes["datasets"] == 2
    [model] = mine(result, prefix, "registered_model")
    assert model.attributes["versions_with_datasets"] == 1 and model.attributes["lineage"] == 1
    lineage = [e for e in result.evidence if e.signal == "lineage"]
    assert lineage and all(e.attributes["tool"] == "mlflow-datasets" for e in lineage)
    if kind != "server":  # a shared server may hold other scenarios' lineage too
        [item] = lineage
        assert item.attributes["models"] == 1 and item.attributes["versions"] == 1
        assert item.locator == f"models:/{prefix}fraud/1"
        assert item.attributes["sample_run"] == f"runs:/{w.runs['r2']}"


def test_datasets_without_registered_versions_make_no_lineage_item(new_store, prefix) -> None:
    uri = new_store("sqlite")
    with writing_to(uri) as client:
        exp = client.create_experiment(f"{prefix}raw")
        from mlflow_scenarios import run

        run(client, exp, dataset="events")
    result = scan(uri)
    assert mine(result, prefix, "experiment_runs")[0].attributes["dataset_inputs"] == 1
    assert not [e for e in result.evidence if e.signal == "lineage"]


@pytest.mark.parametrize("kind", ("sqlite", "server"))
def test_version_registered_from_a_logged_model(new_store, prefix: str, kind: str) -> None:
    uri, w = populate(new_store, kind, logged_model_version, prefix)
    result = scan(uri)
    [model] = mine(result, prefix, "registered_model")
    a = model.attributes
    assert a["production"] is True and a["aliases"] == ["prod"]
    assert a["lineage"] == 1 and a["versions_with_metrics"] == 1
    assert a["source_runs"] == [f"runs:/{w.runs['r']}"]
    [exp] = mine(result, prefix, "experiment_runs")
    assert exp.attributes["logged_models"] == 1


def test_source_runs_outside_the_window_are_fetched_in_batches(new_store, prefix) -> None:
    """A version's training run may be older than the window: its metrics still count."""
    uri = new_store("sqlite")
    with writing_to(uri) as client:
        from mlflow_scenarios import run

        exp = client.create_experiment(f"{prefix}old")
        rid = run(client, exp, metrics={"auc": 0.7}, days_ago=300)
        client.create_registered_model(f"{prefix}old-model")
        client.create_model_version(f"{prefix}old-model", f"runs:/{rid}/model", run_id=rid)
    result = scan(uri, lookback_days=30)
    [model] = mine(result, prefix, "registered_model")
    assert model.attributes["lineage"] == 1 and model.attributes["versions_with_metrics"] == 1
    # no run in the window: one item says when the last run was, with zero runs in the window
    [exp] = [e for e in result.evidence if e.signal == "experiment_runs"]
    assert exp.attributes["runs_in_window"] == 0 and exp.attributes["last_run_at"]
