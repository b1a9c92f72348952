"""PostgreSQL dialect: where PostgreSQL differs from the base operations.

Placeholders are psycopg's ``%s``: every statement that carries parameters (even an
empty list) goes through psycopg's ``%`` formatting, so a literal ``%`` in such SQL
is written ``%%`` (``pattern_ops``, ``combine_operator``). DDL and scripts run
without parameter processing (see ``schema.py`` and ``backend._op_script``).

Values: psycopg adapts ``Decimal``, ``UUID``, ``timedelta`` (``interval``), dates and
aware datetimes natively; JSON is bound as text and read as text (``JSONField``
decodes it, honouring its ``decoder``); ``inet`` is read as text.

Dates: sessions run in UTC; with ``USE_TZ`` and a non-UTC ``TIME_ZONE``, date parts,
truncation and ``__date`` of ``timestamptz`` columns are computed in ``TIME_ZONE``
(``col AT TIME ZONE 'zone'``). ``week_day`` is 0 = Sunday .. 6 = Saturday.

JSON key paths (``data__a__b``) extract text with ``#>>`` and compare as text: plain
values are bound as their JSON text (``5`` -> ``'5'``, ``True`` -> ``'true'``,
strings unchanged), so ``exact`` works for every scalar; ordering lookups compare
text (use ``Cast`` for numbers).
"""
from __future__ import annotations

import datetime
import json
from typing import ClassVar

from dorm.db.backends.base.converters import settings_tz
from dorm.db.backends.base.operations import BaseOperations
from dorm.exceptions import NotSupportedError

_INTEGER_TYPES = frozenset({"IntegerField", "SmallIntegerField", "BigIntegerField",
                            "PositiveIntegerField", "PositiveSmallIntegerField",
                            "PositiveBigIntegerField", "AutoField", "BigAutoField",
                            "SmallAutoField"})
_EXPLAIN_FORMATS = ("TEXT", "JSON", "YAML", "XML")
#: ``{rhs}`` with LIKE's wildcards and escape character escaped (``%`` doubled for psycopg)
_ESC = r"REPLACE(REPLACE(REPLACE(({rhs})::text, '\', '\\'), '%%', '\%%'), '_', '\_')"


def use_tz() -> bool:
    try:
        from dorm.conf import settings

        return bool(getattr(settings, "USE_TZ", False))
    except Exception:  # noqa: BLE001 - settings not configured
        return False


