"""Opening one MLflow target for reading, and nothing else.

Servers are read through `MlflowClient` (MLflow's own auth and TLS environment variables apply).
Local stores are read through MLflow's own store classes, subclassed so that nothing is ever
created or migrated: MLflow's `SqlAlchemyStore` creates missing tables, runs schema upgrades and
inserts a default experiment when it thinks a database is new, and its `FileStore` creates the
root, `.trash` and `models/` folders. Here sqlite databases are opened through a read-only
connection (`mode=ro`) after their schema revision has been checked with plain sqlite3, and file
stores through subclasses whose constructors only record where the store is.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from mlaudit.collectors.mlflow.settings import MlflowTarget
from mlaudit.redact import redact

# Bounded retries for servers, unless the user chose their own (MLflow's default is 7 retries
# with exponential back-off: minutes per unreachable server).
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
}
DEFAULT_HTTP_TIMEOUT_S = 30
SQL_KINDS = ("postgresql", "mysql")
_ENV_LOCK = threading.RLock()


#: the largest page each search accepts (fewest calls): MLflow's own thresholds
#: (SEARCH_MAX_RESULTS_THRESHOLD, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
#: SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD) for its servers and stores, the Databricks REST
#: API reference for Databricks (experiments/search: 1,000 guaranteed; runs/search 50,000;
#: registered-models/search 1,000; model-versions/search 10,000; Unity Catalog pages 1,000)
MLFLOW_LIMITS = {"experiments": 50_000, "runs": 50_000, "registered_models": 1000,
                 "model_versions": 200_000, "logged_models": 50_000}
DATABRICKS_LIMITS = {"experiments": 1000, "runs": 50_000, "registered_models": 1000,
                     "model_versions": 10_000, "logged_models": 1000}
UC_LIMITS = {"registered_models": 1000, "model_versions": 1000}


class StoreError(Exception):
    """A target could not be opened or read; the message is for the user."""


@dataclass
class Source:
    """What the scan reads from: two objects with MLflow's search methods (a client or stores)."""

    kind: str  # server | databricks | sqlite | postgresql | mysql | file
    tracking: Any
    registry: Any | None  # None: the store has no model registry (a file store without models/)
    ui_base: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # parts skipped while reading (one line each)
    explain: Callable[[BaseException], str] | None = None  # a reading error, as one line for users
    run_search: Callable[..., Any] | None = None  # faster search_runs than the tracking store's
    fold_runs: Callable[[Any], None] | None = None  # folds the window's runs into a TargetScan
    #: RunFacts of source runs by id (ids, experiment ids) -> {run id: RunFacts}, else searched
    run_facts: Callable[[list[str], list[str]], dict[str, Any]] | None = None
    page_limits: dict[str, int] = field(default_factory=lambda: dict(MLFLOW_LIMITS))
    id_batch: int = 100  # run ids per `attributes.run_id IN (...)` search (a request's length)
    uc: bool = False  # the registry is Unity Catalog (catalog.schema.model names, aliases only)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Apply this target's MLflow environment (TLS, retries) while it is read."""
        with _ENV_LOCK:
            saved = {k: os.environ.get(k) for k in self.env}
            os.environ.update(self.env)
            try:
                yield
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


def target_kind(uri: str) -> str:
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme in ("http", "https"):
        return "server"
    if scheme in ("databricks", "databricks-uc") or uri in ("databricks", "databricks-uc"):
        return "databricks"
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("file", ""):
        return "file"
    base = scheme.split("+", 1)[0]
    if base in ("postgresql", "postgres"):
        return "postgresql"
    if base in ("mysql", "mariadb"):
        return "mysql"
    return scheme


def open_source(target: MlflowTarget, timeout_s: float | None) -> Source:
    kind = target_kind(target.uri)
    if kind == "server":
        return _open_server(target, timeout_s)
    if kind == "databricks":
        return _open_databricks(target, timeout_s)
    if kind == "sqlite":
        return _open_sqlite(target)
    if kind == "file":
        return _open_file(target)
    if kind in SQL_KINDS:
        from mlaudit.collectors.mlflow.sqlstore import open_sql

        return open_sql(target, timeout_s)
    raise StoreError(
        f"unsupported tracking URI scheme '{kind}:' (mlaudit reads http(s)://, databricks, "
        "databricks-uc, sqlite:///, postgresql://, mysql:// and file: stores)"
    )


