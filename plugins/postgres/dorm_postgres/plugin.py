"""The ``dorm`` plugin of dorm-postgres (entry point ``postgres = "dorm_postgres.plugin"``).

Registers the ``postgresql`` engine (aliases ``postgres``, ``psql``), ``ArrayField``,
``HStoreField``, ``CITextField``, the range fields, ``dorm.Range`` and
``dorm.ExclusionConstraint``, the PostgreSQL lookups (array, jsonb, hstore, search,
range, ``unaccent``) and the PostgreSQL migration operations (enums, online,
materialized views, partitioning, row-level security and policies). Importing this
module does not import psycopg: the backend, fields and lookups modules load when
first used.

``test_settings()`` gives the shared test suites a database of their own: it
connects to ``DORM_TEST_PG_DSN`` (default ``host=127.0.0.1 port=5432 user=postgres
dbname=postgres``), creates one uniquely named database per process
(``dorm_test_<pid>_<hex>``), drops it at interpreter exit and returns its
``DATABASES`` entry, or ``None`` when the server cannot be reached.
"""
from __future__ import annotations

import atexit
import os
import secrets

from dorm.hookspecs import hookimpl

BACKEND = "dorm_postgres.backend:PostgresBackend"
DEFAULT_TEST_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"

_test_db: dict = {}


def _admin_connect(dsn: str):
    import psycopg

    return psycopg.connect(dsn, autocommit=True, connect_timeout=5)


def _drop_test_database(dsn: str, name: str) -> None:
    try:
        from dorm.db import connections

        connections.reset()      # give back pooled connections before dropping
    except Exception:  # noqa: BLE001, S110 - exit path: best effort
        pass
    try:
        import psycopg
        from psycopg import sql

        with _admin_connect(dsn) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    except psycopg.Error:  # pragma: no cover - exit path: best effort
        pass


def _is_local(params: dict) -> bool:
    host = params.get("host") or ""
    return host in ("", "localhost", "127.0.0.1", "::1") or host.startswith("/")


def _drop_orphans(conn) -> None:
    """Drop test databases left by processes of this machine that died without their
    exit handler (killed runs): ``dorm_test_<pid>_<hex>`` whose pid is gone and that
    nobody is connected to."""
    from psycopg import sql

    rows = conn.execute(
        "SELECT d.datname FROM pg_database d WHERE d.datname ~ '^dorm_test_[0-9]+_[0-9a-f]+$' "
        "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)").fetchall()
    for (name,) in rows:
        pid = int(name.split("_")[2])
        if pid == os.getpid() or os.path.exists(f"/proc/{pid}") or not os.path.isdir("/proc"):
            continue
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        except Exception:  # noqa: BLE001, S110 - someone else's: leave it
            pass


def test_settings() -> dict | None:
    """A ``DATABASES`` entry for a fresh test database (one per process), or ``None``
    when no PostgreSQL server is reachable at ``DORM_TEST_PG_DSN``."""
    if "entry" in _test_db:
        return dict(_test_db["entry"]) if _test_db["entry"] else None
    dsn = os.environ.get("DORM_TEST_PG_DSN") or DEFAULT_TEST_DSN
    try:
        import psycopg
        from psycopg import sql
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:  # pragma: no cover - psycopg is a dependency
        _test_db["entry"] = None
        return None
    name = f"dorm_test_{os.getpid()}_{secrets.token_hex(4)}"
    params = conninfo_to_dict(dsn)
    try:
        with _admin_connect(dsn) as conn:
            if _is_local(params):
                _drop_orphans(conn)
            conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(name)))
    except psycopg.Error:
        _test_db["entry"] = None
        return None
    atexit.register(_drop_test_database, dsn, name)
    entry = {"ENGINE": "postgresql", "NAME": name,
             "HOST": params.get("host", "localhost"), "PORT": int(params.get("port") or 5432)}
    if params.get("user"):
        entry["USER"] = params["user"]
    if params.get("password"):
        entry["PASSWORD"] = params["password"]
    extra = {k: v for k, v in params.items()
             if k not in ("host", "port", "user", "password", "dbname")}
    if extra:
        entry["OPTIONS"] = extra
    _test_db["entry"] = entry
    _test_db["dsn"] = dsn
    return dict(entry)


