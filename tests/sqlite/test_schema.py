"""The schema editor and introspection on SQLite, with real dorm models."""
from __future__ import annotations

import dataclasses
import datetime
import decimal
import logging
import uuid

import dorm
import pytest
from dorm import Q
from dorm.db import connections, create_tables, drop_tables
from dorm.db.backends.base.schema import TableModel
from dorm.exceptions import IntegrityError, NotSupportedError

APP = "sqlschema"


class SchemaEverything(dorm.Model):
    small = dorm.SmallIntegerField()
    big = dorm.BigIntegerField(null=True)
    pos = dorm.PositiveIntegerField(default=0)
    pos_small = dorm.PositiveSmallIntegerField(null=True)
    pos_big = dorm.PositiveBigIntegerField(null=True)
    ratio = dorm.FloatField(null=True)
    price = dorm.DecimalField(max_digits=8, decimal_places=2, db_default=decimal.Decimal("1.50"))
    name = dorm.CharField(max_length=20, db_default="it's")
    body = dorm.TextField(null=True)
    email = dorm.EmailField(null=True)
    slug = dorm.SlugField(null=True)
    flag = dorm.BooleanField(default=False)
    day = dorm.DateField(null=True)
    at = dorm.TimeField(null=True)
    stamp = dorm.DateTimeField(null=True)
    span = dorm.DurationField(null=True)
    uid = dorm.UUIDField(null=True)
    ip = dorm.GenericIPAddressField(null=True)
    data = dorm.JSONField(null=True)
    blob = dorm.BinaryField(null=True)
    counter = dorm.IntegerField(db_default=5)

    class Meta:
        app_label = APP


class SchemaAuthor(dorm.Model):
    name = dorm.CharField(max_length=50)

    class Meta:
        app_label = APP


class SchemaBook(dorm.Model):
    title = dorm.CharField(max_length=50)
    qty = dorm.IntegerField(default=0)
    active = dorm.BooleanField(default=True)
    isbn = dorm.CharField(max_length=20, null=True)
    author = dorm.ForeignKey(SchemaAuthor, on_delete=dorm.CASCADE, related_name="schema_books")
    editor = dorm.ForeignKey(SchemaAuthor, on_delete=dorm.SET_NULL, null=True, related_name="+")
    reviewer = dorm.ForeignKey(SchemaAuthor, on_delete=dorm.PROTECT, null=True, related_name="+")

    class Meta:
        app_label = APP
        unique_together = [("title", "author")]
        indexes = [dorm.Index(fields=["-qty", "title"], name="schema_book_qty_idx"),
                   dorm.Index(fields=["isbn"], name="schema_book_isbn_partial", condition=Q(active=True))]
        constraints = [
            dorm.CheckConstraint(check=Q(qty__gte=0), name="schema_book_qty_positive"),
            dorm.UniqueConstraint(fields=["isbn"], condition=Q(active=True), name="schema_book_isbn_active"),
        ]


class SchemaNode(dorm.Model):
    label = dorm.CharField(max_length=10)
    parent = dorm.ForeignKey("self", on_delete=dorm.CASCADE, null=True, related_name="children")

    class Meta:
        app_label = APP


MODELS = [SchemaBook, SchemaAuthor, SchemaEverything, SchemaNode]   # deliberately not in FK order


@pytest.fixture
def db(tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "s.db")}}):
        create_tables(MODELS)
        yield connections["default"]
        drop_tables(MODELS)


def columns(conn, table):
    return {c.name: c for c in conn.introspection.get_table_description(table)}


def field_named(model, name):
    return model._meta.get_field(name)


def new_field(cls, name, **kwargs):
    field = cls(**kwargs)
    field.set_attributes_from_name(name)
    return field


# ---- create_model ---------------------------------------------------------------------------
def test_create_tables_makes_every_column(db):
    cols = columns(db, "sqlschema_schemaeverything")
    assert cols["id"].pk == 1 and cols["id"].type.lower() == "integer"
    assert cols["price"].type == "decimal(8, 2)" and cols["price"].default == "1.5"
    assert cols["name"].default == "'it''s'" and not cols["name"].null_ok
    assert cols["uid"].type == "varchar(36)" and cols["ip"].type == "varchar(39)"
    assert [cols[n].type.lower() for n in ("ratio", "span", "blob", "stamp", "flag")] == \
        ["real", "bigint", "blob", "datetime", "bool"]
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'sqlschema_schemaeverything'")[0][0]
    assert '"id" integer PRIMARY KEY AUTOINCREMENT NOT NULL' in sql


