"""dorm.budget on every backend: row ceilings (compiled LIMIT max_rows+1, every
materialising path, sync and async), statement time limits (cancelled statements raise
BudgetExceeded, the block's writes roll back), nesting (strictest wins, the outer limits
come back) and no effect outside the block."""
import asyncio
import logging
import threading

import pytest

import dorm
from dorm import signals
from dorm.budget import BudgetState, abudget, budget, check_rowcount, current
from dorm.db import connections
from dorm.exceptions import BudgetExceeded, DatabaseError, NotSupportedError


class Item(dorm.Model):
    name = dorm.CharField(max_length=20)
    n = dorm.IntegerField(default=0)

    class Meta:
        app_label = "kernel_budget"
        ordering = ["n"]


class Note(dorm.Model):
    item = dorm.ForeignKey(Item, on_delete=dorm.CASCADE, related_name="notes")
    text = dorm.CharField(max_length=20)

    class Meta:
        app_label = "kernel_budget"


MODELS = [Item, Note]

#: rows of a recursive CTE that keep each backend busy for several seconds (a statement
#: that must be cancelled after milliseconds); DuckDB runs recursive CTEs far slower
SLOW_ROWS = {"duckdb": 1_000_000}
#: about half a second: longer than the short limits below, far below the long ones
MEDIUM_ROWS = {"duckdb": 50_000, "sqlite": 500_000, "postgresql": 500_000}
SHORT_MS = 20
LONG_MS = 60_000


def counting_cte(rows: int) -> str:
    return (f"WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {rows}) "
            "SELECT count(*) FROM r")


def slow_sql(conn) -> str:
    return counting_cte(SLOW_ROWS.get(conn.vendor, 10_000_000))


def medium_sql(conn) -> str:
    return counting_cte(MEDIUM_ROWS.get(conn.vendor, 500_000))


@pytest.fixture
def items(db):
    Item.objects.bulk_create([Item(name=f"i{i}", n=i) for i in range(10)])
    return db


@pytest.fixture
def statements():
    seen = []

    def receiver(sender, sql, **kw):
        seen.append(sql)

    signals.pre_query.connect(receiver)
    yield seen
    signals.pre_query.disconnect(receiver)


def exceeded(rows, limit):
    return pytest.raises(BudgetExceeded,
                         match=rf"^Query returned {rows} rows, exceeds active budget max_rows={limit}\.$")


# ---- the API ---------------------------------------------------------------------------------
def test_state_current_and_validation():
    assert current() is None
    with budget(max_rows=3) as state:
        assert isinstance(state, BudgetState) and current() is state
        assert (state.max_rows, state.timeout_ms, state.using) == (3, None, "default")
        assert state.requested_max_rows == 3 and state.parent is None
    assert current() is None
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_rows=...\\) must be a positive int"):
            budget(max_rows=bad)
        with pytest.raises(ValueError, match="timeout_ms=...\\) must be a positive int"):
            budget(timeout_ms=bad)
    for bad in ("5", 1.5, True):
        with pytest.raises(TypeError, match="must be a positive int"):
            budget(max_rows=bad)
        with pytest.raises(TypeError, match="must be a positive int"):
            abudget(timeout_ms=bad)
    with pytest.raises(TypeError, match="database alias"):
        budget(max_rows=1, using=None)
    assert issubclass(BudgetExceeded, DatabaseError) and dorm.BudgetExceeded is BudgetExceeded
    assert dorm.budget.budget is budget


def test_check_rowcount():
    check_rowcount(10 ** 9)          # no budget: nothing to check
    with budget(max_rows=4):
        check_rowcount(0)
        check_rowcount(4)
        with exceeded(5, 4) as info:
            check_rowcount(5)
        err = info.value
        assert (err.rows, err.max_rows, err.timeout_ms) == (5, 4, None)
        with pytest.raises(ValueError, match="int >= 0"):
            check_rowcount(-1)
        with pytest.raises(TypeError, match="int >= 0"):
            check_rowcount(2.0)


