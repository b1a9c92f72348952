"""``dorm.cache.redis.RedisCache``: the result cache on a Redis server (redis-py >= 5).

Configuration (``settings.CACHES[alias]``)::

    {"BACKEND": "dorm.cache.redis.RedisCache",
     "LOCATION": "redis://127.0.0.1:6379/0",      # redis://, rediss:// or unix://
     "OPTIONS": {"KEY_PREFIX": "myapp:",          # every key starts with it (default "dorm:")
                 "socket_timeout": 0.5},          # lower-case keys go to redis.Redis
     "TTL": 300}

* ``KEY_PREFIX`` isolates applications (and test runs) sharing one server; ``clear()``
  deletes exactly the keys under it (with ``SCAN``, never ``KEYS``).
* Lower-case ``OPTIONS`` are keyword arguments of ``redis.Redis`` (checked against its
  signature). ``socket_timeout`` and ``socket_connect_timeout`` default to 1 second,
  so an unreachable server delays a query by at most that (and the kernel then skips
  the server for a second). ``decode_responses`` must stay False: values are bytes.

Layout under the prefix ``P``: entries ``P q:<sha1>`` (``SET ... PX``); per table a
version counter ``P v:<table>`` (``INCR``; created at a random value with ``SET NX``,
so a counter lost to eviction or a restart never revives old entries) and an index
set ``P t:<table>`` of the entry keys stored under that table's versions. ``bump``
runs ``INCR`` on the counters and takes and deletes the index sets in one
``MULTI``/``EXEC``, then ``UNLINK``s the entries in batches: no key scan. Entries
keyed by an old version are unreachable anyway; the index only frees their memory
early. The index expires with its longest-lived entry (Redis >= 7 ``EXPIRE NX/GT``;
older servers get a plain ``EXPIRE``). An entry stored with ``timeout=0`` (no expiry)
can outlive its index after a later shorter entry; it is still unreachable once
bumped, and left to Redis eviction.

Async: the ``a*`` methods run the sync client in a worker thread
(``asyncio.to_thread``, inherited from ``BaseCache``): one thread-safe client and
connection pool serves sync and async code, independent of event loops.
"""
from __future__ import annotations

import inspect
import math
import re

import redis

from dorm.cache.base import DEFAULT_TTL, BaseCache, random_version
from dorm.exceptions import ImproperlyConfigured

_SCHEMES = ("redis://", "rediss://", "unix://")
_UNLINK_BATCH = 500
_DEFAULTS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}


def _client_parameters() -> set[str]:
    return {name for name in inspect.signature(redis.Redis.__init__).parameters
            if name not in ("self", "host", "port", "db", "connection_pool")}


