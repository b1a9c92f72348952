"""The QuerySet API on every installed backend."""
import datetime
import decimal
import threading

import pytest

import dorm
from dorm import Avg, Count, F, Max, Min, Q, Sum
from dorm.exceptions import FieldDoesNotExist, FieldError

from .models import ALL, NOW, Article, Color, Pair, Product, Tag

MODELS = ALL


@pytest.fixture
def products(db):
    rows = [
        Product(name="pen", price="1.20", qty=10, created=NOW, day=NOW.date(), data={"k": "a", "n": 1},
                color=Color.RED),
        Product(name="Pencil", price="0.80", qty=5, created=NOW - datetime.timedelta(days=40),
                day=datetime.date(2026, 2, 1), data={"k": "b", "n": 2}),
        Product(name="paper", price="5.00", qty=0, active=False, note="A4 100% recycled_x"),
        Product(name="ink", price="12.50", qty=3, color=Color.GREEN),
    ]
    return Product.objects.bulk_create(rows)


def names(qs):
    return [p.name for p in qs]


def test_seed_smoke(db):
    """The 3.3 smoke test, as written in the issue."""
    class A(dorm.Model):
        name = dorm.CharField(max_length=10)

        class Meta:
            app_label = "smoke"

    dorm.create_tables([A])
    try:
        A.objects.create(name="x")
        assert [a.name for a in A.objects.filter(name__icontains="x")] == ["x"]
        A.objects.bulk_create([A(name=f"n{i}") for i in range(10)])
        assert A.objects.count() == 11
    finally:
        dorm.drop_tables([A])


def test_create_get_and_pk(db):
    p = Product.objects.create(name="a", price="2.50")
    assert p.pk is not None and p.id == p.pk
    got = Product.objects.get(pk=p.pk)
    assert got == p and got.name == "a" and got.price == decimal.Decimal("2.50")
    assert got._state.db == "default" and got._state.adding is False
    assert Product.objects.get(id=p.pk).name == "a"
    with pytest.raises(Product.DoesNotExist):
        Product.objects.get(pk=p.pk + 100)
    assert issubclass(Product.DoesNotExist, dorm.DoesNotExist)
    # Django code catches ObjectDoesNotExist; reference code catches DoesNotExist
    from dorm.exceptions import ObjectDoesNotExist

    with pytest.raises(ObjectDoesNotExist):
        Product.objects.get(pk=p.pk + 100)


def test_bulk_create_backfills_pks(products):
    assert all(p.pk is not None for p in products)
    assert len({p.pk for p in products}) == 4
    assert Product.objects.count() == 4


def test_filter_lookups(products):
    assert names(Product.objects.filter(name__icontains="PEN")) == ["pen", "Pencil"]
    assert names(Product.objects.filter(name__contains="pen")) == ["pen"]
    assert names(Product.objects.filter(name__startswith="pa")) == ["paper"]
    assert names(Product.objects.filter(name__istartswith="PE")) == ["pen", "Pencil"]
    assert names(Product.objects.filter(name__endswith="il")) == ["Pencil"]
    assert names(Product.objects.filter(name__iendswith="IL")) == ["Pencil"]
    assert names(Product.objects.filter(name__iexact="PENCIL")) == ["Pencil"]
    assert names(Product.objects.filter(qty__gt=3)) == ["pen", "Pencil"]
    assert names(Product.objects.filter(qty__gte=3, qty__lte=5)) == ["Pencil", "ink"]
    assert names(Product.objects.filter(qty__lt=3)) == ["paper"]
    assert names(Product.objects.filter(qty__in=[0, 3, 99])) == ["paper", "ink"]
    assert names(Product.objects.filter(qty__in=(x for x in [10]))) == ["pen"]
    assert list(Product.objects.filter(qty__in=[])) == []
    assert names(Product.objects.filter(qty__range=(1, 5))) == ["Pencil", "ink"]
    assert names(Product.objects.filter(note__isnull=False)) == ["paper"]
    assert names(Product.objects.filter(note=None)) == ["pen", "Pencil", "ink"]
    assert names(Product.objects.filter(name__regex=r"^p.n")) == ["pen"]
    assert names(Product.objects.filter(name__iregex=r"^P.N")) == ["pen", "Pencil"]
    assert names(Product.objects.filter(price__gt="1.00")) == ["pen", "paper", "ink"]


