"""Validating the field names of generic relations (at class creation).

``check_generic_fields`` raises ``ImproperlyConfigured`` naming the model, the field
and the valid choices; a ``class_prepared`` receiver runs ``check_fields()`` of every
generic foreign key once its model class is complete (fields may be declared after
it).
"""
from __future__ import annotations

from dorm import signals
from dorm.exceptions import FieldDoesNotExist, ImproperlyConfigured

from .models import ContentType

_CT_LABEL = "contenttypes.contenttype"


def points_at_content_type(field) -> bool:
    if not (getattr(field, "many_to_one", False) or getattr(field, "one_to_one", False)):
        return False
    target = getattr(getattr(field, "remote_field", None), "model", None)
    if isinstance(target, str):
        return target.lower() in (_CT_LABEL, "contenttype")
    return target is ContentType


def _plain_columns(opts) -> list[str]:
    return sorted(f.name for f in opts.concrete_fields
                  if not getattr(f, "is_relation", False) and not f.primary_key)


def _ct_foreign_keys(opts) -> list[str]:
    return sorted(f.name for f in opts.concrete_fields if points_at_content_type(f))


def check_generic_fields(model, ct_name, oid_name, owner_label):
    """The content-type FK and object-id fields of ``model`` (``ImproperlyConfigured``
    naming ``owner_label``, the field and the valid choices when either is wrong)."""
    opts = model._meta
    try:
        ct = opts.get_field(ct_name)
    except FieldDoesNotExist:
        ct = None
    if ct is None or not points_at_content_type(ct):
        what = "is not a field of" if ct is None else "is not a ForeignKey to contenttypes.ContentType on"
        raise ImproperlyConfigured(
            f"{owner_label}: content type field {ct_name!r} {what} {model.__name__}; choices "
            f"(foreign keys to ContentType): {', '.join(_ct_foreign_keys(opts)) or '(none)'}")
    try:
        oid = opts.get_field(oid_name)
    except FieldDoesNotExist:
        oid = None
    if oid is None or not oid.concrete or getattr(oid, "is_relation", False) or oid.column is None:
        what = "is not a field of" if oid is None else "is not a plain column of"
        raise ImproperlyConfigured(
            f"{owner_label}: object id field {oid_name!r} {what} {model.__name__}; "
            f"choices: {', '.join(_plain_columns(opts)) or '(none)'}")
    return ct, oid


def _check_on_prepare(sender, **kwargs):
    for f in sender._meta.private_fields:
        check = getattr(f, "check_fields", None)
        if check is not None and f.model is sender:
            check()


signals.class_prepared.connect(_check_on_prepare, weak=False)
