"""Generic relations: ``ContentType``, ``GenericForeignKey``, ``GenericRelation``.

Django's import paths work (``dorm.contrib.contenttypes.models.ContentType``,
``dorm.contrib.contenttypes.fields.GenericForeignKey``/``GenericRelation``) and the
names are re-exported here. Install the table with ``dorm migrate`` after adding
``"dorm.contrib.contenttypes"`` to ``INSTALLED_APPS`` (app label ``contenttypes``,
migration ``0001_initial``), or with ``dorm.create_tables([ContentType, ...])``.
See docs/contenttypes.md.
"""
from .fields import GenericForeignKey, GenericRel, GenericRelation
from .manager import ContentTypeManager
from .models import ContentType

__all__ = ["ContentType", "ContentTypeManager", "GenericForeignKey", "GenericRel", "GenericRelation"]
