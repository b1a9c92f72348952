"""Automatic circuit breaking per database alias (``settings.CIRCUIT_BREAKER``).

::

    CIRCUIT_BREAKER = {
        "default": {"failure_threshold": 5, "open_window_s": 30.0},
        "reports": {"failure_threshold": 2, "open_window_s": 10.0, "half_open_max_calls": 1,
                    "failure_exceptions": ("dorm.exceptions.OperationalError", TimeoutError),
                    "on_state_change": "myapp.metrics.breaker_changed"},
    }

Each listed alias gets the registered breaker ``"db:<alias>"`` (``get_state("db:default")``)
and every statement on that alias runs through it, by a ``dorm_execute`` wrapper that
this module registers as a plugin object only while ``CIRCUIT_BREAKER`` lists an alias
(projects that leave it unset pay nothing per statement):

* before the statement: while the breaker is open (or half-open with its probes in
  flight) the statement is not sent: ``CircuitBreakerOpen`` (a
  ``dorm.exceptions.CircuitOpenError``) naming the alias is raised instead;
* after it: success / failure / neutral outcome, classified by the breaker's
  ``failure_exceptions`` (async statements: when the awaitable completes).

Options per alias: ``failure_threshold``, ``open_window_s``, ``half_open_max_calls``,
``failure_exceptions`` (classes or dotted paths), ``on_state_change`` and ``clock``
(callables or dotted paths). An empty dict means the defaults. Errors are
``ImproperlyConfigured`` naming the setting, raised by ``dorm.configure()``.

Limit (kernel): ``dorm_execute`` runs once a connection exists. Opening a connection
(or checking one out of the PostgreSQL pool) happens before it, so a server that
refuses connections raises ``OperationalError`` from that step without reaching the
breaker, and an open breaker does not prevent that connection attempt. See
``docs/resilience.md``.

Living next to dorm-sharding: its shard breakers guard shard aliases with their own
wrapper. Both ignore ``CircuitOpenError`` raised by the other, so listing a shard alias
here too gives two independent breakers that never count each other's refusals.
"""
from __future__ import annotations

import importlib
import inspect
import threading

from dorm.exceptions import ImproperlyConfigured
from dorm.hookspecs import hookimpl

from . import registry
from .breaker import CircuitBreaker

#: the options a CIRCUIT_BREAKER entry may hold
OPTIONS = ("clock", "failure_exceptions", "failure_threshold", "half_open_max_calls",
           "on_state_change", "open_window_s")
GUARD_NAME = "dorm-resilience-circuit-breaker"
_lock = threading.Lock()
#: alias -> resolved breaker options (replaced as a whole, never mutated)
_configs: dict[str, dict] = {}
_state = {"subscribed": False}


def breaker_name(alias: str) -> str:
    """The registry name of ``alias``'s breaker: ``"db:<alias>"``."""
    return f"db:{alias}"


def alias_breaker(alias: str) -> CircuitBreaker | None:
    """The breaker guarding ``alias`` (created on first use), or ``None`` when
    ``settings.CIRCUIT_BREAKER`` does not list it."""
    options = _configs.get(alias)
    if options is None:
        return None
    return registry.get_breaker(breaker_name(alias)) or registry.circuit_breaker(
        breaker_name(alias), **options)


def guarded_aliases() -> list[str]:
    """The aliases whose statements run through a breaker."""
    return sorted(_configs)


# ---- settings ----------------------------------------------------------------------------
def _import(value, where: str):
    if not isinstance(value, str):
        return value
    module_name, _, attr = value.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{where}: cannot import {value!r}: {exc}") from exc


def _resolve(alias: str, raw) -> dict:
    where = f"settings.CIRCUIT_BREAKER[{alias!r}]"
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f"{where} must be a dict of breaker options ({', '.join(OPTIONS)}), "
                                   f"got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(OPTIONS))
    if unknown:
        raise ImproperlyConfigured(f"{where} has unknown option(s) {', '.join(map(repr, unknown))}; "
                                   f"valid options: {', '.join(OPTIONS)}")
    options = dict(raw)
    for key in ("clock", "on_state_change"):
        if key in options:
            options[key] = _import(options[key], f"{where}[{key!r}]")
    if "failure_exceptions" in options:
        value = options["failure_exceptions"]
        items = value if isinstance(value, (list, tuple)) else (value,)
        options["failure_exceptions"] = tuple(_import(v, f"{where}['failure_exceptions']") for v in items)
    try:
        CircuitBreaker(breaker_name(alias), **options)     # validate now, not at the first query
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{where}: {exc}") from exc
    return options


