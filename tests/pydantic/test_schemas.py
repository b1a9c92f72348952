"""Schema shape: Python types, required fields, defaults, the key, include/exclude/optional
errors, caching, PII modes, create/update schemas, computed fields and examples. These
need no database (instances are built in memory); tests/pydantic/test_roundtrip.py runs
the same schemas against every backend."""
from __future__ import annotations

import datetime
import decimal
import typing
import uuid

import pytest
from pydantic import BaseModel, ValidationError

from dorm.contrib.pydantic import (
    PII_MASK,
    DormSchema,
    SchemaConfigError,
    create_schema_for,
    list_response_schema,
    schema_for,
    schema_for_with_examples,
    schema_with_computed,
    update_schema_for,
)

from .models import Author, Book, Code, Format, Publisher

BOOK = {"title": "Dune", "price": "9.99", "author_id": 1}


def errors(exc: ValidationError) -> dict[str, str]:
    """``{field: error type}`` of a pydantic ValidationError."""
    return {".".join(map(str, e["loc"])): e["type"] for e in exc.errors()}


# ---- types --------------------------------------------------------------------------------------
def test_values_get_the_python_types_of_the_model():
    s = schema_for(Book).model_validate({
        **BOOK, "id": 3, "uid": "12345678-1234-5678-1234-567812345678", "format": "ebook",
        "published": "2024-05-06T07:08:09Z", "reading_time": "PT2H", "rating": 4,
        "cover": "AP8=", "created": "2024-01-01T00:00:00Z"})
    assert s.price == decimal.Decimal("9.99") and isinstance(s.price, decimal.Decimal)
    assert s.uid == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert s.format is Format.EBOOK
    assert s.published == datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    assert s.reading_time == datetime.timedelta(hours=2)
    assert s.rating == 4.0 and isinstance(s.rating, float)
    assert s.cover == b"\x00\xff"
    assert s.author_id == 1 and not hasattr(s, "author")
    dumped = s.model_dump(mode="json")
    assert dumped["cover"] == "AP8=" and dumped["price"] == "9.99"
    assert dumped["format"] == "ebook"
    assert dumped["reading_time"] in ("PT2H", "PT7200S")      # ISO 8601, pydantic-version styled


def test_annotations():
    fields = schema_for(Book).model_fields
    hints = {name: f.annotation for name, f in fields.items()}
    assert hints["format"] is Format
    assert hints["status"] == typing.Literal["draft", "published"]
    assert hints["title"] is str and hints["price"] is decimal.Decimal
    isbn = typing.get_args(hints["isbn"])
    assert type(None) in isbn and typing.get_args(isbn[0])[0] is str   # Optional[Annotated[str]]
    assert hints["uid"] is uuid.UUID and hints["extra"] is typing.Any
    assert hints["author_id"] is int
    assert "tags" not in fields                         # many-to-many is not a column


def test_required_fields_and_defaults():
    S = schema_for(Book)
    assert {n for n, f in S.model_fields.items() if f.is_required()} == {"title", "price",
                                                                         "author_id"}
    s = S(**BOOK)
    assert (s.status, s.format, s.pages, s.extra) == ("draft", Format.PAPERBACK, 100, {})
    assert s.isbn is None and s.created is None and s.id is None
    assert isinstance(s.uid, uuid.UUID) and S(**BOOK).uid != s.uid      # default_factory
    s.extra["x"] = 1
    assert S(**BOOK).extra == {}                        # a mutable default is not shared


def test_key_is_read_only_by_default():
    S = schema_for(Book)
    s = S(**BOOK, id=5)
    with pytest.raises(ValidationError) as exc:
        s.id = 6
    assert errors(exc.value) == {"id": "frozen_field"}
    assert S.model_json_schema()["properties"]["id"]["readOnly"] is True
    W = schema_for(Book, readonly_pk=False)
    w = W(**BOOK, id=5)
    w.id = 6
    assert "readOnly" not in W.model_json_schema()["properties"]["id"]
    assert not W.model_fields["id"].is_required()       # auto key: still filled by the db


