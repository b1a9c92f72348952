"""Spatial functions against shapely (planar) and known geodesic values (metres)."""
import json
import math

import pytest
import shapely
from dorm.contrib.gis import (
    Area,
    AsGeoJSON,
    AsWKT,
    Buffer,
    Centroid,
    Distance,
    Envelope,
    Geom,
    Length,
    Perimeter,
    Transform,
)
from dorm.exceptions import NotSupportedError
from shapely.geometry import LineString, Point, box

from .models import GeoPlace, Place, Shape

MODELS = [Shape, Place, GeoPlace]

#: metres per degree of longitude on the equator (WGS84: a * pi / 180)
EQUATOR_DEGREE = 6378137 * math.pi / 180

SHAPES = {
    "pt": Point(3, 4),
    "line": LineString([(0, 0), (3, 4), (6, 0)]),
    "poly": box(1, 1, 4, 3),
    "holed": box(0, 0, 10, 10).difference(box(2, 2, 4, 4)),
    "far": box(20, 20, 25, 30),
}


@pytest.fixture
def shapes(gisdb):
    for name, geom in SHAPES.items():
        Shape.objects.create(name=name, geom=geom)
    Shape.objects.create(name="null", geom=None)


def _by_name(qs, attr):
    return {row["name"]: row[attr] for row in qs.values("name", attr)}


def test_planar_measures_match_shapely(shapes):
    origin = Point(0, 0)
    qs = Shape.objects.annotate(d=Distance("geom", origin), a=Area("geom"), l=Length("geom"),
                                p=Perimeter("geom"))
    rows = {r["name"]: r for r in qs.values("name", "d", "a", "l", "p")}
    assert rows["null"]["d"] is None
    for name, geom in SHAPES.items():
        assert rows[name]["d"] == pytest.approx(geom.distance(origin), rel=1e-9)
        assert rows[name]["a"] == pytest.approx(geom.area, rel=1e-9, abs=1e-12)
        if geom.geom_type == "LineString":
            assert rows[name]["l"] == pytest.approx(geom.length, rel=1e-9)
        if geom.geom_type == "Polygon":
            assert rows[name]["p"] == pytest.approx(geom.length, rel=1e-9)   # holes included


def test_geometry_results_match_shapely(shapes):
    qs = Shape.objects.exclude(geom__isnull=True).annotate(
        c=Centroid("geom"), e=Envelope("geom"), w=AsWKT("geom"), j=AsGeoJSON("geom"))
    for row in qs.values("name", "c", "e", "w", "j"):
        geom = SHAPES[row["name"]]
        assert isinstance(row["c"], Geom) and row["c"].srid == 4326
        assert row["c"].to_shapely().equals_exact(geom.centroid, 1e-9)
        assert row["e"].bounds == geom.bounds     # a point's envelope: POINT (PostGIS) or a
        #                                          degenerate polygon (SpatiaLite)
        assert shapely.from_wkt(row["w"]).equals(geom)
        assert shapely.from_geojson(row["j"]).equals(geom)


def test_aswkt_keeps_full_precision(gisdb):
    Place.objects.create(name="p", location=Geom.point(10.123456789, -0.000000125))
    wkt = Place.objects.annotate(w=AsWKT("location")).values_list("w", flat=True)[0]
    assert shapely.from_wkt(wkt).equals(Point(10.123456789, -0.000000125))
    js = Place.objects.annotate(j=AsGeoJSON("location", precision=3)).values_list("j", flat=True)[0]
    assert json.loads(js)["coordinates"] == [10.123, -0.0]


def test_transform(gisdb):
    Place.objects.create(name="p", location=Geom.point(1, 1))
    got = Place.objects.annotate(t=Transform("location", 3857)).values_list("t", flat=True)[0]
    assert got.srid == 3857
    assert got.coordinates == pytest.approx([111319.49079327357, 111325.14286638486], rel=1e-9)
    back = Place.objects.annotate(t=Transform(Transform("location", 3857), 4326)).values_list(
        "t", flat=True)[0]
    assert back.srid == 4326 and back.coordinates == pytest.approx([1, 1], rel=1e-9)
    with pytest.raises(ValueError):
        Transform("location", "3857")


def test_buffer(gisdb):
    Place.objects.create(name="p", location=Geom.point(0, 0))
    buf = Place.objects.annotate(b=Buffer("location", 1)).values_list("b", flat=True)[0]
    poly = buf.to_shapely()
    assert poly.geom_type == "Polygon" and 3.12 < poly.area <= math.pi
    assert poly.contains(Point(0.99, 0)) and not poly.contains(Point(1.01, 0))
    assert Place.objects.annotate(a=Area(Buffer("location", 1))).values_list("a", flat=True)[0] \
        == pytest.approx(poly.area, rel=1e-9)
    with pytest.raises(TypeError):
        Buffer("location", "1")


