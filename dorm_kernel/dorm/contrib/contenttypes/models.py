"""The ``ContentType`` model: one row per model class that generic relations point at.

Table ``dorm_content_type`` (app label ``contenttypes``), columns ``id``,
``app_label`` and ``model`` (the lower-case model name), unique together. Rows are
created on demand by ``ContentType.objects.get_for_model()``; install the table with
``dorm migrate`` (``"dorm.contrib.contenttypes"`` in ``INSTALLED_APPS``) or, in scripts
and tests, ``dorm.create_tables([ContentType, ...])``.
"""
from __future__ import annotations

from dorm.fields import BigAutoField, CharField
from dorm.models import Model
from dorm.models.sansio import run_async, run_sync

from .manager import ContentTypeManager, clear_cache


class ContentTypeNameField(CharField):
    """A ``CharField`` that clears the content-type cache of an alias whenever the
    table holding it is created, rebuilt or dropped there (the schema editor's
    ``after_column_created`` / ``before_column_dropped`` hooks): cached ids never
    outlive the rows they came from."""

    def after_column_created(self, schema_editor, table: str) -> None:
        clear_cache(getattr(schema_editor.connection, "alias", None))

    def before_column_dropped(self, schema_editor, table: str) -> None:
        clear_cache(getattr(schema_editor.connection, "alias", None))


class ContentType(Model):
    # declared (not DEFAULT_AUTO_FIELD) so the shipped migration matches every project
    id = BigAutoField(primary_key=True, verbose_name="ID")
    app_label = CharField(max_length=100)
    model = ContentTypeNameField(max_length=100)

    objects = ContentTypeManager()

    class Meta:
        app_label = "contenttypes"
        db_table = "dorm_content_type"
        unique_together = [("app_label", "model")]
        verbose_name = "content type"
        verbose_name_plural = "content types"

    def __str__(self):
        return self.app_labeled_name

    @property
    def name(self) -> str:
        """The model's verbose name (the stored model name when the class is unknown)."""
        model = self.model_class()
        return str(model._meta.verbose_name) if model is not None else self.model

    @property
    def app_labeled_name(self) -> str:
        return f"{self.app_label} | {self.name}"

    def natural_key(self) -> tuple[str, str]:
        return self.app_label, self.model

    def model_class(self):
        """The model class this content type stands for, or None when no model with
        this app label and name is registered (removed, or its module not imported)."""
        from dorm.models.options import registry

        return registry.by_label.get(f"{self.app_label}.{self.model}".lower())

    def require_model_class(self):
        """``model_class()``, or ``LookupError`` naming the content type."""
        model = self.model_class()
        if model is None:
            raise LookupError(
                f"ContentType {self.app_label}.{self.model} (id={self.pk}) names no registered "
                "model: import the module that defines it, or delete the stale content type")
        return model

    def _objects(self, using=None):
        model = self.require_model_class()
        return model._meta.base_manager().using(using or self._state.db)

    def get_object_for_this_type(self, using=None, **kwargs):
        """``Model.objects.get(**kwargs)`` on this type's model (its base manager, so no
        default filter), on ``using`` or the alias this content type came from."""
        return run_sync(self._objects(using)._get_gen(**kwargs))

    async def aget_object_for_this_type(self, using=None, **kwargs):
        return await run_async(self._objects(using)._get_gen(**kwargs))

    def get_all_objects_for_this_type(self, **kwargs):
        """A QuerySet of this type's model filtered by ``kwargs``."""
        return self._objects().filter(**kwargs)
