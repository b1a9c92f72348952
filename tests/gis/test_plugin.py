"""Plugin wiring: registration through the hooks, import paths, SpatiaLite loading, and
clear errors on backends without spatial support."""
import sqlite3

import dorm
import pytest
import shapely
from dorm.contrib.gis import Distance, Geom, PointField
from dorm.exceptions import NotSupportedError


def test_registered_through_the_hooks():
    from dorm.lookups import lookup_table
    from dorm.plugins import get_registry
    from dorm_gis.lookups import SPATIAL_LOOKUPS

    reg = get_registry()
    for name in ("GeometryField", "PointField", "LineStringField", "PolygonField", "MultiPointField",
                 "MultiLineStringField", "MultiPolygonField", "GeometryCollectionField"):
        assert reg.owner("field", name) == "gis"
        assert getattr(dorm, name).__module__ == "dorm_gis.fields"
    table = lookup_table(PointField)
    for name in SPATIAL_LOOKUPS:
        assert table[name].vendors == ("postgresql", "sqlite")
    # field-scoped: a CharField keeps the text lookups
    assert "within" not in lookup_table(dorm.CharField)
    assert lookup_table(dorm.CharField)["contains"].__name__ == "Contains"
    assert dorm.Distance is Distance
    from dorm.migrations.operations import EnableGIS  # noqa: F401


def test_reference_import_paths():
    from dorm.contrib import gis
    from dorm.contrib.gis import SPATIAL_LOOKUPS, GISLookupMixin, register_gis_lookups
    from dorm.contrib.gis.fields import GeometryField
    from dorm.contrib.gis.lookups import WithinLookup

    assert gis.PointField.__mro__[1] is GeometryField
    assert register_gis_lookups() is SPATIAL_LOOKUPS and register_gis_lookups() is SPATIAL_LOOKUPS
    assert issubclass(WithinLookup, GISLookupMixin)
    assert {"intersects", "within", "contains", "distance_lte", "distance_gte"} <= set(SPATIAL_LOOKUPS)


def test_bootstrap_sqlite_on_a_plain_connection():
    from dorm_gis import spatialite

    ok, reason = spatialite.availability()
    if not ok:
        pytest.skip(reason)
    raw = sqlite3.connect(":memory:")
    Geom.bootstrap_sqlite(raw)
    Geom.bootstrap_sqlite(raw)                  # idempotent
    assert raw.execute("SELECT ST_X(MakePoint(1.5, 2))").fetchone()[0] == 1.5


def test_spatialite_codec_round_trip():
    from dorm_gis import spatialite

    ok, reason = spatialite.availability()
    if not ok:
        pytest.skip(reason)
    shape = shapely.Polygon([(0, 0), (1, 0), (1, 1)])
    blob = spatialite.encode(shape, 3857)
    assert spatialite.is_spatialite_blob(blob)
    back = spatialite.decode(blob)
    assert back.equals(shape) and shapely.get_srid(back) == 3857
    with pytest.raises(ValueError, match="empty"):
        spatialite.encode(shapely.Polygon(), 4326)


# ---- a backend without GIS (DuckDB, when installed) -------------------------------------------

class Spot(dorm.Model):
    name = dorm.CharField(max_length=20)
    location = PointField(null=True)

    class Meta:
        app_label = "gis_plugin"


@pytest.fixture
def duck():
    from dorm.db import connections
    from dorm.plugins import get_registry

    reg = get_registry().backends.get("duckdb")
    settings = reg.test_settings() if reg is not None and reg.test_settings else None
    if settings is None:
        pytest.skip("DuckDB backend not installed")
    dorm.configure(DATABASES={"default": settings})
    dorm.drop_tables([Spot])
    dorm.create_tables([Spot])
    yield connections["default"]
    dorm.drop_tables([Spot])
    connections.close_all()


def test_storage_only_and_clear_errors_without_gis(duck):
    s = Spot.objects.create(name="a", location=Geom.point(1, 2))
    assert Spot.objects.get(pk=s.pk).location == Geom.point(1, 2)      # EWKT text column
    with pytest.raises(NotSupportedError, match=duck.display_name):
        list(Spot.objects.filter(location__within=Geom.polygon([[[0, 0], [5, 0], [5, 5]]])))
    with pytest.raises(NotSupportedError, match=duck.display_name):
        list(Spot.objects.filter(location__dwithin=(Geom.point(0, 0), 1)))
    with pytest.raises(NotSupportedError, match=duck.display_name):
        list(Spot.objects.annotate(d=Distance("location", Geom.point(0, 0))))


def test_loading_the_plugin_does_not_import_shapely():
    import subprocess
    import sys

    code = ("import sys, dorm\nfrom dorm.plugins import get_registry\nreg = get_registry()\n"
            "assert 'PointField' in reg.field_types and dorm.PointField\n"
            "assert 'shapely' not in sys.modules, 'shapely imported'\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_loading_spatialite_keeps_the_busy_timeout():
    """SpatiaLite sets a 5 s busy timeout when loaded; the connection's own is kept."""
    from dorm_gis import spatialite

    ok, reason = spatialite.availability()
    if not ok:
        pytest.skip(reason)
    raw = sqlite3.connect(":memory:", timeout=0.05)
    spatialite.load_spatialite(raw)
    assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == 50
