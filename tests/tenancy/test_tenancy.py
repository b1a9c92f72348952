"""dorm-tenancy on every installed backend: isolation on every read and write path."""
import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import dorm
import pytest
from dorm.contrib.tenants_row import (
    AsyncOnlyError,
    NoActiveTenantError,
    TenantManager,
    TenantMismatchError,
    TenantModel,
    current_tenant,
    get_active_tenant,
)
from dorm.exceptions import ImproperlyConfigured, NotSupportedError
from dorm.test import assert_num_queries

from .models import ALL, Author, Book, Event, Invoice, Note, Profile, Review, Tag

MODELS = ALL


@pytest.fixture
def two(db):
    """Tenant "a": Ann with books A1 (100 p.), A2 (200 p.); tenant "b": Bob with B1 (300 p.)."""
    out = {}
    with current_tenant("a"):
        ann = Author.objects.create(name="Ann")
        out["a1"] = Book.objects.create(title="A1", pages=100, author=ann)
        out["a2"] = ann.books.create(title="A2", pages=200)
        Profile.objects.create(author=ann, bio="a-bio")
        out["ann"] = ann
    with current_tenant("b"):
        bob = Author.objects.create(name="Bob")
        out["b1"] = Book.objects.create(title="B1", pages=300, author=bob)
        Profile.objects.create(author=bob, bio="b-bio")
        out["bob"] = bob
    return out


def titles(qs):
    return [b.title for b in qs]


# ---- set-up -------------------------------------------------------------------------------------
def test_import_path_and_model_setup():
    import dorm.contrib.tenants_row as tr
    import dorm_tenancy.api

    assert tr is dorm_tenancy.api
    field = Book._meta.get_field("tenant_id")
    assert isinstance(field, dorm.CharField) and field.max_length == 64 and field.db_index
    assert isinstance(Book.objects, TenantManager)
    assert type(Book.unscoped) is dorm.Manager
    assert Book._meta.default_manager is Book.objects
    assert Book._meta.base_manager() is Book.objects     # forward loads, refresh... are scoped
    assert Note._meta.get_field("workspace").max_length == 64 and isinstance(Note.unscoped, dorm.Manager)
    assert not any(f.name == "tenant_id" for f in Invoice._meta.fields)


def test_default_manager_must_be_scoped():
    with pytest.raises(ImproperlyConfigured, match="must be a TenantManager"):
        class Leaky(TenantModel):
            objects = dorm.Manager()

            class Meta:
                app_label = "tenancy_broken"


# ---- isolation of reads -------------------------------------------------------------------------
def test_reads_are_filtered(two):
    with current_tenant("a"):
        assert titles(Book.objects.all()) == ["A1", "A2"]
        assert Book.objects.count() == 2 and Book.objects.exists()
        assert titles(Book.objects.filter(pages__gte=100)) == ["A1", "A2"]
        assert Book.objects.get(title="A1").pk == two["a1"].pk
        with pytest.raises(Book.DoesNotExist):
            Book.objects.get(title="B1")
        with pytest.raises(Book.DoesNotExist):
            Book.objects.get(pk=two["b1"].pk)
        assert list(Book.objects.values_list("title", flat=True)) == ["A1", "A2"]
        assert [d["title"] for d in Book.objects.values("title")] == ["A1", "A2"]
        assert Book.objects.aggregate(total=dorm.Sum("pages"), n=dorm.Count("id")) == {"total": 300, "n": 2}
        assert set(Book.objects.in_bulk([two["a1"].pk, two["b1"].pk])) == {two["a1"].pk}
        assert Book.objects.first().title == "A1" and Book.objects.last().title == "A2"
        assert [b.title for b in Book.objects.iterator(chunk_size=1)] == ["A1", "A2"]
        assert Book.objects.filter(author__name="Bob").count() == 0
        assert list(Author.objects.annotate(n=dorm.Count("books")).values_list("name", "n")) == [("Ann", 2)]
    with current_tenant("b"):
        assert titles(Book.objects.all()) == ["B1"]
        assert Book.objects.aggregate(total=dorm.Sum("pages"))["total"] == 300


