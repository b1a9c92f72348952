"""The flat schemas: ``schema_for`` (read), ``create_schema_for`` (POST),
``update_schema_for`` (PATCH), and the read schema's variants ``schema_with_computed``
and ``schema_for_with_examples``.

Which fields are required follows ``dorm export-json-schema``: a column is required
unless it is nullable, has a ``default`` or ``db_default``, is an auto-increment key or
an ``auto_now``/``auto_now_add`` stamp. A field with a Python ``default`` gets it (a
callable through ``default_factory``); the other optional fields default to ``None``.
Each field is named like its column attribute: a foreign key is ``author_id`` and holds
the target's key.
"""
from __future__ import annotations

import copy
import functools
import operator
from typing import Annotated, Optional

from pydantic import BeforeValidator, WithJsonSchema
from pydantic import Field as PydanticField

from .base import DormSchema, Slot
from .mapping import column, kernel_fragment, with_null
from .options import (PII_MASK, SchemaConfigError, Spec, cached, check_class_name, check_model,
                      check_pii, field_index, freeze, make_schema, names_arg, resolve, select)


# ---- field facts ------------------------------------------------------------------------------
def server_filled(field) -> bool:
    """Does the database or the model fill this column when it is not given (auto key,
    ``db_default``, ``auto_now``/``auto_now_add``)?"""
    from dorm.fields.scalar import AutoFieldMixin

    return (isinstance(field, AutoFieldMixin) or field.has_db_default()
            or bool(getattr(field, "auto_now", False)) or bool(getattr(field, "auto_now_add", False)))


def required(field) -> bool:
    """Required in ``dorm export-json-schema``'s sense."""
    return not field.null and not field.has_default() and not server_filled(field)


def default_kwargs(field) -> dict:
    """``pydantic.Field`` keyword arguments carrying the model field's default."""
    value = field.default
    if callable(value):
        return {"default_factory": value}
    if isinstance(value, (list, dict, set)):
        return {"default_factory": functools.partial(copy.deepcopy, value)}
    return {"default": value}


def column_slot(field) -> Slot:
    return Slot("column", field.attname, operator.attrgetter(field.attname), bool(field.null))


# ---- specs ------------------------------------------------------------------------------------
def column_spec(field, *, optional: bool = False, read_only: bool = False,
                writable: bool = False) -> Spec:
    """The spec of one column: required per :func:`required` unless ``optional``.

    ``read_only``: the key of a read schema (frozen; a generated key defaults to ``None``,
    a natural key stays required). Otherwise a server-filled column (auto key,
    ``auto_now``, ``db_default``) is marked ``readOnly`` in JSON Schema unless
    ``writable`` (a create schema, ``readonly_pk=False``)."""
    col = column(field)
    slot = column_slot(field)
    if read_only and required(field):                # a natural key: always there
        return Spec(field.attname, col.annotation(allow_none=False, read_only=True),
                    PydanticField(frozen=True), slot)
    if read_only:                                    # generated: None until saved
        return Spec(field.attname, col.annotation(allow_none=True, read_only=True),
                    PydanticField(default=None, frozen=True), slot)
    if field.has_default():
        return Spec(field.attname, col.annotation(allow_none=field.null),
                    PydanticField(**default_kwargs(field)), slot)
    if optional or not required(field):
        marked = server_filled(field) and not writable
        return Spec(field.attname, col.annotation(allow_none=True, read_only=marked),
                    PydanticField(default=None), slot)
    return Spec(field.attname, col.annotation(allow_none=False), PydanticField(), slot)


def _mask(value):
    return None if value is None else PII_MASK


def masked_spec(field) -> Spec:
    """A ``pii=True`` column shown as ``PII_MASK``: the real value never enters the schema
    (masking happens before validation), so neither the object nor its dump leaks it."""
    fragment = {"type": "string", "x-pii": True, "x-pii-masked": True, "readOnly": True}
    for key in ("title", "description"):
        if key in (kf := kernel_fragment(field)):
            fragment[key] = kf[key]
    if field.null:
        fragment = with_null(fragment)
    annotation = Annotated[Optional[str], BeforeValidator(_mask), WithJsonSchema(fragment)]
    slot = Slot("masked", field.attname, operator.attrgetter(field.attname), bool(field.null))
    return Spec(field.attname, annotation, PydanticField(default=None), slot)


def read_specs(fields, *, optional=(), readonly_pk=True, pii="include") -> list[Spec]:
    """Specs of the read schema for ``fields`` (already selected)."""
    specs = []
    for f in fields:
        if getattr(f, "pii", False) and pii != "include":
            if pii == "mask":
                specs.append(masked_spec(f))
            continue
        if f.primary_key:
            specs.append(column_spec(f, read_only=readonly_pk, writable=not readonly_pk,
                                     optional=f in optional))
        else:
            specs.append(column_spec(f, optional=f in optional))
    return specs


# ---- read ---------------------------------------------------------------------------------------
def _read_fields(model, include, exclude, optional, what):
    fields = list(model._meta.concrete_fields)
    chosen = select(model, fields, include=include, exclude=exclude, what=what)
    opt = set(resolve(model, field_index(fields), optional or (), "optional", what))
    return chosen, opt


