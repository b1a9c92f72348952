"""Geometry fields.

``GeometryField(srid=4326, dim=2, geography=False, spatial_index=True, as_shapely=False)``
and its typed subclasses. Columns:

* PostgreSQL (PostGIS): ``geometry(Point,4326)``, ``geography(Point,4326)`` with
  ``geography=True``, ``geometry(PointZ,4326)`` with ``dim=3``; ``spatial_index`` → a
  GiST index.
* SQLite (SpatiaLite): a column declared with its geometry type and registered with
  ``RecoverGeometryColumn``; ``spatial_index`` → ``CreateSpatialIndex`` (R*Tree).
  ``geography=True`` is emulated: values are lon/lat geometries and distances, lengths
  and areas are computed on the WGS84 ellipsoid (metres), as on PostGIS.
* other backends: ``TEXT`` holding EWKT (storage only; spatial lookups and functions
  raise ``NotSupportedError`` naming the backend).

Values: a ``Geom``, a shapely geometry, a GeoJSON dict, WKT/EWKT/hex-WKB text or WKB
bytes are accepted; reads return ``Geom`` (``as_shapely=True``: shapely geometries with
their SRID set, see ``shapely.get_srid``). A value whose SRID differs from the field's is
rejected (``ValueError``): transform it first (``Transform`` or a projection library).
"""
from __future__ import annotations

from dorm.exceptions import ValidationError
from dorm.fields import Field

GIS_VENDORS = ("postgresql", "sqlite")


#: Set once a model declares a geometry field: SQLite connections then load
#: SpatiaLite (which imports shapely/numpy) — projects without GIS models never pay it.
GIS_IN_USE = [False]


