"""``LocMemCache``: the in-process backend (``"dorm.cache.locmem.LocMemCache"``).

* Thread-safe: one lock around every operation (each is a few dict operations).
* TTL honoured: an entry past its expiry is never returned, and is dropped when met.
* Bounded: at most ``OPTIONS["MAX_ENTRIES"]`` entries (default 1000); storing one
  more evicts the least recently used. Version counters are not entries and are
  never evicted (one small int per table written or read).
* Per process: each process (and each ``CACHES`` alias) has its own store, so a
  write in another process is not seen here. Use ``dorm.cache.redis.RedisCache``
  (plugin ``dorm-redis-cache``) when several processes serve the same database.
  ``LOCATION`` is only a label.

The async twins call the sync methods directly: nothing here waits on I/O.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from dorm.exceptions import ImproperlyConfigured

from .base import DEFAULT_TTL, BaseCache, random_version

DEFAULT_MAX_ENTRIES = 1000


class LocMemCache(BaseCache):
    """See the module docstring. ``OPTIONS``: ``MAX_ENTRIES`` (int > 0)."""

    def __init__(self, alias, location="", options=None, ttl=DEFAULT_TTL):
        super().__init__(alias, location, options, ttl)
        max_entries = self.options.get("MAX_ENTRIES", DEFAULT_MAX_ENTRIES)
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries <= 0:
            raise ImproperlyConfigured(
                f"{self.setting_name('MAX_ENTRIES')} must be a positive integer, got {max_entries!r}")
        self.reject_unknown_options(["MAX_ENTRIES"])
        self.max_entries = max_entries
        self._lock = threading.Lock()
        #: key -> (expires_at monotonic or None, value, tags); order = least recently used first
        self._data: OrderedDict[str, tuple[float | None, bytes, tuple[str, ...]]] = OrderedDict()
        self._tagged: dict[str, set[str]] = {}
        self._versions: dict[str, int] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    # ---- entries ---------------------------------------------------------------------------
    def _drop(self, key: str) -> None:
        entry = self._data.pop(key, None)
        if entry is None:
            return
        for tag in entry[2]:
            keys = self._tagged.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tagged[tag]

    def get_many(self, keys):
        now = time.monotonic()
        out = {}
        with self._lock:
            for key in keys:
                entry = self._data.get(key)
                if entry is None:
                    continue
                if entry[0] is not None and entry[0] <= now:
                    self._drop(key)
                    continue
                self._data.move_to_end(key)
                out[key] = entry[1]
        return out

    def set_many(self, mapping: Mapping[str, bytes], timeout=None, tags: Iterable[str] = ()):
        seconds = self.timeout_seconds(timeout)
        expires = None if seconds is None else time.monotonic() + seconds
        tags = tuple(tags)
        with self._lock:
            for key, value in mapping.items():
                self._drop(key)
                self._data[key] = (expires, value, tags)
                for tag in tags:
                    self._tagged.setdefault(tag, set()).add(key)
            self._evict()

    def _evict(self) -> None:
        # least recently used first; expired entries are dropped when met (get) or here
        while len(self._data) > self.max_entries:
            self._drop(next(iter(self._data)))

    # ---- versions ----------------------------------------------------------------------------
    def get_versions(self, tags):
        with self._lock:
            versions = self._versions
            out = []
            for tag in tags:
                v = versions.get(tag)
                if v is None:
                    v = versions[tag] = random_version()
                out.append(v)
            return out

    def bump(self, tags):
        with self._lock:
            for tag in tags:
                self._versions[tag] = self._versions.get(tag) or random_version()
                self._versions[tag] += 1
                for key in list(self._tagged.get(tag, ())):
                    self._drop(key)

    def clear(self):
        with self._lock:
            self._data.clear()
            self._tagged.clear()
            self._versions.clear()

    # ---- async: no I/O, no thread ----------------------------------------------------------
    async def aget(self, key):
        return self.get(key)

    async def aget_many(self, keys):
        return self.get_many(keys)

    async def aset(self, key, value, timeout=None, tags=()):
        self.set(key, value, timeout, tags)

    async def aset_many(self, mapping, timeout=None, tags=()):
        self.set_many(mapping, timeout, tags)

    async def aget_versions(self, tags):
        return self.get_versions(tags)

    async def abump(self, tags):
        self.bump(tags)

    async def aclear(self):
        self.clear()
