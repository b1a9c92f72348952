"""Model declaration, fields, validation and signals with the ORM."""
import datetime
import decimal
import uuid

import pytest

import dorm
from dorm.exceptions import ImproperlyConfigured, ValidationError

from .models import ALL, Product, Tag, Typed

MODELS = ALL


def test_meta_and_registry():
    opts = Product._meta
    assert opts.db_table == "kernel_tests_product"
    assert opts.pk.name == "id" and isinstance(opts.pk, dorm.BigAutoField)
    assert [f.name for f in opts.concrete_fields][:3] == ["id", "name", "price"]
    assert opts.get_field("name").max_length == 50
    with pytest.raises(dorm.FieldDoesNotExist):
        opts.get_field("nope")
    assert dorm.models.registry.get_model("kernel_tests.Product") is Product


def test_bad_model_definitions():
    with pytest.raises(ImproperlyConfigured):
        class Bad(dorm.Model):
            x = dorm.IntegerField()

            class Meta:
                app_label = "bad"
                db_table = "x; drop table y"

    class Base(dorm.Model):
        a = dorm.IntegerField()

        class Meta:
            app_label = "inh"

    with pytest.raises(ImproperlyConfigured):
        class Child(Base):
            b = dorm.IntegerField()

            class Meta:
                app_label = "inh"


def test_abstract_inheritance():
    class Stamped(dorm.Model):
        created = dorm.DateTimeField(null=True)

        class Meta:
            abstract = True
            ordering = ["-created"]

    class Note(Stamped):
        text = dorm.TextField()

        class Meta:
            app_label = "abs"

    assert [f.name for f in Note._meta.fields] == ["id", "created", "text"]
    assert Note._meta.ordering == ["-created"]
    assert Note._meta.get_field("created") is not Stamped._meta.get_field("created")


def test_typed_roundtrip(db):
    uid = uuid.uuid4()
    t = Typed.objects.create(uid=uid, span=datetime.timedelta(days=1, microseconds=5),
                             at=datetime.time(12, 30, 1), blob=b"\x00\x01", ip="::ffff:1.2.3.4",
                             email="a@b.co", small=-3, big=2**40, pos=7, ratio=0.25,
                             url="https://example.com/x")
    g = Typed.objects.get(pk=t.pk)
    assert g.uid == uid and isinstance(g.uid, uuid.UUID)
    assert g.span == datetime.timedelta(days=1, microseconds=5)
    assert g.at == datetime.time(12, 30, 1)
    assert g.blob == b"\x00\x01"
    assert g.big == 2**40 and g.small == -3 and g.ratio == 0.25
    assert Typed.objects.filter(uid=uid).count() == 1
    assert Typed.objects.filter(span__gt=datetime.timedelta(hours=1)).count() == 1


def test_assignment_validation():
    with pytest.raises(ValidationError):
        Typed(email="not-an-email")
    t = Typed()
    with pytest.raises(ValidationError):
        t.email = "still bad"
    with pytest.raises(ValidationError):
        Typed(ip="999.1.1.1")
    with pytest.raises(ValidationError):
        Product(price="abc")


def test_full_clean(db):
    Tag.objects.create(name="dup")
    t = Tag(name="dup", slug="bad slug!")
    with pytest.raises(ValidationError) as exc:
        t.full_clean()
    errors = exc.value.message_dict
    assert "slug" in errors and "name" in errors
    p = Product(name="x" * 60, price="1.00")
    with pytest.raises(ValidationError) as exc:
        p.full_clean()
    assert "name" in exc.value.message_dict
    Typed(pos=-1)  # assignment is fine; validation catches it
    with pytest.raises(ValidationError):
        Typed(pos=-1).full_clean()


def test_use_tz_datetimes(db):
    dorm.configure(USE_TZ=True, TIME_ZONE="UTC")
    try:
        aware = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        p = Product.objects.create(name="tz", created=aware)
        got = Product.objects.get(pk=p.pk).created
        assert got.tzinfo is not None
        assert got == aware
        assert got.utcoffset() == datetime.timedelta(0)
    finally:
        dorm.configure(USE_TZ=False)


def test_signals_fire(db):
    seen = []

    def pre(sender, instance, **kw):
        seen.append(("pre", instance.name, kw["using"]))

    def post(sender, instance, created, **kw):
        seen.append(("post", instance.name, created))

    def deleted(sender, instance, **kw):
        seen.append(("del", instance.name))

    dorm.pre_save.connect(pre, sender=Product)
    dorm.post_save.connect(post, sender=Product)
    dorm.post_delete.connect(deleted, sender=Product)
    try:
        p = Product.objects.create(name="s")
        p.qty = 3
        p.save()
        p.delete()
    finally:
        dorm.pre_save.disconnect(pre, sender=Product)
        dorm.post_save.disconnect(post, sender=Product)
        dorm.post_delete.disconnect(deleted, sender=Product)
    assert seen == [("pre", "s", "default"), ("post", "s", True), ("pre", "s", "default"),
                    ("post", "s", False), ("del", "s")]


def test_pickle_roundtrip(db):
    import pickle

    p = Product.objects.create(name="pk", price=decimal.Decimal("3.30"))
    q = pickle.loads(pickle.dumps(p))
    assert q == p and q.price == decimal.Decimal("3.30")


def test_text_and_integer_choices(db):
    class Size(dorm.TextChoices):
        SMALL = "S", "Small"
        LARGE = "L"

    class Level(dorm.IntegerChoices):
        LOW = 1, "Low"
        HIGH = 2

    assert Size.choices == [("S", "Small"), ("L", "Large")] and Size.SMALL.label == "Small"
    assert Level.choices == [(1, "Low"), (2, "High")] and Level.HIGH == 2
    field = dorm.CharField(max_length=1, choices=Size)
    assert field.choices == [("S", "Small"), ("L", "Large")]
    tag = Tag(name="t", slug=None)
    tag._meta.get_field("name").validate("t", tag)
    field.name = "size"
    field.validate(Size.SMALL, None)
    with pytest.raises(ValidationError):
        field.validate("X", None)
