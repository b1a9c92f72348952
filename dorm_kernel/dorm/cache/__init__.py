"""The result cache (spec core.md §15; user guide: docs/cache.md).

Opt in per query with ``QuerySet.cache(timeout=None, *, using="default")`` (or
``Manager.cached()``), or look objects up by primary key with
``Manager.cache_get(pk=)`` / ``cache_get_many(pks=)`` and their ``a*`` twins.
Configured by ``settings.CACHES``; without it every cache call is a plain database
read. Writes through the ORM invalidate (``dorm.cache.invalidation``).

Modules, one idea each:

* ``base``: the backend interface ``BaseCache``;
* ``locmem``: the in-process backend ``LocMemCache``;
* ``registry``: ``caches``, the backends by ``CACHES`` alias;
* ``keys``: canonical cache keys and the tables a statement reads;
* ``signing``: HMAC-signed pickles;
* ``guard``: backend failures become misses (and WARNINGs), never errors;
* ``invalidation``: version bumps on writes, deferred to commit in transactions;
* ``query``: the cached read paths;
* ``state``: the one flag write paths check.

``dorm.cache.redis.RedisCache`` comes from the ``dorm-redis-cache`` plugin.

Public API here: ``caches``, ``BaseCache``, ``invalidate(*models, using=None)`` (after
raw SQL writes) and ``clear(using=None)`` (empty one cache alias, or all).
"""
from . import state
from .base import BaseCache
from .invalidation import invalidate
from .registry import caches

__all__ = ["BaseCache", "caches", "clear", "invalidate", "state"]


def clear(using: str | None = None) -> None:
    """Empty the cache ``using`` (a ``CACHES`` alias), or every configured cache.
    Backend errors propagate here: this is an administrative call, not a query."""
    for backend in ([caches[using]] if using is not None else caches.all()):
        backend.clear()
