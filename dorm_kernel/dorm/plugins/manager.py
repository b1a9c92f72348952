"""The plugin manager: discovery, failure isolation, run-time registration.

Loading happens lazily, once, on the first call of ``get_plugin_manager()`` (or of
anything that needs it): ``import dorm`` imports no plugin.

Load order:

1. ``dorm.builtin_plugin`` as plugin ``"dorm"`` (the kernel is plugin zero; a failure
   here is a kernel bug and always raises);
2. unless ``DORM_DISABLE_PLUGIN_AUTOLOAD=1``, every entry point of group ``dorm``
   sorted by name, each inside its own ``try``: a plugin that fails to import or to
   validate is recorded (name, distribution, version, error) and never stops the
   others; ``DORM_RAISE_PLUGIN_ERRORS=1`` re-raises instead.
   ``settings.PLUGINS`` (when configured) or else ``DORM_PLUGINS`` is an allow-list of
   entry-point names; ``DORM_DISABLED_PLUGINS`` a block-list (it wins);
3. plugins registered at run time with ``register(obj)``.

Env lists are separated by commas or whitespace.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from dorm import hookspecs
from dorm.exceptions import ImproperlyConfigured, PluginNotInstalled

from .registry import REGISTRATION_HOOKS, PluginRegistrations, Registry

BUILTIN_NAME = "dorm"
BUILTIN_MODULE = "dorm.builtin_plugin"
ENTRY_POINT_GROUP = "dorm"

SOURCE_BUILTIN = "built-in"
SOURCE_ENTRY_POINT = "entry point"
SOURCE_RUNTIME = "registered at run time"


@dataclass
class PluginRecord:
    """What the manager knows about one plugin, loaded or not.

    ``status`` is ``"loaded"``, ``"failed"`` (``error`` holds ``"Type: message"``,
    ``exception`` the exception) or ``"disabled"`` (``error`` says by what).
    """

    name: str
    source: str
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"
    error: str | None = None
    exception: BaseException | None = None
    plugin: Any = None
    value: str | None = None  # entry point value "package.module"
    warnings: list[str] = field(default_factory=list)


_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_loading: pluggy.PluginManager | None = None
_records: dict[str, PluginRecord] = {}
_registry: Registry | None = None
_building = False
_busy_thread: int | None = None  # the thread loading plugins or building the registry
_change_callbacks: list[Callable[[], None]] = []


# ---- environment -------------------------------------------------------------------
def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    return {item.lower() for item in re.split(r"[,\s]+", raw) if item}


def raise_plugin_errors() -> bool:
    """True when ``DORM_RAISE_PLUGIN_ERRORS`` asks to re-raise plugin failures."""
    return _env_flag("DORM_RAISE_PLUGIN_ERRORS")


def _allow_list() -> tuple[set[str] | None, str]:
    conf = sys.modules.get("dorm.conf")
    if conf is not None and conf.settings.configured:
        allowed = conf.settings.explicit_value("PLUGINS")
        if allowed is not None:
            if isinstance(allowed, str):
                allowed = re.split(r"[,\s]+", allowed)
            return {str(a).lower() for a in allowed if a}, "settings.PLUGINS"
    return _env_list("DORM_PLUGINS"), "DORM_PLUGINS"


def _iter_entry_points() -> Iterable[metadata.EntryPoint]:
    """Entry points of group ``dorm`` (tests monkeypatch this to simulate some)."""
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def _dist_of(ep) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        return dist.metadata["Name"] or getattr(dist, "name", None), dist.version
    except Exception:  # noqa: BLE001 - a broken METADATA file must not break discovery
        return getattr(dist, "name", None), None


def _kernel_version() -> str:
    try:
        return metadata.version("dorm-kernel")
    except metadata.PackageNotFoundError:
        import dorm

        return getattr(dorm, "__version__", "unknown")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# ---- loading -----------------------------------------------------------------------
def _register_checked(pm: pluggy.PluginManager, obj: Any, name: str | None) -> str:
    """Register ``obj`` and reject hook implementations that match no hook spec.

    pluggy checks signatures against specs; a ``@hookimpl`` function whose name is
    not a hook (a typo like ``dorm_register_lookup``) would otherwise be ignored
    silently.
    """
    if name is not None and pm.get_plugin(name) is not None:
        raise ValueError(f"a plugin named {name!r} is already registered")
    registered = pm.register(obj, name=name)
    if registered is None:
        raise ValueError(f"plugin {obj!r} is already registered (as {pm.get_name(obj)!r})")
    for caller in pm.get_hookcallers(obj) or []:
        if caller.spec is None:
            pm.unregister(obj)
            known = ", ".join(n for n in dir(hookspecs) if n.startswith("dorm_"))
            raise pluggy.PluginValidationError(
                obj, f"unknown hook {caller.name!r} (known hooks: {known})"
            )
    return registered


def _unmarked_hooks(obj: Any) -> list[str]:
    """Names of ``dorm_*`` hook functions defined without ``@dorm.hookimpl``."""
    out = []
    for attr in dir(obj):
        if attr.startswith("dorm_") and hasattr(hookspecs, attr):
            fn = getattr(obj, attr, None)
            if callable(fn) and not hasattr(fn, "dorm_impl"):
                out.append(f"{attr} is not decorated with @dorm.hookimpl and is ignored")
    return out


def _load(pm: pluggy.PluginManager) -> None:
    builtin = importlib.import_module(BUILTIN_MODULE)
    _register_checked(pm, builtin, BUILTIN_NAME)
    _records[BUILTIN_NAME] = PluginRecord(
        BUILTIN_NAME, SOURCE_BUILTIN, "dorm-kernel", _kernel_version(), plugin=builtin,
        value=BUILTIN_MODULE,
    )
    if _env_flag("DORM_DISABLE_PLUGIN_AUTOLOAD"):
        return
    allowed, allowed_by = _allow_list()
    blocked = _env_list("DORM_DISABLED_PLUGINS") or set()
    for ep in sorted(_iter_entry_points(), key=lambda e: e.name):
        dist, version = _dist_of(ep)
        rec = PluginRecord(ep.name, SOURCE_ENTRY_POINT, dist, version, value=ep.value)
        if ep.name in _records:
            other = _records[ep.name]
            rec.status, rec.error = "failed", (
                f"entry point name {ep.name!r} is also used by {other.distribution or other.source}"
            )
            _records[f"{ep.name} ({dist})"] = rec
            if raise_plugin_errors():
                raise ImproperlyConfigured(f"Plugin {ep.name!r} from {dist}: {rec.error}")
            continue
        _records[ep.name] = rec
        if ep.name.lower() in blocked:
            rec.status, rec.error = "disabled", "disabled by DORM_DISABLED_PLUGINS"
            continue
        if allowed is not None and ep.name.lower() not in allowed:
            rec.status, rec.error = "disabled", f"disabled (not listed in {allowed_by})"
            continue
        try:
            obj = ep.load()
            _register_checked(pm, obj, ep.name)
        except Exception as exc:
            rec.status, rec.error, rec.exception = "failed", _describe(exc), exc
            if raise_plugin_errors():
                raise
            continue
        rec.plugin = obj
        rec.warnings = _unmarked_hooks(obj)
    conf = sys.modules.get("dorm.conf")
    if conf is not None and conf.settings.configured:
        pm.hook.dorm_configure.call_historic(kwargs={"settings": conf.settings})


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy ``PluginManager`` of project ``"dorm"``, loading plugins on first call."""
    global _pm, _loading, _busy_thread
    pm = _pm
    if pm is not None:
        return pm
    with _lock:
        if _pm is not None:
            return _pm
        if _loading is not None:  # re-entered from a plugin import in this thread
            return _loading
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        _loading, _busy_thread = pm, threading.get_ident()
        try:
            _load(pm)
        except BaseException:
            _records.clear()
            raise
        finally:
            _loading = _busy_thread = None
        _pm = pm
        return pm


