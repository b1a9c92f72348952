"""Transactions: atomic blocks, savepoints, commit and rollback callbacks.

Public API (spec core.md §16; details and examples in ``docs/transactions.md``)::

    atomic(using=None, *, durable=False, savepoint=True)   # with / @atomic / @atomic("alias")
    aatomic(using=None, *, durable=False, savepoint=True)  # async with / @aatomic on coroutines
    set_rollback(flag, using=None), get_rollback(using=None)   # + aset_rollback/aget_rollback
    on_commit(cb, using=None), on_rollback(cb, using=None)
    await aon_commit(cb, using=None), await aon_rollback(cb, using=None)
    savepoint(using=None) -> "s_<hex>", savepoint_commit(sid, using=None),
    savepoint_rollback(sid, using=None)  (+ asavepoint* twins)

``using`` is an alias (default ``"default"``) or a backend instance.

Semantics:

* The outermost block runs ``BEGIN`` … ``COMMIT``; an exception (or
  ``set_rollback(True)``) rolls back instead and the exception propagates.
* A nested block opens a savepoint (``savepoint=True`` and the backend
  ``supports_savepoints``): its failure rolls back to the savepoint only.
* A nested block *without* a savepoint (``savepoint=False``, or a backend without
  savepoints) cannot undo its own work: its failure marks the enclosing block for
  rollback. If the enclosing block then ends without an exception (the error was
  caught), the block rolls back and raises ``TransactionManagementError``: half a
  transaction is never committed silently.
* ``durable=True`` inside another atomic block raises ``RuntimeError`` (blocks
  opened by ``dorm.test.rollback`` do not count).
* ``on_commit`` callbacks are queued on the innermost block, move to the parent
  when a savepoint is released, run after the outermost ``COMMIT`` and are dropped
  on rollback; outside a transaction they run at once. ``on_rollback`` callbacks
  run after their block rolls back and are dropped on commit (outside a
  transaction there is nothing to undo: dropped). Both run in registration order;
  their exceptions are logged on ``dorm.transaction`` and never raised.
* ``aatomic`` pins one connection to the current task for the outermost block, so
  two concurrent tasks never share a transaction. Tasks *created inside* the block
  inherit the pin (they share the transaction: don't run statements of one
  transaction concurrently).

One implementation serves sync and async: each block's enter/exit logic is a
generator yielding the backend primitives to run (``begin``, ``commit``,
``savepoint_rollback``...), driven by a sync or an async driver.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
import secrets

from dorm.db.handler import connections, pinned_connections
from dorm.db.utils import DEFAULT_DB_ALIAS
from dorm.exceptions import NotSupportedError, TransactionManagementError

__all__ = [
    "AsyncAtomic",
    "Atomic",
    "aatomic",
    "aget_rollback",
    "aon_commit",
    "aon_rollback",
    "asavepoint",
    "asavepoint_commit",
    "asavepoint_rollback",
    "aset_rollback",
    "atomic",
    "get_connection",
    "get_rollback",
    "on_commit",
    "on_rollback",
    "savepoint",
    "savepoint_commit",
    "savepoint_rollback",
    "set_rollback",
]

logger = logging.getLogger("dorm.transaction")
_SID = re.compile(r"^s_[0-9a-f]+$")


class _Level:
    """One active atomic block on one connection."""

    __slots__ = (
        "commit_cbs",
        "outermost",
        "poisoned",
        "rollback_cbs",
        "rollback_only",
        "run_on_commit",
        "sid",
        "test",
    )

    def __init__(self, sid, outermost):
        self.sid = sid
        self.outermost = outermost
        self.rollback_only = False   # set_rollback(True) or a failed inner block
        self.poisoned = False        # an inner block without savepoint raised
        self.commit_cbs: list = []
        self.rollback_cbs: list = []
        self.test = False            # opened by dorm.test.rollback
        self.run_on_commit = False


def _new_sid() -> str:
    return "s_" + secrets.token_hex(8)


def _validate_sid(sid) -> str:
    if not isinstance(sid, str) or not _SID.match(sid):
        raise ValueError(f"invalid savepoint id {sid!r}: expected 's_' followed by hex digits")
    return sid


# ---- which connection ------------------------------------------------------------------------
def get_connection(using=None):
    """The sync backend for ``using`` (an alias or a backend instance)."""
    if using is None:
        return connections[DEFAULT_DB_ALIAS]
    if isinstance(using, str):
        return connections[using]
    return using


def _current(using):
    """The connection whose atomic block encloses the calling code: a sync one in an
    ``atomic()`` block of this thread, else the task's ``aatomic()`` connection,
    else this thread's sync connection."""
    if using is not None and not isinstance(using, str):
        return using
    alias = using or DEFAULT_DB_ALIAS
    sync = connections.existing(alias)
    if sync is not None and sync._atomic_levels:
        return sync
    pinned = connections.pinned(alias)
    if pinned is not None:
        return pinned
    return sync if sync is not None else connections[alias]


