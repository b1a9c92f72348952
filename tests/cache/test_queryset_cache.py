"""``QuerySet.cache()``: hits run no SQL, keys are canonical, TTLs hold, async shares
the path. Every test runs per DB backend x cache backend (locmem, real Redis)."""
import time

import pytest

import dorm
from dorm.test import capture_queries

from .models import ALL, Author, Book, Tag

MODELS = ALL


@pytest.fixture
def data(cache):
    ann = Author.objects.create(name="Ann", rank=1)
    bob = Author.objects.create(name="Bob", rank=2)
    b1 = Book.objects.create(title="A1", pages=100, author=ann)
    b2 = Book.objects.create(title="A2", pages=200, author=ann)
    b3 = Book.objects.create(title="B1", pages=300, author=bob)
    return {"ann": ann, "bob": bob, "b1": b1, "b2": b2, "b3": b3}


def twice(fn):
    """Run ``fn`` twice; return (first result, second result, queries of the 2nd run)."""
    first = fn()
    with capture_queries() as ctx:
        second = fn()
    return first, second, len(ctx)


def test_list_iteration_and_len_hit(data):
    with capture_queries() as ctx:
        first = list(Book.objects.all().cache().filter(pages__gte=150))
    assert len(ctx) == 1
    with capture_queries() as ctx:
        again = list(Book.objects.all().cache().filter(pages__gte=150))
        for _ in Book.objects.all().cache().filter(pages__gte=150):
            pass
        n = len(Book.objects.all().cache().filter(pages__gte=150))
    assert len(ctx) == 0
    assert [b.title for b in first] == [b.title for b in again] == ["A2", "B1"] and n == 2
    assert again[0] is not first[0] and again[0] == first[0]  # a fresh copy each time


def test_count_get_first_last_hit(data):
    qs = Book.objects.all().cache()
    for fn, expected in [
        (lambda: qs.count(), 3),
        (lambda: qs.filter(author__name="Ann").count(), 2),
        (lambda: qs.get(title="B1").pages, 300),
        (lambda: qs.get(pk=data["b2"].pk).title, "A2"),
        (lambda: qs.first().title, "A1"),
        (lambda: qs.last().title, "B1"),
        (lambda: qs.order_by("-pages")[0].title, "B1"),
        (lambda: [b.title for b in qs.order_by("pages")[1:3]], ["A2", "B1"]),
        (lambda: sorted(qs.in_bulk([data["b1"].pk, data["b3"].pk])), sorted([data["b1"].pk, data["b3"].pk])),
    ]:
        first, second, n = twice(fn)
        assert first == second == expected
        assert n == 0


def test_values_shapes_are_separate_entries(data):
    qs = Book.objects.all().cache().order_by("id")
    assert twice(lambda: list(qs.values("title"))) == ([{"title": "A1"}, {"title": "A2"}, {"title": "B1"}],) * 2 + (0,)
    assert twice(lambda: list(qs.values_list("title")))[1] == [("A1",), ("A2",), ("B1",)]
    flat = twice(lambda: list(qs.values_list("title", flat=True)))
    assert flat == (["A1", "A2", "B1"], ["A1", "A2", "B1"], 0)
    named = twice(lambda: list(qs.values_list("title", "pages", named=True)))
    assert named[2] == 0 and named[1][0].title == "A1" and named[1][0].pages == 100


def test_kwarg_order_does_not_matter(data):
    Book.objects.all().cache().filter(title="A1", pages=100, author=data["ann"]).count()
    list(Book.objects.all().cache().filter(pages=100, author__name="Ann", title="A1"))
    Book.objects.all().cache().get(title="A1", pages=100)
    with capture_queries() as ctx:
        assert Book.objects.all().cache().filter(author=data["ann"], pages=100, title="A1").count() == 1
        assert Book.objects.all().cache().filter(pages=100, title="A1", author=data["ann"]).count() == 1
        got = list(Book.objects.all().cache().filter(title="A1", author__name="Ann", pages=100))
        assert Book.objects.all().cache().get(pages=100, title="A1").title == "A1"
    assert len(ctx) == 0 and got[0].title == "A1"


def test_different_queries_and_params_do_not_collide(data):
    qs = Book.objects.all().cache()
    assert qs.filter(pages=100).count() == 1
    assert qs.filter(pages=200).count() == 1
    assert qs.filter(pages="100").count() == 1  # str param: own entry, same answer
    assert qs.filter(pages__gt=100).count() == 2
    assert [b.title for b in qs.filter(title__in=["A1", "B1"])] == ["A1", "B1"]
    assert [b.title for b in qs.filter(title__in=["A2"])] == ["A2"]
    assert Author.objects.all().cache().count() == 2  # other model, same shape of SQL


def test_ttl_expiry(configure_cache):
    configure_cache(TTL=0.4)
    Author.objects.create(name="x")
    qs = Author.objects.all().cache()
    assert qs.count() == 1
    assert Author.objects.all().cache(timeout=0.4).filter(name="x").count() == 1
    with capture_queries() as ctx:
        qs.count()
        Author.objects.all().cache(timeout=0.4).filter(name="x").count()
    assert len(ctx) == 0
    time.sleep(0.6)
    with capture_queries() as ctx:
        assert qs.count() == 1
        assert Author.objects.all().cache(timeout=0.4).filter(name="x").count() == 1
    assert len(ctx) == 2


