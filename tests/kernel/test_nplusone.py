"""dorm.contrib.nplusone: N+1 detection on every backend."""
import asyncio
import logging

import pytest

import dorm
from dorm import signals
from dorm.contrib import nplusone
from dorm.contrib.nplusone import (DEFAULT_IGNORE, NPlusOneDetector, NPlusOneError, adetect,
                                   assert_no_nplusone, detect, normalize_sql)
from dorm.models import related_descriptors

from .relmodels import RELATION_MODELS, Author, Book, Profile, Publisher

MODELS = RELATION_MODELS


@pytest.fixture
def library(db):
    pub = Publisher.objects.create(name="Acme")
    for i in range(6):
        a = Author.objects.create(name=f"a{i}", publisher=pub)
        Profile.objects.create(author=a, bio=f"bio{i}")
        Book.objects.create(title=f"b{i}", author=a, pages=i)
    return pub


def _no_receivers():
    return not signals.post_query.has_receivers() and not related_descriptors.track_lazy_loads


# ---- templates ---------------------------------------------------------------------------
def test_normalize_sql_strips_literals_params_and_lists():
    assert normalize_sql("SELECT * FROM t WHERE id IN (1, 2, 3) AND n = %s") == \
        "SELECT * FROM t WHERE id IN (...) AND n = ?"
    assert normalize_sql("SELECT  *\n FROM t WHERE id IN (?)") == "SELECT * FROM t WHERE id IN (...)"
    assert normalize_sql("SELECT 'it''s', -4.5e3 FROM \"t0\" LIMIT 21") == \
        'SELECT ?, ? FROM "t0" LIMIT ?'
    assert normalize_sql("INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)") == \
        "INSERT INTO t (a, b) VALUES (...)"
    assert normalize_sql("SELECT %(a)s, $1") == "SELECT ?, ?"
    # different IN-list lengths and values share one template
    assert normalize_sql("SELECT x FROM t WHERE id IN (1)") == \
        normalize_sql("SELECT x FROM t WHERE id IN (4, 5, 6, 7)")


def test_arguments_are_validated():
    for bad in (1, 0, "5", 2.5, True):
        with pytest.raises(ValueError, match="threshold must be an integer >= 2"):
            NPlusOneDetector(bad)
    with pytest.raises(TypeError, match="ignore entries must be str or re.Pattern"):
        NPlusOneDetector(ignore=[42])
    with pytest.raises(ValueError, match="not a valid regular expression"):
        NPlusOneDetector(ignore=["("])


# ---- detection -------------------------------------------------------------------------------
def test_lazy_fk_loop_detected_with_relation_and_fix(library):
    with pytest.raises(NPlusOneError) as info:
        with NPlusOneDetector(threshold=5):
            for b in Book.objects.all():
                assert b.author.name.startswith("a")
    err = info.value
    assert isinstance(err, AssertionError)
    (found,) = err.detections
    assert found.count == 6 and found.alias == "default"
    assert found.model is Book and found.relation == "author" and found.kind == "forward"
    text = str(err)
    assert "6x on database 'default'" in text
    assert "select_related('author')" in text and "prefetch_related('author')" in text
    assert "test_nplusone.py" in found.location
    assert _no_receivers()


def test_select_related_and_prefetch_are_clean(library):
    with assert_no_nplusone():
        names = [b.author.name for b in Book.objects.select_related("author")]
    with assert_no_nplusone():
        names2 = [b.author.name for b in Book.objects.prefetch_related("author")]
    assert sorted(names) == sorted(names2) == [f"a{i}" for i in range(6)]


def test_below_threshold_is_not_a_detection(library):
    with NPlusOneDetector(threshold=7) as d:
        for b in Book.objects.all():
            b.author
    assert d.detections == [] and d.report() == ""
    assert max(d.counts.values()) == 6


def test_reverse_fk_and_reverse_one_to_one_named(library, caplog):
    with caplog.at_level(logging.WARNING, logger="dorm.contrib.nplusone"):
        with detect() as d:
            for a in Author.objects.all():
                list(a.books.all())
                a.profile
    kinds = {(x.model, x.relation, x.kind) for x in d.detections}
    assert kinds == {(Author, "books", "reverse_many"), (Author, "profile", "reverse_one_to_one")}
    assert "prefetch_related('books')" in caplog.text
    assert "select_related('profile')" in caplog.text


