"""The connection layer: handler, statement path, signals, errors, hooks, routers.

Runs against real SQLite databases (files in ``tmp_path`` and ``:memory:``).
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time

import dorm
import pytest
from dorm import plugins
from dorm.db import connections, router
from dorm.db.connection import (
    ahealth_check,
    clear_read_after_write_window,
    close_all,
    get_async_connection,
    get_connection,
    health_check,
    pool_stats,
    reset_connections,
)
from dorm.db.utils import add_sensitive_pattern, mask_params, reset_sensitive_patterns
from dorm.exceptions import (
    ImproperlyConfigured,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)
from dorm.signals import post_query, pre_query


@pytest.fixture
def file_db(tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "db.sqlite3")}}):
        conn = connections["default"]
        conn.execute_write("CREATE TABLE item (id integer PRIMARY KEY, name text UNIQUE, qty integer)")
        yield conn


@pytest.fixture
def mem_db():
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": ":memory:"}}):
        conn = connections["default"]
        conn.execute_write("CREATE TABLE item (id integer PRIMARY KEY, name text UNIQUE, qty integer)")
        yield conn


@pytest.fixture(params=["file", "memory"])
def any_db(request, tmp_path):
    name = str(tmp_path / "db.sqlite3") if request.param == "file" else ":memory:"
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": name}}):
        conn = connections["default"]
        conn.execute_write("CREATE TABLE item (id integer PRIMARY KEY, name text UNIQUE, qty integer)")
        yield conn


@pytest.fixture
def registered():
    """Register plugin objects for one test; unregistered on teardown."""
    names = []

    def register(obj):
        names.append(plugins.register(obj))
        connections.reset()
        return obj

    yield register
    for name in names:
        plugins.unregister(name)
    connections.reset()


def in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # pragma: no cover - reported below
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


# ---- the handler --------------------------------------------------------------------------
def test_one_backend_per_alias_and_thread(any_db):
    assert connections["default"] is any_db
    assert get_connection() is any_db
    other = in_thread(lambda: connections["default"])
    assert other is not any_db and other.alias == "default"
    any_db.execute_write("INSERT INTO item (name, qty) VALUES (?, ?)", ["a", 1])
    # another thread (its own connection) sees the committed row, memory DB included
    assert in_thread(lambda: connections["default"].execute("SELECT name FROM item")) == [("a",)]


def test_unknown_alias_lists_configured(file_db):
    with pytest.raises(ImproperlyConfigured) as err:
        connections["nope"]
    assert "'nope'" in str(err.value) and "'default'" in str(err.value)


def test_empty_databases_explains_configure():
    with dorm.settings.override(DATABASES={}):
        with pytest.raises(ImproperlyConfigured, match="DATABASES is empty"):
            connections["default"]


def test_unknown_engine_names_the_plugin():
    # an engine whose plugin is not installed here (dorm-postgres now is)
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "mysql", "NAME": "x"}}):
        with pytest.raises(ImproperlyConfigured, match="dorm-mysql"):
            connections["default"]


def test_reconfiguring_databases_resets_connections(tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "a.db")}}):
        first = connections["default"]
        first.execute("SELECT 1")
        dorm.configure(DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "b.db")}})
        second = connections["default"]
        assert second is not first
        assert first.connection is None  # closed by the reset
        assert second.settings_dict["NAME"].endswith("b.db")


def test_database_url_entry(tmp_path):
    with dorm.settings.override(DATABASES={"default": f"sqlite:///{tmp_path / 'u.db'}"}):
        assert connections["default"].execute("SELECT 1") == [(1,)]
        assert connections["default"].settings_dict["NAME"].endswith("u.db")


def test_close_all_reopens_on_use(file_db):
    file_db.execute("SELECT 1")
    assert file_db.connection is not None
    close_all()
    assert file_db.connection is None
    assert file_db.execute("SELECT count(*) FROM item") == [(0,)]


def test_hot_path_is_a_thread_local_lookup(file_db):
    # no settings access after the first call: the backend comes from a dict
    assert connections._local.conns["default"] is connections["default"]


# ---- async ----------------------------------------------------------------------------------
async def test_async_shares_data_with_sync(any_db):
    any_db.execute_write("INSERT INTO item (name, qty) VALUES (?, ?)", ["sync", 1])
    conn = await connections.aget("default")
    assert conn is not any_db
    assert conn is await connections.aget("default")           # shared per loop
    assert get_async_connection("default") is conn
    assert await conn.aexecute("SELECT name FROM item") == [("sync",)]
    await conn.aexecute_write("INSERT INTO item (name, qty) VALUES (?, ?)", ["async", 2])
    assert any_db.execute("SELECT name FROM item ORDER BY id") == [("sync",), ("async",)]
    await connections.aclose_all()


async def test_async_statement_api(file_db):
    conn = await connections.aget()
    assert await conn.aexecute_insert("INSERT INTO item (name, qty) VALUES (?, ?)", ["a", 1]) == [(1,)]
    rows = await conn.aexecute_insert("INSERT INTO item (name, qty) VALUES (?, ?) RETURNING id, name",
                                      ["b", 2], returning=True)
    assert rows == [(2, "b")]
    assert await conn.aexecutemany("INSERT INTO item (name, qty) VALUES (?, ?)",
                                   [(f"n{i}", i) for i in range(5)]) == 5
    assert await conn.aexecute_write("UPDATE item SET qty = qty + 1 WHERE qty < ?", [3]) == 5
    names, rows = await conn.aexecute_with_description("SELECT id, name FROM item WHERE id = ?", [1])
    assert names == ["id", "name"] and rows == [(1, "a")]
    got = [row async for row in conn.aiterate("SELECT id FROM item ORDER BY id", chunk_size=2)]
    assert got == [(i,) for i in range(1, 8)]
    await conn.aexecute_script("INSERT INTO item (name) VALUES ('s1'); INSERT INTO item (name) VALUES ('s2');")
    assert (await conn.aexecute("SELECT count(*) FROM item"))[0][0] == 9
    await connections.aclose_all()


async def test_shared_async_connection_per_loop_is_not_the_pinned_one(file_db):
    shared = await connections.aget()
    async with dorm.transaction.aatomic():
        pinned = await connections.aget()
        assert pinned is not shared and pinned.in_atomic_block
    assert await connections.aget() is shared
    await connections.aclose_all()


# ---- sync statement API ------------------------------------------------------------------------
def test_sync_statement_api(file_db):
    c = file_db
    assert c.execute_insert("INSERT INTO item (name, qty) VALUES (?, ?)", ["a", 1]) == [(1,)]
    assert c.execute_insert("INSERT INTO item (name, qty) VALUES (?, ?) RETURNING name", ["b", 1],
                            returning=True) == [("b",)]
    assert c.executemany("INSERT INTO item (name, qty) VALUES (?, ?)", ((f"n{i}", i) for i in range(4))) == 4
    assert c.execute_write("DELETE FROM item WHERE qty = ?", [1]) == 3
    assert c.execute_with_description("SELECT name AS label FROM item ORDER BY id LIMIT 1") == (["label"], [("n0",)])
    it = c.iterate("SELECT name FROM item ORDER BY id", chunk_size=1)
    assert list(it) == [("n0",), ("n2",), ("n3",)]
    with pytest.raises(ValueError):
        list(c.iterate("SELECT 1", chunk_size=0))


def test_execute_script_does_not_commit_inside_atomic(file_db):
    with dorm.transaction.atomic():
        file_db.execute_script("INSERT INTO item (name) VALUES ('x'); INSERT INTO item (name) VALUES ('y');")
        dorm.transaction.set_rollback(True)
    assert file_db.execute("SELECT count(*) FROM item") == [(0,)]


# ---- signals, logging, slow queries ---------------------------------------------------------------
def test_pre_and_post_query_signals(file_db):
    seen = []

    def pre(sender, **kw):
        seen.append(("pre", sender, kw["sql"], list(kw["params"]), kw["alias"], kw["many"]))

    def post(sender, **kw):
        seen.append(("post", kw["sql"], kw["error"], kw["rowcount"], kw["elapsed_ms"] >= 0))

    pre_query.connect(pre, weak=False)
    post_query.connect(post, weak=False)
    try:
        file_db.execute_write("INSERT INTO item (name) VALUES (?)", ["a"])
        file_db.execute("SELECT name FROM item")
        with pytest.raises(ProgrammingError):
            file_db.execute("SELECT nope FROM item")
    finally:
        pre_query.disconnect(pre)
        post_query.disconnect(post)
    assert seen[0] == ("pre", "sqlite", "INSERT INTO item (name) VALUES (?)", ["a"], "default", False)
    assert seen[1] == ("post", "INSERT INTO item (name) VALUES (?)", None, 1, True)
    assert seen[3] == ("post", "SELECT name FROM item", None, 1, True)
    assert seen[5][0] == "post" and isinstance(seen[5][2], ProgrammingError) and seen[5][3] is None


async def test_signals_fire_for_async_statements(file_db):
    seen = []

    def post(sender, **kw):
        seen.append((kw["sql"], kw["rowcount"]))

    post_query.connect(post, weak=False)
    try:
        conn = await connections.aget()
        await conn.aexecute("SELECT 1")
    finally:
        post_query.disconnect(post)
        await connections.aclose_all()
    assert seen == [("SELECT 1", 1)]


def test_slow_query_warning(file_db, caplog):
    with dorm.settings.override(SLOW_QUERY_MS=0):
        with caplog.at_level(logging.WARNING, logger="dorm.db.backends.sqlite"):
            file_db.execute("SELECT ? AS password", ["hunter2"])
    records = [r for r in caplog.records if "slow query" in r.getMessage()]
    assert records, caplog.text
    assert "hunter2" not in caplog.text and "***" in caplog.text


def test_slow_query_disabled(file_db, caplog):
    with dorm.settings.override(SLOW_QUERY_MS=None):
        with caplog.at_level(logging.WARNING, logger="dorm.db.backends.sqlite"):
            file_db.execute("SELECT 1")
    assert "slow query" not in caplog.text


def test_debug_log_masks_sensitive_params(file_db, caplog):
    with caplog.at_level(logging.DEBUG, logger="dorm.db.backends.sqlite"):
        file_db.execute("SELECT ? AS token, ? AS other", ["s3cret", "x"])
        file_db.execute("SELECT ? AS plain", ["visible"])
    assert "s3cret" not in caplog.text
    assert "visible" in caplog.text


def test_sensitive_patterns():
    try:
        add_sensitive_pattern("ssn")
        assert mask_params("UPDATE p SET ssn = ?", ["123"]) == ["***"]
        assert mask_params("UPDATE p SET name = ?", ["x"]) == ["x"]
    finally:
        reset_sensitive_patterns()
    assert mask_params("UPDATE p SET ssn = ?", ["123"]) == ["123"]


# ---- errors ------------------------------------------------------------------------------------
def test_integrity_error_keeps_driver_cause(file_db):
    file_db.execute_write("INSERT INTO item (name) VALUES ('a')")
    with pytest.raises(IntegrityError) as err:
        file_db.execute_write("INSERT INTO item (name) VALUES ('a')")
    assert isinstance(err.value.__cause__, sqlite3.IntegrityError)
    assert err.value.alias == "default" and err.value.vendor == "sqlite"
    assert "INSERT INTO item" in err.value.sql


def test_missing_table_gets_a_hint(file_db):
    with pytest.raises(ProgrammingError) as err:
        file_db.execute("SELECT * FROM missing_table")
    assert "no such table" in str(err.value)
    assert "dorm migrate" in str(err.value) and "create_tables" in str(err.value)


async def test_async_errors_are_normalised(file_db):
    conn = await connections.aget()
    with pytest.raises(ProgrammingError, match="dorm migrate"):
        await conn.aexecute("SELECT * FROM missing_table")
    await connections.aclose_all()


def test_syntax_error_is_programming_error(file_db):
    with pytest.raises(ProgrammingError):
        file_db.execute("SELEC 1")


# ---- retries ----------------------------------------------------------------------------------------
@pytest.fixture
def locked_db(tmp_path):
    path = str(tmp_path / "locked.db")
    setup = sqlite3.connect(path)
    setup.execute("CREATE TABLE item (id integer PRIMARY KEY, name text)")
    setup.execute("INSERT INTO item (name) VALUES ('a')")
    setup.commit()
    setup.close()
    with dorm.settings.override(
        DATABASES={"default": {"ENGINE": "sqlite", "NAME": path, "OPTIONS": {"timeout": 0.05}}},
        RETRY_ATTEMPTS=4, RETRY_BACKOFF=0.05,
    ):
        yield path


def _hold_exclusive_lock(path, seconds):
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")

    def release():
        time.sleep(seconds)
        holder.execute("COMMIT")
        holder.close()

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def test_transient_read_errors_are_retried(locked_db, caplog):
    conn = connections["default"]
    conn.execute("SELECT 1")  # connect first
    thread = _hold_exclusive_lock(locked_db, 0.2)
    try:
        with caplog.at_level(logging.WARNING, logger="dorm.db.backends.sqlite"):
            assert conn.execute("SELECT name FROM item") == [("a",)]
    finally:
        thread.join()
    assert "retrying read" in caplog.text


def test_writes_are_never_retried(locked_db):
    conn = connections["default"]
    conn.execute("SELECT 1")
    thread = _hold_exclusive_lock(locked_db, 0.3)
    try:
        with pytest.raises(OperationalError, match="locked"):
            conn.execute_write("INSERT INTO item (name) VALUES ('b')")
    finally:
        thread.join()
    assert conn.execute("SELECT count(*) FROM item") == [(1,)]


def test_reads_inside_a_transaction_are_not_retried(locked_db):
    conn = connections["default"]
    with pytest.raises(OperationalError), dorm.transaction.atomic():
        thread = _hold_exclusive_lock(locked_db, 0.3)
        try:
            conn.execute("SELECT name FROM item")
        finally:
            thread.join()


# ---- hooks -------------------------------------------------------------------------------------------
class TracingPlugin:
    def __init__(self):
        self.calls = []
        self.created = []

    @dorm.hookimpl(wrapper=True)
    def dorm_execute(self, backend, sql, params, many):
        self.calls.append(("before", sql, many))
        result = yield
        if asyncio.iscoroutine(result):
            async def traced():
                value = await result
                self.calls.append(("after-async", sql))
                return value
            return traced()
        self.calls.append(("after", sql, result))
        return result

    @dorm.hookimpl
    def dorm_connection_created(self, backend, connection, alias):
        self.created.append((type(connection), alias, backend.vendor))


def test_dorm_execute_wrapper_runs_around_statements(file_db, registered):
    tracer = registered(TracingPlugin())
    conn = connections["default"]
    assert conn.execute("SELECT 2") == [(2,)]
    conn.executemany("INSERT INTO item (name) VALUES (?)", [("a",), ("b",)])
    assert ("before", "SELECT 2", False) in tracer.calls
    assert ("after", "SELECT 2", [(2,)]) in tracer.calls
    assert ("before", "INSERT INTO item (name) VALUES (?)", True) in tracer.calls
    assert tracer.created == [(sqlite3.Connection, "default", "sqlite")]


def test_dorm_execute_wrapper_sees_normalised_errors(file_db, registered):
    seen = []

    class Breaker:
        @dorm.hookimpl(wrapper=True)
        def dorm_execute(self, backend, sql, params, many):
            try:
                return (yield)
            except Exception as exc:
                seen.append(type(exc))
                raise

    registered(Breaker())
    with pytest.raises(ProgrammingError):
        connections["default"].execute("SELECT * FROM missing")
    assert seen == [ProgrammingError]


def test_wrapper_registered_after_the_connection_opened_applies_to_it(file_db):
    """The dorm_execute composition follows the plugin set, not the connection's age."""
    conn = connections["default"]
    conn.execute("SELECT 1")  # opened before the plugin exists
    tracer = TracingPlugin()
    name = plugins.register(tracer)
    try:
        conn.execute("SELECT 5")
        assert ("after", "SELECT 5", [(5,)]) in tracer.calls
    finally:
        plugins.unregister(name)
    conn.execute("SELECT 6")
    assert not [c for c in tracer.calls if c[1] == "SELECT 6"]


