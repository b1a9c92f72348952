"""Declarative partitioning as migration operations (spec: migrations-cli.md §4.3);
exported by ``pg_operations`` (see its docstring for the rules common to all).

* ``CreatePartitionedTable(name, *, columns_sql, method, key, if_not_exists=False)`` –
  ``CREATE TABLE [IF NOT EXISTS] "name" (<columns_sql>) PARTITION BY RANGE|LIST|HASH
  ("key", ...)``; backwards ``DROP TABLE IF EXISTS "name"`` (its partitions go with it).
  ``method`` is checked at construction (``ValueError`` naming the choices); ``key`` is
  a column name or a list of them (LIST takes exactly one).
* ``CreatePartition(parent, name, *, for_values, if_not_exists=False)`` –
  ``CREATE TABLE [IF NOT EXISTS] "name" PARTITION OF "parent" FOR VALUES ...`` (or
  ``DEFAULT``); backwards ``DROP TABLE IF EXISTS "name"``.
* ``AttachPartition(parent, name, *, for_values)`` / ``DetachPartition(parent, name, *,
  for_values)`` – ``ALTER TABLE "parent" ATTACH PARTITION "name" FOR VALUES ...`` /
  ``ALTER TABLE "parent" DETACH PARTITION "name"``; each is the other's backwards
  (``for_values`` is what a detached partition is attached back with).

``for_values`` – the partition bound, in one of these forms:

* ``{"from": low, "to": high}`` – RANGE: ``FROM (low) TO (high)``; a bound is a value or
  a list of values (one per key column) and may use ``MINVALUE`` / ``MAXVALUE`` (this
  module's constants);
* ``{"in": [v1, v2, ...]}`` – LIST: ``IN (v1, v2)`` (``None`` is ``NULL``);
* ``{"modulus": m, "remainder": r}`` – HASH: ``WITH (MODULUS m, REMAINDER r)``,
  ``m >= 1``, ``0 <= r < m``;
* ``"DEFAULT"`` – the default partition;
* any other string – **trusted SQL** written after ``FOR VALUES`` as is (a leading
  ``FOR VALUES`` is accepted and dropped), like ``RunSQL``: never build it from user
  input. It may not contain ``;``.

Values of the structured forms are checked at construction (``None``, bool, int, finite
float and ``Decimal``, str, date, datetime, time, UUID) and written as literals with the
backend's quoting (``ops.quote_value``), never spliced.

Partitioning needs the backend feature flag ``supports_table_partitioning``;
elsewhere forwards and backwards raise ``NotImplementedError`` naming the operation
and the backend.
"""
from __future__ import annotations

import datetime
import decimal
import math
import re
import uuid

from .pg_common import (
    PGOperation,
    check_identifier,
    check_qualified_name,
    check_trusted_sql,
    name_fragment,
    quote_qualified,
)

PARTITION_METHODS = ("RANGE", "LIST", "HASH")
_FOR_VALUES_PREFIX = re.compile(r"^\s*FOR\s+VALUES\s+", re.IGNORECASE)
_FOR_VALUES_FORMS = ("{'from': low, 'to': high}, {'in': [values]}, "
                     "{'modulus': m, 'remainder': r}, 'DEFAULT', or a raw SQL string")


# ---- partition bounds ----------------------------------------------------------------------------
class PartitionBound:
    """``MINVALUE`` / ``MAXVALUE`` in a RANGE partition bound (use this module's
    ``MINVALUE`` and ``MAXVALUE`` constants)."""

    KEYWORDS = ("MINVALUE", "MAXVALUE")

    def __init__(self, keyword):
        if not isinstance(keyword, str) or keyword.upper() not in self.KEYWORDS:
            raise ValueError(f"PartitionBound must be one of {', '.join(self.KEYWORDS)}, got {keyword!r}")
        self.keyword = keyword.upper()

    def deconstruct(self):
        return "dorm_postgres.pg_operations.PartitionBound", [self.keyword], {}

    def __eq__(self, other):
        return isinstance(other, PartitionBound) and other.keyword == self.keyword

    def __hash__(self):
        return hash(("PartitionBound", self.keyword))

    def __repr__(self):
        return self.keyword


MINVALUE = PartitionBound("MINVALUE")
MAXVALUE = PartitionBound("MAXVALUE")

_SCALARS = (bool, int, float, decimal.Decimal, str, datetime.date, datetime.time, uuid.UUID)


