"""``Geom``: the reference's geometry value, and conversions to and from shapely.

Every parse and serialisation goes through shapely 2 (GEOS): WKT, EWKT, WKB, EWKB
(binary or hex) and GeoJSON. ``Geom`` keeps the reference's shape: a frozen value
with ``kind`` (the GeoJSON type name), ``coordinates`` (GeoJSON nesting, as lists)
and ``srid``; ``Geom.point(1.5, 2.5).to_wkt() == "POINT(1.5 2.5)"``.

``to_shape(value, default_srid)`` is the single entry point that turns anything a
user may pass (``Geom``, a shapely geometry, a GeoJSON dict or string, WKT/EWKT,
WKB/EWKB bytes or hex) into ``(shapely geometry, srid)``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

#: GeoJSON type name -> WKT keyword
KINDS = {
    "Point": "POINT",
    "LineString": "LINESTRING",
    "Polygon": "POLYGON",
    "MultiPoint": "MULTIPOINT",
    "MultiLineString": "MULTILINESTRING",
    "MultiPolygon": "MULTIPOLYGON",
    "GeometryCollection": "GEOMETRYCOLLECTION",
}
_BY_LOWER = {k.lower(): k for k in KINDS}
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
_EWKT = re.compile(r"^\s*SRID\s*=\s*(-?\d+)\s*;\s*(.*)$", re.DOTALL | re.IGNORECASE)
_KEYWORD_SPACE = re.compile(
    r"\b(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION) \(")


def _listify(value):
    if isinstance(value, (list, tuple)):
        return [_listify(v) for v in value]
    return value


def _check_srid(srid, what="srid"):
    if srid is None:
        return None
    if isinstance(srid, bool) or not isinstance(srid, int) or srid < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {srid!r}")
    return srid


@dataclass(frozen=True, eq=False)
class Geom:
    """A geometry value: ``Geom(kind, coordinates, srid=4326)``.

    ``kind`` is a GeoJSON type name (``"Point"``, ``"Polygon"``, ...; any case is
    accepted), ``coordinates`` follows GeoJSON nesting (``[x, y]`` for a point, a
    list of rings for a polygon; for a ``GeometryCollection`` a list of ``Geom``).
    Two ``Geom`` are equal when kind, coordinates and SRID are equal.
    """

    kind: str
    coordinates: Any
    srid: int | None = 4326

    def __post_init__(self):
        kind = _BY_LOWER.get(str(self.kind).lower())
        if kind is None:
            raise ValueError(f"unknown geometry kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        object.__setattr__(self, "kind", kind)
        _check_srid(self.srid)
        if kind == "GeometryCollection":
            members = [m if isinstance(m, Geom) else Geom.from_geojson(m, srid=self.srid)
                       for m in (self.coordinates or [])]
            object.__setattr__(self, "coordinates", members)
        else:
            object.__setattr__(self, "coordinates", _listify(self.coordinates))

    # ---- constructors ------------------------------------------------------------------------
    @classmethod
    def point(cls, x: float, y: float, z: float | None = None, *, srid: int | None = 4326) -> Geom:
        return cls("Point", [x, y] if z is None else [x, y, z], srid)

    @classmethod
    def linestring(cls, points, *, srid: int | None = 4326) -> Geom:
        return cls("LineString", points, srid)

    @classmethod
    def polygon(cls, rings, *, srid: int | None = 4326) -> Geom:
        """``rings``: the exterior ring then any holes, each a list of ``[x, y]``
        (closed or not: an open ring is closed for you)."""
        closed = []
        for ring in rings:
            ring = _listify(ring)
            if ring and ring[0] != ring[-1]:
                ring = [*ring, ring[0]]
            closed.append(ring)
        return cls("Polygon", closed, srid)

    @classmethod
    def multipoint(cls, points, *, srid: int | None = 4326) -> Geom:
        return cls("MultiPoint", points, srid)

    @classmethod
    def multilinestring(cls, lines, *, srid: int | None = 4326) -> Geom:
        return cls("MultiLineString", lines, srid)

    @classmethod
    def multipolygon(cls, polygons, *, srid: int | None = 4326) -> Geom:
        return cls("MultiPolygon", polygons, srid)

    @classmethod
    def collection(cls, geometries, *, srid: int | None = 4326) -> Geom:
        return cls("GeometryCollection", list(geometries), srid)

    @classmethod
    def from_geojson(cls, blob: str | dict, *, srid: int | None = 4326) -> Geom:
        """From a GeoJSON geometry (dict or JSON text); a ``Feature`` gives its geometry."""
        if isinstance(blob, (str, bytes)):
            try:
                blob = json.loads(blob)
            except ValueError as exc:
                raise ValueError(f"invalid GeoJSON: {exc}") from None
        if not isinstance(blob, dict):
            raise TypeError(f"GeoJSON must be a dict or a JSON string, got {type(blob).__name__}")
        if blob.get("type") == "Feature":
            blob = blob.get("geometry") or {}
        kind = blob.get("type")
        if kind == "GeometryCollection":
            return cls(kind, [cls.from_geojson(g, srid=srid) for g in blob.get("geometries", [])], srid)
        if kind not in KINDS or "coordinates" not in blob:
            raise ValueError(f"invalid GeoJSON geometry: {blob!r:.200}")
        return cls(kind, blob["coordinates"], srid)

    @classmethod
    def from_shapely(cls, geometry: BaseGeometry, *, srid: int | None = None) -> Geom:
        """From a shapely geometry; ``srid`` defaults to the geometry's own
        (``shapely.get_srid``), else 4326."""
        if not isinstance(geometry, BaseGeometry):
            raise TypeError(f"expected a shapely geometry, got {type(geometry).__name__}")
        if srid is None:
            srid = int(shapely.get_srid(geometry)) or 4326
        return cls.from_geojson(json.loads(shapely.to_geojson(geometry)), srid=srid)

    @classmethod
    def from_wkt(cls, text: str, *, srid: int | None = None) -> Geom:
        """From WKT or EWKT (``SRID=3857;POINT(1 2)``)."""
        shape, found = parse_text(text)
        return cls.from_shapely(shape, srid=srid or found or 4326)

    @classmethod
    def from_wkb(cls, data, *, srid: int | None = None) -> Geom:
        """From WKB or EWKB (bytes or hex text)."""
        shape = parse_wkb(data)
        return cls.from_shapely(shape, srid=srid or int(shapely.get_srid(shape)) or 4326)

    # ---- serialisation --------------------------------------------------------------------------
    def to_geojson(self) -> dict:
        """A GeoJSON geometry object (a dict; ``json.dumps`` it for text)."""
        if self.kind == "GeometryCollection":
            return {"type": self.kind, "geometries": [g.to_geojson() for g in self.coordinates]}
        return {"type": self.kind, "coordinates": self.coordinates}

    @property
    def __geo_interface__(self) -> dict:
        return self.to_geojson()

    def to_shapely(self) -> BaseGeometry:
        """The shapely geometry (with its SRID set)."""
        shape = self.__dict__.get("_shape")
        if shape is None:
            try:
                shape = shapely.from_geojson(json.dumps(self.to_geojson()))
            except (shapely.errors.GEOSException, ValueError) as exc:
                raise ValueError(f"invalid {self.kind} coordinates {self.coordinates!r:.200}: {exc}") from None
            if self.srid:
                shape = shapely.set_srid(shape, self.srid)
            object.__setattr__(self, "_shape", shape)
        return shape

    shape = property(to_shapely)

    def to_wkt(self) -> str:
        """``POINT(1.5 2.5)``."""
        return wkt(self.to_shapely())

    def to_ewkt(self) -> str:
        """``SRID=4326;POINT(1.5 2.5)``."""
        return f"SRID={self.srid};{self.to_wkt()}" if self.srid else self.to_wkt()

    def to_wkb(self, *, hex: bool = False):
        return shapely.to_wkb(self.to_shapely(), hex=hex, output_dimension=3, flavor="iso")

    def to_ewkb(self, *, hex: bool = False):
        return ewkb(self.to_shapely(), self.srid, hex=hex)

    # ---- conveniences ---------------------------------------------------------------------------
    @property
    def x(self) -> float:
        self._require_point("x")
        return self.coordinates[0]

    @property
    def y(self) -> float:
        self._require_point("y")
        return self.coordinates[1]

    @property
    def z(self) -> float | None:
        self._require_point("z")
        return self.coordinates[2] if len(self.coordinates) > 2 else None

    def _require_point(self, attr):
        if self.kind != "Point":
            raise AttributeError(f"{self.kind} has no {attr!r} (only points do)")

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)``."""
        return tuple(self.to_shapely().bounds)

    def __eq__(self, other):
        if not isinstance(other, Geom):
            return NotImplemented
        return (self.kind, self.srid, self.coordinates) == (other.kind, other.srid, other.coordinates)

    def __hash__(self):
        return hash((self.kind, self.srid, self.to_wkt()))

    def __repr__(self):
        return f"Geom({self.to_ewkt()!r})"

    def __str__(self):
        return self.to_ewkt()

    @staticmethod
    def bootstrap_sqlite(connection) -> None:
        """Load SpatiaLite into a SQLite connection (a ``sqlite3.Connection`` or a dorm
        SQLite backend). dorm-gis already does this for every SQLite connection dorm
        opens; this is for connections made by hand. Raises ``NotSupportedError`` with
        the reason when SpatiaLite cannot be loaded."""
        from .spatialite import load_spatialite

        if hasattr(connection, "vendor") and hasattr(connection, "ensure_connection"):
            connection = connection.ensure_connection()   # a dorm backend: its raw connection
        load_spatialite(connection)


