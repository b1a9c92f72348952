"""Settings, pooling, sync/async connections and per-connection set-up."""
from __future__ import annotations

import asyncio
import threading

import dorm
import psycopg
import pytest
from dorm import transaction
from dorm.db import connections
from dorm.exceptions import ImproperlyConfigured

from .models import Item

MODELS = [Item]


def _entry(pg_settings, **extra):
    return dict(pg_settings, **extra)


# ---- settings ---------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["postgresql", "postgres", "psql", "django.db.backends.postgresql"])
def test_engine_names(pg_settings, engine):
    with dorm.settings.override(DATABASES={"default": _entry(pg_settings, ENGINE=engine)}):
        assert connections["default"].vendor == "postgresql"
        assert connections["default"].execute("SELECT 1") == [(1,)]


def test_defaults_and_types(pg_settings):
    with dorm.settings.override(DATABASES={"default": _entry(pg_settings, MAX_POOL_SIZE="4",
                                                             POOL_TIMEOUT="2.5", POOL_CHECK="false")}):
        s = connections.settings_for("default")
        assert (s["MIN_POOL_SIZE"], s["MAX_POOL_SIZE"], s["POOL_TIMEOUT"]) == (1, 4, 2.5)
        assert (s["MAX_IDLE"], s["MAX_LIFETIME"], s["POOL_CHECK"]) == (600.0, 3600.0, False)
        assert s["PREPARE_THRESHOLD"] == 5


def test_database_url(pg_settings):
    url = (f"postgres://{pg_settings.get('USER', '')}@{pg_settings['HOST']}:{pg_settings['PORT']}/"
           f"{pg_settings['NAME']}?MAX_POOL_SIZE=3&POOL_TIMEOUT=4&application_name=dorm-url-test")
    with dorm.settings.override(DATABASES={"default": url}):
        s = connections.settings_for("default")
        assert s["MAX_POOL_SIZE"] == 3 and s["POOL_TIMEOUT"] == 4.0
        assert connections["default"].execute("SHOW application_name") == [("dorm-url-test",)]


@pytest.mark.parametrize("bad, words", [
    ({"MAX_POOL_SIZE": 0}, "MAX_POOL_SIZE"),
    ({"MIN_POOL_SIZE": 5, "MAX_POOL_SIZE": 2}, "MIN_POOL_SIZE"),
    ({"POOL_TIMEOUT": "soon"}, "POOL_TIMEOUT"),
    ({"PREPARE_THRESHOLD": "often"}, "PREPARE_THRESHOLD"),
    ({"PGBOUNCER_MODE": "always"}, "PGBOUNCER_MODE"),
    ({"OPTIONS": {"no_such_libpq_option": 1}}, "no_such_libpq_option"),
    ({"OPTIONS": {"isolation_level": "chaotic"}}, "isolation_level"),
])
def test_bad_settings_are_reported(pg_settings, bad, words):
    with dorm.settings.override(DATABASES={"default": _entry(pg_settings, **bad)}):
        with pytest.raises(ImproperlyConfigured, match=words) as err:
            connections["default"]
        assert "'default'" in str(err.value)


def test_options_reach_the_session(pg_settings):
    options = {"application_name": "dorm-options", "isolation_level": "repeatable read",
               "init_command": "SET statement_timeout = 1234"}
    with dorm.settings.override(DATABASES={"default": _entry(pg_settings, OPTIONS=options)}):
        conn = connections["default"]
        assert conn.execute("SHOW application_name") == [("dorm-options",)]
        assert conn.execute("SHOW statement_timeout") == [("1234ms",)]
        assert conn.execute("SHOW TimeZone") == [("UTC",)]
        with transaction.atomic():
            assert conn.execute("SHOW transaction_isolation") == [("repeatable read",)]


def test_pgbouncer_mode_disables_prepared_statements(pg_settings):
    with dorm.settings.override(DATABASES={"default": _entry(pg_settings, PGBOUNCER_MODE="transaction")}):
        conn = connections["default"]
        for _ in range(8):
            conn.execute("SELECT %s::int", [1])
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements") == [(0,)]
    with dorm.settings.override(DATABASES={"default": _entry(pg_settings, PREPARE_THRESHOLD=1)}):
        conn = connections["default"]
        for _ in range(3):
            conn.execute("SELECT %s::int", [1])
        with transaction.atomic():   # one connection for both statements
            conn.execute("SELECT %s::int", [1])
            assert conn.execute("SELECT count(*) FROM pg_prepared_statements")[0][0] >= 1


# ---- pooling ------------------------------------------------------------------------------------
def test_idle_threads_hold_no_connection(pg):
    Item.objects.create(name="a")
    assert pg.connection is None            # given back after the statement
    stats = dorm.db.connection.pool_stats()
    assert stats["pool_max"] == 10 and stats["pool_min"] == 1
    assert stats["pool_available"] == stats["pool_size"]
    with transaction.atomic():
        Item.objects.count()
        assert pg.connection is not None    # pinned for the transaction
        assert dorm.db.connection.pool_stats()["pool_available"] == stats["pool_size"] - 1
    assert pg.connection is None


