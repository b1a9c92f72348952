"""Every spatial lookup, checked against shapely's answer on the same geometries."""
import pytest
import shapely
from dorm.contrib.gis import D, Geom
from dorm.exceptions import NotSupportedError
from dorm.expressions import F
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box

from .models import GeoPlace, IndexedShape, Place, Projected, Shape, Zone

MODELS = [Shape, IndexedShape, Place, Zone, GeoPlace, Projected]

SHAPES = {
    "inside_pt": Point(5, 5),
    "edge_pt": Point(0, 5),
    "outside_pt": Point(20, 20),
    "inner_poly": box(2, 2, 4, 4),
    "same_poly": box(0, 0, 10, 10),
    "big_poly": box(-5, -5, 15, 15),
    "overlap_poly": box(5, 5, 15, 15),
    "touch_poly": box(10, 0, 20, 10),
    "far_poly": box(30, 30, 40, 40),
    "bbox_only": Polygon([(9.5, 11), (12, 11), (12, 8.5)]),
    "cross_line": LineString([(-5, 5), (15, 5)]),
    "inner_line": LineString([(1, 1), (9, 9)]),
    "edge_line": LineString([(0, 0), (0, 10)]),
    "touch_line": LineString([(10, 10), (20, 20)]),
    "far_line": LineString([(30, 0), (40, 0)]),
    "multi": MultiPoint([(1, 1), (20, 20)]),
}

QUERIES = {
    "square": box(0, 0, 10, 10),
    "line": LineString([(-5, 5), (15, 5)]),
    "point": Point(5, 5),
    "triangle": Polygon([(0, 0), (12, 0), (0, 12)]),
}


def _bb_contains(a, b):
    ax0, ay0, ax1, ay1 = a.bounds
    bx0, by0, bx1, by1 = b.bounds
    return ax0 <= bx0 and ay0 <= by0 and ax1 >= bx1 and ay1 >= by1


def _bb_overlaps(a, b):
    ax0, ay0, ax1, ay1 = a.bounds
    bx0, by0, bx1, by1 = b.bounds
    return ax0 <= bx1 and bx0 <= ax1 and ay0 <= by1 and by0 <= ay1


ORACLE = {
    "intersects": lambda s, q: s.intersects(q),
    "contains": lambda s, q: s.contains(q),
    "within": lambda s, q: s.within(q),
    "covers": lambda s, q: s.covers(q),
    "coveredby": lambda s, q: s.covered_by(q),
    "touches": lambda s, q: s.touches(q),
    "crosses": lambda s, q: s.crosses(q),
    "overlaps": lambda s, q: s.overlaps(q),
    "disjoint": lambda s, q: s.disjoint(q),
    "equals": lambda s, q: s.equals(q),
    "bbcontains": _bb_contains,
    "bboverlaps": _bb_overlaps,
}


@pytest.fixture(params=["plain", "indexed"])
def shapes(request, gisdb):
    model = Shape if request.param == "plain" else IndexedShape
    model.objects.bulk_create([model(name=n, geom=g) for n, g in SHAPES.items()])
    model.objects.create(name="null", geom=None)
    return model


@pytest.mark.parametrize("query", list(QUERIES))
@pytest.mark.parametrize("lookup", list(ORACLE))
def test_lookup_matches_shapely(shapes, lookup, query):
    q = QUERIES[query]
    expected = sorted(n for n, s in SHAPES.items() if ORACLE[lookup](s, q))
    got = sorted(shapes.objects.filter(**{f"geom__{lookup}": q}).values_list("name", flat=True))
    assert got == expected
    # exclude() is the complement (rows with a NULL geometry included, as in Django)
    excluded = sorted(shapes.objects.exclude(**{f"geom__{lookup}": q})
                      .values_list("name", flat=True))
    assert excluded == sorted({*SHAPES, "null"} - set(expected))


