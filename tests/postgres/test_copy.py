"""dorm.contrib.bulk_copy (features-4.0 §1) on a real PostgreSQL server."""
from __future__ import annotations

import datetime
import decimal
import io
import json
import uuid

import dorm
import pytest
from dorm.db import connections
from dorm.exceptions import DataError, ImproperlyConfigured, IntegrityError, OperationalError
from dorm.transaction import aatomic, atomic


class CopyItem(dorm.Model):
    name = dorm.CharField(max_length=50, unique=True)
    qty = dorm.IntegerField(default=7, db_default=7)
    big = dorm.BigIntegerField(null=True)
    small = dorm.SmallIntegerField(null=True)
    price = dorm.DecimalField(max_digits=10, decimal_places=2, null=True)
    ratio = dorm.FloatField(null=True)
    flag = dorm.BooleanField(null=True)
    day = dorm.DateField(null=True)
    at = dorm.DateTimeField(null=True)
    uid = dorm.UUIDField(null=True)
    data = dorm.JSONField(null=True)
    note = dorm.TextField(db_default="dbdef", null=True)

    class Meta:
        app_label = "pg_copy"


MODELS = [CopyItem]


def names():
    return sorted(CopyItem.objects.values_list("name", flat=True))


def test_import_path_registered():
    import dorm.contrib.bulk_copy as mod
    from dorm_postgres import copy

    assert mod is copy


def test_fifty_thousand_rows_counted(pg):
    n = dorm.contrib.bulk_copy.bulk_copy_from(
        CopyItem, ((f"n{i}", i) for i in range(50_000)), columns=["name", "qty"])
    assert n == 50_000
    assert CopyItem.objects.count() == 50_000
    assert CopyItem.objects.get(name="n49999").qty == 49999


