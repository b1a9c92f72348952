"""The configured storages: ``settings.STORAGES``, ``get_storage``, ``default_storage``.

``STORAGES = {alias: {"BACKEND": "dotted.path.Class", "OPTIONS": {...}}}``

* ``BACKEND`` – a dotted path to a ``dorm.Storage`` subclass (``"dorm.FileSystemStorage"``,
  ``"dorm.files.FileSystemStorage"``, ``"myproject.storage.Mine"``) or the class itself;
  ``OPTIONS`` – keyword arguments for it (optional). No other keys are allowed.
* ``"default"`` is always there: when ``STORAGES`` does not name it, it is a
  ``FileSystemStorage`` at ``./media`` (so an empty ``STORAGES`` means exactly that).

``get_storage(alias="default")`` builds the storage of ``alias`` on first use and
then returns the same instance; an unknown alias raises ``ImproperlyConfigured``
listing the configured ones; a wrong entry raises ``ImproperlyConfigured`` naming
``STORAGES[alias]`` and what is wrong. ``reset_storages()`` forgets every built
instance; it runs on its own whenever ``configure()`` (or ``settings.override``) sets
``STORAGES``. ``default_storage`` is a proxy that forwards to ``get_storage("default")``
on every use, so it follows settings changes.
"""
from __future__ import annotations

import importlib
import inspect
import re
import threading
from typing import Any

from dorm.conf import settings
from dorm.exceptions import ImproperlyConfigured

from .storage import Storage

__all__ = ["DEFAULT_STORAGE_ALIAS", "DefaultStorage", "create_storage", "default_storage",
           "get_storage", "reset_storages", "storage_settings"]

DEFAULT_STORAGE_ALIAS = "default"
DEFAULT_BACKEND = "dorm.files.FileSystemStorage"
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_ENTRY_KEYS = ("BACKEND", "OPTIONS")

_lock = threading.RLock()
_instances: dict[str, Storage] = {}


def storage_settings() -> dict[str, dict[str, Any]]:
    """``settings.STORAGES`` checked, with the implicit ``"default"`` entry added."""
    raw = settings.STORAGES
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(
            f"STORAGES must be a dict of alias -> {{'BACKEND': ..., 'OPTIONS': {{...}}}}, "
            f"got {type(raw).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for alias, entry in raw.items():
        if not isinstance(alias, str) or not alias:
            raise ImproperlyConfigured(f"STORAGES alias must be a non-empty string, got {alias!r}")
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(
                f"STORAGES[{alias!r}] must be a dict with 'BACKEND' and optional 'OPTIONS', "
                f"got {type(entry).__name__}")
        unknown = sorted(set(entry) - set(_ENTRY_KEYS), key=str)
        if unknown:
            raise ImproperlyConfigured(
                f"STORAGES[{alias!r}] has unknown key(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(_ENTRY_KEYS)}")
        if "BACKEND" not in entry:
            raise ImproperlyConfigured(
                f"STORAGES[{alias!r}] needs a 'BACKEND' (e.g. {DEFAULT_BACKEND!r})")
        options = entry.get("OPTIONS")
        options = {} if options is None else options
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise ImproperlyConfigured(
                f"STORAGES[{alias!r}]['OPTIONS'] must be a dict of keyword arguments, got {options!r}")
        out[alias] = {"BACKEND": entry["BACKEND"], "OPTIONS": dict(options)}
    out.setdefault(DEFAULT_STORAGE_ALIAS, {"BACKEND": DEFAULT_BACKEND, "OPTIONS": {}})
    return out


def _import_backend(backend, where: str) -> type:
    if isinstance(backend, type):
        cls = backend
    elif isinstance(backend, str) and _DOTTED.match(backend):
        module_name, _, attr = backend.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"{where}: BACKEND {backend!r} cannot be imported: {exc}") from exc
        try:
            cls = getattr(module, attr)
        except AttributeError:
            raise ImproperlyConfigured(
                f"{where}: BACKEND {backend!r}: module {module_name!r} has no {attr!r}") from None
    else:
        raise ImproperlyConfigured(
            f"{where}: BACKEND must be a dotted path like {DEFAULT_BACKEND!r}, got {backend!r}")
    if not (isinstance(cls, type) and issubclass(cls, Storage)):
        raise ImproperlyConfigured(f"{where}: BACKEND {backend!r} is not a dorm.Storage subclass")
    return cls


def create_storage(entry: dict, alias: str = "<unnamed>") -> Storage:
    """A new storage from one ``STORAGES`` entry (``{"BACKEND": ..., "OPTIONS": {...}}``)."""
    where = f"STORAGES[{alias!r}]"
    cls = _import_backend(entry.get("BACKEND"), where)
    options = entry.get("OPTIONS") or {}
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        try:
            accepted = ", ".join(p for p in inspect.signature(cls).parameters)
        except (TypeError, ValueError):
            accepted = "?"
        raise ImproperlyConfigured(
            f"{where}['OPTIONS'] do not fit {cls.__name__}({accepted}): {exc}") from None
    except ValueError:
        pass  # no signature to check against: let the constructor decide
    return cls(**options)


def get_storage(alias: str = DEFAULT_STORAGE_ALIAS) -> Storage:
    """The storage configured as ``alias`` in ``STORAGES`` (built once, then cached)."""
    storage = _instances.get(alias)
    if storage is not None:
        return storage
    if not isinstance(alias, str):
        raise ImproperlyConfigured(f"A storage alias must be a string, got {alias!r}")
    with _lock:
        storage = _instances.get(alias)
        if storage is not None:
            return storage
        config = storage_settings()
        entry = config.get(alias)
        if entry is None:
            raise ImproperlyConfigured(
                f"Unknown storage alias {alias!r}; STORAGES configures: "
                f"{', '.join(sorted(config))}")
        storage = create_storage(entry, alias)
        _instances[alias] = storage
        return storage


def reset_storages() -> None:
    """Forget every storage built from ``STORAGES`` (the next use builds them anew)."""
    with _lock:
        _instances.clear()


class DefaultStorage:
    """``default_storage``: forwards every attribute to ``get_storage("default")``, so
    it follows ``STORAGES`` changes. ``isinstance(default_storage, Storage)`` holds."""

    __slots__ = ()

    def _wrapped(self) -> Storage:
        return get_storage(DEFAULT_STORAGE_ALIAS)

    def __getattr__(self, name: str):
        return getattr(get_storage(DEFAULT_STORAGE_ALIAS), name)

    @property  # type: ignore[misc]
    def __class__(self):  # noqa: D105 - makes isinstance() see the real storage class
        return type(get_storage(DEFAULT_STORAGE_ALIAS))

    def __repr__(self) -> str:
        try:
            return f"<default_storage: {get_storage(DEFAULT_STORAGE_ALIAS)!r}>"
        except ImproperlyConfigured as exc:
            return f"<default_storage: misconfigured ({exc})>"

    def __reduce__(self):
        return (_default_storage, ())


def _default_storage() -> DefaultStorage:
    return default_storage


default_storage = DefaultStorage()


def _on_settings_change(changed: frozenset[str]) -> None:
    if "STORAGES" in changed:
        reset_storages()


settings.on_change(_on_settings_change)
