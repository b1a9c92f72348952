"""dorm-redis-cache: the Redis backend of dorm's result cache.

Installed, it provides ``dorm.cache.redis`` (this package's ``backend`` module):
``CACHES = {"default": {"BACKEND": "dorm.cache.redis.RedisCache",
"LOCATION": "redis://127.0.0.1:6379/0"}}``. See docs/cache.md.
"""
