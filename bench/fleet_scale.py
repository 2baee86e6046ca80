"""Fleet scale: a discovered 1,000-repository organisation audited through the Celery fan-out with
1 and 2 workers (issue 16): wall time, bytes fetched, peak memory per worker.

    python bench/fleet_scale.py [--repos 1000] [--files 20] [--shards 8] [--workers 1,2]
                                [--broker amqp://guest:guest@127.0.0.1:5672//]
                                [--backend redis://127.0.0.1:6379/13] [--out docs/scheduling.md]

The organisation (built once under /tmp, in the spirit of ../shared/perf/make_org.py: every
repository distinct content, a small team's commits, research / service / pipeline / library
archetypes with decoys, but ~20 small files each and no large binaries, so it builds in a minute)
is served as bare `file://` remotes (uploadpack.allowFilter) and listed by a loopback GitHub API
(tests/forgeapi.py: Link-header pagination, 100 per page) that PyGithub pages through. Each run:
W `mlaudit worker` processes (each its own HOME, so its own cold clone cache, as on separate
machines; `git.workers: 1`, so one worker is one process doing one shard at a time), then
`mlaudit scan --dispatch` with the same number of shards; the dispatcher's wall time, the bytes
each worker's clone cache received (the partial clones, `blob:limit=max_blob_bytes`), the peak
resident memory of each worker's process tree (sampled from /proc every 0.2 s), and the shards
each worker ran. A single-process `mlaudit scan` of the same config is the baseline. The report
of every run must hold all repositories. The table goes into the "Fleet scale" section of --out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing import Pool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
BIN = Path(sys.executable).parent
SECTION = "## Fleet scale"

NOUNS = ["customer", "order", "churn", "invoice", "session", "price", "basket", "fraud", "claim", "shipment",
         "user", "event", "inventory", "ticket", "review", "payment", "account", "campaign", "demand", "route"]
TEAMS = ["growth", "risk", "pricing", "search", "ads", "payments", "logistics", "platform", "insights", "fraud"]
PEOPLE = [("Ana Costa", "ana@example.com"), ("Ben Ito", "ben@example.com"), ("Chen Sato", "chen@example.com"),
          ("Dana Novak", "dana@example.com"), ("Eli Rossi", "eli@example.com"), ("Fatima Gupta", "fg@example.com")]


# -- the organisation ------------------------------------------------------------------------------
def _files(name: str, rnd: random.Random, count: int) -> dict[str, str]:
    """About `count` files of one repository; every file names the repository (distinct blobs)."""
    kind = rnd.choice(["research", "research", "service", "pipeline", "library"])
    tag = f"{name}-{rnd.getrandbits(32):08x}"
    noun = rnd.choice(NOUNS)
    files: dict[str, str] = {"README.md": f"# {name}\n\nOwned by the {rnd.choice(TEAMS)} team ({tag}).\n"}
    if kind == "research":
        files["train.py"] = (f"import mlflow\nimport sklearn.ensemble\n\n\ndef train_{noun}(x, y):\n"
                             f"    model = sklearn.ensemble.RandomForestClassifier(n_estimators={rnd.randint(10, 500)})\n"
                             f"    model.fit(x, y)\n    mlflow.log_metric('auc_{noun}', {rnd.random():.4f})\n"
                             "    return model\n")
        files["requirements.txt"] = f"mlflow=={rnd.choice(['2.14.1', '2.16.0'])}\nscikit-learn==1.5.{rnd.randint(0, 2)}\n"
    elif kind == "service":
        files["serve.py"] = (f"from fastapi import FastAPI\nimport mlflow.pyfunc\n\napp = FastAPI()\n"
                             f"model = mlflow.pyfunc.load_model('models:/{noun}-{tag}/Production')\n")
        files["Dockerfile"] = f"FROM python:3.12-slim\nCOPY . /app\nLABEL tag={tag}\n"
        files[".github/workflows/ci.yml"] = ("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
                                            f"      - run: pytest -q  # {tag}\n")
    elif kind == "pipeline":
        files[f"dags/{noun}_daily.py"] = (f"from airflow import DAG\nfrom airflow.operators.python import PythonOperator\n\n"
                                          f"dag = DAG('{noun}_{tag}', schedule='@daily')\n")
        files["great_expectations/great_expectations.yml"] = f"config_version: 3\nplugins_directory: plugins/  # {tag}\n"
    else:
        files["pyproject.toml"] = f"[project]\nname = '{name}'\nversion = '0.{rnd.randint(1, 99)}.0'\n"
        files["docs/usage.md"] = f"We might use mlflow some day ({tag}).\n"  # a README-style decoy
    i = 0
    while len(files) < count:
        fn = f"{rnd.choice(['load', 'parse', 'score', 'clean', 'merge'])}_{rnd.choice(NOUNS)}_{i}"
        files[f"src/{name.replace('-', '_')}/{fn}.py"] = (
            f"import json\n\n\ndef {fn}(rows):\n    # {tag}\n"
            f"    return [json.dumps(r) for r in rows if r.get('{rnd.choice(NOUNS)}', 0) > {rnd.randint(0, 99)}]\n")
        if len(files) < count and i % 4 == 0:
            files[f"tests/test_{fn}.py"] = f"def test_{fn}():\n    assert {rnd.randint(1, 9)}  # {tag}\n"
        i += 1
    return files


def _build_one(args: tuple[Path, str, int, int]) -> str:
    """One bare repository by `git fast-import`: 3-5 commits by 2-3 people over the last weeks."""
    path, name, files, seed = args
    rnd = random.Random(seed)
    content = _files(name, rnd, files)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "--git-dir", str(path), "config", "uploadpack.allowFilter", "true"], check=True)
    paths = sorted(content)
    commits = rnd.randint(3, 5)
    now = int(time.time())
    team = rnd.sample(PEOPLE, rnd.randint(2, 3))
    out = bytearray()
    mark = 0
    for c in range(commits):  # the files arrive over the commits
        chunk = paths[c * len(paths) // commits:(c + 1) * len(paths) // commits]
        ops = []
        for p in chunk:
            mark += 1
            data = content[p].encode()
            out += b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n"
            ops.append(f"M 100644 :{mark} {p}\n")
        who, email = team[c % len(team)]
        when = now - (commits - c) * 86400 * rnd.randint(2, 9)
        msg = f"{'add' if c else 'start'} {', '.join(chunk[:2])}\n".encode()
        out += f"commit refs/heads/main\nauthor {who} <{email}> {when} +0000\ncommitter {who} <{email}> {when} +0000\n".encode()
        out += b"data %d\n" % len(msg) + msg + "".join(ops).encode() + b"\n"
    subprocess.run(["git", "--git-dir", str(path), "fast-import", "--quiet"], input=bytes(out), check=True)
    return name


def build_org(repos: int, files: int) -> tuple[Path, list[str]]:
    org = Path(f"/tmp/fleet-org-{repos}x{files}")
    done = org / ".built.json"
    if done.is_file():
        return org, json.loads(done.read_text())
    shutil.rmtree(org, ignore_errors=True)
    org.mkdir(parents=True)
    names = [f"{TEAMS[i % len(TEAMS)]}-{NOUNS[(i * 7) % len(NOUNS)]}-{i:04d}" for i in range(repos)]
    started = time.perf_counter()
    with Pool(max(1, min(4, os.cpu_count() or 1))) as pool:
        pool.map(_build_one, [(org / f"{n}.git", n, files, i) for i, n in enumerate(names)], chunksize=16)
    done.write_text(json.dumps(names))
    print(f"built {repos} repositories x {files} files in {time.perf_counter() - started:.0f} s: {org}", flush=True)
    return org, names


# -- measuring ---------------------------------------------------------------------------------------
def _session_rss_kb(sid: int) -> int:
    """Resident memory of every process in session `sid` (a worker and what it started)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) != sid:  # field 6 of /proc/PID/stat: the session id
                continue
            for line in Path(entry.path, "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


class Sampler(threading.Thread):
    def __init__(self, sids: list[int]) -> None:
        super().__init__(daemon=True)
        self.sids, self.peak, self.stop = sids, dict.fromkeys(sids, 0), threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for sid in self.sids:
                self.peak[sid] = max(self.peak[sid], _session_rss_kb(sid))
            self.stop.wait(0.2)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and ".locks" not in p.parts)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"}
    return {**env, "HOME": str(home), "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "MLAUDIT_SCAN_CACHE": "off",
            "FLEET_BENCH_TOKEN": "bench-token"}


