"""Lookups (``name__icontains=``) and transforms (``created__year__gte=``).

A ``Lookup`` is a boolean condition ``lhs <op> rhs``; a ``Transform`` changes the
left-hand side and can be followed by more transforms or a lookup. Both are
registered per field class through the ``dorm_register_lookups`` hook (the kernel
registers its own set the same way). ``lookup_table(field_class)`` compiles the
registrations into one plain dict per field class, cached until the plugin set
changes, so resolving a lookup name costs a dict access.

The reference's process-wide helper ``register_lookup(name, sql_template)`` is kept.
"""
from __future__ import annotations

import re

from dorm.exceptions import EmptyResultSet, NotSupportedError
from dorm.expressions import Expression, Func, Value

# ---- base classes -------------------------------------------------------------------------


class Lookup(Expression):
    """``lhs <op> rhs``. Subclasses set ``lookup_name`` and implement ``as_sql`` or
    rely on the backend's ``operators`` table via ``operator_sql``."""

    lookup_name: str = ""
    conditional = True
    #: Apply the lhs field's ``get_db_prep_value`` to a plain rhs value.
    prepare_rhs = True
    #: Vendors this lookup is limited to (set from the registration), or None.
    vendors: tuple | None = None

    def __init__(self, lhs, rhs):
        super().__init__()
        self.lhs = lhs
        self.rhs = self.get_prep_lookup(rhs)

    def get_prep_lookup(self, rhs):
        return rhs

    def get_source_expressions(self):
        if hasattr(self.rhs, "resolve_expression"):
            return [self.lhs, self.rhs]
        return [self.lhs]

    def set_source_expressions(self, exprs):
        if len(exprs) == 2:
            self.lhs, self.rhs = exprs
        else:
            (self.lhs,) = exprs

    def _resolve_output_field(self):
        from dorm.fields import BooleanField
        return BooleanField()

    @property
    def lhs_field(self):
        return getattr(self.lhs, "output_field", None)

    def check_vendor(self, connection):
        if self.vendors is not None and connection.vendor not in self.vendors:
            raise NotSupportedError(
                f"lookup '{self.lookup_name}' is not supported on {connection.display_name} "
                f"(available on: {', '.join(self.vendors)})")

    def process_lhs(self, compiler, connection):
        return compiler.compile(self.lhs)

    def prep_value(self, value, connection):
        field = self.lhs_field
        if self.prepare_rhs and field is not None and value is not None:
            return field.get_db_prep_value(value, connection)
        return value

    def process_rhs(self, compiler, connection):
        if hasattr(self.rhs, "as_sql"):
            sql, params = compiler.compile(self.rhs)
            if getattr(self.rhs, "query", None) is not None and not sql.startswith("("):
                sql = f"({sql})"
            return sql, params
        return connection.ops.placeholder, [self.prep_value(self.rhs, connection)]

    def as_sql(self, compiler, connection):
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        rhs, rp = self.process_rhs(compiler, connection)
        return connection.ops.lookup_sql(self.lookup_name, lhs, rhs), [*lp, *rp]

    def get_group_by_cols(self):
        return self.lhs.get_group_by_cols()

    def __repr__(self):
        return f"{type(self).__name__}({self.lhs!r}, {self.rhs!r})"


class Transform(Func):
    """A unary function of the left-hand side usable in lookup paths (``__year``)."""

    lookup_name: str = ""
    arity = 1
    vendors: tuple | None = None

    @property
    def lhs(self):
        return self.source_expressions[0]

    def get_lookup(self, name):
        field = self.output_field
        return field.get_lookup(name) if field is not None else None

    def get_transform(self, name):
        return self.get_lookup(name)


# ---- comparison lookups ---------------------------------------------------------------------


class Exact(Lookup):
    lookup_name = "exact"

    def as_sql(self, compiler, connection):
        if self.rhs is None:
            return IsNull(self.lhs, True).as_sql(compiler, connection)
        return super().as_sql(compiler, connection)


class IExact(Lookup):
    lookup_name = "iexact"


class GreaterThan(Lookup):
    lookup_name = "gt"


class GreaterThanOrEqual(Lookup):
    lookup_name = "gte"