def is_loading() -> bool:
    """True while this thread is loading plugins or building the registry (the import
    hook then leaves ``dorm.*`` names alone instead of recursing)."""
    return (_loading is not None or _building) and _busy_thread == threading.get_ident()


def records() -> list[PluginRecord]:
    """Plugin records in load order (loads plugins if needed)."""
    get_plugin_manager()
    return list(_records.values())


def get_record(name: str) -> PluginRecord | None:
    get_plugin_manager()
    return _records.get(name)


def _clear_configure_history(pm: pluggy.PluginManager) -> None:
    # Keep at most one remembered dorm_configure call: a plugin registered later is
    # configured once, with the current settings (pluggy would replay every call).
    history = getattr(pm.hook.dorm_configure, "_call_history", None)
    if history is not None:
        history.clear()


def notify_configured(settings) -> None:
    """Called by ``dorm.configure()``: run the historic ``dorm_configure`` hook.

    Loads plugins if they are not loaded yet (loading then runs the hook itself).
    """
    if _pm is None:
        get_plugin_manager()
        return
    _clear_configure_history(_pm)
    _pm.hook.dorm_configure.call_historic(kwargs={"settings": settings})


def notify_reset() -> None:
    """Called by ``settings.reset()``: plugins registered later are not configured."""
    if _pm is not None:
        _clear_configure_history(_pm)


