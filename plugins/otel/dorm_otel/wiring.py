"""Putting the statement tracer into dorm's plugin manager, and taking it out.

Contract:

* ``install(tracer_plugin)`` registers it as the run-time plugin ``PLUGIN_NAME``,
  first removing one installed earlier (so there is never more than one: calling
  ``instrument()`` twice never doubles spans). ``remove()`` unregisters it; calling it
  when nothing is installed is fine. Both are thread-safe.
* Connections: the kernel decides once per connection, when it opens, whether any
  plugin wraps statements (``BaseBackend._hook``). So that ``instrument()`` also
  traces connections that are already open, ``install`` re-composes the hook of every
  backend the connection handler knows (all threads, all event loops) whose hook is
  still ``None``; that change is safe at any moment because a statement reads the
  hook before it decides to call it. ``remove`` re-composes only the backends of the
  calling thread (sync ones, and async ones of the running loop): there the change
  cannot race a statement; elsewhere the hook stays composed and simply runs no
  tracer (a few microseconds per statement) until that connection is reopened.
  PostgreSQL re-composes on its own at each pool checkout.

This module touches kernel internals (``ConnectionHandler._sync_backends``,
``_loops``, ``BaseBackend._hook`` / ``_compose_execute_hook``), each guarded so a
kernel without them degrades to "connections opened from now on". A kernel that
re-composes hooks itself on ``dorm.plugins.on_change`` would make that part
unnecessary.
"""
from __future__ import annotations

import asyncio
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
    """Register ``plugin`` (replacing the tracer installed before) and make the open
    connections compose it."""
    global _installed
    from dorm import plugins

    with _lock:
        _unregister_locked()
        plugins.register(plugin, name=PLUGIN_NAME)
        _installed = plugin
    for backend in _known_backends():
        if getattr(backend, "_hook", False) is None:
            _recompose(backend)


def remove() -> bool:
    """Unregister the installed tracer; return whether one was installed."""
    with _lock:
        removed = _unregister_locked()
    if removed:
        for backend in _own_backends():
            _recompose(backend)
    return removed


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


def _recompose(backend) -> None:
    compose = getattr(backend, "_compose_execute_hook", None)
    if compose is not None and hasattr(backend, "_hook"):
        backend._hook = compose()


def _handler():
    from dorm.db import connections

    return connections


def _known_backends() -> list:
    """Every backend instance the connection handler tracks (all threads, all loops)."""
    handler = _handler()
    lock = getattr(handler, "_lock", None)
    if lock is None:
        return []
    with lock:
        found = list(getattr(handler, "_sync_backends", ()))
        states = list(getattr(handler, "_loops", {}).values())
    for state in states:
        found += _loop_backends(state)
    return found


def _own_backends() -> list:
    """The backends only the calling thread uses: its sync ones and the async ones of
    the event loop running here (if any)."""
    handler = _handler()
    found = list(handler.all(initialized_only=True))
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return found
    state = getattr(handler, "_loops", {}).get(loop)
    return found + (_loop_backends(state) if state is not None else [])


def _loop_backends(state) -> list:
    for _ in range(3):      # another thread may add a backend meanwhile: retry the copy
        try:
            return list(state.backends())
        except RuntimeError:
            continue
    return []
