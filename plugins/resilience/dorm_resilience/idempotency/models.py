"""The abstract ``IdempotencyRecord`` model.

The reference's four fields keep their names and types (``key``, ``response``,
``status_code``, ``created_at``); four more carry the claim protocol:

* ``status`` – ``"in_progress"`` while a request holds the claim, ``"completed"`` once
  its response is stored;
* ``fingerprint`` – SHA-256 (hex) of the request fingerprint given with the key, or
  ``NULL`` when none was given;
* ``claim_token`` – a random token identifying the claim: only its holder can
  complete or release the row, even after a takeover;
* ``completed_at`` – when the response was stored (``NULL`` while in progress).

``created_at`` (the claim time) drives ``ttl=``, ``claim_timeout=`` and
``purge_expired``; it is indexed for the purge job.

Subclass it in an app (``class ApiIdempotency(IdempotencyRecord): class Meta:
app_label = "api"``) and create its table (``dorm makemigrations`` / ``migrate``).
"""
from __future__ import annotations

from dorm.fields import CharField, DateTimeField, IntegerField, JSONField
from dorm.models import Model

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
STATUS_CHOICES = [(IN_PROGRESS, "in progress"), (COMPLETED, "completed")]


class IdempotencyRecord(Model):
    """One row per idempotency key (abstract: subclass it). See the module docstring."""

    key = CharField(max_length=200, unique=True)
    response = JSONField(default=dict)
    status_code = IntegerField(null=True)
    created_at = DateTimeField(auto_now_add=True, db_index=True)
    status = CharField(max_length=16, choices=STATUS_CHOICES, default=IN_PROGRESS)
    fingerprint = CharField(max_length=64, null=True)
    claim_token = CharField(max_length=32)
    completed_at = DateTimeField(null=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


__all__ = ["COMPLETED", "IN_PROGRESS", "IdempotencyRecord"]
