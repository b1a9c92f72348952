"""Fixtures of the PostgreSQL backend suite (dorm-postgres).

The server comes from ``DORM_TEST_PG_DSN`` (default: 127.0.0.1:5432, user postgres);
the plugin's ``test_settings()`` creates one database for the session and drops it
at exit. Without a reachable server the suite skips, or fails with
``DORM_REQUIRE_PG=1`` (CI).
"""
from __future__ import annotations

import os

import dorm
import pytest
from dorm.db import connections


@pytest.fixture(scope="session")
def pg_settings():
    from dorm_postgres.plugin import test_settings

    settings = test_settings()
    if settings is None:
        if os.environ.get("DORM_REQUIRE_PG") == "1":
            pytest.fail("PostgreSQL is not reachable at DORM_TEST_PG_DSN (DORM_REQUIRE_PG=1)")
        pytest.skip("PostgreSQL is not reachable (set DORM_TEST_PG_DSN)")
    return settings


@pytest.fixture
def configure_pg(pg_settings):
    """``with configure_pg(**overrides): ...`` – ``default`` on the test database, with
    extra keys of the DATABASES entry (``MAX_POOL_SIZE=2``, ``OPTIONS={...}``...)."""

    def configure(settings=None, **overrides):
        entry = dict(pg_settings)
        entry.update(overrides)
        return dorm.settings.override(DATABASES={"default": entry}, **(settings or {}))

    return configure


@pytest.fixture
def pg(request, configure_pg):
    """``default`` on the test database, with the tables of the module's ``MODELS``."""
    with configure_pg():
        models = list(getattr(request.module, "MODELS", []))
        dorm.drop_tables(models)
        dorm.create_tables(models)
        try:
            yield connections["default"]
        finally:
            try:
                dorm.drop_tables(models)
            finally:
                connections.close_all()


@pytest.fixture
def admin(pg_settings):
    """A plain psycopg connection to the test database (autocommit), for looking at the
    server from outside dorm (pg_stat_activity, pg_terminate_backend)."""
    import psycopg

    conn = psycopg.connect(host=pg_settings["HOST"], port=pg_settings["PORT"],
                           user=pg_settings.get("USER"), password=pg_settings.get("PASSWORD"),
                           dbname=pg_settings["NAME"], autocommit=True)
    try:
        yield conn
    finally:
        conn.close()
