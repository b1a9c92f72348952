"""Server-side cursors behind iterator()/aiterator() and the raw iterate()/aiterate()."""
from __future__ import annotations

import pytest
from dorm import transaction
from dorm.db import connections

from .models import Item

MODELS = [Item]


@pytest.fixture
def items(pg):
    Item.objects.bulk_create([Item(name=f"i{n:03d}", qty=n) for n in range(250)])


def _cursors(conn):
    return conn.execute("SELECT name, is_holdable FROM pg_cursors")


def test_iterator_streams_through_a_named_cursor(items, pg, admin):
    seen = []
    it = Item.objects.order_by("qty").iterator(chunk_size=40)
    for n, item in enumerate(it):
        if n == 0:
            # the cursor is open on the connection pinned to the iteration
            backend = connections["default"]
            assert backend.connection is not None
            cursors = backend.execute("SELECT is_holdable FROM pg_cursors WHERE name LIKE 'dorm_ss_%%'")
            assert cursors == [(True,)]         # WITH HOLD outside a transaction
        seen.append(item.qty)
    assert seen == list(range(250))
    assert connections["default"].connection is None      # given back at the end


def test_iterator_inside_a_transaction(items):
    with transaction.atomic():
        names = [i.name for i in Item.objects.filter(qty__lt=5).order_by("qty").iterator(chunk_size=2)]
        backend = connections["default"]
        assert backend.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE 'dorm_ss_%%'") == [(0,)]
    assert names == ["i000", "i001", "i002", "i003", "i004"]


def test_writes_while_iterating(items):
    for item in Item.objects.filter(qty__lt=10).order_by("qty").iterator(chunk_size=3):
        Item.objects.filter(pk=item.pk).update(qty=item.qty + 1000)
    assert Item.objects.filter(qty__gte=1000).count() == 10


def test_abandoned_iterator_releases_its_connection(items):
    it = iter(Item.objects.order_by("qty").iterator(chunk_size=10))
    assert next(it).qty == 0
    it.close()
    assert connections["default"].connection is None
    assert Item.objects.count() == 250


def test_raw_iterate(items, pg):
    rows = list(pg.iterate('SELECT "qty" FROM "pg_tests_item" WHERE "qty" < %s ORDER BY "qty"', [7],
                           chunk_size=2))
    assert rows == [(n,) for n in range(7)]
    with pytest.raises(ValueError):
        list(pg.iterate("SELECT 1", [], chunk_size=0))


async def test_aiterator(items):
    got = [i.qty async for i in Item.objects.order_by("qty").aiterator(chunk_size=64)]
    assert got == list(range(250))
    async with transaction.aatomic():
        inside = [i.qty async for i in Item.objects.filter(qty__lt=3).order_by("qty").aiterator(chunk_size=1)]
    assert inside == [0, 1, 2]
    conn = await connections.aget()
    assert [r async for r in conn.aiterate('SELECT "qty" FROM "pg_tests_item" WHERE "qty" < %s '
                                           'ORDER BY "qty"', [2], chunk_size=1)] == [(0,), (1,)]
