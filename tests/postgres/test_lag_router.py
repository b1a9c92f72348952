"""dorm.contrib.lag_router: reads on caught-up replicas, writes on the primary.

The routing rules run against a router whose lag probe is replaced (spec: "fake
_measure_lag") and a fake clock; the probe itself runs against a real streaming replica
(a primary cluster of our own plus a ``pg_basebackup`` copy of it), whose replay the
tests pause and resume.
"""
from __future__ import annotations

import asyncio
import logging
import time

import pytest

import dorm
from dorm.db import connections

from ..sharding.pg_support import Cluster, require_pg


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeLagRouter:
    """Builds routers whose probe answers from ``lags`` (a float, or an exception)."""

    def __init__(self):
        from dorm.contrib.lag_router import LagAwareReadRouter

        lags = self.lags = {}
        probes = self.probes = []

        class Router(LagAwareReadRouter):
            def _measure_lag(self, alias):
                probes.append(alias)
                value = lags[alias]
                if callable(value):
                    value = value()
                if isinstance(value, BaseException):
                    raise value
                return value

        self.cls = Router


@pytest.fixture
def fake():
    pytest.importorskip("dorm.contrib.lag_router")
    return FakeLagRouter()


class Item(dorm.Model):
    name = dorm.CharField(max_length=20)

    class Meta:
        app_label = "lag_router"


def test_validation():
    from dorm.contrib.lag_router import LagAwareReadRouter

    for kwargs, word in [({"replicas": []}, "replica"),
                         ({"replicas": ["r1"], "max_lag_seconds": 0}, "max_lag_seconds"),
                         ({"replicas": ["r1"], "cache_seconds": 0}, "cache_seconds"),
                         ({"replicas": ["r1"], "failure_threshold": 0}, "failure_threshold"),
                         ({"replicas": ["r1"], "cooldown_seconds": -1}, "cooldown_seconds"),
                         ({"replicas": ["default"]}, "primary"),
                         ({"replicas": ["r1", "r1"]}, "twice")]:
        with pytest.raises(ValueError, match=word):
            LagAwareReadRouter(**kwargs)


def test_routes_reads_to_healthy_replicas_and_writes_to_primary(fake):
    clock = Clock()
    router = fake.cls(replicas=["r1", "r2"], max_lag_seconds=2.0, clock=clock, rng=__import__("random").Random(3))
    fake.lags.update(r1=0.5, r2=5.0)
    assert {router.db_for_read(Item) for _ in range(20)} == {"r1"}
    assert router.db_for_write(Item) == "default"
    assert router.allow_relation(Item(), Item()) is True
    assert router.allow_migrate("default", "lag_router") and not router.allow_migrate("r1", "lag_router")
    snap = router.snapshot()
    assert snap["r1"]["healthy"] and snap["r1"]["lag_seconds"] == 0.5
    assert not snap["r2"]["healthy"] and snap["r2"]["consecutive_failures"] == 1
    fake.lags["r2"] = 0.1
    clock.now += 5.0  # cache expired: both probed again
    assert {router.db_for_read(Item) for _ in range(40)} == {"r1", "r2"}


def test_over_threshold_falls_back_to_primary_with_one_warning(fake, caplog):
    router = fake.cls(replicas=["r1"], max_lag_seconds=1.0, clock=Clock())
    fake.lags["r1"] = 3.0
    with caplog.at_level(logging.WARNING, logger="dorm.contrib.lag_router"):
        assert [router.db_for_read(Item) for _ in range(3)] == ["default"] * 3
    assert len([r for r in caplog.records if "no healthy replica" in r.message]) == 1


def test_probe_results_are_cached(fake):
    clock = Clock()
    router = fake.cls(replicas=["r1"], cache_seconds=5.0, clock=clock)
    fake.lags["r1"] = 0.0
    for _ in range(10):
        router.db_for_read(Item)
    assert fake.probes == ["r1"]
    clock.now += 4.9
    router.db_for_read(Item)
    assert fake.probes == ["r1"]
    clock.now += 0.2
    router.db_for_read(Item)
    assert fake.probes == ["r1", "r1"]


def test_breaker_skips_a_failing_replica_for_the_cooldown(fake):
    clock = Clock()
    router = fake.cls(replicas=["r1"], cache_seconds=1.0, failure_threshold=3, cooldown_seconds=30.0,
                      clock=clock)
    fake.lags["r1"] = ConnectionError("refused")
    for _ in range(3):
        assert router.db_for_read(Item) == "default"
        clock.now += 1.0
    assert len(fake.probes) == 3 and router.snapshot()["r1"]["breaker_open"]
    fake.lags["r1"] = 0.0
    clock.now += 20.0
    assert router.db_for_read(Item) == "default" and len(fake.probes) == 3  # not even probed
    clock.now += 10.0
    assert router.db_for_read(Item) == "r1" and len(fake.probes) == 4
    assert router.snapshot()["r1"]["consecutive_failures"] == 0


def test_cooldown_zero_disables_the_breaker(fake):
    clock = Clock()
    router = fake.cls(replicas=["r1"], cache_seconds=1.0, failure_threshold=1, cooldown_seconds=0,
                      clock=clock)
    fake.lags["r1"] = 9.0
    for _ in range(3):
        router.db_for_read(Item)
        clock.now += 1.0
    assert len(fake.probes) == 3 and not router.snapshot()["r1"]["breaker_open"]


