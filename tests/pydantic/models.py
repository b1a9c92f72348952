"""Models of the dorm-pydantic suite: every kernel field type the schemas map, the
relation kinds ``nested_schema_for`` follows, a natural key and a self-reference."""
import enum
import uuid

import dorm

APP = "pyd_tests"


class Format(enum.Enum):
    HARDCOVER = "hardcover"
    PAPERBACK = "paperback"
    EBOOK = "ebook"


def no_lorem(value):
    """A user validator: the schemas run it as ``full_clean()`` does."""
    if "lorem" in str(value).lower():
        raise dorm.ValidationError("no placeholder text, please", code="lorem")


class Publisher(dorm.Model):
    name = dorm.CharField(max_length=50)

    class Meta:
        app_label = APP
        db_table = "pyd_publisher"


class Author(dorm.Model):
    """Someone who writes books."""

    name = dorm.CharField(max_length=40, validators=[no_lorem])
    email = dorm.EmailField(pii=True)
    website = dorm.URLField(null=True, blank=True)
    born = dorm.DateField(null=True)
    publisher = dorm.ForeignKey(Publisher, null=True, on_delete=dorm.SET_NULL,
                                related_name="authors")

    class Meta:
        app_label = APP
        db_table = "pyd_author"

    def shout(self):
        return self.name.upper()


class Profile(dorm.Model):
    author = dorm.OneToOneField(Author, on_delete=dorm.CASCADE, related_name="profile")
    bio = dorm.TextField(blank=True, default="")

    class Meta:
        app_label = APP
        db_table = "pyd_profile"


class Tag(dorm.Model):
    slug = dorm.SlugField(max_length=20)

    class Meta:
        app_label = APP
        db_table = "pyd_tag"


class Book(dorm.Model):
    STATUS = [("draft", "Draft"), ("published", "Published")]

    title = dorm.CharField(max_length=40, help_text="Shown on the cover")
    isbn = dorm.CharField(max_length=13, null=True, verbose_name="ISBN")
    price = dorm.DecimalField(max_digits=6, decimal_places=2)
    status = dorm.CharField(max_length=10, choices=STATUS, default="draft")
    format = dorm.EnumField(Format, default=Format.PAPERBACK)
    uid = dorm.UUIDField(default=uuid.uuid4)
    published = dorm.DateTimeField(null=True)
    reading_time = dorm.DurationField(null=True)
    pages = dorm.PositiveIntegerField(default=100)
    rating = dorm.FloatField(null=True)
    extra = dorm.JSONField(default=dict)
    cover = dorm.BinaryField(null=True, editable=True)
    created = dorm.DateTimeField(auto_now_add=True)
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
    tags = dorm.ManyToManyField(Tag, related_name="books")

    class Meta:
        app_label = APP
        db_table = "pyd_book"


class Code(dorm.Model):
    """A natural key: create schemas must ask for it."""

    code = dorm.CharField(max_length=8, primary_key=True)
    label = dorm.CharField(max_length=30)

    class Meta:
        app_label = APP
        db_table = "pyd_code"


class Category(dorm.Model):
    name = dorm.CharField(max_length=30)
    parent = dorm.ForeignKey("self", null=True, on_delete=dorm.CASCADE, related_name="children")

    class Meta:
        app_label = APP
        db_table = "pyd_category"


ALL = [Publisher, Author, Profile, Tag, Book, Code, Category]