def test_like_escaping(products):
    assert names(Product.objects.filter(note__contains="100%")) == ["paper"]
    assert names(Product.objects.filter(note__contains="d_x")) == ["paper"]
    assert list(Product.objects.filter(note__contains="0_%")) == []
    assert list(Product.objects.filter(name__contains="%")) == []


def test_date_transforms(products):
    assert names(Product.objects.filter(created__year=2026)) == ["pen", "Pencil"]
    assert names(Product.objects.filter(created__month=3)) == ["pen"]
    assert names(Product.objects.filter(created__year__gte=2026, created__month__lt=3)) == ["Pencil"]
    assert names(Product.objects.filter(created__day=14)) == ["pen"]
    # 2026-03-14 is a Saturday: week_day 6 (0 = Sunday)
    assert names(Product.objects.filter(created__week_day=6)) == ["pen"]
    assert names(Product.objects.filter(created__hour=15, created__minute=9)) == ["pen", "Pencil"]
    assert names(Product.objects.filter(created__date=NOW.date())) == ["pen"]
    assert names(Product.objects.filter(day__year=2026, day__month=2)) == ["Pencil"]


def test_json_keys(products):
    assert names(Product.objects.filter(data__k="b")) == ["Pencil"]
    assert names(Product.objects.filter(data__k__in=["a", "b"])) == ["pen", "Pencil"]
    assert Product.objects.get(name="pen").data == {"k": "a", "n": 1}


def test_q_objects(products):
    qs = Product.objects.filter(Q(name="pen") | Q(qty=0))
    assert names(qs) == ["pen", "paper"]
    assert names(Product.objects.filter(~Q(name="pen"))) == ["Pencil", "paper", "ink"]
    assert names(Product.objects.filter(Q(qty__gt=1) & ~Q(name__startswith="p"))) == ["Pencil", "ink"]
    assert names(Product.objects.filter(Q(name="pen") ^ Q(qty__gt=4))) == ["Pencil"]
    assert Product.objects.filter(Q()).count() == 4
    with pytest.raises(TypeError):
        Q(name="x") & 3


def test_exclude_includes_nulls(products):
    assert names(Product.objects.exclude(note="A4 100% recycled_x")) == ["pen", "Pencil", "ink"]
    assert names(Product.objects.exclude(qty__gt=3)) == ["paper", "ink"]


def test_f_expressions(products):
    assert names(Product.objects.filter(qty__gt=F("price"))) == ["pen", "Pencil"]
    Product.objects.filter(name="pen").update(qty=F("qty") + 5)
    assert Product.objects.get(name="pen").qty == 15
    Product.objects.update(qty=F("qty") * 2)
    assert sorted(Product.objects.values_list("qty", flat=True)) == [0, 6, 10, 30]


def test_f_rhs_arithmetic_matches_python(products):
    expected = sorted(p.name for p in Product.objects.all() if p.id > p.qty + 1)
    got = sorted(names(Product.objects.filter(id__gt=F("qty") + 1)))
    assert got == expected


