"""Range fields (``dorm.IntegerRangeField`` ...), PostgreSQL only.

=========================  ==============  ============================================
field                      column          bounds (``Range.lower`` / ``Range.upper``)
=========================  ==============  ============================================
``IntegerRangeField``      ``int4range``   ``int``
``BigIntegerRangeField``   ``int8range``   ``int``
``DecimalRangeField``      ``numrange``    ``Decimal`` (any precision, never rounded)
``DateRangeField``         ``daterange``   ``date``
``DateTimeRangeField``     ``tstzrange``   aware ``datetime`` (naive ones are taken as
                                           ``TIME_ZONE`` local time, on assignment)
=========================  ==============  ============================================

Values are ``dorm.Range`` (``dorm_postgres.ranges``). Assignment (``Model(period=...)``
and ``obj.period = ...``) accepts a ``Range``, a psycopg ``Range``, a ``(lower, upper)``
or ``(lower, upper, bounds)`` tuple or a range literal (``"[1,5)"``, ``"empty"``) and
converts the bounds to the field's type, raising ``ValidationError`` naming the
model and field otherwise. Values are bound as psycopg's typed ranges
(``psycopg.types.range.Int4Range`` ...) and read back as ``dorm.Range``; PostgreSQL
canonicalises discrete ranges (integer and date) to ``[)`` bounds, so
``Range(1, 5, "[]")`` reads back as ``Range(1, 6, "[)")`` and ``Range(3, 3)`` as
``Range(empty=True)``.

On any other backend ``db_type`` raises ``RangeFieldNotSupported`` (both a
``NotSupportedError`` and a ``NotImplementedError``) naming the field and the backend.

``RangeField`` is the abstract base: a subclass sets ``range_type`` (the PostgreSQL type,
an identifier), ``bound_type`` (the SQL type of one bound, used by ``contains=<value>``),
``base_field`` (the field class of a bound, the output of ``__startswith`` /
``__endswith``) and optionally ``psycopg_range`` (the name of a typed range class in
``psycopg.types.range``; without one, values are bound as range literals that the
server casts).
"""
from __future__ import annotations

import datetime
import decimal
import re

from dorm.exceptions import NotSupportedError, ValidationError
from dorm.fields import (BigIntegerField, DateField, DateTimeField, DecimalField, Field,
                         IntegerField)

from .ranges import Range, format_literal, from_psycopg, is_psycopg_range, parse_literal

__all__ = ["BigIntegerRangeField", "DateRangeField", "DateTimeRangeField", "DecimalRangeField",
           "IntegerRangeField", "RangeField", "RangeFieldNotSupported"]

_SQL_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class RangeFieldNotSupported(NotSupportedError, NotImplementedError):
    """A range field used on a backend without range types."""


def _current_tz():
    from dorm.conf import settings

    name = getattr(settings, "TIME_ZONE", "UTC") or "UTC"
    if name == "UTC":
        return datetime.timezone.utc
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


