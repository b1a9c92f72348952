"""Aggregate functions: ``Count``, ``Sum``, ``Avg``, ``Min``, ``Max``, ``StdDev``, ``Variance``.

``Aggregate(expression, distinct=False, filter=None, default=None)``. ``filter=Q(...)``
compiles to ``FILTER (WHERE ...)`` where the backend supports it, else to a
``CASE WHEN ... THEN expr END`` argument; ``default`` wraps the result in
``COALESCE``. A ``Sum`` of a ``DecimalField`` comes back as an exact ``Decimal``.
"""
from __future__ import annotations

from dorm.exceptions import FieldError, NotSupportedError
from dorm.expressions import Func, Star, Value


NUMERIC_TYPES = frozenset({
    "IntegerField", "SmallIntegerField", "BigIntegerField", "PositiveIntegerField",
    "PositiveSmallIntegerField", "PositiveBigIntegerField", "AutoField", "BigAutoField",
    "SmallAutoField", "FloatField", "DecimalField", "DurationField", "BooleanField",
})


INTEGER_TYPES = frozenset({
    "IntegerField", "SmallIntegerField", "BigIntegerField", "PositiveIntegerField",
    "PositiveSmallIntegerField", "PositiveBigIntegerField", "AutoField", "BigAutoField",
    "SmallAutoField",
})


class Aggregate(Func):
    contains_aggregate = True
    #: Sum/Avg/StdDev/Variance refuse non-numeric columns with a FieldError.
    numeric_only = False
    template = "%(function)s(%(distinct)s%(expressions)s)"
    allow_distinct = False
    empty_result_set_value = None
    #: Backend feature flag that must be true for this aggregate, or None.
    requires_feature: str | None = None

    def __init__(self, expression, distinct=False, filter=None, default=None, output_field=None, **extra):
        if distinct and not self.allow_distinct:
            raise TypeError(f"{type(self).__name__} does not allow distinct")
        if isinstance(expression, str) and expression == "*":
            if not getattr(self, "allow_star", False):
                raise TypeError(f"{type(self).__name__}('*') is not valid; only Count('*') takes '*'")
            expression = Star()
        super().__init__(expression, output_field=output_field, **extra)
        self.distinct = distinct
        self.filter = filter
        self.default = default

    @property
    def name(self):
        return type(self).__name__

    def resolve_expression(self, query=None, allow_joins=True, summarize=False, for_save=False):
        c = super().resolve_expression(query, allow_joins, summarize, for_save)
        for src in c.source_expressions:
            if getattr(src, "contains_aggregate", False) and not summarize:
                raise FieldError(f"cannot nest aggregate functions: {self!r}")
            if self.numeric_only:
                field = getattr(src, "output_field", None)
                itype = field.get_internal_type() if field is not None else None
                if itype is not None and itype not in NUMERIC_TYPES:
                    owner = getattr(getattr(field, "model", None), "__name__", "")
                    raise FieldError(
                        f"{self.name}() needs a numeric field; {owner + '.' if owner else ''}"
                        f"{getattr(field, 'name', '') or itype} is a {itype}")
        if self.filter is not None and query is not None:
            c.filter = query.build_where_node(self.filter)
        c.contains_aggregate = True
        return c

    def get_group_by_cols(self):
        return []

    def as_sql(self, compiler, connection, **extra_context):
        if self.requires_feature and not getattr(connection.features, self.requires_feature, False):
            raise NotSupportedError(f"{self.name} is not supported on {connection.display_name}")
        distinct = "DISTINCT " if self.distinct else ""
        src = self.source_expressions[0] if self.source_expressions else None
        src_field = getattr(src, "output_field", None)
        internal = src_field.get_internal_type() if src_field is not None else None
        extra_context.setdefault("template", _AggTemplate(connection, self.function, internal))
        if self.filter is not None:
            fsql, fparams = compiler.compile(self.filter)
            if connection.features.supports_aggregate_filter_clause:
                sql, params = super().as_sql(compiler, connection, distinct=distinct, **extra_context)
                sql, params = f"{sql} FILTER (WHERE {fsql})", [*params, *fparams]
            else:
                parts, params = [], []
                for src in self.source_expressions:
                    s, p = compiler.compile(src)
                    if s == "*":
                        s = "1"
                    parts.append(f"CASE WHEN {fsql} THEN {s} ELSE NULL END")
                    params.extend([*fparams, *p])
                func = connection.ops.function_name(self.function)
                sql = connection.ops.aggregate_sql(func, f"{distinct}{', '.join(parts)}", internal)
        else:
            sql, params = super().as_sql(compiler, connection, distinct=distinct, **extra_context)
        if self.default is not None:
            dv = self.default if hasattr(self.default, "as_sql") else Value(self.default)
            dsql, dp = compiler.compile(dv)
            sql, params = f"COALESCE({sql}, {dsql})", [*params, *dp]
        return sql, params

    def __repr__(self):
        return f"{self.name}({', '.join(map(repr, self.source_expressions))}" + (
            ", distinct=True)" if self.distinct else ")")


