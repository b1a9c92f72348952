"""Writes invalidate: every ORM write path, joins, cascades, transactions (deferred to
commit, dropped on rollback), the read-before-commit race, other processes."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import dorm
import dorm.test
from dorm.cache.query import fetch_gen
from dorm.db import connections
from dorm.test import capture_queries

from .conftest import SECRET
from .models import ALL, Author, Book, Review, Tag

MODELS = ALL
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data(cache):
    ann = Author.objects.create(name="Ann", rank=1)
    bob = Author.objects.create(name="Bob", rank=2)
    b1 = Book.objects.create(title="A1", pages=100, author=ann)
    b2 = Book.objects.create(title="A2", pages=200, author=ann)
    b3 = Book.objects.create(title="B1", pages=300, author=bob)
    tag = Tag.objects.create(name="t")
    review = Review.objects.create(book=b3, stars=5)
    return {"ann": ann, "bob": bob, "b1": b1, "b2": b2, "b3": b3, "tag": tag, "review": review}


def assert_fresh(read, plain):
    """``read()`` (cached) has been invalidated: it runs SQL and agrees with ``plain()``."""
    with capture_queries() as ctx:
        got = read()
    assert len(ctx) >= 1, "the cached result was not invalidated"
    assert got == plain()
    with capture_queries() as ctx:
        assert read() == got
    assert len(ctx) == 0, "the fresh result was not cached again"


def books_cached():
    return list(Book.objects.all().cache().order_by("id").values_list("title", "pages"))


def books_plain():
    return list(Book.objects.order_by("id").values_list("title", "pages"))


def _bulk_update(d):
    d["b1"].pages, d["b2"].pages = 11, 22
    Book.objects.bulk_update([d["b1"], d["b2"]], ["pages"])


def _save(d):
    d["b1"].pages = 999
    d["b1"].save()


WRITES = {
    "create": lambda d: Book.objects.create(title="new", pages=1, author=d["ann"]),
    "save": _save,
    "save_update_fields": lambda d: (setattr(d["b2"], "title", "A2x"), d["b2"].save(update_fields=["title"])),
    "instance_delete": lambda d: d["b3"].delete(),
    "update": lambda d: Book.objects.filter(pk=d["b1"].pk).update(pages=999),
    "queryset_delete": lambda d: Book.objects.filter(pages__gte=200).delete(),
    "bulk_create": lambda d: Book.objects.bulk_create([Book(title=f"n{i}", author=d["bob"]) for i in range(3)]),
    "bulk_update": _bulk_update,
    "get_or_create": lambda d: Book.objects.get_or_create(title="zz", defaults={"author": d["ann"]}),
    "update_or_create": lambda d: Book.objects.update_or_create(title="A1", defaults={"pages": 7}),
    "cascade_from_author_delete": lambda d: d["bob"].delete(),
    "cascade_from_author_queryset_delete": lambda d: Author.objects.filter(name="Ann").delete(),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_every_write_path_invalidates(data, write):
    assert books_cached() == books_plain()
    Book.objects.all().cache().count()
    WRITES[write](data)
    assert_fresh(books_cached, books_plain)
    assert_fresh(lambda: Book.objects.all().cache().count(), lambda: Book.objects.count())


async def test_async_writes_invalidate(data):
    qs = Book.objects.all().cache()
    assert await qs.acount() == 3
    await Book.objects.acreate(title="x", author=data["ann"])
    assert await qs.acount() == 4
    await Book.objects.filter(title="x").aupdate(pages=5)
    assert await qs.filter(pages=5).acount() == 1
    await Book.objects.filter(title="x").adelete()
    assert await qs.filter(pages=5).acount() == 0
    await Book.objects.abulk_create([Book(title="y", author=data["bob"])])
    assert await qs.acount() == 4


def test_writes_to_joined_tables_invalidate(data):
    def by_author():
        return [b.title for b in Book.objects.all().cache().filter(author__name="Ann")]

    def with_author():
        return [(b.title, b.author.name) for b in Book.objects.all().cache().select_related("author")]

    assert by_author() == ["A1", "A2"]
    with_author()
    Author.objects.filter(pk=data["ann"].pk).update(name="Anna")
    assert_fresh(by_author, lambda: [])
    assert_fresh(with_author, lambda: [("A1", "Anna"), ("A2", "Anna"), ("B1", "Bob")])
    sub = Book.objects.filter(author__in=Author.objects.filter(rank__gte=2).values("id"))
    assert [b.title for b in sub.cache()] == ["B1"]
    Author.objects.filter(name="Anna").update(rank=5)  # only the subquery's table changes
    assert_fresh(lambda: [b.title for b in sub.cache()], lambda: ["A1", "A2", "B1"])


def test_m2m_changes_invalidate(data):
    def tagged():
        return Book.objects.all().cache().filter(tags__name="t").count()

    assert tagged() == 0
    data["b1"].tags.add(data["tag"])
    assert_fresh(tagged, lambda: 1)
    data["b1"].tags.remove(data["tag"])
    assert_fresh(tagged, lambda: 0)


def test_set_null_on_delete_invalidates_the_other_model(data):
    def orphans():
        return Review.objects.all().cache().filter(book__isnull=True).count()

    assert orphans() == 0
    data["b3"].delete()
    assert_fresh(orphans, lambda: 1)
    Review.objects.all().update(book=data["b1"])
    assert orphans() == 0
    Book.objects.filter(pk=data["b1"].pk).delete()  # queryset delete: no signals at all
    assert_fresh(orphans, lambda: 1)


def test_raw_sql_writes_need_explicit_invalidate(data, db):
    assert Author.objects.all().cache().filter(rank=9).count() == 0
    table = db.ops.quote_name(Author._meta.db_table)
    db.execute_write(f"UPDATE {table} SET {db.ops.quote_name('rank')} = 9", [])
    assert Author.objects.all().cache().filter(rank=9).count() == 0  # not seen: raw SQL
    dorm.cache.invalidate(Author, using="default")
    assert_fresh(lambda: Author.objects.all().cache().filter(rank=9).count(), lambda: 2)


# ---- transactions -------------------------------------------------------------------------------
def _count_in_other_thread():
    out = []

    def run():
        try:
            out.append(Book.objects.all().cache().count())
        finally:
            conn = connections.existing("default")  # this thread's only
            if conn is not None:
                conn.close()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


def test_bump_waits_for_commit(data, cache):
    table = Book._meta.db_table
    assert Book.objects.all().cache().count() == 3
    before = cache.get_versions([table])
    with dorm.transaction.atomic():
        for i in range(5):
            Book.objects.create(title=f"t{i}", author=data["ann"])
        Book.objects.filter(title="t0").update(pages=1)
        assert cache.get_versions([table]) == before  # deferred
        with capture_queries() as ctx:
            assert Book.objects.all().cache().count() == 8  # inside: the database, own writes
        assert len(ctx) == 1
        # outside the transaction, the committed answer is still the cached one
        assert _count_in_other_thread() == 3
    after = cache.get_versions([table])
    assert after[0] == before[0] + 1  # one bump for the whole block
    assert_fresh(lambda: Book.objects.all().cache().count(), lambda: 8)


def test_rollback_drops_the_bump(data, cache):
    table = Book._meta.db_table
    assert Book.objects.all().cache().count() == 3
    before = cache.get_versions([table])
    with pytest.raises(RuntimeError), dorm.transaction.atomic():
        Book.objects.create(title="gone", author=data["ann"])
        data["b1"].delete()
        raise RuntimeError("roll back")
    assert cache.get_versions([table]) == before
    with capture_queries() as ctx:
        assert Book.objects.all().cache().count() == 3  # still right, still cached
    assert len(ctx) == 0


def test_savepoint_rollback_drops_only_its_bump(data, cache, db):
    if not db.features.supports_savepoints:
        pytest.skip(f"{db.vendor} has no savepoints")
    assert Book.objects.all().cache().count() == 3
    assert Author.objects.all().cache().count() == 2
    with dorm.transaction.atomic():
        Author.objects.create(name="kept")
        with pytest.raises(RuntimeError), dorm.transaction.atomic():
            Book.objects.create(title="gone", author=data["ann"])
            raise RuntimeError
    with capture_queries() as ctx:
        assert Book.objects.all().cache().count() == 3
    assert len(ctx) == 0
    assert_fresh(lambda: Author.objects.all().cache().count(), lambda: 3)


async def test_aatomic_defers_too(data, cache):
    table = Book._meta.db_table
    assert await Book.objects.all().cache().acount() == 3
    before = cache.get_versions([table])
    async with dorm.transaction.aatomic():
        await Book.objects.acreate(title="x", author=data["ann"])
        assert cache.get_versions([table]) == before
        assert await Book.objects.all().cache().acount() == 4
    assert cache.get_versions([table])[0] == before[0] + 1
    assert await Book.objects.all().cache().acount() == 4


def test_reader_that_queried_before_a_commit_cannot_publish_stale_rows(data):
    """The race the reference lost: a reader reads the database, a writer commits and
    bumps, then the reader stores its (old) rows. They must never be served."""
    qs = Book.objects.all().cache().order_by("id").values_list("pages", flat=True)
    gen = fetch_gen(qs)
    req = next(gen)
    while req[0] != "execute":
        result = connections[req[1]] if req[0] == "connection" else getattr(req[1], req[2])(*req[3:])
        req = gen.send(result)
    old_rows = connections[req[1]].execute(*req[2:])  # the reader's query runs ...
    Book.objects.filter(pk=data["b1"].pk).update(pages=1)  # ... then a write commits
    try:
        req = gen.send(old_rows)
        while True:  # the reader stores what it read
            req = gen.send(getattr(req[1], req[2])(*req[3:]))
    except StopIteration as stop:
        assert stop.value == [100, 200, 300]  # the reader itself got the pre-write rows
    assert_fresh(lambda: list(qs), lambda: [1, 200, 300])


def test_other_processes_invalidate_through_the_shared_server(data, cache_backend, db):
    """Redis: a write in another process bumps the version this process reads."""
    if cache_backend != "redis":
        pytest.skip("locmem is per process by design")
    if db.vendor == "duckdb":
        pytest.skip("a DuckDB file is locked by one process")
    assert Book.objects.all().cache().filter(pages=1).count() == 0
    code = (
        "import dorm, json, sys\n"
        "cfg = json.loads(sys.argv[1])\n"
        "dorm.configure(DATABASES={'default': cfg['db']}, CACHES=cfg['caches'], SECRET_KEY=cfg['key'])\n"
        "from tests.cache.models import Book\n"
        "Book.objects.filter(title='A1').update(pages=1)\n"
    )
    import json

    cfg = {"db": {k: v for k, v in db.settings_dict.items() if isinstance(v, (str, int, float, dict))},
           "caches": dorm.settings.CACHES, "key": SECRET}
    connections.close_all()  # SQLite: let the other process write
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cfg)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert_fresh(lambda: Book.objects.all().cache().filter(pages=1).count(), lambda: 1)


def test_inside_dorm_test_rollback_writes_show_and_are_undone(data):
    assert Author.objects.all().cache().count() == 2
    with dorm.test.rollback():
        Author.objects.create(name="tmp")
        assert Author.objects.all().cache().count() == 3  # bumped at once: nothing commits
        with dorm.transaction.atomic():
            Author.objects.create(name="tmp2")
        assert Author.objects.all().cache().count() == 4
    assert_fresh(lambda: Author.objects.all().cache().count(), lambda: 2)  # and after the undo
