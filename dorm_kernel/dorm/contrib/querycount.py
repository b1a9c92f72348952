"""Count the statements a block runs (spec core.md §1.2 ``QUERY_COUNT_WARN``;
docs/contrib.md).

Public API::

    query_count(threshold=None, *, using=None)   # with / async with -> QueryCounter
    assert_num_queries(n, *, using=None)         # with / async with: AssertionError if != n
    QueryCounter                                 # .total, .by_alias, .statements

Contract:

* The block counts every statement executed **in the current thread or task** (and in
  tasks it creates), through the ``post_query`` signal: reads, writes, DDL, failed
  statements too; an ``executemany`` is one statement. Transaction control
  (``BEGIN``/``COMMIT``/savepoints) is not a statement here. ``using``: count only
  that database alias (default: every alias).
* ``threshold``: when the block ends with more than ``threshold`` statements, one
  WARNING is logged on the ``dorm.contrib.querycount`` logger with the count per alias
  and the most repeated statements. ``None`` (default) uses ``settings.QUERY_COUNT_WARN``
  at the end of the block; when that is ``None`` too the block only counts.
* ``assert_num_queries(n)`` raises ``AssertionError`` listing the statements when the
  block ran a different number (Django's ``assertNumQueries``).
* While no counter is active nothing is connected: statements pay nothing.
"""
from __future__ import annotations

import logging
from collections import Counter

from ._observe import ScopedObserver

__all__ = ["QueryCounter", "assert_num_queries", "query_count"]

logger = logging.getLogger("dorm.contrib.querycount")

_observer = ScopedObserver("querycount")

#: statements kept for reports (the count itself is never capped)
MAX_KEPT = 1000


def _check_threshold(threshold, what: str = "threshold"):
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ValueError(f"{what} must be a non-negative integer or None, got {threshold!r}")
    return threshold


class QueryCounter:
    """Counts statements while active (see the module docstring).

    ``total`` (int), ``by_alias`` (``{alias: n}``), ``statements`` (the first
    ``MAX_KEPT`` as ``(alias, sql)``). Usable as a sync or an async context manager,
    once at a time.
    """

    def __init__(self, threshold: int | None = None, *, using: str | None = None,
                 expected: int | None = None):
        self.threshold = _check_threshold(threshold)
        self.expected = _check_threshold(expected, "n")
        if using is not None and not isinstance(using, str):
            raise TypeError(f"using must be a database alias (str) or None, got {using!r}")
        self.using = using
        self.total = 0
        self.by_alias: dict[str, int] = {}
        self.statements: list[tuple[str, str]] = []
        self._token = None

    def __repr__(self) -> str:
        return f"<QueryCounter total={self.total} by_alias={self.by_alias}>"

    def on_query(self, alias, sql, many, error) -> None:
        alias = alias or "default"
        if self.using is not None and alias != self.using:
            return
        self.total += 1
        self.by_alias[alias] = self.by_alias.get(alias, 0) + 1
        if len(self.statements) < MAX_KEPT:
            self.statements.append((alias, sql))

    def summary(self, top: int = 5) -> str:
        """Count per alias and the ``top`` most repeated statements, as text."""
        from .nplusone import normalize_sql

        per_alias = ", ".join(f"{a}={n}" for a, n in sorted(self.by_alias.items()))
        lines = [f"{self.total} statement(s) ({per_alias or 'none'})"]
        common = Counter((a, normalize_sql(s)) for a, s in self.statements).most_common(top)
        for (alias, template), n in common:
            text = template if len(template) <= 200 else template[:200] + " ..."
            lines.append(f"  {n}x [{alias}] {text}")
        return "\n".join(lines)

    # ---- context manager ---------------------------------------------------------------
    def _start(self) -> None:
        if self._token is not None:
            raise RuntimeError("this QueryCounter is already active; use a new one for a "
                               "nested block")
        self.total = 0
        self.by_alias = {}
        self.statements = []
        self._token = _observer.push(self)

    def _stop(self, failed: bool) -> None:
        token, self._token = self._token, None
        _observer.pop(self, token)
        if failed:
            return
        if self.expected is not None:
            if self.total != self.expected:
                raise AssertionError(f"expected {self.expected} statement(s), the block ran "
                                     f"{self.summary(top=20)}")
            return
        threshold = self.threshold
        if threshold is None:
            from dorm.conf import settings

            threshold = _check_threshold(getattr(settings, "QUERY_COUNT_WARN", None),
                                         "settings.QUERY_COUNT_WARN")
        if threshold is not None and self.total > threshold:
            logger.warning("query count above %d: %s", threshold, self.summary())

    def __enter__(self) -> QueryCounter:
        self._start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._stop(exc_type is not None)
        return False

    async def __aenter__(self) -> QueryCounter:
        self._start()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        self._stop(exc_type is not None)
        return False


def query_count(threshold: int | None = None, *, using: str | None = None) -> QueryCounter:
    """``with query_count() as qc:`` — count the block's statements; WARNING above
    ``threshold`` (default ``settings.QUERY_COUNT_WARN``)."""
    return QueryCounter(threshold, using=using)


def assert_num_queries(n: int, *, using: str | None = None) -> QueryCounter:
    """``with assert_num_queries(2):`` — ``AssertionError`` unless the block ran exactly
    ``n`` statements (on ``using``, or on every alias)."""
    if n is None:
        raise ValueError("n must be a non-negative integer, got None")
    return QueryCounter(using=using, expected=n)
