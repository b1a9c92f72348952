"""Expressions, functions, window functions, subqueries and set operations on every backend."""
import datetime
import decimal

import pytest

import dorm
from dorm import (Abs, Case, Cast, Coalesce, Concat, Count, DenseRank, Exists, ExpressionWrapper,
                  Extract, F, Greatest, Lag, Lead, Least, Length, Lower, Max, Mod, Now, OuterRef,
                  Power, Q, Rank, Replace, Round, RowNumber, Subquery, Substr, Sum, Trim, Trunc,
                  TruncMonth, Upper, Value, When, Window)
from dorm.exceptions import FieldError, NotSupportedError, TransactionManagementError
from dorm.test import assert_num_queries

from .models import Product
from .relmodels import RELATION_MODELS, Author, Book, Chapter, Publisher, Tag

MODELS = [*RELATION_MODELS, Product]


@pytest.fixture
def books(db):
    acme = Publisher.objects.create(name="Acme")
    ann = Author.objects.create(name="Ann", publisher=acme)
    bob = Author.objects.create(name="Bob")
    Book.objects.bulk_create([
        Book(title="alpha", pages=100, author=ann),
        Book(title="beta", pages=250, author=ann),
        Book(title="gamma", pages=300, author=bob),
        Book(title=" delta ", pages=50, author=bob),
    ])
    return {"ann": ann, "bob": bob}


def by_title(qs, attr):
    return {b.title: getattr(b, attr) for b in qs}


def test_case_when(books):
    qs = Book.objects.annotate(size=Case(
        When(pages__gte=250, then=Value("long")),
        When(pages__lt=100, then=Value("short")),
        default=Value("medium"),
    ))
    assert by_title(qs, "size") == {"alpha": "medium", "beta": "long", "gamma": "long", " delta ": "short"}
    n = Book.objects.aggregate(n=Count(Case(When(author__name="Ann", then=1))))["n"]
    assert n == 2


def test_string_functions(books):
    qs = Book.objects.annotate(
        up=Upper("title"), low=Lower(Value("ABC")), n=Length("title"), t=Trim("title"),
        s=Substr("title", 1, 3), r=Replace("title", Value("a"), Value("4")),
        full=Concat("title", Value("-"), "author__name"),
    ).order_by("id")
    rows = [(b.up, b.low, b.n, b.t, b.s, b.r, b.full) for b in qs]
    assert rows[0] == ("ALPHA", "abc", 5, "alpha", "alp", "4lph4", "alpha-Ann")
    assert rows[3][3] == "delta" and rows[3][2] == 7


def test_math_and_comparison_functions(books):
    qs = Book.objects.annotate(
        neg=Abs(F("pages") - 400), half=Round(F("pages") / 3.0, 1), m=Mod("pages", 7),
        sq=Power("pages", 2), hi=Greatest("pages", Value(200)), lo=Least("pages", Value(200)),
        c=Coalesce("editor_id", Value(-1)),
    ).order_by("id")
    b = qs[0]
    assert (b.neg, b.m, b.sq, b.hi, b.lo, b.c) == (300, 2, 10000, 200, 100, -1)
    assert float(b.half) == pytest.approx(33.3)
    assert list(Book.objects.annotate(w=ExpressionWrapper(F("pages") * 2, output_field=dorm.IntegerField()))
                .filter(w__gt=500).values_list("title", flat=True)) == ["gamma"]


def test_cast(books):
    row = Book.objects.annotate(p=Cast("pages", dorm.CharField(max_length=10)), q=Cast("pages", "TEXT")).first()
    assert row.p == "100" and row.q == "100"
    with pytest.raises(dorm.ImproperlyConfigured):
        Cast("pages", "TEXT; DROP TABLE x")


def test_dates(db):
    d = datetime.datetime(2026, 5, 17, 10, 30)
    Product.objects.create(name="a", created=d, day=d.date())
    Product.objects.create(name="b", created=d - datetime.timedelta(days=40), day=d.date())
    qs = Product.objects.annotate(y=Extract("created", "year"), m=TruncMonth("created"),
                                  d=Trunc("day", "month"), now=Now()).order_by("name")
    a, b = list(qs)
    assert a.y == 2026 and b.m.month == 4 and a.m == datetime.datetime(2026, 5, 1)
    assert a.d == datetime.date(2026, 5, 1)
    assert a.now is not None
    months = list(Product.objects.annotate(m=TruncMonth("created")).values("m").annotate(n=Count("id")).order_by("m"))
    assert [r["n"] for r in months] == [1, 1]


