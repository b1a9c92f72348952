"""Models of the dorm-tree suite."""
import dorm
from dorm.tree import TreeManager

APP = "tree_tests"


class Category(dorm.Model):
    name = dorm.CharField(max_length=50)
    active = dorm.BooleanField(default=True)
    parent = dorm.ForeignKey("self", null=True, on_delete=dorm.CASCADE, related_name="children")

    objects = TreeManager()

    class Meta:
        app_label = APP
        ordering = ["name"]

    def __str__(self):
        return self.name


class Comment(dorm.Model):
    """Reference-style tree: a plain integer column, no ForeignKey."""

    body = dorm.CharField(max_length=50)
    parent_id = dorm.IntegerField(null=True)

    class Meta:
        app_label = APP


class Code(dorm.Model):
    """A tree keyed by strings that contain the path separator."""

    code = dorm.CharField(max_length=60, primary_key=True)
    parent = dorm.ForeignKey("self", null=True, on_delete=dorm.CASCADE)

    class Meta:
        app_label = APP


class Owner(dorm.Model):
    name = dorm.CharField(max_length=20)

    class Meta:
        app_label = APP


class Folder(dorm.Model):
    """Two self FKs (ambiguous without parent_field) and a FK to another model."""

    name = dorm.CharField(max_length=20)
    owner = dorm.ForeignKey(Owner, null=True, on_delete=dorm.CASCADE)
    up = dorm.ForeignKey("self", null=True, on_delete=dorm.CASCADE, related_name="below")
    shortcut_to = dorm.ForeignKey("self", null=True, on_delete=dorm.SET_NULL, related_name="+")

    class Meta:
        app_label = APP


ALL = [Category, Comment, Code, Owner, Folder]
