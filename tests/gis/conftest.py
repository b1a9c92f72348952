"""Fixtures of the GIS suite: the same tests on PostGIS and on SpatiaLite.

``gis_backend`` is parametrised over the installed backends that can do GIS
(``sqlite`` with SpatiaLite loadable, ``postgresql`` with the PostGIS extension; each
PostgreSQL run gets a database of its own and runs ``CREATE EXTENSION postgis`` in it). A backend whose
spatial extension is missing is skipped, or fails when ``CI=true`` /
``DORM_REQUIRE_GIS=1`` (CI installs PostGIS and SpatiaLite, so a skip there would hide a
broken install step). ``gisdb`` configures ``default`` on it and creates the test
module's ``MODELS``.
"""
from __future__ import annotations

import os

import pytest

GIS_BACKENDS = ("postgresql", "sqlite")


def _required() -> bool:
    return os.environ.get("DORM_REQUIRE_GIS") == "1" or os.environ.get("CI") == "true"


def _installed():
    from dorm.plugins import get_registry

    backends = get_registry().backends
    return [b for b in GIS_BACKENDS if b in backends]


def pytest_generate_tests(metafunc):
    if "gis_backend" in metafunc.fixturenames:
        metafunc.parametrize("gis_backend", _installed(), scope="session")


def _unavailable(message):
    if _required():
        pytest.fail(message + " (CI=true / DORM_REQUIRE_GIS=1: GIS must be available)")
    pytest.skip(message)


def _postgis_database(base: dict) -> dict:
    """A database of our own on the test server (so PostGIS's tables do not show up in
    the other suites' database), with ``CREATE EXTENSION postgis``; dropped at exit."""
    import atexit
    import secrets

    import psycopg
    from psycopg import sql

    admin = {"host": base.get("HOST", "127.0.0.1"), "port": base.get("PORT", 5432),
             "user": base.get("USER"), "password": base.get("PASSWORD"), "dbname": "postgres"}
    admin = {k: v for k, v in admin.items() if v}
    name = f"dorm_gis_test_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(**admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        _unavailable(f"cannot create a PostgreSQL test database: {exc}")

    def drop():
        from dorm.db import connections

        try:
            connections.reset()
            with psycopg.connect(**admin, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
        except Exception:  # noqa: BLE001, S110 - interpreter exit: best effort
            pass

    atexit.register(drop)
    try:
        with psycopg.connect(**{**admin, "dbname": name}, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error as exc:
        _unavailable(f"PostGIS is not installed on the PostgreSQL server: {exc}")
    return {**base, "NAME": name}


@pytest.fixture(scope="session")
def gis_settings(gis_backend):
    from dorm.plugins import get_registry

    reg = get_registry().backends[gis_backend]
    settings = reg.test_settings() if reg.test_settings else None
    if settings is None:
        _unavailable(f"backend {gis_backend!r}: no test database available here")
    if gis_backend == "sqlite":
        from dorm_gis import spatialite

        ok, reason = spatialite.availability()
        if not ok:
            _unavailable(f"SpatiaLite cannot be loaded: {reason}")
    else:
        settings = _postgis_database(settings)
    return settings


@pytest.fixture
def gisdb(request, gis_settings):
    """``default`` on the GIS backend under test, with the module's ``MODELS`` created."""
    import dorm
    from dorm.db import connections

    dorm.configure(DATABASES={"default": dict(gis_settings)})
    models = list(getattr(request.module, "MODELS", []))
    dorm.drop_tables(models)
    dorm.create_tables(models)
    yield connections["default"]
    try:
        dorm.drop_tables(models)
    finally:
        connections.close_all()
