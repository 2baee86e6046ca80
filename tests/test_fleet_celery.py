"""Celery fan-out with real workers: two `mlaudit worker` processes on this machine's Redis (and
RabbitMQ), `mlaudit scan --dispatch`; the dispatched report equals the single-process one, a
killed worker's task is delivered again, a task that keeps failing leaves its repositories as
errors and the run exits 3. Each test uses its own queue name and removes its keys and queues."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitutil import git, make_repo
from test_cli import MLAUDIT, run
from test_fleet_shards import assert_same_report

from mlaudit.collectors.discovery.collector import shard_of
from mlaudit.config import load_config
from mlaudit.engine import audit

REDIS = "redis://127.0.0.1:6379/12"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def _reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not _reachable(6379), reason="no Redis on 127.0.0.1:6379")
needs_rabbit = pytest.mark.skipif(not _reachable(5672), reason="no RabbitMQ on 127.0.0.1:5672")


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> Iterator[str]:
    """A queue of this test's own; afterwards its Redis keys / RabbitMQ queue are removed."""
    name = f"mlaudit-test-{uuid.uuid4().hex[:10]}"
    yield name
    if _reachable(6379):
        import redis

        r = redis.Redis.from_url(REDIS)
        for key in r.scan_iter(match=f"*{name}*"):
            r.delete(key)
        for key in r.scan_iter(match="_kombu.binding*"):  # kombu's shared index: only our entries
            members = r.smembers(key) if r.type(key) == b"set" else r.zrange(key, 0, -1)
            ours = [m for m in members if name.encode() in m]
            if ours:
                (r.srem if r.type(key) == b"set" else r.zrem)(key, *ours)
        r.close()
    if _reachable(5672):
        from kombu import Connection

        with Connection(AMQP) as conn:
            try:
                conn.default_channel.queue_delete(name)
            except Exception:  # noqa: BLE001 - never declared there
                pass


class Workers:
    def __init__(self, broker: str, queue: str, logs: Path, env: dict[str, str] | None = None) -> None:
        self.broker, self.queue, self.logs, self.env = broker, queue, logs, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *extra: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        env = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"} | (self.env or {})
        self.procs[name] = subprocess.Popen(
            [MLAUDIT, "worker", "--broker", self.broker, "--queue", self.queue,
             "--name", f"{name}-{self.queue}@localhost", *extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + 90
        while "ready." not in self.log(name):
            assert self.procs[name].poll() is None, self.log(name)
            assert time.monotonic() < deadline, self.log(name)
            time.sleep(0.2)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)  # the worker and the processes it started
        self.procs[name].wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)


@pytest.fixture
def workers(tmp_path: Path, queue: str) -> Iterator[Any]:
    started: list[Workers] = []

    def make(broker: str, env: dict[str, str] | None = None) -> Workers:
        w = Workers(broker, queue, tmp_path, env)
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 real repositories (four kinds, cloned locally so building them stays quick)."""
    root = tmp_path_factory.mktemp("fleet")
    kinds = [
        {"train.py": "import mlflow\nmlflow.log_metric('auc', 0.9)\n", "requirements.txt": "mlflow==2.16\n"},
        {"pipeline.py": "import sklearn\n", "tests/test_p.py": "def test_p():\n    assert True\n"},
        {"README.md": "# service\n", "Dockerfile": "FROM python:3.12-slim\n"},
        {"serve.py": "from fastapi import FastAPI\napp = FastAPI()\n", "dvc.yaml": "stages: {}\n"},
    ]
    templates = [make_repo(root / "templates" / f"t{i}", files) for i, files in enumerate(kinds)]
    for i in range(200):
        subprocess.run(["git", "clone", "-q", "--local", str(templates[i % 4]), str(root / "repos" / f"r{i:03d}")],
                       check=True, capture_output=True)
    return root


def _config(where: Path, targets: str, extra: str = "") -> Path:
    cfg = where / "mlaudit.yaml"
    cfg.write_text(f"organisation: Fleet Corp\ngit:\n  targets: [{targets}]\n  cache_dir: {where / 'cache'}\n{extra}")
    return cfg


def _assert_all_200_as_single(single: dict[str, Any], out: Path) -> None:
    """Every repository once (none lost, none twice), the report as the single run's."""
    report = json.loads((out / "report.json").read_text())
    assert len(next(c for c in report["collectors"] if c["name"] == "git")["targets"]) == 200
    # (the CLI also writes evidence.json.gz and names it; an in-process audit writes no files)
    assert_same_report({k: v for k, v in single.items() if k not in ("run", "evidence_file")},
                       {k: v for k, v in report.items() if k not in ("run", "evidence_file")})


