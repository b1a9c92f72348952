"""dorm.transaction and dorm.test.rollback on real SQLite databases."""
from __future__ import annotations

import asyncio
import logging

import dorm
import dorm.test
import pytest
from dorm import transaction
from dorm.db import connections
from dorm.exceptions import IntegrityError, TransactionManagementError
from dorm.transaction import (
    aatomic,
    aon_commit,
    aon_rollback,
    atomic,
    get_rollback,
    on_commit,
    on_rollback,
    savepoint,
    savepoint_commit,
    savepoint_rollback,
    set_rollback,
)


@pytest.fixture(params=["file", "memory"])
def db(request, tmp_path):
    name = str(tmp_path / "tx.sqlite3") if request.param == "file" else ":memory:"
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": name}}):
        conn = connections["default"]
        conn.execute_write("CREATE TABLE item (id integer PRIMARY KEY, name text UNIQUE)")
        yield conn


@pytest.fixture
def file_db(tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite",
                                                       "NAME": str(tmp_path / "tx.sqlite3")}}):
        conn = connections["default"]
        conn.execute_write("CREATE TABLE item (id integer PRIMARY KEY, name text UNIQUE)")
        yield conn


def add(name, conn=None):
    (conn or connections["default"]).execute_write("INSERT INTO item (name) VALUES (?)", [name])


def names(conn=None):
    return [r[0] for r in (conn or connections["default"]).execute("SELECT name FROM item ORDER BY id")]


async def aadd(name):
    conn = await connections.aget()
    await conn.aexecute_write("INSERT INTO item (name) VALUES (?)", [name])


async def anames():
    conn = await connections.aget()
    return [r[0] for r in await conn.aexecute("SELECT name FROM item ORDER BY id")]


# ---- atomic ----------------------------------------------------------------------------------
def test_commit_and_rollback(db):
    with atomic():
        add("a")
        assert db.in_atomic_block and db.in_transaction
    assert not db.in_atomic_block and names() == ["a"]
    with pytest.raises(ValueError), atomic():
        add("b")
        raise ValueError("boom")
    assert names() == ["a"]


def test_nested_savepoint_rollback_keeps_outer_work(db):
    with atomic():
        add("outer")
        with pytest.raises(IntegrityError), atomic():
            add("inner")
            add("outer")        # duplicate -> IntegrityError, rolls back to the savepoint
        add("after")
    assert names() == ["outer", "after"]


def test_deeply_nested(db):
    with atomic():
        add("1")
        with atomic():
            add("2")
            with atomic() as inner:
                add("3")
                inner.set_rollback(True)
            add("4")
    assert names() == ["1", "2", "4"]


def test_set_rollback_module_and_cm(db):
    with atomic() as cm:
        add("a")
        assert get_rollback() is False
        set_rollback(True)
        assert get_rollback() is True
    assert names() == []
    with atomic() as cm:
        add("b")
        cm.set_rollback(True)
        cm.set_rollback(False)
    assert names() == ["b"]
    with pytest.raises(TransactionManagementError):
        set_rollback(True)
    with pytest.raises(TransactionManagementError):
        get_rollback()
    cm = atomic()
    with pytest.raises(TransactionManagementError):
        cm.set_rollback(True)


def test_durable(db):
    with atomic(durable=True):
        add("a")
    with pytest.raises(RuntimeError, match="durable"), atomic(), atomic(durable=True):
        pass
    assert names() == ["a"]


def test_inner_block_without_savepoint_poisons_outer(db):
    with pytest.raises(TransactionManagementError, match="without a savepoint"), atomic():
        add("outer")
        try:
            with atomic(savepoint=False):
                add("inner")
                raise ValueError("inner failure")
        except ValueError:
            pass
        add("more")
    assert names() == []   # never half-committed


def test_inner_block_without_savepoint_propagating_exception(db):
    with pytest.raises(ValueError), atomic():
        add("outer")
        with atomic(savepoint=False):
            raise ValueError("x")
    assert names() == []


