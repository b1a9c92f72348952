"""The fixture format of ``dumpdata`` / ``loaddata``.

An object is ``{"model": "app.Model", "pk": <pk>, "fields": {name: value, ...}}``:

* ``fields`` holds every concrete field but the primary key, by field name; a foreign
  key is the value of the column (the target's primary key, or its ``to_field``); a
  many-to-many field with an automatic junction table is the sorted list of target
  keys (an explicit ``through`` model is dumped as a model of its own).
* JSON-native values stay as they are (``JSONField`` content too); dates, times and
  datetimes are ISO 8601 (``isoformat()``), decimals and UUIDs strings, durations
  ``str(timedelta)`` (``"1 day, 2:03:04.000005"``), binary data base64, enum members
  their value.

A fixture file is a JSON list of objects (``.json``) or one object per line
(``.jsonl``; blank lines are ignored).

``read_fixture(path)`` yields ``(where, obj)`` where ``where`` names the object for
error messages (``shop.json: objects[3]``, ``shop.jsonl: line 4``); ``decode_object``
turns one object into a ``Row`` (Python values, checked per field) or raises
``FixtureError`` naming the file, the object and the field.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import enum
import ipaddress
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = {".json": "json", ".jsonl": "jsonl"}


class FixtureError(Exception):
    """A fixture that cannot be loaded; the message names file, object and field."""


# ---- encoding ----------------------------------------------------------------------------
def json_default(value):
    """``json.dumps(default=...)`` for the Python values fields read back."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot write a {type(value).__name__} value to a fixture: {value!r}")


def dumps(obj, indent: int | None = None) -> str:
    return json.dumps(obj, default=json_default, ensure_ascii=False, indent=indent)


# ---- reading -----------------------------------------------------------------------------
def fixture_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FixtureError(f"{path}: unknown fixture format {path.suffix or '(no extension)'!r}; "
                           f"use {', '.join(FORMATS)}")
    return fmt


def read_fixture(path: Path):
    """Yield ``(where, obj)`` for each object of the file (see module docstring)."""
    fmt = fixture_format(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise FixtureError(f"{path}: cannot read the fixture: {exc.strerror or exc}") from None
    with handle:
        if fmt == "json":
            try:
                data = json.load(handle)
            except json.JSONDecodeError as exc:
                raise FixtureError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                                   f"{exc.msg}") from None
            except UnicodeDecodeError as exc:
                raise FixtureError(f"{path}: not UTF-8 text ({exc.reason})") from None
            if not isinstance(data, list):
                raise FixtureError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
            for index, obj in enumerate(data):
                yield f"{path}: objects[{index}]", obj
            return
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise FixtureError(f"{path}: line {number}: invalid JSON at column {exc.colno}: "
                                       f"{exc.msg}") from None
                yield f"{path}: line {number}", obj
        except UnicodeDecodeError as exc:
            raise FixtureError(f"{path}: not UTF-8 text ({exc.reason})") from None


# ---- decoding -------------------------------------------------------------------------------
@dataclass(eq=False)
class Row:
    """One fixture object, decoded. ``values``: field -> Python value for the columns
    to write (the primary key included when given); ``m2m``: field -> target keys."""

    where: str
    model: type
    pk: object
    values: dict
    m2m: dict = field(default_factory=dict)
    exists: bool = False      # the primary key is already in the table (UPDATE)
    written: bool = False     # inserted/updated by now (or already in the table)

    def describe(self) -> str:
        pk = "" if self.pk is None else f" pk={self.pk!r}"
        return f"{self.where} ({self.model._meta.label}{pk})"


def _message(exc: Exception) -> str:
    messages = getattr(exc, "messages", None)
    if messages:
        return "; ".join(str(m) for m in messages)
    return str(exc) or type(exc).__name__