def test_wrappers_see_a_connection_that_cannot_be_opened(tmp_path, registered):
    """Opening the connection is part of an observed statement: a breaker wrapper counts
    a database that cannot be reached (sync and async)."""
    seen = []

    class Breaker:
        @dorm.hookimpl(wrapper=True)
        def dorm_execute(self, backend, sql, params, many):
            try:
                result = yield
            except Exception as exc:
                seen.append(type(exc))
                raise
            if asyncio.iscoroutine(result):
                async def awaited():
                    try:
                        return await result
                    except Exception as exc:
                        seen.append(type(exc))
                        raise
                return awaited()
            return result

    registered(Breaker())
    missing = str(tmp_path / "no-such-dir" / "db.sqlite3")
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": missing}}):
        with pytest.raises(dorm.exceptions.OperationalError):
            connections["default"].execute("SELECT 1")
        assert seen == [dorm.exceptions.OperationalError]

        async def go():
            conn = await connections.aget()
            await conn.aexecute("SELECT 1")

        with pytest.raises(dorm.exceptions.OperationalError):
            asyncio.run(go())
        assert seen == [dorm.exceptions.OperationalError] * 2


async def test_dorm_execute_wrapper_async(file_db, registered):
    tracer = registered(TracingPlugin())
    conn = await connections.aget()
    assert await conn.aexecute("SELECT 3") == [(3,)]
    assert ("before", "SELECT 3", False) in tracer.calls
    assert ("after-async", "SELECT 3") in tracer.calls
    # the async connection was announced with a plain sqlite3 connection too
    assert tracer.created == [(sqlite3.Connection, "default", "sqlite")]
    await connections.aclose_all()


