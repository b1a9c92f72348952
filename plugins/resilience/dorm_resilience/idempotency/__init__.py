"""Idempotency keys: ``dorm.contrib.idempotency`` (spec features-4.0 §10).

::

    from dorm.contrib.idempotency import IdempotencyRecord, idempotency_key

    class ApiKey(IdempotencyRecord):
        class Meta:
            app_label = "api"

    with idempotency_key(request_key, model=ApiKey, fingerprint=request_body, ttl=86400) as ctx:
        if ctx.replay:
            return ctx.cached_response, ctx.cached_status_code
        order = Order.objects.create(...)
        ctx.store({"order": order.pk}, status_code=201)

The guarantee, exactly
----------------------

1. **Claim first.** Before the block runs, a row ``status="in_progress"`` with the key
   is inserted and committed in its own short transaction on ``using`` (so
   ``idempotency_key`` refuses to start inside an ``atomic()`` block on that alias:
   the claim could not commit on its own). The unique ``key`` column decides between
   concurrent first requests: exactly one insert wins; every other caller finds the
   committed claim and gets ``IdempotencyInProgress`` (409) *without running the
   block*. There is no window in which two callers both run the block for one key —
   except after ``claim_timeout`` (opt-in), when a newer caller may take over a claim
   it considers abandoned; the older block then fails at its end
   (``IdempotencyInProgress``) and its database writes are rolled back. The claim row
   plays the role ``select_for_update`` plays elsewhere, without holding a lock (or a
   transaction) open while the block runs.
2. **Block and response commit together.** The block runs inside ``atomic(using)``;
   on success the row becomes ``status="completed"`` with the response in that same
   transaction. Either both the block's writes on ``using`` and the stored response
   commit, or neither does.
3. **Failure leaves nothing.** If the block raises (or its commit fails, or it ends
   without ``ctx.store(...)`` -> ``IdempotencyNotStored``) the transaction rolls back
   and the claim row is deleted in a separate statement, so a retry runs the block
   again. If that delete itself fails (the database went away), the claim stays
   ``in_progress`` until ``claim_timeout`` elapses or ``purge_expired`` removes it.
4. **Replay.** A completed row younger than ``ttl`` (any age when ``ttl=None``) is
   replayed: ``ctx.replay`` is True, ``ctx.cached_response`` / ``cached_status_code``
   hold the stored values. The block still executes (Python cannot skip a ``with``
   body): branch on ``ctx.replay``. A completed row older than ``ttl`` is deleted and
   the call proceeds as a first call.
5. **Fingerprints.** With ``fingerprint=`` the SHA-256 of the request is stored; a
   later call with the same key and a different fingerprint gets
   ``IdempotencyKeyMismatch`` (422) before anything runs, whether the first request
   finished or not. A side without a fingerprint is not compared.

Not covered: side effects outside the database alias (HTTP calls, e-mails, writes to
other aliases) are not rolled back when the block fails, and a process that dies
between its external side effect and its commit leaves a claim that a retry (after
``claim_timeout``) runs again. Make such effects idempotent downstream, or record
them through an outbox on the same alias.

Public names: ``IdempotencyRecord``, ``idempotency_key``, ``aidempotency_key``,
``IdempotencyContext``, ``purge_expired``, ``apurge_expired``, ``IdempotencyError``,
``IdempotencyInProgress`` (409), ``IdempotencyKeyMismatch`` (422, a ``ValueError``),
``IdempotencyNotStored``, ``IN_PROGRESS``, ``COMPLETED``.
"""
from .context import IdempotencyContext, aidempotency_key, idempotency_key
from .errors import IdempotencyError, IdempotencyInProgress, IdempotencyKeyMismatch, IdempotencyNotStored
from .models import COMPLETED, IN_PROGRESS, IdempotencyRecord
from .purge import apurge_expired, purge_expired

__all__ = [
    "COMPLETED",
    "IN_PROGRESS",
    "IdempotencyContext",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyKeyMismatch",
    "IdempotencyNotStored",
    "IdempotencyRecord",
    "aidempotency_key",
    "apurge_expired",
    "idempotency_key",
    "purge_expired",
]
