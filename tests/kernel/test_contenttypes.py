"""``dorm.contrib.contenttypes``: content types, generic foreign keys and generic
relations, on every backend, with exact query counts."""
import uuid

import pytest

import dorm
from dorm import Count, FilteredRelation, Prefetch, Q
from dorm.contrib.contenttypes import ContentType, GenericForeignKey, GenericRelation
from dorm.contrib.contenttypes.manager import cached
from dorm.exceptions import FieldError, ImproperlyConfigured, NotSupportedError
from dorm.models.options import registry
from dorm.test import assert_num_queries


class TaggedItem(dorm.Model):
    """Text object id: holds int, UUID and str primary keys."""

    tag = dorm.CharField(max_length=20)
    content_type = dorm.ForeignKey(ContentType, on_delete=dorm.CASCADE)
    object_id = dorm.CharField(max_length=64)
    content_object = GenericForeignKey()

    class Meta:
        app_label = "ct_tests"
        ordering = ["id"]


class Comment(dorm.Model):
    """Integer object id and custom field names."""

    text = dorm.CharField(max_length=20)
    kind = dorm.ForeignKey(ContentType, on_delete=dorm.CASCADE, related_name="+")
    ref = dorm.PositiveBigIntegerField()
    subject = GenericForeignKey("kind", "ref")

    class Meta:
        app_label = "ct_tests"
        ordering = ["id"]


class Bookmark(dorm.Model):
    url = dorm.CharField(max_length=50)
    tags = GenericRelation(TaggedItem, related_query_name="bookmark")
    comments = GenericRelation(Comment, object_id_field="ref", content_type_field="kind")

    class Meta:
        app_label = "ct_tests"
        ordering = ["id"]


class BookmarkProxy(Bookmark):
    class Meta:
        app_label = "ct_tests"
        proxy = True


class Document(dorm.Model):
    id = dorm.UUIDField(primary_key=True, default=uuid.uuid4)
    title = dorm.CharField(max_length=20)
    tags = GenericRelation("ct_tests.TaggedItem")

    class Meta:
        app_label = "ct_tests"


class Slugged(dorm.Model):
    slug = dorm.CharField(max_length=20, primary_key=True)
    tags = GenericRelation(TaggedItem)

    class Meta:
        app_label = "ct_tests"


class Note(dorm.Model):
    """No GenericRelation: its generic rows outlive it."""

    body = dorm.CharField(max_length=20)

    class Meta:
        app_label = "ct_tests"


class GenericBase(dorm.Model):
    """Abstract: subclasses inherit the generic foreign key."""

    content_type = dorm.ForeignKey(ContentType, on_delete=dorm.CASCADE, related_name="+")
    object_id = dorm.PositiveIntegerField()
    content_object = GenericForeignKey()

    class Meta:
        abstract = True
        app_label = "ct_tests"


class Rating(GenericBase):
    score = dorm.IntegerField()

    class Meta:
        app_label = "ct_tests"


class Rated(dorm.Model):
    """Abstract: subclasses inherit the generic relation."""

    ratings = GenericRelation(Rating)

    class Meta:
        abstract = True
        app_label = "ct_tests"


class Photo(Rated):
    name = dorm.CharField(max_length=20)

    class Meta:
        app_label = "ct_tests"


MODELS = [ContentType, TaggedItem, Comment, Bookmark, Document, Slugged, Note, Rating, Photo]


def tags(qs):
    return [t.tag for t in qs]


@pytest.fixture
def data(db):
    b1 = Bookmark.objects.create(url="one")
    b2 = Bookmark.objects.create(url="two")
    doc = Document.objects.create(title="doc")
    sl = Slugged.objects.create(slug="s-1")
    note = Note.objects.create(body="n")  # same integer id as b1
    items = {
        "b1a": TaggedItem.objects.create(tag="a", content_object=b1),
        "b1b": TaggedItem.objects.create(tag="b", content_object=b1),
        "b2a": TaggedItem.objects.create(tag="a", content_object=b2),
        "t_doc": TaggedItem.objects.create(tag="d", content_object=doc),
        "t_sl": TaggedItem.objects.create(tag="s", content_object=sl),
        "t_note": TaggedItem.objects.create(tag="n", content_object=note),
    }
    c1 = Comment.objects.create(text="hi", subject=b1)
    return dict(b1=b1, b2=b2, doc=doc, sl=sl, note=note, c1=c1, **items)


