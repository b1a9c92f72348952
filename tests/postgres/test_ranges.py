"""Range fields and dorm.Range on the real PostgreSQL server (core.md §4, §9)."""
from __future__ import annotations

import datetime
import decimal
import pickle

import dorm
import pytest
from dorm.db import connections
from dorm.exceptions import NotSupportedError, ValidationError
from dorm.expressions import F

UTC = datetime.timezone.utc
D = decimal.Decimal
Range = dorm.Range


class Booking(dorm.Model):
    name = dorm.CharField(max_length=20)
    ints = dorm.IntegerRangeField(null=True)
    bigs = dorm.BigIntegerRangeField(null=True)
    decs = dorm.DecimalRangeField(null=True)
    days = dorm.DateRangeField(null=True)
    span = dorm.DateTimeRangeField(null=True)

    class Meta:
        app_label = "pg_ranges"


class TsRangeField(dorm.RangeField):
    """A user-defined range field without a psycopg class: bound as a literal."""

    range_type = "tsrange"
    bound_type = "timestamp"
    base_field = dorm.DateTimeField

    def bound_to_python(self, value):
        return value if isinstance(value, datetime.datetime) else \
            datetime.datetime.fromisoformat(str(value))


class Shift(dorm.Model):
    name = dorm.CharField(max_length=20)
    hours = TsRangeField(null=True)

    class Meta:
        app_label = "pg_ranges"


MODELS = [Booking, Shift]


def names(qs):
    return sorted(qs.values_list("name", flat=True))


# ---- the value type (no database) ----------------------------------------------------------------
def test_range_value_type():
    r = Range(1, 5)
    assert (r.lower, r.upper, r.bounds) == (1, 5, "[)")
    assert r.lower_inc and not r.upper_inc and not r.lower_inf and not r.upper_inf
    assert not r.is_empty() and not r.isempty and bool(r)
    assert repr(r) == "Range(1, 5, '[)')" and str(r) == "[1,5)"
    assert r == Range(1, 5, "[)") and r != Range(1, 5, "[]") and hash(r) == hash(Range(1, 5))
    assert 1 in r and 4 in r and 5 not in r and 0 not in r
    assert 5 in Range(1, 5, "[]") and 1 not in Range(1, 5, "(]")
    # infinite sides are never inclusive (as PostgreSQL stores them)
    assert Range(None, 5, "[]") == Range(None, 5, "(]") and Range(None, 5, "[]").bounds == "(]"
    assert Range(None, None).lower_inf and Range(None, None).upper_inf and 10**30 in Range()
    # empty ranges
    e = Range(empty=True)
    assert e.is_empty() and not e and repr(e) == "Range(empty=True)" and str(e) == "empty"
    assert not e.lower_inc and not e.lower_inf and 1 not in e
    assert Range(3, 3).is_empty() and Range(3, 3) == e and not Range(3, 3, "[]").is_empty()
    assert hash(Range(3, 3, "(]")) == hash(e)
    # immutable, picklable
    with pytest.raises(AttributeError):
        r.lower = 2
    assert pickle.loads(pickle.dumps(r)) == r and pickle.loads(pickle.dumps(e)).is_empty()
    assert r.deconstruct() == ("dorm.Range", [1, 5], {})
    assert Range(1, 5, "[]").deconstruct() == ("dorm.Range", [1, 5], {"bounds": "[]"})
    assert e.deconstruct() == ("dorm.Range", [], {"empty": True})


def test_range_value_validation():
    for bad in ["[[", "", "[", "<>", None, "[)x"]:
        with pytest.raises(ValidationError, match="bounds must be one of"):
            Range(1, 2, bad)
    with pytest.raises(ValidationError, match="greater than its upper bound"):
        Range(5, 1)
    with pytest.raises(ValidationError, match="cannot be compared"):
        Range(1, "z")
    with pytest.raises(ValidationError, match="no bounds"):
        Range(1, 2, empty=True)


def test_range_equals_psycopg_range():
    from psycopg.types.range import Int4Range
    from psycopg.types.range import Range as PgRange

    assert Range(1, 5) == PgRange(1, 5) and Range(1, 5, "[]") == Int4Range(1, 5, "[]")
    assert Range(1, 5) != PgRange(1, 6) and Range(empty=True) == PgRange(empty=True)
    assert Range(1, 5) != (1, 5)


