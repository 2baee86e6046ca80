"""Benchmark: the MLflow collector reading a PostgreSQL backend store directly, against raw SQL.

    python bench/mlflow_sql_scan.py [--runs 200000] [--experiments 200] [--models 2000]
                                    [--versions 2] [--repeat 3] [--keep | --db KEPT_DATABASE]

Creates a throw-away database on the machine's PostgreSQL (127.0.0.1:5432, user postgres, or
PGHOST/PGPORT/PGUSER), has MLflow create and migrate its schema, fills it with bulk server-side
SQL (runs with 2 params, 2 metrics, 3 tags, dataset inputs on half; registered models x versions
whose source runs are those runs; aliases), then in the same process times, in turn:
- baseline: one raw SQL `SELECT` per table of the rows the collector reads (experiments, runs in
  the look-back window with their tags, params, latest metrics and inputs, registered models,
  versions, aliases), fetched to Python with psycopg2;
- collector: `MlflowCollector.collect` on the `postgresql://` URI (read-only session).
One warm-up pair first (printed, not counted: both then read from a warm page cache; the
collector's first call also pays its imports), then `--repeat` pairs baseline, collector,
baseline, collector ... Prints each pair's times and ratio (collector / baseline, pair by pair,
so a drift in the machine's speed hits both sides of a pair alike), the min / median / max
ratio, the load average before and after, and the process's peak RSS. The database is dropped
unless --keep (or --db).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAY_MS = 86_400_000
HOST = os.environ.get("PGHOST", "127.0.0.1")
PORT = int(os.environ.get("PGPORT", "5432"))
USER = os.environ.get("PGUSER", "postgres")


def admin(db: str = "postgres"):
    import psycopg2

    con = psycopg2.connect(host=HOST, port=PORT, user=USER, dbname=db)
    con.autocommit = True
    return con


def fill(db: str, runs: int, experiments: int, models: int, versions: int) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(f"postgresql+psycopg2://{USER}@{HOST}:{PORT}/{db}", "/tmp/artifacts").engine.dispose()
    now = int(time.time() * 1000)
    con = admin(db)
    cur = con.cursor()
    cur.execute(f"""
        INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
        SELECT e, 'experiment-' || e, '/artifacts/' || e, 'active', {now}, {now} FROM generate_series(1, {experiments}) e;
        INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, dataset_source)
        SELECT 'ds-' || e, e, 'table-' || e, 'dg' || e, 's3', 's3://lake/table-' || e FROM generate_series(1, {experiments}) e;
        CREATE TEMP TABLE r AS SELECT i, md5('run' || i) AS rid, 1 + i % {experiments} AS exp,
            {now} - (1 + (i * 7919) % 170)::bigint * {DAY_MS} AS start FROM generate_series(0, {runs - 1}) i;
        INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time,
                          end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)
        SELECT rid, 'run-' || i, 'LOCAL', 'train.py', '', 'user' || (i % 40), 'FINISHED', start, start + 60000, '',
               'active', '/artifacts/' || rid, exp FROM r;
        INSERT INTO params (key, value, run_uuid) SELECT 'p' || k, (i * k)::text, rid FROM r, generate_series(0, 1) k;
        INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)
        SELECT 'm' || k, (i % 100) / 100.0, start, 0, false, rid FROM r, generate_series(0, 1) k;
        INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)
        SELECT 'm' || k, (i % 100) / 100.0, start, rid, 0, false FROM r, generate_series(0, 1) k;
        INSERT INTO tags (key, value, run_uuid)
        SELECT 'mlflow.user', 'user' || (i % 40), rid FROM r UNION ALL
        SELECT 'mlflow.runName', 'run-' || i, rid FROM r UNION ALL
        SELECT 'mlflow.source.git.commit', md5('c' || i) || 'abcdefgh', rid FROM r;
        INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id)
        SELECT md5('in' || i), 'DATASET', 'ds-' || exp, 'RUN', rid FROM r WHERE i % 2 = 0;
        INSERT INTO registered_models (name, creation_time, last_updated_time, description)
        SELECT 'model-' || m, {now}, {now}, CASE WHEN m % 2 = 1 THEN 'documented' END FROM generate_series(0, {models - 1}) m;
        INSERT INTO registered_model_tags (key, value, name)
        SELECT 'team', 'x', 'model-' || m FROM generate_series(0, {models - 1}) m WHERE m % 2 = 1;
        INSERT INTO model_versions (name, version, creation_time, last_updated_time, user_id, current_stage, source,
                                    run_id, status, storage_location)
        SELECT 'model-' || m, v, {now} - ({versions} - v)::bigint * 7 * {DAY_MS}, {now}, 'ci',
               CASE WHEN m % 5 = 0 AND v = {versions} THEN 'Production' ELSE 'None' END,
               'runs:/' || r.rid || '/model', r.rid, 'READY', '/artifacts/' || r.rid || '/model'
        FROM generate_series(0, {models - 1}) m CROSS JOIN generate_series(1, {versions}) v
        JOIN r ON r.i = (m * {versions} + v) % {runs};
        INSERT INTO registered_model_aliases (alias, version, name)
        SELECT 'champion', {versions}, 'model-' || m FROM generate_series(0, {models - 1}) m WHERE m % 3 = 0;
        ANALYZE;
    """)
    con.close()


def baseline(db: str, lookback_days: int) -> tuple[float, int]:
    """Raw SELECTs of the rows the collector reads, fetched to Python."""
    since = int(time.time() * 1000) - lookback_days * DAY_MS
    started = time.perf_counter()
    con = admin(db)
    cur = con.cursor()
    rows = 0
    in_window = f"(SELECT run_uuid FROM runs WHERE start_time >= {since} AND lifecycle_stage = 'active')"
    for sql in (
        "SELECT * FROM experiments",
        f"SELECT * FROM runs WHERE start_time >= {since} AND lifecycle_stage = 'active'",
        f"SELECT * FROM tags WHERE run_uuid IN {in_window}",
        f"SELECT * FROM params WHERE run_uuid IN {in_window}",
        f"SELECT * FROM latest_metrics WHERE run_uuid IN {in_window}",
        f"SELECT * FROM inputs WHERE destination_id IN {in_window}",
        "SELECT * FROM registered_models", "SELECT * FROM registered_model_tags",
        "SELECT * FROM model_versions", "SELECT * FROM registered_model_aliases",
    ):
        cur.execute(sql)
        rows += len(cur.fetchall())
    con.close()
    return time.perf_counter() - started, rows


def collect(db: str, lookback_days: int) -> tuple[float, dict, int]:
    from mlaudit.collectors.base import CollectContext
    from mlaudit.collectors.mlflow.collector import MlflowCollector
    from mlaudit.config import MlflowSettings, MlflowTarget

    collector = MlflowCollector(MlflowSettings(targets=[MlflowTarget(uri=f"postgresql://{USER}@{HOST}:{PORT}/{db}")]))
    started = time.perf_counter()
    result = collector.collect(CollectContext(lookback_days=lookback_days))
    return time.perf_counter() - started, result.targets[0], len(result.evidence)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(db: str, lookback_days: int, repeat: int) -> None:
    print(f"load average before: {load()}")
    ratios = []
    for i in range(repeat + 1):
        base_s, rows = baseline(db, lookback_days)
        took, target, evidence = collect(db, lookback_days)
        label = "warm-up (not counted)" if i == 0 else f"pair {i}"
        print(f"{label}: baseline raw SQL SELECT {base_s:.2f}s ({rows} rows); collector {took:.2f}s "
              f"(runs_in_window={target['runs_in_window']} registered_models={target['registered_models']} "
              f"model_versions={target['model_versions']} store calls={target['api_calls']} "
              f"evidence={evidence}); ratio {took / base_s:.2f}x")
        if i:
            ratios.append(took / base_s)
    print(f"ratio collector/baseline over {repeat} pairs: min {min(ratios):.2f}x, "
          f"median {statistics.median(ratios):.2f}x, max {max(ratios):.2f}x")
    print(f"load average after: {load()}; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200_000)
    ap.add_argument("--experiments", type=int, default=200)
    ap.add_argument("--models", type=int, default=2000)
    ap.add_argument("--versions", type=int, default=2)
    ap.add_argument("--lookback-days", type=int, default=180)
    ap.add_argument("--repeat", type=int, default=3, help="counted pairs after the warm-up (default 3)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--db", help="measure an existing (kept) bench database instead of filling one")
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.path.insert(0, str(ROOT))
    db = args.db or f"mlaudit_bench_{uuid.uuid4().hex[:8]}"
    if args.db:
        args.keep = True
    else:
        con = admin()
        con.cursor().execute(f"CREATE DATABASE {db}")
        con.close()
    try:
        if not args.db:
            t0 = time.perf_counter()
            fill(db, args.runs, args.experiments, args.models, args.versions)
            print(f"filled {db}: {args.runs} runs, {args.experiments} experiments, {args.models} models "
                  f"x {args.versions} versions in {time.perf_counter() - t0:.1f}s")
        measure(db, args.lookback_days, max(1, args.repeat))
    finally:
        if args.keep:
            print(f"kept {db}: drop it with psql -h {HOST} -U {USER} -c 'DROP DATABASE {db}'")
        else:
            con = admin()
            con.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            con.close()


if __name__ == "__main__":
    main()
