"""PostgreSQL helpers for the sharding suite.

* ``require_pg()`` – skip (or, with ``DORM_REQUIRE_PG=1``, fail) when the dorm-postgres
  plugin is not installed or the server on 127.0.0.1:5432 is unreachable.
* ``ShardDatabases`` – N databases on the local server, one per shard, created for the
  session and dropped at its end.
* ``Cluster`` – a second PostgreSQL cluster of our own (``initdb`` + ``pg_ctl`` on a free
  port on 127.0.0.1, in a temporary directory, run as the ``postgres`` OS user when we
  are root), which a test can stop and start to take a shard down and bring it back.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

PG_BIN = os.environ.get("DORM_PG_BIN", "/usr/lib/postgresql/15/bin")
ADMIN_DSN = os.environ.get("DORM_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def _unavailable(reason: str):
    if os.environ.get("DORM_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL sharding tests required (DORM_REQUIRE_PG=1) but {reason}")
    pytest.skip(reason)


def require_pg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (it comes with the dorm-postgres plugin)")
    from dorm.plugins import get_registry

    if "postgresql" not in get_registry().backends:
        _unavailable("no 'postgresql' engine: the dorm-postgres plugin is not installed, or it is "
                     "disabled or failed to load (see `dorm plugins`; pip install -e plugins/postgres)")
    try:
        admin().close()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        _unavailable(f"no PostgreSQL server at {ADMIN_DSN!r}: {exc}")


def admin(dsn: str = ADMIN_DSN):
    import psycopg

    return psycopg.connect(dsn, autocommit=True, connect_timeout=3)


def _drop(conn, name: str) -> None:
    from psycopg import sql

    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


class ShardDatabases:
    def __init__(self, count: int, prefix: str = "dorm_shard"):
        self.names = [f"{prefix}_{os.getpid()}_{i}" for i in range(count)]

    def create(self) -> None:
        from psycopg import sql

        with admin() as conn:
            for name in self.names:
                _drop(conn, name)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop(self) -> None:
        from dorm.db import connections

        connections.reset()
        with admin() as conn:
            for name in self.names:
                _drop(conn, name)

    def settings(self, i: int, **extra) -> dict:
        return {"ENGINE": "postgresql", "NAME": self.names[i], "HOST": "127.0.0.1", "PORT": 5432,
                "USER": "postgres", **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A throw-away PostgreSQL cluster on 127.0.0.1:<free port>."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dorm-shard-pg-", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "log")
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("running as root and there is no 'postgres' OS user to run initdb as")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            runner = shutil.which("runuser")
            self.as_user = [runner, "-u", "postgres", "--"] if runner else ["su", "postgres", "-c"]

    def _run(self, *args, check=True):
        cmd = [os.path.join(PG_BIN, args[0]), *args[1:]]
        if self.as_user and self.as_user[0] == "su":
            import shlex

            cmd = [*self.as_user, " ".join(shlex.quote(c) for c in cmd)]
        else:
            cmd = [*self.as_user, *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)

    def init(self) -> None:
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            _unavailable(f"initdb not found in {PG_BIN} (set DORM_PG_BIN)")
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        for _ in range(3):
            result = self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30", "-o",
                               f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                               f"-c full_page_writes=off", "start", check=False)
            if result.returncode == 0:
                return
            self.port = free_port()     # lost a race for the port: try another one
        with open(self.log, encoding="utf-8", errors="replace") as fh:
            raise RuntimeError(f"could not start the test PostgreSQL cluster: {fh.read()[-2000:]}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)

    def wait_down(self, timeout=10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def settings(self, **extra) -> dict:
        return {"ENGINE": "postgresql", "NAME": "postgres", "HOST": "127.0.0.1", "PORT": self.port,
                "USER": "postgres", **extra}
