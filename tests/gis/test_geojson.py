"""GeoJSON out (Feature / FeatureCollection) and in (Feature → instance)."""
import datetime
import decimal
import json

import dorm
import pytest
from dorm.contrib.gis import Geom, PointField, from_feature, to_feature, to_feature_collection

from .models import Projected


class Shop(dorm.Model):
    name = dorm.CharField(max_length=30)
    opened = dorm.DateField(null=True)
    rating = dorm.DecimalField(max_digits=3, decimal_places=1, null=True)
    location = PointField(null=True)

    class Meta:
        app_label = "gis_geojson"
        ordering = ["id"]


MODELS = [Shop, Projected]


def test_feature_and_collection(gisdb):
    a = Shop.objects.create(name="a", opened=datetime.date(2024, 5, 1), rating=decimal.Decimal("4.5"),
                            location=Geom.point(2.35, 48.85))
    Shop.objects.create(name="b")
    feature = to_feature(Shop.objects.get(pk=a.pk))
    assert feature == {
        "type": "Feature", "id": a.pk,
        "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
        "properties": {"name": "a", "opened": "2024-05-01", "rating": "4.5"},
    }
    collection = to_feature_collection(Shop.objects.all(), fields=["name"])
    assert collection["type"] == "FeatureCollection"
    assert [f["properties"] for f in collection["features"]] == [{"name": "a"}, {"name": "b"}]
    assert collection["features"][1]["geometry"] is None
    json.dumps(collection)          # serialisable as is
    assert "id" not in to_feature(a, id_field=None)


def test_feature_from_database_geojson_matches(gisdb):
    from dorm.contrib.gis import AsGeoJSON

    Shop.objects.create(name="a", location=Geom.point(1.5, -2.25))
    row = Shop.objects.annotate(j=AsGeoJSON("location")).get()
    assert json.loads(row.j) == to_feature(row)["geometry"]


def test_other_srid_carries_a_crs_note(gisdb):
    p = Projected.objects.create(name="m", location=Geom.point(1000, 2000, srid=3857))
    feature = to_feature(Projected.objects.get(pk=p.pk))
    assert feature["crs"] == {"type": "name", "properties": {"name": "EPSG:3857"}}
    back = from_feature(Projected, feature)
    assert back.location == Geom.point(1000, 2000, srid=3857)


def test_from_feature(gisdb):
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [3, 4]},
               "properties": {"name": "web", "rating": "3.0"}}
    shop = from_feature(Shop, json.dumps(feature))
    shop.save()
    got = Shop.objects.get(pk=shop.pk)
    assert got.name == "web" and got.location == Geom.point(3, 4)
    with pytest.raises(ValueError, match="evil"):
        from_feature(Shop, {**feature, "properties": {"name": "x", "evil": 1}})
    assert from_feature(Shop, {**feature, "properties": {"name": "x", "evil": 1}},
                        ignore_unknown=True).name == "x"
    with pytest.raises(ValueError):
        from_feature(Shop, {"type": "FeatureCollection", "features": []})
    with pytest.raises(ValueError):
        to_feature(Shop(name="x"), geometry_field="name")