class _AggTemplate:
    """Template that routes ``FUNC(args)`` through ``ops.aggregate_sql`` so a backend can
    substitute an exact implementation (SQLite sums decimals exactly)."""

    def __init__(self, connection, function, internal_type):
        self.connection, self.function, self.internal_type = connection, function, internal_type

    def __mod__(self, data):
        func = data.get("function") or self.function
        inner = f"{data.get('distinct', '')}{data['expressions']}"
        return self.connection.ops.aggregate_sql(func, inner, self.internal_type)


class Count(Aggregate):
    function = "COUNT"
    allow_star = True
    allow_distinct = True
    empty_result_set_value = 0

    def __init__(self, expression="*", **kwargs):
        super().__init__(expression, **kwargs)

    def _resolve_output_field(self):
        from dorm.fields import BigIntegerField
        return BigIntegerField()

    def get_db_converters(self, connection):
        return [lambda v: 0 if v is None else int(v)]


class Sum(Aggregate):
    function = "SUM"
    numeric_only = True
    allow_distinct = True

    def get_db_converters(self, connection):
        field = self.output_field
        if field is None:
            return []
        if field.get_internal_type() == "DecimalField":
            import decimal

            sum_conv = connection.ops.get_db_converter("DecimalSum")
            if sum_conv is not None:
                return [sum_conv]
            return [lambda v: None if v is None else decimal.Decimal(str(v))]
        convs = super().get_db_converters(connection)
        if field.get_internal_type() in INTEGER_TYPES:
            # some databases sum 64-bit integers as numeric (PostgreSQL: SUM(bigint))
            return [_to_int, *convs]
        return convs


def _to_int(v):
    return v if v is None or isinstance(v, int) else int(v)


class Avg(Aggregate):
    function = "AVG"
    numeric_only = True
    allow_distinct = True

    def _resolve_output_field(self):
        from dorm.fields import DecimalField, FloatField

        src = super()._resolve_output_field()
        if src is not None and src.get_internal_type() == "DecimalField":
            return DecimalField(max_digits=65, decimal_places=30)
        return FloatField()

    def get_db_converters(self, connection):
        import decimal

        if self.output_field.get_internal_type() == "DecimalField":
            return [lambda v: None if v is None else decimal.Decimal(str(v))]
        return [lambda v: None if v is None else float(v)]


class Max(Aggregate):
    function = "MAX"


class Min(Aggregate):
    function = "MIN"


class StdDev(Aggregate):
    numeric_only = True
    requires_feature = "supports_stddev"

    def __init__(self, expression, sample=False, **kwargs):
        self.function = "STDDEV_SAMP" if sample else "STDDEV_POP"
        super().__init__(expression, **kwargs)

    def _resolve_output_field(self):
        from dorm.fields import FloatField
        return FloatField()


class Variance(StdDev):
    def __init__(self, expression, sample=False, **kwargs):
        super().__init__(expression, **kwargs)
        self.function = "VAR_SAMP" if sample else "VAR_POP"


__all__ = ["Aggregate", "Count", "Sum", "Avg", "Max", "Min", "StdDev", "Variance"]
