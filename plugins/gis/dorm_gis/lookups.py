"""Spatial lookups, registered for ``GeometryField`` through ``dorm_register_lookups``.

``filter(location__within=polygon)``; the right-hand side is any accepted geometry
(``Geom``, shapely, GeoJSON, WKT/EWKT, WKB) bound as a parameter, or an expression
(``F("other_geometry")``). A value in another SRID is transformed to the column's.

Distance lookups take ``(geometry, distance)``: ``dwithin``, ``distance_lt``,
``distance_lte``, ``distance_gt``, ``distance_gte``. A plain number is in the field's
native units: metres on geography fields, the SRID's units on geometry fields
(*degrees* for SRID 4326). ``D(m=...)`` is a ground distance in metres on any field
(geodesic on the WGS84 ellipsoid).

Per backend (compiler dispatch on ``as_postgresql`` / ``as_sqlite``):

* PostGIS: ``ST_<Predicate>(col, value)``, ``col ~ value`` (bbcontains),
  ``col && value`` (bboverlaps), ``ST_DWithin``; geography columns support
  ``intersects``, ``covers``, ``coveredby``, ``bboverlaps`` and the distance lookups
  (as PostGIS does), the others raise ``NotSupportedError``.
* SpatiaLite: the same ``ST_*`` predicates (compared ``= 1``: SpatiaLite answers -1
  for NULL), ``MbrContains`` / ``MbrIntersects``; distances with ``ST_Distance``
  (``ST_Distance(a, b, 1)``, ellipsoidal metres, for geography and ``D``). A column
  with ``spatial_index=True`` is pre-filtered through its R*Tree (``SpatialIndex``).
* other backends: ``NotSupportedError`` naming the backend.
"""
from __future__ import annotations

import math

from dorm.exceptions import NotSupportedError
from dorm.expressions import Col, Value
from dorm.lookups import Lookup

from .measure import D
from .sql import GeomValue, check_gis, geometry_field, no_gis, to_wgs84, to_wgs84_geography


class GISLookupMixin:
    """Marks spatial lookups (``isinstance(lookup, GISLookupMixin)``)."""


class GISLookup(GISLookupMixin, Lookup):
    prepare_rhs = False
    #: PostGIS / SpatiaLite SQL templates with ``{lhs}`` and ``{rhs}``
    postgis: str = ""
    spatialite: str = ""
    #: available on geography columns
    geography = False
    #: SpatiaLite: the R*Tree can pre-filter candidates (the predicate implies
    #: intersecting bounding boxes)
    uses_index = True

    def get_prep_lookup(self, rhs):
        if hasattr(rhs, "resolve_expression"):
            return rhs
        return GeomValue.from_value(rhs, like=geometry_field(self.lhs))

    # -- support ----------------------------------------------------------------------------
    def _check(self, connection):
        check_gis(connection, f"lookup '{self.lookup_name}'")
        field = geometry_field(self.lhs)
        if field is not None and field.geography and not self.geography:
            raise NotSupportedError(
                f"lookup '{self.lookup_name}' is not supported on geography fields on "
                f"{connection.display_name} (PostGIS geography offers intersects, covers, "
                "coveredby, bboverlaps, dwithin and distance_*); use a geometry field")

    def as_sql(self, compiler, connection):
        raise no_gis(connection, f"lookup '{self.lookup_name}'")

    def as_postgresql(self, compiler, connection):
        self._check(connection)
        lhs, lp = compiler.compile(self.lhs)
        rhs, rp = compiler.compile(self.rhs)
        return self.postgis.format(lhs=lhs, rhs=rhs), [*lp, *rp]

    def as_sqlite(self, compiler, connection):
        self._check(connection)
        lhs, lp = compiler.compile(self.lhs)
        rhs, rp = compiler.compile(self.rhs)
        sql, params = self.spatialite.format(lhs=lhs, rhs=rhs), [*lp, *rp]
        rtree = self._rtree(compiler, connection, rhs, rp)
        if rtree is not None:
            return f"({rtree[0]} AND {sql})", [*rtree[1], *params]
        return sql, params

    def _rtree(self, compiler, connection, frame_sql, frame_params):
        """``"alias".ROWID IN (SELECT ROWID FROM SpatialIndex ...)`` for a spatially
        indexed column compared with a literal geometry (checked first, so rows outside
        the search frame skip the GEOS call). Columns registered without an index
        (``spatial_index_enabled = 0``) are not filtered."""
        lhs = self.lhs
        if not self.uses_index or not isinstance(lhs, Col) or lhs.alias is None \
                or not isinstance(self.rhs, GeomValue):
            return None
        field = lhs.target
        if not getattr(field, "spatial_index", False) or getattr(field, "model", None) is None:
            return None
        ph = connection.ops.placeholder
        table = field.model._meta.db_table
        sql = (f"({compiler.quote_name(lhs.alias)}.ROWID IN (SELECT ROWID FROM SpatialIndex "
               f"WHERE f_table_name = {ph} AND f_geometry_column = {ph} AND search_frame = {frame_sql}) "
               f"OR NOT EXISTS (SELECT 1 FROM geometry_columns WHERE f_table_name = lower({ph}) "
               f"AND f_geometry_column = lower({ph}) AND spatial_index_enabled = 1))")
        return sql, [table, field.column, *frame_params, table, field.column]


