"""The spec's connection helper names (core.md §1.5), on top of ``dorm.db.connections``.

* ``get_connection(alias="default")`` / ``connection_for`` – this thread's backend;
* ``get_async_connection(alias="default")`` – the backend for async use (call it in a
  coroutine: the task's ``aatomic()`` connection, else the loop's shared one);
  ``await aconnection_for(alias)`` is the awaitable form;
* ``close_all()``, ``await close_all_async()``, ``reset_connections()``;
* ``health_check(alias="default", timeout=5.0, deep=False)`` and ``await
  ahealth_check(...)`` → ``{"status": "ok"|"error", "alias", "elapsed_ms",
  ["error"], ["pool"]}``, never raising;
* ``pool_stats(alias="default")``;
* ``clear_read_after_write_window()`` (routing stickiness, spec §20).
"""
from __future__ import annotations

import asyncio
import time

from .handler import connections
from .router import clear_read_after_write_window
from .utils import DEFAULT_DB_ALIAS

__all__ = ["aconnection_for", "ahealth_check", "clear_read_after_write_window", "close_all",
           "close_all_async", "connection_for", "get_async_connection", "get_connection",
           "health_check", "pool_stats", "reset_connections"]


def get_connection(alias: str = DEFAULT_DB_ALIAS):
    return connections[alias]


connection_for = get_connection


def get_async_connection(alias: str = DEFAULT_DB_ALIAS):
    return connections.async_backend(alias)


async def aconnection_for(alias: str = DEFAULT_DB_ALIAS):
    return await connections.aget(alias)


def close_all() -> None:
    connections.close_all()


async def close_all_async() -> None:
    await connections.aclose_all()


def reset_connections() -> None:
    connections.reset()


def pool_stats(alias: str = DEFAULT_DB_ALIAS) -> dict:
    return connections.pool_stats(alias)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def health_check(alias: str = DEFAULT_DB_ALIAS, timeout: float = 5.0, deep: bool = False) -> dict:
    """Probe ``alias`` with a trivial query (``deep``: an integrity/schema check too)."""
    t0 = time.perf_counter()
    result = {"status": "ok", "alias": alias}
    try:
        details = connections[alias].health_check(deep=deep, timeout=timeout)
        elapsed = time.perf_counter() - t0
        if timeout is not None and elapsed > timeout:
            result.update(status="error", error=f"timed out after {timeout} s")
        elif details:
            result.update(details)
    except Exception as exc:  # noqa: BLE001 - a health check reports, never raises
        result.update(status="error", error=_describe(exc))
    result["elapsed_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
    try:
        result["pool"] = pool_stats(alias)
    except Exception:  # noqa: BLE001, S110 - stats are optional in a health report
        pass
    return result


async def ahealth_check(alias: str = DEFAULT_DB_ALIAS, timeout: float = 5.0, deep: bool = False) -> dict:
    """Async twin of ``health_check`` (bounded by ``asyncio.wait_for``)."""
    t0 = time.perf_counter()
    result = {"status": "ok", "alias": alias}
    try:
        backend = await connections.aget(alias)
        details = await asyncio.wait_for(backend.ahealth_check(deep=deep), timeout)
        if details:
            result.update(details)
    except TimeoutError:
        result.update(status="error", error=f"timed out after {timeout} s")
    except Exception as exc:  # noqa: BLE001
        result.update(status="error", error=_describe(exc))
    result["elapsed_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
    try:
        result["pool"] = pool_stats(alias)
    except Exception:  # noqa: BLE001, S110 - stats are optional in a health report
        pass
    return result