# ---- columns and round trips ---------------------------------------------------------------------
def column_types(conn):
    rows = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                        "attrelid = 'pg_ranges_booking'::regclass AND attnum > 0")
    return dict(rows)


def test_column_types(pg):
    types = column_types(pg)
    assert (types["ints"], types["bigs"], types["decs"], types["days"], types["span"]) == \
        ("int4range", "int8range", "numrange", "daterange", "tstzrange")


@pytest.mark.parametrize(("field", "given", "expected"), [
    # discrete types: canonical [) on read
    ("ints", Range(1, 5, "[]"), Range(1, 6, "[)")),
    ("ints", Range(1, 5, "()"), Range(2, 5, "[)")),
    ("ints", Range(1, 5, "(]"), Range(2, 6, "[)")),
    ("ints", Range(3, 3), Range(empty=True)),
    ("ints", Range(empty=True), Range(empty=True)),
    ("ints", Range(None, 5), Range(None, 5, "()")),
    ("ints", Range(-5, None, "(]"), Range(-4, None, "[)")),
    ("ints", Range(None, None), Range(None, None, "()")),
    ("bigs", Range(-2**62, 2**62, "[]"), Range(-2**62, 2**62 + 1)),
    ("days", Range(datetime.date(2024, 1, 1), datetime.date(2024, 1, 31), "[]"),
     Range(datetime.date(2024, 1, 1), datetime.date(2024, 2, 1))),
    ("days", Range(None, datetime.date(2024, 1, 1), "(]"), Range(None, datetime.date(2024, 1, 2))),
    # continuous types keep their bounds
    ("decs", Range(D("0.005"), D("12345678901234567890.5"), "(]"),
     Range(D("0.005"), D("12345678901234567890.5"), "(]")),
    ("decs", Range(D("1.5"), D("1.5"), "[]"), Range(D("1.5"), D("1.5"), "[]")),
    ("decs", Range(D("1"), None, "[)"), Range(D("1"), None, "[)")),
    ("span", Range(datetime.datetime(2024, 1, 1, 9, tzinfo=UTC),
                   datetime.datetime(2024, 1, 1, 17, 30, tzinfo=UTC), "[]"),
     Range(datetime.datetime(2024, 1, 1, 9, tzinfo=UTC),
           datetime.datetime(2024, 1, 1, 17, 30, tzinfo=UTC), "[]")),
    ("span", Range(empty=True), Range(empty=True)),
])
def test_round_trip(pg, field, given, expected):
    obj = Booking.objects.create(name="x", **{field: given})
    got = getattr(Booking.objects.get(pk=obj.pk), field)
    assert isinstance(got, Range)
    assert got == expected and got.bounds == expected.bounds
    assert Booking.objects.filter(**{field: given}).count() == 1      # exact, canonicalised by PG
    assert Booking.objects.values_list(field, flat=True).get(pk=obj.pk) == expected


def test_datetime_ranges_are_aware(configure_pg):
    with configure_pg(settings={"TIME_ZONE": "Europe/Paris"}):
        try:
            dorm.create_tables([Booking])
            local = Range(datetime.datetime(2024, 6, 1, 10), datetime.datetime(2024, 6, 1, 12))
            obj = Booking(name="tz", span=local)
            # naive bounds are TIME_ZONE local time, already on assignment
            assert obj.span.lower.tzinfo is not None and obj.span.lower.utcoffset() == \
                datetime.timedelta(hours=2)
            obj.save()
            got = Booking.objects.get(pk=obj.pk).span
            assert got == obj.span and got.lower == datetime.datetime(2024, 6, 1, 8, tzinfo=UTC)
            assert Booking.objects.filter(
                span__contains=datetime.datetime(2024, 6, 1, 8, 30, tzinfo=UTC)).count() == 1
            assert Booking.objects.filter(span__startswith=datetime.datetime(2024, 6, 1, 10)).count() == 1
        finally:
            dorm.drop_tables([Booking])
            connections.close_all()


