"""Fixtures of the DuckDB backend suite: a file database and an in-memory one."""
from __future__ import annotations

import dorm
import pytest
from dorm.db import connections

pytest.importorskip("duckdb")
pytest.importorskip("dorm_duckdb")


def _configure(name, **options):
    entry = {"ENGINE": "duckdb", "NAME": name}
    if options:
        entry["OPTIONS"] = options
    return dorm.settings.override(DATABASES={"default": entry})


@pytest.fixture
def configure_duckdb():
    """``with configure_duckdb(name, **options): ...`` – a ``default`` DuckDB alias."""
    return _configure


@pytest.fixture
def file_conn(tmp_path):
    with _configure(str(tmp_path / "db.duckdb")):
        yield connections["default"]
    connections.close_all()


@pytest.fixture
def mem_conn():
    with _configure(":memory:"):
        yield connections["default"]
    connections.close_all()


@pytest.fixture(params=["file", "memory"])
def conn(request, tmp_path):
    name = str(tmp_path / "db.duckdb") if request.param == "file" else ":memory:"
    with _configure(name):
        yield connections["default"]
    connections.close_all()


@pytest.fixture
def tables(conn):
    """``tables(Model, ...)``: create the models' tables on ``conn`` (dropped afterwards)."""
    created = []

    def make(*models):
        dorm.create_tables(list(models))
        created.extend(models)
        return conn

    yield make
    if created:
        try:
            dorm.drop_tables(created)
        except Exception:  # noqa: BLE001, S110 - the alias may be gone already
            pass
