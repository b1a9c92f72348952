"""Fixtures of the SQLite backend suite: a file database and an in-memory one."""
from __future__ import annotations

import dorm
import pytest
from dorm.db import connections


def _configure(name, **options):
    entry = {"ENGINE": "sqlite", "NAME": name}
    if options:
        entry["OPTIONS"] = options
    return dorm.settings.override(DATABASES={"default": entry})


@pytest.fixture
def configure_sqlite():
    """``with configure_sqlite(name, **options): ...`` – a ``default`` SQLite alias."""
    return _configure


@pytest.fixture
def file_conn(tmp_path):
    with _configure(str(tmp_path / "db.sqlite3")):
        yield connections["default"]


@pytest.fixture
def mem_conn():
    with _configure(":memory:"):
        yield connections["default"]


@pytest.fixture(params=["file", "memory"])
def conn(request, tmp_path):
    name = str(tmp_path / "db.sqlite3") if request.param == "file" else ":memory:"
    with _configure(name):
        yield connections["default"]