def test_assignment_conversions(pg):
    b = Booking(name="a", ints=(1, 5), decs=("1.5", 3), days=("2024-01-01", "2024-02-01", "[]"))
    assert b.ints == Range(1, 5) and b.decs == Range(D("1.5"), D(3))
    assert b.days == Range(datetime.date(2024, 1, 1), datetime.date(2024, 2, 1), "[]")
    b.ints = "[2,8]"
    assert b.ints == Range(2, 8, "[]")
    b.span = ("2024-01-01T00:00:00Z", None)
    assert b.span.lower == datetime.datetime(2024, 1, 1, tzinfo=UTC) and b.span.upper_inf
    from psycopg.types.range import Range as PgRange

    b.bigs = PgRange(1, 10, "(]")
    assert b.bigs == Range(1, 10, "(]") and isinstance(b.bigs, Range)
    b.ints = "empty"
    assert b.ints.is_empty()
    b.save()
    assert Booking.objects.get(pk=b.pk).bigs == Range(2, 11)
    for field, bad, message in [
        ("ints", (1, "x"), "upper bound 'x'"),
        ("ints", (1, 2**40), "BigIntegerRangeField"),
        ("ints", (1.5, 3), "lower bound"),
        ("ints", (True, 3), "lower bound"),
        ("ints", (5, 1), "greater than"),
        ("ints", (1, 2, "]]"), "bounds must be one of"),
        ("ints", 5, "expected a dorm.Range"),
        ("ints", "[1,2", "not a range literal"),
        ("decs", ("nan", 1), "lower bound"),
        ("days", (datetime.datetime(2024, 1, 1, 12), None), "not a date"),
        ("span", (1, 2), "lower bound"),
    ]:
        with pytest.raises(ValidationError, match=message) as info:
            setattr(b, field, bad)
        assert f"Booking.{field}" in str(info.value)


def test_abstract_base_and_bad_subclass():
    with pytest.raises(TypeError, match="abstract"):
        dorm.RangeField()

    class Bad(dorm.RangeField):
        range_type = "int4range; DROP TABLE x"
        bound_type = "integer"

    with pytest.raises(TypeError, match="range_type"):
        Bad()


# ---- lookups ---------------------------------------------------------------------------------------
@pytest.fixture
def rows(pg):
    day = datetime.date
    Booking.objects.bulk_create([
        Booking(name="a", ints=Range(1, 5), decs=Range(D("0.5"), D("1.5"), "[]"),
                days=Range(day(2024, 1, 1), day(2024, 1, 10))),
        Booking(name="b", ints=Range(5, 10), decs=Range(D("1.5"), D("3"), "()"),
                days=Range(day(2024, 1, 10), day(2024, 2, 1))),
        Booking(name="c", ints=Range(20, None), decs=Range(None, D("0")),
                days=Range(None, day(2023, 12, 31), "(]")),
        Booking(name="d", ints=Range(empty=True), decs=Range(empty=True)),
        Booking(name="e", ints=Range(3, 7, "[]"), decs=Range(D("1"), D("2"))),
        Booking(name="n"),
    ])
    return pg


def test_range_operators(rows):
    q = Booking.objects
    assert names(q.filter(ints__contains=Range(2, 4))) == ["a"]
    assert names(q.filter(ints__contains=Range(3, 5))) == ["a", "e"]
    assert names(q.filter(ints__contains=(6, 8))) == ["b", "e"]
    assert names(q.filter(ints__contains=5)) == ["b", "e"]                  # one value
    assert names(q.filter(ints__contains=1000)) == ["c"]
    assert names(q.filter(decs__contains=D("1.5"))) == ["a", "e"]
    assert names(q.filter(days__contains=datetime.date(2024, 1, 10))) == ["b"]
    assert names(q.filter(ints__contained_by=Range(0, 10))) == ["a", "b", "d", "e"]
    assert names(q.filter(ints__contained_by=Range(None, None))) == ["a", "b", "c", "d", "e"]
    assert names(q.filter(ints__overlap=Range(4, 6))) == ["a", "b", "e"]
    assert names(q.filter(ints__fully_lt=Range(5, 6))) == ["a"]
    assert names(q.filter(ints__fully_gt=Range(0, 5))) == ["b", "c"]
    assert names(q.filter(ints__not_lt=Range(5, 6))) == ["b", "c"]
    assert names(q.filter(ints__not_gt=Range(0, 8))) == ["a", "e"]
    assert names(q.filter(ints__adjacent_to=Range(10, 20))) == ["b", "c"]
    assert names(q.filter(decs__adjacent_to=Range(D("0"), D("0.5"), "[)"))) == ["a", "c"]
    assert names(q.exclude(ints__overlap=Range(4, 6))) == ["c", "d", "n"]
    assert names(q.filter(ints__overlap=F("ints"))) == ["a", "b", "c", "e"]  # expression rhs


