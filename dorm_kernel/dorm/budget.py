"""Query budgets: a ceiling on the rows a query may return and on the time a statement
may run, for one block of code (spec features-4.0 §13.2; user guide ``docs/budget.md``)::

    from dorm.budget import budget, abudget, current, check_rowcount, BudgetExceeded

    with budget(timeout_ms=200, max_rows=1000, using="default") as state:
        rows = list(Order.objects.filter(...))      # > 1000 rows: BudgetExceeded
    async with abudget(max_rows=50):
        rows = await Order.objects.filter(...)

Contract:

* ``max_rows``: every queryset result the ORM materialises inside the block (``list()``,
  iteration, ``len()``, ``await qs``, ``get()``, ``values()``/``values_list()`` and their
  ``a*`` twins, ``iterator()``/``aiterator()``, ``raw()``, and the reads the ORM makes
  for you: related managers, ``prefetch_related``, the cascade of ``delete()``) with more
  than ``max_rows`` rows raises ``BudgetExceeded("Query returned N rows, exceeds active
  budget max_rows=M.")``. The query is compiled with ``LIMIT max_rows + 1`` unless its
  own slice is smaller, so the database never sends more than one row too many (``N``
  is therefore at most ``M + 1``); ``iterator()`` counts rows as they stream and raises
  at the first row too many. A capped query always raises, never returns a truncated
  result. ``count()``, ``exists()``, ``aggregate()`` and writes are not limited. Any
  database alias.
* ``timeout_ms``: opens ``atomic()`` (``aatomic()``) on ``using`` and bounds every
  statement of that connection in the block to ``timeout_ms`` milliseconds, each
  statement on its own (PostgreSQL ``SET LOCAL statement_timeout``; SQLite a progress
  handler; DuckDB ``interrupt()`` from a watchdog thread). A statement that runs longer
  is cancelled and raises ``BudgetExceeded`` naming the limit; the atomic block then
  rolls back every write of the block. Backends whose
  ``features.supports_statement_timeout`` is false raise ``NotSupportedError`` when
  the block is entered. Failures to set the limit are raised, never ignored. A sync
  ``budget(timeout_ms=...)`` entered in a coroutine raises ``RuntimeError`` (it would
  bound the thread's sync connection, which async queries do not use): use ``abudget``.
* Nesting: the strictest value wins: an inner block's effective ``max_rows`` is the
  minimum over the enclosing blocks, and its ``timeout_ms`` the minimum over the
  enclosing blocks on the same alias (a looser inner value never relaxes an outer one).
  Leaving an inner block restores the outer limits, the database-side timeout included.
* State is per thread and per asyncio task (a ``ContextVar``; tasks created inside a
  block inherit it). Outside every block nothing changes; the statement path pays one
  ``ContextVar`` read per query.
* ``timeout_ms`` and ``max_rows`` are positive ints or ``None``: other values raise
  ``ValueError`` (non-positive) or ``TypeError`` (not an int).
"""
from __future__ import annotations

import contextvars
import sys

from dorm.exceptions import BudgetExceeded, NotSupportedError

__all__ = ["BudgetExceeded", "BudgetState", "abudget", "budget", "check_rowcount", "current"]

_state: contextvars.ContextVar[BudgetState | None] = contextvars.ContextVar(
    "dorm_budget", default=None)

#: ``current()`` without the Python call: the statement path reads the budget with it
_get = _state.get


class BudgetState:
    """The limits in force inside one budget block (what ``with budget(...) as state``
    and ``current()`` give). Read-only.

    * ``max_rows``: the effective row ceiling (strictest of the enclosing blocks), or None;
    * ``timeout_ms``: the effective per-statement limit on ``using`` (strictest of the
      enclosing blocks on that alias), or None;
    * ``using``: the database alias the time limit applies to;
    * ``requested_max_rows`` / ``requested_timeout_ms``: what this block asked for;
    * ``parent``: the state of the enclosing block, or None.
    """

    __slots__ = ("_frame", "max_rows", "parent", "requested_max_rows", "requested_timeout_ms",
                 "timeout_ms", "using")

    def __init__(self, *, max_rows, timeout_ms, using, requested_max_rows, requested_timeout_ms,
                 parent):
        self.max_rows = max_rows
        self.timeout_ms = timeout_ms
        self.using = using
        self.requested_max_rows = requested_max_rows
        self.requested_timeout_ms = requested_timeout_ms
        self.parent = parent
        self._frame = None

    def __repr__(self) -> str:
        return (f"<BudgetState max_rows={self.max_rows!r} timeout_ms={self.timeout_ms!r} "
                f"using={self.using!r}>")


def current() -> BudgetState | None:
    """The state of the innermost active budget block of this thread/task, or None."""
    return _state.get()


def rows_exceeded(rows: int, max_rows: int) -> BudgetExceeded:
    """The ``BudgetExceeded`` for a result of ``rows`` rows above ``max_rows`` (with
    ``rows``, ``max_rows`` and ``timeout_ms=None`` attributes)."""
    err = BudgetExceeded(f"Query returned {rows} rows, exceeds active budget max_rows={max_rows}.")
    err.rows, err.max_rows, err.timeout_ms = rows, max_rows, None
    return err