def test_db_default_and_round_trip(db):
    db.execute_write('INSERT INTO "sqlschema_schemaeverything" (small, flag, pos) VALUES (1, 0, 0)')
    row = db.execute('SELECT price, name, counter FROM "sqlschema_schemaeverything"')[0]
    assert row == (1.5, "it's", 5)


def test_orm_round_trip_of_every_type(db):
    obj = SchemaEverything.objects.create(
        small=1, big=2 ** 40, pos=3, ratio=0.5, price=decimal.Decimal("12.34"), name="n", body="b",
        flag=True, day=datetime.date(2026, 1, 2), at=datetime.time(3, 4, 5, 6),
        stamp=datetime.datetime(2026, 1, 2, 3, 4, 5, 6), span=datetime.timedelta(days=1, microseconds=7),
        uid=uuid.UUID(int=7), ip="10.0.0.1", data={"k": [1, None]}, blob=b"\x00\x01",
    )
    got = SchemaEverything.objects.get(pk=obj.pk)
    assert got.price == decimal.Decimal("12.34") and got.flag is True and got.big == 2 ** 40
    assert got.day == datetime.date(2026, 1, 2) and got.at == datetime.time(3, 4, 5, 6)
    assert got.stamp == datetime.datetime(2026, 1, 2, 3, 4, 5, 6)
    assert got.span == datetime.timedelta(days=1, microseconds=7) and got.uid == uuid.UUID(int=7)
    assert got.data == {"k": [1, None]} and got.blob == b"\x00\x01" and got.counter == 5


def test_positive_and_json_checks(db):
    with pytest.raises(IntegrityError, match="CHECK"):
        db.execute_write('INSERT INTO "sqlschema_schemaeverything" (small, flag, pos) VALUES (1, 0, -1)')
    with pytest.raises(IntegrityError, match="CHECK"):
        db.execute_write('INSERT INTO "sqlschema_schemaeverything" (small, flag, pos, data) VALUES (1, 0, 0, ?)',
                         ["{not json"])


def test_unique_together_and_constraints(db):
    a = SchemaAuthor.objects.create(name="a")
    SchemaBook.objects.create(title="t", author=a, isbn="1")
    with pytest.raises(IntegrityError):
        SchemaBook.objects.create(title="t", author=a)                     # unique_together
    with pytest.raises(IntegrityError, match="CHECK"):
        SchemaBook.objects.create(title="neg", author=a, qty=-1)          # CheckConstraint
    with pytest.raises(IntegrityError):
        SchemaBook.objects.create(title="t2", author=a, isbn="1")          # partial unique
    SchemaBook.objects.create(title="t3", author=a, isbn="1", active=False)   # allowed: inactive
    assert SchemaBook.objects.count() == 2


def test_indexes_and_introspection(db):
    cons = db.introspection.get_constraints("sqlschema_schemabook")
    assert cons["__primary__"]["columns"] == ["id"] and cons["__primary__"]["primary_key"]
    assert cons["schema_book_qty_idx"]["columns"] == ["qty", "title"]
    assert cons["schema_book_qty_idx"]["orders"] == ["DESC", "ASC"]
    partial = cons["schema_book_isbn_partial"]
    assert partial["index"] and partial["condition"] == '"active" = 1' or "active" in partial["condition"]
    assert cons["schema_book_qty_positive"]["check"] and "qty" in cons["schema_book_qty_positive"]["definition"]
    assert cons["schema_book_isbn_active"]["unique"] and cons["schema_book_isbn_active"]["index"]
    fks = {c["columns"][0]: c for c in cons.values() if c["foreign_key"]}
    assert fks["author_id"]["foreign_key"] == ("sqlschema_schemaauthor", "id")
    assert fks["author_id"]["on_delete"] == "CASCADE"
    assert fks["editor_id"]["on_delete"] == "SET NULL"
    assert fks["reviewer_id"]["on_delete"] == "RESTRICT"                 # PROTECT -> RESTRICT
    uniq = [c for c in cons.values() if c["unique"] and c["columns"] == ["title", "author_id"]]
    assert len(uniq) == 1
    # db_index=True on the foreign keys: deterministic default names, at most 63 characters
    fk_index = [n for n, c in cons.items() if c["columns"] == ["author_id"] and c["index"]]
    assert fk_index and all(len(n) <= 63 and n.endswith("_idx") for n in fk_index)
    assert db.introspection.get_relations("sqlschema_schemabook")["author_id"] == \
        ("id", "sqlschema_schemaauthor")
    assert "sqlschema_schemabook" in db.introspection.table_names()
    assert db.table_exists("sqlschema_schemabook") and not db.table_exists("nope")
    assert db.get_table_columns("sqlschema_schemaauthor") == ["id", "name"]


