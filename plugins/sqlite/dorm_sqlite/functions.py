"""Python functions registered on every SQLite connection (sync and async).

SQLite lacks a few things the ORM needs; these fill the gaps. All are NULL-safe
(``NULL`` in, ``NULL`` out) and deterministic, so SQLite may use them in indexes.

* ``x REGEXP pattern`` – Python ``re.search`` (compiled patterns cached);
* ``dorm_casefold(x)`` – Unicode case folding for ``i*`` lookups (SQLite's
  ``LOWER`` and ``LIKE`` only fold ASCII);
* ``dorm_glob_escape(x)`` / ``dorm_like_escape(x)`` – escape pattern characters of an
  expression used as a ``contains``/``startswith`` right-hand side;
* ``dorm_to_local(dt, tz)`` / ``dorm_from_local(dt, tz)`` – convert stored UTC text
  to/from wall time in a named time zone (``__date``, ``Trunc``, ``Extract`` when
  ``USE_TZ`` and ``TIME_ZONE`` is not UTC);
* ``dorm_iso(unit, dt)`` – ISO ``week``, ``iso_year`` and ``iso_week_day``;
  ``dorm_quarter_start(dt)`` – first day of the quarter (``Trunc('quarter')``);
* aggregates ``dorm_decimal_sum(x)`` / ``dorm_decimal_avg(x)`` – exact decimal
  arithmetic; they return text that the ``DecimalField`` converter turns into
  ``Decimal`` (SQLite's own ``SUM``/``AVG`` add binary floats).
"""
from __future__ import annotations

import datetime
import decimal
import functools
import re
import sqlite3
import zoneinfo

_DEC_CONTEXT = decimal.Context(prec=60)


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def regexp(pattern, value):
    """SQLite calls ``REGEXP(pattern, value)`` for ``value REGEXP pattern``."""
    if pattern is None or value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    return 1 if _compile(str(pattern)).search(value) else 0


def casefold(value):
    if value is None:
        return None
    return (value if isinstance(value, str) else str(value)).casefold()


def glob_escape(value):
    """Make every character of ``value`` literal in a GLOB pattern."""
    if value is None:
        return None
    value = value if isinstance(value, str) else str(value)
    return value.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]")


def like_escape(value):
    """Escape ``\\ % _`` for ``LIKE ... ESCAPE '\\'``."""
    if value is None:
        return None
    value = value if isinstance(value, str) else str(value)
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@functools.lru_cache(maxsize=64)
def _zone(name: str):
    return zoneinfo.ZoneInfo(name)


def _parse(value):
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def to_local(value, tzname):
    """UTC text -> wall-time text in ``tzname`` (naive ISO)."""
    dt = _parse(value)
    if dt is None or tzname is None:
        return None if dt is None else value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    return dt.astimezone(_zone(tzname)).replace(tzinfo=None).isoformat(sep=" ")


def from_local(value, tzname):
    """Wall-time text in ``tzname`` -> UTC text (naive ISO)."""
    dt = _parse(value)
    if dt is None or tzname is None:
        return None if dt is None else value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_zone(tzname))
    return dt.astimezone(datetime.UTC).replace(tzinfo=None).isoformat(sep=" ")


def quarter_start(value):
    """``'YYYY-MM-DD...'`` -> first day of its quarter (``'YYYY-MM-01'``)."""
    dt = _parse(value)
    if dt is None:
        return None
    return f"{dt.year:04d}-{(dt.month - 1) // 3 * 3 + 1:02d}-01"


def iso(unit, value):
    dt = _parse(value)
    if dt is None:
        return None
    year, week, weekday = dt.isocalendar()
    if unit == "week":
        return week
    if unit == "iso_year":
        return year
    if unit == "iso_week_day":
        return weekday
    return None


def _to_decimal(value):
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    if isinstance(value, (int, str)):
        return decimal.Decimal(value)
    if isinstance(value, bytes):
        return decimal.Decimal(value.decode())
    raise TypeError(f"not a number: {value!r}")


class DecimalSum:
    """Exact ``SUM`` over decimal columns; returns text (``NULL`` for no rows)."""

    def __init__(self):
        self.total = None

    def step(self, value):
        if value is None:
            return
        d = _to_decimal(value)
        self.total = d if self.total is None else _DEC_CONTEXT.add(self.total, d)

    def finalize(self):
        return None if self.total is None else format(self.total, "f")


class DecimalAvg:
    """Exact ``AVG`` over decimal columns (28 significant digits); returns text."""

    def __init__(self):
        self.total = decimal.Decimal(0)
        self.count = 0

    def step(self, value):
        if value is None:
            return
        self.total = _DEC_CONTEXT.add(self.total, _to_decimal(value))
        self.count += 1

    def finalize(self):
        if not self.count:
            return None
        return format(decimal.Context(prec=28).divide(self.total, self.count), "f")


def register(conn: sqlite3.Connection) -> None:
    """Register every function above on ``conn``."""
    fn = conn.create_function
    fn("REGEXP", 2, regexp, deterministic=True)
    fn("dorm_casefold", 1, casefold, deterministic=True)
    fn("dorm_glob_escape", 1, glob_escape, deterministic=True)
    fn("dorm_like_escape", 1, like_escape, deterministic=True)
    fn("dorm_to_local", 2, to_local, deterministic=True)
    fn("dorm_from_local", 2, from_local, deterministic=True)
    fn("dorm_iso", 2, iso, deterministic=True)
    fn("dorm_quarter_start", 1, quarter_start, deterministic=True)
    conn.create_aggregate("dorm_decimal_sum", 1, DecimalSum)
    conn.create_aggregate("dorm_decimal_avg", 1, DecimalAvg)