def test_no_hook_composed_without_plugins(file_db):
    file_db.execute("SELECT 1")
    assert file_db._hook is None


# ---- health and stats -------------------------------------------------------------------------------
def test_health_check_and_pool_stats(file_db):
    assert pool_stats("other") == {"alias": "other", "status": "uninitialised"}
    result = health_check("default")
    assert result["status"] == "ok" and result["alias"] == "default" and result["elapsed_ms"] >= 0
    deep = health_check("default", deep=True)
    assert deep["status"] == "ok" and deep["quick_check"] == "ok"
    stats = pool_stats("default")
    assert stats["status"] == "ok" and stats["vendor"] == "sqlite" and stats["atomic_depth"] == 0
    with dorm.transaction.atomic():
        assert pool_stats("default")["atomic_depth"] == 1
    bad = health_check("missing")
    assert bad["status"] == "error" and "ImproperlyConfigured" in bad["error"]


async def test_ahealth_check(file_db):
    result = await ahealth_check("default")
    assert result["status"] == "ok"
    assert (await ahealth_check("missing"))["status"] == "error"
    await connections.aclose_all()


def test_reset_connections_helper(file_db):
    before = connections["default"]
    reset_connections()
    assert connections["default"] is not before


# ---- routers -----------------------------------------------------------------------------------------
class FakeMeta:
    def __init__(self, app_label, model_name):
        self.app_label = app_label
        self.model_name = model_name