def test_foreign_key_actions_in_the_database(db):
    a, b = SchemaAuthor.objects.create(name="a"), SchemaAuthor.objects.create(name="b")
    SchemaBook.objects.create(title="t", author=a, editor=b)
    db.execute_write('DELETE FROM "sqlschema_schemaauthor" WHERE id = ?', [b.pk])   # SET NULL
    assert db.execute('SELECT editor_id FROM "sqlschema_schemabook"') == [(None,)]
    c = SchemaAuthor.objects.create(name="c")
    db.execute_write('UPDATE "sqlschema_schemabook" SET reviewer_id = ?', [c.pk])
    with pytest.raises(IntegrityError):
        db.execute_write('DELETE FROM "sqlschema_schemaauthor" WHERE id = ?', [c.pk])   # RESTRICT
    db.execute_write('UPDATE "sqlschema_schemabook" SET reviewer_id = NULL')
    db.execute_write('DELETE FROM "sqlschema_schemaauthor" WHERE id = ?', [a.pk])   # CASCADE
    assert SchemaBook.objects.count() == 0


def test_create_tables_is_idempotent_and_ordered(db):
    create_tables(MODELS)     # IF NOT EXISTS everywhere
    from dorm.db.tables import dependency_order

    order = dependency_order(MODELS)
    assert order.index(SchemaAuthor) < order.index(SchemaBook)


def test_collect_sql_records_without_running(db):
    with db.schema_editor(collect_sql=True) as editor:
        editor.create_model(SchemaAuthor)
    assert editor.collected_sql[0].startswith('CREATE TABLE "sqlschema_schemaauthor"')
    assert all(s.endswith(";") for s in editor.collected_sql)


def test_composite_primary_key(db):
    a, b = new_field(dorm.IntegerField, "order_id"), new_field(dorm.IntegerField, "line_no")
    info = TableModel(source=None, table="order_line", fields=[a, b], pk_columns=["order_id", "line_no"],
                      unique_together=[], indexes=[], constraints=[])
    with db.schema_editor() as editor:
        editor.create_model(info)
    assert db.introspection.get_primary_key_columns("order_line") == ["order_id", "line_no"]
    db.execute_write("INSERT INTO order_line VALUES (1, 1)")
    with pytest.raises(IntegrityError):
        db.execute_write("INSERT INTO order_line VALUES (1, 1)")


def test_lossy_decimal_warning(db, caplog):
    wide = new_field(dorm.DecimalField, "amount", max_digits=20, decimal_places=8)
    info = TableModel(source=None, table="wide", fields=[new_field(dorm.IntegerField, "id", primary_key=True), wide],
                      pk_columns=["id"], unique_together=[], indexes=[], constraints=[])
    with caplog.at_level(logging.WARNING, logger="dorm.db.backends.sqlite"):
        with db.schema_editor() as editor:
            editor.create_model(info)
    assert "15 significant digits" in caplog.text


# ---- altering (table rebuilds keep data) ------------------------------------------------------------
@pytest.fixture
def books(db):
    a = SchemaAuthor.objects.create(name="a")
    SchemaBook.objects.create(title="one", author=a, qty=1, isbn="111")
    SchemaBook.objects.create(title="two", author=a, qty=2, isbn=None)
    return a


