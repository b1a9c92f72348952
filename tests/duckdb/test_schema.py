"""The schema editor and introspection on DuckDB: sequences, ALTER where DuckDB can,
table rebuilds (data preserved) where it cannot, and what introspection reports."""
from __future__ import annotations

import decimal
import uuid

import dorm
import pytest
from dorm import Q
from dorm.db import connections
from dorm.exceptions import IntegrityError, NotSupportedError

APP = "duckschema"


class SAuthor(dorm.Model):
    name = dorm.CharField(max_length=50)

    class Meta:
        app_label = APP


class SBook(dorm.Model):
    title = dorm.CharField(max_length=50)
    qty = dorm.IntegerField(default=0)
    isbn = dorm.CharField(max_length=20, null=True)
    author = dorm.ForeignKey(SAuthor, on_delete=dorm.CASCADE, related_name="sbooks")

    class Meta:
        app_label = APP
        unique_together = [("title", "author")]
        indexes = [dorm.Index(fields=["qty", "title"], name="sbook_qty_idx")]
        constraints = [dorm.CheckConstraint(check=Q(qty__gte=0), name="sbook_qty_positive")]


class SPlain(dorm.Model):
    label = dorm.CharField(max_length=20)
    amount = dorm.IntegerField(null=True)
    price = dorm.DecimalField(max_digits=8, decimal_places=2, db_default=decimal.Decimal("1.50"))
    uid = dorm.UUIDField(null=True)

    class Meta:
        app_label = APP


MODELS = [SAuthor, SBook, SPlain]


@pytest.fixture
def db(conn):
    dorm.create_tables(MODELS)
    yield conn
    dorm.drop_tables(MODELS)


@pytest.fixture
def books(db):
    a = SAuthor.objects.create(name="ann")
    SBook.objects.create(title="one", qty=1, author=a, isbn="111")
    SBook.objects.create(title="two", qty=2, author=a)
    SPlain.objects.create(label="p1", amount=1)
    SPlain.objects.create(label="p2")
    return a


def new_field(cls, name, **kwargs):
    field = cls(**kwargs)
    field.set_attributes_from_name(name)
    return field


def columns(db, table):
    return {c.name: c for c in db.introspection.get_table_description(table)}


def rows(db, table, cols="*"):
    return db.execute(f'SELECT {cols} FROM "{table}" ORDER BY id')


def collected(db, fn):
    with db.schema_editor(collect_sql=True) as editor:
        fn(editor)
    return editor.collected_sql


# ---- create / drop -----------------------------------------------------------------------------
def test_create_model_sql(db):
    sql = collected(db, lambda e: e.create_model(SPlain))
    assert sql[0].startswith('CREATE SEQUENCE IF NOT EXISTS "duckschema_splain_id_')
    assert "\"id\" BIGINT PRIMARY KEY NOT NULL DEFAULT nextval('\"duckschema_splain_id_" in sql[1]
    assert '"price" DECIMAL(8, 2) NOT NULL DEFAULT 1.50' in sql[1] and '"uid" UUID' in sql[1]
    book = " ".join(collected(db, lambda e: e.create_model(SBook)))
    assert "REFERENCES" not in book                                   # foreign_keys off
    assert 'CONSTRAINT "sbook_qty_positive" CHECK ("qty" >= 0)' in book
    assert 'CREATE INDEX "sbook_qty_idx" ON "duckschema_sbook" ("qty", "title")' in book


def test_db_default_applies(db):
    db.execute_write('INSERT INTO "duckschema_splain" (label) VALUES (?)', ["x"])
    assert db.execute('SELECT price FROM "duckschema_splain"') == [(decimal.Decimal("1.50"),)]


def test_introspection(db, books):
    assert {"duckschema_sauthor", "duckschema_sbook", "duckschema_splain"} <= set(db.introspection.table_names())
    cols = columns(db, "duckschema_sbook")
    assert cols["id"].pk == 1 and cols["id"].type == "BIGINT" and not cols["id"].null_ok
    assert cols["isbn"].null_ok and not cols["title"].null_ok and cols["title"].type == "VARCHAR"
    cons = db.introspection.get_constraints("duckschema_sbook")
    pk = [c for c in cons.values() if c["primary_key"]]
    assert len(pk) == 1 and pk[0]["columns"] == ["id"]
    assert any(c["unique"] and not c["primary_key"] and c["columns"] == ["title", "author_id"]
               for c in cons.values())
    assert any(c["check"] and c["definition"] == "(qty >= 0)" for c in cons.values())
    assert cons["sbook_qty_idx"]["index"] and cons["sbook_qty_idx"]["columns"] == ["qty", "title"]
    idx = db.introspection.get_indexes("duckschema_sbook")
    assert "sbook_qty_idx" in idx
    assert any(c["columns"] == ["author_id"] for c in idx.values())      # the FK's db_index
    assert db.introspection.get_primary_key_columns("duckschema_sbook") == ["id"]


