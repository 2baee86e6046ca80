"""Runs from a PostgreSQL/MySQL store with plain SELECTs instead of MLflow's ORM.

MLflow's `SqlAlchemyStore.search_runs` builds an ORM object per run, tag, param and metric and
pages with OFFSET: measured 48x the time of raw SELECTs of the same rows (bench/mlflow_sql_scan.py).
The scan needs a few facts per run and a few distinct names per experiment, so here:

- `SqlRunFold` folds the runs of the look-back window into the scan's per-experiment counters
  with four SELECTs of only the columns needed, streamed through a server-side cursor (no
  page of objects is ever held): one row per run with its user and commit tags and whether it
  has metrics, dataset inputs or a logged model (indexed lookups on run_uuid), then the
  distinct param names, metric names and datasets per experiment. The newest
  `max_runs_per_experiment` runs of each experiment are read (ROW_NUMBER over start time
  descending, then run id: the order MLflow's own search returns them in), as over REST.
- `SqlRunSearch` answers the scan's other search, registered versions' source runs by id
  (`attributes.run_id IN (...)`), with one `IN` query per table; any other search goes to
  MLflow's store.

The same engine, so the same read-only session and statement timeout, apply.
`tests/mlflow/test_mlflow_sql.py` asserts that the evidence equals the tracking server's.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

_IDS = re.compile(r"^attributes\.run_id IN \((.*)\)$")


@dataclass
class RunInfo:
    run_id: str
    experiment_id: str
    start_time: int | None
    status: str
    user_id: str | None


@dataclass
class RunData:
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Dataset:
    name: str
    digest: str


@dataclass
class DatasetInput:
    dataset: Dataset


@dataclass
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)


@dataclass
class RunOutputs:
    model_outputs: list[str] = field(default_factory=list)


@dataclass
class Run:
    """The attributes of MLflow's `Run` that the scan reads, nothing more."""

    info: RunInfo
    data: RunData
    inputs: RunInputs
    outputs: RunOutputs


class RunPage(list):
    token: str | None = None


class SqlRunSearch:
    """`search_runs` with MLflow's signature for the scan's two searches, else MLflow's own."""

    def __init__(self, engine: Any, store: Any) -> None:
        self.engine = engine
        self.store = store

    def __call__(self, experiment_ids: list[str], filter_string: str = "", run_view_type: Any = None,
                 max_results: int = 1000, order_by: list[str] | None = None,
                 page_token: str | None = None) -> Any:
        from mlflow.entities import ViewType

        ids = _IDS.match(filter_string or "")
        if order_by or run_view_type != ViewType.ACTIVE_ONLY or not ids:
            return self.store.search_runs(experiment_ids, filter_string, run_view_type,
                                          max_results, order_by, page_token)
        where = "lifecycle_stage = 'active' AND experiment_id IN :exps AND run_uuid > :after AND run_uuid IN :ids"
        params: dict[str, Any] = {"exps": [int(e) for e in experiment_ids], "after": page_token or "",
                                  "n": max_results, "ids": re.findall(r"'([^']*)'", ids.group(1)) or [""]}
        return self._page(where, params, max_results)

    def _page(self, where: str, params: dict[str, Any], limit: int) -> RunPage:
        import sqlalchemy

        query = sqlalchemy.text(
            "SELECT run_uuid, experiment_id, start_time, status, user_id FROM runs "
            f"WHERE {where} ORDER BY run_uuid LIMIT :n"
        ).bindparams(*(sqlalchemy.bindparam(k, expanding=True) for k in ("exps", "ids") if k in params))
        key = self.engine.dialect.identifier_preparer.quote("key")  # reserved in MySQL
        with self.engine.connect() as con:
            rows = con.execute(query, params).all()
            ids = [r[0] for r in rows]
            tags = _grouped(con, f"SELECT run_uuid, {key}, value FROM tags WHERE run_uuid IN :ids", ids)
            values = _grouped(con, f"SELECT run_uuid, {key}, value FROM params WHERE run_uuid IN :ids", ids)
            metrics = _grouped(con, f"SELECT run_uuid, {key}, value FROM latest_metrics "
                                    "WHERE run_uuid IN :ids", ids)
            datasets = _grouped(con, "SELECT i.destination_id, d.name, d.digest FROM inputs i "
                                     "JOIN datasets d ON i.source_id = d.dataset_uuid "
                                     "WHERE i.destination_type = 'RUN' AND i.destination_id IN :ids", ids)
            outputs = _grouped(con, "SELECT source_id, destination_id, 0 FROM inputs WHERE "
                                    "source_type = 'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT' "
                                    "AND source_id IN :ids", ids)
        page = RunPage(
            Run(RunInfo(rid, str(exp), start, str(status), user),
                RunData(dict(tags.get(rid, ())), dict(values.get(rid, ())), dict(metrics.get(rid, ()))),
                RunInputs([DatasetInput(Dataset(n, d)) for n, d in datasets.get(rid, ())]),
                RunOutputs([m for m, _ in outputs.get(rid, ())]))
            for rid, exp, start, status, user in rows
        )
        page.token = ids[-1] if len(ids) == limit else None
        return page


