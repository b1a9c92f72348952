"""SQLite dialect: where SQLite differs from the base operations.

Storage choices (see ``docs/sqlite.md``):

* datetimes: ISO text ``YYYY-MM-DD HH:MM:SS[.ffffff]``; with ``USE_TZ`` the UTC wall
  time (read back as aware UTC datetimes);
* dates / times: ISO text; booleans 0/1; UUIDs 36-char text; durations integer
  microseconds; JSON text;
* decimals: a ``decimal(p, s)`` column (NUMERIC affinity). Integral values are bound
  as ``int`` (exact to 18 digits), others as ``float``; a value with more than 15
  significant digits cannot be stored exactly and raises ``DataError``. Read back
  exactly through ``repr(float)``; ``aggregate_sql`` sums and averages decimals
  exactly with the registered ``dorm_decimal_sum``/``dorm_decimal_avg``.

Pattern lookups: ``contains``/``startswith``/``endswith`` use ``GLOB`` (case-sensitive,
unlike SQLite's ``LIKE``); the ``i*`` variants compare ``dorm_casefold`` (Unicode) with
``LIKE``.
"""
from __future__ import annotations

import datetime
import decimal
import sqlite3
import uuid
from typing import ClassVar

from dorm.db.backends.base.converters import decimal_converter as _decimal_converter
from dorm.db.backends.base.converters import duration_from_micros as _conv_duration
from dorm.db.backends.base.converters import settings_tz as _settings_tz
from dorm.db.backends.base.converters import to_decimal as _to_decimal
from dorm.db.backends.base.converters import use_tz as _use_tz
from dorm.db.backends.base.operations import BaseOperations
from dorm.exceptions import DataError, NotSupportedError

_MAX_EXACT_DIGITS = 15
_INT64 = 2 ** 63

_STRFTIME_UNITS = {
    "year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S",
    "week_day": "%w", "day_of_year": "%j",
}
_ISO_UNITS = ("week", "iso_year", "iso_week_day")
_DATE_TRUNC = {"year": "%Y-01-01", "month": "%Y-%m-01", "day": "%Y-%m-%d"}
_TIME_TRUNC = {"hour": "%H:00:00", "minute": "%H:%M:00", "second": "%H:%M:%S"}


# ---- converters (value -> python), chosen once per query shape ------------------------------
def _conv_bool(v):
    return v if v is None else bool(v)


def _conv_uuid(v):
    if v is None or isinstance(v, uuid.UUID):
        return v
    return uuid.UUID(v) if isinstance(v, str) else uuid.UUID(bytes=bytes(v))


def _conv_date(v):
    if isinstance(v, str):
        try:
            return datetime.date.fromisoformat(v)
        except ValueError:
            return datetime.datetime.fromisoformat(v).date()
    return v


def _conv_time(v):
    if isinstance(v, str):
        return datetime.time.fromisoformat(v)
    return v


def _conv_datetime(v):
    if isinstance(v, str):
        return datetime.datetime.fromisoformat(v)
    return v


def _conv_datetime_utc(v):
    if isinstance(v, str):
        v = datetime.datetime.fromisoformat(v)
    if isinstance(v, datetime.datetime) and v.tzinfo is None:
        return v.replace(tzinfo=datetime.UTC)
    return v


_PATH = object()  # placeholder for a JSON path parameter