def book_rows(db, cols="title, qty"):
    return db.execute(f'SELECT {cols} FROM "sqlschema_schemabook" ORDER BY id')


def test_alter_field_type_keeps_data_indexes_and_constraints(db, books):
    old = field_named(SchemaBook, "title")
    new = new_field(dorm.TextField, "title")
    with db.schema_editor() as editor:
        editor.alter_field(SchemaBook, old, new)
    assert columns(db, "sqlschema_schemabook")["title"].type.lower() == "text"
    assert book_rows(db) == [("one", 1), ("two", 2)]
    cons = db.introspection.get_constraints("sqlschema_schemabook")
    assert "schema_book_qty_idx" in cons and "schema_book_qty_positive" in cons
    assert "schema_book_isbn_active" in cons
    assert any(c["foreign_key"] for c in cons.values())
    with pytest.raises(IntegrityError):
        SchemaBook.objects.create(title="one", author=books)     # unique_together still there


def test_alter_null_to_not_null_fills_existing_rows(db, books):
    old = field_named(SchemaBook, "isbn")
    new = new_field(dorm.CharField, "isbn", max_length=20, default="n/a")
    with db.schema_editor() as editor:
        editor.alter_field(SchemaBook, old, new)
    assert book_rows(db, "isbn") == [("111",), ("n/a",)]
    assert not columns(db, "sqlschema_schemabook")["isbn"].null_ok


def test_alter_field_column_rename_keeps_data(db, books):
    old = field_named(SchemaBook, "qty")
    new = new_field(dorm.IntegerField, "qty", db_column="quantity", default=0)
    with db.schema_editor() as editor:
        editor.alter_field(SchemaBook, old, new)
    assert book_rows(db, "title, quantity") == [("one", 1), ("two", 2)]
    cons = db.introspection.get_constraints("sqlschema_schemabook")
    assert cons["schema_book_qty_idx"]["columns"] == ["quantity", "title"]


def test_rename_field_uses_rename_column(db, books):
    old = field_named(SchemaAuthor, "name")
    new = new_field(dorm.CharField, "full_name", max_length=50)
    with db.schema_editor(collect_sql=True) as editor:
        editor.alter_field(SchemaAuthor, old, new)
    assert editor.collected_sql == ['ALTER TABLE "sqlschema_schemaauthor" RENAME COLUMN "name" TO "full_name";']
    with db.schema_editor() as editor:
        editor.rename_field(SchemaAuthor, old, new)
    assert db.get_table_columns("sqlschema_schemaauthor") == ["id", "full_name"]


def test_add_not_null_field_to_populated_table(db, books):
    field = new_field(dorm.IntegerField, "pages", default=100)
    with db.schema_editor() as editor:
        editor.add_field(SchemaBook, field)
    assert book_rows(db, "title, pages") == [("one", 100), ("two", 100)]
    assert not columns(db, "sqlschema_schemabook")["pages"].null_ok


def test_add_nullable_and_db_default_fields_use_alter(db, books):
    nullable = new_field(dorm.CharField, "note", max_length=10, null=True, db_index=True)
    defaulted = new_field(dorm.IntegerField, "rank", db_default=7)
    with db.schema_editor(collect_sql=True) as editor:
        editor.add_field(SchemaBook, nullable)
        editor.add_field(SchemaBook, defaulted)
    assert all(not s.startswith("CREATE TABLE") for s in editor.collected_sql)
    with db.schema_editor() as editor:
        editor.add_field(SchemaBook, nullable)
        editor.add_field(SchemaBook, defaulted)
    assert book_rows(db, "note, rank") == [(None, 7), (None, 7)]
    assert any(c["columns"] == ["note"] and c["index"]
               for c in db.introspection.get_constraints("sqlschema_schemabook").values())


def test_add_unique_field_rebuilds(db, books):
    field = new_field(dorm.CharField, "code", max_length=10, null=True, unique=True)
    with db.schema_editor() as editor:
        editor.add_field(SchemaBook, field)
    db.execute_write('UPDATE "sqlschema_schemabook" SET code = ? WHERE title = ?', ["x", "one"])
    with pytest.raises(IntegrityError):
        db.execute_write('UPDATE "sqlschema_schemabook" SET code = ? WHERE title = ?', ["x", "two"])


