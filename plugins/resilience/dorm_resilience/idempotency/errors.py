"""Exceptions of ``dorm.contrib.idempotency``.

Each carries ``key`` (the idempotency key), ``model`` (the record model) and an HTTP
``status_code`` an API layer can answer with.
"""
from __future__ import annotations


class IdempotencyError(Exception):
    """Base of the idempotency errors."""

    status_code = 500

    def __init__(self, message: str, *, key: str | None = None, model=None):
        super().__init__(message)
        self.key = key
        self.model = model


class IdempotencyInProgress(IdempotencyError):
    """Another request holds the claim on this key and has not finished: the block did
    not run. Retry later (HTTP 409 Conflict). Also raised at the end of a block whose
    claim was taken over meanwhile (``claim_timeout`` elapsed, or the row was purged);
    the block's database writes are then rolled back."""

    status_code = 409


class IdempotencyKeyMismatch(IdempotencyError, ValueError):
    """The key was first used with a different request fingerprint (HTTP 422
    Unprocessable Entity): the block did not run and nothing was replayed."""

    status_code = 422


class IdempotencyNotStored(IdempotencyError, RuntimeError):
    """A first (non-replay) block ended without ``ctx.store(...)``: nothing was recorded,
    the block's database writes were rolled back and the claim was released."""

    status_code = 500


__all__ = ["IdempotencyError", "IdempotencyInProgress", "IdempotencyKeyMismatch",
           "IdempotencyNotStored"]