def _check_report(out: Path, repos: int) -> None:
    report = json.loads((out / "report.json").read_text())
    git_run = next(c for c in report["collectors"] if c["name"] == "git")
    assert len(git_run["targets"]) == repos and not git_run["errors"], (len(git_run["targets"]), git_run["errors"][:3])


def run_single(cfg: Path, work: Path, repos: int) -> dict[str, Any]:
    home = work / "home-single"
    home.mkdir()
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "mlaudit"), "-q", "scan", "-c", str(cfg), "-o", str(work / "single"),
                             "--format", "json"], env=_env(home), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = Sampler([proc.pid])
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    assert proc.returncode == 0, err.decode()
    _check_report(work / "single", repos)
    return {"label": "single process (no Celery)", "wall_s": wall,
            "bytes": [_dir_bytes(home / ".cache" / "mlaudit" / "git")], "peak_kb": [sampler.peak[proc.pid]],
            "shards": ["-"]}


def run_celery(cfg: Path, work: Path, repos: int, workers: int, shards: int, broker: str, backend: str) -> dict[str, Any]:
    queue = f"mlaudit-bench-{uuid.uuid4().hex[:8]}"
    procs, homes, logs = [], [], []
    try:
        for i in range(workers):
            home = work / f"home-{workers}w-{i}"
            home.mkdir()
            log = work / f"worker-{workers}w-{i}.log"
            homes.append(home)
            logs.append(log)
            procs.append(subprocess.Popen(
                [str(BIN / "mlaudit"), "worker", "--broker", broker, "--result-backend", backend, "--queue", queue,
                 "--name", f"bench{i}-{queue}@localhost"], env=_env(home), start_new_session=True,
                stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        for p, log in zip(procs, logs, strict=True):
            deadline = time.monotonic() + 120
            while "ready." not in log.read_text(errors="replace"):
                assert p.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.2)
        sampler = Sampler([p.pid for p in procs])
        sampler.start()
        out = work / f"dispatched-{workers}w"
        started = time.perf_counter()
        proc = subprocess.run([str(BIN / "mlaudit"), "-q", "scan", "-c", str(cfg), "--dispatch", broker,
                               "--result-backend", backend, "--queue", queue, "--shards", str(shards),
                               "-o", str(out), "--format", "json"], env=_env(work / "home-dispatcher"),
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        assert proc.returncode == 0, proc.stderr
        _check_report(out, repos)
        return {"label": f"Celery, {workers} worker{'s' if workers > 1 else ''}", "wall_s": wall,
                "bytes": [_dir_bytes(h / ".cache" / "mlaudit" / "git") for h in homes],
                "peak_kb": [sampler.peak[p.pid] for p in procs],
                "shards": [log.read_text(errors="replace").count(" succeeded in ") for log in logs]}
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        _forget_queue(queue, broker, backend)


def _forget_queue(queue: str, broker: str, backend: str) -> None:
    try:
        if broker.startswith("amqp"):
            from kombu import Connection

            with Connection(broker) as conn:
                conn.default_channel.queue_delete(queue)
        import redis

        r = redis.Redis.from_url(backend if backend.startswith("redis") else broker)
        for key in r.scan_iter(match=f"*{queue}*"):
            r.delete(key)
        r.close()
    except Exception as exc:  # noqa: BLE001 - cleaning up is best effort
        print(f"(could not remove the bench queue {queue}: {exc})", file=sys.stderr)


# -- the table -------------------------------------------------------------------------------------
def table(rows: list[dict[str, Any]], repos: int, files: int, shards: int, command: str) -> str:
    base = next((r["wall_s"] for r in rows if r["label"].startswith("Celery, 1 ")), rows[0]["wall_s"])
    lines = [f"{SECTION} (`bench/fleet_scale.py`)", "",
             f"{repos} repositories (~{files} files each, distinct content) discovered through a loopback GitHub API "
             f"(PyGithub paging), mirrored as partial clones from `file://` remotes into each worker's own cold "
             f"clone cache, audited as {shards} shards through Celery (RabbitMQ broker, Redis results, both on "
             "localhost); `git.workers: 1`, so a worker is one process auditing one shard at a time. Peak memory is "
             "the resident set of the worker's whole process tree, sampled every 0.2 s. Measured on this shared "
             "2-core machine (other jobs running), so the ratio is the figure to read, not the seconds.", "",
             f"Command: `{command}`", "",
             "| run | wall time | vs 1 worker | shards per worker | bytes fetched per worker | peak memory per worker |",
             "| --- | ---: | ---: | --- | --- | --- |"]
    for r in rows:
        mib = " / ".join(f"{b / 2**20:.1f} MiB" for b in r["bytes"])
        mem = " / ".join(f"{k / 1024:.0f} MiB" for k in r["peak_kb"])
        shards_per = " / ".join(str(s) for s in r["shards"])
        lines.append(f"| {r['label']} | {r['wall_s']:.1f} s | {r['wall_s'] / base:.2f} | {shards_per} | {mib} | {mem} |")
    return "\n".join(lines) + "\n"


def write_section(out: Path, text: str) -> None:
    doc = out.read_text() if out.exists() else ""
    pattern = re.compile(rf"^{re.escape(SECTION)}\b.*?(?=^## |\Z)", re.S | re.M)
    doc = pattern.sub(lambda _: text + "\n", doc) if pattern.search(doc) else doc.rstrip("\n") + "\n\n" + text
    out.write_text(doc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=int, default=1000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--no-single", action="store_true", help="skip the single-process baseline")
    ap.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    ap.add_argument("--backend", default="redis://127.0.0.1:6379/13")
    ap.add_argument("--out", type=Path, help="write the table into this file's Fleet scale section")
    args = ap.parse_args()
    from forgeapi import Forge, github_repo, serve_forge

    org, names = build_org(args.repos, args.files)
    forge = Forge(token="bench-token", github={"fleet": [
        github_repo("fleet", n, (org / f"{n}.git").as_uri(), rid=i + 1,
                    size=1 + int(hashlib.sha1(n.encode()).hexdigest()[:2], 16)) for i, n in enumerate(names)]})
    rows = []
    with serve_forge(forge), tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        cfg = work / "mlaudit.yaml"
        cfg.write_text("organisation: Fleet Bench\ngit:\n  workers: 1\n"
                       f"sources:\n  - github: fleet\n    api_url: {forge.base}\n    token_env: FLEET_BENCH_TOKEN\n")
        if not args.no_single:
            rows.append(run_single(cfg, work, args.repos))
            print(rows[-1], flush=True)
        for w in (int(x) for x in args.workers.split(",")):
            rows.append(run_celery(cfg, work, args.repos, w, args.shards, args.broker, args.backend))
            print(rows[-1], flush=True)
    command = "python bench/fleet_scale.py " + " ".join(sys.argv[1:])
    text = table(rows, args.repos, args.files, args.shards, command.strip())
    print(text)
    if args.out:
        write_section(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