def test_backend_without_savepoints_is_predictable(db, monkeypatch):
    monkeypatch.setattr(db.features, "supports_savepoints", False)
    with atomic():
        add("a")
        with atomic():           # no SAVEPOINT issued
            add("b")
    assert names() == ["a", "b"]
    with pytest.raises(TransactionManagementError), atomic():
        add("c")
        try:
            with atomic():
                add("d")
                raise KeyError("x")
        except KeyError:
            pass
    assert names() == ["a", "b"]
    with pytest.raises(dorm.exceptions.NotSupportedError), atomic():
        savepoint()


def test_set_rollback_in_block_without_savepoint_rolls_back_silently(db):
    with atomic():
        add("a")
        with atomic(savepoint=False):
            set_rollback(True)
    assert names() == []


def test_decorator_forms(db):
    @atomic
    def bare(fail=False):
        add("bare-failed" if fail else "bare")
        assert connections["default"].in_atomic_block
        if fail:
            raise ValueError

    @atomic("default")
    def aliased():
        add("aliased")

    @atomic(durable=True)
    def durable():
        add("durable")

    bare()
    with pytest.raises(ValueError):
        bare(fail=True)
    aliased()
    durable()
    with pytest.raises(RuntimeError), atomic():
        durable()
    assert names() == ["bare", "aliased", "durable"]
    assert bare.__name__ == "bare"

    with pytest.raises(TypeError, match="aatomic"):
        @atomic
        async def coro():
            pass


def test_atomic_accepts_a_backend_instance(db):
    with atomic(db):
        add("a")
        assert db.in_atomic_block
    assert names() == ["a"]


