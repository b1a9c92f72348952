"""DDL of geometry columns: registration, spatial indexes (GiST / R*Tree), schema-editor
changes (add, remove, rename, alter, table rename, SQLite rebuilds), collected SQL."""
import dorm
import pytest
from dorm.contrib.gis import Geom, LineStringField, PointField

from .models import Place, Shape


class Road(dorm.Model):
    name = dorm.CharField(max_length=20)
    path = LineStringField()
    start = PointField(null=True, spatial_index=False)

    class Meta:
        app_label = "gis_schema"


class RoadWithMoved(dorm.Model):
    """Road after a geometry column ``moved`` was added (a migration's state model)."""

    name = dorm.CharField(max_length=20)
    path = LineStringField()
    start = PointField(null=True, spatial_index=False)
    moved = PointField(null=True)

    class Meta:
        app_label = "gis_schema"
        db_table = "gis_schema_road"


MODELS = [Road, Place, Shape]


def spatial_index(conn, table, column):
    """True/False: is there a spatial index on ``table.column``; None: column not spatial."""
    if conn.vendor == "postgresql":
        rows = conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return any("USING gist" in r[0] and f"({column})" in r[0].replace('"', "") for r in rows)
    rows = conn.execute("SELECT spatial_index_enabled FROM geometry_columns "
                        "WHERE f_table_name = lower(?) AND f_geometry_column = lower(?)", [table, column])
    if not rows:
        return None
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [f"idx_{table}_{column}"])
    assert bool(rows[0][0]) == bool(exists)
    return bool(rows[0][0])


def registered_type(conn, table, column):
    """SpatiaLite: the registered geometry type code; PostGIS: the column's type."""
    if conn.vendor == "postgresql":
        rows = conn.execute("SELECT type, srid FROM geometry_columns WHERE f_table_name = %s "
                            "AND f_geometry_column = %s", [table, column])
    else:
        rows = conn.execute("SELECT geometry_type, srid FROM geometry_columns WHERE "
                            "f_table_name = lower(?) AND f_geometry_column = lower(?)", [table, column])
    return tuple(rows[0]) if rows else None


def _field(cls, name, **kwargs):
    field = cls(**kwargs)
    field.set_attributes_from_name(name)
    field.model = Road
    return field


def test_create_tables_registers_and_indexes(gisdb):
    table = Road._meta.db_table
    assert spatial_index(gisdb, table, "path") is True
    assert spatial_index(gisdb, table, "start") is False
    assert registered_type(gisdb, table, "path") in {("LINESTRING", 4326), (2, 4326)}
    assert spatial_index(gisdb, Shape._meta.db_table, "geom") is False
    # the type/SRID constraints are enforced by the database itself
    with pytest.raises(dorm.DatabaseError):
        gisdb.execute_write(f"INSERT INTO {table} (name, path) VALUES ('x', "
                            + ("ST_GeomFromText('POINT(1 1)', 4326))" if gisdb.vendor == "postgresql"
                               else "GeomFromText('POINT(1 1)', 4326))"))


def test_create_tables_is_idempotent(gisdb):
    Road.objects.create(name="a", path=Geom.linestring([[0, 0], [1, 1]]))
    dorm.create_tables([Road])          # IF NOT EXISTS: registration and index kept
    assert spatial_index(gisdb, Road._meta.db_table, "path") is True
    assert Road.objects.filter(path__intersects=Geom.point(0.5, 0.5)).count() == 1


def test_drop_and_recreate(gisdb):
    Road.objects.create(name="a", path=Geom.linestring([[0, 0], [1, 1]]))
    dorm.drop_tables([Road])
    if gisdb.vendor == "sqlite":
        assert registered_type(gisdb, Road._meta.db_table, "path") is None
        assert not gisdb.execute("SELECT 1 FROM sqlite_master WHERE name LIKE 'idx_gis_schema_road%'")
    dorm.create_tables([Road])
    assert spatial_index(gisdb, Road._meta.db_table, "path") is True
    Road.objects.create(name="b", path=Geom.linestring([[0, 0], [2, 2]]))
    assert Road.objects.filter(path__bboverlaps=Geom.point(1.5, 1.5)).count() == 1


def test_add_remove_and_rename_geometry_columns(gisdb):
    table = Road._meta.db_table
    Road.objects.create(name="a", path=Geom.linestring([[0, 0], [4, 4]]))
    extra = _field(PointField, "extra", null=True)
    with gisdb.schema_editor() as editor:
        editor.add_field(Road, extra)
    assert spatial_index(gisdb, table, "extra") is True
    renamed = _field(PointField, "moved", null=True)
    with gisdb.schema_editor() as editor:
        editor.rename_field(Road, extra, renamed)
    assert spatial_index(gisdb, table, "moved") is True
    if gisdb.vendor == "sqlite":
        assert registered_type(gisdb, table, "extra") is None
    with gisdb.schema_editor() as editor:
        editor.remove_field(RoadWithMoved, "moved")
    assert spatial_index(gisdb, table, "moved") in (None, False)
    # the other geometry column survived (SQLite rebuilt the table) with data and index
    assert spatial_index(gisdb, table, "path") is True
    assert Road.objects.filter(path__intersects=Geom.point(2, 2)).count() == 1


def test_alter_spatial_index_and_rename_table(gisdb):
    old = Road._meta.db_table
    Road.objects.create(name="a", path=Geom.linestring([[0, 0], [4, 4]]))
    with gisdb.schema_editor() as editor:
        editor.alter_field(Road, Road._meta.get_field("path"),
                           _field(LineStringField, "path", spatial_index=False))
    assert spatial_index(gisdb, old, "path") is False
    with gisdb.schema_editor() as editor:
        editor.alter_field(Road, _field(LineStringField, "path", spatial_index=False),
                           _field(LineStringField, "path"))
    assert spatial_index(gisdb, old, "path") is True
    with gisdb.schema_editor() as editor:
        editor.alter_db_table(Road, old, "gis_schema_highway")
    try:
        assert spatial_index(gisdb, "gis_schema_highway", "path") is True
        if gisdb.vendor == "sqlite":
            assert registered_type(gisdb, old, "path") is None
        rows = gisdb.execute("SELECT name FROM gis_schema_highway")
        assert [r[0] for r in rows] == ["a"]
    finally:
        with gisdb.schema_editor() as editor:
            editor.alter_db_table(Road, "gis_schema_highway", old)


def test_collected_sql(gisdb):
    with gisdb.schema_editor(collect_sql=True) as editor:
        editor.create_model(Road)
        editor.delete_model(Road)
    sql = "\n".join(editor.collected_sql)
    if gisdb.vendor == "postgresql":
        assert "geometry(LineString,4326)" in sql and "USING GIST" in sql
    else:
        assert "RecoverGeometryColumn('gis_schema_road', 'path', 4326, 'LINESTRING', 'XY')" in sql
        assert "CreateSpatialIndex('gis_schema_road', 'path')" in sql
        assert "DiscardGeometryColumn('gis_schema_road', 'path')" in sql


def test_enable_gis_operation(gisdb):
    from dorm.migrations.operations import EnableGIS

    op = EnableGIS()
    with gisdb.schema_editor() as editor:
        op.database_forwards("gis_schema", editor, None, None)
        op.database_backwards("gis_schema", editor, None, None)
    assert op.describe().startswith("Enable spatial support")
    assert op.deconstruct()[0] == "dorm.migrations.operations.EnableGIS"
