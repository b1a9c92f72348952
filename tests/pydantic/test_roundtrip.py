"""Schemas against real databases (every installed backend): instance -> schema -> JSON ->
schema -> new row, PATCH through the update schema, values at the limits of the
constraints, list pages built from ``cursor_paginate``."""
from __future__ import annotations

import datetime
import decimal

import pytest

from dorm.contrib.pydantic import (
    create_schema_for,
    list_response_schema,
    schema_for,
    update_schema_for,
)

from .models import ALL, Author, Book, Code, Format, Publisher, Tag

MODELS = ALL

#: the read-side values that differ between two rows holding the same data
GENERATED = {"id", "created", "uid"}


@pytest.fixture
def book(db):
    pub = Publisher.objects.create(name="Ace")
    author = Author.objects.create(name="Frank", email="frank@example.com",
                                   website="https://frank.example", born=datetime.date(1920, 10, 8),
                                   publisher=pub)
    return Book.objects.create(
        title="Dune", isbn="9780441013593", price=decimal.Decimal("9.99"), status="published",
        format=Format.HARDCOVER, published=datetime.datetime(1965, 8, 1, 12, 0),
        reading_time=datetime.timedelta(hours=9, minutes=30), pages=412, rating=4.5,
        extra={"series": ["Dune", 1], "awards": {"hugo": True}}, cover=b"\x89PNG\x00\xff",
        author=author)


def comparable(dumped: dict) -> dict:
    return {k: v for k, v in dumped.items() if k not in GENERATED}


def test_instance_to_json_and_back_to_a_new_row(book):
    Read = schema_for(Book)
    Create = create_schema_for(Book)
    out = Read.from_model(Book.objects.get(pk=book.pk))
    text = out.model_dump_json()
    back = Read.model_validate_json(text)
    assert back == out and back.id == book.pk

    body = {k: v for k, v in back.model_dump(mode="json").items() if k in Create.model_fields}
    created = Create.model_validate_json(Create.model_validate(body).model_dump_json())
    new = created.to_model()
    new.save()
    assert new.pk != book.pk
    reloaded = Read.from_model(Book.objects.get(pk=new.pk))
    assert comparable(reloaded.model_dump(mode="json")) == comparable(out.model_dump(mode="json"))
    assert reloaded.price == decimal.Decimal("9.99") and reloaded.format is Format.HARDCOVER
    assert reloaded.cover == b"\x89PNG\x00\xff"
    assert reloaded.extra == {"series": ["Dune", 1], "awards": {"hugo": True}}
    assert reloaded.reading_time == datetime.timedelta(hours=9, minutes=30)


def test_values_at_the_limits_validate_and_store(db):
    author = Author.objects.create(name="A", email="a@example.com")
    data = create_schema_for(Book)(title="x" * 40, price="9999.99", author_id=author.pk,
                                   pages=0, isbn="1" * 13)
    book = data.to_model()
    book.save()
    row = Book.objects.get(pk=book.pk)
    assert (row.title, row.price, row.pages) == ("x" * 40, decimal.Decimal("9999.99"), 0)
    assert row.format is Format.PAPERBACK and row.status == "draft"


def test_nullable_and_defaulted_fields_round_trip(db):
    author = Author.objects.create(name="A", email="a@example.com")
    body = create_schema_for(Book).model_validate_json(
        '{"title": "T", "price": "1", "author_id": %d}' % author.pk)
    book = body.to_model()
    book.save()
    read = schema_for(Book).from_model(Book.objects.get(pk=book.pk))
    assert read.isbn is None and read.rating is None and read.cover is None
    assert read.extra == {} and read.pages == 100 and read.created is not None


def test_patch_changes_only_what_was_sent(book):
    Patch = update_schema_for(Book)
    patch = Patch.model_validate_json('{"title": "Dune Messiah", "isbn": null, "pages": 256}')
    obj = Book.objects.get(pk=book.pk)
    patch.apply_to(obj).save()
    row = Book.objects.get(pk=book.pk)
    assert (row.title, row.isbn, row.pages) == ("Dune Messiah", None, 256)
    assert row.price == decimal.Decimal("9.99") and row.status == "published"


def test_natural_key_create_and_read(db):
    Code.objects.create(**create_schema_for(Code)(code="X1", label="one").model_kwargs())
    read = schema_for(Code).from_model(Code.objects.get(pk="X1"))
    assert read.model_dump() == {"code": "X1", "label": "one"}


def test_from_models_reads_a_queryset(book):
    authors = schema_for(Author, pii="mask").from_models(Author.objects.order_by("pk"))
    assert [(a.name, a.email) for a in authors] == [("Frank", "***")]
    assert authors[0].publisher_id == book.author.publisher_id


# ---- list responses ---------------------------------------------------------------------------------
def _tags(n: int):
    for i in range(n):
        Tag.objects.create(slug=f"tag-{i:02d}")


@pytest.mark.parametrize("order_by", ["pk", "-slug"])
def test_list_response_follows_cursor_pages(db, order_by):
    _tags(7)
    Page = list_response_schema(Tag)
    seen, after, pages = [], None, 0
    while True:
        page = Tag.objects.all().cursor_paginate(after=after, order_by=order_by, page_size=3)
        body = Page.from_page(page).model_dump_json()          # what a client receives
        decoded = Page.model_validate_json(body)
        pages += 1
        assert decoded.count == len(decoded.items) == len(page.items)
        seen += [t.slug for t in decoded.items]
        if not decoded.has_next:
            assert decoded.next_cursor is None
            break
        after = decoded.next_cursor                            # sent back by the client
    assert pages == 3
    expected = [t.slug for t in Tag.objects.order_by(order_by)]
    assert seen == expected and len(seen) == 7


def test_list_response_from_a_queryset_and_a_total(db):
    _tags(2)
    Page = list_response_schema(schema_for(Tag))
    assert Page is list_response_schema(schema_for(Tag))
    assert Page.__name__ == "TagList"
    page = Page.model_validate(Tag.objects.order_by("slug"))
    assert (page.count, page.has_next, page.next_cursor) == (2, False, None)
    assert Page.from_page(Tag.objects.order_by("slug")[:1], count=2).count == 2
    props = Page.model_json_schema()["properties"]
    assert set(props) == {"items", "count", "next_cursor", "has_next"}