# ---- ContentType and its manager -------------------------------------------------------------
def test_get_for_model_creates_once_and_caches(db):
    ContentType.objects.clear_cache()
    with assert_num_queries(2):  # SELECT (nothing) + INSERT
        ct = ContentType.objects.get_for_model(Bookmark)
    assert (ct.app_label, ct.model) == ("ct_tests", "bookmark")
    assert ct.model_class() is Bookmark
    with assert_num_queries(0):
        assert ContentType.objects.get_for_model(Bookmark) is ct
        assert ContentType.objects.get_for_model(Bookmark(url="x")) is ct  # an instance works too
        assert ContentType.objects.get_for_id(ct.pk) is ct
        assert ContentType.objects.get_by_natural_key("ct_tests", "bookmark") is ct
    ContentType.objects.clear_cache()
    with assert_num_queries(1):  # the row exists now: one SELECT
        assert ContentType.objects.get_for_model(Bookmark) == ct
    ContentType.objects.clear_cache()
    with assert_num_queries(1):
        assert ContentType.objects.get_for_id(ct.pk) == ct
    with assert_num_queries(0):
        assert ContentType.objects.get_for_model(Bookmark) == ct
    assert ContentType.objects.count() == 1
    assert str(ct) == "ct_tests | bookmark" and ct.natural_key() == ("ct_tests", "bookmark")


def test_get_for_models_proxies_and_lookups(db):
    ContentType.objects.get_for_model(Note)
    ContentType.objects.clear_cache()
    with assert_num_queries(3):  # one SELECT for all, one INSERT per missing row
        cts = ContentType.objects.get_for_models(Note, Bookmark, Document, BookmarkProxy)
    assert cts[BookmarkProxy] is cts[Bookmark]
    assert [cts[m].model for m in (Note, Bookmark, Document)] == ["note", "bookmark", "document"]
    proxy = ContentType.objects.get_for_model(BookmarkProxy, for_concrete_model=False)
    assert proxy.model == "bookmarkproxy" and proxy.model_class() is BookmarkProxy
    with assert_num_queries(0):
        both = ContentType.objects.get_for_models(BookmarkProxy, for_concrete_models=False)
    assert both[BookmarkProxy] is proxy
    with pytest.raises(ContentType.DoesNotExist):
        ContentType.objects.get_by_natural_key("ct_tests", "slugged")
    with pytest.raises(ContentType.DoesNotExist):
        ContentType.objects.get_for_id(10 ** 9)
    with pytest.raises(TypeError, match="model class or instance"):
        ContentType.objects.get_for_model("ct_tests.Note")
    b = Bookmark.objects.create(url="x")
    ct = cts[Bookmark]
    assert ct.get_object_for_this_type(url="x") == b
    assert list(ct.get_all_objects_for_this_type(url__startswith="x")) == [b]
    stale = ContentType.objects.create(app_label="ct_tests", model="gone")
    assert stale.model_class() is None and stale.name == "gone"
    with pytest.raises(LookupError, match="ct_tests.gone"):
        stale.get_object_for_this_type(pk=1)
    with pytest.raises(dorm.IntegrityError):  # unique (app_label, model) is in the schema
        ContentType.objects.create(app_label="ct_tests", model="gone")


def test_creation_is_race_safe(db):
    """Another process inserted the row between our SELECT and INSERT: the unique
    violation is caught and the winner's row returned."""
    from dorm.models.sansio import run_sync

    winner = ContentType.objects.create(app_label="ct_tests", model="note")
    ContentType.objects.clear_cache()
    assert run_sync(ContentType.objects._insert_gen("default", "ct_tests", "note")) == winner
    if db.features.supports_savepoints:  # inside a transaction: the INSERT has its savepoint
        ContentType.objects.clear_cache()
        with dorm.transaction.atomic():
            assert run_sync(ContentType.objects._insert_gen("default", "ct_tests", "note")) == winner
            assert Note.objects.create(body="still usable").pk is not None
    assert ContentType.objects.count() == 1


