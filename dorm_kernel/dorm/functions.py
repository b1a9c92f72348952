"""Database functions (``dorm.functions``): scalar, string, math, date, ``Cast``.

Strings among arguments are field names; other plain values are bound parameters.
Dialect differences (``STRPOS`` vs ``INSTR``, date parts) come from the backend's
operations, or an ``as_<vendor>`` method a plugin adds."""
from __future__ import annotations

import re

from dorm.exceptions import ImproperlyConfigured
from dorm.expressions import Case, Exists, ExpressionWrapper, Func, OuterRef, Subquery, Value, When
from dorm.lookups import (ExtractDay, ExtractHour, ExtractIsoWeekDay, ExtractIsoYear, ExtractMinute,
                          ExtractMonth, ExtractQuarter, ExtractSecond, ExtractWeek, ExtractWeekDay,
                          ExtractYear, Lower, Upper)


class Coalesce(Func):
    function = "COALESCE"

    def __init__(self, *expressions, **extra):
        if len(expressions) < 2:
            raise ValueError("Coalesce must take at least two expressions")
        super().__init__(*expressions, **extra)


class NullIf(Func):
    function = "NULLIF"
    arity = 2


class Greatest(Func):
    def as_sql(self, compiler, connection, **extra):
        parts, params = _compile_all(compiler, self.source_expressions)
        return connection.ops.greatest_sql(parts), params


class Least(Func):
    def as_sql(self, compiler, connection, **extra):
        parts, params = _compile_all(compiler, self.source_expressions)
        return connection.ops.greatest_sql(parts, least=True), params


def _compile_all(compiler, exprs):
    parts, params = [], []
    for e in exprs:
        s, p = compiler.compile(e)
        parts.append(s)
        params.extend(p)
    return parts, params


class Length(Func):
    function = "LENGTH"
    arity = 1

    def _resolve_output_field(self):
        from dorm.fields import IntegerField
        return IntegerField()


class Concat(Func):
    """NULL-safe concatenation."""

    def as_sql(self, compiler, connection, **extra):
        parts, params = _compile_all(compiler, self.source_expressions)
        return connection.ops.concat_sql(parts), params

    def _resolve_output_field(self):
        from dorm.fields import TextField
        return TextField()


class Trim(Func):
    function = "TRIM"
    arity = 1


class LTrim(Func):
    function = "LTRIM"
    arity = 1


class RTrim(Func):
    function = "RTRIM"
    arity = 1


class Substr(Func):
    function = "SUBSTR"

    def __init__(self, expression, pos, length=None, **extra):
        args = [expression, pos] if length is None else [expression, pos, length]
        super().__init__(*args, **extra)


class Replace(Func):
    function = "REPLACE"

    def __init__(self, expression, text, replacement=Value(""), **extra):
        super().__init__(expression, text, replacement, **extra)


class StrIndex(Func):
    function = "STRPOS"
    arity = 2

    def _resolve_output_field(self):
        from dorm.fields import IntegerField
        return IntegerField()


class Abs(Func):
    function = "ABS"
    arity = 1


class Sign(Func):
    function = "SIGN"
    arity = 1


class Ceil(Func):
    function = "CEIL"
    arity = 1


class Floor(Func):
    function = "FLOOR"
    arity = 1


class Round(Func):
    function = "ROUND"

    def __init__(self, expression, precision=0, **extra):
        super().__init__(expression, precision, **extra)

    def as_sql(self, compiler, connection, **extra):
        # through the backend: PostgreSQL has ROUND(numeric, int) but no ROUND(float, int)
        sql, params = compiler.compile(self.source_expressions[0])
        psql, pparams = compiler.compile(self.source_expressions[1])
        field = getattr(self.source_expressions[0], "output_field", None)
        internal = field.get_internal_type() if field is not None else None
        return connection.ops.round_sql(sql, psql, internal), [*params, *pparams]


class Mod(Func):
    function = "MOD"
    arity = 2


class Power(Func):
    function = "POWER"
    arity = 2


class Sqrt(Func):
    function = "SQRT"
    arity = 1


class Random(Func):
    def as_sql(self, compiler, connection, **extra):
        return connection.ops.random_function_sql(), []


class Now(Func):
    def as_sql(self, compiler, connection, **extra):
        return connection.ops.now_sql(), []

    def _resolve_output_field(self):
        from dorm.fields import DateTimeField
        return DateTimeField()


