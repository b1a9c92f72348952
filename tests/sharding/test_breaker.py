"""Per-shard circuit breakers: the state machine (fake clock) and a shard going down
on SQLite (its file becomes unopenable) while the other shards keep serving."""
from __future__ import annotations

import contextvars
import os
import threading
import time

import dorm
import pytest
from dorm.contrib.sharding import (
    CircuitState,
    FanOutError,
    ShardBreaker,
    ShardUnavailable,
    breaker_states,
    for_each_shard,
    get_breaker,
    is_connection_error,
    sharded,
    with_shard_key,
)
from dorm.db import connections
from dorm.exceptions import CircuitOpenError, IntegrityError, InterfaceError, OperationalError

from .models import Order


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def conn_error(text="could not connect to server: Connection refused"):
    return OperationalError(text)


# ---- the state machine ------------------------------------------------------------------------------
def test_threshold_opens_and_fails_fast():
    clock = Clock()
    b = ShardBreaker("shard_9", failure_threshold=3, open_window_s=5, clock=clock)
    assert b.state is CircuitState.CLOSED
    for _ in range(2):
        b.record_failure(conn_error())
        b.check()
    b.record_success()
    assert b.failures == 0          # consecutive failures only
    for _ in range(3):
        b.record_failure(conn_error())
    assert b.state is CircuitState.OPEN
    with pytest.raises(ShardUnavailable, match=r"shard 'shard_9' is unavailable.*3 consecutive.*next probe in 5\.0 s") as info:
        b.check()
    err = info.value
    assert isinstance(err, CircuitOpenError) and isinstance(err, dorm.DatabaseError)
    assert (err.alias, err.state, err.failures) == ("shard_9", "open", 3)
    clock.now += 4.9
    assert not b.allow()


def test_half_open_single_probe_then_close():
    clock = Clock()
    b = ShardBreaker("s", failure_threshold=1, open_window_s=5, clock=clock)
    b.record_failure(conn_error())
    clock.now += 5
    assert b.state is CircuitState.HALF_OPEN
    b.check()                       # this context holds the probe
    b.check()                       # ... and may run several statements
    results = []
    t = threading.Thread(target=lambda: results.append(b.allow()))
    t.start()
    t.join()
    assert results == [False]       # another thread (context) fails fast
    with pytest.raises(ShardUnavailable, match="half-open and one probe request"):
        contextvars.Context().run(b.check)        # another task's context: fails fast too
    b.record_success()
    assert b.state is CircuitState.CLOSED and b.failures == 0
    assert [b.allow() for _ in range(3)] == [True] * 3


def test_probe_failure_reopens_and_restarts_timer():
    clock = Clock()
    b = ShardBreaker("s", failure_threshold=2, open_window_s=5, clock=clock)
    b.record_failure(conn_error())
    b.record_failure(conn_error())
    clock.now += 6
    b.check()                       # probe
    b.record_failure(conn_error())
    assert b.state is CircuitState.OPEN
    clock.now += 4
    assert not b.allow()            # the window restarted at the probe failure
    clock.now += 1
    assert b.allow()


def test_lost_probe_expires():
    clock = Clock()
    b = ShardBreaker("s", failure_threshold=1, open_window_s=5, probe_timeout_s=2, clock=clock)
    b.record_failure(conn_error())
    clock.now += 5
    b.check()                       # a probe whose outcome is never reported
    other = []

    def elsewhere():
        t = threading.Thread(target=lambda: other.append(b.allow()))
        t.start()
        t.join()

    elsewhere()
    clock.now += 2.5
    elsewhere()
    assert other == [False, True]


def test_only_connection_errors_count():
    b = ShardBreaker("s", failure_threshold=1, open_window_s=5)
    assert not b.record_failure(IntegrityError("UNIQUE constraint failed"))
    assert not b.record_failure(Order.DoesNotExist("nope"))
    assert not b.record_failure(ValueError("x"))
    assert not b.record_failure(OperationalError("database is locked"))
    assert not b.record_failure(ShardUnavailable("x", alias="s", state="open", failures=1, retry_in=1))
    assert b.state is CircuitState.CLOSED
    assert is_connection_error(InterfaceError("connection already closed"))
    assert is_connection_error(ConnectionRefusedError())
    assert is_connection_error(TimeoutError())
    assert is_connection_error(OperationalError("unable to open database file"))

    class PgLike(Exception):
        sqlstate = "42P01"

    wrapped = OperationalError("relation does not exist")
    wrapped.__cause__ = PgLike()
    assert not is_connection_error(wrapped)
    PgLike.sqlstate = "08006"
    assert is_connection_error(wrapped)
    PgLike.sqlstate = "57P01"
    assert is_connection_error(wrapped)
    assert b.record_failure(conn_error())
    assert b.state is CircuitState.OPEN


