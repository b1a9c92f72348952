"""The ``dorm`` plugin of dorm-resilience (entry point ``resilience = "dorm_resilience.plugin"``).

* ``dorm_register_modules``: ``dorm.contrib.idempotency`` -> ``dorm_resilience.idempotency``,
  ``dorm.contrib.circuit_breaker`` -> ``dorm_resilience.circuit_breaker``.
* ``dorm_configure``: validates ``settings.CIRCUIT_BREAKER`` and, while it lists an
  alias, registers the statement guard (a ``dorm_execute`` wrapper) as a plugin object.
  Nothing here implements a per-statement hook itself, so installing the plugin without
  ``CIRCUIT_BREAKER`` costs nothing per statement.

Kept import-light: the API modules are imported only when used.
"""
from __future__ import annotations

from dorm.hookspecs import hookimpl


@hookimpl
def dorm_register_modules(register):
    register("dorm.contrib.idempotency", "dorm_resilience.idempotency")
    register("dorm.contrib.circuit_breaker", "dorm_resilience.circuit_breaker")


@hookimpl
def dorm_configure(settings):
    from dorm_resilience.circuit_breaker import aliases

    aliases.subscribe(settings)
    aliases.sync(settings)
