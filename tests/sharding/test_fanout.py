"""Fan-out: for_each_shard / afor_each_shard and sharded(qs) merged exactly.

Every merged answer is compared with the same query on one database holding all the
rows ("single")."""
from __future__ import annotations

import asyncio
import decimal
import random
import threading
import uuid

import dorm
import pytest
from dorm.aggregates import Avg, Count, Max, Min, StdDev, Sum
from dorm.contrib.sharding import (
    CrossShardError,
    FanOutError,
    afor_each_shard,
    for_each_shard,
    sharded,
    with_shard_key,
)
from dorm.expressions import F

from .conftest import configured, sqlite_databases, sqlite_db
from .models import KEY_FIELDS, SHARDED, Order


def make_rows(n=400, seed=7):
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append({
            "id": uuid.UUID(int=rnd.getrandbits(128)), "customer_id": rnd.randrange(60),
            "total": decimal.Decimal(rnd.randrange(100, 100_000)) / 100, "qty": rnd.randrange(1, 20),
            "status": rnd.choice(["new", "paid", "shipped"]),
            "score": None if i % 9 == 0 else round(rnd.random() * 100, 3),
        })
    return rows


@pytest.fixture
def dataset(tmp_path):
    from dorm_sharding.router import HashShardRouter

    router = HashShardRouter(num_shards=4, shard_models=KEY_FIELDS)
    dbs = sqlite_databases(tmp_path, 4)
    dbs["single"] = sqlite_db(tmp_path / "single.sqlite3")
    with configured(dbs, router=router):
        dorm.create_tables(SHARDED, using="single")
        rows = make_rows()
        Order.objects.using("single").bulk_create([Order(**r) for r in rows])
        by_shard: dict = {}
        for r in rows:
            by_shard.setdefault(router.shard_for(r["customer_id"]), []).append(Order(**r))
        for alias, objs in by_shard.items():
            Order.objects.using(alias).bulk_create(objs)
        assert len(by_shard) == 4
        yield router, rows


def single():
    return Order.objects.using("single")


def test_for_each_shard_runs_in_parallel(dataset):
    router, rows = dataset
    barrier = threading.Barrier(4, timeout=5)
    threads = set()

    def count(alias):
        threads.add(threading.get_ident())
        barrier.wait()          # all four are running at once, or this times out
        return Order.objects.using(alias).count()

    result = for_each_shard(count)
    assert list(result) == list(router.aliases)
    assert sum(result.values()) == len(rows)
    assert len(threads) == 4
    seq = for_each_shard(lambda a: Order.objects.using(a).count(), parallel=False)
    assert seq == result
    assert for_each_shard(lambda a: a.upper(), num_shards=2) == {"shard_0": "SHARD_0", "shard_1": "SHARD_1"}
    assert for_each_shard(lambda a: a, aliases=["x", "y"]) == {"x": "x", "y": "y"}


def test_for_each_shard_keeps_context(dataset):
    with with_shard_key(3):
        assert set(for_each_shard(lambda a: __import__("dorm_sharding").context.get_shard_key()).values()) == {3}


def test_for_each_shard_errors(dataset):
    _router, _ = dataset

    def flaky(alias):
        if alias == "shard_2":
            raise ValueError("boom on 2")
        return alias

    with pytest.raises(FanOutError, match=r"failed on 1 of 4 shard\(s\): shard_2: ValueError: boom on 2") as info:
        for_each_shard(flaky)
    assert set(info.value.results) == {"shard_0", "shard_1", "shard_3"}
    assert isinstance(info.value.errors["shard_2"], ValueError)
    assert isinstance(info.value.__cause__, ValueError)
    mixed = for_each_shard(flaky, return_exceptions=True)
    assert isinstance(mixed["shard_2"], ValueError) and mixed["shard_0"] == "shard_0"
    with pytest.raises(TypeError, match="afor_each_shard"):
        async def coro(alias):
            return alias
        for_each_shard(coro)


def test_nested_fan_out_does_not_deadlock(dataset):
    result = for_each_shard(lambda outer: sum(for_each_shard(lambda inner: 1).values()))
    assert set(result.values()) == {4}


