"""Done-when: 1,000 seeded random points and a polygon; the database answers exactly what
shapely answers on the same geometries (predicates), and measures agree with shapely
(planar) or with the WGS84 ellipsoid (geodesic, metres)."""
import math
import random

import pytest
from dorm.contrib.gis import Area, D, Distance, Geom
from shapely.geometry import Point, Polygon

from .models import GeoPlace, Place, Shape

MODELS = [Place, GeoPlace, Shape]

#: a concave polygon with a hole, in lon/lat degrees (western Europe)
POLYGON = Polygon(
    [(-4, 42), (8, 42), (8, 51), (3, 51), (3, 46), (-1, 46), (-1, 51), (-4, 51), (-4, 42)],
    holes=[[(0, 43), (2, 43), (2, 44), (0, 44), (0, 43)]],
)
#: points exactly on the boundary (vertex, edges, hole edge)
BOUNDARY = [(-4, 42), (2, 42), (8, 47.5), (3, 48), (1, 43), (0, 43.5)]


def _points():
    rnd = random.Random(20240610)
    pts = [(round(rnd.uniform(-6, 10), 6), round(rnd.uniform(40, 53), 6)) for _ in range(1000)]
    return pts + BOUNDARY


@pytest.fixture
def points(gisdb):
    pts = _points()
    Place.objects.bulk_create([Place(name=str(i), location=Geom.point(x, y))
                               for i, (x, y) in enumerate(pts)])
    return pts


def _ids(qs):
    return {int(n) for n in qs.values_list("name", flat=True)}


@pytest.mark.parametrize("lookup,predicate", [
    ("within", lambda p: p.within(POLYGON)),
    ("coveredby", lambda p: p.covered_by(POLYGON)),
    ("intersects", lambda p: p.intersects(POLYGON)),
    ("disjoint", lambda p: p.disjoint(POLYGON)),
    ("touches", lambda p: p.touches(POLYGON)),
])
def test_predicates_equal_shapely(points, lookup, predicate):
    expected = {i for i, xy in enumerate(points) if predicate(Point(xy))}
    assert 100 < len(expected) or lookup == "touches"
    assert _ids(Place.objects.filter(**{f"location__{lookup}": POLYGON})) == expected


def test_within_excludes_boundary_and_hole(points):
    inside = _ids(Place.objects.filter(location__within=POLYGON))
    n = len(points) - len(BOUNDARY)
    assert not inside & set(range(n, len(points)))            # boundary points are not within
    covered = _ids(Place.objects.filter(location__coveredby=POLYGON))
    assert set(range(n, len(points))) <= covered               # ... but are covered
    assert _ids(Place.objects.filter(location__touches=POLYGON)) == set(range(n, len(points)))
    in_hole = {i for i, xy in enumerate(points) if POLYGON.interiors[0].envelope.contains(Point(xy))}
    assert in_hole and not in_hole & inside


def test_polygon_contains_points_reverse(points, gisdb):
    Shape.objects.create(name="poly", geom=POLYGON)
    sample = random.Random(3).sample(range(len(points)), 60)
    for i in sample:
        expected = POLYGON.contains(Point(points[i]))
        assert Shape.objects.filter(geom__contains=Geom.point(*points[i])).exists() is expected


def test_distances_equal_shapely(points):
    rows = Place.objects.annotate(d=Distance("location", POLYGON)).values_list("name", "d")
    got = {int(n): d for n, d in rows}
    for i, xy in enumerate(points):
        assert got[i] == pytest.approx(Point(xy).distance(POLYGON), rel=1e-9, abs=1e-12)
    # the distance lookups agree with shapely too (degrees, SRID 4326 geometry)
    expected = {i for i, xy in enumerate(points) if Point(xy).distance(POLYGON) <= 0.5}
    assert _ids(Place.objects.filter(location__distance_lte=(POLYGON, 0.5))) == expected
    assert _ids(Place.objects.filter(location__dwithin=(POLYGON, 0.5))) == expected
    far = {i for i, xy in enumerate(points) if Point(xy).distance(POLYGON) > 1.5}
    assert _ids(Place.objects.filter(location__distance_gt=(POLYGON, 1.5))) == far


def _haversine(a, b, radius=6371008.8):
    (lon1, lat1), (lon2, lat2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(h))


def test_geodesic_distances_in_metres(gisdb):
    pts = _points()[:300]
    GeoPlace.objects.bulk_create([GeoPlace(name=str(i), location=Geom.point(x, y))
                                  for i, (x, y) in enumerate(pts)])
    paris = (2.35, 48.85)
    rows = dict(GeoPlace.objects.annotate(d=Distance("location", Geom.point(*paris)))
                .values_list("name", "d"))
    geodesic = {int(n): d for n, d in rows.items()}
    for i, xy in enumerate(pts):
        # the ellipsoid differs from a sphere by at most ~0.5 %
        assert geodesic[i] == pytest.approx(_haversine(xy, paris), rel=6e-3)
    # dwithin in metres returns exactly the rows the database measures within range
    radius = 400_000
    expected = {i for i, d in geodesic.items() if d <= radius}
    assert 10 < len(expected) < len(pts)
    assert _ids(GeoPlace.objects.filter(location__dwithin=(Geom.point(*paris), radius))) == expected
    assert _ids(GeoPlace.objects.filter(location__dwithin=(Geom.point(*paris), D(km=400)))) == expected


def test_areas_equal_shapely(gisdb):
    rnd = random.Random(11)
    polys = [Point(rnd.uniform(0, 50), rnd.uniform(0, 50)).buffer(rnd.uniform(0.1, 3))
             for _ in range(50)]
    Shape.objects.bulk_create([Shape(name=str(i), geom=p) for i, p in enumerate(polys)])
    got = dict(Shape.objects.annotate(a=Area("geom")).values_list("name", "a"))
    for i, p in enumerate(polys):
        assert got[str(i)] == pytest.approx(p.area, rel=1e-9)
