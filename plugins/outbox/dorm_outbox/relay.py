"""``OutboxRelay``: hands pending events to a handler, in batches, until stopped.

The database steps live in ``dorm_outbox.steps``; this module holds the relay's
settings, its loops (``run`` / ``arun``; signals in ``stopsignals``), logging and the
``on_event`` metrics hook.
"""
from __future__ import annotations

import asyncio
import datetime
import inspect
import logging
import os
import socket
import threading
import time
import uuid

from dorm.exceptions import InterfaceError, OperationalError

from . import stopsignals
from .config import RelayConfig, now
from .driver import run_async, run_sync
from .models import check_model
from .steps import BatchResult, Steps

__all__ = ["OutboxRelay"]

logger = logging.getLogger("dorm.contrib.outbox")

#: database errors after which ``run()`` / ``arun()`` wait ``poll_interval_s`` and try
#: again (a restarting server, a dropped connection) instead of stopping
RETRYABLE_ERRORS = (OperationalError, InterfaceError)


class OutboxRelay:
    """Publish the pending events of ``model`` through a handler, at least once.

    ``handler(event)`` (sync, or async with ``adrain_once`` / ``arun``) publishes one
    event and returns a truthy value; a falsy return or an exception is a failure:
    ``attempts += 1``, ``last_error`` set, ``next_attempt_at = now + min(backoff_max_s,
    backoff_base_s * 2 ** (attempts - 1))``, and ``status = "dead"`` once ``attempts >=
    max_attempts``. An accepted event becomes ``"published"`` with ``published_at``.

    Keyword arguments (invalid values raise ``TypeError`` / ``ValueError`` naming the
    argument):

    * ``batch_size`` (≥ 1) – events per batch;
    * ``poll_interval_s`` (> 0) – how long ``run()`` sleeps when there is nothing to do;
    * ``max_attempts`` (≥ 1) – failures before an event is ``"dead"``;
    * ``using`` – the database alias;
    * ``mode`` – ``"claim"`` (default): a short transaction claims the batch, the
      handler runs outside any transaction, a second short transaction records the
      results; ``"locked"``: the reference's behaviour, the handler runs inside the
      transaction that holds the rows' locks;
    * ``backoff_base_s`` (≥ 0), ``backoff_max_s`` (≥ ``backoff_base_s``) – retry delays;
    * ``claim_timeout_s`` (> 0, claim mode) – how long a claim hides its rows from other
      relays; after it, a crashed relay's rows are delivered again. Make it longer than
      the slowest batch: a batch that outlives its claim may be delivered twice;
    * ``on_event(event, outcome)`` – called after the results are committed, once per
      handled event; ``outcome`` is ``"published"``, ``"retry"``, ``"dead"`` or
      ``"claim_lost"`` (the claim expired and another relay took the event over; this
      relay's failure was not recorded). Its exceptions are logged, never raised.

    One relay object runs one loop at a time; run several relays (threads, processes,
    hosts) for throughput. Progress is logged on ``dorm.contrib.outbox`` (INFO per
    non-empty batch).
    """

    def __init__(self, model, *, batch_size=100, poll_interval_s=1.0, max_attempts=5,
                 using="default", mode="claim", backoff_base_s=1.0, backoff_max_s=300.0,
                 on_event=None, claim_timeout_s=60.0):
        self.model = check_model(model, "OutboxRelay")
        self.config = RelayConfig(batch_size=batch_size, poll_interval_s=poll_interval_s,
                                  max_attempts=max_attempts, using=using, mode=mode,
                                  backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
                                  claim_timeout_s=claim_timeout_s)
        if on_event is not None and not callable(on_event):
            raise TypeError(f"OutboxRelay(on_event=...) must be callable, got {on_event!r}")
        self.on_event = on_event
        #: written to ``claimed_by`` (with a per-batch suffix): host, pid, random part
        self.relay_id = f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._steps = Steps(self.model, self.config)
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._wakeups: set = set()       # (loop, asyncio.Event) of running arun() loops
        self._running = False

    def __repr__(self):
        c = self.config
        return (f"<OutboxRelay {self.model.__name__} using={c.using!r} mode={c.mode!r} "
                f"batch_size={c.batch_size}>")

    batch_size = property(lambda self: self.config.batch_size)
    poll_interval_s = property(lambda self: self.config.poll_interval_s)
    max_attempts = property(lambda self: self.config.max_attempts)
    using = property(lambda self: self.config.using)
    mode = property(lambda self: self.config.mode)

    # ---- one batch -----------------------------------------------------------------------
    def _batch(self, handler):
        if self.config.mode == "claim":
            token = f"{self.relay_id}:{uuid.uuid4().hex[:12]}"
            return self._steps.claim_batch(handler, token)
        return self._steps.locked_batch(handler)

    def drain_once(self, handler) -> int:
        """Handle one batch of due events; return how many were published. Must run
        outside ``atomic()``. Database errors propagate."""
        _check_handler(handler, asynchronous=False)
        return self._drain(handler).published

    async def adrain_once(self, handler) -> int:
        """``drain_once`` for coroutines; ``handler`` may be sync or async (a sync one
        runs on the event loop's thread: keep it quick)."""
        _check_handler(handler, asynchronous=True)
        started = time.monotonic()
        result = await run_async(self._batch(handler))
        await self._areport(result, time.monotonic() - started)
        return result.published

    def _log(self, result: BatchResult, elapsed: float) -> None:
        if not result.claimed:
            logger.debug("outbox relay %s: nothing due in %s", self.relay_id, self.model.__name__)
            return
        logger.info("outbox relay %s: %s batch of %d: %d published, %d to retry, %d dead, "
                    "%d claim lost (%.0f ms)", self.relay_id, self.model.__name__, result.claimed,
                    result.published, result.count("retry"), result.count("dead"),
                    result.count("claim_lost"), elapsed * 1000)
        if self.config.mode == "claim" and elapsed > self.config.claim_timeout_s:
            logger.warning("outbox relay %s: the batch took %.1f s, longer than claim_timeout_s="
                           "%s: other relays may have delivered some of its events again",
                           self.relay_id, elapsed, self.config.claim_timeout_s)

    def _report(self, result: BatchResult, elapsed: float) -> None:
        self._log(result, elapsed)
        for event, outcome in result.outcomes:
            value = self._notify(event, outcome)
            if inspect.isawaitable(value):
                if inspect.iscoroutine(value):
                    value.close()
                logger.error("outbox on_event hook %r is async: it only runs with "
                             "adrain_once()/arun()", self.on_event)

    async def _areport(self, result: BatchResult, elapsed: float) -> None:
        self._log(result, elapsed)
        for event, outcome in result.outcomes:
            value = self._notify(event, outcome)
            if inspect.isawaitable(value):
                try:
                    await value
                except Exception:  # noqa: BLE001 - metrics never break the relay
                    logger.exception("outbox on_event hook %r raised", self.on_event)

    def _notify(self, event, outcome):
        if self.on_event is None:
            return None
        try:
            return self.on_event(event, outcome)
        except Exception:  # noqa: BLE001 - metrics never break the relay
            logger.exception("outbox on_event hook %r raised", self.on_event)
            return None

    def _sleeps_after(self, result: BatchResult | None) -> bool:
        """Sleep when nothing was published, or when the batch was not full (every due
        row was taken: the rest are backing off or claimed by other relays)."""
        return result is None or result.published == 0 or result.claimed < self.config.batch_size

    # ---- loops ---------------------------------------------------------------------------
    def _enter_loop(self, what: str) -> None:
        with self._lock:
            if self._running:
                raise RuntimeError(f"{what}: this OutboxRelay is already running a loop")
            self._running = True
        logger.info("outbox relay %s: %s started on %s (database %r, mode %r)", self.relay_id,
                    what, self.model.__name__, self.config.using, self.config.mode)

    def _leave_loop(self, what: str) -> None:
        with self._lock:
            self._running = False
            self._stop.clear()
        logger.info("outbox relay %s: %s stopped", self.relay_id, what)

    def run(self, handler) -> None:
        """Handle batches until ``stop()``: the next batch starts at once while batches
        come back full and something was published, else after ``poll_interval_s``.

        In the main thread, SIGTERM and SIGINT call ``stop()`` (the current batch is
        finished, then ``run()`` returns) and the previous handlers are put back at
        once, so a second signal acts as usual (SIGINT raises ``KeyboardInterrupt``);
        they are restored in any case when ``run()`` returns. A database
        ``OperationalError`` / ``InterfaceError`` is logged and retried after
        ``poll_interval_s``; other exceptions propagate.
        """
        _check_handler(handler, asynchronous=False)
        self._enter_loop("run()")
        previous: dict = {}
        try:
            previous = stopsignals.install(self.stop, self.relay_id)
            while not self._stop.is_set():
                try:
                    result = self._drain(handler)
                except RETRYABLE_ERRORS:
                    logger.exception("outbox relay %s: database error, retrying in %s s",
                                     self.relay_id, self.config.poll_interval_s)
                    result = None
                if self._stop.is_set():
                    break
                if self._sleeps_after(result):
                    self._stop.wait(self.config.poll_interval_s)
        finally:
            stopsignals.restore(previous)
            self._leave_loop("run()")

    def _drain(self, handler) -> BatchResult:
        started = time.monotonic()
        result = run_sync(self._batch(handler))
        self._report(result, time.monotonic() - started)
        return result

    async def arun(self, handler) -> None:
        """``run()`` for coroutines (sync or async handler); no signal handlers are
        installed (use ``loop.add_signal_handler(SIGTERM, relay.stop)``). ``stop()`` may
        be called from any thread; cancelling the task also ends the loop (an
        interrupted batch records what was delivered and releases the rest)."""
        _check_handler(handler, asynchronous=True)
        self._enter_loop("arun()")
        wake = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._wakeups.add(wake)
        try:
            while not self._stop.is_set():
                try:
                    started = time.monotonic()
                    result = await run_async(self._batch(handler))
                    await self._areport(result, time.monotonic() - started)
                except RETRYABLE_ERRORS:
                    logger.exception("outbox relay %s: database error, retrying in %s s",
                                     self.relay_id, self.config.poll_interval_s)
                    result = None
                if self._stop.is_set():
                    break
                if self._sleeps_after(result):
                    try:
                        await asyncio.wait_for(wake[1].wait(), self.config.poll_interval_s)
                    except TimeoutError:
                        pass
        finally:
            with self._lock:
                self._wakeups.discard(wake)
            self._leave_loop("arun()")

    def stop(self) -> None:
        """Ask ``run()`` / ``arun()`` to return after the current batch (thread-safe,
        idempotent; a sleeping loop wakes up at once). Called before the loop starts,
        the loop returns without handling a batch."""
        self._stop.set()
        with self._lock:
            wakeups = list(self._wakeups)
        for loop, event in wakeups:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                pass

    @property
    def stopping(self) -> bool:
        """True between ``stop()`` and the end of the loop."""
        return self._stop.is_set()

    # ---- retention -----------------------------------------------------------------------
    def purge_published(self, older_than: datetime.timedelta, *, chunk_size: int = 1000) -> int:
        """Delete published events whose ``published_at`` is more than ``older_than``
        ago, ``chunk_size`` rows per statement (each its own short transaction, INFO
        log per chunk); return how many were deleted. Pending and dead rows are never
        touched."""
        cutoff = _cutoff(older_than, chunk_size)
        total = 0
        while True:
            deleted = run_sync(self._steps.purge_chunk(cutoff, chunk_size))
            total = self._purged(deleted, total, cutoff)
            if deleted < chunk_size:
                return total

    async def apurge_published(self, older_than: datetime.timedelta, *,
                               chunk_size: int = 1000) -> int:
        """``purge_published`` for coroutines."""
        cutoff = _cutoff(older_than, chunk_size)
        total = 0
        while True:
            deleted = await run_async(self._steps.purge_chunk(cutoff, chunk_size))
            total = self._purged(deleted, total, cutoff)
            if deleted < chunk_size:
                return total

    def _purged(self, deleted: int, total: int, cutoff) -> int:
        total += deleted
        if deleted:
            logger.info("outbox: purged %d published %s events older than %s (%d so far)",
                        deleted, self.model.__name__, cutoff, total)
        return total


def _cutoff(older_than, chunk_size):
    if not isinstance(older_than, datetime.timedelta):
        raise TypeError(f"purge_published(older_than=...) must be a datetime.timedelta, "
                        f"got {older_than!r}")
    if older_than < datetime.timedelta(0):
        raise ValueError(f"purge_published(older_than=...) must not be negative, got {older_than!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"purge_published(chunk_size=...) must be an integer >= 1, got {chunk_size!r}")
    return now() - older_than


def _check_handler(handler, *, asynchronous: bool) -> None:
    if not callable(handler):
        raise TypeError(f"the outbox handler must be callable, got {handler!r}")
    if not asynchronous and inspect.iscoroutinefunction(handler):
        raise TypeError(f"handler {handler.__qualname__} is a coroutine function: use "
                        "adrain_once() / arun()")

