"""Sharding on real PostgreSQL: one database per shard on 127.0.0.1:5432, and a second
cluster (started and stopped here) for a shard that goes down and comes back.

Skipped with the reason when the dorm-postgres plugin or the server is missing; with
``DORM_REQUIRE_PG=1`` that is a failure instead."""
from __future__ import annotations

import asyncio
import decimal
import time
import uuid

import dorm
import pytest
from dorm.aggregates import Count, Max, Min, Sum
from dorm.contrib.sharding import (
    CircuitState,
    FanOutError,
    ShardKeyRequired,
    ShardUnavailable,
    get_breaker,
    rebalance,
    shard_for,
    sharded,
    with_shard_key,
)
from dorm.exceptions import OperationalError

from .conftest import configured, sqlite_db
from .models import KEY_FIELDS, SHARDED, Order, OrderLine
from .pg_support import Cluster, ShardDatabases, require_pg
from .test_fanout import make_rows


@pytest.fixture(scope="module")
def pg_dbs():
    require_pg()
    dbs = ShardDatabases(6)
    dbs.create()
    yield dbs
    dbs.drop()


@pytest.fixture
def pg_shards(pg_dbs, tmp_path):
    """shard_0..shard_3 on four PostgreSQL databases, shard_4 and 'single' on two more."""
    from dorm_sharding.router import HashShardRouter

    router = HashShardRouter(num_shards=4, shard_models=KEY_FIELDS)
    dbs = {"default": sqlite_db(tmp_path / "default.sqlite3")}
    for i in range(5):
        dbs[f"shard_{i}"] = pg_dbs.settings(i)
    dbs["single"] = pg_dbs.settings(5)
    with configured(dbs, router=router):
        for alias in ("shard_4", "single"):
            dorm.drop_tables(SHARDED, using=alias)
            dorm.create_tables(SHARDED, using=alias)
        yield router
        for alias in [f"shard_{i}" for i in range(5)] + ["single"]:
            dorm.drop_tables(SHARDED, using=alias)


def test_routing_on_postgres(pg_shards):
    router = pg_shards
    with with_shard_key(11):
        order = Order.objects.create(customer_id=11, total="3.50")
        OrderLine.objects.create(order=order, customer_id=11, sku="x")
        assert Order.objects.get(pk=order.pk).lines.count() == 1
    assert order._state.db == router.shard_for(11)
    order.status = "paid"
    order.save()
    counts = {a: Order.objects.using(a).count() for a in router.aliases}
    assert counts == {a: int(a == router.shard_for(11)) for a in router.aliases}
    with pytest.raises(ShardKeyRequired, match="Order"):
        Order.objects.filter(status="paid").count()


async def test_async_routing_on_postgres(pg_shards):

    async def work(key):
        async with with_shard_key(key):
            await Order.objects.acreate(customer_id=key, total=key)
            return await Order.objects.filter(customer_id=key).acount()

    assert await asyncio.gather(*(work(k) for k in range(10))) == [1] * 10
    assert await sharded(Order.objects).acount() == 10


def test_fanout_equals_single_postgres_database(pg_shards):
    router = pg_shards
    rows = make_rows(300, seed=3)
    Order.objects.using("single").bulk_create([Order(**r) for r in rows])
    by_shard = {}
    for r in rows:
        by_shard.setdefault(router.shard_for(r["customer_id"]), []).append(Order(**r))
    for alias, objs in by_shard.items():
        Order.objects.using(alias).bulk_create(objs)
    single = Order.objects.using("single")
    aggs = {"n": Count("id"), "t": Sum("total"), "lo": Min("total"), "hi": Max("score"), "q": Sum("qty")}
    assert sharded(Order.objects).aggregate(**aggs) == single.aggregate(**aggs)
    assert isinstance(sharded(Order.objects).aggregate(t=Sum("total"))["t"], decimal.Decimal)
    assert sharded(Order.objects.filter(status="paid")).count() == single.filter(status="paid").count()
    # PostgreSQL sorts NULL as the largest value: the merge must agree
    for ordering in (("-score", "id"), ("score", "id"), ("qty", "-total", "id")):
        merged = [o.pk for o in sharded(Order.objects).order_by(*ordering)[3:40]]
        assert merged == [o.pk for o in single.order_by(*ordering)[3:40]], ordering
    exact = sharded(Order.objects).avg("total")
    assert abs(exact - single.aggregate(a=dorm.Avg("total"))["a"]) < decimal.Decimal("1e-9")


