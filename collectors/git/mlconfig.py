"""ML platform config: orchestrator definitions, and serving, monitoring and feature-store
configuration files (Argo, Taskcluster task graphs and hooks, Step Functions, KFP, Azure ML, Prefect, Dagster, Kedro, dag-factory,
Feast, BentoML, Ray Serve, TorchServe, Triton, Prometheus/Grafana, Evidently)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlaudit.collectors.git.configs import (
    VENDORED,
    ConfigDoc,
    ConfigIndex,
    Emit,
    dir_of,
    find_line,
    flat_text,
    key_line,
    line_text,
    mentions_model_metrics,
    mentions_training,
    only_not_training,
    run_detectors,
    strings,
    under,
)
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem


def analyze_mlconfig(view: RepoView, index: ConfigIndex) -> list[EvidenceItem]:
    return run_detectors(view, index, DETECTORS)


# --- orchestrators -----------------------------------------------------------------------------


def _argo(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    for doc in index.dicts():
        api, kind = str(doc.data.get("apiVersion", "")), doc.data.get("kind")
        if "argoproj.io" not in api or kind not in (
            "Workflow",
            "WorkflowTemplate",
            "ClusterWorkflowTemplate",
            "CronWorkflow",
        ):
            continue
        meta = doc.data.get("metadata") if isinstance(doc.data.get("metadata"), dict) else {}
        tool = "kubeflow" if "pipelines.kubeflow.org" in flat_text(meta) else "argo"
        spec = doc.data.get("spec") if isinstance(doc.data.get("spec"), dict) else {}
        schedule = spec.get("schedule") or (spec.get("schedules") or [None])[0]
        found = key_line(doc.text, "kind", doc.line) or (doc.line, "")
        emit(
            "orchestration",
            doc.path,
            found[0],
            found[1],
            tool=tool,
            kind=kind,
            schedule=str(schedule) if schedule else None,
            metadata_driven=False,
        )
        if kind == "CronWorkflow" and schedule:
            body = "\n".join(
                strings(
                    spec.get("workflowSpec"),
                    {"command", "args", "source", "name", "image", "templateRef", "template"},
                )
            )
            if mentions_training(body) and not only_not_training(body):
                line = key_line(doc.text, "schedule", doc.line) or found
                emit(
                    "scheduled_retraining",
                    doc.path,
                    line[0],
                    line[1],
                    trigger="argo_cron",
                    schedule=str(schedule),
                    drift_triggered=False,
                )


_TC_TEXT = {"command", "args", "name", "description", "image"}


def _tc_tasks(node: Any) -> list[dict]:
    """The Taskcluster task definitions of a task-graph file (`tasks:`, maybe inside JSON-e's
    `$let`/`in`), each with a worker (provisionerId/workerType or taskQueueId) and a payload."""
    tasks = node.get("tasks") if isinstance(node, dict) else None
    if isinstance(tasks, dict):
        tasks = tasks.get("in") or tasks.get("then")
    if not isinstance(tasks, list):
        return []
    return [t for t in tasks if isinstance(t, dict) and _tc_task(t)]


def _tc_task(task: dict) -> bool:
    return isinstance(task.get("payload"), dict) and any(
        k in task for k in ("provisionerId", "workerType", "taskQueueId"))


def _trains(text: str) -> bool:
    return mentions_training(text) and not only_not_training(text)


def _taskcluster(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    """Taskcluster task graphs and hooks outside CI (`.taskcluster.yml` is CI, read with the CI
    files): a file of two or more tasks wired by `dependencies` is a pipeline the Taskcluster
    queue runs in order; a hook with a `schedule` whose task trains, or spawns a graph that
    trains, is scheduled retraining."""
    graphs: dict[str, bool] = {}
    for doc in index.dicts():
        if posixpath.basename(doc.path).startswith(".taskcluster."):
            continue
        tasks = _tc_tasks(doc.data)
        if len(tasks) < 2 or not any(t.get("dependencies") for t in tasks):
            continue
        found = key_line(doc.text, "tasks", doc.line) or (doc.line, "")
        emit("orchestration", doc.path, found[0], found[1], tool="taskcluster", tasks=len(tasks),
             metadata_driven=False)
        graphs[doc.path] = _trains("\n".join(strings(tasks, _TC_TEXT)))
    for doc in index.dicts():
        schedule, task = doc.data.get("schedule"), doc.data.get("task")
        if not (isinstance(schedule, list) and schedule and isinstance(task, dict) and _tc_task(task)):
            continue
        body = "\n".join(strings(task, _TC_TEXT))
        spawned = [p for p in graphs if posixpath.basename(p) in body]
        if _trains(body) or any(graphs[p] for p in spawned):
            found = key_line(doc.text, "schedule", doc.line) or (doc.line, "")
            emit("scheduled_retraining", doc.path, found[0], found[1], trigger="taskcluster_hook",
                 schedule=str(schedule[0]), drift_triggered=False, spawns=spawned[:3])


def _pipeline_specs(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    seen: set[str] = set()
    for doc in index.dicts():
        data = doc.data
        keys = set(map(str, data))
        if doc.path in seen:
            continue
        # Step Functions definition (ASL)
        if "StartAt" in keys and isinstance(data.get("States"), dict):
            found = key_line(doc.text, "StartAt") or (doc.line, "")
            sm = "arn:aws:states:::sagemaker" in flat_text(data.get("States"))
            emit(
                "orchestration",
                doc.path,
                found[0],
                found[1],
                tool="step_functions",
                sagemaker_steps=sm,
                metadata_driven=False,
            )
            seen.add(doc.path)
        # Kubeflow / Vertex compiled pipelines (v1 IR JSON or v2 YAML)
        elif "pipelineSpec" in keys or {"pipelineInfo", "deploymentSpec", "root"} <= keys:
            found = (
                key_line(doc.text, "pipelineInfo")
                or key_line(doc.text, "pipelineSpec")
                or (doc.line, "")
            )
            emit(
                "orchestration",
                doc.path,
                found[0],
                found[1],
                tool="kubeflow",
                compiled=True,
                metadata_driven=False,
            )
            seen.add(doc.path)
        # Azure ML pipeline job / schedules / monitors / endpoints
        elif "azureml" in str(data.get("$schema", "")).lower():
            _azureml(doc, emit)
        # dag-factory style Airflow DAGs generated from YAML
        elif _dag_factory(data):
            found = find_line(doc.text, r"^\s*tasks\s*:") or (doc.line, "")
            emit(
                "orchestration",
                doc.path,
                found[0],
                found[1],
                tool="airflow",
                metadata_driven=True,
                generator="dag-factory",
            )
            seen.add(doc.path)


def _dag_factory(data: dict[str, Any]) -> bool:
    dags = [v for v in data.values() if isinstance(v, dict)]
    return any(
        isinstance(d.get("tasks"), dict | list)
        and ({"default_args", "schedule_interval", "schedule"} & set(map(str, d)))
        and all(
            isinstance(t, dict)
            for t in (d["tasks"].values() if isinstance(d["tasks"], dict) else d["tasks"])
        )
        and any(
            "operator" in t or "decorator" in t
            for t in (d["tasks"].values() if isinstance(d["tasks"], dict) else d["tasks"])
        )
        for d in dags
    )


def _azureml(doc: ConfigDoc, emit: Emit) -> None:
    data, schema = doc.data, str(doc.data.get("$schema", ""))
    found = key_line(doc.text, "type") or key_line(doc.text, "$schema") or (doc.line, "")
    if data.get("type") == "pipeline" or "pipelineJob" in schema:
        emit(
            "orchestration",
            doc.path,
            found[0],
            found[1],
            tool="azureml_pipeline",
            metadata_driven=False,
        )
    elif data.get("type") == "command" or "commandJob" in schema:
        if data.get("compute"):
            emit(
                "training_infra",
                doc.path,
                found[0],
                found[1],
                tool="azureml",
                compute=str(data.get("compute")),
            )
    elif "schedule" in schema.lower() or "trigger" in data:
        cron = "\n".join(strings(data.get("trigger"), {"expression", "frequency", "interval"}))
        job = data.get("create_job")
        if data.get("create_monitor"):
            emit("model_monitoring", doc.path, found[0], found[1], tool="azureml", scheduled=True)
        elif job and mentions_training(flat_text(job) + str(data.get("name", ""))):
            line = key_line(doc.text, "trigger") or found
            emit(
                "scheduled_retraining",
                doc.path,
                line[0],
                line[1],
                trigger="azureml_schedule",
                schedule=cron or None,
                drift_triggered=False,
            )
    elif re.search(r"OnlineEndpoint|OnlineDeployment", schema):
        emit("model_serving", doc.path, found[0], found[1], tool="azureml")


def _named_orchestrators(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    for doc in index.dicts():
        name = doc.path.rsplit("/", 1)[-1]
        if name in ("prefect.yaml", "prefect.yml") and isinstance(
            doc.data.get("deployments"), list
        ):
            deployments = [d for d in doc.data["deployments"] if isinstance(d, dict)]
            if not deployments:
                continue
            found = key_line(doc.text, "deployments") or (doc.line, "")
            schedules = [_prefect_schedule(d) for d in deployments]
            emit(
                "orchestration",
                doc.path,
                found[0],
                found[1],
                tool="prefect",
                schedule=next((s for s in schedules if s), None),
                metadata_driven=False,
                deployments=len(deployments),
            )
            for dep, sched in zip(deployments, schedules, strict=True):
                what = f"{dep.get('name', '')} {dep.get('entrypoint', '')}"
                if sched and ((mentions_training(what) and not only_not_training(what))
                              or _entrypoint_trains(view, dir_of(doc.path), dep.get("entrypoint"))):
                    line = key_line(doc.text, "entrypoint") or found
                    emit(
                        "scheduled_retraining",
                        doc.path,
                        line[0],
                        line[1],
                        trigger="prefect",
                        schedule=sched,
                        drift_triggered=False,
                    )
        elif (
            re.search(r"-deployment\.ya?ml$", name)
            and doc.data.get("flow_name")
            and isinstance(doc.data.get("entrypoint"), str)
        ):  # Prefect 2.0-2.10 `prefect deployment build` output
            found = key_line(doc.text, "entrypoint") or (doc.line, "")
            sched = _prefect_schedule(doc.data)
            emit("orchestration", doc.path, found[0], found[1], tool="prefect", schedule=sched,
                 metadata_driven=False, deployments=1)
            what = f"{doc.data.get('name', '')} {doc.data['flow_name']} {doc.data['entrypoint']}"
            if sched and ((mentions_training(what) and not only_not_training(what))
                          or _entrypoint_trains(view, dir_of(doc.path), doc.data["entrypoint"])):
                emit("scheduled_retraining", doc.path, found[0], found[1], trigger="prefect",
                     schedule=sched, drift_triggered=False)
        elif name in ("workspace.yaml", "workspace.yml") and "load_from" in doc.data:
            found = key_line(doc.text, "load_from") or (doc.line, "")
            emit(
                "orchestration", doc.path, found[0], found[1], tool="dagster", metadata_driven=False
            )
        elif name == "dagster.yaml" and doc.data:
            emit(
                "orchestration",
                doc.path,
                doc.line,
                line_text(doc.text, doc.line),
                tool="dagster",
                metadata_driven=False,
            )
    for entry in view.named("pyproject.toml"):
        text = view.text(entry.path) or ""
        kedro = find_line(text, r"^\[tool\.kedro\]")
        if kedro and any(
            under(p, dir_of(entry.path)) and "/conf/base/" in "/" + p for p in view.paths
        ):
            emit(
                "orchestration", entry.path, kedro[0], kedro[1], tool="kedro", metadata_driven=False
            )
        dagster = find_line(text, r"^\[tool\.dagster\]")
        if dagster:
            emit(
                "orchestration",
                entry.path,
                dagster[0],
                dagster[1],
                tool="dagster",
                metadata_driven=False,
            )


def _entrypoint_trains(view: RepoView, root: str, entrypoint: Any) -> bool:
    """Whether the flow a Prefect deployment runs (`path/to/flow.py:function`, relative to the
    project's root) trains: its code (comments and strings left out) names training, as
    `train_models_and_score()`, `model.fit(...)` or a `Trainer` do. A deployment named for its
    cadence (`daily-run`) whose flow trains is a retraining schedule."""
    from mlaudit.collectors.git.codetable import TRAIN_WORDS
    from mlaudit.collectors.git.prefilter import code_text
    from mlaudit.collectors.git.pyscan import words_of

    if not isinstance(entrypoint, str) or ":" not in entrypoint:
        return False
    path = posixpath.normpath(posixpath.join(root, entrypoint.rsplit(":", 1)[0]))
    text = view.text(path) if path in view.entries else None
    if not text:
        return False
    words = {w for ident in set(_IDENTIFIER.findall(code_text(text))) for w in words_of(ident)}
    return bool(TRAIN_WORDS & words)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _prefect_schedule(dep: dict[str, Any]) -> str | None:
    scheds = dep.get("schedules") or ([dep["schedule"]] if dep.get("schedule") else [])
    for s in scheds if isinstance(scheds, list) else []:
        if isinstance(s, dict):
            for key in ("cron", "interval", "rrule"):
                if s.get(key):
                    return str(s[key])
    return None


# --- serving, monitoring, feature stores from named config files -------------------------------


@dataclass(frozen=True)
class NamedConfig:
    """One row of the config table: a parsed YAML/JSON document `applies` to the row (by file
    name and shape; the first row that applies takes the document), and `detect` emits what it
    finds in it. `keywords` are what the document's text must hold for the row to find anything
    (for prefilters); adding a config format is one row."""

    name: str
    applies: Callable[[str, dict[str, Any]], bool]
    detect: Callable[[ConfigDoc, Emit], None]
    keywords: tuple[str, ...]


def _feast(doc: ConfigDoc, emit: Emit) -> None:
    data = doc.data
    if data.get("project") and data.get("provider") and ({"registry", "online_store", "offline_store"} & set(data)):
        found = key_line(doc.text, "project") or (doc.line, "")
        emit("feature_store", doc.path, found[0], found[1], tool="feast", project=str(data["project"]))


def _bentoml(doc: ConfigDoc, emit: Emit) -> None:
    found = key_line(doc.text, "service") or (doc.line, "")
    emit("model_serving", doc.path, found[0], found[1], tool="bentoml")


def _ray_serve(doc: ConfigDoc, emit: Emit) -> None:
    found = key_line(doc.text, "import_path") or (doc.line, "")
    emit("model_serving", doc.path, found[0], found[1], tool="ray_serve")


def _prometheus_rules(doc: ConfigDoc, emit: Emit) -> None:
    rules = [r for g in doc.data["groups"] if isinstance(g, dict) for r in (g.get("rules") or [])
             if isinstance(r, dict) and r.get("expr")]
    model_rules = [r for r in rules
                   if mentions_model_metrics(f"{r.get('alert', '')} {r.get('record', '')} {r.get('expr', '')}")]
    if model_rules:
        found = key_line(doc.text, "expr") or (doc.line, "")
        emit("model_monitoring", doc.path, found[0], found[1], tool="prometheus", scheduled=True,
             rules=len(model_rules))


def _grafana(doc: ConfigDoc, emit: Emit) -> None:
    exprs = "\n".join(strings(doc.data, {"expr", "query", "rawSql", "target"}))
    if exprs and mentions_model_metrics(exprs):
        found = find_line(doc.text, r"\"?(expr|query|rawSql)\"?\s*:") or (doc.line, "")
        emit("model_monitoring", doc.path, found[0], found[1], tool="grafana", scheduled=True)


_EVIDENTLY = ("evidently.metric", "evidently.test", "evidently.presets", "evidently.metrics", "evidently.tests")


def _evidently(doc: ConfigDoc, emit: Emit) -> None:
    if any(s.startswith(_EVIDENTLY) for s in strings(doc.data)):
        found = find_line(doc.text, r"evidently\.") or (doc.line, "")
        emit("model_monitoring", doc.path, found[0], found[1], tool="evidently", scheduled=False)


def _panels(data: dict[str, Any]) -> bool:
    dashboard = data.get("dashboard")
    return isinstance(data.get("panels"), list) or (isinstance(dashboard, dict) and isinstance(dashboard.get("panels"), list))


#: what a SkyPilot task's `resources` choose: the compute it launches on
_SKY_RESOURCES = {"accelerators", "cloud", "infra", "instance_type", "region", "use_spot", "cpus", "memory"}


def _sky_resources(data: dict[str, Any]) -> list[dict[str, Any]]:
    res = data.get("resources")
    options = [res] if isinstance(res, dict) else []
    for key in ("any_of", "ordered"):  # a choice of resources
        if isinstance(res, dict) and isinstance(res.get(key), list):
            options += [r for r in res[key] if isinstance(r, dict)]
    return options


def _skypilot_task(name: str, data: dict[str, Any]) -> bool:
    """A SkyPilot task: a `run` command and `resources` that choose compute (accelerators, a
    cloud, an instance type). A service (`service:`) serves, it does not train."""
    return (isinstance(data.get("run"), str) and "service" not in data
            and any(set(r) & _SKY_RESOURCES for r in _sky_resources(data)))


def _skypilot(doc: ConfigDoc, emit: Emit) -> None:
    """Training compute chosen in code: a SkyPilot task whose commands or name are about
    training (one that preprocesses, evaluates or runs a notebook server is not)."""
    about = "\n".join([str(doc.data.get("name") or ""), str(doc.data.get("run")), str(doc.data.get("setup") or "")])
    if not mentions_training(about):
        return
    accel = [str(r["accelerators"]) for r in _sky_resources(doc.data) if r.get("accelerators")]
    found = key_line(doc.text, "resources") or (doc.line, "")
    emit("training_infra", doc.path, found[0], found[1], tool="skypilot", gpu=bool(accel),
         **({"accelerators": accel[0]} if accel else {}))


_DSTACK_NAME = re.compile(r"(^|\.)dstack\.ya?ml$")


def _dstack(doc: ConfigDoc, emit: Emit) -> None:
    """Training compute chosen in code: a dstack task that trains, or a fleet of GPU machines for
    it (`.dstack.yml` / `*.dstack.yml`, `type: task|fleet`). A dev environment or a service is
    not training compute."""
    data, kind = doc.data, str(doc.data.get("type") or "")
    gpu = bool((data.get("resources") or {}).get("gpu")) if isinstance(data.get("resources"), dict) else False
    commands = "\n".join(strings(data.get("commands"))) if data.get("commands") else ""
    trains = kind == "task" and mentions_training(f"{data.get('name') or ''}\n{commands}")
    if not (trains or (kind == "fleet" and gpu)):
        return
    found = key_line(doc.text, "type") or (doc.line, "")
    emit("training_infra", doc.path, found[0], found[1], tool="dstack", gpu=gpu, kind=kind)


#: named and shaped config documents, first applicable row wins (order matters)
NAMED_CONFIGS: tuple[NamedConfig, ...] = (
    NamedConfig("feast", lambda name, data: name in ("feature_store.yaml", "feature_store.yml"), _feast,
                ("project", "provider")),
    NamedConfig("bentoml", lambda name, data: name in ("bentofile.yaml", "bentofile.yml") and bool(data.get("service")),
                _bentoml, ("service",)),
    NamedConfig("ray_serve", lambda name, data: isinstance(data.get("applications"), list) and any(
        isinstance(a, dict) and a.get("import_path") for a in data["applications"]), _ray_serve,
        ("applications", "import_path")),
    NamedConfig("prometheus", lambda name, data: isinstance(data.get("groups"), list) and "kind" not in data,
                _prometheus_rules, ("groups", "expr")),
    NamedConfig("grafana", lambda name, data: _panels(data), _grafana, ("panels",)),
    NamedConfig("dstack", lambda name, data: bool(_DSTACK_NAME.search(name)) and data.get("type") in ("task", "fleet"),
                _dstack, ("type",)),
    NamedConfig("skypilot", _skypilot_task, _skypilot, ("run", "resources")),
)
#: rows that look at every document, whichever row above took it
EVERY_CONFIG: tuple[NamedConfig, ...] = (
    NamedConfig("evidently", lambda name, data: True, _evidently, ("evidently.",)),
)


def _named_configs(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    for doc in index.dicts():
        name = doc.path.rsplit("/", 1)[-1]
        row = next((r for r in NAMED_CONFIGS if r.applies(name, doc.data)), None)
        if row is not None:
            row.detect(doc, emit)
        for every in EVERY_CONFIG:
            if every.applies(name, doc.data):
                every.detect(doc, emit)
    for entry in view.entries.values():
        if VENDORED.search(entry.path):
            continue
        if entry.name == "config.properties" and entry.size < 65536:
            text = view.text(entry.path) or ""
            found = find_line(text, r"^\s*(inference_address|model_store|load_models)\s*=")
            if found:
                emit("model_serving", entry.path, found[0], found[1], tool="torchserve")
        elif entry.name == "config.pbtxt" and entry.size < 262144:
            text = view.text(entry.path) or ""
            found = find_line(text, r"^\s*(platform|backend)\s*:")
            if found and re.search(r"^\s*(input|output|max_batch_size)\b", text, re.M):
                emit("model_serving", entry.path, found[0], found[1], tool="triton")
        elif entry.name == "models.config" and entry.size < 65536:
            text = view.text(entry.path) or ""
            found = find_line(text, r"model_config_list")
            if found:
                emit("model_serving", entry.path, found[0], found[1], tool="tf_serving")
        elif entry.name == ".tecton":
            emit("feature_store", entry.path, None, None, tool="tecton")


def _databricks_bundles(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    """Databricks Asset Bundles (`databricks.yml`, `resources/*.yml`): jobs are workflows the
    Databricks scheduler runs; a job with a cron schedule whose tasks train is scheduled
    retraining; Delta Live Tables pipelines move data; quality monitors on inference tables
    monitor models."""
    for doc in index.dicts():
        resources = doc.data.get("resources")
        if not isinstance(resources, dict):
            continue
        jobs = resources.get("jobs")
        for key, job in (jobs.items() if isinstance(jobs, dict) else []):
            if not isinstance(job, dict) or not isinstance(job.get("tasks"), list):
                continue
            found = key_line(doc.text, str(key)) or key_line(doc.text, "jobs") or (doc.line, "")
            schedule = job.get("schedule")
            cron = schedule.get("quartz_cron_expression") if isinstance(schedule, dict) else None
            paused = isinstance(schedule, dict) and str(schedule.get("pause_status", "")).upper() == "PAUSED"
            emit("orchestration", doc.path, found[0], found[1], tool="databricks-jobs",
                 schedule=cron, metadata_driven=False)
            what = f"{key} {job.get('name', '')} {flat_text(job.get('tasks'))}"
            if cron and not paused and mentions_training(what) and not only_not_training(what):
                emit("scheduled_retraining", doc.path, found[0], found[1], trigger="databricks-jobs",
                     schedule=str(cron), drift_triggered=False)
        pipelines = resources.get("pipelines")
        for key, pipe in (pipelines.items() if isinstance(pipelines, dict) else []):
            if isinstance(pipe, dict) and pipe.get("libraries"):
                found = key_line(doc.text, str(key)) or (doc.line, "")
                emit("data_pipeline", doc.path, found[0], found[1], tool="delta-live-tables")
        monitors = resources.get("quality_monitors")
        for key, mon in (monitors.items() if isinstance(monitors, dict) else []):
            if isinstance(mon, dict) and isinstance(mon.get("inference_log"), dict):
                found = key_line(doc.text, str(key)) or (doc.line, "")
                emit("model_monitoring", doc.path, found[0], found[1], tool="databricks-lakehouse-monitoring",
                     scheduled=isinstance(mon.get("schedule"), dict))


DETECTORS: list[Callable[[RepoView, ConfigIndex, Emit], None]] = [
    _argo,
    _taskcluster,
    _databricks_bundles,
    _pipeline_specs,
    _named_orchestrators,
    _named_configs,
]
