"""dorm-gis: geometry fields, spatial lookups and functions for dorm (PostGIS, SpatiaLite).

This package is also ``dorm.contrib.gis`` (registered through ``dorm_register_modules``):

    from dorm.contrib.gis import Geom, PointField, Distance, D

Names are imported lazily, so loading the plugin does not import shapely.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Geom": "geom", "to_shape": "geom",
    "GeometryField": "fields", "PointField": "fields", "LineStringField": "fields",
    "PolygonField": "fields", "MultiPointField": "fields", "MultiLineStringField": "fields",
    "MultiPolygonField": "fields", "GeometryCollectionField": "fields",
    "GISLookupMixin": "lookups", "SPATIAL_LOOKUPS": "lookups", "register_gis_lookups": "lookups",
    "Distance": "functions", "Area": "functions", "Length": "functions",
    "Perimeter": "functions", "Centroid": "functions", "Envelope": "functions",
    "Transform": "functions", "Buffer": "functions", "AsGeoJSON": "functions",
    "AsWKT": "functions", "GeomValue": "sql",
    "D": "measure",
    "to_feature": "geojson", "to_feature_collection": "geojson", "from_feature": "geojson",
    "EnableGIS": "operations",
    "load_spatialite": "spatialite",
}

__all__ = [*_EXPORTS]  # noqa: PLE0604 - the lazily imported names


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