def test_more_threads_than_connections(configure_pg):
    with configure_pg(MAX_POOL_SIZE=2, POOL_TIMEOUT=10):
        dorm.drop_tables(MODELS)
        dorm.create_tables(MODELS)
        errors = []

        def work(n):
            try:
                for i in range(20):
                    Item.objects.create(name=f"t{n}-{i}")
                    Item.objects.filter(name=f"t{n}-{i}").count()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            assert errors == []
            assert Item.objects.count() == 160
            assert dorm.db.connection.pool_stats()["pool_size"] <= 2
        finally:
            dorm.drop_tables(MODELS)


async def test_concurrent_tasks_share_the_async_pool(configure_pg):
    with configure_pg(MAX_POOL_SIZE=4):
        await dorm.acreate_tables(MODELS)
        try:
            await Item.objects.abulk_create([Item(name=f"i{n}") for n in range(10)])

            async def slow_count():
                conn = await connections.aget()
                await conn.aexecute("SELECT pg_sleep(0.2)")
                return await Item.objects.acount()

            t0 = asyncio.get_running_loop().time()
            counts = await asyncio.gather(*[slow_count() for _ in range(4)])
            elapsed = asyncio.get_running_loop().time() - t0
            assert counts == [10] * 4
            assert elapsed < 0.6          # in parallel on 4 connections, not one after another
        finally:
            await dorm.adrop_tables(MODELS)


async def test_sync_and_async_see_each_others_commits(pg):
    Item.objects.create(name="sync")
    assert await Item.objects.filter(name="sync").aexists()
    await Item.objects.acreate(name="async")
    assert await asyncio.to_thread(lambda: Item.objects.filter(name="async").exists())


def test_async_pools_of_closed_loops_are_released(pg, admin, pg_settings):
    def one_loop():
        async def main():
            return await Item.objects.acount()
        return asyncio.run(main())

    for _ in range(3):
        assert one_loop() == 0
    backend_count = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [pg_settings["NAME"]]).fetchone()[0]
    # the sync pool plus at most one live async pool: loops that ended closed theirs
    assert backend_count <= 4


def test_connection_created_hook_sees_psycopg_connections(configure_pg):
    seen = []

    class Tracer:
        @dorm.hookimpl
        def dorm_connection_created(self, backend, connection, alias):
            seen.append((type(connection), alias, backend.vendor))

    with dorm.plugins.registered(Tracer(), "tracer"), configure_pg():
        connections["default"].execute("SELECT 1")
        connections["default"].execute("SELECT 1")

        async def main():
            await (await connections.aget()).aexecute("SELECT 1")
        asyncio.run(main())
    assert (psycopg.Connection, "default", "postgresql") in seen
    assert (psycopg.AsyncConnection, "default", "postgresql") in seen
    # announced once per new connection, not per statement
    assert len(seen) <= 4


def test_execute_hook_wraps_statements(configure_pg):
    statements = []

    class Spy:
        @dorm.hookimpl(wrapper=True)
        def dorm_execute(self, backend, sql, params, many):
            statements.append(sql)
            return (yield)

    with configure_pg():
        connections["default"].execute("SELECT 1")
        with dorm.plugins.registered(Spy(), "spy"):
            assert connections["default"].execute("SELECT %s::int", [7]) == [(7,)]
    assert statements == ["SELECT %s::int"]


def test_raw_sql_with_named_parameters_and_literal_percent(pg):
    assert pg.execute("SELECT %(a)s::int + %(b)s::int", {"a": 1, "b": 2}) == [(3,)]
    assert pg.execute("SELECT 'a%%b', %s::text", ["x"]) == [("a%b", "x")]
    assert pg.execute_with_description("SELECT 1 AS one, 'x' AS two") == (["one", "two"], [(1, "x")])
    # scripts are literal SQL: no parameters, '%' is a percent sign
    pg.execute_script("CREATE TABLE pct (v text); INSERT INTO pct VALUES ('100%')")
    try:
        assert pg.execute("SELECT v FROM pct WHERE v LIKE '%%'") == [("100%",)]
    finally:
        pg.execute_script("DROP TABLE pct")


def test_executemany(pg):
    n = pg.executemany('INSERT INTO "pg_tests_item" ("name", "qty") VALUES (%s, %s)',
                       [(f"m{i}", i) for i in range(50)])
    assert n == 50 and Item.objects.count() == 50


def test_health_check_and_client(pg, pg_settings):
    report = dorm.db.connection.health_check(deep=True)
    assert report["status"] == "ok" and report["server_version"]
    assert report["tables"] >= 1 and report["pool"]["vendor"] == "postgresql"
    args, env = pg.client.settings_to_cmd_args_env(
        dict(pg_settings, PASSWORD="s3cret", OPTIONS={"sslmode": "require"}), ["-c", "SELECT 1"])
    assert args[0] == "psql" and args[-1] == pg_settings["NAME"] and "s3cret" not in args
    assert env["PGPASSWORD"] == "s3cret" and env["PGSSLMODE"] == "require"
    assert ["-h", pg_settings["HOST"]] == args[args.index("-h"):args.index("-h") + 2]