# ---- run-time registration ---------------------------------------------------------
def register(obj: Any, name: str | None = None) -> str:
    """Register a plugin object or module at run time (tests); returns its name.

    Raises ``pluggy.PluginValidationError`` / ``ValueError`` at once when the object's
    hooks are wrong or the name is taken. Invalidates the registry.
    """
    pm = get_plugin_manager()
    with _lock:
        registered = _register_checked(pm, obj, name)
        _records[registered] = PluginRecord(
            registered, SOURCE_RUNTIME, plugin=obj, warnings=_unmarked_hooks(obj)
        )
    invalidate()
    return registered


def unregister(obj_or_name: Any) -> None:
    """Remove a plugin registered earlier (by object or name); invalidates the registry.

    A plugin that already failed and was dropped is forgotten silently; an unknown
    one raises ``ValueError``.
    """
    pm = get_plugin_manager()
    with _lock:
        if isinstance(obj_or_name, str):
            name = obj_or_name
        else:
            name = pm.get_name(obj_or_name) or next(
                (r.name for r in _records.values() if r.plugin is obj_or_name), None
            )
        if name is None or (name not in _records and pm.get_plugin(name) is None):
            raise ValueError(f"no plugin {obj_or_name!r} is registered")
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)
        _records.pop(name, None)
    invalidate()


def reload() -> None:
    """Forget every plugin and the registry; the next use discovers them again.

    Run-time registrations are dropped. Used by tests that change the env vars.
    """
    global _pm
    with _lock:
        _pm = None
        _records.clear()
    invalidate()


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Run a block with a fresh plugin state (rediscovered on first use), then put the
    previous manager, records and registrations back. For tests that change the
    environment variables or simulate entry points."""
    global _pm, _registry
    with _lock:
        saved = (_pm, dict(_records), _registry)
        _pm = None
        _records.clear()
    invalidate()
    try:
        yield
    finally:
        with _lock:
            _pm = saved[0]
            _records.clear()
            _records.update(saved[1])
        invalidate()
        with _lock:
            _registry = saved[2]


# ---- registry ----------------------------------------------------------------------
def on_change(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback()`` whenever the registry is invalidated (register, unregister,
    reload), so caches built from it (lookup tables) can reset. Returns ``callback``
    (usable as a decorator)."""
    _change_callbacks.append(callback)
    return callback


def invalidate() -> None:
    """Drop the cached registry and notify ``on_change`` subscribers."""
    global _registry
    with _lock:
        _registry = None
    from . import modules

    modules.forget_aliases()
    for cb in _change_callbacks:
        cb()


def _plugin_impls(pm: pluggy.PluginManager, plugin: Any, hook_name: str) -> list:
    caller = getattr(pm.hook, hook_name)
    return [
        impl for impl in caller.get_hookimpls()
        if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper)
    ]


