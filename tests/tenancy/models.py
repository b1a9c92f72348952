"""Models of the dorm-tenancy suite."""
import dorm
from dorm.contrib.tenants_row import TenantManager, TenantModel, make_async_tenant_manager

APP = "tenancy_tests"


class Author(TenantModel):
    name = dorm.CharField(max_length=30)

    class Meta:
        app_label = APP
        ordering = ["name"]


class Tag(TenantModel):
    name = dorm.CharField(max_length=30)

    class Meta:
        app_label = APP
        ordering = ["name"]


class Book(TenantModel):
    title = dorm.CharField(max_length=30)
    pages = dorm.IntegerField(default=0)
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
    tags = dorm.ManyToManyField(Tag, related_name="books")

    class Meta:
        app_label = APP
        ordering = ["title"]


class Profile(TenantModel):
    author = dorm.OneToOneField(Author, on_delete=dorm.CASCADE, related_name="profile")
    bio = dorm.CharField(max_length=30, default="")

    class Meta:
        app_label = APP


class Review(dorm.Model):
    """A shared (not tenant-scoped) model pointing at a tenant row."""

    book = dorm.ForeignKey(Book, on_delete=dorm.CASCADE, related_name="reviews")
    stars = dorm.IntegerField(default=5)

    class Meta:
        app_label = APP


class Invoice(TenantModel):
    """Custom tenant column: an integer named ``org`` (Meta.tenant_field)."""

    number = dorm.IntegerField()
    org = dorm.IntegerField(db_index=True)

    class Meta:
        app_label = APP
        tenant_field = "org"


class SpaceManager(TenantManager):
    tenant_field = "workspace"


class Note(TenantModel):
    """Tenant column named by the manager; not declared, so the plugin adds it."""

    text = dorm.CharField(max_length=30)

    objects = SpaceManager()

    class Meta:
        app_label = APP


class Event(TenantModel):
    """Async-only scoped manager."""

    name = dorm.CharField(max_length=30)

    objects = make_async_tenant_manager()()

    class Meta:
        app_label = APP


ALL = [Author, Tag, Book, Book.tags.through, Profile, Review, Invoice, Note, Event]
