"""dorm.transaction on PostgreSQL: the behaviour of tests/kernel/test_transactions.py
(SQLite-specific: its fixture and ``?`` placeholders), plus what PostgreSQL adds:
aborted transactions, transactional DDL, concurrent async transactions."""
from __future__ import annotations

import asyncio

import dorm
import pytest
from dorm import transaction
from dorm.db import connections
from dorm.exceptions import DatabaseError, IntegrityError, TransactionManagementError
from dorm.transaction import aatomic, atomic, on_commit, on_rollback

from .models import Item

MODELS = [Item]


def names():
    return list(Item.objects.order_by("id").values_list("name", flat=True))


def test_commit_and_rollback(pg):
    with atomic():
        Item.objects.create(name="a")
        assert pg.in_atomic_block and pg.in_transaction
    assert not pg.in_atomic_block and names() == ["a"]
    with pytest.raises(ValueError), atomic():
        Item.objects.create(name="b")
        raise ValueError("boom")
    assert names() == ["a"]


def test_savepoint_recovers_from_a_failed_statement(pg):
    with atomic():
        Item.objects.create(name="outer")
        with pytest.raises(IntegrityError), atomic():
            Item.objects.create(name="inner")
            Item.objects.create(name="outer")
        Item.objects.create(name="after")   # the transaction is usable again
    assert names() == ["outer", "after"]


def test_failed_statement_without_savepoint_aborts_the_transaction(pg):
    with pytest.raises(DatabaseError) as err, atomic():
        Item.objects.create(name="x")
        try:
            with atomic(savepoint=False):
                Item.objects.create(name="x")
        except IntegrityError:
            pass
        Item.objects.count()               # PostgreSQL refuses: the transaction is aborted
    assert "nested atomic()" in str(err.value) or "without a savepoint" in str(err.value)
    assert names() == []


def test_deeply_nested_and_set_rollback(pg):
    with atomic():
        Item.objects.create(name="1")
        with atomic():
            Item.objects.create(name="2")
            with atomic() as inner:
                Item.objects.create(name="3")
                inner.set_rollback(True)
            Item.objects.create(name="4")
    assert names() == ["1", "2", "4"]


def test_explicit_savepoints(pg):
    with atomic():
        Item.objects.create(name="a")
        sid = transaction.savepoint()
        Item.objects.create(name="b")
        transaction.savepoint_rollback(sid)
        sid = transaction.savepoint()
        Item.objects.create(name="c")
        transaction.savepoint_commit(sid)
    assert names() == ["a", "c"]


def test_on_commit_and_on_rollback(pg):
    log = []
    with atomic():
        Item.objects.create(name="a")
        on_commit(lambda: log.append("commit"))
        on_rollback(lambda: log.append("never"))
        assert log == []
    with pytest.raises(ValueError), atomic():
        on_commit(lambda: log.append("never"))
        on_rollback(lambda: log.append("rollback"))
        raise ValueError
    assert log == ["commit", "rollback"]


def test_ddl_is_transactional(pg):
    class Temp(dorm.Model):
        name = dorm.CharField(max_length=10)

        class Meta:
            app_label = "pg_tests"
            db_table = "pg_tests_ddl_temp"

    try:
        with pytest.raises(ValueError), atomic():
            dorm.create_tables([Temp])
            assert pg.table_exists("pg_tests_ddl_temp")
            raise ValueError
        assert not pg.table_exists("pg_tests_ddl_temp")
    finally:
        dorm.models.registry.unregister(Temp)


def test_transaction_sees_its_own_writes_others_do_not(pg):
    import threading

    seen = []
    with atomic():
        Item.objects.create(name="hidden")
        t = threading.Thread(target=lambda: seen.append(Item.objects.count()))
        t.start()
        t.join()
        assert Item.objects.count() == 1
    assert seen == [0]


async def test_aatomic_commit_rollback_and_nesting(pg):
    async with aatomic():
        await Item.objects.acreate(name="a")
        with pytest.raises(IntegrityError):
            async with aatomic():
                await Item.objects.acreate(name="a")
        await Item.objects.acreate(name="b")
    with pytest.raises(ValueError):
        async with aatomic():
            await Item.objects.acreate(name="c")
            raise ValueError
    assert [i.name async for i in Item.objects.order_by("id")] == ["a", "b"]


async def test_concurrent_async_transactions_are_isolated(pg):
    started = asyncio.Event()

    async def writer():
        async with aatomic():
            await Item.objects.acreate(name="w")
            started.set()
            await asyncio.sleep(0.2)
            raise ValueError("roll back")

    async def reader():
        await started.wait()
        async with aatomic():
            return await Item.objects.acount()

    results = await asyncio.gather(writer(), reader(), return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1] == 0
    assert await Item.objects.acount() == 0


def test_begin_outside_atomic_is_refused(pg):
    pg.begin()
    try:
        with pytest.raises(TransactionManagementError), atomic():
            pass
    finally:
        pg.rollback()
    assert pg.connection is None and not pg.in_transaction
    assert connections["default"].execute("SELECT 1") == [(1,)]
