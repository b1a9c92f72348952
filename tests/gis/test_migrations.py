"""Geometry fields through real migrations: EnableGIS, CreateModel with a spatial index,
AddField, AlterField (index off), RenameField, RemoveField, and back."""
import textwrap

import pytest
from dorm.contrib.gis import Geom

from .test_schema import registered_type, spatial_index

APP = "gismig"


@pytest.fixture
def app(tmp_path):
    from dorm.migrations.loader import AppInfo

    directory = tmp_path / "gismig_pkg"
    (directory / "migrations").mkdir(parents=True)
    (directory / "migrations" / "__init__.py").touch()
    return AppInfo(APP, "gismig_pkg", directory)


def write(app, name, source):
    (app.migrations_dir / name).write_text(textwrap.dedent(source))


def executor(conn, app):
    from dorm.migrations import MigrationExecutor, MigrationLoader

    return MigrationExecutor(conn, MigrationLoader(conn, apps=[app]))


INITIAL = """
    from dorm.fields import CharField
    from dorm.migrations.operations import CreateModel, EnableGIS
    from dorm_gis.fields import PointField

    dependencies = []
    operations = [
        EnableGIS(),
        CreateModel(name="Site", fields=[
            ("name", CharField(max_length=20)),
            ("location", PointField()),
        ]),
    ]
"""

CHANGES = """
    from dorm.migrations.operations import AddField, AlterField, RenameField, RemoveField
    from dorm_gis.fields import PointField, PolygonField

    dependencies = [("gismig", "0001_initial")]
    operations = [
        AddField(model_name="Site", name="footprint", field=PolygonField(null=True)),
        AlterField(model_name="Site", name="location", field=PointField(spatial_index=False)),
        RenameField(model_name="Site", old_name="footprint", new_name="outline"),
        AddField(model_name="Site", name="entrance", field=PointField(null=True)),
        RemoveField(model_name="Site", name="entrance"),
    ]
"""


def test_migrations_create_alter_and_reverse(gisdb, app):
    table = f"{APP}_site"
    write(app, "0001_initial.py", INITIAL)
    ex = executor(gisdb, app)
    ex.migrate()
    assert spatial_index(gisdb, table, "location") is True
    point = Geom.point(2, 3).to_ewkb(hex=True)
    insert = (f"INSERT INTO {table} (name, location) VALUES ('a', "
              + ("ST_GeomFromEWKB(decode(%s, 'hex')))" if gisdb.vendor == "postgresql"
                 else "GeomFromEWKB(?))"))
    gisdb.execute_write(insert, [point])

    write(app, "0002_changes.py", CHANGES)
    ex = executor(gisdb, app)
    ex.migrate()
    assert spatial_index(gisdb, table, "location") is False
    assert spatial_index(gisdb, table, "outline") is True
    assert not spatial_index(gisdb, table, "footprint")
    assert not spatial_index(gisdb, table, "entrance")
    assert registered_type(gisdb, table, "outline") is not None
    assert [r[0] for r in gisdb.execute(f"SELECT name FROM {table}")] == ["a"]

    ex.migrate([(APP, "0001_initial")])
    assert spatial_index(gisdb, table, "location") is True
    assert not spatial_index(gisdb, table, "outline")
    assert [r[0] for r in gisdb.execute(f"SELECT name FROM {table}")] == ["a"]

    ex.migrate([(APP, None)])
    assert table not in gisdb.introspection.table_names()
    if gisdb.vendor == "sqlite":
        assert registered_type(gisdb, table, "location") is None