def test_related_managers_and_loading(two):
    with current_tenant("a"):
        ann = Author.objects.get(name="Ann")
        assert titles(ann.books.all()) == ["A1", "A2"]
        assert ann.books.count() == 2
        with assert_num_queries(1):
            pairs = [(b.title, b.author.name) for b in Book.objects.select_related("author")]
        assert pairs == [("A1", "Ann"), ("A2", "Ann")]
        with assert_num_queries(2):
            got = {a.name: titles(a.books.all()) for a in Author.objects.prefetch_related("books")}
        assert got == {"Ann": ["A1", "A2"]}
        with assert_num_queries(2):
            assert [b.author.name for b in Book.objects.prefetch_related("author")] == ["Ann", "Ann"]
        assert ann.profile.bio == "a-bio"
        assert [(p.bio, p.author.name) for p in Profile.objects.select_related("author")] == [("a-bio", "Ann")]
        assert [a.profile.bio for a in Author.objects.prefetch_related("profile")] == ["a-bio"]
        book = Book.objects.get(title="A1")
        assert book.author.name == "Ann"                 # forward lazy load, scoped
        book.refresh_from_db()
        # many-to-many
        t1, t2 = Tag.objects.create(name="t1"), Tag.objects.create(name="t2")
        book.tags.add(t1, t2)
        assert [t.name for t in book.tags.all()] == ["t1", "t2"]
        assert titles(t1.books.all()) == ["A1"]
        assert [b.title for b in Book.objects.prefetch_related("tags") if b.tags.all()] == ["A1"]
    with current_tenant("b"):
        assert Tag.objects.count() == 0
        bob = Author.objects.get()
        assert titles(bob.books.all()) == ["B1"]


def test_forward_loads_and_refresh_are_scoped(two):
    with current_tenant("a"):
        b1 = Book.unscoped.get(title="B1")           # the escape hatch reads across tenants
        with pytest.raises(Author.DoesNotExist):
            b1.author                                 # Bob belongs to "b": not visible in "a"
        with pytest.raises(Book.DoesNotExist):
            b1.refresh_from_db()
    with current_tenant("b"):
        assert Book.unscoped.get(title="B1").author.name == "Bob"


def test_cross_tenant_reference_is_refused_on_select_related(two):
    # corrupt the data on purpose: A1 points at Bob (tenant b)
    Book.unscoped.filter(pk=two["a1"].pk).update(author=two["bob"].pk)
    with current_tenant("a"):
        with pytest.raises(TenantMismatchError, match="another tenant"):
            list(Book.objects.select_related("author"))
        with pytest.raises(Author.DoesNotExist):
            Book.objects.get(title="A1").author
        assert {b.title: b.author for b in Book.objects.prefetch_related("author")}["A1"] is None


def test_shared_model_pointing_at_tenant_rows(two):
    review = Review.objects.create(book=two["b1"], stars=3)
    with current_tenant("a"), pytest.raises(Book.DoesNotExist):
        Review.objects.get(pk=review.pk).book
    with current_tenant("b"):
        assert Review.objects.get(pk=review.pk).book.title == "B1"
        assert [r.stars for r in two["b1"].reviews.all()] == [3]


def test_unscoped_sees_every_tenant(two):
    assert sorted(Book.unscoped.values_list("title", flat=True)) == ["A1", "A2", "B1"]
    assert sorted(Book.unscoped.values_list("tenant_id", flat=True)) == ["a", "a", "b"]
    rows = list(Book.unscoped.raw('SELECT * FROM "tenancy_tests_book" WHERE "tenant_id" = %s', ["b"]))
    assert [r.title for r in rows] == ["B1"]