def test_timeout_zero_never_expires(configure_cache):
    configure_cache(TTL=0.3)
    Author.objects.create(name="x")
    assert Author.objects.all().cache(0).count() == 1
    assert Author.objects.all().cache(timeout=5).filter(name="x").count() == 1
    time.sleep(0.5)
    with capture_queries() as ctx:
        assert Author.objects.all().cache(0).count() == 1
        assert Author.objects.all().cache(timeout=5).filter(name="x").count() == 1
    assert len(ctx) == 0


def test_select_related_survives_a_hit(data):
    def load():
        return [(b.title, b.author.name) for b in Book.objects.all().cache().select_related("author")]
    assert twice(load) == ([("A1", "Ann"), ("A2", "Ann"), ("B1", "Bob")],) * 2 + (0,)


def test_prefetch_related_runs_after_a_hit(data):
    t = Tag.objects.create(name="t")
    data["b1"].tags.add(t)

    def load():
        return [(a.name, sorted(b.title for b in a.books.all()))
                for a in Author.objects.all().cache().prefetch_related("books")]
    first, second, n = twice(load)
    assert first == second == [("Ann", ["A1", "A2"]), ("Bob", ["B1"])]
    assert n == 1  # the authors came from the cache, the books (not cached) from the database


def test_manager_cached_and_no_cache_on_manager(data):
    assert not hasattr(Book.objects, "cache")  # spec: call .all().cache() or .cached()
    first, second, n = twice(lambda: Book.objects.cached(timeout=60).filter(pages=100).count())
    assert first == second == 1 and n == 0


def test_empty_querysets_do_not_touch_cache_or_db(data):
    with capture_queries() as ctx:
        assert list(Book.objects.all().cache().none()) == []
        assert Book.objects.all().cache().filter(pk__in=[]).count() == 0
    assert len(ctx) == 0


def test_iterator_exists_and_aggregate_are_not_cached(data):
    qs = Book.objects.all().cache()
    list(qs.iterator())
    qs.exists()
    qs.aggregate(n=dorm.Count("id"))
    with capture_queries() as ctx:
        list(qs.iterator())
        qs.exists()
        qs.aggregate(n=dorm.Count("id"))
    assert len(ctx) == 3


def test_select_for_update_bypasses(data, db):
    if not db.features.supports_select_for_update:
        pytest.skip(f"{db.vendor} has no select_for_update")
    with dorm.transaction.atomic():
        list(Book.objects.all().cache().select_for_update())
    with capture_queries() as ctx, dorm.transaction.atomic():
        list(Book.objects.all().cache().select_for_update())
    assert len([q for q in ctx.queries if "SELECT" in q["sql"].upper()]) == 1


def test_no_caches_is_a_noop(db):
    assert not dorm.settings.CACHES
    x = Author.objects.create(name="x")
    qs = Author.objects.all().cache(timeout=10, using="anything")
    with capture_queries() as ctx:
        assert qs.count() == 1 and list(qs)[0].name == "x"
        assert Author.objects.all().cache().count() == 1
        assert Author.objects.cache_get(pk=x.pk).name == "x"
        many = Author.objects.cache_get_many(pks=[x.pk, x.pk + 100])
    assert list(many) == [x.pk] and many[x.pk].name == "x"
    assert len(ctx) == 5  # every call went to the database


def test_cache_arguments_validated(cache):
    qs = Author.objects.all()
    for bad in (-1, "10", True, float("nan")):
        with pytest.raises(ValueError, match="Author.cache\\(\\): timeout must be"):
            qs.cache(bad)
    with pytest.raises(ValueError, match="CACHES has no alias 'other'; configured: 'default'"):
        qs.cache(using="other")
    with pytest.raises(ValueError, match="using must be a CACHES alias"):
        qs.cache(using="")
    with pytest.raises(ValueError, match="timeout must be"):
        Author.objects.cached(timeout=-5)
    with pytest.raises(ValueError, match="Author.cache_get\\(\\): timeout"):
        Author.objects.cache_get(pk=1, timeout=-1)


async def test_async_paths_share_the_cache(data):
    qs = Book.objects.all().cache()
    with capture_queries() as ctx:
        titles = [b.title async for b in qs.filter(pages__lt=250)]
        listed = await qs.filter(pages__lt=250)
        count = await qs.acount()
        got = await qs.aget(title="B1")
        first = await qs.afirst()
        values = await qs.avalues_list("title", flat=True)
    assert titles == [b.title for b in listed] == ["A1", "A2"]
    assert (count, got.pages, first.title, values) == (3, 300, "A1", ["A1", "A2", "B1"])
    n_first = len(ctx)
    with capture_queries() as ctx:
        assert [b.title async for b in qs.filter(pages__lt=250)] == ["A1", "A2"]
        assert await qs.acount() == 3
        assert (await qs.aget(title="B1")).pages == 300
        assert (await qs.afirst()).title == "A1"
        assert await qs.avalues_list("title", flat=True) == ["A1", "A2", "B1"]
        # and what the async calls stored, the sync ones read
    assert len(ctx) == 0 and n_first > 0
    with capture_queries() as ctx:
        assert Book.objects.all().cache().count() == 3
    assert len(ctx) == 0