def configs_from_settings(settings) -> dict[str, dict]:
    """Validate ``settings.CIRCUIT_BREAKER``; returns ``{alias: options}``."""
    raw = getattr(settings, "CIRCUIT_BREAKER", None) if settings is not None else None
    if raw is None or raw is False:
        return {}
    if not isinstance(raw, dict):
        raise ImproperlyConfigured("settings.CIRCUIT_BREAKER must be a dict of database alias -> "
                                   f"breaker options, got {type(raw).__name__}")
    databases = getattr(settings, "DATABASES", None) or {}
    out = {}
    for alias, options in raw.items():
        if not isinstance(alias, str) or alias not in databases:
            listed = ", ".join(map(repr, databases)) or "(none)"
            raise ImproperlyConfigured(f"settings.CIRCUIT_BREAKER names database alias {alias!r}, "
                                       f"which is not in DATABASES; configured aliases: {listed}")
        out[alias] = _resolve(alias, options)
    return out


def sync(settings) -> None:
    """Apply ``settings.CIRCUIT_BREAKER``: validate it, forget the breakers whose
    options changed, and register or remove the statement guard."""
    global _configs
    configs = configs_from_settings(settings)
    with _lock:
        changed = [a for a in set(_configs) | set(configs) if _configs.get(a) != configs.get(a)]
        _configs = configs
    registry._forget(breaker_name(a) for a in changed)
    if configs:
        _ensure_guard()
    else:
        _remove_guard()


def _settings_changed(changed) -> None:
    """Forget alias breakers when DATABASES changes (the alias may point elsewhere now);
    drop the guard when settings are reset to an unconfigured state (``configure()``
    runs ``dorm_configure`` after this and re-applies the rest)."""
    global _configs
    if not changed:
        return
    if "DATABASES" in changed:
        registry._forget(breaker_name(a) for a in list(_configs))
    if "CIRCUIT_BREAKER" in changed or "DATABASES" in changed:
        from dorm.conf import settings
        from dorm.plugins import manager

        if not settings.configured and getattr(manager, "_pm", None) is not None:
            _configs = {}
            _remove_guard()


def subscribe(settings) -> None:
    if not _state["subscribed"]:
        _state["subscribed"] = True
        settings.on_change(_settings_changed)


# ---- the statement guard --------------------------------------------------------------------
async def _finish_when_done(awaitable, breaker: CircuitBreaker, call):
    try:
        result = await awaitable
    except BaseException as exc:
        breaker.finish(call, exc)
        raise
    breaker.finish(call, None)
    return result


class StatementGuard:
    """The plugin object wrapping every statement of a guarded alias."""

    @hookimpl(wrapper=True)
    def dorm_execute(self, backend, sql, params, many):
        alias = backend.alias
        breaker = alias_breaker(alias) if alias in _configs else None
        if breaker is None:
            return (yield)
        call = breaker.admit_or_raise(alias=alias)
        try:
            result = yield
        except BaseException as exc:
            breaker.finish(call, exc)
            raise
        if inspect.isawaitable(result):
            return _finish_when_done(result, breaker, call)
        breaker.finish(call, None)
        return result


GUARD = StatementGuard()


def _ensure_guard() -> None:
    from dorm import plugins

    if not plugins.get_plugin_manager().is_registered(GUARD):
        plugins.register(GUARD, name=GUARD_NAME)


def _remove_guard() -> None:
    from dorm import plugins

    if plugins.get_plugin_manager().is_registered(GUARD):
        plugins.unregister(GUARD)


__all__ = ["GUARD_NAME", "OPTIONS", "StatementGuard", "alias_breaker", "breaker_name",
           "configs_from_settings", "guarded_aliases", "sync"]
