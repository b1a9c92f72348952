"""OutboxRelay on every installed backend: publishing, failures and backoff, dead
rows, crashed-claim recovery, interruption, the metrics hook, the locked mode,
retention and argument validation."""
import datetime
import json
import logging
import subprocess
import sys
from pathlib import Path

import dorm
import pytest
from dorm import transaction
from dorm.db import connections
from dorm.contrib.outbox import OutboxRelay

from .conftest import Calls, make_due, make_events, now
from .models import ALL, Event, Order

MODELS = ALL
LOGGER = "dorm.contrib.outbox"


def rows():
    return {e.event_type: e for e in Event.objects.all()}


# ---- publishing ---------------------------------------------------------------------------------
def test_drain_once_publishes_in_created_order(db, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    make_events(5)
    calls = Calls()
    relay = OutboxRelay(Event, batch_size=3)
    before = now()
    assert relay.drain_once(calls) == 3
    assert calls.types == ["e.0", "e.1", "e.2"]
    assert relay.drain_once(calls) == 2
    assert calls.types == ["e.0", "e.1", "e.2", "e.3", "e.4"]
    assert relay.drain_once(calls) == 0
    for event in Event.objects.all():
        assert event.status == "published" and event.published_at >= before
        assert (event.last_error, event.attempts, event.claimed_by, event.claimed_until) == (
            None, 0, None, None)
    batches = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "batch of" in r.getMessage()]
    assert len(batches) == 2 and "batch of 3: 3 published" in batches[0]


def test_claim_mode_calls_the_handler_outside_any_transaction(db):
    make_events(2)
    seen = []

    def handler(event):
        seen.append((connections["default"].in_atomic_block, connections["default"].in_transaction))
        # the row is claimed (committed) while the handler runs
        row = Event.objects.get(pk=event.pk)
        assert row.claimed_by == event.claimed_by and row.claimed_by.startswith(relay.relay_id)
        assert row.claimed_until > now()
        return True

    relay = OutboxRelay(Event)
    assert relay.drain_once(handler) == 2
    assert seen == [(False, False), (False, False)]


def test_locked_mode_calls_the_handler_inside_the_transaction(db):
    make_events(2)
    seen = []

    def handler(event):
        seen.append(connections["default"].in_atomic_block)
        return event.event_type == "e.0"

    relay = OutboxRelay(Event, mode="locked", backoff_base_s=5)
    assert relay.drain_once(handler) == 1
    assert seen == [True, True]
    got = rows()
    assert got["e.0"].status == "published" and got["e.0"].claimed_by is None
    assert (got["e.1"].status, got["e.1"].attempts, got["e.1"].last_error) == (
        "pending", 1, "handler returned False")


def test_locked_mode_interrupted_batch_rolls_back_entirely(db):
    make_events(3)

    def handler(event):
        if event.event_type == "e.1":
            raise KeyboardInterrupt
        return True

    with pytest.raises(KeyboardInterrupt):
        OutboxRelay(Event, mode="locked").drain_once(handler)
    assert {e.status for e in Event.objects.all()} == {"pending"}
    assert {e.attempts for e in Event.objects.all()} == {0}


def test_relay_refuses_to_run_inside_atomic(db):
    make_events(1)
    with pytest.raises(RuntimeError, match="durable"):
        with transaction.atomic():
            OutboxRelay(Event).drain_once(Calls())
    assert Event.objects.get().status == "pending"


# ---- failures, backoff, dead --------------------------------------------------------------------
def test_exception_and_false_increment_attempts_and_set_backoff(db):
    make_events(3)

    def handler(event):
        if event.event_type == "e.0":
            raise ConnectionError("broker down")
        if event.event_type == "e.1":
            return False
        return True

    relay = OutboxRelay(Event, backoff_base_s=10, backoff_max_s=300)
    before = now()
    assert relay.drain_once(handler) == 1
    after = now()
    got = rows()
    assert (got["e.0"].status, got["e.0"].attempts, got["e.0"].last_error) == (
        "pending", 1, "ConnectionError: broker down")
    assert (got["e.1"].status, got["e.1"].attempts, got["e.1"].last_error) == (
        "pending", 1, "handler returned False")
    for name in ("e.0", "e.1"):
        wait = datetime.timedelta(seconds=10)
        assert before + wait <= got[name].next_attempt_at <= after + wait
        assert got[name].claimed_by is None and got[name].published_at is None
    assert got["e.2"].status == "published"