def _check_literal(value, where: str, *, allow_none=False, allow_bound=False):
    if value is None and allow_none:
        return
    if isinstance(value, PartitionBound) and allow_bound:
        return
    if isinstance(value, (float, decimal.Decimal)):
        finite = math.isfinite(value) if isinstance(value, float) else value.is_finite()
        if not finite:
            raise ValueError(f"{where}: {value!r} is not a finite number")
        return
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"{where}: strings cannot contain NUL characters")
    if not isinstance(value, _SCALARS):
        extra = (", None" if allow_none else "") + (", MINVALUE, MAXVALUE" if allow_bound else "")
        raise ValueError(f"{where}: cannot use a {type(value).__name__} value ({value!r}) in a partition "
                         f"bound (use bool, int, float, Decimal, str, date, datetime, time, UUID{extra})")


def _bound_values(value, where):
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ValueError(f"{where}: a range bound needs at least one value")
    for v in values:
        _check_literal(v, where, allow_bound=True)
    return values


def check_for_values(value, what: str):
    """Validate a ``for_values`` (see the module docstring); returns it unchanged."""
    if isinstance(value, str):
        if value.strip().upper() == "DEFAULT":
            return value
        raw = _FOR_VALUES_PREFIX.sub("", value)
        if not raw.strip() or "\x00" in raw or ";" in raw:
            raise ValueError(f"{what}: a raw for_values string must be non-empty SQL without ';' "
                             f"(what follows FOR VALUES), got {value!r}")
        return value
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be one of {_FOR_VALUES_FORMS}; got {value!r}")
    keys = set(value)
    if keys == {"from", "to"}:
        low = _bound_values(value["from"], f"{what} 'from'")
        high = _bound_values(value["to"], f"{what} 'to'")
        if len(low) != len(high):
            raise ValueError(f"{what}: 'from' has {len(low)} value(s) and 'to' {len(high)}; give one "
                             "per partition key column in both")
    elif keys == {"in"}:
        items = value["in"]
        if not isinstance(items, (list, tuple)) or not items:
            raise ValueError(f"{what}: 'in' must be a non-empty list of values, got {items!r}")
        for v in items:
            _check_literal(v, f"{what} 'in'", allow_none=True)
    elif keys == {"modulus", "remainder"}:
        m, r = value["modulus"], value["remainder"]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (m, r)) or m < 1 \
                or not 0 <= r < m:
            raise ValueError(f"{what}: 'modulus' must be an integer >= 1 and 'remainder' an integer "
                             f"with 0 <= remainder < modulus, got {m!r} and {r!r}")
    else:
        raise ValueError(f"{what}: unknown keys {sorted(map(str, keys))}; use one of {_FOR_VALUES_FORMS}")
    return value


def _literal(ops, value) -> str:
    if isinstance(value, PartitionBound):
        return value.keyword
    return ops.quote_value(value)


def for_values_sql(value, ops) -> str:
    """``FOR VALUES ...`` or ``DEFAULT`` for a validated ``for_values``."""
    if isinstance(value, str):
        if value.strip().upper() == "DEFAULT":
            return "DEFAULT"
        return "FOR VALUES " + _FOR_VALUES_PREFIX.sub("", value).strip()
    if "from" in value:
        low = ", ".join(_literal(ops, v) for v in _bound_values(value["from"], "from"))
        high = ", ".join(_literal(ops, v) for v in _bound_values(value["to"], "to"))
        return f"FOR VALUES FROM ({low}) TO ({high})"
    if "in" in value:
        return "FOR VALUES IN (" + ", ".join(_literal(ops, v) for v in value["in"]) + ")"
    return f"FOR VALUES WITH (MODULUS {int(value['modulus'])}, REMAINDER {int(value['remainder'])})"


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if value is None:
        return "NULL"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)


def _describe_bound(value) -> str:
    if isinstance(value, str):
        return "DEFAULT" if value.strip().upper() == "DEFAULT" else _FOR_VALUES_PREFIX.sub("", value).strip()
    if "from" in value:
        return f"from {_show(value['from'])} to {_show(value['to'])}"
    if "in" in value:
        return f"in {_show(list(value['in']))}"
    return f"modulus {value['modulus']} remainder {value['remainder']}"


# ---- partitioning ----------------------------------------------------------------------------------
class _PartitionOperation(PGOperation):
    feature = "supports_table_partitioning"
    what = "partitioned tables"