class LessThan(Lookup):
    lookup_name = "lt"


class LessThanOrEqual(Lookup):
    lookup_name = "lte"


class PatternLookup(Lookup):
    """LIKE lookups: a plain value is escaped (``\\ % _``) and wrapped in wildcards;
    an expression right-hand side gets the wildcards in SQL."""

    prepare_rhs = False

    def process_rhs(self, compiler, connection):
        if hasattr(self.rhs, "as_sql"):
            return compiler.compile(self.rhs)
        return connection.ops.placeholder, [connection.ops.prep_like(self.lookup_name, self.rhs)]

    def as_sql(self, compiler, connection):
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        rhs, rp = self.process_rhs(compiler, connection)
        if hasattr(self.rhs, "as_sql"):
            return connection.ops.pattern_lookup_sql(self.lookup_name, lhs, rhs), [*lp, *rp]
        return connection.ops.lookup_sql(self.lookup_name, lhs, rhs), [*lp, *rp]


class Contains(PatternLookup):
    lookup_name = "contains"


class IContains(PatternLookup):
    lookup_name = "icontains"


class StartsWith(PatternLookup):
    lookup_name = "startswith"


class IStartsWith(PatternLookup):
    lookup_name = "istartswith"


class EndsWith(PatternLookup):
    lookup_name = "endswith"


class IEndsWith(PatternLookup):
    lookup_name = "iendswith"


class In(Lookup):
    """``col IN (...)``: any iterable (a generator is consumed once), or a QuerySet
    (subquery). An empty iterable matches nothing."""

    lookup_name = "in"

    def get_prep_lookup(self, rhs):
        if hasattr(rhs, "resolve_expression") or hasattr(rhs, "query"):
            return rhs
        if isinstance(rhs, (str, bytes)) or not hasattr(rhs, "__iter__"):
            raise TypeError(f"'in' lookup needs an iterable of values, got {type(rhs).__name__}")
        values = []
        for v in rhs:
            pk = getattr(v, "_meta", None)
            values.append(v.pk if pk is not None else v)
        return values

    def process_rhs(self, compiler, connection):
        if hasattr(self.rhs, "as_sql"):
            return super().process_rhs(compiler, connection)
        values = [v for v in self.rhs if v is not None]
        if not values:
            raise EmptyResultSet
        # de-duplicate while keeping order (hashable values only)
        try:
            values = list(dict.fromkeys(values))
        except TypeError:
            pass
        return None, [self.prep_value(v, connection) for v in values]

    def as_sql(self, compiler, connection):
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        rhs, rp = self.process_rhs(compiler, connection)
        if rhs is None:
            return connection.ops.in_lookup_sql(lhs, len(rp)), [*lp, *rp]
        return f"{lhs} IN {rhs}", [*lp, *rp]


class Range(Lookup):
    lookup_name = "range"

    def get_prep_lookup(self, rhs):
        if isinstance(rhs, (str, bytes)) or len(rhs) != 2:
            raise ValueError("'range' lookup needs a 2-item (low, high) sequence")
        return tuple(rhs)

    def get_source_expressions(self):
        return [self.lhs, *[v for v in self.rhs if hasattr(v, "resolve_expression")]]

    def set_source_expressions(self, exprs):
        self.lhs = exprs[0]
        it = iter(exprs[1:])
        self.rhs = tuple(next(it) if hasattr(v, "resolve_expression") else v for v in self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lp = self.process_lhs(compiler, connection)
        parts, params = [], []
        for v in self.rhs:
            if hasattr(v, "as_sql"):
                s, p = compiler.compile(v)
            else:
                s, p = connection.ops.placeholder, [self.prep_value(v, connection)]
            parts.append(s)
            params.extend(p)
        return f"{lhs} BETWEEN {parts[0]} AND {parts[1]}", [*lp, *params]


class IsNull(Lookup):
    lookup_name = "isnull"
    prepare_rhs = False

    def get_prep_lookup(self, rhs):
        if not isinstance(rhs, bool):
            raise ValueError(f"'isnull' lookup needs True or False, got {rhs!r}")
        return rhs

    def as_sql(self, compiler, connection):
        lhs, lp = self.process_lhs(compiler, connection)
        return f"{lhs} IS {'' if self.rhs else 'NOT '}NULL", lp


class IsNotNull(Lookup):
    lookup_name = "isnotnull"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lp = self.process_lhs(compiler, connection)
        return f"{lhs} IS NOT NULL", lp


class Regex(Lookup):
    lookup_name = "regex"
    prepare_rhs = False

    def get_prep_lookup(self, rhs):
        if isinstance(rhs, str):
            try:
                re.compile(rhs)
            except re.error as e:
                raise ValueError(f"invalid regular expression {rhs!r}: {e}") from None
        return rhs

    def as_sql(self, compiler, connection):
        if not connection.features.supports_regex:
            raise NotSupportedError(f"regex lookups are not supported on {connection.display_name}")
        return super().as_sql(compiler, connection)


class IRegex(Regex):
    lookup_name = "iregex"


# ---- transforms ----------------------------------------------------------------------------


class DatePart(Transform):
    """``EXTRACT``-like transform returning an integer (``__year``, ``__week_day``)."""

    unit = ""

    def _resolve_output_field(self):
        from dorm.fields import IntegerField
        return IntegerField()

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.lhs)
        src = getattr(self.lhs, "output_field", None)
        itype = src.get_internal_type() if src is not None else "DateTimeField"
        return connection.ops.extract_sql(self.unit, sql, itype), params