# ---- no active tenant ----------------------------------------------------------------------------
def test_no_active_tenant_raises_everywhere(two):
    ann, a1 = two["ann"], two["a1"]
    calls = [
        lambda: Book.objects.all(), lambda: Book.objects.count(), lambda: Book.objects.filter(pages=1),
        lambda: Book.objects.get(pk=a1.pk), lambda: Book.objects.create(title="x", author=ann),
        lambda: Book.objects.bulk_create([Book(title="x", author=ann)]),
        lambda: Book.objects.update(pages=1), lambda: Book.objects.aggregate(n=dorm.Count("id")),
        lambda: Book(title="x", author=ann).save(), lambda: a1.save(), lambda: a1.delete(),
        lambda: a1.refresh_from_db(), lambda: list(ann.books.all()), lambda: ann.books.create(title="x"),
        lambda: Author.objects.get_or_create(name="Zed"),
    ]
    for call in calls:
        with pytest.raises(NoActiveTenantError, match="current_tenant"):
            call()
    fresh = Book.unscoped.get(pk=a1.pk)
    with pytest.raises(NoActiveTenantError):
        fresh.author                                   # forward lazy load
    with current_tenant("a"):
        qs = Book.objects.all()
    with pytest.raises(NoActiveTenantError):
        list(qs)                                       # built under "a", run with none
    assert Book.unscoped.count() == 3                  # nothing was written


async def test_async_relation_loads_are_scoped(two):
    with current_tenant("a"):
        b1 = await Book.unscoped.aget(title="B1")
        with pytest.raises(Author.DoesNotExist):
            await b1.aget_related("author")
        a1 = await Book.objects.aget(title="A1")
        assert (await a1.aget_related("author")).name == "Ann"


async def test_no_active_tenant_async(two):
    with pytest.raises(NoActiveTenantError):
        await Book.objects.acount()
    with pytest.raises(NoActiveTenantError):
        await Book(title="x", author=two["ann"]).asave()


# ---- writes --------------------------------------------------------------------------------------
def test_auto_fill_on_create_save_and_bulk_create(db):
    with current_tenant("t1"):
        ann = Author.objects.create(name="Ann")
        assert ann.tenant_id == "t1"
        b = Book(title="saved", author=ann)
        b.save()
        ann.books.create(title="related")
        Book.objects.bulk_create([Book(title="bulk1", author=ann), Book(title="bulk2", author=ann)])
        Book.objects.get_or_create(title="goc", defaults={"author": ann})
        Book.objects.update_or_create(title="uoc", defaults={"pages": 5, "author": ann})
        kept = Book(title="explicit", author=ann, tenant_id="t1")
        kept.save()
    assert set(Book.unscoped.values_list("tenant_id", flat=True)) == {"t1"}
    assert Book.unscoped.count() == 7


async def test_auto_fill_async(db):
    with current_tenant("t2"):
        ann = await Author.objects.acreate(name="Ann")
        b = Book(title="asaved", author=ann)
        await b.asave()
        await Book.objects.abulk_create([Book(title="abulk", author=ann)])
        assert b.tenant_id == "t2"
        assert await Book.objects.acount() == 2
        assert [x.title async for x in Book.objects.all()] == ["abulk", "asaved"]
        assert (await Book.objects.aget(title="asaved")).pk == b.pk
        assert await Book.objects.filter(title="abulk").aupdate(pages=3) == 1
        await b.adelete()
        assert await Book.objects.acount() == 1
    assert set(Book.unscoped.values_list("tenant_id", flat=True)) == {"t2"}


def test_update_and_delete_are_scoped(two):
    with current_tenant("a"):
        assert Book.objects.update(pages=1) == 2
        assert Book.objects.filter(title="B1").update(pages=1) == 0
        assert Book.objects.filter(pages=1).delete()[0] == 2
    assert list(Book.unscoped.values_list("title", "pages")) == [("B1", 300)]
    with current_tenant("b"):
        deleted, per_model = two["bob"].delete()          # cascades inside the tenant
        assert per_model["tenancy_tests.Book"] == 1
    assert Book.unscoped.count() == 0 and Author.unscoped.count() == 1