def test_cache_cleared_when_the_table_is_recreated(db):
    ct = ContentType.objects.get_for_model(Bookmark)
    assert cached("default", ("ct_tests", "bookmark")) is ct
    dorm.drop_tables(MODELS)
    dorm.create_tables(MODELS)
    assert cached("default", ("ct_tests", "bookmark")) is None
    with assert_num_queries(2):
        fresh = ContentType.objects.get_for_model(Bookmark)
    assert fresh.pk is not None and ContentType.objects.count() == 1
    dorm.configure(DATABASES=dorm.settings.DATABASES)  # a settings change clears it too
    assert cached("default", ("ct_tests", "bookmark")) is None


def test_rolled_back_creation_is_forgotten(db):
    with dorm.transaction.atomic():
        with dorm.transaction.atomic():  # released savepoint: eviction moves to the outer block
            ct = ContentType.objects.get_for_model(Note)
        assert cached("default", ("ct_tests", "note")) is ct
        dorm.transaction.set_rollback(True)
    assert cached("default", ("ct_tests", "note")) is None
    assert cached("default", ct.pk) is None
    assert not ContentType.objects.exists()
    committed = ContentType.objects.get_for_model(Note)  # autocommit: stays cached
    assert cached("default", ("ct_tests", "note")) is committed


async def test_rolled_back_creation_is_forgotten_async(db):
    async with dorm.transaction.aatomic():
        ct = await ContentType.objects.aget_for_model(Note)
        assert cached("default", ct.pk) is ct
        await dorm.transaction.aset_rollback(True)
    assert cached("default", ct.pk) is None


# ---- GenericForeignKey -------------------------------------------------------------------------
def test_generic_foreign_key_get_and_set(data):
    b1, doc = data["b1"], data["doc"]
    item = TaggedItem.objects.get(pk=data["b1a"].pk)
    with assert_num_queries(1):  # content type cached: the object only
        assert item.content_object == b1
    with assert_num_queries(0):
        assert item.content_object == b1
    item.content_object = doc
    assert (item.content_type_id, item.object_id) == (ContentType.objects.get_for_model(doc).pk, str(doc.pk))
    with assert_num_queries(0):
        assert item.content_object is doc
    item.save()
    assert TaggedItem.objects.get(pk=item.pk).content_object == doc
    # changing an id behind the descriptor's back re-reads
    item.object_id = str(data["b2"].pk)
    item.content_type = ContentType.objects.get_for_model(Bookmark)
    with assert_num_queries(1):
        assert item.content_object == data["b2"]
    item.content_object = None
    assert item.content_type_id is None and item.object_id is None and item.content_object is None
    # constructor and create() accept it
    fresh = TaggedItem(tag="z", content_object=b1)
    assert fresh.object_id == str(b1.pk) and fresh.content_object is b1
    # content type cold: one more query for it
    ContentType.objects.clear_cache()
    item = TaggedItem.objects.get(pk=data["b1b"].pk)
    with assert_num_queries(2):
        assert item.content_object == b1


def test_generic_foreign_key_int_uuid_and_str_keys(data):
    by_tag = {t.tag: t for t in TaggedItem.objects.all()}
    assert by_tag["d"].object_id == str(data["doc"].pk)
    assert by_tag["d"].content_object == data["doc"]
    assert isinstance(by_tag["d"].content_object.pk, uuid.UUID)
    assert by_tag["s"].content_object == data["sl"]
    assert by_tag["n"].content_object == data["note"]
    comment = Comment.objects.get(pk=data["c1"].pk)
    assert comment.ref == data["b1"].pk and comment.subject == data["b1"]
    with pytest.raises(ValueError, match=r"Comment.subject.*cannot be stored in Comment.ref"):
        comment.subject = data["doc"]  # a UUID does not fit an integer object id


