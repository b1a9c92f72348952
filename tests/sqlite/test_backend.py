"""The SQLite backend: configuration, in-memory sharing, SQL functions, dialect, types."""
from __future__ import annotations

import asyncio
import datetime
import decimal
import sqlite3
import threading
import uuid

import dorm
import pytest
from dorm import plugins
from dorm.db import connections
from dorm.exceptions import DataError, ImproperlyConfigured
from dorm_sqlite import functions
from dorm_sqlite.backend import SQLiteBackend, memdb_supported
from dorm_sqlite.plugin import test_settings as plugin_test_settings
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st


# ---- registration and configuration -------------------------------------------------------
def test_engine_names_resolve_to_the_backend():
    for engine in ("sqlite", "sqlite3", "SQLite", "django.db.backends.sqlite3"):
        assert plugins.resolve_backend(engine) is SQLiteBackend


def test_plugin_test_settings_is_a_fresh_file():
    a, b = plugin_test_settings(), plugin_test_settings()
    assert a["ENGINE"] == "sqlite" and a["NAME"].endswith("test.db") and a["NAME"] != b["NAME"]


def test_journal_mode_is_validated(configure_sqlite, tmp_path):
    with configure_sqlite(str(tmp_path / "x.db"), journal_mode="fast"):
        with pytest.raises(ImproperlyConfigured, match="journal_mode.*DELETE, TRUNCATE, PERSIST, MEMORY, WAL, OFF"):
            connections["default"]


def test_unknown_option_is_rejected(configure_sqlite, tmp_path):
    with configure_sqlite(str(tmp_path / "x.db"), jurnal_mode="WAL"):
        with pytest.raises(ImproperlyConfigured, match="unknown SQLite option.*jurnal_mode"):
            connections["default"]


def test_bad_timeout_is_rejected(configure_sqlite, tmp_path):
    with configure_sqlite(str(tmp_path / "x.db"), timeout="soon"):
        with pytest.raises(ImproperlyConfigured, match="timeout"):
            connections["default"]


def test_journal_mode_wal_and_synchronous_applied(configure_sqlite, tmp_path):
    with configure_sqlite(str(tmp_path / "x.db"), journal_mode="wal", synchronous="normal"):
        conn = connections["default"]
        assert conn.execute("PRAGMA journal_mode") == [("wal",)]
        assert conn.execute("PRAGMA synchronous") == [(1,)]


def test_connection_defaults(file_conn):
    raw = file_conn.ensure_connection()
    assert raw.isolation_level is None
    assert file_conn.execute("PRAGMA foreign_keys") == [(1,)]
    assert file_conn.features.max_query_params == raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


def test_foreign_keys_can_be_switched_off(configure_sqlite, tmp_path):
    with configure_sqlite(str(tmp_path / "x.db"), foreign_keys=False):
        assert connections["default"].execute("PRAGMA foreign_keys") == [(0,)]


def test_transaction_mode_and_init_command(configure_sqlite, tmp_path):
    with configure_sqlite(str(tmp_path / "x.db"), transaction_mode="immediate",
                          init_command="PRAGMA cache_size = -4000; PRAGMA temp_store = MEMORY"):
        conn = connections["default"]
        assert conn.ops.begin_transaction_sql() == "BEGIN IMMEDIATE"
        assert conn.execute("PRAGMA cache_size") == [(-4000,)]
        with dorm.transaction.atomic():
            conn.execute("SELECT 1")


def test_features_follow_the_library_version(file_conn):
    f = file_conn.features
    assert f.supports_returning == (sqlite3.sqlite_version_info >= (3, 35))
    assert f.supports_transactional_ddl and f.supports_savepoints and f.supports_regex
    assert not f.supports_select_for_update and not f.has_native_decimal


# ---- :memory: --------------------------------------------------------------------------------
def test_memory_database_is_shared_by_threads(mem_conn):
    mem_conn.execute_write("CREATE TABLE t (x)")
    mem_conn.execute_write("INSERT INTO t VALUES (1)")
    out = []
    thread = threading.Thread(target=lambda: out.append(connections["default"].execute("SELECT x FROM t")))
    thread.start()
    thread.join()
    assert out == [[(1,)]]
    assert mem_conn.shared.database.startswith("file:")
    if memdb_supported():
        assert "vfs=memdb" in mem_conn.shared.database