def _date_part(name, unit=None):
    return type(f"Extract{name.title().replace('_', '')}", (DatePart,),
                {"lookup_name": name, "unit": unit or name})


ExtractYear = _date_part("year")
ExtractQuarter = _date_part("quarter")
ExtractMonth = _date_part("month")
ExtractWeek = _date_part("week")
ExtractDay = _date_part("day")
ExtractWeekDay = _date_part("week_day")
ExtractIsoWeekDay = _date_part("iso_week_day")
ExtractIsoYear = _date_part("iso_year")
ExtractHour = _date_part("hour")
ExtractMinute = _date_part("minute")
ExtractSecond = _date_part("second")


class TruncDateTransform(Transform):
    lookup_name = "date"

    def _resolve_output_field(self):
        from dorm.fields import DateField
        return DateField()

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.lhs)
        return connection.ops.date_cast_sql(sql), params


class TruncTimeTransform(Transform):
    lookup_name = "time"

    def _resolve_output_field(self):
        from dorm.fields import TimeField
        return TimeField()

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.lhs)
        return connection.ops.time_cast_sql(sql), params


class KeyTransform(Transform):
    """``data__a__b``: a key path into a JSON column. Compared as text by default
    (``KeyTextTransform``) when a lookup follows; ``json_key_sql`` keeps JSON."""

    lookup_name = "__key__"

    def __init__(self, key_name, lhs, **extra):
        super().__init__(lhs, **extra)
        self.key_name = key_name

    def key_path(self):
        path, node = [], self
        while isinstance(node, KeyTransform):
            path.insert(0, node.key_name)
            node = node.lhs
        return node, path

    def _resolve_output_field(self):
        return KeyTextField()

    def as_sql(self, compiler, connection):
        base, path = self.key_path()
        sql, params = compiler.compile(base)
        ksql, kp = connection.ops.json_key_text_sql(sql, path)
        return ksql, [*params, *kp]


def _key_text_field_class():
    from dorm.fields import JSONField

    class KeyTextField(JSONField):
        """A JSON key compared as a plain scalar: values are bound unencoded (dicts and
        lists as JSON text), and reads return what the database extracted."""

        def get_internal_type(self):
            return "JSONField"

        def get_db_prep_value(self, value, connection, prepared=False):
            if value is None or hasattr(value, "resolve_expression"):
                return value
            if isinstance(value, (dict, list)):
                import json

                return json.dumps(value)
            return connection.ops.prep_json_key_value(value)

        def from_db_value(self, value, connection):
            return value

    return KeyTextField


def KeyTextField():  # noqa: N802 - a lazily built field class
    global _KEY_TEXT_FIELD
    if _KEY_TEXT_FIELD is None:
        _KEY_TEXT_FIELD = _key_text_field_class()
    return _KEY_TEXT_FIELD()


_KEY_TEXT_FIELD = None


