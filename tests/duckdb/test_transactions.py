"""Transactions on DuckDB (file and in-memory): no savepoints, so nested ``atomic()``
blocks are all-or-nothing. Asserted here (see docs/duckdb.md "Transactions"):

* an inner failure that propagates rolls back everything (the outer block too);
* an inner failure caught inside the outer block: the outer block rolls back and
  raises ``TransactionManagementError`` — half a transaction is never committed;
* a database error aborts DuckDB's transaction at once: further statements in the
  block raise ``TransactionManagementError``;
* ``set_rollback(True)`` in an inner block rolls back the whole transaction;
* ``savepoint()`` raises ``NotSupportedError``; ``on_commit`` runs after the outermost
  COMMIT, ``on_rollback`` after the rollback.
"""
from __future__ import annotations

import dorm
import pytest
from dorm.db import connections
from dorm.exceptions import IntegrityError, NotSupportedError, TransactionManagementError
from dorm.transaction import (
    aatomic,
    atomic,
    on_commit,
    on_rollback,
    savepoint,
    set_rollback,
)


@pytest.fixture
def db(conn):
    conn.execute_write("CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR UNIQUE)")
    return conn


def add(name, id=None):
    conn = connections["default"]
    if id is None:
        id = (conn.execute("SELECT coalesce(max(id), 0) + 1 FROM item")[0][0])
    conn.execute_write("INSERT INTO item (id, name) VALUES (?, ?)", [id, name])


def names():
    return [r[0] for r in connections["default"].execute("SELECT name FROM item ORDER BY id")]


def test_savepoints_are_off(db):
    assert db.features.supports_savepoints is False
    with atomic():
        with pytest.raises(NotSupportedError, match="savepoints are not supported on DuckDB"):
            savepoint()


def test_commit_and_rollback(db):
    with atomic():
        add("a")
        assert db.in_atomic_block and db.in_transaction
    assert names() == ["a"]
    with pytest.raises(ValueError), atomic():
        add("b")
        raise ValueError("boom")
    assert names() == ["a"] and not db.in_transaction


def test_nested_success_commits_once(db):
    with atomic():
        add("outer")
        with atomic():
            add("inner")
            with atomic():
                add("innermost")
        assert db.in_transaction
    assert names() == ["outer", "inner", "innermost"]


def test_inner_failure_propagating_rolls_back_everything(db):
    with pytest.raises(ValueError), atomic():
        add("outer")
        with atomic():
            add("inner")
            raise ValueError("inner failure")
    assert names() == []


def test_inner_python_failure_caught_poisons_the_outer_block(db):
    with pytest.raises(TransactionManagementError, match="without a savepoint"), atomic():
        add("outer")
        try:
            with atomic():
                add("inner")
                raise ValueError("inner failure")
        except ValueError:
            pass
        add("more")      # still runs (no database error happened) ...
    assert names() == []  # ... but nothing is committed


def test_inner_database_failure_caught_aborts_the_transaction(db):
    add("taken")
    with pytest.raises(TransactionManagementError), atomic():
        add("outer")
        with pytest.raises(IntegrityError), atomic():
            add("inner")
            add("taken")     # duplicate: DuckDB aborts the whole transaction
        # the next statement fails: the transaction is aborted (no savepoint to go back to)
        add("after")
    assert names() == ["taken"]
    assert not db.in_transaction and not db.in_atomic_block
    add("fine")
    assert names() == ["taken", "fine"]


def test_set_rollback_in_inner_block_rolls_back_all(db):
    with atomic():
        add("outer")
        with atomic() as inner:
            add("inner")
            inner.set_rollback(True)
    assert names() == []
    with atomic():
        add("x")
        with atomic():
            set_rollback(True)
    assert names() == []


def test_savepoint_false_behaves_the_same(db):
    with pytest.raises(TransactionManagementError), atomic():
        add("a")
        try:
            with atomic(savepoint=False):
                raise KeyError("x")
        except KeyError:
            pass
    assert names() == []


def test_on_commit_and_on_rollback(db):
    calls = []
    with atomic():
        add("a")
        on_commit(lambda: calls.append("commit-outer"))
        with atomic():
            on_commit(lambda: calls.append("commit-inner"))
        assert calls == []
    assert calls == ["commit-outer", "commit-inner"]
    calls.clear()
    with pytest.raises(ValueError), atomic():
        on_commit(lambda: calls.append("never"))
        on_rollback(lambda: calls.append("rolled back"))
        with atomic():
            raise ValueError
    assert calls == ["rolled back"]
    on_commit(lambda: calls.append("now"))   # outside a transaction: at once
    assert calls[-1] == "now"


def test_durable(db):
    with atomic(durable=True):
        add("a")
    with pytest.raises(RuntimeError, match="durable"), atomic(), atomic(durable=True):
        pass
    assert names() == ["a"]


def test_ddl_is_transactional(db):
    with pytest.raises(ValueError), atomic():
        db.execute_write("CREATE TABLE scratch (x INTEGER)")
        db.execute_write("CREATE SEQUENCE scratch_seq")
        raise ValueError
    assert not db.table_exists("scratch")
    assert "scratch_seq" not in db.introspection.get_sequences()


async def test_aatomic_nested_semantics(db):
    conn = await connections.aget()

    async def aadd(name, id):
        c = await connections.aget()
        await c.aexecute_write("INSERT INTO item (id, name) VALUES (?, ?)", [id, name])

    async with aatomic():
        await aadd("a", 1)
        async with aatomic():
            await aadd("b", 2)
    assert [r[0] for r in await conn.aexecute("SELECT name FROM item ORDER BY id")] == ["a", "b"]
    with pytest.raises(TransactionManagementError):
        async with aatomic():
            await aadd("c", 3)
            try:
                async with aatomic():
                    await aadd("d", 4)
                    raise ValueError
            except ValueError:
                pass
    with pytest.raises(ValueError):
        async with aatomic():
            await aadd("e", 5)
            async with aatomic():
                raise ValueError
    assert [r[0] for r in await conn.aexecute("SELECT name FROM item ORDER BY id")] == ["a", "b"]
    await connections.aclose_all()


def test_orm_nested_atomic_with_models(tables):
    from .models import Unique

    tables(Unique)
    Unique.objects.create(code="a")
    with pytest.raises(TransactionManagementError), atomic():
        Unique.objects.create(code="b")
        try:
            with atomic():
                Unique.objects.create(code="a")   # IntegrityError, caught below
        except IntegrityError:
            pass
    assert list(Unique.objects.values_list("code", flat=True)) == ["a"]
    # get_or_create inside atomic(): the lookup-then-insert happens in one transaction
    with atomic():
        _obj, created = Unique.objects.get_or_create(code="c")
    assert created and Unique.objects.filter(code="c").exists()
    assert dorm.transaction.get_connection().in_transaction is False
