"""Models of the PostgreSQL backend suite."""
import uuid

import dorm


class Item(dorm.Model):
    name = dorm.CharField(max_length=50, unique=True)
    qty = dorm.IntegerField(default=0)

    class Meta:
        app_label = "pg_tests"
        ordering = ["id"]  # noqa: RUF012


class Owner(dorm.Model):
    name = dorm.CharField(max_length=50)

    class Meta:
        app_label = "pg_tests"


class Pet(dorm.Model):
    name = dorm.CharField(max_length=50)
    owner = dorm.ForeignKey(Owner, on_delete=dorm.CASCADE, related_name="pets")

    class Meta:
        app_label = "pg_tests"


class Doc(dorm.Model):
    title = dorm.CharField(max_length=50, unique=True)
    data = dorm.JSONField(null=True)
    tags = dorm.ArrayField(dorm.CharField(max_length=20), default=list)
    nums = dorm.ArrayField(dorm.IntegerField(), null=True)
    uid = dorm.UUIDField(default=uuid.uuid4)

    class Meta:
        app_label = "pg_tests"


class Event(dorm.Model):
    name = dorm.CharField(max_length=50)
    at = dorm.DateTimeField(null=True)
    day = dorm.DateField(null=True)
    span = dorm.DurationField(null=True)
    ip = dorm.GenericIPAddressField(null=True)
    ratio = dorm.FloatField(null=True)
    price = dorm.DecimalField(max_digits=12, decimal_places=4, null=True)
    blob = dorm.BinaryField(null=True)
    pos = dorm.PositiveIntegerField(default=0)
    small = dorm.PositiveSmallIntegerField(default=0)

    class Meta:
        app_label = "pg_tests"
