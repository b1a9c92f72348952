"""``OutboxRelay.run()`` on every installed backend: SIGTERM/SIGINT stop it between
batches and the previous handlers come back, ``stop()`` wakes it, and it sleeps only
when nothing was published or every remaining row is backing off."""
import logging
import os
import signal
import threading
import time

import dorm
import pytest
from dorm.contrib.outbox import OutboxRelay

from .conftest import Calls, make_events
from .models import ALL, Event

MODELS = ALL
LOGGER = "dorm.contrib.outbox"


@pytest.fixture
def watchdog():
    """Stops a relay after 20 s if the test's own stop never comes (no hung suite)."""
    timers = []

    def arm(relay):
        timer = threading.Timer(20, relay.stop)
        timer.start()
        timers.append(timer)

    yield arm
    for timer in timers:
        timer.cancel()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_run_between_batches(db, watchdog, signum):
    make_events(6)
    relay = OutboxRelay(Event, batch_size=2, poll_interval_s=30)
    watchdog(relay)
    calls = Calls()
    observed = []

    def handler(event):
        calls(event)
        if len(calls.events) == 1:
            # the signal comes from another thread while the first batch is being handled
            threading.Thread(target=os.kill, args=(os.getpid(), signum)).start()
            deadline = time.monotonic() + 10
            while not relay.stopping and time.monotonic() < deadline:
                time.sleep(0.01)
            observed.append(relay.stopping)
        return True

    delivered = []

    def previous(sig, frame):
        delivered.append(sig)

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signum, previous)
    try:
        started = time.monotonic()
        relay.run(handler)
        elapsed = time.monotonic() - started
        assert signal.getsignal(signum) is previous           # restored
        other = signal.SIGINT if signum == signal.SIGTERM else signal.SIGTERM
        assert signal.getsignal(other) is saved[other]
    finally:
        for sig, handler_ in saved.items():
            signal.signal(sig, handler_)
    assert observed == [True] and delivered == []
    assert elapsed < 15
    # the batch in progress was finished; no further batch started
    assert calls.types == ["e.0", "e.1"]
    statuses = {e.event_type: (e.status, e.claimed_by) for e in Event.objects.all()}
    assert statuses == {"e.0": ("published", None), "e.1": ("published", None),
                        **{f"e.{i}": ("pending", None) for i in range(2, 6)}}
    assert not relay.stopping                                 # ready to run again


def test_run_goes_on_at_once_while_batches_come_back_full(db, watchdog):
    make_events(5)
    relay = OutboxRelay(Event, batch_size=2, poll_interval_s=30)
    watchdog(relay)

    def handler(event):
        calls(event)
        if len(calls.events) == 5:
            relay.stop()
        return True

    calls = Calls()
    started = time.monotonic()
    relay.run(handler)
    assert time.monotonic() - started < 10                    # never slept 30 s
    assert calls.types == [f"e.{i}" for i in range(5)]


def test_run_sleeps_while_the_remaining_rows_back_off(db, watchdog, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    make_events(2)
    relay = OutboxRelay(Event, batch_size=2, poll_interval_s=0.05, backoff_base_s=60)
    watchdog(relay)
    calls = Calls(result=lambda event: event.event_type == "e.1")
    timer = threading.Timer(0.6, relay.stop)
    timer.start()
    relay.run(calls)
    assert sorted(calls.types) == ["e.0", "e.1"]               # the failing row: once, not hot
    idle_polls = sum("nothing due" in r.getMessage() for r in caplog.records)
    assert 1 <= idle_polls <= 20                               # ~0.6 s / 0.05 s, not thousands


def test_stop_wakes_a_sleeping_run(db, watchdog):
    relay = OutboxRelay(Event, poll_interval_s=60)
    watchdog(relay)
    threading.Timer(0.2, relay.stop).start()
    started = time.monotonic()
    relay.run(Calls())
    assert time.monotonic() - started < 10


def test_stop_before_run_returns_at_once(db):
    make_events(1)
    relay = OutboxRelay(Event, poll_interval_s=60)
    relay.stop()
    calls = Calls()
    relay.run(calls)
    assert calls.events == [] and not relay.stopping


def test_run_logs_and_retries_database_errors(tmp_path, watchdog, caplog):
    """A database that cannot be opened: run() logs the error and tries again after
    poll_interval_s instead of dying."""
    bad = {"ENGINE": "sqlite", "NAME": str(tmp_path / "missing-dir" / "x.db")}
    with dorm.settings.override(DATABASES={"default": bad}):
        relay = OutboxRelay(Event, poll_interval_s=0.05)
        watchdog(relay)
        threading.Timer(0.5, relay.stop).start()
        relay.run(Calls())
        dorm.db.connections.close_all()
    errors = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert len(errors) >= 2 and "database error, retrying" in errors[0].getMessage()