# ---- max_rows ---------------------------------------------------------------------------------
def test_row_ceiling_every_sync_path(items):
    qs = Item.objects.all()
    with budget(max_rows=5):
        with exceeded(6, 5):
            list(qs)
        with exceeded(6, 5):
            for _ in Item.objects.all():
                pass
        with exceeded(6, 5):
            len(Item.objects.all())
        with exceeded(6, 5):
            list(Item.objects.values("name"))
        with exceeded(6, 5):
            list(Item.objects.values_list("n", flat=True))
        with exceeded(6, 5):
            Item.objects.get(n__gte=0)          # 10 match: the budget is stricter than get()'s 21
        with exceeded(6, 5):
            Item.objects.in_bulk()
        with exceeded(10, 5):             # hand-written SQL gets no LIMIT: counted after
            list(Item.objects.raw(f"SELECT * FROM {Item._meta.db_table}"))
        # at the ceiling, below it, and terminal methods that return no rows: fine
        assert len(list(Item.objects.filter(n__lt=5))) == 5
        assert [o.n for o in Item.objects.all()[3:6]] == [3, 4, 5]
        assert Item.objects.get(n=7).name == "i7"
        assert Item.objects.count() == 10 and Item.objects.exists()
        assert Item.objects.aggregate(s=dorm.Sum("n")) == {"s": 45}
        assert Item.objects.first().n == 0 and Item.objects.last().n == 9
        assert Item.objects.filter(n__gte=5).update(name="x") == 5
    assert len(list(qs)) == 10      # the failed evaluations cached nothing


def test_get_multiple_objects_below_the_ceiling(items):
    with budget(max_rows=50):
        with pytest.raises(Item.MultipleObjectsReturned):
            Item.objects.get(n__lt=3)


def test_iterator_counts_as_it_streams(items, statements):
    got = []
    with budget(max_rows=5):
        with exceeded(6, 5):
            for obj in Item.objects.iterator(chunk_size=2):
                got.append(obj.n)
        assert statements[-1].rstrip().endswith("LIMIT 6")
        assert [o.n for o in Item.objects.filter(n__lt=5).iterator(chunk_size=2)] == [0, 1, 2, 3, 4]
        with exceeded(6, 5):
            list(Item.objects.values_list("n", flat=True).iterator())
    assert got == [0, 1, 2, 3]      # the rows of full chunks, never more than the ceiling
    assert len(list(Item.objects.iterator())) == 10


def test_reads_the_orm_makes_count_too(items):
    first = Item.objects.get(n=0)
    Note.objects.bulk_create([Note(item=first, text=f"t{i}") for i in range(4)])
    with budget(max_rows=3):
        with exceeded(4, 3):
            list(first.notes.all())
        with exceeded(4, 3):
            list(Item.objects.filter(n=0).prefetch_related("notes"))
    assert len(list(Item.objects.filter(n=0).prefetch_related("notes"))[0].notes.all()) == 4


def test_compiled_limit(items, statements):
    def sql_of(run):
        statements.clear()
        run()
        (sql,) = [s for s in statements if "SELECT" in s]
        return sql

    with budget(max_rows=5):
        assert sql_of(lambda: pytest.raises(BudgetExceeded, list, Item.objects.all())) \
            .endswith("LIMIT 6")
        assert sql_of(lambda: list(Item.objects.all()[:3])).endswith("LIMIT 3")
        assert sql_of(lambda: list(Item.objects.all()[:5])).endswith("LIMIT 5")
        assert sql_of(lambda: pytest.raises(BudgetExceeded, list, Item.objects.all()[:7])) \
            .endswith("LIMIT 6")
        assert sql_of(lambda: pytest.raises(BudgetExceeded, list, Item.objects.all()[2:100])) \
            .endswith("LIMIT 6 OFFSET 2")
        assert sql_of(lambda: pytest.raises(BudgetExceeded, Item.objects.get, n__gte=0)) \
            .endswith("LIMIT 6")
        assert "LIMIT" not in sql_of(lambda: Item.objects.count())
        with budget(max_rows=2):
            assert sql_of(lambda: pytest.raises(BudgetExceeded, list, Item.objects.all())) \
                .endswith("LIMIT 3")
    assert "LIMIT" not in sql_of(lambda: list(Item.objects.all()))
    assert sql_of(lambda: Item.objects.get(n__gte=9)).endswith("LIMIT 21")


def test_result_cache_path(items, statements):
    with dorm.settings.override(CACHES={"default": {"BACKEND": "dorm.cache.locmem.LocMemCache"}},
                                SECRET_KEY="budget-test-secret-key-0123456789"):
        try:
            with budget(max_rows=5):
                for _ in range(2):          # a result over the ceiling is never stored
                    with exceeded(6, 5):
                        list(Item.objects.all().cache())
            with budget(max_rows=20):
                assert len(list(Item.objects.all().cache())) == 10
                statements.clear()
                assert len(list(Item.objects.all().cache())) == 10
                assert not [s for s in statements if "LIMIT 21" in s]   # served by the cache
        finally:
            from dorm.cache import caches

            caches["default"].clear()


