"""Per-shard circuit breakers.

One ``ShardBreaker`` per shard alias, created on first use with the thresholds of
``settings.SHARDING["BREAKER"]``::

    SHARDING = {"BREAKER": {
        "failure_threshold": 5,      # consecutive connection failures that open it
        "open_window_s": 30.0,       # how long it stays open before one probe
        "probe_timeout_s": None,     # a probe whose outcome is never seen is forgotten
                                     # after this many seconds (default: open_window_s)
        "classifier": None,          # callable(exc) -> bool, or "dotted.path"
        "on_state_change": None,     # callable(alias, old_state, new_state), or "dotted.path"
    }}

``"BREAKER": False`` turns breakers off.

State machine (per shard)::

    CLOSED --failure_threshold consecutive failures--> OPEN
    OPEN   --open_window_s elapsed--> HALF_OPEN
    HALF_OPEN: exactly one caller (the probe) goes through, every other caller fails fast
        probe succeeds --> CLOSED (counter reset)     probe fails --> OPEN (timer restarted)

Only *connection-class* errors count (``is_connection_error``): a lost or refused
connection, a pool that could not hand one out, a timeout while connecting.
``IntegrityError``, ``DoesNotExist``, a locked SQLite file, a syntax error do not.

Where it is wired (see ``docs/sharding.md``):

* the **gate** (``check``): in ``HashShardRouter`` when it picks a shard, in the
  fan-out helpers before they touch a shard, and in a ``dorm_execute`` wrapper for
  statements that reach a shard some other way (``instance.save()`` uses the
  instance's ``_state.db``; ``qs.using("shard_2")``). The router gate matters most:
  it fails *before* a connection is opened or checked out of a pool, which is where a
  dead server costs seconds.
* the **outcomes**: statement results in the ``dorm_execute`` wrapper (success closes a
  half-open breaker; connection errors count), errors escaping a ``with_shard_key``
  block or a fan-out call (they include failures to *open* a connection, which happen
  before any statement hook runs). An exception is counted once.
"""
from __future__ import annotations

import contextvars
import enum
import importlib
import inspect
import itertools
import logging
import threading
import time

from dorm.exceptions import CircuitOpenError, ImproperlyConfigured, InterfaceError, OperationalError
from dorm.hookspecs import hookimpl

from .exceptions import ShardUnavailable

log = logging.getLogger("dorm.sharding")

#: The clock of new breakers (tests may replace it).
clock = time.monotonic

DEFAULTS = {"failure_threshold": 5, "open_window_s": 30.0, "probe_timeout_s": None,
            "classifier": None, "on_state_change": None}

# PostgreSQL SQLSTATEs that mean "the server or the connection is gone":
# class 08 (connection exception), admin/crash shutdown, cannot connect now, too many
# connections.
_PG_DOWN_STATES = ("57P01", "57P02", "57P03", "53300")
_NOT_DOWN_TEXT = ("database is locked", "database table is locked", "database schema is locked")


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def is_connection_error(exc: BaseException) -> bool:
    """The default failure classifier: True for errors that say "this database cannot
    be reached", False for everything else (constraint violations, missing rows,
    bad SQL, lock contention, an open breaker)."""
    if isinstance(exc, CircuitOpenError):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        cause = exc.__cause__
        state = getattr(cause, "sqlstate", None)
        if state:
            return state.startswith("08") or state in _PG_DOWN_STATES
        text = str(exc).lower()
        return not any(part in text for part in _NOT_DOWN_TEXT)
    return False


# ---- configuration ---------------------------------------------------------------------------
def _resolve_callable(value, name: str):
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        module_name, _, attr = value.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ImproperlyConfigured(f'SHARDING["BREAKER"]["{name}"]: cannot import {value!r}: {exc}') from exc
    raise ImproperlyConfigured(
        f'SHARDING["BREAKER"]["{name}"] must be a callable or a dotted path, got {type(value).__name__}')