def schema_for(model, *, include=None, exclude=None, name: str | None = None, optional=(),
               readonly_pk: bool = True, pii: str = "include") -> type[DormSchema]:
    """The read schema of ``model``: every concrete column (``include``/``exclude`` narrow
    it; names may be field names or attnames, ``author`` or ``author_id``).

    ``optional``: names made not required (default ``None``). ``readonly_pk``: the key is
    ``readOnly`` and frozen; a generated key defaults to ``None`` (unsaved instances).
    ``pii``: ``"include"`` (default; ``x-pii`` in JSON Schema), ``"exclude"`` (fields
    declared ``pii=True`` are left out) or ``"mask"`` (shown as ``"***"``). ``name``:
    class name (default ``<Model>Schema``). Cached: the same arguments return the same
    class.
    """
    what = "schema_for"
    check_model(model, what)
    include = names_arg(include, "include", what)
    exclude = names_arg(exclude, "exclude", what)
    optional = names_arg(optional, "optional", what)
    check_pii(pii, what)
    cls_name = check_class_name(name, f"{model.__name__}Schema", what)
    key = ("read", include, exclude, cls_name, optional, bool(readonly_pk), pii)

    def build():
        fields, opt = _read_fields(model, include, exclude, optional, what)
        specs = read_specs(fields, optional=opt, readonly_pk=readonly_pk, pii=pii)
        return make_schema(cls_name, model, specs)

    return cached(model, key, build)


# ---- create / update -----------------------------------------------------------------------------
def _writable_default(model) -> list:
    """Columns a client sends by default: editable ones, without a key the database or
    the model generates (a natural key without default stays: it must be given)."""
    out = []
    for f in model._meta.concrete_fields:
        if not f.editable:
            continue
        if f.primary_key and not required(f):
            continue
        out.append(f)
    return out


def create_schema_for(model, *, include=None, exclude=None, name: str | None = None,
                      optional=()) -> type[DormSchema]:
    """The input schema of a create (POST): editable columns, without a generated key.

    Required fields without defaults are required; fields with a ``default`` have it;
    nullable and server-filled fields default to ``None``. Non-editable columns
    (``auto_now``, ``editable=False``) and a generated key are left out unless named in
    ``include``. ``optional`` makes the named fields not required. ``name`` defaults to
    ``<Model>Create``. ``Create(**body).to_model()`` gives the unsaved instance."""
    what = "create_schema_for"
    check_model(model, what)
    include = names_arg(include, "include", what)
    exclude = names_arg(exclude, "exclude", what)
    optional = names_arg(optional, "optional", what)
    cls_name = check_class_name(name, f"{model.__name__}Create", what)
    key = ("create", include, exclude, cls_name, optional)

    def build():
        fields = list(model._meta.concrete_fields)
        chosen = select(model, fields, include=include, exclude=exclude, what=what,
                        default=_writable_default(model))
        opt = set(resolve(model, field_index(fields), optional or (), "optional", what))
        specs = [column_spec(f, optional=f in opt, writable=True) for f in chosen]
        return make_schema(cls_name, model, specs)

    return cached(model, key, build)


def update_spec(field) -> Spec:
    """A PATCH field: not required, default ``None``; ``null`` is accepted only for a
    nullable column (an explicit ``null`` for a NOT NULL column is a validation error)."""
    col = column(field)
    return Spec(field.attname, col.annotation(allow_none=field.null),
                PydanticField(default=None), column_slot(field))


def update_schema_for(model, *, include=None, exclude=None,
                      name: str | None = None) -> type[DormSchema]:
    """The input schema of a partial update (PATCH): the editable columns except the key,
    all optional. ``Patch.model_fields_set`` says what the body contained;
    ``patch.apply_to(instance)`` assigns exactly those fields. ``name`` defaults to
    ``<Model>Update``."""
    what = "update_schema_for"
    check_model(model, what)
    include = names_arg(include, "include", what)
    exclude = names_arg(exclude, "exclude", what)
    cls_name = check_class_name(name, f"{model.__name__}Update", what)
    key = ("update", include, exclude, cls_name)

    def build():
        fields = list(model._meta.concrete_fields)
        default = [f for f in fields if f.editable and not f.primary_key]
        chosen = select(model, fields, include=include, exclude=exclude, what=what,
                        default=default)
        return make_schema(cls_name, model, [update_spec(f) for f in chosen])

    return cached(model, key, build)


# ---- computed ---------------------------------------------------------------------------------
def _attr_path(path: str):
    """``"author.name"`` -> getter; a callable at the end of the path is called."""
    parts = path.split(".")

    def get(obj):
        for part in parts:
            if obj is None:
                return None
            obj = getattr(obj, part)
        return obj() if callable(obj) and not isinstance(obj, type) else obj

    return get


