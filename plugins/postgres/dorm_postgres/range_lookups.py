"""Lookups and transforms of the range fields (PostgreSQL), Django's names.

Registered for ``RangeField`` (so every subclass) with ``vendors=("postgresql",)``:

==========================  ==================================  =========================
keyword                     SQL                                 right-hand side
==========================  ==================================  =========================
``period__contains``        ``col @> %s::int4range`` or         a range, or one value
                            ``col @> %s::integer``              (``contains=5``)
``period__contained_by``    ``col <@ %s::int4range``            a range
``period__overlap``         ``col && %s::int4range``            a range
``period__fully_lt``        ``col << %s::int4range``            a range
``period__fully_gt``        ``col >> %s::int4range``            a range
``period__not_lt``          ``col &> %s::int4range``            a range
``period__not_gt``          ``col &< %s::int4range``            a range
``period__adjacent_to``     ``col -|- %s::int4range``           a range
``period__isempty``         ``isempty(col)`` (transform)        ``True`` / ``False``
``period__lower_inc`` ...   ``lower_inc(col)``, ``upper_inc``,  ``True`` / ``False``
                            ``lower_inf``, ``upper_inf``
``period__startswith``      ``lower(col)`` (transform)          a bound; chainable:
``period__endswith``        ``upper(col)`` (transform)          ``period__startswith__gte``
==========================  ==================================  =========================

A range is a ``dorm.Range``, a psycopg ``Range`` or a ``(lower, upper[, bounds])``
tuple; it goes through the field's conversion when the filter is built (bad bounds
raise ``ValidationError`` naming the field, a value that is not a range ``TypeError``)
and is bound as a parameter cast to the column's range type. An expression (``F()``)
on the right is compiled as is. ``exact``, ``in``, ``isnull`` and comparisons are the
kernel's (ranges are bound as typed psycopg ranges). Elsewhere every one of these raises
``NotSupportedError`` naming the backend.
"""
from __future__ import annotations

from dorm.exceptions import NotSupportedError
from dorm.fields import BooleanField
from dorm.lookups import Lookup, Transform

from .ranges import is_range_value


def require_pg(node, connection) -> None:
    """``NotSupportedError`` naming the backend when ``connection`` has no range types."""
    if not getattr(connection.features, "supports_range_fields", False):
        raise NotSupportedError(f"range lookup '{node.lookup_name}' is not supported on "
                                f"{connection.display_name} (PostgreSQL only)")


def _range_field(lookup):
    from .range_fields import RangeField

    field = lookup.lhs_field
    if not isinstance(field, RangeField):
        raise TypeError(f"range lookup '{lookup.lookup_name}' needs a range field on the left, "
                        f"got {type(field).__name__}")
    return field


class _Element:
    """One value on the right of ``contains`` (as opposed to a range)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return repr(self.value)


class _RangeOperator(Lookup):
    """``lhs <operator> %s::<range type>``."""

    operator = ""
    prepare_rhs = False
    #: a single value (not a range) is accepted on the right (``contains``)
    accepts_element = False

    def get_prep_lookup(self, rhs):
        """Checked when the filter is built: a range is converted by the field (bad
        bounds raise ``ValidationError`` naming it), one value (``contains``) by the
        field's bound conversion; an expression is kept as is."""
        if hasattr(rhs, "resolve_expression"):
            return rhs
        field = _range_field(self)
        if rhs is None:
            raise ValueError(f"range lookup '{self.lookup_name}' on {field._label()} needs a "
                             "value, got None")
        if is_range_value(rhs):
            return field.to_python(rhs)
        if self.accepts_element:
            return _Element(field._bound(rhs, "value"))
        raise TypeError(f"range lookup '{self.lookup_name}' on {field._label()} needs a range "
                        f"(dorm.Range or a (lower, upper) tuple), got {rhs!r}")

    def process_rhs(self, compiler, connection):
        if hasattr(self.rhs, "as_sql"):
            return compiler.compile(self.rhs)
        field = _range_field(self)
        if isinstance(self.rhs, _Element):
            value = field.bound_field().get_db_prep_value(self.rhs.value, connection)
            return f"%s::{field.bound_type}", [value]
        return f"%s::{field.range_type}", [field.get_db_prep_value(self.rhs, connection)]

    def as_sql(self, compiler, connection):
        self.check_vendor(connection)
        require_pg(self, connection)
        lhs, lp = self.process_lhs(compiler, connection)
        rhs, rp = self.process_rhs(compiler, connection)
        return f"({lhs} {self.operator} {rhs})", [*lp, *rp]


class RangeContains(_RangeOperator):
    lookup_name = "contains"
    operator = "@>"
    accepts_element = True


class RangeContainedBy(_RangeOperator):
    lookup_name = "contained_by"
    operator = "<@"


class RangeOverlap(_RangeOperator):
    lookup_name = "overlap"
    operator = "&&"


class RangeFullyLessThan(_RangeOperator):
    lookup_name = "fully_lt"
    operator = "<<"


class RangeFullyGreaterThan(_RangeOperator):
    lookup_name = "fully_gt"
    operator = ">>"


class RangeNotLessThan(_RangeOperator):
    lookup_name = "not_lt"
    operator = "&>"


class RangeNotGreaterThan(_RangeOperator):
    lookup_name = "not_gt"
    operator = "&<"


class RangeAdjacentTo(_RangeOperator):
    lookup_name = "adjacent_to"
    operator = "-|-"


class _RangeFunction(Transform):
    """``function(col)``: a boolean property of the range (``isempty`` ...)."""

    function = ""

    def _resolve_output_field(self):
        return BooleanField()

    def as_sql(self, compiler, connection, **extra):
        if self.vendors is not None and connection.vendor not in self.vendors:
            raise NotSupportedError(f"range transform '{self.lookup_name}' is not supported on "
                                    f"{connection.display_name} (PostgreSQL only)")
        require_pg(self, connection)
        sql, params = compiler.compile(self.lhs)
        return f"{self.function}({sql})", params


class RangeIsEmpty(_RangeFunction):
    lookup_name = "isempty"
    function = "isempty"


class RangeLowerInc(_RangeFunction):
    lookup_name = "lower_inc"
    function = "lower_inc"


class RangeUpperInc(_RangeFunction):
    lookup_name = "upper_inc"
    function = "upper_inc"


class RangeLowerInf(_RangeFunction):
    lookup_name = "lower_inf"
    function = "lower_inf"


class RangeUpperInf(_RangeFunction):
    lookup_name = "upper_inf"
    function = "upper_inf"


class RangeStartsWith(_RangeFunction):
    """``period__startswith=5``: ``lower(col) = 5`` (NULL for an empty or unbounded-below
    range); the value has the bound's type, so any lookup may follow."""

    lookup_name = "startswith"
    function = "lower"

    def _resolve_output_field(self):
        from .range_fields import RangeField

        field = getattr(self.lhs, "output_field", None)
        if not isinstance(field, RangeField):
            raise TypeError(f"'{self.lookup_name}' needs a range field, got {type(field).__name__}")
        return field.base_field()


class RangeEndsWith(RangeStartsWith):
    lookup_name = "endswith"
    function = "upper"


RANGE_LOOKUPS = [RangeContains, RangeContainedBy, RangeOverlap, RangeFullyLessThan,
                 RangeFullyGreaterThan, RangeNotLessThan, RangeNotGreaterThan, RangeAdjacentTo,
                 RangeIsEmpty, RangeLowerInc, RangeUpperInc, RangeLowerInf, RangeUpperInf,
                 RangeStartsWith, RangeEndsWith]
