"""The schema editor on PostgreSQL (ALTER TABLE paths, no rebuilds) and introspection
complete enough for ``dorm diff`` / ``inspectdb``."""
from __future__ import annotations

import dorm
import pytest
from dorm import Q
from dorm.exceptions import IntegrityError
from dorm.expressions import RawSQL

MODELS: list = []


class Author(dorm.Model):
    name = dorm.CharField(max_length=40, db_comment="the author's name")

    class Meta:
        app_label = "pg_schema"
        db_table_comment = "people who write"


class Book(dorm.Model):
    title = dorm.CharField(max_length=80, db_index=True)
    isbn = dorm.CharField(max_length=13, unique=True)
    pages = dorm.PositiveIntegerField(default=0)
    price = dorm.DecimalField(max_digits=8, decimal_places=2, db_default="9.99")
    created = dorm.DateTimeField(db_default=RawSQL("now()"))
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
    editor = dorm.ForeignKey(Author, on_delete=dorm.SET_NULL, null=True, related_name="edited")
    tags = dorm.ArrayField(dorm.CharField(max_length=10), default=list)

    class Meta:
        app_label = "pg_schema"
        unique_together = [("title", "author")]  # noqa: RUF012
        indexes = [  # noqa: RUF012
            dorm.Index(fields=["-pages", "title"], name="book_pages_title_idx"),
            dorm.Index(fields=["title"], name="book_cheap_idx", condition=Q(pages__lt=100),
                       include=["isbn"]),
            dorm.Index(fields=["isbn"], name="book_isbn_pattern_idx", opclasses=["varchar_pattern_ops"]),
        ]
        constraints = [  # noqa: RUF012
            dorm.CheckConstraint(check=Q(pages__lte=10000), name="book_pages_max"),
            dorm.UniqueConstraint(fields=["title"], condition=Q(pages__gt=500), name="book_long_title_uniq"),
            dorm.UniqueConstraint(fields=["isbn", "author"], name="book_isbn_author_def",
                                  deferrable="deferred"),
        ]


@pytest.fixture
def tables(pg):
    dorm.drop_tables([Author, Book])
    dorm.create_tables([Author, Book])
    yield pg
    dorm.drop_tables([Author, Book])


def test_introspection_tables_and_columns(tables):
    intro = tables.introspection
    assert {"pg_schema_author", "pg_schema_book"} <= set(intro.table_names())
    assert intro.table_exists("pg_schema_book") and not intro.table_exists("nope")
    cols = {c.name: c for c in intro.get_table_description("pg_schema_book")}
    assert list(cols) == ["id", "title", "isbn", "pages", "price", "created", "author_id",
                          "editor_id", "tags"]
    assert cols["id"].pk == 1 and not cols["id"].null_ok
    assert cols["editor_id"].null_ok and not cols["author_id"].null_ok
    assert cols["price"].default == "9.99" and cols["price"].type == "numeric(8,2)"
    assert cols["created"].default == "now()"
    assert cols["tags"].type == "character varying(10)[]"
    assert intro.get_auto_columns("pg_schema_book") == {"id": "identity"}
    assert intro.get_sequences("pg_schema_book")[0]["column"] == "id"
    assert intro.get_table_comment("pg_schema_author") == "people who write"
    assert intro.get_column_comments("pg_schema_author") == {"name": "the author's name"}