class Book:
    _meta = FakeMeta("shop", "book")


class Author:
    _meta = FakeMeta("shop", "author")


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        return "replica"

    def db_for_write(self, model, **hints):
        return "primary"


class NoOpinion:
    def db_for_read(self, model, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return None


class Exploding:
    def db_for_read(self, model, **hints):
        raise RuntimeError("shard key required")


@pytest.fixture
def routed():
    def configure(routers, window=3.0):
        dorm.configure(DATABASE_ROUTERS=routers, READ_AFTER_WRITE_WINDOW=window)
        clear_read_after_write_window()

    with dorm.settings.override():
        yield configure
    router.reset()
    clear_read_after_write_window()


def test_router_default_fast_path(routed):
    routed([])
    assert router.db_for_read(Book) == "default"
    assert router.db_for_write(Book) == "default"
    assert router.allow_migrate("default", "shop") is True


def test_router_chain_first_truthy_wins(routed):
    routed([NoOpinion(), ReplicaRouter()])
    assert router.db_for_read(Book) == "replica"
    assert router.db_for_write(Book) == "primary"


def test_router_dotted_path(routed):
    routed([f"{__name__}.ReplicaRouter"])
    assert router.db_for_read(Book, sticky=False) == "replica"


def test_router_bad_dotted_path(routed):
    routed(["no.such.Router"])
    with pytest.raises(ImproperlyConfigured, match="no.such.Router"):
        router.db_for_read(Book)


def test_router_exceptions_propagate(routed):
    routed([Exploding(), ReplicaRouter()])
    with pytest.raises(RuntimeError, match="shard key"):
        router.db_for_read(Book)


def test_read_after_write_stickiness(routed):
    routed([ReplicaRouter()], window=0.2)
    assert router.db_for_read(Book) == "replica"
    assert router.db_for_write(Book) == "primary"
    assert router.db_for_read(Book) == "primary"            # sticky
    assert router.db_for_read(Author) == "replica"          # other model unaffected
    assert router.db_for_read(Book, sticky=False) == "replica"
    time.sleep(0.25)
    assert router.db_for_read(Book) == "replica"            # window elapsed
    router.db_for_write(Book)
    clear_read_after_write_window()
    assert router.db_for_read(Book) == "replica"


def test_window_change_applies_without_any_connection(routed):
    """The window is re-read after a settings change even when routing never opened a
    connection (the knobs used to be refreshed only through the connection handler)."""
    routed([ReplicaRouter()], window=30)
    router.db_for_write(Book)
    assert router.db_for_read(Book) == "primary"
    routed([ReplicaRouter()], window=0)
    router.db_for_write(Book)
    assert router.db_for_read(Book) == "replica"


def test_stickiness_is_per_thread(routed):
    routed([ReplicaRouter()])
    router.db_for_write(Book)
    assert router.db_for_read(Book) == "primary"
    assert in_thread(lambda: router.db_for_read(Book)) == "replica"


async def test_stickiness_is_per_task(routed):
    routed([ReplicaRouter()])

    async def write_then_read():
        router.db_for_write(Book)
        return router.db_for_read(Book)

    async def read():
        await asyncio.sleep(0)
        return router.db_for_read(Book)

    assert await asyncio.gather(write_then_read(), read()) == ["primary", "replica"]


def test_router_hooks_after_settings_routers(routed, registered):
    class HookRouter:
        @dorm.hookimpl
        def dorm_db_for_read(self, model, hints):
            return "from-hook"

        @dorm.hookimpl
        def dorm_allow_migrate(self, alias, app_label, model_name, hints):
            return alias == "default"

    registered(HookRouter())
    routed([NoOpinion()])
    assert router.db_for_read(Book) == "from-hook"
    assert router.allow_migrate("default", "shop") is True
    assert router.allow_migrate("other", "shop") is False
    routed([ReplicaRouter()])
    assert router.db_for_read(Book) == "replica"


def test_instance_hint_and_allow_relation(routed):
    class State:
        def __init__(self, db):
            self.db = db

    class Obj:
        def __init__(self, db):
            self._state = State(db)

    routed([NoOpinion()])
    assert router.db_for_read(Book, instance=Obj("other")) == "other"
    assert router.allow_relation(Obj("a"), Obj("a")) is True
    assert router.allow_relation(Obj("a"), Obj("b")) is False
