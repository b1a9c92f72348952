"""One model field -> one pydantic annotation, derived from the kernel's JSON-schema mapping.

How a dorm field looks in JSON Schema is decided in one place, the kernel's
``dorm.migrations.jsonschema.field_schema`` (what ``dorm export-json-schema`` prints).
This module does not keep a second table of its own: it reads that fragment and

* publishes it unchanged as the field's JSON Schema (``WithJsonSchema``), so pydantic's
  ``model_json_schema()`` and ``dorm export-json-schema`` agree keyword for keyword;
* derives the Python type from the fragment's ``type``/``format``/``enum``
  (``format: uuid`` -> ``UUID``, ``date-time`` -> ``datetime``, ``decimal`` ->
  ``Decimal``, ``duration`` -> ``timedelta``, ``enum`` from choices -> ``Literal``,
  ``{}`` -> ``Any``, base64 strings -> ``bytes``) and its constraints (``maxLength``,
  ``minimum``/``maximum``, ``pattern``);
* runs the field's own checks (``to_python``, ``validate``, validators) for fields whose
  rules pydantic cannot express (email, URL, slug, IP addresses, custom field classes,
  fields declared with ``validators=[...]``), so a value the schema accepts is a value
  ``full_clean()`` accepts.

Reads from the model field itself only what the fragment cannot carry: the enum class
of an ``EnumField``, ``max_digits``/``decimal_places`` of a ``DecimalField`` (the
fragment encodes them as a pattern; pydantic's own constraints give better errors),
``max_length`` of strings whose fragment has a ``format`` (the kernel omits it there),
and that a ``FileField`` holds a file name.

Email: with ``email-validator`` installed (``pip install dorm-pydantic[email]``) an
address is checked by it (syntax only, no DNS) and then by the kernel; without it, by
the kernel's check alone. The value is never rewritten (no normalisation), so what the
schema returns is what the model stores.
"""
from __future__ import annotations

import base64
import binascii
import copy
import datetime
import decimal
import functools
import importlib.util
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic import Field as PydanticField
from pydantic_core import PydanticCustomError

#: ``format`` of a kernel fragment -> Python type of the value.
FORMAT_TYPES: dict[str, type] = {
    "uuid": uuid.UUID,
    "date-time": datetime.datetime,
    "date": datetime.date,
    "time": datetime.time,
    "duration": datetime.timedelta,
    "decimal": decimal.Decimal,
}
#: ``type`` of a kernel fragment -> Python type (when no format decides).
JSON_TYPES: dict[str, type] = {"integer": int, "number": float, "boolean": bool, "string": str}


def kernel_fragment(field) -> dict:
    """The kernel's JSON Schema of ``field`` (a fresh copy: callers may edit it)."""
    from dorm.migrations.jsonschema import field_schema

    return copy.deepcopy(field_schema(field))


def non_null_type(fragment: dict) -> str | None:
    """The fragment's ``type`` without ``"null"`` (``["string", "null"]`` -> ``"string"``)."""
    kind = fragment.get("type")
    if isinstance(kind, list):
        rest = [k for k in kind if k != "null"]
        return rest[0] if len(rest) == 1 else None
    return kind


def with_null(fragment: dict) -> dict:
    """``fragment`` also accepting ``null`` (as the kernel writes nullable fields)."""
    out = dict(fragment)
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def relation_target(field):
    """The target field of a forward ``ForeignKey``/``OneToOneField`` (``to_field`` or the
    target's pk), or None when the target model is not resolved yet."""
    target = field.remote_field.model
    if isinstance(target, str):
        return None
    return target._meta.get_field(field.to_field) if field.to_field else target._meta.pk


# ---- field checks pydantic cannot express ---------------------------------------------------
def _covered_types() -> frozenset:
    """Kernel field classes whose every check pydantic repeats from the fragment."""
    from dorm import fields as f

    names = ["IntegerField", "SmallIntegerField", "BigIntegerField", "PositiveIntegerField",
             "PositiveSmallIntegerField", "PositiveBigIntegerField", "AutoField", "BigAutoField",
             "SmallAutoField", "FloatField", "DecimalField", "CharField", "TextField",
             "BooleanField", "NullBooleanField", "DateField", "DateTimeField", "TimeField",
             "DurationField", "UUIDField", "JSONField", "BinaryField", "EnumField", "ForeignKey",
             "OneToOneField", "FileField", "ImageField"]
    return frozenset(getattr(f, n) for n in names if hasattr(f, n))


COVERED = _covered_types()


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, (str, bytes, list, dict, tuple)) and not value)


def kernel_check(field):
    """An after-validator running ``field.to_python``, ``field.validate`` and the field's
    validators on non-empty values; a ``dorm.ValidationError`` becomes a pydantic error
    of type ``dorm_invalid`` carrying the kernel's message. Returns the kernel's
    normalised value when it has the input's type (``EmailField`` strips blanks)."""
    from dorm.exceptions import ValidationError

    def check(value):
        if _is_empty(value):
            return value
        try:
            clean = field.to_python(value)
            field.validate(clean, None)
            field.run_validators(clean)
        except ValidationError as exc:
            raise PydanticCustomError("dorm_invalid", "{message}",
                                      {"message": " ".join(exc.messages)}) from None
        return clean if type(clean) is type(value) else value

    return AfterValidator(check)


