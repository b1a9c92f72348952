"""The process-wide registry of named circuit breakers.

* ``circuit_breaker(name, **options)`` returns the breaker called ``name``, creating it
  on first use with ``options``; later calls return the same object and ignore their
  options (a differing option is logged as a WARNING, never applied silently later).
* ``get_state(name)`` -> ``{"state", "failures", "opened_at"}`` with the OPEN ->
  HALF_OPEN promotion applied; ``{"state": "unknown", "failures": 0, "opened_at": None}``
  for a name never registered.
* ``reset_circuit_breakers()`` closes every registered breaker and empties the
  registry (references held elsewhere keep working, closed, but are no longer
  registered).

The per-alias breakers of ``settings.CIRCUIT_BREAKER`` live here too, named
``"db:<alias>"`` (see ``aliases.py``).
"""
from __future__ import annotations

import logging
import threading

from .breaker import DEFAULT_FAILURE_EXCEPTIONS, CircuitBreaker

log = logging.getLogger("dorm.circuit_breaker")

_lock = threading.Lock()
_breakers: dict[str, CircuitBreaker] = {}
_UNSET = object()


def circuit_breaker(name: str, *, failure_threshold=_UNSET, open_window_s=_UNSET, clock=_UNSET,
                    half_open_max_calls=_UNSET, failure_exceptions=_UNSET,
                    on_state_change=_UNSET) -> CircuitBreaker:
    """The registered breaker ``name`` (created with these options on first use).

    Defaults are those of ``CircuitBreaker``: ``failure_threshold=5``,
    ``open_window_s=30.0``, ``clock=time.monotonic``, ``half_open_max_calls=1``,
    ``failure_exceptions=DEFAULT_FAILURE_EXCEPTIONS``, ``on_state_change=None``.
    """
    given = {k: v for k, v in {
        "failure_threshold": failure_threshold, "open_window_s": open_window_s, "clock": clock,
        "half_open_max_calls": half_open_max_calls, "failure_exceptions": failure_exceptions,
        "on_state_change": on_state_change}.items() if v is not _UNSET}
    breaker = _breakers.get(name)
    if breaker is None:
        with _lock:
            breaker = _breakers.get(name)
            if breaker is None:
                breaker = _breakers[name] = CircuitBreaker(name, **given)
                return breaker
    _warn_ignored(breaker, given)
    return breaker


def _warn_ignored(breaker: CircuitBreaker, given: dict) -> None:
    current = {"failure_threshold": breaker.failure_threshold, "open_window_s": breaker.open_window_s,
               "clock": breaker._clock, "half_open_max_calls": breaker.half_open_max_calls,
               "failure_exceptions": breaker.failure_exceptions,
               "on_state_change": breaker.on_state_change}
    differing = sorted(k for k, v in given.items() if current[k] != v)
    if differing:
        log.warning("circuit_breaker(%r): ignoring %s: the breaker already exists with %s (options "
                    "only apply on first creation; reset_circuit_breakers() forgets it)",
                    breaker.name, ", ".join(f"{k}={given[k]!r}" for k in differing),
                    ", ".join(f"{k}={current[k]!r}" for k in differing))


def get_breaker(name: str) -> CircuitBreaker | None:
    """The registered breaker ``name``, or ``None`` (never creates one)."""
    return _breakers.get(name)


def get_state(name: str) -> dict:
    """``{"state", "failures", "opened_at"}`` of breaker ``name`` (``"unknown"`` state
    when no breaker has that name). ``state`` is the string value of ``CircuitState``,
    promoted from ``"open"`` to ``"half_open"`` once the window elapsed; ``opened_at``
    is the breaker clock's reading when it opened."""
    breaker = _breakers.get(name)
    if breaker is None:
        return {"state": "unknown", "failures": 0, "opened_at": None}
    return breaker.snapshot()


def all_states() -> dict[str, dict]:
    """``get_state`` of every registered breaker, by name."""
    with _lock:
        breakers = sorted(_breakers.items())
    return {name: breaker.snapshot() for name, breaker in breakers}


def reset_circuit_breakers() -> None:
    """Close every registered breaker and empty the registry."""
    with _lock:
        breakers = list(_breakers.values())
        _breakers.clear()
    for breaker in breakers:
        breaker.reset()


def _forget(names) -> None:
    """Drop these breakers from the registry (their configuration changed)."""
    with _lock:
        for name in names:
            _breakers.pop(name, None)


__all__ = ["DEFAULT_FAILURE_EXCEPTIONS", "all_states", "circuit_breaker", "get_breaker", "get_state",
           "reset_circuit_breakers"]