def test_writing_another_tenants_row_is_refused(two):
    a1, b1 = two["a1"], two["b1"]
    with current_tenant("b"):
        with pytest.raises(TenantMismatchError, match="active tenant is 'b'"):
            a1.save()                                     # loaded under "a", saved in "b"
        with pytest.raises(TenantMismatchError):
            a1.delete()
        with pytest.raises(TenantMismatchError):
            Book.objects.bulk_create([Book(title="x", author=two["bob"], tenant_id="a")])
        with pytest.raises(TenantMismatchError, match="move rows"):
            Book.objects.update(tenant_id="a")
        with pytest.raises(TenantMismatchError):
            Book.objects.create(title="x", author=two["bob"], tenant_id="a")
        b1.tenant_id = "a"                                # changing the tenant column
        with pytest.raises(TenantMismatchError):
            b1.save()
        with pytest.raises(TenantMismatchError):
            Book.objects.bulk_update([a1], ["pages"])
    with current_tenant("a"):
        moved = Book.objects.get(pk=a1.pk)
        moved.tenant_id = "b"
        with pytest.raises(TenantMismatchError):
            moved.save()
    with current_tenant("b"):
        stolen = Book.unscoped.get(pk=a1.pk)             # read through the escape hatch...
        stolen.tenant_id = "b"                            # ...and relabelled
        with pytest.raises(TenantMismatchError, match="rows do not move|another tenant"):
            stolen.save()
        forged = Book.objects.get(pk=b1.pk)
        forged.pk = a1.pk                                 # point a "b" instance at an "a" row
        with pytest.raises(TenantMismatchError, match="belongs to another tenant"):
            forged.save()
        with pytest.raises(TenantMismatchError, match="belongs to another tenant"):
            forged.delete()
        with pytest.raises(TenantMismatchError, match="refers to Author"):
            Book.objects.create(title="x", author=two["ann"])
    assert sorted(Book.unscoped.values_list("title", "tenant_id")) == [("A1", "a"), ("A2", "a"), ("B1", "b")]


def test_instance_from_unscoped_can_be_saved_in_its_tenant(two):
    with current_tenant("b"):
        b1 = Book.unscoped.get(pk=two["b1"].pk)
        b1.pages = 301
        with assert_num_queries(2):                       # one check that the row is ours + UPDATE
            b1.save()
        again = Book.objects.get(pk=b1.pk)
        again.pages = 302
        with assert_num_queries(1):                       # read through the scoped manager: no check
            again.save()
        Book.objects.bulk_update([again], ["pages"])
    assert Book.unscoped.get(pk=two["b1"].pk).pages == 302


def test_queryset_built_for_one_tenant_cannot_run_for_another(two):
    with current_tenant("a"):
        qs = Book.objects.filter(pages__gt=0)
        assert qs.count() == 2
    with current_tenant("b"):
        for run in (lambda: list(qs), qs.count, qs.exists, lambda: qs.update(pages=0), qs.delete,
                    lambda: qs.get(title="A1")):
            with pytest.raises(TenantMismatchError, match="built for tenant 'a'"):
                run()


def test_raw_needs_the_unscoped_manager(two):
    with current_tenant("a"):
        with pytest.raises(NotSupportedError, match="unscoped.raw"):
            Book.objects.raw('SELECT * FROM "tenancy_tests_book"')
        with pytest.raises(NotSupportedError):
            Book.objects.all().raw('SELECT * FROM "tenancy_tests_book"')


# ---- current_tenant -------------------------------------------------------------------------------
def test_nested_blocks_inner_wins_outer_restored(two):
    assert get_active_tenant() is None
    with current_tenant("a") as outer:
        assert outer == "a"
        with current_tenant("b"):
            assert get_active_tenant() == "b" and titles(Book.objects.all()) == ["B1"]
        assert get_active_tenant() == "a" and titles(Book.objects.all()) == ["A1", "A2"]
        with pytest.raises(RuntimeError), current_tenant("b"):
            raise RuntimeError("boom")
        assert get_active_tenant() == "a"
    assert get_active_tenant() is None


async def test_async_with_form(two):
    async with current_tenant("b"):
        assert await Book.objects.acount() == 1
    assert get_active_tenant() is None