def test_drop_removes_sequences(db):
    assert any(s.startswith("duckschema_splain_id_") for s in db.introspection.get_sequences())
    dorm.drop_tables([SPlain])
    assert not any(s.startswith("duckschema_splain_id_") for s in db.introspection.get_sequences())
    dorm.create_tables([SPlain])


# ---- fields -------------------------------------------------------------------------------------
def test_add_field_with_alter_table(db, books):
    field = new_field(dorm.IntegerField, "pages", default=100)
    sql = collected(db, lambda e: e.add_field(SPlain, field))
    if db.features.supports_add_column_constraints:
        assert sql[0].startswith('ALTER TABLE "duckschema_splain" ADD COLUMN "pages" INTEGER NOT NULL DEFAULT 100')
    else:   # older DuckDB (1.1): "Adding columns with constraints not yet supported": rebuild
        assert any(s.startswith('CREATE TABLE "new__duckschema_splain"') for s in sql)
    with db.schema_editor() as editor:
        editor.add_field(SPlain, field)
    assert rows(db, "duckschema_splain", "label, pages") == [("p1", 100), ("p2", 100)]
    assert columns(db, "duckschema_splain")["pages"].default is None       # no database default left


def test_add_field_to_indexed_table_rebuilds(db, books):
    field = new_field(dorm.CharField, "note", max_length=10, default="-", null=True)
    with db.schema_editor() as editor:
        editor.add_field(SBook, field)
    assert rows(db, "duckschema_sbook", "title, qty, note") == [("one", 1, "-"), ("two", 2, "-")]
    assert "sbook_qty_idx" in db.introspection.get_indexes("duckschema_sbook")
    b = SBook.objects.create(title="three", author=books)          # sequence continues
    assert b.pk == 3
    with pytest.raises(IntegrityError):
        SBook.objects.create(title="one", author=books)            # unique_together kept
    with pytest.raises(IntegrityError):
        SBook.objects.create(title="neg", qty=-1, author=books)    # check kept


def test_remove_field(db, books):
    with db.schema_editor() as editor:
        editor.remove_field(SPlain, SPlain._meta.get_field("amount"))
    assert db.get_table_columns("duckschema_splain") == ["id", "label", "price", "uid"]
    with db.schema_editor() as editor:
        editor.remove_field(SBook, SBook._meta.get_field("isbn"))     # indexed table: rebuild
    assert db.get_table_columns("duckschema_sbook") == ["id", "title", "qty", "author_id"]
    assert rows(db, "duckschema_sbook", "title") == [("one",), ("two",)]


def test_alter_field_type_null_and_rename(db, books):
    old = SPlain._meta.get_field("amount")
    wider = new_field(dorm.BigIntegerField, "amount", null=True)
    assert collected(db, lambda e: e.alter_field(SPlain, old, wider)) == [
        'ALTER TABLE "duckschema_splain" ALTER COLUMN "amount" TYPE BIGINT;']
    new = new_field(dorm.BigIntegerField, "amount", default=7)
    sql = collected(db, lambda e: e.alter_field(SPlain, old, new))
    assert any("COALESCE(CAST(\"amount\" AS BIGINT), 7)" in s for s in sql)    # NULL -> NOT NULL: rebuild
    with db.schema_editor() as editor:
        editor.alter_field(SPlain, old, new)
    cols = columns(db, "duckschema_splain")
    assert cols["amount"].type == "BIGINT" and not cols["amount"].null_ok
    assert rows(db, "duckschema_splain", "amount") == [(1,), (7,)]
    renamed = new_field(dorm.CharField, "name", max_length=20)
    sql = collected(db, lambda e: e.alter_field(SPlain, SPlain._meta.get_field("label"), renamed))
    assert sql == ['ALTER TABLE "duckschema_splain" RENAME COLUMN "label" TO "name";']
    with db.schema_editor() as editor:
        editor.alter_field(SPlain, SPlain._meta.get_field("label"), renamed)
    assert rows(db, "duckschema_splain", "name") == [("p1",), ("p2",)]


def test_alter_field_on_indexed_table_rebuilds(db, books):
    old = SBook._meta.get_field("isbn")
    new = new_field(dorm.CharField, "isbn", max_length=20, unique=True, default="n/a")
    with db.schema_editor() as editor:
        editor.alter_field(SBook, old, new)
    assert rows(db, "duckschema_sbook", "title, isbn") == [("one", "111"), ("two", "n/a")]
    assert not columns(db, "duckschema_sbook")["isbn"].null_ok
    with pytest.raises(IntegrityError):
        SBook.objects.create(title="x", isbn="111", author=books)
    qty = new_field(dorm.BigIntegerField, "qty", default=0)
    with db.schema_editor() as editor:
        editor.alter_field(SBook, SBook._meta.get_field("qty"), qty)
    assert columns(db, "duckschema_sbook")["qty"].type == "BIGINT"
    assert "sbook_qty_idx" in db.introspection.get_indexes("duckschema_sbook")


