"""``HStoreField``: a ``dict[str, str | None]`` (``dorm.HStoreField``).

PostgreSQL: an ``hstore`` column (create the extension first with
``CreateExtension("hstore")``). Values are sent as hstore text literals (psycopg sends
strings untyped, so the server reads them as ``hstore``) and parsed back, so no
per-connection adapter (and no extension OID lookup at connect time) is needed. Other
backends: a ``TEXT`` column holding the dict as JSON; the Python value is the same.

Assignment and binding normalise to ``{str(key): None | str(value)}``; a key that is
not a ``str`` or a value that is not ``str``/``None`` raises ``ValidationError`` (no
silent ``str()`` of numbers: ``{"n": 1}`` is refused, write ``{"n": "1"}``).

Lookups: ``data__key="v"`` (key transform: the value as text, NULL when absent, so
``data__key__isnull=True`` and ``data__key__icontains`` work), ``has_key``,
``has_keys``, ``has_any_keys`` (every backend); ``contains`` / ``contained_by``
(``@>`` / ``<@``) and the ``keys`` / ``values`` transforms (``akeys`` / ``avals``, then
the ``ArrayField`` lookups) on PostgreSQL only (``NotSupportedError`` elsewhere).
"""
from __future__ import annotations

import json
import re

from dorm.exceptions import NotSupportedError, ValidationError
from dorm.fields import Field, TextField
from dorm.lookups import Lookup, Transform


def _is_pg(connection) -> bool:
    return getattr(connection, "vendor", None) == "postgresql"


def normalize(value, name="hstore"):
    """``{str: str | None}`` from a dict or a JSON object string."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError({name: f"{value[:50]!r} is not a JSON object"}) from None
    if not isinstance(value, dict):
        raise ValidationError({name: f"an hstore value must be a dict, got {type(value).__name__}"})
    out = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise ValidationError({name: f"hstore keys must be str, got {k!r}"})
        if v is not None and not isinstance(v, str):
            raise ValidationError({name: f"hstore values must be str or None, got {v!r} for key {k!r}"})
        if "\x00" in k or (v is not None and "\x00" in v):
            raise ValidationError({name: "hstore keys and values cannot contain NUL"})
        out[k] = v
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_hstore_literal(value: dict) -> str:
    return ", ".join(f"{_quote(k)}=>{'NULL' if v is None else _quote(v)}" for k, v in value.items())


_TOKEN = re.compile(r'''
    \s*"(?P<k>(?:[^"\\]|\\.)*)"\s*=>\s*
    (?:"(?P<v>(?:[^"\\]|\\.)*)"|(?P<null>NULL))\s*(?:,|$)
''', re.VERBOSE | re.IGNORECASE)
_UNESCAPE = re.compile(r"\\(.)")


def parse_hstore(text: str) -> dict:
    """Parse PostgreSQL's hstore output (``"k"=>"v", "k2"=>NULL``)."""
    out, pos = {}, 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot parse hstore value at {text[pos:pos + 30]!r}")
        key = _UNESCAPE.sub(r"\1", m.group("k"))
        out[key] = None if m.group("null") else _UNESCAPE.sub(r"\1", m.group("v"))
        pos = m.end()
    return out


class HStoreField(Field):
    empty_strings_allowed = False

    def get_internal_type(self):
        return "HStoreField"

    def db_type(self, connection):
        return "hstore" if _is_pg(connection) else "TEXT"

    def cast_db_type(self, connection):
        return self.db_type(connection)

    def rel_db_type(self, connection):
        return self.db_type(connection)

    def db_check(self, connection):
        return None

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "dorm.HStoreField", args, kwargs

    # ---- values ---------------------------------------------------------------------------
    def to_python(self, value):
        return normalize(value, self.name or "hstore")

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return self.to_python(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        value = normalize(value, self.name or "hstore")
        if _is_pg(connection):
            return to_hstore_literal(value)
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def from_db_value(self, value, connection):
        if value is None or isinstance(value, dict):
            return value
        if isinstance(value, (bytes, memoryview)):
            value = bytes(value).decode()
        if _is_pg(connection):
            return parse_hstore(value)
        return json.loads(value)

    def _empty_default(self):
        return None

    def value_to_string(self, obj):
        return self.value_from_object(obj)

    # ---- key transform (``data__color``) ----------------------------------------------------
    def key_transform(self, key, lhs):
        return HStoreKeyTransform(key, lhs)


class HStoreKeyTransform(Transform):
    """``data__color``: the value of key ``color`` as text (NULL when absent)."""

    lookup_name = "__hstore_key__"

    def __init__(self, key_name, lhs, **extra):
        super().__init__(lhs, **extra)
        self.key_name = str(key_name)

    def _resolve_output_field(self):
        return TextField()

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.lhs)
        if _is_pg(connection):
            return f"({sql} -> %s)", [*params, self.key_name]
        ksql, kp = connection.ops.json_key_text_sql(sql, [self.key_name])
        return ksql, [*params, *kp]