# ---- conversions (shapely) ---------------------------------------------------------------------

def wkt(shape: BaseGeometry) -> str:
    """WKT in PostGIS style: ``POINT(1.5 2.5)``, full precision, trailing zeros trimmed."""
    text = shapely.to_wkt(shape, rounding_precision=-1, trim=True, output_dimension=3)
    return _KEYWORD_SPACE.sub(r"\1(", text)


def ewkb(shape: BaseGeometry, srid: int | None, *, hex: bool = False):
    if srid:
        shape = shapely.set_srid(shape, srid)
    return shapely.to_wkb(shape, hex=hex, include_srid=bool(srid), output_dimension=3,
                          flavor="extended")


def parse_text(text: str) -> tuple[BaseGeometry, int | None]:
    """``(geometry, srid or None)`` from WKT, EWKT, hex (E)WKB or GeoJSON text."""
    text = text.strip()
    if not text:
        raise ValueError("empty geometry text")
    if text.startswith("{"):
        try:
            return shapely.from_geojson(_geojson_geometry_text(text)), None
        except shapely.errors.GEOSException as exc:
            raise ValueError(f"invalid GeoJSON: {exc}") from None
    if _HEX.match(text):
        shape = parse_wkb(text)
        return shape, int(shapely.get_srid(shape)) or None
    srid = None
    m = _EWKT.match(text)
    if m:
        srid, text = int(m.group(1)), m.group(2)
    try:
        return shapely.from_wkt(text), srid or None
    except shapely.errors.GEOSException as exc:
        raise ValueError(f"invalid WKT {text!r:.120}: {exc}") from None