async def test_afor_each_shard(dataset):
    _router, rows = dataset
    running = 0
    peak = 0

    async def count(alias):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        n = await Order.objects.using(alias).acount()
        running -= 1
        return n

    result = await afor_each_shard(count)
    assert sum(result.values()) == len(rows) and peak == 4
    result = await afor_each_shard(lambda a: Order.objects.using(a).count())   # sync: in threads
    assert sum(result.values()) == len(rows)
    peak = 0
    await afor_each_shard(count, max_concurrency=2)
    assert peak == 2

    async def bad(alias):
        raise KeyError(alias)

    with pytest.raises(FanOutError, match="failed on 4 of 4"):
        await afor_each_shard(bad)


def test_count_exists_equal_single(dataset):
    assert sharded(Order.objects).count() == single().count() == 400
    qs = Order.objects.filter(status="paid", qty__gte=5)
    assert sharded(qs).count() == single().filter(status="paid", qty__gte=5).count()
    assert sharded(qs).exists() is True
    assert sharded(Order.objects.filter(status="nope")).exists() is False
    assert sharded(Order.objects.filter(status="nope")).count() == 0
    assert sharded(Order.objects).filter(customer_id__lt=10).count() == single().filter(customer_id__lt=10).count()


def test_aggregate_equal_single(dataset):
    aggs = {"n": Count("id"), "total": Sum("total"), "qty": Sum("qty"), "lo": Min("total"), "hi": Max("total"),
                "best": Max("score"), "worst": Min("score"), "scored": Count("score")}
    merged = sharded(Order.objects).aggregate(**aggs)
    expected = single().aggregate(**aggs)
    assert merged == expected
    assert isinstance(merged["total"], decimal.Decimal)
    paid = sharded(Order.objects.filter(status="paid")).aggregate(Sum("qty"), Max("total"))
    assert paid == single().filter(status="paid").aggregate(Sum("qty"), Max("total"))
    # aggregate filter= runs per shard and merges
    f = {"big": Count("id", filter=dorm.Q(total__gt=500))}
    assert sharded(Order.objects).aggregate(**f) == single().aggregate(**f)


def test_aggregate_defaults_applied_after_merge(dataset):
    # shards without matching rows must not contribute the default to Min/Max
    qs = Order.objects.filter(customer_id=1)
    merged = sharded(qs).aggregate(lo=Min("total", default=0), s=Sum("qty", default=0))
    assert merged == single().filter(customer_id=1).aggregate(lo=Min("total", default=0), s=Sum("qty", default=0))
    assert merged["lo"] > 0
    empty = sharded(Order.objects.filter(status="nope")).aggregate(lo=Min("total", default=0),
                                                                   hi=Max("total"), n=Count("id"))
    assert empty == {"lo": 0, "hi": None, "n": 0}


async def test_async_merges(dataset):
    sq = sharded(Order.objects.filter(status="shipped"))
    assert await sq.acount() == single().filter(status="shipped").count()
    assert await sq.aexists()
    aggs = {"t": Sum("total"), "n": Count("id"), "hi": Max("qty")}
    assert await sq.aaggregate(**aggs) == single().filter(status="shipped").aggregate(**aggs)
    top = await sharded(Order.objects).order_by("-total", "id")[:7].afetch()
    assert [o.pk for o in top] == [o.pk for o in single().order_by("-total", "id")[:7]]
    assert [o.pk async for o in sharded(Order.objects).order_by("qty", "id")[:3]] == \
        [o.pk for o in single().order_by("qty", "id")[:3]]


def test_avg_refused_and_exact_helper(dataset):
    with pytest.raises(CrossShardError, match=r"Avg.*cannot be merged exactly.*weight.*avg\(field\)"):
        sharded(Order.objects).aggregate(a=Avg("total"))
    with pytest.raises(CrossShardError, match="standard deviation"):
        sharded(Order.objects).aggregate(s=StdDev("score"))
    with pytest.raises(CrossShardError, match="distinct=True"):
        sharded(Order.objects).aggregate(c=Count("customer_id", distinct=True))
    expected = single().aggregate(a=Avg("total"))["a"]
    got = sharded(Order.objects).avg("total")
    assert abs(decimal.Decimal(got) - decimal.Decimal(expected)) < decimal.Decimal("1e-9")
    score = single().aggregate(a=Avg("score"))["a"]
    assert sharded(Order.objects).avg("score") == pytest.approx(score)
    assert sharded(Order.objects.filter(status="nope")).avg("qty") is None