def _keys_arg(lookup, rhs):
    if isinstance(rhs, (str, bytes)) or not hasattr(rhs, "__iter__"):
        raise TypeError(f"'{lookup}' needs a list of keys, got {rhs!r}")
    keys = [k for k in rhs]
    for k in keys:
        if not isinstance(k, str):
            raise TypeError(f"'{lookup}': keys must be str, got {k!r}")
    return keys


class HStoreHasKey(Lookup):
    lookup_name = "has_key"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        if not isinstance(self.rhs, str):
            raise TypeError(f"'has_key' needs a str key, got {self.rhs!r}")
        lhs, lp = self.process_lhs(compiler, connection)
        if _is_pg(connection):
            return f"{lhs} ? %s", [*lp, self.rhs]
        sql, p = connection.ops.json_has_key_sql(lhs, self.rhs)
        return sql, [*lp, *p]


class _HStoreKeys(Lookup):
    prepare_rhs = False
    operator = ""
    joiner = ""

    def as_sql(self, compiler, connection):
        keys = _keys_arg(self.lookup_name, self.rhs)
        lhs, lp = self.process_lhs(compiler, connection)
        if _is_pg(connection):
            return f"{lhs} {self.operator} %s::text[]", [*lp, keys]
        if not keys:
            return ("1=1" if self.joiner == " AND " else "1=0"), []
        parts, params = [], []
        for k in keys:
            sql, p = connection.ops.json_has_key_sql(lhs, k)
            parts.append(sql)
            params.extend([*lp, *p])
        return "(" + self.joiner.join(parts) + ")", params


class HStoreHasKeys(_HStoreKeys):
    lookup_name = "has_keys"
    operator = "?&"
    joiner = " AND "


class HStoreHasAnyKeys(_HStoreKeys):
    lookup_name = "has_any_keys"
    operator = "?|"
    joiner = " OR "


class _HStoreContainment(Lookup):
    prepare_rhs = False
    operator = ""

    def as_sql(self, compiler, connection):
        if not _is_pg(connection):
            raise NotSupportedError(f"HStoreField lookup '{self.lookup_name}' is not supported on "
                                    f"{connection.display_name} (PostgreSQL only)")
        lhs, lp = self.process_lhs(compiler, connection)
        value = to_hstore_literal(normalize(self.rhs, self.lookup_name))
        return f"{lhs} {self.operator} %s::hstore", [*lp, value]


class HStoreContains(_HStoreContainment):
    lookup_name = "contains"
    operator = "@>"


class HStoreContainedBy(_HStoreContainment):
    lookup_name = "contained_by"
    operator = "<@"


class _HStoreArrayTransform(Transform):
    function = ""

    def _resolve_output_field(self):
        from .fields import ArrayField

        return ArrayField(TextField())

    def as_sql(self, compiler, connection, **extra):
        if not _is_pg(connection):
            raise NotSupportedError(f"HStoreField transform '{self.lookup_name}' is not supported "
                                    f"on {connection.display_name} (PostgreSQL only)")
        sql, params = compiler.compile(self.lhs)
        return f"{self.function}({sql})", params


class HStoreKeys(_HStoreArrayTransform):
    lookup_name = "keys"
    function = "akeys"


class HStoreValues(_HStoreArrayTransform):
    lookup_name = "values"
    function = "avals"


HSTORE_LOOKUPS = [HStoreHasKey, HStoreHasKeys, HStoreHasAnyKeys, HStoreContains, HStoreContainedBy,
                  HStoreKeys, HStoreValues]


def forget_hstore_oid(connection) -> None:
    """Nothing is cached per connection (values travel as text); kept for symmetry with
    ``CreateExtension``."""
