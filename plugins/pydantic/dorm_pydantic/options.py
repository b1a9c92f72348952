"""Argument checking, field selection, schema assembly and the schema cache.

Every builder of ``dorm.contrib.pydantic`` goes through here: names in ``include`` /
``exclude`` / ``optional`` are checked against the model (an unknown name is an error
that names the model and lists the valid names), the ``pii`` mode is checked, and the
finished class is cached per (model, builder, options) so that a schema built twice with
the same arguments is the same class (stable OpenAPI components, no rebuild cost).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .base import DormSchema, Slot

#: ``pii=`` modes of the read schemas
PII_MODES = ("include", "exclude", "mask")
#: what ``pii="mask"`` shows instead of a PII value (as ``dorm.contrib.streaming``'s
#: ``mask_pii``; ``None`` stays ``None``)
PII_MASK = "***"

MODULE = "dorm.contrib.pydantic"


class SchemaConfigError(ValueError):
    """A builder of ``dorm.contrib.pydantic`` was called with arguments that do not fit
    the model (unknown field name, bad ``pii`` mode, bad class name, ...)."""


def check_model(model, what: str) -> None:
    """``model`` must be a concrete dorm model class."""
    meta = getattr(model, "_meta", None)
    if not isinstance(model, type) or meta is None or not hasattr(meta, "concrete_fields"):
        raise TypeError(f"{what}(model): a dorm model class is needed, got {model!r}")
    if getattr(meta, "abstract", False):
        raise TypeError(f"{what}({model.__name__}): abstract models have no schema; "
                        "use a concrete subclass")


def names_arg(value, arg: str, what: str) -> tuple[str, ...] | None:
    """Normalise an ``include``/``exclude``/``optional`` argument to a tuple of names."""
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    try:
        names = tuple(value)
    except TypeError:
        raise TypeError(f"{what}({arg}=...): an iterable of field names, got {value!r}") from None
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise TypeError(f"{what}({arg}=...): field names must be strings, got {bad!r}")
    return names


def check_pii(pii: str, what: str) -> str:
    if pii not in PII_MODES:
        raise SchemaConfigError(
            f"{what}(pii={pii!r}): choose one of {', '.join(map(repr, PII_MODES))}")
    return pii


def check_class_name(name: str | None, default: str, what: str) -> str:
    name = default if name is None else name
    if not isinstance(name, str) or not name.isidentifier():
        raise SchemaConfigError(f"{what}(name={name!r}): the schema class name must be a "
                                "Python identifier")
    return name


def resolve(model, index: dict[str, Any], names, arg: str, what: str) -> list:
    """The objects of ``index`` named by ``names``; an unknown name raises
    :class:`SchemaConfigError` naming the model and the valid names."""
    bad = [n for n in names if n not in index]
    if bad:
        valid = ", ".join(sorted(index))
        raise SchemaConfigError(
            f"{what}({model.__name__}): unknown field(s) in {arg}: {', '.join(map(repr, bad))}. "
            f"Valid names for {model._meta.label}: {valid}")
    return [index[n] for n in names]


def field_index(fields) -> dict[str, Any]:
    """``{name: field, attname: field}`` of model fields (``author`` and ``author_id``)."""
    index: dict[str, Any] = {}
    for f in fields:
        index[f.name] = f
        if f.attname:
            index.setdefault(f.attname, f)
    return index


def select(model, fields: list, *, include, exclude, what: str, default=None) -> list:
    """The fields of ``fields`` a schema shows, in model order: ``include`` (or
    ``default``, or all) minus ``exclude``."""
    index = field_index(fields)
    chosen = fields if default is None else default
    if include is not None:
        wanted = set(resolve(model, index, include, "include", what))
        chosen = [f for f in fields if f in wanted]
    if exclude is not None:
        dropped = set(resolve(model, index, exclude, "exclude", what))
        chosen = [f for f in chosen if f not in dropped]
    return chosen


def model_description(model) -> str | None:
    """The model's own docstring (the JSON Schema ``description``, as in ``dorm
    export-json-schema``), or None for the generated ``Model(field, ...)`` one."""
    doc = model.__doc__
    if not doc or doc.startswith(f"{model.__name__}("):
        return None
    return " ".join(doc.split())


# ---- assembly -----------------------------------------------------------------------------------
@dataclass
class Spec:
    """One schema field: its annotation, its ``pydantic.Field(...)`` and its slot."""

    name: str
    annotation: Any
    info: Any
    slot: Slot


def make_schema(name: str, model, specs: list[Spec], *, base=DormSchema, relations=(),
                config: dict | None = None, doc: str | None = None) -> type[DormSchema]:
    """A ``base`` subclass called ``name`` with ``specs`` as fields."""
    namespace: dict[str, Any] = {
        "__module__": MODULE,
        "__qualname__": name,
        "__doc__": doc if doc is not None else model_description(model),
        "__annotations__": {s.name: s.annotation for s in specs},
        "__dorm_model__": model,
        "__dorm_slots__": {**getattr(base, "__dorm_slots__", {}), **{s.name: s.slot for s in specs}},
        "dorm_relations": tuple(relations),
    }
    for s in specs:
        namespace[s.name] = s.info
    if config:
        namespace["model_config"] = {**base.model_config, **config}
    return type(base)(name, (base,), namespace)


# ---- cache ------------------------------------------------------------------------------------
#: attribute of a model class holding its schemas (in the class ``__dict__``: a subclass
#: has its own). On the class rather than in a module-level dict so that a model and its
#: schemas are collected together (a schema refers to its model).
CACHE_ATTR = "_dorm_pydantic_schemas"
_lock = threading.RLock()


def freeze(value):
    """A hashable stand-in for an option value (lists/dicts/sets become tuples)."""
    if isinstance(value, dict):
        return tuple(sorted(((freeze(k), freeze(v)) for k, v in value.items()), key=repr))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted((freeze(v) for v in value), key=repr))
    return value


def cached(model, key: tuple, build):
    """``build()``, memoised per (``model``, ``key``); a key that cannot be hashed is
    not cached."""
    try:
        hash(key)
    except TypeError:
        return build()
    with _lock:
        per_model = model.__dict__.get(CACHE_ATTR)
        if per_model is not None and key in per_model:
            return per_model[key]
    schema = build()
    with _lock:
        per_model = model.__dict__.get(CACHE_ATTR)
        if per_model is None:
            per_model = {}
            type.__setattr__(model, CACHE_ATTR, per_model)
        return per_model.setdefault(key, schema)


def clear_cache(model=None) -> None:
    """Forget the cached schemas of ``model`` (of every model seen, when None, as far
    as they are still registered)."""
    from dorm.models import registry

    with _lock:
        models = [model] if model is not None else registry.get_models(include_abstract=True)
        for m in models:
            if CACHE_ATTR in m.__dict__:
                type.__delattr__(m, CACHE_ATTR)