class PostgresOperations(BaseOperations):
    placeholder = "%s"

    operators: ClassVar[dict[str, str]] = {
        "exact": "{lhs} = {rhs}",
        "iexact": "UPPER(({lhs})::text) = UPPER({rhs})",
        "gt": "{lhs} > {rhs}",
        "gte": "{lhs} >= {rhs}",
        "lt": "{lhs} < {rhs}",
        "lte": "{lhs} <= {rhs}",
        "contains": "({lhs})::text LIKE {rhs}",
        "icontains": "UPPER(({lhs})::text) LIKE UPPER({rhs})",
        "startswith": "({lhs})::text LIKE {rhs}",
        "istartswith": "UPPER(({lhs})::text) LIKE UPPER({rhs})",
        "endswith": "({lhs})::text LIKE {rhs}",
        "iendswith": "UPPER(({lhs})::text) LIKE UPPER({rhs})",
        "regex": "({lhs})::text ~ {rhs}",
        "iregex": "({lhs})::text ~* {rhs}",
    }

    # '%' doubled: these run through psycopg's %-formatting. The right-hand side is an
    # expression: its LIKE wildcards are escaped in SQL (backslash is LIKE's escape).
    pattern_ops: ClassVar[dict[str, str]] = {
        "contains": "({lhs})::text LIKE '%%' || " + _ESC + " || '%%'",
        "icontains": "UPPER(({lhs})::text) LIKE '%%' || UPPER(" + _ESC + ") || '%%'",
        "startswith": "({lhs})::text LIKE " + _ESC + " || '%%'",
        "istartswith": "UPPER(({lhs})::text) LIKE UPPER(" + _ESC + ") || '%%'",
        "endswith": "({lhs})::text LIKE '%%' || " + _ESC,
        "iendswith": "UPPER(({lhs})::text) LIKE '%%' || UPPER(" + _ESC + ")",
    }

    # -- identifiers -------------------------------------------------------------
    def max_name_length(self) -> int:
        return 63

    # -- statements --------------------------------------------------------------
    def distinct_sql(self, fields: list[str]) -> str:
        if fields:
            return f"DISTINCT ON ({', '.join(fields)})"
        return "DISTINCT"

    def explain_prefix(self, *, format=None, analyze=False, verbose=False, **options) -> str:
        parts = []
        if analyze:
            parts.append("ANALYZE TRUE")
            if "buffers" not in {k.lower() for k in options}:
                parts.append("BUFFERS TRUE")
        if verbose:
            parts.append("VERBOSE TRUE")
        for key, value in sorted(options.items()):
            name = str(key).upper()
            if not self.is_identifier(name):
                raise ValueError(f"invalid EXPLAIN option {key!r}")
            parts.append(f"{name} {'TRUE' if value else 'FALSE'}")
        if format:
            fmt = str(format).upper()
            if fmt not in _EXPLAIN_FORMATS:
                raise ValueError(f"EXPLAIN format {format!r} is not one of "
                                 f"{', '.join(f.lower() for f in _EXPLAIN_FORMATS)}")
            parts.append(f"FORMAT {fmt}")
        return f"EXPLAIN ({', '.join(parts)})" if parts else "EXPLAIN"

    def combine_operator(self, connector: str) -> str:
        if connector == "%":
            return "%%"
        if connector == "^":
            return "^"
        return connector

    def concat_sql(self, parts: list[str]) -> str:
        return "(" + " || ".join(f"COALESCE(({p})::text, '')" for p in parts) + ")"

    def aggregate_sql(self, function: str, inner_sql: str, internal_type: str | None = None) -> str:
        fn = function.upper()
        if fn in ("SUM", "AVG") and internal_type == "BooleanField":
            # no SUM(boolean) in PostgreSQL: count the true values
            inner, distinct = inner_sql, ""
            if inner.upper().startswith("DISTINCT "):
                distinct, inner = "DISTINCT ", inner[9:]
            return f"{function}({distinct}({inner})::int)"
        return f"{function}({inner_sql})"

    def round_sql(self, sql: str, places_sql: str, internal_type: str | None = None) -> str:
        # ROUND(double precision, int) does not exist: round as numeric (exact), and give
        # floats back as floats
        rounded = f"ROUND(CAST({sql} AS NUMERIC), {places_sql})"
        if internal_type == "FloatField":
            return f"CAST({rounded} AS DOUBLE PRECISION)"
        return rounded

    # -- dates -------------------------------------------------------------------
    def _local(self, sql: str, output_type: str, tzname: str | None = None) -> str:
        if output_type != "DateTimeField":
            return sql
        tz = tzname if tzname is not None else settings_tz()
        if not tz:
            return sql
        return f"({sql} AT TIME ZONE {self.quote_value(tz)})"

    def extract_sql(self, unit: str, sql: str, output_type: str, tzname: str | None = None) -> str:
        """Integer date part (``week_day``: 0 = Sunday); ``epoch`` as a float."""
        src = self._local(sql, output_type, tzname)
        if output_type == "TimeField" and unit not in ("hour", "minute", "second", "epoch"):
            raise ValueError(f"cannot extract {unit!r} from a time")
        if unit == "epoch":
            return f"CAST(EXTRACT(EPOCH FROM {src}) AS DOUBLE PRECISION)"
        field = {"week_day": "DOW", "iso_week_day": "ISODOW", "day_of_year": "DOY",
                 "iso_year": "ISOYEAR"}.get(unit)
        if field is None:
            if unit not in self.extract_units:
                raise ValueError(f"unknown extract unit {unit!r}; expected one of "
                                 f"{', '.join(self.extract_units)}")
            field = unit.upper()
        if unit == "second":
            return f"CAST(FLOOR(EXTRACT(SECOND FROM {src})) AS INTEGER)"
        return f"CAST(EXTRACT({field} FROM {src}) AS INTEGER)"

    def trunc_sql(self, unit: str, sql: str, output_type: str, tzname: str | None = None) -> str:
        """Truncate to ``unit``, keeping the input's type (weeks start on Monday)."""
        if unit not in self.trunc_units:
            raise ValueError(f"unknown truncation unit {unit!r}; expected one of "
                             f"{', '.join(self.trunc_units)}")
        if output_type == "TimeField":
            if unit not in ("hour", "minute", "second"):
                raise ValueError(f"cannot truncate a time to {unit!r}")
            return f"CAST(DATE_TRUNC('{unit}', TIMESTAMP '2000-01-01' + {sql}) AS TIME)"
        if output_type == "DateField":
            if unit in ("hour", "minute", "second"):
                raise ValueError(f"cannot truncate a date to {unit!r}")
            return f"CAST(DATE_TRUNC('{unit}', {sql}) AS DATE)"
        tz = (tzname if tzname is not None else settings_tz()) if output_type == "DateTimeField" else None
        if tz:
            zone = self.quote_value(tz)
            return f"(DATE_TRUNC('{unit}', {sql} AT TIME ZONE {zone}) AT TIME ZONE {zone})"
        return f"DATE_TRUNC('{unit}', {sql})"

    def date_cast_sql(self, sql: str, tzname: str | None = None) -> str:
        return f"CAST({self._local(sql, 'DateTimeField', tzname)} AS DATE)"

    def time_cast_sql(self, sql: str, tzname: str | None = None) -> str:
        return f"CAST({self._local(sql, 'DateTimeField', tzname)} AS TIME)"

    def now_sql(self) -> str:
        return "STATEMENT_TIMESTAMP()"

    # -- JSON ----------------------------------------------------------------------
    @staticmethod
    def json_path(path) -> list[str]:
        return [str(p) for p in path]

    def json_key_sql(self, sql: str, path) -> tuple[str, list]:
        return f"({sql} #> %s)", [self.json_path(path)]

    def json_key_text_sql(self, sql: str, path) -> tuple[str, list]:
        return f"({sql} #>> %s)", [self.json_path(path)]

    def json_contains_sql(self, sql: str, value, path=()) -> tuple[str, list]:
        if path:
            return f"(({sql} #> %s) @> %s::jsonb)", [self.json_path(path), json.dumps(value)]
        return f"({sql} @> %s::jsonb)", [json.dumps(value)]

    def prep_json_key_value(self, value):
        """Key paths compare as text: a scalar is bound as its JSON text."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, (bool, int, float)):
            return json.dumps(value)
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return str(value)

    @staticmethod
    def as_jsonb(sql: str) -> str:
        """A key path compiled as text (``json_key_text_sql``) as jsonb again, for jsonb
        operators (``data__addr__has_key``)."""
        if sql.startswith("(") and sql.endswith(" #>> %s)"):
            return sql[:-len(" #>> %s)")] + " #> %s)"
        return sql

    def json_has_key_sql(self, sql: str, key) -> tuple[str, list]:
        return f"({self.as_jsonb(sql)} ? %s)", [str(key)]

    # -- casts -----------------------------------------------------------------------
    _CAST_TYPES: ClassVar[dict[str, str]] = {"DATETIME": "TIMESTAMP", "BLOB": "BYTEA"}

    def cast_sql(self, sql: str, db_type: str) -> str:
        base, paren, rest = db_type.partition("(")
        mapped = self._CAST_TYPES.get(base.strip().upper())
        if mapped:
            db_type = mapped + (paren + rest if paren else "")
        return f"CAST({sql} AS {db_type})"

    # -- values --------------------------------------------------------------------
    def adapt_json(self, value):
        return json.dumps(value)

    def adapt_ip(self, value):
        return value

    def quote_value(self, value) -> str:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return "'\\x" + bytes(value).hex() + "'::bytea"
        if isinstance(value, datetime.timedelta):
            return f"INTERVAL '{int(value.days)} days {int(value.seconds)} seconds " \
                   f"{int(value.microseconds)} microseconds'"
        if isinstance(value, (list, tuple)):
            return "ARRAY[" + ", ".join(self.quote_value(v) for v in value) + "]"
        if isinstance(value, str) and "\\" in value:
            # standard_conforming_strings is on by default; be explicit anyway
            if "\x00" in value:
                raise ValueError("SQL string literals cannot contain NUL characters")
            return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
        return super().quote_value(value)

    def get_db_converter(self, internal_type: str, field=None):
        # psycopg returns the right Python types (aware UTC datetimes for timestamptz,
        # Decimal, UUID, timedelta, lists); nothing to convert per value.
        return None

    # -- transactions ------------------------------------------------------------------
    def savepoint_create_sql(self, sid: str) -> str:
        return f"SAVEPOINT {self.quote_name(sid)}"

    def for_update_sql(self, nowait=False, skip_locked=False, of=()) -> str:
        if nowait and skip_locked:
            raise NotSupportedError("select_for_update(): nowait and skip_locked are exclusive")
        return super().for_update_sql(nowait=nowait, skip_locked=skip_locked, of=of)

    # -- data commands (dorm flush / loaddata) -------------------------------------------
    def sequence_reset_sql(self, table: str, column: str) -> list[tuple[str, list]]:
        """``setval`` of the identity/serial sequence of ``table.column`` to the largest
        value + 1 (``pg_get_serial_sequence`` is NULL for a column without one: no-op)."""
        qt, qc = self.quote_name(table), self.quote_name(column)
        return [(f"SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX({qc}), 0) + 1, false) "
                 f"FROM {qt}", [qt, column])]
