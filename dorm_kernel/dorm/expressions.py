"""Query expressions: column references, values, arithmetic, functions, ordering.

Every expression has two phases:

* ``resolve_expression(query)`` returns a copy bound to the query: names in ``F()``
  are checked against the model (``FieldError`` naming the valid choices) and turned
  into ``Col`` references, joins are set up.
* ``as_sql(compiler, connection)`` returns ``(sql, params)``. Values are always
  parameters. A backend can override the SQL of any expression class with an
  ``as_<vendor>(compiler, connection)`` method, which the compiler dispatches to.
"""
from __future__ import annotations

import copy
import datetime
import decimal
import uuid

from dorm.exceptions import FieldError


class Expression:
    """Base class. Subclasses set ``output_field`` or compute it in ``_resolve_output_field``."""

    contains_aggregate = False
    contains_over_clause = False
    conditional = False
    _output_field = None

    def __init__(self, output_field=None):
        if output_field is not None:
            self._output_field = output_field

    # -- structure ----------------------------------------------------------------------
    def get_source_expressions(self) -> list:
        return []

    def set_source_expressions(self, exprs) -> None:
        assert not exprs

    def copy(self):
        return copy.copy(self)

    def resolve_expression(self, query=None, allow_joins=True, summarize=False, for_save=False):
        c = self.copy()
        c.set_source_expressions([
            _resolve(e, query, allow_joins, summarize, for_save) for e in c.get_source_expressions()
        ])
        if any(getattr(e, "contains_aggregate", False) for e in c.get_source_expressions()):
            c.contains_aggregate = True
        return c

    # -- typing -----------------------------------------------------------------------------
    @property
    def output_field(self):
        if self._output_field is None:
            self._output_field = self._resolve_output_field()
        return self._output_field

    def _resolve_output_field(self):
        for source in self.get_source_expressions():
            field = getattr(source, "output_field", None)
            if field is not None:
                return field
        return None

    def get_db_converters(self, connection):
        field = self.output_field
        return field.get_db_converters(connection) if field is not None else []

    def get_group_by_cols(self):
        if self.contains_aggregate:
            return []
        cols = []
        for e in self.get_source_expressions():
            cols.extend(e.get_group_by_cols())
        return cols

    # -- SQL ------------------------------------------------------------------------------
    def as_sql(self, compiler, connection):
        raise NotImplementedError(f"{type(self).__name__}.as_sql")

    # -- operators ----------------------------------------------------------------------------
    def _combine(self, other, op, reversed_=False):
        if not hasattr(other, "resolve_expression"):
            other = Value(other)
        if reversed_:
            return CombinedExpression(other, op, self)
        return CombinedExpression(self, op, other)

    def __add__(self, o): return self._combine(o, "+")
    def __sub__(self, o): return self._combine(o, "-")
    def __mul__(self, o): return self._combine(o, "*")
    def __truediv__(self, o): return self._combine(o, "/")
    def __mod__(self, o): return self._combine(o, "%")
    def __pow__(self, o): return Func(self, o, function="POWER")
    def __radd__(self, o): return self._combine(o, "+", True)
    def __rsub__(self, o): return self._combine(o, "-", True)
    def __rmul__(self, o): return self._combine(o, "*", True)
    def __rtruediv__(self, o): return self._combine(o, "/", True)
    def __neg__(self): return CombinedExpression(Value(0), "-", self)

    def __and__(self, other):
        if self.conditional and getattr(other, "conditional", False):
            from dorm.query.where import Q
            return Q(self) & Q(other)
        raise NotImplementedError("use Q() for boolean combinations: Q(...) & Q(...)")

    def __or__(self, other):
        if self.conditional and getattr(other, "conditional", False):
            from dorm.query.where import Q
            return Q(self) | Q(other)
        raise NotImplementedError("use Q() for boolean combinations: Q(...) | Q(...)")

    def asc(self, *, nulls_first=None, nulls_last=None):
        return OrderBy(self, descending=False, nulls_first=nulls_first, nulls_last=nulls_last)

    def desc(self, *, nulls_first=None, nulls_last=None):
        return OrderBy(self, descending=True, nulls_first=nulls_first, nulls_last=nulls_last)

    def __repr__(self):
        args = ", ".join(repr(e) for e in self.get_source_expressions())
        return f"{type(self).__name__}({args})"


