"""Shared fixtures: the ORM suites run once per installed backend.

A backend plugin offers a test database through ``dorm_register_backends``'s
``test_settings`` callable; the ``db`` fixture configures it as ``default`` and
creates the tables a test module lists in ``MODELS``. With ``DORM_REQUIRE_PG=1``
(CI) a backend whose server is unreachable fails instead of skipping.
"""
from __future__ import annotations

import os

import pytest


def _backends():
    from dorm.plugins import get_registry

    return sorted(get_registry().backends)


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _backends(), scope="session")


@pytest.fixture(scope="session")
def backend_settings(backend):
    from dorm.plugins import get_registry

    reg = get_registry().backends[backend]
    settings = reg.test_settings() if reg.test_settings else None
    if settings is None:
        if os.environ.get("DORM_REQUIRE_PG") == "1" and backend in ("postgresql",):
            pytest.fail(f"backend {backend!r} has no reachable test database (DORM_REQUIRE_PG=1)")
        pytest.skip(f"backend {backend!r}: no test database available here")
    return settings


@pytest.fixture
def db(request, backend_settings, tmp_path):
    """Configure ``default`` on the backend under test and create the tables of the
    test module's ``MODELS``; drop them afterwards."""
    import dorm
    from dorm.db import connections

    settings = dict(backend_settings)
    if settings.get("NAME") not in (None, ":memory:") and str(settings["NAME"]).endswith(".sqlite3"):
        settings["NAME"] = str(tmp_path / "test.sqlite3")
    dorm.configure(DATABASES={"default": settings})
    models = list(getattr(request.module, "MODELS", []))
    dorm.drop_tables(models)
    dorm.create_tables(models)
    yield connections["default"]
    try:
        dorm.drop_tables(models)
    finally:
        connections.close_all()
