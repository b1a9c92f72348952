"""Row loading: instances built by the generated row loaders, their lazily created
``_state`` and the objects joined by ``select_related``."""
import copy
import pickle
import types

import pytest

import dorm
from dorm.models import ModelState, peek_state
from dorm.models.row_loader import MAX_CACHED_SHAPES, row_loader
from dorm.test import assert_num_queries

from .relmodels import Author, Book, Chapter, Profile, Publisher, RELATION_MODELS

MODELS = RELATION_MODELS


@pytest.fixture
def rows(db):
    acme = Publisher.objects.create(name="Acme")
    ann = Author.objects.create(name="Ann", publisher=acme)
    bob = Author.objects.create(name="Bob")
    Profile.objects.create(author=ann, bio="writes")
    Book.objects.create(title="Alpha", author=ann, editor=bob, pages=10)
    Book.objects.create(title="Beta", author=bob, pages=20)
    return dict(acme=acme, ann=ann, bob=bob)


def test_loaded_instance_state(rows):
    ann = Author.objects.get(name="Ann")
    assert peek_state(ann) is not None  # a loaded row always has a state to give
    assert ann._state.db == "default" and ann._state.adding is False
    assert isinstance(ann._state, ModelState)
    assert [k for k in vars(ann) if k.startswith("_") and k != "_state"] == []
    fresh = Author(name="New")
    assert peek_state(fresh) is None
    assert fresh._state.adding is True and fresh._state.db is None


def test_bulk_created_instances_know_their_alias(db):
    objs = Publisher.objects.bulk_create([Publisher(name=f"p{i}") for i in range(3)])
    assert {(o._state.db, o._state.adding) for o in objs} == {("default", False)}


def test_select_related_nested_nullable_and_back_links(rows):
    with assert_num_queries(1):
        books = list(Book.objects.select_related("author__publisher", "editor").order_by("title"))
        alpha, beta = books
        assert alpha.author.name == "Ann" and alpha.author.publisher.name == "Acme"
        assert alpha.editor.name == "Bob" and beta.editor is None
        assert beta.author.publisher is None
        assert alpha._state.fields_cache["author"] is alpha.author
    with assert_num_queries(1):
        profile = Profile.objects.select_related("author").get()
        assert profile.author.profile is profile  # one-to-one: the back link needs no query
        assert profile.author.name == "Ann"


def test_changing_the_id_drops_the_joined_object(rows):
    book = Book.objects.select_related("author").get(title="Alpha")
    book.author_id = rows["bob"].pk
    with assert_num_queries(1):
        assert book.author.name == "Bob"
    book = Book.objects.select_related("author").get(title="Alpha")
    book.author = rows["bob"]
    assert book.author is rows["bob"]
    book.save()
    assert Book.objects.get(title="Alpha").author_id == rows["bob"].pk


def test_replacing_state_forgets_joined_objects(rows):
    book = Book.objects.select_related("author").get(title="Alpha")
    book._state = ModelState()
    with assert_num_queries(1):
        assert book.author.name == "Ann"


def test_copies_and_pickles_have_their_own_state(rows):
    book = Book.objects.select_related("author").get(title="Alpha")
    twin = copy.copy(book)
    assert twin._state is not book._state and twin._state.db == "default"
    assert twin.author is book.author  # the related cache is copied, not shared
    twin._state.fields_cache.clear()
    assert "author" in book._state.fields_cache
    twin._state.adding = True
    assert book._state.adding is False
    back = pickle.loads(pickle.dumps(Book.objects.select_related("author").get(title="Beta")))
    assert back.title == "Beta" and back._state.db == "default" and back._state.adding is False
    assert back.author.name == "Bob"


def test_raw_and_from_db_rows(rows):
    ann = Author.from_db("default", ["id", "name", "publisher_id"], [rows["ann"].pk, "Ann", None])
    assert ann._state.db == "default" and not ann._state.adding and ann.name == "Ann"
    table = Author._meta.db_table
    got = list(Author.objects.raw(f'SELECT * FROM "{table}" ORDER BY "name"'))
    assert [a.name for a in got] == ["Ann", "Bob"] and got[0]._state.db == "default"


def test_self_referencing_select_related(db):
    root = Chapter.objects.create(title="root")
    Chapter.objects.create(title="leaf", parent=root)
    leaf = Chapter.objects.select_related("parent__parent").get(title="leaf")
    assert leaf.parent.title == "root" and leaf.parent.parent is None


def test_annotations_are_loaded_next_to_fields(rows):
    got = {a.name: (a.n, a.nick) for a in Author.objects.annotate(
        n=dorm.Count("books"), nick=dorm.functions.Upper("name")).select_related("publisher")}
    assert got == {"Ann": (1, "ANN"), "Bob": (1, "BOB")}


def test_loader_source_never_contains_field_names():
    """Names reach the generated loader only as repr()'d dict keys."""

    class Odd:
        _meta = types.SimpleNamespace()  # a stand-in carrying only what row_loader uses

    nasty = ["a'b", 'c"d', "e}\nimport os", "x\\y", "ok"]
    load = row_loader(Odd, nasty, None, len(nasty))
    obj = load([tuple(range(len(nasty)))], "alias")[0]
    assert [obj.__dict__[n] for n in nasty] == [0, 1, 2, 3, 4]


def test_loader_cache_is_bounded_and_width_mismatch_falls_back(rows):
    class Many:
        _meta = types.SimpleNamespace()

    for i in range(MAX_CACHED_SHAPES + 10):
        row_loader(Many, [f"f{i}"], None, 1)
    assert len(Many._meta.__dict__["_row_loaders"]) == MAX_CACHED_SHAPES
    # rows wider than the select list (a driver adding a column) still load correctly
    from dorm.db import connections
    from dorm.models.iterables import ModelIterable
    from dorm.query.compiler import SQLCompiler

    qs = Publisher.objects.all()
    hydrate = ModelIterable.hydrator(qs, SQLCompiler(qs.query, connections["default"]))
    got = hydrate([(rows["acme"].pk, "Acme", "extra")], "default")
    assert got[0].name == "Acme" and got[0]._state.db == "default"
