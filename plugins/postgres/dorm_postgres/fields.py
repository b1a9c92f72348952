"""PostgreSQL-only field types: ``ArrayField``.

``ArrayField(base_field, size=None, **options)`` stores a list of ``base_field``
values in a ``<base type>[]`` column (``dorm.ArrayField`` once dorm-postgres is
installed). Lookups (``dorm_postgres.lookups``): ``contains`` / ``array_contains``
(``@>``), ``contained_by`` (``<@``), ``overlap`` / ``array_overlap`` (``&&``),
``len`` (a transform: ``tags__len__gte=2``) and ``exact``. On other backends the
column type raises ``NotSupportedError``.
"""
from __future__ import annotations

import copy

from dorm.exceptions import NotSupportedError, ValidationError
from dorm.fields import Field


class ArrayField(Field):
    empty_strings_allowed = False

    def __init__(self, base_field=None, size=None, **kwargs):
        if base_field is None or not isinstance(base_field, Field):
            raise TypeError("ArrayField(base_field): base_field must be a field instance, "
                            "e.g. ArrayField(dorm.CharField(max_length=20))")
        if getattr(base_field, "is_relation", False):
            raise TypeError("ArrayField cannot hold relations")
        if size is not None and (not isinstance(size, int) or size < 1):
            raise ValueError("ArrayField(size=) must be a positive integer")
        self.base_field = base_field
        self.size = size
        super().__init__(**kwargs)

    def set_attributes_from_name(self, name: str) -> None:
        super().set_attributes_from_name(name)
        self.base_field.set_attributes_from_name(name)

    def get_internal_type(self) -> str:
        return "ArrayField"

    def _deconstruct_extra(self):
        out = {"base_field": self.base_field.clone() if hasattr(self.base_field, "clone")
               else copy.deepcopy(self.base_field)}
        if self.size is not None:
            out["size"] = self.size
        return out

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "dorm.ArrayField", args, kwargs

    # ---- column type ----------------------------------------------------------------------
    def db_type(self, connection) -> str | None:
        if not getattr(connection.features, "supports_array_field", False):
            raise NotSupportedError(
                f"ArrayField is not supported on {connection.display_name} (PostgreSQL only)")
        inner = self.base_field.db_type(connection)
        if inner is None:
            raise NotSupportedError(f"ArrayField cannot hold {type(self.base_field).__name__}")
        return f"{inner}[{self.size or ''}]"

    def cast_db_type(self, connection) -> str | None:
        return self.db_type(connection)

    def db_check(self, connection):
        return None

    def rel_db_type(self, connection):
        return self.db_type(connection)

    # ---- values ------------------------------------------------------------------------------
    def to_python(self, value):
        if value is None:
            return None
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValidationError({self.name: f"{value!r} is not a list"})
        return [self.base_field.to_python(v) if v is not None else None for v in value]

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return self.to_python(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if isinstance(value, (tuple, set, frozenset)):
            value = list(value)
        if not isinstance(value, list):
            raise ValidationError(f"{self.name}: expected a list, got {type(value).__name__}")
        prep = self.base_field.get_db_prep_value
        return [None if v is None else prep(v, connection) for v in value]

    def from_db_value(self, value, connection):
        if value is None:
            return None
        fdv = getattr(self.base_field, "from_db_value", None)
        if fdv is None:
            return value
        return [fdv(v, connection) for v in value]

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        if value is None:
            return
        if self.size is not None and len(value) > self.size:
            raise ValidationError(f"List contains {len(value)} items, it should contain no more "
                                  f"than {self.size}.", code="array_size")
        for item in value:
            if item is not None:
                self.base_field.validate(item, model_instance)

    def _empty_default(self):
        return None

    def value_to_string(self, obj):
        return list(self.value_from_object(obj) or ())