def test_every_value_form_in_a_lookup(gisdb):
    Place.objects.create(name="in", location=Geom.point(5, 5))
    Place.objects.create(name="out", location=Geom.point(50, 50))
    square = box(0, 0, 10, 10)
    for value in (square, Geom.from_shapely(square), shapely.geometry.mapping(square), square.wkt,
                  "SRID=4326;" + square.wkt, shapely.to_wkb(square), shapely.to_wkb(square, hex=True)):
        assert list(Place.objects.filter(location__within=value).values_list("name", flat=True)) == ["in"]


def test_lookup_value_in_another_srid_is_transformed(gisdb):
    Place.objects.create(name="paris", location=Geom.point(2.35, 48.85))
    Place.objects.create(name="rome", location=Geom.point(12.5, 41.9))
    # a box around Paris in Web Mercator (EPSG:3857) metres
    around_paris = Geom.polygon([[[200000, 6200000], [330000, 6200000], [330000, 6300000],
                                  [200000, 6300000]]], srid=3857)
    names = list(Place.objects.filter(location__within=around_paris).values_list("name", flat=True))
    assert names == ["paris"]


def test_expression_right_hand_side(gisdb):
    zone = Zone.objects.create(name="z", area=Geom.polygon([[[0, 0], [10, 0], [10, 10], [0, 10]]]))
    Shape.objects.create(name="inner", geom=Geom.point(1, 1))
    # F() on the same row: a zone covers its own centroid
    from dorm.contrib.gis import Centroid

    assert Zone.objects.filter(area__covers=Centroid("area")).get() == zone
    assert Zone.objects.filter(area__equals=F("area")).count() == 1


def test_contains_is_spatial_not_like(gisdb):
    """V10: ``area__contains=Geom`` must be ST_Contains, not a LIKE on the text."""
    from dorm.query.compiler import SQLCompiler

    Zone.objects.create(name="z", area=Geom.polygon([[[0, 0], [10, 0], [10, 10], [0, 10]]]))
    qs = Zone.objects.filter(area__contains=Geom.point(1, 2))
    sql, _ = SQLCompiler(qs.query, gisdb).as_sql()
    assert "LIKE" not in sql.upper() and "ST_CONTAINS" in sql.upper()
    assert qs.count() == 1
    assert Zone.objects.filter(area__contains=Geom.point(11, 2)).count() == 0
    assert Zone.objects.filter(name__contains="z").count() == 1     # text fields keep LIKE


# ---- distances ----------------------------------------------------------------------------------

@pytest.fixture
def places(gisdb):
    # along the equator: 1 degree of longitude ~ 111.32 km
    for i in range(6):
        Place.objects.create(name=f"p{i}", location=Geom.point(i, 0))
        GeoPlace.objects.create(name=f"p{i}", location=Geom.point(i, 0))


def _names(qs):
    return sorted(qs.values_list("name", flat=True))


def test_plain_numbers_on_srid_4326_geometry_are_degrees(places):
    origin = Geom.point(0, 0)
    assert _names(Place.objects.filter(location__dwithin=(origin, 2))) == ["p0", "p1", "p2"]
    assert _names(Place.objects.filter(location__distance_lte=(origin, 2))) == ["p0", "p1", "p2"]
    assert _names(Place.objects.filter(location__distance_lt=(origin, 2))) == ["p0", "p1"]
    assert _names(Place.objects.filter(location__distance_gt=(origin, 4))) == ["p5"]
    assert _names(Place.objects.filter(location__distance_gte=(origin, 4))) == ["p4", "p5"]
    # "1000 metres" as a plain number is 1000 degrees: everything
    assert Place.objects.filter(location__dwithin=(origin, 1000)).count() == 6


def test_d_distances_are_metres_on_geometry(places):
    origin = Geom.point(0, 0)
    assert _names(Place.objects.filter(location__dwithin=(origin, D(km=250)))) == ["p0", "p1", "p2"]
    assert _names(Place.objects.filter(location__distance_lte=(origin, D(m=111_000)))) == ["p0"]
    assert _names(Place.objects.filter(location__distance_lte=(origin, D(m=111_500)))) == ["p0", "p1"]
    assert _names(Place.objects.filter(location__distance_gt=(origin, D(km=500)))) == ["p5"]