def _geojson_geometry_text(text: str) -> str:
    data = json.loads(text)
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry") or {}
    return json.dumps(data)


def parse_wkb(data) -> BaseGeometry:
    try:
        return shapely.from_wkb(bytes(data) if isinstance(data, (bytearray, memoryview)) else data)
    except shapely.errors.GEOSException as exc:
        raise ValueError(f"invalid WKB: {exc}") from None


def to_shape(value, default_srid: int | None = None) -> tuple[BaseGeometry, int | None]:
    """``(shapely geometry, srid)`` for any accepted geometry input.

    Accepted: ``Geom``; a shapely geometry (its ``get_srid``, 0 meaning none); a GeoJSON
    dict (geometry or Feature); text (WKT, ``SRID=n;`` EWKT, hex (E)WKB, GeoJSON);
    bytes (WKB / EWKB). Anything else raises ``TypeError``; malformed input ``ValueError``.
    The SRID is the value's own, else ``default_srid``."""
    if isinstance(value, Geom):
        return value.to_shapely(), value.srid or default_srid
    if isinstance(value, BaseGeometry):
        return value, int(shapely.get_srid(value)) or default_srid
    if isinstance(value, dict):
        try:
            return Geom.from_geojson(value, srid=None).to_shapely(), default_srid
        except (KeyError, TypeError) as exc:
            raise ValueError(f"invalid GeoJSON {value!r:.200}: {exc}") from None
    if isinstance(value, str):
        shape, srid = parse_text(value)
        return shape, srid or default_srid
    if isinstance(value, (bytes, bytearray, memoryview)):
        shape = parse_wkb(value)
        return shape, int(shapely.get_srid(shape)) or default_srid
    if hasattr(value, "__geo_interface__"):
        return to_shape(dict(value.__geo_interface__), default_srid)
    raise TypeError(
        f"cannot use a {type(value).__name__} as a geometry: pass a Geom, a shapely geometry, "
        "a GeoJSON dict, WKT/EWKT/hex-WKB text or WKB bytes")


__all__ = ["KINDS", "Geom", "ewkb", "parse_text", "parse_wkb", "to_shape", "wkt"]
