"""One implementation for sync and async: database work written as generators.

An operation (``save``, ``get``, ``bulk_create`` ...) is a generator that *yields
requests* and receives their results; it never touches a connection itself.
``run_sync`` and ``run_async`` carry the requests out, so ``save()`` and
``asave()`` share every line of logic and cannot drift apart (the reference's
async methods lagged their sync twins repeatedly).

Requests (tuples):

* ``("connection", alias)`` → the connection (to compile SQL with its ``ops``)
* ``("execute", alias, sql, params)`` → rows
* ``("execute_write", alias, sql, params)`` → row count
* ``("execute_insert", alias, sql, params, returning)`` → rows
* ``("executemany", alias, sql, param_list)`` → row count
* ``("send", signal, sender, kwargs)`` → receiver results (``send`` / ``asend``)
* ``("atomic", alias, generator)`` → the generator's return value, run inside
  ``transaction.atomic(alias)`` / ``aatomic(alias)``
* ``("sleep", seconds)`` → None
* ``("cache", backend, method, *args)`` → ``backend.method(*args)`` (sync) or
  ``await backend.a<method>(*args)`` (async): result-cache calls (``dorm.cache``)
"""
from __future__ import annotations


def run_sync(gen):
    from dorm.db import connections

    try:
        req = next(gen)
        while True:
            kind = req[0]
            try:
                if kind == "connection":
                    result = connections[req[1]]
                elif kind == "send":
                    result = req[1].send(req[2], **req[3])
                elif kind == "atomic":
                    from dorm.transaction import atomic

                    with atomic(req[1]):
                        result = run_sync(req[2])
                elif kind == "sleep":
                    import time

                    time.sleep(req[1])
                    result = None
                elif kind == "cache":
                    result = getattr(req[1], req[2])(*req[3:])
                else:
                    result = getattr(connections[req[1]], kind)(*req[2:])
            except BaseException as exc:  # noqa: BLE001 - re-thrown into the generator
                req = gen.throw(exc)
                continue
            req = gen.send(result)
    except StopIteration as stop:
        return stop.value


async def run_async(gen):
    from dorm.db import connections

    try:
        req = next(gen)
        while True:
            kind = req[0]
            try:
                if kind == "connection":
                    result = await connections.aget(req[1])
                elif kind == "send":
                    result = await req[1].asend(req[2], **req[3])
                elif kind == "atomic":
                    from dorm.transaction import aatomic

                    async with aatomic(req[1]):
                        result = await run_async(req[2])
                elif kind == "sleep":
                    import asyncio

                    await asyncio.sleep(req[1])
                    result = None
                elif kind == "cache":
                    result = await getattr(req[1], "a" + req[2])(*req[3:])
                else:
                    conn = await connections.aget(req[1])
                    result = await getattr(conn, "a" + kind)(*req[2:])
            except BaseException as exc:  # noqa: BLE001
                req = gen.throw(exc)
                continue
            req = gen.send(result)
    except StopIteration as stop:
        return stop.value
