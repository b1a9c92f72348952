"""The circuit breaker state machine (fake clock), its context managers, the registry and
thread safety. No database needed: these run once."""
from __future__ import annotations

import asyncio
import threading

import dorm
import pytest
from dorm.contrib.circuit_breaker import (
    DEFAULT_FAILURE_EXCEPTIONS,
    CircuitBreaker,
    CircuitBreakerOpen,
    CircuitOpenError,
    CircuitState,
    circuit_breaker,
    get_state,
    reset_circuit_breakers,
)
from dorm.exceptions import (
    DatabaseError,
    DoesNotExist,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ValidationError,
)

from .conftest import FakeClock


def db_down():
    return OperationalError("could not connect to server: Connection refused")


def fail(breaker, exc=None):
    with pytest.raises(type(exc or db_down())):
        with breaker:
            raise exc or db_down()


def test_the_kernel_error_class_is_reused():
    assert CircuitOpenError is dorm.exceptions.CircuitOpenError
    assert issubclass(CircuitBreakerOpen, CircuitOpenError) and issubclass(CircuitOpenError, DatabaseError)
    assert set(DEFAULT_FAILURE_EXCEPTIONS) >= {OperationalError, InterfaceError, TimeoutError,
                                               ConnectionError, OSError}


def test_threshold_trips_and_fails_fast_while_open():
    clock = FakeClock()
    b = CircuitBreaker("db", failure_threshold=3, open_window_s=10, clock=clock)
    assert b.state is CircuitState.CLOSED and b.failures == 0
    fail(b)
    fail(b)
    with b:
        pass                                   # a success resets the consecutive count
    assert b.failures == 0
    for _ in range(3):
        fail(b)
    assert b.state is CircuitState.OPEN and b.failures == 3 and b.opened_at == 1000.0
    clock.advance(4)
    ran = []
    with pytest.raises(CircuitOpenError, match=r"'db' is open after 3 consecutive failure\(s\).*6\.0 s") as info:
        with b:
            ran.append(1)
    assert ran == [] and not b.allow()
    err = info.value
    assert isinstance(err, CircuitBreakerOpen) and isinstance(err, DatabaseError)
    assert (err.name, err.state, err.failures, err.retry_in, err.alias) == ("db", "open", 3, 6.0, None)
    assert b.failures == 3                     # refusals are not failures


def test_half_open_after_window_probe_success_closes():
    clock = FakeClock()
    b = CircuitBreaker("db", failure_threshold=1, open_window_s=5, clock=clock)
    fail(b)
    clock.advance(4.99)
    assert b.state is CircuitState.OPEN
    clock.advance(0.01)
    assert b.state is CircuitState.HALF_OPEN
    with b:
        pass
    assert b.state is CircuitState.CLOSED and b.failures == 0 and b.opened_at is None


def test_probe_failure_reopens_with_a_new_window():
    clock = FakeClock()
    b = CircuitBreaker("db", failure_threshold=2, open_window_s=5, clock=clock)
    fail(b)
    fail(b)
    clock.advance(5)
    fail(b)                                    # the probe fails
    assert b.state is CircuitState.OPEN and b.opened_at == 1005.0
    clock.advance(4)
    assert not b.allow()
    clock.advance(1)
    assert b.allow() and b.state is CircuitState.HALF_OPEN
    b.record_success()
    assert b.state is CircuitState.CLOSED


def test_half_open_lets_a_single_probe_through():
    clock = FakeClock()
    b = CircuitBreaker("db", failure_threshold=1, open_window_s=5, clock=clock)
    fail(b)
    clock.advance(5)
    probe_inside, finish = threading.Event(), threading.Event()
    outcomes = []

    def probe():
        with b:
            probe_inside.set()
            finish.wait(10)

    t = threading.Thread(target=probe)
    t.start()
    assert probe_inside.wait(10)

    def caller():
        try:
            with b:
                outcomes.append("ran")
        except CircuitOpenError as exc:
            outcomes.append(exc.state)

    callers = [threading.Thread(target=caller) for _ in range(8)]
    for c in callers:
        c.start()
    for c in callers:
        c.join(10)
    assert outcomes == ["half_open"] * 8      # only the probe got through
    with pytest.raises(CircuitOpenError, match="half-open and its 1 probe call"):
        with b:
            pass
    finish.set()
    t.join(10)
    assert b.state is CircuitState.CLOSED
    with b:
        pass