def _innermost(using, what: str) -> _Level:
    levels = _current(using)._atomic_levels
    if not levels:
        raise TransactionManagementError(f"{what} must be called inside an atomic block")
    return levels[-1]


# ---- block logic (shared by sync and async) ------------------------------------------------
def _enter_plan(backend, durable, savepoint, test, run_on_commit):
    levels = backend._atomic_levels
    if durable and any(not lvl.test for lvl in levels):
        raise RuntimeError("A durable atomic block cannot be nested within another atomic block.")
    if not levels:
        if backend.in_transaction:
            raise TransactionManagementError(
                "atomic() cannot start: the connection is already in a transaction begun "
                "outside atomic() (call commit() or rollback() first)"
            )
        yield ("begin", ())
        level = _Level(None, True)
    elif savepoint and backend.features.supports_savepoints:
        sid = _new_sid()
        yield ("savepoint_create", (sid,))
        level = _Level(sid, False)
    else:
        level = _Level(None, False)
    level.test = test
    level.run_on_commit = run_on_commit
    levels.append(level)
    return level


_POISONED = ("an inner atomic block without a savepoint failed, so this block could not "
             "commit and was rolled back (catching the inner exception does not undo its "
             "partial work; use a savepoint)")


def _promote(level, parent):
    """Callbacks of a released block: move them to the parent, or run the commit
    callbacks now when the parent is a ``dorm.test.rollback(run_on_commit=True)`` block."""
    if parent.test and parent.run_on_commit:
        return list(level.commit_cbs)
    parent.commit_cbs.extend(level.commit_cbs)
    parent.rollback_cbs.extend(level.rollback_cbs)
    return []


def _exit_plan(backend, level, exc):
    """Yields primitives; returns ``(kind, callbacks, error_to_raise)``."""
    levels = backend._atomic_levels
    if not levels or levels[-1] is not level:
        if level in levels:
            levels.remove(level)
        raise TransactionManagementError("atomic blocks were exited out of order")
    levels.pop()
    failed = exc or level.rollback_only or level.test

    if level.outermost:
        if failed:
            if backend.in_transaction:
                try:
                    yield ("rollback", ())
                except Exception as err:  # noqa: BLE001 - logged; the connection is closed
                    logger.error("rollback failed on alias %r: %s", backend.alias, err)
                    yield ("close", ())
                    if not exc:
                        return "rollback", level.rollback_cbs, err
            error = TransactionManagementError(_POISONED) if (level.poisoned and not exc) else None
            return "rollback", level.rollback_cbs, error
        if not backend.in_transaction:
            return "rollback", level.rollback_cbs, TransactionManagementError(
                "the connection was closed inside atomic(); its transaction was rolled back"
            )
        try:
            yield ("commit", ())
        except BaseException as err:  # noqa: BLE001 - re-raised by the caller
            try:
                yield ("rollback", ())
            except BaseException:  # noqa: BLE001 - rollback failed too: drop the connection
                yield ("close", ())
            return "rollback", level.rollback_cbs, err
        return "commit", level.commit_cbs, None

    parent = levels[-1]
    if level.sid is not None:
        if failed:
            if backend.in_transaction:
                try:
                    yield ("savepoint_rollback", (level.sid,))
                    yield ("savepoint_release", (level.sid,))
                except BaseException as err:  # noqa: BLE001 - re-raised by the caller
                    parent.rollback_only = parent.poisoned = True
                    parent.rollback_cbs.extend(level.rollback_cbs)
                    return "rollback", [], (None if exc else err)
            error = TransactionManagementError(_POISONED) if (level.poisoned and not exc) else None
            return "rollback", level.rollback_cbs, error
        try:
            yield ("savepoint_release", (level.sid,))
        except BaseException as err:  # noqa: BLE001 - re-raised by the caller
            parent.rollback_only = parent.poisoned = True
            parent.rollback_cbs.extend(level.rollback_cbs)
            return "rollback", [], err
        return "commit", _promote(level, parent), None

    # nested block without a savepoint
    if failed:
        parent.rollback_only = True
        if exc or level.poisoned:
            parent.poisoned = True
        parent.rollback_cbs.extend(level.rollback_cbs)
        return "rollback", [], None
    return "commit", _promote(level, parent), None