def test_distinct_values_refused(dataset):
    with pytest.raises(CrossShardError, match="distinct values cannot be merged"):
        sharded(Order.objects.values("status").distinct()).count()
    with pytest.raises(CrossShardError, match="distinct values"):
        list(sharded(Order.objects).values_list("status", flat=True).distinct())
    with pytest.raises(CrossShardError, match="grouped rows"):
        list(sharded(Order.objects.values("status").annotate(n=Count("id"))))
    # distinct on whole rows is exact (a row lives on one shard)
    assert sharded(Order.objects.distinct()).count() == 400


@pytest.mark.parametrize("ordering", [("-total", "id"), ("qty", "-total"), ("customer_id", "id"),
                                      ("-score", "id"), ("score", "id"), ("status", "-qty", "id")])
def test_ordered_slices_equal_single(dataset, ordering):
    for low, high in ((0, 10), (5, 25), (0, 1), (390, 410)):
        merged = sharded(Order.objects).order_by(*ordering)[low:high].fetch()
        expected = list(single().order_by(*ordering)[low:high])
        assert [o.pk for o in merged] == [o.pk for o in expected], (ordering, low, high)
    whole = [o.pk for o in sharded(Order.objects.filter(qty__lt=5)).order_by(*ordering)]
    assert whole == [o.pk for o in single().filter(qty__lt=5).order_by(*ordering)]


def test_ordered_values_and_instances_know_their_shard(dataset):
    router, _ = dataset
    rows = sharded(Order.objects).values("id", "total", "customer_id").order_by("-total")[:5].fetch()
    assert rows == list(single().values("id", "total", "customer_id").order_by("-total")[:5])
    flat = sharded(Order.objects).values_list("total", flat=True).order_by("total")[:5].fetch()
    assert flat == list(single().values_list("total", flat=True).order_by("total")[:5])
    pairs = sharded(Order.objects).values_list("qty", "id").order_by("-qty", "id")[:8].fetch()
    assert pairs == list(single().values_list("qty", "id").order_by("-qty", "id")[:8])
    top = sharded(Order.objects).order_by("-total")[0]
    assert top._state.db == router.shard_for(top.customer_id)
    top.status = "vip"
    top.save()                                          # back to its own shard
    with with_shard_key(top.customer_id):
        assert Order.objects.get(pk=top.pk).status == "vip"
    annotated = sharded(Order.objects.annotate(value=F("qty") * 2)).order_by("-value", "id")[:4].fetch()
    assert [o.pk for o in annotated] == [o.pk for o in single().annotate(value=F("qty") * 2)
                                         .order_by("-value", "id")[:4]]
    assert sharded(Order.objects).order_by("-total").first().pk == single().order_by("-total").first().pk


def test_unmergeable_orderings_refused(dataset):
    with pytest.raises(CrossShardError, match="ordered before sharded"):
        sharded(Order.objects.order_by("total"))[:3].fetch()
    with pytest.raises(CrossShardError, match="slice the sharded queryset"):
        sharded(Order.objects.all()[:3]).count()
    with pytest.raises(CrossShardError, match="random order"):
        sharded(Order.objects).order_by("?")
    with pytest.raises(CrossShardError, match="not selected"):
        sharded(Order.objects).values("id").order_by("total")[:3].fetch()
    with pytest.raises(CrossShardError, match="sliced sharded"):
        sharded(Order.objects).order_by("total")[:3].aggregate(n=Count("id"))
    with pytest.raises(TypeError, match="slice"):
        sharded(Order.objects)[:3].filter(qty=1)


def test_sliced_count_and_restricted_shards(dataset):
    _router, _ = dataset
    assert sharded(Order.objects)[10:25].count() == 15
    assert sharded(Order.objects)[395:].count() == 5
    assert sharded(Order.objects).using("shard_0", "shard_1").count() == \
        sum(Order.objects.using(a).count() for a in ("shard_0", "shard_1"))
    assert sharded(Order.objects, aliases=["shard_3"]).count() == Order.objects.using("shard_3").count()
