"""JSONField as jsonb: round trips, key paths, containment and key lookups."""
from __future__ import annotations

import json

import dorm
import pytest
from dorm.exceptions import NotSupportedError

from .models import Doc

MODELS = [Doc]


@pytest.fixture
def docs(pg):
    return Doc.objects.bulk_create([
        Doc(title="a", data={"name": "Ann", "n": 5, "ok": True, "tags": ["x", "y"],
                             "addr": {"city": "Lyon", "zip": "69001"}}),
        Doc(title="b", data={"name": "bob", "n": 10, "ok": False, "tags": ["y"],
                             "addr": {"city": "Paris"}}),
        Doc(title="c", data=["x", 1, None]),
        Doc(title="d", data="just a string"),
        Doc(title="e", data=None),
    ])


def titles(qs):
    return sorted(qs.values_list("title", flat=True))


def test_values_round_trip(docs):
    got = {d.title: d.data for d in Doc.objects.all()}
    assert got["a"]["addr"] == {"city": "Lyon", "zip": "69001"} and got["a"]["ok"] is True
    assert got["c"] == ["x", 1, None]
    assert got["d"] == "just a string"
    assert got["e"] is None
    # a JSON string that looks like a number stays a string
    doc = Doc.objects.create(title="s", data="123")
    assert Doc.objects.get(pk=doc.pk).data == "123"


def test_decoder_and_encoder_are_honoured(pg):
    class Upper(json.JSONDecoder):
        def __init__(self, **kw):
            super().__init__(object_hook=lambda d: {k.upper(): v for k, v in d.items()}, **kw)

    field = Doc._meta.get_field("data")
    old = field.decoder
    field.decoder = Upper
    try:
        doc = Doc.objects.create(title="x", data={"k": 1})
        assert Doc.objects.get(pk=doc.pk).data == {"K": 1}
    finally:
        field.decoder = old


def test_key_paths_compare_as_text(docs):
    assert titles(Doc.objects.filter(data__name="Ann")) == ["a"]
    assert titles(Doc.objects.filter(data__n=5)) == ["a"]
    assert titles(Doc.objects.filter(data__ok=True)) == ["a"]
    assert titles(Doc.objects.filter(data__ok=False)) == ["b"]
    assert titles(Doc.objects.filter(data__addr__city="Paris")) == ["b"]
    assert titles(Doc.objects.filter(data__addr__zip__startswith="69")) == ["a"]
    assert titles(Doc.objects.filter(data__name__icontains="BO")) == ["b"]
    assert titles(Doc.objects.filter(data__name__in=["Ann", "bob"])) == ["a", "b"]
    assert titles(Doc.objects.filter(data__addr__zip__isnull=True)) == ["b", "c", "d", "e"]
    assert titles(Doc.objects.filter(data__tags__0="x")) == ["a"]
    # text comparison: "10" < "5"; cast for numeric ordering
    assert titles(Doc.objects.filter(data__n__lt="5")) == ["b"]


def test_key_values_in_values(docs):
    rows = dict(Doc.objects.filter(title__in=["a", "b"]).values_list("title", "data__addr__city"))
    assert rows == {"a": "Lyon", "b": "Paris"}


def test_containment(docs):
    assert titles(Doc.objects.filter(data__contains={"addr": {"city": "Lyon"}})) == ["a"]
    assert titles(Doc.objects.filter(data__contains={"tags": ["y"]})) == ["a", "b"]
    assert titles(Doc.objects.filter(data__tags__contains=["x"])) == ["a"]
    assert titles(Doc.objects.filter(data__contains=["x"])) == ["c"]
    assert titles(Doc.objects.filter(data__contained_by={"name": "bob", "n": 10, "ok": False,
                                                          "tags": ["y"], "addr": {"city": "Paris"},
                                                          "extra": 1})) == ["b"]


def test_key_lookups(docs):
    assert titles(Doc.objects.filter(data__has_key="addr")) == ["a", "b"]
    assert titles(Doc.objects.filter(data__json_has_key="addr")) == ["a", "b"]
    assert titles(Doc.objects.filter(data__has_keys=["name", "addr"])) == ["a", "b"]
    assert titles(Doc.objects.filter(data__json_has_all=["name", "nope"])) == []
    assert titles(Doc.objects.filter(data__has_any_keys=["nope", "n"])) == ["a", "b"]
    assert titles(Doc.objects.filter(data__json_has_any=["nope"])) == []
    assert titles(Doc.objects.filter(data__addr__has_key="zip")) == ["a"]
    # a key name with quotes is a bound value, not SQL
    assert titles(Doc.objects.filter(data__has_key="x' OR '1'='1")) == []


def test_update_and_null(docs):
    Doc.objects.filter(title="e").update(data={"new": [1, 2]})
    assert Doc.objects.get(title="e").data == {"new": [1, 2]}
    Doc.objects.filter(title="e").update(data=None)
    assert Doc.objects.filter(data__isnull=True).count() == 1


def test_pg_only_lookups_fail_clearly_elsewhere(tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite",
                                                       "NAME": str(tmp_path / "x.db")}}), \
            pytest.raises(NotSupportedError, match="has_keys.*SQLite.*postgresql"):
        list(Doc.objects.filter(data__has_keys=["a"]))
