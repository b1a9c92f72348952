"""The ORM on DuckDB: sequences for auto keys, the columnar bulk insert, native types,
decimals, JSON, regex, dates, dialect features."""
from __future__ import annotations

import datetime
import decimal
import uuid

import dorm
import pytest
from dorm import Avg, Count, F, Max, Q, Sum, Window
from dorm.db import connections
from dorm.exceptions import DataError, NotSupportedError
from dorm.window import Rank, RowNumber

from .models import NOW, Child, Doc, Event, Item, Money, Parent, Small, Typed, Unique

D = decimal.Decimal


def capture_sql():
    seen = []

    def receiver(sender, sql, **kw):
        seen.append(sql)

    dorm.signals.pre_query.connect(receiver)
    return seen, lambda: dorm.signals.pre_query.disconnect(receiver)


# ---- sequences ---------------------------------------------------------------------------------
def test_auto_primary_keys_use_a_sequence(tables):
    conn = tables(Item)
    a = Item.objects.create(name="a")
    b = Item.objects.create(name="b")
    assert (a.pk, b.pk) == (1, 2)
    ddl = conn.introspection.get_table_description("duck_item")
    assert ddl[0].name == "id" and ddl[0].type == "BIGINT" and "nextval(" in ddl[0].default
    assert any(s.startswith("duck_item_id_") and s.endswith("_seq") for s in conn.introspection.get_sequences())


def test_explicit_keys_move_the_sequence(tables):
    tables(Item)
    Item.objects.create(id=10, name="ten")
    assert Item.objects.create(name="next").pk == 11
    Item.objects.bulk_create([Item(id=100 + i, name=f"b{i}") for i in range(20)])
    assert Item.objects.create(name="after bulk").pk == 120
    Item.objects.create(id=5, name="lower")          # never moves the sequence back
    assert Item.objects.create(name="again").pk == 121
    assert Item.objects.count() == 25


def test_sequence_is_dropped_with_the_table(tables, conn):
    tables(Small)
    before = set(conn.introspection.get_sequences())
    assert any(s.startswith("duck_small_id_") for s in before)
    dorm.drop_tables([Small])
    assert not any(s.startswith("duck_small_id_") for s in conn.introspection.get_sequences())
    dorm.create_tables([Small])
    assert Small.objects.create(label="x").pk == 1


def test_key_types(tables):
    conn = tables(Small, Parent, Child)
    cols = {c.name: c.type for c in conn.introspection.get_table_description("duck_small")}
    assert cols["id"] == "INTEGER"
    cols = {c.name: c.type for c in conn.introspection.get_table_description("duck_child")}
    assert cols["id"] == "BIGINT" and cols["parent_id"] == "BIGINT"   # BigAutoField FK is 64-bit
    p = Parent.objects.create(id=2 ** 40, name="big")
    Child.objects.create(parent=p, label="c")
    assert Child.objects.get(parent__name="big").parent_id == 2 ** 40


def test_foreign_keys_are_enforced_by_the_orm(tables):
    conn = tables(Parent, Child)
    assert conn.features.supports_foreign_keys is False
    assert conn.introspection.get_relations("duck_child") == {}
    p = Parent.objects.create(name="p")
    Child.objects.bulk_create([Child(parent=p, label=str(i)) for i in range(3)])
    assert p.delete() == (4, {"duck.Child": 3, "duck.Parent": 1})


# ---- bulk insert ------------------------------------------------------------------------------------
def test_bulk_create_uses_the_columnar_insert(tables):
    tables(Item)
    seen, stop = capture_sql()
    try:
        objs = Item.objects.bulk_create([Item(name=f"n{i}", qty=i, score=i / 2) for i in range(1000)])
    finally:
        stop()
    inserts = [s for s in seen if s.startswith("INSERT")]
    assert len(inserts) == 1 and "VALUES" in inserts[0]    # the kernel's statement ...
    assert [o.pk for o in objs] == list(range(1, 1001))      # ... keys back-filled in order
    assert Item.objects.filter(qty=999).get().score == 499.5
    assert Item.objects.aggregate(s=Sum("qty"))["s"] == sum(range(1000))