def _grouped(con: Any, sql: str, ids: list[str]) -> dict[str, list[tuple]]:
    import sqlalchemy

    out: dict[str, list[tuple]] = defaultdict(list)
    if not ids:
        return out
    query = sqlalchemy.text(sql).bindparams(sqlalchemy.bindparam("ids", expanding=True))
    for rid, a, b in con.execute(query, {"ids": ids}):
        out[rid].append((a, b))
    return out


class SqlRunFold:
    """The window's runs folded into a `TargetScan`'s counters, straight from the database."""

    #: rows fetched per round trip of the server-side cursor
    BATCH = 20_000

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def __call__(self, scan: Any) -> None:
        from mlaudit.collectors.mlflow.scan import GIT_COMMIT_TAG, LOG_MODEL_TAG, USER_TAG, user_id

        q = self.engine.dialect.identifier_preparer.quote
        key = q("key")  # reserved in MySQL
        # the experiments the store showed (its active workspace), active runs in the window
        window = "experiment_id IN :exps AND lifecycle_stage = 'active' AND start_time >= :since"
        params: dict[str, Any] = {"exps": [int(e) for e in scan.experiments], "since": scan.since_ms, "cap": scan.max_runs,
                                  "user": USER_TAG, "commit": GIT_COMMIT_TAG, "logmodel": LOG_MODEL_TAG}
        if scan.as_of:
            window += " AND start_time <= :until"
            params["until"] = scan.until_ms
        with self.engine.connect() as con:
            counts = list(_stream(con, f"SELECT experiment_id, COUNT(*) FROM runs WHERE {window} "
                                            "GROUP BY experiment_id", params))
            over = {str(e) for e, n in counts if n > scan.max_runs}
            if over:  # the newest max_runs of each experiment, in MLflow's search order
                runs = ("(SELECT run_uuid, experiment_id, start_time, status, user_id FROM ("
                        "SELECT run_uuid, experiment_id, start_time, status, user_id, ROW_NUMBER() OVER "
                        "(PARTITION BY experiment_id ORDER BY start_time DESC, run_uuid) AS n "
                        f"FROM runs WHERE {window}) ranked WHERE n <= :cap)")
            else:
                runs = f"(SELECT run_uuid, experiment_id, start_time, status, user_id FROM runs WHERE {window})"
            # one hash join per fact (a correlated EXISTS is one index lookup per run: PostgreSQL
            # 3.6 s of 4 s at 200,000 runs); every joined set has one row per run at most
            per_run = (
                "SELECT w.run_uuid, w.experiment_id, w.start_time, w.status, w.user_id, tu.value, tc.value, "
                "lm.run_uuid, mo.run_uuid, ds.run_uuid "
                f"FROM {runs} w "
                f"LEFT JOIN tags tu ON tu.run_uuid = w.run_uuid AND tu.{key} = :user "
                f"LEFT JOIN tags tc ON tc.run_uuid = w.run_uuid AND tc.{key} = :commit "
                f"LEFT JOIN (SELECT run_uuid FROM tags WHERE {key} = :logmodel UNION SELECT source_id "
                "FROM inputs WHERE source_type = 'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT') mo "
                "ON mo.run_uuid = w.run_uuid "
                "LEFT JOIN (SELECT run_uuid FROM latest_metrics GROUP BY run_uuid) lm ON lm.run_uuid = w.run_uuid "
                "LEFT JOIN (SELECT DISTINCT i.destination_id AS run_uuid FROM inputs i JOIN datasets d ON "
                "i.source_id = d.dataset_uuid WHERE i.destination_type = 'RUN') ds ON ds.run_uuid = w.run_uuid")
            stats_of: dict[str, Any] = {}
            hashed: dict[str, str] = {}  # user name -> salted hash (a few people, many runs)
            last = 0
            for rid, eid, start, status, user, tag_user, commit, metrics, model, data in _stream(con, per_run, params):
                eid = str(eid)
                stats = stats_of.get(eid)
                if stats is None:
                    stats = stats_of[eid] = scan.stats_for(eid)
                stats.runs += 1
                start = start or 0
                if (start, rid) > (stats.last_start, stats.last_run_id):
                    stats.last_start, stats.last_run_id = start, rid
                who = tag_user or user
                if who:
                    h = hashed.get(who)
                    if h is None:
                        h = hashed[who] = user_id(who)
                    stats.users.add(h)
                if commit:
                    stats.runs_with_commit += 1
                    stats.commits.add(commit)
                stats.runs_with_models += bool(model)
                stats.runs_with_metrics += bool(metrics)
                stats.runs_with_datasets += bool(data)
                if str(status).upper() == "FAILED":
                    stats.failed += 1
                last = max(last, start)
            scan.last_run_ms = max(scan.last_run_ms, last)
            scan.calls += 1
            for table, field_name in (("params", "params"), ("latest_metrics", "metrics")):
                sql = f"SELECT DISTINCT w.experiment_id, p.{key} FROM {runs} w JOIN {table} p ON p.run_uuid = w.run_uuid"
                for eid, name in _stream(con, sql, params):
                    getattr(stats_of[str(eid)], field_name).add(name)
                scan.calls += 1
            sql = (f"SELECT DISTINCT w.experiment_id, d.name, d.digest FROM {runs} w JOIN inputs i ON "
                   "i.destination_id = w.run_uuid AND i.destination_type = 'RUN' "
                   "JOIN datasets d ON i.source_id = d.dataset_uuid")
            for eid, name, digest in _stream(con, sql, params):
                stats_of[str(eid)].datasets.add(f"{name}:{digest}")
            scan.calls += 1
        scan.capped.update(over)