class BreakerConfig:
    __slots__ = ("classifier", "enabled", "failure_threshold", "on_state_change", "open_window_s",
                 "probe_timeout_s")

    def __init__(self, enabled=True, failure_threshold=5, open_window_s=30.0, probe_timeout_s=None,
                 classifier=None, on_state_change=None):
        self.enabled = enabled
        self.failure_threshold = failure_threshold
        self.open_window_s = open_window_s
        self.probe_timeout_s = probe_timeout_s if probe_timeout_s is not None else open_window_s
        self.classifier = classifier or is_connection_error
        self.on_state_change = on_state_change

    @classmethod
    def from_settings(cls) -> BreakerConfig:
        try:
            from dorm.conf import settings

            sharding = getattr(settings, "SHARDING", None) if settings.configured else None
        except ImproperlyConfigured:
            sharding = None
        if sharding is None:
            return cls()
        if not isinstance(sharding, dict):
            raise ImproperlyConfigured(f"settings.SHARDING must be a dict, got {type(sharding).__name__}")
        raw = sharding.get("BREAKER", {})
        if raw is None or raw is False:
            return cls(enabled=False)
        if raw is True:
            raw = {}
        if not isinstance(raw, dict):
            raise ImproperlyConfigured(
                f'SHARDING["BREAKER"] must be a dict of thresholds or False, got {type(raw).__name__}')
        unknown = set(raw) - set(DEFAULTS) - {"enabled"}
        if unknown:
            raise ImproperlyConfigured(
                f'SHARDING["BREAKER"] has unknown key(s) {", ".join(sorted(map(repr, unknown)))}; '
                f'known: {", ".join(sorted([*DEFAULTS, "enabled"]))}')
        values = {**DEFAULTS, **raw}
        threshold = values["failure_threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ImproperlyConfigured(
                f'SHARDING["BREAKER"]["failure_threshold"] must be an int >= 1, got {threshold!r}')
        for name in ("open_window_s", "probe_timeout_s"):
            value = values[name]
            if value is None and name == "probe_timeout_s":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ImproperlyConfigured(f'SHARDING["BREAKER"]["{name}"] must be a number > 0, got {value!r}')
        return cls(enabled=bool(values.get("enabled", True)), failure_threshold=threshold,
                   open_window_s=float(values["open_window_s"]),
                   probe_timeout_s=None if values["probe_timeout_s"] is None else float(values["probe_timeout_s"]),
                   classifier=_resolve_callable(values["classifier"], "classifier"),
                   on_state_change=_resolve_callable(values["on_state_change"], "on_state_change"))


# ---- the breaker -------------------------------------------------------------------------------
#: probes granted to the current context: frozenset of (alias, probe id)
_probes: contextvars.ContextVar[frozenset] = contextvars.ContextVar("dorm_shard_probes", default=frozenset())
_probe_ids = itertools.count(1)


