"""The DuckDB backend: configuration, file and in-memory databases, statements,
errors, streaming, async, concurrency limits."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading

import dorm
import duckdb
import pytest
from dorm import plugins
from dorm.db import connections
from dorm.exceptions import (
    DatabaseError,
    ImproperlyConfigured,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    TransactionManagementError,
)
from dorm_duckdb.backend import DuckDBBackend
from dorm_duckdb.client import DuckDBClient
from dorm_duckdb.plugin import test_settings as plugin_test_settings

from .models import Item, Unique


# ---- registration and configuration -------------------------------------------------------
def test_engine_resolves_to_the_backend():
    assert plugins.resolve_backend("duckdb") is DuckDBBackend


def test_plugin_test_settings_is_a_fresh_file_each_call():
    a, b = plugin_test_settings(), plugin_test_settings()
    assert a["ENGINE"] == "duckdb" and a["NAME"].endswith(".duckdb") and a["NAME"] != b["NAME"]


def test_default_name_is_memory(configure_duckdb):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "duckdb"}}):
        conn = connections["default"]
        assert conn.settings_dict["NAME"] == ":memory:" and conn.shared.memory
        assert conn.execute("SELECT 1") == [(1,)]


@pytest.mark.parametrize("options, match", [
    ({"threads": 2}, "unknown DuckDB option.*threads"),
    ({"read_only": "yes"}, "read_only"),
    ({"config": "threads=2"}, "config"),
    ({"init_command": 3}, "init_command"),
])
def test_bad_options_are_rejected(configure_duckdb, tmp_path, options, match):
    with configure_duckdb(str(tmp_path / "x.duckdb"), **options):
        with pytest.raises(ImproperlyConfigured, match=match):
            connections["default"]


def test_read_only_memory_is_rejected(configure_duckdb):
    with configure_duckdb(":memory:", read_only=True):
        with pytest.raises(ImproperlyConfigured, match="read_only needs a database file"):
            connections["default"]


def test_config_and_init_command_are_applied(configure_duckdb, tmp_path):
    with configure_duckdb(str(tmp_path / "x.duckdb"), config={"threads": 2},
                          init_command="SET VARIABLE dorm_probe = 42"):
        conn = connections["default"]
        assert conn.execute("SELECT current_setting('threads')") == [(2,)]
        assert conn.execute("SELECT getvariable('dorm_probe')") == [(42,)]


def test_read_only_file(configure_duckdb, tmp_path):
    path = str(tmp_path / "ro.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE t (x INTEGER)")
    con.execute("INSERT INTO t VALUES (1)")
    con.close()
    with configure_duckdb(path, read_only=True):
        conn = connections["default"]
        assert conn.execute("SELECT x FROM t") == [(1,)]
        with pytest.raises(DatabaseError, match="read-only"):
            conn.execute_write("INSERT INTO t VALUES (2)")
    connections.close_all()


# ---- file and in-memory databases -----------------------------------------------------------
def test_placeholders_and_rowcounts(conn):
    conn.execute_write("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR)")
    assert conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), (2, "b"), (3, "c")]) == 3
    assert conn.execute("SELECT name FROM t WHERE id > ? ORDER BY id", [1]) == [("b",), ("c",)]
    assert conn.execute("SELECT $2 || $1", ["x", "y"]) == [("yx",)]
    assert conn.execute_write("UPDATE t SET name = ? WHERE id >= ?", ["z", 2]) == 2
    assert conn.execute_write("DELETE FROM t WHERE id = ?", [99]) == 0
    names, rows = conn.execute_with_description("SELECT id, name AS label FROM t ORDER BY id")
    assert names == ["id", "label"] and rows[0] == (1, "a")
    assert conn.execute_insert("INSERT INTO t VALUES (?, ?) RETURNING id", [9, "n"], returning=True) == [(9,)]


def test_memory_database_is_shared_by_threads_and_async(mem_conn):
    mem_conn.execute_write("CREATE TABLE t (x INTEGER)")
    mem_conn.execute_write("INSERT INTO t VALUES (1)")
    seen = []

    def worker():
        c = connections["default"]
        assert c is not mem_conn
        c.execute_write("INSERT INTO t VALUES (2)")
        seen.append(c.execute("SELECT count(*) FROM t")[0][0])

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [2]

    async def main():
        ac = await connections.aget()
        await ac.aexecute_write("INSERT INTO t VALUES (3)")
        return await ac.aexecute("SELECT sum(x) FROM t")

    assert asyncio.run(main()) == [(6,)]
    assert mem_conn.execute("SELECT sum(x) FROM t") == [(6,)]


def test_two_memory_aliases_are_separate_databases():
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "duckdb"},
                                           "other": {"ENGINE": "duckdb", "NAME": ":memory:"}}):
        connections["default"].execute_write("CREATE TABLE only_here (x INTEGER)")
        assert connections["default"].table_exists("only_here")
        assert not connections["other"].table_exists("only_here")
    connections.close_all()


def test_file_database_persists_across_configurations(configure_duckdb, tmp_path):
    path = str(tmp_path / "keep.duckdb")
    with configure_duckdb(path):
        connections["default"].execute_write("CREATE TABLE t (x INTEGER)")
        connections["default"].execute_write("INSERT INTO t VALUES (7)")
    connections.close_all()
    with configure_duckdb(path):
        assert connections["default"].execute("SELECT x FROM t") == [(7,)]
    connections.close_all()


def test_second_writer_process_gets_a_clear_error(configure_duckdb, tmp_path):
    """DuckDB lets one process open a file for writing: another one is refused."""
    path = str(tmp_path / "locked.duckdb")
    with configure_duckdb(path):
        connections["default"].execute_write("CREATE TABLE t (x INTEGER)")
        script = textwrap.dedent(f"""
            import dorm
            from dorm.db import connections
            from dorm.exceptions import OperationalError
            dorm.configure(DATABASES={{"default": {{"ENGINE": "duckdb", "NAME": {path!r}}}}})
            try:
                connections["default"].execute("SELECT 1")
            except OperationalError as exc:
                print("REFUSED", exc)
            else:
                print("OPENED")
        """)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert "REFUSED" in out.stdout, out.stdout + out.stderr
        assert "one writing process per file" in out.stdout
    connections.close_all()


# ---- errors ------------------------------------------------------------------------------------
def test_errors_are_mapped(conn):
    conn.execute_write("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL CHECK (v > 0))")
    conn.execute_write("INSERT INTO t VALUES (1, 1)")
    with pytest.raises(IntegrityError) as err:
        conn.execute_write("INSERT INTO t VALUES (1, 2)")
    assert isinstance(err.value.__cause__, duckdb.ConstraintException)
    with pytest.raises(IntegrityError):
        conn.execute_write("INSERT INTO t VALUES (2, NULL)")
    with pytest.raises(IntegrityError):
        conn.execute_write("INSERT INTO t VALUES (3, -1)")
    with pytest.raises(ProgrammingError, match="dorm migrate"):
        conn.execute("SELECT * FROM missing_table")
    with pytest.raises(ProgrammingError):
        conn.execute("SELEKT 1")


def test_statement_after_failure_in_transaction(conn):
    """DuckDB aborts a transaction at its first error: later statements of the block
    raise TransactionManagementError (with a hint), and the block rolls back."""
    conn.execute_write("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    with pytest.raises(TransactionManagementError, match="no savepoints"):
        with dorm.transaction.atomic():
            conn.execute_write("INSERT INTO t VALUES (1)")
            with pytest.raises(IntegrityError):
                conn.execute_write("INSERT INTO t VALUES (1)")
            conn.execute("SELECT 1")
    assert conn.execute("SELECT count(*) FROM t") == [(0,)]
    assert not conn.in_transaction


# ---- streaming -----------------------------------------------------------------------------------
def test_iterate_streams_in_chunks(conn):
    it = conn.iterate("SELECT range FROM range(10000000)", chunk_size=100)
    first = [next(it) for _ in range(5)]
    assert first == [(0,), (1,), (2,), (3,), (4,)]
    it.close()
    assert conn._stream is None


def test_iterate_survives_interleaved_statements(conn):
    conn.execute_write("CREATE TABLE t (x INTEGER)")
    conn.execute_write("INSERT INTO t SELECT range FROM range(1000)")
    seen = []
    for i, (x,) in enumerate(conn.iterate("SELECT x FROM t ORDER BY x", chunk_size=7)):
        seen.append(x)
        if i % 100 == 0:
            # the same connection runs another statement: the stream is buffered first
            assert conn.execute("SELECT count(*) FROM t") == [(1000,)]
    assert seen == list(range(1000))


def test_iterate_sees_the_transactions_own_writes(conn):
    conn.execute_write("CREATE TABLE t (x INTEGER)")
    with dorm.transaction.atomic():
        conn.execute_write("INSERT INTO t SELECT range FROM range(50)")
        assert sum(x for (x,) in conn.iterate("SELECT x FROM t", chunk_size=3)) == sum(range(50))


def test_queryset_iterator_small_chunks(tables):
    tables(Item)
    Item.objects.bulk_create([Item(name=f"n{i}", qty=i) for i in range(333)])
    got = [i.qty for i in Item.objects.order_by("qty").iterator(chunk_size=10)]
    assert got == list(range(333))
    # a query inside the loop on the same thread/connection
    total = 0
    for obj in Item.objects.order_by("qty").iterator(chunk_size=16):
        if obj.qty % 111 == 0:
            total += Item.objects.filter(qty__lte=obj.qty).count()
    assert total == 1 + 112 + 223


async def test_async_iterator_small_chunks(tables):
    tables(Item)
    await Item.objects.abulk_create([Item(name=f"n{i}", qty=i) for i in range(120)])
    got = [i.qty async for i in Item.objects.order_by("qty").aiterator(chunk_size=7)]
    assert got == list(range(120))


# ---- async --------------------------------------------------------------------------------------
async def test_async_crud_and_aatomic(tables):
    tables(Unique)
    u = await Unique.objects.acreate(code="a")
    assert u.pk is not None
    assert await Unique.objects.filter(code="a").acount() == 1
    with pytest.raises(TransactionManagementError, match="without a savepoint"):
        async with dorm.transaction.aatomic():
            await Unique.objects.acreate(code="b")
            with pytest.raises(IntegrityError):
                async with dorm.transaction.aatomic():
                    await Unique.objects.acreate(code="a")
    # the duplicate inside the nested (savepoint-less) block took the whole block down
    assert [x async for x in Unique.objects.values_list("code", flat=True)] == ["a"]
    await Unique.objects.filter(code="a").aupdate(n=5)
    assert (await Unique.objects.aget(code="a")).n == 5
    await connections.aclose_all()


# ---- concurrency ---------------------------------------------------------------------------------
def test_concurrent_update_conflict_is_operational_error(file_conn, tables):
    tables(Unique)
    Unique.objects.create(code="x")
    ready, go = threading.Event(), threading.Event()
    errors = []

    def other():
        try:
            with dorm.transaction.atomic():
                Unique.objects.filter(code="x").update(n=1)
                ready.set()
                go.wait(10)
        except Exception as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    ready.wait(10)
    with pytest.raises(OperationalError, match="[Cc]onflict") as err, dorm.transaction.atomic():
        Unique.objects.filter(code="x").update(n=2)
    go.set()
    t.join()
    assert not errors
    assert "optimistic concurrency" in str(err.value)
    assert Unique.objects.get(code="x").n == 1


def test_commit_time_unique_violation_is_integrity_error(file_conn, tables):
    """Two transactions insert the same key: DuckDB detects it at the second COMMIT."""
    tables(Unique)
    ready, go = threading.Event(), threading.Event()

    def other():
        with dorm.transaction.atomic():
            Unique.objects.create(code="race")
            ready.set()
            go.wait(10)

    t = threading.Thread(target=other)
    t.start()
    ready.wait(10)
    try:
        with pytest.raises(IntegrityError), dorm.transaction.atomic():
            Unique.objects.create(code="race")
            go.set()
            t.join()
    finally:
        go.set()
        t.join()
    assert Unique.objects.filter(code="race").count() == 1
    assert not file_conn.in_transaction


# ---- misc --------------------------------------------------------------------------------------------
def test_health_check(conn):
    assert conn.health_check() == {}
    assert conn.health_check(deep=True)["tables"] == 0


def test_dbshell_arguments(tmp_path):
    args, env = DuckDBClient.settings_to_cmd_args_env(
        {"NAME": str(tmp_path / "x.duckdb"), "OPTIONS": {"read_only": True}}, ["-c", "SELECT 1"])
    assert args == ["duckdb", "-readonly", str(tmp_path / "x.duckdb"), "-c", "SELECT 1"] and env is None
    with pytest.raises(ImproperlyConfigured, match="in-memory"):
        DuckDBClient.settings_to_cmd_args_env({"NAME": ":memory:"}, [])
