"""Analytics where DuckDB shines: a million rows through ``bulk_create`` and aggregate
/ window queries over them, within generous time bounds (the numbers live in
``bench/duckdb_analytics.py``). ``DORM_DUCKDB_ROWS`` changes the size."""
from __future__ import annotations

import decimal
import os
import time

import dorm
import pytest
from dorm import Avg, Count, F, Max, Min, Q, Sum, Window
from dorm.db import connections
from dorm.window import Rank

ROWS = int(os.environ.get("DORM_DUCKDB_ROWS", "1000000"))

pytestmark = pytest.mark.slow


class Sale(dorm.Model):
    region = dorm.CharField(max_length=10)
    product = dorm.IntegerField()
    qty = dorm.IntegerField()
    price = dorm.DecimalField(max_digits=10, decimal_places=2)
    ratio = dorm.FloatField()

    class Meta:
        app_label = "duck_analytics"


REGIONS = ["north", "south", "east", "west"]


@pytest.fixture(scope="module")
def sales(tmp_path_factory):
    path = tmp_path_factory.mktemp("analytics") / "sales.duckdb"
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "duckdb", "NAME": str(path)}},
                                SLOW_QUERY_MS=None):
        dorm.create_tables([Sale])
        cents = [decimal.Decimal(f"{i % 1000}.{i % 100:02d}") for i in range(1000)]
        t0 = time.perf_counter()
        objs = Sale.objects.bulk_create(
            Sale(region=REGIONS[i % 4], product=i % 1000, qty=i % 7, price=cents[i % 1000], ratio=i / ROWS)
            for i in range(ROWS))
        elapsed = time.perf_counter() - t0
        yield objs, elapsed
        dorm.drop_tables([Sale])
    connections.close_all()


def test_ingest(sales):
    objs, elapsed = sales
    assert len(objs) == ROWS and objs[0].pk == 1 and objs[-1].pk == ROWS
    assert Sale.objects.count() == ROWS
    assert elapsed < 120, f"bulk_create of {ROWS} rows took {elapsed:.1f}s"


def test_group_by_aggregates(sales):
    t0 = time.perf_counter()
    rows = list(Sale.objects.values("region")
                .annotate(n=Count("id"), units=Sum("qty"), revenue=Sum("price"), avg_ratio=Avg("ratio"),
                          lo=Min("price"), hi=Max("price"))
                .order_by("region"))
    elapsed = time.perf_counter() - t0
    assert [r["region"] for r in rows] == sorted(REGIONS)
    assert sum(r["n"] for r in rows) == ROWS
    cents = [decimal.Decimal(f"{i % 1000}.{i % 100:02d}") for i in range(1000)]
    expected = sum(cents[i % 1000] for i in range(ROWS))
    total = sum(r["revenue"] for r in rows)
    assert total == expected and isinstance(total, decimal.Decimal)      # exact decimal sums
    assert elapsed < 10, f"group-by over {ROWS} rows took {elapsed:.2f}s"


def test_filtered_aggregate_and_having(sales):
    t0 = time.perf_counter()
    top = list(Sale.objects.values("product")
               .annotate(units=Sum("qty"), big=Count("id", filter=Q(qty__gte=5)))
               .filter(units__gt=0).order_by("-units", "product")[:5])
    assert len(top) == 5 and top[0]["units"] >= top[-1]["units"]
    assert time.perf_counter() - t0 < 10


def test_window_functions(sales):
    t0 = time.perf_counter()
    ranked = list(Sale.objects.annotate(
        rank=Window(Rank(), partition_by=["region"], order_by=F("price").desc()),
        running=Window(Sum("qty"), partition_by=["region"], order_by=F("id").asc()),
    ).order_by("id").values_list("region", "rank", "running")[:3])
    elapsed = time.perf_counter() - t0
    assert len(ranked) == 3 and all(r[1] >= 1 for r in ranked)
    assert elapsed < 30, f"window functions over {ROWS} rows took {elapsed:.2f}s"


def test_streaming_scan(sales):
    t0 = time.perf_counter()
    n = total = 0
    for qty, in Sale.objects.values_list("qty").iterator(chunk_size=50_000):
        n += 1
        total += qty
    assert n == ROWS and total == sum(i % 7 for i in range(ROWS))
    assert time.perf_counter() - t0 < 60