def test_ordering_slicing_first_last(products):
    assert names(Product.objects.order_by("-price")) == ["ink", "paper", "pen", "Pencil"]
    assert names(Product.objects.order_by("active", "-qty")) == ["paper", "pen", "Pencil", "ink"]
    assert names(Product.objects.order_by("qty").reverse()) == ["pen", "Pencil", "ink", "paper"]
    assert names(Product.objects.all()[1:3]) == ["Pencil", "paper"]
    assert Product.objects.all()[2].name == "paper"
    assert Product.objects.first().name == "pen"
    assert Product.objects.last().name == "ink"
    assert Product.objects.order_by("price").first().name == "Pencil"
    assert Product.objects.filter(qty=999).first() is None
    with pytest.raises(ValueError):
        Product.objects.all()[-1]
    with pytest.raises(IndexError):
        Product.objects.all()[10]
    assert Product.objects.latest("price").name == "ink"
    assert Product.objects.earliest("price").name == "Pencil"


def test_count_exists_distinct(products):
    assert Product.objects.count() == 4
    assert Product.objects.filter(active=True).count() == 3
    assert Product.objects.all()[:2].count() == 2
    assert Product.objects.all()[3:].count() == 1
    assert Product.objects.values("active").distinct().count() == 2
    assert Product.objects.filter(name="pen").exists()
    assert not Product.objects.filter(name="nope").exists()
    assert not Product.objects.none().exists()
    assert Product.objects.none().count() == 0
    assert list(Product.objects.none()) == []


def test_values_and_values_list(products):
    rows = list(Product.objects.filter(name="pen").values("name", "qty"))
    assert rows == [{"name": "pen", "qty": 10}]
    full = Product.objects.filter(name="ink").values()[0]
    assert full["name"] == "ink" and full["price"] == decimal.Decimal("12.50")
    assert list(Product.objects.values_list("name", flat=True)) == ["pen", "Pencil", "paper", "ink"]
    assert Product.objects.values_list("name", "qty")[0] == ("pen", 10)
    row = Product.objects.values_list("name", "qty", named=True)[0]
    assert row.name == "pen" and row.qty == 10
    with pytest.raises(TypeError):
        Product.objects.values_list("name", "qty", flat=True)
    with pytest.raises(TypeError):
        Product.objects.values_list("name", flat=True, named=True)


def test_aggregates(products):
    agg = Product.objects.aggregate(total=Sum("price"), n=Count("id"), hi=Max("qty"), lo=Min("qty"),
                                    avg=Avg("qty"))
    assert agg["total"] == decimal.Decimal("19.50") and isinstance(agg["total"], decimal.Decimal)
    assert agg["n"] == 4 and agg["hi"] == 10 and agg["lo"] == 0 and agg["avg"] == 4.5
    assert Product.objects.filter(qty=-1).aggregate(s=Sum("qty"))["s"] is None
    assert Product.objects.filter(qty=-1).aggregate(s=Sum("qty", default=0))["s"] == 0
    assert Product.objects.aggregate(n=Count("id", filter=Q(active=True)))["n"] == 3
    assert Product.objects.order_by("qty")[:2].aggregate(s=Sum("qty"))["s"] == 3


def test_decimal_sum_exact(db):
    Product.objects.bulk_create([Product(name=f"p{i}", price="0.10") for i in range(30)])
    assert Product.objects.aggregate(s=Sum("price"))["s"] == decimal.Decimal("3.00")


def test_group_by_values_annotate(products):
    rows = list(Product.objects.values("active").annotate(n=Count("id")).order_by("active"))
    assert rows == [{"active": False, "n": 1}, {"active": True, "n": 3}]
    having = list(Product.objects.values("active").annotate(n=Count("id")).filter(n__gte=2))
    assert having == [{"active": True, "n": 3}]
    al = Product.objects.values("active").alias(n=Count("id")).filter(n__gte=2).values_list("active", flat=True)
    assert list(al) == [True]


def test_update_and_delete(products):
    assert Product.objects.filter(active=False).update(qty=7, note="x") == 1
    assert Product.objects.get(name="paper").qty == 7
    n, per_model = Product.objects.filter(qty__lt=5).delete()
    assert n == 1 and per_model == {"kernel_tests.Product": 1}
    assert Product.objects.count() == 3
    # sliced delete only deletes the slice
    Product.objects.order_by("id")[:1].delete()
    assert names(Product.objects.all()) == ["Pencil", "paper"]
    p = Product.objects.get(name="paper")
    assert p.delete() == (1, {"kernel_tests.Product": 1})
    assert p.pk is None


