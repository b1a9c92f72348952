"""Calling a cache backend so that its failure never breaks a query.

* Every backend call goes through ``call_gen`` (sans-IO: yields the request
  ``("cache", backend, method, *args)`` that ``run_sync`` / ``run_async`` carry out
  with ``method`` / ``a<method>``) or ``call_sync``. An exception from the backend is
  logged as a WARNING on the ``dorm.cache`` logger (at most one per backend and
  method every ``WARN_EVERY`` seconds; the rest at DEBUG) and the call returns
  ``FAILED``: the caller then reads from, or has already written to, the database.
* After a failure the backend is skipped for ``backend.retry_after`` seconds (1 s by
  default): a dead server costs one connection attempt per second, not one per query.
* A version bump that fails is remembered (``backend._pending_bumps``) and retried
  before this process next reads from that backend; while it cannot be delivered,
  reads skip the backend. So this process never serves an entry it failed to
  invalidate. (Other processes may, until the bump is delivered or the entry's TTL
  runs out: don't cache with ``timeout=0`` on a server that can be unreachable.)
"""
from __future__ import annotations

import logging
import time

logger = logging.getLogger("dorm.cache")

FAILED = object()
WARN_EVERY = 10.0


def is_down(backend) -> bool:
    return backend._down_until > time.monotonic()


def failed(backend, method: str, exc: BaseException) -> None:
    """Record a failure of ``backend.method`` and log it (rate-limited)."""
    now = time.monotonic()
    with backend._health_lock:
        backend._down_until = now + backend.retry_after
        last = backend._warned_at.get(method)
        warn = last is None or now - last >= WARN_EVERY
        if warn:
            backend._warned_at[method] = now
    level = logging.WARNING if warn else logging.DEBUG
    logger.log(level, "cache backend %r (%s) failed in %s(): %s: %s; using the database",
               backend.alias, type(backend).__name__, method, type(exc).__name__, exc)


def call_gen(backend, method: str, *args):
    """Sans-IO: the result of ``backend.method(*args)``, or ``FAILED``."""
    if is_down(backend):
        return FAILED
    try:
        return (yield ("cache", backend, method, *args))
    except Exception as exc:  # noqa: BLE001 - the contract: cache errors never break queries
        failed(backend, method, exc)
        return FAILED


def call_sync(backend, method: str, *args):
    """``backend.method(*args)``, or ``FAILED`` (sync code: invalidation)."""
    if is_down(backend):
        return FAILED
    try:
        return getattr(backend, method)(*args)
    except Exception as exc:  # noqa: BLE001
        failed(backend, method, exc)
        return FAILED


# ---- bumps that could not be delivered --------------------------------------------------------
def bump_sync(backend, tables) -> None:
    """Bump ``tables`` (plus any pending ones) now; on failure keep them pending."""
    with backend._health_lock:
        todo = backend._pending_bumps | set(tables)
        backend._pending_bumps = set()
    if call_sync(backend, "bump", sorted(todo)) is FAILED:
        with backend._health_lock:
            backend._pending_bumps |= todo


def ready_gen(backend):
    """Sans-IO: deliver pending bumps before a read; False when the backend must be
    skipped (down, or bumps still undelivered)."""
    if is_down(backend):
        return False
    if not backend._pending_bumps:
        return True
    with backend._health_lock:
        todo, backend._pending_bumps = backend._pending_bumps, set()
    if (yield from call_gen(backend, "bump", sorted(todo))) is FAILED:
        with backend._health_lock:
            backend._pending_bumps |= todo
        return False
    return True
