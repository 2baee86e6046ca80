"""Read-only: the audited database is byte-identical after a scan, nothing appears on a server,
no file is created anywhere, and only search/get endpoints are ever called."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from mlflow_scenarios import (
    datasets_as_inputs,
    logged_model_version,
    many_models,
    mine,
    production_alias_with_lineage,
    scan,
    writing_to,
)

from mlaudit.collectors.mlflow.stores import file_path, sqlite_path


def tree(root: Path) -> dict[str, str]:
    """Every path under `root` with its content hash (folders included, as '/')."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "/" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def fill(uri: str, prefix: str) -> None:
    with writing_to(uri) as client:
        production_alias_with_lineage(client, prefix)
        many_models(client, prefix + "z")
        datasets_as_inputs(client, prefix + "d")


def test_sqlite_database_is_byte_identical_after_a_scan(new_store, prefix, tmp_path, monkeypatch) -> None:
    uri = new_store("sqlite")
    fill(uri, prefix)
    with writing_to(uri) as client:
        logged_model_version(client, prefix + "l")
    folder = sqlite_path(uri).parent
    before = tree(folder)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # MLflow's defaults would create ./mlflow.db here
    result = scan(uri)
    assert len(mine(result, prefix, "registered_model")) == 9
    assert tree(folder) == before  # same bytes, and no -journal/-wal/-shm left behind
    assert list(workdir.iterdir()) == []


def test_sqlite_with_an_old_schema_is_left_untouched(new_store, tmp_path, monkeypatch) -> None:
    """MLflow would migrate an incomplete or old database on open; mlaudit refuses first."""
    import sqlite3

    from mlaudit.collectors.base import CollectorError
    from mlaudit.collectors.mlflow.stores import schema_revisions

    uri = new_store("sqlite")
    path = sqlite_path(uri)
    head, known = schema_revisions()
    older = next(r for r in known if r != head)
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num = ?", (older,))
    con.execute("DROP TABLE IF EXISTS logged_models")  # as a database from before MLflow 3
    con.commit()
    con.close()
    before = tree(path.parent)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CollectorError) as info:
        scan(uri)
    message = str(info.value)
    assert "older MLflow" in message and older in message and head in message
    assert "mlflow db upgrade" in message and "never migrates" in message
    assert tree(path.parent) == before


def test_file_store_is_unchanged_and_gets_no_new_folders(new_store, prefix, tmp_path, monkeypatch) -> None:
    uri = new_store("file")
    fill(uri, prefix)
    root = file_path(uri)
    shutil.rmtree(root / ".trash")  # MLflow's FileStore would recreate it on open
    before = tree(root)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = scan(uri)
    assert len(mine(result, prefix, "registered_model")) == 8
    assert tree(root) == before
    assert list(workdir.iterdir()) == []  # the file registry's global-URI lookup is bypassed


WRITE = re.compile(r"create|update|delete|set-|/set|log-|/log|transition|rename|restore|upgrade")


def snapshot(uri: str) -> str:
    """Everything the server holds that a write could change, as one JSON text."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exps = c.search_experiments(view_type=ViewType.ALL, max_results=50000)
    ids = [e.experiment_id for e in exps]
    runs = c.search_runs(ids, run_view_type=ViewType.ALL, max_results=50000)
    models = c.search_registered_models(max_results=1000)
    versions = c.search_model_versions(max_results=10000)
    return json.dumps({
        "experiments": sorted((e.experiment_id, e.name, e.lifecycle_stage, e.last_update_time) for e in exps),
        "runs": sorted((r.info.run_id, r.info.status, r.info.end_time, sorted(r.data.tags.items()),
                        sorted(r.data.metrics.items())) for r in runs),
        "models": sorted((m.name, m.last_updated_timestamp, sorted(m.aliases.items())) for m in models),
        "versions": sorted((v.name, v.version, v.current_stage, v.last_updated_timestamp) for v in versions),
    }, default=str)


def test_server_sees_only_reads_and_holds_the_same_data(new_store, prefix, monkeypatch) -> None:
    from mlflow.utils import rest_utils

    uri = new_store("server")
    fill(uri, prefix)
    with writing_to(uri) as client:
        logged_model_version(client, prefix + "l")
    before = snapshot(uri)
    calls: list[tuple[str, str]] = []
    real = rest_utils.http_request

    def recording(host_creds, endpoint, method, *args, **kwargs):
        calls.append((method, endpoint))
        return real(host_creds, endpoint, method, *args, **kwargs)

    monkeypatch.setattr(rest_utils, "http_request", recording)
    result = scan(uri)
    monkeypatch.setattr(rest_utils, "http_request", real)
    assert mine(result, prefix, "registered_model")
    assert calls and all(WRITE.search(endpoint) is None for _, endpoint in calls), calls
    assert {e.rsplit("/", 1)[-1] for _, e in calls} <= {"search"}
    assert snapshot(uri) == before


def test_schema_revisions_read_as_text_are_alembics() -> None:
    """The revisions read from the text of MLflow's migration scripts (no MLflow import) are
    alembic's own: the same head, every revision with its date; the version is MLflow's."""
    import mlflow
    from mlflow.entities import ViewType

    from mlaudit.collectors.mlflow import stores
    from mlaudit.collectors.mlflow.scan import ACTIVE_ONLY, VIEW_ALL

    text = stores._revisions_from_text()
    alembic = stores._revisions_from_alembic()
    assert text is not None and text == alembic and len(text[1]) > 50
    assert stores.schema_revisions() == alembic
    assert stores.mlflow_version() == mlflow.__version__
    assert (ACTIVE_ONLY, VIEW_ALL) == (ViewType.ACTIVE_ONLY, ViewType.ALL)
