"""One synthesised example per schema, for ``schema_for_with_examples(examples=None)``.

Values follow the kernel's JSON Schema of each field (the same fragment the schema
publishes): the first choice or enum member, a string cut to ``maxLength``, a decimal
with the field's places, a value of the ``format``; a field's own non-callable default
wins. The example is validated against the schema before it is published.
"""
from __future__ import annotations

import datetime
import decimal
import uuid

from .mapping import kernel_fragment, non_null_type, relation_target

_FORMAT_EXAMPLES = {
    "uuid": str(uuid.UUID("12345678-1234-5678-1234-567812345678")),
    "date-time": "2024-01-02T03:04:05Z",
    "date": "2024-01-02",
    "time": "03:04:05",
    "duration": "PT1H30M",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


def _decimal_example(field) -> str:
    places = getattr(field, "decimal_places", 2) or 0
    whole = max(getattr(field, "max_digits", 10) - places, 0)
    head = "9" if whole else "0"
    return f"{head}.{'5' * places}" if places else head


def example_value(field):
    """A JSON value valid for ``field`` (a concrete column)."""
    if field.has_default() and not callable(field.default):
        value = field.default
        value = getattr(value, "value", value)
        if isinstance(value, (datetime.date, datetime.time)):
            return value.isoformat()
        if isinstance(value, (decimal.Decimal, uuid.UUID)):
            return str(value)
        return value
    source = field
    if getattr(field, "many_to_one", False) or getattr(field, "one_to_one", False):
        source = relation_target(field) or field
    from dorm import fields as f

    if isinstance(source, getattr(f, "FileField", ())):
        return "uploads/example.txt"
    fragment = kernel_fragment(field)
    if fragment.get("enum"):
        return next(v for v in fragment["enum"] if v is not None)
    fmt = fragment.get("format")
    if fmt == "decimal":
        return _decimal_example(source)
    if fmt in _FORMAT_EXAMPLES:
        return _FORMAT_EXAMPLES[fmt]
    if "anyOf" in fragment:
        return _FORMAT_EXAMPLES["ipv4"]
    if fragment.get("contentEncoding") == "base64":
        return "ZG9ybQ=="
    kind = non_null_type(fragment)
    if kind == "integer":
        low, high = fragment.get("minimum", 1), fragment.get("maximum", 1)
        return max(low, min(1, high))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "string":
        if "pattern" in fragment:
            return "example-slug"
        text = field.name.replace("_", " ")
        limit = fragment.get("maxLength") or getattr(source, "max_length", None)
        return text[:limit] if isinstance(limit, int) and limit > 0 else text
    return {}                                    # JSON and untyped plugin fields: Any


def synthesise(schema) -> dict:
    """One example for ``schema`` (a flat schema of :mod:`dorm_pydantic.schemas`), as JSON
    data; ``SchemaConfigError`` when the synthesised values do not validate (a custom
    validator, say): pass ``examples=`` then."""
    from pydantic import ValidationError

    from .options import SchemaConfigError

    model = schema.__dorm_model__
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    data = {}
    for name, slot in schema.__dorm_slots__.items():
        if name not in schema.model_fields:
            continue
        field = by_attname.get(slot.attname)
        if slot.kind == "masked":
            data[name] = "***"
        elif field is not None and slot.kind == "column":
            data[name] = example_value(field)
    try:
        return schema.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        raise SchemaConfigError(
            f"schema_for_with_examples({model.__name__}): the synthesised example does not "
            f"validate ({exc.error_count()} error(s): {exc}); pass examples=[...]") from None
