"""Automatic circuit breaking per database alias (``settings.CIRCUIT_BREAKER``) with real
databases: SQLite lock contention, PostgreSQL statement timeouts and advisory locks, a
PostgreSQL alias pointing at a closed port next to a working one."""
from __future__ import annotations

import contextlib
import threading

import dorm
import pytest
from dorm.contrib.circuit_breaker import (
    CircuitBreakerOpen,
    CircuitOpenError,
    CircuitState,
    alias_breaker,
    get_state,
    guarded_aliases,
)
from dorm.db import connections
from dorm.exceptions import ImproperlyConfigured, OperationalError
from dorm.transaction import atomic
from dorm_resilience.circuit_breaker.aliases import GUARD_NAME

from .conftest import FakeClock
from .models import Payment


def guard_registered() -> bool:
    return dorm.plugins.get_plugin_manager().get_plugin(GUARD_NAME) is not None


@contextlib.contextmanager
def configured(databases, breakers, models=(Payment,), **extra):
    with dorm.settings.override(DATABASES=databases, CIRCUIT_BREAKER=breakers, RETRY_ATTEMPTS=1,
                                **extra):
        for alias in {"default"} & set(databases):
            dorm.drop_tables(list(models), using=alias)
            dorm.create_tables(list(models), using=alias)
        try:
            yield
        finally:
            try:
                if "default" in databases:
                    dorm.drop_tables(list(models), using="default")
            finally:
                connections.close_all()


def insert_sql(alias):
    backend = connections[alias]
    table = backend.ops.quote_name(Payment._meta.db_table)
    ref, ph = backend.ops.quote_name("ref"), backend.ops.placeholder
    amount = backend.ops.quote_name("amount")
    return f"INSERT INTO {table} ({ref}, {amount}) VALUES ({ph}, {ph})"


