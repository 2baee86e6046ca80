"""Benchmark: the MLflow collector against a plain-REST baseline on a real tracking server.

    python bench/mlflow_scan.py [--experiments 50] [--runs 10000] [--models 200] [--versions 5]
                                [--workdir .bench/mlflow] [--uri http://127.0.0.1:PORT]

Fills (once, then reused) an sqlite tracking database with N runs over E experiments (params,
metrics, tags, dataset inputs for half of them) and M registered models × V versions whose source
runs are those runs, then starts `mlflow server` on it (one worker, loopback). The database is
filled with bulk SQL into a database MLflow created and migrated, because writing 10,000 runs
through the REST API takes longer than the benchmark itself. Then, in the same run:
- baseline: pages through the same objects with plain REST calls (requests + json, page size
  1000): experiments, runs in the look-back window, registered models, model versions;
- collector: `MlflowCollector.collect` in a subprocess, which reports its own collect() time,
  its MLflow import time and its peak RSS.
Prints both times, the ratio (collector / baseline; goal <= 1.3) and the peak memory (goal
<= 200 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAY_MS = 86_400_000


def fill(db: Path, experiments: int, runs: int, models: int, versions: int) -> None:
    """An MLflow-created database, then bulk rows in MLflow's own schema."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(f"sqlite:///{db}", str(db.parent / "artifacts")).engine.dispose()
    rnd = random.Random(7)
    now = int(time.time() * 1000)
    con = sqlite3.connect(db)
    cur = con.cursor()
    exp_ids = list(range(1, experiments + 1))
    cur.executemany(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
        "creation_time, last_update_time) VALUES (?, ?, ?, 'active', ?, ?)",
        [(e, f"experiment-{e:03d}", f"/artifacts/{e}", now, now) for e in exp_ids])
    datasets = {e: str(uuid.uuid4()) for e in exp_ids}
    cur.executemany(
        "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, "
        "dataset_source) VALUES (?, ?, ?, ?, 's3', ?)",
        [(d, e, f"table-{e}", f"dg{e:06d}", f"s3://lake/table-{e}") for e, d in datasets.items()])
    run_ids = []
    rows_runs, rows_params, rows_metrics, rows_latest, rows_tags, rows_inputs = [], [], [], [], [], []
    for i in range(runs):
        rid = uuid.uuid4().hex
        run_ids.append(rid)
        exp = exp_ids[i % experiments]
        start = now - rnd.randint(1, 170) * DAY_MS
        user = f"user{rnd.randint(1, 40)}"
        rows_runs.append((rid, f"run-{i}", "LOCAL", "train.py", "", user, "FINISHED", start,
                          start + 60_000, "", "active", f"/artifacts/{exp}/{rid}", exp))
        rows_params += [(f"p{k}", str(rnd.random()), rid) for k in range(5)]
        for k in range(3):
            v = rnd.random()
            rows_metrics.append((f"m{k}", v, start, rid, 0, 0))
            rows_latest.append((f"m{k}", v, start, 0, 0, rid))
        rows_tags += [("mlflow.user", user, rid), ("mlflow.runName", f"run-{i}", rid),
                      ("mlflow.source.git.commit", f"{rnd.getrandbits(160):040x}", rid)]
        if i % 2 == 0:
            rows_inputs.append((str(uuid.uuid4()), "DATASET", datasets[exp], "RUN", rid))
    cur.executemany("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                    "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                    "artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows_runs)
    cur.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", rows_params)
    cur.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                    "VALUES (?,?,?,?,?,?)", rows_metrics)
    cur.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?,?,?,?,?,?)", rows_latest)
    cur.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", rows_tags)
    cur.executemany("INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, "
                    "destination_id) VALUES (?,?,?,?,?)", rows_inputs)
    for m in range(models):
        name = f"model-{m:03d}"
        cur.execute("INSERT INTO registered_models (name, creation_time, last_updated_time, "
                    "description) VALUES (?,?,?,?)", (name, now, now, "documented" if m % 2 else None))
        if m % 2:
            cur.execute("INSERT INTO registered_model_tags (key, value, name) VALUES ('team', 'x', ?)",
                        (name,))
        for v in range(1, versions + 1):
            rid = run_ids[(m * versions + v) % len(run_ids)]
            cur.execute(
                "INSERT INTO model_versions (name, version, creation_time, last_updated_time, "
                "user_id, current_stage, source, run_id, status, storage_location) "
                "VALUES (?,?,?,?,?,?,?,?,'READY',?)",
                (name, v, now - (versions - v) * 7 * DAY_MS, now, "ci",
                 "Production" if (m % 5 == 0 and v == versions) else "None",
                 f"runs:/{rid}/model", rid, f"/artifacts/{rid}/model"))
        if m % 3 == 0:
            cur.execute("INSERT INTO registered_model_aliases (alias, version, name) VALUES "
                        "('champion', ?, ?)", (versions, name))
    con.commit()
    con.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
         f"sqlite:///{db}", "--default-artifact-root", str(db.parent / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=db.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return proc, uri
        except OSError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    raise SystemExit("mlflow server did not start")


def baseline(uri: str, lookback_days: int, page: int = 1000) -> dict[str, int]:
    """Plain REST paging over the same objects the collector reads."""
    import requests

    s = requests.Session()
    api = f"{uri}/api/2.0/mlflow"
    counts = {"experiments": 0, "runs": 0, "models": 0, "versions": 0, "calls": 0}

    def paged(method: str, path: str, key: str, body: dict) -> list:
        out, token = [], None
        while True:
            payload = {**body, **({"page_token": token} if token else {})}
            if method == "GET":
                r = s.get(f"{api}/{path}", params=payload, timeout=60)
            else:
                r = s.post(f"{api}/{path}", json=payload, timeout=60)
            r.raise_for_status()
            counts["calls"] += 1
            data = r.json()
            out.extend(data.get(key, []))
            token = data.get("next_page_token")
            if not token:
                return out

    exps = paged("POST", "experiments/search", "experiments", {"max_results": page, "view_type": "ALL"})
    counts["experiments"] = len(exps)
    since = int((time.time() - lookback_days * 86400) * 1000)
    ids = [e["experiment_id"] for e in exps]
    counts["runs"] = len(paged("POST", "runs/search", "runs", {
        "experiment_ids": ids, "filter": f"attributes.start_time >= {since}",
        "run_view_type": "ACTIVE_ONLY", "max_results": page}))
    counts["models"] = len(paged("GET", "registered-models/search", "registered_models",
                                 {"max_results": page}))
    counts["versions"] = len(paged("GET", "model-versions/search", "model_versions",
                                   {"max_results": page}))
    return counts


COLLECTOR_SCRIPT = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
t0 = time.perf_counter()
import mlflow  # noqa: F401 - timed separately from collect()
imported = time.perf_counter() - t0
from mlaudit.config import MlflowSettings, MlflowTarget
from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.mlflow.collector import MlflowCollector
t1 = time.perf_counter()
result = MlflowCollector(MlflowSettings(targets=[MlflowTarget(uri=sys.argv[1])], page_size=1000)
                         ).collect(CollectContext(lookback_days=180))
took = time.perf_counter() - t1
print(json.dumps({"collect_s": took, "import_s": imported, "target": result.targets[0],
                  "evidence": len(result.evidence),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_collector(uri: str) -> dict:
    out = subprocess.run([sys.executable, "-c", COLLECTOR_SCRIPT, uri, str(ROOT)], check=True,
                         capture_output=True, text=True, env={**os.environ,
                                                              "MLFLOW_DISABLE_TELEMETRY": "true"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=50)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--models", type=int, default=200)
    ap.add_argument("--versions", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "mlflow")
    ap.add_argument("--repeat", type=int, default=3, help="best of N for both sides")
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    shape = f"{args.experiments}x{args.runs}x{args.models}x{args.versions}"
    db = args.workdir / shape / "mlflow.db"
    if not db.exists():
        shutil.rmtree(db.parent, ignore_errors=True)
        db.parent.mkdir(parents=True)
        t = time.perf_counter()
        fill(db, args.experiments, args.runs, args.models, args.versions)
        print(f"filled {db} in {time.perf_counter() - t:.1f}s")
    proc, uri = start_server(db)
    try:
        baseline(uri, 180)  # warm the server's caches for both sides alike
        base_times, coll = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            counts = baseline(uri, 180)
            base_times.append(time.perf_counter() - t)
            coll.append(run_collector(uri))
        best = min(coll, key=lambda c: c["collect_s"])
        base = min(base_times)
        print(f"objects: {counts['experiments']} experiments, {counts['runs']} runs in window, "
              f"{counts['models']} registered models, {counts['versions']} versions")
        print(f"baseline (plain REST paging): {base:.2f}s in {counts['calls']} calls")
        print(f"collector collect():          {best['collect_s']:.2f}s in "
              f"{best['target']['api_calls']} calls ({best['evidence']} evidence items)")
        print(f"ratio collector/baseline:     {best['collect_s'] / base:.2f} (goal <= 1.3)")
        print(f"collector peak RSS:           {max(c['peak_rss_mb'] for c in coll):.0f} MB "
              "(goal <= 200 MB; includes importing MLflow, "
              f"{best['import_s']:.1f}s, not in the timing)")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
