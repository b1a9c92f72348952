"""Property test: arbitrary strings used as names never reach SQL.

Any text given where a field name goes is either a real field path or rejected
with FieldError/FieldDoesNotExist/TypeError/ValueError before SQL is built; the
table is never altered and no database error escapes."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dorm import F, Sum
from dorm.exceptions import DatabaseError, FieldDoesNotExist, FieldError

from .models import ALL, Product

MODELS = ALL
REJECTED = (FieldError, FieldDoesNotExist, TypeError, ValueError)
VALID = {"id", "pk", "name", "price", "qty", "active", "created", "day", "note", "data", "color"}

names = st.one_of(
    st.text(min_size=0, max_size=40),
    st.sampled_from(['name"; DROP TABLE kernel_tests_product; --', "qty) OR 1=1 --", "name__",
                     "__name", "name____icontains", "na me", "name`", "NAME", "pk__", "data__a b"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names)
def test_hostile_names(db, name):
    if Product.objects.count() == 0:
        Product.objects.create(name="keep", qty=1)
    calls = [
        lambda: list(Product.objects.filter(**{name: 1})),
        lambda: list(Product.objects.exclude(**{name: 1})),
        lambda: list(Product.objects.order_by(name)),
        lambda: list(Product.objects.values(name)),
        lambda: list(Product.objects.values_list(name)),
        lambda: Product.objects.filter(pk=0).update(**{name: 1}) if name else None,
        lambda: list(Product.objects.filter(qty=F(name))) if name else None,
        lambda: Product.objects.aggregate(s=Sum(name)) if name else None,
    ]
    for call in calls:
        try:
            call()
        except REJECTED:
            pass
        except DatabaseError as e:  # a database error means the name reached SQL
            head = name.lstrip("-").split("__")[0]
            if head not in VALID:
                pytest.fail(f"name {name!r} reached the database: {e}")
    assert Product.objects.filter(name="keep").count() == 1