class GeometryField(Field):
    """Any geometry (the column accepts every geometry type)."""

    #: SQL geometry type name (``POINT``, ...) and the shapely ``geom_type`` accepted
    geom_type = "GEOMETRY"
    geom_class: str | None = None
    empty_strings_allowed = False
    description = "geometry"

    def contribute_to_class(self, cls, name):
        GIS_IN_USE[0] = True
        super().contribute_to_class(cls, name)

    def __init__(self, verbose_name=None, name=None, *, srid: int = 4326, dim: int = 2,
                 geography: bool = False, spatial_index: bool = True, as_shapely: bool = False,
                 **kwargs):
        if dim not in (2, 3):
            raise ValueError(f"{type(self).__name__}.dim must be 2 or 3, got {dim!r}")
        if isinstance(srid, bool) or not isinstance(srid, int) or srid <= 0:
            raise ValueError(f"{type(self).__name__}.srid must be a positive integer, got {srid!r}")
        self.srid = srid
        self.dim = dim
        self.geography = bool(geography)
        self.spatial_index = bool(spatial_index)
        self.as_shapely = bool(as_shapely)
        super().__init__(verbose_name=verbose_name, name=name, **kwargs)

    # ---- column -----------------------------------------------------------------------------------
    def get_internal_type(self) -> str:
        return "GeometryField"

    def db_type(self, connection) -> str:
        vendor = connection.vendor
        if vendor == "postgresql":
            kind = _PG_TYPE_NAMES[self.geom_type] + ("Z" if self.dim == 3 else "")
            return f"{'geography' if self.geography else 'geometry'}({kind},{self.srid})"
        if vendor == "sqlite":
            return self.geom_type
        return "TEXT"

    def cast_db_type(self, connection) -> str:
        return self.db_type(connection)

    def db_type_parameters(self) -> dict:
        return {"srid": self.srid, "dim": self.dim, "geom_type": self.geom_type}

    # ---- DDL hooks (called by the schema editor) ---------------------------------------------------
    def after_column_created(self, schema_editor, table: str) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            if self.spatial_index:
                name = schema_editor.object_name(table, [self.column], "gist")
                schema_editor.execute(
                    f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(name)} ON "
                    f"{schema_editor.quote_name(table)} USING GIST ({schema_editor.quote_name(self.column)})")
        elif vendor == "sqlite":
            from . import spatialite

            spatialite.create_column_ddl(schema_editor, table, self)

    def before_column_dropped(self, schema_editor, table: str) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            if self.spatial_index:
                name = schema_editor.object_name(table, [self.column], "gist")
                schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")
        elif vendor == "sqlite":
            from . import spatialite

            spatialite.drop_column_ddl(schema_editor, table, self)

    # ---- values ---------------------------------------------------------------------------------
    def shape_of(self, value):
        """``(shapely geometry, srid)`` of ``value``, checked against this field
        (geometry type, dimension, SRID); ``TypeError``/``ValueError`` otherwise."""
        from .geom import to_shape

        shape, srid = to_shape(value, self.srid)
        self.check_shape(shape, srid)
        return shape, srid

    def check_shape(self, shape, srid) -> None:
        import shapely

        label = f"{self.model.__name__}.{self.name}" if self.model is not None and self.name else \
            type(self).__name__
        if self.geom_class is not None and shape.geom_type != self.geom_class:
            raise ValueError(f"{label} stores {self.geom_class} geometries, got a {shape.geom_type}")
        has_z = bool(shapely.has_z(shape))
        if has_z != (self.dim == 3) and not shape.is_empty:
            raise ValueError(f"{label} has dim={self.dim}, got a {'3D' if has_z else '2D'} geometry")
        if srid != self.srid:
            raise ValueError(f"{label} has SRID {self.srid}, got a geometry with SRID {srid}: "
                             f"transform it first")

    def to_python(self, value):
        if value is None or _is_geometry_object(value):
            return value
        try:
            shape, srid = self.shape_of(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(str(exc), code="invalid") from None
        return self._wrap(shape, srid)

    def get_prep_value(self, value):
        return value

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        shape, srid = self.shape_of(value)
        return adapt(shape, srid, connection)

    def from_db_value(self, value, connection):
        if value is None:
            return None
        shape = parse_db_value(value, connection)
        import shapely

        srid = int(shapely.get_srid(shape)) or self.srid
        return self._wrap(shape, srid)

    def _wrap(self, shape, srid):
        import shapely

        if self.as_shapely:
            return shapely.set_srid(shape, srid) if srid else shape
        from .geom import Geom

        return Geom.from_shapely(shape, srid=srid)

    # ---- migrations ---------------------------------------------------------------------------------
    def _deconstruct_extra(self) -> dict:
        out = {}
        if self.srid != 4326:
            out["srid"] = self.srid
        if self.dim != 2:
            out["dim"] = self.dim
        if self.geography:
            out["geography"] = True
        if not self.spatial_index:
            out["spatial_index"] = False
        if self.as_shapely:
            out["as_shapely"] = True
        return out


class PointField(GeometryField):
    geom_type, geom_class = "POINT", "Point"
    description = "point"


class LineStringField(GeometryField):
    geom_type, geom_class = "LINESTRING", "LineString"
    description = "line string"


class PolygonField(GeometryField):
    geom_type, geom_class = "POLYGON", "Polygon"
    description = "polygon"


class MultiPointField(GeometryField):
    geom_type, geom_class = "MULTIPOINT", "MultiPoint"
    description = "multi point"


class MultiLineStringField(GeometryField):
    geom_type, geom_class = "MULTILINESTRING", "MultiLineString"
    description = "multi line string"


class MultiPolygonField(GeometryField):
    geom_type, geom_class = "MULTIPOLYGON", "MultiPolygon"
    description = "multi polygon"


class GeometryCollectionField(GeometryField):
    geom_type, geom_class = "GEOMETRYCOLLECTION", "GeometryCollection"
    description = "geometry collection"


_PG_TYPE_NAMES = {
    "GEOMETRY": "Geometry", "POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon",
    "MULTIPOINT": "MultiPoint", "MULTILINESTRING": "MultiLineString",
    "MULTIPOLYGON": "MultiPolygon", "GEOMETRYCOLLECTION": "GeometryCollection",
}

FIELD_CLASSES = [GeometryField, PointField, LineStringField, PolygonField, MultiPointField,
                 MultiLineStringField, MultiPolygonField, GeometryCollectionField]


# ---- adaptation ------------------------------------------------------------------------------------

def _is_geometry_object(value) -> bool:
    from shapely.geometry.base import BaseGeometry

    from .geom import Geom

    return isinstance(value, (Geom, BaseGeometry))


def adapt(shape, srid, connection):
    """The bound parameter for a geometry: hex EWKB on PostGIS (parsed by the column's
    input function), a SpatiaLite BLOB on SQLite, EWKT text elsewhere."""
    vendor = connection.vendor
    if vendor == "postgresql":
        from .geom import ewkb

        return ewkb(shape, srid, hex=True)
    if vendor == "sqlite":
        from . import spatialite

        return spatialite.encode(shape, srid)
    from .geom import wkt

    return f"SRID={srid};{wkt(shape)}" if srid else wkt(shape)


def parse_db_value(value, connection):
    """shapely geometry (SRID set when known) of a value read from the database."""
    from .geom import parse_text, parse_wkb

    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, (bytes, bytearray)):
        from . import spatialite

        if spatialite.is_spatialite_blob(value):
            return spatialite.decode(value)
        return parse_wkb(value)
    if isinstance(value, str):
        import shapely

        shape, srid = parse_text(value)
        return shapely.set_srid(shape, srid) if srid else shape
    raise TypeError(f"unexpected geometry value from the database: {type(value).__name__}")