def _aware(value: datetime.datetime) -> datetime.datetime:
    """``value`` with a time zone: naive values are ``TIME_ZONE`` local time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_current_tz())
    return value


# ---- fields of one bound (the output of ``__startswith`` / ``__endswith``) -------------------------
class ExactDecimalField(DecimalField):
    """A ``numeric`` value of any precision (a ``numrange`` bound): bound as the
    ``Decimal`` it is, never quantized to ``decimal_places``."""

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        value = self.to_python(value)
        if not value.is_finite():
            raise ValidationError(f"{self.name}: '{value}' is not a finite decimal.")
        return value

    def get_db_prep_value(self, value, connection, prepared=False):
        return value if prepared else self.get_prep_value(value)


class AwareDateTimeField(DateTimeField):
    """A ``timestamptz`` value (a ``tstzrange`` bound) whatever ``USE_TZ`` says: naive
    values are ``TIME_ZONE`` local time; bound and read as aware datetimes."""

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return _aware(self.to_python(value)).astimezone(datetime.timezone.utc)

    def get_db_prep_value(self, value, connection, prepared=False):
        return value if prepared else self.get_prep_value(value)


# ---- the fields -------------------------------------------------------------------------------------
class RangeField(Field):
    """Abstract base of the range fields (see the module docstring)."""

    #: PostgreSQL range type of the column (``int4range``)
    range_type: str | None = None
    #: SQL type of one bound (``integer``): ``contains=<value>`` casts the value to it
    bound_type: str | None = None
    #: field class of one bound
    base_field: type[Field] = Field
    #: typed range class of ``psycopg.types.range`` used to bind values, or None
    psycopg_range: str | None = None

    empty_strings_allowed = False
    uses_class_descriptor = True      # obj.period = (1, 5) converts (and validates) at once
    description = "range"

    def __init__(self, *args, **kwargs):
        cls = type(self)
        if not cls.range_type:
            raise TypeError(f"{cls.__name__} is abstract: use IntegerRangeField, "
                            "BigIntegerRangeField, DecimalRangeField, DateRangeField, "
                            "DateTimeRangeField or set range_type, bound_type and base_field")
        for attr in ("range_type", "bound_type"):
            value = getattr(cls, attr)
            if not isinstance(value, str) or not _SQL_TYPE.match(value):
                raise TypeError(f"{cls.__name__}.{attr} must be an SQL type name (an identifier, "
                                f"optionally schema-qualified), got {value!r}")
        super().__init__(*args, **kwargs)

    def _label(self) -> str:
        if self.model is not None and self.name:
            return f"{self.model.__name__}.{self.name}"
        return self.name or type(self).__name__

    # ---- column ---------------------------------------------------------------------------------
    def get_internal_type(self) -> str:
        for klass in type(self).__mro__:
            if klass.__module__ == __name__ and klass is not RangeField:
                return klass.__name__
        return type(self).__name__

    def db_type(self, connection) -> str:
        if not getattr(connection.features, "supports_range_fields", False):
            raise RangeFieldNotSupported(
                f"{self._label()}: {type(self).__name__} needs PostgreSQL (a {self.range_type} "
                f"column); {connection.display_name} has no range types")
        return self.range_type

    def cast_db_type(self, connection) -> str:
        return self.db_type(connection)

    def rel_db_type(self, connection) -> str:
        return self.db_type(connection)

    def db_check(self, connection):
        return None

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if type(self).__module__ == __name__:
            path = f"dorm.{type(self).__name__}"
        return name, path, args, kwargs

    def bound_field(self) -> Field:
        """A field instance for one bound (output of ``lower()`` / ``upper()``)."""
        field = self.__dict__.get("_bound_field")
        if field is None:
            field = self.__dict__["_bound_field"] = self.base_field()
        return field

    # ---- values ---------------------------------------------------------------------------------
    def bound_to_python(self, value):
        """One bound converted to the field's bound type (``ValueError``/``TypeError`` if
        it cannot be). Subclasses override it."""
        return self.bound_field().to_python(value)

    def _invalid(self, message: str) -> ValidationError:
        return ValidationError({self.name or "range": f"{self._label()}: {message}"},
                               code="invalid")

    def _bound(self, value, side: str):
        if value is None:
            return None
        try:
            return self.bound_to_python(value)
        except (TypeError, ValueError, ArithmeticError, ValidationError) as exc:
            detail = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise self._invalid(f"the {side} bound {value!r} is not valid for "
                                f"{type(self).__name__} ({detail})") from None

    def to_python(self, value):
        if value is None:
            return None
        try:
            if isinstance(value, Range):
                rng = value
            elif is_psycopg_range(value):
                rng = from_psycopg(value)
            elif isinstance(value, str):
                try:
                    parts = parse_literal(value)
                except ValueError as exc:
                    raise self._invalid(str(exc)) from None
                if parts is None:
                    return Range(empty=True)
                lower, upper, bounds = parts
                rng = Range(self._bound(lower, "lower"), self._bound(upper, "upper"), bounds)
            elif isinstance(value, (tuple, list)) and len(value) in (2, 3):
                lower, upper, *rest = value
                rng = Range(self._bound(lower, "lower"), self._bound(upper, "upper"), *rest)
            else:
                raise self._invalid(
                    f"expected a dorm.Range, a (lower, upper[, bounds]) tuple or a range literal "
                    f"such as '[1,5)', got {type(value).__name__} {value!r}")
            if rng.isempty and rng.lower is None and rng.upper is None:
                return rng
            lower, upper = self._bound(rng.lower, "lower"), self._bound(rng.upper, "upper")
            if lower is rng.lower and upper is rng.upper:
                return rng
            return Range(lower, upper, rng.bounds)
        except ValidationError as exc:
            if isinstance(exc.message, dict):
                raise
            raise self._invalid("; ".join(exc.messages)) from None

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return self.to_python(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        """A psycopg typed range (``Int4Range`` ...) for ``value``; a range literal (text
        the server casts) for a subclass without ``psycopg_range``."""
        if value is None or hasattr(value, "resolve_expression"):
            return value
        rng = value if prepared and isinstance(value, Range) else self.get_prep_value(value)
        prep = self.bound_field()
        lower = None if rng.lower is None else prep.get_db_prep_value(rng.lower, connection)
        upper = None if rng.upper is None else prep.get_db_prep_value(rng.upper, connection)
        if self.psycopg_range is None:
            if rng._empty:
                return "empty"
            return format_literal(Range(lower, upper, rng.bounds), _bound_text)
        from psycopg.types import range as pg_range

        cls = getattr(pg_range, self.psycopg_range)
        if rng._empty:
            return cls(empty=True)
        return cls(lower, upper, rng.bounds)

    def from_db_value(self, value, connection):
        if value is None or isinstance(value, Range):
            return value
        if is_psycopg_range(value):
            return from_psycopg(value)
        if isinstance(value, str):
            return self.to_python(value)
        return value

    def _empty_default(self):
        return None

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return None if value is None else format_literal(value, _bound_text)


def _bound_text(value) -> str:
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return str(value)


# ---- bound converters -----------------------------------------------------------------------------
def _to_int(value, *, bits: int, hint: str = "") -> int:
    """``value`` as a whole number that fits a signed ``bits``-bit range bound."""
    if isinstance(value, bool):
        raise TypeError("a bool is not an integer bound")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        value = int(value)
    elif isinstance(value, (str, decimal.Decimal)):
        number = decimal.Decimal(str(value).strip())
        if number != number.to_integral_value():
            raise ValueError("not a whole number")
        value = int(number)
    elif not isinstance(value, int):
        raise TypeError(f"expected an int, got {type(value).__name__}")
    limit = 2 ** (bits - 1)
    if not -limit <= value < limit:
        raise ValueError(f"out of the int{bits // 8}range bounds{hint}")
    return value


class IntegerRangeField(RangeField):
    range_type = "int4range"
    bound_type = "integer"
    base_field = IntegerField
    psycopg_range = "Int4Range"

    def bound_to_python(self, value):
        return _to_int(value, bits=32, hint=" (use BigIntegerRangeField)")


class BigIntegerRangeField(RangeField):
    range_type = "int8range"
    bound_type = "bigint"
    base_field = BigIntegerField
    psycopg_range = "Int8Range"

    def bound_to_python(self, value):
        return _to_int(value, bits=64)


class DecimalRangeField(RangeField):
    range_type = "numrange"
    bound_type = "numeric"
    base_field = ExactDecimalField
    psycopg_range = "NumericRange"

    def bound_to_python(self, value):
        if isinstance(value, bool):
            raise TypeError("a bool is not a numeric bound")
        if isinstance(value, float):
            value = decimal.Decimal(repr(value))
        elif not isinstance(value, decimal.Decimal):
            if not isinstance(value, (int, str)):
                raise TypeError(f"expected a Decimal, got {type(value).__name__}")
            value = decimal.Decimal(str(value).strip())
        if not value.is_finite():
            raise ValueError("not a finite number")
        return value


class DateRangeField(RangeField):
    range_type = "daterange"
    bound_type = "date"
    base_field = DateField
    psycopg_range = "DateRange"

    def bound_to_python(self, value):
        if isinstance(value, datetime.datetime):
            if value.time() != datetime.time(0) or value.tzinfo is not None:
                raise ValueError("a datetime is not a date (pass value.date())")
            return value.date()
        if isinstance(value, datetime.date):
            return value
        if isinstance(value, str):
            return datetime.date.fromisoformat(value.strip())
        raise TypeError(f"expected a date, got {type(value).__name__}")


class DateTimeRangeField(RangeField):
    range_type = "tstzrange"
    bound_type = "timestamptz"
    base_field = AwareDateTimeField
    psycopg_range = "TimestamptzRange"

    def bound_to_python(self, value):
        if isinstance(value, datetime.datetime):
            return _aware(value)
        if isinstance(value, datetime.date):
            return _aware(datetime.datetime(value.year, value.month, value.day))
        if isinstance(value, str):
            return _aware(datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        raise TypeError(f"expected a datetime, got {type(value).__name__}")


RANGE_FIELDS = [RangeField, IntegerRangeField, BigIntegerRangeField, DecimalRangeField,
                DateRangeField, DateTimeRangeField]