# ------------------------------------------------------------------------------------ servers
def strip_credentials(uri: str) -> str:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, "")).rstrip("/")


def request_timeout(timeout_s: float | None, env: dict[str, str]) -> int:
    """Seconds per HTTP request: 30, or less when the collector's `timeout_s` would not hold
    every attempt (retries + 1) with its back-off, so a hanging host fails as a timeout of that
    host rather than of the whole collector."""
    if not timeout_s:
        return DEFAULT_HTTP_TIMEOUT_S
    attempts = 1 + int(env.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2") or 0)
    return max(1, int(min(DEFAULT_HTTP_TIMEOUT_S, timeout_s / (2 * attempts))))


def _open_server(target: MlflowTarget, timeout_s: float | None) -> Source:
    from mlflow import MlflowClient

    env = {k: os.environ.get(k, v) for k, v in HTTP_DEFAULTS.items()}
    timeout = request_timeout(timeout_s, env)
    env["MLFLOW_HTTP_REQUEST_TIMEOUT"] = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", str(timeout))
    if target.verify_tls is False:
        env["MLFLOW_TRACKING_INSECURE_TLS"] = "true"
    elif isinstance(target.verify_tls, str):
        env["MLFLOW_TRACKING_SERVER_CERT_PATH"] = target.verify_tls
    client = MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)
    ui = (target.ui_url or strip_credentials(target.uri)).rstrip("/")
    return Source("server", client, client, ui_base=ui, env=env)


def databricks_uris(target: MlflowTarget) -> tuple[str, str]:
    """(tracking URI, registry URI) of a Databricks target: `databricks`, `databricks-uc` or
    either with `://PROFILE`; the registry is Unity Catalog unless `registry_uri` says otherwise
    (`databricks` for the workspace model registry)."""
    scheme, _, profile = target.uri.partition("://")
    tail = f"://{profile}" if profile else ""
    return f"databricks{tail}", target.registry_uri or f"databricks-uc{tail}"


def _open_databricks(target: MlflowTarget, timeout_s: float | None) -> Source:
    """Databricks-hosted MLflow through MLflow's own client and credential resolution:
    DATABRICKS_HOST/DATABRICKS_TOKEN, else the profile of ~/.databrickscfg (`databricks://NAME`,
    DATABRICKS_CONFIG_PROFILE or DEFAULT). Requests go through MLflow's REST client with the same
    bounded retries and request timeout as any server (`MLFLOW_ENABLE_DB_SDK` unset: not the
    Databricks SDK's own retry loop, which waits up to 5 minutes on an unreachable host)."""
    from mlflow import MlflowClient

    tracking_uri, registry_uri = databricks_uris(target)
    env = {k: os.environ.get(k, v) for k, v in HTTP_DEFAULTS.items()}
    timeout = request_timeout(timeout_s, env)
    env["MLFLOW_HTTP_REQUEST_TIMEOUT"] = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", str(timeout))
    env["MLFLOW_ENABLE_DB_SDK"] = os.environ.get("MLFLOW_ENABLE_DB_SDK", "false")
    # when the SDK is chosen after all: its own waits bounded the same way
    env["DATABRICKS_HTTP_TIMEOUT_SECONDS"] = os.environ.get("DATABRICKS_HTTP_TIMEOUT_SECONDS", str(timeout))
    env["DATABRICKS_RETRY_TIMEOUT_SECONDS"] = os.environ.get("DATABRICKS_RETRY_TIMEOUT_SECONDS", str(timeout))
    env["MLFLOW_DATABRICKS_ENDPOINT_HTTP_RETRY_TIMEOUT"] = os.environ.get(
        "MLFLOW_DATABRICKS_ENDPOINT_HTTP_RETRY_TIMEOUT", str(3 * timeout))
    uc = registry_uri.startswith("databricks-uc")
    with Source("databricks", None, None, env=env).active():
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    limits = {**DATABRICKS_LIMITS, **(UC_LIMITS if uc else {})}
    ui = target.ui_url.rstrip("/") if target.ui_url else None
    return Source("databricks", client, client, ui_base=ui, env=env, page_limits=limits, uc=uc,
                  info={"registry_uri": registry_uri,
                        "registry_kind": "unity-catalog" if uc else "workspace"})


