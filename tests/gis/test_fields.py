"""Geometry fields on PostGIS and SpatiaLite: round-trips, SRID, input forms, errors."""
import pytest
import shapely
from dorm.contrib.gis import Geom
from dorm.exceptions import ValidationError

from .models import AllTypes, Place, Projected, Shape, ShapelyPlace

MODELS = [Place, Shape, AllTypes, Projected, ShapelyPlace]

VALUES = {
    "point": Geom.point(1.5, 2.5),
    "line": Geom.linestring([[0, 0], [1, 1], [2, 0.5]]),
    "polygon": Geom.polygon([[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]],
                             [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]]),
    "mpoint": Geom.multipoint([[0, 0], [1.25, -3]]),
    "mline": Geom.multilinestring([[[0, 0], [1, 1]]]),
    "mpolygon": Geom.multipolygon([[[[0, 0], [1, 0], [1, 1], [0, 0]]],
                                   [[[5, 5], [6, 5], [6, 6], [5, 5]]]]),
    "collection": Geom.collection([Geom.point(1, 2), Geom.linestring([[0, 0], [3, 4]])]),
    "anything": Geom.polygon([[[0, 0], [1, 0], [0, 1], [0, 0]]]),
    "point3d": Geom.point(1, 2, 3),
}


@pytest.mark.parametrize("column", list(VALUES))
def test_round_trip_of_each_geometry_type(gisdb, column):
    obj = AllTypes.objects.create(**{column: VALUES[column]})
    got = getattr(AllTypes.objects.get(pk=obj.pk), column)
    assert isinstance(got, Geom)
    assert got == VALUES[column]
    assert got.srid == 4326


def test_all_columns_at_once_and_nulls(gisdb):
    obj = AllTypes.objects.create(**VALUES)
    fresh = AllTypes.objects.get(pk=obj.pk)
    for column, value in VALUES.items():
        assert getattr(fresh, column) == value
    empty = AllTypes.objects.create()
    assert AllTypes.objects.get(pk=empty.pk).point is None
    assert AllTypes.objects.filter(point__isnull=True).count() == 1


def test_srid_preserved(gisdb):
    p = Projected.objects.create(location=Geom.point(1113194.9, 1118890.0, srid=3857))
    got = Projected.objects.get(pk=p.pk).location
    assert got.srid == 3857 and got.coordinates == [1113194.9, 1118890.0]
    assert Projected.objects.values_list("location", flat=True)[0].srid == 3857


@pytest.mark.parametrize("value", [
    Geom.point(3, 4),
    shapely.Point(3, 4),
    shapely.set_srid(shapely.Point(3, 4), 4326),
    {"type": "Point", "coordinates": [3, 4]},
    "POINT(3 4)",
    "SRID=4326;POINT(3 4)",
    '{"type":"Point","coordinates":[3,4]}',
    shapely.to_wkb(shapely.Point(3, 4)),
    shapely.to_wkb(shapely.Point(3, 4), hex=True),
])
def test_accepted_input_forms(gisdb, value):
    obj = Place.objects.create(name="x", location=value)
    assert Place.objects.get(pk=obj.pk).location == Geom.point(3, 4)


def test_assignment_parses_text_and_keeps_objects(gisdb):
    obj = Place(name="x", location="POINT(1 2)")
    assert obj.location == Geom.point(1, 2)
    shape = shapely.Point(5, 6)
    assert Place(name="y", location=shape).location is shape
    with pytest.raises(ValidationError):
        Place(name="z", location="POINT(1")


def test_as_shapely_returns_shapely_geometries_with_srid(gisdb):
    obj = ShapelyPlace.objects.create(location=Geom.point(7, 8))
    got = ShapelyPlace.objects.get(pk=obj.pk).location
    assert isinstance(got, shapely.Point)
    assert got.equals(shapely.Point(7, 8)) and shapely.get_srid(got) == 4326


def test_update_bulk_create_and_values(gisdb):
    a = Place.objects.create(name="a", location=Geom.point(0, 0))
    a.location = Geom.point(9, 9)
    a.save()
    assert Place.objects.get(pk=a.pk).location == Geom.point(9, 9)
    Place.objects.filter(pk=a.pk).update(location=shapely.Point(8, 8))
    assert Place.objects.get(pk=a.pk).location == Geom.point(8, 8)
    Place.objects.bulk_create([Place(name=f"b{i}", location=Geom.point(i, i)) for i in range(5)])
    assert Place.objects.count() == 6
    assert list(Place.objects.filter(name="b3").values_list("location", flat=True)) == [Geom.point(3, 3)]
    assert Place.objects.filter(name="b4").values("location")[0]["location"] == Geom.point(4, 4)


def test_generic_field_stores_any_type(gisdb):
    for name, value in VALUES.items():
        if name != "point3d":
            Shape.objects.create(name=name, geom=value)
    got = {s.name: s.geom for s in Shape.objects.all()}
    assert got == {k: v for k, v in VALUES.items() if k != "point3d"}


@pytest.mark.parametrize("column,value,exc", [
    ("point", Geom.linestring([[0, 0], [1, 1]]), ValueError),      # wrong geometry type
    ("polygon", Geom.point(1, 1), ValueError),
    ("point", Geom.point(1, 2, srid=3857), ValueError),           # wrong SRID
    ("point", Geom.point(1, 2, 3), ValueError),                   # 3D into a 2D column
    ("point3d", Geom.point(1, 2), ValueError),                    # 2D into a 3D column
    ("point", 42, TypeError),
    ("point", [1, 2], TypeError),
])
def test_invalid_values_raise(gisdb, column, value, exc):
    obj = AllTypes()
    obj.__dict__[column] = value       # bypass to_python: the bind must still refuse it
    with pytest.raises(exc):
        obj.save()
    assert AllTypes.objects.count() == 0


def test_invalid_text_raises_validation_error(gisdb):
    with pytest.raises(ValidationError):
        Place(name="x", location="POINT(1 2")
    with pytest.raises(ValidationError):
        Place(name="x", location={"type": "Point"})


def test_field_arguments_are_checked():
    from dorm.contrib.gis import GeometryField, PointField

    with pytest.raises(ValueError):
        GeometryField(dim=4)
    with pytest.raises(ValueError):
        PointField(srid=0)
    with pytest.raises(ValueError):
        PointField(srid="4326")
    name, path, args, kwargs = PointField(srid=3857, geography=True, spatial_index=False, dim=3,
                                          null=True).deconstruct()
    assert kwargs == {"srid": 3857, "geography": True, "spatial_index": False, "dim": 3,
                      "null": True}
    assert path == "dorm_gis.fields.PointField"


async def test_async_round_trip(gisdb):
    obj = await Place.objects.acreate(name="async", location=Geom.point(4, 5))
    got = await Place.objects.aget(pk=obj.pk)
    assert got.location == Geom.point(4, 5)
    names = [p.name async for p in Place.objects.filter(
        location__within=Geom.polygon([[[3, 3], [6, 3], [6, 6], [3, 6]]]))]
    assert names == ["async"]
