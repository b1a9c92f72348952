"""``dorm export-json-schema``: a JSON Schema (draft 2020-12) per model.

Types: integers (with the field's range as ``minimum``/``maximum``), ``number`` for
floats, decimals as strings with a digits pattern, strings with ``maxLength``,
``format`` for email, uri, uuid, date, date-time, time, duration, ipv4/ipv6,
``enum`` for choices and ``EnumField``, ``boolean``, any JSON for ``JSONField``,
base64 strings for binary. Nullable fields accept ``null``. Foreign keys appear under
their column attribute (``author_id``) with the target's key type; with
``include_relations`` they also carry ``x-related-model`` and many-to-many fields
appear as arrays of keys. ``description`` comes from ``help_text``, ``title`` from
``verbose_name``; ``x-pii`` marks fields declared with ``pii=True``.
"""
from __future__ import annotations

import datetime
import decimal
import enum
import uuid

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _jsonable(value):
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value, True
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat(), True
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value), True
    if isinstance(value, (list, dict)):
        import json

        try:
            json.dumps(value)
            return value, True
        except TypeError:
            return None, False
    return None, False


def field_schema(field) -> dict:
    from dorm import fields as f

    if getattr(field, "many_to_one", False) or getattr(field, "one_to_one", False):
        target = field.remote_field.model
        if isinstance(target, str):
            schema = {}
        else:
            to_field = field.to_field
            tf = target._meta.get_field(to_field) if to_field else target._meta.pk
            schema = field_schema(tf)
            schema.pop("readOnly", None)
            schema.pop("title", None)
            schema.pop("description", None)
    elif isinstance(field, f.EnumField):
        schema = {"enum": [m.value for m in field.enum_cls]}
    elif isinstance(field, f.BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(field, f.IntegerField):
        schema = {"type": "integer"}
        if field.min_value is not None:
            schema["minimum"] = field.min_value
        if field.max_value is not None:
            schema["maximum"] = field.max_value
        from dorm.fields.scalar import AutoFieldMixin

        if isinstance(field, AutoFieldMixin):
            schema["readOnly"] = True
    elif isinstance(field, f.FloatField):
        schema = {"type": "number"}
    elif isinstance(field, f.DecimalField):
        whole = max(field.max_digits - field.decimal_places, 0)
        frac = field.decimal_places
        pattern = rf"^-?\d{{0,{whole}}}" + (rf"(\.\d{{0,{frac}}})?$" if frac else "$")
        schema = {"type": "string", "format": "decimal", "pattern": pattern}
    elif isinstance(field, f.EmailField):
        schema = {"type": "string", "format": "email"}
    elif isinstance(field, f.URLField):
        schema = {"type": "string", "format": "uri"}
    elif isinstance(field, f.SlugField):
        schema = {"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$"}
    elif isinstance(field, f.UUIDField):
        schema = {"type": "string", "format": "uuid"}
    elif isinstance(field, f.GenericIPAddressField):
        schema = {"type": "string", "format": {"ipv4": "ipv4", "ipv6": "ipv6"}.get(field.protocol)}
        if schema["format"] is None:
            schema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
    elif isinstance(field, f.DateTimeField):
        schema = {"type": "string", "format": "date-time"}
    elif isinstance(field, f.DateField):
        schema = {"type": "string", "format": "date"}
    elif isinstance(field, f.TimeField):
        schema = {"type": "string", "format": "time"}
    elif isinstance(field, f.DurationField):
        schema = {"type": "string", "format": "duration"}
    elif isinstance(field, f.JSONField):
        schema = {}
    elif isinstance(field, f.BinaryField):
        schema = {"type": "string", "contentEncoding": "base64"}
    elif isinstance(field, (f.CharField, f.TextField, f.FileField, f.FilePathField)):
        schema = {"type": "string"}  # file fields: the stored name
    else:
        schema = {}
    max_length = getattr(field, "max_length", None)
    # formats such as date or uuid fix the length; free text (including email and URL
    # addresses) is bounded by the column
    free_text = "format" not in schema or isinstance(field, (f.EmailField, f.URLField))
    if schema.get("type") == "string" and isinstance(max_length, int) and free_text:
        schema["maxLength"] = max_length
    if field.choices and "enum" not in schema:
        schema["enum"] = [c[0] for c in field.flatchoices]
    if field.null:
        if "type" in schema:
            schema["type"] = [schema["type"], "null"] if isinstance(schema["type"], str) else schema["type"]
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    if field.verbose_name and field.verbose_name != field.name.replace("_", " "):
        schema["title"] = str(field.verbose_name)
    if field.help_text:
        schema["description"] = str(field.help_text)
    if field.has_default() and not callable(field.default):
        value, ok = _jsonable(field.default)
        if ok:
            schema["default"] = value
    if getattr(field, "pii", False):
        schema["x-pii"] = True
    return schema


def model_schema(model, include_relations: bool = False) -> dict:
    opts = model._meta
    properties: dict = {}
    required: list = []
    for field in sorted(opts.local_fields, key=lambda x: x.creation_counter):
        name = field.attname if field.is_relation else field.name
        schema = field_schema(field)
        if include_relations and field.is_relation and not isinstance(field.remote_field.model, str):
            schema["x-related-model"] = field.remote_field.model._meta.label
        properties[name] = schema
        auto = schema.get("readOnly", False)
        if not field.null and not field.has_default() and not field.has_db_default() and not auto \
                and not getattr(field, "auto_now", False) and not getattr(field, "auto_now_add", False):
            required.append(name)
    if include_relations:
        for field in opts.local_many_to_many:
            target = field.remote_field.model
            if isinstance(target, str):
                continue
            item = field_schema(target._meta.pk)
            item.pop("readOnly", None)
            properties[field.name] = {"type": "array", "items": item, "uniqueItems": True,
                                      "x-related-model": target._meta.label}
    out = {
        "$schema": DRAFT,
        "$id": f"urn:dorm:model:{opts.label}",
        "title": model.__name__,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if model.__doc__ and not model.__doc__.startswith(f"{model.__name__}("):
        out["description"] = " ".join(model.__doc__.split())
    if required:
        out["required"] = required
    return out


def export_schemas(models, include_relations: bool = False) -> dict[str, dict]:
    """``{"app.Model": schema}`` in label order."""
    return {m._meta.label: model_schema(m, include_relations)
            for m in sorted(models, key=lambda m: m._meta.label)}
