"""HStoreField: hstore on PostgreSQL, JSON TEXT elsewhere, same Python value."""
from __future__ import annotations

import dorm
import pytest
from dorm.db import connections
from dorm.exceptions import NotSupportedError, ValidationError


class Bag(dorm.Model):
    name = dorm.CharField(max_length=20)
    data = dorm.HStoreField(null=True)

    class Meta:
        app_label = "pg_hstore"


MODELS = []   # the extension must exist first: the fixture creates the table
TABLES = [Bag]


@pytest.fixture
def db(pg):
    pg.execute_write("CREATE EXTENSION IF NOT EXISTS hstore", ())
    dorm.drop_tables(TABLES)
    dorm.create_tables(TABLES)
    yield pg
    dorm.drop_tables(TABLES)


def fill():
    Bag.objects.create(name="a", data={"color": "red", "size": "L", "note": None})
    Bag.objects.create(name="b", data={"color": "blue", "été": "ça \"quoted\" \\ =>, x"})
    Bag.objects.create(name="c", data={})
    Bag.objects.create(name="d", data=None)


def names(qs):
    return sorted(qs.values_list("name", flat=True))


def test_column_type_and_round_trip(db):
    fill()
    rows = db.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                      "attrelid = 'pg_hstore_bag'::regclass AND attname = 'data'")
    assert rows[0][0] == "hstore"
    got = {b.name: b.data for b in Bag.objects.all()}
    assert got == {"a": {"color": "red", "size": "L", "note": None},
                   "b": {"color": "blue", "été": "ça \"quoted\" \\ =>, x"}, "c": {}, "d": None}
    # the server agrees on the stored pairs
    assert db.execute("SELECT data -> 'été' FROM pg_hstore_bag WHERE name = 'b'")[0][0] == \
        "ça \"quoted\" \\ =>, x"
    assert db.execute("SELECT data ? 'note', data -> 'note' FROM pg_hstore_bag WHERE name = 'a'")[0] \
        == (True, None)


def test_validation(db):
    with pytest.raises(ValidationError):
        Bag.objects.create(name="x", data={"n": 1})
    with pytest.raises(ValidationError):
        Bag.objects.create(name="x", data={1: "a"})
    with pytest.raises(ValidationError):
        Bag.objects.create(name="x", data=["a"])
    b = Bag.objects.create(name="j", data='{"k": "v"}')       # JSON text is decoded
    assert Bag.objects.get(pk=b.pk).data == {"k": "v"}


def test_lookups_pg(db):
    fill()
    assert names(Bag.objects.filter(data__color="red")) == ["a"]
    assert names(Bag.objects.filter(data__color__in=["red", "blue"])) == ["a", "b"]
    assert names(Bag.objects.filter(data__color__startswith="bl")) == ["b"]
    assert names(Bag.objects.filter(data__has_key="note")) == ["a"]
    assert names(Bag.objects.filter(data__has_keys=["color", "size"])) == ["a"]
    assert names(Bag.objects.filter(data__has_any_keys=["size", "été"])) == ["a", "b"]
    assert names(Bag.objects.filter(data__contains={"color": "blue"})) == ["b"]
    assert names(Bag.objects.filter(data__contained_by={"color": "red", "size": "L", "note": None,
                                                        "x": "y"})) == ["a", "c"]
    assert names(Bag.objects.filter(data__keys__contains=["size"])) == ["a"]
    assert names(Bag.objects.filter(data__values__contains=["blue"])) == ["b"]
    assert names(Bag.objects.filter(data__size__isnull=True)) == ["b", "c", "d"]


def test_sqlite_json_fallback(tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "h.db")}}):
        try:
            dorm.create_tables(TABLES)
            conn = connections["default"]
            cols = conn.execute("SELECT type FROM pragma_table_info('pg_hstore_bag') WHERE name = 'data'")
            assert cols[0][0].upper() == "TEXT"
            fill()
            got = {b.name: b.data for b in Bag.objects.all()}
            assert got["a"] == {"color": "red", "size": "L", "note": None}
            assert got["b"]["été"] == "ça \"quoted\" \\ =>, x" and got["c"] == {} and got["d"] is None
            assert names(Bag.objects.filter(data__color="red")) == ["a"]
            assert names(Bag.objects.filter(data__has_key="note")) == ["a"]
            assert names(Bag.objects.filter(data__has_keys=["color", "size"])) == ["a"]
            assert names(Bag.objects.filter(data__has_any_keys=["size", "été"])) == ["a", "b"]
            with pytest.raises(NotSupportedError, match="SQLite"):
                list(Bag.objects.filter(data__contains={"color": "red"}))
        finally:
            connections.close_all()


def test_migration_file_imports_and_applies(configure_pg, tmp_path):
    from dorm.migrations import MigrationExecutor, MigrationLoader
    from dorm.migrations.loader import AppInfo
    from dorm.migrations.migration import Migration
    from dorm.migrations.operations import CreateExtension, CreateModel
    from dorm.migrations.writer import MigrationWriter

    mig = Migration("0001_initial", "hsmig", [
        CreateExtension("hstore"),
        CreateModel("Thing", [("id", dorm.BigAutoField(primary_key=True)),
                              ("attrs", dorm.HStoreField(default=dict))]),
    ], [])
    source = MigrationWriter(mig).as_string()
    assert "HStoreField" in source and "CreateExtension" in source
    directory = tmp_path / "hsmig_pkg"
    (directory / "migrations").mkdir(parents=True)
    (directory / "migrations" / "__init__.py").touch()
    (directory / "migrations" / "0001_initial.py").write_text(source)
    app = AppInfo("hsmig", "hsmig_pkg", directory)
    with configure_pg():
        conn = connections["default"]
        try:
            ex = MigrationExecutor(conn, MigrationLoader(conn, apps=[app]))
            ex.migrate()
            conn.execute_write("INSERT INTO hsmig_thing (attrs) VALUES ('a=>1')", ())
            assert conn.execute("SELECT attrs -> 'a' FROM hsmig_thing")[0][0] == "1"
            ex = MigrationExecutor(conn, MigrationLoader(conn, apps=[app]))
            ex.rollback("hsmig")
            assert conn.execute("SELECT to_regclass('hsmig_thing')")[0][0] is None
        finally:
            conn.execute_write("DROP TABLE IF EXISTS hsmig_thing", ())
            connections.close_all()
