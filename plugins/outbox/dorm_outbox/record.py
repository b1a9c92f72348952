"""Writing events: ``record_event`` / ``arecord_event``, and ``serialize_payload``."""
from __future__ import annotations

import json
import logging

from dorm.db import connections, router

from .models import check_model

__all__ = ["arecord_event", "record_event", "serialize_payload"]

logger = logging.getLogger("dorm.contrib.outbox")


def serialize_payload(payload) -> str:
    """Deterministic JSON text of ``payload``: keys sorted, no spaces (``","`` and
    ``":"``), non-JSON values through ``str()`` (datetimes, decimals, UUIDs). The same
    payload always gives the same string, so it can be hashed or compared."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def _build(model, event_type, payload, using, what):
    check_model(model, what)
    field = model._meta.get_field("event_type")
    limit = getattr(field, "max_length", None)
    if not isinstance(event_type, str) or not event_type.strip():
        raise ValueError(f"{what}({model.__name__}, event_type=...): event_type must be a non-empty "
                         f"string, got {event_type!r}")
    if limit is not None and len(event_type) > limit:
        raise ValueError(f"{what}({model.__name__}, event_type=...): event_type is {len(event_type)} "
                         f"characters, {model.__name__}.event_type allows at most {limit}")
    if payload is None:
        payload = {}
    encoder = getattr(model._meta.get_field("payload"), "encoder", None)
    try:
        json.dumps(payload, cls=encoder)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what}({model.__name__}, {event_type!r}): the payload must be JSON-"
                        f"serializable ({exc}); convert the values first (e.g. "
                        "json.loads(serialize_payload(payload))) or give the payload field an "
                        "encoder") from None
    if using is not None and (not isinstance(using, str) or not using):
        raise TypeError(f"{what}(using=...) must be a database alias, got {using!r}")
    event = model(event_type=event_type, payload=payload)
    alias = using or router.db_for_write(model, instance=event)
    return event, alias


def _warn_outside_transaction(model, event_type, alias, what) -> None:
    logger.warning(
        "%s(%s, %r) on database %r outside a transaction: the event is committed on its own, "
        "not atomically with the change it describes; wrap both in %s(%r)",
        what, model.__name__, event_type, alias,
        "transaction.atomic" if what == "record_event" else "transaction.aatomic", alias)


def record_event(model, event_type, payload=None, *, using=None):
    """Insert one pending event (``model(event_type=..., payload=...).save()``) and
    return it.

    Call it inside the ``transaction.atomic()`` block that makes the change the event
    describes: both commit together or neither does. Outside a transaction on that
    alias the event is still saved, and a WARNING is logged on ``dorm.contrib.outbox``.

    ``model`` – a concrete subclass of ``OutboxEvent``; ``event_type`` – a non-empty
    string within the field's ``max_length``; ``payload`` – a JSON-serializable value
    (``None`` → ``{}``); ``using`` – the database alias (default: the router's write
    alias for ``model``). Bad arguments raise ``TypeError``/``ValueError`` before
    anything is written.
    """
    event, alias = _build(model, event_type, payload, using, "record_event")
    if not connections[alias].in_atomic_block:
        _warn_outside_transaction(model, event_type, alias, "record_event")
    event.save(using=alias, force_insert=True)
    return event


async def arecord_event(model, event_type, payload=None, *, using=None):
    """``record_event`` for coroutines: joins the task's ``aatomic()`` block on that
    alias; the WARNING is logged when the task has none."""
    event, alias = _build(model, event_type, payload, using, "arecord_event")
    if not (await connections.aget(alias)).in_atomic_block:
        _warn_outside_transaction(model, event_type, alias, "arecord_event")
    await event.asave(using=alias, force_insert=True)
    return event