def test_buffer_of_geography(gisdb):
    GeoPlace.objects.create(name="g", location=Geom.point(0, 0))
    qs = GeoPlace.objects.annotate(a=Area(Buffer("location", 1000)))
    if gisdb.vendor == "sqlite":
        with pytest.raises(NotSupportedError, match="SQLite"):
            list(qs.values_list("a", flat=True))
    else:
        assert qs.values_list("a", flat=True)[0] == pytest.approx(math.pi * 1000 ** 2, rel=0.01)


def test_geodesic_measures_in_metres(gisdb):
    for i in range(4):
        Place.objects.create(name=f"p{i}", location=Geom.point(i, 0))
        GeoPlace.objects.create(name=f"p{i}", location=Geom.point(i, 0))
    origin = Geom.point(0, 0)
    degrees = _by_name(Place.objects.annotate(d=Distance("location", origin)), "d")
    metres = _by_name(Place.objects.annotate(d=Distance("location", origin, geodesic=True)), "d")
    geog = _by_name(GeoPlace.objects.annotate(d=Distance("location", origin)), "d")
    for i in range(4):
        assert degrees[f"p{i}"] == pytest.approx(i)                      # SRID 4326: degrees
        assert metres[f"p{i}"] == pytest.approx(i * EQUATOR_DEGREE, rel=1e-9)
        assert geog[f"p{i}"] == pytest.approx(i * EQUATOR_DEGREE, rel=1e-9)


def test_geodesic_area_length_perimeter(gisdb):
    cell = Geom.from_shapely(box(10, 50, 11, 51))
    GeoPlace.objects.create(name="cell", region=cell)
    Shape.objects.create(name="cell", geom=cell)
    Shape.objects.create(name="equator", geom=Geom.linestring([[0, 0], [3, 0]]))
    # reference values: PostGIS geography (WGS84 ellipsoid)
    area, perimeter = 7892061583.2, 364369.72088
    geo = GeoPlace.objects.annotate(a=Area("region"), p=Perimeter("region")).values("a", "p")[0]
    assert geo["a"] == pytest.approx(area, rel=1e-5)
    assert geo["p"] == pytest.approx(perimeter, rel=1e-6)
    row = Shape.objects.filter(name="cell").annotate(
        a=Area("geom", geodesic=True), p=Perimeter("geom", geodesic=True), sq=Area("geom")).values(
        "a", "p", "sq")[0]
    assert row["a"] == pytest.approx(area, rel=1e-5)
    assert row["p"] == pytest.approx(perimeter, rel=1e-6)
    assert row["sq"] == pytest.approx(1.0)                                # square degrees
    length = Shape.objects.filter(name="equator").annotate(
        l=Length("geom", geodesic=True), deg=Length("geom")).values("l", "deg")[0]
    assert length["l"] == pytest.approx(3 * EQUATOR_DEGREE, rel=1e-9)
    assert length["deg"] == pytest.approx(3)


def test_order_by_distance(gisdb):
    import random

    rnd = random.Random(7)
    points = [(rnd.uniform(-10, 10), rnd.uniform(-10, 10)) for _ in range(30)]
    for i, (x, y) in enumerate(points):
        Place.objects.create(name=f"p{i}", location=Geom.point(x, y))
    target = Point(1, 2)
    expected = [f"p{i}" for i, _ in sorted(enumerate(points),
                                           key=lambda ip: Point(ip[1]).distance(target))]
    by_annotation = [name for name, _ in Place.objects.annotate(d=Distance("location", target))
                     .order_by("d").values_list("name", "d")]
    assert by_annotation == expected
    assert [p.name for p in Place.objects.annotate(d=Distance("location", target)).order_by("-d")] \
        == expected[::-1]
    by_expression = list(Place.objects.order_by(Distance("location", target).desc())
                         .values_list("name", flat=True))
    assert by_expression == expected[::-1]
    nearest = Place.objects.annotate(d=Distance("location", target)).filter(d__lt=3).order_by("d")
    assert [p.name for p in nearest] == [n for n in expected
                                         if Point(points[int(n[1:])]).distance(target) < 3]


def test_distance_between_columns_and_in_other_srid(gisdb):
    a = Place.objects.create(name="a", location=Geom.point(0, 0))
    assert Place.objects.annotate(d=Distance("location", "location")).get(pk=a.pk).d == 0
    # a literal in EPSG:3857 is transformed to the column's SRID first
    p3857 = Geom.point(111319.49079327357, 0, srid=3857)
    d = Place.objects.annotate(d=Distance("location", p3857)).get(pk=a.pk).d
    assert d == pytest.approx(1.0, rel=1e-9)
