"""The shard key of the current context: ``with_shard_key(key)`` / ``get_shard_key()``.

The key lives in a ``ContextVar``: every thread has its own, every asyncio task a
copy of its creator's, so concurrent requests never see each other's key. Works as
``with`` and ``async with``; nesting overrides and restores.
"""
from __future__ import annotations

import contextvars

_shard_key: contextvars.ContextVar = contextvars.ContextVar("dorm_shard_key", default=None)


def get_shard_key():
    """The shard key set by the innermost ``with_shard_key`` block, or ``None``."""
    return _shard_key.get()


class with_shard_key:
    """Pin ``key`` for the block: reads and writes of sharded models go to its shard.

    ``key`` must not be ``None`` (``ValueError``). The ``with`` statement yields the
    key. A connection-class error escaping the block is reported to that shard's
    circuit breaker (see ``docs/sharding.md``).
    """

    __slots__ = ("_tokens", "key")

    def __init__(self, key):
        if key is None:
            raise ValueError("with_shard_key(None): a shard key must not be None")
        self.key = key
        self._tokens: list = []

    def __enter__(self):
        self._tokens.append(_shard_key.set(self.key))
        return self.key

    def __exit__(self, exc_type, exc, tb):
        _shard_key.reset(self._tokens.pop())
        if exc is not None:
            from .breaker import observe_exception

            observe_exception(exc)
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb):
        return self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"with_shard_key({self.key!r})"


__all__ = ["get_shard_key", "with_shard_key"]
