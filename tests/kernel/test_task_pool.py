"""dorm.contrib.task_pool: a pooled connection pinned to a task, and the gather check."""
import asyncio

import pytest

import dorm
from dorm.contrib.task_pool import (ConcurrentGatherError, assert_no_concurrent_gather,
                                    get_pinned_connection, pinned_connection)
from dorm.db import connections
from dorm.transaction import aatomic

from .models import ALL, Product

MODELS = ALL


def pooled(db) -> bool:
    return db.features.has_connection_pool


async def session_id(backend) -> object:
    """The server-side identity of the connection the next statement runs on."""
    if backend.vendor == "postgresql":
        return (await backend.aexecute("SELECT pg_backend_pid()"))[0][0]
    return id(backend.aconnection)


async def test_pins_one_connection_for_the_block(db):
    assert get_pinned_connection() is None
    async with pinned_connection() as backend:
        assert get_pinned_connection() is backend
        assert get_pinned_connection("default") is backend
        if not pooled(db):
            assert backend is None                  # a no-op elsewhere
            await Product.objects.acreate(name="x")
            assert await Product.objects.acount() == 1
            return
        assert (await connections.aget("default")) is backend
        raw = backend.aconnection
        assert raw is not None
        pid = await session_id(backend)
        await Product.objects.acreate(name="a")
        async with aatomic():                       # the transaction reuses the pin
            await Product.objects.acreate(name="b")
            assert await session_id(await connections.aget("default")) == pid
        assert backend.aconnection is raw           # kept after COMMIT
        assert await Product.objects.acount() == 2
        assert await session_id(backend) == pid
        # session state lasts for the block
        await backend.aexecute_write("SET application_name = 'dorm_pinned'")
        assert (await backend.aexecute("SHOW application_name"))[0][0] == "dorm_pinned"
        async with pinned_connection() as inner:     # nested block: same pin
            assert inner is backend
        assert backend.aconnection is raw
    assert get_pinned_connection() is None
    assert backend.aconnection is None and backend._apins == 0     # back in the pool
    assert connections.pinned("default") is None
    assert await Product.objects.acount() == 2


async def test_unpinned_statements_may_use_other_connections(db):
    if not pooled(db):
        pytest.skip("needs features.has_connection_pool")
    other_started = asyncio.Event()
    release = asyncio.Event()

    async def other():
        async with pinned_connection() as mine:
            other_started.set()
            await release.wait()
            return await session_id(mine)

    task = asyncio.create_task(other())
    await other_started.wait()
    async with pinned_connection() as backend:
        mine = await session_id(backend)
    release.set()
    assert await task != mine                       # two pins, two connections


async def test_inside_aatomic_reuses_the_transaction_connection(db):
    async with aatomic():
        outer = connections.pinned("default")
        async with pinned_connection() as backend:
            if pooled(db):
                assert backend is outer
            await Product.objects.acreate(name="t")
    assert await Product.objects.acount() == 1


async def test_unknown_alias(db):
    with pytest.raises(dorm.ImproperlyConfigured, match="not configured"):
        async with pinned_connection(using="nope"):
            pass
    with pytest.raises(TypeError, match="database alias"):
        async with pinned_connection(using=None):
            pass


# ---- the gather check -------------------------------------------------------------------------------
async def worker(n=1):
    assert_no_concurrent_gather()
    for _ in range(n):
        await Product.objects.acount()
        await asyncio.sleep(0)
    return get_pinned_connection()


async def test_gather_inside_a_pin_is_detected(db):
    assert_no_concurrent_gather()                     # no pin: nothing to share
    async with pinned_connection() as backend:
        assert_no_concurrent_gather()                 # the owner alone
        assert await worker() is backend              # awaited directly: same task
        assert await asyncio.create_task(worker()) is backend   # one child at a time: fine
        assert await asyncio.wait_for(worker(), 5) is backend
        tasks = [asyncio.create_task(worker(3)) for _ in range(2)]
        with pytest.raises(ConcurrentGatherError, match="shared by concurrently running tasks"):
            await asyncio.gather(*tasks)
        await asyncio.gather(*tasks, return_exceptions=True)   # let the other one finish
    # the same code outside a pin is fine
    await asyncio.gather(worker(3), worker(3))


async def test_owner_running_alongside_its_children_is_detected(db):
    async with pinned_connection():
        gate = asyncio.Event()

        async def child():
            get_pinned_connection()                   # registers as a user of the pin
            await gate.wait()

        t = asyncio.create_task(child())
        await asyncio.sleep(0)
        with pytest.raises(ConcurrentGatherError, match="1 other"):
            assert_no_concurrent_gather()
        gate.set()
        await t
        assert_no_concurrent_gather()                 # the child is done


async def test_task_outliving_the_block_is_detected(db):
    gate = asyncio.Event()

    async def late():
        await gate.wait()
        assert get_pinned_connection() is None
        assert_no_concurrent_gather()

    async with pinned_connection():
        t = asyncio.create_task(late())
    gate.set()
    with pytest.raises(ConcurrentGatherError, match="has ended"):
        await t


async def test_each_child_with_its_own_block_is_fine(db):
    async def own():
        async with pinned_connection() as mine:
            assert_no_concurrent_gather()
            await Product.objects.acount()
            await asyncio.sleep(0)
            assert_no_concurrent_gather()
            return mine

    async with pinned_connection() as parent:
        a, b = await asyncio.gather(own(), own())
    if pooled(db):
        assert len({id(parent), id(a), id(b)}) == 3
    else:
        assert a is b is parent is None
