"""The ``Geom`` value, input parsing and ``D``: pure Python (shapely), no database."""
import json

import pytest
import shapely
from dorm.contrib.gis import D, Geom
from dorm_gis.geom import to_shape


def test_reference_constructors_and_text():
    p = Geom.point(1.5, 2.5)
    assert (p.kind, p.coordinates, p.srid) == ("Point", [1.5, 2.5], 4326)
    assert p.to_wkt() == "POINT(1.5 2.5)"
    assert p.to_ewkt() == "SRID=4326;POINT(1.5 2.5)"
    assert p.to_geojson() == {"type": "Point", "coordinates": [1.5, 2.5]}
    assert Geom.point(1, 2, srid=3857).to_ewkt() == "SRID=3857;POINT(1 2)"
    line = Geom.linestring([(0, 0), (1, 1)])
    assert line.to_wkt() == "LINESTRING(0 0, 1 1)"
    poly = Geom.polygon([[(0, 0), (2, 0), (2, 2), (0, 2)]])   # closed for you
    assert poly.coordinates == [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]
    assert poly.to_wkt() == "POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))"
    assert Geom.point(1, 2, 3).to_wkt() == "POINT Z (1 2 3)"


def test_every_kind_round_trips_through_geojson_and_shapely():
    values = [
        Geom.point(1, 2),
        Geom.linestring([[0, 0], [1, 1], [2, 0]]),
        Geom.polygon([[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[1, 1], [2, 1], [2, 2], [1, 1]]]),
        Geom.multipoint([[0, 0], [1, 1]]),
        Geom.multilinestring([[[0, 0], [1, 1]], [[2, 2], [3, 3]]]),
        Geom.multipolygon([[[[0, 0], [1, 0], [1, 1], [0, 0]]]]),
        Geom.collection([Geom.point(1, 2), Geom.linestring([[0, 0], [1, 1]])]),
    ]
    for g in values:
        assert Geom.from_geojson(g.to_geojson()) == g
        assert Geom.from_geojson(json.dumps(g.to_geojson())) == g
        assert Geom.from_shapely(g.to_shapely()) == g
        assert Geom.from_wkt(g.to_ewkt()) == g
        assert Geom.from_wkb(g.to_ewkb()) == g
        assert Geom.from_wkb(g.to_ewkb(hex=True)) == g
        assert shapely.geometry.shape(g).equals(g.to_shapely())   # __geo_interface__
        assert shapely.get_srid(g.to_shapely()) == 4326


def test_equality_hash_and_repr():
    assert Geom.point(1, 2) == Geom("point", (1.0, 2.0))
    assert Geom.point(1, 2) != Geom.point(1, 2, srid=3857)
    assert len({Geom.point(1, 2), Geom.point(1.0, 2.0)}) == 1
    assert repr(Geom.point(1, 2)) == "Geom('SRID=4326;POINT(1 2)')"
    assert Geom.point(3, 4).x == 3 and Geom.point(3, 4).y == 4 and Geom.point(3, 4).z is None
    with pytest.raises(AttributeError):
        Geom.linestring([[0, 0], [1, 1]]).x


def test_from_geojson_feature_and_errors():
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 6]},
               "properties": {}}
    assert Geom.from_geojson(feature) == Geom.point(5, 6)
    with pytest.raises(ValueError):
        Geom.from_geojson({"type": "Nope", "coordinates": []})
    with pytest.raises(ValueError):
        Geom.from_geojson("{not json")
    with pytest.raises(TypeError):
        Geom.from_geojson(42)
    with pytest.raises(ValueError):
        Geom("Hexagon", [])
    with pytest.raises(ValueError):
        Geom.point(1, 2, srid=-1)
    with pytest.raises(ValueError):
        Geom("Polygon", [[[0, 0], [1, 1]]]).to_wkt()     # too few points for a ring


@pytest.mark.parametrize("value", [
    Geom.point(1, 2),
    shapely.Point(1, 2),
    {"type": "Point", "coordinates": [1, 2]},
    "POINT(1 2)",
    "SRID=4326;POINT(1 2)",
    '{"type": "Point", "coordinates": [1, 2]}',
    shapely.to_wkb(shapely.Point(1, 2)),
    shapely.to_wkb(shapely.Point(1, 2), hex=True),
])
def test_to_shape_accepts_every_documented_form(value):
    shape, srid = to_shape(value, 4326)
    assert shape.equals(shapely.Point(1, 2)) and srid == 4326


def test_to_shape_keeps_the_value_srid():
    assert to_shape("SRID=3857;POINT(1 2)", 4326)[1] == 3857
    assert to_shape(shapely.set_srid(shapely.Point(1, 2), 2154), 4326)[1] == 2154
    assert to_shape(Geom.point(1, 2, srid=32633), 4326)[1] == 32633


@pytest.mark.parametrize("bad,exc", [
    (42, TypeError), (object(), TypeError), (["POINT(1 2)"], TypeError),
    ("POINT(1", ValueError), ("", ValueError), (b"\x01\x02", ValueError),
    ({"type": "Point"}, ValueError),
])
def test_to_shape_rejects_bad_input(bad, exc):
    with pytest.raises(exc):
        to_shape(bad, 4326)


def test_distance_measure():
    assert D(km=1.5).m == 1500
    assert D(m=1609.344).mi == pytest.approx(1)
    assert D(m=1, km=1).m == 1001
    assert D(m=5) == D(m=5) and D(m=4) < D(m=5)
    with pytest.raises(TypeError):
        D()
    with pytest.raises(TypeError):
        D(parsec=1)
    with pytest.raises(ValueError):
        D(m=-1)
    with pytest.raises(TypeError):
        D(m="5")