def test_generic_foreign_key_unsaved_missing_and_bad_values(data):
    with pytest.raises(ValueError, match=r"TaggedItem.content_object.*not saved"):
        TaggedItem(tag="x", content_object=Bookmark(url="unsaved"))
    with pytest.raises(TypeError, match="TaggedItem.content_object must be set to a model instance"):
        TaggedItem(tag="x").content_object = 5
    assert TaggedItem(tag="x").content_object is None
    item = TaggedItem.objects.get(pk=data["t_note"].pk)
    data["note"].delete()  # Note has no GenericRelation: its rows stay and dangle
    with assert_num_queries(1):
        assert item.content_object is None
    item = TaggedItem.objects.get(pk=data["b1a"].pk)
    item.object_id = "not-a-number"
    with assert_num_queries(0):
        assert item.content_object is None


def test_generic_foreign_key_is_not_queryable(data):
    for bad in (lambda: TaggedItem.objects.filter(content_object=data["b1"]),
                lambda: TaggedItem.objects.exclude(content_object__url="one"),
                lambda: list(TaggedItem.objects.order_by("content_object")),
                lambda: list(TaggedItem.objects.values("content_object")),
                lambda: list(TaggedItem.objects.select_related("content_object"))):
        with pytest.raises(FieldError, match=r"TaggedItem.content_object is a GenericForeignKey.*"
                                             r"'content_type' and 'object_id'"):
            bad()


def _define(name, **attrs):
    """Define a throwaway model (app ``ct_bad``), always unregistered afterwards."""
    attrs.update(__module__=__name__, Meta=type("Meta", (), {"app_label": "ct_bad"}))
    try:
        return type(name, (dorm.Model,), attrs)
    finally:
        for m in list(registry.get_models("ct_bad")):
            registry.unregister(m)


def test_bad_field_names_raise_naming_model_field_and_choices():
    with pytest.raises(ImproperlyConfigured, match=r"Bad1.target \(GenericForeignKey\): content type "
                                                   r"field 'ctype' is not a field of Bad1; choices "
                                                   r"\(foreign keys to ContentType\): kind"):
        _define("Bad1", kind=dorm.ForeignKey(ContentType, on_delete=dorm.CASCADE, related_name="+"),
                oid=dorm.IntegerField(), target=GenericForeignKey("ctype", "oid"))
    with pytest.raises(ImproperlyConfigured, match=r"object id field 'object_id' is not a field of "
                                                   r"Bad2; choices: oid"):
        _define("Bad2", content_type=dorm.ForeignKey(ContentType, on_delete=dorm.CASCADE, related_name="+"),
                oid=dorm.IntegerField(), target=GenericForeignKey())
    with pytest.raises(ImproperlyConfigured, match=r"'content_type' is not a ForeignKey to "
                                                   r"contenttypes.ContentType on Bad3; choices \(foreign "
                                                   r"keys to ContentType\): \(none\)"):
        _define("Bad3", content_type=dorm.IntegerField(), object_id=dorm.IntegerField(),
                target=GenericForeignKey())
    with pytest.raises(ImproperlyConfigured, match=r"Bad4.tags \(GenericRelation to TaggedItem\): object "
                                                   r"id field 'oid' is not a field of TaggedItem; "
                                                   r"choices: .*object_id.*tag"):
        _define("Bad4", tags=GenericRelation(TaggedItem, object_id_field="oid"))
    with pytest.raises(ImproperlyConfigured, match="invalid GenericForeignKey ct_field"):
        GenericForeignKey('x"; DROP TABLE y; --')
    with pytest.raises(TypeError, match="GenericRelation"):
        GenericRelation(42)


# ---- GenericRelation: the related manager ------------------------------------------------------
def test_generic_relation_reads(data):
    b1 = data["b1"]
    ContentType.objects.clear_cache()
    with assert_num_queries(1):  # cold content type: matched by natural key in the same query
        assert tags(b1.tags.all()) == ["a", "b"]
    ContentType.objects.get_for_model(Bookmark)
    with assert_num_queries(1):
        assert tags(b1.tags.all()) == ["a", "b"]
    assert b1.tags.count() == 2 and tags(b1.tags.filter(tag="b")) == ["b"]
    assert tags(data["b2"].tags.all()) == ["a"] and tags(data["doc"].tags.all()) == ["d"]
    assert tags(data["sl"].tags.all()) == ["s"]
    assert [c.text for c in b1.comments.all()] == ["hi"] and not data["b2"].comments.exists()
    assert [t.tag for t in b1.tags] == ["a", "b"]
    with pytest.raises(TypeError, match="Use tags.set"):
        b1.tags = []
    with pytest.raises(ValueError, match="needs to have a value"):
        Bookmark(url="new").tags.all()


