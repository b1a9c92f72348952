"""Resolving what a tree walk needs from a model: the parent pointer and the key.

``TreeSpec`` is computed once per ``(model, parent_field, pk_column)`` and cached.
Every identifier that reaches SQL comes from a field object of the model, never
from the caller's text: a name is only used to *find* a field.
"""
from __future__ import annotations

from dataclasses import dataclass

from dorm.exceptions import ImproperlyConfigured

#: internal types whose values print as plain digits (safe in a ``,1,2,`` path)
INTEGER_TYPES = frozenset({
    "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
    "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
})

#: column names the tree CTEs add next to the model's columns
RESERVED_COLUMNS = ("depth", "is_cycle", "via")


@dataclass(frozen=True)
class TreeSpec:
    model: type
    parent: object      # the field holding the parent's key (an FK to self, or a plain column)
    key: object         # the field the parent pointer refers to (pk, or the FK's to_field)

    @property
    def table(self):
        return self.model._meta.db_table

    @property
    def name(self):
        return self.model.__name__

    @property
    def integer_key(self) -> bool:
        return _internal_type(self.key) in INTEGER_TYPES


def _internal_type(field) -> str:
    t = field.get_internal_type()
    if t in ("ForeignKey", "OneToOneField"):
        return _internal_type(field.target_field)
    return t


_cache: dict = {}


def model_of(obj):
    """A model class from a model class, an instance, a manager or a QuerySet."""
    from dorm.models import Model

    if isinstance(obj, type) and issubclass(obj, Model):
        model = obj
    elif isinstance(obj, Model):
        model = type(obj)
    elif getattr(obj, "model", None) is not None and hasattr(obj, "get_queryset") or hasattr(obj, "query"):
        model = obj.model
    else:
        raise TypeError(
            f"dorm.tree needs a model class, a manager or a QuerySet, got {type(obj).__name__}")
    if model._meta.abstract:
        raise TypeError(f"{model.__name__} is abstract: walk a concrete model")
    return model


def resolve(model, parent_field=None, pk_column=None) -> TreeSpec:
    """Find the parent pointer (``"parent"``, ``"parent_id"`` or ``None`` = the one
    ``ForeignKey("self")``) and the key column it refers to; raise
    ``ImproperlyConfigured`` naming the model and the candidates otherwise."""
    key = (model, parent_field, pk_column)
    spec = _cache.get(key)
    if spec is None:
        spec = _cache[key] = _resolve(model, parent_field, pk_column)
    return spec


def _self_fks(model):
    concrete = model._meta.concrete_model
    return [f for f in model._meta.concrete_fields
            if getattr(f, "is_relation", False) and f.related_model is not None
            and not isinstance(f.related_model, str)
            and f.related_model._meta.concrete_model is concrete]


def _find(model, name):
    for f in model._meta.concrete_fields:
        if name in (f.name, f.attname, f.column):
            return f
    return None


def _resolve(model, parent_field, pk_column):
    opts = model._meta
    label = model.__name__
    if parent_field is None:
        fks = _self_fks(model)
        if not fks:
            raise ImproperlyConfigured(
                f"{label} has no ForeignKey('self') to walk; declare one "
                f"(parent = dorm.ForeignKey('self', null=True, on_delete=...)) or pass "
                f"parent_field='<column holding the parent key>'")
        if len(fks) > 1:
            raise ImproperlyConfigured(
                f"{label} has several ForeignKey('self') fields ({', '.join(f.name for f in fks)}); "
                f"pass parent_field= to choose one")
        parent = fks[0]
    else:
        if not isinstance(parent_field, str):
            raise TypeError(f"parent_field must be a field name or column name, got {parent_field!r}")
        parent = _find(model, parent_field)
        if parent is None:
            candidates = [f.name for f in _self_fks(model)]
            hint = (f"self-referencing fields: {', '.join(candidates)}" if candidates
                    else f"{label} has no ForeignKey('self')")
            raise ImproperlyConfigured(
                f"{label} has no field or column {parent_field!r} to use as the tree's parent "
                f"pointer ({hint})")
        if getattr(parent, "is_relation", False):
            target = parent.related_model
            if target is None or isinstance(target, str) or \
                    target._meta.concrete_model is not opts.concrete_model:
                tname = getattr(target, "__name__", target)
                raise ImproperlyConfigured(
                    f"{label}.{parent.name} is a ForeignKey to {tname}, not to {label} itself: "
                    f"a tree's parent pointer must be ForeignKey('self')")
        elif parent.primary_key:
            raise ImproperlyConfigured(
                f"{label}.{parent.name} is the primary key; parent_field must name the column "
                "that holds the parent's key")
    if getattr(parent, "is_relation", False):
        key = parent.target_field
        if pk_column is not None and pk_column not in (key.name, key.attname, key.column, "pk"):
            raise ImproperlyConfigured(
                f"{label}.{parent.name} refers to {label}.{key.name}; pk_column={pk_column!r} "
                "does not match it (leave pk_column out)")
    elif pk_column is None or pk_column == "pk":
        key = opts.pk
    else:
        key = _find(model, pk_column)
        if key is None:
            raise ImproperlyConfigured(f"{label} has no field or column {pk_column!r} (pk_column)")
        if not (key.primary_key or key.unique):
            raise ImproperlyConfigured(
                f"{label}.{key.name} is neither the primary key nor unique: pk_column must "
                "identify one row")
    return TreeSpec(model, parent, key)


def columns_for(spec: TreeSpec, fields, extra_names=()):
    """The model columns a CTE carries: ``fields`` (names or columns, validated)
    plus the key and parent columns, in order, without duplicates."""
    model = spec.model
    out = []
    wanted = list(fields) if fields is not None else []
    if isinstance(fields, str):
        raise TypeError("fields must be a list of field or column names, not a string")
    for name in [*wanted, spec.key.column, spec.parent.column]:
        f = _find(model, name) if isinstance(name, str) else None
        if f is None:
            choices = ", ".join(sorted(x.column for x in model._meta.concrete_fields))
            raise ImproperlyConfigured(
                f"{model.__name__} has no column {name!r} (fields=); columns: {choices}")
        if f not in out:
            out.append(f)
    taken = {f.column for f in out}
    for reserved in (*RESERVED_COLUMNS, *extra_names):
        if reserved in taken:
            raise ImproperlyConfigured(
                f"{model.__name__}.{reserved} clashes with the column the tree CTE adds under that "
                f"name ({', '.join(RESERVED_COLUMNS)}); leave it out of fields=")
    return out