class ShardBreaker:
    """The circuit breaker of one shard alias (thread-safe). See the module docstring."""

    def __init__(self, alias: str, *, failure_threshold: int = 5, open_window_s: float = 30.0,
                 probe_timeout_s: float | None = None, classifier=None, on_state_change=None, clock=None):
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if open_window_s <= 0:
            raise ValueError(f"open_window_s must be > 0, got {open_window_s}")
        self.alias = alias
        self.failure_threshold = failure_threshold
        self.open_window_s = float(open_window_s)
        self.probe_timeout_s = float(probe_timeout_s) if probe_timeout_s else self.open_window_s
        self.classifier = classifier or is_connection_error
        self.on_state_change = on_state_change
        self._clock = clock or globals()["clock"]
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._last_error: str | None = None
        self._probe: int | None = None
        self._probe_deadline = 0.0

    # ---- reading ------------------------------------------------------------------------------
    @property
    def state(self) -> CircuitState:
        """The state; an OPEN breaker whose window elapsed reads as HALF_OPEN."""
        state = self._state
        if state is OPEN and self._clock() - self._opened_at >= self.open_window_s:
            return HALF_OPEN
        return state

    @property
    def failures(self) -> int:
        return self._failures

    def snapshot(self) -> dict:
        state = self.state
        retry_in = 0.0
        if state is OPEN:
            retry_in = max(0.0, self.open_window_s - (self._clock() - self._opened_at))
        return {"alias": self.alias, "state": state.value, "failures": self._failures,
                "opened_at": self._opened_at, "retry_in": round(retry_in, 3), "last_error": self._last_error}

    # ---- the gate ----------------------------------------------------------------------------
    def check(self) -> None:
        """Let the call through, or raise ``ShardUnavailable`` (fail fast).

        In HALF_OPEN the first caller becomes the probe (the grant is remembered in
        its context, so its later statements pass too); the others fail fast until
        the probe's outcome is known or ``probe_timeout_s`` passed."""
        if self._state is CLOSED:
            return
        changed = None
        with self._lock:
            now = self._clock()
            if self._state is OPEN:
                left = self.open_window_s - (now - self._opened_at)
                if left > 0:
                    raise self._error("open", left)
                changed = self._set_state(HALF_OPEN)
                self._probe = None
            if self._state is HALF_OPEN:
                if self._probe is not None and now < self._probe_deadline:
                    if (self.alias, self._probe) not in _probes.get():
                        raise self._error("half_open", 0.0)
                else:
                    self._probe = next(_probe_ids)
                    self._probe_deadline = now + self.probe_timeout_s
                    _probes.set(_probes.get() | {(self.alias, self._probe)})
                    log.info("shard %r: circuit half-open, letting one probe through", self.alias)
        self._notify(changed)

    def allow(self) -> bool:
        """``check()`` as a boolean."""
        try:
            self.check()
        except ShardUnavailable:
            return False
        return True

    # ---- outcomes ----------------------------------------------------------------------------
    def record_success(self) -> None:
        if self._state is CLOSED and not self._failures:
            return
        with self._lock:
            self._failures = 0
            self._probe = None
            changed = self._set_state(CLOSED) if self._state is not CLOSED else None
            if changed:
                self._opened_at = None
        self._notify(changed)

    def record_failure(self, exc: BaseException | None = None) -> bool:
        """Count ``exc`` if the classifier says it is a connection failure; returns
        whether it counted."""
        if exc is not None and not self.classifier(exc):
            return False
        changed = None
        with self._lock:
            now = self._clock()
            self._failures += 1
            if exc is not None:
                self._last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            state = self._state
            if state is OPEN and now - self._opened_at >= self.open_window_s:
                state = HALF_OPEN
            if state is HALF_OPEN:
                self._opened_at, self._probe = now, None
                changed = self._set_state(OPEN)
                if changed is None:   # HALF_OPEN seen only through the clock: restart the window
                    changed = (OPEN, OPEN)
            elif state is CLOSED and self._failures >= self.failure_threshold:
                self._opened_at = now
                changed = self._set_state(OPEN)
        if changed is not None and changed[1] is OPEN:
            log.warning("shard %r: circuit open after %d consecutive connection failure(s) (%s); "
                        "failing fast for %.1f s", self.alias, self._failures, self._last_error,
                        self.open_window_s)
        if changed is not None and changed[0] is not changed[1]:
            self._notify(changed)
        return True

    def reset(self) -> None:
        with self._lock:
            changed = self._set_state(CLOSED) if self._state is not CLOSED else None
            self._failures, self._opened_at, self._probe, self._last_error = 0, None, None, None
        self._notify(changed)

    # ---- internals ---------------------------------------------------------------------------
    def _set_state(self, new):
        old = self._state
        if old is new:
            return None
        self._state = new
        return (old, new)

    def _notify(self, changed) -> None:
        if not changed or changed[0] is changed[1]:
            return
        old, new = changed
        if new is CLOSED:
            log.warning("shard %r: circuit closed (the shard answers again)", self.alias)
        callback = self.on_state_change
        if callback is not None:
            try:
                callback(self.alias, old.value, new.value)
            except Exception:
                log.exception("SHARDING breaker on_state_change callback failed")

    def _error(self, state: str, retry_in: float) -> ShardUnavailable:
        last = f" (last error: {self._last_error})" if self._last_error else ""
        if state == "open":
            message = (f"shard {self.alias!r} is unavailable: its circuit breaker opened after "
                       f"{self._failures} consecutive connection failure(s){last}; failing fast "
                       f"without contacting it, next probe in {retry_in:.1f} s")
        else:
            message = (f"shard {self.alias!r} is unavailable: its circuit breaker is half-open and "
                       f"one probe request is checking whether the shard is back{last}; failing fast")
        return ShardUnavailable(message, alias=self.alias, state=state, failures=self._failures,
                                retry_in=max(0.0, retry_in))

    def __repr__(self) -> str:
        return f"<ShardBreaker {self.alias!r} {self.state.value} failures={self._failures}>"


# ---- the registry -------------------------------------------------------------------------------
_lock = threading.Lock()
_breakers: dict[str, ShardBreaker] = {}
_managed: set[str] = set()
_config: BreakerConfig | None = None
_subscribed = False


def _settings_changed(changed) -> None:
    global _config
    if changed and ("SHARDING" in changed or "DATABASES" in changed):
        with _lock:
            _config = None
            _breakers.clear()


def config() -> BreakerConfig:
    global _config, _subscribed
    cfg = _config
    if cfg is None:
        with _lock:
            if not _subscribed:
                _subscribed = True
                from dorm.conf import settings

                settings.on_change(_settings_changed)
            cfg = _config = BreakerConfig.from_settings()
    return cfg


def manage(aliases) -> None:
    """Breakers are kept for these aliases (called by every ``HashShardRouter``)."""
    with _lock:
        _managed.update(aliases)


def managed_aliases() -> set[str]:
    return set(_managed)


