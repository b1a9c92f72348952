"""dorm-sharding: hash sharding for dorm.

The public API is ``dorm.contrib.sharding`` (this distribution's ``dorm_sharding.api``)::

    from dorm.contrib.sharding import HashShardRouter, with_shard_key, shard_for, for_each_shard

Importing this package imports nothing heavy; the entry point ``dorm_sharding.plugin``
registers the module path, the ``dorm shards`` commands and reads ``settings.SHARDING``.
"""
__version__ = "0.1.0"