def test_introspection_constraints(tables):
    cons = tables.introspection.get_constraints("pg_schema_book")
    pk = [c for c in cons.values() if c["primary_key"]]
    assert len(pk) == 1 and pk[0]["columns"] == ["id"]
    fks = {tuple(c["columns"]): c for c in cons.values() if c["foreign_key"]}
    assert fks[("author_id",)]["foreign_key"] == ("pg_schema_author", "id")
    assert fks[("author_id",)]["on_delete"] == "CASCADE"
    assert fks[("editor_id",)]["on_delete"] == "SET NULL"
    uniques = {tuple(c["columns"]) for c in cons.values() if c["unique"] and not c["primary_key"]}
    assert {("isbn",), ("title", "author_id"), ("isbn", "author_id"), ("title",)} <= uniques
    assert cons["book_pages_max"]["check"] and "10000" in cons["book_pages_max"]["definition"]
    assert any(c["check"] and c["columns"] == ["pages"] and c["definition"] == "pages >= 0"
               for c in cons.values())
    idx = cons["book_pages_title_idx"]
    assert idx["index"] and idx["columns"] == ["pages", "title"] and idx["orders"] == ["DESC", "ASC"]
    partial = cons["book_cheap_idx"]
    assert partial["condition"] and "100" in partial["condition"] and "INCLUDE (isbn)" in partial["definition"]
    assert "varchar_pattern_ops" in cons["book_isbn_pattern_idx"]["definition"]
    assert cons["book_long_title_uniq"]["unique"] and cons["book_long_title_uniq"]["condition"]
    assert "DEFERRABLE INITIALLY DEFERRED" in cons["book_isbn_author_def"]["definition"]
    title_idx = [c for c in cons.values() if c["index"] and c["columns"] == ["title"]
                 and not c["unique"] and not c["condition"]]
    assert title_idx                                    # db_index=True
    rel = tables.introspection.get_relations("pg_schema_book")
    assert rel == {"author_id": ("id", "pg_schema_author"), "editor_id": ("id", "pg_schema_author")}
    assert tables.introspection.get_referencing_tables("pg_schema_author") == ["pg_schema_book"]


def test_db_defaults_and_constraints_apply(tables):
    a = Author.objects.create(name="a")
    b = Book.objects.create(title="t", isbn="1", author=a)
    b = Book.objects.get(pk=b.pk)
    assert str(b.price) == "9.99" and b.created is not None
    with pytest.raises(IntegrityError):
        Book.objects.create(title="t", isbn="2", author=a)     # unique_together
    with pytest.raises(IntegrityError):
        Book.objects.create(title="u", isbn="3", pages=20000, author=a)
    a.delete()
    assert Book.objects.count() == 0


def test_alter_paths(tables):
    conn = tables
    intro = conn.introspection
    Book.objects.create(title="t", isbn="1", author=Author.objects.create(name="a"))
    with conn.schema_editor() as editor:
        # NOT NULL column with a Python default: existing rows filled, no DEFAULT left
        new = dorm.IntegerField(default=7)
        new.set_attributes_from_name("rating")
        editor.add_field(Book, new)
    cols = {c.name: c for c in intro.get_table_description("pg_schema_book")}
    assert not cols["rating"].null_ok and cols["rating"].default is None
    assert conn.execute('SELECT rating FROM "pg_schema_book"') == [(7,)]
    with conn.schema_editor() as editor:
        wider = dorm.BigIntegerField(null=True, db_index=True, db_comment="stars")
        wider.set_attributes_from_name("rating")
        editor.alter_field(Book, new, wider)
    cols = {c.name: c for c in intro.get_table_description("pg_schema_book")}
    assert cols["rating"].type == "bigint" and cols["rating"].null_ok
    assert any(c["index"] and c["columns"] == ["rating"] for c in intro.get_constraints("pg_schema_book").values())
    assert intro.get_column_comments("pg_schema_book")["rating"] == "stars"
    with conn.schema_editor() as editor:
        text = dorm.CharField(max_length=5, null=True, unique=True)
        text.set_attributes_from_name("stars")
        editor.alter_field(Book, wider, text)              # type change with USING + rename
    cols = {c.name: c for c in intro.get_table_description("pg_schema_book")}
    assert "rating" not in cols and cols["stars"].type == "character varying(5)"
    assert conn.execute('SELECT stars FROM "pg_schema_book"') == [("7",)]
    assert any(c["unique"] and c["columns"] == ["stars"] for c in intro.get_constraints("pg_schema_book").values())
    with conn.schema_editor() as editor:
        editor.remove_field(Book, text)
        editor.add_constraint(Book, dorm.CheckConstraint(check=Q(isbn__startswith="9") | Q(isbn="1"),
                                                         name="isbn_prefix"))
        editor.remove_index(Book, Book._meta.indexes[0])
        editor.alter_unique_together(Book, [("title", "author")], [])
    cons = intro.get_constraints("pg_schema_book")
    assert "isbn_prefix" in cons and "book_pages_title_idx" not in cons
    assert not any(c["unique"] and c["columns"] == ["title", "author_id"] for c in cons.values())
    with pytest.raises(IntegrityError):
        Book.objects.create(title="v", isbn="2", author=Author.objects.first())
    with conn.schema_editor() as editor:
        editor.remove_constraint(Book, dorm.CheckConstraint(check=Q(isbn="1"), name="isbn_prefix"))
    assert "isbn_prefix" not in intro.get_constraints("pg_schema_book")