def test_state_change_callback_and_thread_safety():
    changes = []
    b = ShardBreaker("s", failure_threshold=50, open_window_s=60,
                     on_state_change=lambda alias, old, new: changes.append((alias, old, new)))
    threads = [threading.Thread(target=lambda: [b.record_failure(conn_error()) for _ in range(10)])
               for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.failures == 200
    assert changes == [("s", "closed", "open")]
    b.reset()
    assert changes[-1] == ("s", "open", "closed") and b.failures == 0
    with pytest.raises(ValueError):
        ShardBreaker("s", failure_threshold=0)
    with pytest.raises(ValueError):
        ShardBreaker("s", open_window_s=0)


# ---- a SQLite shard goes down ------------------------------------------------------------------------
def _down(path):
    """Make the SQLite file unopenable: a directory takes its place."""
    connections.close_all()
    os.replace(path, path + ".away")
    os.mkdir(path)


def _up(path):
    os.rmdir(path)
    os.replace(path + ".away", path)


@pytest.fixture
def breaker_env(shard_env):
    router = shard_env(4, sharding={"BREAKER": {"failure_threshold": 3, "open_window_s": 0.4}})
    keys = {}
    for k in range(200):
        keys.setdefault(router.shard_for(k), k)
        if len(keys) == 4:
            break
    for key in keys.values():
        with with_shard_key(key):
            Order.objects.create(customer_id=key, total=1)
    down = "shard_2"
    path = connections.settings_for(down)["NAME"]
    return router, keys, down, path


def test_shard_down_fails_fast_and_others_serve(breaker_env):
    router, keys, down, path = breaker_env
    _down(path)
    try:
        for _ in range(3):
            with pytest.raises(OperationalError, match="unable to open database file"), with_shard_key(keys[down]):
                Order.objects.count()
        assert get_breaker(down).state is CircuitState.OPEN
        started = time.perf_counter()
        with pytest.raises(ShardUnavailable, match="shard 'shard_2' is unavailable") as info, with_shard_key(keys[down]):
            Order.objects.count()
        assert time.perf_counter() - started < 0.05
        assert info.value.alias == down
        # the other shards keep serving
        for alias, key in keys.items():
            if alias != down:
                with with_shard_key(key):
                    assert Order.objects.count() == 1
        # a fan-out names the shard and does not contact it
        with pytest.raises(FanOutError, match="shard_2: ShardUnavailable"):
            sharded(Order.objects).count()
        partial = for_each_shard(lambda a: Order.objects.using(a).count(), return_exceptions=True)
        assert isinstance(partial[down], ShardUnavailable)
        assert [partial[a] for a in router.aliases if a != down] == [1, 1, 1]
        # an explicit .using(down) statement is gated by the dorm_execute wrapper once connected
        states = breaker_states()
        assert states[down]["state"] == "open" and states["shard_0"]["state"] == "closed"
    finally:
        _up(path)
    time.sleep(0.45)
    assert get_breaker(down).state is CircuitState.HALF_OPEN
    with with_shard_key(keys[down]):
        assert Order.objects.count() == 1       # the probe succeeds ...
    assert get_breaker(down).state is CircuitState.CLOSED   # ... and closes the breaker
    assert sharded(Order.objects).count() == 4


def test_half_open_lets_exactly_one_probe_through(breaker_env):
    _router, keys, down, path = breaker_env
    _down(path)
    try:
        for _ in range(3):
            with pytest.raises(OperationalError), with_shard_key(keys[down]):
                Order.objects.count()
        time.sleep(0.45)
        barrier = threading.Barrier(8)
        outcomes = []

        def hit():
            barrier.wait()
            try:
                with with_shard_key(keys[down]):
                    Order.objects.count()
            except Exception as exc:  # noqa: BLE001
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=hit) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["OperationalError"] + ["ShardUnavailable"] * 7
        assert get_breaker(down).state is CircuitState.OPEN   # the probe failed: open again
    finally:
        _up(path)


def test_statement_errors_do_not_open_the_breaker(breaker_env):
    _router, keys, down, _path = breaker_env
    key = keys[down]
    with with_shard_key(key):
        existing = Order.objects.get(customer_id=key)
        for _ in range(5):
            with pytest.raises(IntegrityError):
                Order.objects.create(id=existing.pk, customer_id=key, total=1)
            with pytest.raises(Order.DoesNotExist):
                Order.objects.get(customer_id=-1)
    assert get_breaker(down).state is CircuitState.CLOSED


def test_breakers_can_be_disabled(shard_env):
    shard_env(2, sharding={"BREAKER": False})
    assert get_breaker("shard_0") is None
    with with_shard_key(1):
        assert Order.objects.count() == 0


def test_execute_wrapper_gates_statements_outside_the_router(shard_env):
    """.using(alias) and obj.save() (via _state.db) skip the router: the dorm_execute
    wrapper gates them, and its successes close a half-open breaker."""
    from dorm import plugins
    from dorm_sharding.breaker import GUARD_NAME

    shard_env(4, sharding={"BREAKER": {"failure_threshold": 1, "open_window_s": 0.2}})
    assert plugins.get_plugin_manager().get_plugin(GUARD_NAME) is not None
    order = Order.objects.using("shard_1").create(customer_id=1, total=1)
    get_breaker("shard_1").record_failure(OperationalError("server closed the connection unexpectedly"))
    with pytest.raises(ShardUnavailable, match="shard 'shard_1'"):
        Order.objects.using("shard_1").count()
    order.status = "x"
    with pytest.raises(ShardUnavailable, match="shard 'shard_1'"):
        order.save()
    assert Order.objects.using("shard_0").count() == 0       # other shards unaffected
    time.sleep(0.25)
    order.save()                                               # the probe: succeeds
    assert get_breaker("shard_1").state is CircuitState.CLOSED
    assert Order.objects.using("shard_1").get(pk=order.pk).status == "x"
