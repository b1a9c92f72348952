"""dorm.contrib.listen_notify (features-4.0 §7) on a real PostgreSQL server."""
from __future__ import annotations

import asyncio
import threading
import time

import dorm
import pytest
from dorm.db import connections
from dorm.transaction import aatomic, atomic

MODELS: list = []


def test_import_path_registered():
    import dorm.contrib.listen_notify as mod
    from dorm_postgres import listen_notify

    assert mod is listen_notify
    n = mod.Notification("c", "p", 1)
    with pytest.raises(AttributeError):
        n.channel = "x"          # frozen


def test_sync_listener_with_timeout(pg):
    from dorm.contrib.listen_notify import Notification, listen, notify

    with listen("jobs", timeout=0.3) as channel:
        notify("jobs", "one")
        notify("jobs", "two")
        got = list(channel)        # ends after 0.3 s of silence
    assert [n.payload for n in got] == ["one", "two"]
    assert all(isinstance(n, Notification) and n.channel == "jobs" and n.pid > 0 for n in got)
    t0 = time.monotonic()
    with listen("quiet") as channel:
        assert channel.get(timeout=0.2) is None
    assert 0.15 < time.monotonic() - t0 < 2


def test_listen_sync_generator_and_no_channels(pg):
    from dorm.contrib.listen_notify import listen, listen_sync, notify

    with pytest.raises(ValueError):
        listen()
    gen = listen_sync("g", timeout=1)
    threading.Timer(0.2, notify, ["g", "hello"]).start()
    assert next(gen).payload == "hello"
    gen.close()


def test_notify_in_atomic_only_on_commit(pg):
    from dorm.contrib.listen_notify import listen, notify

    with listen("tx", timeout=0.3) as channel:
        with atomic():
            notify("tx", "committed")
            assert channel.get(timeout=0.3) is None          # not before commit
        assert channel.get(timeout=2).payload == "committed"
        with pytest.raises(RuntimeError), atomic():
            notify("tx", "rolled back")
            raise RuntimeError
        assert channel.get(timeout=0.3) is None              # never after rollback


def test_two_channels_and_payload_round_trip(pg):
    from dorm.contrib.listen_notify import listen, notify

    payload = "it's \"quoted\" — ünïcødé ✓ \\ %s"
    with listen("a", "b", timeout=0.3) as channel:
        notify("a", payload)
        notify("b", "")
        got = [(n.channel, n.payload) for n in channel]
    assert got == [("a", payload), ("b", "")]


def test_channel_names_validated_and_quoted(pg):
    from dorm.contrib.listen_notify import listen, notify, quote_channel

    weird = 'we"ird; DROP TABLE x; --'
    assert quote_channel(weird) == '"we""ird; DROP TABLE x; --"'
    with listen(weird, "MixedCase", timeout=0.3) as channel:
        notify(weird, "q")
        notify("mixedcase", "other channel")        # case-sensitive
        notify("MixedCase", "m")
        assert [(n.channel, n.payload) for n in channel] == [(weird, "q"), ("MixedCase", "m")]
    for bad in ["", "x" * 64, "nul\x00"]:
        with pytest.raises(ValueError):
            notify(bad, "p")
        with pytest.raises(ValueError):
            listen(bad)
    with pytest.raises(TypeError):
        notify(123, "p")
    assert quote_channel("é" * 31)        # 62 bytes: fine
    with pytest.raises(ValueError, match="bytes"):
        quote_channel("é" * 32)           # 64 bytes


def test_payload_over_limit_refused_before_sending(pg):
    from dorm.contrib import listen_notify as ln

    sent = []
    backend = connections["default"]
    original = backend.execute_write
    backend.execute_write = lambda *a, **k: sent.append(a)
    try:
        with pytest.raises(ValueError, match="8000 bytes|at most 7999"):
            ln.notify("big", "x" * 8000)
        with pytest.raises(ValueError):
            ln.notify("big", "é" * 4000)       # 8000 bytes in UTF-8
        with pytest.raises(TypeError):
            ln.notify("big", b"bytes")
    finally:
        backend.execute_write = original
    assert sent == []
    with ln.listen("big", timeout=0.3) as channel:
        ln.notify("big", "x" * 7999)                 # the largest accepted payload
        assert len(channel.get(timeout=2).payload) == 7999


def test_unlisten_on_exit(pg, admin):
    from dorm.contrib.listen_notify import listen

    with listen("u1", "u2") as channel:
        pid = channel.pid
        rows = channel._conn.execute("SELECT pg_listening_channels() ORDER BY 1").fetchall()
        assert rows == [("u1",), ("u2",)]
    assert channel.pid is None
    time.sleep(0.1)
    assert admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                         [pid]).fetchone()[0] == 0


def test_listener_not_taken_from_pool(configure_pg):
    from dorm.contrib.listen_notify import listen, notify

    with configure_pg(MAX_POOL_SIZE=1, POOL_TIMEOUT=2):
        try:
            with listen("pool", timeout=0.5) as channel:
                notify("pool", "fits")          # the one pool connection is still free
                assert channel.get().payload == "fits"
        finally:
            connections.close_all()


def test_sync_reconnects_and_relistens(pg, admin):
    from dorm.contrib.listen_notify import listen, notify

    with listen("re1", "re2", timeout=0.5) as channel:
        old = channel.pid
        admin.execute("SELECT pg_terminate_backend(%s)", [old])
        assert channel.get(timeout=0.5) is None          # notices, reconnects, re-LISTENs
        assert channel.reconnects == 1 and channel.pid != old
        notify("re2", "after")
        n = channel.get(timeout=2)
        assert (n.channel, n.payload) == ("re2", "after")


async def test_async_listener(pg):
    from dorm.contrib.listen_notify import alisten, anotify, listen

    async with listen("aj", timeout=0.3) as channel:
        await anotify("aj", "1")
        assert (await channel.aget()).payload == "1"
        async with aatomic():
            await anotify("aj", "2")
            assert await channel.aget(timeout=0.2) is None       # not before commit
        got = [n.payload async for n in channel]
    assert got == ["2"]
    assert alisten is listen


async def test_async_reconnect(pg, admin):
    from dorm.contrib.listen_notify import anotify, listen

    async with listen("ar", timeout=0.5) as channel:
        old = channel.pid
        admin.execute("SELECT pg_terminate_backend(%s)", [old])
        assert await channel.aget(timeout=0.5) is None
        assert channel.reconnects == 1 and channel.pid != old
        await anotify("ar", "back")
        assert (await channel.aget(timeout=2)).payload == "back"


async def test_async_waiter_is_woken(pg):
    from dorm.contrib.listen_notify import anotify, listen

    async with listen("wake") as channel:
        async def later():
            await asyncio.sleep(0.2)
            await anotify("wake", "now")

        task = asyncio.create_task(later())
        n = await asyncio.wait_for(channel.aget(), 5)
        await task
    assert n.payload == "now"


def test_not_implemented_on_sqlite(tmp_path):
    from dorm.contrib.listen_notify import listen, notify

    db = {"ENGINE": "sqlite", "NAME": str(tmp_path / "x.db")}
    with dorm.settings.override(DATABASES={"default": db}):
        try:
            with pytest.raises(NotImplementedError):
                notify("c", "p")
            with pytest.raises(NotImplementedError), listen("c"):
                pass
        finally:
            connections.close_all()
