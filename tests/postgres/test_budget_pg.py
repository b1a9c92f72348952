"""dorm.budget on PostgreSQL: ``SET LOCAL statement_timeout`` in the block's transaction,
SQLSTATE 57014 raised as BudgetExceeded, the server-side value restored when an inner
block exits, concurrent tasks isolated (each budget has its own pinned connection)."""
from __future__ import annotations

import asyncio

import dorm
import pytest
from dorm.budget import abudget, budget
from dorm.db import connections
from dorm.exceptions import BudgetExceeded, OperationalError
from dorm.transaction import aatomic, atomic

from .models import Item

MODELS = [Item]


def show(conn) -> str:
    return conn.execute("SHOW statement_timeout")[0][0]


async def ashow(conn) -> str:
    return (await conn.aexecute("SHOW statement_timeout"))[0][0]


def test_pg_sleep_beyond_the_timeout_raises(pg):
    with pytest.raises(BudgetExceeded) as info:
        with budget(timeout_ms=100):
            assert show(pg) == "100ms"
            Item.objects.create(name="lost")
            pg.execute("SELECT pg_sleep(5)")
    err = info.value
    message = str(err)
    assert "timeout_ms=100" in message and "statement timeout" in message
    assert err.timeout_ms == 100 and err.vendor == "postgresql" and "pg_sleep" in err.sql
    assert isinstance(err.__cause__, Exception) and getattr(err.__cause__, "sqlstate", "") == "57014"
    assert not Item.objects.exists()            # the write of the block was rolled back
    assert show(pg) == "0" and pg.budget_timeout_ms is None
    pg.execute("SELECT pg_sleep(0.2)")          # no limit outside the block


def test_queryset_under_the_timeout(pg):
    Item.objects.create(name="a")
    sleepy = Item.objects.annotate(z=dorm.RawSQL("(SELECT 1 FROM pg_sleep(%s))", [2]))
    with pytest.raises(BudgetExceeded, match="timeout_ms=50"):
        with budget(timeout_ms=50, max_rows=10):
            list(sleepy)
    with budget(timeout_ms=5000):
        assert [o.z for o in Item.objects.annotate(
            z=dorm.RawSQL("(SELECT 1 FROM pg_sleep(%s))", [0.05]))] == [1]


def test_nested_strictest_and_restore_on_the_server(pg):
    with budget(timeout_ms=5000):
        assert show(pg) == "5s"
        with budget(timeout_ms=60000) as looser:
            assert looser.timeout_ms == 5000 and show(pg) == "5s"
        with budget(timeout_ms=100):
            assert show(pg) == "100ms"
        assert show(pg) == "5s"                          # SET LOCAL back to the outer value
        with pytest.raises(BudgetExceeded, match="timeout_ms=100"):
            with budget(timeout_ms=100):
                pg.execute("SELECT pg_sleep(2)")
        assert show(pg) == "5s"                          # the savepoint rollback undid it
        pg.execute("SELECT pg_sleep(0.3)")               # longer than the inner limit
    assert show(pg) == "0"


def test_inside_a_caller_transaction_the_previous_value_comes_back(pg):
    with atomic():
        pg.execute_write("SET LOCAL statement_timeout = '7s'")
        Item.objects.create(name="kept")
        with budget(timeout_ms=100):
            assert show(pg) == "100ms"
        assert show(pg) == "7s"
        with pytest.raises(BudgetExceeded):
            with budget(timeout_ms=100):
                Item.objects.create(name="lost")
                pg.execute("SELECT pg_sleep(2)")
        assert show(pg) == "7s"
    assert list(Item.objects.values_list("name", flat=True)) == ["kept"]


def test_cancel_outside_budgets_stays_operational_error(pg):
    with pytest.raises(OperationalError) as info, atomic():
        pg.execute_write("SET LOCAL statement_timeout = 50")
        pg.execute("SELECT pg_sleep(2)")
    assert not isinstance(info.value, BudgetExceeded)


def test_setup_failure_is_raised_not_swallowed(pg):
    with pytest.raises(dorm.ImproperlyConfigured):
        with budget(timeout_ms=100, using="no_such_alias"):
            pass


async def test_async_pg_sleep_and_restore(pg):
    with pytest.raises(BudgetExceeded, match="timeout_ms=100"):
        async with abudget(timeout_ms=100):
            conn = connections.pinned("default")
            assert await ashow(conn) == "100ms"
            await Item.objects.acreate(name="lost")
            await conn.aexecute("SELECT pg_sleep(5)")
    assert not await Item.objects.aexists()
    async with aatomic():
        conn = connections.pinned("default")
        async with abudget(timeout_ms=5000):
            async with abudget(timeout_ms=100):
                assert await ashow(conn) == "100ms"
            assert await ashow(conn) == "5s"
        assert await ashow(conn) == "0"
    shared = await connections.aget()
    assert await ashow(shared) == "0"


async def test_concurrent_tasks_have_their_own_limits(pg):
    started = asyncio.Event()

    async def limited():
        with pytest.raises(BudgetExceeded):
            async with abudget(timeout_ms=100):
                started.set()
                await connections.pinned("default").aexecute("SELECT pg_sleep(3)")
        return "cancelled"

    async def free():
        await started.wait()
        conn = await connections.aget()
        await conn.aexecute("SELECT pg_sleep(0.4)")    # not limited by the other task
        return await ashow(conn)

    assert await asyncio.gather(limited(), free()) == ["cancelled", "0"]
