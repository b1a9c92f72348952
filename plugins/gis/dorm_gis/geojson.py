"""GeoJSON in and out for web code: model instances ↔ Features.

``to_feature(obj)`` → ``{"type": "Feature", "id": pk, "geometry": {...},
"properties": {...}}``; ``to_feature_collection(queryset)`` → a FeatureCollection;
``from_feature(Model, feature)`` → an unsaved instance. All return / take plain dicts
(``json.dumps`` them). Property values are made JSON-friendly: dates and times in ISO
8601, ``Decimal`` and ``UUID`` as strings, other geometries as GeoJSON.

GeoJSON (RFC 7946) coordinates are WGS84 longitude/latitude: a geometry in another
SRID is written as stored, with a ``"crs"`` note saying so (the 2008 convention);
transform it in the query (``Transform``) for strict RFC 7946 output.
"""
from __future__ import annotations

import datetime
import decimal
import enum
import uuid

from .fields import GeometryField


def _geometry_fields(model):
    return [f for f in model._meta.concrete_fields if isinstance(f, GeometryField)]


def _pick_geometry_field(model, name):
    geoms = _geometry_fields(model)
    if name is None:
        if not geoms:
            raise ValueError(f"{model.__name__} has no geometry field")
        return geoms[0]
    for f in geoms:
        if name in (f.name, f.attname):
            return f
    raise ValueError(f"{model.__name__}.{name} is not a geometry field "
                     f"(geometry fields: {', '.join(f.name for f in geoms) or 'none'})")


def _jsonable(value):
    from shapely.geometry.base import BaseGeometry

    from .geom import Geom

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, Geom):
        return value.to_geojson()
    if isinstance(value, BaseGeometry):
        return Geom.from_shapely(value).to_geojson()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def _geometry_json(value):
    from shapely.geometry.base import BaseGeometry

    from .geom import Geom

    if value is None:
        return None, None
    if isinstance(value, BaseGeometry):
        value = Geom.from_shapely(value)
    if not isinstance(value, Geom):
        from .geom import to_shape

        shape, srid = to_shape(value, 4326)
        value = Geom.from_shapely(shape, srid=srid)
    return value.to_geojson(), value.srid


def to_feature(obj, *, geometry_field: str | None = None, fields=None, id_field: str | None = "pk") -> dict:
    """A GeoJSON Feature of a model instance.

    ``geometry_field``: which geometry (default: the model's first); ``fields``: the
    property names (default: every other concrete field but the primary key);
    ``id_field``: the attribute written as the Feature ``id`` (``None``: no id)."""
    model = type(obj)
    gfield = _pick_geometry_field(model, geometry_field)
    geometry, srid = _geometry_json(getattr(obj, gfield.attname))
    if fields is None:
        pk = model._meta.pk
        names = [f.attname for f in model._meta.concrete_fields
                 if f is not gfield and f is not pk and getattr(f, "column", None)]
    else:
        names = list(fields)
    properties = {}
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"property names must be strings, got {name!r}")
        properties[name] = _jsonable(getattr(obj, name))
    feature = {"type": "Feature"}
    if id_field is not None:
        feature["id"] = _jsonable(getattr(obj, id_field))
    feature["geometry"] = geometry
    feature["properties"] = properties
    if srid not in (None, 4326):
        feature["crs"] = {"type": "name", "properties": {"name": f"EPSG:{srid}"}}
    return feature


def to_feature_collection(objects, *, geometry_field: str | None = None, fields=None,
                          id_field: str | None = "pk") -> dict:
    """A GeoJSON FeatureCollection of instances (a queryset or any iterable)."""
    return {"type": "FeatureCollection",
            "features": [to_feature(o, geometry_field=geometry_field, fields=fields, id_field=id_field)
                         for o in objects]}


def from_feature(model, feature, *, geometry_field: str | None = None, ignore_unknown: bool = False):
    """An unsaved ``model`` instance from a GeoJSON Feature (dict or JSON text).

    The geometry goes to ``geometry_field`` (default: the first); properties naming
    fields are set; other properties raise ``ValueError`` unless ``ignore_unknown``."""
    import json

    from .geom import Geom

    if isinstance(feature, (str, bytes)):
        feature = json.loads(feature)
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ValueError("expected a GeoJSON Feature object")
    gfield = _pick_geometry_field(model, geometry_field)
    values = {}
    known = {f.name: f for f in model._meta.concrete_fields}
    known.update({f.attname: f for f in model._meta.concrete_fields})
    unknown = []
    for key, value in (feature.get("properties") or {}).items():
        if key in known and known[key] is not gfield:
            values[key] = value
        else:
            unknown.append(key)
    if unknown and not ignore_unknown:
        raise ValueError(f"{model.__name__} has no fields {', '.join(map(repr, sorted(unknown)))} "
                         "(pass ignore_unknown=True to skip them)")
    geometry = feature.get("geometry")
    crs = ((feature.get("crs") or {}).get("properties") or {}).get("name", "")
    srid = int(crs.rsplit(":", 1)[-1]) if crs.upper().startswith("EPSG:") else 4326
    values[gfield.attname] = Geom.from_geojson(geometry, srid=srid) if geometry else None
    return model(**values)


__all__ = ["from_feature", "to_feature", "to_feature_collection"]