def test_remove_field_keeps_other_data(db, books):
    with db.schema_editor() as editor:
        editor.remove_field(SchemaBook, "isbn")
    assert "isbn" not in db.get_table_columns("sqlschema_schemabook")
    assert book_rows(db) == [("one", 1), ("two", 2)]
    cons = db.introspection.get_constraints("sqlschema_schemabook")
    assert "schema_book_qty_idx" in cons and "schema_book_isbn_partial" not in cons


def test_rebuild_of_referenced_table_keeps_children(db, books):
    """Dropping the old parent table must not cascade into the children."""
    old = field_named(SchemaAuthor, "name")
    new = new_field(dorm.TextField, "name")
    with db.schema_editor() as editor:
        editor.alter_field(SchemaAuthor, old, new)
    assert book_rows(db) == [("one", 1), ("two", 2)]
    assert db.execute("PRAGMA foreign_keys") == [(1,)]          # switched back on
    assert db.execute("PRAGMA foreign_key_check") == []


def test_rebuild_of_referenced_table_inside_atomic_is_refused(db, books):
    old = field_named(SchemaAuthor, "name")
    new = new_field(dorm.TextField, "name")
    with pytest.raises(NotSupportedError, match="outside atomic"), dorm.transaction.atomic():
        with db.schema_editor() as editor:
            editor.alter_field(SchemaAuthor, old, new)
    assert book_rows(db) == [("one", 1), ("two", 2)]


def test_schema_changes_roll_back_with_the_block(db, books):
    field = new_field(dorm.IntegerField, "pages", default=1)
    with pytest.raises(RuntimeError), db.schema_editor() as editor:
        editor.add_field(SchemaBook, field)
        raise RuntimeError("abort")
    assert "pages" not in db.get_table_columns("sqlschema_schemabook")
    assert book_rows(db) == [("one", 1), ("two", 2)]


def test_add_and_remove_constraint_and_index(db, books):
    check = dorm.CheckConstraint(check=Q(qty__lt=100), name="schema_book_qty_small")
    index = dorm.Index(fields=["active"], name="schema_book_active_idx")
    with db.schema_editor() as editor:
        editor.add_constraint(SchemaBook, check)
        editor.add_index(SchemaBook, index)
    cons = db.introspection.get_constraints("sqlschema_schemabook")
    assert "schema_book_qty_small" in cons and "schema_book_active_idx" in cons
    with pytest.raises(IntegrityError):
        db.execute_write('UPDATE "sqlschema_schemabook" SET qty = 500')
    # the model state now includes both (as a migration's from-state would)
    SchemaBook._meta.constraints.append(check)
    SchemaBook._meta.indexes.append(index)
    try:
        with db.schema_editor() as editor:
            editor.remove_constraint(SchemaBook, check)   # rebuild: recreates the index from state
            editor.remove_index(SchemaBook, index)
    finally:
        SchemaBook._meta.constraints.remove(check)
        SchemaBook._meta.indexes.remove(index)
    cons = db.introspection.get_constraints("sqlschema_schemabook")
    assert "schema_book_qty_small" not in cons and "schema_book_active_idx" not in cons
    assert book_rows(db) == [("one", 1), ("two", 2)]


def test_alter_unique_together(db, books):
    with db.schema_editor() as editor:
        editor.alter_unique_together(SchemaBook, [("title", "author")], [])
    SchemaBook.objects.create(title="one", author=books)       # duplicate now allowed
    assert book_rows(db, "count(*)") == [(3,)]


def test_alter_db_table(db, books):
    with db.schema_editor() as editor:
        editor.alter_db_table(SchemaAuthor, "sqlschema_schemaauthor", "renamed_author")
    assert db.table_exists("renamed_author")
    with db.schema_editor() as editor:
        editor.alter_db_table(SchemaAuthor, "renamed_author", "sqlschema_schemaauthor")


