"""The ``dorm`` plugin of dorm-sharding (entry point ``sharding = "dorm_sharding.plugin"``).

* ``dorm_register_modules``: ``dorm.contrib.sharding`` -> ``dorm_sharding.api``.
* ``dorm_register_commands``: the ``dorm shards`` group (``rebalance``, ``migrate``,
  ``diff``, ``status``, ``where``).
* ``dorm_configure``: validates ``settings.SHARDING``; when it describes a router
  (``"NUM_SHARDS"``), builds a ``HashShardRouter`` and registers it as a plugin, so it
  answers the routing hooks without any ``DATABASE_ROUTERS`` entry::

      SHARDING = {
          "NUM_SHARDS": 4,
          "MODELS": {"shop.Order": "customer_id"},   # or a list of labels / classes
          "ALIASES": None,                           # default shard_0 .. shard_3
          "SALT": b"dorm-shard", "ALGORITHM": "jump",
          "UNSHARDED_ON_SHARDS": False,
          "BREAKER": {"failure_threshold": 3, "open_window_s": 5},
          "FANOUT_WORKERS": 16,
      }

Nothing here implements a per-statement hook: the routing hooks come from the router
object and the ``dorm_execute`` breaker wrapper is registered only when a shard router
is first used, so projects that install dorm-sharding without sharding pay nothing.
"""
from __future__ import annotations

from dorm.hookspecs import hookimpl

SETTINGS_ROUTER_NAME = "dorm-sharding-settings-router"
_KNOWN = {"NUM_SHARDS", "MODELS", "ALIASES", "SALT", "ALGORITHM", "UNSHARDED_ON_SHARDS", "BREAKER",
          "FANOUT_WORKERS"}


@hookimpl
def dorm_register_modules(register):
    register("dorm.contrib.sharding", "dorm_sharding.api")


@hookimpl
def dorm_migration_aliases(settings):
    """Plain ``dorm migrate`` / ``dorm diff`` also cover every shard of the configured
    router (``allow_migrate`` keeps each model's tables where they belong)."""
    from .router import shard_routers

    aliases = []
    for router in shard_routers():
        aliases += [a for a in router.aliases if a not in aliases]
    return aliases or None


@hookimpl
def dorm_register_commands(cli):
    from dorm_sharding.commands import shards

    cli.add_command(shards)


def router_from_settings(sharding: dict):
    """The ``HashShardRouter`` described by ``settings.SHARDING`` (or ``None``)."""
    from dorm.exceptions import ImproperlyConfigured

    if "NUM_SHARDS" not in sharding:
        for key in ("MODELS", "ALIASES", "SALT", "ALGORITHM", "UNSHARDED_ON_SHARDS"):
            if key in sharding:
                raise ImproperlyConfigured(f'SHARDING[{key!r}] is set but SHARDING["NUM_SHARDS"] is not')
        return None
    from dorm_sharding.placement import DEFAULT_SALT
    from dorm_sharding.router import HashShardRouter

    try:
        return HashShardRouter(num_shards=sharding["NUM_SHARDS"], shard_models=sharding.get("MODELS"),
                               aliases=sharding.get("ALIASES"), salt=sharding.get("SALT", DEFAULT_SALT),
                               algorithm=sharding.get("ALGORITHM", "jump"),
                               unsharded_on_shards=sharding.get("UNSHARDED_ON_SHARDS", False))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"settings.SHARDING: {exc}") from exc


_state = {"sharding": None, "subscribed": False}


def _loaded_plugin_manager():
    """The plugin manager if plugins are loaded, else ``None`` (never triggers loading:
    a settings reset must not load plugins early, e.g. before a test adds entry points)."""
    from dorm.plugins import manager

    return getattr(manager, "_pm", None)


def _settings_changed(changed) -> None:
    # configure() runs dorm_configure after this; here we only catch resets/restores to
    # an unconfigured state (no dorm_configure call) that remove sharding
    if not changed or not ("SHARDING" in changed or "DATABASE_ROUTERS" in changed):
        return
    if _loaded_plugin_manager() is None:
        return
    from dorm.conf import settings

    if settings.configured:
        return
    sync_settings_router(None)
    sync_guard(None)


def sync_guard(settings) -> None:
    """Register the breakers' ``dorm_execute`` wrapper while a shard router is configured
    (before connections open, so every shard connection composes it) and remove it when
    none is, so a project without sharding pays nothing per statement. Routers named by a
    dotted path are only known once loaded: the router registers the wrapper on first use."""
    from dorm import plugins

    from dorm_sharding import breaker
    from dorm_sharding.router import HashShardRouter

    routers = list(getattr(settings, "DATABASE_ROUTERS", None) or []) if settings is not None else []
    as_plugins = any(isinstance(p, HashShardRouter) for p in plugins.get_plugin_manager().get_plugins())
    if as_plugins or any(isinstance(r, HashShardRouter) for r in routers):
        breaker.ensure_guard()
    elif not any(isinstance(r, str) for r in routers):
        breaker.remove_guard()


def sync_settings_router(settings) -> None:
    """Register (or replace, or remove) the router described by ``settings.SHARDING``."""
    from dorm import plugins
    from dorm.exceptions import ImproperlyConfigured

    sharding = getattr(settings, "SHARDING", None) if settings is not None else None
    new = None
    if sharding is not None:
        if not isinstance(sharding, dict):
            raise ImproperlyConfigured(f"settings.SHARDING must be a dict, got {type(sharding).__name__}")
        unknown = set(sharding) - _KNOWN
        if unknown:
            raise ImproperlyConfigured(
                f"settings.SHARDING has unknown key(s) {', '.join(sorted(map(repr, unknown)))}; "
                f"known: {', '.join(sorted(_KNOWN))}")
        from dorm_sharding.breaker import BreakerConfig

        BreakerConfig.from_settings()          # validate now, not at the first query
        pm = plugins.get_plugin_manager()
        if sharding == _state["sharding"] and pm.get_plugin(SETTINGS_ROUTER_NAME) is not None:
            return
        new = router_from_settings(sharding)
    pm = plugins.get_plugin_manager()
    _state["sharding"] = dict(sharding) if new is not None else None
    if pm.get_plugin(SETTINGS_ROUTER_NAME) is not None:
        plugins.unregister(SETTINGS_ROUTER_NAME)
    if new is not None:
        plugins.register(new, name=SETTINGS_ROUTER_NAME)


@hookimpl
def dorm_configure(settings):
    if not _state["subscribed"]:
        _state["subscribed"] = True
        settings.on_change(_settings_changed)
    sync_settings_router(settings)
    sync_guard(settings)
