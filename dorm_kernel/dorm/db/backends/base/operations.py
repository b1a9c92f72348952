"""SQL dialect of a backend: quoting, placeholders, operators, value adaptation.

The kernel's compiler builds every statement through these methods and never
asks which vendor it talks to. A backend plugin subclasses ``BaseOperations`` and
overrides what its dialect does differently. Every method returns SQL text plus,
where values are involved, a list of parameters: values are never spliced.
"""
from __future__ import annotations

import datetime
import decimal
import json
import math
import re
import uuid

from dorm.exceptions import NotSupportedError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BaseOperations:
    """Dialect hooks used by the compiler, the schema editor and the fields."""

    #: Placeholder the driver expects for one positional parameter.
    placeholder = "%s"

    #: Lookup name -> SQL template. ``{lhs}`` is the compiled left-hand side,
    #: ``{rhs}`` the compiled right-hand side (usually the placeholder). Pattern
    #: lookups receive an already-escaped value (see ``prep_like``).
    operators = {
        "exact": "{lhs} = {rhs}",
        "iexact": "LOWER({lhs}) = LOWER({rhs})",
        "gt": "{lhs} > {rhs}",
        "gte": "{lhs} >= {rhs}",
        "lt": "{lhs} < {rhs}",
        "lte": "{lhs} <= {rhs}",
        "contains": "{lhs} LIKE {rhs} ESCAPE '\\'",
        "icontains": "LOWER({lhs}) LIKE LOWER({rhs}) ESCAPE '\\'",
        "startswith": "{lhs} LIKE {rhs} ESCAPE '\\'",
        "istartswith": "LOWER({lhs}) LIKE LOWER({rhs}) ESCAPE '\\'",
        "endswith": "{lhs} LIKE {rhs} ESCAPE '\\'",
        "iendswith": "LOWER({lhs}) LIKE LOWER({rhs}) ESCAPE '\\'",
        "regex": "{lhs} REGEXP {rhs}",
        "iregex": "{lhs} REGEXP ('(?i)' || {rhs})",
    }

    #: Template for a pattern lookup whose right side is an expression (not a value):
    #: the wildcard is added in SQL. ``{rhs}`` is the expression.
    pattern_ops = {
        "contains": "{lhs} LIKE '%' || {rhs} || '%'",
        "icontains": "LOWER({lhs}) LIKE '%' || LOWER({rhs}) || '%'",
        "startswith": "{lhs} LIKE {rhs} || '%'",
        "istartswith": "LOWER({lhs}) LIKE LOWER({rhs}) || '%'",
        "endswith": "{lhs} LIKE '%' || {rhs}",
        "iendswith": "LOWER({lhs}) LIKE '%' || LOWER({rhs})",
    }

    def __init__(self, backend):
        self.backend = backend

    # -- identifiers ------------------------------------------------------------
    def quote_name(self, name: str) -> str:
        """Quote an identifier. ``name`` has already been validated by the caller;
        embedded quotes are still doubled so quoting alone is injection-safe."""
        if name.startswith('"') and name.endswith('"'):
            return name
        return '"' + name.replace('"', '""') + '"'

    def max_name_length(self) -> int:
        return 63

    # -- statements ------------------------------------------------------------
    def limit_offset_sql(self, limit: int | None, offset: int | None) -> str:
        """``LIMIT``/``OFFSET`` clause (numbers are ints validated by the QuerySet)."""
        parts = []
        if limit is not None:
            parts.append(f"LIMIT {int(limit)}")
        elif offset:
            parts.append(f"LIMIT {self.no_limit_value()}")
        if offset:
            parts.append(f"OFFSET {int(offset)}")
        return " ".join(parts)

    def no_limit_value(self) -> int:
        return 9223372036854775807

    def for_update_sql(self, nowait=False, skip_locked=False, of=()) -> str:
        sql = "FOR UPDATE"
        if of:
            sql += " OF " + ", ".join(of)
        if nowait:
            sql += " NOWAIT"
        if skip_locked:
            sql += " SKIP LOCKED"
        return sql

    def distinct_sql(self, fields: list[str]) -> str:
        if fields:
            raise NotSupportedError(
                f"distinct(*fields) (DISTINCT ON) is not supported on {self.backend.display_name}"
            )
        return "DISTINCT"

    def insert_statement(self, on_conflict: str | None = None) -> str:
        return "INSERT INTO"

    def on_conflict_suffix_sql(self, on_conflict, update_columns, unique_columns) -> str:
        """``ON CONFLICT ...`` clause for ``bulk_create`` (``on_conflict`` is
        ``"ignore"``, ``"update"`` or ``None``); columns are quoted already."""
        if on_conflict == "ignore":
            return "ON CONFLICT DO NOTHING"
        if on_conflict == "update":
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in update_columns)
            return f"ON CONFLICT({', '.join(unique_columns)}) DO UPDATE SET {sets}"
        return ""

    def returning_sql(self, columns: list[str]) -> str:
        return "RETURNING " + ", ".join(columns)

    def bulk_batch_size(self, n_fields: int, n_objs: int) -> int:
        """Largest number of rows one multi-row INSERT may carry."""
        limit = self.backend.features.max_query_params
        if not limit or not n_fields:
            return n_objs
        return max(1, min(n_objs, limit // n_fields))

    def random_function_sql(self) -> str:
        return "RANDOM()"

    def explain_prefix(self, **options) -> str:
        return "EXPLAIN"

    # -- lookups -----------------------------------------------------------------
    def lookup_sql(self, lookup_name: str, lhs: str, rhs: str) -> str:
        """SQL for a built-in comparison lookup; unknown names raise NotSupportedError."""
        try:
            template = self.operators[lookup_name]
        except KeyError:
            raise NotSupportedError(
                f"lookup '{lookup_name}' is not supported on {self.backend.display_name}"
            ) from None
        return template.format(lhs=lhs, rhs=rhs)

    def pattern_lookup_sql(self, lookup_name: str, lhs: str, rhs: str) -> str:
        return self.pattern_ops[lookup_name].format(lhs=lhs, rhs=rhs)

    def prep_like(self, lookup_name: str, value: str) -> str:
        """Escape ``\\ % _`` and add the wildcards of a pattern lookup."""
        value = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        if lookup_name.endswith("contains"):
            return f"%{value}%"
        if lookup_name.endswith("startswith"):
            return f"{value}%"
        if lookup_name.endswith("endswith"):
            return f"%{value}"
        return value

    def in_lookup_sql(self, lhs: str, n_values: int) -> str:
        return f"{lhs} IN ({', '.join([self.placeholder] * n_values)})"

    # -- dates ---------------------------------------------------------------------
    #: Units ``extract_sql`` accepts.
    extract_units = ("year", "quarter", "month", "week", "day", "week_day", "iso_week_day",
                     "day_of_year", "hour", "minute", "second", "iso_year", "epoch")
    trunc_units = ("year", "quarter", "month", "week", "day", "hour", "minute", "second")

    def extract_sql(self, unit: str, sql: str, output_type: str) -> str:
        """Integer part of a date/datetime (``week_day`` is 0=Sunday..6=Saturday).
        ``output_type`` is the internal type of the column (``DateField`` ...)."""
        if unit == "week_day":
            return f"EXTRACT(DOW FROM {sql})"
        if unit == "iso_week_day":
            return f"EXTRACT(ISODOW FROM {sql})"
        if unit == "day_of_year":
            return f"EXTRACT(DOY FROM {sql})"
        if unit == "iso_year":
            return f"EXTRACT(ISOYEAR FROM {sql})"
        return f"EXTRACT({unit.upper()} FROM {sql})"

    def trunc_sql(self, unit: str, sql: str, output_type: str) -> str:
        """Truncate a date/datetime to ``unit``; keeps the input's type."""
        return f"DATE_TRUNC('{unit}', {sql})"

    def date_cast_sql(self, sql: str) -> str:
        """The date part of a datetime expression."""
        return f"CAST({sql} AS DATE)"

    def time_cast_sql(self, sql: str) -> str:
        return f"CAST({sql} AS TIME)"

    def now_sql(self) -> str:
        return "CURRENT_TIMESTAMP"

    # -- JSON ------------------------------------------------------------------------
    def json_key_sql(self, sql: str, path: list[str]) -> tuple[str, list]:
        """Extract ``path`` (keys / integer indexes) from a JSON column as JSON."""
        raise NotSupportedError(f"JSON key lookups are not supported on {self.backend.display_name}")

    def json_key_text_sql(self, sql: str, path: list[str]) -> tuple[str, list]:
        """Extract ``path`` from a JSON column as text (for comparisons)."""
        raise NotSupportedError(f"JSON key lookups are not supported on {self.backend.display_name}")

    def json_contains_sql(self, sql: str, value, path=()) -> tuple[str, list]:
        """``data__contains=value``: the JSON document (at key ``path``) contains
        ``value`` (objects: every key/value present, recursively; arrays: every element
        present)."""
        raise NotSupportedError(f"JSON containment is not supported on {self.backend.display_name}")

    def prep_json_key_value(self, value):
        """A plain value compared with ``json_key_text_sql`` output (PG: text)."""
        return value

    def json_has_key_sql(self, sql: str, key: str) -> tuple[str, list]:
        raise NotSupportedError(f"has_key is not supported on {self.backend.display_name}")

    # -- casts and functions ------------------------------------------------------------
    def cast_sql(self, sql: str, db_type: str) -> str:
        return f"CAST({sql} AS {db_type})"

    def function_name(self, name: str) -> str:
        """Map a portable function name to this dialect's (``STRPOS`` vs ``INSTR``)."""
        return name

    def round_sql(self, sql: str, places_sql: str, internal_type: str | None = None) -> str:
        """``Round(expr, places)``; ``internal_type`` is the expression's field type."""
        return f"ROUND({sql}, {places_sql})"

    def combine_operator(self, connector: str) -> str:
        """Arithmetic operator text (``%`` must be ``%%`` for pyformat drivers)."""
        return connector

    def concat_sql(self, parts: list[str]) -> str:
        return "(" + " || ".join(f"COALESCE({p}, '')" for p in parts) + ")"

    def greatest_sql(self, parts: list[str], least: bool = False) -> str:
        return f"{'LEAST' if least else 'GREATEST'}({', '.join(parts)})"

    # -- values --------------------------------------------------------------------------
    def adapt_datetime(self, value: datetime.datetime):
        return value

    def adapt_date(self, value: datetime.date):
        return value

    def adapt_time(self, value: datetime.time):
        return value

    def adapt_decimal(self, value: decimal.Decimal, max_digits, decimal_places):
        return value

    def adapt_json(self, value):
        return json.dumps(value)

    def adapt_uuid(self, value: uuid.UUID):
        return value if self.backend.features.has_native_uuid else str(value)

    def adapt_bool(self, value: bool):
        return value

    def adapt_duration(self, value: datetime.timedelta):
        if self.backend.features.has_native_duration:
            return value
        return value // datetime.timedelta(microseconds=1)

    def adapt_binary(self, value):
        return bytes(value)

    def adapt_ip(self, value: str):
        return value

    def get_db_converter(self, internal_type: str, field=None):
        """Callable ``value -> python`` applied to values read from a column of this
        internal type before the field's ``from_db_value``, or ``None``. ``field``
        (optional) is the output field, for converters that need its parameters
        (decimal places)."""
        return None

    # -- identifiers in settings --------------------------------------------------------
    @staticmethod
    def is_identifier(name: str) -> bool:
        return bool(_IDENT.match(name))

    # -- transactions (driven by dorm.transaction through the backend) ------------------
    def begin_transaction_sql(self) -> str:
        return "BEGIN"

    def commit_sql(self) -> str:
        return "COMMIT"

    def rollback_sql(self) -> str:
        return "ROLLBACK"

    def savepoint_create_sql(self, sid: str) -> str:
        """``sid`` is validated by ``dorm.transaction`` (``s_<hex>``) and quoted here."""
        return f"SAVEPOINT {self.quote_name(sid)}"

    def savepoint_commit_sql(self, sid: str) -> str:
        return f"RELEASE SAVEPOINT {self.quote_name(sid)}"

    def savepoint_rollback_sql(self, sid: str) -> str:
        return f"ROLLBACK TO SAVEPOINT {self.quote_name(sid)}"

    def health_check_sql(self) -> str:
        return "SELECT 1"

    # -- data commands (dorm flush / loaddata) -------------------------------------------
    def sequence_reset_sql(self, table: str, column: str) -> list[tuple[str, list]]:
        """``[(sql, params)]`` that make the next generated value of the auto-increment
        column ``table.column`` follow the largest stored value (1 on an empty table).

        ``[]`` (the default) when the database derives the next value from the rows
        itself or cannot move its sequence. ``table`` and ``column`` are validated
        identifiers; quote them, bind everything else.
        """
        return []

    def defer_constraint_checks_sql(self) -> str | None:
        """The statement that postpones foreign key checks to the end of the current
        transaction (only called when ``features.can_defer_constraint_checks``)."""
        return None

    # -- aggregates ----------------------------------------------------------------------
    def aggregate_sql(self, function: str, inner_sql: str, internal_type: str | None = None) -> str:
        """SQL of aggregate ``function`` (``"SUM"``, ``"AVG"``...) over ``inner_sql``
        (which may start with ``DISTINCT``) for a column of ``internal_type``.

        A backend overrides this where the database's own aggregate would lose
        precision (SQLite sums decimals exactly through a registered function).
        """
        return f"{function}({inner_sql})"

    # -- literals (DDL only: CHECK, partial-index WHERE, DEFAULT) -------------------------
    def quote_value(self, value) -> str:
        """A SQL literal for ``value``, for statements that cannot bind parameters
        (DDL). Values should already be adapted by the field (``get_db_prep_value``).

        Strings are single-quoted with quotes doubled (NUL rejected); numbers are
        written exactly (``Decimal`` without exponent, non-finite floats rejected);
        bytes as ``X'hex'``; dates/times/UUIDs as quoted ISO text; ``None`` as NULL.
        Anything else raises ``TypeError`` (never ``str()``-ed blindly).
        """
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            if self.backend.features.has_native_bool:
                return "TRUE" if value else "FALSE"
            return "1" if value else "0"
        if isinstance(value, int):
            return str(int(value))
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise ValueError(f"cannot write the non-finite float {value!r} as a SQL literal")
            return repr(value)
        if isinstance(value, decimal.Decimal):
            if not value.is_finite():
                raise ValueError(f"cannot write the non-finite decimal {value!r} as a SQL literal")
            return format(value, "f")
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("SQL string literals cannot contain NUL characters")
            return "'" + value.replace("'", "''") + "'"
        if isinstance(value, (bytes, bytearray, memoryview)):
            return "X'" + bytes(value).hex() + "'"
        if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
            return self.quote_value(value.isoformat(sep=" ") if isinstance(value, datetime.datetime)
                                    else value.isoformat())
        if isinstance(value, uuid.UUID):
            return self.quote_value(str(value))
        raise TypeError(f"cannot write a {type(value).__name__} value as a SQL literal")

    def compose_sql(self, sql: str, params) -> str:
        """Inline ``params`` into ``sql`` with ``quote_value`` (DDL only).

        Placeholders (``self.placeholder``) inside quoted strings, quoted identifiers
        and comments are left alone; with the ``%s`` style ``%%`` becomes ``%``. A
        count mismatch raises ``ValueError``.
        """
        params = list(params or ())
        ph = self.placeholder
        out: list[str] = []
        it = iter(params)
        used = 0
        for kind, text in _sql_tokens(sql, ph):
            if kind == "ph":
                try:
                    value = next(it)
                except StopIteration:
                    raise ValueError(f"not enough parameters for SQL: {sql!r}") from None
                out.append(self.quote_value(value))
                used += 1
            elif kind == "code" and ph == "%s":
                out.append(text.replace("%%", "%"))
            else:
                out.append(text)
        if used != len(params):
            raise ValueError(f"{len(params)} parameters given but the SQL has {used} placeholders")
        return "".join(out)

    def split_statements(self, sql: str) -> list[str]:
        """Split a script on top-level ``;`` (quotes and comments respected)."""
        statements, current = [], []
        for kind, text in _sql_tokens(sql, None):
            if kind == "code" and ";" in text:
                parts = text.split(";")
                for part in parts[:-1]:
                    current.append(part)
                    stmt = "".join(current).strip()
                    if stmt:
                        statements.append(stmt)
                    current = []
                current.append(parts[-1])
            else:
                current.append(text)
        stmt = "".join(current).strip()
        if stmt:
            statements.append(stmt)
        return statements


def _sql_tokens(sql: str, placeholder: str | None):
    """Yield ``(kind, text)`` chunks of ``sql``: ``"code"``, ``"quoted"`` (strings,
    quoted identifiers, comments) and ``"ph"`` (one placeholder)."""
    i, n, start = 0, len(sql), 0
    closers = {"'": "'", '"': '"', "`": "`"}
    while i < n:
        ch = sql[i]
        if ch in closers:
            if i > start:
                yield "code", sql[start:i]
            close = closers[ch]
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            yield "quoted", sql[i:j + 1]
            i = start = j + 1
            continue
        if ch == "-" and sql.startswith("--", i):
            if i > start:
                yield "code", sql[start:i]
            j = sql.find("\n", i)
            j = n if j == -1 else j
            yield "quoted", sql[i:j]
            i = start = j
            continue
        if ch == "/" and sql.startswith("/*", i):
            if i > start:
                yield "code", sql[start:i]
            j = sql.find("*/", i + 2)
            j = n if j == -1 else j + 2
            yield "quoted", sql[i:j]
            i = start = j
            continue
        if placeholder is not None:
            if placeholder == "%s" and ch == "%" and sql.startswith("%%", i):
                i += 2
                continue
            if sql.startswith(placeholder, i):
                if i > start:
                    yield "code", sql[start:i]
                yield "ph", placeholder
                i = start = i + len(placeholder)
                continue
        i += 1
    if start < n:
        yield "code", sql[start:]
