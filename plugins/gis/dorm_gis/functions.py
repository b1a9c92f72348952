"""Spatial database functions: ``annotate(d=Distance("location", point))``.

Strings are field names (as everywhere in dorm); geometry literals are a ``Geom``, a
shapely geometry or a GeoJSON dict, bound as parameters and transformed to the SRID
of the other operand.

Units. Measures (``Distance``, ``Length``, ``Perimeter``, ``Area``) are in metres (m²)
on geography fields; on geometry fields they are in the SRID's units (degrees for SRID
4326, whose "areas" are square degrees) unless ``geodesic=True``, which measures on
the WGS84 ellipsoid in metres whatever the SRID. ``Buffer`` distances are in the
field's native units (metres on geography).

Backends: PostGIS and SpatiaLite (geography emulated with ellipsoidal measures);
elsewhere ``NotSupportedError`` naming the backend. ``Buffer`` of a geography field
needs PostGIS (SpatiaLite has no geodesic buffer).
"""
from __future__ import annotations

from dorm.exceptions import NotSupportedError
from dorm.expressions import Func, Value

from .fields import GeometryField
from .sql import (
    GeomValue,
    as_geometry_sql,
    check_gis,
    geometry_field,
    no_gis,
    to_wgs84,
    to_wgs84_geography,
)


def _geom_arg(value):
    """Strings stay field names; geometry values become ``GeomValue``."""
    if value is None or isinstance(value, str) or hasattr(value, "resolve_expression"):
        return value
    return GeomValue.from_value(value)


class GeoFunc(Func):
    """Base of the spatial functions: ``geom_args`` leading arguments are geometries."""

    geom_args = 1

    def __init__(self, *expressions, output_field=None, **extra):
        expressions = [_geom_arg(e) if i < self.geom_args else e for i, e in enumerate(expressions)]
        super().__init__(*expressions, output_field=output_field, **extra)

    @property
    def label(self):
        return type(self).__name__

    def resolve_expression(self, query=None, allow_joins=True, summarize=False, for_save=False):
        c = super().resolve_expression(query, allow_joins, summarize, for_save)
        geoms = c.source_expressions[:self.geom_args]
        ref = next((geometry_field(e) for e in geoms
                    if not isinstance(e, GeomValue) and geometry_field(e) is not None), None)
        if ref is not None:
            for i, e in enumerate(geoms):
                if isinstance(e, GeomValue) and e.target_srid is None:
                    c.source_expressions[i] = GeomValue(e.shape, e.srid, target_srid=ref.srid,
                                                        geography=ref.geography)
        return c

    @property
    def source_field(self):
        return geometry_field(self.source_expressions[0])

    def _compiled(self, compiler):
        parts, params = [], []
        for e in self.source_expressions:
            s, p = compiler.compile(e)
            parts.append(s)
            params.extend(p)
        return parts, params

    def as_sql(self, compiler, connection, **extra):
        raise no_gis(connection, self.label)

    def as_postgresql(self, compiler, connection, **extra):
        check_gis(connection, self.label)
        parts, params = self._compiled(compiler)
        return self.postgis_sql(parts, connection), params

    def as_sqlite(self, compiler, connection, **extra):
        check_gis(connection, self.label)
        parts, params = self._compiled(compiler)
        return self.spatialite_sql(parts, connection), params

    def postgis_sql(self, parts, connection):  # pragma: no cover - abstract
        raise NotImplementedError

    def spatialite_sql(self, parts, connection):  # pragma: no cover - abstract
        raise NotImplementedError


def _float():
    from dorm.fields import FloatField

    return FloatField()


def _text():
    from dorm.fields import TextField

    return TextField()


class _Measure(GeoFunc):
    """``Length``/``Perimeter``/``Area``: a number, see the module docstring for units."""

    postgis_function = spatialite_function = ""

    def __init__(self, expression, *, geodesic: bool = False, **extra):
        super().__init__(expression, **extra)
        self.geodesic = bool(geodesic)

    def _resolve_output_field(self):
        return _float()

    def postgis_sql(self, parts, connection):
        field = self.source_field
        arg = parts[0]
        if self.geodesic and not (field is not None and field.geography):
            arg = to_wgs84_geography(arg, field)
        return f"{self.postgis_function}({arg})"

    def spatialite_sql(self, parts, connection):
        field = self.source_field
        if (field is not None and field.geography) or self.geodesic:
            return f"{self.spatialite_function}({to_wgs84(parts[0], field)}, 1)"
        return f"{self.spatialite_function}({parts[0]})"


class Area(_Measure):
    postgis_function = spatialite_function = "ST_Area"


class Length(_Measure):
    postgis_function = spatialite_function = "ST_Length"


class Perimeter(_Measure):
    postgis_function = spatialite_function = "ST_Perimeter"