def test_range_transforms(rows):
    q = Booking.objects
    assert names(q.filter(ints__isempty=True)) == ["d"]
    assert names(q.filter(ints__isempty=False)) == ["a", "b", "c", "e"]
    assert names(q.filter(decs__lower_inc=True)) == ["a", "e"]
    assert names(q.filter(decs__upper_inc=True)) == ["a"]
    assert names(q.filter(decs__lower_inf=True)) == ["c"]
    assert names(q.filter(ints__upper_inf=True)) == ["c"]
    assert names(q.filter(ints__startswith=5)) == ["b"]
    assert names(q.filter(ints__startswith__gte=3)) == ["b", "c", "e"]
    assert names(q.filter(ints__endswith=8)) == ["e"]                         # [3,7] is [3,8)
    assert names(q.filter(ints__endswith__lt=8)) == ["a"]
    assert names(q.filter(decs__startswith=D("0.5"))) == ["a"]
    assert names(q.filter(days__endswith__lte=datetime.date(2024, 1, 10))) == ["a", "c"]
    assert names(q.filter(ints__startswith__isnull=True)) == ["d", "n"]


def test_exact_in_isnull(rows):
    q = Booking.objects
    assert names(q.filter(ints=Range(3, 8))) == ["e"]
    assert names(q.filter(ints=(3, 7, "[]"))) == ["e"]
    assert names(q.filter(ints__in=[Range(1, 5), Range(empty=True)])) == ["a", "d"]
    assert names(q.filter(ints__isnull=True)) == ["n"]
    assert names(q.filter(ints=Range(empty=True))) == ["d"]


def test_lookup_arguments_checked_when_the_filter_is_built(rows):
    with pytest.raises(TypeError, match=r"Booking\.ints needs a range"):
        Booking.objects.filter(ints__overlap=5)
    with pytest.raises(ValidationError, match=r"Booking\.ints"):
        Booking.objects.filter(ints__contains="abc")
    with pytest.raises(ValidationError, match="greater than"):
        Booking.objects.filter(ints__overlap=(9, 1))
    with pytest.raises(ValidationError, match="bounds must be one of"):
        Booking.objects.filter(days__contained_by=("2024-01-01", "2024-02-01", "{}"))


def test_lookup_sql_binds_and_casts(rows):
    from dorm.query.compiler import SQLCompiler

    sql, params = SQLCompiler(Booking.objects.filter(ints__overlap=(1, 2)).query,
                              connections["default"]).as_sql()
    assert "&& %s::int4range" in sql and len(params) == 1
    sql, params = SQLCompiler(Booking.objects.filter(bigs__contains=3).query,
                              connections["default"]).as_sql()
    assert "@> %s::bigint" in sql and params == [3]


def test_user_defined_range_type_binds_a_literal(pg):
    start = datetime.datetime(2024, 3, 1, 8)
    s = Shift.objects.create(name="s", hours=(start, start + datetime.timedelta(hours=8)))
    got = Shift.objects.get(pk=s.pk).hours
    assert got == Range(start, start + datetime.timedelta(hours=8))
    assert names(Shift.objects.filter(hours__contains=Range(start, start))) == ["s"]
    assert names(Shift.objects.filter(hours__startswith=start)) == ["s"]
    Shift.objects.create(name="e", hours=Range(empty=True))
    assert names(Shift.objects.filter(hours__isempty=True)) == ["e"]


