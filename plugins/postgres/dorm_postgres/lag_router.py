"""``dorm.contrib.lag_router``: send reads to PostgreSQL replicas that are caught up.

``LagAwareReadRouter(replicas=[...])`` goes in ``settings.DATABASE_ROUTERS``. Reads go to
a random *healthy* replica, writes always to ``primary``; when no replica is healthy,
reads go to the primary (logged once per change as a WARNING on ``dorm.contrib.lag_router``).

Health of a replica is its replication lag, measured on the replica and cached for
``cache_seconds``:

* the replica has replayed everything it received (``pg_last_wal_receive_lsn() =
  pg_last_wal_replay_lsn()``) → lag 0. This is what keeps replicas of an *idle*
  primary healthy: their last replay timestamp stops moving, but nothing is missing;
* else ``now() - pg_last_xact_replay_timestamp()`` in seconds;
* not in recovery (a primary), or an alias of another backend → 0 (always healthy);
* the probe fails (server down, timeout) → unhealthy.

``lag <= max_lag_seconds`` is healthy. After ``failure_threshold`` consecutive unhealthy
probes the replica is skipped *without probing* for ``cooldown_seconds`` (0 disables this).

Probes never block an event loop: ``db_for_read`` called from a thread that runs an
asyncio loop uses the last known state and refreshes a stale one in a worker thread; a
replica not probed yet counts as unhealthy there (reads go to the primary until the
first probe answers). ``await router.arefresh()`` probes every replica on the loop's own
async connections, e.g. at start-up.

``with router.pinned():`` keeps every read inside the block (a request) on one replica
while it stays healthy, so a request never sees two replicas at different points.
Read-after-write stickiness is the kernel's (``READ_AFTER_WRITE_WINDOW``): after a write
the model is read from the primary for that window.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger("dorm.contrib.lag_router")

LAG_SQL = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0.0 "
    "WHEN pg_last_wal_receive_lsn() IS NOT NULL "
    "AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())), 0.0)::float8 "
    "END"
)

_pins: contextvars.ContextVar[dict | None] = contextvars.ContextVar("dorm_lag_router_pins",
                                                                    default=None)
_probe_pool: ThreadPoolExecutor | None = None
_probe_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _probe_pool
    with _probe_pool_lock:
        if _probe_pool is None:
            _probe_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dorm-lag-probe")
        return _probe_pool


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _ReplicaState:
    __slots__ = ("lag", "healthy", "checked_at", "failures", "open_until", "probing")

    def __init__(self):
        self.lag = None          # seconds, None until probed or after a failed probe
        self.healthy = False
        self.checked_at = None   # clock() of the last probe, None = never
        self.failures = 0        # consecutive unhealthy probes
        self.open_until = None   # breaker: skip without probing until clock() >= this
        self.probing = False


class LagAwareReadRouter:
    """Read from caught-up replicas, write to the primary (see the module docstring)."""

    def __init__(self, *, primary="default", replicas, max_lag_seconds=2.0, cache_seconds=5.0,
                 failure_threshold=3, cooldown_seconds=30.0, rng=None, clock=time.monotonic):
        replicas = list(replicas or ())
        if not replicas:
            raise ValueError("LagAwareReadRouter needs at least one replica alias (replicas=[...])")
        for alias in [primary, *replicas]:
            if not isinstance(alias, str) or not alias:
                raise ValueError(f"LagAwareReadRouter: database aliases are non-empty strings, got {alias!r}")
        if primary in replicas:
            raise ValueError(f"LagAwareReadRouter: the primary {primary!r} cannot also be a replica")
        if len(set(replicas)) != len(replicas):
            raise ValueError(f"LagAwareReadRouter: replicas listed twice in {replicas!r}")
        if not max_lag_seconds > 0:
            raise ValueError(f"max_lag_seconds must be > 0, got {max_lag_seconds!r}")
        if not cache_seconds > 0:
            raise ValueError(f"cache_seconds must be > 0, got {cache_seconds!r}")
        if not (isinstance(failure_threshold, int) and failure_threshold >= 1):
            raise ValueError(f"failure_threshold must be an integer >= 1, got {failure_threshold!r}")
        if not cooldown_seconds >= 0:
            raise ValueError(f"cooldown_seconds must be >= 0, got {cooldown_seconds!r}")
        self.primary = primary
        self.replicas = replicas
        self.max_lag_seconds = float(max_lag_seconds)
        self.cache_seconds = float(cache_seconds)
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = float(cooldown_seconds)
        self._rng = rng or random.Random()
        self._clock = clock
        self._lock = threading.Lock()
        self._states = {alias: _ReplicaState() for alias in replicas}
        self._warned_no_replica = False

    # ---- router API -----------------------------------------------------------------------
    def db_for_read(self, model, **hints):
        pins = _pins.get()
        if pins is not None:
            alias = pins.get(id(self))
            if alias is not None and alias != self.primary and self._is_healthy(alias):
                return alias
        healthy = [alias for alias in self.replicas if self._is_healthy(alias)]
        if healthy:
            self._warned_no_replica = False
            alias = healthy[0] if len(healthy) == 1 else self._rng.choice(healthy)
        else:
            if not self._warned_no_replica:
                self._warned_no_replica = True
                logger.warning("no healthy replica among %s (max lag %.1fs): reading from %r",
                               ", ".join(self.replicas), self.max_lag_seconds, self.primary)
            alias = self.primary
        if pins is not None:
            pins[id(self)] = alias
        return alias

    def db_for_write(self, model, **hints):
        return self.primary

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == self.primary

    # ---- pinning ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def pinned(self):
        """Reads inside the block use one replica (re-chosen only if it turns unhealthy)."""
        outer = _pins.get()
        token = _pins.set(dict(outer) if outer else {})
        try:
            yield self
        finally:
            _pins.reset(token)

    # ---- health -----------------------------------------------------------------------------
    def _is_healthy(self, alias) -> bool:
        state = self._states[alias]
        now = self._clock()
        if state.open_until is not None:
            if now < state.open_until:
                return False
            state.open_until = None  # cooldown over: probe again
            state.checked_at = None
        if state.checked_at is not None and now - state.checked_at < self.cache_seconds:
            return state.healthy
        if _in_event_loop():
            self._refresh_in_background(alias)
            return state.healthy if state.checked_at is not None else False
        self.probe(alias)
        return state.healthy

    def _refresh_in_background(self, alias) -> None:
        state = self._states[alias]
        with self._lock:
            if state.probing:
                return
            state.probing = True
        _pool().submit(self.probe, alias)

    def probe(self, alias) -> bool:
        """Measure ``alias`` now (blocking) and record the result; returns its health."""
        state = self._states[alias]
        try:
            lag = float(self._measure_lag(alias))
        except Exception as exc:  # noqa: BLE001 - any failure means "not usable now"
            logger.warning("replica %r lag probe failed: %s: %s", alias, type(exc).__name__, exc)
            lag = None
        self._record(alias, lag)
        state.probing = False
        return state.healthy

    async def arefresh(self) -> dict:
        """Probe every replica now on async connections; returns ``snapshot()``."""
        lags = await asyncio.gather(*(self._ameasure_lag(a) for a in self.replicas),
                                    return_exceptions=True)
        for alias, lag in zip(self.replicas, lags):
            if isinstance(lag, BaseException):
                logger.warning("replica %r lag probe failed: %s: %s", alias, type(lag).__name__, lag)
                lag = None
            self._record(alias, lag)
        return self.snapshot()

    def _record(self, alias, lag) -> None:
        state = self._states[alias]
        with self._lock:
            state.checked_at = self._clock()
            state.lag = lag
            state.healthy = lag is not None and lag <= self.max_lag_seconds
            if state.healthy:
                state.failures = 0
                return
            state.failures += 1
            if self.cooldown_seconds > 0 and state.failures >= self.failure_threshold:
                state.open_until = state.checked_at + self.cooldown_seconds
                logger.warning("replica %r skipped for %.0fs after %d unhealthy probes (lag: %s)",
                               alias, self.cooldown_seconds, state.failures,
                               "probe failed" if lag is None else f"{lag:.1f}s")

    def _measure_lag(self, alias) -> float:
        """Replication lag of ``alias`` in seconds (raises when the server cannot answer)."""
        from dorm.db import connections

        from .backend import PostgresBackend

        conn = connections[alias]
        if not isinstance(conn, PostgresBackend):
            return 0.0
        return conn.execute(LAG_SQL, [])[0][0]

    async def _ameasure_lag(self, alias) -> float:
        from dorm.db import connections

        from .backend import PostgresBackend

        conn = await connections.aget(alias)
        if not isinstance(conn, PostgresBackend):
            return 0.0
        return (await conn.aexecute(LAG_SQL, []))[0][0]

    # ---- inspection -------------------------------------------------------------------------
    def snapshot(self) -> dict:
        now = self._clock()
        with self._lock:
            return {alias: {"lag_seconds": s.lag, "healthy": s.healthy, "checked_at": s.checked_at,
                            "consecutive_failures": s.failures,
                            "breaker_open": s.open_until is not None and now < s.open_until}
                    for alias, s in self._states.items()}

    def reset(self) -> None:
        """Forget every measurement (the next read probes again)."""
        with self._lock:
            self._states = {alias: _ReplicaState() for alias in self.replicas}
            self._warned_no_replica = False


__all__ = ["LAG_SQL", "LagAwareReadRouter"]
