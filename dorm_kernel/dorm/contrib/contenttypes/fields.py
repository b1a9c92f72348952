"""``GenericForeignKey`` and ``GenericRelation``.

``GenericForeignKey(ct_field="content_type", fk_field="object_id",
for_concrete_model=True)`` is a column-less field: ``item.content_object`` reads the
object named by the content type and object id (one query, plus one for the content
type the first time it is seen; cached in the instance's fields cache and re-read
when either id changes; a row that no longer exists reads as None). Assigning an
instance sets both ids (an unsaved instance raises ``ValueError``), None clears
them. It cannot be used in ``filter()``/``order_by()``/``values()``/``select_related()``
(``FieldError``: filter on the content type and object id); ``prefetch_related`` loads
it with 1 query per content type.

``GenericRelation(to, object_id_field="object_id",
content_type_field="content_type", for_concrete_model=True,
related_query_name=None)`` is the reverse side, declared on the model pointed at:
``bookmark.tags`` is a related manager, ``filter(tags__name=...)`` joins on the
object id and the content type, ``prefetch_related("tags")`` costs one query, and
deleting the owner deletes its generic rows (through the collector, with signals
for instance deletes). ``related_query_name`` lets the item model filter back
(``TaggedItem.objects.filter(bookmark__url=...)``).

Both check their field names when the model is prepared and raise
``ImproperlyConfigured`` naming the model, the field and the valid choices.
"""
from __future__ import annotations

from . import checks  # noqa: F401 - connects the class_prepared field check
from .foreign_key import GenericForeignKey
from .relation import GenericRel, GenericRelation

__all__ = ["GenericForeignKey", "GenericRel", "GenericRelation"]
