"""Pool task affinity: one pooled connection for a task's block (spec features-4.0
§20; docs/contrib.md).

Public API::

    async with pinned_connection(using="default") as backend: ...
    get_pinned_connection(using=None) -> backend | None
    assert_no_concurrent_gather(using=None)
    ConcurrentGatherError(RuntimeError)

Contract:

* ``pinned_connection()`` pins one connection of ``using`` to the current task for the
  block, on backends whose statements otherwise borrow a pooled connection each
  (``features.has_connection_pool``: PostgreSQL). Every statement of the block, and
  ``aatomic()`` blocks inside it, run on that one connection, so session state (``SET``,
  temporary tables, advisory locks, ``LISTEN``) lasts for the block. It is the same
  mechanism ``aatomic()`` uses (``connections.acquire_pinned`` and the task's pinned
  connections); the connection goes back to the pool at the end of the block.
* Elsewhere (SQLite, DuckDB: one connection per event loop already) it pins nothing:
  the block runs as without it and ``get_pinned_connection()`` is ``None``. Inside an
  ``aatomic()`` block the transaction's connection is already pinned and is reused.
  A nested block of the same task reuses the outer pin; a block opened by a task
  created inside another task's block gets a connection of its own.
* The pin belongs to the task that opened the block. Tasks created inside it
  (``asyncio.gather``, ``create_task``, ``TaskGroup``) inherit it and would interleave
  their statements on the one connection. ``assert_no_concurrent_gather()`` detects
  that: each task that calls it (or ``get_pinned_connection()``) is recorded on the
  pin, and it raises ``ConcurrentGatherError`` when another such task — other than the
  block's owner, which waits for its children — is still running, or when the block
  has already ended (a task that outlived the block still carries the pin). It checks
  the structure of the code, so it raises on every backend, pinned or not.
"""
from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from contextvars import ContextVar

from dorm.db.handler import connections, pinned_connections
from dorm.db.utils import DEFAULT_DB_ALIAS

__all__ = ["ConcurrentGatherError", "assert_no_concurrent_gather", "get_pinned_connection",
           "pinned_connection"]


class ConcurrentGatherError(RuntimeError):
    """The connection pinned by ``pinned_connection()`` is shared by tasks running
    concurrently, or used after its block ended."""


class _Pin:
    __slots__ = ("alias", "backend", "closed", "owner", "users")

    def __init__(self, alias, backend, owner):
        self.alias = alias
        self.backend = backend                    # None: nothing pinned on this backend
        self.owner = owner
        self.closed = False
        self.users: weakref.WeakSet = weakref.WeakSet()


#: alias -> _Pin of the innermost ``pinned_connection()`` blocks of this task
_pins: ContextVar[dict | None] = ContextVar("dorm_task_pool_pins", default=None)


def _check_alias(using) -> str:
    if not isinstance(using, str) or not using:
        raise TypeError(f"using must be a database alias (non-empty str), got {using!r}")
    connections.config(using)   # unknown alias: ImproperlyConfigured listing the valid ones
    return using


@contextlib.asynccontextmanager
async def pinned_connection(*, using: str = DEFAULT_DB_ALIAS) -> AsyncIterator:
    """Pin one pooled connection of ``using`` to this task for the block (see the module
    docstring); yields the pinned backend, or ``None`` where nothing is pinned."""
    alias = _check_alias(using)
    task = asyncio.current_task()
    pins = _pins.get() or {}
    outer = pins.get(alias)
    if outer is not None and not outer.closed and outer.owner is task:
        yield outer.backend                       # nested block of the same task
        return
    backend = connections.pinned(alias)          # inside aatomic(): already pinned
    if outer is not None and backend is not None and backend is outer.backend:
        backend = None                            # a child task's own block: its own pin
    owned = False
    pin_token = None
    if backend is None and connections.async_backend(alias).features.has_connection_pool:
        backend = await connections.acquire_pinned(alias)
        try:
            await backend.aensure_connection()
        except BaseException:
            await connections.release_pinned(backend)
            raise
        backend._apins += 1
        owned = True
        current = pinned_connections.get()
        pin_token = pinned_connections.set({**(current or {}), alias: backend})
    pin = _Pin(alias, backend, task)
    token = _pins.set({**{a: p for a, p in pins.items() if a != alias}, alias: pin})
    try:
        yield backend
    finally:
        pin.closed = True
        _reset(_pins, token, alias)
        if owned:
            _reset(pinned_connections, pin_token, alias)
            backend._apins -= 1
            try:
                if not backend._apins and not backend.in_transaction:
                    await backend.aclose()          # the connection goes back to the pool
            finally:
                await connections.release_pinned(backend)


def _reset(var: ContextVar, token, alias: str) -> None:
    try:
        var.reset(token)
    except ValueError:  # exited in another context than entered: drop just this alias
        current = dict(var.get() or {})
        current.pop(alias, None)
        var.set(current or None)


def _pin_for(using) -> _Pin | None:
    pins = _pins.get()
    if not pins:
        return None
    if using is None:
        return list(pins.values())[-1]
    return pins.get(using)


def _register(pin: _Pin) -> None:
    task = asyncio.current_task()
    if task is not None and task is not pin.owner:
        pin.users.add(task)


def get_pinned_connection(using: str | None = None):
    """The backend pinned to this task by ``pinned_connection()`` for ``using`` (default:
    the innermost block's alias), or ``None`` (no block, or a backend that pins nothing).
    The raw driver connection is its ``aconnection``."""
    pin = _pin_for(using)
    if pin is None or pin.closed:
        return None
    _register(pin)
    return pin.backend


def assert_no_concurrent_gather(using: str | None = None) -> None:
    """Raise ``ConcurrentGatherError`` if the ``pinned_connection()`` pin of this task
    (for ``using``; default every alias) is shared with another running task, or its
    block has ended. A no-op outside such a block."""
    pins = _pins.get()
    if not pins:
        return
    selected = pins.values() if using is None else [p for a, p in pins.items() if a == using]
    task = asyncio.current_task()
    for pin in selected:
        if pin.closed:
            raise ConcurrentGatherError(
                f"the pinned_connection(using={pin.alias!r}) block has ended, but this task still "
                "carries its pin: a task created inside the block outlived it (await it inside "
                "the block)")
        others = [t for t in pin.users if t is not task and not t.done()]
        _register(pin)
        if others:
            names = ", ".join(sorted(t.get_name() for t in others)[:5])
            where = "a task" if task is None or task is pin.owner else f"task {task.get_name()!r}"
            raise ConcurrentGatherError(
                f"the connection pinned by pinned_connection(using={pin.alias!r}) is shared by "
                f"concurrently running tasks: {where} and {len(others)} other(s) ({names}) "
                "created inside the block (asyncio.gather/create_task/TaskGroup). Run them one "
                "after another, or give each its own block (each task opens pinned_connection())")
