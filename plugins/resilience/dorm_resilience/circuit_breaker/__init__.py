"""Circuit breakers: ``dorm.contrib.circuit_breaker`` (spec features-4.0 §11).

::

    from dorm.contrib.circuit_breaker import circuit_breaker, CircuitOpenError

    breaker = circuit_breaker("payments-db", failure_threshold=5, open_window_s=30.0)
    try:
        with breaker:
            Order.objects.using("payments").filter(...).update(...)
    except CircuitOpenError:
        ...   # failed fast: the breaker is open

Public names:

* ``CircuitState`` (``CLOSED``/``OPEN``/``HALF_OPEN``), ``CircuitBreaker``;
* ``CircuitOpenError`` — the kernel's ``dorm.exceptions.CircuitOpenError`` (the same
  class, so it also catches dorm-sharding's ``ShardUnavailable``); breakers raise its
  subclass ``CircuitBreakerOpen`` carrying ``name``, ``state``, ``failures``,
  ``retry_in`` and ``alias``;
* ``circuit_breaker(name, **options)``, ``get_state(name)``, ``all_states()``,
  ``reset_circuit_breakers()`` — the process-wide registry;
* ``DEFAULT_FAILURE_EXCEPTIONS``;
* ``alias_breaker(alias)``, ``guarded_aliases()``, ``breaker_name(alias)`` — the
  per-alias breakers of ``settings.CIRCUIT_BREAKER``.

Contracts: ``breaker.py`` (state machine), ``registry.py``, ``aliases.py``.
"""
from dorm.exceptions import CircuitOpenError

from .aliases import alias_breaker, breaker_name, guarded_aliases
from .breaker import DEFAULT_FAILURE_EXCEPTIONS, CircuitBreaker, CircuitBreakerOpen, CircuitState
from .registry import all_states, circuit_breaker, get_breaker, get_state, reset_circuit_breakers

__all__ = [
    "DEFAULT_FAILURE_EXCEPTIONS",
    "CircuitBreaker",
    "CircuitBreakerOpen",
    "CircuitOpenError",
    "CircuitState",
    "alias_breaker",
    "all_states",
    "breaker_name",
    "circuit_breaker",
    "get_breaker",
    "get_state",
    "guarded_aliases",
    "reset_circuit_breakers",
]