def test_backoff_is_respected_and_grows_exponentially(db):
    [event] = make_events(1)
    calls = Calls(result=False)
    relay = OutboxRelay(Event, backoff_base_s=10, backoff_max_s=25, max_attempts=10)
    expected = [10, 20, 25, 25]                    # min(25, 10 * 2 ** (attempts - 1))
    for attempt, delay in enumerate(expected, start=1):
        before = now()
        relay.drain_once(calls)
        after = now()
        assert len(calls.events) == attempt
        row = Event.objects.get(pk=event.pk)
        assert row.attempts == attempt
        wait = datetime.timedelta(seconds=delay)
        assert before + wait <= row.next_attempt_at <= after + wait
        # not due yet: the next polls leave it alone
        assert relay.drain_once(calls) == 0 and relay.drain_once(calls) == 0
        assert len(calls.events) == attempt
        make_due(event)                            # time passes (without sleeping)


def test_failures_reach_dead_and_dead_rows_are_left_alone(db):
    make_events(2)
    outcomes = []
    relay = OutboxRelay(Event, max_attempts=3, backoff_base_s=0,
                        on_event=lambda event, outcome: outcomes.append((event.event_type, outcome)))

    def handler(event):
        if event.event_type == "e.0":
            raise ValueError("x" * 5000)
        return False

    for _ in range(3):
        relay.drain_once(handler)
        make_due()
    got = rows()
    for name in ("e.0", "e.1"):
        assert got[name].status == "dead" and got[name].attempts == 3
    assert got["e.0"].last_error == ("ValueError: " + "x" * 5000)[:1024]
    assert len(got["e.0"].last_error) == 1024
    assert outcomes == [("e.0", "retry"), ("e.1", "retry")] * 2 + [("e.0", "dead"), ("e.1", "dead")]
    calls = Calls()
    assert relay.drain_once(calls) == 0 and calls.events == []


def test_success_after_failure_clears_last_error(db):
    make_events(1)
    relay = OutboxRelay(Event, backoff_base_s=0)
    relay.drain_once(Calls(result=False))
    make_due()
    assert relay.drain_once(Calls()) == 1
    event = Event.objects.get()
    assert (event.status, event.attempts, event.last_error, event.next_attempt_at) == (
        "published", 1, None, None)


def test_on_event_hook_errors_do_not_break_the_relay(db, caplog):
    make_events(2)

    def hook(event, outcome):
        raise RuntimeError("metrics backend down")

    assert OutboxRelay(Event, on_event=hook).drain_once(Calls()) == 2
    assert {e.status for e in Event.objects.all()} == {"published"}
    assert sum("on_event hook" in r.getMessage() for r in caplog.records) == 2


# ---- claims -------------------------------------------------------------------------------------
def test_claimed_rows_are_skipped_until_the_claim_expires(db):
    make_events(3)
    Event.objects.filter(event_type="e.0").update(
        claimed_by="other-relay:1", claimed_until=now() + datetime.timedelta(minutes=5))
    calls = Calls()
    relay = OutboxRelay(Event)
    assert relay.drain_once(calls) == 2 and calls.types == ["e.1", "e.2"]
    Event.objects.filter(event_type="e.0").update(claimed_until=now() - datetime.timedelta(seconds=1))
    assert relay.drain_once(calls) == 1 and calls.types[-1] == "e.0"


