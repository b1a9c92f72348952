"""DuckDB dialect: where DuckDB differs from the base operations.

Storage (see ``docs/duckdb.md``): native ``BOOLEAN``, ``BIGINT``, ``DOUBLE``,
``DECIMAL(p, s)`` (exact, ``p <= 38``), ``DATE``/``TIME``/``TIMESTAMP``, ``UUID``,
``BLOB`` and ``JSON``; durations as ``BIGINT`` microseconds (DuckDB cannot ``SUM``
an ``INTERVAL``). With ``USE_TZ`` datetimes are stored as naive UTC ``TIMESTAMP``
and read back as aware UTC datetimes.

Lookups: ``contains``/``startswith``/``endswith`` use ``LIKE ... ESCAPE '\\'``
(case-sensitive in DuckDB), the ``i*`` variants compare ``LOWER()`` (Unicode);
``regex``/``iregex`` use ``regexp_matches`` (RE2 syntax, search semantics).
JSON paths are JSON Pointers (``/a/0/b``, RFC 6901), so any key can be addressed.
"""
from __future__ import annotations

import datetime
import decimal
import uuid
from typing import ClassVar

from dorm.db.backends.base.converters import decimal_converter as _decimal_converter
from dorm.db.backends.base.converters import duration_from_micros as _conv_duration
from dorm.db.backends.base.converters import settings_tz as _settings_tz
from dorm.db.backends.base.converters import to_decimal as _to_decimal
from dorm.db.backends.base.converters import use_tz as _use_tz
from dorm.db.backends.base.operations import BaseOperations
from dorm.exceptions import DataError, NotSupportedError

#: DuckDB's widest DECIMAL
MAX_DECIMAL_DIGITS = 38


# ---- converters (value -> python), chosen once per query shape ------------------------------
def _conv_datetime_utc(v):
    if isinstance(v, datetime.datetime) and v.tzinfo is None:
        return v.replace(tzinfo=datetime.UTC)
    return v


def _conv_datetime_naive(v):
    # TIMESTAMPTZ values (raw SQL, now()) come back aware: make them naive local-free UTC
    if isinstance(v, datetime.datetime) and v.tzinfo is not None:
        return v.astimezone(datetime.UTC).replace(tzinfo=None)
    return v


def _conv_date(v):
    if isinstance(v, datetime.datetime):
        return v.date()
    return v


def _conv_uuid(v):
    if v is None or isinstance(v, uuid.UUID):
        return v
    return uuid.UUID(str(v))


def _conv_bool(v):
    return v if v is None or v.__class__ is bool else bool(v)


def json_pointer(path) -> str:
    """``["a", 0, "b/c"]`` -> ``/a/0/b~1c`` (RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1``).
    An integer addresses an array index (or an object key of the same digits)."""
    out = []
    for key in path:
        text = str(int(key)) if isinstance(key, int) and not isinstance(key, bool) else str(key)
        out.append("/" + text.replace("~", "~0").replace("/", "~1"))
    return "".join(out)


_TRUNC_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second")


