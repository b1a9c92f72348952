"""Window functions: ``Window(expression, partition_by=, order_by=, frame=)``."""
from __future__ import annotations

from dorm.exceptions import ImproperlyConfigured, NotSupportedError
from dorm.expressions import Expression, F, Func, OrderBy, Value


class Window(Expression):
    contains_over_clause = True

    def __init__(self, expression, partition_by=None, order_by=None, frame=None, output_field=None):
        super().__init__(output_field)
        self.source_expression = expression
        if partition_by is not None and not isinstance(partition_by, (list, tuple)):
            partition_by = [partition_by]
        self.partition_by = [F(p) if isinstance(p, str) else p for p in (partition_by or [])]
        if order_by is not None and not isinstance(order_by, (list, tuple)):
            order_by = [order_by]
        self.order_by = [_order(o) for o in (order_by or [])]
        if getattr(expression, "requires_order", False) and not self.order_by:
            raise ImproperlyConfigured(f"{type(expression).__name__} needs Window(order_by=...)")
        #: trusted SQL text for the frame clause (``ROWS BETWEEN ...``)
        self.frame = frame

    def get_source_expressions(self):
        return [self.source_expression, *self.partition_by, *self.order_by]

    def resolve_expression(self, *args, **kwargs):
        c = super().resolve_expression(*args, **kwargs)
        # Window(Sum(...)) is computed per row over its window: no GROUP BY
        c.contains_aggregate = False
        return c

    def set_source_expressions(self, exprs):
        self.source_expression = exprs[0]
        n = len(self.partition_by)
        self.partition_by = list(exprs[1:1 + n])
        self.order_by = list(exprs[1 + n:])

    def _resolve_output_field(self):
        return self.source_expression.output_field

    def get_db_converters(self, connection):
        return self.source_expression.get_db_converters(connection)

    def get_group_by_cols(self):
        return []

    def as_sql(self, compiler, connection):
        if not connection.features.supports_window_functions:
            raise NotSupportedError(f"window functions are not supported on {connection.display_name}")
        sql, params = compiler.compile(self.source_expression)
        parts = []
        if self.partition_by:
            ps = []
            for p in self.partition_by:
                s, pp = compiler.compile(p)
                ps.append(s)
                params.extend(pp)
            parts.append("PARTITION BY " + ", ".join(ps))
        if self.order_by:
            os_ = []
            for o in self.order_by:
                s, pp = compiler.compile(o)
                os_.append(s)
                params.extend(pp)
            parts.append("ORDER BY " + ", ".join(os_))
        if self.frame:
            parts.append(str(self.frame))
        return f"{sql} OVER ({' '.join(parts)})", params


def _order(o):
    if isinstance(o, str):
        return OrderBy(F(o[1:]), descending=True) if o.startswith("-") else OrderBy(F(o))
    if isinstance(o, OrderBy):
        return o
    return OrderBy(o)


class _Ranking(Func):
    arity = 0
    requires_order = True
    window_compatible = True

    def _resolve_output_field(self):
        from dorm.fields import IntegerField
        return IntegerField()


class RowNumber(_Ranking):
    function = "ROW_NUMBER"


class Rank(_Ranking):
    function = "RANK"


class DenseRank(_Ranking):
    function = "DENSE_RANK"


class PercentRank(_Ranking):
    function = "PERCENT_RANK"

    def _resolve_output_field(self):
        from dorm.fields import FloatField
        return FloatField()


class CumeDist(PercentRank):
    function = "CUME_DIST"


class NTile(Func):
    function = "NTILE"
    requires_order = True

    def __init__(self, num_buckets=1, **extra):
        if num_buckets <= 0:
            raise ValueError("num_buckets must be greater than 0")
        super().__init__(Value(num_buckets), **extra)


class _LagLead(Func):
    def __init__(self, expression, offset=1, default=None, **extra):
        if offset is None or offset <= 0:
            raise ValueError(f"{type(self).__name__} offset must be a positive integer")
        args = [expression, Value(offset)]
        if default is not None:
            args.append(default if hasattr(default, "resolve_expression") else Value(default))
        super().__init__(*args, **extra)

    def _resolve_output_field(self):
        return self.source_expressions[0].output_field


class Lag(_LagLead):
    function = "LAG"


class Lead(_LagLead):
    function = "LEAD"


class FirstValue(Func):
    function = "FIRST_VALUE"
    arity = 1


class LastValue(Func):
    function = "LAST_VALUE"
    arity = 1


class NthValue(Func):
    function = "NTH_VALUE"

    def __init__(self, expression, nth=1, **extra):
        if nth is None or nth <= 0:
            raise ValueError("NthValue nth must be a positive integer")
        super().__init__(expression, Value(nth), **extra)

    def _resolve_output_field(self):
        return self.source_expressions[0].output_field


__all__ = ["Window", "RowNumber", "Rank", "DenseRank", "PercentRank", "CumeDist", "NTile", "Lag",
           "Lead", "FirstValue", "LastValue", "NthValue"]
