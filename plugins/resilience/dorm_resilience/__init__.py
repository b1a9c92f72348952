"""dorm-resilience: idempotency keys and circuit breakers for dorm.

Import the APIs through their documented paths:

* ``dorm.contrib.idempotency`` (module ``dorm_resilience.idempotency``);
* ``dorm.contrib.circuit_breaker`` (module ``dorm_resilience.circuit_breaker``).

See ``docs/resilience.md``.
"""
__version__ = "0.1.0"