def check_rowcount(n: int) -> None:
    """Raise ``BudgetExceeded`` when a result of ``n`` rows exceeds the ``max_rows`` of
    the active budget; do nothing outside budgets. For code that materialises rows
    without a queryset (hand-written SQL through ``connection.execute``)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"check_rowcount() takes a row count (int >= 0), got {n!r}")
    if n < 0:
        raise ValueError(f"check_rowcount() takes a row count (int >= 0), got {n!r}")
    state = _state.get()
    if state is not None and state.max_rows is not None and n > state.max_rows:
        raise rows_exceeded(n, state.max_rows)


# ---- the statement path (QuerySet) ------------------------------------------------------------
def cap_query(query, max_rows: int):
    """``query`` itself when its row window holds at most ``max_rows + 1`` rows, else a
    clone whose window ends ``max_rows + 1`` rows after its start (its offset is kept)."""
    limit = max_rows + 1
    high = query.high_mark
    if high is not None and high - query.low_mark <= limit:
        return query
    capped = query.clone()
    capped.high_mark = capped.low_mark + limit
    return capped


def capped_queryset(qs, max_rows: int):
    """``qs`` itself, or a clone of it whose query is ``cap_query(qs.query, max_rows)``."""
    query = cap_query(qs.query, max_rows)
    if query is qs.query:
        return qs
    c = qs._clone()
    c.query = query
    return c


def count_rows(rows, max_rows: int):
    """Yield the rows of the iterator ``rows``, raising ``BudgetExceeded`` at the row
    after the ``max_rows``-th; ``rows`` is closed when this generator ends."""
    n = 0
    try:
        for row in rows:
            n += 1
            if n > max_rows:
                raise rows_exceeded(n, max_rows)
            yield row
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


async def acount_rows(rows, max_rows: int):
    """Async twin of ``count_rows`` (``rows`` is an async iterator, ``aclose()``-d)."""
    n = 0
    try:
        async for row in rows:
            n += 1
            if n > max_rows:
                raise rows_exceeded(n, max_rows)
            yield row
    finally:
        aclose = getattr(rows, "aclose", None)
        if aclose is not None:
            await aclose()


# ---- the blocks --------------------------------------------------------------------------------
def _positive(name: str, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"budget({name}=...) must be a positive int (or None for no limit), "
                        f"got {value!r}")
    if value <= 0:
        raise ValueError(f"budget({name}=...) must be a positive int (or None for no limit), "
                         f"got {value!r}")
    return value


def _min(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a if a <= b else b


def _outer_timeout(parent, using):
    """The effective time limit of the innermost enclosing block on ``using``."""
    while parent is not None:
        if parent.using == using and parent.timeout_ms is not None:
            return parent.timeout_ms
        parent = parent.parent
    return None


def _unsupported(backend, using) -> NotSupportedError:
    return NotSupportedError(
        f"budget(timeout_ms=...) is not supported on {backend.display_name} (database alias "
        f"{using!r}): it cannot interrupt a running statement "
        "(features.supports_statement_timeout is false). Use budget(max_rows=...) alone "
        "there, or give timeout_ms to a budget on an alias whose backend supports it.")


class _Frame:
    """One entered block: its state, the ContextVar token, and what to undo. Kept on the
    state (``state._frame``), so one budget object may be entered by several threads or
    tasks at once (a module-level ``API_BUDGET = budget(...)``)."""

    __slots__ = ("atomic", "backend", "changed", "owner", "previous", "restore", "state", "token")

    def __init__(self, state, owner):
        self.state = state
        self.owner = owner
        state._frame = self
        self.token = None
        self.atomic = None
        self.backend = None
        self.changed = False
        self.previous = None
        self.restore = None


class _BaseBudget:
    def __init__(self, timeout_ms=None, max_rows=None, using="default"):
        self.timeout_ms = _positive("timeout_ms", timeout_ms)
        self.max_rows = _positive("max_rows", max_rows)
        if not isinstance(using, str) or not using:
            raise TypeError(f"budget(using=...) must be a database alias (a non-empty str), "
                            f"got {using!r}")
        self.using = using

    def _new_frame(self) -> _Frame:
        parent = _state.get()
        outer_rows = parent.max_rows if parent is not None else None
        timeout = self.timeout_ms
        if timeout is not None:
            timeout = _min(timeout, _outer_timeout(parent, self.using))
        state = BudgetState(max_rows=_min(self.max_rows, outer_rows), timeout_ms=timeout,
                            using=self.using, requested_max_rows=self.max_rows,
                            requested_timeout_ms=self.timeout_ms, parent=parent)
        return _Frame(state, self)

    def _exit_frame(self) -> _Frame:
        """The frame of the block being exited (the innermost of this context), with
        the ContextVar reset to the enclosing block."""
        state = _state.get()
        frame = state._frame if state is not None else None
        if frame is None or frame.owner is not self:
            raise RuntimeError(f"{self!r} exited without being the innermost active budget "
                               "block of this thread/task (blocks exited out of order)")
        try:
            _state.reset(frame.token)
        except ValueError:  # entered in another context (an async generator moved)
            _state.set(state.parent)
        return frame

    def _limit_for(self, frame: _Frame, backend) -> int | None:
        """The limit to put in force on ``backend``, or None when the one in force is
        already as strict (recorded in ``frame``)."""
        frame.backend = backend
        frame.previous = backend.budget_timeout_ms
        limit = _min(frame.state.timeout_ms, frame.previous)
        frame.state.timeout_ms = limit
        return None if limit == frame.previous else limit

    @staticmethod
    def _publish(frame: _Frame) -> None:
        frame.token = _state.set(frame.state)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} timeout_ms={self.timeout_ms!r} max_rows={self.max_rows!r} "
                f"using={self.using!r}>")


class Budget(_BaseBudget):
    """What ``budget()`` returns: a context manager, reusable and re-entrant, which
    several threads or tasks may enter at the same time."""

    def __enter__(self) -> BudgetState:
        frame = self._new_frame()
        if self.timeout_ms is not None:
            self._enter_timeout(frame)
        self._publish(frame)
        return frame.state

    def _enter_timeout(self, frame: _Frame) -> None:
        import asyncio

        from dorm.db import connections
        from dorm.transaction import atomic

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "budget(timeout_ms=...) bounds the sync connection of this thread, which "
                "coroutines do not use: inside async code use "
                "`async with dorm.budget.abudget(timeout_ms=...)`")
        backend = connections[self.using]
        if not backend.features.supports_statement_timeout:
            raise _unsupported(backend, self.using)
        block = atomic(self.using)
        block.__enter__()
        try:
            limit = self._limit_for(frame, backend)
            if limit is not None:
                frame.restore = backend.set_statement_timeout(limit)
                frame.changed = True
                backend.budget_timeout_ms = limit
        except BaseException:
            block.__exit__(*sys.exc_info())
            raise
        frame.atomic = block

    def __exit__(self, exc_type, exc, tb):
        frame = self._exit_frame()
        block = frame.atomic
        if block is None:
            return False
        error = None
        if frame.changed:
            backend = frame.backend
            backend.budget_timeout_ms = frame.previous
            try:
                backend.restore_statement_timeout(frame.restore)
            except Exception as err:  # noqa: BLE001 - raised below unless the block failed already
                error = err
        if error is not None and exc_type is None:
            block.__exit__(type(error), error, error.__traceback__)
            raise error
        block.__exit__(exc_type, exc, tb)
        return False


class AsyncBudget(_BaseBudget):
    """What ``abudget()`` returns: the async twin of ``Budget`` (same reuse rules)."""

    async def __aenter__(self) -> BudgetState:
        frame = self._new_frame()
        if self.timeout_ms is not None:
            await self._aenter_timeout(frame)
        self._publish(frame)
        return frame.state

    async def _aenter_timeout(self, frame: _Frame) -> None:
        from dorm.db import connections
        from dorm.transaction import aatomic

        probe = await connections.aget(self.using)
        if not probe.features.supports_statement_timeout:
            raise _unsupported(probe, self.using)
        block = aatomic(self.using)
        await block.__aenter__()
        try:
            backend = block._entered[-1][0]
            limit = self._limit_for(frame, backend)
            if limit is not None:
                frame.restore = await backend.aset_statement_timeout(limit)
                frame.changed = True
                backend.budget_timeout_ms = limit
        except BaseException:
            await block.__aexit__(*sys.exc_info())
            raise
        frame.atomic = block

    async def __aexit__(self, exc_type, exc, tb):
        frame = self._exit_frame()
        block = frame.atomic
        if block is None:
            return False
        error = None
        if frame.changed:
            backend = frame.backend
            backend.budget_timeout_ms = frame.previous
            try:
                await backend.arestore_statement_timeout(frame.restore)
            except Exception as err:  # noqa: BLE001 - raised below unless the block failed already
                error = err
        if error is not None and exc_type is None:
            await block.__aexit__(type(error), error, error.__traceback__)
            raise error
        await block.__aexit__(exc_type, exc, tb)
        return False


def budget(*, timeout_ms: int | None = None, max_rows: int | None = None,
           using: str = "default") -> Budget:
    """A budget block: ``with budget(timeout_ms=..., max_rows=..., using=...) as state``.

    ``max_rows`` caps the rows of every materialised result in the block (any alias);
    ``timeout_ms`` opens ``atomic(using)`` and bounds each statement on ``using``. See
    the module docstring for the full contract. ``state`` is the ``BudgetState`` with
    the effective (strictest) limits. In coroutines use ``abudget``.
    """
    return Budget(timeout_ms, max_rows, using)


def abudget(*, timeout_ms: int | None = None, max_rows: int | None = None,
            using: str = "default") -> AsyncBudget:
    """Async twin of ``budget``: ``async with abudget(...) as state`` (the timeout opens
    ``aatomic(using)``, pinning one connection to the task)."""
    return AsyncBudget(timeout_ms, max_rows, using)