def test_rebalance_4_to_5_on_postgres(pg_shards, tmp_path):
    keys, placed = {}, {}
    for i in range(500):
        key = i % 350
        order = Order(id=uuid.UUID(int=i + 1), customer_id=key, total=i)
        keys[order.pk] = key
        placed.setdefault(shard_for(key, 4), []).append(order)
    for alias, objs in placed.items():
        Order.objects.using(alias).bulk_create(objs)
    report = rebalance(from_shards=4, to_shards=5, batch_size=60, state_file=tmp_path / "pg.json")
    assert report.verified
    seen = {}
    for alias in [f"shard_{i}" for i in range(5)]:
        for pk, key in Order.objects.using(alias).values_list("pk", "customer_id"):
            assert pk not in seen
            seen[pk] = key
            assert alias == shard_for(key, 5)
    assert seen == keys
    moved = report.models["shardtest.order"].moved
    assert 0.14 * 500 < moved < 0.26 * 500


# ---- a shard on its own cluster goes down and comes back -----------------------------------------
@pytest.fixture(scope="module")
def cluster(pg_dbs):
    c = Cluster()
    try:
        c.init()
        c.start()
        yield c
    finally:
        c.destroy()


def _first_key(router, alias):
    return next(k for k in range(1000) if router.shard_for(k) == alias)


def test_shard_down_isolated_and_breaker_closes_again(pg_dbs, cluster, tmp_path):
    from dorm_sharding.router import HashShardRouter

    if not cluster_running(cluster):
        cluster.start()
    router = HashShardRouter(num_shards=4, shard_models=KEY_FIELDS)
    dbs = {"default": sqlite_db(tmp_path / "default.sqlite3")}
    for i in range(3):
        dbs[f"shard_{i}"] = pg_dbs.settings(i)
    dbs["shard_3"] = cluster.settings(POOL_TIMEOUT=1, OPTIONS={"connect_timeout": 2})
    sharding = {"BREAKER": {"failure_threshold": 2, "open_window_s": 1.0}}
    with configured(dbs, router=router, sharding=sharding):
        keys = {a: _first_key(router, a) for a in router.aliases}
        for alias, key in keys.items():
            with with_shard_key(key):
                Order.objects.create(customer_id=key, total=1)
        down = "shard_3"
        cluster.stop()
        cluster.wait_down()
        try:
            for _ in range(2):
                with pytest.raises(OperationalError, match="shard_3"), with_shard_key(keys[down]):
                    Order.objects.count()
            assert get_breaker(down).state is CircuitState.OPEN
            started = time.perf_counter()
            with pytest.raises(ShardUnavailable, match="shard 'shard_3' is unavailable") as info, with_shard_key(keys[down]):
                Order.objects.count()
            assert time.perf_counter() - started < 0.05          # failed fast: no connection attempt
            assert info.value.alias == down
            for alias in ("shard_0", "shard_1", "shard_2"):      # the other shards keep serving
                with with_shard_key(keys[alias]):
                    assert Order.objects.count() == 1
            with pytest.raises(FanOutError, match="shard_3: ShardUnavailable"):
                sharded(Order.objects).count()
            partial = sharded(Order.objects).using("shard_0", "shard_1", "shard_2").count()
            assert partial == 3

            async def async_down():
                async with with_shard_key(keys[down]):
                    return await Order.objects.acount()

            with pytest.raises(ShardUnavailable):
                asyncio.run(async_down())
        finally:
            cluster.start()
        # back: after the open window one probe goes through and closes the breaker
        deadline = time.monotonic() + 30
        while True:
            time.sleep(1.05)
            try:
                with with_shard_key(keys[down]):
                    assert Order.objects.count() == 1
                break
            except (ShardUnavailable, OperationalError):
                if time.monotonic() > deadline:
                    raise
        assert get_breaker(down).state is CircuitState.CLOSED
        assert sharded(Order.objects).count() == 4
        for alias in router.aliases:
            dorm.drop_tables(SHARDED, using=alias)


def cluster_running(cluster) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", cluster.port)) == 0
