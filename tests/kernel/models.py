"""Models shared by the kernel ORM suites."""
import datetime
import enum
import uuid

import dorm


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Product(dorm.Model):
    name = dorm.CharField(max_length=50)
    price = dorm.DecimalField(max_digits=8, decimal_places=2, default="0.00")
    qty = dorm.IntegerField(default=0)
    active = dorm.BooleanField(default=True)
    created = dorm.DateTimeField(null=True)
    day = dorm.DateField(null=True)
    note = dorm.TextField(null=True)
    data = dorm.JSONField(null=True)
    color = dorm.EnumField(Color, null=True)

    class Meta:
        app_label = "kernel_tests"
        ordering = ["id"]


class Tag(dorm.Model):
    name = dorm.CharField(max_length=30, unique=True)
    slug = dorm.SlugField(null=True)

    class Meta:
        app_label = "kernel_tests"


class Typed(dorm.Model):
    uid = dorm.UUIDField(default=uuid.uuid4)
    span = dorm.DurationField(null=True)
    at = dorm.TimeField(null=True)
    blob = dorm.BinaryField(null=True)
    ip = dorm.GenericIPAddressField(null=True)
    email = dorm.EmailField(null=True)
    small = dorm.SmallIntegerField(null=True)
    big = dorm.BigIntegerField(null=True)
    pos = dorm.PositiveIntegerField(null=True)
    ratio = dorm.FloatField(null=True)
    url = dorm.URLField(null=True)

    class Meta:
        app_label = "kernel_tests"


class Pair(dorm.Model):
    a = dorm.IntegerField()
    b = dorm.IntegerField()

    class Meta:
        app_label = "kernel_tests"
        unique_together = [("a", "b")]
        indexes = [dorm.Index(fields=["b"])]
        constraints = [dorm.CheckConstraint(check=dorm.Q(a__gte=0), name="pair_a_nonneg")]


class ActiveManager(dorm.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(active=True)


class Article(dorm.Model):
    title = dorm.CharField(max_length=40)
    active = dorm.BooleanField(default=True)

    objects = dorm.Manager()
    live = ActiveManager()

    class Meta:
        app_label = "kernel_tests"


ALL = [Product, Tag, Typed, Pair, Article]

NOW = datetime.datetime(2026, 3, 14, 15, 9, 26)
