"""``caches``: the cache backends configured in ``settings.CACHES``, by alias.

``settings.CACHES`` maps an alias to ``{"BACKEND": dotted path of a BaseCache
subclass, "LOCATION": str, "OPTIONS": dict, "TTL": seconds (default 300, 0 = no
expiry)}``. Built-in backend: ``dorm.cache.locmem.LocMemCache``; the plugin
``dorm-redis-cache`` adds ``dorm.cache.redis.RedisCache``.

* ``caches[alias]`` builds the backend on first use (validating its entry) and keeps
  it; an unknown alias raises ``ImproperlyConfigured`` naming the configured ones.
* ``caches.get(alias)`` is ``None`` when ``CACHES`` is empty: the result cache is then
  off and ``QuerySet.cache()`` does nothing.
* ``configure(CACHES=...)`` closes and forgets every backend; a change of
  ``CACHE_SIGNING_KEY`` / ``SECRET_KEY`` resets the signing key. ``state.active``
  follows whether ``CACHES`` is non-empty, and the save/delete signal receivers that
  invalidate are connected only while it is.
"""
from __future__ import annotations

import importlib
import re
import threading

from dorm.conf import settings
from dorm.exceptions import ImproperlyConfigured, PluginNotInstalled

from . import state
from .base import DEFAULT_TTL, BaseCache

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
ENTRY_KEYS = ("BACKEND", "LOCATION", "OPTIONS", "TTL")
BUILTIN_BACKENDS = ("dorm.cache.locmem.LocMemCache", "dorm.cache.redis.RedisCache")
_KEY_SETTINGS = {"CACHE_SIGNING_KEY", "SECRET_KEY", "CACHE_REQUIRE_SIGNING_KEY"}


def _configured() -> dict:
    caches = settings.__dict__.get("CACHES")
    if caches is None:
        caches = settings.CACHES if settings.configured else {}
    if not isinstance(caches, dict):
        raise ImproperlyConfigured(f"CACHES must be a dict of alias -> settings, got {type(caches).__name__}")
    return caches


def _validate(alias, entry) -> tuple[str, str, dict, float]:
    where = f"CACHES[{alias!r}]"
    if not isinstance(alias, str) or not alias:
        raise ImproperlyConfigured(f"CACHES aliases must be non-empty strings, got {alias!r}")
    if not isinstance(entry, dict):
        raise ImproperlyConfigured(f"{where} must be a dict with keys {', '.join(ENTRY_KEYS)}, "
                                   f"got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ImproperlyConfigured(f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
                                   f"valid: {', '.join(ENTRY_KEYS)}")
    backend = entry.get("BACKEND")
    if not isinstance(backend, str) or not _DOTTED.match(backend):
        raise ImproperlyConfigured(
            f"{where}['BACKEND'] must be the dotted path of a cache backend class, got {backend!r}; "
            f"built-in: {', '.join(BUILTIN_BACKENDS)}")
    location = entry.get("LOCATION", "")
    if not isinstance(location, str):
        raise ImproperlyConfigured(f"{where}['LOCATION'] must be a string, got {location!r}")
    options = entry.get("OPTIONS", {})
    if not isinstance(options, dict):
        raise ImproperlyConfigured(f"{where}['OPTIONS'] must be a dict, got {type(options).__name__}")
    ttl = entry.get("TTL", DEFAULT_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl < 0 or ttl != ttl:
        raise ImproperlyConfigured(f"{where}['TTL'] must be seconds >= 0 (0 = no expiry), got {ttl!r}")
    return backend, location, options, ttl


def _import_backend(alias: str, path: str) -> type[BaseCache]:
    module_name, _, class_name = path.rpartition(".")
    where = f"CACHES[{alias!r}]['BACKEND'] = {path!r}"
    try:
        module = importlib.import_module(module_name)
    except PluginNotInstalled as exc:
        raise PluginNotInstalled(f"{where}: {exc}", exc.distribution) from exc
    except ImportError as exc:
        raise ImproperlyConfigured(f"{where}: cannot import {module_name!r} ({exc}); "
                                   f"built-in: {', '.join(BUILTIN_BACKENDS)}") from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseCache)):
        raise ImproperlyConfigured(f"{where}: {module_name} has no BaseCache subclass {class_name!r}")
    return cls


class CacheHandler:
    """Backends by alias; see the module docstring."""

    def __init__(self):
        self._lock = threading.RLock()
        self._backends: dict[str, BaseCache] = {}

    def __getitem__(self, alias: str) -> BaseCache:
        backend = self._backends.get(alias)
        if backend is not None:
            return backend
        with self._lock:
            backend = self._backends.get(alias)
            if backend is not None:
                return backend
            caches = _configured()
            if alias not in caches:
                choices = ", ".join(map(repr, caches)) or "none: CACHES is empty"
                raise ImproperlyConfigured(f"CACHES has no alias {alias!r}; configured: {choices}")
            path, location, options, ttl = _validate(alias, caches[alias])
            cls = _import_backend(alias, path)
            backend = cls(alias, location, dict(options), ttl)
            self._backends[alias] = backend
            return backend

    def get(self, alias: str) -> BaseCache | None:
        """The backend for ``alias``, or ``None`` when no ``CACHES`` are configured."""
        if not state.active:
            return None
        return self[alias]

    def aliases(self) -> list[str]:
        return list(_configured()) if state.active else []

    def all(self) -> list[BaseCache]:
        """Every configured backend (built on demand)."""
        return [self[alias] for alias in self.aliases()]

    def close_all(self) -> None:
        """Close and forget every backend built so far."""
        with self._lock:
            backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - closing a dead client must not fail configure()
                pass


caches = CacheHandler()


def _settings_changed(changed) -> None:
    if "CACHES" in changed:
        caches.close_all()
        from . import invalidation, keys

        keys.clear_memo()
        state.active = bool(settings.__dict__.get("CACHES"))
        invalidation.set_receivers(state.active)
    if changed & _KEY_SETTINGS:
        from . import signing

        signing.reset()


settings.on_change(_settings_changed)


def _init() -> None:
    if settings.__dict__.get("CACHES"):
        _settings_changed(frozenset({"CACHES"}))


_init()