def test_commit_failure_rolls_back_and_runs_rollback_callbacks(file_db):
    file_db.execute_write("CREATE TABLE parent (id integer PRIMARY KEY)")
    file_db.execute_write("CREATE TABLE child (id integer PRIMARY KEY, parent_id integer "
                          "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    ran = []
    with pytest.raises(IntegrityError), atomic():
        file_db.execute_write("INSERT INTO child (parent_id) VALUES (42)")  # checked at COMMIT
        on_commit(lambda: ran.append("commit"))
        on_rollback(lambda: ran.append("rollback"))
    assert ran == ["rollback"]
    assert not file_db.in_transaction
    assert file_db.execute("SELECT count(*) FROM child") == [(0,)]


def test_closed_connection_inside_atomic_is_reported(file_db):
    with pytest.raises(TransactionManagementError, match="closed"), atomic():
        add("a")
        file_db.close()
    assert names() == []


def test_atomic_refuses_manual_transaction(file_db):
    file_db.begin()
    try:
        with pytest.raises(TransactionManagementError), atomic():
            pass
    finally:
        file_db.rollback()


# ---- callbacks ----------------------------------------------------------------------------------
def test_on_commit_order_and_promotion(db):
    log = []
    with atomic():
        on_commit(lambda: log.append("outer-1"))
        with atomic():
            on_commit(lambda: log.append("inner"))
            with atomic():
                on_commit(lambda: log.append("innermost"))
        assert log == []                       # nothing before the outermost COMMIT
        on_commit(lambda: log.append("outer-2"))
        on_commit(lambda: log.append(connections["default"].in_atomic_block))
    assert log == ["outer-1", "inner", "innermost", "outer-2", False]


def test_on_commit_discarded_with_rolled_back_savepoint(db):
    log = []
    with atomic():
        on_commit(lambda: log.append("kept"))
        with pytest.raises(ValueError), atomic():
            on_commit(lambda: log.append("dropped"))
            raise ValueError
    assert log == ["kept"]
    with pytest.raises(ValueError), atomic():
        on_commit(lambda: log.append("never"))
        raise ValueError
    assert log == ["kept"]


def test_on_commit_outside_transaction_runs_now(db):
    log = []
    on_commit(lambda: log.append("now"))
    assert log == ["now"]
    on_rollback(lambda: log.append("never"))   # nothing to undo: dropped
    assert log == ["now"]
    with pytest.raises(TypeError):
        on_commit("not callable")


def test_on_rollback(db):
    log = []
    with atomic():
        on_rollback(lambda: log.append("outer-dropped"))
        with pytest.raises(ValueError), atomic():
            on_rollback(lambda: log.append("inner"))
            raise ValueError
        assert log == ["inner"]
        with atomic():
            on_rollback(lambda: log.append("promoted-dropped"))
    assert log == ["inner"]
    with pytest.raises(ValueError), atomic():
        on_rollback(lambda: log.append("a"))
        with atomic():
            on_rollback(lambda: log.append("b"))   # released: promoted, runs on outer rollback
        on_commit(lambda: log.append("never"))
        raise ValueError
    assert log == ["inner", "a", "b"]


def test_callback_exceptions_are_logged_not_raised(db, caplog):
    log = []

    def bad():
        raise RuntimeError("callback failed")

    with caplog.at_level(logging.ERROR, logger="dorm.transaction"), atomic():
        on_commit(bad)
        on_commit(lambda: log.append("still runs"))
    assert log == ["still runs"]
    assert "callback failed" in caplog.text


def test_callbacks_can_query(db):
    with atomic():
        add("a")
        on_commit(lambda: add("from-callback"))
    assert names() == ["a", "from-callback"]


# ---- explicit savepoints ---------------------------------------------------------------------------
def test_explicit_savepoints(db):
    with atomic():
        add("a")
        sid = savepoint()
        assert sid.startswith("s_") and len(sid) == 18
        add("b")
        savepoint_rollback(sid)
        add("c")
        sid2 = savepoint()
        add("d")
        savepoint_commit(sid2)
    assert names() == ["a", "c", "d"]
    with pytest.raises(ValueError), atomic():
        savepoint_rollback('x"; DROP TABLE item; --')
    with pytest.raises(TransactionManagementError):
        savepoint()
    assert names() == ["a", "c", "d"]


# ---- async -------------------------------------------------------------------------------------------
async def test_aatomic_commit_and_rollback(db):
    async with aatomic():
        await aadd("a")
    with pytest.raises(ValueError):
        async with aatomic():
            await aadd("b")
            raise ValueError
    assert await anames() == ["a"]
    assert names() == ["a"]
    await connections.aclose_all()


async def test_aatomic_nested_and_callbacks(db):
    log = []

    async def async_cb():
        await asyncio.sleep(0)
        log.append("async")

    async with aatomic() as outer:
        await aadd("a")
        await aon_commit(async_cb)
        on_commit(lambda: log.append("sync"))
        with pytest.raises(IntegrityError):
            async with aatomic():
                await aadd("b")
                await aon_rollback(lambda: log.append("inner-rolled-back"))
                await aadd("a")
        assert log == ["inner-rolled-back"]
        assert transaction.get_rollback() is False
        assert outer.set_rollback is not None
    assert log == ["inner-rolled-back", "async", "sync"]
    assert await anames() == ["a"]
    log.clear()
    await aon_commit(async_cb)   # outside a transaction: awaited at once
    assert log == ["async"]
    await connections.aclose_all()


async def test_aatomic_decorator(db):
    @aatomic
    async def work(fail):
        await aadd("w-failed" if fail else "w")
        if fail:
            raise KeyError

    @aatomic(durable=True)
    async def durable():
        await aadd("d")

    await work(False)
    with pytest.raises(KeyError):
        await work(True)
    await durable()
    with pytest.raises(RuntimeError):
        async with aatomic():
            await durable()
    assert await anames() == ["w", "d"]
    with pytest.raises(TypeError):
        aatomic(lambda: None)
    await connections.aclose_all()


async def test_aatomic_isolates_concurrent_tasks(file_db):
    a_inserted = asyncio.Event()
    b_checked = asyncio.Event()
    seen = {}

    async def task_a():
        async with aatomic() as block:
            conn = await connections.aget()
            seen["a_conn"] = conn
            await aadd("from-a")
            seen["a_sees"] = await anames()
            a_inserted.set()
            await b_checked.wait()
            block.set_rollback(True)

    async def task_b():
        await a_inserted.wait()
        async with aatomic():
            seen["b_conn"] = await connections.aget()
            seen["b_sees"] = await anames()
            assert seen["b_conn"]._atomic_levels[0] is not seen["a_conn"]._atomic_levels[0]
        b_checked.set()

    await asyncio.gather(task_a(), task_b())
    assert seen["a_conn"] is not seen["b_conn"]
    assert seen["a_sees"] == ["from-a"]
    assert seen["b_sees"] == []            # A's uncommitted row is invisible to B
    assert await anames() == []            # and A rolled back
    await connections.aclose_all()


async def test_aatomic_concurrent_writers_both_commit(db):
    async def writer(name):
        async with aatomic():
            await aadd(name)
            await asyncio.sleep(0.01)

    await asyncio.gather(writer("x"), writer("y"))
    assert sorted(await anames()) == ["x", "y"]
    await connections.aclose_all()


async def test_pinned_connection_released_after_block(db):
    async with aatomic():
        pinned = await connections.aget()
    assert connections.pinned("default") is None
    async with aatomic():
        assert await connections.aget() is pinned   # reused from the idle list
    await connections.aclose_all()


async def test_async_savepoints(db):
    async with aatomic():
        await aadd("a")
        sid = await transaction.asavepoint()
        await aadd("b")
        await transaction.asavepoint_rollback(sid)
        await transaction.asavepoint_commit(sid)
    assert await anames() == ["a"]
    await connections.aclose_all()


# ---- dorm.test.rollback --------------------------------------------------------------------------------
def test_rollback_context_manager(db):
    with dorm.test.rollback():
        add("a")
        with atomic():
            add("b")
        with atomic(durable=True):       # allowed inside a test transaction
            add("c")
        assert names() == ["a", "b", "c"]
    assert names() == []


def test_rollback_even_on_error(db):
    with pytest.raises(ZeroDivisionError), dorm.test.rollback():
        add("a")
        1 / 0
    assert names() == []


def test_rollback_decorator_and_on_commit(db):
    log = []

    @dorm.test.rollback()
    def body():
        add("x")
        on_commit(lambda: log.append("never"))

    body()
    assert names() == [] and log == []

    @dorm.test.rollback(run_on_commit=True)
    def body2():
        on_commit(lambda: log.append("direct"))
        with atomic():
            add("y")
            on_commit(lambda: log.append("after inner block"))
            assert log == ["direct"]
        assert log == ["direct", "after inner block"]

    body2()
    assert names() == []


def test_rollback_nested_in_session_transaction(db):
    with atomic():
        add("session")
        with dorm.test.rollback():
            add("per-test")
        assert names() == ["session"]
    assert names() == ["session"]


def test_rollback_several_aliases(tmp_path):
    dbs = {alias: {"ENGINE": "sqlite", "NAME": str(tmp_path / f"{alias}.db")} for alias in ("default", "other")}
    with dorm.settings.override(DATABASES=dbs):
        for alias in dbs:
            connections[alias].execute_write("CREATE TABLE item (id integer PRIMARY KEY, name text)")
        with dorm.test.rollback(using=["default", "other"]):
            add("a", connections["default"])
            add("b", connections["other"])
        assert names(connections["default"]) == [] and names(connections["other"]) == []


async def test_rollback_async(db):
    async with dorm.test.rollback():
        await aadd("a")
        assert await anames() == ["a"]
    assert await anames() == []

    @dorm.test.rollback()
    async def body():
        await aadd("b")
        async with aatomic(durable=True):
            await aadd("c")
        return await anames()

    assert await body() == ["b", "c"]
    assert await anames() == []
    await connections.aclose_all()