def _call_registration_hooks(pm: pluggy.PluginManager, rec: PluginRecord) -> PluginRegistrations:
    regs = PluginRegistrations(rec.name)
    callbacks = regs.callbacks()
    for hook_name in REGISTRATION_HOOKS:
        for impl in _plugin_impls(pm, rec.plugin, hook_name):
            kwargs = {"register": callbacks[hook_name]}
            impl.function(*[kwargs[a] for a in impl.argnames])
    return regs


def get_registry() -> Registry:
    """The registry of everything plugins registered (built once, cached until a change).

    A plugin whose registration hook raises is marked failed and unregistered (see
    ``registry`` module); a clash between two plugins raises ``ImproperlyConfigured``.
    """
    global _registry, _building, _busy_thread
    reg = _registry
    if reg is not None:
        return reg
    pm = get_plugin_manager()
    with _lock:
        if _registry is not None:
            return _registry
        if _building:
            raise ImproperlyConfigured(
                "dorm.plugins.get_registry() was called while the registry is being built "
                "(a registration hook must not use the registry)"
            )
        _building, outer_busy = True, _busy_thread
        _busy_thread = threading.get_ident()
        try:
            reg = Registry()
            for rec in list(_records.values()):
                if rec.status != "loaded" or rec.plugin is None:
                    continue
                try:
                    staged = _call_registration_hooks(pm, rec)
                except Exception as exc:
                    if rec.source == SOURCE_BUILTIN or raise_plugin_errors():
                        raise
                    rec.status, rec.error, rec.exception = "failed", _describe(exc), exc
                    pm.unregister(rec.plugin)
                    continue
                staged.merge_into(reg)
        finally:
            _building, _busy_thread = False, outer_busy
        _registry = reg
        return reg


def has_impl(hook_name: str, *, include_builtin: bool = True) -> bool:
    """Does any loaded plugin implement ``hook_name``?

    ``include_builtin=False`` ignores the kernel's own implementation (useful for
    ``dorm_execute``, where the kernel's innermost implementation always exists).
    """
    caller = getattr(get_plugin_manager().hook, hook_name, None)
    if caller is None:
        raise ValueError(f"unknown hook {hook_name!r}")
    impls = caller.get_hookimpls()
    if not include_builtin:
        impls = [i for i in impls if i.plugin_name != BUILTIN_NAME]
    return bool(impls)


def hooks_of(plugin: Any) -> list[str]:
    """Sorted names of the hooks ``plugin`` implements."""
    callers = get_plugin_manager().get_hookcallers(plugin) or []
    return sorted(c.name for c in callers)


# ---- backends ----------------------------------------------------------------------
def resolve_backend(engine: str | None) -> type:
    """The backend class for an ``ENGINE`` value (matching: ``Registry.find_engine``).

    The target module is imported here, on first use. When no loaded plugin provides
    the engine, raises ``PluginNotInstalled`` naming the distribution to install (or
    the plugin that failed to load, with its error) and the available engines; an
    unknown engine raises ``ImproperlyConfigured`` listing the available engines.
    """
    reg = get_registry()
    cls = reg.backend_class(engine)
    if cls is not None:
        return cls
    raise engine_error(engine, reg)


def engine_error(engine: str | None, reg: Registry | None = None) -> ImproperlyConfigured:
    """The error for an ``ENGINE`` value no plugin provides."""
    from .missing import KNOWN_ENGINES, not_installed
    from .registry import engine_keyword

    reg = reg or get_registry()
    available = ", ".join(reg.engine_names()) or "none"
    wanted = (engine or "").strip().lower() or "sqlite"
    keyword = engine_keyword(wanted)
    dist = KNOWN_ENGINES.get(keyword[0]) if keyword else KNOWN_ENGINES.get(wanted)
    if dist is not None:
        err = not_installed(f"ENGINE {engine!r}", dist)
        return PluginNotInstalled(f"{err} (available engines: {available})", dist)
    return ImproperlyConfigured(
        f"Unknown database ENGINE {engine!r}. Available engines: {available}. "
        f"Install the plugin distribution that provides it (see 'dorm plugins')."
    )
