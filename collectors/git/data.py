"""Data tooling config: validation suites, data versioning, dbt, warehouses, catalogues, lineage
and data-audit documents."""

from __future__ import annotations

import json
import re
from typing import Any

from mlaudit.collectors.git.configs import (
    VENDORED,
    ConfigIndex,
    Emit,
    dir_of,
    find_line,
    key_line,
    load_yaml,
    strings,
    under,
)
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

WAREHOUSE_TYPES = {
    "snowflake",
    "bigquery",
    "redshift",
    "athena",
    "databricks",
    "synapse",
    "trino",
    "presto",
    "spark",
    "fabric",
}
_DATA_AUDIT_NAME = [
    (re.compile(r"(?i)^data[-_ ]?dictionar(y|ies)\b"), "dictionary"),
    (re.compile(r"(?i)^data[-_ ]?inventor(y|ies)\b"), "inventory"),
    (re.compile(r"(?i)^data[-_ ]?(card|sheet)s?\b|^datasheets?\b"), "datasheet"),
    (re.compile(r"(?i)^data[-_ ]?(profil(e|ing)|audit)\b"), "profiling"),
]
_DOC_SUFFIX = re.compile(r"(?i)\.(md|rst|txt|csv|xlsx|html|pdf|ya?ml|json|adoc)$")


def analyze_data(view: RepoView, index: ConfigIndex) -> list[EvidenceItem]:
    emit = Emit(view, index)
    _great_expectations(view, emit)
    _yaml_data_tools(view, index, emit)
    _dbt(view, index, emit)
    _dataform(view, emit)
    dvc_files = _dvc_files(view)
    _dvc(view, emit, dvc_files)
    _dvc_pipeline(dvc_files, emit)
    _lineage_files(view, emit)
    _data_audit(view, emit)
    return emit.items


def _great_expectations(view: RepoView, emit: Emit) -> None:
    for entry in view.named("great_expectations.yml", "great_expectations.yaml"):
        if VENDORED.search(entry.path):
            continue
        root = dir_of(entry.path)
        suites = [
            p
            for p in view.paths
            if under(p, f"{root}/expectations" if root else "expectations") and p.endswith(".json")
        ]
        real = [p for p in suites[:5] if _suite_has_expectations(view.text(p))]
        if not real:
            continue  # a scaffolded project with no expectations is a stub
        checkpoints = [
            p
            for p in view.paths
            if under(p, f"{root}/checkpoints" if root else "checkpoints")
            and p.endswith((".yml", ".yaml", ".json"))
        ]
        text = view.text(entry.path) or ""
        found = find_line(text, r"^\s*(config_version|expectations_store_name|stores)\s*:") or (
            1,
            "",
        )
        emit(
            "data_validation",
            entry.path,
            found[0],
            found[1],
            tool="great_expectations",
            suites=len(suites),
            checkpoints=len(checkpoints),
            sample_suite=real[0],
        )


def _suite_has_expectations(text: str | None) -> bool:
    if not text:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and bool(data.get("expectations"))