# ---- validation errors ----------------------------------------------------------------------
def test_validation_errors_name_the_fields():
    with pytest.raises(ValidationError) as exc:
        schema_for(Book).model_validate({"title": "x" * 41, "price": "1.234", "status": "gone",
                                         "format": "scroll", "pages": -1})
    assert errors(exc.value) == {
        "title": "string_too_long", "price": "decimal_max_places", "status": "literal_error",
        "format": "enum", "pages": "greater_than_equal", "author_id": "missing"}


def test_decimal_digits_and_types():
    S = create_schema_for(Book)
    with pytest.raises(ValidationError) as exc:
        S(**{**BOOK, "price": "12345.6"})
    assert errors(exc.value) == {"price": "decimal_whole_digits"}
    with pytest.raises(ValidationError) as exc:
        S(**{**BOOK, "author_id": "one", "extra_field": 1})
    assert errors(exc.value) == {"author_id": "int_parsing", "extra_field": "extra_forbidden"}


def test_kernel_checks_run_for_email_url_slug_and_validators():
    A = create_schema_for(Author)
    ok = A(name="Ann", email="ann@example.com", website="https://ann.example")
    assert ok.email == "ann@example.com"
    with pytest.raises(ValidationError) as exc:
        A(name="Lorem Ipsum", email="not-an-email", website="ann.example")
    from dorm_pydantic.mapping import email_validator_available

    email_error = "value_error" if email_validator_available() else "dorm_invalid"
    assert errors(exc.value) == {"name": "dorm_invalid", "email": email_error,
                                 "website": "dorm_invalid"}
    messages = {e["loc"][0]: e["msg"] for e in exc.value.errors()}
    assert messages["name"] == "no placeholder text, please"
    assert "valid email address" in messages["email"]
    from .models import Tag

    with pytest.raises(ValidationError) as exc:
        create_schema_for(Tag)(slug="not a slug")
    assert errors(exc.value) == {"slug": "string_pattern_mismatch"}


def test_email_without_email_validator_uses_the_kernel_check(monkeypatch):
    from dorm_pydantic import mapping

    monkeypatch.setattr(mapping, "email_validator_available", lambda: False)
    A = create_schema_for(Author, name="AuthorNoEmailValidator")
    assert A(name="a", email=" a@b.io ").email == "a@b.io"     # the kernel strips
    with pytest.raises(ValidationError) as exc:
        A(name="a", email="a@b")
    assert errors(exc.value) == {"email": "dorm_invalid"}


def test_email_with_email_validator(monkeypatch):
    pytest.importorskip("email_validator")
    A = create_schema_for(Author, name="AuthorWithEmailValidator")
    assert A(name="a", email="Ann@Example.COM").email == "Ann@Example.COM"   # not rewritten
    with pytest.raises(ValidationError) as exc:
        A(name="a", email="ann@@example.com")
    assert errors(exc.value) == {"email": "value_error"}


# ---- options -------------------------------------------------------------------------------------
def test_include_exclude_optional_and_name():
    S = schema_for(Book, include=["title", "author"], name="BookCard")
    assert S.__name__ == "BookCard" and list(S.model_fields) == ["title", "author_id"]
    S = schema_for(Book, exclude=("extra", "cover", "author_id"))
    assert {"extra", "cover", "author_id"}.isdisjoint(S.model_fields)
    S = schema_for(Book, optional=["title"])
    assert not S.model_fields["title"].is_required()
    assert S.model_json_schema()["properties"]["title"]["type"] == ["string", "null"]


