"""Async twins run the same code as the sync methods (sans-IO generators)."""
import decimal

import pytest

import dorm
from dorm import Count, Sum

from .models import ALL, Product, Tag

MODELS = ALL


async def test_async_crud(db):
    p = await Product.objects.acreate(name="a", price="1.50", qty=2)
    assert p.pk is not None
    got = await Product.objects.aget(pk=p.pk)
    assert got.name == "a" and got.price == decimal.Decimal("1.50")
    await Product.objects.abulk_create([Product(name=f"b{i}", qty=i) for i in range(5)])
    assert await Product.objects.acount() == 6
    assert await Product.objects.filter(qty__gte=3).aexists()
    names = [x.name async for x in Product.objects.filter(qty__lt=2).order_by("qty")]
    assert names == ["b0", "b1"]
    assert len(await Product.objects.all()) == 6
    assert (await Product.objects.afirst()).name == "a"
    assert (await Product.objects.alast()).name == "b4"
    assert await Product.objects.filter(name="a").aupdate(qty=9) == 1
    got.qty = 10
    await got.asave()
    await got.arefresh_from_db()
    assert got.qty == 10
    agg = await Product.objects.aaggregate(s=Sum("qty"), n=Count("id"))
    assert agg == {"s": 20, "n": 6}
    assert await Product.objects.avalues_list("name", flat=True) is not None
    assert (await Product.objects.filter(name="b0").avalues("qty")) == [{"qty": 0}]
    n, _ = await Product.objects.filter(qty__lt=2).adelete()
    assert n == 2
    await got.adelete()
    assert await Product.objects.acount() == 3
    with pytest.raises(Product.DoesNotExist):
        await Product.objects.aget(name="zzz")


async def test_async_iterator_and_get_or_create(db):
    await Product.objects.abulk_create([Product(name=f"n{i}", qty=i) for i in range(30)])
    seen = [p.qty async for p in Product.objects.order_by("qty").aiterator(chunk_size=7)]
    assert seen == list(range(30))
    t, created = await Tag.objects.aget_or_create(name="x")
    t2, created2 = await Tag.objects.aget_or_create(name="x")
    assert created and not created2 and t.pk == t2.pk
    assert await Product.objects.alatest("qty") is not None


async def test_async_sees_sync_writes(db):
    Product.objects.create(name="sync")
    assert await Product.objects.filter(name="sync").acount() == 1
    await Product.objects.acreate(name="async")
    assert Product.objects.filter(name="async").count() == 1


async def test_aatomic_rolls_back(db):
    with pytest.raises(RuntimeError):
        async with dorm.transaction.aatomic():
            await Product.objects.acreate(name="gone")
            raise RuntimeError("boom")
    assert await Product.objects.acount() == 0
