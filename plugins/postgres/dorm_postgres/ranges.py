"""``dorm.Range``: the Python value of the range fields (``dorm_postgres.range_fields``).

``Range(lower=None, upper=None, bounds="[)", *, empty=False)``

* ``lower`` / ``upper`` – the bounds; ``None`` is an infinite (unbounded) side.
* ``bounds`` – one of ``"[)"``, ``"(]"``, ``"[]"``, ``"()"``: ``[``/``]`` include the
  bound, ``(``/``)`` exclude it. Anything else raises ``ValidationError``. An infinite
  side is never inclusive, as in PostgreSQL: ``Range(None, 5, "[]")`` is stored as
  ``Range(None, 5, "(]")`` (so a value equals what the database gives back).
* ``empty=True`` – the empty range (no bounds may be given with it).
* ``lower > upper`` raises ``ValidationError`` (PostgreSQL refuses such a range), and so
  do bounds that cannot be compared with each other.

A ``Range`` is immutable and hashable. ``lower_inc`` / ``upper_inc`` tell whether a
bound is included, ``lower_inf`` / ``upper_inf`` whether a side is unbounded,
``is_empty()`` (also the property ``isempty``, as psycopg's ``Range``) whether the
range holds no value: the explicit empty range, or equal bounds not both inclusive
(``Range(5, 5)``). ``x in r`` tests membership; ``bool(r)`` is ``not r.is_empty()``.

Equality is structural (same bounds and flags; every empty range equals every other)
and also holds against a psycopg ``Range`` with the same bounds. It does not
canonicalise: ``Range(1, 5, "[]") != Range(1, 6, "[)")`` in Python, although
PostgreSQL stores both as ``[1,6)`` for an ``int4range`` (read the row back to get the
canonical form).

``str(r)`` is the PostgreSQL range literal (``[1,5)``, ``empty``); ``parse_literal``
reads one back. ``deconstruct()`` lets migrations write ``Range`` defaults.
"""
from __future__ import annotations

import re

from dorm.exceptions import ValidationError

__all__ = ["BOUNDS", "Range", "format_literal", "is_range_value", "parse_literal"]

#: the accepted ``bounds`` strings
BOUNDS = ("[)", "(]", "[]", "()")


def _check_bounds(bounds) -> str:
    if not isinstance(bounds, str) or bounds not in BOUNDS:
        raise ValidationError(
            f"Range bounds must be one of {', '.join(repr(b) for b in BOUNDS)}, got {bounds!r}",
            code="invalid_bounds")
    return bounds


class Range:
    """A range of values (see the module docstring for the contract)."""

    __slots__ = ("_bounds", "_empty", "_lower", "_upper")

    def __init__(self, lower=None, upper=None, bounds="[)", *, empty=False):
        bounds = _check_bounds(bounds)
        if empty:
            if lower is not None or upper is not None:
                raise ValidationError("an empty Range has no bounds: use Range(empty=True)",
                                      code="invalid_range")
            lower = upper = None
            bounds = "()"
        else:
            if lower is None and bounds[0] == "[":
                bounds = "(" + bounds[1]
            if upper is None and bounds[1] == "]":
                bounds = bounds[0] + ")"
            if lower is not None and upper is not None:
                try:
                    backwards = lower > upper
                except TypeError:
                    raise ValidationError(
                        f"Range bounds {lower!r} and {upper!r} cannot be compared "
                        f"({type(lower).__name__} and {type(upper).__name__})",
                        code="invalid_range") from None
                if backwards:
                    raise ValidationError(
                        f"Range lower bound {lower!r} is greater than its upper bound {upper!r}",
                        code="invalid_range")
        object.__setattr__(self, "_lower", lower)
        object.__setattr__(self, "_upper", upper)
        object.__setattr__(self, "_bounds", bounds)
        object.__setattr__(self, "_empty", bool(empty))

    def __setattr__(self, name, value):
        raise AttributeError("Range is immutable: build a new one")

    def __delattr__(self, name):
        raise AttributeError("Range is immutable")

    # ---- parts ------------------------------------------------------------------------------
    @property
    def lower(self):
        return self._lower

    @property
    def upper(self):
        return self._upper

    @property
    def bounds(self) -> str:
        return self._bounds

    @property
    def lower_inc(self) -> bool:
        return not self._empty and self._bounds[0] == "["

    @property
    def upper_inc(self) -> bool:
        return not self._empty and self._bounds[1] == "]"

    @property
    def lower_inf(self) -> bool:
        return not self._empty and self._lower is None

    @property
    def upper_inf(self) -> bool:
        return not self._empty and self._upper is None

    def is_empty(self) -> bool:
        """True for ``Range(empty=True)`` and for equal bounds that are not both
        included (``Range(5, 5)``, ``Range(5, 5, "(]")``)."""
        if self._empty:
            return True
        if self._lower is None or self._upper is None:
            return False
        return self._lower == self._upper and self._bounds != "[]"

    @property
    def isempty(self) -> bool:
        """``is_empty()`` (the name psycopg's ``Range`` uses)."""
        return self.is_empty()

    def __contains__(self, value) -> bool:
        if self.is_empty():
            return False
        if self._lower is not None:
            if value < self._lower or (value == self._lower and not self.lower_inc):
                return False
        if self._upper is not None:
            if value > self._upper or (value == self._upper and not self.upper_inc):
                return False
        return True

    def __bool__(self) -> bool:
        return not self.is_empty()

    # ---- comparison -------------------------------------------------------------------------
    def _key(self):
        if self.is_empty():
            return ("empty",)
        return (self._lower, self._upper, self._bounds)

    def __eq__(self, other):
        if isinstance(other, Range):
            return self._key() == other._key()
        if is_psycopg_range(other):
            try:
                return self._key() == from_psycopg(other)._key()
            except ValidationError:
                return False
        return NotImplemented

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self):
        return hash(self._key())

    # ---- text -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        if self._empty:
            return "Range(empty=True)"
        return f"Range({self._lower!r}, {self._upper!r}, {self._bounds!r})"

    def __str__(self) -> str:
        return format_literal(self)

    # ---- pickling and migrations ------------------------------------------------------------------
    def __reduce__(self):
        if self._empty:
            return (_empty_range, ())
        return (Range, (self._lower, self._upper, self._bounds))

    def deconstruct(self):
        """``("dorm.Range", args, kwargs)`` for the migration writer."""
        if self._empty:
            return "dorm.Range", [], {"empty": True}
        kwargs = {} if self._bounds == "[)" else {"bounds": self._bounds}
        return "dorm.Range", [self._lower, self._upper], kwargs


