"""RETURNING and ON CONFLICT: create, bulk_create and its conflict options."""
from __future__ import annotations

import pytest
from dorm.exceptions import IntegrityError

from .models import Item

MODELS = [Item]


def test_create_and_bulk_create_return_primary_keys(pg):
    item = Item.objects.create(name="a")
    assert isinstance(item.pk, int)
    objs = Item.objects.bulk_create([Item(name=f"b{i}") for i in range(5)])
    pks = [o.pk for o in objs]
    assert all(isinstance(pk, int) for pk in pks) and len(set(pks)) == 5
    assert [Item.objects.get(pk=pk).name for pk in pks] == [f"b{i}" for i in range(5)]


def test_explicit_primary_keys(pg):
    Item.objects.bulk_create([Item(id=100, name="x"), Item(id=101, name="y")])
    assert sorted(Item.objects.values_list("id", flat=True)) == [100, 101]


def test_ignore_conflicts(pg):
    Item.objects.create(name="a", qty=1)
    Item.objects.bulk_create([Item(name="a", qty=9), Item(name="b", qty=2)], ignore_conflicts=True)
    assert dict(Item.objects.values_list("name", "qty")) == {"a": 1, "b": 2}


def test_update_conflicts(pg):
    Item.objects.create(name="a", qty=1)
    Item.objects.bulk_create([Item(name="a", qty=9), Item(name="c", qty=3)], update_conflicts=True,
                             unique_fields=["name"], update_fields=["qty"])
    assert dict(Item.objects.values_list("name", "qty")) == {"a": 9, "c": 3}
    with pytest.raises(ValueError):
        Item.objects.bulk_create([Item(name="a")], update_conflicts=True)


def test_unique_violation_is_integrity_error(pg):
    Item.objects.create(name="a")
    with pytest.raises(IntegrityError, match="duplicate key"):
        Item.objects.create(name="a")


def test_large_bulk_create_in_batches(pg):
    objs = Item.objects.bulk_create([Item(name=f"n{i}", qty=i) for i in range(25000)])
    assert Item.objects.count() == 25000 and objs[-1].pk is not None


async def test_async_upserts(pg):
    await Item.objects.abulk_create([Item(name="a", qty=1)])
    await Item.objects.abulk_create([Item(name="a", qty=5)], update_conflicts=True,
                                    unique_fields=["name"], update_fields=["qty"])
    assert (await Item.objects.aget(name="a")).qty == 5
    obj, created = await Item.objects.aupdate_or_create(name="a", defaults={"qty": 7})
    assert not created and obj.qty == 7