def test_generic_relation_writes(data):
    b1, b2 = data["b1"], data["b2"]
    with assert_num_queries(1):
        c = b2.tags.create(tag="c")
    assert c.content_object is b2 and c.object_id == str(b2.pk)
    moved = data["b1a"]
    with assert_num_queries(1):  # one UPDATE
        b2.tags.add(moved)
    assert tags(b2.tags.all()) == ["a", "a", "c"] and tags(b1.tags.all()) == ["b"]
    unsaved = TaggedItem(tag="u")
    with pytest.raises(ValueError, match="bulk=False"):
        b2.tags.add(unsaved)
    b2.tags.add(unsaved, bulk=False)
    assert unsaved.pk is not None and "u" in tags(b2.tags.all())
    with pytest.raises(TypeError, match="'TaggedItem' instance expected"):
        b2.tags.add(data["c1"])
    with assert_num_queries(1):  # one DELETE: generic rows are deleted, not unlinked
        b2.tags.remove(unsaved)
    assert not TaggedItem.objects.filter(pk=unsaved.pk).exists()
    b2.tags.remove(data["b1b"])  # not related: ignored
    assert TaggedItem.objects.filter(pk=data["b1b"].pk).exists()
    obj, created = b2.tags.get_or_create(tag="g")
    assert created and obj.content_object is b2
    assert b2.tags.get_or_create(tag="g") == (obj, False)
    obj, created = b2.tags.update_or_create(tag="g", defaults={"tag": "h"})
    assert not created and obj.tag == "h"
    keep, drop = TaggedItem.objects.get(tag="c"), TaggedItem.objects.get(tag="h")
    b2.tags.set([keep, data["b1b"]])
    assert sorted(tags(b2.tags.all())) == ["b", "c"] and not TaggedItem.objects.filter(pk=drop.pk).exists()
    b2.tags.set([keep], clear=True)
    assert tags(b2.tags.all()) == ["c"]
    n_before = TaggedItem.objects.count()
    b2.tags.clear(bulk=False)
    assert b2.tags.count() == 0 and TaggedItem.objects.count() == n_before - 1
    assert tags(b1.tags.all()) == []  # its "b" moved to b2 and was cleared with it
    assert b1.comments.create(text="yo").ref == b1.pk


async def test_generic_relation_async_twins(data):
    b2 = data["b2"]
    item = await b2.tags.acreate(tag="c")
    assert item.content_object is b2
    assert sorted([t.tag async for t in b2.tags.all()]) == ["a", "c"]
    assert await b2.tags.acount() == 2
    await b2.tags.aadd(data["b1a"])
    assert await b2.tags.filter(tag="a").acount() == 2
    await b2.tags.aremove(item)
    obj, created = await b2.tags.aget_or_create(tag="g")
    assert created
    obj, created = await b2.tags.aupdate_or_create(tag="g", defaults={"tag": "h"})
    assert not created and obj.tag == "h"
    await b2.tags.aset([obj])
    assert [t.tag async for t in b2.tags.all()] == ["h"]
    await b2.tags.aclear()
    assert await b2.tags.acount() == 0


async def test_generic_foreign_key_async(data):
    item = await TaggedItem.objects.aget(pk=data["b1a"].pk)
    with pytest.raises(NotSupportedError, match="aget_related"):
        item.content_object
    assert await item.aget_related("content_object") == data["b1"]
    assert item.content_object == data["b1"]  # cached now
    items = [i async for i in TaggedItem.objects.prefetch_related("content_object")]
    assert [i.content_object for i in items][:2] == [data["b1"], data["b1"]]
    ContentType.objects.clear_cache()
    with pytest.raises(NotSupportedError, match="aget_for_model"):
        TaggedItem(tag="x", content_object=data["b2"])
    ct = await ContentType.objects.aget_for_model(Bookmark)
    assert (await ContentType.objects.aget_for_id(ct.pk)) is ct
    assert (await ContentType.objects.aget_for_models(Bookmark, Note))[Bookmark] is ct
    created = await TaggedItem.objects.acreate(tag="x", content_object=data["b2"])
    assert created.content_type_id == ct.pk
    assert (await ct.aget_object_for_this_type(url="two")) == data["b2"]


