"""Fixtures of the migration suite.

``mig_db`` is a ``DATABASES`` entry on the backend under test (the shared ``backend``
parametrisation from tests/conftest.py): a fresh file for embedded databases, the
backend's test database otherwise (tables of the apps used here are dropped before and
after each test). ``project`` is a temporary project (settings.py + app packages)
whose ``dorm`` commands run in a subprocess, as a user runs them.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: tables created by this suite start with one of these (dropped on shared databases)
PREFIXES = ("migshop", "migblog", "migx", "dorm_migrations", "migexec", "migrt", "renamed_")
DORM = [sys.executable, "-m", "dorm"]


def _file_based(settings: dict) -> bool:
    name = str(settings.get("NAME") or "")
    return name.endswith((".db", ".sqlite3", ".sqlite", ".duckdb")) or name == ":memory:"


def drop_suite_tables(db: dict) -> None:
    """Drop every table of this suite on ``db`` (referencing tables first, best effort)."""
    import dorm
    from dorm.db import connections

    with dorm.settings.override(DATABASES={"default": db}):
        try:
            conn = connections["default"]
            for _ in range(3):
                tables = [t for t in conn.introspection.table_names() if t.startswith(PREFIXES)]
                if not tables:
                    break
                for table in tables:
                    try:
                        conn.execute_script(f"DROP TABLE IF EXISTS {conn.ops.quote_name(table)} CASCADE"
                                            if conn.vendor == "postgresql" else
                                            f"DROP TABLE IF EXISTS {conn.ops.quote_name(table)}")
                    except Exception:  # noqa: BLE001 - referenced: retry in the next round
                        pass
        finally:
            connections.close_all()


@pytest.fixture
def mig_db(backend, backend_settings, tmp_path):
    settings = dict(backend_settings)
    if _file_based(settings) and settings.get("NAME") != ":memory:":
        suffix = Path(str(settings["NAME"])).suffix or ".db"
        settings["NAME"] = str(tmp_path / f"mig{suffix}")
        yield settings
        return
    drop_suite_tables(settings)
    yield settings
    drop_suite_tables(settings)


class Project:
    """A temporary project: ``settings.py`` and app packages; runs ``dorm`` commands."""

    def __init__(self, root: Path, db: dict, apps: list[str]):
        self.root = root
        self.db = db
        self.apps = list(apps)
        self.write_settings()
        for app in apps:
            (root / app).mkdir(exist_ok=True)
            (root / app / "__init__.py").write_text("")

    def write_settings(self) -> None:
        (self.root / "settings.py").write_text(
            f"DATABASES = {{'default': {self.db!r}}}\nINSTALLED_APPS = {self.apps!r}\n")

    def models(self, app: str, source: str) -> None:
        path = self.root / app / "models.py"
        path.write_text(textwrap.dedent(source))
        for pyc in (self.root / app).glob("__pycache__/models*.pyc"):
            pyc.unlink()

    def migrations(self, app: str) -> list[str]:
        directory = self.root / app / "migrations"
        return sorted(p.name for p in directory.glob("[0-9]*.py")) if directory.is_dir() else []

    def read(self, app: str, name: str) -> str:
        return (self.root / app / "migrations" / name).read_text()

    def write_migration(self, app: str, name: str, source: str) -> None:
        directory = self.root / app / "migrations"
        directory.mkdir(exist_ok=True)
        (directory / "__init__.py").touch()
        (directory / name).write_text(textwrap.dedent(source))

    def run(self, *args, expect: int | None = 0, input: str | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if k not in ("DORM_SETTINGS", "DORM_SETTINGS_MODULE", "DORM_PROFILE")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["COLUMNS"] = "200"
        proc = subprocess.run([*DORM, *args], cwd=self.root, env=env, input=input, text=True,
                              capture_output=True, timeout=120)
        if expect is not None:
            assert proc.returncode == expect, (
                f"dorm {' '.join(args)} exited {proc.returncode}, expected {expect}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    # ---- looking at the database (in-process) -------------------------------------------
    def _with_conn(self, fn):
        import dorm
        from dorm.db import connections

        with dorm.settings.override(DATABASES={"default": self.db}):
            try:
                return fn(connections["default"])
            finally:
                connections.close_all()

    def tables(self) -> set[str]:
        return {t for t in self._with_conn(lambda c: c.introspection.table_names())
                if t.startswith(PREFIXES)}

    def columns(self, table: str) -> list[str]:
        return self._with_conn(lambda c: [col.name for col in c.introspection.get_table_description(table)])

    def query(self, sql: str, params=()):
        return self._with_conn(lambda c: [tuple(r) for r in c.execute(
            sql.replace("%s", c.ops.placeholder), params)])

    def write(self, sql: str, params=()):
        return self._with_conn(lambda c: c.execute_write(sql.replace("%s", c.ops.placeholder), params))

    def applied(self) -> set[tuple[str, str]]:
        def read(c):
            from dorm.migrations.recorder import MigrationRecorder

            return MigrationRecorder(c).applied_migrations()

        return self._with_conn(read)

    def constraints(self, table: str) -> dict:
        return self._with_conn(lambda c: c.introspection.get_constraints(table))


@pytest.fixture
def project(tmp_path, mig_db):
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root, mig_db, ["migshop", "migblog"])