class DuckDBOperations(BaseOperations):
    placeholder = "?"

    operators: ClassVar[dict[str, str]] = {
        **BaseOperations.operators,
        "iexact": "LOWER({lhs}) = LOWER({rhs})",
        "regex": "regexp_matches({lhs}, {rhs})",
        "iregex": "regexp_matches({lhs}, {rhs}, 'i')",
    }

    pattern_ops: ClassVar[dict[str, str]] = {
        "contains": "contains({lhs}, {rhs})",
        "icontains": "contains(LOWER({lhs}), LOWER({rhs}))",
        "startswith": "starts_with({lhs}, {rhs})",
        "istartswith": "starts_with(LOWER({lhs}), LOWER({rhs}))",
        "endswith": "ends_with({lhs}, {rhs})",
        "iendswith": "ends_with(LOWER({lhs}), LOWER({rhs}))",
    }

    def max_name_length(self) -> int:
        return 63

    # -- statements ------------------------------------------------------------------------
    def for_update_sql(self, nowait=False, skip_locked=False, of=()) -> str:
        raise NotSupportedError("SELECT ... FOR UPDATE is not supported on DuckDB "
                                "(optimistic concurrency: conflicting writes fail at write/commit time)")

    def distinct_sql(self, fields: list[str]) -> str:
        if fields:
            return f"DISTINCT ON ({', '.join(fields)})"
        return "DISTINCT"

    def explain_prefix(self, **options) -> str:
        return "EXPLAIN ANALYZE" if options.get("analyze") else "EXPLAIN"

    def bulk_batch_size(self, n_fields: int, n_objs: int) -> int:
        """Rows per INSERT: large batches, because the backend sends a multi-row insert
        as one columnar ``INSERT ... SELECT UNNEST(?)`` (one list parameter per column)."""
        return max(1, min(n_objs, 100_000))

    def random_function_sql(self) -> str:
        return "random()"

    def now_sql(self) -> str:
        # naive UTC TIMESTAMP, like the values dorm stores
        return "CAST(timezone('UTC', now()) AS TIMESTAMP)"

    _FUNCTIONS: ClassVar[dict[str, str]] = {"STRPOS": "strpos", "CEILING": "ceil"}

    def function_name(self, name: str) -> str:
        return self._FUNCTIONS.get(name.upper(), name)

    def aggregate_sql(self, function: str, inner_sql: str, internal_type: str | None = None) -> str:
        fn = function.upper()
        if fn in ("STDDEV_POP", "STDDEV_SAMP", "VAR_POP", "VAR_SAMP") and internal_type == "DecimalField":
            return f"{function}(CAST({inner_sql} AS DOUBLE))"
        return f"{function}({inner_sql})"

    # -- dates -------------------------------------------------------------------------------
    def _local(self, sql: str, output_type: str, tzname: str | None = None) -> str:
        """A stored naive-UTC datetime expression as wall time in ``TIME_ZONE``."""
        if output_type != "DateTimeField":
            return sql
        tz = tzname if tzname is not None else _settings_tz()
        if not tz:
            return sql
        q = self.quote_value(tz)
        return f"CAST(timezone({q}, timezone('UTC', {sql})) AS TIMESTAMP)"

    def _from_local(self, sql: str, tz: str | None) -> str:
        if not tz:
            return sql
        q = self.quote_value(tz)
        return f"CAST(timezone('UTC', timezone({q}, {sql})) AS TIMESTAMP)"

    def extract_sql(self, unit: str, sql: str, output_type: str, tzname: str | None = None) -> str:
        """Integer part of a date/datetime/time; ``week_day`` is 0=Sunday..6=Saturday,
        ``week`` the ISO week."""
        src = self._local(sql, output_type, tzname)
        if unit == "epoch":
            return f"EXTRACT(epoch FROM {src})"
        parts = {"year": "year", "quarter": "quarter", "month": "month", "week": "week", "day": "day",
                 "week_day": "dow", "iso_week_day": "isodow", "day_of_year": "doy",
                 "hour": "hour", "minute": "minute", "second": "second", "iso_year": "isoyear"}
        part = parts.get(unit)
        if part is None:
            raise ValueError(f"unknown extract unit {unit!r}; expected one of {', '.join(self.extract_units)}")
        return f"CAST(EXTRACT({part} FROM {src}) AS INTEGER)"

    def trunc_sql(self, unit: str, sql: str, output_type: str, tzname: str | None = None) -> str:
        """Truncate to ``unit`` keeping the type (weeks start on Monday)."""
        if unit not in _TRUNC_UNITS:
            raise ValueError(f"cannot truncate to {unit!r}")
        if output_type == "TimeField":
            if unit not in ("hour", "minute", "second"):
                raise ValueError(f"cannot truncate a time to {unit!r}")
            return f"CAST(date_trunc('{unit}', TIMESTAMP '1970-01-01' + {sql}) AS TIME)"
        if output_type == "DateField":
            if unit in ("hour", "minute", "second"):
                raise ValueError(f"cannot truncate a date to {unit!r}")
            return f"CAST(date_trunc('{unit}', {sql}) AS DATE)"
        tz = (tzname if tzname is not None else _settings_tz())
        src = self._local(sql, output_type, tzname)
        out = f"CAST(date_trunc('{unit}', {src}) AS TIMESTAMP)"
        return self._from_local(out, tz)

    def date_cast_sql(self, sql: str, tzname: str | None = None) -> str:
        return f"CAST({self._local(sql, 'DateTimeField', tzname)} AS DATE)"

    def time_cast_sql(self, sql: str, tzname: str | None = None) -> str:
        return f"CAST({self._local(sql, 'DateTimeField', tzname)} AS TIME)"

    # -- JSON ------------------------------------------------------------------------------------
    def json_key_sql(self, sql: str, path) -> tuple[str, list]:
        return f"json_extract({sql}, ?)", [json_pointer(path)]

    def json_key_text_sql(self, sql: str, path) -> tuple[str, list]:
        # ->> : strings unquoted, numbers/booleans as their JSON text, JSON null -> NULL
        return f"json_extract_string({sql}, ?)", [json_pointer(path)]

    def prep_json_key_value(self, value):
        """A plain value compared with ``json_extract_string`` output (text)."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float, decimal.Decimal)):
            import json

            return json.dumps(value if not isinstance(value, decimal.Decimal) else float(value))
        return str(value)

    def json_has_key_sql(self, sql: str, key) -> tuple[str, list]:
        return f"json_exists({sql}, ?)", [json_pointer([key])]

    def json_contains_sql(self, sql: str, value, path=()) -> tuple[str, list]:
        """Containment (Django semantics) with DuckDB's JSON functions: objects key by
        key, arrays element by element (any element of the stored array may contain the
        wanted one, recursively), scalars by JSON type and value."""
        if path:
            at, params = f"json_extract({sql}, ?)", [json_pointer(path)]
        else:
            at, params = sql, []
        cond, cparams = self._json_contains(at, value, 0)
        # ``at`` appears once per placeholder group in cond: bind its params each time
        return cond, self._expand(cparams, params)

    _AT = object()   # marks where the parameters of the addressed expression go

    def _json_contains(self, at: str, value, depth: int) -> tuple[str, list]:
        at_mark = [self._AT]
        if isinstance(value, dict):
            parts, params = [f"json_type({at}) = 'OBJECT'"], list(at_mark)
            for key, item in value.items():
                inner = f"json_extract({at}, ?)"
                cond, p = self._json_contains(inner, item, depth)
                parts.append(cond)
                # each occurrence of ``inner`` in cond binds (at params, key pointer)
                params.extend(self._expand(p, [self._AT, json_pointer([key])]))
            return "(" + " AND ".join(parts) + ")", params
        if isinstance(value, list):
            parts, params = [f"json_type({at}) = 'ARRAY'"], list(at_mark)
            for item in value:
                alias = f"e{depth}"
                cond, p = self._json_contains(alias, item, depth + 1)
                parts.append(f"EXISTS (SELECT 1 FROM (SELECT UNNEST(CAST({at} AS JSON[])) AS {alias}) "
                             f"AS s{depth} WHERE {cond})")
                params.extend([self._AT, *self._expand(p, [])])
            return "(" + " AND ".join(parts) + ")", params
        if value is None:
            return f"json_type({at}) = 'NULL'", list(at_mark)
        if isinstance(value, bool):
            return (f"(json_type({at}) = 'BOOLEAN' AND TRY_CAST({at} AS BOOLEAN) = ?)",
                    [self._AT, self._AT, value])
        if isinstance(value, (int, float, decimal.Decimal)):
            return ((f"(json_type({at}) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT') "
                     f"AND TRY_CAST({at} AS DOUBLE) = ?)"), [self._AT, self._AT, float(value)])
        return (f"(json_type({at}) = 'VARCHAR' AND json_extract_string({at}, '$') = ?)",
                [self._AT, self._AT, str(value)])

    def _expand(self, params, at_params):
        out = []
        for p in params:
            if p is self._AT:
                out.extend(at_params)
            else:
                out.append(p)
        return out

    # -- casts ---------------------------------------------------------------------------------
    def cast_sql(self, sql: str, db_type: str) -> str:
        upper = db_type.upper()
        if upper in ("TEXT", "CHAR") or upper.startswith(("VARCHAR", "CHAR(")):
            db_type = "VARCHAR"
        elif upper in ("REAL", "FLOAT", "DOUBLE PRECISION"):
            db_type = "DOUBLE"
        elif upper in ("DATETIME", "TIMESTAMPTZ"):
            db_type = "TIMESTAMP"
        elif upper in ("BYTEA",):
            db_type = "BLOB"
        elif upper == "JSONB":
            db_type = "JSON"
        return f"CAST({sql} AS {db_type})"

    # -- values ------------------------------------------------------------------------------------
    def adapt_datetime(self, value):
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, datetime.datetime) and value.tzinfo is not None:
            if not _use_tz():
                raise ValueError("DuckDB cannot store timezone-aware datetimes when USE_TZ is False")
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value

    def adapt_date(self, value):
        if isinstance(value, datetime.datetime):
            return value.date()
        return value

    def adapt_time(self, value):
        if value is None or isinstance(value, str):
            return value
        if value.tzinfo is not None:
            raise ValueError("DuckDB cannot store timezone-aware times")
        return value

    def adapt_decimal(self, value, max_digits=None, decimal_places=None):
        """A ``Decimal`` (exact); ``DataError`` beyond DuckDB's 38 digits."""
        if value is None:
            return None
        if not isinstance(value, decimal.Decimal):
            value = decimal.Decimal(str(value))
        if not value.is_finite():
            raise DataError(f"DuckDB cannot store the decimal value {value}")
        digits = len(value.as_tuple().digits)
        if digits > MAX_DECIMAL_DIGITS:
            raise DataError(f"DuckDB cannot store {value} exactly: it has {digits} digits and "
                            f"DuckDB decimals hold at most {MAX_DECIMAL_DIGITS}")
        return value

    def adapt_uuid(self, value):
        if value is None or isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(str(value))

    def get_db_converter(self, internal_type: str, field=None):
        """Converter for values read from a column of ``internal_type`` (the driver
        already returns native Python values for most types)."""
        if internal_type == "DecimalField":
            return _decimal_converter(getattr(field, "decimal_places", None))
        if internal_type == "DecimalSum":
            return _to_decimal
        if internal_type == "DateTimeField":
            return _conv_datetime_utc if _use_tz() else _conv_datetime_naive
        if internal_type == "DateField":
            return _conv_date
        if internal_type == "DurationField":
            return _conv_duration
        if internal_type == "UUIDField":
            return _conv_uuid
        if internal_type == "BooleanField":
            return _conv_bool
        return None

    # -- literals --------------------------------------------------------------------------------
    def quote_value(self, value) -> str:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return "'" + "".join(f"\\x{b:02X}" for b in bytes(value)) + "'::BLOB"
        if isinstance(value, uuid.UUID):
            return f"'{value}'::UUID"
        if isinstance(value, datetime.datetime):
            return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
        if isinstance(value, datetime.date):
            return f"DATE '{value.isoformat()}'"
        if isinstance(value, datetime.time):
            return f"TIME '{value.isoformat()}'"
        return super().quote_value(value)

    # -- transactions ------------------------------------------------------------------------------
    def begin_transaction_sql(self) -> str:
        return "BEGIN TRANSACTION"

    def savepoint_create_sql(self, sid: str) -> str:
        raise NotSupportedError("DuckDB has no savepoints (features.supports_savepoints is False)")

    savepoint_commit_sql = savepoint_create_sql
    savepoint_rollback_sql = savepoint_create_sql
