"""``nested_schema_for`` on every backend: forward keys, one-to-one both ways, reverse
keys and many-to-many as lists, depth limits, cycles, and a list read with
``prefetch_related(*Schema.dorm_relations)`` in a fixed number of queries."""
from __future__ import annotations

import decimal

import pytest

from dorm.contrib.pydantic import SchemaConfigError, nested_schema_for, schema_for
from dorm.test import assert_num_queries, capture_queries

from .models import ALL, Author, Book, Category, Profile, Publisher, Tag

MODELS = ALL


def make_library(authors: int = 3, books: int = 2):
    pub = Publisher.objects.create(name="Ace")
    tags = [Tag.objects.create(slug=s) for s in ("sf", "classic", "epic")]
    for i in range(authors):
        author = Author.objects.create(name=f"author {i}", email=f"a{i}@example.com",
                                       publisher=pub if i % 2 == 0 else None)
        if i == 0:
            Profile.objects.create(author=author, bio="first")
        for j in range(books):
            book = Book.objects.create(title=f"book {i}.{j}", price=decimal.Decimal("1.50"),
                                       author=author)
            book.tags.add(*tags[: j + 1])


# ---- shape -----------------------------------------------------------------------------------------
def test_shape_and_relation_paths():
    S = nested_schema_for(Author, depth=2)
    assert S.__name__ == "AuthorNested"
    assert list(S.model_fields) == ["id", "name", "email", "website", "born", "publisher",
                                    "profile", "books"]
    assert S.dorm_relations == ("publisher", "profile", "books__tags")
    book = S.model_fields["books"].annotation.__args__[0]
    assert book.__name__ == "AuthorNestedBooks"
    assert "author" not in book.model_fields and "author_id" in book.model_fields   # no way back
    tag = book.model_fields["tags"].annotation.__args__[0]
    assert "books" not in tag.model_fields                  # last level: flat
    assert nested_schema_for(Author, depth=2) is S


def test_pii_mode_applies_at_every_level():
    S = nested_schema_for(Book, pii="mask")
    author = S.model_fields["author"].annotation
    assert author.__dorm_slots__["email"].kind == "masked"
    assert "email" not in nested_schema_for(Book, pii="exclude").model_fields[
        "author"].annotation.model_fields


def test_depth_zero_is_the_flat_schema():
    flat = nested_schema_for(Book, depth=0)
    assert list(flat.model_fields) == list(schema_for(Book).model_fields)
    assert flat.dorm_relations == ()


def test_forward_keys_become_objects():
    S = nested_schema_for(Book)
    assert "author" in S.model_fields and "author_id" not in S.model_fields
    assert S.model_fields["author"].is_required()           # NOT NULL key
    assert S.model_fields["tags"].default_factory is list
    assert S.dorm_relations == ("author", "tags")
    assert "books" not in S.model_fields["author"].annotation.model_fields


def test_include_exclude_take_relation_names():
    S = nested_schema_for(Author, include=["name", "books"], name="AuthorBooks")
    assert list(S.model_fields) == ["name", "books"] and S.dorm_relations == ("books",)
    S = nested_schema_for(Author, exclude=["books", "profile", "publisher"])
    assert S.dorm_relations == () and "publisher_id" not in S.model_fields
    with pytest.raises(SchemaConfigError, match=r"unknown field\(s\) in include: 'bookz'.*books"):
        nested_schema_for(Author, include=["bookz"])
    with pytest.raises(ValueError, match="depth must be an integer >= 0"):
        nested_schema_for(Author, depth=-1)


def test_self_reference_is_bounded_by_depth():
    S = nested_schema_for(Category, depth=3)
    assert S.dorm_relations == ("parent__parent__parent", "children__children__children")
    S.model_json_schema()                                   # finite: no recursion error


# ---- against the database ---------------------------------------------------------------------------
def test_nested_read(db):
    make_library(authors=1, books=2)
    S = nested_schema_for(Author, depth=2)
    out = S.from_model(Author.objects.get())
    assert out.publisher.name == "Ace" and out.profile.bio == "first"
    assert [b.title for b in sorted(out.books, key=lambda b: b.title)] == ["book 0.0", "book 0.1"]
    assert sorted(len(b.tags) for b in out.books) == [1, 2]
    again = S.model_validate_json(out.model_dump_json())
    assert again == out


def test_missing_one_to_one_and_null_key_read_as_none(db):
    make_library(authors=2, books=0)
    second = Author.objects.get(name="author 1")
    out = nested_schema_for(Author).from_model(second)
    assert out.profile is None and out.publisher is None and out.books == []


def test_prefetch_reads_a_list_without_n_plus_one(db):
    make_library(authors=3, books=2)
    S = nested_schema_for(Author, depth=2)
    expected = 5            # authors, then publishers, profiles, books, tags: one query each
    with assert_num_queries(expected):
        out = S.from_models(Author.objects.order_by("pk").prefetch_related(*S.dorm_relations))
    assert len(out) == 3 and sum(len(a.books) for a in out) == 6
    make_library(authors=4, books=3)                        # more rows, same number of queries
    with assert_num_queries(expected):
        out = S.from_models(Author.objects.order_by("pk").prefetch_related(*S.dorm_relations))
    assert len(out) == 7
    with capture_queries() as lazy:                         # without the prefetch: per row
        S.from_models(Author.objects.order_by("pk"))
    assert len(lazy.queries) > 3 * expected


def test_self_reference_from_the_database(db):
    root = Category.objects.create(name="root")
    mid = Category.objects.create(name="mid", parent=root)
    leaf = Category.objects.create(name="leaf", parent=mid)
    S = nested_schema_for(Category, depth=2)
    up = S.from_model(Category.objects.prefetch_related(*S.dorm_relations).get(pk=leaf.pk))
    assert up.parent.name == "mid" and up.parent.parent.name == "root"
    assert up.parent.parent.parent_id is None               # the last level keeps the key
    down = S.from_model(Category.objects.prefetch_related(*S.dorm_relations).get(pk=root.pk))
    assert [c.name for c in down.children] == ["mid"]
    assert [c.name for c in down.children[0].children] == ["leaf"]


def test_to_model_from_a_nested_schema(db):
    make_library(authors=1, books=1)
    S = nested_schema_for(Book)
    out = S.from_model(Book.objects.get())
    same = out.to_model()
    assert same.pk == out.id and same.author_id == out.author.id     # the row it describes
    copy = out.to_model(id=None, title="copy")
    assert isinstance(copy, Book) and copy.pk is None
    assert copy.author_id == out.author.id and copy.title == "copy"
    copy.save()
    assert Book.objects.filter(author_id=out.author.id).count() == 2
