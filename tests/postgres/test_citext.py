"""CITextField: citext on PostgreSQL, NOCASE collations on SQLite and DuckDB; equality,
``in`` and uniqueness ignore case on every backend."""
from __future__ import annotations

import types

import dorm
import pytest
from dorm.db import connections
from dorm.exceptions import IntegrityError, NotSupportedError


class Member(dorm.Model):
    email = dorm.CITextField(unique=True)
    nick = dorm.CITextField(null=True)
    note = dorm.TextField(default="")

    class Meta:
        app_label = "pg_citext"


MODELS: list = []      # the fixture creates the table (after dropping the extension)
TABLES = [Member]


@pytest.fixture(params=["postgresql", "sqlite", "duckdb"])
def ci_db(request, tmp_path, configure_pg):
    """``default`` on each backend, with the ``Member`` table."""
    if request.param == "postgresql":
        ctx = configure_pg()
    else:
        if request.param == "duckdb":
            pytest.importorskip("duckdb")
        ctx = dorm.settings.override(DATABASES={"default": {
            "ENGINE": request.param, "NAME": str(tmp_path / f"ci.{request.param}")}})
    with ctx:
        conn = connections["default"]
        try:
            if request.param == "postgresql":
                dorm.drop_tables(TABLES)
                conn.execute_write("DROP EXTENSION IF EXISTS citext", ())
            dorm.create_tables(TABLES)
            yield conn
        finally:
            try:
                dorm.drop_tables(TABLES)
            finally:
                connections.close_all()


def fill():
    Member.objects.create(email="Alice@Example.com", nick="Ally", note="Alice")
    Member.objects.create(email="bob@example.com", nick="BOBBY", note="bob")
    Member.objects.create(email="carol@example.com", note="carol")


def emails(qs):
    return sorted(qs.values_list("email", flat=True))


def test_column_type(ci_db):
    vendor = ci_db.vendor
    if vendor == "postgresql":
        rows = ci_db.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                               "attrelid = 'pg_citext_member'::regclass AND attname = 'email'")
        assert rows[0][0] == "citext"
        assert ci_db.execute("SELECT 1 FROM pg_extension WHERE extname = 'citext'") == [(1,)]
    elif vendor == "sqlite":
        ddl = ci_db.execute("SELECT sql FROM sqlite_master WHERE name = 'pg_citext_member'")[0][0]
        assert '"email" TEXT COLLATE NOCASE NOT NULL UNIQUE' in ddl
    else:
        ddl = ci_db.execute("SELECT sql FROM duckdb_tables() WHERE table_name = "
                              "'pg_citext_member'")[0][0]
        assert "VARCHAR COLLATE NOCASE" in ddl


def test_equality_ignores_case_and_keeps_the_stored_case(ci_db):
    fill()
    m = Member.objects.get(email="ALICE@example.COM")
    assert m.email == "Alice@Example.com"                      # stored as written
    assert emails(Member.objects.filter(email="alice@example.com")) == ["Alice@Example.com"]
    assert emails(Member.objects.filter(email__in=["BOB@EXAMPLE.COM", "CAROL@example.com",
                                                   "nobody@x"])) == \
        ["bob@example.com", "carol@example.com"]
    assert emails(Member.objects.filter(nick="bobby")) == ["bob@example.com"]
    assert emails(Member.objects.exclude(nick="ALLY")) == ["bob@example.com", "carol@example.com"]
    assert emails(Member.objects.filter(email__iexact="BOB@example.com")) == ["bob@example.com"]
    # pattern lookups are case-insensitive too
    assert emails(Member.objects.filter(email__contains="EXAMPLE")) == \
        ["Alice@Example.com", "bob@example.com", "carol@example.com"]
    assert emails(Member.objects.filter(email__startswith="ALI")) == ["Alice@Example.com"]
    assert emails(Member.objects.filter(nick__endswith="bY")) == ["bob@example.com"]
    assert emails(Member.objects.filter(email__regex="^CAR")) == ["carol@example.com"]
    # a plain TextField next to it stays case-sensitive
    assert Member.objects.filter(note="ALICE").count() == 0
    # ordering ignores case
    assert list(Member.objects.order_by("email").values_list("email", flat=True)) == \
        ["Alice@Example.com", "bob@example.com", "carol@example.com"]
    assert Member.objects.filter(email="Alice@Example.com").update(nick="al") == 1
    assert Member.objects.get(email="alice@EXAMPLE.com").nick == "al"


def test_unique_conflict_ignores_case(ci_db):
    fill()
    with pytest.raises(IntegrityError):
        Member.objects.create(email="ALICE@EXAMPLE.COM")
    with pytest.raises(IntegrityError):
        Member.objects.create(email="Bob@Example.Com")
    Member.objects.create(email="dave@example.com")
    # an update into a taken value conflicts as well
    with pytest.raises(IntegrityError):
        Member.objects.filter(email="dave@example.com").update(email="CAROL@example.com")
    assert Member.objects.count() == 4
    obj, created = Member.objects.get_or_create(email="DAVE@EXAMPLE.COM")
    assert not created and obj.email == "dave@example.com"


