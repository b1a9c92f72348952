"""The ``dorm`` plugin of dorm-duckdb (entry point ``duckdb = "dorm_duckdb.plugin"``).

Registers the ``duckdb`` engine; the backend module (and ``duckdb`` itself) is
imported only when a connection is first made.
"""
from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile

from dorm.hookspecs import hookimpl

BACKEND = "dorm_duckdb.backend:DuckDBBackend"

_directory: str | None = None
_counter = itertools.count(1)


def test_settings() -> dict | None:
    """A ``DATABASES`` entry for the shared test suites: a new database file in a temp
    dir (removed at interpreter exit) on every call; ``DORM_DUCKDB_TEST_DATABASE=:memory:``
    runs them on an in-memory database instead. ``None`` when ``duckdb`` is not
    importable."""
    global _directory
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return None
    if os.environ.get("DORM_DUCKDB_TEST_DATABASE") == ":memory:":
        return {"ENGINE": "duckdb", "NAME": ":memory:"}
    if _directory is None:
        _directory = tempfile.mkdtemp(prefix="dorm-duckdb-test-")
        atexit.register(shutil.rmtree, _directory, ignore_errors=True)
    return {"ENGINE": "duckdb", "NAME": os.path.join(_directory, f"test{next(_counter)}.duckdb")}


@hookimpl
def dorm_register_backends(register):
    register("duckdb", BACKEND, test_settings=test_settings)