def _drive(plan, backend):
    """Run a plan with the sync primitives."""
    try:
        action = next(plan)
        while True:
            name, args = action
            try:
                getattr(backend, name)(*args)
            except BaseException as err:  # noqa: BLE001 - handed to the plan
                action = plan.throw(err)
            else:
                action = plan.send(None)
    except StopIteration as stop:
        return stop.value


async def _adrive(plan, backend):
    """Run a plan with the async primitives (``a`` + name)."""
    try:
        action = next(plan)
        while True:
            name, args = action
            try:
                await getattr(backend, "a" + name)(*args)
            except BaseException as err:  # noqa: BLE001 - handed to the plan
                action = plan.throw(err)
            else:
                action = plan.send(None)
    except StopIteration as stop:
        return stop.value


def _run_callbacks(kind, callbacks) -> None:
    for cb in callbacks:
        try:
            result = cb()
            if inspect.isawaitable(result):
                _schedule_awaitable(kind, cb, result)
        except Exception:
            logger.exception("on_%s callback %r raised", kind, cb)


def _schedule_awaitable(kind, cb, result) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        if inspect.iscoroutine(result):
            result.close()
        logger.error("on_%s callback %r is async but its transaction is sync and no event "
                     "loop runs: not run (use aatomic()/aon_%s)", kind, cb, kind)
        return
    task = loop.create_task(_guard(kind, cb, result))
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set = set()


async def _guard(kind, cb, awaitable):
    try:
        await awaitable
    except Exception:
        logger.exception("on_%s callback %r raised", kind, cb)


async def _arun_callbacks(kind, callbacks) -> None:
    for cb in callbacks:
        try:
            result = cb()
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_%s callback %r raised", kind, cb)


# ---- atomic ----------------------------------------------------------------------------------
class Atomic:
    """The object ``atomic()`` returns: a context manager and a decorator.

    As a context manager it is one block (``with atomic() as cm: cm.set_rollback()``);
    as a decorator every call of the function opens a fresh block.
    """

    def __init__(self, using=None, durable=False, savepoint=True, *, _test=False,
                 _run_on_commit=False):
        if using is not None and not isinstance(using, str) and not hasattr(using, "_atomic_levels"):
            raise TypeError(f"using must be a database alias or a backend, got {using!r}")
        self.using = using
        self.durable = durable
        self.savepoint = savepoint
        self._test = _test
        self._run_on_commit = _run_on_commit
        self._entered: list = []

    def _clone(self):
        return type(self)(self.using, self.durable, self.savepoint, _test=self._test,
                          _run_on_commit=self._run_on_commit)

    def __enter__(self):
        backend = get_connection(self.using)
        level = _drive(_enter_plan(backend, self.durable, self.savepoint, self._test,
                                   self._run_on_commit), backend)
        self._entered.append((backend, level))
        return self

    def __exit__(self, exc_type, exc, tb):
        backend, level = self._entered.pop()
        kind, callbacks, error = _drive(_exit_plan(backend, level, exc_type is not None), backend)
        _run_callbacks(kind, callbacks)
        if error is not None:
            raise error
        return False

    def set_rollback(self, rollback: bool = True) -> None:
        """Make this block roll back (``True``) or commit (``False``) when it exits
        without an exception."""
        if not self._entered:
            raise TransactionManagementError("set_rollback() called on an atomic block that is not active")
        level = self._entered[-1][1]
        level.rollback_only = bool(rollback)
        if not rollback:
            level.poisoned = False

    def __call__(self, func):
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(f"atomic() cannot decorate the coroutine function {func.__qualname__}; "
                            "use aatomic()")

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self._clone():
                return func(*args, **kwargs)

        return wrapper


