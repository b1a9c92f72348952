"""``dorm.contrib.outbox``: the transactional outbox.

Write an event row in the same transaction as the change it describes
(``record_event`` inside ``transaction.atomic()``), and let an ``OutboxRelay`` hand the
committed events to a handler that publishes them (a message broker, a webhook, ...).
The event exists if and only if the change committed.

Delivery guarantee: **at least once**.

* Every committed event is handed to the handler until the handler accepts it
  (returns a truthy value) and that result is committed, or until it has failed
  ``max_attempts`` times (``status = "dead"``; nothing hands it out again).
* An event can be handed out **more than once**. In ``mode="claim"`` (the default)
  this happens when the relay stops between the handler accepting an event and the
  commit of the "mark" transaction (crash, kill, lost database connection): the claim
  expires after ``claim_timeout_s`` and a relay delivers the event again; and when a
  batch takes longer than ``claim_timeout_s``, so another relay claims and delivers
  the same events concurrently. In ``mode="locked"`` it happens when the process dies
  or the connection is lost after the handler accepted events of a batch but before
  that batch's transaction commits: the whole batch is delivered again.
* Two relays never hold the same event at the same time while claims are live: a
  claim is taken with ``SELECT ... FOR UPDATE SKIP LOCKED`` where the backend has it
  and, on every backend, with a conditional ``UPDATE`` that only stamps rows still
  unclaimed.
* Order: best effort by ``created_at`` within one relay; a failing event backs off
  while later events go ahead; no order across relays.
* So consumers must be idempotent: deduplicate on ``event.id`` (a UUID, stable
  across retries), e.g. with an inbox table or ``dorm.contrib.idempotency``.

Retries back off exponentially: after the n-th failure an event waits
``min(backoff_max_s, backoff_base_s * 2 ** (n - 1))`` seconds (``next_attempt_at``).
``purge_published(older_than=...)`` deletes old published rows. See docs/outbox.md.
"""
from __future__ import annotations

from .config import MODES
from .models import DEAD, PENDING, PUBLISHED, STATUSES, OutboxEvent
from .record import arecord_event, record_event, serialize_payload
from .relay import OutboxRelay

__all__ = [
    "DEAD",
    "MODES",
    "PENDING",
    "PUBLISHED",
    "STATUSES",
    "OutboxEvent",
    "OutboxRelay",
    "arecord_event",
    "record_event",
    "serialize_payload",
]