def _yaml_data_tools(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    for doc in index.dicts():
        data = doc.data
        name = doc.path.rsplit("/", 1)[-1]
        keys = [str(k) for k in data]
        soda = [k for k in keys if k.startswith("checks for ") and data[k]]
        if soda:
            found = key_line(doc.text, soda[0]) or (doc.line, "")
            emit("data_validation", doc.path, found[0], found[1], tool="soda", datasets=len(soda))
        source, sink = data.get("source"), data.get("sink")
        if isinstance(source, dict) and source.get("type"):
            if isinstance(sink, dict) and str(sink.get("type", "")).startswith("datahub"):
                found = key_line(doc.text, "sink") or (doc.line, "")
                emit(
                    "data_catalog",
                    doc.path,
                    found[0],
                    found[1],
                    tool="datahub",
                    source=str(source["type"]),
                )
            elif isinstance(data.get("workflowConfig"), dict) and "openMetadataServerConfig" in str(
                list(data["workflowConfig"])
            ):
                found = key_line(doc.text, "source") or (doc.line, "")
                emit(
                    "data_catalog",
                    doc.path,
                    found[0],
                    found[1],
                    tool="openmetadata",
                    source=str(source["type"]),
                )
        if name in ("profiles.yml", "profiles.yaml"):
            for profile in data.values():
                outputs = profile.get("outputs") if isinstance(profile, dict) else None
                for target in (outputs or {}).values() if isinstance(outputs, dict) else []:
                    kind = str(target.get("type", "")) if isinstance(target, dict) else ""
                    if kind in WAREHOUSE_TYPES:
                        found = find_line(doc.text, rf"^\s*type\s*:\s*['\"]?{kind}") or (
                            doc.line,
                            "",
                        )
                        emit("warehouse", doc.path, found[0], found[1], tool=kind, via="dbt")
        if name in ("openlineage.yml", "openlineage.yaml") and data.get("transport"):
            found = key_line(doc.text, "transport") or (doc.line, "")
            emit("lineage", doc.path, found[0], found[1], tool="openlineage")
        env_names = set(strings(data, {"environment", "env"})) | {
            str(k) for e in _env_dicts(data) for k in e
        }
        if any(
            re.match(r"OPENLINEAGE_(URL|ENDPOINT)|OPENLINEAGE__TRANSPORT", n) for n in env_names
        ):
            found = find_line(doc.text, r"OPENLINEAGE_(URL|ENDPOINT)|OPENLINEAGE__TRANSPORT") or (
                doc.line,
                "",
            )
            emit("lineage", doc.path, found[0], found[1], tool="openlineage", via="env")
        pipe = data.get("pipeline")
        if (
            isinstance(pipe, dict)
            and pipe.get("name")
            and isinstance(data.get("transform"), dict)
            and "input" in data
        ):
            found = key_line(doc.text, "pipeline") or (doc.line, "")
            emit("data_versioning", doc.path, found[0], found[1], tool="pachyderm")
        if (name in (".lakectl.yaml", "lakectl.yaml") and isinstance(data.get("server"), dict)) or (
            "lakefs" in name.lower() and "blockstore" in data
        ):
            emit("data_versioning", doc.path, doc.line, None, tool="lakefs")


def _env_dicts(node: Any) -> list[dict[str, Any]]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("environment", "env") and isinstance(v, dict):
                out.append(v)
            elif k in ("environment", "env") and isinstance(v, list):
                out.append({str(i.get("name")): i.get("value") for i in v if isinstance(i, dict)})
                out.append({str(i).split("=", 1)[0]: None for i in v if isinstance(i, str)})
            else:
                out.extend(_env_dicts(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_env_dicts(v))
    return out


def _dbt(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    projects = []
    for entry in view.named("dbt_project.yml", "dbt_project.yaml"):
        if VENDORED.search(entry.path) or "/dbt_packages/" in "/" + entry.path:
            continue
        text = view.text(entry.path) or ""
        data = load_yaml(text)
        if not isinstance(data, dict) or not data.get("name"):
            continue
        root = dir_of(entry.path)
        projects.append((root, data))
        found = key_line(text, "name") or (1, "")
        emit("data_pipeline", entry.path, found[0], found[1], tool="dbt", project=str(data["name"]))
        has_profile = any(
            d.path.rsplit("/", 1)[-1].startswith("profiles.") and under(d.path, root)
            for d in index.docs
        )
        if not has_profile:
            emit(
                "warehouse",
                entry.path,
                found[0],
                found[1],
                tool="dbt",
                profile=str(data.get("profile", "")) or None,
            )
        test_dirs = data.get("test-paths") or ["tests"]
        singular = [
            p
            for p in view.paths
            if p.endswith(".sql")
            and any(under(p, f"{root}/{t}".strip("/")) for t in test_dirs if isinstance(t, str))
            and view.entries[p].size > 0
        ]
        if singular:
            emit(
                "data_validation",
                singular[0],
                None,
                None,
                tool="dbt",
                kind="singular_tests",
                tests=len(singular),
            )
    for doc in index.dicts():
        if not any(under(doc.path, root) for root, _ in projects):
            continue
        tested = _dbt_schema_tests(doc.data)
        if tested:
            found = find_line(doc.text, r"^\s*(data_)?tests\s*:", doc.line) or (doc.line, "")
            emit(
                "data_validation",
                doc.path,
                found[0],
                found[1],
                tool="dbt",
                kind="schema_tests",
                tests=tested,
            )


def _dbt_schema_tests(data: dict[str, Any]) -> int:
    count = 0
    for section in ("models", "sources", "seeds", "snapshots"):
        for node in data.get(section) or []:
            if not isinstance(node, dict):
                continue
            holders = [
                node,
                *[c for c in node.get("columns") or [] if isinstance(c, dict)],
                *[t for t in node.get("tables") or [] if isinstance(t, dict)],
            ]
            for table in node.get("tables") or []:
                if isinstance(table, dict):
                    holders += [c for c in table.get("columns") or [] if isinstance(c, dict)]
            for h in holders:
                tests = h.get("tests") or h.get("data_tests")
                if isinstance(tests, list):
                    count += len(tests)
    return count


#: keys only a Dataform project's settings hold (core 3: workflow_settings.yaml; core 2: dataform.json)
_DATAFORM_SETTINGS = frozenset({"dataformCoreVersion", "defaultProject", "defaultDataset", "defaultAssertionDataset",
                                "defaultDatabase", "defaultSchema", "assertionSchema"})
_JS_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_SQLX_CONFIG = re.compile(r"^\s*config\s*\{")
_SQLX_TYPE = re.compile(r"""\btype\s*:\s*["'](\w+)["']""")
_SQLX_BUILT_IN = re.compile(r"\bassertions\s*:\s*\{[^{}]*\b(uniqueKeys?|nonNull|rowConditions)\s*:")


def _sqlx_config(text: str) -> str | None:
    """The `config { ... }` block a .sqlx file opens with (comments left out), braces balanced."""
    body = _JS_COMMENT.sub("", text)
    m = _SQLX_CONFIG.match(body)
    if not m:
        return None
    depth, start = 0, m.end() - 1
    for i in range(start, len(body)):
        depth += {"{": 1, "}": -1}.get(body[i], 0)
        if depth == 0:
            return body[start : i + 1]
    return None


def _dataform(view: RepoView, emit: Emit) -> None:
    """Dataform (BigQuery SQL workflows): SQLX files, whose `config { ... }` block says what each
    action is. Tables, views and incremental tables are the pipeline, inside the warehouse; the
    assertions are data checks that fail the workflow when rows break them. Those are
    `type: "assertion"` actions, and built-in `assertions: {uniqueKey, nonNull, rowConditions}`
    on a table. The actions are grouped by project: the folder of a settings file holding
    Dataform's keys. A project whose settings file is generated and left out of git forms one
    group for the rest. A .sqlx file without a config block, or a settings file without
    Dataform's keys, is not an action."""
    roots: list[tuple[str, str | None]] = []
    for entry in view.named("workflow_settings.yaml", "dataform.json"):
        if VENDORED.search(entry.path):
            continue
        text = view.text(entry.path) or ""
        try:
            data = json.loads(text) if entry.path.endswith(".json") else load_yaml(text)
        except ValueError:
            continue
        if isinstance(data, dict) and _DATAFORM_SETTINGS & set(data):
            roots.append((dir_of(entry.path), entry.path))
    roots.sort(key=lambda r: -len(r[0]))  # the innermost project first
    groups: dict[str | None, tuple[dict[str, list[str]], list[tuple[bool, str]]]] = {}
    for path in view.paths:
        if not path.endswith(".sqlx") or VENDORED.search(path) or "/node_modules/" in "/" + path:
            continue
        config = _sqlx_config(view.text(path) or "")
        if config is None:
            continue
        settings = next((f for root, f in roots if under(path, root)), None)
        actions, assertions = groups.setdefault(settings, ({}, []))
        kind = _SQLX_TYPE.search(config)
        kind_name = kind.group(1) if kind else "table"
        actions.setdefault(kind_name, []).append(path)
        if kind_name == "assertion" or _SQLX_BUILT_IN.search(config):
            assertions.append((kind_name != "assertion", path))  # assertion actions first
    for settings, (actions, assertions) in groups.items():
        built = sorted(p for k in ("table", "incremental", "view") for p in actions.get(k, []))
        if built:
            emit("data_pipeline", built[0], 1, None, tool="dataform", actions=len(built), settings=settings)
            emit("warehouse", settings or built[0], 1, None, tool="bigquery", via="dataform")
        if assertions:
            emit("data_validation", min(assertions)[1], 1, None, tool="dataform", kind="assertions",
                 tests=len(assertions))


#: a `dvc.yaml`: (path, text, its `stages` mapping or None)
DvcFile = tuple[str, str, dict[str, Any] | None]


def _dvc_files(view: RepoView) -> list[DvcFile]:
    """Every `dvc.yaml`, read and parsed once (data versioning and pipelines both read them)."""
    out = []
    for entry in view.named("dvc.yaml"):
        text = view.text(entry.path) or ""
        data = load_yaml(text)
        stages = data.get("stages") if isinstance(data, dict) else None
        out.append((entry.path, text, stages if isinstance(stages, dict) else None))
    return out


def _dvc(view: RepoView, emit: Emit, dvc_files: list[DvcFile]) -> None:
    configs = [p for p in view.paths if p == ".dvc/config" or p.endswith("/.dvc/config")]
    remote = any(
        re.search(r"^\s*\[\s*['\"]?remote\s+\"", view.text(p) or "", re.M) for p in configs
    )
    tracked = [e.path for e in view.with_suffix(".dvc") if not VENDORED.search(e.path)]
    real = [p for p in tracked[:5] if re.search(r"^outs\s*:", view.text(p) or "", re.M)]
    if real:
        emit(
            "data_versioning",
            real[0],
            None,
            None,
            tool="dvc",
            kind="tracked_files",
            files=len(tracked),
            remote=remote,
        )
    if not remote:
        return
    for path, text, stages in dvc_files:
        with_outs = [n for n, s in (stages or {}).items() if isinstance(s, dict) and s.get("outs")]
        if with_outs:
            found = find_line(text, r"^\s*outs\s*:") or (1, "")
            emit(
                "data_versioning",
                path,
                found[0],
                found[1],
                tool="dvc",
                kind="pipeline_outs",
                stages=len(with_outs),
                remote=True,
            )


#: words of a DVC stage's name or command that say it moves data (`prepare`, `featurize`, ...)
_DATA_STAGE = re.compile(
    r"(?i)(?<![a-z])(data|dataset|ingest\w*|etl|extract\w*|prepar\w*|preprocess\w*|process\w*|"
    r"transform\w*|featur\w*|clean\w*|split\w*|download\w*|fetch\w*)(?![a-z])")


_FIXTURES = re.compile(r"(^|/)(tests?|fixtures?|testdata)/")
_SCRIPT = re.compile(r"([\w./-]+)\.(?:py|sh|R|r|ipynb)\b|-m\s+([\w.]+)")


def _script_stem(cmd: str) -> str:
    """The name of the script or module a stage's command runs (`python src/data/make_dataset.py
    data/raw` -> make_dataset): its data paths (`data/processed`) say nothing of what it does."""
    m = _SCRIPT.search(cmd)
    if m is None:
        return ""
    return re.split(r"[/.]", m.group(1) or m.group(2) or "")[-1]


def _dvc_pipeline(dvc_files: list[DvcFile], emit: Emit) -> None:
    """A DVC pipeline (`dvc.yaml`) with a stage that turns data into data: a command with its
    dependencies and outputs, named or run as a data step (`prepare`, `featurize`,
    `python src/data/make_dataset.py`). `dvc repro` runs the stages in order, rerunning only what
    changed: the data pipeline as code. A file with only training or evaluation stages, or stages
    without inputs and outputs, is not one."""
    for path, text, stages in dvc_files:
        if stages is None or VENDORED.search(path) or _FIXTURES.search(path):
            continue
        moving = []
        for name, stage in stages.items():
            if isinstance(stage, dict) and isinstance(stage.get("do"), dict):  # foreach/matrix
                stage = {**stage["do"], **{k: v for k, v in stage.items() if k != "do"}}
            if not isinstance(stage, dict) or not stage.get("cmd") or not stage.get("deps") or not stage.get("outs"):
                continue
            cmd = " ".join(map(str, stage["cmd"])) if isinstance(stage["cmd"], list) else str(stage["cmd"])
            if _DATA_STAGE.search(str(name)) or _DATA_STAGE.search(_script_stem(cmd)):
                moving.append(str(name))
        if moving:
            found = find_line(text, rf"^\s*{re.escape(moving[0])}\s*:") or (1, "")
            emit("data_pipeline", path, found[0], found[1], tool="dvc", stages=len(stages),
                 data_stages=moving[:5])


def _lineage_files(view: RepoView, emit: Emit) -> None:
    for entry in view.named("airflow.cfg", "spark-defaults.conf"):
        text = view.text(entry.path) or ""
        rx = (
            r"^[ \t]*\[openlineage\]"
            if entry.name == "airflow.cfg"
            else r"^[ \t]*spark\.extraListeners\s.*OpenLineageSparkListener"
        )
        found = find_line(text, rx)
        if found and (entry.name != "airflow.cfg" or _openlineage_configured(text)):
            emit("lineage", entry.path, found[0], found[1], tool="openlineage")


def _openlineage_configured(cfg: str) -> bool:
    """Whether airflow.cfg's `[openlineage]` section sets where events go (`transport` or
    `config_path` with a value) and does not disable them. The section Airflow writes into every
    generated airflow.cfg leaves both empty; a value on the next line is not theirs."""
    start = re.search(r"^[ \t]*\[openlineage\][ \t]*$", cfg, re.M)
    if start is None:
        return False
    end = re.search(r"^[ \t]*\[", cfg[start.end():], re.M)
    section = cfg[start.end(): start.end() + end.start() if end else len(cfg)]
    if re.search(r"^[ \t]*disabled[ \t]*=[ \t]*true\b", section, re.M | re.I):
        return False
    return re.search(r"^[ \t]*(transport|config_path)[ \t]*=[ \t]*\S", section, re.M) is not None


def _data_audit(view: RepoView, emit: Emit) -> None:
    for entry in view.entries.values():
        if VENDORED.search(entry.path):
            continue
        stem = entry.name.rsplit(".", 1)[0]
        kind = next((k for rx, k in _DATA_AUDIT_NAME if rx.search(stem)), None)
        # names first: a size is an object lookup, asked only of files whose name qualifies
        if (kind and _DOC_SUFFIX.search(entry.name)) or re.match(r"(^|.*/)docs?/data/[^/]+\.(md|rst)$", entry.path):
            if entry.size < 64:
                continue
        else:
            continue
        if kind and _DOC_SUFFIX.search(entry.name):
            emit("data_audit", entry.path, None, None, kind=kind)
        elif re.match(r"(^|.*/)docs?/data/[^/]+\.(md|rst)$", entry.path) and entry.size >= 200:
            emit("data_audit", entry.path, None, None, kind="data_docs")
