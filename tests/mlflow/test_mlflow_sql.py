"""PostgreSQL and MariaDB backend stores, read directly: the same evidence as through a real
`mlflow server` on that database, with a SELECT-only role, and nothing written.

Per database kind (and per xdist worker) one throw-away database is filled through a real
tracking server with MLflow's client, audited through that server, then the server is stopped;
the tests audit the database itself. Databases and roles have unique names and are dropped.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqldb
from conftest import free_port, running_server
from mlflow.entities import Metric, RunTag, ViewType
from mlflow_scenarios import every_scenario, mine, scan, writing_to

from mlaudit.collectors.base import CollectorError
from mlaudit.collectors.mlflow.scan import iso_ms
from mlaudit.collectors.mlflow.sqlstore import open_sql
from mlaudit.collectors.mlflow.stores import schema_revisions
from mlaudit.config import Config, MlflowSettings, MlflowTarget
from mlaudit.engine import EXIT_PARTIAL, audit

KINDS = ("postgresql", "mysql")


@dataclass
class Store:
    kind: str
    db: str
    prefix: str
    server_uri: str
    server_evidence: list[dict]
    server_target: dict


def as_dicts(result) -> list[dict]:
    """Every evidence item whole, except when it was observed."""
    items = [json.loads(json.dumps(i.to_dict(), default=str)) for i in result.evidence]
    for item in items:
        assert item.pop("observed_at")
    return sorted(items, key=lambda d: (d["signal"], d["locator"]))


@pytest.fixture(scope="module", params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    kind = request.param
    sqldb.require(kind)
    prefix = f"s{uuid.uuid4().hex[:6]}-"
    home = tmp_path_factory.mktemp(f"server-{kind}")
    with sqldb.database(kind) as db:
        with running_server(sqldb.uri(kind, db, driver=True), home, timeout=180) as server:
            with writing_to(server) as client:
                every_scenario(client, prefix)
            result = scan(MlflowTarget(uri=server, name="store"))
        sqldb.wait_disconnected(kind, db)
        yield Store(kind, db, prefix, server, as_dicts(result), result.targets[0])


def test_select_only_role_reads_what_the_server_serves_and_writes_nothing(store, monkeypatch) -> None:
    kind, db = store.kind, store.db
    role, password = sqldb.unique("auditor"), f"pw-{uuid.uuid4().hex}"
    statements = sqldb.run_doc_sql(kind, db, role, password)
    assert any("GRANT SELECT" in s for s in statements)
    try:
        monkeypatch.setenv("AUDIT_DB_PASSWORD", password)
        before = sqldb.state(kind, db)
        result = scan(MlflowTarget(uri=sqldb.uri(kind, db, user=role), name="store",
                                   ui_url=store.server_uri, password_env="AUDIT_DB_PASSWORD"))
        sqldb.wait_disconnected(kind, db)
        after = sqldb.state(kind, db)
    finally:
        sqldb.drop_role(kind, db, role)
    direct = as_dicts(result)
    print(f"\n{kind}: evidence items server={len(store.server_evidence)} direct={len(direct)}; "
          f"state keys {len(before)}; "
          + (f"n_tup_ins/upd/del before={sqldb.write_totals(before)} after={sqldb.write_totals(after)}"
             if kind == "postgresql" else f"checksums equal={before == after}"))
    assert len(direct) >= 15 and len(mine(result, store.prefix, "registered_model")) == 9
    for server_item, direct_item in zip(store.server_evidence, direct, strict=True):
        assert direct_item == server_item
    assert result.targets[0]["kind"] == kind and result.targets[0]["schema_revision"] == schema_revisions()[0]
    for key in ("experiments", "runs_in_window", "registered_models", "model_versions", "production_models"):
        assert result.targets[0][key] == store.server_target[key], key
    assert after == before
    if kind == "postgresql":
        assert sum(sqldb.write_totals(before)) > 0  # the counters do count (the server's writes)
    assert password not in json.dumps([i.to_dict() for i in result.evidence] + result.targets, default=str)


def test_the_session_refuses_writes(store) -> None:
    """The connection mlaudit opens is read-only at the database: a write MLflow might attempt
    (a default experiment, a migration) fails there."""
    import sqlalchemy

    source = open_sql(MlflowTarget(uri=sqldb.uri(store.kind, store.db)), 5)
    engine = source.tracking.engine
    try:
        with engine.connect() as con, pytest.raises(sqlalchemy.exc.DBAPIError) as info:
            con.execute(sqlalchemy.text("UPDATE experiments SET name = name"))
    finally:
        engine.dispose()
    assert "read" in str(info.value).lower() and "only" in str(info.value).lower()


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_or_older_schema_is_refused_untouched(kind) -> None:
    import mlflow

    sqldb.require(kind)
    head, known = schema_revisions()
    older = next(r for r in known if r != head)
    with sqldb.database(kind) as db:
        sqldb.execute(kind, db, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)",
                      "INSERT INTO alembic_version VALUES ('ffffffffffff')")
        with pytest.raises(CollectorError) as info:
            scan(sqldb.uri(kind, db))
        message = str(info.value)
        assert f"newer MLflow than {mlflow.__version__}" in message
        assert "ffffffffffff" in message and head in message
        sqldb.execute(kind, db, f"UPDATE alembic_version SET version_num = '{older}'")
        with pytest.raises(CollectorError) as info:
            scan(sqldb.uri(kind, db))
        message = str(info.value)
        assert "older MLflow" in message and older in message and head in message
        assert "never migrates" in message
        assert sqldb.tables(kind, db) == ["alembic_version"]
        assert sqldb.execute(kind, db, "SELECT version_num FROM alembic_version") == [(older,)]
        sqldb.execute(kind, db, "DROP TABLE alembic_version", "CREATE TABLE other (x INT)")
        with pytest.raises(CollectorError) as info:
            scan(sqldb.uri(kind, db))
        assert "not an MLflow database (no alembic_version table)" in str(info.value)
        assert sqldb.tables(kind, db) == ["other"]


def engine_run(target: MlflowTarget, tmp_path: Path, **settings):
    result = audit(Config(mlflow=MlflowSettings(targets=[target], **settings)), scan_path=tmp_path)
    runs = {c["name"]: c for c in result.report["collectors"]}
    outcomes = {f["check_id"]: f["outcome"] for f in result.report["findings"]}
    return result, runs["mlflow"], outcomes


@pytest.mark.parametrize("kind", KINDS)
def test_down_and_denied_databases_make_mlflow_checks_unknown(kind, tmp_path) -> None:
    sqldb.require(kind)
    port = free_port()
    down = MlflowTarget(uri=f"{kind}://auditor@127.0.0.1:{port}/mlflow", name="down")
    result, run, outcomes = engine_run(down, tmp_path)
    assert result.exit_code == EXIT_PARTIAL and run["status"] == "failed"
    message = run["errors"][0]["message"]
    assert message.endswith(")") and (f"down ({'PostgreSQL' if kind == 'postgresql' else 'MySQL/MariaDB'} "
                              f"127.0.0.1:{port}/mlflow): the database is unreachable (") in message
    assert "\n" not in message and "Traceback" not in message
    assert outcomes["L3.model-registry"] == "unknown"
    with sqldb.database(kind) as db:
        sqldb.execute(kind, db, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        role = sqldb.unique("nogrant")
        if kind == "postgresql":
            sqldb.execute(kind, db, f"CREATE ROLE {role} LOGIN", "REVOKE ALL ON alembic_version FROM PUBLIC")
        else:
            sqldb.execute(kind, None, f"CREATE USER '{role}'@'%' IDENTIFIED BY 'x-{role}'")
        try:
            result, run, outcomes = engine_run(
                MlflowTarget(uri=sqldb.uri(kind, db, user=role), name="denied"), tmp_path)
        finally:
            sqldb.drop_role(kind, db, role)
    message = run["errors"][0]["message"]
    assert result.exit_code == EXIT_PARTIAL and "access denied (" in message, message
    assert "least-privilege role in docs/mlflow.md" in message
    assert outcomes["L4.per-version-performance"] == "unknown"


@pytest.mark.parametrize("kind", KINDS)
def test_a_locked_table_hits_the_statement_timeout(kind, tmp_path) -> None:
    """Another session holds an exclusive lock: each query waits at most half of timeout_s,
    then the target fails with the timeout named (statement, lock or lock-wait timeout)."""
    import time

    sqldb.require(kind)
    with sqldb.database(kind) as db:
        sqldb.execute(kind, db, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        locker = sqldb.admin(kind, db)
        try:
            if kind == "postgresql":
                locker.autocommit = False
                locker.cursor().execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
            else:
                locker.cursor().execute("LOCK TABLES alembic_version WRITE")
            started = time.monotonic()
            result, run, outcomes = engine_run(MlflowTarget(uri=sqldb.uri(kind, db), name="busy"),
                                               tmp_path, timeout_s=10)
            waited = time.monotonic() - started
        finally:
            if kind == "postgresql":
                locker.rollback()
            else:
                locker.cursor().execute("UNLOCK TABLES")
            locker.close()
    message = run["errors"][0]["message"]
    assert result.exit_code == EXIT_PARTIAL
    assert "did not finish within the 5s statement timeout" in message, message
    assert outcomes["L3.model-registry"] == "unknown"
    assert waited < 60


def cli(config: Path, out: Path, env: dict[str, str]) -> tuple[int, str]:
    import subprocess

    full = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"}
    full.update(env)
    proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "-vv", "scan", "-c", str(config), "-o", str(out)],
                          capture_output=True, text=True, env=full, stdin=subprocess.DEVNULL,
                          timeout=180, cwd=config.parent)
    texts = [proc.stdout, proc.stderr, *(p.read_text(errors="replace") for p in sorted(out.rglob("*"))
                                         if p.is_file())]
    return proc.returncode, "\n".join(texts)


@pytest.mark.parametrize("kind", KINDS)
def test_passwords_never_reach_any_output(kind, tmp_path) -> None:
    """A password in the config's URI is refused; one from password_env (right or wrong) or the
    option file is used and appears in no report, log line or error."""
    sqldb.require(kind)
    with sqldb.database(kind) as db:
        role, password = sqldb.unique("pwuser"), f"Zq-{uuid.uuid4().hex}"
        sqldb.run_doc_sql(kind, db, role, password)
        try:
            config = tmp_path / "mlaudit.yaml"
            in_uri = sqldb.uri(kind, db, user=f"{role}:{password}")
            config.write_text(f"mlflow:\n  targets:\n    - uri: {in_uri}\n      name: inline\n")
            code, text = cli(config, tmp_path / "out1", {})
            assert code == 3 and "the URI carries a password" in text
            assert password not in text and "Traceback" not in text
            config.write_text(f"mlflow:\n  targets:\n    - {sqldb.uri(kind, db, user=role)}?password={password}\n")
            code, text = cli(config, tmp_path / "out1q", {})
            assert code == 3 and "the URI carries a password" in text
            assert password not in text and "Traceback" not in text
            config.write_text(f"mlflow:\n  targets:\n    - uri: {sqldb.uri(kind, db, user=role)}\n"
                              "      password_env: AUDIT_PW\n")
            code, text = cli(config, tmp_path / "out2", {"AUDIT_PW": password + "-wrong"})
            assert password not in text and "Traceback" not in text
            if kind == "mysql":  # MariaDB checks passwords (the machine's PostgreSQL trusts)
                assert code == 3 and "access denied" in text
                home = tmp_path / "home"
                home.mkdir()
                (home / ".my.cnf").write_text(f"[client]\npassword = \"{password}\"\n")
                config.write_text(f"mlflow:\n  targets:\n    - {sqldb.uri(kind, db, user=role)}\n")
                code, text = cli(config, tmp_path / "out3", {"HOME": str(home)})
                assert password not in text and "Traceback" not in text
                assert "access denied" not in text and "not an MLflow database" in text
            code, text = cli(config, tmp_path / "out4", {"AUDIT_PW": password, "MYSQL_PWD": password,
                                                          "PGPASSWORD": password})
            assert password not in text and "Traceback" not in text
            assert "not an MLflow database (no alembic_version table)" in text  # connected, read
        finally:
            sqldb.drop_role(kind, db, role)


def test_concurrent_reader_sees_a_consistent_store(store) -> None:
    """Two targets on the same database read in one scan agree (pools are per target)."""
    results: list = []

    def one() -> None:
        results.append(as_dicts(scan(MlflowTarget(uri=sqldb.uri(store.kind, store.db), name="store",
                                                  ui_url=store.server_uri))))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1] == store.server_evidence


def test_config_keeps_database_uris_and_password_env(tmp_path) -> None:
    from mlaudit.config import load_config
    from mlaudit.errors import ConfigError

    config = tmp_path / "mlaudit.yaml"
    config.write_text("mlflow:\n  targets:\n    - uri: postgresql://auditor@db:5432/mlflow\n"
                      "      password_env: MLFLOW_DB_PASSWORD\n    - mysql+pymysql://auditor@db/mlflow\n")
    targets = load_config(config).mlflow.targets
    assert [(t.uri, t.password_env) for t in targets] == [
        ("postgresql://auditor@db:5432/mlflow", "MLFLOW_DB_PASSWORD"),
        ("mysql+pymysql://auditor@db/mlflow", None)]
    config.write_text("mlflow:\n  targets:\n    - uri: postgresql://auditor@db/mlflow\n"
                      "      password_env: 'not a name'\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "password_env" in str(info.value)


def test_max_runs_per_experiment_reads_the_newest_as_the_server_does(store, tmp_path) -> None:
    """The per-experiment cap in SQL (ROW_NUMBER over start time, then run id) keeps exactly the
    runs MLflow's search returns first: the same evidence through a server on the database."""
    with running_server(sqldb.uri(store.kind, store.db, driver=True), tmp_path, timeout=180) as server:
        through_server = scan(MlflowTarget(uri=server, name="store"), max_runs_per_experiment=2)
    sqldb.wait_disconnected(store.kind, store.db)
    direct = scan(MlflowTarget(uri=sqldb.uri(store.kind, store.db), name="store", ui_url=server),
                  max_runs_per_experiment=2)
    assert as_dicts(direct) == as_dicts(through_server)
    uncapped = {i["attributes"]["experiment"]: i["attributes"] for i in store.server_evidence
                if i["signal"] == "experiment_runs"}
    capped = {i.attributes["experiment"]: i.attributes for i in direct.evidence if i.signal == "experiment_runs"}
    zoo = f"{store.prefix}zzoo"
    assert uncapped[zoo]["runs_in_window"] == 6 and capped[zoo]["runs_in_window"] == 2
    assert capped[zoo]["runs_capped_at"] == 2 and capped[zoo]["last_run"] == uncapped[zoo]["last_run"]
    assert any(f"experiment '{zoo}' has more than 2 runs" in w for w in direct.warnings)
    assert direct.targets[0]["capped_experiments"] == through_server.targets[0]["capped_experiments"] >= 1