# ---- settings ----------------------------------------------------------------------------------------
def test_settings_are_validated(tmp_path):
    db = {"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "v.sqlite3")}}
    for value, message in [
        (["default"], "CIRCUIT_BREAKER must be a dict of database alias -> breaker options, got list"),
        ({"reports": {}}, "names database alias 'reports', which is not in DATABASES; configured aliases: 'default'"),
        ({"default": 5}, r"CIRCUIT_BREAKER\['default'\] must be a dict"),
        ({"default": {"threshold": 3}}, r"unknown option\(s\) 'threshold'; valid options: clock, failure_exceptions"),
        ({"default": {"failure_threshold": 0}}, r"CIRCUIT_BREAKER\['default'\]: failure_threshold must be >= 1"),
        ({"default": {"open_window_s": -1}}, "open_window_s must be > 0"),
        ({"default": {"on_state_change": "no_such_module.callback"}}, "cannot import 'no_such_module.callback'"),
        ({"default": {"failure_exceptions": ["dorm.exceptions.Nope"]}}, "cannot import 'dorm.exceptions.Nope'"),
    ]:
        with pytest.raises(ImproperlyConfigured, match=message):
            with dorm.settings.override(DATABASES=db, CIRCUIT_BREAKER=value):
                pass
    assert not guard_registered()


def test_guard_is_registered_only_while_configured(tmp_path):
    db = {"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "g.sqlite3")}}
    with dorm.settings.override(DATABASES=db):
        assert not guard_registered() and guarded_aliases() == []
        assert alias_breaker("default") is None
    with dorm.settings.override(DATABASES=db, CIRCUIT_BREAKER={
            "default": {"failure_exceptions": ["dorm.exceptions.OperationalError", TimeoutError],
                        "on_state_change": "logging.getLogger"}}):
        assert guard_registered() and guarded_aliases() == ["default"]
        breaker = alias_breaker("default")
        assert breaker is alias_breaker("default") and breaker.name == "db:default"
        assert breaker.failure_exceptions == (dorm.exceptions.OperationalError, TimeoutError)
        assert get_state("db:default")["state"] == "closed"
    assert not guard_registered() and guarded_aliases() == []


# ---- SQLite: a locked database ----------------------------------------------------------------------
def test_sqlite_alias_trips_on_lock_timeouts_and_recovers(tmp_path):
    clock = FakeClock()
    path = str(tmp_path / "shared.sqlite3")
    databases = {"default": {"ENGINE": "sqlite", "NAME": path},
                 "busy": {"ENGINE": "sqlite", "NAME": path, "OPTIONS": {"timeout": 0}}}
    with configured(databases, {"busy": {"failure_threshold": 2, "open_window_s": 5, "clock": clock}}):
        busy = connections["busy"]
        sql = insert_sql("busy")
        with atomic("default"):
            Payment.objects.create(ref="holds the write lock")
            for _ in range(2):
                with pytest.raises(OperationalError, match="locked"):
                    busy.execute_write(sql, ["blocked", 1])
            assert alias_breaker("busy").state is CircuitState.OPEN
            with pytest.raises(CircuitBreakerOpen, match="database alias 'busy': circuit breaker 'db:busy' is open") as info:
                busy.execute_write(sql, ["refused", 1])
            assert info.value.alias == "busy" and isinstance(info.value, CircuitOpenError)
            assert Payment.objects.count() == 1            # the default alias is not guarded
        with pytest.raises(CircuitOpenError):
            Payment.objects.using("busy").create(ref="still refused")
        clock.advance(5)
        Payment.objects.using("busy").create(ref="probe")   # the probe succeeds
        assert get_state("db:busy") == {"state": "closed", "failures": 0, "opened_at": None}
        assert sorted(Payment.objects.values_list("ref", flat=True)) == ["holds the write lock", "probe"]


async def test_async_statements_are_guarded_too(tmp_path):
    clock = FakeClock()
    databases = {"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "a.sqlite3")}}
    try:
        with configured(databases, {"default": {"failure_threshold": 1, "open_window_s": 5, "clock": clock}}):
            assert await Payment.objects.acount() == 0
            breaker = alias_breaker("default")
            breaker.record_failure()
            with pytest.raises(CircuitBreakerOpen):
                await Payment.objects.acreate(ref="refused")
            clock.advance(5)
            await Payment.objects.acreate(ref="probe")
            assert breaker.state is CircuitState.CLOSED
            assert await Payment.objects.acount() == 1
            await connections.aclose_all()
    finally:
        await connections.aclose_all()


# ---- PostgreSQL --------------------------------------------------------------------------------------
def admin_connection(pg_settings):
    import psycopg

    return psycopg.connect(host=pg_settings["HOST"], port=pg_settings["PORT"], user=pg_settings.get("USER"),
                           password=pg_settings.get("PASSWORD"), dbname=pg_settings["NAME"],
                           autocommit=True)


def wait_until(predicate, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_postgres_alias_trips_on_statement_timeouts_and_fails_fast(pg_settings):
    """``slow`` is the test database with a 100 ms statement_timeout: real
    ``QueryCanceled`` errors open its breaker; then its statements are not sent at all,
    while ``default`` (the same database, no timeout, guarded too) keeps working."""
    clock = FakeClock()
    databases = {"default": dict(pg_settings),
                 "slow": {**pg_settings, "OPTIONS": {"options": "-c statement_timeout=100"}}}
    breakers = {"slow": {"failure_threshold": 2, "open_window_s": 5, "clock": clock},
                "default": {"failure_threshold": 2, "open_window_s": 5, "clock": clock}}
    with configured(databases, breakers):
        slow = connections["slow"]
        for _ in range(2):
            with pytest.raises(OperationalError, match="statement timeout"):
                slow.execute("SELECT pg_sleep(2)")
        assert get_state("db:slow")["state"] == "open"
        with pytest.raises(CircuitBreakerOpen, match="alias 'slow'.*next probe allowed in 5.0 s"):
            slow.execute_write(insert_sql("slow"), ["refused", 1])
        assert Payment.objects.count() == 0                 # the INSERT never reached the server
        assert get_state("db:default")["state"] == "closed"
        Payment.objects.create(ref="default works")
        clock.advance(5)
        slow.execute_write(insert_sql("slow"), ["probe", 2])  # the probe succeeds: closed
        assert get_state("db:slow") == {"state": "closed", "failures": 0, "opened_at": None}
        assert sorted(Payment.objects.values_list("ref", flat=True)) == ["default works", "probe"]


def test_postgres_half_open_admits_a_single_probe(pg_settings):
    """The probe's statement waits on an advisory lock held from outside dorm; while it
    is in flight every other statement on the alias fails fast."""
    clock = FakeClock()
    with configured({"default": dict(pg_settings)},
                    {"default": {"failure_threshold": 1, "open_window_s": 5, "clock": clock}}):
        assert Payment.objects.count() == 0
        alias_breaker("default").record_failure()
        clock.advance(5)
        lock_key = 7_310_042
        admin = admin_connection(pg_settings)
        try:
            admin.execute("SELECT pg_advisory_lock(%s)", [lock_key])
            probe_result = []

            def probe():
                try:
                    connections["default"].execute("SELECT pg_advisory_xact_lock(%s)", [lock_key])
                    probe_result.append("ok")
                except Exception as exc:  # noqa: BLE001 - asserted below
                    probe_result.append(repr(exc))

            t = threading.Thread(target=probe)
            t.start()
            waiting = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            assert wait_until(lambda: admin.execute(waiting).fetchone()[0] == 1)

            refused = []

            def other():
                try:
                    Payment.objects.count()
                    refused.append("ran")
                except CircuitOpenError as exc:
                    refused.append(exc.state)

            others = [threading.Thread(target=other) for _ in range(5)]
            for o in others:
                o.start()
            for o in others:
                o.join(10)
            assert refused == ["half_open"] * 5
            admin.execute("SELECT pg_advisory_unlock(%s)", [lock_key])
            t.join(10)
        finally:
            admin.close()
        assert probe_result == ["ok"]
        assert get_state("db:default")["state"] == "closed"
        assert Payment.objects.count() == 0


def test_postgres_closed_port_alias_next_to_a_working_one(pg_settings):
    """``down`` points at 127.0.0.1:1 (nothing listens): its failures open its breaker,
    after which its statements fail fast with CircuitOpenError without a connection
    attempt; ``default`` keeps serving."""
    clock = FakeClock()
    down = {**pg_settings, "HOST": "127.0.0.1", "PORT": 1, "OPTIONS": {"connect_timeout": 2}}
    breakers = {"default": {"failure_threshold": 2, "open_window_s": 5, "clock": clock},
                "down": {"failure_threshold": 2, "open_window_s": 5, "clock": clock}}
    with configured({"default": dict(pg_settings), "down": down}, breakers):
        with pytest.raises(OperationalError, match="127.0.0.1:1"):
            Payment.objects.using("down").count()
        assert alias_breaker("down").failures == 1  # the refused connection counted
        with pytest.raises(OperationalError):
            Payment.objects.using("down").count()
        assert get_state("db:down")["state"] == "open"
        with pytest.raises(CircuitBreakerOpen, match="alias 'down'"):
            Payment.objects.using("down").count()
        Payment.objects.create(ref="default works")
        assert Payment.objects.count() == 1 and get_state("db:default")["state"] == "closed"
        clock.advance(5)
        with pytest.raises(OperationalError):               # the probe still cannot connect
            Payment.objects.using("down").count()
        assert get_state("db:down")["state"] == "open"


# ---- next to dorm-sharding's shard breakers ----------------------------------------------------------
def test_shard_breakers_and_alias_breakers_never_count_each_other(tmp_path):
    sharding = pytest.importorskip("dorm.contrib.sharding")
    clock = FakeClock()
    databases = {alias: {"ENGINE": "sqlite", "NAME": str(tmp_path / f"{alias}.sqlite3")}
                 for alias in ("default", "shard_0", "shard_1")}
    with configured(databases, {"shard_0": {"failure_threshold": 1, "open_window_s": 5, "clock": clock}},
                    SHARDING={"NUM_SHARDS": 2, "BREAKER": {"failure_threshold": 1, "open_window_s": 5}}):
        shard = connections["shard_0"]
        shard.execute("SELECT 1")
        shard_breaker = sharding.get_breaker("shard_0")
        assert shard_breaker is not None and alias_breaker("shard_0") is not None

        alias_breaker("shard_0").record_failure()                  # ours opens ...
        with pytest.raises(CircuitBreakerOpen):
            shard.execute("SELECT 1")
        assert shard_breaker.failures == 0 and shard_breaker.state.value == "closed"   # ... theirs ignores it
        clock.advance(5)
        shard.execute("SELECT 1")
        assert alias_breaker("shard_0").state is CircuitState.CLOSED

        shard_breaker.record_failure(OperationalError("could not connect to server"))  # theirs opens ...
        with pytest.raises(sharding.ShardUnavailable):
            shard.execute("SELECT 1")
        assert alias_breaker("shard_0").failures == 0                # ... ours ignores it
        assert alias_breaker("shard_0").state is CircuitState.CLOSED
        sharding.reset_breakers()