def _resolve(expr, query, allow_joins, summarize, for_save):
    if hasattr(expr, "resolve_expression"):
        return expr.resolve_expression(query, allow_joins, summarize, for_save)
    return expr


class F(Expression):
    """A reference to a field (or annotation) of the queried model: ``F("price")``,
    ``F("author__name")``. Checked against the model when the query is built."""

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise TypeError(f"F() takes a field name string, got {name!r}")
        self.name = name

    def resolve_expression(self, query=None, allow_joins=True, summarize=False, for_save=False):
        if query is None:
            raise FieldError(f"F({self.name!r}) can only be used inside a query")
        return query.resolve_ref(self.name, allow_joins=allow_joins, summarize=summarize)

    def __repr__(self):
        return f"F({self.name})"

    def __eq__(self, other):
        return type(other) is F and other.name == self.name

    def __hash__(self):
        return hash(("F", self.name))

    def between(self, low, high):
        from dorm.query.where import Q
        return Q(**{f"{self.name}__range": (low, high)})


class OuterRef(F):
    """A reference to a column of the outer query, inside ``Subquery``/``Exists``."""

    def resolve_expression(self, query=None, allow_joins=True, summarize=False, for_save=False):
        """A placeholder until the queryset is nested (``Subquery``/``Exists``); then
        it becomes a column of the outer query."""
        from dorm.query.relabel import ResolvedOuterRef

        return ResolvedOuterRef(self.name)


def infer_field(value):
    """The field class that represents a Python value (for ``Value`` and bare RHS)."""
    from dorm import fields as f

    if isinstance(value, bool):
        return f.BooleanField()
    if isinstance(value, int):
        return f.BigIntegerField()
    if isinstance(value, float):
        return f.FloatField()
    if isinstance(value, decimal.Decimal):
        return f.DecimalField(max_digits=65, decimal_places=max(0, -value.as_tuple().exponent))
    if isinstance(value, str):
        return f.TextField()
    if isinstance(value, datetime.datetime):
        return f.DateTimeField()
    if isinstance(value, datetime.date):
        return f.DateField()
    if isinstance(value, datetime.time):
        return f.TimeField()
    if isinstance(value, datetime.timedelta):
        return f.DurationField()
    if isinstance(value, uuid.UUID):
        return f.UUIDField()
    if isinstance(value, bytes):
        return f.BinaryField()
    return None


class Value(Expression):
    """A literal value, always sent as a bound parameter."""

    def __init__(self, value, output_field=None):
        super().__init__(output_field)
        self.value = value

    def _resolve_output_field(self):
        return infer_field(self.value)

    def as_sql(self, compiler, connection):
        value = self.value
        field = self._output_field
        if value is None:
            return "NULL", []
        if field is not None:
            value = field.get_db_prep_value(value, connection)
        elif isinstance(value, (datetime.datetime, datetime.date, datetime.time, decimal.Decimal,
                                uuid.UUID, datetime.timedelta, bool)):
            value = self.output_field.get_db_prep_value(value, connection)
        return connection.ops.placeholder, [value]

    def get_group_by_cols(self):
        return []

    def __repr__(self):
        return f"Value({self.value!r})"


class Col(Expression):
    """A resolved column: ``"alias"."column"`` of ``target`` (a field)."""

    def __init__(self, alias: str | None, target, output_field=None):
        super().__init__(output_field or target)
        self.alias = alias
        self.target = target

    _sql = None
    _sql_ops = None

    def as_sql(self, compiler, connection):
        ops = compiler.ops.__class__
        if self._sql_ops is ops:
            return self._sql, []
        qn = compiler.quote_name
        if self.alias is None:
            sql = qn(self.target.column)
        else:
            sql = f"{qn(self.alias)}.{qn(self.target.column)}"
        self._sql, self._sql_ops = sql, ops  # a Col never changes: remember its SQL
        return sql, []

    def get_group_by_cols(self):
        return [self]

    def __repr__(self):
        return f"Col({self.alias}, {self.target})"

    def __eq__(self, other):
        return isinstance(other, Col) and (self.alias, self.target) == (other.alias, other.target)

    def __hash__(self):
        return hash((self.alias, id(self.target)))