class Distance(GeoFunc):
    """``Distance(a, b, geodesic=False)``: the minimum distance between two geometries."""

    geom_args = 2

    def __init__(self, expr1, expr2, *, geodesic: bool = False, **extra):
        super().__init__(expr1, expr2, **extra)
        self.geodesic = bool(geodesic)

    def _resolve_output_field(self):
        return _float()

    def _geography(self):
        return any((geometry_field(e) is not None and geometry_field(e).geography)
                   for e in self.source_expressions)

    def postgis_sql(self, parts, connection):
        a, b = parts
        fa, fb = (geometry_field(e) for e in self.source_expressions)
        if self._geography() or self.geodesic:
            a, b = to_wgs84_geography(a, fa), to_wgs84_geography(b, fb)
        return f"ST_Distance({a}, {b})"

    def spatialite_sql(self, parts, connection):
        a, b = parts
        fa, fb = (geometry_field(e) for e in self.source_expressions)
        if self._geography() or self.geodesic:
            return f"ST_Distance({to_wgs84(a, fa)}, {to_wgs84(b, fb)}, 1)"
        return f"ST_Distance({a}, {b})"


class _GeometryResult(GeoFunc):
    """A function returning a geometry in the source's SRID."""

    keeps_geography = False

    def _resolve_output_field(self):
        src = self.source_field
        if src is None:
            return GeometryField()
        return GeometryField(srid=src.srid, dim=src.dim, as_shapely=src.as_shapely,
                             geography=src.geography and self.keeps_geography)


class Centroid(_GeometryResult):
    keeps_geography = True

    def postgis_sql(self, parts, connection):
        return f"ST_Centroid({parts[0]})"

    def spatialite_sql(self, parts, connection):
        return f"ST_Centroid({parts[0]})"


class Envelope(_GeometryResult):
    """The bounding box as a polygon (a geometry, also for geography sources)."""

    def postgis_sql(self, parts, connection):
        return f"ST_Envelope({as_geometry_sql(parts[0], self.source_expressions[0])})"

    def spatialite_sql(self, parts, connection):
        return f"ST_Envelope({parts[0]})"


class Transform(GeoFunc):
    """``Transform(expression, srid)``: reprojected (a geometry)."""

    def __init__(self, expression, srid: int, **extra):
        if isinstance(srid, bool) or not isinstance(srid, int) or srid <= 0:
            raise ValueError(f"Transform() needs a positive integer SRID, got {srid!r}")
        super().__init__(expression, **extra)
        self.srid = srid

    def _resolve_output_field(self):
        src = self.source_field
        return GeometryField(srid=self.srid, dim=src.dim if src else 2,
                             as_shapely=bool(src and src.as_shapely))

    def postgis_sql(self, parts, connection):
        return f"ST_Transform({as_geometry_sql(parts[0], self.source_expressions[0])}, {int(self.srid)})"

    def spatialite_sql(self, parts, connection):
        return f"ST_Transform({parts[0]}, {int(self.srid)})"


class Buffer(_GeometryResult):
    """``Buffer(expression, distance)``: distance in the field's native units (metres on
    geography, PostGIS only)."""

    keeps_geography = True

    def __init__(self, expression, distance, **extra):
        if not hasattr(distance, "resolve_expression"):
            if isinstance(distance, bool) or not isinstance(distance, (int, float)):
                raise TypeError(f"Buffer() distance must be a number, got {distance!r}")
            distance = Value(float(distance))
        super().__init__(expression, distance, **extra)

    def postgis_sql(self, parts, connection):
        return f"ST_Buffer({parts[0]}, {parts[1]})"

    def spatialite_sql(self, parts, connection):
        field = self.source_field
        if field is not None and field.geography:
            raise NotSupportedError(
                f"Buffer() of a geography field (a distance in metres) is not supported on "
                f"{connection.display_name}: SpatiaLite has no geodesic buffer; Transform() the "
                "geometry to a metric SRID first")
        return f"ST_Buffer({parts[0]}, {parts[1]})"


class AsGeoJSON(GeoFunc):
    """GeoJSON text of a geometry (``precision`` decimal digits, default 15)."""

    def __init__(self, expression, *, precision: int = 15, **extra):
        if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= 20:
            raise ValueError(f"AsGeoJSON() precision must be an integer 0-20, got {precision!r}")
        super().__init__(expression, **extra)
        self.precision = precision

    def _resolve_output_field(self):
        return _text()

    def postgis_sql(self, parts, connection):
        return f"ST_AsGeoJSON({parts[0]}, {int(self.precision)})"

    def spatialite_sql(self, parts, connection):
        return f"AsGeoJSON({parts[0]}, {int(self.precision)})"


class AsWKT(GeoFunc):
    """WKT text of a geometry (full precision on both backends)."""

    def _resolve_output_field(self):
        return _text()

    def postgis_sql(self, parts, connection):
        return f"ST_AsText({parts[0]})"

    def as_sqlite(self, compiler, connection, **extra):
        check_gis(connection, self.label)
        sql, params = compiler.compile(self.source_expressions[0])
        # AsText rounds to 6 decimals; AsEWKT keeps full precision: strip its "SRID=n;"
        return (f"substr(AsEWKT({sql}), instr(AsEWKT({sql}), ';') + 1)", [*params, *params])


FUNCTIONS = [Distance, Area, Length, Perimeter, Centroid, Envelope, Transform, Buffer,
             AsGeoJSON, AsWKT]

__all__ = [f.__name__ for f in FUNCTIONS] + ["GeoFunc"]