@pytest.mark.parametrize("builder, kwargs, arg", [
    (schema_for, {"include": ["title", "titel"]}, "include"),
    (schema_for, {"exclude": "nope"}, "exclude"),
    (schema_for, {"optional": ["x"]}, "optional"),
    (create_schema_for, {"include": ["tags"]}, "include"),
    (update_schema_for, {"exclude": ["authr"]}, "exclude"),
])
def test_unknown_names_are_errors_that_list_the_valid_ones(builder, kwargs, arg):
    with pytest.raises(SchemaConfigError) as exc:
        builder(Book, **kwargs)
    message = str(exc.value)
    assert f"{builder.__name__}(Book)" in message and f"in {arg}" in message
    assert "Valid names for pyd_tests.Book: author, author_id, cover," in message


def test_bad_arguments():
    with pytest.raises(SchemaConfigError, match="choose one of 'include', 'exclude', 'mask'"):
        schema_for(Author, pii="hide")
    with pytest.raises(SchemaConfigError, match="must be a Python identifier"):
        schema_for(Author, name="Not valid")
    with pytest.raises(TypeError, match="a dorm model class is needed"):
        schema_for(dict)
    with pytest.raises(TypeError, match="field names must be strings"):
        schema_for(Author, include=[1])
    with pytest.raises(SchemaConfigError, match="a pydantic model class or a dorm model class"):
        list_response_schema(42)


def test_an_instance_of_another_model_gives_missing_errors():
    with pytest.raises(ValidationError) as exc:
        schema_for(Book).model_validate(Publisher(id=1, name="Ace"))
    assert errors(exc.value) == {"title": "missing", "price": "missing", "author_id": "missing"}


def test_schemas_are_cached_per_model_and_options():
    assert schema_for(Book) is schema_for(Book)
    assert schema_for(Book, include=["title"]) is schema_for(Book, include=("title",))
    assert schema_for(Book, include=["title"]) is not schema_for(Book)
    assert create_schema_for(Book) is create_schema_for(Book)
    assert update_schema_for(Book) is not create_schema_for(Book)
    assert schema_for(Author) is not schema_for(Publisher)
    assert issubclass(schema_for(Book), DormSchema) and schema_for(Book).__dorm_model__ is Book


# ---- PII ---------------------------------------------------------------------------------------------
def test_pii_modes():
    author = Author(id=1, name="Ann", email="ann@example.com")
    shown = schema_for(Author).from_model(author)
    assert shown.email == "ann@example.com"
    assert schema_for(Author).model_json_schema()["properties"]["email"]["x-pii"] is True
    hidden = schema_for(Author, pii="exclude").from_model(author)
    assert "email" not in hidden.model_dump()
    masked = schema_for(Author, pii="mask").from_model(author)
    assert masked.email == PII_MASK and "ann@" not in masked.model_dump_json()
    prop = schema_for(Author, pii="mask").model_json_schema()["properties"]["email"]
    assert prop["x-pii"] is True and prop["readOnly"] is True
    assert "email" not in schema_for(Author, pii="mask").from_model(author).model_kwargs()


# ---- create / update --------------------------------------------------------------------------------
def test_create_schema_leaves_out_generated_and_non_editable_columns():
    C = create_schema_for(Book)
    assert "id" not in C.model_fields and "created" not in C.model_fields
    assert {n for n, f in C.model_fields.items() if f.is_required()} == {"title", "price",
                                                                         "author_id"}
    assert C.model_json_schema()["required"] == ["title", "price", "author_id"]
    assert "created" in create_schema_for(Book, include=["title", "created"]).model_fields
    assert not create_schema_for(Book, optional=["price"]).model_fields["price"].is_required()


def test_create_schema_keeps_a_natural_key():
    C = create_schema_for(Code)
    assert list(C.model_fields) == ["code", "label"]
    assert C.model_json_schema()["required"] == ["code", "label"]
    code = C(code="AB", label="x").to_model()
    assert isinstance(code, Code) and code.pk == "AB"


def test_to_model_builds_an_unsaved_instance():
    book = create_schema_for(Book)(**BOOK)
    obj = book.to_model()
    assert isinstance(obj, Book) and obj.pk is None
    assert (obj.title, obj.price, obj.author_id, obj.status) == ("Dune", decimal.Decimal("9.99"),
                                                                1, "draft")
    assert book.to_model(title="Other").title == "Other"
    with pytest.raises(TypeError, match="a dorm model class is needed"):
        book.to_model(dict)