def test_crashed_relay_claim_is_recovered(db, backend_settings, tmp_path):
    settings = dict(db.settings_dict)
    if db.vendor == "duckdb":
        # one process may open a DuckDB file at a time: give the crashing relay a file
        # nothing else in this test session has opened
        settings["NAME"] = str(tmp_path / "crash.duckdb")
        dorm.configure(DATABASES={"default": settings})
        dorm.create_tables(ALL)
    make_events(3)
    connections.reset()
    script = Path(__file__).with_name("crash_relay.py")
    out = subprocess.run([sys.executable, str(script), json.dumps(settings, default=str), "300", "2"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 17, out.stderr
    got = rows()
    claimed = [e for e in got.values() if e.claimed_by]
    assert sorted(e.event_type for e in claimed) == ["e.0", "e.1"]      # its batch of 2
    assert all(e.claimed_until > now() + datetime.timedelta(seconds=200) for e in claimed)

    calls = Calls()
    relay = OutboxRelay(Event)
    assert relay.drain_once(calls) == 1 and calls.types == ["e.2"]      # claim still live
    Event.objects.filter(claimed_by__isnull=False).update(
        claimed_until=now() - datetime.timedelta(seconds=1))          # ... until it expires
    assert relay.drain_once(calls) == 2 and calls.types[1:] == ["e.0", "e.1"]
    assert {(e.status, e.attempts) for e in Event.objects.all()} == {("published", 0)}


def test_interrupted_batch_keeps_results_and_releases_the_rest(db):
    make_events(4)

    def handler(event):
        if event.event_type == "e.2":
            raise KeyboardInterrupt
        return event.event_type != "e.1"

    with pytest.raises(KeyboardInterrupt):
        OutboxRelay(Event, backoff_base_s=60).drain_once(handler)
    got = rows()
    assert got["e.0"].status == "published"
    assert (got["e.1"].status, got["e.1"].attempts) == ("pending", 1)
    for name in ("e.2", "e.3"):     # never handed out / interrupted: released, no attempt counted
        assert (got[name].status, got[name].attempts, got[name].claimed_by) == ("pending", 0, None)
    calls = Calls()
    assert OutboxRelay(Event).drain_once(calls) == 2 and calls.types == ["e.2", "e.3"]


def test_failure_after_the_claim_was_taken_over_is_not_recorded(db):
    make_events(1)
    outcomes = []

    def handler(event):
        # meanwhile the claim expired and another relay claimed the row
        Event.objects.filter(pk=event.pk).update(claimed_by="other-relay:2")
        raise TimeoutError("too slow")

    relay = OutboxRelay(Event, on_event=lambda e, o: outcomes.append(o))
    assert relay.drain_once(handler) == 0
    event = Event.objects.get()
    assert (event.attempts, event.last_error, event.claimed_by) == (0, None, "other-relay:2")
    assert outcomes == ["claim_lost"]


# ---- retention ----------------------------------------------------------------------------------
def test_purge_published_removes_only_old_published_rows(db, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    make_events(9)
    relay = OutboxRelay(Event)
    old = now() - datetime.timedelta(days=10)
    Event.objects.filter(event_type__in=["e.0", "e.1", "e.2", "e.3", "e.4"]).update(
        status="published", published_at=old)
    Event.objects.filter(event_type="e.5").update(status="published", published_at=now())
    Event.objects.filter(event_type="e.6").update(status="dead", created_at=old)
    Event.objects.filter(event_type="e.7").update(created_at=old)        # old but pending
    with transaction.atomic():
        Order.objects.create(number="kept")
    assert relay.purge_published(older_than=datetime.timedelta(days=7), chunk_size=2) == 5
    assert sorted(rows()) == ["e.5", "e.6", "e.7", "e.8"]
    assert Order.objects.count() == 1
    purged = [r for r in caplog.records if "purged" in r.getMessage()]
    assert len(purged) == 3 and "(5 so far)" in purged[-1].getMessage()
    assert relay.purge_published(older_than=datetime.timedelta(days=7)) == 0


def test_purge_published_arguments(db):
    relay = OutboxRelay(Event)
    with pytest.raises(TypeError, match="timedelta"):
        relay.purge_published(older_than=3600)
    with pytest.raises(ValueError, match="negative"):
        relay.purge_published(older_than=datetime.timedelta(seconds=-1))
    with pytest.raises(ValueError, match="chunk_size"):
        relay.purge_published(older_than=datetime.timedelta(0), chunk_size=0)


# ---- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, match", [
    ({"batch_size": 0}, ValueError, r"batch_size=\.\.\.\) must be >= 1"),
    ({"batch_size": True}, TypeError, "batch_size"),
    ({"batch_size": 2.5}, TypeError, "must be an integer"),
    ({"poll_interval_s": 0}, ValueError, r"poll_interval_s=\.\.\.\) must be > 0"),
    ({"poll_interval_s": float("nan")}, TypeError, "poll_interval_s"),
    ({"max_attempts": 0}, ValueError, "max_attempts"),
    ({"mode": "fast"}, ValueError, "valid modes are 'claim', 'locked'"),
    ({"backoff_base_s": -1}, ValueError, "backoff_base_s"),
    ({"backoff_base_s": 10, "backoff_max_s": 5}, ValueError, "backoff_max_s=5.*backoff_base_s"),
    ({"claim_timeout_s": 0}, ValueError, "claim_timeout_s"),
    ({"using": ""}, TypeError, "database alias"),
    ({"on_event": "print"}, TypeError, "on_event"),
])
def test_relay_arguments_are_validated(kwargs, error, match):
    with pytest.raises(error, match=match):
        OutboxRelay(Event, **kwargs)


def test_relay_model_and_handler_are_validated(db):
    from dorm.contrib.outbox import OutboxEvent

    with pytest.raises(TypeError, match="OutboxRelay: OutboxEvent is abstract"):
        OutboxRelay(OutboxEvent)
    with pytest.raises(TypeError, match="got Order"):
        OutboxRelay(Order)
    relay = OutboxRelay(Event)
    with pytest.raises(TypeError, match="callable"):
        relay.drain_once(None)

    async def handler(event):
        return True

    with pytest.raises(TypeError, match="adrain_once"):
        relay.drain_once(handler)


def test_unknown_alias_is_reported_at_first_use(db):
    relay = OutboxRelay(Event, using="missing")
    import dorm

    with pytest.raises(dorm.ImproperlyConfigured, match="'missing'.*Configured aliases: 'default'"):
        relay.drain_once(Calls())


def test_awaitable_from_a_sync_relay_handler_raises_and_costs_no_attempt(db):
    make_events(2)

    class AsyncCallable:                  # not a coroutine function, but returns a coroutine
        async def send(self, event):
            return True

        def __call__(self, event):
            return self.send(event)

    with pytest.raises(TypeError, match="adrain_once"):
        OutboxRelay(Event).drain_once(AsyncCallable())
    assert {(e.status, e.attempts, e.claimed_by) for e in Event.objects.all()} == {("pending", 0, None)}


def test_relay_with_use_tz(db):
    import dorm

    with dorm.settings.override(USE_TZ=True):
        make_events(2)
        relay = OutboxRelay(Event, backoff_base_s=30)
        assert relay.drain_once(lambda event: event.event_type == "e.0") == 1
        assert relay.drain_once(Calls()) == 0                          # e.1 backs off
        failed = Event.objects.get(event_type="e.1")
        aware_now = datetime.datetime.now(datetime.timezone.utc)
        assert failed.next_attempt_at.tzinfo is not None
        assert aware_now + datetime.timedelta(seconds=25) < failed.next_attempt_at
        Event.objects.filter(pk=failed.pk).update(
            next_attempt_at=aware_now - datetime.timedelta(seconds=1))
        assert relay.drain_once(Calls()) == 1
        published = Event.objects.get(event_type="e.0").published_at
        assert abs(published - aware_now) < datetime.timedelta(minutes=5)
        assert relay.purge_published(older_than=datetime.timedelta(0)) == 2


def test_async_on_event_hook_in_the_sync_relay_is_reported(db, caplog):
    make_events(1)

    async def hook(event, outcome):
        raise AssertionError("never awaited")

    assert OutboxRelay(Event, on_event=hook).drain_once(Calls()) == 1
    assert any("is async" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