def describe_http_error(exc: BaseException, label: str) -> str:
    """One actionable sentence for what MLflow's REST client raised."""
    text = redact(str(exc))
    lowered = text.lower()
    status = _status_of(exc, text)
    if status in ("401", "403"):
        what = "authentication failed" if status == "401" else "permission denied"
        return (f"{label}: {what} (HTTP {status}); set MLFLOW_TRACKING_TOKEN or "
                "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD for a user allowed to read "
                "experiments and registered models")
    if status == "404":
        return f"{label}: not an MLflow tracking server (HTTP 404 on its REST API)"
    if status and status.startswith("5"):
        return f"{label}: the server failed (HTTP {status}) after bounded retries"
    if "ssl" in lowered or "certificate" in lowered:
        return (f"{label}: TLS verification failed; set verify_tls to a CA bundle path (or "
                "MLFLOW_TRACKING_SERVER_CERT_PATH), or false for a trusted test server")
    if "timed out" in lowered or "timeout" in lowered:
        return f"{label}: the server timed out after bounded retries"
    if "max retries exceeded" in lowered or "connection" in lowered:
        return f"{label}: the server is unreachable (connection failed after bounded retries)"
    return f"{label}: {_first_line(text)}"


_STATUS = re.compile(r"error code (\d{3}) != 200|too many (\d{3}) error responses|"
                     r"(\d{3}) (?:Client|Server) Error")
_ERROR_CODES = {"UNAUTHENTICATED": "401", "PERMISSION_DENIED": "403", "ENDPOINT_NOT_FOUND": "404"}


def _status_of(exc: BaseException, text: str) -> str | None:
    match = _STATUS.search(text)
    if match:
        return next(g for g in match.groups() if g)
    return _ERROR_CODES.get(str(getattr(exc, "error_code", "")))


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ------------------------------------------------------------------------------------- sqlite
def sqlite_path(uri: str) -> Path:
    rest = uri[len("sqlite://"):] if uri.lower().startswith("sqlite://") else uri
    rest = rest.split("?", 1)[0]
    if rest.startswith("/"):
        rest = rest[1:]  # sqlite:///relative, sqlite:////absolute
    return Path(unquote(rest))


def _ro_connect(path: Path) -> sqlite3.Connection:
    """A read-only connection that creates nothing beside the database.

    A WAL-mode database that no one has open (no `-wal` file) is opened `immutable=1`: in
    `mode=ro` sqlite would create `-wal` and `-shm` files next to it, and leave them. With a
    `-wal` file present a writer is live: `mode=ro` reads its committed transactions too."""
    resolved = path.resolve()
    mode = "immutable=1" if _wal_mode(resolved) and not Path(f"{resolved}-wal").exists() else "mode=ro"
    return sqlite3.connect(f"file:{quote(str(resolved))}?{mode}", uri=True, check_same_thread=False)


def _wal_mode(path: Path) -> bool:
    """The database header says WAL (file format versions 2 at bytes 18-19)."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02"


def check_sqlite_schema(path: Path) -> str:
    """The database's schema revision, or a StoreError naming the MLflow version it needs.

    Done with plain sqlite3 before MLflow sees the file: MLflow would otherwise create missing
    tables and run migrations on a database it considers incomplete."""
    if not path.exists():
        raise StoreError(f"database not found: {path}")
    if not path.is_file():
        raise StoreError(f"not a database file: {path}")
    try:
        con = _ro_connect(path)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "alembic_version" not in tables:
                raise StoreError(f"not an MLflow database (no alembic_version table): {path}")
            rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read database {path}: {exc}") from None
    return check_revision(rows[0][0] if rows else None, str(path))


def check_revision(found: str | None, where: str) -> str:
    """`found` if it is the installed MLflow's schema head, else a StoreError naming both."""
    head, known = schema_revisions()
    if found == head:
        return found
    installed = mlflow_version()
    if found in known:
        created = known[found]
        raise StoreError(
            f"{where} was written by an older MLflow (schema revision {found}"
            f"{', ' + created if created else ''}); the MLflow {installed} mlaudit runs "
            f"with needs schema revision {head}. mlaudit never migrates an audited database: "
            "audit it through a tracking server of the MLflow version that wrote it, or run "
            "`mlflow db upgrade` on a copy and audit the copy"
        )
    raise StoreError(
        f"{where} was written by a newer MLflow than {installed} (unknown schema revision "
        f"{found}; this MLflow knows up to {head}); install the MLflow version that wrote it "
        f"next to mlaudit (pip install -U 'mlflow>{installed}') or audit it through its "
        "tracking server"
    )