def computed_specs(model, computed, taken, what: str) -> list[Spec]:
    """Specs of ``computed = {"name": (type, callable_or_attr)}`` (read-only fields)."""
    if not isinstance(computed, dict) or not computed:
        raise SchemaConfigError(f"{what}({model.__name__}): computed must be a non-empty dict "
                                "{'name': (type, callable_or_attribute)}")
    specs = []
    for cname, entry in computed.items():
        if not isinstance(cname, str) or not cname.isidentifier() or cname.startswith("_"):
            raise SchemaConfigError(f"{what}({model.__name__}): computed name {cname!r} must "
                                    "be a public Python identifier")
        if cname in taken:
            raise SchemaConfigError(
                f"{what}({model.__name__}): computed name {cname!r} clashes with a schema "
                f"field; fields: {', '.join(sorted(taken))}")
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise SchemaConfigError(f"{what}({model.__name__}): computed[{cname!r}] must be a "
                                    f"(type, callable_or_attribute) pair, got {entry!r}")
        annotation, source = entry
        if isinstance(source, str):
            getter = _attr_path(source)
        elif callable(source):
            getter = source
        else:
            raise SchemaConfigError(f"{what}({model.__name__}): computed[{cname!r}] source must "
                                    f"be a callable(instance) or an attribute path, got {source!r}")
        slot = Slot("computed", None, getter)
        specs.append(Spec(cname, annotation,
                          PydanticField(default=None, json_schema_extra={"readOnly": True}), slot))
    return specs


def schema_with_computed(model, computed: dict, *, include=None, exclude=None,
                         name: str | None = None, optional=(), readonly_pk: bool = True,
                         pii: str = "include") -> type[DormSchema]:
    """``schema_for(model, ...)`` plus read-only computed fields:
    ``computed={"name": (type, callable_or_attr)}``. When the schema reads a model
    instance, a callable is called with the instance and an attribute path
    (``"author.name"``, ``"get_full_name"``) is followed (a method at its end is called);
    from a dict, the value is taken as given. ``name`` defaults to ``<Model>Computed``."""
    what = "schema_with_computed"
    check_model(model, what)
    include = names_arg(include, "include", what)
    exclude = names_arg(exclude, "exclude", what)
    optional = names_arg(optional, "optional", what)
    check_pii(pii, what)
    cls_name = check_class_name(name, f"{model.__name__}Computed", what)
    key = ("computed", freeze(computed), include, exclude, cls_name, optional, bool(readonly_pk),
           pii)

    def build():
        fields, opt = _read_fields(model, include, exclude, optional, what)
        specs = read_specs(fields, optional=opt, readonly_pk=readonly_pk, pii=pii)
        specs += computed_specs(model, computed, {s.name for s in specs}, what)
        return make_schema(cls_name, model, specs)

    return cached(model, key, build)


# ---- examples ---------------------------------------------------------------------------------
def schema_for_with_examples(model, examples=None, *, include=None, exclude=None,
                             name: str | None = None, optional=(), readonly_pk: bool = True,
                             pii: str = "include") -> type[DormSchema]:
    """``schema_for(model, ...)`` whose JSON Schema carries ``examples`` (OpenAPI shows
    them). ``examples``: a list of dicts or model instances (each must validate against
    the schema, else :class:`SchemaConfigError` names the example and the error); ``None``
    synthesises one valid example from the fields (choices, lengths, digits, formats).
    ``name`` defaults to ``<Model>Schema``."""
    from .examples import synthesise

    what = "schema_for_with_examples"
    check_model(model, what)
    include = names_arg(include, "include", what)
    exclude = names_arg(exclude, "exclude", what)
    optional = names_arg(optional, "optional", what)
    check_pii(pii, what)
    cls_name = check_class_name(name, f"{model.__name__}Schema", what)
    if examples is not None and (isinstance(examples, (str, dict)) or not hasattr(examples, "__iter__")):
        raise SchemaConfigError(f"{what}({model.__name__}): examples must be a list of dicts or "
                                f"instances, got {type(examples).__name__}")
    examples = None if examples is None else list(examples)
    # model instances change under the same identity: only dict examples are cached
    cacheable = examples is None or all(isinstance(e, dict) for e in examples)

    def build():
        fields, opt = _read_fields(model, include, exclude, optional, what)
        specs = read_specs(fields, optional=opt, readonly_pk=readonly_pk, pii=pii)
        plain = make_schema(cls_name, model, specs)
        docs = [_example(plain, e, i, what) for i, e in enumerate(examples)] \
            if examples is not None else [synthesise(plain)]
        return make_schema(cls_name, model, specs, config={"json_schema_extra": {"examples": docs}})

    if not cacheable:
        return build()
    key = ("examples", freeze(examples), include, exclude, cls_name, optional,
           bool(readonly_pk), pii)
    return cached(model, key, build)


def _example(schema, example, index: int, what: str) -> dict:
    from pydantic import ValidationError

    try:
        return schema.model_validate(example).model_dump(mode="json")
    except ValidationError as exc:
        raise SchemaConfigError(f"{what}({schema.__dorm_model__.__name__}): example {index} "
                                f"does not validate: {exc}") from None


__all__ = ["schema_for", "create_schema_for", "update_schema_for", "schema_with_computed",
           "schema_for_with_examples"]
