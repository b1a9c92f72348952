"""``purge_expired`` / ``apurge_expired``: delete old idempotency rows.

A row is old when its ``created_at`` (the claim time) is more than
``older_than_seconds`` ago, whatever its status: completed responses and claims
abandoned by a crashed process alike. Run it from a periodic job with a value at
least as large as the ``ttl`` you replay with (and larger than your slowest block,
or a block still running loses its claim and is rolled back).
"""
from __future__ import annotations

import datetime

from .spec import check_alias, check_model, check_seconds, now


def _old_rows(model, older_than_seconds, using):
    model = check_model(model)
    using = check_alias(using)
    seconds = check_seconds("older_than_seconds", older_than_seconds, allow_zero=True)
    if seconds is None:
        raise TypeError("older_than_seconds is required (a number of seconds or a timedelta)")
    cutoff = now() - datetime.timedelta(seconds=seconds)
    return model._meta.base_manager().using(using).filter(created_at__lt=cutoff)


def purge_expired(model, *, older_than_seconds, using="default") -> int:
    """Delete the rows of ``model`` created more than ``older_than_seconds`` ago (a
    number or ``timedelta``, >= 0) on ``using``; returns how many were deleted."""
    return _old_rows(model, older_than_seconds, using).delete()[0]


async def apurge_expired(model, *, older_than_seconds, using="default") -> int:
    """``purge_expired`` for coroutines."""
    return (await _old_rows(model, older_than_seconds, using).adelete())[0]
