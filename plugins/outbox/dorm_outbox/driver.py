"""One implementation of the relay's database work for sync and async callers.

The steps in ``dorm_outbox.steps`` are generators that *yield requests* and receive
their results; ``run_sync`` and ``run_async`` carry the requests out with the ORM's
sync or async API (the kernel's ``dorm.models.sansio`` does the same for ``save()`` /
``asave()``). An exception raised while serving a request is thrown back into the
generator at the ``yield``.

Requests (tuples):

* ``("features", alias)`` → the backend's ``features`` (for locking decisions)
* ``("fetch", queryset)`` → ``list(queryset)`` / ``await queryset``
* ``("update", queryset, values)`` → ``queryset.update(**values)`` (row count)
* ``("delete", queryset)`` → ``queryset.delete()`` (``(count, per_model)``)
* ``("atomic", alias, generator)`` → the generator's return value, run inside
  ``transaction.atomic(alias, durable=True)`` / ``aatomic(alias, durable=True)``: the
  relay's transactions are always outermost (its claims must be visible to other
  relays when the claim step returns), so calling the relay inside ``atomic()`` raises
  ``RuntimeError`` (``dorm.test.rollback`` blocks do not count)
* ``("call", handler, event)`` → the handler's result; the async driver awaits it
  when it is awaitable, the sync driver refuses an awaitable (``AsyncHandlerError``)
"""
from __future__ import annotations

import inspect

from dorm import transaction
from dorm.db import connections

__all__ = ["AsyncHandlerError", "run_async", "run_sync"]


class AsyncHandlerError(TypeError):
    """The sync relay got an awaitable from the handler: a programming error, raised
    (never recorded as the event's failure)."""


def _refuse_awaitable(handler, result):
    if inspect.iscoroutine(result):
        result.close()
    raise AsyncHandlerError(f"handler {getattr(handler, '__qualname__', handler)!r} returned an "
                            "awaitable: async handlers need adrain_once()/arun()")


def run_sync(gen):
    """Drive ``gen`` with the sync ORM API; return its return value."""
    try:
        req = next(gen)
        while True:
            kind = req[0]
            try:
                if kind == "fetch":
                    result = list(req[1])
                elif kind == "update":
                    result = req[1].update(**req[2])
                elif kind == "delete":
                    result = req[1].delete()
                elif kind == "features":
                    result = connections[req[1]].features
                elif kind == "atomic":
                    with transaction.atomic(req[1], durable=True):
                        result = run_sync(req[2])
                elif kind == "call":
                    result = req[1](req[2])
                    if inspect.isawaitable(result):
                        _refuse_awaitable(req[1], result)
                else:  # pragma: no cover - a bug in dorm_outbox.steps
                    raise RuntimeError(f"unknown outbox request {kind!r}")
            except BaseException as exc:  # noqa: BLE001 - thrown back into the generator
                req = gen.throw(exc)
                continue
            req = gen.send(result)
    except StopIteration as stop:
        return stop.value


async def run_async(gen):
    """Drive ``gen`` with the async ORM API; return its return value."""
    try:
        req = next(gen)
        while True:
            kind = req[0]
            try:
                if kind == "fetch":
                    result = await req[1]
                elif kind == "update":
                    result = await req[1].aupdate(**req[2])
                elif kind == "delete":
                    result = await req[1].adelete()
                elif kind == "features":
                    result = (await connections.aget(req[1])).features
                elif kind == "atomic":
                    async with transaction.aatomic(req[1], durable=True):
                        result = await run_async(req[2])
                elif kind == "call":
                    result = req[1](req[2])
                    if inspect.isawaitable(result):
                        result = await result
                else:  # pragma: no cover - a bug in dorm_outbox.steps
                    raise RuntimeError(f"unknown outbox request {kind!r}")
            except BaseException as exc:  # noqa: BLE001 - thrown back into the generator
                req = gen.throw(exc)
                continue
            req = gen.send(result)
    except StopIteration as stop:
        return stop.value