# ---- filtering across a GenericRelation ---------------------------------------------------------
def urls(qs):
    return sorted(b.url for b in qs)


def test_filtering_across_generic_relations(data):
    # the Note item has the same object id as b1 but another content type: never matches
    assert urls(Bookmark.objects.filter(tags__tag="a")) == ["one", "two"]
    assert urls(Bookmark.objects.filter(tags__tag="b")) == ["one"]
    assert urls(Bookmark.objects.filter(tags__tag="n")) == []
    assert urls(Bookmark.objects.exclude(tags__tag="b")) == ["two"]
    assert urls(Bookmark.objects.filter(tags=data["b2a"])) == ["two"]
    assert urls(Bookmark.objects.filter(tags__in=[data["b1b"], data["t_note"]])) == ["one"]
    assert [d.title for d in Document.objects.filter(tags__tag="d")] == ["doc"]  # UUID keys
    assert [s.slug for s in Slugged.objects.filter(tags__tag="s")] == ["s-1"]  # str keys
    assert urls(Bookmark.objects.filter(comments__text="hi")) == ["one"]  # integer object id
    Bookmark.objects.create(url="bare")
    assert urls(Bookmark.objects.filter(tags__isnull=True)) == ["bare"]
    counts = dict(Bookmark.objects.annotate(n=Count("tags")).values_list("url", "n"))
    assert counts == {"one": 2, "two": 1, "bare": 0}
    assert sorted(Bookmark.objects.filter(url="one").values_list("tags__tag", flat=True)) == ["a", "b"]
    # back from the item model through related_query_name
    assert tags(TaggedItem.objects.filter(bookmark__url="one")) == ["a", "b"]
    assert tags(TaggedItem.objects.filter(bookmark=data["b2"])) == ["a"]
    with_a = Bookmark.objects.annotate(a_tags=FilteredRelation("tags", condition=Q(tags__tag="b")))
    assert urls(with_a.filter(a_tags__isnull=False)) == ["one"]
    with pytest.raises(FieldError, match="Choices are:.*tags"):
        Bookmark.objects.filter(tagz__tag="a")


# ---- deletion ----------------------------------------------------------------------------------
def test_deleting_the_owner_deletes_its_generic_rows(data):
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.tag)

    dorm.pre_delete.connect(receiver, sender=TaggedItem, weak=False)
    try:
        n, per_model = data["b1"].delete()
    finally:
        dorm.pre_delete.disconnect(receiver, sender=TaggedItem)
    assert per_model == {"ct_tests.TaggedItem": 2, "ct_tests.Comment": 1, "ct_tests.Bookmark": 1}
    assert n == 4 and sorted(seen) == ["a", "b"]
    # same object id, other content type: untouched
    assert sorted(tags(TaggedItem.objects.all())) == ["a", "d", "n", "s"]
    n, per_model = Bookmark.objects.all().delete()  # queryset delete cascades too
    assert per_model == {"ct_tests.TaggedItem": 1, "ct_tests.Bookmark": 1}
    data["doc"].delete()
    assert sorted(tags(TaggedItem.objects.all())) == ["n", "s"]


