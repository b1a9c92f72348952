"""dorm.contrib.querycount: statement counting and the QUERY_COUNT_WARN threshold."""
import asyncio
import logging

import pytest

import dorm
from dorm import signals
from dorm.contrib.querycount import QueryCounter, assert_num_queries, query_count

from .models import ALL, Product

MODELS = ALL


def test_counts_every_statement_kind(db):
    with query_count() as qc:
        p = Product.objects.create(name="a", qty=1)
        Product.objects.filter(pk=p.pk).update(qty=2)
        assert Product.objects.count() == 1
        list(Product.objects.all())
        with pytest.raises(dorm.DatabaseError):
            db.execute("SELECT * FROM no_such_table_here")
    assert qc.total == 5 and qc.by_alias == {"default": 5}
    assert len(qc.statements) == 5 and qc.statements[0][0] == "default"
    assert "INSERT" in qc.statements[0][1]
    assert not signals.post_query.has_receivers()


def test_threshold_warns_above_not_at(db, caplog):
    with caplog.at_level(logging.WARNING, logger="dorm.contrib.querycount"):
        with query_count(3):
            for i in range(3):
                Product.objects.filter(qty=i).exists()
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="dorm.contrib.querycount"):
        with query_count(3):
            for i in range(4):
                Product.objects.filter(qty=i).exists()
    (rec,) = caplog.records
    text = rec.getMessage()
    assert "query count above 3" in text and "4 statement(s) (default=4)" in text
    assert "4x [default] SELECT" in text   # the repeated statement, as one template


def test_default_threshold_from_setting(db, caplog):
    dorm.configure(QUERY_COUNT_WARN=1)
    try:
        with caplog.at_level(logging.WARNING, logger="dorm.contrib.querycount"):
            with query_count() as qc:
                Product.objects.count()
                Product.objects.count()
        assert qc.total == 2 and len(caplog.records) == 1
    finally:
        dorm.configure(QUERY_COUNT_WARN=None)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dorm.contrib.querycount"):
        with query_count():
            for _ in range(50):
                Product.objects.count()
    assert not caplog.records   # QUERY_COUNT_WARN=None: count only


def test_bad_threshold_values(db):
    for bad in (-1, "3", 1.5, True):
        with pytest.raises(ValueError, match="non-negative integer or None"):
            query_count(bad)
    with pytest.raises(TypeError, match="database alias"):
        query_count(using=3)
    dorm.configure(QUERY_COUNT_WARN="lots")
    try:
        with pytest.raises(ValueError, match="settings.QUERY_COUNT_WARN"):
            with query_count():
                pass
    finally:
        dorm.configure(QUERY_COUNT_WARN=None)


def test_using_filters_aliases(db, backend_settings):
    dorm.configure(DATABASES={"default": db.settings_dict, "other": db.settings_dict})
    with query_count(using="other") as only_other, query_count() as every:
        Product.objects.count()
        Product.objects.using("other").count()
    assert only_other.total == 1 and only_other.by_alias == {"other": 1}
    assert every.by_alias == {"default": 1, "other": 1}


def test_assert_num_queries(db):
    with assert_num_queries(2):
        Product.objects.create(name="x")
        Product.objects.count()
    with pytest.raises(AssertionError, match="expected 1 statement\\(s\\), the block ran 2"):
        with assert_num_queries(1):
            Product.objects.count()
            Product.objects.exists()


async def test_async_and_task_isolation(db):
    go = asyncio.Event()

    async def busy(n):
        async with query_count() as qc:
            await go.wait()
            for _ in range(n):
                await Product.objects.acount()
                await asyncio.sleep(0)
        return qc

    tasks = [asyncio.create_task(busy(n)) for n in (2, 5)]
    await asyncio.sleep(0)
    go.set()
    a, b = await asyncio.gather(*tasks)
    assert (a.total, b.total) == (2, 5)


def test_counter_reuse_and_reentry(db):
    qc = QueryCounter()
    with qc:
        Product.objects.count()
        with pytest.raises(RuntimeError, match="already active"):
            qc.__enter__()
    with qc:
        pass
    assert qc.total == 0