def test_save_update_and_update_fields(products):
    p = Product.objects.get(name="pen")
    p.qty = 99
    p.name = "pen2"
    p.save(update_fields=["qty"])
    fresh = Product.objects.get(pk=p.pk)
    assert fresh.qty == 99 and fresh.name == "pen"
    p.save()
    assert Product.objects.get(pk=p.pk).name == "pen2"
    with pytest.raises(ValueError):
        p.save(update_fields=["nope"])


def test_force_update_missing_row_raises(db):
    p = Product(name="ghost", id=12345)
    p._state.adding = False
    with pytest.raises(dorm.DatabaseError):
        p.save(force_update=True)


def test_refresh_and_deferred(products):
    p = Product.objects.only("name").get(name="pen")
    assert "qty" not in p.__dict__
    assert p.qty == 10  # loaded on access
    d = Product.objects.defer("note", "data").get(name="paper")
    assert "note" not in d.__dict__ and d.note == "A4 100% recycled_x"
    Product.objects.filter(pk=p.pk).update(qty=1)
    p.refresh_from_db()
    assert p.qty == 1


def test_get_or_create_update_or_create(db):
    t, created = Tag.objects.get_or_create(name="a", defaults={"slug": "x"})
    assert created and t.slug == "x"
    t2, created = Tag.objects.get_or_create(name="a")
    assert not created and t2.pk == t.pk
    t3, created = Tag.objects.update_or_create(name="a", defaults={"slug": "y"})
    assert not created and Tag.objects.get(pk=t.pk).slug == "y"
    t4, created = Tag.objects.update_or_create(name="b", defaults={"slug": "z"}, create_defaults={"slug": "c"})
    assert created and t4.slug == "c"


def test_get_or_create_concurrent_threads(db):
    results, errors = [], []
    barrier = threading.Barrier(6)

    def worker():
        try:
            barrier.wait()
            obj, _ = Tag.objects.get_or_create(name="race")
            results.append(obj.pk)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(results)) == 1 and len(results) == 6
    assert Tag.objects.filter(name="race").count() == 1


def test_in_bulk_and_bulk_update(products):
    by_pk = Product.objects.in_bulk([products[0].pk, products[1].pk])
    assert set(by_pk) == {products[0].pk, products[1].pk}
    assert Product.objects.in_bulk([]) == {}
    assert len(Product.objects.in_bulk()) == 4
    by_name = Tag.objects.in_bulk(["zz"], field_name="name")
    assert by_name == {}
    for p in products:
        p.qty = p.qty + 100
    assert Product.objects.bulk_update(products, ["qty"]) == 4
    assert sorted(Product.objects.values_list("qty", flat=True)) == [100, 103, 105, 110]
    with pytest.raises(ValueError):
        Product.objects.bulk_update(products, [])


def test_iterator_chunks(db):
    Product.objects.bulk_create([Product(name=f"n{i}", qty=i) for i in range(250)])
    seen = [p.qty for p in Product.objects.order_by("qty").iterator(chunk_size=40)]
    assert seen == list(range(250))


def test_custom_manager(db):
    Article.objects.create(title="a")
    Article.objects.create(title="b", active=False)
    assert Article.live.count() == 1
    assert Article.objects.count() == 2
    with pytest.raises(AttributeError):
        Article.objects.get(title="a").objects