async def test_memory_database_is_shared_with_async(mem_conn):
    mem_conn.execute_write("CREATE TABLE t (x)")
    conn = await connections.aget()
    await conn.aexecute_write("INSERT INTO t VALUES (?)", [2])
    assert mem_conn.execute("SELECT x FROM t") == [(2,)]
    await connections.aclose_all()


def test_memory_database_survives_close_all_but_not_reset(configure_sqlite):
    with configure_sqlite(":memory:"):
        conn = connections["default"]
        conn.execute_write("CREATE TABLE t (x)")
        connections.close_all()
        assert connections["default"].execute("SELECT count(*) FROM t") == [(0,)]
        connections.reset()
        with pytest.raises(dorm.exceptions.ProgrammingError, match="no such table"):
            connections["default"].execute("SELECT count(*) FROM t")


def test_two_memory_aliases_are_separate():
    dbs = {"default": {"ENGINE": "sqlite"}, "other": {"ENGINE": "sqlite", "NAME": ":memory:"}}
    with dorm.settings.override(DATABASES=dbs):
        connections["default"].execute_write("CREATE TABLE only_default (x)")
        assert connections["other"].execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'only_default'") == [(0,)]


# ---- REGEXP and the Python functions ---------------------------------------------------------------
def test_regexp(conn):
    ops = conn.ops
    sql = f"SELECT {ops.lookup_sql('regex', '?', '?')}"
    assert conn.execute(sql, ["abc123", r"^[a-z]+\d+$"]) == [(1,)]
    assert conn.execute(sql, ["ABC", "^abc$"]) == [(0,)]
    assert conn.execute(sql, [None, "x"]) == [(None,)]
    assert conn.execute(sql, ["x", None]) == [(None,)]
    assert conn.execute(sql, [42, r"^\d+$"]) == [(1,)]
    isql = f"SELECT {ops.lookup_sql('iregex', '?', '?')}"
    assert conn.execute(isql, ["ABC", "^abc$"]) == [(1,)]
    before = functions._compile.cache_info().hits
    for _ in range(3):
        conn.execute(sql, ["abc", "^a"])
    assert functions._compile.cache_info().hits > before


async def test_regexp_on_async_connections(conn):
    aconn = await connections.aget()
    assert await aconn.aexecute("SELECT 'abc' REGEXP 'b'") == [(1,)]
    await connections.aclose_all()


def _matches(conn, lookup, value, pattern):
    ops = conn.ops
    sql = f"SELECT {ops.lookup_sql(lookup, '?', '?')}"
    return bool(conn.execute(sql, [value, ops.prep_like(lookup, pattern)])[0][0])


def test_contains_is_case_sensitive_and_literal(conn):
    assert _matches(conn, "contains", "Hello world", "lo w")
    assert not _matches(conn, "contains", "Hello world", "hello")
    assert _matches(conn, "contains", "xa*b?[c]y", "a*b?[c]")
    assert not _matches(conn, "contains", "xaZZb?[c]y", "a*b?[c]")
    assert _matches(conn, "startswith", "Hello", "He") and not _matches(conn, "startswith", "Hello", "he")
    assert _matches(conn, "endswith", "Hello", "llo") and not _matches(conn, "endswith", "Hello", "LLO")


def test_case_insensitive_lookups_fold_unicode(conn):
    assert _matches(conn, "icontains", "Große ÄPFEL", "äpfel")
    assert _matches(conn, "icontains", "STRASSE", "straße")
    assert _matches(conn, "istartswith", "Élan", "éL")
    assert _matches(conn, "iendswith", "ÇA", "ça")
    assert not _matches(conn, "icontains", "100 percent", "100%")   # % is literal
    assert _matches(conn, "icontains", "100% sure", "100%")
    assert not _matches(conn, "icontains", "a-b", "a_b")            # _ is literal
    sql = f"SELECT {conn.ops.lookup_sql('iexact', '?', '?')}"
    assert conn.execute(sql, ["ÉCOLE", "école"]) == [(1,)]