def mlflow_version() -> str:
    """The installed MLflow's version, without importing MLflow (1-2 s)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlflow")
    except PackageNotFoundError:  # a source checkout: ask the package itself
        import mlflow

        return mlflow.__version__


_REVISIONS: tuple[str, dict[str, str]] | None = None
_ASSIGNED = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)
_QUOTED = re.compile(r"[\"']([0-9A-Za-z_]+)[\"']")


def schema_revisions() -> tuple[str, dict[str, str]]:
    """The installed MLflow's head schema revision and every revision it knows (with dates).

    Read from the text of MLflow's migration scripts (`revision = "..."`, `down_revision = ...`,
    `Create Date: ...`), the head being the one revision no other revises: importing MLflow
    and alembic's loading of every script cost 1-2 s of each scan of a database. Alembic's own
    reading when the text is not in that form (`tests/mlflow/test_mlflow_readonly.py` asserts
    that both agree)."""
    global _REVISIONS
    if _REVISIONS is None:
        _REVISIONS = _revisions_from_text() or _revisions_from_alembic()
    return _REVISIONS


def _migrations_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("mlflow")  # locates the package without running it
    for base in (spec.submodule_search_locations or []) if spec else []:
        path = Path(base) / "store" / "db_migrations" / "versions"
        if path.is_dir():
            return path
    return None


def _revisions_from_text() -> tuple[str, dict[str, str]] | None:
    folder = _migrations_dir()
    if folder is None:
        return None
    known: dict[str, str] = {}
    revised: set[str] = set()
    for script in sorted(folder.glob("[!_]*.py")):
        text = script.read_text(encoding="utf-8", errors="replace")
        values = dict(m.groups() for m in _ASSIGNED.finditer(text))
        revision = _QUOTED.fullmatch(values.get("revision", ""))
        if revision is None or "down_revision" not in values:
            return None  # not the plain form: let alembic read it
        date = re.search(r"Create Date:\s*(\d{4}-\d{2}-\d{2})", text)
        known[revision.group(1)] = f"created {date.group(1)}" if date else ""
        revised.update(_QUOTED.findall(values["down_revision"]))
    heads = [r for r in known if r not in revised]
    return (heads[0], known) if len(heads) == 1 else None


def _revisions_from_alembic() -> tuple[str, dict[str, str]]:
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    script = ScriptDirectory.from_config(_get_alembic_config(db_url=""))
    heads = script.get_heads()
    known: dict[str, str] = {}
    for rev in script.walk_revisions():
        doc = getattr(rev.module, "__doc__", "") or ""
        date = re.search(r"Create Date:\s*(\d{4}-\d{2}-\d{2})", doc)
        known[rev.revision] = f"created {date.group(1)}" if date else ""
    return heads[0], known


def readonly_stores(engine: Any, uri: str, artifact_root: str, where: str) -> tuple[Any, Any]:
    """MLflow's tracking and registry stores on `engine` (opened read-only by the caller).

    MLflow caches engines per URI in a class-level map; these subclasses return the read-only
    engine instead, without touching the map another writer in this process may share."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    class ReadOnlyTrackingStore(TrackingStore):
        @classmethod
        def _get_or_create_engine(cls, db_uri: str) -> Any:
            return engine

    class ReadOnlyRegistryStore(RegistryStore):
        @classmethod
        def _get_or_create_engine(cls, db_uri: str) -> Any:
            return engine

    try:
        return (ReadOnlyTrackingStore(uri, default_artifact_root=artifact_root),
                ReadOnlyRegistryStore(uri))
    except Exception as exc:
        engine.dispose()
        text = str(exc).lower()
        if "readonly" in text or "read-only" in text or "read only" in text:
            raise StoreError(f"{where}: MLflow wanted to write to the database while opening it "
                             "(is it incomplete?); nothing was changed") from None
        raise StoreError(f"cannot open {where}: {_first_line(redact(str(exc)))}") from None


def _open_sqlite(target: MlflowTarget) -> Source:
    import sqlalchemy
    from sqlalchemy.pool import StaticPool

    path = sqlite_path(target.uri)
    revision = check_sqlite_schema(path)
    engine = sqlalchemy.create_engine("sqlite://", creator=lambda: _ro_connect(path),
                                      poolclass=StaticPool)

    uri = f"sqlite:///{path.resolve()}"
    tracking, registry = readonly_stores(engine, uri, str(path.parent), str(path))
    ui = target.ui_url.rstrip("/") if target.ui_url else None
    return Source("sqlite", tracking, registry, ui_base=ui, info={"schema_revision": revision})