def test_pinned_block_keeps_one_replica(fake):
    import random

    router = fake.cls(replicas=["r1", "r2", "r3"], clock=Clock(), rng=random.Random(1))
    fake.lags.update(r1=0.0, r2=0.0, r3=0.0)
    for _ in range(5):
        with router.pinned():
            seen = {router.db_for_read(Item) for _ in range(30)}
        assert len(seen) == 1
    assert len({router.db_for_read(Item) for _ in range(60)}) == 3


def test_event_loop_is_never_blocked_by_a_probe(fake):
    import threading

    clock = Clock()
    router = fake.cls(replicas=["r1"], clock=clock)
    gate = threading.Event()
    fake.lags["r1"] = lambda: gate.wait(10) and 0.0

    async def read():
        return router.db_for_read(Item)

    # first read inside a loop: not probed yet, so the primary; the probe runs in a thread
    started = time.monotonic()
    assert asyncio.run(read()) == "default"
    assert time.monotonic() - started < 1.0
    gate.set()
    deadline = time.monotonic() + 5
    while router.snapshot()["r1"]["checked_at"] is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert asyncio.run(read()) == "r1"


def test_sticky_read_after_write_reads_the_primary(fake):
    router = fake.cls(replicas=["r1"], clock=Clock())
    fake.lags["r1"] = 0.0
    from dorm.db import router as chain

    with dorm.settings.override(DATABASE_ROUTERS=[router], READ_AFTER_WRITE_WINDOW=30,
                                DATABASES={"default": {"ENGINE": "sqlite", "NAME": ":memory:"},
                                           "r1": {"ENGINE": "sqlite", "NAME": ":memory:"}}):
        try:
            assert chain.db_for_read(Item) == "r1"
            assert chain.db_for_write(Item) == "default"
            assert chain.db_for_read(Item) == "default"  # within the window: the primary
            assert chain.db_for_read(Item, sticky=False) == "r1"
        finally:
            chain.clear_read_after_write_window()


# ---- a real primary and streaming replica ---------------------------------------------------
class Replica(Cluster):
    """A hot standby of ``primary`` made with pg_basebackup (streaming, -R)."""

    def init_from(self, primary: Cluster) -> None:
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                  "-D", self.data, "-R", "-X", "stream", "--no-sync")


@pytest.fixture(scope="module")
def replication():
    require_pg()
    primary, replica = Cluster(), Replica()
    try:
        primary.init()
        primary.start()
        replica.init_from(primary)
        replica.start()
        yield primary, replica
    finally:
        connections.reset()
        replica.destroy()
        primary.destroy()


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_real_replica_lag(replication):
    from dorm.contrib.lag_router import LagAwareReadRouter

    primary, replica = replication
    router = LagAwareReadRouter(replicas=["replica", "down"], max_lag_seconds=0.5, cache_seconds=0.1,
                                failure_threshold=100)
    databases = {"default": primary.settings(), "replica": replica.settings(),
                 "down": {**replica.settings(), "PORT": 1, "OPTIONS": {"connect_timeout": 2}}}
    with dorm.settings.override(DATABASES=databases, DATABASE_ROUTERS=[router],
                                READ_AFTER_WRITE_WINDOW=0):
        try:
            dorm.create_tables([Item])
            Item.objects.create(name="first")
            def replicated(name):
                try:
                    return Item.objects.using("replica").filter(name=name).exists()
                except dorm.exceptions.ProgrammingError:  # the CREATE TABLE has not arrived yet
                    return False

            assert _wait(lambda: replicated("first") and router.probe("replica"))
            assert Item.objects.db == "replica"
            assert router.probe("down") is False
            # an idle primary: the replay timestamp ages, the replica is still caught up
            time.sleep(1.0)
            assert router.probe("replica") and router.snapshot()["replica"]["lag_seconds"] == 0.0
            # replay paused while the primary writes: the replica falls behind
            connections["replica"].execute("SELECT pg_wal_replay_pause()", [])
            try:
                Item.objects.create(name="second")
                assert _wait(lambda: not router.probe("replica"), timeout=10)
                time.sleep(0.2)
                assert Item.objects.db == "default"
                assert Item.objects.filter(name="second").exists()  # read on the primary
            finally:
                connections["replica"].execute("SELECT pg_wal_replay_resume()", [])
            assert _wait(lambda: router.probe("replica"))
            assert list(Item.objects.using("replica").order_by("name").values_list("name", flat=True)) == [
                "first", "second"]
            snap = asyncio.run(router.arefresh())
            assert snap["replica"]["healthy"] and not snap["down"]["healthy"]
        finally:
            connections.reset()


def test_primary_alias_reports_no_lag(replication):
    from dorm.contrib.lag_router import LagAwareReadRouter

    primary, _ = replication
    router = LagAwareReadRouter(replicas=["plain"])
    with dorm.settings.override(DATABASES={"default": primary.settings(), "plain": primary.settings()}):
        try:
            assert router.probe("plain") and router.snapshot()["plain"]["lag_seconds"] == 0.0
        finally:
            connections.reset()


def test_non_postgres_alias_is_always_healthy(tmp_path):
    pytest.importorskip("dorm.contrib.lag_router")
    from dorm.contrib.lag_router import LagAwareReadRouter

    router = LagAwareReadRouter(replicas=["lite"])
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": ":memory:"},
                                           "lite": {"ENGINE": "sqlite", "NAME": str(tmp_path / "r.db")}}):
        try:
            assert router.probe("lite") and router.db_for_read(Item) == "lite"
        finally:
            connections.reset()