def test_geography_distances_are_metres(places):
    origin = Geom.point(0, 0)
    assert _names(GeoPlace.objects.filter(location__dwithin=(origin, 250_000))) == ["p0", "p1", "p2"]
    assert _names(GeoPlace.objects.filter(location__dwithin=(origin, D(km=250)))) == ["p0", "p1", "p2"]
    assert _names(GeoPlace.objects.filter(location__distance_lte=(origin, 111_500))) == ["p0", "p1"]
    assert _names(GeoPlace.objects.filter(location__distance_gte=(origin, 440_000))) == ["p4", "p5"]
    # 2 "degrees" on geography are 2 metres
    assert _names(GeoPlace.objects.filter(location__dwithin=(origin, 2))) == ["p0"]


def test_projected_srid_distances_are_metres(gisdb):
    Projected.objects.create(name="a", location=Geom.point(0, 0, srid=3857))
    Projected.objects.create(name="b", location=Geom.point(3000, 4000, srid=3857))
    origin = Geom.point(0, 0, srid=3857)
    assert _names(Projected.objects.filter(location__dwithin=(origin, 5000))) == ["a", "b"]
    assert _names(Projected.objects.filter(location__distance_lt=(origin, 4999))) == ["a"]


def test_distance_with_expression(gisdb):
    Place.objects.create(name="a", location=Geom.point(1, 0))
    assert Place.objects.filter(location__dwithin=(F("location"), 0)).count() == 1


@pytest.mark.parametrize("value,exc", [
    (Geom.point(0, 0), ValueError),                  # no distance
    ((Geom.point(0, 0),), ValueError),
    ((Geom.point(0, 0), 1, 2), ValueError),
    ((Geom.point(0, 0), "1km"), TypeError),
    ((Geom.point(0, 0), -1), ValueError),
    ((Geom.point(0, 0), float("nan")), ValueError),
    ((42, 1), TypeError),
])
def test_bad_distance_arguments(gisdb, value, exc):
    with pytest.raises(exc):
        Place.objects.filter(location__dwithin=value)


@pytest.mark.parametrize("value,exc", [(42, TypeError), ("POINT(1", ValueError), ([1, 2], TypeError)])
def test_bad_lookup_values(gisdb, value, exc):
    with pytest.raises(exc):
        Place.objects.filter(location__within=value)


@pytest.mark.parametrize("lookup", ["contains", "within", "touches", "crosses", "overlaps",
                                    "disjoint", "equals", "bbcontains"])
def test_geography_lacks_some_lookups(gisdb, lookup):
    with pytest.raises(NotSupportedError, match="geography"):
        list(GeoPlace.objects.filter(**{f"location__{lookup}": Geom.point(0, 0)}))


def test_geography_predicates(places):
    square = Geom.polygon([[[-0.5, -0.5], [2.5, -0.5], [2.5, 0.5], [-0.5, 0.5]]])
    assert _names(GeoPlace.objects.filter(location__intersects=square)) == ["p0", "p1", "p2"]
    assert _names(GeoPlace.objects.filter(location__coveredby=square)) == ["p0", "p1", "p2"]
    assert _names(GeoPlace.objects.filter(location__bboverlaps=square)) == ["p0", "p1", "p2"]


def test_exact_isnull_and_in(gisdb):
    a = Place.objects.create(name="a", location=Geom.point(1, 2))
    Place.objects.create(name="b", location=Geom.point(3, 4))
    Place.objects.create(name="c", location=None)
    assert Place.objects.get(location=Geom.point(1, 2)) == a
    assert Place.objects.get(location="POINT(1 2)") == a
    assert _names(Place.objects.filter(location__isnull=True)) == ["c"]
    assert _names(Place.objects.filter(location__in=[Geom.point(1, 2), shapely.Point(3, 4)])) == ["a", "b"]
    with pytest.raises(ValueError):
        Place.objects.filter(location=Geom.point(1, 2, srid=3857)).count()