def test_repeated_explicit_get_is_detected_without_relation(library):
    ids = list(Author.objects.values_list("pk", flat=True))
    with detect(threshold=3) as d:
        for pk in ids:
            Author.objects.filter(name__startswith="a").get(pk=pk)
    (found,) = d.detections
    assert found.count == 6 and found.model is None and found.hint is None


def test_writes_ignored_by_default_counted_with_empty_ignore(library):
    with assert_no_nplusone():
        for i in range(6):
            Publisher.objects.create(name=f"p{i}")
    with detect(ignore=()) as d:
        for i in range(6):
            Publisher.objects.create(name=f"q{i}")
    assert [x.count for x in d.detections] == [6]
    assert "INSERT" in d.detections[0].template
    assert DEFAULT_IGNORE


def test_custom_ignore_pattern(library):
    with assert_no_nplusone(ignore=(*DEFAULT_IGNORE, r'"relations_author"')):
        for b in Book.objects.all():
            b.author


def test_exception_in_block_is_not_masked(library):
    with pytest.raises(KeyError):
        with assert_no_nplusone():
            for b in Book.objects.all():
                b.author
            raise KeyError("boom")
    assert _no_receivers()


def test_nested_detectors_both_count(library):
    with detect() as outer:
        with detect() as inner:
            for b in Book.objects.all():
                b.author
        Book.objects.count()
    assert inner.detections and outer.detections
    assert sum(outer.counts.values()) == sum(inner.counts.values()) + 1


def test_detector_not_reentrant(library):
    d = NPlusOneDetector()
    with d:
        with pytest.raises(RuntimeError, match="already active"):
            d.__enter__()


def test_other_threads_are_not_counted(library):
    import threading

    def worker():
        for pk in Author.objects.values_list("pk", flat=True):
            Author.objects.get(pk=pk)

    with assert_no_nplusone():
        t = threading.Thread(target=worker)
        t.start()
        t.join()


# ---- async ---------------------------------------------------------------------------------------
async def test_async_loop_detected(library):
    async with adetect(raise_on_detect=True) as d:
        pass
    assert d.detections == []
    with pytest.raises(NPlusOneError, match="select_related\\('author'\\)"):
        async with adetect(raise_on_detect=True):
            async for b in Book.objects.all():
                await b.aget_related("author")
    async with assert_no_nplusone():
        async for b in Book.objects.select_related("author"):
            assert b.author.name


async def test_concurrent_tasks_are_isolated(library):
    pks = [a.pk async for a in Author.objects.all()]
    start = asyncio.Event()

    async def looping():
        async with adetect() as d:
            await start.wait()
            for pk in pks:
                await Author.objects.aget(pk=pk)
                await asyncio.sleep(0)
        return d

    async def quiet():
        async with adetect() as d:
            await start.wait()
            for _ in range(3):
                await Book.objects.acount()
                await asyncio.sleep(0)
        return d

    tasks = [asyncio.create_task(looping()), asyncio.create_task(quiet())]
    await asyncio.sleep(0)
    start.set()
    loud, calm = await asyncio.gather(*tasks)
    assert [x.count for x in loud.detections] == [6]
    assert calm.detections == []
    assert sum(calm.counts.values()) == 3  # only its own statements
    assert all("relations_author" in t for _, t in loud.counts)


# ---- global detector (DEBUG_NPLUSONE) ------------------------------------------------------------
def test_debug_nplusone_setting_installs_a_warning_detector(library, caplog):
    assert nplusone._global is None
    dorm.configure(DEBUG_NPLUSONE=True)
    try:
        assert nplusone._global is not None and signals.post_query.has_receivers()
        with caplog.at_level(logging.WARNING, logger="dorm.contrib.nplusone"):
            for b in Book.objects.all():     # never raises
                b.author
        warnings = [r for r in caplog.records if "DEBUG_NPLUSONE" in r.getMessage()]
        assert len(warnings) == 1             # one per burst, not one per statement
        assert "Book.author" in warnings[0].getMessage()
        dorm.configure(DEBUG_NPLUSONE=3)
        assert nplusone._global.threshold == 3
        with pytest.raises(dorm.ImproperlyConfigured, match="DEBUG_NPLUSONE"):
            dorm.configure(DEBUG_NPLUSONE=1)
    finally:
        dorm.configure(DEBUG_NPLUSONE=False)
    assert nplusone._global is None and _no_receivers()


def test_nothing_connected_when_idle(library):
    assert _no_receivers()
    with detect():
        assert signals.post_query.has_receivers() and related_descriptors.track_lazy_loads
    assert _no_receivers()
