"""One circuit breaker: the state machine, thread-safe.

State machine::

    CLOSED    --failure_threshold consecutive failures-->  OPEN
    OPEN      --open_window_s elapsed (seen lazily)----->  HALF_OPEN
    HALF_OPEN --a probe succeeds-->  CLOSED (counter reset)
    HALF_OPEN --a failure---------->  OPEN (window restarted)

Contract:

* Only exceptions that are instances of ``failure_exceptions`` count as failures
  (default: ``OperationalError``, ``InterfaceError``, ``TimeoutError``,
  ``ConnectionError``, ``OSError``: the database cannot be reached or does not answer
  in time). A ``CircuitOpenError`` (from this or any other breaker) never counts,
  whatever ``failure_exceptions`` says. Any other exception is *neutral*: it neither
  counts nor resets the consecutive-failure counter (``DoesNotExist``,
  ``ValidationError``, ``IntegrityError`` say nothing about the database's health).
  ``asyncio.CancelledError`` is neutral too.
* In HALF_OPEN at most ``half_open_max_calls`` calls (the probes) are let through at
  a time; everyone else fails fast. A probe whose outcome is never reported (a
  ``allow()`` without ``record_*``, a thread killed mid-call) frees its slot after
  ``open_window_s``, so a breaker can never stay stuck half-open.
* Only a probe's success (or an explicit ``record_success()``) closes a half-open
  breaker; the late success of a call admitted before the breaker opened changes
  nothing, nor does a success reported while it is OPEN. Any failure while HALF_OPEN
  reopens it.
* ``state`` performs the lazy OPEN -> HALF_OPEN promotion (and calls
  ``on_state_change`` for it): reading the state never reports a stale OPEN.
* ``on_state_change(name, old, new)`` receives ``CircuitState`` members; it runs
  outside the breaker's lock, and its exceptions are logged, never raised.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import itertools
import logging
import numbers
import threading
import time
from collections import deque

from dorm.exceptions import CircuitOpenError, InterfaceError, OperationalError

log = logging.getLogger("dorm.circuit_breaker")

#: What counts as a failure by default: the database is unreachable or too slow.
DEFAULT_FAILURE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, TimeoutError, ConnectionError, OSError)


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class CircuitBreakerOpen(CircuitOpenError):
    """A call was refused by an open (or busy half-open) circuit breaker; nothing ran.

    A ``dorm.exceptions.CircuitOpenError`` (so a ``DatabaseError``). Attributes:
    ``name`` (the breaker), ``state`` (``"open"`` or ``"half_open"``), ``failures``
    (the consecutive failures counted), ``retry_in`` (seconds until a probe is allowed;
    0.0 when probes are already in flight), ``alias`` (the database alias for the
    per-alias statement guard, else ``None``).
    """

    def __init__(self, message: str, *, name: str, state: str, failures: int, retry_in: float,
                 alias: str | None = None):
        super().__init__(message)
        self.name = name
        self.state = state
        self.failures = failures
        self.retry_in = retry_in
        self.alias = alias
        self.vendor = None
        self.sql = None


#: outcome kinds of one call
SUCCESS, FAILURE, NEUTRAL = "success", "failure", "neutral"

_probe_ids = itertools.count(1)


def _check_number(name: str, value, *, minimum, strict: bool, integer: bool):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real):
        kind = "an int" if integer else "a number"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")
    if value < minimum or (strict and value == minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return value


def _check_exceptions(value) -> tuple[type[BaseException], ...]:
    if isinstance(value, type):
        value = (value,)
    if not isinstance(value, tuple) or not value or not all(
            isinstance(c, type) and issubclass(c, BaseException) for c in value):
        raise TypeError("failure_exceptions must be an exception class or a non-empty tuple of "
                        f"exception classes, got {value!r}")
    return value


class _Call:
    """The admission of one call: ``probe`` is its half-open slot id, else ``None``;
    ``manual`` marks an outcome reported by hand (``record_*`` without ``allow()``)."""

    __slots__ = ("manual", "probe")

    def __init__(self, probe, manual=False):
        self.probe = probe
        self.manual = manual


class CircuitBreaker:
    """A named circuit breaker (see the module docstring for the contract).

    ``CircuitBreaker(name, *, failure_threshold=5, open_window_s=30.0,
    clock=time.monotonic, half_open_max_calls=1, failure_exceptions=DEFAULT_FAILURE_EXCEPTIONS,
    on_state_change=None)``; ``failure_threshold < 1``, ``open_window_s <= 0`` or
    ``half_open_max_calls < 1`` raise ``ValueError``.

    Use it as ``with breaker: ...``, ``async with breaker.aprotect(): ...``, or by hand:
    ``if breaker.allow(): ... breaker.record_success() / record_failure()``.
    """

    def __init__(self, name: str, *, failure_threshold: int = 5, open_window_s: float = 30.0,
                 clock=time.monotonic, half_open_max_calls: int = 1,
                 failure_exceptions=DEFAULT_FAILURE_EXCEPTIONS, on_state_change=None):
        if not isinstance(name, str) or not name:
            raise ValueError(f"circuit breaker name must be a non-empty string, got {name!r}")
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        if on_state_change is not None and not callable(on_state_change):
            raise TypeError(f"on_state_change must be callable(name, old, new) or None, got {on_state_change!r}")
        self.name = name
        self.failure_threshold = _check_number("failure_threshold", failure_threshold, minimum=1,
                                               strict=False, integer=True)
        self.open_window_s = float(_check_number("open_window_s", open_window_s, minimum=0,
                                                 strict=True, integer=False))
        self.half_open_max_calls = _check_number("half_open_max_calls", half_open_max_calls,
                                                 minimum=1, strict=False, integer=True)
        self.failure_exceptions = _check_exceptions(failure_exceptions)
        self.on_state_change = on_state_change
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._probes: dict[int, float] = {}          # probe id -> deadline
        self._manual: deque[_Call] = deque()         # admissions of allow() awaiting record_*
        self._calls: contextvars.ContextVar[tuple] = contextvars.ContextVar(
            f"dorm_circuit_breaker_{id(self)}", default=())

    # ---- reading ---------------------------------------------------------------------------
    @property
    def state(self) -> CircuitState:
        """The current state; an OPEN breaker whose window elapsed becomes HALF_OPEN."""
        with self._lock:
            changed = self._promote(self._clock())
            state = self._state
        self._notify(changed)
        return state

    @property
    def failures(self) -> int:
        """Consecutive failures counted since the last success or reset."""
        return self._failures

    @property
    def opened_at(self) -> float | None:
        """The clock reading when the breaker last opened (``None`` while closed)."""
        return self._opened_at

    def snapshot(self) -> dict:
        """``{"state", "failures", "opened_at"}`` (state as its string value, promoted)."""
        state = self.state
        return {"state": state.value, "failures": self._failures, "opened_at": self._opened_at}

    def is_failure(self, exc: BaseException) -> bool:
        """Would ``exc`` count as a failure?"""
        if isinstance(exc, (CircuitOpenError, asyncio.CancelledError)):
            return False
        return isinstance(exc, self.failure_exceptions)

    # ---- manual API ------------------------------------------------------------------------
    def allow(self) -> bool:
        """May a call go through now? In HALF_OPEN a ``True`` takes a probe slot: report
        the outcome with ``record_success()`` / ``record_failure()``."""
        call = self._admit()
        if not isinstance(call, _Call):
            return False
        if call.probe is not None:
            with self._lock:
                self._manual.append(call)
        return True

    def record_success(self) -> None:
        """A call succeeded: CLOSED resets the counter, HALF_OPEN closes, OPEN ignores it
        (a late success). Pairs with the oldest ``allow()`` still waiting for an outcome."""
        self._finish(self._pop_manual(), SUCCESS)

    def record_failure(self) -> None:
        """A call failed: counts towards ``failure_threshold``; reopens a HALF_OPEN breaker."""
        self._finish(self._pop_manual(), FAILURE)

    def reset(self) -> None:
        """Back to CLOSED with no failures and no probes."""
        with self._lock:
            changed = self._set(CLOSED)
            self._failures, self._opened_at = 0, None
            self._probes.clear()
            self._manual.clear()
        self._notify(changed)

    # ---- context managers -------------------------------------------------------------------
    def __enter__(self):
        call = self.admit_or_raise()
        self._calls.set((*self._calls.get(), call))
        return self

    def __exit__(self, exc_type, exc, tb):
        calls = self._calls.get()
        call = calls[-1] if calls else _Call(None)
        self._calls.set(calls[:-1])
        self.finish(call, exc)
        return False

    @contextlib.asynccontextmanager
    async def aprotect(self):
        """``async with breaker.aprotect():`` – like ``with breaker:``;
        ``asyncio.CancelledError`` is not counted."""
        call = self.admit_or_raise()
        try:
            yield self
        except BaseException as exc:
            self.finish(call, exc)
            raise
        self.finish(call, None)

    # ---- admission and outcome (used by the context managers and the alias guard) ----------
    def admit_or_raise(self, *, alias: str | None = None) -> _Call:
        """Admit one call or raise ``CircuitBreakerOpen``; pass the result to ``finish``."""
        call = self._admit()
        if not isinstance(call, _Call):
            raise self._refusal(alias, *call)
        return call

    def finish(self, call: _Call, exc: BaseException | None) -> None:
        """Report the outcome of an admitted call (``exc=None`` for success)."""
        if exc is None:
            self._finish(call, SUCCESS)
        else:
            self._finish(call, FAILURE if self.is_failure(exc) else NEUTRAL)

    # ---- internals ---------------------------------------------------------------------------
    def _admit(self):
        """A ``_Call`` when admitted, else the refusal ``(state, failures, retry_in)``
        read under the same lock hold."""
        if self._state is CLOSED:                     # fast path, no lock
            return _Call(None)
        with self._lock:
            now = self._clock()
            changed = self._promote(now)
            state = self._state
            if state is CLOSED:
                result = _Call(None)
            elif state is OPEN:
                result = (state, self._failures, max(0.0, self.open_window_s - (now - self._opened_at)))
            else:
                for probe, deadline in list(self._probes.items()):
                    if deadline <= now:               # a probe never reported: forget it
                        del self._probes[probe]
                if len(self._probes) < self.half_open_max_calls:
                    probe = next(_probe_ids)
                    self._probes[probe] = now + self.open_window_s
                    result = _Call(probe)
                else:
                    result = (state, self._failures, 0.0)
        self._notify(changed)
        return result

    def _pop_manual(self) -> _Call:
        with self._lock:
            call = self._manual.popleft() if self._manual else _Call(None)
        call.manual = True
        return call

    def _finish(self, call: _Call, outcome: str) -> None:
        opened = False
        with self._lock:
            now = self._clock()
            changed = self._promote(now)
            live_probe = call.probe is not None and self._probes.pop(call.probe, None) is not None
            state = self._state
            if outcome == SUCCESS:
                if state is CLOSED:
                    self._failures = 0
                elif state is HALF_OPEN and (live_probe or call.manual):
                    changed = self._merge(changed, self._set(CLOSED))
                    self._failures, self._opened_at = 0, None
                    self._probes.clear()
                    self._manual.clear()
            elif outcome == FAILURE:
                self._failures += 1
                if state is HALF_OPEN or (state is CLOSED and self._failures >= self.failure_threshold):
                    changed = self._merge(changed, self._set(OPEN))
                    self._opened_at = now
                    self._probes.clear()
                    self._manual.clear()
                    opened = True
        if opened:
            log.warning("circuit breaker %r opened after %d consecutive failure(s); failing fast "
                        "for %.1f s", self.name, self._failures, self.open_window_s)
        self._notify(changed)

    def _promote(self, now: float):
        if self._state is OPEN and now - self._opened_at >= self.open_window_s:
            self._probes.clear()
            self._manual.clear()
            return self._set(HALF_OPEN)
        return None

    def _set(self, new: CircuitState):
        old = self._state
        if old is new:
            return None
        self._state = new
        return (old, new)

    @staticmethod
    def _merge(first, second):
        if first is None:
            return second
        if second is None:
            return first
        return [first, second]

    def _notify(self, changed) -> None:
        if changed is None:
            return
        for old, new in (changed if isinstance(changed, list) else [changed]):
            if new is CLOSED:
                log.info("circuit breaker %r closed", self.name)
            callback = self.on_state_change
            if callback is not None:
                try:
                    callback(self.name, old, new)
                except Exception:  # noqa: BLE001 - a metrics callback must not break calls
                    log.exception("on_state_change callback of circuit breaker %r failed", self.name)

    def _refusal(self, alias: str | None, state: CircuitState, failures: int,
                 retry_in: float) -> CircuitBreakerOpen:
        where = f"database alias {alias!r}: " if alias is not None else ""
        if state is OPEN:
            message = (f"{where}circuit breaker {self.name!r} is open after {failures} consecutive "
                       f"failure(s); failing fast without running the call, next probe allowed in "
                       f"{retry_in:.1f} s")
        else:
            message = (f"{where}circuit breaker {self.name!r} is half-open and its "
                       f"{self.half_open_max_calls} probe call(s) are in flight; failing fast")
        return CircuitBreakerOpen(message, name=self.name, state=state.value, failures=failures,
                                  retry_in=retry_in, alias=alias)

    def __repr__(self) -> str:
        return (f"<CircuitBreaker {self.name!r} {self._state.value} failures={self._failures} "
                f"threshold={self.failure_threshold} window={self.open_window_s:g}s>")