def to_python(field_obj, value, connection):
    """The fixture value of ``field_obj`` as a Python value, checked as far as can be
    done without the database; ``ValueError`` with the reason otherwise."""
    if value is None:
        if not field_obj.null and not field_obj.primary_key:
            raise ValueError("null, but the field is not nullable (null=False)")
        return None
    if field_obj.get_internal_type() == "BinaryField" and isinstance(value, str):
        try:
            value = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64 data") from None
    try:
        value = field_obj.to_python(value)
    except Exception as exc:  # noqa: BLE001 - each field raises its own kind
        raise ValueError(_message(exc)) from None
    max_length = getattr(field_obj, "max_length", None)
    if isinstance(value, str) and max_length and field_obj.get_internal_type() in (
            "CharField", "EmailField", "URLField", "SlugField") and len(value) > max_length:
        raise ValueError(f"{len(value)} characters, more than max_length={max_length}")
    try:
        field_obj.get_db_prep_save(value, connection)
    except Exception as exc:  # noqa: BLE001 - e.g. a decimal with too many digits
        raise ValueError(_message(exc)) from None
    return value


class ModelIndex:
    """``app.Model`` labels (case-insensitive) of the installed apps' models."""

    def __init__(self, models):
        self.by_label = {m._meta.label.lower(): m for m in models}

    def get(self, label, where: str):
        if not isinstance(label, str) or label.lower() not in self.by_label:
            valid = ", ".join(sorted(m._meta.label for m in self.by_label.values()))
            raise FixtureError(f"{where}: unknown model {label!r}; models: {valid or 'none'}")
        return self.by_label[label.lower()]


def decode_object(obj, where: str, models: ModelIndex, connection, m2m_fields) -> Row:
    """Decode and check one fixture object (see the module docstring)."""
    if not isinstance(obj, dict):
        raise FixtureError(f"{where}: expected an object with 'model', 'pk' and 'fields', "
                           f"got {type(obj).__name__}")
    unknown_keys = sorted(set(obj) - {"model", "pk", "fields"})
    if unknown_keys:
        raise FixtureError(f"{where}: unknown key(s) {', '.join(map(repr, unknown_keys))}; "
                           "an object has 'model', 'pk' and 'fields'")
    model = models.get(obj.get("model"), where)
    opts = model._meta
    label = opts.label
    fields = obj.get("fields", {})
    if not isinstance(fields, dict):
        raise FixtureError(f"{where} ({label}): 'fields' must be an object, got {type(fields).__name__}")
    pk_field = opts.pk
    pk = obj.get("pk")
    if pk is None and pk_field.name in fields:
        pk = fields[pk_field.name]
    if pk is None and pk_field.has_default():
        pk = pk_field.get_default()  # e.g. uuid4: the key is known before the INSERT
    if pk is not None:
        try:
            pk = to_python(pk_field, pk, connection)
        except ValueError as exc:
            raise FixtureError(f"{where} ({label}): primary key = {_short(obj.get('pk'))}: {exc}") from None
    by_name = {}
    for f in opts.concrete_fields:
        by_name[f.name] = f
        by_name.setdefault(f.attname, f)
    m2m = {f.name: f for f in m2m_fields(model)}
    row = Row(where, model, pk, {})
    for name, raw in fields.items():
        f = by_name.get(name)
        if f is None and name in m2m:
            row.m2m[m2m[name]] = _decode_m2m(m2m[name], raw, row, connection)
            continue
        if f is None:
            valid = ", ".join(sorted({x.name for x in opts.concrete_fields} | set(m2m)))
            raise FixtureError(f"{row.describe()}: unknown field {name!r}; fields of {label}: {valid}")
        if f is pk_field:
            continue
        try:
            row.values[f] = to_python(f, raw, connection)
        except ValueError as exc:
            raise FixtureError(f"{row.describe()}: field {f.name!r} = {_short(raw)}: {exc}") from None
    for f in opts.concrete_fields:
        if f in row.values or f is pk_field:
            continue
        if f.has_db_default() and not f.has_default():
            continue  # the database fills it
        default = f.get_default()
        if default is None and not f.null:
            raise FixtureError(f"{row.describe()}: field {f.name!r} is missing and has no default "
                               "(null=False)")
        row.values[f] = default
    if pk is not None:
        row.values = {pk_field: pk, **row.values}
    return row


def _decode_m2m(f, raw, row: Row, connection) -> list:
    if not isinstance(raw, list):
        raise FixtureError(f"{row.describe()}: field {f.name!r}: expected a list of primary keys, "
                           f"got {_short(raw)}")
    target_pk = f.remote_field.model._meta.pk
    out = []
    for item in raw:
        try:
            out.append(to_python(target_pk, item, connection))
        except ValueError as exc:
            raise FixtureError(f"{row.describe()}: field {f.name!r}: key {_short(item)}: {exc}") from None
    return out


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