async def test_row_ceiling_async_paths(items):
    async with abudget(max_rows=5) as state:
        assert current() is state
        with exceeded(6, 5):
            await Item.objects.all()
        with exceeded(6, 5):
            [o async for o in Item.objects.all()]
        with exceeded(6, 5):
            await Item.objects.avalues("n")
        with exceeded(6, 5):
            await Item.objects.avalues_list("n", flat=True)
        with exceeded(6, 5):
            await Item.objects.aget(n__gte=0)
        got = []
        with exceeded(6, 5):
            async for obj in Item.objects.aiterator(chunk_size=2):
                got.append(obj.n)
        assert got == [0, 1, 2, 3]
        assert len(await Item.objects.filter(n__lt=5)) == 5
        assert (await Item.objects.aget(n=3)).name == "i3"
    assert current() is None
    assert len(await Item.objects.all()) == 10
    with budget(max_rows=2):          # the sync block limits async code running inside it
        with exceeded(3, 2):
            await Item.objects.all()


def test_nested_max_rows_strictest_and_restored(items):
    with budget(max_rows=8) as outer:
        with budget(max_rows=50) as looser:
            assert looser.max_rows == 8 and looser.requested_max_rows == 50
            assert looser.parent is outer
            with exceeded(9, 8):
                list(Item.objects.all())
        with budget(max_rows=3) as stricter:
            assert stricter.max_rows == 3
            with exceeded(4, 3):
                list(Item.objects.filter(n__lt=8))
        assert current() is outer
        assert len(list(Item.objects.filter(n__lt=8))) == 8
    assert current() is None and len(list(Item.objects.all())) == 10


def test_no_effect_outside_the_block_and_per_thread(items):
    seen = {}

    def worker():
        seen["budget"] = current()
        seen["rows"] = len(list(Item.objects.all()))

    with budget(max_rows=2):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert seen == {"budget": None, "rows": 10}
    assert len(list(Item.objects.all())) == 10
    assert items.budget_timeout_ms is None and not items.in_atomic_block


def test_one_budget_object_shared_by_threads_and_reentered(items):
    shared = budget(max_rows=3)
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            with shared as state:
                barrier.wait()
                assert current() is state
                with pytest.raises(BudgetExceeded):
                    list(Item.objects.all())
                barrier.wait()
            assert current() is None
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with shared as outer:
        with shared as inner:
            assert inner.parent is outer
        assert current() is outer
    assert current() is None


async def test_per_task(items):
    gate = asyncio.Event()

    async def limited():
        async with abudget(max_rows=2):
            gate.set()
            await asyncio.sleep(0)
            with pytest.raises(BudgetExceeded):
                await Item.objects.all()

    async def free():
        await gate.wait()
        assert current() is None
        return len(await Item.objects.all())

    _, rows = await asyncio.gather(limited(), free())
    assert rows == 10


# ---- timeout_ms ---------------------------------------------------------------------------------
def test_timeout_cancels_and_rolls_back_writes(items):
    conn = items
    with pytest.raises(BudgetExceeded, match=rf"budget timeout_ms={SHORT_MS} ") as info:
        with budget(timeout_ms=SHORT_MS) as state:
            assert state.timeout_ms == SHORT_MS and conn.in_atomic_block
            assert conn.budget_timeout_ms == SHORT_MS
            Item.objects.create(name="lost", n=100)
            Item.objects.filter(n=0).update(name="changed")
            conn.execute(slow_sql(conn))
    err = info.value
    assert isinstance(err, DatabaseError) and err.timeout_ms == SHORT_MS and err.alias == "default"
    assert not conn.in_atomic_block and not conn.in_transaction and conn.budget_timeout_ms is None
    assert Item.objects.count() == 10 and not Item.objects.filter(name__in=["lost", "changed"]).exists()
    assert conn.execute(medium_sql(conn))[0][0] > 0     # outside: no limit any more


def test_timed_out_write_rolls_back(items, caplog):
    """An interrupted INSERT ... SELECT (SQLite rolls the transaction back itself: no
    failing ROLLBACK afterwards)."""
    conn = items
    caplog.set_level(logging.WARNING)
    table = Item._meta.db_table
    rows = SLOW_ROWS.get(conn.vendor, 10_000_000)
    with pytest.raises(BudgetExceeded):
        with budget(timeout_ms=SHORT_MS):
            Item.objects.create(name="lost", n=100)
            conn.execute_write(
                f"INSERT INTO {table} (name, n) WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL "
                f"SELECT i + 1 FROM r WHERE i < {rows}) SELECT 'bulk', i FROM r")
    assert not conn.in_atomic_block and not conn.in_transaction
    assert not [r for r in caplog.records if r.name.startswith("dorm")], caplog.text
    assert Item.objects.count() == 10
    Item.objects.create(name="after", n=11)       # the connection works normally afterwards
    assert Item.objects.count() == 11


