"""``dorm.contrib.sharding``: hash sharding (the dorm-sharding plugin).

Routing:  ``HashShardRouter``, ``with_shard_key``, ``get_shard_key``, ``shard_for``
Fan-out:  ``for_each_shard``, ``afor_each_shard``, ``sharded`` / ``ShardedQuerySet``
Breakers: ``get_breaker``, ``breaker_states``, ``reset_breakers``, ``CircuitState``
Moving:   ``rebalance`` (also ``dorm shards rebalance``)

See ``docs/sharding.md``.
"""
from __future__ import annotations

from .breaker import (
    CircuitState,
    ShardBreaker,
    breaker_states,
    get_breaker,
    is_connection_error,
    reset_breakers,
)
from .context import get_shard_key, with_shard_key
from .exceptions import (
    CrossShardError,
    FanOutError,
    RebalanceError,
    ShardKeyMismatch,
    ShardKeyRequired,
    ShardUnavailable,
)
from .fanout import ShardedQuerySet, afor_each_shard, for_each_shard, sharded
from .placement import DEFAULT_SALT, jump_consistent_hash, key_hash, shard_for, shard_index
from .rebalance import RebalanceReport, rebalance
from .router import HashShardRouter, get_router, shard_routers

__all__ = [
    "DEFAULT_SALT",
    "CircuitState",
    "CrossShardError",
    "FanOutError",
    "HashShardRouter",
    "RebalanceError",
    "RebalanceReport",
    "ShardBreaker",
    "ShardKeyMismatch",
    "ShardKeyRequired",
    "ShardUnavailable",
    "ShardedQuerySet",
    "afor_each_shard",
    "breaker_states",
    "for_each_shard",
    "get_breaker",
    "get_router",
    "get_shard_key",
    "is_connection_error",
    "jump_consistent_hash",
    "key_hash",
    "rebalance",
    "reset_breakers",
    "shard_for",
    "shard_index",
    "shard_routers",
    "sharded",
    "with_shard_key",
]
