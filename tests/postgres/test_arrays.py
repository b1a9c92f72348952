"""ArrayField: column types, round trips, lookups, validation and other backends."""
from __future__ import annotations

import dorm
import pytest
from dorm.exceptions import NotSupportedError, ValidationError

from .models import Doc

MODELS = [Doc]


@pytest.fixture
def docs(pg):
    return Doc.objects.bulk_create([
        Doc(title="a", tags=["red", "green"], nums=[1, 2, 3]),
        Doc(title="b", tags=["green"], nums=[]),
        Doc(title="c", tags=[], nums=None),
        Doc(title="d", tags=["blue", "red", "it's"], nums=[7]),
    ])


def titles(qs):
    return sorted(qs.values_list("title", flat=True))


def test_column_types_and_round_trip(docs, pg):
    types = {c.name: c.type for c in pg.introspection.get_table_description("pg_tests_doc")}
    assert types["tags"] == "character varying(20)[]" and types["nums"] == "integer[]"
    got = {d.title: (d.tags, d.nums) for d in Doc.objects.all()}
    assert got == {"a": (["red", "green"], [1, 2, 3]), "b": (["green"], []), "c": ([], None),
                   "d": (["blue", "red", "it's"], [7])}
    assert dorm.ArrayField is Doc._meta.get_field("tags").__class__


def test_lookups(docs):
    assert titles(Doc.objects.filter(tags=["green"])) == ["b"]
    assert titles(Doc.objects.filter(tags=[])) == ["c"]
    assert titles(Doc.objects.filter(tags__contains=["red"])) == ["a", "d"]
    assert titles(Doc.objects.filter(tags__array_contains=["red", "blue"])) == ["d"]
    assert titles(Doc.objects.filter(tags__contained_by=["red", "green", "yellow"])) == ["a", "b", "c"]
    assert titles(Doc.objects.filter(tags__overlap=["blue", "green"])) == ["a", "b", "d"]
    assert titles(Doc.objects.filter(tags__array_overlap=("it's",))) == ["d"]
    assert titles(Doc.objects.filter(nums__contains=[2, 3])) == ["a"]
    assert titles(Doc.objects.filter(tags__len=0)) == ["c"]
    assert titles(Doc.objects.filter(tags__len__gte=2)) == ["a", "d"]
    assert titles(Doc.objects.filter(nums__len=0)) == ["b"]
    assert titles(Doc.objects.filter(nums__isnull=True)) == ["c"]


def test_update_append_and_annotate(docs):
    Doc.objects.filter(title="c").update(tags=["new"])
    assert Doc.objects.get(title="c").tags == ["new"]
    doc = Doc.objects.get(title="b")
    doc.tags.append("x")
    doc.save()
    assert Doc.objects.get(title="b").tags == ["green", "x"]


def test_bulk_update_casts_arrays(docs):
    objs = list(Doc.objects.filter(title__in=["a", "b"]).order_by("title"))
    objs[0].tags, objs[1].tags = ["z"], ["y", "w"]
    Doc.objects.bulk_update(objs, ["tags"])
    assert [d.tags for d in Doc.objects.filter(title__in=["a", "b"]).order_by("title")] == [["z"], ["y", "w"]]


def test_validation(pg):
    field = dorm.ArrayField(dorm.CharField(max_length=3), size=2)
    field.set_attributes_from_name("tags")
    with pytest.raises(ValidationError):
        field.validate(["a", "b", "c"], None)
    with pytest.raises(ValidationError):
        field.validate(["toolong"], None)
    with pytest.raises(ValidationError):
        field.to_python("not a list")
    with pytest.raises(TypeError):
        dorm.ArrayField("CharField")
    field.validate(["ok"], None)


def test_other_backends_refuse_the_column(tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite",
                                                       "NAME": str(tmp_path / "x.db")}}), \
            pytest.raises(NotSupportedError, match="ArrayField.*PostgreSQL"):
        dorm.create_tables([Doc])
