"""PostgreSQL: one fresh database per peer on the server of ``DORM_BENCH_PG_DSN``
(default ``DORM_TEST_PG_DSN``, else 127.0.0.1:5432 user postgres), dropped afterwards.

Every peer runs with ``synchronous_commit=off`` (the analogue of the SQLite runs'
``synchronous=NORMAL``: no WAL flush wait per autocommit statement, for both columns
alike) and the session time zone UTC. The targets of the PostgreSQL issue
(``TARGETS``) replace the SQLite ones where given.
"""
from __future__ import annotations

import atexit
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

name = "postgres"
DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SESSION_OPTIONS = "-c synchronous_commit=off -c TimeZone=UTC"

#: dorm/raw ratios the PostgreSQL backend aims for (issue 5)
TARGETS = {"get": 1.5, "bulk_create": 1.5, "aget": 1.5}


def dsn() -> str:
    return os.environ.get("DORM_BENCH_PG_DSN") or os.environ.get("DORM_TEST_PG_DSN") or DEFAULT_DSN


def _admin():
    import psycopg

    return psycopg.connect(dsn(), autocommit=True, connect_timeout=5)


def unavailable() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install dorm-postgres)"
    try:
        _admin().close()
    except Exception as exc:  # noqa: BLE001 - any reason means: cannot run here
        return f"PostgreSQL not reachable at {dsn()!r}: {exc}"
    return None


def info() -> dict:
    import psycopg

    with _admin() as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    return {"server_version": version, "psycopg": psycopg.__version__, "dsn": dsn(),
            "session_options": SESSION_OPTIONS}


def describe(cfg) -> str:
    """The table header's description of this backend."""
    return f" PostgreSQL {info()['server_version']}, synchronous_commit=off;"


def _drop(dbname: str) -> None:
    from psycopg import sql

    try:
        from dorm.db import connections

        connections.reset()
    except Exception:  # noqa: BLE001, S110 - best effort at exit
        pass
    try:
        with _admin() as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", [dbname])
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(dbname)))
    except Exception:  # noqa: BLE001, S110 - best effort at exit
        pass


@dataclass
class Env:
    dbname: str
    vendor: str = "postgresql"
    notes: list[str] = field(default_factory=list)

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(dsn(), dbname=self.dbname, options=SESSION_OPTIONS)

    def pragmas(self) -> list[str]:
        return []

    def raw_connect(self):
        """An autocommit psycopg connection (default prepare threshold)."""
        import psycopg

        return psycopg.connect(self.conninfo(), autocommit=True)

    async def araw_connect(self):
        import psycopg

        return await psycopg.AsyncConnection.connect(self.conninfo(), autocommit=True)

    def dorm_databases(self) -> dict:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(dsn())
        entry = {"ENGINE": "postgresql", "NAME": self.dbname,
                 "HOST": params.get("host", "localhost"), "PORT": params.get("port", 5432),
                 "OPTIONS": {"options": "-c synchronous_commit=off"}}
        if params.get("user"):
            entry["USER"] = params["user"]
        if params.get("password"):
            entry["PASSWORD"] = params["password"]
        return {"default": entry}


def make_env(workdir: Path, peer_name: str, cfg) -> Env:
    from psycopg import sql

    dbname = f"dorm_bench_{peer_name}_{os.getpid()}_{secrets.token_hex(3)}"
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    atexit.register(_drop, dbname)
    return Env(dbname=dbname)