@hookimpl
def dorm_register_backends(register):
    register("postgresql", BACKEND, aliases=("postgres", "psql"), test_settings=test_settings)


@hookimpl
def dorm_register_field_types(register):
    from .fields import ArrayField

    register(ArrayField)
    from .hstore import HStoreField

    register(HStoreField)
    from .citext import CITextField
    from .range_fields import RANGE_FIELDS

    register(CITextField)
    for cls in RANGE_FIELDS:
        register(cls)


@hookimpl(specname="dorm_register_expressions")
def register_range_value(register):
    # dorm.Range is a value type, not an expression: this hook is the kernel's way to
    # expose a plugin's class as ``dorm.<Name>`` (it only requires a class)
    from .ranges import Range

    register(Range)


@hookimpl
def dorm_register_lookups(register):
    from dorm.fields import JSONField

    from . import lookups
    from .fields import ArrayField

    for cls in lookups.ARRAY_LOOKUPS:
        register(ArrayField, cls, vendors=("postgresql",))
    for cls in lookups.JSON_PG_LOOKUPS:
        register(JSONField, cls, vendors=("postgresql",))
    _register_search_hstore_lookups(register)
    _register_citext_range_unaccent_lookups(register)


def _register_search_hstore_lookups(register):
    from dorm.fields import CharField, TextField

    from . import hstore, search

    for cls in hstore.HSTORE_LOOKUPS:
        register(hstore.HStoreField, cls)
    for field_cls in (CharField, TextField):
        for cls in search.SEARCH_LOOKUPS:
            register(field_cls, cls, vendors=("postgresql",))
    register(search.SearchVectorField, search.SearchVectorExact, vendors=("postgresql",))
    register(search.SearchVectorField, search.SearchLookup, vendors=("postgresql",))


def _register_citext_range_unaccent_lookups(register):
    from dorm.fields import CharField, TextField

    from . import citext, range_lookups, unaccent
    from .range_fields import RangeField

    for cls in citext.CITEXT_LOOKUPS:
        register(citext.CITextField, cls)          # per-backend SQL inside
    for cls in range_lookups.RANGE_LOOKUPS:
        register(RangeField, cls, vendors=("postgresql",))
    for field_cls in (CharField, TextField):
        for cls in unaccent.UNACCENT_LOOKUPS:
            register(field_cls, cls, vendors=("postgresql",))
    for cls in unaccent.UNACCENTED_LOOKUPS:
        register(unaccent.UnaccentedText, cls, vendors=("postgresql",))


@hookimpl
def dorm_register_migration_operations(register):
    from .enums import ENUM_OPERATIONS
    from .online import ONLINE_OPERATIONS
    from .pg_operations import VIEW_PARTITION_OPERATIONS
    from .pg_policies import POLICY_OPERATIONS

    for cls in [*ENUM_OPERATIONS, *ONLINE_OPERATIONS, *VIEW_PARTITION_OPERATIONS, *POLICY_OPERATIONS]:
        register(cls)


@hookimpl(specname="dorm_register_expressions")
def register_exclusion_constraint(register):
    # like dorm.Range: the kernel's way to expose a plugin class as ``dorm.<Name>``
    # (``dorm.ExclusionConstraint``, the path migration files import it from)
    from .constraints import ExclusionConstraint

    register(ExclusionConstraint)


@hookimpl
def dorm_register_modules(register):
    register("dorm.search", "dorm_postgres.search")


# ---- bulk COPY and LISTEN/NOTIFY (features-4.0 §1, §7) -------------------------------------
@hookimpl(specname="dorm_register_modules")
def register_copy_and_listen_modules(register):
    register("dorm.contrib.bulk_copy", "dorm_postgres.copy")
    register("dorm.contrib.listen_notify", "dorm_postgres.listen_notify")
    register("dorm.contrib.lag_router", "dorm_postgres.lag_router")


@hookimpl(specname="dorm_register_commands")
def register_import_command(cli):
    from .import_cmd import import_command

    cli.add_command(import_command)