# ---- prefetch_related ----------------------------------------------------------------------------
def test_prefetch_generic_foreign_key(data):
    ContentType.objects.clear_cache()
    # rows + content types (cold) + one query per content type (Bookmark, Document, Slugged, Note)
    with assert_num_queries(1 + 1 + 4):
        items = list(TaggedItem.objects.prefetch_related("content_object"))
    with assert_num_queries(0):
        got = {i.tag: i.content_object for i in items}
    assert got == {"a": data["b2"], "b": data["b1"], "d": data["doc"], "s": data["sl"], "n": data["note"]}
    assert items[0].content_object == data["b1"]
    with assert_num_queries(1 + 2):  # content types cached now
        items = list(TaggedItem.objects.filter(tag__in=["a", "d"]).prefetch_related("content_object"))
    with assert_num_queries(1 + 1):
        comments = list(Comment.objects.prefetch_related("subject"))
    assert comments[0].subject == data["b1"]
    with assert_num_queries(1 + 2):
        items = list(TaggedItem.objects.filter(tag__in=["a", "d"]).prefetch_related(
            Prefetch("content_object", queryset=Bookmark.objects.filter(url="one"), to_attr="target")))
    assert [(i.tag, i.target) for i in items] == [("a", data["b1"]), ("a", None), ("d", data["doc"])]
    # nested: the tags of each loaded object, one query per model (Bookmark, Document)
    with assert_num_queries(1 + 2 + 2):
        items = list(TaggedItem.objects.filter(tag__in=["b", "d"]).prefetch_related("content_object__tags"))
    with assert_num_queries(0):
        assert [tags(i.content_object.tags.all()) for i in items] == [["a", "b"], ["d"]]
    data["note"].delete()
    with assert_num_queries(1 + 1):
        items = list(TaggedItem.objects.filter(tag="n").prefetch_related("content_object"))
    assert items[0].content_object is None


def test_prefetch_generic_relation(data):
    for warm in (False, True):
        if not warm:
            ContentType.objects.clear_cache()
        with assert_num_queries(1 + 1):
            bookmarks = list(Bookmark.objects.prefetch_related("tags"))
        with assert_num_queries(0):
            assert [tags(b.tags.all()) for b in bookmarks] == [["a", "b"], ["a"]]
            assert bookmarks[0].tags.all()[0].content_object is bookmarks[0]  # set by the prefetch
        ContentType.objects.get_for_model(Bookmark)
    with assert_num_queries(1 + 1):
        bookmarks = list(Bookmark.objects.prefetch_related(
            Prefetch("tags", queryset=TaggedItem.objects.filter(tag="a"), to_attr="a_tags")))
    assert [tags(b.a_tags) for b in bookmarks] == [["a"], ["a"]]
    with assert_num_queries(1 + 1):
        docs = list(Document.objects.prefetch_related("tags"))
    assert tags(docs[0].tags.all()) == ["d"]
    with assert_num_queries(1 + 1 + 1):
        bookmarks = list(Bookmark.objects.prefetch_related("tags", "comments"))
    assert [c.text for c in bookmarks[0].comments.all()] == ["hi"]
    bookmarks[0].tags.create(tag="new")  # a write drops the prefetched rows
    assert tags(bookmarks[0].tags.all()) == ["a", "b", "new"]
    dorm.prefetch_related_objects(bookmarks, "tags__content_object")
    with assert_num_queries(0):
        assert bookmarks[1].tags.all()[0].content_object == data["b2"]


# ---- migrations ---------------------------------------------------------------------------------
APP_MODELS = """
    import dorm
    from dorm.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
    from dorm.contrib.contenttypes.models import ContentType


    class Pin(dorm.Model):
        label = dorm.CharField(max_length=20)
        content_type = dorm.ForeignKey(ContentType, on_delete=dorm.CASCADE)
        object_id = dorm.CharField(max_length=40)
        content_object = GenericForeignKey()


    class Board(dorm.Model):
        name = dorm.CharField(max_length=20)
        pins = GenericRelation(Pin)
"""


def _drop_migration_leftovers(settings):
    from dorm.db import connections

    with dorm.settings.override(DATABASES={"default": settings}):
        try:
            conn = connections["default"]
            tables = set(conn.introspection.table_names())
            for table in ("ctmigapp_pin", "ctmigapp_board", "dorm_content_type"):
                if table in tables:
                    conn.execute_script(f"DROP TABLE {conn.ops.quote_name(table)}")
            if "dorm_migrations" in tables:
                conn.execute_write(f"DELETE FROM dorm_migrations WHERE app IN "
                                   f"({conn.ops.placeholder}, {conn.ops.placeholder})",
                                   ["contenttypes", "ctmigapp"])
        finally:
            connections.close_all()