def _lookup(name, postgis, spatialite, *, geography=False, uses_index=True):
    cls_name = "".join(p.title() for p in name.split("_")) + "Lookup"
    return type(cls_name, (GISLookup,), {
        "lookup_name": name, "postgis": postgis, "spatialite": spatialite,
        "geography": geography, "uses_index": uses_index,
    })


IntersectsLookup = _lookup("intersects", "ST_Intersects({lhs}, {rhs})",
                           "ST_Intersects({lhs}, {rhs}) = 1", geography=True)
ContainsLookup = _lookup("contains", "ST_Contains({lhs}, {rhs})", "ST_Contains({lhs}, {rhs}) = 1")
WithinLookup = _lookup("within", "ST_Within({lhs}, {rhs})", "ST_Within({lhs}, {rhs}) = 1")
CoversLookup = _lookup("covers", "ST_Covers({lhs}, {rhs})", "ST_Covers({lhs}, {rhs}) = 1",
                       geography=True)
CoveredByLookup = _lookup("coveredby", "ST_CoveredBy({lhs}, {rhs})",
                          "ST_CoveredBy({lhs}, {rhs}) = 1", geography=True)
TouchesLookup = _lookup("touches", "ST_Touches({lhs}, {rhs})", "ST_Touches({lhs}, {rhs}) = 1")
CrossesLookup = _lookup("crosses", "ST_Crosses({lhs}, {rhs})", "ST_Crosses({lhs}, {rhs}) = 1")
OverlapsLookup = _lookup("overlaps", "ST_Overlaps({lhs}, {rhs})", "ST_Overlaps({lhs}, {rhs}) = 1")
DisjointLookup = _lookup("disjoint", "ST_Disjoint({lhs}, {rhs})", "ST_Disjoint({lhs}, {rhs}) = 1",
                         uses_index=False)
EqualsLookup = _lookup("equals", "ST_Equals({lhs}, {rhs})", "ST_Equals({lhs}, {rhs}) = 1")
BBContainsLookup = _lookup("bbcontains", "{lhs} ~ {rhs}", "MbrContains({lhs}, {rhs}) = 1")
BBOverlapsLookup = _lookup("bboverlaps", "{lhs} && {rhs}", "MbrIntersects({lhs}, {rhs}) = 1",
                           geography=True)


