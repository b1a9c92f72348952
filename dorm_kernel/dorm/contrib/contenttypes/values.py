"""Converting between primary keys and object id values.

Both helpers return ``MISSING`` (never raise) for a value the other side cannot
hold, so prefetching and deletion skip such rows instead of failing the batch.
"""
from __future__ import annotations

from dorm.exceptions import ValidationError

#: "no value": the key cannot be represented on the other side
MISSING = object()


def to_object_id(oid_field, pk):
    """``pk`` as stored in the object id column, or ``MISSING`` if it cannot be (the
    field's own validation applies: a UUID is not an integer id, a long key does not
    fit a short ``CharField``)."""
    if pk is None:
        return MISSING
    try:
        return oid_field.clean(pk, None)
    except (ValidationError, TypeError, ValueError):
        return MISSING


def to_pk(pk_field, object_id):
    """An object id value as a value of ``pk_field``, or ``MISSING``."""
    if object_id is None:
        return MISSING
    try:
        return pk_field.to_python(object_id)
    except (ValidationError, TypeError, ValueError):
        return MISSING
