"""PostgreSQL lookups for ``ArrayField`` and ``JSONField`` (jsonb).

Registered by ``dorm_postgres.plugin`` through ``dorm_register_lookups``:

* ``ArrayField``: ``exact``, ``contains`` / ``array_contains`` (``@>``), ``contained_by``
  (``<@``), ``overlap`` / ``array_overlap`` (``&&``), ``len`` (transform);
* ``JSONField`` (``contains`` is the kernel's, ``@>`` through ``ops.json_contains_sql``):
  ``contained_by`` (``<@``), ``has_keys`` / ``json_has_all`` (``?&``),
  ``has_any_keys`` / ``json_has_any`` (``?|``), ``json_has_key`` (``?``, like
  ``has_key``).

Array right-hand sides are cast to the column type (``%s::varchar(20)[]``): psycopg
sends a list of strings as ``text[]``, which PostgreSQL does not compare with
``varchar[]`` implicitly.
"""
from __future__ import annotations

import json

from dorm.lookups import Exact, HasKey, Lookup, Transform


def _array_rhs(lookup, compiler, connection):
    if hasattr(lookup.rhs, "as_sql"):
        return compiler.compile(lookup.rhs)
    field = lookup.lhs_field
    value = lookup.rhs
    if isinstance(value, (tuple, set, frozenset)):
        value = list(value)
    if not isinstance(value, list):
        value = [value]
    if field is not None and hasattr(field, "get_db_prep_value"):
        value = field.get_db_prep_value(value, connection)
    cast = field.db_type(connection) if field is not None else None
    return (f"%s::{cast}" if cast else "%s"), [value]


class _ArrayOperator(Lookup):
    operator = ""
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        rhs, rp = _array_rhs(self, compiler, connection)
        return f"{lhs} {self.operator} {rhs}", [*lp, *rp]


class ArrayContains(_ArrayOperator):
    lookup_name = "contains"
    operator = "@>"


class ArrayContainsAlias(ArrayContains):
    lookup_name = "array_contains"


class ArrayContainedBy(_ArrayOperator):
    lookup_name = "contained_by"
    operator = "<@"


class ArrayOverlap(_ArrayOperator):
    lookup_name = "overlap"
    operator = "&&"


class ArrayOverlapAlias(ArrayOverlap):
    lookup_name = "array_overlap"


class ArrayExact(Exact):
    """``tags=[...]``: the list is cast to the column's array type."""

    prepare_rhs = False

    def as_sql(self, compiler, connection):
        if self.rhs is None:
            return super().as_sql(compiler, connection)
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        rhs, rp = _array_rhs(self, compiler, connection)
        return f"{lhs} = {rhs}", [*lp, *rp]


class ArrayLen(Transform):
    """``tags__len``: number of elements (0 for an empty array, NULL for NULL)."""

    lookup_name = "len"

    def _resolve_output_field(self):
        from dorm.fields import IntegerField

        return IntegerField()

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.lhs)
        return (f"CASE WHEN {sql} IS NULL THEN NULL ELSE COALESCE(array_length({sql}, 1), 0) END",
                [*params, *params])


# ---- jsonb ------------------------------------------------------------------------------


class JSONContainedBy(Lookup):
    lookup_name = "contained_by"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        return f"{connection.ops.as_jsonb(lhs)} <@ %s::jsonb", [*lp, json.dumps(self.rhs)]


class _KeysLookup(Lookup):
    operator = ""
    prepare_rhs = False

    def get_prep_lookup(self, rhs):
        if isinstance(rhs, (str, bytes)) or not hasattr(rhs, "__iter__"):
            raise TypeError(f"'{self.lookup_name}' needs a list of keys, got {rhs!r}")
        return [str(k) for k in rhs]

    def as_sql(self, compiler, connection):
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        return f"{connection.ops.as_jsonb(lhs)} {self.operator} %s::text[]", [*lp, list(self.rhs)]


class HasKeys(_KeysLookup):
    lookup_name = "has_keys"
    operator = "?&"


class HasKeysAlias(HasKeys):
    lookup_name = "json_has_all"


class HasAnyKeys(_KeysLookup):
    lookup_name = "has_any_keys"
    operator = "?|"


class HasAnyKeysAlias(HasAnyKeys):
    lookup_name = "json_has_any"


class JSONHasKey(HasKey):
    lookup_name = "json_has_key"


ARRAY_LOOKUPS = [ArrayExact, ArrayContains, ArrayContainsAlias, ArrayContainedBy, ArrayOverlap,
                 ArrayOverlapAlias, ArrayLen]
JSON_PG_LOOKUPS = [JSONContainedBy, HasKeys, HasKeysAlias, HasAnyKeys, HasAnyKeysAlias, JSONHasKey]
