"""dorm-tree over a tenant-scoped model: walks return only the active tenant's rows."""
import dorm
import pytest

tree = pytest.importorskip("dorm.tree", reason="dorm-tree is not installed")

from dorm.contrib.tenants_row import (
    NoActiveTenantError,
    TenantManager,
    TenantModel,
    TenantQuerySet,
    current_tenant,
)
from dorm.exceptions import ImproperlyConfigured


class FolderQuerySet(tree.TreeQuerySetMixin, TenantQuerySet):
    """Tree methods on a tenant-scoped QuerySet."""


class Folder(TenantModel):
    name = dorm.CharField(max_length=20)
    parent = dorm.ForeignKey("self", null=True, on_delete=dorm.CASCADE, related_name="children")

    objects = TenantManager.from_queryset(FolderQuerySet)()

    class Meta:
        app_label = "tenancy_trees"
        ordering = ["name"]


MODELS = [Folder]


@pytest.fixture
def folders(db):
    out = {}
    for tenant in ("a", "b"):
        with current_tenant(tenant):
            top = Folder.objects.create(name=f"{tenant}-top")
            mid = Folder.objects.create(name=f"{tenant}-mid", parent=top)
            Folder.objects.create(name=f"{tenant}-leaf", parent=mid)
            out[tenant] = top
    return out


def test_walks_are_scoped(folders):
    with current_tenant("a"):
        assert [f.name for f in tree.descendants(Folder, root_pk=folders["a"].pk)] == ["a-mid", "a-leaf"]
        assert [f.name for f in Folder.objects.descendants_of(folders["a"])] == ["a-mid", "a-leaf"]
        assert [f.name for f in Folder.objects.roots()] == ["a-top"]
        with pytest.raises(Folder.DoesNotExist):           # b's root is not visible in a
            tree.descendants(Folder, root_pk=folders["b"].pk)
        assert Folder.objects.descendants_of(folders["b"]).count() == 0


def test_a_cross_tenant_link_does_not_leak_rows(folders):
    # corrupt on purpose: b's top now hangs below a's leaf
    with current_tenant("a"):
        leaf = Folder.objects.get(name="a-leaf")
    Folder.unscoped.filter(pk=folders["b"].pk).update(parent=leaf.pk)
    with current_tenant("a"):
        assert [f.name for f in tree.descendants(Folder, root_pk=folders["a"].pk)] == ["a-mid", "a-leaf"]


def test_walks_need_a_tenant(folders):
    with pytest.raises(NoActiveTenantError):
        tree.descendants(Folder, root_pk=folders["a"].pk)


def test_mixing_managers_the_wrong_way_is_refused():
    class WrongManager(tree.TreeManager, TenantManager):
        pass

    with pytest.raises(ImproperlyConfigured, match="not a TenantQuerySet"):
        class Leaky(TenantModel):
            parent = dorm.ForeignKey("self", null=True, on_delete=dorm.CASCADE)
            objects = WrongManager()

            class Meta:
                app_label = "tenancy_broken_tree"