class RedisCache(BaseCache):
    """See the module docstring."""

    def __init__(self, alias, location="", options=None, ttl=DEFAULT_TTL):
        super().__init__(alias, location, options, ttl)
        if not location or not location.startswith(_SCHEMES):
            raise ImproperlyConfigured(
                f"{self.setting_name()}['LOCATION'] must be a Redis URL starting with "
                f"{', '.join(_SCHEMES)} (like 'redis://127.0.0.1:6379/0'), got {location!r}")
        options = dict(self.options)
        prefix = options.pop("KEY_PREFIX", "dorm:")
        if not isinstance(prefix, str) or not prefix:
            raise ImproperlyConfigured(
                f"{self.setting_name('KEY_PREFIX')} must be a non-empty string (clear() deletes "
                f"every key under it), got {prefix!r}")
        upper = sorted(k for k in options if not k.islower())
        if upper:
            raise ImproperlyConfigured(
                f"{self.setting_name()}['OPTIONS'] has unknown key(s) {', '.join(map(repr, upper))}; "
                "RedisCache knows 'KEY_PREFIX'; lower-case keys are redis.Redis arguments")
        allowed = _client_parameters()
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ImproperlyConfigured(
                f"{self.setting_name()}['OPTIONS'] has key(s) {', '.join(map(repr, unknown))} that "
                f"redis.Redis does not take; valid: KEY_PREFIX, {', '.join(sorted(allowed))}")
        if options.get("decode_responses"):
            raise ImproperlyConfigured(
                f"{self.setting_name('decode_responses')} must be False: cached values are bytes")
        self.prefix = prefix
        self.client = redis.Redis.from_url(location, **{**_DEFAULTS, **options})
        self._expire_flags = True  # EXPIRE NX/GT (Redis >= 7) until the server refuses them

    def __repr__(self):
        return f"<RedisCache alias={self.alias!r} location={self.location!r} prefix={self.prefix!r}>"

    # ---- keys ------------------------------------------------------------------------------------
    def _entry(self, key: str) -> str:
        return self.prefix + key

    def _version(self, tag: str) -> str:
        return f"{self.prefix}v:{tag}"

    def _index(self, tag: str) -> str:
        return f"{self.prefix}t:{tag}"

    # ---- entries ---------------------------------------------------------------------------------
    def get_many(self, keys):
        if not keys:
            return {}
        values = self.client.mget([self._entry(k) for k in keys])
        return {k: v for k, v in zip(keys, values) if v is not None}

    def set_many(self, mapping, timeout=None, tags=()):
        if not mapping:
            return
        seconds = self.timeout_seconds(timeout)
        names = [self._entry(k) for k in mapping]
        pipe = self.client.pipeline(transaction=False)
        for name, value in zip(names, mapping.values()):
            if seconds is None:
                pipe.set(name, value)
            else:
                pipe.set(name, value, px=max(1, int(seconds * 1000)))
        n_sets = len(names)
        for tag in tags:
            index = self._index(tag)
            pipe.sadd(index, *names)
            if seconds is None:
                pipe.persist(index)
            elif self._expire_flags:
                life = math.ceil(seconds) + 1
                pipe.expire(index, life, nx=True)
                pipe.expire(index, life, gt=True)
            else:
                pipe.expire(index, math.ceil(seconds) + 1)
        results = pipe.execute(raise_on_error=False)
        for result in results[:n_sets]:
            if isinstance(result, Exception):
                raise result
        if any(isinstance(r, redis.ResponseError) for r in results[n_sets:]):
            self._expire_flags = False  # an old server: plain EXPIRE from now on

    # ---- versions --------------------------------------------------------------------------------
    def get_versions(self, tags):
        if not tags:
            return []
        names = [self._version(t) for t in tags]
        values = self.client.mget(names)
        missing = [i for i, v in enumerate(values) if v is None]
        if missing:
            pipe = self.client.pipeline(transaction=False)
            for i in missing:
                pipe.set(names[i], random_version(), nx=True)
            for i in missing:
                pipe.get(names[i])
            fetched = pipe.execute()[len(missing):]
            for i, value in zip(missing, fetched):
                values[i] = value
        return [int(v) for v in values]

    def bump(self, tags):
        tags = list(tags)
        if not tags:
            return
        pipe = self.client.pipeline(transaction=True)
        for tag in tags:
            pipe.set(self._version(tag), random_version(), nx=True)
            pipe.incr(self._version(tag))
            pipe.smembers(self._index(tag))
            pipe.delete(self._index(tag))
        results = pipe.execute()
        stale = set()
        for members in results[2::4]:
            stale.update(members)
        stale = list(stale)
        for start in range(0, len(stale), _UNLINK_BATCH):
            self.client.unlink(*stale[start:start + _UNLINK_BATCH])

    # ---- administration --------------------------------------------------------------------------
    def clear(self):
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        batch = []
        for name in self.client.scan_iter(match=pattern, count=500):
            batch.append(name)
            if len(batch) >= _UNLINK_BATCH:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)

    def close(self):
        self.client.close()
        self.client.connection_pool.disconnect()
