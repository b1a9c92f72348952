"""Fixtures of the dorm-resilience suite.

* ``fresh_breakers`` (autouse): an empty circuit-breaker registry around every test.
* ``pg_settings``: a ``DATABASES`` entry for the PostgreSQL test database, from the
  ``postgresql`` engine's ``test_settings`` (dorm-postgres). Without the engine or a
  server the test skips; with ``DORM_REQUIRE_PG=1`` it fails instead.
* ``pg``: ``default`` on that database with the tables of the module's ``MODELS``.
* ``FakeClock``: a clock for breakers that moves only when told.
"""
from __future__ import annotations

import os

import dorm
import pytest
from dorm.db import connections


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _unavailable(reason: str):
    if os.environ.get("DORM_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL is required (DORM_REQUIRE_PG=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fresh_breakers():
    from dorm.contrib.circuit_breaker import reset_circuit_breakers

    reset_circuit_breakers()
    yield
    reset_circuit_breakers()


@pytest.fixture(scope="session")
def pg_settings():
    from dorm.plugins import get_registry

    reg = get_registry().backends.get("postgresql")
    if reg is None:
        _unavailable("the 'postgresql' engine is not registered (pip install -e plugins/postgres)")
    settings = reg.test_settings() if reg.test_settings else None
    if settings is None:
        _unavailable("no PostgreSQL test database is reachable (DORM_TEST_PG_DSN)")
    return settings


@pytest.fixture
def pg(request, pg_settings):
    """``default`` on the PostgreSQL test database with the module's ``MODELS``."""
    models = list(getattr(request.module, "MODELS", []))
    with dorm.settings.override(DATABASES={"default": dict(pg_settings)}):
        dorm.drop_tables(models)
        dorm.create_tables(models)
        try:
            yield connections["default"]
        finally:
            try:
                dorm.drop_tables(models)
            finally:
                connections.close_all()
