"""``BaseCache``: what a result-cache backend provides (``settings.CACHES[alias]["BACKEND"]``).

A backend stores opaque ``bytes`` under ``str`` keys; signing, pickling, key building
and invalidation policy live in the kernel (``dorm.cache.*``), so a backend is a small
key-value adapter. Contract of every method:

* ``get(key) -> bytes | None`` and ``get_many(keys) -> {key: bytes}`` (absent keys
  left out): never an expired entry.
* ``set_many(mapping, timeout, tags)``: store every ``key -> bytes``; ``timeout`` is
  ``None`` (the backend's ``TTL``), ``0`` (no expiry) or seconds (> 0). Each key is
  recorded under every tag in ``tags`` (table names) so ``bump`` can delete it.
* ``get_versions(tags) -> [int]``: the current version of each tag, in order. A tag
  never seen (or whose counter was lost: eviction, restart) starts at a *random*
  large number, so a lost counter never brings back entries keyed by an old version.
* ``bump(tags)``: atomically increment each tag's version, then delete the keys
  recorded under it. Entry keys embed the versions they were read with, so an entry
  stored after the bump by a reader that had read the old version is unreachable.
* ``clear()``: drop everything this backend stored (tests); ``close()``: release
  connections.
* ``a<method>`` twins for async code. The defaults here run the sync method in a
  worker thread (``asyncio.to_thread``); a backend without I/O overrides them to call
  the sync method directly.

Methods may raise anything: callers (``dorm.cache.guard``) turn backend errors into
cache misses and a WARNING on the ``dorm.cache`` logger, never into query failures.
"""
from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterable, Mapping

from dorm.exceptions import ImproperlyConfigured

DEFAULT_TTL = 300


def random_version() -> int:
    """Start value of a new version counter: random, far below overflow when incremented."""
    return secrets.randbits(48) + 1


class BaseCache:
    """Base class of cache backends; see the module docstring for the contract.

    ``alias`` is the ``CACHES`` key, ``location`` the entry's ``LOCATION`` (``""`` when
    absent), ``options`` its ``OPTIONS`` dict (a backend validates and removes the keys
    it knows, then calls ``reject_unknown_options``), ``ttl`` the default timeout in
    seconds (``0``: no expiry).
    """

    #: seconds during which a backend that just failed is skipped (queries go straight
    #: to the database instead of waiting for a dead server on every statement)
    retry_after = 1.0

    def __init__(self, alias: str, location: str = "", options: Mapping | None = None,
                 ttl: float = DEFAULT_TTL):
        self.alias = alias
        self.location = location
        self.options = dict(options or {})
        self.default_timeout = ttl
        # health state, managed by dorm.cache.guard
        self._health_lock = threading.Lock()
        self._down_until = 0.0
        self._warned_at: dict[str, float] = {}
        self._pending_bumps: set[str] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r}>"

    # ---- helpers for subclasses ----------------------------------------------------------
    def setting_name(self, key: str | None = None) -> str:
        """``CACHES['alias']['OPTIONS']['key']`` for error messages."""
        base = f"CACHES[{self.alias!r}]"
        return f"{base}['OPTIONS'][{key!r}]" if key else base

    def reject_unknown_options(self, known: Iterable[str]) -> None:
        """Raise ``ImproperlyConfigured`` naming any ``OPTIONS`` key left over."""
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise ImproperlyConfigured(
                f"{self.setting_name()}['OPTIONS'] has unknown key(s) {', '.join(map(repr, unknown))} "
                f"for {type(self).__name__}; valid: {', '.join(sorted(known)) or '(none)'}")

    def timeout_seconds(self, timeout: float | None) -> float | None:
        """``None`` → the default TTL; returns seconds (> 0) or ``None`` for no expiry."""
        if timeout is None:
            timeout = self.default_timeout
        return None if timeout == 0 else timeout

    # ---- the interface -------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        raise NotImplementedError

    def set(self, key: str, value: bytes, timeout: float | None = None, tags: Iterable[str] = ()) -> None:
        self.set_many({key: value}, timeout, tags)

    def set_many(self, mapping: Mapping[str, bytes], timeout: float | None = None,
                 tags: Iterable[str] = ()) -> None:
        raise NotImplementedError

    def get_versions(self, tags: list[str]) -> list[int]:
        raise NotImplementedError

    def bump(self, tags: Iterable[str]) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # ---- async twins (worker thread by default) -----------------------------------------
    async def aget(self, key):
        return await asyncio.to_thread(self.get, key)

    async def aget_many(self, keys):
        return await asyncio.to_thread(self.get_many, keys)

    async def aset(self, key, value, timeout=None, tags=()):
        return await asyncio.to_thread(self.set, key, value, timeout, tags)

    async def aset_many(self, mapping, timeout=None, tags=()):
        return await asyncio.to_thread(self.set_many, mapping, timeout, tags)

    async def aget_versions(self, tags):
        return await asyncio.to_thread(self.get_versions, tags)

    async def abump(self, tags):
        return await asyncio.to_thread(self.bump, tags)

    async def aclear(self):
        return await asyncio.to_thread(self.clear)
