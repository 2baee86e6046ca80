"""Fixtures for the MLflow collector: a real tracking server, sqlite and file stores.

The server is a real `mlflow server` (sqlite backend, one worker, a free loopback port) started
once per test session (per xdist worker), or the one named by MLAUDIT_TEST_MLFLOW_URI (CI starts
it). Scenario tests write uniquely prefixed experiments and models and assert only on those, so
a shared server holding other data is fine. Local stores are fresh per test: sqlite databases are
copies of one empty, migrated template (migrating costs seconds; copying does not).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


ENV_SERVER = "MLAUDIT_TEST_MLFLOW_URI"
BACKENDS = ("sqlite", "file", "server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(uri: str, timeout: float = 90.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"mlflow server at {uri} not healthy after {timeout:.0f}s")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory, template_db: Path) -> Iterator[str]:
    """The URI of a running tracking server (reused from CI, or started here)."""
    given = os.environ.get(ENV_SERVER)
    if given:
        wait_healthy(given.rstrip("/"), timeout=30)
        yield given.rstrip("/")
        return
    home = tmp_path_factory.mktemp("mlflow-server")
    shutil.copyfile(template_db, home / "server.db")  # already migrated: the server starts sooner
    with running_server(f"sqlite:///{home / 'server.db'}", home) as uri:
        yield uri


@contextmanager
def running_server(backend_uri: str, home: Path, timeout: float = 90.0) -> Iterator[str]:
    """A real `mlflow server` on `backend_uri` at a free loopback port, stopped on exit."""
    port = free_port()
    log = (home / "server.log").open("wb")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server",  # this interpreter (its drivers), not a script's
         "--backend-store-uri", backend_uri,
         "--default-artifact-root", str(home / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=home, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(uri, timeout=timeout, proc=proc)
        yield uri
    finally:
        # the server runs in its own process group (uvicorn may fork a worker): end that group
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow database at the installed MLflow's schema head."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{path}", str(path.parent / "artifacts"))
    store.engine.dispose()
    return path


@pytest.fixture
def new_store(tmp_path: Path, template_db: Path, mlflow_server_lazy) -> Callable[[str], str]:
    """`new_store(kind)` -> the URI of a fresh store of that kind (the shared server for
    'server')."""
    counter = iter(range(1000))

    def make(kind: str) -> str:
        n = next(counter)
        if kind == "sqlite":
            dest = tmp_path / f"store{n}" / "mlflow.db"
            dest.parent.mkdir(parents=True)
            shutil.copyfile(template_db, dest)
            return f"sqlite:///{dest}"
        if kind == "file":
            return (tmp_path / f"store{n}" / "mlruns").as_uri()
        if kind == "server":
            return mlflow_server_lazy()
        raise ValueError(kind)

    return make


@pytest.fixture
def mlflow_server_lazy(request: pytest.FixtureRequest) -> Callable[[], str]:
    """The server fixture, started only by tests that use it."""
    return lambda: request.getfixturevalue("mlflow_server")


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}-"
