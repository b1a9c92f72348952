"""Concurrent relays on real PostgreSQL (row locks, SKIP LOCKED): several relays in
threads and in tasks hand out disjoint rows, each exactly once; the claim mode holds
no row lock while the handler runs.

Skipped without the dorm-postgres plugin or a server; a failure under
``DORM_REQUIRE_PG=1``."""
import asyncio
import threading
import time

import pytest
from dorm import transaction
from dorm.contrib.outbox import OutboxRelay
from dorm.db import connections
from dorm.exceptions import OperationalError

from .conftest import Calls, make_events
from .models import ALL, Event

MODELS = ALL
EVENTS = 120


def wait_until_published(count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Event.objects.filter(status="published").count() >= count:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("mode", ["claim", "locked"])
def test_two_relays_in_threads_process_disjoint_rows_exactly_once(pg_db, mode):
    assert pg_db.features.supports_select_for_update_skip_locked
    events = make_events(EVENTS)

    def slow_ok(event):
        time.sleep(0.002)             # long enough for the two relays to overlap
        return True

    calls = Calls(result=slow_ok)
    relays = [OutboxRelay(Event, batch_size=7, poll_interval_s=0.05, mode=mode) for _ in range(2)]
    errors = []

    def work(relay):
        try:
            relay.run(calls)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=work, args=(r,), name=f"relay-{i}") for i, r in enumerate(relays)]
    for t in threads:
        t.start()
    try:
        assert wait_until_published(EVENTS)
    finally:
        for relay in relays:
            relay.stop()
        for t in threads:
            t.join(30)
    assert errors == []
    assert len(calls.by_id) == EVENTS and set(calls.by_id.values()) == {1}   # each exactly once
    assert set(calls.by_id) == {e.pk for e in events}
    first, second = (calls.threads[f"relay-{i}"] for i in range(2))
    assert first and second and not first & second                          # both worked, disjoint
    assert Event.objects.filter(status="published", attempts=0).count() == EVENTS


async def test_two_async_relays_process_disjoint_rows_exactly_once(pg_db):
    make_events(60)
    relays = [OutboxRelay(Event, batch_size=5, poll_interval_s=0.05) for _ in range(2)]
    seen = {0: [], 1: []}

    def handler_for(i):
        async def handler(event):
            await asyncio.sleep(0.002)
            seen[i].append(event.pk)
            if len(seen[0]) + len(seen[1]) >= 60:
                for relay in relays:
                    relay.stop()
            return True
        return handler

    await asyncio.wait_for(asyncio.gather(*(r.arun(handler_for(i)) for i, r in enumerate(relays))), 60)
    everything = seen[0] + seen[1]
    assert len(everything) == 60 and len(set(everything)) == 60
    assert seen[0] and seen[1]
    assert await Event.objects.filter(status="published").acount() == 60


@pytest.mark.parametrize("mode, locked_while_handling", [("claim", False), ("locked", True)])
def test_row_locks_while_the_handler_runs(pg_db, mode, locked_while_handling):
    make_events(1)
    probes = []

    def probe(event):
        """From another connection: can the row be locked right now (NOWAIT)?"""
        try:
            with transaction.atomic():
                list(Event.objects.filter(pk=event.pk).select_for_update(nowait=True))
            probes.append(False)
        except OperationalError:
            probes.append(True)
        finally:
            connections["default"].close()

    def handler(event):
        t = threading.Thread(target=probe, args=(event,))
        t.start()
        t.join(30)
        return True

    assert OutboxRelay(Event, mode=mode).drain_once(handler) == 1
    assert probes == [locked_while_handling]
