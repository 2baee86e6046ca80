"""Run pages from a PostgreSQL/MySQL store with plain SELECTs instead of MLflow's ORM.

MLflow's `SqlAlchemyStore.search_runs` builds an ORM object per run, tag, param and metric and
pages with OFFSET: measured 48x the time of raw SELECTs of the same rows (bench/mlflow_sql_scan.py),
most of it in SQLAlchemy's instance state. The scan needs only a few facts per run, so the two
searches it makes (runs in the window; runs by id) are answered here: runs keyset-paged by
run_uuid, then their tags, params, latest metrics, dataset inputs and model outputs with one
`IN` query each (MLflow's schema indexes every one of them on run_uuid). Any other search goes
to MLflow's store. The same read-only session and statement timeout apply (same engine).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

_WINDOW = re.compile(r"^attributes\.start_time >= (\d+)$")
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

        window, ids = _WINDOW.match(filter_string or ""), _IDS.match(filter_string or "")
        if order_by or run_view_type != ViewType.ACTIVE_ONLY or not (window or ids):
            return self.store.search_runs(experiment_ids, filter_string, run_view_type,
                                          max_results, order_by, page_token)
        where = ["lifecycle_stage = 'active'", "experiment_id IN :exps", "run_uuid > :after"]
        params: dict[str, Any] = {"exps": [int(e) for e in experiment_ids],
                                  "after": page_token or "", "n": max_results}
        if window:
            where.append("start_time >= :since")
            params["since"] = int(window.group(1))
        else:
            where.append("run_uuid IN :ids")
            params["ids"] = re.findall(r"'([^']*)'", ids.group(1)) or [""]  # type: ignore[union-attr]
        return self._page(" AND ".join(where), params, max_results)

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
