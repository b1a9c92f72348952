"""Models of ``tests/kernel/test_cli_data.py`` (app label ``clidata``): every value type
the fixture format handles, nullable and self-referencing foreign keys, a reference
cycle between two models, a UUID primary key and an automatic many-to-many table."""
import uuid

import dorm


class Author(dorm.Model):
    name = dorm.CharField(max_length=50)
    born = dorm.DateField(null=True)
    mentor = dorm.ForeignKey("self", null=True, on_delete=dorm.SET_NULL, related_name="mentees")
    favorite = dorm.ForeignKey("clidata.Book", null=True, on_delete=dorm.SET_NULL, related_name="fans")

    class Meta:
        app_label = "clidata"


class Tag(dorm.Model):
    id = dorm.UUIDField(primary_key=True, default=uuid.uuid4)
    label = dorm.CharField(max_length=30, unique=True)

    class Meta:
        app_label = "clidata"


class Book(dorm.Model):
    title = dorm.CharField(max_length=100)
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
    editor = dorm.ForeignKey(Author, null=True, on_delete=dorm.SET_NULL, related_name="edited")
    price = dorm.DecimalField(max_digits=8, decimal_places=2)
    published = dorm.DateTimeField(null=True)
    at = dorm.TimeField(null=True)
    took = dorm.DurationField(null=True)
    meta = dorm.JSONField(null=True)
    ref = dorm.UUIDField(default=uuid.uuid4)
    blob = dorm.BinaryField(null=True)
    ok = dorm.BooleanField(default=True)
    ratio = dorm.FloatField(null=True)
    tags = dorm.ManyToManyField(Tag, related_name="books")

    class Meta:
        app_label = "clidata"


MODELS = [Author, Tag, Book]
