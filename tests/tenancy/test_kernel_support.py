"""The generic kernel mechanisms dorm-tenancy and dorm-tree rely on, tested without them:
``Meta.base_manager_name``, declared managers kept, ``with_cte`` on every terminal method."""
import dorm
import pytest
from dorm.exceptions import ImproperlyConfigured

APP = "kernel_support_tests"


class VisibleManager(dorm.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(hidden=False)


class Shelf(dorm.Model):
    name = dorm.CharField(max_length=20)
    hidden = dorm.BooleanField(default=False)

    objects = VisibleManager()
    everything = dorm.Manager()

    class Meta:
        app_label = APP
        base_manager_name = "objects"


class Item(dorm.Model):
    name = dorm.CharField(max_length=20)
    shelf = dorm.ForeignKey(Shelf, on_delete=dorm.CASCADE, related_name="items")
    parent = dorm.ForeignKey("self", null=True, on_delete=dorm.CASCADE)

    class Meta:
        app_label = APP


MODELS = [Shelf, Item]


def test_declared_managers_are_kept():
    assert type(Shelf.objects) is VisibleManager
    assert [m.name for m in Shelf._meta.managers] == ["objects", "everything"]
    assert Shelf._meta.default_manager is Shelf.objects
    assert type(Item._meta.base_manager()) is dorm.Manager      # no option: a plain manager


def test_base_manager_name_drives_internal_reads(db):
    shown = Shelf.objects.create(name="shown")
    secret = Shelf.objects.create(name="secret", hidden=True)
    assert Shelf._meta.base_manager() is Shelf.objects
    a = Item.objects.create(name="a", shelf=shown)
    b = Item.objects.create(name="b", shelf=secret)
    assert Item.objects.get(pk=a.pk).shelf.name == "shown"
    with pytest.raises(Shelf.DoesNotExist):
        Item.objects.get(pk=b.pk).shelf                         # forward load via the base manager
    assert [i.shelf for i in Item.objects.order_by("name").prefetch_related("shelf")][1] is None
    with pytest.raises(Shelf.DoesNotExist):
        Shelf.everything.get(pk=secret.pk).refresh_from_db()


def test_unknown_base_manager_name_is_an_error():
    with pytest.raises(ImproperlyConfigured, match="base_manager_name 'nope' is not a manager"):
        class Broken(dorm.Model):
            class Meta:
                app_label = APP
                base_manager_name = "nope"


def test_with_cte_on_every_terminal_method(db):
    shelf = Shelf.objects.create(name="s")
    top = Item.objects.create(name="top", shelf=shelf)
    mid = Item.objects.create(name="mid", shelf=shelf, parent=top)
    Item.objects.create(name="low", shelf=shelf, parent=mid)
    Item.objects.create(name="other", shelf=shelf)
    walk = dorm.CTE(
        'SELECT "id" FROM "kernel_support_tests_item" WHERE "id" = %s UNION ALL '
        'SELECT i."id" FROM "kernel_support_tests_item" i JOIN "sub" s ON i."parent_id" = s."id"',
        [top.pk], recursive=True)

    def qs():
        return Item.objects.with_cte(sub=walk).filter(pk__in=dorm.RawSQL('SELECT "id" FROM "sub"', []))

    assert qs().count() == 3 and qs().exists()
    assert qs().aggregate(n=dorm.Count("id"))["n"] == 3
    assert sorted(qs().values_list("name", flat=True)) == ["low", "mid", "top"]
    assert qs().filter(name="low").update(name="LOW") == 1
    assert qs().filter(name="LOW").delete()[0] == 1
    assert sorted(Item.objects.values_list("name", flat=True)) == ["mid", "other", "top"]
