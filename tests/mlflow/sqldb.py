"""The machine's PostgreSQL (127.0.0.1:5432, trust, postgres) and MariaDB (127.0.0.1:3306, root
without password): admin connections, throw-away databases and roles with unique names, and
what a write would change (row counts, checksums, PostgreSQL's write counters)."""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HOST = "127.0.0.1"
PORTS = {"postgresql": 5432, "mysql": 3306}
ADMIN = {"postgresql": "postgres", "mysql": "root"}
DRIVER = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}
DOC = Path(__file__).resolve().parents[2] / "docs" / "mlflow.md"


def require(kind: str) -> None:
    """Skip when the database server is absent, except in CI (there it must be running)."""
    try:
        socket.create_connection((HOST, PORTS[kind]), timeout=2).close()
    except OSError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no {kind} server on {HOST}:{PORTS[kind]}")


def unique(stem: str) -> str:
    return f"{stem}_{uuid.uuid4().hex[:10]}"


def admin(kind: str, database: str | None = None):
    """An autocommit admin connection (to `database`, else the server's default)."""
    if kind == "postgresql":
        import psycopg2

        con = psycopg2.connect(host=HOST, port=PORTS[kind], user="postgres",
                               dbname=database or "postgres")
        con.autocommit = True
        return con
    import pymysql

    return pymysql.connect(host=HOST, port=PORTS[kind], user="root", database=database,
                           autocommit=True)


def execute(kind: str, database: str | None, *statements: str) -> list:
    con = admin(kind, database)
    try:
        with con.cursor() as cur:
            rows: list = []
            for sql in statements:
                cur.execute(sql)
                rows = list(cur.fetchall()) if cur.description else []
            return rows
    finally:
        con.close()


def uri(kind: str, database: str, user: str | None = None, driver: bool = False) -> str:
    scheme = DRIVER[kind] if driver else kind
    return f"{scheme}://{user or ADMIN[kind]}@{HOST}:{PORTS[kind]}/{database}"


@contextmanager
def database(kind: str) -> Iterator[str]:
    name = unique("mlaudit_t")
    execute(kind, None, f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        drop = f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if kind == "postgresql" else "")
        execute(kind, None, drop)


def drop_role(kind: str, database: str, role: str) -> None:
    if kind == "postgresql":
        execute(kind, database, f"DROP OWNED BY {role}")
        execute(kind, None, f"DROP ROLE IF EXISTS {role}")
    else:
        execute(kind, None, f"DROP USER IF EXISTS '{role}'@'%'")


def doc_sql(kind: str) -> list[str]:
    """The least-privilege statements of docs/mlflow.md for `kind`, one string each."""
    text = DOC.read_text()
    section = text[text.index("### Least-privilege role"):]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    block = blocks[0] if kind == "postgresql" else blocks[1]
    return [s.strip() for s in block.split(";") if s.strip()]


def run_doc_sql(kind: str, db: str, role: str, password: str) -> list[str]:
    """Runs the doc's statements with the names replaced; returns what was run."""
    names = {"mlflow_auditor": role, "mlflow_owner": ADMIN[kind], "change-me": password, "mlflow": db}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    statements = [pattern.sub(lambda m: names[m.group(1)], s) for s in doc_sql(kind)]
    execute(kind, db, *statements)
    return statements


def tables(kind: str, db: str) -> list[str]:
    if kind == "postgresql":
        rows = execute(kind, db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    else:
        rows = execute(kind, db, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}'")
    return sorted(r[0] for r in rows)


def state(kind: str, db: str) -> dict[str, object]:
    """Row count per table, plus PostgreSQL's cumulative insert/update/delete counters or
    MariaDB's table checksums: anything a write changes."""
    out: dict[str, object] = {}
    names = tables(kind, db)
    con = admin(kind, db)
    try:
        with con.cursor() as cur:
            for t in names:
                cur.execute(f'SELECT count(*) FROM "{t}"' if kind == "postgresql" else f"SELECT count(*) FROM `{t}`")
                out[f"rows:{t}"] = cur.fetchone()[0]
            if kind == "postgresql":
                cur.execute("SELECT pg_stat_clear_snapshot()")
                cur.execute("SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables")
                for rel, ins, upd, dele in cur.fetchall():
                    out[f"writes:{rel}"] = (ins, upd, dele)
            else:
                cur.execute("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in names))
                for table, checksum in cur.fetchall():
                    out[f"checksum:{table}"] = checksum
    finally:
        con.close()
    return out


def wait_disconnected(kind: str, db: str, timeout: float = 30) -> None:
    """Until no session is connected to `db` (PostgreSQL backends flush their write counters
    when they exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if kind == "postgresql":
            rows = execute(kind, None, f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'")
        else:
            rows = execute(kind, None, f"SELECT count(*) FROM information_schema.processlist WHERE db = '{db}'")
        if rows[0][0] == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"sessions still connected to {db}")


def write_totals(snapshot: dict[str, object]) -> tuple[int, int, int]:
    """Sum of PostgreSQL's n_tup_ins / n_tup_upd / n_tup_del over MLflow's tables."""
    rows = [v for k, v in snapshot.items() if k.startswith("writes:")]
    return tuple(sum(r[i] for r in rows) for i in range(3))  # type: ignore[index,return-value]
