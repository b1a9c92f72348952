"""Models of the DuckDB backend suite (app label ``duck``)."""
import datetime
import uuid

import dorm


class Item(dorm.Model):
    name = dorm.CharField(max_length=40)
    qty = dorm.IntegerField(default=0)
    score = dorm.FloatField(default=0.0)

    class Meta:
        app_label = "duck"


class Unique(dorm.Model):
    code = dorm.CharField(max_length=10, unique=True)
    n = dorm.IntegerField(default=0)

    class Meta:
        app_label = "duck"


class Small(dorm.Model):
    id = dorm.AutoField(primary_key=True)
    label = dorm.CharField(max_length=10)

    class Meta:
        app_label = "duck"


class Parent(dorm.Model):
    id = dorm.BigAutoField(primary_key=True)
    name = dorm.CharField(max_length=20)

    class Meta:
        app_label = "duck"


class Child(dorm.Model):
    parent = dorm.ForeignKey(Parent, on_delete=dorm.CASCADE, related_name="children")
    label = dorm.CharField(max_length=20)

    class Meta:
        app_label = "duck"


class Doc(dorm.Model):
    data = dorm.JSONField(null=True)

    class Meta:
        app_label = "duck"


class Money(dorm.Model):
    amount = dorm.DecimalField(max_digits=38, decimal_places=10)
    price = dorm.DecimalField(max_digits=8, decimal_places=2, default="0.00")

    class Meta:
        app_label = "duck"


class Typed(dorm.Model):
    uid = dorm.UUIDField(default=uuid.uuid4)
    span = dorm.DurationField(null=True)
    at = dorm.TimeField(null=True)
    when = dorm.DateTimeField(null=True)
    day = dorm.DateField(null=True)
    blob = dorm.BinaryField(null=True)
    flag = dorm.BooleanField(default=False)
    big = dorm.BigIntegerField(null=True)
    ratio = dorm.FloatField(null=True)
    pos = dorm.PositiveIntegerField(null=True)

    class Meta:
        app_label = "duck"


class Event(dorm.Model):
    kind = dorm.CharField(max_length=10)
    value = dorm.IntegerField()
    amount = dorm.DecimalField(max_digits=12, decimal_places=2, default="0")

    class Meta:
        app_label = "duck"


NOW = datetime.datetime(2026, 3, 14, 15, 9, 26)