def test_bad_names_are_rejected(db):
    for call in [
        lambda: Product.objects.filter(nme="x"),
        lambda: Product.objects.filter(name__icontain="x"),
        lambda: Product.objects.exclude(**{"name\"; DROP TABLE x; --": 1}),
        lambda: Product.objects.order_by("nope"),
        lambda: Product.objects.values("nope"),
        lambda: Product.objects.values_list("name", "nope"),
        lambda: Product.objects.update(**{"qty = 0; --": 1}),
        lambda: Product.objects.filter(qty=F("qty; DROP")),
        lambda: Product.objects.aggregate(s=Sum("nope")),
        lambda: Product.objects.annotate(x=F("nope")),
    ]:
        with pytest.raises((FieldError, FieldDoesNotExist)) as exc:
            call()
        assert "Product" in str(exc.value) or "Choices" in str(exc.value) or "choices" in str(exc.value)
    with pytest.raises(FieldDoesNotExist):
        Product.objects.only("nope")
    with pytest.raises(TypeError):
        Product.objects.create(nme="x")
    assert Product.objects.count() == 0


def test_unique_together_and_check_constraint_in_db(db):
    Pair.objects.create(a=1, b=2)
    with pytest.raises(dorm.IntegrityError):
        Pair.objects.create(a=1, b=2)
    with pytest.raises(dorm.IntegrityError):
        Pair.objects.create(a=-1, b=3)


def test_decimal_max_digits_enforced(db):
    with pytest.raises(dorm.ValidationError):
        Product.objects.create(name="big", price="1234567.00")
    with pytest.raises(dorm.ValidationError):
        Product.objects.create(name="fine", price="1.234")
    assert Product.objects.count() == 0


def test_enum_roundtrip(products):
    assert Product.objects.get(name="pen").color is Color.RED
    assert names(Product.objects.filter(color=Color.GREEN)) == ["ink"]
    assert names(Product.objects.filter(color="green")) == ["ink"]


def test_union(products):
    qs = Product.objects.filter(name="pen").union(Product.objects.filter(name="ink"))
    assert sorted(names(qs)) == ["ink", "pen"]
    assert qs.count() == 2
    with pytest.raises(TypeError):
        qs.filter(name="x")


def test_raw(products):
    rows = list(Product.objects.raw('SELECT * FROM "kernel_tests_product" WHERE "qty" > %s ORDER BY "id"', [4]))
    assert [r.name for r in rows] == ["pen", "Pencil"]
    assert rows[0].price == decimal.Decimal("1.20")
    with pytest.raises(ValueError):
        Product.objects.raw("SELECT * FROM x WHERE a = %s", [])


def test_repr_and_len(products):
    qs = Product.objects.all()
    assert len(qs) == 4 and bool(qs)
    assert repr(qs).startswith("<QuerySet [")


def test_cursor_paginate_and_helpers(db):
    Product.objects.bulk_create([Product(name=f"p{i:02d}", qty=i, day=datetime.date(2026, 1 + i % 3, 1 + i))
                                 for i in range(25)])
    seen, cursor = [], None
    while True:
        page = Product.objects.cursor_paginate(after=cursor, order_by="qty", page_size=10)
        seen += [p.qty for p in page]
        if not page.has_next:
            break
        cursor = page.next_cursor
    assert seen == list(range(25))
    back = Product.objects.cursor_paginate(order_by="-qty", page_size=3)
    assert [p.qty for p in back] == [24, 23, 22] and back.next_cursor == {"qty": 22}
    with pytest.raises(ValueError):
        Product.objects.cursor_paginate(page_size=0)
    assert Product.objects.exists_or_create(name="p00") is True
    assert Product.objects.exists_or_create(name="new", defaults={"qty": 99}) is False
    obj, created = Product.objects.create_or_update(name="new", defaults={"qty": 1})
    assert not created and obj.qty == 1
    assert Product.objects.dates("day", "month") == [datetime.date(2026, m, 1) for m in (1, 2, 3)]
    assert len(Product.objects.dates("day", "year", order="DESC")) == 1
    with pytest.raises(ValueError):
        Product.objects.dates("day", "fortnight")