@functools.cache
def email_validator_available() -> bool:
    """True when the optional ``email-validator`` package is importable."""
    return importlib.util.find_spec("email_validator") is not None


def _check_email(value: str) -> str:
    import email_validator

    try:
        email_validator.validate_email(value.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise PydanticCustomError("value_error", "value is not a valid email address: {reason}",
                                  {"reason": str(exc)}) from None
    return value


# ---- value types that need a converter -------------------------------------------------------
def _b64_in(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise PydanticCustomError("base64_invalid", "Input should be base64-encoded bytes") \
                from None
    return value


def _b64_out(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


#: ``BinaryField``: bytes in Python, base64 text in JSON (the kernel's ``contentEncoding``).
Base64Bytes = Annotated[bytes, BeforeValidator(_b64_in), PlainSerializer(_b64_out, when_used="json")]


def _file_name(value):
    """A ``FieldFile`` (what a ``FileField`` attribute holds) -> its stored name."""
    if value is None or isinstance(value, str):
        return value
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else value


# ---- the column ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """How one concrete model field appears in a schema.

    ``value_type`` is the annotation of a non-null value (type and constraints);
    ``fragment`` is the kernel's JSON Schema of the field (``null`` included when the
    field is nullable); ``nullable`` is ``field.null``."""

    field: Any
    value_type: Any
    fragment: dict
    nullable: bool

    def annotation(self, *, allow_none: bool, read_only: bool = False) -> Any:
        """The annotation for a schema field: ``Optional`` when ``allow_none``, with the
        kernel's fragment as its JSON Schema (``null`` added when ``allow_none`` widens a
        non-null field, unless ``read_only``: values the server fills in, marked
        ``readOnly``; without ``read_only`` the kernel's ``readOnly`` is dropped)."""
        fragment = dict(self.fragment)
        if allow_none and not self.nullable and not read_only:
            fragment = with_null(fragment)
        if read_only:
            fragment["readOnly"] = True
        else:
            fragment.pop("readOnly", None)       # the kernel marks auto keys; this one is written
        annotation = Optional[self.value_type] if allow_none else self.value_type
        return Annotated[annotation, WithJsonSchema(fragment)]


def _value_type(field, fragment: dict, source) -> Any:
    """The annotation of a non-null value of ``field`` whose values look like ``source``
    (the field itself, or the target field of a relation)."""
    from dorm import fields as f

    if isinstance(source, f.EnumField):
        return source.enum_cls
    if "enum" in fragment:
        values = tuple(v for v in fragment["enum"] if v is not None)
        return Literal[values] if values else Any
    fmt = fragment.get("format")
    kind = non_null_type(fragment)
    metadata: list = []
    if fmt in FORMAT_TYPES:
        base = FORMAT_TYPES[fmt]
        if base is decimal.Decimal and isinstance(source, f.DecimalField):
            metadata.append(PydanticField(max_digits=source.max_digits,
                                          decimal_places=source.decimal_places))
    elif fragment.get("contentEncoding") == "base64":
        return Base64Bytes
    elif isinstance(source, f.FileField if hasattr(f, "FileField") else ()):
        base = str
        metadata.append(BeforeValidator(_file_name))
    elif kind in JSON_TYPES:
        base = JSON_TYPES[kind]
    elif "anyOf" in fragment and all(isinstance(b, dict) for b in fragment["anyOf"]):
        base = str                                   # GenericIPAddressField(protocol="both")
    else:
        return Any
    if base is str:
        max_length = fragment.get("maxLength", getattr(source, "max_length", None))
        if isinstance(max_length, int) and not isinstance(max_length, bool):
            metadata.append(PydanticField(max_length=max_length))
        if "pattern" in fragment:
            metadata.append(PydanticField(pattern=fragment["pattern"]))
        if fmt == "email" and email_validator_available():
            metadata.append(AfterValidator(_check_email))
    if base is int:
        if "minimum" in fragment:
            metadata.append(PydanticField(ge=fragment["minimum"]))
        if "maximum" in fragment:
            metadata.append(PydanticField(le=fragment["maximum"]))
    if source is field and (field.validators or type(field) not in COVERED):
        metadata.append(kernel_check(field))
    return Annotated[(base, *metadata)] if metadata else base


def column(field) -> Column:
    """The :class:`Column` of a concrete field (a forward relation takes the key type of
    its target; an unresolved target gives ``Any``)."""
    fragment = kernel_fragment(field)
    source = field
    if getattr(field, "many_to_one", False) or getattr(field, "one_to_one", False):
        source = relation_target(field)
        if source is None:
            return Column(field, Any, fragment, bool(field.null))
    return Column(field, _value_type(field, fragment, source), fragment, bool(field.null))