def test_columnar_insert_keeps_every_type(tables):
    tables(Typed)
    rows = [Typed(uid=uuid.UUID(int=i), span=datetime.timedelta(seconds=i, microseconds=7),
                  at=datetime.time(1, 2, i % 60), when=NOW + datetime.timedelta(hours=i),
                  day=datetime.date(2020, 1, 1) + datetime.timedelta(days=i), blob=bytes([i % 256, 0]),
                  flag=i % 2 == 0, big=2 ** 50 + i, ratio=i * 0.25, pos=i)
            for i in range(40)]
    rows.append(Typed())                                   # NULLs everywhere allowed
    Typed.objects.bulk_create(rows)
    got = list(Typed.objects.order_by("id"))
    for want, have in zip(rows[:40], got):
        assert (have.uid, have.span, have.at, have.when, have.day, have.blob, have.flag, have.big,
                have.ratio, have.pos) == (want.uid, want.span, want.at, want.when, want.day,
                                          want.blob, want.flag, want.big, want.ratio, want.pos)
    assert got[-1].span is None and got[-1].blob is None and got[-1].flag is False


def test_columnar_insert_decimals_are_exact(tables):
    tables(Money)
    amounts = [D("12345678901234567890.1234567890"), D("0.0000000001"), D("-1"), D("3.5")] * 10
    Money.objects.bulk_create([Money(amount=a) for a in amounts])
    ctx = decimal.Context(prec=60)
    assert [m.amount for m in Money.objects.order_by("id")] == [a.quantize(D("1e-10"), context=ctx)
                                                                for a in amounts]
    with decimal.localcontext(prec=60):
        expected = sum(amounts)
    assert Money.objects.aggregate(s=Sum("amount"))["s"] == expected     # exact, 31 digits


def test_bulk_create_conflicts(tables):
    tables(Unique)
    Unique.objects.bulk_create([Unique(code=f"c{i}", n=i) for i in range(20)])
    Unique.objects.bulk_create([Unique(code=f"c{i}", n=100) for i in range(30)], ignore_conflicts=True)
    assert Unique.objects.count() == 30 and Unique.objects.get(code="c5").n == 5
    Unique.objects.bulk_create([Unique(code=f"c{i}", n=-i) for i in range(25)], update_conflicts=True,
                               update_fields=["n"], unique_fields=["code"])
    assert Unique.objects.get(code="c5").n == -5 and Unique.objects.get(code="c29").n == 100
    with pytest.raises(dorm.IntegrityError):
        Unique.objects.bulk_create([Unique(code="c1")])


def test_bulk_insert_can_be_switched_off(configure_duckdb, tmp_path):
    with configure_duckdb(str(tmp_path / "x.duckdb"), bulk_insert=False):
        dorm.create_tables([Item])
        objs = Item.objects.bulk_create([Item(name=str(i)) for i in range(50)])
        assert [o.pk for o in objs] == list(range(1, 51))
        dorm.drop_tables([Item])
    connections.close_all()


# ---- values and types --------------------------------------------------------------------------------
def test_decimal_exactness(tables):
    tables(Money)
    big = D("1234567890123456789012345678.0123456789")      # 38 digits
    m = Money.objects.create(amount=big, price="0.10")
    assert Money.objects.get(pk=m.pk).amount == big
    Money.objects.bulk_create([Money(amount="0.1", price="0.10") for _ in range(30)])
    agg = Money.objects.filter(amount=D("0.1")).aggregate(s=Sum("price"), a=Avg("price"))
    assert agg["s"] == D("3.00") and isinstance(agg["s"], D)
    assert Money.objects.filter(amount__gt=D("1234567890123456789012345678.0123456788")).count() == 1
    with pytest.raises((DataError, dorm.ValidationError)):
        Money.objects.create(amount=D("1" * 39))


