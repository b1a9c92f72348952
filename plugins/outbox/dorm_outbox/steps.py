"""The relay's database steps, written once as generators (see ``dorm_outbox.driver``).

* ``claim`` – one short transaction: select due rows (``FOR UPDATE SKIP LOCKED`` where
  the backend has it), then stamp them ``claimed_by = <token>``, ``claimed_until = now
  + claim_timeout_s``. The stamp is a conditional ``UPDATE`` that repeats the due
  check, so even on a backend without row locks two relays never both claim a row:
  the relay keeps only the rows its update matched.
* ``deliver`` – calls the handler for each claimed row, outside any transaction.
* ``mark`` – one short transaction recording the results: accepted rows become
  ``published``; failed rows get ``attempts + 1``, ``last_error``, ``next_attempt_at``
  (backoff) and ``dead`` at ``max_attempts``. A failure is recorded only while the row
  is still claimed by this batch's token (else another relay took it over after the
  claim expired: outcome ``"claim_lost"``).
* ``locked_batch`` – the reference's mode: select, deliver and mark in one transaction
  holding the row locks.
* ``purge_chunk`` – delete one chunk of old published rows.

"Due" means ``status = 'pending'`` and ``next_attempt_at`` NULL or past and
``claimed_until`` NULL or past.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

from dorm.query.where import Q

from .config import RelayConfig, error_text, falsy_text, now
from .driver import AsyncHandlerError
from .models import DEAD, PENDING, PUBLISHED

__all__ = ["BatchResult", "Steps"]

logger = logging.getLogger("dorm.contrib.outbox")

#: ``on_event`` outcomes
PUBLISHED_OUTCOME, RETRY, DEAD_OUTCOME, CLAIM_LOST = "published", "retry", "dead", "claim_lost"


@dataclass
class BatchResult:
    """What one batch did. ``outcomes`` pairs each handled event (its fields updated
    in memory as recorded) with ``"published"``, ``"retry"``, ``"dead"`` or
    ``"claim_lost"``."""

    claimed: int = 0
    outcomes: list = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for _event, o in self.outcomes if o == outcome)

    @property
    def published(self) -> int:
        return self.count(PUBLISHED_OUTCOME)


def _due(at) -> Q:
    return (Q(status=PENDING)
            & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=at))
            & (Q(claimed_until__isnull=True) | Q(claimed_until__lte=at)))


def _lock(qs, features):
    """Row locks as far as the backend offers them (asked from its feature flags)."""
    if features.supports_select_for_update_skip_locked:
        return qs.select_for_update(skip_locked=True)
    if features.supports_select_for_update:
        return qs.select_for_update()
    return qs


class Steps:
    """The steps for one model, alias and configuration."""

    def __init__(self, model, config: RelayConfig):
        self.model = model
        self.config = config
        self.alias = config.using

    def _rows(self):
        return self.model._meta.base_manager().using(self.alias)

    def _select_due(self, at):
        features = yield ("features", self.alias)
        qs = _lock(self._rows().filter(_due(at)).order_by("created_at", "pk"), features)
        return (yield ("fetch", qs[: self.config.batch_size]))

    # ---- claim mode ----------------------------------------------------------------------
    def claim(self, token: str):
        """Claim up to ``batch_size`` due rows for ``token``; return them."""
        at = now()
        until = at + datetime.timedelta(seconds=self.config.claim_timeout_s)

        def body():
            rows = yield from self._select_due(at)
            if not rows:
                return []
            ids = [r.pk for r in rows]
            matched = yield ("update", self._rows().filter(_due(at), pk__in=ids),
                             {"claimed_by": token, "claimed_until": until})
            if matched != len(rows):   # another relay got some first (no row locks here)
                mine = set((yield ("fetch", self._rows().filter(pk__in=ids, claimed_by=token)
                                   .values_list("pk", flat=True))))
                rows = [r for r in rows if r.pk in mine]
            return rows

        rows = yield ("atomic", self.alias, body())
        for row in rows:
            row.claimed_by, row.claimed_until = token, until
        return rows

    def deliver(self, handler, rows, results: list):
        """Call ``handler`` for each row, appending ``(row, error_or_None)`` to
        ``results`` (a list owned by the caller, so it survives an interruption). An
        ``Exception`` from the handler is the row's failure; ``AsyncHandlerError`` and
        ``BaseException`` (``KeyboardInterrupt``, cancellation) propagate."""
        for row in rows:
            try:
                result = yield ("call", handler, row)
            except AsyncHandlerError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on the row
                logger.warning("outbox event %s (%s) failed: %s", row.pk, row.event_type,
                               error_text(exc), exc_info=logger.isEnabledFor(logging.DEBUG))
                results.append((row, error_text(exc)))
            else:
                if not result:
                    logger.warning("outbox event %s (%s) not accepted: handler returned %r",
                                   row.pk, row.event_type, result)
                results.append((row, None if result else falsy_text(result)))

    def mark(self, results, token, release=()):
        """Record ``results`` in one transaction (see module docstring); release the
        claims of ``release`` (rows never handed to the handler). Return the outcomes."""
        return (yield ("atomic", self.alias, self._mark_body(results, token, release)))

    def _mark_body(self, results, token, release=()):
        at = now()
        outcomes = []
        ok = [row for row, error in results if error is None]
        if ok:
            done = {"status": PUBLISHED, "published_at": at, "last_error": None,
                    "next_attempt_at": None, "claimed_by": None, "claimed_until": None}
            yield ("update", self._rows().filter(pk__in=[r.pk for r in ok], status=PENDING), done)
            for row in ok:
                _apply(row, done)
                outcomes.append((row, PUBLISHED_OUTCOME))
        for row, error in results:
            if error is None:
                continue
            attempts = row.attempts + 1
            dead = attempts >= self.config.max_attempts
            values = {"attempts": attempts, "last_error": error, "status": DEAD if dead else PENDING,
                      "next_attempt_at": at + self.config.retry_delay(attempts),
                      "claimed_by": None, "claimed_until": None}
            fence = self._rows().filter(pk=row.pk, status=PENDING, attempts=row.attempts)
            if token is not None:
                fence = fence.filter(claimed_by=token)
            if (yield ("update", fence, values)):
                _apply(row, values)
                outcomes.append((row, DEAD_OUTCOME if dead else RETRY))
            else:
                outcomes.append((row, CLAIM_LOST))
        if release:
            yield ("update", self._rows().filter(pk__in=[r.pk for r in release], claimed_by=token,
                                                 status=PENDING),
                   {"claimed_by": None, "claimed_until": None})
        return outcomes

    def claim_batch(self, handler, token: str):
        """claim → deliver (no transaction open) → mark; a ``BatchResult``."""
        rows = yield from self.claim(token)
        results: list = []
        try:
            yield from self.deliver(handler, rows, results)
        except GeneratorExit:
            raise
        except BaseException:
            # interrupted (KeyboardInterrupt, task cancelled): keep what was delivered,
            # hand the rest back at once instead of waiting for the claim to expire
            handled = {id(row) for row, _error in results}
            rest = [row for row in rows if id(row) not in handled]
            try:
                yield from self.mark(results, token, release=rest)
            except Exception:  # noqa: BLE001 - the interruption is what propagates
                logger.exception("outbox: could not record the results of an interrupted batch")
            raise
        outcomes = yield from self.mark(results, token)
        return BatchResult(claimed=len(rows), outcomes=outcomes)

    # ---- locked mode ---------------------------------------------------------------------
    def locked_batch(self, handler):
        """The reference's mode: select (locked), deliver and mark in one transaction."""

        def body():
            rows = yield from self._select_due(now())
            results: list = []
            yield from self.deliver(handler, rows, results)
            outcomes = yield from self._mark_body(results, None)
            return BatchResult(claimed=len(rows), outcomes=outcomes)

        return (yield ("atomic", self.alias, body()))

    # ---- retention -----------------------------------------------------------------------
    def purge_chunk(self, cutoff, chunk_size: int):
        """Delete up to ``chunk_size`` rows published before ``cutoff``; return how many."""
        old = (self._rows().filter(status=PUBLISHED, published_at__lt=cutoff)
               .order_by("published_at").values_list("pk", flat=True))
        ids = yield ("fetch", old[:chunk_size])
        if not ids:
            return 0
        deleted, _per_model = yield ("delete", self._rows().filter(pk__in=list(ids)))
        return deleted


def _apply(row, values: dict) -> None:
    for name, value in values.items():
        setattr(row, name, value)
