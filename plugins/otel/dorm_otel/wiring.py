"""Putting the statement tracer into dorm's plugin manager, and taking it out.

Contract:

* ``install(tracer_plugin)`` registers it as the run-time plugin ``PLUGIN_NAME``,
  first removing one installed earlier (so there is never more than one: calling
  ``instrument()`` twice never doubles spans). ``remove()`` unregisters it; calling it
  when nothing is installed is fine. Both are thread-safe.
* Connections need nothing from here: the kernel recomposes every backend's
  ``dorm_execute`` wrappers after the plugin set changes, so registering or
  unregistering the tracer applies to connections that are already open too.
"""
from __future__ import annotations

import threading

PLUGIN_NAME = "otel-tracing"

_lock = threading.RLock()
_installed = None


def installed():
    """The ``StatementTracer`` currently registered, or ``None``."""
    with _lock:
        plugin = _installed
        if plugin is None:
            return None
        from dorm import plugins

        return plugin if plugins.get_plugin_manager().is_registered(plugin) else None


def install(plugin) -> None:
    """Register ``plugin``, replacing the tracer installed before."""
    global _installed
    from dorm import plugins

    with _lock:
        _unregister_locked()
        plugins.register(plugin, name=PLUGIN_NAME)
        _installed = plugin


def remove() -> bool:
    """Unregister the installed tracer; return whether one was installed."""
    with _lock:
        return _unregister_locked()


def _unregister_locked() -> bool:
    global _installed
    from dorm import plugins

    plugin, _installed = _installed, None
    pm = plugins.get_plugin_manager()
    stale = pm.get_plugin(PLUGIN_NAME)
    removed = False
    for candidate in (plugin, stale):
        if candidate is not None and pm.is_registered(candidate):
            plugins.unregister(candidate)
            removed = True
    return removed
