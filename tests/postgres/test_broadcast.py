"""dorm.contrib.listen_notify.Broadcaster (features-4.0 §7, 4.2) on a real server."""
from __future__ import annotations

import asyncio
import time

import dorm
import pytest
from dorm.db import connections
from dorm.exceptions import OperationalError

MODELS: list = []


async def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_import_and_argument_checks():
    from dorm.contrib.listen_notify import Broadcaster, Subscription
    from dorm_postgres.broadcast import Broadcaster as Direct

    assert Broadcaster is Direct and Subscription.__name__ == "Subscription"
    with pytest.raises(ValueError, match="at least one channel"):
        Broadcaster([])
    with pytest.raises(ValueError, match="maxsize"):
        Broadcaster(["a"], maxsize=0)
    with pytest.raises(ValueError, match="maxsize"):
        Broadcaster(["a"], maxsize=-3)
    with pytest.raises(TypeError):
        Broadcaster(["a"], maxsize=True)
    with pytest.raises(TypeError, match="list of channel names"):
        Broadcaster("orders")
    with pytest.raises(ValueError):
        Broadcaster(["ok", "x" * 64])
    b = Broadcaster(["a", "b", "a"])
    assert b.channels == ("a", "b")
    with pytest.raises(KeyError, match="'c'.*'a', 'b'"):
        b.subscribe("c")
    with pytest.raises(RuntimeError, match="new"):
        b.subscribe("a")                       # not started


async def test_fan_out_to_several_subscribers(pg, admin):
    from dorm.contrib.listen_notify import Broadcaster, anotify

    async with Broadcaster(["orders", "refunds"]) as b:
        # one LISTEN connection for everybody
        listening = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                  [b.pid]).fetchone()[0]
        assert listening == 1
        async with b.subscribe("orders") as s1, b.subscribe("orders") as s2, \
                b.subscribe("orders") as s3, b.subscribe("refunds") as r1:
            assert b.subscriber_count("orders") == 3 and b.subscriber_count() == 4
            loose = b.subscribe("orders")
            with pytest.raises(RuntimeError, match="async with"):
                await loose.get()                          # never entered: not registered
            await anotify("orders", "o1")
            await anotify("refunds", "r1")
            await anotify("orders", "o2")

            async def take(stream, n):
                return [(await stream.get(timeout=5)).payload for _ in range(n)]

            got = await asyncio.gather(take(s1, 2), take(s2, 2), take(s3, 2), take(r1, 1))
            assert got == [["o1", "o2"]] * 3 + [["r1"]]
            n = await r1.get(timeout=0.2)
            assert n is None                                   # nothing else for refunds
        assert b.subscriber_count() == 0                       # unsubscribed on exit
        assert b.received == 3 and b.dropped == 0


async def test_full_queue_drops_the_oldest(pg):
    from dorm.contrib.listen_notify import Broadcaster, anotify

    async with Broadcaster(["burst"], maxsize=2) as b:
        async with b.subscribe("burst") as slow, b.subscribe("burst") as fast:
            for i in range(5):
                await anotify("burst", str(i))
                assert (await fast.get(timeout=5)).payload == str(i)   # keeps up: no drops
            await wait_for(lambda: b.received == 5)
            assert slow.qsize() == 2
            assert [(await slow.get()).payload, (await slow.get()).payload] == ["3", "4"]
            assert slow.dropped == 3 and fast.dropped == 0 and b.dropped == 3
            assert "dropped=3" in repr(slow)


async def test_streams_end_at_shutdown(pg, admin):
    from dorm.contrib.listen_notify import Broadcaster, anotify

    b = Broadcaster(["bye"])
    await b.__aenter__()
    pid = b.pid
    received = []

    async def consume(stream):
        async for n in stream:
            received.append(n.payload)
        return "ended"

    async with b.subscribe("bye") as stream:
        task = asyncio.create_task(consume(stream))
        await anotify("bye", "last")
        await wait_for(lambda: received == ["last"])
        await b.aclose()
        assert await asyncio.wait_for(task, 5) == "ended"
        assert stream.closed and await stream.get() is None
    # queued items are still delivered before the end
    b2 = Broadcaster(["bye"])
    async with b2:
        async with b2.subscribe("bye") as stream2:
            await anotify("bye", "queued")
            await wait_for(lambda: b2.received == 1)
            await b2.aclose()
            assert [n.payload async for n in stream2] == ["queued"]
    with pytest.raises(RuntimeError, match="stopped"):
        b.subscribe("bye")
    with pytest.raises(RuntimeError):
        await b.__aenter__()                                   # not restartable
    await asyncio.sleep(0.1)
    assert admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                         [pid]).fetchone()[0] == 0


async def test_relistens_after_the_connection_is_killed(pg, admin):
    from dorm.contrib.listen_notify import Broadcaster, anotify

    async with Broadcaster(["re_a", "re_b"]) as b:
        async with b.subscribe("re_a") as a, b.subscribe("re_b") as bb:
            old = b.pid
            admin.execute("SELECT pg_terminate_backend(%s)", [old])
            await wait_for(lambda: b.reconnects == 1)
            assert b.pid not in (None, old)
            rows = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                 [b.pid]).fetchone()
            assert rows[0] == 1
            await anotify("re_a", "after-a")
            await anotify("re_b", "after-b")
            assert (await a.get(timeout=5)).payload == "after-a"
            assert (await bb.get(timeout=5)).payload == "after-b"


async def test_lost_connection_without_reconnect_ends_streams_with_the_error(pg, admin):
    from dorm.contrib.listen_notify import Broadcaster

    async with Broadcaster(["gone"], reconnect=False) as b:
        async with b.subscribe("gone") as stream:
            admin.execute("SELECT pg_terminate_backend(%s)", [b.pid])
            with pytest.raises(OperationalError, match="connection lost"):
                await asyncio.wait_for(stream.get(), 5)
            assert not b.running
            with pytest.raises(RuntimeError):
                b.subscribe("gone")


async def test_not_implemented_on_sqlite(tmp_path):
    from dorm.contrib.listen_notify import Broadcaster

    db = {"ENGINE": "sqlite", "NAME": str(tmp_path / "b.db")}
    with dorm.settings.override(DATABASES={"default": db}):
        try:
            with pytest.raises(NotImplementedError):
                async with Broadcaster(["c"]):
                    pass
        finally:
            connections.close_all()