def test_bad_tenant_ids(two):
    with pytest.raises(ValueError, match="None"):
        current_tenant(None)
    for bad in (3.5, b"a", True, object(), ["a"]):
        with pytest.raises(TypeError, match="tenant id must be"):
            current_tenant(bad)
    for blank in ("", "   "):
        with pytest.raises(ValueError, match="empty"):
            current_tenant(blank)
    with current_tenant(5):                            # an int id does not fit a CharField column
        with pytest.raises(TypeError, match=r"tenant id 5 \(int\) does not fit Book.tenant_id"):
            Book.objects.count()
    with current_tenant("x" * 65), pytest.raises(ValueError, match="max_length=64"):
        Book.objects.count()


def test_custom_tenant_field(db):
    with current_tenant(7):
        inv = Invoice.objects.create(number=1)
        assert inv.org == 7
        with pytest.raises(TypeError, match="Note.workspace"):
            Note.objects.create(text="seven")            # an int id on a CharField column
    with current_tenant(8):
        Invoice.objects.create(number=2)
        assert [i.number for i in Invoice.objects.all()] == [2]
    with current_tenant("ws"):
        with pytest.raises(TypeError, match="Invoice.org"):
            Invoice.objects.count()                    # a str id on an integer column
        n = Note.objects.create(text="ws note")
        assert n.workspace == "ws" and Note.objects.count() == 1
    assert sorted(Invoice.unscoped.values_list("org", flat=True)) == [7, 8]


async def test_async_only_manager(db):
    with current_tenant("a"):
        await Event.objects.acreate(name="launch")
        assert await Event.objects.acount() == 1
        assert [e.name async for e in Event.objects.all()] == ["launch"]
        for sync_call in (Event.objects.count, lambda: list(Event.objects.all()),
                          lambda: Event.objects.get(name="launch"),
                          lambda: Event.objects.create(name="x")):
            with pytest.raises(AsyncOnlyError):
                sync_call()
    with current_tenant("b"):
        assert await Event.objects.acount() == 0


# ---- concurrency ----------------------------------------------------------------------------------
async def test_concurrent_tasks_do_not_cross(db):
    async def worker(tenant, n):
        with current_tenant(tenant):
            author = await Author.objects.acreate(name=f"{tenant}-author")
            seen = set()
            for i in range(n):
                await Book(title=f"{tenant}-{i}", author=author).asave()
                await asyncio.sleep(0)                     # let the other task run in between
                seen.update([b.tenant_id async for b in Book.objects.all()])
                assert get_active_tenant() == tenant
            return seen, await Book.objects.acount()

    (seen_a, n_a), (seen_b, n_b) = await asyncio.gather(worker("ta", 15), worker("tb", 15))
    assert seen_a == {"ta"} and seen_b == {"tb"} and n_a == n_b == 15
    assert get_active_tenant() is None


def test_concurrent_threads_do_not_cross(db):
    with current_tenant("ta"):
        ta = Author.objects.create(name="ta")
        Book.objects.bulk_create([Book(title=f"ta-{i}", author=ta) for i in range(10)])
    with current_tenant("tb"):
        tb = Author.objects.create(name="tb")
        Book.objects.bulk_create([Book(title=f"tb-{i}", author=tb) for i in range(10)])
    barrier = threading.Barrier(2)

    def worker(tenant, rounds):
        assert get_active_tenant() is None                # a new thread starts without a tenant
        barrier.wait()
        seen, counts = set(), set()
        try:
            with current_tenant(tenant):
                for _ in range(rounds):
                    seen.update(Book.objects.values_list("tenant_id", flat=True))
                    counts.add(Book.objects.count())
                    seen.update(b.author.tenant_id for b in Book.objects.select_related("author")[:3])
            return seen, counts
        finally:
            dorm.db.connections["default"].close()   # this thread's connection only

    with ThreadPoolExecutor(max_workers=2) as pool:
        fa, fb = pool.submit(worker, "ta", 20), pool.submit(worker, "tb", 20)
        (seen_a, counts_a), (seen_b, counts_b) = fa.result(), fb.result()
    assert seen_a == {"ta"} and seen_b == {"tb"}
    assert counts_a == {10} and counts_b == {10}