def test_half_open_max_calls_and_forgotten_probes():
    clock = FakeClock()
    b = CircuitBreaker("db", failure_threshold=1, open_window_s=5, clock=clock, half_open_max_calls=2)
    fail(b)
    clock.advance(5)
    assert b.allow() and b.allow() and not b.allow()      # two probes, never reported
    clock.advance(5)                                      # ... forgotten after one window
    assert b.state is CircuitState.HALF_OPEN and b.allow()
    b.record_failure()
    assert b.state is CircuitState.OPEN


def test_late_success_of_a_call_admitted_before_opening_does_not_close():
    clock = FakeClock()
    b = CircuitBreaker("db", failure_threshold=1, open_window_s=5, clock=clock)
    slow_inside, finish = threading.Event(), threading.Event()

    def slow():
        with b:
            slow_inside.set()
            finish.wait(10)

    t = threading.Thread(target=slow)
    t.start()
    assert slow_inside.wait(10)
    fail(b)                                      # opens while the slow call is in flight
    finish.set()
    t.join(10)
    assert b.state is CircuitState.OPEN          # its success says nothing about now
    clock.advance(5)
    with b:                                      # the probe
        pass
    assert b.state is CircuitState.CLOSED


@pytest.mark.parametrize("exc", [DoesNotExist("no row"), ValidationError("bad"),
                                 IntegrityError("duplicate key"), KeyError("x"), ValueError("y")])
def test_non_failure_exceptions_do_not_count(exc):
    b = CircuitBreaker("db", failure_threshold=1)
    for _ in range(5):
        fail(b, exc)
    assert b.state is CircuitState.CLOSED and b.failures == 0


def test_neutral_exception_frees_the_probe_without_closing():
    clock = FakeClock()
    b = CircuitBreaker("db", failure_threshold=1, open_window_s=5, clock=clock)
    fail(b)
    clock.advance(5)
    fail(b, DoesNotExist("no row"))
    assert b.state is CircuitState.HALF_OPEN
    with b:                                     # the slot is free again
        pass
    assert b.state is CircuitState.CLOSED


def test_custom_failure_exceptions_and_circuit_open_never_counts():
    b = CircuitBreaker("db", failure_threshold=1, failure_exceptions=(DatabaseError,))
    fail(b, CircuitOpenError("another breaker refused"))
    assert b.state is CircuitState.CLOSED
    fail(b, IntegrityError("dup"))
    assert b.state is CircuitState.OPEN
    b.reset()
    assert b.state is CircuitState.CLOSED and b.failures == 0
    timeouts = CircuitBreaker("t", failure_threshold=1, failure_exceptions=TimeoutError)
    fail(timeouts, db_down())
    assert timeouts.state is CircuitState.CLOSED
    fail(timeouts, TimeoutError("slow"))
    assert timeouts.state is CircuitState.OPEN


def test_state_change_callback_for_metrics():
    clock = FakeClock()
    seen = []
    b = CircuitBreaker("db", failure_threshold=1, open_window_s=5, clock=clock,
                       on_state_change=lambda *args: seen.append(args))
    fail(b)
    clock.advance(5)
    with b:
        pass
    assert seen == [("db", CircuitState.CLOSED, CircuitState.OPEN),
                    ("db", CircuitState.OPEN, CircuitState.HALF_OPEN),
                    ("db", CircuitState.HALF_OPEN, CircuitState.CLOSED)]


def test_a_failing_callback_never_breaks_calls(caplog):
    b = CircuitBreaker("db", failure_threshold=1, on_state_change=lambda *a: 1 / 0)
    fail(b)
    assert b.state is CircuitState.OPEN
    assert "on_state_change callback of circuit breaker 'db' failed" in caplog.text


async def test_aprotect_counts_failures_but_not_cancellation():
    clock = FakeClock()
    b = CircuitBreaker("db", failure_threshold=2, open_window_s=5, clock=clock)
    for _ in range(3):
        with pytest.raises(asyncio.CancelledError):
            async with b.aprotect():
                raise asyncio.CancelledError()
    assert b.state is CircuitState.CLOSED and b.failures == 0

    started = asyncio.Event()

    async def slow():
        async with b.aprotect():
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert b.failures == 0

    for _ in range(2):
        with pytest.raises(OperationalError):
            async with b.aprotect():
                raise db_down()
    assert b.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        async with b.aprotect():
            pytest.fail("must not run")
    clock.advance(5)
    with pytest.raises(asyncio.CancelledError):
        async with b.aprotect():                  # a cancelled probe frees its slot
            raise asyncio.CancelledError()
    assert b.state is CircuitState.HALF_OPEN
    async with b.aprotect():
        pass
    assert b.state is CircuitState.CLOSED


