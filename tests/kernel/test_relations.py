"""Relations: FK / O2O / M2M, joins, related managers, loading, on_delete."""
import pytest

import dorm
from dorm import Count, Prefetch

from .relmodels import (Author, Book, Category, Chapter, Profile, Publisher, Tag, Tagged,
                        TaggedItem, RELATION_MODELS)

MODELS = RELATION_MODELS


@pytest.fixture
def library(db):
    p1 = Publisher.objects.create(name="Acme")
    p2 = Publisher.objects.create(name="Other")
    a1 = Author.objects.create(name="Ann", publisher=p1)
    a2 = Author.objects.create(name="Bob", publisher=p2)
    a3 = Author.objects.create(name="Cid")
    b1 = Book.objects.create(title="Alpha", author=a1, pages=100)
    b2 = Book.objects.create(title="Beta", author=a1, editor=a2, pages=200)
    b3 = Book.objects.create(title="Gamma", author=a2, pages=300)
    t1, t2 = Tag.objects.create(name="sci"), Tag.objects.create(name="fun")
    b1.tags.add(t1, t2)
    b2.tags.add(t2)
    return dict(p1=p1, p2=p2, a1=a1, a2=a2, a3=a3, b1=b1, b2=b2, b3=b3, t1=t1, t2=t2)


def titles(qs):
    return sorted(b.title for b in qs)


def test_forward_fk_access_and_id(library):
    b = Book.objects.get(title="Beta")
    assert b.author_id == library["a1"].pk
    assert b.author.name == "Ann" and b.editor.name == "Bob"
    assert Book.objects.get(title="Alpha").editor is None
    b.author = library["a2"]
    assert b.author_id == library["a2"].pk
    b.author_id = library["a1"].pk
    assert b.author.name == "Ann"  # cache dropped when the id changed
    with pytest.raises(ValueError):
        b.author = library["t1"]


def test_filters_across_relations(library):
    assert titles(Book.objects.filter(author__name="Ann")) == ["Alpha", "Beta"]
    assert titles(Book.objects.filter(author__publisher__name="Other")) == ["Gamma"]
    assert titles(Book.objects.filter(editor__isnull=True)) == ["Alpha", "Gamma"]
    assert titles(Book.objects.filter(author=library["a2"])) == ["Gamma"]
    assert titles(Book.objects.filter(author__in=[library["a2"]])) == ["Gamma"]
    assert sorted(a.name for a in Author.objects.filter(books__pages__gt=150).distinct()) == ["Ann", "Bob"]
    assert sorted(a.name for a in Author.objects.filter(books__isnull=True)) == ["Cid"]
    assert titles(Book.objects.filter(tags__name="fun")) == ["Alpha", "Beta"]
    assert sorted(t.name for t in Tag.objects.filter(book__title="Alpha")) == ["fun", "sci"]
    assert [b.title for b in Book.objects.order_by("author__name", "-pages")] == ["Beta", "Alpha", "Gamma"]
    assert list(Book.objects.filter(title="Beta").values("author__name", "editor__name")) == [
        {"author__name": "Ann", "editor__name": "Bob"}]


def test_exclude_across_multivalued_relation(library):
    # Django semantics: authors with no book titled Alpha
    assert sorted(a.name for a in Author.objects.exclude(books__title="Alpha")) == ["Bob", "Cid"]


def test_count_and_aggregate_with_joins(library):
    assert Book.objects.filter(author__name="Ann").count() == 2
    assert Book.objects.filter(author__name="Ann").update(pages=1) == 2
    rows = Author.objects.annotate(n=Count("books")).order_by("name").values_list("name", "n")
    assert list(rows) == [("Ann", 2), ("Bob", 1), ("Cid", 0)]
    assert list(Author.objects.annotate(n=Count("books")).filter(n__gte=2).values_list("name", flat=True)) == ["Ann"]
    grouped = list(Book.objects.values("author__name").annotate(n=Count("id")).order_by("author__name"))
    assert grouped == [{"author__name": "Ann", "n": 2}, {"author__name": "Bob", "n": 1}]


def test_reverse_manager(library):
    a1 = library["a1"]
    assert titles(a1.books.all()) == ["Alpha", "Beta"]
    assert a1.books.count() == 2
    assert a1.books.filter(pages__gt=150).get().title == "Beta"
    c = a1.books.create(title="Delta", pages=5)
    assert c.author_id == a1.pk
    a3 = library["a3"]
    a3.books.add(c)
    assert titles(a3.books.all()) == ["Delta"]
    ed = library["a2"]
    assert titles(ed.edited.all()) == ["Beta"]
    ed.edited.remove(library["b2"])
    assert list(ed.edited.all()) == []
    ed.edited.set([library["b1"], library["b3"]])
    assert titles(ed.edited.all()) == ["Alpha", "Gamma"]
    ed.edited.clear()
    assert ed.edited.count() == 0
    with pytest.raises(ValueError):
        a1.books.clear()  # non-nullable FK


def test_m2m_manager(library):
    b3 = library["b3"]
    assert list(b3.tags.all()) == []
    b3.tags.add(library["t1"], library["t1"].pk)
    assert [t.name for t in b3.tags.all()] == ["sci"]
    b3.tags.set([library["t2"]])
    assert [t.name for t in b3.tags.all()] == ["fun"]
    new = b3.tags.create(name="new")
    assert sorted(t.name for t in b3.tags.all()) == ["fun", "new"]
    assert [b.title for b in new.book_set.all()] == ["Gamma"]
    b3.tags.remove(new)
    assert b3.tags.count() == 1
    b3.tags.clear()
    assert b3.tags.count() == 0
    with pytest.raises(TypeError):
        b3.tags = []


