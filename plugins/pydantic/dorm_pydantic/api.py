"""``dorm.contrib.pydantic``: pydantic v2 schemas generated from dorm models.

* ``schema_for(model, *, include=None, exclude=None, name=None, optional=(),
  readonly_pk=True, pii="include")`` -- the read schema (every concrete column);
* ``create_schema_for(model, ...)`` -- POST body: no generated key, required fields
  required; ``update_schema_for(model, ...)`` -- PATCH body: everything optional;
* ``list_response_schema(item)`` -- ``{items, count, next_cursor, has_next}``, the
  envelope of a ``QuerySet.cursor_paginate`` page;
* ``schema_with_computed(model, computed={"name": (type, callable_or_attr)})``,
  ``schema_for_with_examples(model, examples=None)``,
  ``nested_schema_for(model, depth=1)`` -- embedded relations, cycle-safe;
* ``DormSchema`` -- the base: ``from_model(instance)``, ``to_model(model_cls=None)``,
  ``apply_to(instance)``, ``dorm_relations``.

Field types, constraints and JSON Schema come from the kernel's mapping (the one
``dorm export-json-schema`` uses); see ``docs/pydantic.md``. Schemas are cached per
(model, arguments).
"""
from __future__ import annotations

from .base import DormSchema
from .nested import nested_schema_for
from .options import PII_MASK, PII_MODES, SchemaConfigError
from .pages import ListResponse, list_response_schema
from .schemas import (create_schema_for, schema_for, schema_for_with_examples,
                      schema_with_computed, update_schema_for)

__all__ = [
    "DormSchema",
    "ListResponse",
    "PII_MASK",
    "PII_MODES",
    "SchemaConfigError",
    "create_schema_for",
    "list_response_schema",
    "nested_schema_for",
    "schema_for",
    "schema_for_with_examples",
    "schema_with_computed",
    "update_schema_for",
]