def test_manual_api():
    clock = FakeClock()
    b = CircuitBreaker("db", failure_threshold=2, open_window_s=5, clock=clock)
    assert b.allow()
    b.record_failure()
    b.record_failure()
    assert b.state is CircuitState.OPEN and not b.allow()
    clock.advance(5)
    assert b.state is CircuitState.HALF_OPEN
    b.record_success()                            # an explicit success closes
    assert b.state is CircuitState.CLOSED and b.failures == 0


def test_validation():
    for kwargs, error, message in [
        ({"failure_threshold": 0}, ValueError, "failure_threshold must be >= 1"),
        ({"failure_threshold": 2.5}, TypeError, "failure_threshold must be an int"),
        ({"failure_threshold": True}, TypeError, "failure_threshold must be an int"),
        ({"open_window_s": 0}, ValueError, "open_window_s must be > 0"),
        ({"open_window_s": -1.0}, ValueError, "open_window_s must be > 0"),
        ({"open_window_s": "30"}, TypeError, "open_window_s must be a number"),
        ({"half_open_max_calls": 0}, ValueError, "half_open_max_calls must be >= 1"),
        ({"failure_exceptions": ()}, TypeError, "failure_exceptions must be"),
        ({"failure_exceptions": ("OperationalError",)}, TypeError, "failure_exceptions must be"),
        ({"clock": 3}, TypeError, "clock must be a callable"),
        ({"on_state_change": "x"}, TypeError, "on_state_change must be callable"),
    ]:
        with pytest.raises(error, match=message):
            CircuitBreaker("db", **kwargs)
    with pytest.raises(ValueError, match="non-empty string"):
        CircuitBreaker("")


def test_registry_identity_state_and_reset(caplog):
    clock = FakeClock()
    a = circuit_breaker("payments", failure_threshold=1, open_window_s=5, clock=clock)
    assert circuit_breaker("payments") is a
    assert circuit_breaker("payments", failure_threshold=1) is a and "ignoring" not in caplog.text
    assert circuit_breaker("payments", failure_threshold=9) is a and a.failure_threshold == 1
    assert "ignoring failure_threshold=9" in caplog.text
    assert circuit_breaker("other") is not a
    assert get_state("payments") == {"state": "closed", "failures": 0, "opened_at": None}
    assert get_state("never-created") == {"state": "unknown", "failures": 0, "opened_at": None}
    fail(a)
    assert get_state("payments") == {"state": "open", "failures": 1, "opened_at": 1000.0}
    clock.advance(5)
    assert get_state("payments")["state"] == "half_open"       # promoted, not the raw state
    reset_circuit_breakers()
    assert a.state is CircuitState.CLOSED
    assert get_state("payments")["state"] == "unknown"
    assert circuit_breaker("payments") is not a


def test_thread_safety_under_concurrent_failures():
    clock = FakeClock()
    threshold, threads, per_thread = 1000, 16, 50
    opened = []
    b = CircuitBreaker("db", failure_threshold=threshold, open_window_s=5, clock=clock,
                       on_state_change=lambda name, old, new: opened.append(new))
    go = threading.Barrier(threads)

    def hammer():
        go.wait()
        for _ in range(per_thread):
            try:
                with b:
                    raise db_down()
            except OperationalError:
                pass

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert b.failures == threads * per_thread            # no lost update
    b.reset()
    opened.clear()

    b2 = CircuitBreaker("db2", failure_threshold=10, open_window_s=5, clock=clock,
                        on_state_change=lambda name, old, new: opened.append(new))
    refused, failed = [], []
    go2 = threading.Barrier(threads)

    def trip():
        go2.wait()
        for _ in range(5):
            try:
                with b2:
                    raise db_down()
            except CircuitOpenError:
                refused.append(1)
            except OperationalError:
                failed.append(1)

    workers = [threading.Thread(target=trip) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert opened == [CircuitState.OPEN]                  # opened exactly once
    assert len(failed) + len(refused) == threads * 5 and len(failed) >= 10
    assert b2.failures == len(failed)