def test_pattern_lookups_with_expression_rhs(conn):
    ops = conn.ops
    rows = conn.execute(f"SELECT {ops.pattern_lookup_sql('contains', '?', '?')}, "
                        f"{ops.pattern_lookup_sql('icontains', '?', '?')}, "
                        f"{ops.pattern_lookup_sql('startswith', '?', '?')}, "
                        f"{ops.pattern_lookup_sql('iendswith', '?', '?')}",
                        ["a*bc", "*b", "xÄ%y", "ä%", "abc", "ab", "x_Y", "_y"])
    assert rows == [(1, 1, 1, 1)]
    rows = conn.execute(f"SELECT {ops.pattern_lookup_sql('contains', '?', '?')}", ["abc", "*"])
    assert rows == [(0,)]


# ---- dates -----------------------------------------------------------------------------------------
DT = datetime.datetime(2026, 3, 14, 23, 30, 15, 250000)   # a Saturday


@pytest.mark.parametrize("unit,expected", [
    ("year", 2026), ("month", 3), ("day", 14), ("hour", 23), ("minute", 30), ("second", 15),
    ("week_day", 6), ("quarter", 1), ("week", DT.isocalendar()[1]), ("iso_year", 2026),
    ("iso_week_day", 6), ("day_of_year", DT.timetuple().tm_yday),
])
def test_extract(conn, unit, expected):
    sql = conn.ops.extract_sql(unit, "?", "DateTimeField")
    assert conn.execute(f"SELECT {sql}", [conn.ops.adapt_datetime(DT)]) == [(expected,)]


def test_extract_week_day_is_zero_on_sunday(conn):
    sql = conn.ops.extract_sql("week_day", "?", "DateField")
    assert conn.execute(f"SELECT {sql}", ["2026-03-15"]) == [(0,)]


def test_extract_epoch_and_bad_unit(conn):
    sql = conn.ops.extract_sql("epoch", "?", "DateTimeField")
    value = conn.execute(f"SELECT {sql}", ["1970-01-02 00:00:00"])[0][0]
    assert round(value) == 86400
    with pytest.raises(ValueError):
        conn.ops.extract_sql("fortnight", "?", "DateField")


@pytest.mark.parametrize("unit,expected", [
    ("year", "2026-01-01 00:00:00"), ("quarter", "2026-01-01 00:00:00"),
    ("month", "2026-03-01 00:00:00"), ("week", "2026-03-09 00:00:00"),
    ("day", "2026-03-14 00:00:00"), ("hour", "2026-03-14 23:00:00"),
    ("minute", "2026-03-14 23:30:00"), ("second", "2026-03-14 23:30:15"),
])
def test_trunc_datetime(conn, unit, expected):
    sql = conn.ops.trunc_sql(unit, "?", "DateTimeField")
    assert conn.execute(f"SELECT {sql}", [conn.ops.adapt_datetime(DT)]) == [(expected,)]


def test_trunc_date_and_time(conn):
    ops = conn.ops
    assert conn.execute(f"SELECT {ops.trunc_sql('week', '?', 'DateField')}", ["2026-03-15"]) == [("2026-03-09",)]
    assert conn.execute(f"SELECT {ops.trunc_sql('quarter', '?', 'DateField')}", ["2026-08-15"]) == [("2026-07-01",)]
    assert conn.execute(f"SELECT {ops.trunc_sql('minute', '?', 'TimeField')}", ["10:11:12.5"]) == [("10:11:00",)]
    with pytest.raises(ValueError):
        ops.trunc_sql("hour", "?", "DateField")


def test_date_and_time_casts(conn):
    ops = conn.ops
    value = ops.adapt_datetime(DT)
    assert conn.execute(f"SELECT {ops.date_cast_sql('?')}", [value]) == [("2026-03-14",)]
    assert conn.execute(f"SELECT {ops.time_cast_sql('?')}", [value]) == [("23:30:15.250000",)]