def test_window_functions(books):
    qs = Book.objects.annotate(
        rn=Window(RowNumber(), partition_by="author", order_by="-pages"),
        rk=Window(Rank(), order_by=F("pages").desc()),
        dr=Window(DenseRank(), order_by="author_id"),
        prev=Window(Lag("pages"), partition_by=["author"], order_by="pages"),
        nxt=Window(Lead("pages", 1, 0), partition_by=["author"], order_by="pages"),
        total=Window(Sum("pages"), partition_by="author"),
    ).order_by("pages")
    rows = {b.title: (b.rn, b.rk, b.dr, b.prev, b.nxt, b.total) for b in qs}
    assert rows["gamma"] == (1, 1, 2, 50, 0, 350)
    assert rows["alpha"] == (2, 3, 1, None, 250, 350)
    with pytest.raises(dorm.ImproperlyConfigured):
        Window(RowNumber())


def test_aggregates_distinct_filter_and_errors(books):
    agg = Book.objects.aggregate(
        authors=Count("author", distinct=True), long=Count("id", filter=Q(pages__gt=200)),
        most=Max("pages"))
    assert agg == {"authors": 2, "long": 2, "most": 300}
    with pytest.raises(FieldError) as exc:
        Book.objects.aggregate(s=Sum("title"))
    assert "title" in str(exc.value) and "CharField" in str(exc.value)
    per_author = dict(Author.objects.annotate(p=Sum("books__pages")).values_list("name", "p"))
    assert per_author == {"Ann": 350, "Bob": 350}


def test_subquery_outerref_exists(books):
    longest = Book.objects.filter(author=OuterRef("pk")).order_by("-pages").values("title")[:1]
    assert dict(Author.objects.annotate(top=Subquery(longest)).values_list("name", "top")) == {
        "Ann": "beta", "Bob": "gamma"}
    has_long = Exists(Book.objects.filter(author=OuterRef("pk"), pages__gt=260))
    assert list(Author.objects.filter(has_long).values_list("name", flat=True)) == ["Bob"]
    assert list(Author.objects.filter(~has_long).values_list("name", flat=True)) == ["Ann"]
    assert sorted(Book.objects.filter(author__in=Author.objects.filter(name="Bob"))
                  .values_list("pages", flat=True)) == [50, 300]
    # self-correlated: books longer than the average of their author's books
    avg = Book.objects.filter(author=OuterRef("author")).values("author").annotate(a=dorm.Avg("pages")).values("a")
    assert sorted(Book.objects.filter(pages__gt=Subquery(avg)).values_list("title", flat=True)) == ["beta", "gamma"]


def test_lookup_is_a_subquery_for_in(books):
    from dorm.test import capture_queries

    with capture_queries() as queries:
        got = sorted(Book.objects.filter(author__in=Author.objects.filter(name="Bob").lookup())
                     .values_list("pages", flat=True))
    assert got == [50, 300] and len(queries) == 1
    by_name = Author.objects.filter(name="Ann").lookup("name")
    assert sorted(Book.objects.filter(author__name__in=by_name).values_list("title", flat=True)) == [
        "alpha", "beta"]
    with pytest.raises(FieldError):
        Author.objects.all().lookup("nope")


def test_set_operations(books):
    a = Book.objects.filter(pages__lt=200).values_list("title", flat=True)
    b = Book.objects.filter(pages__gt=90).values_list("title", flat=True)
    assert sorted(a.union(b)) == [" delta ", "alpha", "beta", "gamma"]
    assert sorted(a.intersection(b)) == ["alpha"]
    assert sorted(a.difference(b)) == [" delta "]
    assert len(list(a.union(b, all=True))) == 5


def test_chained_transforms(books):
    assert list(Book.objects.filter(title__upper__startswith="AL").values_list("title", flat=True)) == ["alpha"]
    assert list(Book.objects.filter(author__name__lower="ann").order_by("id").values_list("title", flat=True)) == [
        "alpha", "beta"]