# ---- other backends ---------------------------------------------------------------------------------
def test_not_implemented_elsewhere(tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite",
                                                       "NAME": str(tmp_path / "r.db")}}):
        try:
            conn = connections["default"]
            with pytest.raises(NotImplementedError, match=r"Booking\.ints.*SQLite"):
                Booking._meta.get_field("ints").db_type(conn)
            with pytest.raises(NotSupportedError, match="SQLite"):
                dorm.create_tables([Booking])
            from dorm.query.compiler import SQLCompiler

            for kw in ({"ints__overlap": (1, 2)}, {"ints__isempty": True},
                       {"ints__startswith": 1}, {"ints__contains": 3}):
                with pytest.raises(NotSupportedError, match="SQLite"):
                    SQLCompiler(Booking.objects.filter(**kw).query, conn).as_sql()
        finally:
            connections.close_all()


def test_missing_plugin_names_mapped():
    from dorm.plugins.missing import KNOWN_ATTRIBUTES

    for name in ("Range", "RangeField", "IntegerRangeField", "BigIntegerRangeField",
                 "DecimalRangeField", "DateRangeField", "DateTimeRangeField", "CITextField"):
        assert KNOWN_ATTRIBUTES[name] == "dorm-postgres"


# ---- migrations -------------------------------------------------------------------------------------
def test_migration_writer_round_trip(configure_pg, tmp_path):
    from dorm.migrations import MigrationAutodetector, MigrationExecutor, MigrationLoader, ModelState
    from dorm.migrations import ProjectState
    from dorm.migrations.loader import AppInfo
    from dorm.migrations.writer import MigrationWriter

    tz = datetime.timezone(datetime.timedelta(hours=2))
    fields = [
        ("id", dorm.BigAutoField(primary_key=True)),
        ("ints", dorm.IntegerRangeField(default=Range(1, 10, "[]"))),
        ("bigs", dorm.BigIntegerRangeField(null=True, default=Range(empty=True))),
        ("decs", dorm.DecimalRangeField(default=Range(D("0.25"), None))),
        ("days", dorm.DateRangeField(default=Range(datetime.date(2024, 1, 1), None))),
        ("span", dorm.DateTimeRangeField(
            default=Range(datetime.datetime(2024, 1, 1, 8, tzinfo=tz),
                          datetime.datetime(2024, 1, 1, 9, tzinfo=tz), "(]"))),
    ]
    state = ProjectState()
    state.add_model(ModelState("rangemig", "Slot", fields, {}))
    directory = tmp_path / "rangemig_pkg"
    (directory / "migrations").mkdir(parents=True)
    (directory / "migrations" / "__init__.py").touch()
    app = AppInfo("rangemig", "rangemig_pkg", directory)
    detector = MigrationAutodetector(ProjectState(), state)
    arranged = detector.arrange(detector.changes(app_labels=["rangemig"]),
                                MigrationLoader(None, apps=[app]))
    [migration] = arranged["rangemig"]
    source = MigrationWriter(migration).as_string()
    assert "IntegerRangeField(default=Range(1, 10, bounds=\"[]\"))" in source
    assert "Range(empty=True)" in source and "decimal.Decimal(\"0.25\")" in source.replace("'", '"')
    assert "from dorm import" in source and "Range" in source
    (directory / "migrations" / f"{migration.name}.py").write_text(source)
    # the written file imports and re-creates the same fields: nothing left to detect
    loader = MigrationLoader(None, apps=[app])
    loaded = loader.project_state()
    again = MigrationAutodetector(loaded, state).changes(app_labels=["rangemig"])
    assert not again.get("rangemig")
    [model] = [m for m in loaded.models.values() if m.app_label == "rangemig"]
    rebuilt = dict(model.fields)
    assert rebuilt["span"].default == fields[5][1].default
    assert type(rebuilt["decs"]) is dorm.DecimalRangeField
    with configure_pg():
        conn = connections["default"]
        try:
            ex = MigrationExecutor(conn, MigrationLoader(conn, apps=[app]))
            ex.migrate()
            assert conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                                "attrelid = 'rangemig_slot'::regclass AND attname = 'span'")[0][0] \
                == "tstzrange"
            ex = MigrationExecutor(conn, MigrationLoader(conn, apps=[app]))
            ex.rollback("rangemig", "zero")
            assert conn.execute("SELECT to_regclass('rangemig_slot')")[0][0] is None
        finally:
            conn.execute_write("DROP TABLE IF EXISTS rangemig_slot", ())
            connections.close_all()
