"""Scenario organisations written with MLflow's own client (the tests write; the collector reads).

Every name starts with a prefix so that scenarios can share a tracking server with other data:
assertions only ever look at evidence whose experiment or model name carries the prefix.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from mlaudit.collectors.base import CollectContext, CollectorResult
from mlaudit.config import MlflowSettings, MlflowTarget

DAY_MS = 86_400_000
SECRET = "hunter2-s3cr3t-value"


def now_ms() -> int:
    return int(time.time() * 1000)


@contextmanager
def writing_to(uri: str) -> Iterator[object]:
    """An MlflowClient for `uri`, with the process-wide tracking URI pointed at it too: MLflow's
    file registry looks logged models up through the global URI while creating versions."""
    import mlflow
    from mlflow import MlflowClient

    saved_env = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    saved_uri = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    mlflow.set_tracking_uri(uri)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        mlflow.set_tracking_uri(saved_uri or "")
        if saved_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        if saved_env is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = saved_env


@dataclass
class Written:
    """What a scenario wrote, for assertions."""

    prefix: str
    experiments: dict[str, str] = field(default_factory=dict)  # name -> id
    runs: dict[str, str] = field(default_factory=dict)  # label -> run id
    models: list[str] = field(default_factory=list)


def run(client, exp_id: str, *, user: str = "alice", commit: str | None = None,
        metrics: dict[str, float] | None = None, params: dict[str, str] | None = None,
        dataset: str | None = None, days_ago: float = 1, status: str = "FINISHED") -> str:
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

    start = now_ms() - int(days_ago * DAY_MS)
    tags = {"mlflow.user": user}
    if commit:
        tags["mlflow.source.git.commit"] = commit
    r = client.create_run(exp_id, start_time=start, tags=tags)
    rid = r.info.run_id
    client.log_batch(
        rid,
        metrics=[Metric(k, v, start, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, v) for k, v in (params or {}).items()],
    )
    if dataset:
        ds = Dataset(name=dataset, digest=f"d-{dataset}", source_type="s3",
                     source=f"s3://bucket/{dataset}.parquet")
        client.log_inputs(rid, datasets=[
            DatasetInput(ds, tags=[InputTag("mlflow.data.context", "training")])])
    client.set_terminated(rid, status=status, end_time=start + 60_000)
    return rid


def no_registry(client, prefix: str) -> Written:
    """Tracking only: runs by two people, one old run outside the window, no registered model."""
    w = Written(prefix)
    exp = client.create_experiment(f"{prefix}exploration")
    w.experiments[f"{prefix}exploration"] = exp
    w.runs["a"] = run(client, exp, user="alice", commit="0123abcd",
                      metrics={"rmse": 1.0}, params={"lr": "0.1", "db_password": SECRET})
    w.runs["b"] = run(client, exp, user="bob", metrics={"rmse": 0.9})
    w.runs["c"] = run(client, exp, user="bob", status="FAILED")
    w.runs["old"] = run(client, exp, user="carol", days_ago=400)
    return w


def production_alias_with_lineage(client, prefix: str) -> Written:
    """One model, two versions trained by tracked runs with metrics; v2 carries `champion`."""
    w = Written(prefix)
    name = f"{prefix}churn"
    exp = client.create_experiment(f"{prefix}churn-training")
    w.experiments[f"{prefix}churn-training"] = exp
    r1 = run(client, exp, commit="aaaa1111", metrics={"auc": 0.81}, days_ago=30)
    r2 = run(client, exp, commit="bbbb2222", metrics={"auc": 0.86}, days_ago=2)
    w.runs.update(v1=r1, v2=r2)
    client.create_registered_model(name, description="Churn propensity", tags={"team": "growth"})
    client.create_model_version(name, f"runs:/{r1}/model", run_id=r1)
    client.create_model_version(name, f"runs:/{r2}/model", run_id=r2)
    client.set_registered_model_alias(name, "champion", "2")
    client.set_registered_model_alias(name, "challenger", "1")
    w.models.append(name)
    return w


def many_models(client, prefix: str) -> Written:
    """Six models: three documented; legacy stages on some; one trained without a tracked run."""
    w = Written(prefix)
    exp = client.create_experiment(f"{prefix}zoo")
    w.experiments[f"{prefix}zoo"] = exp
    for i in range(6):
        name = f"{prefix}model-{i}"
        documented = i < 3
        client.create_registered_model(
            name, description=f"Model {i} for the zoo" if documented else None,
            tags={"owner": "zoo-team"} if documented else None)
        rid = run(client, exp, metrics={"acc": 0.5 + i / 20} if i % 2 == 0 else None)
        v = client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
        if i == 0:
            client.transition_model_version_stage(name, v.version, "Production")
        elif i == 1:
            client.transition_model_version_stage(name, v.version, "Staging")
        elif i == 2:
            client.transition_model_version_stage(name, v.version, "Archived")
        if i == 5:  # a second version from an artefact path, with no run behind it
            client.create_model_version(name, "s3://bucket/models/legacy")
        w.models.append(name)
    return w


def datasets_as_inputs(client, prefix: str) -> Written:
    """Runs that log their datasets as inputs; one of them trained a registered version."""
    w = Written(prefix)
    exp = client.create_experiment(f"{prefix}fraud")
    w.experiments[f"{prefix}fraud"] = exp
    r1 = run(client, exp, metrics={"f1": 0.7}, dataset="transactions-2024")
    r2 = run(client, exp, metrics={"f1": 0.72}, dataset="transactions-2025")
    run(client, exp, metrics={"f1": 0.5})
    name = f"{prefix}fraud"
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{r2}/model", run_id=r2)
    w.runs.update(r1=r1, r2=r2)
    w.models.append(name)
    return w


def logged_model_version(client, prefix: str) -> Written:
    """MLflow 3: a version registered from a logged model (`source` = models:/m-...)."""
    w = Written(prefix)
    exp = client.create_experiment(f"{prefix}llm")
    w.experiments[f"{prefix}llm"] = exp
    rid = run(client, exp, metrics={"bleu": 0.3})
    from mlflow.entities import LoggedModelOutput

    lm = client.create_logged_model(exp, name="model", source_run_id=rid)
    client.log_outputs(rid, [LoggedModelOutput(lm.model_id, 0)])
    name = f"{prefix}summariser"
    client.create_registered_model(name)
    client.create_model_version(name, f"models:/{lm.model_id}", model_id=lm.model_id)
    client.set_registered_model_alias(name, "prod", "1")
    w.runs["r"] = rid
    w.models.append(name)
    return w


def mature_registry(client, prefix: str) -> Written:
    """Enough for an engine to see a mature registry: a dozen documented production models,
    each with two versions trained by tracked runs that logged metrics and dataset inputs."""
    w = Written(prefix)
    exp = client.create_experiment(f"{prefix}platform")
    w.experiments[f"{prefix}platform"] = exp
    for i in range(12):
        name = f"{prefix}svc-{i:02d}"
        client.create_registered_model(name, description=f"Service model {i}",
                                       tags={"team": "platform", "tier": "1"})
        for days in (40, 5):
            rid = run(client, exp, user=f"user{i % 3}", commit=f"{i:04d}{days:04d}",
                      metrics={"auc": 0.8}, dataset=f"table-{i}", days_ago=days)
            client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
        client.set_registered_model_alias(name, "production", "2")
        w.models.append(name)
    return w


SCENARIOS: dict[str, Callable[..., Written]] = {
    "no_registry": no_registry,
    "production_alias": production_alias_with_lineage,
    "many_models": many_models,
    "datasets": datasets_as_inputs,
    "logged_model": logged_model_version,
}


def every_scenario(client, prefix: str) -> None:
    """All the scenarios above, each under its own prefix (starting with `prefix`)."""
    production_alias_with_lineage(client, prefix)
    many_models(client, prefix + "z")
    datasets_as_inputs(client, prefix + "d")
    logged_model_version(client, prefix + "l")
    no_registry(client, prefix + "n")


def scan(*uris: str | MlflowTarget, lookback_days: int = 180, **settings) -> CollectorResult:
    from mlaudit.collectors.mlflow.collector import MlflowCollector

    targets = [u if isinstance(u, MlflowTarget) else MlflowTarget(uri=u) for u in uris]
    collector = MlflowCollector(MlflowSettings(targets=targets, **settings))
    return collector.collect(CollectContext(lookback_days=lookback_days))


def mine(result: CollectorResult, prefix: str, signal: str) -> list:
    """Items of `signal` that belong to the scenario written with `prefix`."""
    out = []
    for item in result.evidence:
        if item.signal != signal:
            continue
        a = item.attributes
        names = [a.get("experiment"), a.get("name"), *(a.get("model_names") or [])]
        if any(str(n or "").startswith(prefix) for n in names):
            out.append(item)
    return out
