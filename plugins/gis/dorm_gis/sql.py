"""SQL building blocks shared by lookups and functions.

``GeomValue`` is a literal geometry in a query, always a bound parameter:
``CAST(%s AS geometry)`` (hex EWKB) on PostGIS, ``GeomFromWKB(?, srid)`` on SpatiaLite,
optionally transformed to the SRID of the column it is compared with and cast to
``geography``. Vendor SQL is chosen by the compiler's ``as_<vendor>`` dispatch.
"""
from __future__ import annotations

from dorm.exceptions import NotSupportedError
from dorm.expressions import Expression

from .fields import GIS_VENDORS, GeometryField


def geometry_field(expr):
    """The ``GeometryField`` describing an expression's values, or ``None``."""
    field = getattr(expr, "output_field", None)
    return field if isinstance(field, GeometryField) else None


def is_geography(expr) -> bool:
    field = geometry_field(expr)
    return bool(field is not None and field.geography)


def no_gis(connection, what: str):
    """``NotSupportedError`` for a backend without spatial support."""
    return NotSupportedError(
        f"{what} is not supported on {connection.display_name}: spatial queries need PostgreSQL "
        "with PostGIS or SQLite with SpatiaLite")


def check_gis(connection, what: str) -> None:
    if connection.vendor not in GIS_VENDORS:
        raise no_gis(connection, what)
    if connection.vendor == "sqlite":
        from . import spatialite

        spatialite.require(connection)


class GeomValue(Expression):
    """A geometry literal. ``target_srid``: transform to it when the value's SRID
    differs; ``geography``: compare as geography (PostGIS)."""

    def __init__(self, shape, srid, *, target_srid=None, geography=False):
        super().__init__()
        self.shape, self.srid = shape, srid
        self.target_srid = target_srid
        self.geography = geography

    @classmethod
    def from_value(cls, value, *, like=None):
        """A ``GeomValue`` for any accepted geometry input; ``like`` (a ``GeometryField``)
        gives the default SRID, the SRID to transform to, and geography."""
        from .geom import to_shape

        default = like.srid if like is not None else None
        shape, srid = to_shape(value, default)
        if srid is None:
            srid = 4326
        return cls(shape, srid, target_srid=like.srid if like is not None else None,
                   geography=bool(like is not None and like.geography))

    def _resolve_output_field(self):
        return GeometryField(srid=self.target_srid or self.srid, geography=self.geography,
                             dim=3 if self.shape.has_z else 2)

    def get_group_by_cols(self):
        return []

    def as_sql(self, compiler, connection):
        raise no_gis(connection, "a geometry value")

    def as_postgresql(self, compiler, connection):
        from .geom import ewkb

        sql = f"CAST({connection.ops.placeholder} AS geometry)"
        if self.target_srid and self.target_srid != self.srid:
            sql = f"ST_Transform({sql}, {int(self.target_srid)})"
        if self.geography:
            sql = f"CAST({sql} AS geography)"
        return sql, [ewkb(self.shape, self.srid, hex=True)]

    def as_sqlite(self, compiler, connection):
        import shapely

        check_gis(connection, "a geometry value")
        ph = connection.ops.placeholder
        sql = f"GeomFromWKB({ph}, {int(self.srid)})"
        if self.target_srid and self.target_srid != self.srid:
            sql = f"ST_Transform({sql}, {int(self.target_srid)})"
        return sql, [shapely.to_wkb(self.shape, output_dimension=3, flavor="iso")]

    def __repr__(self):
        return f"GeomValue(SRID={self.srid};{self.shape.wkt[:60]})"


def as_geometry_sql(sql: str, expr) -> str:
    """PostGIS: a geography expression as geometry (``::geometry``)."""
    return f"CAST({sql} AS geometry)" if is_geography(expr) else sql


def to_wgs84_geography(sql: str, field) -> str:
    """PostGIS: an expression as a WGS84 geography (for geodesic measures)."""
    if field is not None and field.geography:
        return sql
    srid = field.srid if field is not None else 4326
    if srid != 4326:
        sql = f"ST_Transform({sql}, 4326)"
    return f"CAST({sql} AS geography)"


def to_wgs84(sql: str, field) -> str:
    """SpatiaLite: an expression in lon/lat (SRID 4326) for ellipsoidal measures."""
    srid = field.srid if field is not None else 4326
    return sql if srid == 4326 else f"ST_Transform({sql}, 4326)"
