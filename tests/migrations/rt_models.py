"""Models, enums and callables for the writer round-trip tests (importable, so
migrations can reference them)."""
from __future__ import annotations

import datetime
import enum
import json
import uuid

import dorm
from dorm import validators

APP = "migrt"


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Encoder(json.JSONEncoder):
    pass


def today():
    return datetime.date.today()


def default_tags():
    return ["a", "b"]


class Target(dorm.Model):
    code = dorm.CharField(max_length=10, unique=True)

    class Meta:
        app_label = APP


class Everything(dorm.Model):
    small = dorm.SmallIntegerField(db_default=1)
    integer = dorm.IntegerField(validators=[validators.MinValueValidator(0),
                                            validators.MaxValueValidator(10)])
    big = dorm.BigIntegerField(null=True, db_column="big_col")
    pos = dorm.PositiveIntegerField(default=0, help_text="positive")
    pos_small = dorm.PositiveSmallIntegerField(null=True)
    pos_big = dorm.PositiveBigIntegerField(null=True, db_comment="big one")
    ratio = dorm.FloatField(default=1.5)
    price = dorm.DecimalField(max_digits=12, decimal_places=3, default=dorm.NOT_PROVIDED, null=True)
    name = dorm.CharField(max_length=40, choices=[("a", "A"), ("b", "B")], verbose_name="the name",
                          db_default="a")
    body = dorm.TextField(blank=True, default="")
    email = dorm.EmailField(null=True)
    url = dorm.URLField(null=True)
    slug = dorm.SlugField(unique=True)
    flag = dorm.BooleanField(default=False)
    maybe = dorm.NullBooleanField()
    day = dorm.DateField(default=today)
    created = dorm.DateTimeField(auto_now_add=True)
    updated = dorm.DateTimeField(auto_now=True)
    at = dorm.TimeField(null=True)
    span = dorm.DurationField(default=datetime.timedelta(hours=1))
    uid = dorm.UUIDField(version=4)
    uid2 = dorm.UUIDField(default=uuid.uuid4, editable=False)
    ip = dorm.GenericIPAddressField(protocol="ipv4", null=True)
    ip_any = dorm.GenericIPAddressField(unpack_ipv4=True, null=True)
    old_ip = dorm.IPAddressField(null=True)
    data = dorm.JSONField(default=dict, encoder=Encoder)
    tags = dorm.JSONField(default=default_tags)
    blob = dorm.BinaryField(null=True)
    color = dorm.EnumField(Color, default=Color.RED)
    level = dorm.EnumField(Level, null=True)
    target = dorm.ForeignKey(Target, on_delete=dorm.PROTECT, related_name="everything")
    target_code = dorm.ForeignKey(Target, on_delete=dorm.SET_NULL, null=True, to_field="code",
                                  related_name="+", db_constraint=False)
    target_default = dorm.ForeignKey(Target, on_delete=dorm.SET(None), null=True, related_name="+",
                                     db_index=False)
    parent = dorm.ForeignKey("self", on_delete=dorm.CASCADE, null=True, related_name="children")
    one = dorm.OneToOneField(Target, on_delete=dorm.CASCADE, null=True, related_name="one_of")
    many = dorm.ManyToManyField(Target, related_name="manies", db_table="migrt_many_custom")
    friends = dorm.ManyToManyField("self", symmetrical=False, related_name="fans")

    class Meta:
        app_label = APP
        db_table = "migrt_everything_tbl"
        ordering = ["-created", "name"]
        verbose_name = "everything at once"
        unique_together = [("name", "target")]
        indexes = [
            dorm.Index(fields=["name", "-day"], name="migrt_name_day"),
            dorm.Index(fields=["email"], name="migrt_email_partial", condition=dorm.Q(flag=True)),
        ]
        constraints = [
            dorm.CheckConstraint(check=dorm.Q(pos__gte=0) & ~dorm.Q(name="zzz"), name="migrt_pos_ok"),
            dorm.CheckConstraint(check=dorm.Q(small__lte=dorm.F("integer")) | dorm.Q(integer__isnull=True),
                                 name="migrt_small_le"),
            dorm.UniqueConstraint(fields=["slug", "day"], name="migrt_slug_day"),
            dorm.UniqueConstraint(fields=["email"], condition=dorm.Q(flag=True), name="migrt_email_flag"),
        ]


class Membership(dorm.Model):
    person = dorm.ForeignKey(Target, on_delete=dorm.CASCADE, related_name="memberships")
    group = dorm.ForeignKey("Group", on_delete=dorm.CASCADE, related_name="memberships")
    since = dorm.DateField(null=True)

    class Meta:
        app_label = APP


class Group(dorm.Model):
    name = dorm.CharField(max_length=20)
    members = dorm.ManyToManyField(Target, through="Membership", through_fields=("group", "person"),
                                   related_name="groups")

    class Meta:
        app_label = APP


class NativeHolder(dorm.Model):
    """A native (PostgreSQL) enum needs its type created first: kept out of the app
    whose migrations the database tests apply."""

    native = dorm.EnumField(Color, native=True, type_name="color_t", null=True)

    class Meta:
        app_label = "migrtx"