def test_json_lookups_portable(db):
    Product.objects.create(name="a", data={"k": "x", "n": 3, "tags": ["a", "b"], "sub": {"z": 1}})
    Product.objects.create(name="b", data={"k": "y"})
    assert list(Product.objects.filter(data__has_key="n").values_list("name", flat=True)) == ["a"]
    assert list(Product.objects.filter(data__sub__z=1).values_list("name", flat=True)) == ["a"]
    assert list(Product.objects.filter(data__n__gt=2).values_list("name", flat=True)) == ["a"]
    assert list(Product.objects.filter(data__k__icontains="Y").values_list("name", flat=True)) == ["b"]
    assert list(Product.objects.filter(data__contains={"k": "x", "sub": {"z": 1}}).values_list("name", flat=True)) == ["a"]
    assert list(Product.objects.filter(data__tags__contains=["b"]).values_list("name", flat=True)) == ["a"]
    assert list(Product.objects.filter(data__tags__1="b").values_list("name", flat=True)) == ["a"]
    assert Product.objects.filter(data__contains={"k": "nope"}).count() == 0


def test_select_for_update_rules(books, db):
    qs = Book.objects.select_for_update()
    if not db.features.supports_select_for_update:
        with pytest.raises(NotSupportedError):
            with dorm.transaction.atomic():
                list(qs)
        return
    with pytest.raises(TransactionManagementError):
        list(qs)
    with dorm.transaction.atomic():
        assert len(list(qs.filter(pages__gt=0))) == 4
        assert len(list(Book.objects.select_for_update(no_wait=True).filter(pages=100))) == 1
        assert len(list(Book.objects.select_for_update(nowait=True).filter(pages=100))) == 1


def test_no_n_plus_one(books):
    with assert_num_queries(1):
        assert sorted(b.author.name for b in Book.objects.select_related("author")) == ["Ann", "Ann", "Bob", "Bob"]
    with assert_num_queries(3):
        authors = list(Author.objects.prefetch_related("books", "publisher"))
        assert sum(len(a.books.all()) for a in authors) == 4
        assert [a.publisher.name if a.publisher else None for a in authors] == ["Acme", None]


def test_bad_relation_inputs(books):
    with pytest.raises(FieldError) as exc:
        Book.objects.filter(author__nope="x")
    assert "Author" in str(exc.value) and "name" in str(exc.value)
    with pytest.raises(FieldError):
        Book.objects.select_related("title")
    with pytest.raises(ValueError):
        Book.objects.filter(author=Author(name="unsaved"))
    b = Book(title="x", author=Author(name="unsaved"))
    with pytest.raises(ValueError) as exc:
        b.save()
    assert "author" in str(exc.value)
    assert Book.objects.count() == 4


def test_protect_deletes_nothing(books):
    acme = Publisher.objects.get(name="Acme")
    with pytest.raises(dorm.ProtectedError) as exc:
        acme.delete()
    assert exc.value.protected_objects
    assert Publisher.objects.count() == 1 and Author.objects.count() == 2 and Book.objects.count() == 4


def test_cascade_cycles_terminate(db):
    a = Chapter.objects.create(title="a")
    b = Chapter.objects.create(title="b", parent=a)
    Chapter.objects.filter(pk=a.pk).update(parent=b)  # a cycle in the data: a -> b -> a
    c = Chapter.objects.create(title="c", parent=b)
    total, per_model = Chapter.objects.get(pk=a.pk).delete()
    assert total == 3 and Chapter.objects.count() == 0
    assert c.pk is not None


def test_decimal_expression_math(db):
    Product.objects.create(name="x", price=decimal.Decimal("2.50"), qty=4)
    total = Product.objects.aggregate(t=Sum(F("price") * F("qty"), output_field=dorm.DecimalField()))["t"]
    assert decimal.Decimal(str(total)) == decimal.Decimal("10.00")


def test_m2m_and_reverse_in_values(books):
    t = Tag.objects.create(name="t")
    t.book_set.add(*Book.objects.filter(pages__gt=200))
    assert sorted(Tag.objects.filter(name="t").values_list("book__title", flat=True)) == ["beta", "gamma"]


def test_order_by_annotation_dropped_by_values_list(books):
    names = list(Book.objects.annotate(d=F("pages") * -1).order_by("d").values_list("title", flat=True))
    assert names == ["gamma", "beta", "alpha", " delta "]
