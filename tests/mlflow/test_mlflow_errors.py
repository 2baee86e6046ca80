"""Bad input: each target fails alone, with a message a user can act on, after bounded retries."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from httputil import answering
from mlflow_scenarios import mine, no_registry, scan, writing_to

from mlaudit.collectors.base import CollectorError
from mlaudit.collectors.mlflow.stores import sqlite_path
from mlaudit.config import Config, GitSettings, GitTarget, MlflowSettings, MlflowTarget
from mlaudit.engine import EXIT_PARTIAL, audit


def fake_server(status: int, delay: float = 0.0) -> Any:
    """A loopback HTTP server answering every request with `status` (a proxy or auth layer)."""
    return answering(status, b"You are not authenticated. token=abcdefabcdefabcdef1234", delay=delay)


@pytest.fixture
def few_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user may tune MLflow's retries; the collector keeps what they chose."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")


def fails_with(target, **settings) -> str:
    with pytest.raises(CollectorError) as info:
        scan(target, **settings)
    return str(info.value)


def test_unreachable_server(few_retries) -> None:
    from conftest import free_port

    message = fails_with(f"http://127.0.0.1:{free_port()}")
    assert "unreachable" in message and "bounded retries" in message


def test_unauthorised_and_forbidden(few_retries) -> None:
    with fake_server(401) as uri:
        message = fails_with(uri.replace("http://", "http://auditor:pa55word@"))
    assert "authentication failed (HTTP 401)" in message and "MLFLOW_TRACKING_TOKEN" in message
    assert "pa55word" not in message and "abcdefabcdefabcdef1234" not in message
    with fake_server(403) as uri:
        assert "permission denied (HTTP 403)" in fails_with(uri)


def test_server_errors_are_retried_a_bounded_number_of_times() -> None:
    started = time.monotonic()
    with fake_server(503) as uri:
        message = fails_with(uri)  # the collector's default retries
    assert "the server failed (HTTP 503) after bounded retries" in message
    assert time.monotonic() - started < 20


def test_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with fake_server(200, delay=3) as uri:
        message = fails_with(uri, timeout_s=1)
    assert "timed out" in message


def test_missing_database_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "mlflow.db"
    message = fails_with(f"sqlite:///{db}")
    assert f"database not found: {db}" in message
    assert not db.parent.exists()


def test_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "mlflow.db"
    junk.write_text("not sqlite at all")
    assert "file is not a database" in fails_with(f"sqlite:///{junk}")
    empty = tmp_path / "other.db"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    assert "not an MLflow database" in fails_with(f"sqlite:///{empty}")


def test_newer_schema_names_the_mlflow_needed(new_store) -> None:
    import mlflow

    uri = new_store("sqlite")
    con = sqlite3.connect(sqlite_path(uri))
    con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    con.commit()
    con.close()
    message = fails_with(uri)
    assert f"written by a newer MLflow than {mlflow.__version__}" in message
    assert f"mlflow>{mlflow.__version__}" in message


def test_missing_and_corrupt_file_stores(tmp_path: Path, new_store, prefix) -> None:
    assert "file store not found" in fails_with((tmp_path / "mlruns").as_uri())
    (tmp_path / "random").mkdir()
    (tmp_path / "random" / "notes.txt").write_text("hello")
    assert "not an MLflow file store" in fails_with((tmp_path / "random").as_uri())
    uri = new_store("file")
    with writing_to(uri) as client:
        w = no_registry(client, prefix)
        kept = client.create_run(client.create_experiment(f"{prefix}kept")).info.run_id
        client.set_terminated(kept)
    root = Path(uri.removeprefix("file://"))
    exp_dir = root / w.experiments[f"{prefix}exploration"]
    (root / "0" / "meta.yaml").write_text(": : [ not yaml")
    (exp_dir / "meta.yaml").write_text("experiment_id: [unclosed")
    # each malformed meta.yaml skips its experiment, named in a warning; the rest is read
    result = scan(uri)
    assert not result.errors and [t["name"] for t in result.targets] == [uri]
    warned = "\n".join(result.warnings)
    assert f"experiment 0 skipped: unreadable {root / '0' / 'meta.yaml'}" in warned
    assert f"unreadable {exp_dir / 'meta.yaml'}" in warned
    read = {e.attributes.get("experiment") for e in result.evidence if e.signal == "experiment_runs"}
    assert read == {f"{prefix}kept"}


def test_one_bad_target_does_not_stop_the_others(new_store, prefix, few_retries) -> None:
    from conftest import free_port

    good = new_store("sqlite")
    with writing_to(good) as client:
        no_registry(client, prefix)
    result = scan(MlflowTarget(uri=f"http://127.0.0.1:{free_port()}", name="down"),
                  MlflowTarget(uri=good, name="local"))
    assert [e.target for e in result.errors] == ["down"]
    assert [t["name"] for t in result.targets] == ["local"]
    assert mine(result, prefix, "experiment_runs")


def test_engine_keeps_other_collectors_and_exits_3(example_org: Path, tmp_path: Path) -> None:
    cfg = Config(git=GitSettings(targets=[GitTarget(path=example_org)]),
                 mlflow=MlflowSettings(targets=[MlflowTarget(uri=f"sqlite:///{tmp_path}/none.db")]))
    result = audit(cfg, scan_path=example_org)
    assert result.exit_code == EXIT_PARTIAL
    runs = {c["name"]: c for c in result.report["collectors"]}
    assert runs["mlflow"]["status"] == "failed" and "database not found" in runs["mlflow"]["errors"][0]["message"]
    assert runs["git"]["status"] == "ok" and runs["git"]["evidence_count"] > 0
    outcome = {f["check_id"]: f["outcome"] for f in result.report["findings"]}
    # the registry could not be read: never a fail; the example's registration code still counts
    assert outcome["L3.model-registry"] == "pass"
    assert outcome["L4.per-version-performance"] == "unknown"  # only MLflow can decide it
    json.dumps(result.report)
