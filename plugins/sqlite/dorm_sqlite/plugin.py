"""The ``dorm`` plugin of dorm-sqlite (entry point ``sqlite = "dorm_sqlite.plugin"``).

Registers the ``sqlite`` engine (alias ``sqlite3``); the backend module is imported
only when a connection is first made.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from dorm.hookspecs import hookimpl

BACKEND = "dorm_sqlite.backend:SQLiteBackend"


def test_settings() -> dict:
    """A ``DATABASES`` entry for the shared test suites: a file in a fresh temp dir
    (removed at interpreter exit)."""
    directory = tempfile.mkdtemp(prefix="dorm-sqlite-test-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return {"ENGINE": "sqlite", "NAME": os.path.join(directory, "test.db")}


@hookimpl
def dorm_register_backends(register):
    register("sqlite", BACKEND, aliases=("sqlite3",), test_settings=test_settings)