def test_update_schema_is_all_optional_and_applies_what_was_sent():
    U = update_schema_for(Book)
    assert "id" not in U.model_fields and "created" not in U.model_fields
    assert not any(f.is_required() for f in U.model_fields.values())
    assert "required" not in U.model_json_schema()
    patch = U.model_validate({"title": "New", "isbn": None})
    assert patch.model_fields_set == {"title", "isbn"}
    book = Book(id=1, title="Old", isbn="123", price=decimal.Decimal("1"), author_id=1)
    assert patch.apply_to(book) is book
    assert (book.title, book.isbn, book.price) == ("New", None, decimal.Decimal("1"))
    with pytest.raises(ValidationError) as exc:
        U.model_validate({"title": None, "price": None})     # NOT NULL columns
    assert errors(exc.value) == {"title": "string_type", "price": "decimal_type"}


# ---- computed ------------------------------------------------------------------------------------
def _initial(author):
    return author.name[0]


COMPUTED = {"initial": (str, _initial), "loud": (str, "shout"), "name_length": (int, "name.__len__")}


def test_computed_fields_from_callables_and_attribute_paths():
    S = schema_with_computed(Author, computed=COMPUTED)
    s = S.from_model(Author(id=1, name="Ann", email="ann@example.com"))
    assert (s.initial, s.loud, s.name_length) == ("A", "ANN", 3)
    props = S.model_json_schema()["properties"]
    assert props["loud"]["readOnly"] is True and props["name_length"]["type"] == "integer"
    again = S.model_validate_json(s.model_dump_json())         # from JSON: taken as given
    assert again == s
    assert "initial" not in s.model_kwargs()
    assert S is schema_with_computed(Author, dict(COMPUTED))


@pytest.mark.parametrize("computed, message", [
    ({"name": (str, "name")}, "clashes with a schema field"),
    ({"x": str}, "must be a (type, callable_or_attribute) pair"),
    ({"x": (str, 5)}, "must be a callable(instance) or an attribute path"),
    ({}, "computed must be a non-empty dict"),
    ({"_x": (str, "name")}, "must be a public Python identifier"),
])
def test_computed_errors(computed, message):
    with pytest.raises(SchemaConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        schema_with_computed(Author, computed=computed)


# ---- examples ------------------------------------------------------------------------------------
def test_synthesised_example_is_valid():
    S = schema_for_with_examples(Book)
    [example] = S.model_json_schema()["examples"]
    assert S.model_validate(example)
    assert example["status"] == "draft" and example["format"] == "paperback"
    assert len(example["title"]) <= 40 and decimal.Decimal(example["price"]).as_tuple().exponent == -2
    assert example == S.model_validate(example).model_dump(mode="json")
    masked = schema_for_with_examples(Author, pii="mask").model_json_schema()["examples"][0]
    assert masked["email"] == PII_MASK


def test_given_examples_are_validated():
    author = Author(id=7, name="Ann", email="ann@example.com")
    S = schema_for_with_examples(Author, [author, {"name": "Bob", "email": "bob@example.com"}])
    first, second = S.model_json_schema()["examples"]
    assert first["id"] == 7 and second["name"] == "Bob"
    with pytest.raises(SchemaConfigError, match=r"example 1 does not validate"):
        schema_for_with_examples(Author, [author, {"name": "x" * 41, "email": "a@b.io"}])
    with pytest.raises(SchemaConfigError, match="examples must be a list"):
        schema_for_with_examples(Author, {"name": "x"})


def test_subclassing_a_generated_schema():
    class BookOut(schema_for(Book, include=["title", "price"])):
        pages: int = 0

    out = BookOut.from_model(Book(title="Dune", price=decimal.Decimal("2.50"), pages=412))
    assert (out.title, out.pages) == ("Dune", 412)
    assert isinstance(out, BaseModel)
