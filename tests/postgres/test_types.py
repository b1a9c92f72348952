"""Column types and values on PostgreSQL: timestamptz with USE_TZ, uuid, intervals,
inet, decimals, double precision, bytea; date parts and regex lookups."""
from __future__ import annotations

import datetime
import decimal
import uuid
import zoneinfo

import dorm
import pytest
from dorm import F, Sum
from dorm.db import connections
from dorm.exceptions import DataError, IntegrityError
from dorm.functions import Extract, Round, TruncDay, TruncMonth

from .models import Doc, Event

MODELS = [Event, Doc]
UTC = datetime.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _column_types(conn, table):
    return {c.name: c.type for c in conn.introspection.get_table_description(table)}


def test_column_types(pg):
    types = _column_types(pg, "pg_tests_event")
    assert types["id"] == "bigint"
    assert types["ratio"] == "double precision"
    assert types["price"] == "numeric(12,4)"
    assert types["span"] == "interval" and types["ip"] == "inet" and types["blob"] == "bytea"
    assert types["at"] == "timestamp without time zone"      # USE_TZ is off here
    assert _column_types(pg, "pg_tests_doc")["uid"] == "uuid"
    assert _column_types(pg, "pg_tests_doc")["data"] == "jsonb"
    assert pg.introspection.get_auto_columns("pg_tests_event") == {"id": "identity"}


def test_values_round_trip(pg):
    e = Event.objects.create(
        name="e", at=datetime.datetime(2026, 5, 17, 10, 30, 15, 123456), day=datetime.date(2026, 5, 17),
        span=datetime.timedelta(days=2, hours=3, microseconds=5), ip="2001:db8::1", ratio=0.1,
        price=decimal.Decimal("12345678.1234"), blob=b"\x00\xffbytes")
    got = Event.objects.get(pk=e.pk)
    assert got.at == datetime.datetime(2026, 5, 17, 10, 30, 15, 123456) and got.at.tzinfo is None
    assert got.day == datetime.date(2026, 5, 17)
    assert got.span == datetime.timedelta(days=2, hours=3, microseconds=5)
    assert got.ip == "2001:db8::1" and isinstance(got.ip, str)
    assert got.ratio == 0.1                       # double precision: exact float round trip
    assert got.price == decimal.Decimal("12345678.1234")
    assert got.blob == b"\x00\xffbytes"
    assert Event.objects.filter(ip="2001:db8::1").count() == 1
    doc = Doc.objects.create(title="u")
    assert isinstance(Doc.objects.get(pk=doc.pk).uid, uuid.UUID)
    assert Doc.objects.get(uid=str(doc.uid)).pk == doc.pk


def test_positive_fields_have_check_constraints(pg):
    with pytest.raises(IntegrityError, match="check constraint"):
        Event.objects.create(name="neg", pos=-1)
    with pytest.raises(IntegrityError):
        Event.objects.create(name="neg", small=-5)
    checks = [c for c in pg.introspection.get_constraints("pg_tests_event").values() if c["check"]]
    assert {tuple(c["columns"]) for c in checks} == {("pos",), ("small",)}


def test_out_of_range_values_are_data_errors(pg):
    with pytest.raises(DataError):
        Event.objects.create(name="x", small=70000)


def test_date_parts_and_week_day(pg):
    sunday = datetime.datetime(2026, 5, 17, 10, 30)     # a Sunday
    Event.objects.create(name="sun", at=sunday, day=sunday.date())
    Event.objects.create(name="mon", at=sunday + datetime.timedelta(days=1), day=datetime.date(2026, 5, 18))
    assert list(Event.objects.filter(at__week_day=0).values_list("name", flat=True)) == ["sun"]
    assert list(Event.objects.filter(day__week_day=1).values_list("name", flat=True)) == ["mon"]
    assert Event.objects.filter(at__year=2026, at__month=5, at__day=17, at__hour=10).count() == 1
    assert Event.objects.filter(at__minute__gte=30).count() == 2
    assert Event.objects.filter(at__date=datetime.date(2026, 5, 18)).count() == 1
    row = Event.objects.annotate(y=Extract("at", "year"), m=TruncMonth("at"), d=TruncDay("day")) \
        .order_by("name").values("y", "m", "d").first()
    assert row == {"y": 2026, "m": datetime.datetime(2026, 5, 1), "d": datetime.date(2026, 5, 18)}


def test_regex_lookups(pg):
    for name in ("alpha", "Beta", "gamma1"):
        Event.objects.create(name=name)
    assert sorted(Event.objects.filter(name__regex=r"^[a-z]+$").values_list("name", flat=True)) == \
        ["alpha"]
    assert sorted(Event.objects.filter(name__iregex=r"^b").values_list("name", flat=True)) == ["Beta"]