# ---- constraints and tables --------------------------------------------------------------------
def test_add_and_remove_constraint(db, books):
    check = dorm.CheckConstraint(check=Q(amount__lt=100), name="splain_amount_small")
    with db.schema_editor() as editor:
        editor.add_constraint(SPlain, check)
    with pytest.raises(IntegrityError):
        SPlain.objects.create(label="big", amount=1000)
    with db.schema_editor() as editor:
        editor.remove_constraint(SPlain, check)
    SPlain.objects.create(label="big", amount=1000)
    unique = dorm.UniqueConstraint(fields=["label"], name="splain_label_unique")
    with db.schema_editor() as editor:
        editor.add_constraint(SPlain, unique)
    with pytest.raises(IntegrityError):
        SPlain.objects.create(label="p1")
    assert rows(db, "duckschema_splain", "label") == [("p1",), ("p2",), ("big",)]


def test_partial_indexes_are_refused(db):
    idx = dorm.Index(fields=["label"], name="splain_partial", condition=Q(amount__gt=0))
    with pytest.raises(NotSupportedError, match="partial indexes"):
        with db.schema_editor() as editor:
            editor.add_index(SPlain, idx)


def test_add_and_remove_index(db, books):
    idx = dorm.Index(fields=["label"], name="splain_label_idx")
    with db.schema_editor() as editor:
        editor.add_index(SPlain, idx)
    assert db.introspection.get_indexes("duckschema_splain")["splain_label_idx"]["columns"] == ["label"]
    with db.schema_editor() as editor:
        editor.remove_index(SPlain, idx)
    assert "splain_label_idx" not in db.introspection.get_indexes("duckschema_splain")


def test_alter_unique_together(db, books):
    with db.schema_editor() as editor:
        editor.alter_unique_together(SBook, [("title", "author")], [])
    SBook.objects.create(title="one", author=books)
    assert SBook.objects.count() == 3


def test_alter_db_table_moves_the_sequence(db, books):
    with db.schema_editor() as editor:
        editor.alter_db_table(SBook, "duckschema_sbook", "duckschema_renamed")
    assert db.table_exists("duckschema_renamed") and not db.table_exists("duckschema_sbook")
    seqs = db.introspection.get_sequences()
    assert any(s.startswith("duckschema_renamed_id_") for s in seqs)
    assert not any(s.startswith("duckschema_sbook_id_") for s in seqs)
    db.execute_write('INSERT INTO "duckschema_renamed" (title, qty, author_id) VALUES (?, ?, ?)',
                     ["new", 0, books.pk])
    assert db.execute('SELECT max(id) FROM "duckschema_renamed"') == [(3,)]
    with db.schema_editor() as editor:
        editor.alter_db_table(SBook, "duckschema_renamed", "duckschema_sbook")
    assert SBook.objects.count() == 3


def test_failed_rebuild_rolls_back(db, books):
    SBook.objects.filter(title="two").update(isbn="111")
    new = new_field(dorm.CharField, "isbn", max_length=20, null=True, unique=True)
    with pytest.raises(IntegrityError), db.schema_editor() as editor:
        editor.alter_field(SBook, SBook._meta.get_field("isbn"), new)
    assert db.table_exists("duckschema_sbook") and not db.table_exists("new__duckschema_sbook")
    assert SBook.objects.count() == 2


# ---- foreign keys (opt-in) --------------------------------------------------------------------------
def test_foreign_keys_option(configure_duckdb, tmp_path):
    with configure_duckdb(str(tmp_path / "fk.duckdb"), foreign_keys=True):
        conn = connections["default"]
        assert conn.features.supports_foreign_keys
        dorm.create_tables([SAuthor, SBook])
        sql = " ".join(collected(conn, lambda e: e.create_model(SBook)))
        assert 'REFERENCES "duckschema_sauthor" ("id")' in sql and "ON DELETE" not in sql
        assert conn.introspection.get_relations("duckschema_sbook") == {"author_id": ("id", "duckschema_sauthor")}
        assert conn.introspection.get_referencing_tables("duckschema_sauthor") == ["duckschema_sbook"]
        a = SAuthor.objects.create(name="a")
        with pytest.raises(IntegrityError):
            SBook.objects.create(title="orphan", author_id=a.pk + 100)
        with pytest.raises(NotSupportedError, match="have foreign keys to it"):
            with conn.schema_editor() as editor:
                editor.add_field(SAuthor, new_field(dorm.IntegerField, "age", null=True, unique=True,
                                                    primary_key=False, db_index=True))
        dorm.drop_tables([SAuthor, SBook])
    connections.close_all()


def test_uuid_default_literal(db):
    field = new_field(dorm.UUIDField, "token", db_default=uuid.UUID(int=1))
    with db.schema_editor() as editor:
        editor.add_field(SPlain, field)
    db.execute_write('INSERT INTO "duckschema_splain" (label) VALUES (?)', ["x"])
    assert db.execute('SELECT token FROM "duckschema_splain"') == [(uuid.UUID(int=1),)]