class Ref(Expression):
    """A reference to a selected annotation by its alias (GROUP BY / ORDER BY / HAVING)."""

    def __init__(self, refs: str, source):
        super().__init__()
        self.refs, self.source = refs, source

    def get_source_expressions(self):
        return [self.source]

    def set_source_expressions(self, exprs):
        (self.source,) = exprs

    def resolve_expression(self, *args, **kwargs):
        return self

    @property
    def contains_aggregate(self):
        return self.source.contains_aggregate

    def _resolve_output_field(self):
        return self.source.output_field

    def as_sql(self, compiler, connection):
        return compiler.quote_name(self.refs), []

    def get_group_by_cols(self):
        return [self]


class RawSQL(Expression):
    """Trusted SQL spliced verbatim with its own bound ``params`` (use ``%s``)."""

    def __init__(self, sql: str, params=(), output_field=None):
        super().__init__(output_field)
        self.sql, self.params = sql, list(params)

    def as_sql(self, compiler, connection):
        return compiler.convert_placeholders(f"({self.sql})"), list(self.params)

    def get_group_by_cols(self):
        return [self]


class Star(Expression):
    def as_sql(self, compiler, connection):
        return "*", []


class CombinedExpression(Expression):
    """``lhs <op> rhs`` arithmetic."""

    def __init__(self, lhs, connector: str, rhs, output_field=None):
        super().__init__(output_field)
        self.lhs, self.connector, self.rhs = lhs, connector, rhs

    def get_source_expressions(self):
        return [self.lhs, self.rhs]

    def set_source_expressions(self, exprs):
        self.lhs, self.rhs = exprs

    def _resolve_output_field(self):
        lf = getattr(self.lhs, "output_field", None)
        rf = getattr(self.rhs, "output_field", None)
        if isinstance(self.lhs, Value) and rf is not None:
            return rf
        return lf or rf

    def as_sql(self, compiler, connection):
        lsql, lp = compiler.compile(self.lhs)
        rsql, rp = compiler.compile(self.rhs)
        return f"({lsql} {connection.ops.combine_operator(self.connector)} {rsql})", [*lp, *rp]


class ExpressionWrapper(Expression):
    def __init__(self, expression, output_field):
        super().__init__(output_field)
        self.expression = expression

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def as_sql(self, compiler, connection):
        return compiler.compile(self.expression)


class Func(Expression):
    """``FUNCTION(arg, ...)``. Strings among ``expressions`` are field names (``F``)."""

    function: str | None = None
    template = "%(function)s(%(expressions)s)"
    arg_joiner = ", "
    arity: int | None = None

    def __init__(self, *expressions, output_field=None, **extra):
        if self.arity is not None and len(expressions) != self.arity:
            raise TypeError(f"{type(self).__name__} takes {self.arity} argument(s), got {len(expressions)}")
        super().__init__(output_field)
        self.source_expressions = [_parse(e) for e in expressions]
        self.extra = extra

    def get_source_expressions(self):
        return self.source_expressions

    def set_source_expressions(self, exprs):
        self.source_expressions = list(exprs)

    def copy(self):
        c = super().copy()
        c.source_expressions = list(self.source_expressions)
        c.extra = dict(self.extra)
        return c

    def as_sql(self, compiler, connection, function=None, template=None, **extra_context):
        parts, params = [], []
        for arg in self.source_expressions:
            sql, p = compiler.compile(arg)
            parts.append(sql)
            params.extend(p)
        data = {**self.extra, **extra_context}
        func = function or data.get("function") or self.function
        data["function"] = connection.ops.function_name(func) if func else ""
        data["expressions"] = self.arg_joiner.join(parts)
        return (template or data.get("template") or self.template) % data, params


def _parse(e):
    if isinstance(e, str):
        return F(e)
    if hasattr(e, "resolve_expression"):
        return e
    return Value(e)


