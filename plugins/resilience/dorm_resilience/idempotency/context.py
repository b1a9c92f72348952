"""``idempotency_key`` / ``aidempotency_key`` and the context object they yield.

The block's lifecycle (the guarantee is spelled out in the package docstring):

1. validate the arguments; refuse to start inside an ``atomic()`` block on ``using``;
2. claim the key (own committed transaction) -> first call, or replay, or an error
   (``IdempotencyInProgress``, ``IdempotencyKeyMismatch``) before the block runs;
3. run the block inside ``atomic(using)``; on a first call, store the response in
   the same transaction, so the block's writes and the stored response commit
   together or not at all;
4. if the block (or its commit) fails: the transaction rolls back, the claim row is
   deleted, the error propagates.
"""
from __future__ import annotations

import contextlib
import json

from dorm.db.handler import connections
from dorm.exceptions import TransactionManagementError
from dorm.transaction import aatomic, atomic

from . import claims
from .claims import Claimed
from .errors import IdempotencyNotStored
from .spec import Spec


def _check_json(response, status_code):
    try:
        json.dumps(response, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"idempotency response must be JSON-serialisable: {exc}") from exc
    if status_code is not None and (isinstance(status_code, bool) or not isinstance(status_code, int)):
        raise ValueError(f"status_code must be an int or None, got {status_code!r}")


class IdempotencyContext:
    """What ``idempotency_key`` yields.

    * ``key`` – the idempotency key;
    * ``replay`` – ``True`` when a stored response exists: the block still runs (a
      ``with`` body cannot be skipped), so branch on it and return
      ``cached_response`` / ``cached_status_code``;
    * ``store(response, *, status_code=None)`` – the response to record (checked to be
      JSON-serialisable, else ``ValueError``). Written when the block ends, in its
      transaction. A second call and any call on a replay are no-ops; a call after
      the block ended raises ``RuntimeError``. ``await astore(...)`` is the same.
    """

    __slots__ = ("_active", "_response", "_status_code", "_stored", "cached_response",
                 "cached_status_code", "key", "replay")

    def __init__(self, key: str, replay_row=None):
        self.key = key
        self.replay = replay_row is not None
        self.cached_response = replay_row.response if replay_row is not None else None
        self.cached_status_code = replay_row.status_code if replay_row is not None else None
        self._stored = False
        self._response = None
        self._status_code = None
        self._active = True

    def store(self, response, *, status_code: int | None = None) -> None:
        if not self._active:
            raise RuntimeError(f"idempotency key {self.key!r}: store() was called after the block "
                               "ended; call it inside the with block")
        if self.replay or self._stored:
            return
        _check_json(response, status_code)
        self._response, self._status_code, self._stored = response, status_code, True

    async def astore(self, response, *, status_code: int | None = None) -> None:
        self.store(response, status_code=status_code)

    def __repr__(self) -> str:
        return f"<IdempotencyContext key={self.key!r} replay={self.replay} stored={self._stored}>"


def _not_stored(spec: Spec) -> IdempotencyNotStored:
    return IdempotencyNotStored(
        f"{spec.label()}: the block ended without ctx.store(response); nothing was recorded, its "
        "database writes were rolled back and the key was released. Call ctx.store(...) before "
        "the block ends.", key=spec.key, model=spec.model)


def _refuse_outer_transaction(spec: Spec, backend) -> None:
    levels = getattr(backend, "_atomic_levels", None) or ()
    if any(not getattr(level, "test", False) for level in levels):
        raise TransactionManagementError(
            f"{spec.label()}: idempotency_key() cannot run inside atomic() on that alias: its claim "
            "row must commit before the block runs, so that a concurrent duplicate sees it. Call "
            "it outside the transaction (the block itself runs in atomic()).")


@contextlib.contextmanager
def idempotency_key(key, *, model, using="default", fingerprint=None, ttl=None, claim_timeout=None):
    """``with idempotency_key(key, model=Record) as ctx:`` (see the package docstring).

    ``fingerprint`` – anything identifying the request (str, bytes or a JSON value);
    reusing the key with another fingerprint raises ``IdempotencyKeyMismatch``.
    ``ttl`` – seconds (or ``timedelta``) a stored response may be replayed; older rows
    are replaced. ``claim_timeout`` – seconds after which an unfinished claim counts as
    abandoned (its process died) and may be taken over; ``None``: never.
    """
    spec = Spec.build(key, model=model, using=using, fingerprint=fingerprint, ttl=ttl,
                      claim_timeout=claim_timeout)
    _refuse_outer_transaction(spec, connections[spec.using])
    outcome = claims.claim(spec)
    if not isinstance(outcome, Claimed):
        ctx = IdempotencyContext(spec.key, outcome.row)
        try:
            with atomic(spec.using):
                yield ctx
        finally:
            ctx._active = False
        return
    ctx = IdempotencyContext(spec.key)
    try:
        with atomic(spec.using):
            yield ctx
            if not ctx._stored:
                raise _not_stored(spec)
            claims.complete(spec, outcome.token, ctx._response, ctx._status_code)
    except BaseException:
        ctx._active = False
        claims.release(spec, outcome.token)
        raise
    ctx._active = False


@contextlib.asynccontextmanager
async def aidempotency_key(key, *, model, using="default", fingerprint=None, ttl=None,
                           claim_timeout=None):
    """``async with aidempotency_key(...) as ctx:`` – ``idempotency_key`` for coroutines
    (the block runs in ``aatomic(using)``); store with ``await ctx.astore(...)``."""
    spec = Spec.build(key, model=model, using=using, fingerprint=fingerprint, ttl=ttl,
                      claim_timeout=claim_timeout)
    pinned = connections.pinned(spec.using)
    if pinned is not None:
        _refuse_outer_transaction(spec, pinned)
    outcome = await claims.aclaim(spec)
    if not isinstance(outcome, Claimed):
        ctx = IdempotencyContext(spec.key, outcome.row)
        try:
            async with aatomic(spec.using):
                yield ctx
        finally:
            ctx._active = False
        return
    ctx = IdempotencyContext(spec.key)
    try:
        async with aatomic(spec.using):
            yield ctx
            if not ctx._stored:
                raise _not_stored(spec)
            await claims.acomplete(spec, outcome.token, ctx._response, ctx._status_code)
    except BaseException:
        ctx._active = False
        await claims.arelease(spec, outcome.token)
        raise
    ctx._active = False