def atomic(using=None, *, durable: bool = False, savepoint: bool = True):
    """An atomic block on ``using`` (see module docstring). ``@atomic`` without
    parentheses decorates directly."""
    if callable(using) and not isinstance(using, str) and not hasattr(using, "_atomic_levels"):
        return Atomic(None)(using)
    return Atomic(using, durable, savepoint)


class AsyncAtomic:
    """The object ``aatomic()`` returns: ``async with`` and a coroutine decorator."""

    def __init__(self, using=None, durable=False, savepoint=True, *, _test=False,
                 _run_on_commit=False):
        if using is not None and not isinstance(using, str) and not hasattr(using, "_atomic_levels"):
            raise TypeError(f"using must be a database alias or a backend, got {using!r}")
        self.using = using
        self.durable = durable
        self.savepoint = savepoint
        self._test = _test
        self._run_on_commit = _run_on_commit
        self._entered: list = []

    def _clone(self):
        return type(self)(self.using, self.durable, self.savepoint, _test=self._test,
                          _run_on_commit=self._run_on_commit)

    async def __aenter__(self):
        token = None
        if self.using is not None and not isinstance(self.using, str):
            backend = self.using
        else:
            alias = self.using or DEFAULT_DB_ALIAS
            backend = connections.pinned(alias)
            if backend is None:
                backend = await connections.acquire_pinned(alias)
                current = pinned_connections.get()
                pinned = dict(current) if current else {}
                pinned[alias] = backend
                token = pinned_connections.set(pinned)
        try:
            level = await _adrive(_enter_plan(backend, self.durable, self.savepoint, self._test,
                                              self._run_on_commit), backend)
        except BaseException:  # cleaned up, then re-raised
            if token is not None:
                _unpin(token, backend.alias)
                await connections.release_pinned(backend)
            raise
        self._entered.append((backend, level, token))
        return self

    async def __aexit__(self, exc_type, exc, tb):
        backend, level, token = self._entered.pop()
        try:
            kind, callbacks, error = await _adrive(
                _exit_plan(backend, level, exc_type is not None), backend)
        finally:
            if token is not None:
                _unpin(token, backend.alias)
                await connections.release_pinned(backend)
        await _arun_callbacks(kind, callbacks)
        if error is not None:
            raise error
        return False

    def set_rollback(self, rollback: bool = True) -> None:
        if not self._entered:
            raise TransactionManagementError("set_rollback() called on an atomic block that is not active")
        level = self._entered[-1][1]
        level.rollback_only = bool(rollback)
        if not rollback:
            level.poisoned = False

    def __call__(self, func):
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"aatomic() decorates coroutine functions; {func.__qualname__} is not "
                            "one (use atomic())")

        @functools.wraps(func)
        async def wrapper(*args, **kwargs):
            async with self._clone():
                return await func(*args, **kwargs)

        return wrapper


def _unpin(token, alias) -> None:
    try:
        pinned_connections.reset(token)
    except ValueError:  # exited in another context than entered: drop just this alias
        current = dict(pinned_connections.get() or {})
        current.pop(alias, None)
        pinned_connections.set(current or None)


def aatomic(using=None, *, durable: bool = False, savepoint: bool = True):
    """Async atomic block (``async with aatomic():`` or ``@aatomic`` on a coroutine)."""
    if callable(using) and not isinstance(using, str) and not hasattr(using, "_atomic_levels"):
        return AsyncAtomic(None)(using)
    return AsyncAtomic(using, durable, savepoint)