def test_decimal_too_wide_for_duckdb():
    class Wide(dorm.Model):
        x = dorm.DecimalField(max_digits=40, decimal_places=2)

        class Meta:
            app_label = "duck_wide"

    with dorm.settings.override(DATABASES={"default": {"ENGINE": "duckdb"}}):
        with pytest.raises(NotSupportedError, match="38 digits"):
            dorm.create_tables([Wide])
    dorm.models.registry.unregister(Wide)


def test_native_types_roundtrip(tables):
    conn = tables(Typed)
    t = Typed.objects.create(span=datetime.timedelta(days=2, microseconds=5), at=datetime.time(23, 59, 1),
                             when=NOW, day=datetime.date(2024, 2, 29), blob=b"\x00\xff", flag=True,
                             big=-(2 ** 62), ratio=1e-300, pos=0)
    got = Typed.objects.get(pk=t.pk)
    assert isinstance(got.uid, uuid.UUID) and got.uid == t.uid
    assert got.span == datetime.timedelta(days=2, microseconds=5) and got.at == datetime.time(23, 59, 1)
    assert got.when == NOW and got.day == datetime.date(2024, 2, 29) and got.blob == b"\x00\xff"
    assert got.flag is True and got.big == -(2 ** 62) and got.ratio == 1e-300
    types = {c.name: c.type for c in conn.introspection.get_table_description("duck_typed")}
    assert types["uid"] == "UUID" and types["flag"] == "BOOLEAN" and types["ratio"] == "DOUBLE"
    assert types["when"] == "TIMESTAMP" and types["blob"] == "BLOB" and types["span"] == "BIGINT"
    assert Typed.objects.filter(uid=t.uid).count() == 1
    assert Typed.objects.aggregate(s=Sum("span"))["s"] == datetime.timedelta(days=2, microseconds=5)
    with pytest.raises(dorm.IntegrityError):
        Typed.objects.filter(pk=t.pk).update(pos=-1)


def test_use_tz_stores_utc(tables):
    tables(Typed)
    dorm.configure(USE_TZ=True, TIME_ZONE="America/New_York")
    try:
        aware = datetime.datetime(2026, 1, 1, 3, 30, tzinfo=datetime.UTC)   # 22:30 Dec 31 in New York
        Typed.objects.create(when=aware)
        got = Typed.objects.get()
        assert got.when == aware and got.when.tzinfo is not None
        raw = connections["default"].execute('SELECT "when" FROM "duck_typed"')[0][0]
        assert raw == datetime.datetime(2026, 1, 1, 3, 30)                  # naive UTC in the column
        assert Typed.objects.filter(when__year=2025, when__day=31).count() == 1   # local calendar
        assert Typed.objects.filter(when__date=datetime.date(2025, 12, 31)).count() == 1
        assert Typed.objects.filter(when__hour=22).count() == 1
    finally:
        dorm.configure(USE_TZ=False, TIME_ZONE="UTC")


# ---- lookups and functions -------------------------------------------------------------------------
@pytest.fixture
def events(tables):
    tables(Event, Item)
    Event.objects.bulk_create([Event(kind=k, value=v, amount=D(a)) for k, v, a in [
        ("a", 1, "1.10"), ("a", 5, "2.20"), ("b", 3, "0.05"), ("b", 3, "9.99"), ("c", 9, "0")]])
    Item.objects.bulk_create([
        Item(name="Pencil"), Item(name="pen"), Item(name="paper 100%"), Item(name="ÉCOLE")])
    return Event


def test_text_lookups(events):
    def names(**kw):
        return sorted(Item.objects.filter(**kw).values_list("name", flat=True))

    assert names(name__contains="en") == ["Pencil", "pen"]
    assert names(name__icontains="PEN") == ["Pencil", "pen"]
    assert names(name__contains="100%") == ["paper 100%"]
    assert names(name__contains="_") == []
    assert names(name__iexact="école") == ["ÉCOLE"]            # Unicode case folding
    assert names(name__regex=r"^p.n") == ["pen"]
    assert names(name__iregex=r"^P.N") == ["Pencil", "pen"]
    assert names(name__startswith=F("name")) == sorted(["Pencil", "pen", "paper 100%", "ÉCOLE"])


