"""dorm's plugin system: a pluggy manager, the registry built from the registration
hooks, and import paths provided by plugins.

Public API (everything else in this package is internal):

* ``get_plugin_manager()`` – the pluggy ``PluginManager`` (loads plugins on first call);
  ``hook`` is a shortcut for ``get_plugin_manager().hook``.
* ``get_registry()`` – a ``Registry`` (``backends``, ``field_types``, ``lookups``,
  ``expressions``, ``operations``, ``modules``, ``provided_by(plugin)``).
* ``has_impl(hook_name)`` – does any plugin implement a hook.
* ``register(obj, name=None)`` / ``unregister(obj_or_name)`` / ``registered(obj)`` –
  run-time registration (tests); ``reload()`` – rediscover from scratch;
  ``isolated()`` – a ``with`` block with fresh plugin state, restored afterwards.
* ``on_change(callback)`` – called whenever the registry is invalidated.
* ``resolve_backend(engine)`` – the backend class for an ``ENGINE`` value.
* ``plugin_infos()`` – per-plugin summaries for ``dorm plugins``.
* ``missing(name)`` – the ``PluginNotInstalled`` for a documented plugin-provided
  ``dorm.<name>``, else ``None``.

Importing this package is cheap: it loads no plugin, it only installs the import
hook for plugin-provided module paths (``import dorm.tree``).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import modules as _modules
from .info import PluginInfo, collect_commands, plugin_infos
from .manager import (
    PluginRecord,
    get_plugin_manager,
    get_registry,
    has_impl,
    hooks_of,
    isolated,
    on_change,
    records,
    register,
    reload,
    resolve_backend,
    unregister,
)
from .missing import KNOWN_ATTRIBUTES, KNOWN_ENGINES, KNOWN_MODULES, missing, missing_module
from .registry import BackendRegistration, LookupRegistration, Registry

_modules.install()


@contextlib.contextmanager
def registered(obj: Any, name: str | None = None) -> Iterator[str]:
    """Register ``obj`` for the duration of a ``with`` block (a test fixture helper)."""
    plugin_name = register(obj, name)
    try:
        yield plugin_name
    finally:
        unregister(plugin_name)


def __getattr__(name: str):
    if name == "hook":
        return get_plugin_manager().hook
    raise AttributeError(f"module 'dorm.plugins' has no attribute {name!r}")


__all__ = [
    "KNOWN_ATTRIBUTES",
    "KNOWN_ENGINES",
    "KNOWN_MODULES",
    "BackendRegistration",
    "LookupRegistration",
    "PluginInfo",
    "PluginRecord",
    "Registry",
    "collect_commands",
    "get_plugin_manager",
    "get_registry",
    "has_impl",
    "hooks_of",
    "isolated",
    "missing",
    "missing_module",
    "on_change",
    "plugin_infos",
    "records",
    "register",
    "registered",
    "reload",
    "resolve_backend",
    "unregister",
]