def _stream(con: Any, sql: str, params: dict[str, Any]) -> Any:
    """Rows of one SELECT through a server-side cursor, a batch at a time."""
    import sqlalchemy

    wanted = {k: v for k, v in params.items() if f":{k}" in sql}
    query = sqlalchemy.text(sql)
    if "exps" in wanted:
        query = query.bindparams(sqlalchemy.bindparam("exps", expanding=True))
    result = con.execution_options(stream_results=True, yield_per=SqlRunFold.BATCH).execute(query, wanted)
    for rows in result.partitions():
        yield from rows


class SqlRegistry:
    """The two registry searches the scan makes, answered with plain SELECTs: MLflow's
    `search_registered_models` / `search_model_versions` load ORM objects with their tags and
    aliases (3 s of a 200,000-run scan for 2,000 models). One page each, streamed; the active
    workspace and the hidden deleted versions as in MLflow's store."""

    def __init__(self, engine: Any, store: Any) -> None:
        self.engine = engine
        active = getattr(store, "_get_active_workspace", None)
        self.workspace = active() if callable(active) else None

    def _where(self, alias: str = "") -> tuple[str, dict[str, Any]]:
        if self.workspace is None:
            return "1 = 1", {}
        return f"{alias}workspace = :ws", {"ws": self.workspace}

    def search_registered_models(self, max_results: int = 1000, page_token: str | None = None,
                                 **_: Any) -> RunPage:
        from types import SimpleNamespace

        key = self.engine.dialect.identifier_preparer.quote("key")
        where, params = self._where()
        models: dict[str, Any] = {}
        with self.engine.connect() as con:
            for name, description, created in _stream(
                    con, f"SELECT name, description, creation_time FROM registered_models WHERE {where}", params):
                models[name] = SimpleNamespace(name=name, description=description, creation_timestamp=created,
                                               tags={}, aliases={})
            for name, k, value in _stream(con, f"SELECT name, {key}, value FROM registered_model_tags "
                                               f"WHERE {where}", params):
                if name in models:
                    models[name].tags[k] = value
            for name, alias, version in _stream(con, "SELECT name, alias, version FROM "
                                                     f"registered_model_aliases WHERE {where}", params):
                if name in models:
                    models[name].aliases[alias] = version
        return RunPage(models[n] for n in sorted(models))

    def search_model_versions(self, filter_string: str = "", max_results: int = 1000,
                              page_token: str | None = None, **_: Any) -> RunPage:
        from types import SimpleNamespace

        where, params = self._where()
        with self.engine.connect() as con:
            rows = _stream(con, "SELECT name, version, source, run_id, current_stage, creation_time FROM "
                                f"model_versions WHERE {where} AND current_stage <> 'Deleted_Internal'", params)
            return RunPage(SimpleNamespace(name=n, version=v, source=src, run_id=rid, model_id=None,
                                           current_stage=stage, creation_timestamp=created)
                           for n, v, src, rid, stage, created in rows)
