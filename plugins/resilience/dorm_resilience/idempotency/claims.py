"""The claim protocol, written once as a plan and run by a sync or an async driver.

``claim_plan(spec)`` is a generator that yields database operations and receives
their results (an ``IntegrityError`` of the insert is thrown into it):

* ``("insert", token)`` – insert the claim row (``status="in_progress"``) in its own
  committed transaction; the unique ``key`` makes exactly one of concurrent inserts win;
* ``("fetch",)`` – read the row of the key (autocommit: only committed rows);
* ``("delete", token)`` – delete the row only if it still carries ``token``.

It returns ``Claimed(token)`` or ``Replay(row)``, or raises
``IdempotencyKeyMismatch`` / ``IdempotencyInProgress``. Rows that are no longer
valid — a completed row older than ``ttl``, an in-progress claim older than
``claim_timeout`` — are deleted (guarded by their token, so of two takers only one
deletes) and the insert is retried.

``complete`` (inside the block's transaction) and ``release`` (after its rollback)
act only on the row that still carries the claim's token.
"""
from __future__ import annotations

import datetime
import logging
import secrets
from dataclasses import dataclass

from dorm.exceptions import IntegrityError
from dorm.transaction import aatomic, atomic

from .errors import IdempotencyInProgress, IdempotencyKeyMismatch
from .models import COMPLETED, IN_PROGRESS
from .spec import Spec, now

log = logging.getLogger("dorm.idempotency")

#: insert attempts before giving up on a key that keeps changing hands
MAX_ATTEMPTS = 5

REPLAY, MISMATCH, BUSY, STALE = "replay", "mismatch", "busy", "stale"


@dataclass(frozen=True)
class Claimed:
    token: str


@dataclass(frozen=True)
class Replay:
    row: object


def judge(row, spec: Spec, current: datetime.datetime) -> str:
    """What an existing row means for this call (pure: no I/O)."""
    def older_than(seconds):
        return seconds is not None and row.created_at <= current - datetime.timedelta(seconds=seconds)

    mismatch = spec.fingerprint is not None and row.fingerprint is not None and row.fingerprint != spec.fingerprint
    if row.status == COMPLETED:
        if older_than(spec.ttl):
            return STALE
        return MISMATCH if mismatch else REPLAY
    if mismatch:
        return MISMATCH
    return STALE if older_than(spec.claim_timeout) else BUSY


def claim_plan(spec: Spec):
    """See the module docstring."""
    conflict = None
    for _ in range(MAX_ATTEMPTS):
        token = secrets.token_hex(16)
        try:
            yield ("insert", token)
        except IntegrityError as exc:
            row = yield ("fetch",)
            if row is None:
                if conflict is not None:   # twice no row to blame: not a key conflict
                    raise exc
                conflict = exc             # the holder released it meanwhile: retry
                continue
        else:
            return Claimed(token)
        conflict = None
        verdict = judge(row, spec, now())
        if verdict == REPLAY:
            return Replay(row)
        if verdict == MISMATCH:
            raise IdempotencyKeyMismatch(
                f"{spec.label()} was first used with a different request fingerprint; refusing "
                "to replay its response or to run this request (use a new key for a new request)",
                key=spec.key, model=spec.model)
        if verdict == BUSY:
            raise IdempotencyInProgress(
                f"{spec.label()} is being processed by another request since {row.created_at}; "
                "retry once it has finished", key=spec.key, model=spec.model)
        yield ("delete", row.claim_token)     # STALE: expired response or abandoned claim
        log.info("%s: replacing the %s row created at %s", spec.label(),
                 "expired" if row.status == COMPLETED else "abandoned", row.created_at)
    raise IdempotencyInProgress(f"{spec.label()} kept changing hands during {MAX_ATTEMPTS} claim "
                                "attempts; retry later", key=spec.key, model=spec.model)


def _claim_values(spec: Spec, token: str) -> dict:
    return {"key": spec.key, "status": IN_PROGRESS, "claim_token": token,
            "fingerprint": spec.fingerprint, "response": {}, "status_code": None}


def _completion(response, status_code) -> dict:
    return {"status": COMPLETED, "response": response, "status_code": status_code,
            "completed_at": now()}


# ---- sync driver --------------------------------------------------------------------------
def claim(spec: Spec):
    """Run ``claim_plan`` synchronously."""
    plan = claim_plan(spec)
    value, error = None, None
    while True:
        try:
            op = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        if op[0] == "insert":
            try:
                with atomic(spec.using, durable=True):
                    spec.rows.create(**_claim_values(spec, op[1]))
            except IntegrityError as exc:
                error = exc
        elif op[0] == "fetch":
            value = spec.rows.filter(key=spec.key).first()
        else:
            value = spec.rows.filter(key=spec.key, claim_token=op[1]).delete()[0]


def complete(spec: Spec, token: str, response, status_code) -> None:
    """Mark the claim completed (call inside the block's transaction)."""
    done = spec.rows.filter(key=spec.key, claim_token=token).update(**_completion(response, status_code))
    if not done:
        raise _lost(spec)


def release(spec: Spec, token: str) -> None:
    """Delete the claim row (after the block failed); failures are logged, not raised."""
    try:
        spec.rows.filter(key=spec.key, claim_token=token).delete()
    except Exception as exc:  # noqa: BLE001 - the block's own error is the one to raise
        log.warning("%s: could not release the claim after the block failed (%s: %s); the key "
                    "stays in progress until claim_timeout elapses or purge_expired() removes it",
                    spec.label(), type(exc).__name__, exc)


# ---- async driver --------------------------------------------------------------------------
async def aclaim(spec: Spec):
    """Run ``claim_plan`` asynchronously."""
    plan = claim_plan(spec)
    value, error = None, None
    while True:
        try:
            op = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        if op[0] == "insert":
            try:
                async with aatomic(spec.using, durable=True):
                    await spec.rows.acreate(**_claim_values(spec, op[1]))
            except IntegrityError as exc:
                error = exc
        elif op[0] == "fetch":
            value = await spec.rows.filter(key=spec.key).afirst()
        else:
            value = (await spec.rows.filter(key=spec.key, claim_token=op[1]).adelete())[0]


async def acomplete(spec: Spec, token: str, response, status_code) -> None:
    done = await spec.rows.filter(key=spec.key, claim_token=token).aupdate(
        **_completion(response, status_code))
    if not done:
        raise _lost(spec)


async def arelease(spec: Spec, token: str) -> None:
    try:
        await spec.rows.filter(key=spec.key, claim_token=token).adelete()
    except Exception as exc:  # noqa: BLE001 - the block's own error is the one to raise
        log.warning("%s: could not release the claim after the block failed (%s: %s); the key "
                    "stays in progress until claim_timeout elapses or purge_expired() removes it",
                    spec.label(), type(exc).__name__, exc)


def _lost(spec: Spec) -> IdempotencyInProgress:
    return IdempotencyInProgress(
        f"{spec.label()}: this request's claim was taken over (claim_timeout elapsed) or purged "
        "while the block ran; its database writes are rolled back and nothing is stored",
        key=spec.key, model=spec.model)