class CreatePartitionedTable(_PartitionOperation):
    """See the module docstring."""

    def __init__(self, name, *, columns_sql, method, key, if_not_exists=False):
        self.name = check_qualified_name(name, "CreatePartitionedTable name")
        if isinstance(columns_sql, (list, tuple)):
            columns_sql = ", ".join(check_trusted_sql(c, "CreatePartitionedTable columns_sql item")
                                    for c in columns_sql)
        self.columns_sql = check_trusted_sql(columns_sql, "CreatePartitionedTable columns_sql")
        if not isinstance(method, str) or method.strip().upper() not in PARTITION_METHODS:
            raise ValueError(f"CreatePartitionedTable({name!r}): method must be one of "
                             f"{', '.join(repr(m) for m in PARTITION_METHODS)}, got {method!r}")
        self.method = method.strip().upper()
        keys = list(key) if isinstance(key, (list, tuple)) else [key]
        if not keys:
            raise ValueError(f"CreatePartitionedTable({name!r}): key needs at least one column")
        self.key = [check_identifier(k, "CreatePartitionedTable key column") for k in keys]
        if self.method == "LIST" and len(self.key) != 1:
            raise ValueError(f"CreatePartitionedTable({name!r}): LIST partitioning takes exactly one "
                             f"key column, got {self.key}")
        self.if_not_exists = bool(if_not_exists)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self.require(schema_editor)
        keys = ", ".join(schema_editor.quote_name(k) for k in self.key)
        schema_editor.execute(
            f"CREATE TABLE {'IF NOT EXISTS ' if self.if_not_exists else ''}"
            f"{quote_qualified(schema_editor, self.name)} ({self.columns_sql}) "
            f"PARTITION BY {self.method} ({keys})")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self.require(schema_editor)
        schema_editor.execute(f"DROP TABLE IF EXISTS {quote_qualified(schema_editor, self.name)}")

    def describe(self):
        return f"Create table {self.name} partitioned by {self.method} ({', '.join(self.key)})"

    @property
    def migration_name_fragment(self):
        return name_fragment("create_partitioned", self.name)


class CreatePartition(_PartitionOperation):
    """See the module docstring."""

    def __init__(self, parent, name, *, for_values, if_not_exists=False):
        self.parent = check_qualified_name(parent, "CreatePartition parent")
        self.name = check_qualified_name(name, "CreatePartition name")
        self.for_values = check_for_values(for_values, f"CreatePartition({name!r}) for_values")
        self.if_not_exists = bool(if_not_exists)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self.require(schema_editor)
        schema_editor.execute(
            f"CREATE TABLE {'IF NOT EXISTS ' if self.if_not_exists else ''}"
            f"{quote_qualified(schema_editor, self.name)} PARTITION OF "
            f"{quote_qualified(schema_editor, self.parent)} "
            f"{for_values_sql(self.for_values, schema_editor.connection.ops)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self.require(schema_editor)
        schema_editor.execute(f"DROP TABLE IF EXISTS {quote_qualified(schema_editor, self.name)}")

    def describe(self):
        return f"Create partition {self.name} of {self.parent} ({_describe_bound(self.for_values)})"

    @property
    def migration_name_fragment(self):
        return name_fragment("create_partition", self.name)


class _AttachDetach(_PartitionOperation):
    def __init__(self, parent, name, *, for_values):
        label = type(self).__name__
        self.parent = check_qualified_name(parent, f"{label} parent")
        self.name = check_qualified_name(name, f"{label} name")
        self.for_values = check_for_values(for_values, f"{label}({name!r}) for_values")

    def _attach(self, schema_editor):
        self.require(schema_editor)
        schema_editor.execute(
            f"ALTER TABLE {quote_qualified(schema_editor, self.parent)} ATTACH PARTITION "
            f"{quote_qualified(schema_editor, self.name)} "
            f"{for_values_sql(self.for_values, schema_editor.connection.ops)}")

    def _detach(self, schema_editor):
        self.require(schema_editor)
        schema_editor.execute(f"ALTER TABLE {quote_qualified(schema_editor, self.parent)} DETACH "
                              f"PARTITION {quote_qualified(schema_editor, self.name)}")


class AttachPartition(_AttachDetach):
    """See the module docstring."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._attach(schema_editor)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._detach(schema_editor)

    def describe(self):
        return f"Attach {self.name} to {self.parent} as a partition ({_describe_bound(self.for_values)})"

    @property
    def migration_name_fragment(self):
        return name_fragment("attach_partition", self.name)


class DetachPartition(_AttachDetach):
    """See the module docstring."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._detach(schema_editor)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._attach(schema_editor)

    def describe(self):
        return f"Detach partition {self.name} from {self.parent}"

    @property
    def migration_name_fragment(self):
        return name_fragment("detach_partition", self.name)


PARTITION_OPERATIONS = [CreatePartitionedTable, CreatePartition, AttachPartition, DetachPartition]