def test_date_parts_and_trunc(tables):
    tables(Typed)
    Typed.objects.create(when=NOW, day=NOW.date(), at=datetime.time(10, 45, 30))   # Saturday
    Typed.objects.create(when=NOW + datetime.timedelta(days=1), day=datetime.date(2026, 3, 15))
    qs = Typed.objects
    assert qs.filter(when__week_day=6).count() == 1 and qs.filter(when__week_day=0).count() == 1
    assert qs.filter(day__iso_week_day=6).count() == 1
    assert qs.filter(when__quarter=1, when__week=11).count() == 2
    assert qs.filter(at__hour=10, at__minute=45).count() == 1
    from dorm.functions import Extract, TruncDay, TruncMonth

    got = qs.annotate(m=TruncMonth("day"), d=TruncDay("when"), wd=Extract("when", "week_day")).order_by("id")
    first = got.first()
    assert first.m == datetime.date(2026, 3, 1) and first.d == datetime.datetime(2026, 3, 14)
    assert [t.wd for t in got] == [6, 0]


def test_aggregates_windows_distinct_on(events):
    rows = list(Event.objects.values("kind").annotate(n=Count("id"), s=Sum("amount"), hi=Max("value"))
                .order_by("kind"))
    assert rows == [{"kind": "a", "n": 2, "s": D("3.30"), "hi": 5}, {"kind": "b", "n": 2, "s": D("10.04"), "hi": 3},
                    {"kind": "c", "n": 1, "s": D("0.00"), "hi": 9}]
    ranked = list(Event.objects.annotate(
        r=Window(Rank(), partition_by=["kind"], order_by=F("value").desc()),
        rn=Window(RowNumber(), order_by=[F("kind").asc(), F("amount").asc()]),
        running=Window(Sum("value"), partition_by=["kind"], order_by=F("id").asc()),
    ).order_by("id").values_list("kind", "r", "rn", "running"))
    assert ranked == [("a", 2, 1, 1), ("a", 1, 2, 6), ("b", 1, 3, 3), ("b", 1, 4, 6), ("c", 1, 5, 9)]
    assert Event.objects.aggregate(n=Count("id", filter=Q(value__gt=2)))["n"] == 4
    firsts = list(Event.objects.order_by("kind", "-value").distinct("kind").values_list("kind", "value"))
    assert firsts == [("a", 5), ("b", 3), ("c", 9)]


def test_select_for_update_is_refused(events):
    with pytest.raises(NotSupportedError), dorm.transaction.atomic():
        list(Event.objects.select_for_update())


def test_json_keys(tables):
    tables(Doc)
    Doc.objects.create(data={"a": {"b": [1, 2, {"c": "x"}]}, "k/ey": 1, "ti~lde": True, 'q"uote': "y",
                             "n": 10, "s": "text"})
    Doc.objects.create(data={"a": {"b": []}, "n": 9})
    Doc.objects.create(data=None)
    qs = Doc.objects
    assert qs.filter(data__has_key="k/ey").count() == 1
    assert qs.filter(data__has_key="ti~lde").count() == 1
    assert qs.filter(**{'data__q"uote': "y"}).count() == 1
    assert qs.filter(data__a__b__2__c="x").count() == 1
    assert qs.filter(data__n=10).count() == 1 and qs.filter(data__s="text").count() == 1
    assert qs.filter(data__contains={"a": {"b": [{"c": "x"}]}}).count() == 1
    assert qs.filter(data__contains={"n": 9}).count() == 1
    assert qs.filter(data__a__b__contains=[2]).count() == 1
    assert qs.filter(data__isnull=True).count() == 1
    assert qs.get(data__n=9).data == {"a": {"b": []}, "n": 9}