def get_breaker(alias: str) -> ShardBreaker | None:
    """The breaker of shard ``alias`` (created on first use), or ``None`` when breakers
    are disabled or ``alias`` is not a shard of any ``HashShardRouter``."""
    breaker = _breakers.get(alias)
    if breaker is not None:
        return breaker
    if alias not in _managed:
        return None
    cfg = config()
    if not cfg.enabled:
        return None
    with _lock:
        breaker = _breakers.get(alias)
        if breaker is None:
            breaker = _breakers[alias] = ShardBreaker(
                alias, failure_threshold=cfg.failure_threshold, open_window_s=cfg.open_window_s,
                probe_timeout_s=cfg.probe_timeout_s, classifier=cfg.classifier,
                on_state_change=cfg.on_state_change)
        return breaker


def check(alias: str) -> None:
    """The gate for ``alias`` (no-op for non-shard aliases and disabled breakers)."""
    breaker = _breakers.get(alias)
    if breaker is None:
        if alias not in _managed:
            return
        breaker = get_breaker(alias)
        if breaker is None:
            return
    breaker.check()


def record_success(alias: str) -> None:
    breaker = _breakers.get(alias)
    if breaker is not None:
        breaker.record_success()


def _find_alias(exc: BaseException):
    seen = 0
    while exc is not None and seen < 5:
        alias = getattr(exc, "alias", None)
        if isinstance(alias, str):
            return exc, alias
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None, None


def observe_exception(exc: BaseException, alias: str | None = None) -> None:
    """Report an error that escaped a shard operation (counted once per exception)."""
    if getattr(exc, "_dorm_breaker_seen", False):
        return
    if alias is None:
        exc, alias = _find_alias(exc)
        if alias is None:
            return
    breaker = get_breaker(alias)
    if breaker is None:
        return
    try:
        exc._dorm_breaker_seen = True
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        pass
    breaker.record_failure(exc)


def breaker_states() -> dict[str, dict]:
    """``{alias: {"state", "failures", "opened_at", "retry_in", "last_error"}}`` for every
    shard alias known to a router (``"closed"`` for breakers not created yet)."""
    out = {}
    for alias in sorted(_managed):
        breaker = _breakers.get(alias)
        out[alias] = breaker.snapshot() if breaker is not None else {
            "alias": alias, "state": "closed", "failures": 0, "opened_at": None, "retry_in": 0.0,
            "last_error": None}
    return out


def reset_breakers() -> None:
    """Close every breaker and forget its counters."""
    with _lock:
        breakers = list(_breakers.values())
    for breaker in breakers:
        breaker.reset()


# ---- the dorm_execute wrapper ---------------------------------------------------------------------
async def _await_guarded(awaitable, breaker: ShardBreaker):
    try:
        result = await awaitable
    except BaseException as exc:
        observe_exception(exc, breaker.alias)
        raise
    breaker.record_success()
    return result


class ExecuteGuard:
    """A plugin object (registered on first use of a shard router) wrapping every
    statement of a shard alias: gate before, outcome after."""

    @hookimpl(wrapper=True)
    def dorm_execute(self, backend, sql, params, many):
        alias = backend.alias
        if alias not in _managed:
            return (yield)
        breaker = get_breaker(alias)
        if breaker is None:
            return (yield)
        breaker.check()
        try:
            result = yield
        except BaseException as exc:
            observe_exception(exc, alias)
            raise
        if inspect.isawaitable(result):
            return _await_guarded(result, breaker)
        breaker.record_success()
        return result


GUARD = ExecuteGuard()
GUARD_NAME = "dorm-sharding-breaker"
_guard_pm = None


def ensure_guard() -> None:
    """Register the ``dorm_execute`` wrapper once per plugin manager (cheap afterwards)."""
    global _guard_pm
    from dorm import plugins

    pm = plugins.get_plugin_manager()
    if pm is _guard_pm:
        return
    if not config().enabled:
        return
    with _lock:
        if pm is _guard_pm:
            return
        registered = pm.is_registered(GUARD)
    if not registered:
        plugins.register(GUARD, name=GUARD_NAME)
    _guard_pm = pm


def remove_guard() -> None:
    """Unregister the ``dorm_execute`` wrapper (no shard router is configured any more)."""
    global _guard_pm
    from dorm import plugins

    pm = plugins.get_plugin_manager()
    with _lock:
        registered = pm.is_registered(GUARD)
        _guard_pm = None
    if registered:
        plugins.unregister(GUARD)


__all__ = [
    "CircuitState",
    "ExecuteGuard",
    "ShardBreaker",
    "breaker_states",
    "check",
    "config",
    "ensure_guard",
    "get_breaker",
    "is_connection_error",
    "manage",
    "observe_exception",
    "record_success",
    "remove_guard",
    "reset_breakers",
]
