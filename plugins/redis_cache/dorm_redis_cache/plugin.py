"""Hook implementations of dorm-redis-cache (import-light: redis is imported only when
a ``CACHES`` entry names ``dorm.cache.redis.RedisCache``)."""
from __future__ import annotations

import dorm


@dorm.hookimpl
def dorm_register_modules(register):
    register("dorm.cache.redis", "dorm_redis_cache.backend")