def test_dict_tuple_and_instance_inputs(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    n = bulk_copy_from(CopyItem, [{"name": "d", "qty": 2, "data": {"k": [1, "x"]}}])
    n += bulk_copy_from(CopyItem, [CopyItem(name="i", qty=3, price=decimal.Decimal("1.25"))])
    n += bulk_copy_from(CopyItem, [("t", 4)], columns=["name", "qty"])
    assert n == 3
    rows = {r[0]: r[1:] for r in CopyItem.objects.values_list("name", "qty", "price", "data")}
    assert rows == {"d": (2, None, {"k": [1, "x"]}), "i": (3, decimal.Decimal("1.25"), None),
                    "t": (4, None, None)}
    # a dict without qty gets the field default; an auto pk is not written unless given
    bulk_copy_from(CopyItem, [{"name": "dflt"}])
    assert CopyItem.objects.get(name="dflt").qty == 7
    bulk_copy_from(CopyItem, [{"id": 1000, "name": "withpk"}], columns=["id", "name"])
    assert CopyItem.objects.get(name="withpk").pk == 1000


def test_values_go_through_fields(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    # strings for an int / a bool / a decimal are converted by the fields
    bulk_copy_from(CopyItem, [("s", "12", "yes", "3.50")], columns=["name", "qty", "flag", "price"])
    obj = CopyItem.objects.get(name="s")
    assert (obj.qty, obj.flag, obj.price) == (12, True, decimal.Decimal("3.50"))


def test_columns_subset_leaves_db_defaults(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    bulk_copy_from(CopyItem, [("a",)], columns=["name"])
    assert CopyItem.objects.get(name="a").note == "dbdef"


def test_unknown_or_columnless_columns_rejected(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    with pytest.raises(ValueError, match="no field 'nope'"):
        bulk_copy_from(CopyItem, [("a",)], columns=["nope"])
    with pytest.raises(TypeError):
        bulk_copy_from(CopyItem, [("a",)], columns="name")
    with pytest.raises(ImproperlyConfigured):
        bulk_copy_from(None, [("a",)])


def test_binary_mode_with_exact_types(pg):
    """Binary COPY into int2/int4/int8, numeric, float8, bool, date, timestamp, uuid: the
    reference's binary mode broke on plain integer columns."""
    from dorm.contrib.bulk_copy import bulk_copy_from, copy_to

    u = uuid.uuid4()
    row = ("b", 5, 2**40, 3, decimal.Decimal("9.99"), 0.5, True, datetime.date(2024, 2, 29),
           datetime.datetime(2024, 1, 2, 3, 4, 5), u)
    cols = ["name", "qty", "big", "small", "price", "ratio", "flag", "day", "at", "uid"]
    assert bulk_copy_from(CopyItem, [row], columns=cols, binary=True) == 1
    got = CopyItem.objects.values_list(*cols).get()
    assert got == row
    out = list(copy_to("SELECT qty, big, small, price, uid FROM pg_copy_copyitem", binary=True))
    assert out == [(5, 2**40, 3, decimal.Decimal("9.99"), u)]


def test_binary_falls_back_to_text_for_json(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    assert bulk_copy_from(CopyItem, [{"name": "j", "data": {"a": 1}}], binary=True) == 1
    assert CopyItem.objects.get(name="j").data == {"a": 1}


async def test_async_generator_source(pg):
    from dorm.contrib.bulk_copy import abulk_copy_from

    async def gen():
        for i in range(1000):
            yield {"name": f"a{i}", "qty": i}

    assert await abulk_copy_from(CopyItem, gen()) == 1000
    assert await abulk_copy_from(CopyItem, [("s1", 1), ("s2", 2)], columns=["name", "qty"]) == 2
    assert await CopyItem.objects.acount() == 1002


async def test_async_batches_and_aatomic_rollback(pg):
    from dorm.contrib.bulk_copy import abulk_copy_from

    seen = []

    async def gen():
        for i in range(25):
            yield (f"b{i}",)

    assert await abulk_copy_from(CopyItem, gen(), columns=["name"], batch_size=10,
                                 on_progress=seen.append) == 25
    assert seen == [10, 20, 25]
    with pytest.raises(RuntimeError, match="boom"):
        async with aatomic():
            await abulk_copy_from(CopyItem, [("r1",), ("r2",)], columns=["name"])
            raise RuntimeError("boom")
    assert await CopyItem.objects.acount() == 25


def test_bad_row_aborts_everything(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    bulk_copy_from(CopyItem, [("dup",)], columns=["name"])
    rows = [(f"x{i}",) for i in range(100)] + [("dup",)] + [(f"y{i}",) for i in range(100)]
    with pytest.raises(IntegrityError) as info:
        bulk_copy_from(CopyItem, rows, columns=["name"])
    assert info.value.row_number == 101
    assert "row 101 ('dup',)" in str(info.value)
    assert info.value.rows_committed == 0
    assert names() == ["dup"]


def test_unconvertible_value_names_the_row(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    with pytest.raises(DataError) as info:
        bulk_copy_from(CopyItem, [("a", 1), ("b", "not a number")], columns=["name", "qty"])
    assert info.value.row_number == 2 and "row 2" in str(info.value)
    with pytest.raises(DataError, match="row 1 .*has 1 values, expected 2"):
        bulk_copy_from(CopyItem, [("a",)], columns=["name", "qty"])
    assert CopyItem.objects.count() == 0


def test_server_side_bad_value_names_the_row(pg):
    from dorm.contrib.bulk_copy import copy_rows

    # no model: the value reaches the server as text and the server rejects it
    with pytest.raises(DataError) as info:
        copy_rows("pg_copy_copyitem", ["name", "qty"], [("a", "1"), ("b", "2"), ("c", "zz")])
    assert info.value.row_number == 3 and "('c', 'zz')" in str(info.value)
    assert CopyItem.objects.count() == 0


def test_batches_commit_separately_and_a_bad_batch_rolls_back_whole(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    progress = []
    rows = [(f"r{i}",) for i in range(25)] + [("r3",)] + [(f"s{i}",) for i in range(10)]
    with pytest.raises(IntegrityError) as info:
        bulk_copy_from(CopyItem, rows, columns=["name"], batch_size=10,
                       on_progress=progress.append)
    assert info.value.rows_committed == 20
    assert info.value.row_number == 26
    assert progress == [10, 20]
    # batches 1-2 committed, batch 3 (rows 21..30) rolled back entirely
    assert CopyItem.objects.count() == 20


def test_joins_outer_atomic_and_rolls_back_with_it(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    with pytest.raises(RuntimeError), atomic():
        CopyItem.objects.create(name="before")
        assert bulk_copy_from(CopyItem, [("in1",), ("in2",)], columns=["name"],
                              batch_size=1) == 2
        assert CopyItem.objects.count() == 3     # same transaction: visible
        raise RuntimeError("abort")
    assert CopyItem.objects.count() == 0
    with atomic():
        bulk_copy_from(CopyItem, [("kept",)], columns=["name"])
    assert names() == ["kept"]


def test_half_read_generator_is_never_retried(pg, admin):
    """The connection dies in the middle of the COPY: the error surfaces, the generator
    is not restarted, and nothing of the batch is in the table."""
    from dorm.contrib.bulk_copy import bulk_copy_from

    backend = connections["default"]
    produced = []

    def gen():
        for i in range(5000):
            if i == 2000:
                pid = backend.connection.info.backend_pid
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            produced.append(i)
            yield (f"g{i}",)

    with pytest.raises(OperationalError):
        bulk_copy_from(CopyItem, gen(), columns=["name"])
    assert produced == list(range(len(produced)))      # read once, in order
    assert len(produced) <= 5000 and produced[0] == 0 and produced.count(0) == 1
    assert CopyItem.objects.count() == 0


def test_copy_to_round_trip(pg, tmp_path):
    from dorm.contrib.bulk_copy import bulk_copy_from, copy_to

    src = [(f"n{i}", i, {"i": i}) for i in range(50)]
    bulk_copy_from(CopyItem, src, columns=["name", "qty", "data"])
    rows = list(copy_to("SELECT name, qty FROM pg_copy_copyitem WHERE qty < %s ORDER BY qty",
                        [3]))
    assert rows == [("n0", "0"), ("n1", "1"), ("n2", "2")]          # text: strings
    # to a CSV file and back into an empty table
    path = tmp_path / "out.csv"
    assert copy_to(CopyItem.objects.filter(qty__lt=10), path, columns=["name", "qty"]) == 10
    lines = path.read_text().splitlines()
    assert lines[0] == "name,qty" and len(lines) == 11
    buf = io.StringIO()
    assert copy_to(CopyItem, dest=buf, columns=["name"], format="text") == 50
    CopyItem.objects.all().delete()
    import csv

    with path.open() as fh:
        reader = csv.DictReader(fh)
        assert bulk_copy_from(CopyItem, reader) == 10
    assert CopyItem.objects.count() == 10
    bin_buf = io.BytesIO()
    assert copy_to(CopyItem, bin_buf, format="binary") == 10
    assert bin_buf.getvalue().startswith(b"PGCOPY\n")


def test_copy_to_inside_atomic(pg):
    from dorm.contrib.bulk_copy import copy_to

    with atomic():
        CopyItem.objects.create(name="tx")
        with pytest.raises(RuntimeError, match="inside atomic"):
            list(copy_to("SELECT 1"))
        buf = io.BytesIO()
        assert copy_to(CopyItem, buf, columns=["name"]) == 1     # sees the transaction
    assert connections["default"].connection is None     # nothing left pinned


def test_copy_to_stream_closed_early_returns_connection(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from, copy_to

    bulk_copy_from(CopyItem, ((f"n{i}",) for i in range(5000)), columns=["name"])
    gen = copy_to("SELECT name FROM pg_copy_copyitem")
    assert next(gen) == ("n0",)
    gen.close()
    assert CopyItem.objects.count() == 5000


async def test_acopy_to(pg):
    from dorm.contrib.bulk_copy import abulk_copy_from, acopy_to

    await abulk_copy_from(CopyItem, [("a", 1), ("b", 2)], columns=["name", "qty"])
    rows = [r async for r in await acopy_to("SELECT name, qty FROM pg_copy_copyitem ORDER BY 1",
                                            binary=True)]
    assert rows == [("a", 1), ("b", 2)]
    buf = io.BytesIO()
    assert await acopy_to(CopyItem, buf, columns=["name"]) == 2
    assert buf.getvalue().decode().splitlines() == ["name", "a", "b"]


def test_not_implemented_on_sqlite(tmp_path):
    from dorm.contrib.bulk_copy import bulk_copy_from, copy_to

    db = {"ENGINE": "sqlite", "NAME": str(tmp_path / "x.db")}
    with dorm.settings.override(DATABASES={"default": db}):
        try:
            dorm.create_tables([CopyItem])
            with pytest.raises(NotImplementedError, match="PostgreSQL"):
                bulk_copy_from(CopyItem, [("a",)], columns=["name"])
            with pytest.raises(NotImplementedError):
                list(copy_to("SELECT 1"))
        finally:
            connections.close_all()


# ---- dorm import ---------------------------------------------------------------------------
def _run(args):
    from click.testing import CliRunner
    from dorm.cli import make_group

    return CliRunner().invoke(make_group(), args, catch_exceptions=False)


def test_import_csv_and_jsonl(pg, tmp_path):
    csv_path = tmp_path / "items.csv"
    csv_path.write_text("name,qty,price,data\n" + "".join(
        f'n{i},{i},{i}.50,"{{""k"": {i}}}"\n' for i in range(30)) + "empty,,,\n")
    res = _run(["import", str(csv_path), "pg_copy.CopyItem", "--batch-size", "7"])
    assert res.exit_code == 0, res.output
    assert "imported 31 row(s) into pg_copy.CopyItem" in res.output
    obj = CopyItem.objects.get(name="n3")
    assert (obj.qty, obj.price, obj.data) == (3, decimal.Decimal("3.50"), {"k": 3})
    assert CopyItem.objects.get(name="empty").price is None
    jl = tmp_path / "more.jsonl"
    jl.write_text("\n".join(json.dumps({"name": f"j{i}", "qty": i, "data": [i]})
                            for i in range(5)) + "\n")
    res = _run(["import", str(jl), "CopyItem", "--database", "default"])
    assert res.exit_code == 0, res.output
    assert CopyItem.objects.get(name="j4").data == [4]
    assert CopyItem.objects.count() == 36


def test_import_into_table_and_progress_bar(pg, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("name,qty\n" + "".join(f"t{i},{i}\n" for i in range(20)))
    res = _run(["import", str(path), "pg_copy_copyitem", "--batch-size", "5", "--progress"])
    assert res.exit_code == 0, res.output
    assert "importing into pg_copy_copyitem" in res.output
    assert CopyItem.objects.count() == 20


def test_import_errors_are_clear(pg, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,qty\n" + "".join(f"b{i},{i}\n" for i in range(12)) + "oops,xx\n")
    res = _run(["import", str(path), "pg_copy.CopyItem", "--batch-size", "5"])
    assert res.exit_code == 1
    assert "row 13" in res.output and "10 row(s) were imported" in res.output
    assert CopyItem.objects.count() == 10
    res = _run(["import", str(path), "pg_copy.Nope"])
    assert res.exit_code == 1 and "no table 'pg_copy.Nope'" in res.output
    bad_col = tmp_path / "col.csv"
    bad_col.write_text("name,wrong\na,1\n")
    res = _run(["import", str(bad_col), "pg_copy.CopyItem"])
    assert res.exit_code == 1 and "no field 'wrong'" in res.output
    jl = tmp_path / "bad.jsonl"
    jl.write_text('{"name": "ok"}\n{not json\n')
    res = _run(["import", str(jl), "pg_copy.CopyItem"])
    assert res.exit_code == 1 and "line 2: invalid JSON" in res.output
    res = _run(["import", str(tmp_path / "missing.csv"), "pg_copy.CopyItem"])
    assert res.exit_code == 2


def test_error_from_the_input_propagates_unchanged(pg):
    from dorm.contrib.bulk_copy import bulk_copy_from

    def gen():
        yield ("a",)
        yield ("b",)
        raise KeyError("source broke")

    with pytest.raises(KeyError, match="source broke"):
        bulk_copy_from(CopyItem, gen(), columns=["name"])
    assert CopyItem.objects.count() == 0


def test_datetimes_follow_use_tz(pg):
    """Naive datetimes pass as is without USE_TZ; with USE_TZ the field converts aware
    values to UTC (no fast path then)."""
    from dorm.contrib.bulk_copy import bulk_copy_from

    naive = datetime.datetime(2024, 5, 6, 7, 8, 9)
    bulk_copy_from(CopyItem, [("n", naive, datetime.datetime(2024, 5, 6).date())],
                   columns=["name", "at", "day"])
    assert connections["default"].execute(
        "SELECT at, day FROM pg_copy_copyitem WHERE name = 'n'") == [(naive, naive.date())]
    aware = datetime.datetime(2024, 5, 6, 10, 0, tzinfo=datetime.timezone(
        datetime.timedelta(hours=2)))
    with dorm.settings.override(USE_TZ=True):
        bulk_copy_from(CopyItem, [("a", aware)], columns=["name", "at"])
    got = connections["default"].execute("SELECT at FROM pg_copy_copyitem WHERE name = 'a'")
    assert got == [(datetime.datetime(2024, 5, 6, 8, 0),)]      # stored as UTC wall time