class OrderBy(Expression):
    def __init__(self, expression, descending=False, nulls_first=None, nulls_last=None):
        if nulls_first and nulls_last:
            raise ValueError("nulls_first and nulls_last are mutually exclusive")
        super().__init__()
        self.expression = expression
        self.descending = descending
        self.nulls_first, self.nulls_last = nulls_first, nulls_last

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        sql = f"{sql} {'DESC' if self.descending else 'ASC'}"
        if self.nulls_first:
            sql += " NULLS FIRST"
        elif self.nulls_last:
            sql += " NULLS LAST"
        return sql, params

    def reverse_ordering(self):
        c = self.copy()
        c.descending = not self.descending
        if self.nulls_first or self.nulls_last:
            c.nulls_first, c.nulls_last = self.nulls_last, self.nulls_first
        return c

    def get_group_by_cols(self):
        return self.expression.get_group_by_cols()


class When(Expression):
    conditional = False

    def __init__(self, condition=None, then=None, **lookups):
        from dorm.query.where import Q

        if lookups:
            condition = Q(condition, **lookups) if condition is not None else Q(**lookups)
        if condition is None:
            raise TypeError("When() needs a condition (a Q object or lookups)")
        super().__init__()
        self.condition = condition
        self.result = _parse_value(then)

    def get_source_expressions(self):
        return [self.condition, self.result]

    def set_source_expressions(self, exprs):
        self.condition, self.result = exprs

    def resolve_expression(self, query=None, allow_joins=True, summarize=False, for_save=False):
        c = self.copy()
        c.condition = query.build_where_node(self.condition) if query is not None else self.condition
        c.result = _resolve(self.result, query, allow_joins, summarize, for_save)
        return c

    def _resolve_output_field(self):
        return getattr(self.result, "output_field", None)

    def as_sql(self, compiler, connection):
        csql, cp = compiler.compile(self.condition)
        rsql, rp = compiler.compile(self.result)
        return f"WHEN {csql} THEN {rsql}", [*cp, *rp]


def _parse_value(v):
    """``then=``/``default=``: strings are values here (Django parity), not field names."""
    if hasattr(v, "resolve_expression"):
        return v
    return Value(v)


class Case(Expression):
    def __init__(self, *cases, default=None, output_field=None, **extra):
        if not all(isinstance(c, When) for c in cases):
            raise TypeError("Case() positional arguments must be When() objects")
        super().__init__(output_field)
        self.cases = list(cases)
        self.default = _parse_value(default)

    def get_source_expressions(self):
        return [*self.cases, self.default]

    def set_source_expressions(self, exprs):
        *self.cases, self.default = exprs

    def _resolve_output_field(self):
        for c in self.cases:
            f = c.output_field
            if f is not None:
                return f
        return getattr(self.default, "output_field", None)

    def as_sql(self, compiler, connection):
        parts, params = [], []
        for case in self.cases:
            sql, p = compiler.compile(case)
            parts.append(sql)
            params.extend(p)
        dsql, dp = compiler.compile(self.default)
        return f"CASE {' '.join(parts)} ELSE {dsql} END", [*params, *dp]


class Subquery(Expression):
    """``(SELECT ...)`` from a QuerySet; ``OuterRef`` inside refers to the outer query."""

    template = "(%(subquery)s)"

    def __init__(self, queryset, output_field=None):
        super().__init__(output_field)
        self.query = getattr(queryset, "query", queryset)

    def resolve_expression(self, query=None, allow_joins=True, summarize=False, for_save=False):
        from dorm.query.relabel import nest

        c = self.copy()
        c.query = nest(self.query.clone(), query) if query is not None else self.query.clone()
        return c

    def _resolve_output_field(self):
        return self.query.single_output_field()

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile_subquery(self.query)
        return self.template % {"subquery": sql}, params

    def get_group_by_cols(self):
        return []


class Exists(Subquery):
    conditional = True
    template = "EXISTS(%(subquery)s)"

    def __init__(self, queryset, negated=False, **kwargs):
        super().__init__(queryset, **kwargs)
        self.negated = negated
        self.query = self.query.clone()
        self.query.clear_select_for_exists()

    def __invert__(self):
        c = self.copy()
        c.negated = not self.negated
        return c

    def _resolve_output_field(self):
        from dorm.fields import BooleanField
        return BooleanField()

    def as_sql(self, compiler, connection):
        sql, params = super().as_sql(compiler, connection)
        return (f"NOT {sql}" if self.negated else sql), params