def test_timeout_with_the_orm_and_max_rows_together(items):
    conn = items
    with budget(timeout_ms=LONG_MS, max_rows=5) as state:
        assert (state.timeout_ms, state.max_rows) == (LONG_MS, 5)
        assert len(list(Item.objects.filter(n__lt=5))) == 5
        with exceeded(6, 5):
            list(Item.objects.all())
        assert conn.execute(medium_sql(conn))[0][0] > 0    # within the long limit
    assert conn.budget_timeout_ms is None


def test_nested_timeouts_strictest_and_restored(items):
    conn = items
    with budget(timeout_ms=LONG_MS) as outer:
        with budget(timeout_ms=LONG_MS * 2) as looser:
            assert looser.timeout_ms == LONG_MS and conn.budget_timeout_ms == LONG_MS
        with budget(timeout_ms=SHORT_MS) as inner:
            assert inner.timeout_ms == SHORT_MS and conn.budget_timeout_ms == SHORT_MS
            assert Item.objects.count() == 10
        assert current() is outer and conn.budget_timeout_ms == LONG_MS
        # the outer (long) limit is back in force on the database side
        assert conn.execute(medium_sql(conn))[0][0] > 0
    assert conn.budget_timeout_ms is None and not conn.in_atomic_block


def test_inner_timeout_cancels_and_outer_limit_comes_back(items):
    conn = items
    if not conn.features.supports_savepoints:
        pytest.skip("needs savepoints (features.supports_savepoints): without them a failed "
                    "inner block dooms the outer transaction")
    with budget(timeout_ms=LONG_MS):
        Item.objects.create(name="kept", n=50)
        with pytest.raises(BudgetExceeded, match=rf"timeout_ms={SHORT_MS} "):
            with budget(timeout_ms=SHORT_MS):
                Item.objects.create(name="lost", n=51)
                conn.execute(medium_sql(conn))
        assert conn.budget_timeout_ms == LONG_MS
        assert conn.execute(medium_sql(conn))[0][0] > 0
        with budget(timeout_ms=LONG_MS * 2) as looser:      # cannot relax the outer limit
            assert looser.timeout_ms == LONG_MS
    assert set(Item.objects.filter(n__gte=50).values_list("name", flat=True)) == {"kept"}


def test_timeout_inside_an_atomic_block_of_the_caller(items):
    conn = items
    if not conn.features.supports_savepoints:
        pytest.skip("needs savepoints (features.supports_savepoints)")
    with dorm.transaction.atomic():
        Item.objects.create(name="outer", n=60)
        with pytest.raises(BudgetExceeded):
            with budget(timeout_ms=SHORT_MS):
                Item.objects.create(name="lost", n=61)
                conn.execute(slow_sql(conn))
        assert conn.in_atomic_block and conn.budget_timeout_ms is None
        assert conn.execute(medium_sql(conn))[0][0] > 0     # no limit left behind
    assert set(Item.objects.filter(n__gte=60).values_list("name", flat=True)) == {"outer"}


async def test_async_timeout(items):
    conn = await connections.aget()
    with pytest.raises(BudgetExceeded, match=rf"timeout_ms={SHORT_MS} "):
        async with abudget(timeout_ms=SHORT_MS) as state:
            pinned = connections.pinned("default")
            assert state.timeout_ms == SHORT_MS and pinned.budget_timeout_ms == SHORT_MS
            await Item.objects.acreate(name="lost", n=100)
            await pinned.aexecute(slow_sql(pinned))
    assert connections.pinned("default") is None
    assert await Item.objects.acount() == 10
    async with abudget(timeout_ms=LONG_MS):
        pinned = connections.pinned("default")
        async with abudget(timeout_ms=SHORT_MS):
            assert pinned.budget_timeout_ms == SHORT_MS
        assert pinned.budget_timeout_ms == LONG_MS
        assert (await pinned.aexecute(medium_sql(pinned)))[0][0] > 0
    assert (await conn.aexecute(medium_sql(conn)))[0][0] > 0


async def test_sync_timeout_in_a_coroutine_is_refused(db):
    with pytest.raises(RuntimeError, match="abudget"):
        with budget(timeout_ms=100):
            pass
    assert current() is None


def test_unsupported_backend_raises(db, monkeypatch):
    monkeypatch.setattr(type(db.features), "supports_statement_timeout", False)
    with pytest.raises(NotSupportedError, match="budget\\(timeout_ms=...\\) is not supported"):
        with budget(timeout_ms=100):
            pass
    assert current() is None and not db.in_atomic_block
    with budget(max_rows=3):              # max_rows needs no backend support
        pass
