"""The ``unaccent`` transform on the real server (with the unaccent extension)."""
from __future__ import annotations

import dorm
import pytest
from dorm.db import connections
from dorm.exceptions import NotSupportedError


class Person(dorm.Model):
    name = dorm.CharField(max_length=50)
    bio = dorm.TextField(default="")
    handle = dorm.CITextField(null=True)

    class Meta:
        app_label = "pg_unaccent"


MODELS = [Person]


@pytest.fixture
def db(pg):
    pg.execute_write("CREATE EXTENSION IF NOT EXISTS unaccent", ())
    Person.objects.bulk_create([
        Person(name="Hélène", bio="Née à Besançon", handle="HELENE"),
        Person(name="Helene", bio="born in Paris"),
        Person(name="Héloïse", bio="crème brûlée"),
        Person(name="Zoë", bio=""),
        Person(name="Bob", bio="Creme"),
    ])
    return pg


def names(qs):
    return sorted(qs.values_list("name", flat=True))


def sql_of(qs):
    from dorm.query.compiler import SQLCompiler

    return SQLCompiler(qs.query, connections["default"]).as_sql()


def test_unaccent_exact(db):
    assert names(Person.objects.filter(name__unaccent="Helene")) == ["Helene", "Hélène"]
    assert names(Person.objects.filter(name__unaccent="Hélène")) == ["Helene", "Hélène"]
    assert names(Person.objects.filter(name__unaccent="Zoe")) == ["Zoë"]
    assert names(Person.objects.filter(name__unaccent="zoe")) == []          # still case-sensitive
    assert names(Person.objects.exclude(name__unaccent="helene")) == \
        ["Bob", "Helene", "Héloïse", "Hélène", "Zoë"]
    sql, params = sql_of(Person.objects.filter(name__unaccent="Helene"))
    assert 'unaccent("pg_unaccent_person"."name") = unaccent(%s)' in sql and params == ["Helene"]


def test_unaccent_chains_with_other_lookups(db):
    q = Person.objects
    assert names(q.filter(name__unaccent__iexact="HELENE")) == ["Helene", "Hélène"]
    assert names(q.filter(name__unaccent__icontains="ELO")) == ["Héloïse"]
    assert names(q.filter(name__unaccent__contains="elo")) == ["Héloïse"]
    assert names(q.filter(name__unaccent__startswith="Hél")) == ["Helene", "Héloïse", "Hélène"]
    assert names(q.filter(name__unaccent__iendswith="ÈNE")) == ["Helene", "Hélène"]
    assert names(q.filter(name__unaccent__in=["Zoé", "Hèlene", "nobody"])) == \
        ["Helene", "Hélène", "Zoë"]
    assert names(q.filter(bio__unaccent__icontains="creme")) == ["Bob", "Héloïse"]
    assert names(q.filter(bio__unaccent__icontains="besancon")) == ["Hélène"]
    assert names(q.filter(name__unaccent__gt="Helene")) == ["Héloïse", "Zoë"]
    # a LIKE wildcard in the value is a literal character, accents or not
    assert names(q.filter(name__unaccent__contains="%")) == []
    # on a case-insensitive column the transform works the same (unaccent() returns text)
    assert names(q.filter(handle__unaccent="HELENE")) == ["Hélène"]


def test_unaccent_value_is_bound(db):
    evil = "x') OR 1=1 --"
    assert names(Person.objects.filter(name__unaccent=evil)) == []
    sql, params = sql_of(Person.objects.filter(name__unaccent__icontains=evil))
    assert evil not in sql and any(evil in str(p) for p in params)


def test_not_supported_elsewhere(tmp_path):
    db = {"ENGINE": "sqlite", "NAME": str(tmp_path / "u.db")}
    with dorm.settings.override(DATABASES={"default": db}):
        try:
            dorm.create_tables([Person])
            with pytest.raises(NotSupportedError, match="SQLite"):
                list(Person.objects.filter(name__unaccent="Helene"))
            with pytest.raises(NotSupportedError, match="SQLite"):
                list(Person.objects.filter(bio__unaccent__icontains="creme"))
        finally:
            connections.close_all()