def test_installable_with_dorm_migrate(backend_settings, tmp_path):
    from pathlib import Path

    from ..migrations.conftest import Project

    import dorm.contrib.contenttypes.migrations as shipped

    settings = dict(backend_settings)
    if str(settings.get("NAME", "")).endswith((".db", ".sqlite3", ".duckdb")):
        settings["NAME"] = str(tmp_path / ("mig" + Path(settings["NAME"]).suffix))
    shipped_files = sorted(p.name for p in Path(shipped.__file__).parent.glob("*.py"))
    project = Project(tmp_path, settings, ["dorm.contrib.contenttypes", "ctmigapp"])
    project.models("ctmigapp", APP_MODELS)
    _drop_migration_leftovers(settings)
    try:
        project.run("makemigrations")
        assert project.migrations("ctmigapp") == ["0001_initial.py"]
        assert '("contenttypes", "0001_initial")' in project.read("ctmigapp", "0001_initial.py")
        # nothing generated for the shipped app
        assert sorted(p.name for p in Path(shipped.__file__).parent.glob("*.py")) == shipped_files
        project.run("migrate")
        project.run("makemigrations", "--check")
        rows = project.query("SELECT app, name FROM dorm_migrations WHERE app = %s", ["contenttypes"])
        assert rows == [("contenttypes", "0001_initial")]
        project.write("INSERT INTO dorm_content_type (app_label, model) VALUES (%s, %s)", ["x", "y"])
        with pytest.raises(Exception):  # noqa: B017 - the unique constraint is in the migrated table
            project.write("INSERT INTO dorm_content_type (app_label, model) VALUES (%s, %s)", ["x", "y"])
        project.run("migrate", "ctmigapp", "zero")
        project.run("migrate", "contenttypes", "zero")
        assert not ({"dorm_content_type", "ctmigapp_pin"}
                    & set(project._with_conn(lambda c: c.introspection.table_names())))
    finally:
        _drop_migration_leftovers(settings)


def test_inherited_from_abstract_models_and_proxies(db):
    photo = Photo.objects.create(name="p")
    rating = Rating.objects.create(score=5, content_object=photo)
    assert Rating.objects.get(pk=rating.pk).content_object == photo
    assert [r.score for r in photo.ratings.all()] == [5]
    assert [p.name for p in Photo.objects.filter(ratings__score=5)] == ["p"]
    proxy = BookmarkProxy.objects.create(url="proxied")
    item = TaggedItem.objects.create(tag="x", content_object=proxy)
    assert item.content_type == ContentType.objects.get_for_model(Bookmark)  # concrete by default
    assert type(TaggedItem.objects.get(pk=item.pk).content_object) is Bookmark
    assert photo.delete()[1] == {"ct_tests.Rating": 1, "ct_tests.Photo": 1}


def test_cache_and_lookups_are_per_alias(tmp_path):
    """Content type ids differ between databases: each alias has its own cache, and an
    instance's generic key is read on the alias it came from."""
    from dorm.db import connections

    previous = dorm.settings.DATABASES
    dorm.configure(DATABASES={
        "default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "a.sqlite3")},
        "other": {"ENGINE": "sqlite", "NAME": str(tmp_path / "b.sqlite3")}})
    try:
        for alias in ("default", "other"):
            dorm.create_tables(MODELS, using=alias)
        ContentType.objects.db_manager("other").get_for_model(Note)  # shifts the ids there
        here = ContentType.objects.get_for_model(Bookmark)
        there = ContentType.objects.db_manager("other").get_for_model(Bookmark)
        assert here.pk != there.pk
        assert cached("default", here.pk) is here and cached("other", there.pk) is there
        far = Bookmark.objects.using("other").create(url="far")
        near = Bookmark.objects.create(url="near")
        TaggedItem.objects.using("other").create(tag="t", content_object=far)
        TaggedItem.objects.create(tag="t", content_object=near)
        item = TaggedItem.objects.using("other").get(tag="t")
        assert item.content_type_id == there.pk and item.content_object.url == "far"
        assert [b.url for b in Bookmark.objects.using("other").filter(tags__tag="t")] == ["far"]
        items = list(TaggedItem.objects.using("other").prefetch_related("content_object"))
        assert items[0].content_object.url == "far"
        assert [t.tag for t in far.tags.all()] == ["t"]
    finally:
        connections.close_all()
        dorm.configure(DATABASES=previous)