NO_IMPORT_SCAN = """
import json, sys
from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.mlflow.collector import MlflowCollector
from mlaudit.config import MlflowSettings, MlflowTarget
out = []
for days in (180, 1):  # the run in the window, then only before it (the newest-run search)
    result = MlflowCollector(MlflowSettings(targets=[MlflowTarget(uri=sys.argv[1], name="store")])).collect(
        CollectContext(lookback_days=days))
    out.append({"evidence": [json.loads(json.dumps(i.to_dict(), default=str)) for i in result.evidence],
                "errors": [e.message for e in result.errors]})
print(json.dumps({"mlflow_imported": sorted(m for m in sys.modules if m.split(".")[0] == "mlflow"),
                  "scans": out}))
"""


@pytest.mark.parametrize("kind", KINDS)
def test_a_database_scan_never_imports_mlflow(kind) -> None:
    """Experiments, runs, the registry and source runs come from plain SELECTs: a scan of a
    database imports no MLflow module (1-2 s of every scan), and its evidence is the same as
    a scan in a process that has MLflow loaded."""
    import subprocess

    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Registry
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as Tracking

    sqldb.require(kind)
    with sqldb.database(kind) as db:
        url = sqldb.uri(kind, db, driver=True)
        tracking, registry = Tracking(url, "/tmp/mlaudit-no-artifacts"), Registry(url)
        try:
            eid = tracking.create_experiment("no-import")
            started = int(time.time() * 1000) - 3 * 86_400_000
            run = tracking.create_run(eid, "alice", started, [], "train")
            tracking.set_tag(run.info.run_id, RunTag("mlflow.source.git.commit", "abc123"))
            tracking.log_metric(run.info.run_id, Metric("auc", 0.9, 0, 0))
            registry.create_registered_model("no-import-model")
            registry.create_model_version("no-import-model", f"runs:/{run.info.run_id}/model", run.info.run_id)
            # MLflow's own newest-run search, as the scan makes it when no run is in the window
            newest = {f: [r.info.run_id for r in tracking.search_runs(
                [eid], f, ViewType.ACTIVE_ONLY, 1, ["attributes.start_time DESC"])]
                for f in ("", f"attributes.start_time <= {started}", f"attributes.start_time <= {started - 1}")}
        finally:
            tracking.engine.dispose()
            registry.engine.dispose()
        target = sqldb.uri(kind, db)
        done = subprocess.run([sys.executable, "-c", NO_IMPORT_SCAN, target], capture_output=True, text=True,
                              timeout=300, cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == 0, done.stderr[-2000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        in_process = [as_dicts(scan(MlflowTarget(uri=target, name="store"), lookback_days=d)) for d in (180, 1)]
        # the SQL answer to that search is MLflow's, with and without an as-of bound
        source = open_sql(MlflowTarget(uri=target), 30)
        try:
            for f, ids in newest.items():
                page = source.run_search(experiment_ids=[eid], filter_string=f, run_view_type=ViewType.ACTIVE_ONLY,
                                         max_results=1, order_by=["attributes.start_time DESC"])
                assert [r.info.run_id for r in page] == ids, f
        finally:
            source.tracking.engine.dispose()
    assert out["mlflow_imported"] == []
    for got, want in zip(out["scans"], in_process, strict=True):
        assert got["errors"] == []
        for item in got["evidence"]:
            assert item.pop("observed_at")
        assert sorted(got["evidence"], key=lambda d: (d["signal"], d["locator"])) == want
    model = next(i for i in in_process[0] if i["signal"] == "registered_model")
    runs = next(i for i in in_process[0] if i["signal"] == "experiment_runs")
    assert model["attributes"]["lineage"] == 1 and model["attributes"]["versions_with_metrics"] == 1
    assert runs["attributes"]["runs_in_window"] == 1 and runs["attributes"]["commits_tagged"] == 1
    last = next(i for i in in_process[1] if i["signal"] == "experiment_runs")["attributes"]
    assert last["runs_in_window"] == 0 and last["last_run_at"] == iso_ms(started)
    assert list(newest.values()) == [[run.info.run_id], [run.info.run_id], []]