def test_self_referencing_table_rebuild(db):
    root = SchemaNode.objects.create(label="root")
    SchemaNode.objects.create(label="leaf", parent=root)
    old = field_named(SchemaNode, "label")
    new = new_field(dorm.CharField, "label", max_length=30)
    with db.schema_editor() as editor:
        editor.alter_field(SchemaNode, old, new)
    assert db.execute('SELECT label, parent_id FROM "sqlschema_schemanode" ORDER BY id') == \
        [("root", None), ("leaf", root.pk)]
    fk = [c for c in db.introspection.get_constraints("sqlschema_schemanode").values() if c["foreign_key"]]
    assert fk[0]["foreign_key"] == ("sqlschema_schemanode", "id")


def test_index_names_are_deterministic_and_short(db):
    editor = db.schema_editor()
    long_table = "t" * 80
    name1 = editor.object_name(long_table, ["c" * 40, "d"], "idx")
    name2 = editor.object_name(long_table, ["c" * 40, "d"], "idx")
    assert name1 == name2 and len(name1) <= 63 and name1.endswith("_idx")
    assert editor.object_name(long_table, ["c" * 40, "e"], "idx") != name1
    from dorm.models.indexes import default_name

    assert editor.object_name("shop_item", ["name"], "idx") == default_name("shop_item", ["name"], "idx")


def test_table_model_is_a_dataclass_that_can_be_edited(db):
    info = db.schema_editor().table_model(SchemaAuthor)
    assert info.table == "sqlschema_schemaauthor" and info.pk_columns == ["id"]
    renamed = dataclasses.replace(info, table="copy_author")
    with db.schema_editor() as editor:
        editor.create_model(renamed)
    assert db.get_table_columns("copy_author") == ["id", "name"]


def test_views_are_listed_but_not_as_tables(db):
    db.execute_write('CREATE VIEW author_names AS SELECT name FROM "sqlschema_schemaauthor"')
    listed = {t.name: t.type for t in db.introspection.get_table_list()}
    assert listed["author_names"] == "v" and listed["sqlschema_schemaauthor"] == "t"
    assert "author_names" not in db.introspection.table_names()
    assert "author_names" in db.introspection.table_names(include_views=True)


def test_top_level_helpers_are_these(db):
    assert dorm.create_tables is create_tables and dorm.drop_tables is drop_tables


async def test_async_table_helpers(db):
    from dorm.db import acreate_tables, adrop_tables

    await adrop_tables([SchemaNode])
    assert not db.table_exists("sqlschema_schemanode")
    await acreate_tables([SchemaNode])
    assert db.table_exists("sqlschema_schemanode")


def test_base_editor_alter_statements(db):
    """The generic ALTER COLUMN path (used by server backends), checked as text."""
    from dorm.db.backends.base.schema import BaseSchemaEditor

    editor = BaseSchemaEditor(db, collect_sql=True)
    old = field_named(SchemaBook, "isbn")
    new = new_field(dorm.TextField, "code", default="x", unique=True, db_default="y")
    with editor:
        editor.alter_field(SchemaBook, old, new)
        editor.add_field(SchemaBook, new_field(dorm.IntegerField, "pages", default=3))
        editor.alter_unique_together(SchemaBook, [("title", "author")], [("title", "isbn")])
        editor.add_constraint(SchemaBook, dorm.CheckConstraint(check=Q(qty__lt=9), name="small"))
    sql = "\n".join(editor.collected_sql)
    assert 'ALTER TABLE "sqlschema_schemabook" RENAME COLUMN "isbn" TO "code";' in sql
    assert 'ALTER COLUMN "code" TYPE text' in sql
    assert 'ALTER COLUMN "code" SET DEFAULT \'y\'' in sql
    assert "UPDATE \"sqlschema_schemabook\" SET \"code\" = 'x' WHERE \"code\" IS NULL" in sql
    assert 'ALTER COLUMN "code" SET NOT NULL' in sql
    assert 'UNIQUE ("code")' in sql
    assert 'ADD COLUMN "pages" integer NOT NULL DEFAULT 3' in sql
    assert 'ALTER COLUMN "pages" DROP DEFAULT' in sql
    assert 'DROP CONSTRAINT "sqlschema_schemabook_title_author_id_' in sql
    assert 'ADD CONSTRAINT "small" CHECK ("qty" < 9)' in sql
