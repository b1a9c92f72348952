"""The async relay on every installed backend: ``adrain_once`` / ``arun`` with async
and sync handlers, failures, cancellation, ``stop()`` from another thread, and
``apurge_published``."""
import asyncio
import datetime
import threading
import time

import pytest
from dorm.contrib.outbox import OutboxRelay
from dorm.db import connections

from .conftest import Calls, make_events, now
from .models import ALL, Event

MODELS = ALL


async def statuses():
    return {e.event_type: (e.status, e.attempts) async for e in Event.objects.all()}


async def test_adrain_once_with_an_async_handler(db):
    make_events(3)
    seen, in_tx = [], []

    async def handler(event):
        await asyncio.sleep(0)
        in_tx.append((await connections.aget("default")).in_atomic_block)
        seen.append(event.event_type)
        if event.event_type == "e.1":
            raise ConnectionError("nope")
        return True

    relay = OutboxRelay(Event, backoff_base_s=30)
    assert await relay.adrain_once(handler) == 2
    assert seen == ["e.0", "e.1", "e.2"] and in_tx == [False, False, False]
    got = await statuses()
    assert got == {"e.0": ("published", 0), "e.1": ("pending", 1), "e.2": ("published", 0)}
    failed = await Event.objects.aget(event_type="e.1")
    assert failed.last_error == "ConnectionError: nope"
    assert failed.next_attempt_at >= now() + datetime.timedelta(seconds=25)
    assert await relay.adrain_once(handler) == 0              # backing off


async def test_adrain_once_with_a_sync_handler_and_async_hook(db):
    make_events(2)
    outcomes = []

    async def hook(event, outcome):
        outcomes.append((event.event_type, outcome))

    relay = OutboxRelay(Event, max_attempts=1, on_event=hook)
    assert await relay.adrain_once(lambda event: event.event_type == "e.0") == 1
    assert outcomes == [("e.0", "published"), ("e.1", "dead")]
    assert (await statuses())["e.1"] == ("dead", 1)


async def test_locked_mode_async(db):
    make_events(2)
    in_tx = []

    async def handler(event):
        in_tx.append((await connections.aget("default")).in_atomic_block)
        return True

    assert await OutboxRelay(Event, mode="locked").adrain_once(handler) == 2
    assert in_tx == [True, True]


async def test_arun_with_an_async_handler_until_stop(db):
    make_events(5)
    relay = OutboxRelay(Event, batch_size=2, poll_interval_s=30)
    seen = []

    async def handler(event):
        await asyncio.sleep(0.001)
        seen.append(event.event_type)
        if len(seen) == 5:
            relay.stop()
        return True

    await asyncio.wait_for(relay.arun(handler), 20)
    assert seen == [f"e.{i}" for i in range(5)]
    assert {s for s, _a in (await statuses()).values()} == {"published"}
    assert not relay.stopping


async def test_stop_from_another_thread_wakes_arun(db):
    relay = OutboxRelay(Event, poll_interval_s=60)
    threading.Timer(0.2, relay.stop).start()
    started = time.monotonic()
    await asyncio.wait_for(relay.arun(Calls()), 20)
    assert time.monotonic() - started < 10


async def test_cancelled_arun_records_what_was_delivered(db):
    make_events(3)
    relay = OutboxRelay(Event, poll_interval_s=30)
    first_done, never = asyncio.Event(), asyncio.Event()

    async def handler(event):
        if event.event_type == "e.0":
            first_done.set()
            return True
        await never.wait()                       # hangs until cancelled

    task = asyncio.ensure_future(relay.arun(handler))
    await asyncio.wait_for(first_done.wait(), 20)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    got = {e.event_type: (e.status, e.attempts, e.claimed_by) async for e in Event.objects.all()}
    assert got == {"e.0": ("published", 0, None), "e.1": ("pending", 0, None),
                   "e.2": ("pending", 0, None)}


async def test_apurge_published(db):
    make_events(3)
    old = now() - datetime.timedelta(days=3)
    await Event.objects.filter(event_type__in=["e.0", "e.1"]).aupdate(status="published",
                                                                     published_at=old)
    relay = OutboxRelay(Event)
    assert await relay.apurge_published(older_than=datetime.timedelta(days=1)) == 2
    assert list(await statuses()) == ["e.2"]
