"""``DormSchema``: the base class of every generated schema.

A generated schema knows, per field, where its value lives on a model instance (a
:class:`Slot`): a column attribute (``title``, ``author_id``), a related object
(``author``), a related manager (``books``, read as a list), a computed value, or a
masked PII column. ``Schema.model_validate(instance)`` reads an instance through these
slots (so reverse relations, missing one-to-one rows and computed values work), and
``to_model`` / ``apply_to`` write back only the slots that are columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

#: what a slot's getter returns when the instance has nothing for the field
MISSING = object()

#: slot kinds written back by ``to_model``/``apply_to``
WRITABLE = frozenset({"column", "object"})


@dataclass(frozen=True)
class Slot:
    """Where one schema field comes from on a model instance.

    ``kind``: ``"column"`` (``attname`` holds the value), ``"object"`` (a forward
    relation: the related instance; its ``target`` value goes back to ``attname``),
    ``"many"`` (a
    related manager, read as a list), ``"one"`` (a reverse one-to-one: the instance or
    None), ``"computed"`` or ``"masked"`` (read-only). ``getter(instance)`` returns the
    value or ``MISSING``."""

    kind: str
    attname: str | None
    getter: Callable[[Any], Any]
    nullable: bool = True
    #: ``"object"`` slots: the attname of the target field the key refers to
    target: str | None = None


class DormSchema(BaseModel):
    """Base of the schemas built by ``dorm.contrib.pydantic``.

    ``from_attributes=True``: ``Schema.model_validate(instance)`` (or
    ``Schema.from_model(instance)``) reads a model instance; ``extra="forbid"``: unknown
    keys are errors, as ``additionalProperties: false`` in ``dorm export-json-schema``.
    Subclass a generated schema to add fields or validators; an added field is read from
    the instance attribute of the same name when there is one."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    #: the model class the schema was generated from
    __dorm_model__: ClassVar[Any] = None
    #: schema field name -> :class:`Slot`
    __dorm_slots__: ClassVar[dict] = {}
    #: relation paths the schema reads (``"author"``, ``"books__tags"``): pass them to
    #: ``prefetch_related(*Schema.dorm_relations)`` to read a list without N+1 queries
    dorm_relations: ClassVar[tuple] = ()

    @model_validator(mode="before")
    @classmethod
    def _read_model_instance(cls, data):
        from dorm.models import Model

        if isinstance(data, Model):
            return read_instance(cls, data)
        return data

    # ---- instances -> schemas ------------------------------------------------------------------
    @classmethod
    def from_model(cls, instance):
        """The schema of one model instance (``model_validate(instance)``)."""
        return cls.model_validate(instance)

    @classmethod
    def from_models(cls, instances) -> list:
        """Schemas of several instances (a list, a QuerySet: evaluated once)."""
        return [cls.model_validate(obj) for obj in instances]

    # ---- schemas -> instances ------------------------------------------------------------------
    def model_kwargs(self) -> dict:
        """The column values this schema holds, as model keyword arguments (attnames).

        Computed, masked and to-many fields are left out; a nested related object gives
        its key (``author`` -> ``author_id``). A ``None`` for a non-nullable column (an
        unsaved auto key, an ``auto_now`` stamp, a ``db_default``) is left out too, so the
        model fills it in."""
        return _kwargs(self, type(self).model_fields)

    def to_model(self, model_cls=None, **extra):
        """A new, unsaved instance of ``model_cls`` (default: the schema's model) built
        from :meth:`model_kwargs` plus ``extra``. Many-to-many values are not set (the
        instance needs a key first)."""
        model_cls = model_cls or type(self).__dorm_model__
        if model_cls is None or not hasattr(model_cls, "_meta"):
            raise TypeError(f"{type(self).__name__}.to_model(model_cls): a dorm model class is "
                            f"needed, got {model_cls!r}")
        return model_cls(**{**self.model_kwargs(), **extra})

    def apply_to(self, instance):
        """Assign the fields that were set on this schema (``model_fields_set``: what a
        PATCH body contained, ``None`` included) to ``instance``; returns the instance,
        unsaved."""
        for attname, value in _kwargs(self, self.model_fields_set, keep_none=True).items():
            setattr(instance, attname, value)
        return instance


def read_instance(schema: type[DormSchema], obj) -> dict:
    """The input dict of ``schema`` for model instance ``obj`` (see :class:`Slot`)."""
    slots = schema.__dorm_slots__
    out = {}
    for name in schema.model_fields:
        slot = slots.get(name)
        if slot is None:
            value = getattr(obj, name, MISSING)
        elif slot.kind == "computed":
            value = slot.getter(obj)          # a bug in a computed source must surface
        else:
            try:
                value = slot.getter(obj)
            except AttributeError:            # not this model's instance: "missing" errors
                value = MISSING
        if value is not MISSING:
            out[name] = value
    return out


def _key_of(value, slot: Slot):
    """The key a nested related object gives its foreign key column."""
    if not isinstance(value, DormSchema):
        return value
    for name, inner in type(value).__dorm_slots__.items():
        if inner.kind == "column" and inner.attname == slot.target:
            return getattr(value, name)
    raise ValueError(f"{type(value).__name__} has no {slot.target!r} field, so the key of "
                     f"{slot.attname!r} is unknown; include it in the nested schema")


def _kwargs(schema: DormSchema, names, keep_none: bool = False) -> dict:
    slots = type(schema).__dorm_slots__
    out = {}
    for name in names:
        slot = slots.get(name)
        if slot is None or slot.kind not in WRITABLE:
            continue
        value = getattr(schema, name)
        if slot.kind == "object":
            value = _key_of(value, slot)
        if value is None and not slot.nullable and not keep_none:
            continue
        out[slot.attname] = value
    return out
