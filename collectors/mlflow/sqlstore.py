"""PostgreSQL and MySQL/MariaDB backend stores, read directly and read-only.

Every connection is made read-only by the database itself before MLflow sees it: PostgreSQL
`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`, MySQL/MariaDB `SET SESSION TRANSACTION
READ ONLY` (every later transaction, `START TRANSACTION READ ONLY` included, is read-only), with a
statement and lock-wait timeout. The schema's alembic revision is checked with one SELECT before
MLflow's store classes open the database (they would otherwise create tables, migrate, or insert
a default experiment); a SELECT-only role suffices (docs/mlflow.md).

Passwords never come from the configuration: a URI carrying one is refused. They come from the
variable named by the target's `password_env`, else the driver's own sources (PostgreSQL:
`PGPASSWORD`, `PGPASSFILE`, `~/.pgpass`; MySQL: `MYSQL_PWD`, the `[client]` group of
`~/.my.cnf`). Drivers (`pip install 'mlaudit[sql]'`) are imported only here.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
from pathlib import Path
from typing import Any

from mlaudit.collectors.mlflow.settings import MlflowTarget
from mlaudit.collectors.mlflow.sqlruns import (
    LazyStores,
    SqlRegistry,
    SqlRunFacts,
    SqlRunFold,
    SqlRunSearch,
    SqlTracking,
)
from mlaudit.collectors.mlflow.stores import (
    Source,
    StoreError,
    _first_line,
    check_revision,
    readonly_stores,
    target_kind,
)
from mlaudit.redact import MASK, redact

DEFAULT_STATEMENT_TIMEOUT_S = 60
#: MLflow's DEFAULT_WORKSPACE_NAME: what its single-tenant stores scope the registry to
DEFAULT_WORKSPACE = "default"
CONNECT_TIMEOUT_S = 10
DRIVERS = {
    "postgresql": (("psycopg2", "postgresql+psycopg2"), ("psycopg", "postgresql+psycopg")),
    "mysql": (("pymysql", "mysql+pymysql"),),
}
NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
PASSWORD_SOURCES = {
    "postgresql": "PGPASSWORD, PGPASSFILE or ~/.pgpass",
    "mysql": "MYSQL_PWD or the [client] group of ~/.my.cnf",
}


def open_sql(target: MlflowTarget, timeout_s: float | None) -> Source:
    import sqlalchemy

    kind = target_kind(target.uri)
    url, password = _url(target, kind)
    # within the collector's own timeout, so that a slow query is named as such
    timeout = max(1, int(min(DEFAULT_STATEMENT_TIMEOUT_S, (timeout_s or 1e9) / 2)))
    place = f"{NAMES[kind]} {url.host or 'localhost'}{':' + str(url.port) if url.port else ''}"\
            f"/{url.database or ''}"
    where = f"{target.name} ({place})" if target.name else f"{target.label} ({NAMES[kind]})"
    if kind == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "mlaudit"}
    else:
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S, "read_timeout": timeout + 5}
    engine = sqlalchemy.create_engine(url, connect_args=connect_args, pool_size=2, max_overflow=2,
                                      pool_pre_ping=False)
    sqlalchemy.event.listen(engine, "connect", _read_only_session(kind, timeout))
    try:
        revision, workspace = _revision(engine, where)
    except StoreError as exc:
        engine.dispose()
        raise StoreError(_scrub(str(exc), password)) from None
    except Exception as exc:  # noqa: BLE001 - driver and SQLAlchemy errors alike
        engine.dispose()
        raise StoreError(describe_sql_error(exc, where, timeout, kind, password)) from None

    def mlflow_stores() -> tuple[Any, Any]:
        try:
            return readonly_stores(engine, _store_uri(url), str(Path.cwd()), where)
        except StoreError as exc:
            raise StoreError(_scrub(str(exc), password)) from None

    # MLflow's own stores only for what the plain SELECTs do not answer (not imported otherwise)
    stores = LazyStores(mlflow_stores)
    tracking = SqlTracking(engine, stores)
    ui = target.ui_url.rstrip("/") if target.ui_url else None
    return Source(kind, tracking, SqlRegistry(engine, stores, workspace), ui_base=ui,
                  info={"schema_revision": revision, "database": url.database},
                  explain=lambda exc: describe_sql_error(exc, where, timeout, kind, password),
                  run_search=SqlRunSearch(engine, tracking), fold_runs=SqlRunFold(engine),
                  run_facts=SqlRunFacts(engine), id_batch=5000)


def _url(target: MlflowTarget, kind: str) -> tuple[Any, str | None]:
    """The SQLAlchemy URL with its driver and password, and the password (to scrub errors)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(target.uri)
    except (ArgumentError, ValueError):
        raise StoreError(f"{target.label}: not a valid database URI") from None
    if url.password or any(k.lower() in ("password", "passwd", "passfile") for k in url.query):
        raise StoreError(
            f"{target.label}: the URI carries a password; mlaudit takes no password from its "
            f"configuration. Remove it and set it in the environment variable named by "
            f"password_env, or {PASSWORD_SOURCES[kind]}"
        )
    url = url.set(drivername=_driver(kind, url.drivername))
    password = None
    if target.password_env:
        password = os.environ.get(target.password_env)
        if password is None:
            raise StoreError(f"{target.label}: password_env names {target.password_env}, which is "
                             "not set in the environment")
    elif kind == "mysql":
        password = os.environ.get("MYSQL_PWD") or _option_file_password()
    if password:
        url = url.set(password=password)
    return url, password