# --------------------------------------------------------------------------------------- file
def file_path(uri: str) -> Path:
    if uri.lower().startswith("file:"):
        parts = urlsplit(uri)
        return Path(unquote(parts.path))
    return Path(uri)


def _open_file(target: MlflowTarget) -> Source:
    from mlflow.store.model_registry.file_store import FileModelVersion
    from mlflow.store.model_registry.file_store import FileStore as RegistryFileStore
    from mlflow.store.tracking.file_store import FileStore
    from mlflow.utils.file_utils import path_to_local_file_uri

    root = file_path(target.uri).resolve()
    if not root.exists():
        raise StoreError(f"file store not found: {root}")
    if not root.is_dir():
        raise StoreError(f"not a folder: {root}")
    entries = [e for e in os.scandir(root) if e.is_dir()]
    if not any(os.path.isfile(os.path.join(e.path, "meta.yaml")) for e in entries) and not (
        root / "models"
    ).is_dir():
        raise StoreError(f"not an MLflow file store (no experiment meta.yaml or models/): {root}")

    class ReadOnlyFileStore(FileStore):
        def __init__(self, root_directory: str) -> None:  # the original creates folders
            super(FileStore, self).__init__()
            self.root_directory = root_directory
            self.artifact_root_uri = path_to_local_file_uri(root_directory)
            self.trash_folder = os.path.join(root_directory, FileStore.TRASH_FOLDER_NAME)

        def _get_deleted_experiments(self, full_path: bool = False) -> list[str]:
            if not os.path.isdir(self.trash_folder):  # a copied store may lack .trash
                return []
            return super()._get_deleted_experiments(full_path)

        def _get_experiment(self, experiment_id: str, view_type: Any = None) -> Any:
            # An empty or malformed meta.yaml skips that experiment with a warning naming the
            # file (the original fails the whole store, or logs a traceback and drops it).
            import yaml
            from mlflow.entities import ViewType
            from mlflow.exceptions import MissingConfigException

            try:
                return super()._get_experiment(experiment_id, view_type or ViewType.ALL)
            except (MissingConfigException, yaml.YAMLError, KeyError, TypeError, ValueError,
                    AttributeError) as exc:
                folder = self._get_experiment_path(experiment_id, view_type or ViewType.ALL)
                meta = Path(folder or root / experiment_id) / FileStore.META_DATA_FILE_NAME
                why = "empty" if isinstance(exc, MissingConfigException) else _first_line(str(exc))[:160]
                skipped.append(f"experiment {experiment_id} skipped: unreadable {meta} ({why})")
                return None

    skipped: list[str] = []
    tracking = ReadOnlyFileStore(str(root))

    class ReadOnlyRegistryFileStore(RegistryFileStore):
        def __init__(self, root_directory: str) -> None:  # the original creates models/
            super(RegistryFileStore, self).__init__()
            self.root_directory = root_directory

        def _get_file_model_version_from_dir(self, directory: str) -> Any:
            # The original asks a fresh `MlflowClient()` for the version's logged model: that
            # client opens the process-wide default tracking URI (in MLflow 3 `sqlite:///mlflow.db`
            # in the working folder, created and migrated on the spot). Ask this store instead.
            meta = RegistryFileStore._read_yaml(directory, RegistryFileStore.META_DATA_FILE_NAME)
            meta["tags"] = self._get_model_version_tags_from_dir(directory)
            meta["aliases"] = self._get_model_version_aliases(directory)
            if "model_id" in meta:
                try:
                    model = tracking.get_logged_model(meta["model_id"])
                    meta["metrics"], meta["params"] = model.metrics, model.params
                except Exception:  # noqa: BLE001 - as the original: a missing model is no error
                    pass
            return FileModelVersion.from_dictionary(meta)

    registry = ReadOnlyRegistryFileStore(str(root)) if (root / "models").is_dir() else None
    ui = target.ui_url.rstrip("/") if target.ui_url else None
    # MLflow 3 refuses file stores unless this is set; applied only while this target is read.
    return Source("file", tracking, registry, ui_base=ui, env={"MLFLOW_ALLOW_FILE_STORE": "true"},
                  warnings=skipped)