class DistanceLookupBase(GISLookup):
    """``(geometry, distance)`` lookups; see the module docstring for units."""

    geography = True
    uses_index = False
    #: comparison operator, or None for ``dwithin``
    operator: str | None = None

    def __init__(self, lhs, rhs):
        self.geodesic = False
        self.distance = None
        super().__init__(lhs, rhs)

    def get_prep_lookup(self, rhs):
        if not isinstance(rhs, (tuple, list)) or len(rhs) != 2:
            raise ValueError(
                f"'{self.lookup_name}' needs a (geometry, distance) pair, e.g. "
                f"location__{self.lookup_name}=(point, D(m=500)); got {rhs!r:.100}")
        geom, distance = rhs
        if isinstance(distance, D):
            self.geodesic = True
            distance = Value(distance.m)
        elif hasattr(distance, "resolve_expression"):
            pass
        elif isinstance(distance, (int, float)) and not isinstance(distance, bool):
            if not math.isfinite(distance) or distance < 0:
                raise ValueError(f"'{self.lookup_name}': the distance must be a finite number "
                                 f">= 0, got {distance!r}")
            distance = Value(float(distance))
        else:
            raise TypeError(f"'{self.lookup_name}': the distance must be a number (the field's "
                            f"units) or D(m=...), got {type(distance).__name__}")
        self.distance = distance
        return super().get_prep_lookup(geom)

    def get_source_expressions(self):
        return [self.lhs, self.rhs, self.distance]

    def set_source_expressions(self, exprs):
        self.lhs, self.rhs, self.distance = exprs

    def _pieces(self, compiler, connection):
        lhs, lp = compiler.compile(self.lhs)
        rhs, rp = compiler.compile(self.rhs)
        dist, dp = compiler.compile(self.distance)
        return lhs, rhs, dist, [*lp, *rp, *dp]

    def as_postgresql(self, compiler, connection):
        self._check(connection)
        lhs, rhs, dist, params = self._pieces(compiler, connection)
        field = geometry_field(self.lhs)
        if self.geodesic and not (field is not None and field.geography):
            lhs = to_wgs84_geography(lhs, field)
            rhs = to_wgs84_geography(rhs, geometry_field(self.rhs) or field)
        if self.operator is None:
            return f"ST_DWithin({lhs}, {rhs}, {dist})", params
        return f"ST_Distance({lhs}, {rhs}) {self.operator} {dist}", params

    def as_sqlite(self, compiler, connection):
        self._check(connection)
        lhs, rhs, dist, params = self._pieces(compiler, connection)
        field = geometry_field(self.lhs)
        if field is not None and field.geography:
            measure = f"ST_Distance({lhs}, {rhs}, 1)"
        elif self.geodesic:
            measure = f"ST_Distance({to_wgs84(lhs, field)}, " \
                      f"{to_wgs84(rhs, geometry_field(self.rhs) or field)}, 1)"
        else:
            measure = f"ST_Distance({lhs}, {rhs})"
        return f"{measure} {self.operator or '<='} {dist}", params


def _distance_lookup(name, operator):
    cls_name = "".join(p.title() for p in name.split("_")) + "Lookup"
    return type(cls_name, (DistanceLookupBase,), {"lookup_name": name, "operator": operator})


DWithinLookup = _distance_lookup("dwithin", None)
DistanceLtLookup = _distance_lookup("distance_lt", "<")
DistanceLteLookup = _distance_lookup("distance_lte", "<=")
DistanceGtLookup = _distance_lookup("distance_gt", ">")
DistanceGteLookup = _distance_lookup("distance_gte", ">=")

SPATIAL_LOOKUP_CLASSES = [
    IntersectsLookup, ContainsLookup, WithinLookup, CoversLookup, CoveredByLookup,
    TouchesLookup, CrossesLookup, OverlapsLookup, DisjointLookup, EqualsLookup,
    BBContainsLookup, BBOverlapsLookup, DWithinLookup, DistanceLtLookup, DistanceLteLookup,
    DistanceGtLookup, DistanceGteLookup,
]

#: lookup name -> class (the reference's public table)
SPATIAL_LOOKUPS = {cls.lookup_name: cls for cls in SPATIAL_LOOKUP_CLASSES}


def register_gis_lookups() -> dict:
    """Kept for the reference's API: the lookups are registered through the plugin's
    ``dorm_register_lookups`` hook already; this only returns ``SPATIAL_LOOKUPS``
    (idempotent, no side effect)."""
    return SPATIAL_LOOKUPS


__all__ = ["GISLookupMixin", "GISLookup", "SPATIAL_LOOKUPS", "SPATIAL_LOOKUP_CLASSES",  # noqa: PLE0604
           "register_gis_lookups", *[c.__name__ for c in SPATIAL_LOOKUP_CLASSES]]