def test_pattern_lookups_escape_wildcards(pg):
    Event.objects.create(name="100% done")
    Event.objects.create(name="100 x done")
    Event.objects.create(name="a_b")
    Event.objects.create(name="axb")
    assert list(Event.objects.filter(name__contains="100%").values_list("name", flat=True)) == ["100% done"]
    assert list(Event.objects.filter(name__startswith="a_").values_list("name", flat=True)) == ["a_b"]
    assert list(Event.objects.filter(name__icontains="A_B").values_list("name", flat=True)) == ["a_b"]
    # an expression on the right-hand side (wildcards escaped in SQL)
    Event.objects.create(name="%")
    assert Event.objects.filter(name__contains=F("name")).count() == 5
    assert list(Event.objects.filter(name="100% done", name__endswith=F("name"))
                .values_list("name", flat=True)) == ["100% done"]


def test_numeric_functions_and_sums(pg):
    Event.objects.create(name="a", ratio=2.0, pos=2**31 - 1, price="1.5")
    Event.objects.create(name="b", ratio=3.5, pos=2**31 - 1, price="2.25")
    agg = Event.objects.aggregate(p=Sum("pos"), r=Sum("ratio"), d=Sum("price"), i=Sum("id"))
    assert agg["p"] == 2 * (2**31 - 1) and isinstance(agg["p"], int)
    assert isinstance(agg["i"], int)                 # SUM(bigint) is numeric in PostgreSQL
    assert agg["r"] == 5.5 and agg["d"] == decimal.Decimal("3.7500")
    row = Event.objects.annotate(h=Round(F("ratio") / 3, 2), m=F("pos") % 7).order_by("name").first()
    assert row.h == pytest.approx(0.67) and row.m == (2**31 - 1) % 7


def test_use_tz_stores_timestamptz_and_reads_utc(configure_pg):
    with configure_pg(settings={"USE_TZ": True, "TIME_ZONE": "Europe/Paris"}):
        dorm.drop_tables(MODELS)
        dorm.create_tables(MODELS)
        try:
            conn = connections["default"]
            assert _column_types(conn, "pg_tests_event")["at"] == "timestamp with time zone"
            # naive values are TIME_ZONE local time; aware values are kept as the instant
            naive = Event.objects.create(name="naive", at=datetime.datetime(2026, 1, 4, 0, 30))
            aware = Event.objects.create(name="aware",
                                         at=datetime.datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
            got = Event.objects.get(pk=naive.pk).at
            assert got == datetime.datetime(2026, 1, 3, 23, 30, tzinfo=UTC)
            assert got.utcoffset() == datetime.timedelta(0)
            assert Event.objects.get(pk=aware.pk).at == datetime.datetime(2026, 7, 1, 14, 0, tzinfo=PARIS)
            # date parts are taken in TIME_ZONE: 00:30 in Paris is still Sunday the 4th
            assert list(Event.objects.filter(at__date=datetime.date(2026, 1, 4))
                        .values_list("name", flat=True)) == ["naive"]
            assert list(Event.objects.filter(at__day=4, at__hour=0, at__week_day=0)
                        .values_list("name", flat=True)) == ["naive"]
            day = Event.objects.filter(pk=naive.pk).annotate(d=TruncDay("at")).values_list("d", flat=True)[0]
            assert day == datetime.datetime(2026, 1, 4, tzinfo=PARIS)
            # the session runs in UTC whatever the server's default
            assert conn.execute("SHOW TimeZone") == [("UTC",)]
        finally:
            dorm.drop_tables(MODELS)


def test_explain(pg):
    Event.objects.create(name="x")
    text = Event.objects.filter(name="x").explain()
    assert "Scan" in text
    plan = Event.objects.filter(name="x").explain(analyze=True, format="json")
    assert '"Actual Rows"' in plan and '"Shared Hit Blocks"' in plan
    assert "Output:" in Event.objects.all().explain(verbose=True, costs=False)
    with pytest.raises(ValueError):
        Event.objects.all().explain(format="html")


def test_distinct_on(pg):
    for name, pos in (("a", 1), ("a", 5), ("b", 2), ("b", 0)):
        Event.objects.create(name=name, pos=pos)
    rows = list(Event.objects.order_by("name", "-pos").distinct("name").values_list("name", "pos"))
    assert rows == [("a", 5), ("b", 2)]


def test_casts_with_portable_type_names(pg):
    from dorm.functions import Cast

    Event.objects.create(name="2026-05-17 10:30:00", blob=b"x")
    row = Event.objects.annotate(t=Cast("name", "DATETIME"), b=Cast("blob", "BLOB"),
                                 f=Cast("pos", "FLOAT")).values("t", "b", "f").first()
    assert row["t"] == datetime.datetime(2026, 5, 17, 10, 30) and row["b"] == b"x"
    assert row["f"] == 0.0