@needs_redis
def test_two_redis_workers_on_200_repositories_equal_the_single_run(fleet: Path, tmp_path: Path, queue: str,
                                                                      workers: Any) -> None:
    cfg = _config(tmp_path, str(fleet / "repos"))
    single = audit(load_config(cfg))
    w = workers(REDIS)
    w.start("w1")
    w.start("w2")
    out = run("scan", "-c", str(cfg), "--dispatch", REDIS, "--queue", queue, "--shards", "6",
              "-o", str(tmp_path / "dispatched"), "--format", "json")
    assert out.returncode == 0, out.stderr
    _assert_all_200_as_single(single.report, tmp_path / "dispatched")
    # both workers took shards
    assert "succeeded" in w.log("w1") and "succeeded" in w.log("w2")


@needs_redis
def test_a_killed_worker_s_shard_is_delivered_again(fleet: Path, tmp_path: Path, queue: str,
                                                     workers: Any) -> None:
    cfg = _config(tmp_path, str(fleet / "repos"))
    single = audit(load_config(cfg))
    w = workers(REDIS)
    w.start("doomed", "--visibility-timeout", "4")
    w.start("survivor", "--visibility-timeout", "4")
    env = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"}
    dispatcher = subprocess.Popen(
        [MLAUDIT, "scan", "-c", str(cfg), "--dispatch", REDIS, "--queue", queue, "--shards", "8",
         "-o", str(tmp_path / "out"), "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while "received" not in w.log("doomed"):  # it holds a shard, unacknowledged
        assert time.monotonic() < deadline and dispatcher.poll() is None, w.log("doomed")
        time.sleep(0.05)
    w.kill("doomed")
    _, err = dispatcher.communicate(timeout=300)
    assert dispatcher.returncode == 0, err.decode()
    _assert_all_200_as_single(single.report, tmp_path / "out")
    assert w.log("survivor").count("succeeded") >= 1


@needs_rabbit
def test_rabbitmq_broker_and_a_shard_that_keeps_failing(tmp_path: Path, queue: str, workers: Any) -> None:
    """The shard holding the remote repository cannot mirror it (the cache folder is a file):
    retried, then its repositories are errors; the other shards' are audited; exit 3."""
    local = [make_repo(tmp_path / "repos" / f"svc-{i}", {"train.py": "import mlflow\n"}) for i in range(6)]
    remote = make_repo(tmp_path / "remote" / "churn", {"train.py": "import torch\n"})
    git(remote, "config", "uploadpack.allowFilter", "true")
    (tmp_path / "cache").write_text("not a folder")
    cfg = _config(tmp_path, ", ".join([str(p) for p in local] + [remote.as_uri()]))
    shards = 3
    doomed = shard_of("churn", shards)
    w = workers(AMQP)
    w.start("w1")
    w.start("w2")
    out = run("scan", "-c", str(cfg), "--dispatch", AMQP, "--queue", queue, "--shards", str(shards),
              "-o", str(tmp_path / "out"), "--format", "json")
    assert out.returncode == 3, out.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    git_run = next(c for c in report["collectors"] if c["name"] == "git")
    lost = {f"svc-{i}" for i in range(6) if shard_of(f"svc-{i}", shards) == doomed} | {"churn"}
    assert git_run["status"] == "partial"
    assert {e["target"] for e in git_run["errors"]} == lost
    assert all(f"shard {doomed}/{shards} failed" in e["message"] for e in git_run["errors"])
    assert {t["name"] for t in git_run["targets"]} == {f"svc-{i}" for i in range(6)} - lost
    logs = w.log("w1") + w.log("w2")
    assert logs.count("retry: Retry in") == 2  # tried three times in all, then given up


def test_unreachable_or_wrong_brokers_are_one_line(tmp_path: Path) -> None:
    make_repo(tmp_path / "repos" / "svc", {"train.py": "import mlflow\n"})
    cfg = _config(tmp_path, str(tmp_path / "repos"))
    cases = [("redis://127.0.0.1:1/0", "cannot reach the broker redis://127.0.0.1:1/0"),
             ("http://broker.example", "unsupported broker URL")]
    if _reachable(5672):
        cases.append(("amqp://guest:wrong-pw@127.0.0.1:5672//", "cannot reach the broker amqp://guest:***@"))
    for url, said in cases:
        out = run("scan", "-c", str(cfg), "--dispatch", url, "-o", str(tmp_path / "out"))
        assert out.returncode == 2 and said in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and "wrong-pw" not in out.stderr
        assert not (tmp_path / "out").exists()
    worker = run("worker", "--broker", "http://broker.example")
    assert worker.returncode == 2 and "unsupported broker URL" in worker.stderr