class SQLiteOperations(BaseOperations):
    placeholder = "?"

    operators: ClassVar[dict[str, str]] = {
        **BaseOperations.operators,
        "iexact": "dorm_casefold({lhs}) = dorm_casefold({rhs})",
        "contains": "{lhs} GLOB {rhs}",
        "icontains": "dorm_casefold({lhs}) LIKE dorm_casefold({rhs}) ESCAPE '\\'",
        "startswith": "{lhs} GLOB {rhs}",
        "istartswith": "dorm_casefold({lhs}) LIKE dorm_casefold({rhs}) ESCAPE '\\'",
        "endswith": "{lhs} GLOB {rhs}",
        "iendswith": "dorm_casefold({lhs}) LIKE dorm_casefold({rhs}) ESCAPE '\\'",
        "regex": "{lhs} REGEXP {rhs}",
        "iregex": "{lhs} REGEXP ('(?i)' || {rhs})",
    }

    pattern_ops: ClassVar[dict[str, str]] = {
        "contains": "{lhs} GLOB '*' || dorm_glob_escape({rhs}) || '*'",
        "icontains": "dorm_casefold({lhs}) LIKE '%' || dorm_like_escape(dorm_casefold({rhs})) || '%' ESCAPE '\\'",
        "startswith": "{lhs} GLOB dorm_glob_escape({rhs}) || '*'",
        "istartswith": "dorm_casefold({lhs}) LIKE dorm_like_escape(dorm_casefold({rhs})) || '%' ESCAPE '\\'",
        "endswith": "{lhs} GLOB '*' || dorm_glob_escape({rhs})",
        "iendswith": "dorm_casefold({lhs}) LIKE '%' || dorm_like_escape(dorm_casefold({rhs})) ESCAPE '\\'",
    }

    _GLOB_LOOKUPS: ClassVar[dict[str, tuple[str, str]]] = {"contains": ("*", "*"), "startswith": ("", "*"), "endswith": ("*", "")}

    def prep_like(self, lookup_name: str, value) -> str:
        """GLOB pattern for the case-sensitive lookups, LIKE pattern (escaped) else."""
        wild = self._GLOB_LOOKUPS.get(lookup_name)
        if wild is not None:
            text = str(value).replace("[", "[[]").replace("*", "[*]").replace("?", "[?]")
            return f"{wild[0]}{text}{wild[1]}"
        return super().prep_like(lookup_name, value)

    def split_statements(self, sql: str) -> list[str]:
        """Split a script into statements; a ``;`` inside ``CREATE TRIGGER ... END``
        does not end the statement (``sqlite3.complete_statement`` decides)."""
        out, buf = [], ""
        for piece in super().split_statements(sql):
            buf = f"{buf};\n{piece}" if buf else piece
            if sqlite3.complete_statement(buf + ";"):
                out.append(buf)
                buf = ""
        if buf:
            out.append(buf)
        return out

    # -- statements ------------------------------------------------------------------------
    def explain_prefix(self, **options) -> str:
        return "EXPLAIN QUERY PLAN"

    def for_update_sql(self, nowait=False, skip_locked=False, of=()) -> str:
        raise NotSupportedError("SELECT ... FOR UPDATE is not supported on SQLite")

    def begin_transaction_sql(self) -> str:
        mode = self.backend.settings_dict.get("OPTIONS", {}).get("transaction_mode")
        return f"BEGIN {mode}" if mode else "BEGIN"

    def now_sql(self) -> str:
        return "STRFTIME('%Y-%m-%d %H:%M:%f', 'now')"

    _FUNCTIONS: ClassVar[dict[str, str]] = {"STRPOS": "INSTR", "GREATEST": "MAX", "LEAST": "MIN", "POWER": "POWER",
                  "CEILING": "CEIL"}

    def function_name(self, name: str) -> str:
        return self._FUNCTIONS.get(name.upper(), name)

    def greatest_sql(self, parts: list[str], least: bool = False) -> str:
        return f"{'MIN' if least else 'MAX'}({', '.join(parts)})"

    def aggregate_sql(self, function: str, inner_sql: str, internal_type: str | None = None) -> str:
        if internal_type == "DecimalField":
            fn = function.upper()
            if fn == "SUM":
                return f"dorm_decimal_sum({inner_sql})"
            if fn == "AVG":
                return f"dorm_decimal_avg({inner_sql})"
        return f"{function}({inner_sql})"

    # -- dates -------------------------------------------------------------------------------
    def _local(self, sql: str, tzname: str | None) -> str:
        tz = tzname if tzname is not None else _settings_tz()
        if not tz:
            return sql
        return f"dorm_to_local({sql}, {self.quote_value(tz)})"

    def extract_sql(self, unit: str, sql: str, output_type: str, tzname: str | None = None) -> str:
        """Integer part of a date/datetime/time; ``week_day`` is 0=Sunday..6=Saturday.
        Datetimes are read in ``TIME_ZONE`` when ``USE_TZ`` (or ``tzname``)."""
        if unit == "epoch":
            return f"((JULIANDAY({sql}) - 2440587.5) * 86400.0)"
        src = self._local(sql, tzname) if output_type == "DateTimeField" else sql
        fmt = _STRFTIME_UNITS.get(unit)
        if fmt is not None:
            return f"CAST(STRFTIME('{fmt}', {src}) AS INTEGER)"
        if unit == "quarter":
            return f"((CAST(STRFTIME('%m', {src}) AS INTEGER) + 2) / 3)"
        if unit in _ISO_UNITS:
            return f"dorm_iso('{unit}', {src})"
        raise ValueError(f"unknown extract unit {unit!r}; expected one of {', '.join(self.extract_units)}")

    def trunc_sql(self, unit: str, sql: str, output_type: str, tzname: str | None = None) -> str:
        """Truncate to ``unit`` keeping the type's text format (weeks start on Monday)."""
        if output_type == "TimeField":
            fmt = _TIME_TRUNC.get(unit)
            if fmt is None:
                raise ValueError(f"cannot truncate a time to {unit!r}")
            return f"STRFTIME('{fmt}', {sql})"
        is_dt = output_type == "DateTimeField"
        tz = (tzname if tzname is not None else _settings_tz()) if is_dt else None
        src = self._local(sql, tz) if tz else sql
        if unit in _DATE_TRUNC:
            out = f"STRFTIME('{_DATE_TRUNC[unit]}', {src})"
        elif unit == "quarter":
            out = f"dorm_quarter_start({src})"
        elif unit == "week":
            out = f"DATE({src}, 'weekday 0', '-6 days')"
        elif is_dt and unit in _TIME_TRUNC:
            out = f"STRFTIME('%Y-%m-%d {_TIME_TRUNC[unit]}', {src})"
        else:
            raise ValueError(f"cannot truncate a {output_type} to {unit!r}")
        if is_dt and unit not in _TIME_TRUNC:
            out = f"({out} || ' 00:00:00')"
        if tz:
            out = f"dorm_from_local({out}, {self.quote_value(tz)})"
        return out

    def date_cast_sql(self, sql: str, tzname: str | None = None) -> str:
        return f"DATE({self._local(sql, tzname)})"

    def time_cast_sql(self, sql: str, tzname: str | None = None) -> str:
        return f"SUBSTR({self._local(sql, tzname)}, 12)"

    # -- JSON ------------------------------------------------------------------------------------
    @staticmethod
    def json_path(path) -> str:
        """``["a", 0, "b"]`` -> ``$."a"[0]."b"`` (keys double-quoted, integers as
        indexes). SQLite paths have no escape for ``"`` inside a key: such keys raise
        ``ValueError``."""
        out = ["$"]
        for key in path:
            try:
                out.append(f"[{int(key)}]")
            except (TypeError, ValueError):
                key = str(key)
                if '"' in key or "\\" in key:
                    raise ValueError(f"JSON key {key!r} cannot be addressed on SQLite "
                                     "(double quotes and backslashes are not allowed in keys)") from None
                out.append(f'."{key}"')
        return "".join(out)

    def json_key_sql(self, sql: str, path) -> tuple[str, list]:
        if self.backend.features.supports_json_arrow:
            return f"({sql} -> ?)", [self.json_path(path)]
        return f"json_extract({sql}, ?)", [self.json_path(path)]

    def json_key_text_sql(self, sql: str, path) -> tuple[str, list]:
        return f"json_extract({sql}, ?)", [self.json_path(path)]

    def json_contains_sql(self, sql: str, value, path=()) -> tuple[str, list]:
        """Containment emulated with JSON1: objects key by key (recursively), arrays
        element by element through ``json_each`` (scalar elements)."""
        path = list(path)
        if isinstance(value, dict):
            parts, params = [f"json_type({sql}, ?) = 'object'"], [self.json_path(path)]
            for key, item in value.items():
                s, p = self.json_contains_sql(sql, item, [*path, str(key)])
                parts.append(s)
                params.extend(p)
            return "(" + " AND ".join(parts) + ")", params
        if isinstance(value, list):
            parts, params = [f"json_type({sql}, ?) = 'array'"], [self.json_path(path)]
            for item in value:
                if isinstance(item, (dict, list)):
                    raise NotSupportedError(
                        "JSON containment of nested objects inside arrays is not supported on SQLite")
                each, eparams = self._json_scalar_match("value", "type", item)
                parts.append(f"EXISTS (SELECT 1 FROM json_each({sql}, ?) WHERE {each})")
                params.extend([self.json_path(path), *eparams])
            return "(" + " AND ".join(parts) + ")", params
        cond, params = self._json_scalar_match(f"json_extract({sql}, ?)", f"json_type({sql}, ?)", value)
        return cond, self._bind_paths(params, self.json_path(path))

    @staticmethod
    def _json_scalar_match(value_sql, type_sql, item):
        """(sql, params) comparing a JSON scalar; ``_PATH`` marks where the path goes."""
        if item is None:
            return f"{type_sql} = 'null'", [_PATH] if "?" in type_sql else []
        if isinstance(item, bool):
            want = "true" if item else "false"
            return f"{type_sql} = '{want}'", [_PATH] if "?" in type_sql else []
        return f"{value_sql} = ?", ([_PATH] if "?" in value_sql else []) + [item]

    @staticmethod
    def _bind_paths(params, jp):
        return [jp if p is _PATH else p for p in params]

    def json_has_key_sql(self, sql: str, key) -> tuple[str, list]:
        return f"(json_type({sql}, ?) IS NOT NULL)", [self.json_path([key])]

    # -- values ------------------------------------------------------------------------------------
    def adapt_datetime(self, value):
        if value is None or isinstance(value, str):
            return value
        if value.tzinfo is not None:
            if not _use_tz():
                raise ValueError("SQLite cannot store timezone-aware datetimes when USE_TZ is False")
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")

    def adapt_date(self, value):
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, datetime.datetime):
            value = value.date()
        return value.isoformat()

    def adapt_time(self, value):
        if value is None or isinstance(value, str):
            return value
        if value.tzinfo is not None:
            raise ValueError("SQLite cannot store timezone-aware times")
        return value.isoformat()

    def adapt_decimal(self, value, max_digits=None, decimal_places=None):
        """``int`` for integral values, else ``float`` when exact (≤ 15 significant
        digits); ``DataError`` when SQLite cannot store the value exactly."""
        if value is None:
            return None
        if not isinstance(value, decimal.Decimal):
            value = decimal.Decimal(str(value))
        if not value.is_finite():
            raise DataError(f"SQLite cannot store the decimal value {value}")
        if value == value.to_integral_value():
            as_int = int(value)
            if -_INT64 <= as_int < _INT64:
                return as_int
        digits = len(value.normalize().as_tuple().digits)
        if digits > _MAX_EXACT_DIGITS:
            raise DataError(
                f"SQLite cannot store {value} exactly: it has {digits} significant digits and "
                f"SQLite keeps decimals as 64-bit floats (exact up to {_MAX_EXACT_DIGITS} digits); "
                "use max_digits <= 15, or store minor units in a BigIntegerField"
            )
        return float(value)

    def adapt_bool(self, value):
        return value if value is None else int(bool(value))

    def adapt_uuid(self, value):
        return value if value is None else str(value)

    def get_db_converter(self, internal_type: str, field=None):
        """Converter for values read from a column of ``internal_type``. Pass ``field``
        (the output field) so decimals are quantized to its ``decimal_places``."""
        if internal_type == "DecimalField":
            return _decimal_converter(getattr(field, "decimal_places", None))
        if internal_type == "DecimalSum":   # result of aggregate_sql("SUM"/"AVG", ...) (text)
            return _to_decimal
        if internal_type == "BooleanField":
            return _conv_bool
        if internal_type == "DateTimeField":
            return _conv_datetime_utc if _use_tz() else _conv_datetime
        if internal_type == "DateField":
            return _conv_date
        if internal_type == "TimeField":
            return _conv_time
        if internal_type == "UUIDField":
            return _conv_uuid
        if internal_type == "DurationField":
            return _conv_duration
        return None

    # -- data commands (dorm flush / loaddata) -------------------------------------------
    def sequence_reset_sql(self, table: str, column: str) -> list[tuple[str, list]]:
        """Auto primary keys are ``AUTOINCREMENT``: their counter lives in
        ``sqlite_sequence`` (explicit keys move it forward by themselves; after a flush
        this sets it back)."""
        return [(f"UPDATE sqlite_sequence SET seq = (SELECT COALESCE(MAX({self.quote_name(column)}), 0) "
                 f"FROM {self.quote_name(table)}) WHERE name = ?", [table])]

    def defer_constraint_checks_sql(self) -> str | None:
        return "PRAGMA defer_foreign_keys = ON"
