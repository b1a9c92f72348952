"""The abstract ``OutboxEvent`` model and the checks every public function applies to
the model it is given.

Subclass ``OutboxEvent`` with a concrete table (``Meta.app_label``, optionally
``Meta.db_table``) and run ``dorm makemigrations``: the abstract class ships no
migration. Every concrete subclass gets, besides the fields below, one composite index
``(status, created_at)`` that serves the relay's poll (``WHERE status = 'pending' ...
ORDER BY created_at LIMIT n``): the database reads pending rows in order and stops
after a batch, whatever the size of the published history.
"""
from __future__ import annotations

import uuid

from dorm.fields import (
    CharField,
    DateTimeField,
    IntegerField,
    JSONField,
    TextField,
    UUIDField,
)
from dorm.models import Model
from dorm.models.indexes import Index

__all__ = ["DEAD", "PENDING", "PUBLISHED", "STATUSES", "OutboxEvent", "check_model", "prepare"]

PENDING = "pending"
PUBLISHED = "published"
DEAD = "dead"
#: every value of ``OutboxEvent.status``
STATUSES = (PENDING, PUBLISHED, DEAD)

#: the fields of the index added to every concrete subclass (see module docstring)
POLL_INDEX_FIELDS = ["status", "created_at"]


class OutboxEvent(Model):
    """One event to publish, written in the same transaction as the change it describes.

    Fields of the reference (same names, types and defaults):

    * ``id`` – ``UUIDField(primary_key=True, default=uuid4)``
    * ``event_type`` – ``CharField(max_length=128)``
    * ``payload`` – ``JSONField(default=dict)``
    * ``status`` – ``CharField(max_length=16, default="pending", db_index=True)``:
      ``"pending"`` until the handler accepts it, then ``"published"``; ``"dead"`` after
      ``max_attempts`` failures (the relay never touches a dead row again)
    * ``created_at`` – ``DateTimeField(auto_now_add=True)``; relays hand events out in
      this order (best effort, see ``dorm.contrib.outbox``)
    * ``published_at`` – ``DateTimeField(null=True)``
    * ``last_error`` – ``TextField(null=True)``: ``"<ExceptionType>: message"`` (at most
      1024 characters) or ``"handler returned <value>"`` for a falsy result
    * ``attempts`` – ``IntegerField(default=0)``: failed deliveries so far

    Added by dorm-outbox (retries and claims):

    * ``next_attempt_at`` – ``DateTimeField(null=True)``: a pending row is not handed
      out before this time (exponential backoff after a failure); ``NULL`` = now
    * ``claimed_by`` / ``claimed_until`` – which relay claimed the row for delivery
      (``mode="claim"``) and until when; a claim that has expired (the relay crashed)
      no longer hides the row from other relays
    """

    PENDING = PENDING
    PUBLISHED = PUBLISHED
    DEAD = DEAD

    id = UUIDField(primary_key=True, default=uuid.uuid4)
    event_type = CharField(max_length=128)
    payload = JSONField(default=dict)
    status = CharField(max_length=16, default=PENDING, db_index=True)
    created_at = DateTimeField(auto_now_add=True)
    published_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True, blank=True)
    claimed_by = CharField(max_length=64, null=True, blank=True)
    claimed_until = DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.event_type} {self.pk} ({self.status})"


def prepare(model) -> None:
    """Give a concrete subclass of ``OutboxEvent`` its poll index (called from the
    ``dorm_model_prepared`` hook). Does nothing for other models, for the abstract
    class itself, for proxies, and when ``Meta.indexes`` already has an index on the
    same fields."""
    if not (isinstance(model, type) and issubclass(model, OutboxEvent)):
        return
    opts = model._meta
    if opts.abstract or opts.proxy:
        return
    if any(list(getattr(idx, "fields", ())) == POLL_INDEX_FIELDS for idx in opts.indexes):
        return
    index = Index(fields=list(POLL_INDEX_FIELDS))
    index.set_name_with_model(model)
    opts.indexes = [*opts.indexes, index]


def check_model(model, what: str):
    """Return ``model`` if it is a concrete subclass of ``OutboxEvent``, else raise
    ``TypeError`` naming ``what`` (the function or class that received it)."""
    if isinstance(model, type) and issubclass(model, OutboxEvent) and not model._meta.abstract:
        return model
    if isinstance(model, type) and issubclass(model, OutboxEvent):
        raise TypeError(f"{what}: {model.__name__} is abstract; pass a concrete subclass of "
                        "OutboxEvent (one with a table)")
    shown = model.__name__ if isinstance(model, type) else repr(model)
    raise TypeError(f"{what}: the model must be a concrete subclass of "
                    f"dorm.contrib.outbox.OutboxEvent, got {shown}")