# ---- rollback flag ----------------------------------------------------------------------------
def set_rollback(rollback: bool, using=None) -> None:
    """Mark the innermost atomic block of ``using`` to roll back (``True``) or clear the
    mark (``False``, also clearing the mark left by a failed inner block: use with care)."""
    level = _innermost(using, "set_rollback()")
    level.rollback_only = bool(rollback)
    if not rollback:
        level.poisoned = False


def get_rollback(using=None) -> bool:
    """Whether the innermost atomic block of ``using`` will roll back."""
    return _innermost(using, "get_rollback()").rollback_only


async def aset_rollback(rollback: bool, using=None) -> None:
    set_rollback(rollback, using)


async def aget_rollback(using=None) -> bool:
    return get_rollback(using)


# ---- callbacks --------------------------------------------------------------------------------
def _check_callable(func):
    if not callable(func):
        raise TypeError(f"callback must be callable, got {func!r}")


def on_commit(func, using=None) -> None:
    """Run ``func()`` after the current transaction commits (at once outside one)."""
    _check_callable(func)
    levels = _current(using)._atomic_levels
    if not levels or (levels[-1].test and levels[-1].run_on_commit):
        _run_callbacks("commit", [func])
        return
    levels[-1].commit_cbs.append(func)


def on_rollback(func, using=None) -> None:
    """Run ``func()`` if the innermost atomic block rolls back (dropped outside one)."""
    _check_callable(func)
    levels = _current(using)._atomic_levels
    if levels:
        levels[-1].rollback_cbs.append(func)


async def aon_commit(func, using=None) -> None:
    """``on_commit`` accepting sync or async callables (awaited in order)."""
    _check_callable(func)
    levels = _current(using)._atomic_levels
    if not levels or (levels[-1].test and levels[-1].run_on_commit):
        await _arun_callbacks("commit", [func])
        return
    levels[-1].commit_cbs.append(func)


async def aon_rollback(func, using=None) -> None:
    on_rollback(func, using)


# ---- explicit savepoints ------------------------------------------------------------------------
def _savepoint_backend(using, what, is_async=False):
    backend = _current(using)
    if not backend.in_atomic_block:
        raise TransactionManagementError(f"{what} must be called inside an atomic block")
    if not backend.features.supports_savepoints:
        raise NotSupportedError(f"savepoints are not supported on {backend.display_name}")
    if is_async and backend.aconnection is None and backend.connection is not None:
        raise TransactionManagementError(f"{what} inside a sync atomic() block: use the sync function")
    if not is_async and backend.connection is None and backend.aconnection is not None:
        raise TransactionManagementError(f"{what} inside aatomic(): use the a-prefixed function")
    return backend


def savepoint(using=None) -> str:
    """Create a savepoint in the current transaction; return its id (``s_<hex>``)."""
    backend = _savepoint_backend(using, "savepoint()")
    sid = _new_sid()
    backend.savepoint_create(sid)
    return sid


def savepoint_commit(sid: str, using=None) -> None:
    """Release savepoint ``sid`` (its work stays in the transaction)."""
    _validate_sid(sid)
    _savepoint_backend(using, "savepoint_commit()").savepoint_release(sid)


def savepoint_rollback(sid: str, using=None) -> None:
    """Undo the work done since savepoint ``sid`` (the savepoint remains)."""
    _validate_sid(sid)
    _savepoint_backend(using, "savepoint_rollback()").savepoint_rollback(sid)


async def asavepoint(using=None) -> str:
    backend = _savepoint_backend(using, "asavepoint()", True)
    sid = _new_sid()
    await backend.asavepoint_create(sid)
    return sid


async def asavepoint_commit(sid: str, using=None) -> None:
    _validate_sid(sid)
    await _savepoint_backend(using, "asavepoint_commit()", True).asavepoint_release(sid)


async def asavepoint_rollback(sid: str, using=None) -> None:
    _validate_sid(sid)
    await _savepoint_backend(using, "asavepoint_rollback()", True).asavepoint_rollback(sid)