def test_unsupported_backend_is_named():
    field = Member._meta.get_field("email")
    fake = types.SimpleNamespace(vendor="mysql", display_name="MySQL", data_types={},
                                 features=types.SimpleNamespace())
    with pytest.raises(NotSupportedError, match=r"Member\.email.*MySQL"):
        field.db_type(fake)
    fake.data_types = {"CITextField": "VARCHAR(255) COLLATE utf8mb4_0900_ai_ci"}
    assert field.db_type(fake) == "VARCHAR(255) COLLATE utf8mb4_0900_ai_ci"


def test_extension_created_by_add_field_and_collected_sql(configure_pg):
    with configure_pg():
        conn = connections["default"]
        try:
            conn.execute_write("DROP TABLE IF EXISTS pg_citext_member", ())
            conn.execute_write("DROP EXTENSION IF EXISTS citext", ())
            editor = conn.schema_editor(collect_sql=True)
            editor.create_model(Member)
            assert editor.collected_sql[0] == 'CREATE EXTENSION IF NOT EXISTS "citext";'
            assert sum("CREATE EXTENSION" in s for s in editor.collected_sql) == 1
            # add_field on an existing table creates it too
            conn.execute_write("CREATE TABLE pg_citext_member (id bigint PRIMARY KEY, "
                               "email text, note text)", ())
            field = dorm.CITextField(null=True)
            field.set_attributes_from_name("nick")
            with conn.schema_editor() as ed:
                ed.add_field(Member, field)
            assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citext'") == [(1,)]
            assert conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                                "attrelid = 'pg_citext_member'::regclass AND attname = 'nick'")[0][0] \
                == "citext"
            # altering a text column into a CITextField (the extension is dropped again first)
            conn.execute_write("ALTER TABLE pg_citext_member DROP COLUMN nick", ())
            conn.execute_write("DROP EXTENSION citext", ())
            conn.execute_write("INSERT INTO pg_citext_member (id, email, note) VALUES (1, 'Abc', '')",
                               ())
            old, new = dorm.TextField(), dorm.CITextField()
            old.set_attributes_from_name("email")
            new.set_attributes_from_name("email")
            with conn.schema_editor() as ed:
                ed.alter_field(Member, old, new)
            assert conn.execute("SELECT id FROM pg_citext_member WHERE email = %s", ["ABC"]) == [(1,)]
        finally:
            conn.execute_write("DROP TABLE IF EXISTS pg_citext_member", ())
            connections.close_all()


def test_migration_file_imports_and_applies(configure_pg, tmp_path):
    from dorm.migrations import MigrationExecutor, MigrationLoader
    from dorm.migrations.loader import AppInfo
    from dorm.migrations.migration import Migration
    from dorm.migrations.operations import CreateModel
    from dorm.migrations.writer import MigrationWriter

    mig = Migration("0001_initial", "cimig", [
        CreateModel("Login", [("id", dorm.BigAutoField(primary_key=True)),
                              ("user", dorm.CITextField(unique=True))]),
    ], [])
    source = MigrationWriter(mig).as_string()
    assert "from dorm import CITextField" in source and 'CITextField(unique=True)' in source
    directory = tmp_path / "cimig_pkg"
    (directory / "migrations").mkdir(parents=True)
    (directory / "migrations" / "__init__.py").touch()
    (directory / "migrations" / "0001_initial.py").write_text(source)
    app = AppInfo("cimig", "cimig_pkg", directory)
    with configure_pg():
        conn = connections["default"]
        try:
            conn.execute_write("DROP EXTENSION IF EXISTS citext CASCADE", ())
            MigrationExecutor(conn, MigrationLoader(conn, apps=[app])).migrate()
            conn.execute_write("INSERT INTO cimig_login (\"user\") VALUES ('Root')", ())
            with pytest.raises(IntegrityError):
                conn.execute_write("INSERT INTO cimig_login (\"user\") VALUES ('ROOT')", ())
            MigrationExecutor(conn, MigrationLoader(conn, apps=[app])).rollback("cimig", "zero")
        finally:
            conn.execute_write("DROP TABLE IF EXISTS cimig_login", ())
            connections.close_all()


def test_altering_a_column_into_citext_on_every_backend(ci_db):
    """SQLite and DuckDB rebuild the table; the copy casts to the plain type (a collation
    clause is not valid inside CAST on DuckDB) and the new column compares without case."""
    Member.objects.create(email="Alice@Example.com", nick="Ally", note="Note")
    old = Member._meta.get_field("note")
    new = dorm.CITextField()
    new.set_attributes_from_name("note")
    new.model = Member
    with ci_db.schema_editor() as ed:
        ed.alter_field(Member, old, new)
    table = Member._meta.db_table
    assert ci_db.execute(f'SELECT "note" FROM "{table}" WHERE "note" = %s'.replace("%s", ci_db.ops.placeholder),
                         ["NOTE"]) == [("Note",)]