def test_time_zone_aware_date_functions(conn):
    with dorm.settings.override(USE_TZ=True, TIME_ZONE="Europe/Paris"):
        ops = conn.ops
        utc = ops.adapt_datetime(DT.replace(tzinfo=datetime.UTC))
        assert utc == "2026-03-14 23:30:15.250000"
        # 23:30 UTC is already Sunday 00:30 in Paris
        assert conn.execute(f"SELECT {ops.date_cast_sql('?')}", [utc]) == [("2026-03-15",)]
        assert conn.execute(f"SELECT {ops.extract_sql('week_day', '?', 'DateTimeField')}", [utc]) == [(0,)]
        # truncating to the local day gives local midnight, stored back as UTC
        assert conn.execute(f"SELECT {ops.trunc_sql('day', '?', 'DateTimeField')}", [utc]) == \
            [("2026-03-14 23:00:00",)]
        conv = ops.get_db_converter("DateTimeField")
        assert conv("2026-03-14 23:00:00") == datetime.datetime(2026, 3, 14, 23, 0, tzinfo=datetime.UTC)


def test_datetime_adaptation_rules(conn):
    ops = conn.ops
    assert ops.adapt_datetime(datetime.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02 03:04:05"
    with pytest.raises(ValueError, match="USE_TZ"):
        ops.adapt_datetime(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    assert ops.adapt_date(datetime.date(2026, 1, 2)) == "2026-01-02"
    assert ops.adapt_time(datetime.time(1, 2, 3, 4)) == "01:02:03.000004"
    with pytest.raises(ValueError):
        ops.adapt_time(datetime.time(1, tzinfo=datetime.UTC))


def test_converters(conn):
    ops = conn.ops
    assert ops.get_db_converter("BooleanField")(1) is True
    assert ops.get_db_converter("BooleanField")(None) is None
    u = uuid.uuid4()
    assert ops.get_db_converter("UUIDField")(str(u)) == u
    assert ops.get_db_converter("DurationField")(90_000_000) == datetime.timedelta(seconds=90)
    assert ops.adapt_duration(datetime.timedelta(seconds=90)) == 90_000_000
    assert ops.get_db_converter("DateField")("2026-01-02") == datetime.date(2026, 1, 2)
    assert ops.get_db_converter("TimeField")("01:02:03.5") == datetime.time(1, 2, 3, 500000)
    assert ops.get_db_converter("DateTimeField")("2026-01-02 03:04:05.000006") == \
        datetime.datetime(2026, 1, 2, 3, 4, 5, 6)
    assert ops.get_db_converter("TextField") is None


# ---- decimals ------------------------------------------------------------------------------------------
class _DecimalField:
    def __init__(self, decimal_places):
        self.decimal_places = decimal_places


def test_decimal_round_trip_exact(conn):
    conn.execute_write("CREATE TABLE money (d decimal(15, 2))")
    values = ["1.20", "0.10", "-0.01", "9999999999999.99", "0.00", "123456789012.34"]
    conn.executemany("INSERT INTO money VALUES (?)",
                     [[conn.ops.adapt_decimal(decimal.Decimal(v), 15, 2)] for v in values])
    conv = conn.ops.get_db_converter("DecimalField", field=_DecimalField(2))
    got = [conv(r[0]) for r in conn.execute("SELECT d FROM money ORDER BY rowid")]
    assert got == [decimal.Decimal(v) for v in values]
    assert [str(g) for g in got] == values                       # exponent kept
    # numeric ordering and comparisons with bound parameters
    rows = conn.execute("SELECT d FROM money WHERE d > ? ORDER BY d",
                        [conn.ops.adapt_decimal(decimal.Decimal("1.00"), 15, 2)])
    assert [str(conv(r[0])) for r in rows] == ["1.20", "123456789012.34", "9999999999999.99"]


@hsettings(max_examples=200, deadline=None)
@given(st.decimals(min_value=-10**12, max_value=10**12, places=3, allow_nan=False, allow_infinity=False))
def test_decimal_round_trip_property(value):
    backend = _shared_backend()
    stored = backend.execute("SELECT CAST(? AS decimal(15, 3))",
                             [backend.ops.adapt_decimal(value, 15, 3)])[0][0]
    conv = backend.ops.get_db_converter("DecimalField", field=_DecimalField(3))
    assert conv(stored) == value


_backend_holder = {}


def _shared_backend():
    if "b" not in _backend_holder:
        cfg = SQLiteBackend.normalize_settings({"ENGINE": "sqlite", "NAME": ":memory:"}, "hypothesis")
        _backend_holder["b"] = SQLiteBackend(cfg, "hypothesis")
    return _backend_holder["b"]


def test_decimal_too_precise_is_refused(conn):
    with pytest.raises(DataError, match="15"):
        conn.ops.adapt_decimal(decimal.Decimal("12345678901234.567"), 20, 3)
    # integral values are exact up to 64-bit integers
    assert conn.ops.adapt_decimal(decimal.Decimal("123456789012345678.00"), 20, 2) == 123456789012345678
    with pytest.raises(DataError):
        conn.ops.adapt_decimal(decimal.Decimal("NaN"), 5, 2)


def test_decimal_sum_and_avg_are_exact(conn):
    conn.execute_write("CREATE TABLE money (d decimal(10, 2))")
    conn.executemany("INSERT INTO money VALUES (?)",
                     [[conn.ops.adapt_decimal(decimal.Decimal("0.10"), 10, 2)]] * 30 +
                     [[conn.ops.adapt_decimal(decimal.Decimal("0.20"), 10, 2)]] * 3)
    plain = conn.execute("SELECT SUM(d) FROM money")[0][0]
    assert decimal.Decimal(repr(plain)) != decimal.Decimal("3.60")     # binary float drift
    sql = conn.ops.aggregate_sql("SUM", "d", "DecimalField")
    exact = conn.ops.get_db_converter("DecimalSum")(conn.execute(f"SELECT {sql} FROM money")[0][0])
    assert exact == decimal.Decimal("3.60")
    avg_sql = conn.ops.aggregate_sql("AVG", "DISTINCT d", "DecimalField")
    assert conn.ops.get_db_converter("DecimalSum")(conn.execute(f"SELECT {avg_sql} FROM money")[0][0]) == \
        decimal.Decimal("0.15")
    assert conn.execute(f"SELECT {sql} FROM money WHERE 0")[0][0] is None
    assert conn.ops.aggregate_sql("SUM", "d", "IntegerField") == "SUM(d)"


# ---- JSON ------------------------------------------------------------------------------------------------
def test_json_paths(conn):
    ops = conn.ops
    doc = '{"a": {"b": [1, "x"]}, "with.dot key": true, "n": null}'
    sql, params = ops.json_key_text_sql("?", ["a", "b", 1])
    assert conn.execute(f"SELECT {sql}", [doc, *params]) == [("x",)]
    sql, params = ops.json_key_sql("?", ["a", "b"])
    assert conn.execute(f"SELECT {sql}", [doc, *params]) == [('[1,"x"]',)]
    sql, params = ops.json_key_text_sql("?", ["with.dot key"])
    assert conn.execute(f"SELECT {sql}", [doc, *params]) == [(1,)]
    with pytest.raises(ValueError):
        ops.json_key_text_sql("?", ['q"k'])
    has, params = ops.json_has_key_sql("?", "n")
    assert conn.execute(f"SELECT {has}", [doc, *params]) == [(1,)]
    has, params = ops.json_has_key_sql("?", "missing")
    assert conn.execute(f"SELECT {has}", [doc, *params]) == [(0,)]


# ---- statements -------------------------------------------------------------------------------------------
def test_upsert_and_returning(conn):
    conn.execute_write("CREATE TABLE kv (k text PRIMARY KEY, v integer)")
    ops = conn.ops
    suffix = ops.on_conflict_suffix_sql("update", ['"v"'], ['"k"'])
    conn.execute_write(f'INSERT INTO kv (k, v) VALUES (?, ?) {suffix}', ["a", 1])
    conn.execute_write(f'INSERT INTO kv (k, v) VALUES (?, ?) {suffix}', ["a", 2])
    ignore = ops.on_conflict_suffix_sql("ignore", [], [])
    conn.execute_write(f"INSERT INTO kv (k, v) VALUES (?, ?) {ignore}", ["a", 3])
    assert conn.execute("SELECT k, v FROM kv") == [("a", 2)]
    if conn.features.supports_returning:
        rows = conn.execute_insert("INSERT INTO kv (k, v) VALUES (?, ?) RETURNING k, v", ["b", 5], returning=True)
        assert rows == [("b", 5)]


def test_script_with_trigger(conn):
    conn.execute_script("""
        CREATE TABLE t (x integer, doubled integer);
        CREATE TRIGGER t_double AFTER INSERT ON t BEGIN
            UPDATE t SET doubled = NEW.x * 2 WHERE rowid = NEW.rowid;
        END;
        INSERT INTO t (x) VALUES (21); -- comment; with a semicolon
        INSERT INTO t (x) VALUES (';');
    """)
    assert conn.execute("SELECT x, doubled FROM t ORDER BY rowid") == [(21, 42), (";", 0)]


def test_iterate_streams_in_chunks(conn):
    conn.execute_write("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(25)])
    it = conn.iterate("SELECT x FROM t ORDER BY x", chunk_size=10)
    assert next(it) == (0,)
    assert [r[0] for r in it] == list(range(1, 25))


def test_quote_value_literals(conn):
    q = conn.ops.quote_value
    assert q("it's") == "'it''s'"
    assert q(None) == "NULL" and q(True) == "1" and q(3) == "3"
    assert q(decimal.Decimal("1E+2")) == "100" and q(b"\x00\xff") == "X'00ff'"
    assert q(datetime.date(2026, 1, 2)) == "'2026-01-02'"
    with pytest.raises(ValueError):
        q("nul\x00byte")
    with pytest.raises(TypeError):
        q(object())
    assert conn.execute(f"SELECT {q('a;b--c')}, {q(1.5)}") == [("a;b--c", 1.5)]


def test_compose_sql_skips_quoted_placeholders(conn):
    ops = conn.ops
    assert ops.compose_sql("x = ? AND y = '?' AND \"?\" = ?", ["a", 2]) == "x = 'a' AND y = '?' AND \"?\" = 2"
    with pytest.raises(ValueError):
        ops.compose_sql("x = ?", [])
    with pytest.raises(ValueError):
        ops.compose_sql("x = 1", [1])


def test_in_memory_database_health(mem_conn):
    from dorm.db.connection import health_check

    assert health_check(deep=True)["status"] == "ok"


async def test_async_iterate_and_close(conn):
    conn.execute_write("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(7)])
    aconn = await connections.aget()
    got = [r async for r in aconn.aiterate("SELECT x FROM t ORDER BY x", chunk_size=3)]
    assert got == [(i,) for i in range(7)]
    await aconn.aclose()
    assert aconn.aconnection is None
    assert await aconn.aexecute("SELECT count(*) FROM t") == [(7,)]   # reopened lazily
    await connections.aclose_all()


async def test_async_connection_threads_are_daemons(conn):
    aconn = await connections.aget()
    await aconn.aexecute("SELECT 1")
    worker = getattr(aconn.aconnection, "_thread", None)
    if worker is not None:
        assert worker.daemon
    await connections.aclose_all()
    await asyncio.sleep(0)


def test_shared_cache_fallback_without_memdb(monkeypatch):
    """Builds without the memdb VFS get a shared-cache in-memory database."""
    import dorm_sqlite.backend as backend_module

    monkeypatch.setattr(backend_module, "_memdb_supported", False)
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite"}}):
        conn = connections["default"]
        assert "mode=memory&cache=shared" in conn.shared.database
        conn.execute_write("CREATE TABLE t (x)")
        conn.execute_write("INSERT INTO t VALUES (1)")
        out = []
        thread = threading.Thread(target=lambda: out.append(connections["default"].execute("SELECT x FROM t")))
        thread.start()
        thread.join()
        assert out == [[(1,)]]
