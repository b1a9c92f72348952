"""Native PostgreSQL ENUM: EnumField(native=True), CreatePGEnum / AddPGEnumValue /
DropPGEnum written by the autodetector, VARCHAR + CHECK fallback on SQLite."""
from __future__ import annotations

import dorm
import pytest
from dorm.db import connections
from dorm.exceptions import DatabaseError
from dorm.migrations import (
    MigrationAutodetector,
    MigrationExecutor,
    MigrationLoader,
    ModelState,
    ProjectState,
)
from dorm.migrations.loader import AppInfo
from dorm.migrations.operations import AddPGEnumValue, CreatePGEnum, DropPGEnum, RenamePGEnumValue
from dorm.migrations.writer import MigrationWriter

from .enum_defs import ColorV1, ColorV2

APP = "enummig"


def model_state(enum_cls):
    return ModelState(APP, "Paint", [
        ("id", dorm.BigAutoField(primary_key=True)),
        ("color", dorm.EnumField(enum_cls, native=True, type_name="paint_color")),
    ], {})


def project(*models):
    s = ProjectState()
    for m in models:
        s.add_model(m)
    return s


@pytest.fixture
def app(tmp_path):
    directory = tmp_path / "enummig_pkg"
    (directory / "migrations").mkdir(parents=True)
    (directory / "migrations" / "__init__.py").touch()
    return AppInfo(APP, "enummig_pkg", directory)


def make_migrations(app, old, new):
    """What makemigrations does: detect, arrange, write; returns the sources."""
    detector = MigrationAutodetector(old, new)
    loader = MigrationLoader(None, apps=[app])
    arranged = detector.arrange(detector.changes(app_labels=[APP]), loader)
    out = []
    for migration in arranged[APP]:
        source = MigrationWriter(migration).as_string()
        (app.migrations_dir / f"{migration.name}.py").write_text(source)
        out.append((migration, source))
    return out


def run(conn, app, rollback_to=None):
    ex = MigrationExecutor(conn, MigrationLoader(conn, apps=[app]))
    if rollback_to is not None:
        return ex.rollback(APP, rollback_to)
    return ex.migrate()


def insert(conn, value):
    conn.execute_write(f"INSERT INTO enummig_paint (color) VALUES ({conn.ops.placeholder})", [value])


def test_operations_validate():
    with pytest.raises(ValueError):
        CreatePGEnum("t", [])
    with pytest.raises(ValueError):
        CreatePGEnum("t", ["a", 1])
    with pytest.raises(ValueError):
        AddPGEnumValue("t", 3)
    assert AddPGEnumValue("t", "x").atomic is False and not AddPGEnumValue("t", "x").reversible
    assert not DropPGEnum("t").reversible and DropPGEnum("t", reverse_values=["a"]).reversible
    with pytest.raises(dorm.exceptions.ValidationError):
        import enum

        class Num(enum.IntEnum):
            A = 1

        dorm.EnumField(Num, native=True)


def test_autodetected_migrations_on_postgres(configure_pg, app):
    [(m1, src1)] = make_migrations(app, ProjectState(), project(model_state(ColorV1)))
    assert [type(op).__name__ for op in m1.operations] == ["CreatePGEnum", "CreateModel"]
    assert 'values=["red", "green"]' in src1 and "native=True" in src1
    with configure_pg():
        conn = connections["default"]
        try:
            run(conn, app)
            assert conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                                "attrelid = 'enummig_paint'::regclass AND attname = 'color'")[0][0] \
                == "paint_color"
            insert(conn, "red")
            with pytest.raises(DatabaseError):
                insert(conn, "purple")
            # reverse of the initial migration drops the table and the type
            run(conn, app, rollback_to="zero")
            assert conn.execute("SELECT 1 FROM pg_type WHERE typname = 'paint_color'") == []
            run(conn, app)
            insert(conn, "green")

            # the enum gains a member: AddPGEnumValue in a non-atomic migration
            [(m2, src2)] = make_migrations(app, project(model_state(ColorV1)), project(model_state(ColorV2)))
            assert [type(op).__name__ for op in m2.operations] == ["AddPGEnumValue", "AlterField"]
            assert m2.operations[0].value == "blue" and m2.operations[0].after == "red"
            assert "atomic = False" in src2
            run(conn, app)
            insert(conn, "blue")
            labels = [r[0] for r in conn.execute(
                "SELECT unnest(enum_range(NULL::paint_color))::text")]
            assert labels == ["red", "blue", "green"]
            # reading through a model
            rows = sorted(r[0] for r in conn.execute("SELECT color::text FROM enummig_paint"))
            assert rows == ["blue", "green"]
            # the type goes when no field uses it any more
            [(m3, _)] = make_migrations(app, project(model_state(ColorV2)), project())
            assert [type(op).__name__ for op in m3.operations] == ["DeleteModel", "DropPGEnum"]
            run(conn, app)
            assert conn.execute("SELECT 1 FROM pg_type WHERE typname = 'paint_color'") == []
        finally:
            conn.execute_write("DROP TABLE IF EXISTS enummig_paint", ())
            conn.execute_write("DROP TYPE IF EXISTS paint_color", ())
            connections.close_all()


def test_same_migrations_on_sqlite(app, tmp_path):
    make_migrations(app, ProjectState(), project(model_state(ColorV1)))
    make_migrations(app, project(model_state(ColorV1)), project(model_state(ColorV2)))
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "e.db")}}):
        conn = connections["default"]
        try:
            run(conn, app, rollback_to=None)
            insert(conn, "blue")
            with pytest.raises(DatabaseError):
                insert(conn, "purple")
            ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'enummig_paint'")[0][0]
            assert "CHECK" in ddl and "'blue'" in ddl and "varchar" in ddl.lower()
        finally:
            connections.close_all()


class Paint(dorm.Model):
    color = dorm.EnumField(ColorV2, native=True, type_name="paint_color2")

    class Meta:
        app_label = "pg_enum"


def test_model_round_trip_and_rename(pg):
    pg.execute_write("DROP TABLE IF EXISTS pg_enum_paint", ())
    pg.execute_write("DROP TYPE IF EXISTS paint_color2", ())
    with pg.schema_editor() as editor:
        CreatePGEnum("paint_color2", ["red", "blue", "green"]).database_forwards("pg_enum", editor, None, None)
        CreatePGEnum("paint_color2", ["red", "blue", "green"]).database_forwards("pg_enum", editor, None, None)
    try:
        dorm.create_tables([Paint])
        Paint.objects.create(color=ColorV2.BLUE)
        Paint.objects.create(color="red")
        assert sorted(p.color.value for p in Paint.objects.all()) == ["blue", "red"]
        assert Paint.objects.filter(color=ColorV2.BLUE).count() == 1
        assert Paint.objects.filter(color__in=["red", "green"]).count() == 1
        with pg.schema_editor() as editor:
            with pytest.raises(ValueError, match="already exists"):
                CreatePGEnum("paint_color2", ["x"]).database_forwards("pg_enum", editor, None, None)
        with pg.schema_editor() as editor:
            RenamePGEnumValue("paint_color2", "green", "verde").database_forwards("pg_enum", editor, None, None)
        assert [r[0] for r in pg.execute("SELECT unnest(enum_range(NULL::paint_color2))::text")] == \
            ["red", "blue", "verde"]
    finally:
        dorm.drop_tables([Paint])
        pg.execute_write("DROP TYPE IF EXISTS paint_color2", ())