class JSONContains(Lookup):
    """``data__contains={"a": 1}`` / ``data__tags__contains=["x"]``: JSON containment
    (Django semantics), emulated where the database has no operator for it."""

    lookup_name = "contains"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        if isinstance(self.lhs, KeyTransform):
            base, path = self.lhs.key_path()
        else:
            base, path = self.lhs, []
        sql, params = compiler.compile(base)
        csql, cparams = connection.ops.json_contains_sql(sql, self.rhs, path)
        return csql, [*params, *cparams]


class HasKey(Lookup):
    lookup_name = "has_key"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lp = self.process_lhs(compiler, connection)
        sql, params = connection.ops.json_has_key_sql(lhs, str(self.rhs))
        return sql, [*lp, *params]


class Lower(Transform):
    lookup_name = "lower"
    function = "LOWER"


class Upper(Transform):
    lookup_name = "upper"
    function = "UPPER"


# ---- registry compilation -------------------------------------------------------------------

BUILTIN_LOOKUPS = [
    Exact, IExact, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual,
    Contains, IContains, StartsWith, IStartsWith, EndsWith, IEndsWith,
    In, Range, IsNull, IsNotNull, Regex, IRegex,
]
DATE_TRANSFORMS = [ExtractYear, ExtractQuarter, ExtractMonth, ExtractWeek, ExtractDay,
                   ExtractWeekDay, ExtractIsoWeekDay, ExtractIsoYear]
TIME_TRANSFORMS = [ExtractHour, ExtractMinute, ExtractSecond]

_tables: dict[type, dict[str, type]] = {}
_custom: dict[str, type] = {}
_subscribed = False


def _invalidate():
    _tables.clear()


def lookup_table(field_class: type) -> dict[str, type]:
    """``{name: Lookup or Transform class}`` usable on ``field_class``."""
    table = _tables.get(field_class)
    if table is not None:
        return table
    global _subscribed
    from dorm.plugins import get_registry, on_change

    if not _subscribed:
        on_change(_invalidate)
        _subscribed = True
    table = {}
    specific: dict[str, int] = {}
    mro = field_class.__mro__
    for reg in get_registry().lookups:
        target = reg.field_class
        if target is None:
            depth = len(mro)
        elif target in mro:
            depth = mro.index(target)
        else:
            continue
        name = reg.lookup_class.lookup_name
        if name in specific and specific[name] <= depth:
            continue
        cls = reg.lookup_class
        if reg.vendors:
            cls = type(cls.__name__, (cls,), {"vendors": tuple(reg.vendors)})
        table[name] = cls
        specific[name] = depth
    table.update({k: v for k, v in _custom.items() if k not in table})
    _tables[field_class] = table
    return table


# ---- the reference's process-wide registration helper ----------------------------------------------

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _identity(v):
    return v


def register_lookup(name: str, sql_template: str, value_transform=_identity):
    """Register a lookup for every field: ``sql_template`` uses ``{col}`` and ``%s``;
    ``value_transform=None`` means the template takes no parameter. Names must be
    identifiers and must not shadow a built-in (``ValueError``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"lookup name {name!r} must be a lowercase identifier")
    builtin = {c.lookup_name for c in BUILTIN_LOOKUPS + DATE_TRANSFORMS + TIME_TRANSFORMS}
    if name in builtin or name in {"date", "time", "has_key"}:
        raise ValueError(f"lookup {name!r} is built in and cannot be replaced")

    class TemplateLookup(Lookup):
        lookup_name = name
        prepare_rhs = False

        def as_sql(self, compiler, connection):
            lhs, lp = self.process_lhs(compiler, connection)
            sql = compiler.convert_placeholders(sql_template.replace("{col}", lhs))
            if value_transform is None:
                return sql, lp
            return sql, [*lp, value_transform(self.rhs)]

    _custom[name] = TemplateLookup
    _invalidate()
    return TemplateLookup


def unregister_lookup(name: str) -> None:
    if name not in _custom:
        raise ValueError(f"lookup {name!r} is not a registered custom lookup")
    del _custom[name]
    _invalidate()


__all__ = ["Lookup", "Transform", "register_lookup", "unregister_lookup", "lookup_table",
           "KeyTransform", "Value"]
