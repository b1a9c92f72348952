"""Full-text search and trigram similarity (dorm.search) on the real server."""
from __future__ import annotations

import dorm
import pytest
from dorm.exceptions import ImproperlyConfigured, NotSupportedError
from dorm.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVector,
    TrigramDistance,
    TrigramSimilarity,
    TrigramWordSimilarity,
    search_index,
    trigram_index,
)


class Article(dorm.Model):
    title = dorm.CharField(max_length=200)
    body = dorm.TextField(default="")

    class Meta:
        app_label = "pg_search"


class Person(dorm.Model):
    name = dorm.CharField(max_length=100)

    class Meta:
        app_label = "pg_search"


MODELS = [Article, Person]


@pytest.fixture
def db(pg):
    pg.execute_write("CREATE EXTENSION IF NOT EXISTS pg_trgm", ())
    Article.objects.bulk_create([
        Article(title="Cats and dogs", body="The quick brown fox jumps over the lazy dog."),
        Article(title="Cooking pasta", body="Boil water, add salt, cook the pasta. Dogs love it."),
        Article(title="Dog training", body="Training a dog takes patience; dogs dogs dogs."),
        Article(title="Gardening", body="Tomatoes need sun and water."),
    ])
    Person.objects.bulk_create([Person(name=n) for n in ("Alice", "Alicia", "Bob", "Robert")])
    return pg


def sql_of(qs):
    from dorm.db import connections
    from dorm.query.compiler import SQLCompiler

    return SQLCompiler(qs.query, connections["default"]).as_sql()


def titles(qs):
    return sorted(qs.values_list("title", flat=True))


def test_search_lookup_uses_settings_config(db):
    assert titles(Article.objects.filter(body__search="dogs")) == [
        "Cats and dogs", "Cooking pasta", "Dog training"]
    assert titles(Article.objects.filter(body__search=SearchQuery("water & !salt", search_type="raw"))) \
        == ["Gardening"]
    with dorm.settings.override(SEARCH_CONFIG="simple"):   # no stemming: 'dog' != 'dogs'
        assert titles(Article.objects.filter(body__search="dog")) == ["Cats and dogs", "Dog training"]


def test_vector_filter_and_rank_order(db):
    vector = SearchVector("title", weight="A") + SearchVector("body", weight="B")
    qs = (Article.objects.annotate(v=vector, rank=SearchRank(vector, SearchQuery("dog")))
          .filter(v=SearchQuery("dog")).order_by("-rank"))
    rows = list(qs.values_list("title", "rank"))
    assert [t for t, _ in rows][0] == "Dog training"
    assert {t for t, _ in rows} == {"Dog training", "Cats and dogs", "Cooking pasta"}
    assert rows[0][1] > rows[-1][1] > 0
    cd = Article.objects.annotate(r=SearchRank(SearchVector("body"), SearchQuery("dog"),
                                               cover_density=True)).order_by("-r").first()
    assert cd.title == "Dog training"


def test_query_types_and_combinations(db):
    vec = SearchVector("title", "body")
    def match(q):
        return titles(Article.objects.annotate(v=vec).filter(v=q))
    assert match(SearchQuery('"lazy dog" -cats', search_type="websearch")) == []
    assert match(SearchQuery('"lazy dog"', search_type="websearch")) == ["Cats and dogs"]
    assert match(SearchQuery("brown fox", search_type="phrase")) == ["Cats and dogs"]
    assert match(SearchQuery("fox brown", search_type="phrase")) == []
    assert match(SearchQuery("dog") & SearchQuery("pasta")) == ["Cooking pasta"]
    assert match(SearchQuery("tomatoes") | SearchQuery("pasta")) == ["Cooking pasta", "Gardening"]
    assert match(~SearchQuery("dog")) == ["Gardening"]
    assert match(SearchQuery("dog", invert=True)) == ["Gardening"]
    assert match(SearchQuery("dog") & ~SearchQuery("pasta")) == ["Cats and dogs", "Dog training"]
    # the value is bound: quotes and SQL are just text
    assert match(SearchQuery("x'); DROP TABLE pg_search_article; --")) == []
    assert Article.objects.count() == 4


def test_headline_options_are_bound(db):
    art = Article.objects.annotate(h=SearchHeadline("body", SearchQuery("fox"), start_sel="<b>",
                                                    stop_sel="</b>")).get(title="Cats and dogs")
    assert "<b>fox</b>" in art.h
    tricky = SearchHeadline("body", SearchQuery("fox"), StartSel="'<i \"x\">", StopSel="</i>'")
    sql, params = sql_of(Article.objects.annotate(h=tricky))
    assert "<i" not in sql and any("StartSel=" in str(p) for p in params)
    art = Article.objects.annotate(h=tricky).get(title="Cats and dogs")
    assert "'<i \"x\">fox</i>'" in art.h
    with pytest.raises(ImproperlyConfigured):
        SearchHeadline("body", SearchQuery("x"), **{"StartSel=1, x": "y"})
    with pytest.raises(ImproperlyConfigured):
        SearchVector("body", config="english'; drop")


def test_trigram(db):
    qs = Person.objects.annotate(s=TrigramSimilarity("name", "alise")).filter(s__gt=0.2).order_by("-s")
    assert qs.first().name == "Alice"
    assert sorted(Person.objects.filter(name__trigram_similar="alise").values_list("name", flat=True)) \
        == ["Alice", "Alicia"]
    near = Person.objects.annotate(d=TrigramDistance("name", "Robrt")).order_by("d").first()
    assert near.name == "Robert"
    w = Person.objects.annotate(w=TrigramWordSimilarity("bob", "name")).order_by("-w").first()
    assert w.name == "Bob"
    assert "Bob" in Person.objects.filter(name__trigram_word_similar="bob").values_list("name", flat=True)
    with pytest.raises(ImproperlyConfigured):
        TrigramSimilarity("name", 3)


def _plan(conn, qs):
    conn.execute_write("SET LOCAL enable_seqscan = off", ())
    return qs.explain()


def test_search_index_matches_lookup_and_vector(db):
    Article.objects.bulk_create([Article(title=f"filler {i}", body=f"lorem ipsum {i}") for i in range(2000)])
    db.execute_write(search_index("pg_search_article", "body"), ())
    db.execute_write(search_index("pg_search_article", "title", "body", name="ix_art_tb"), ())
    db.execute_write("ANALYZE pg_search_article", ())
    with dorm.transaction.atomic():
        plan = _plan(db, Article.objects.filter(body__search="dogs"))
        assert "ix_pg_search_article_body_search" in plan, plan
        qs = Article.objects.annotate(v=SearchVector("title", "body")).filter(v=SearchQuery("dog"))
        plan = _plan(db, qs)
        assert "ix_art_tb" in plan, plan
    assert titles(Article.objects.filter(body__search="dogs")) == [
        "Cats and dogs", "Cooking pasta", "Dog training"]
    db.execute_write(trigram_index("pg_search_person", "name"), ())
    assert 'gin_trgm_ops' in trigram_index("pg_search_person", "name")


def test_not_supported_on_sqlite(tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "s.db")}}):
        try:
            dorm.create_tables([Article])
            with pytest.raises(NotSupportedError, match="SQLite"):
                list(Article.objects.filter(body__search="dog"))
            with pytest.raises(NotSupportedError, match="SQLite"):
                list(Article.objects.annotate(r=SearchRank(SearchVector("body"), SearchQuery("x"))))
            with pytest.raises(NotSupportedError, match="SQLite"):
                list(Article.objects.filter(title__trigram_similar="x"))
        finally:
            from dorm.db import connections
            connections.close_all()