def _empty_range():
    return Range(empty=True)


# ---- psycopg ------------------------------------------------------------------------------------
def is_psycopg_range(value) -> bool:
    """Whether ``value`` is a ``psycopg.types.range.Range`` (without importing psycopg)."""
    return any(c.__module__ == "psycopg.types.range" and c.__name__ == "Range"
               for c in type(value).__mro__)


def from_psycopg(value) -> Range:
    """The ``Range`` equal to a psycopg ``Range``."""
    if value.isempty:
        return Range(empty=True)
    bounds = ("[" if value.lower_inc else "(") + ("]" if value.upper_inc else ")")
    return Range(value.lower, value.upper, bounds)


def is_range_value(value) -> bool:
    """Whether ``value`` reads as a range: a ``Range``, a psycopg ``Range`` or a
    ``(lower, upper[, bounds])`` tuple/list."""
    if isinstance(value, Range) or is_psycopg_range(value):
        return True
    return isinstance(value, (tuple, list)) and len(value) in (2, 3)


# ---- PostgreSQL range literals -----------------------------------------------------------------
_PLAIN_BOUND = re.compile(r'^[^\s,()\[\]"\\]+$')


def _quote_bound(text: str) -> str:
    if _PLAIN_BOUND.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_literal(value: Range, to_text=str) -> str:
    """The PostgreSQL literal of ``value`` (``[1,5)``, ``(,"2024-01-01 10:00:00+00:00")``,
    ``empty``); bounds are written with ``to_text``, double-quoted when they hold
    spaces, commas, brackets, quotes or backslashes."""
    if value._empty:
        return "empty"
    lower = "" if value.lower is None else _quote_bound(to_text(value.lower))
    upper = "" if value.upper is None else _quote_bound(to_text(value.upper))
    return f"{value.bounds[0]}{lower},{upper}{value.bounds[1]}"


def _read_bound(text: str, pos: int, stop: str) -> tuple[str | None, int]:
    """One bound starting at ``pos``: ``(text or None when absent, position of the
    delimiter)``. Quoted parts and backslash escapes follow PostgreSQL's rules."""
    out, quoted_any = [], False
    while pos < len(text) and text[pos] not in stop:
        ch = text[pos]
        if ch == '"':
            quoted_any = True
            pos += 1
            while True:
                if pos >= len(text):
                    raise ValueError("unterminated quoted range bound")
                ch = text[pos]
                if ch == "\\" and pos + 1 < len(text):
                    out.append(text[pos + 1])
                    pos += 2
                elif ch == '"' and text[pos + 1:pos + 2] == '"':
                    out.append('"')
                    pos += 2
                elif ch == '"':
                    pos += 1
                    break
                else:
                    out.append(ch)
                    pos += 1
        elif ch == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        else:
            out.append(ch)
            pos += 1
    value = "".join(out)
    if not quoted_any:
        value = value.strip()
        if value == "":
            return None, pos
    return value, pos


def parse_literal(text: str):
    """``(lower_text, upper_text, bounds)`` of a PostgreSQL range literal, or ``None``
    for ``empty``; ``ValueError`` for anything else. Bounds stay text (``None`` when
    unbounded): the caller converts them to the field's type."""
    if not isinstance(text, str):
        raise TypeError(f"a range literal must be a str, got {type(text).__name__}")
    body = text.strip()
    if body.lower() == "empty":
        return None
    if len(body) < 3 or body[0] not in "[(" or body[-1] not in "])":
        raise ValueError(f"{text[:60]!r} is not a range literal such as '[1,5)' or 'empty'")
    inner = body[1:-1]
    lower, pos = _read_bound(inner, 0, ",")
    if pos >= len(inner):
        raise ValueError(f"{text[:60]!r} is not a range literal: no comma between the bounds")
    upper, end = _read_bound(inner, pos + 1, ",")
    if end != len(inner):
        raise ValueError(f"{text[:60]!r} is not a range literal: more than two bounds")
    return lower, upper, body[0] + body[-1]