def test_identity_and_sequences(tables):
    a = Author.objects.create(id=50, name="explicit")
    with tables.schema_editor() as editor:
        editor.reset_sequences(Author)
    assert Author.objects.create(name="next").pk == 51
    assert a.pk == 50


def test_collect_sql_and_percent_literals(tables):
    with tables.schema_editor(collect_sql=True) as editor:
        editor.add_constraint(Book, dorm.CheckConstraint(check=Q(title__contains="100%"), name="pct"))
    sql = "\n".join(editor.collected_sql)
    # literal SQL (no parameter processing): the LIKE escape is a backslash in an E'' string
    assert "LIKE E'%100\\\\%%'" in sql
    with tables.schema_editor() as editor:
        editor.add_constraint(Book, dorm.CheckConstraint(check=Q(title__contains="100%") | Q(pages=0),
                                                         name="pct"))
    Book.objects.create(title="is 100% fine", isbn="x", pages=1, author=Author.objects.create(name="a"))
    with pytest.raises(IntegrityError):
        Book.objects.create(title="100 percent", isbn="y", pages=1, author=Author.objects.first())


def test_rename_table_and_drop_cascade(tables):
    with tables.schema_editor() as editor:
        editor.alter_db_table(Author, "pg_schema_author", "pg_schema_writer")
    assert tables.table_exists("pg_schema_writer")
    with tables.schema_editor() as editor:
        editor.alter_db_table(Author, "pg_schema_writer", "pg_schema_author")
    dorm.drop_tables([Author])                # referenced by Book: its FKs go too (CASCADE)
    assert not tables.introspection.get_relations("pg_schema_book")


def test_concurrent_index_outside_a_transaction(tables):
    index = dorm.Index(fields=["pages"], name="book_pages_conc_idx")
    with tables.schema_editor(atomic=False) as editor:
        editor.add_index(Book, index, concurrently=True)
    assert "book_pages_conc_idx" in tables.introspection.get_indexes("pg_schema_book")
    with tables.schema_editor(collect_sql=True) as editor:
        editor.remove_index(Book, index, concurrently=True)
    assert editor.collected_sql == ['DROP INDEX CONCURRENTLY "book_pages_conc_idx";']
    with tables.schema_editor(atomic=False) as editor:
        editor.remove_index(Book, index, concurrently=True)
    assert "book_pages_conc_idx" not in tables.introspection.get_indexes("pg_schema_book")


def test_unique_nulls_not_distinct(tables):
    if tables.pg_version < 150000:
        pytest.skip("NULLS NOT DISTINCT needs PostgreSQL 15")
    with tables.schema_editor() as editor:
        editor.add_constraint(Book, dorm.UniqueConstraint(fields=["editor"], name="one_unedited",
                                                          nulls_distinct=False))
    author = Author.objects.create(name="a")
    Book.objects.create(title="t1", isbn="1", author=author)
    with pytest.raises(IntegrityError):
        Book.objects.create(title="t2", isbn="2", author=author)