def test_m2m_through_model(db):
    c = Category.objects.create(name="c")
    t = Tag.objects.create(name="t")
    Tagged.objects.create(category=c, tag=t, weight=3)
    assert [x.name for x in c.tags.all()] == ["t"]
    c.tags.add(Tag.objects.create(name="u"), through_defaults={"weight": 9})
    assert Tagged.objects.get(tag__name="u").weight == 9


def test_self_reference_and_o2o(db):
    root = Chapter.objects.create(title="root")
    kid = Chapter.objects.create(title="kid", parent=root)
    assert kid.parent.title == "root"
    assert [c.title for c in root.children.all()] == ["kid"]
    assert [c.title for c in Chapter.objects.filter(parent__title="root")] == ["kid"]
    a = Author.objects.create(name="P")
    Profile.objects.create(author=a, bio="hi")
    assert Author.objects.get(pk=a.pk).profile.bio == "hi"
    lone = Author.objects.create(name="Q")
    with pytest.raises(Profile.DoesNotExist):
        lone.profile
    assert Author.objects.filter(profile__bio="hi").get().name == "P"


def test_select_related_and_prefetch(library, db):
    queries = []

    def count(sender, **kw):
        queries.append(kw.get("sql"))

    dorm.signals.pre_query.connect(count)
    try:
        books = list(Book.objects.select_related("author__publisher", "editor").order_by("title"))
        n = len(queries)
        assert [b.author.name for b in books] == ["Ann", "Ann", "Bob"]
        assert books[0].author.publisher.name == "Acme"
        assert books[0].editor is None and books[1].editor.name == "Bob"
        assert len(queries) == n == 1
        queries.clear()
        authors = list(Author.objects.order_by("name").prefetch_related("books__tags", "publisher"))
        assert len(queries) == 4
        assert [titles(a.books.all()) for a in authors] == [["Alpha", "Beta"], ["Gamma"], []]
        assert sorted(t.name for t in authors[0].books.all()[0].tags.all()) in (["fun", "sci"], ["fun"])
        assert authors[0].publisher.name == "Acme" and authors[2].publisher is None
        assert len(queries) == 4
        queries.clear()
        authors = list(Author.objects.prefetch_related(
            Prefetch("books", queryset=Book.objects.filter(pages__gt=150), to_attr="long_books")))
        by_name = {a.name: [b.title for b in a.long_books] for a in authors}
        assert by_name == {"Ann": ["Beta"], "Bob": ["Gamma"], "Cid": []}
        assert len(queries) == 2
    finally:
        dorm.signals.pre_query.disconnect(count)


def test_a_level_named_twice_is_fetched_once(library):
    from dorm.test import assert_num_queries

    with assert_num_queries(3):  # authors, books, tags
        authors = list(Author.objects.order_by("name").prefetch_related("books", "books__tags"))
        assert [titles(a.books.all()) for a in authors] == [["Alpha", "Beta"], ["Gamma"], []]
        assert sorted(t.name for t in authors[0].books.all()[0].tags.all()) in (["fun", "sci"], ["fun"])


def test_prefetch_related_objects(library):
    books = list(Book.objects.order_by("title"))
    dorm.prefetch_related_objects(books, "author")
    assert all("author" in b._state.fields_cache for b in books)


def test_on_delete(library, db):
    a1, a2 = library["a1"], library["a2"]
    # SET_NULL: deleting the editor clears Book.editor
    deleted, per_model = a2.delete()
    assert per_model["relations.Author"] == 1 and per_model["relations.Book"] == 1  # Gamma cascades
    assert Book.objects.get(title="Beta").editor_id is None
    # PROTECT: a publisher with authors cannot go
    with pytest.raises(dorm.ProtectedError):
        library["p1"].delete()
    # CASCADE through queryset delete, junction rows go too
    n, per_model = Author.objects.filter(pk=a1.pk).delete()
    assert per_model["relations.Book"] == 2
    assert Book.objects.count() == 0
    assert Book.tags.through.objects.count() == 0


def test_restrict(db):
    c = Category.objects.create(name="x")
    TaggedItem.objects.create(category=c, label="y")
    with pytest.raises(dorm.RestrictedError):
        c.delete()


async def test_async_relations(library):
    a1 = library["a1"]
    b = await Book.objects.select_related("author").aget(title="Alpha")
    assert b.author.name == "Ann"
    lazy = await Book.objects.aget(title="Beta")
    with pytest.raises(dorm.NotSupportedError):
        lazy.author
    author = await lazy.aget_related("author")
    assert author.name == "Ann" and lazy.author is author
    new = await a1.books.acreate(title="Async", pages=1)
    assert await a1.books.acount() == 3
    await new.tags.aadd(library["t1"])
    assert [t.name async for t in new.tags.all()] == ["sci"]
    await new.tags.aclear()
    assert await new.tags.acount() == 0


def test_string_and_ambiguous_references():
    class Node(dorm.Model):
        parent = dorm.ForeignKey("self", null=True, on_delete=dorm.CASCADE)

        class Meta:
            app_label = "graph"

    assert Node._meta.get_field("parent").related_model is Node
    with pytest.raises(ValueError):
        dorm.ForeignKey("x", on_delete="EXPLODE")


def test_meta_ordering_across_a_relation(library):
    class OrderedBook(dorm.Model):
        title = dorm.CharField(max_length=30)
        author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="+")

        class Meta:
            app_label = "relations"
            db_table = "relations_book"
            managed = False
            ordering = ["-author__name", "title"]

    assert [b.title for b in OrderedBook.objects.all()] == ["Gamma", "Alpha", "Beta"]
    assert [b.title for b in OrderedBook.objects.all()] == ["Gamma", "Alpha", "Beta"]  # cached path
    assert OrderedBook.objects.first().title == "Gamma"
