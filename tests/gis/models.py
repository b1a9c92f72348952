"""Models of the GIS suite."""
import dorm
from dorm.contrib.gis import (
    GeometryCollectionField,
    GeometryField,
    LineStringField,
    MultiLineStringField,
    MultiPointField,
    MultiPolygonField,
    PointField,
    PolygonField,
)


class Place(dorm.Model):
    name = dorm.CharField(max_length=50)
    location = PointField(null=True)

    class Meta:
        app_label = "gis_tests"
        ordering = ["id"]


class Zone(dorm.Model):
    name = dorm.CharField(max_length=50)
    area = PolygonField(null=True)

    class Meta:
        app_label = "gis_tests"
        ordering = ["id"]


class Shape(dorm.Model):
    """One generic geometry column (any geometry type) and no spatial index."""

    name = dorm.CharField(max_length=50)
    geom = GeometryField(null=True, spatial_index=False)

    class Meta:
        app_label = "gis_tests"
        ordering = ["id"]


class AllTypes(dorm.Model):
    point = PointField(null=True)
    line = LineStringField(null=True)
    polygon = PolygonField(null=True)
    mpoint = MultiPointField(null=True)
    mline = MultiLineStringField(null=True)
    mpolygon = MultiPolygonField(null=True)
    collection = GeometryCollectionField(null=True)
    anything = GeometryField(null=True)
    point3d = PointField(null=True, dim=3)

    class Meta:
        app_label = "gis_tests"


class Projected(dorm.Model):
    """Web Mercator (SRID 3857, metres)."""

    name = dorm.CharField(max_length=50, default="")
    location = PointField(srid=3857, null=True)

    class Meta:
        app_label = "gis_tests"


class GeoPlace(dorm.Model):
    """Geography column (PostGIS) / ellipsoidal emulation (SpatiaLite)."""

    name = dorm.CharField(max_length=50)
    location = PointField(geography=True, null=True)
    region = PolygonField(geography=True, null=True, spatial_index=False)

    class Meta:
        app_label = "gis_tests"
        ordering = ["id"]


class ShapelyPlace(dorm.Model):
    location = PointField(as_shapely=True, null=True)

    class Meta:
        app_label = "gis_tests"


class IndexedShape(dorm.Model):
    """Like ``Shape`` with a spatial index (R*Tree pre-filter on SpatiaLite)."""

    name = dorm.CharField(max_length=50)
    geom = GeometryField(null=True)

    class Meta:
        app_label = "gis_tests"
        ordering = ["id"]