def _driver(kind: str, requested: str) -> str:
    """The dialect+driver to use: the one the URI names, else the first installed."""
    known = DRIVERS[kind]
    if "+" in requested:
        module = requested.split("+", 1)[1]
        name = {"psycopg2": "psycopg2", "psycopg": "psycopg", "pymysql": "pymysql"}.get(module)
        if name is None:
            raise StoreError(f"unsupported {NAMES[kind]} driver '{module}' (mlaudit reads through "
                             f"{', '.join(m for m, _ in known)})")
        if importlib.util.find_spec(name) is None:
            raise StoreError(f"reading a {NAMES[kind]} store needs the {name} driver: "
                             "pip install 'mlaudit[sql]'")
        return f"{kind}+{name}"
    for module, dialect in known:
        if importlib.util.find_spec(module) is not None:
            return dialect
    raise StoreError(f"reading a {NAMES[kind]} store needs a driver "
                     f"({' or '.join(m for m, _ in known)}): pip install 'mlaudit[sql]'")


def _option_file_password(path: Path | None = None) -> str | None:
    """`password` of the [client] group of a MySQL option file (~/.my.cnf), if there is one."""
    path = path or Path.home() / ".my.cnf"
    parser = configparser.ConfigParser(allow_no_value=True, strict=False, interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    for group in ("client", "mariadb-client"):
        if parser.has_option(group, "password"):
            value = (parser.get(group, "password") or "").strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            return value or None
    return None


def _read_only_session(kind: str, timeout: int) -> Any:
    """A `connect` listener making every transaction of a new connection read-only and bounded."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if kind == "postgresql":
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                cursor.execute(f"SET statement_timeout = {timeout * 1000}")
                cursor.execute(f"SET lock_timeout = {timeout * 1000}")
                # JIT compiling the scan's few large queries costs more than running them
                # (measured: 1.1 s of 1.35 s); PostgreSQL < 11 has no JIT
                cursor.execute("SELECT set_config('jit', 'off', false) "
                               "WHERE current_setting('server_version_num')::int >= 110000")
                # the scan's server-side cursors read every row: plan them for the whole result
                # (the default 0.1 picks index nested loops, 7x slower at 200,000 runs)
                cursor.execute("SET cursor_tuple_fraction = 1.0")
                # hash joins of a run window in memory, not in batches on disk (never lowered)
                cursor.execute("SELECT set_config('work_mem', '32MB', false) "
                               "WHERE pg_size_bytes(current_setting('work_mem')) < 33554432")
            else:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                cursor.execute(f"SET SESSION lock_wait_timeout = {timeout}")
                cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {timeout}")
                cursor.execute("SELECT VERSION()")
                if "mariadb" in str(cursor.fetchone()[0]).lower():
                    cursor.execute(f"SET SESSION max_statement_time = {timeout}")
                else:
                    cursor.execute(f"SET SESSION max_execution_time = {timeout * 1000}")
        finally:
            cursor.close()
        dbapi_connection.commit()

    return on_connect


def _revision(engine: Any, where: str) -> tuple[str, str | None]:
    """The schema's alembic revision, read with one SELECT, checked against the installed MLflow,
    and the workspace MLflow's (single-tenant) registry store reads: `default` where the schema
    has workspaces (MLflow >= 3.x), else none."""
    import sqlalchemy

    with engine.connect() as con:
        inspector = sqlalchemy.inspect(con)
        if not inspector.has_table("alembic_version"):
            raise StoreError(f"{where}: not an MLflow database (no alembic_version table)")
        found = con.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
        workspace = None
        if found is not None and inspector.has_table("registered_models") and any(
                c["name"] == "workspace" for c in inspector.get_columns("registered_models")):
            workspace = DEFAULT_WORKSPACE
        if engine.dialect.name == "postgresql":
            read_only = con.execute(sqlalchemy.text("SHOW transaction_read_only")).scalar()
        else:  # MySQL 8 and MariaDB >= 11.1 call it transaction_read_only, MariaDB 10 tx_read_only
            names = {r[0].lower(): r[1] for r in con.execute(sqlalchemy.text(
                "SHOW SESSION VARIABLES WHERE Variable_name IN "
                "('transaction_read_only', 'tx_read_only')"))}
            read_only = names.get("transaction_read_only", names.get("tx_read_only"))
    if str(read_only).lower() not in ("on", "1", "true"):
        raise StoreError(f"{where}: the session could not be made read-only; nothing was read")
    return check_revision(found, where), workspace


def _store_uri(url: Any) -> str:
    """The URI handed to MLflow's store classes (without the password: it is on the engine)."""
    return url.set(password=None).render_as_string(hide_password=True)


def _scrub(text: str, password: str | None) -> str:
    text = redact(text)
    return text.replace(password, MASK) if password else text


TIMEOUT_WORDS = ("statement timeout", "lock timeout", "max_statement_time", "max_execution_time",
                 "query execution was interrupted", "lock wait timeout", "timed out",
                 "canceling statement")
DENIED_WORDS = ("permission denied", "access denied", "command denied",
                "password authentication failed", "no pg_hba.conf entry", "authentication failed")
DOWN_WORDS = ("connection refused", "could not connect", "can't connect", "could not translate",
              "name or service not known", "server closed the connection", "lost connection",
              "is the server running", "connection to server", "timeout expired")


def describe_sql_error(exc: BaseException, where: str, timeout: int, kind: str,
                       password: str | None = None) -> str:
    """One actionable sentence for what the driver raised (the password scrubbed from it)."""
    orig = getattr(exc, "orig", None) or exc
    first = _first_line(_scrub(str(orig), password))
    lowered = str(orig).lower()
    if "read-only transaction" in lowered or "read only transaction" in lowered or \
            "read-only" in lowered and "transaction" in lowered:
        return (f"{where}: MLflow wanted to write to the database; the read-only session refused "
                f"and nothing was changed ({first})")
    if any(w in lowered for w in TIMEOUT_WORDS):
        return (f"{where}: a query did not finish within the {timeout}s statement timeout (a busy "
                f"or locked database; raise mlflow.timeout_s to wait longer): {first}")
    if any(w in lowered for w in DENIED_WORDS):
        return (f"{where}: access denied ({first}); the auditing role needs CONNECT and SELECT on "
                f"MLflow's tables (see the least-privilege role in docs/mlflow.md), its password "
                f"from password_env or {PASSWORD_SOURCES[kind]}")
    if any(w in lowered for w in DOWN_WORDS):
        return f"{where}: the database is unreachable ({first})"
    return f"{where}: cannot read the database: {first}"