class Extract(Func):
    arity = 1

    def __init__(self, expression, lookup_name, **extra):
        super().__init__(expression, **extra)
        self.lookup_name = lookup_name

    def _resolve_output_field(self):
        from dorm.fields import IntegerField
        return IntegerField()

    def as_sql(self, compiler, connection, **extra):
        units = connection.ops.extract_units
        if self.lookup_name not in units:
            raise ImproperlyConfigured(
                f"Extract: unknown unit {self.lookup_name!r}; choices: {', '.join(units)}")
        sql, params = compiler.compile(self.source_expressions[0])
        src = getattr(self.source_expressions[0], "output_field", None)
        itype = src.get_internal_type() if src is not None else "DateTimeField"
        return connection.ops.extract_sql(self.lookup_name, sql, itype), params


class Trunc(Func):
    arity = 1

    def __init__(self, expression, kind, output_field=None, **extra):
        super().__init__(expression, output_field=output_field, **extra)
        self.kind = kind

    def as_sql(self, compiler, connection, **extra):
        units = connection.ops.trunc_units
        if self.kind not in units:
            raise ImproperlyConfigured(f"Trunc: unknown unit {self.kind!r}; choices: {', '.join(units)}")
        sql, params = compiler.compile(self.source_expressions[0])
        src = self.output_field
        itype = src.get_internal_type() if src is not None else "DateTimeField"
        return connection.ops.trunc_sql(self.kind, sql, itype), params


def _trunc(kind):
    def init(self, expression, output_field=None, **extra):
        Trunc.__init__(self, expression, kind, output_field=output_field, **extra)
    return type(f"Trunc{kind.title()}", (Trunc,), {"__init__": init, "kind": kind})


TruncYear, TruncQuarter, TruncMonth, TruncWeek, TruncDay, TruncHour, TruncMinute, TruncSecond = (
    _trunc(k) for k in ("year", "quarter", "month", "week", "day", "hour", "minute", "second"))


class TruncDate(Func):
    arity = 1

    def _resolve_output_field(self):
        from dorm.fields import DateField
        return DateField()

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return connection.ops.date_cast_sql(sql), params


_CAST_TYPE = re.compile(
    r"^(INTEGER|BIGINT|SMALLINT|REAL|DOUBLE PRECISION|FLOAT|NUMERIC|DECIMAL|TEXT|VARCHAR|CHAR|BLOB|"
    r"BYTEA|BOOLEAN|BOOL|DATE|TIME|TIMESTAMP|TIMESTAMPTZ|DATETIME|JSON|JSONB|UUID)"
    r"(\(\d+(,\s*\d+)?\))?$", re.I)


class Cast(Func):
    """``Cast(expr, output_field)``: a Field instance, or a type name from the allow-list."""

    arity = 1

    def __init__(self, expression, output_field):
        if isinstance(output_field, str):
            if not _CAST_TYPE.match(output_field.strip()):
                raise ImproperlyConfigured(f"Cast: type {output_field!r} is not in the allow-list")
            self.type_name = output_field.strip()
            super().__init__(expression)
        else:
            self.type_name = None
            super().__init__(expression, output_field=output_field)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        db_type = self.type_name or self.output_field.cast_db_type(connection)
        return connection.ops.cast_sql(sql, db_type), params


__all__ = [
    "Func", "Value", "Case", "When", "Subquery", "Exists", "OuterRef", "ExpressionWrapper",
    "Coalesce", "NullIf", "Greatest", "Least", "Length", "Concat", "Trim", "LTrim", "RTrim",
    "Substr", "Replace", "StrIndex", "Lower", "Upper", "Abs", "Sign", "Ceil", "Floor", "Round",
    "Mod", "Power", "Sqrt", "Random", "Now", "Extract", "Trunc", "TruncYear", "TruncQuarter",
    "TruncMonth", "TruncWeek", "TruncDay", "TruncHour", "TruncMinute", "TruncSecond", "TruncDate",
    "Cast", "ExtractYear", "ExtractQuarter", "ExtractMonth", "ExtractWeek", "ExtractDay",
    "ExtractWeekDay", "ExtractIsoWeekDay", "ExtractIsoYear", "ExtractHour", "ExtractMinute",
    "ExtractSecond",
]
