"""Exceptions of dorm-sharding."""
from __future__ import annotations

from dorm.exceptions import CircuitOpenError


class ShardKeyRequired(RuntimeError):
    """A sharded model was used with no shard key in context (and none derivable from
    the instance). Never silently routed to ``default``."""


class ShardKeyMismatch(ValueError):
    """The shard key in context and the instance's own key field point at different
    shards: writing would put the row where lookups by its key never find it."""


class ShardUnavailable(CircuitOpenError):
    """A shard's circuit breaker is open (or half-open with its single probe in flight):
    the call failed fast without touching the database. A ``dorm.exceptions.
    CircuitOpenError`` (so a ``DatabaseError``), never counted as a failure itself.

    ``alias`` names the shard, ``state`` is ``"open"`` or ``"half_open"``,
    ``failures`` the consecutive failures that opened it, ``retry_in`` the seconds
    until the next probe is allowed (0 when a probe is already in flight).
    """

    def __init__(self, message: str, *, alias: str, state: str, failures: int, retry_in: float):
        super().__init__(message)
        self.alias = alias
        self.state = state
        self.failures = failures
        self.retry_in = retry_in
        self.vendor = None
        self.sql = None


class CrossShardError(ValueError):
    """A fan-out query asks for something that cannot be merged exactly across shards
    (``Avg`` without weights, ``distinct`` values, ``StdDev`` ...). The message says why
    and what to do instead."""


class FanOutError(Exception):
    """One or more shards failed during a fan-out.

    ``errors`` maps alias -> exception, ``results`` alias -> value for the shards that
    succeeded. ``__cause__`` is the first error (in alias order).
    """

    def __init__(self, message: str, *, errors: dict, results: dict):
        super().__init__(message)
        self.errors = errors
        self.results = results


class RebalanceError(RuntimeError):
    """The rebalance found something it must not paper over (a verification mismatch, a
    primary-key collision, a missing table, a row without a shard key). Nothing was
    deleted from the source for the batch at fault; fix the cause and re-run: it resumes."""


__all__ = ["CrossShardError", "FanOutError", "RebalanceError", "ShardKeyMismatch", "ShardKeyRequired",
           "ShardUnavailable"]
