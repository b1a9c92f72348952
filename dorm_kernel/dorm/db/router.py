"""The router chain: which database alias a model is read from / written to.

``db_for_read(model, **hints)``, ``db_for_write(model, **hints)``,
``allow_relation(obj1, obj2, **hints)``, ``allow_migrate(db, app_label, model_name=None,
**hints)``.

Order: the routers of ``settings.DATABASE_ROUTERS`` (instances, or dotted paths to a
class — instantiated — or to an instance), then the pluggy ``dorm_db_for_read`` /
``dorm_db_for_write`` / ``dorm_allow_relation`` / ``dorm_allow_migrate`` hooks. For
``db_for_*`` the first truthy alias wins, else ``"default"`` (or the alias an
``instance=`` hint was loaded from); for ``allow_*`` the first non-``None`` answer
wins, else the default (relation: both objects on the same alias; migrate: True).
A router's exception propagates: the next router is never tried in its place.

Read-after-write stickiness (spec §20): a write routed by a router marks the model
in a ``ContextVar`` (per thread / task) when the routers would send its reads to
another alias (a replica); reads of that model return the written alias for
``READ_AFTER_WRITE_WINDOW`` seconds. (No mark when reads already go where the write
went, as with a shard router: a mark would pin the model to that shard for any key.) Hint ``sticky=False`` opts a read out;
``clear_read_after_write_window()`` forgets the marks.

Without routers and hook implementations the calls return ``"default"`` at once.
"""
from __future__ import annotations

import contextvars
import importlib
import threading
import time

from dorm.exceptions import ImproperlyConfigured

from .utils import DEFAULT_DB_ALIAS, knobs

_sticky: contextvars.ContextVar[dict | None] = contextvars.ContextVar("dorm_read_after_write",
                                                                      default=None)
_monotonic = time.monotonic


def _model_key(model):
    meta = getattr(model, "_meta", None)
    if meta is None:
        return model
    return (getattr(meta, "app_label", None), getattr(meta, "model_name", None) or
            getattr(model, "__name__", None))


def _import(path: str):
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ImproperlyConfigured(f"DATABASE_ROUTERS entry {path!r} is not a dotted path")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(f"cannot import DATABASE_ROUTERS entry {path!r}: {exc}") from exc


_HOOKS = ("dorm_db_for_read", "dorm_db_for_write", "dorm_allow_relation", "dorm_allow_migrate")


def _hook(name: str):
    from dorm import plugins

    return getattr(plugins.get_plugin_manager().hook, name)


class ConnectionRouter:
    """The chain; ``dorm.db.router`` exposes one instance's methods as functions."""

    def __init__(self, routers=None):
        self._explicit = routers
        self._routers: list | None = None
        self._hooks: dict[str, bool] | None = None
        self._lock = threading.Lock()
        self._subscribed = False
        self._plugins_subscribed = False

    # ---- configuration ---------------------------------------------------------------------
    @property
    def routers(self) -> list:
        routers = self._routers
        if routers is None:
            with self._lock:
                if self._routers is None:
                    self._routers = self._load()
                routers = self._routers
        return routers

    def _has_hook(self, name: str) -> bool:
        """Whether a plugin implements routing hook ``name`` (cached until the plugin
        set changes)."""
        hooks = self._hooks
        if hooks is None:
            try:
                from dorm import plugins
            except ImportError:  # pragma: no cover
                return False
            if not self._plugins_subscribed:
                self._plugins_subscribed = True
                plugins.on_change(self._plugins_changed)
            hooks = self._hooks = {n: plugins.has_impl(n) for n in _HOOKS}
        return hooks[name]

    def _plugins_changed(self) -> None:
        self._hooks = None

    def _load(self) -> list:
        configured = self._explicit
        if configured is None:
            self._subscribe()
            try:
                from dorm.conf import settings

                configured = getattr(settings, "DATABASE_ROUTERS", None) or []
            except ImportError:  # pragma: no cover
                configured = []
        out = []
        for entry in configured:
            if isinstance(entry, str):
                entry = _import(entry)
                if isinstance(entry, type):
                    entry = entry()
            elif isinstance(entry, type):
                entry = entry()
            out.append(entry)
        return out

    def _subscribe(self) -> None:
        if self._subscribed:
            return
        self._subscribed = True
        try:
            from dorm.conf import settings
        except ImportError:  # pragma: no cover
            return
        on_change = getattr(settings, "on_change", None)
        if on_change is not None:
            on_change(self._settings_changed)

    def _settings_changed(self, changed) -> None:
        if "DATABASE_ROUTERS" in set(changed or ()):
            self.reset()

    def reset(self) -> None:
        """Forget the loaded routers and hook flags (re-read on next use)."""
        with self._lock:
            self._routers = None
            self._hooks = None

    # ---- routing ----------------------------------------------------------------------------
    def _route(self, method: str, hook: str, model, hints: dict):
        for router in self.routers:
            fn = getattr(router, method, None)
            if fn is not None:
                alias = fn(model, **hints)
                if alias:
                    return alias
        if self._has_hook(hook):
            alias = _hook(hook)(model=model, hints=hints)
            if alias:
                return alias
        return None

    def db_for_read(self, model, **hints) -> str:
        sticky = hints.pop("sticky", True)
        if not self.routers and not self._has_hook("dorm_db_for_read"):
            return self._instance_alias(hints) or DEFAULT_DB_ALIAS
        if sticky:
            marks = _sticky.get()
            if marks:
                entry = marks.get(_model_key(model))
                if entry is not None:
                    alias, until = entry
                    if _monotonic() < until:
                        return alias
        return (self._route("db_for_read", "dorm_db_for_read", model, hints)
                or self._instance_alias(hints) or DEFAULT_DB_ALIAS)

    def db_for_write(self, model, **hints) -> str:
        hints.pop("sticky", None)
        if not self.routers and not self._has_hook("dorm_db_for_write"):
            return self._instance_alias(hints) or DEFAULT_DB_ALIAS
        alias = (self._route("db_for_write", "dorm_db_for_write", model, hints)
                 or self._instance_alias(hints) or DEFAULT_DB_ALIAS)
        self._mark_written(model, alias, hints)
        return alias

    def _mark_written(self, model, alias: str, hints: dict) -> None:
        knobs.ensure()
        window = knobs.read_after_write_window
        if window <= 0:
            return
        # Only mark when reads would go elsewhere (a replica). A router that reads and
        # writes a model on the same alias (a shard router keyed by context) needs no
        # mark, and one would pin the model to this alias for any later context (another
        # shard key, or none). A router refusing the read: no mark, it is asked again.
        try:
            read_alias = (self._route("db_for_read", "dorm_db_for_read", model, dict(hints))
                          or self._instance_alias(hints) or DEFAULT_DB_ALIAS)
        except Exception:  # noqa: BLE001 - the real read asks the routers again and raises
            return
        if read_alias == alias:
            return
        marks = dict(_sticky.get() or {})
        now = _monotonic()
        for key in [k for k, (_, until) in marks.items() if until <= now]:
            del marks[key]
        marks[_model_key(model)] = (alias, now + window)
        _sticky.set(marks)

    @staticmethod
    def _instance_alias(hints: dict):
        instance = hints.get("instance")
        if instance is None:
            return None
        state = getattr(instance, "_state", None)
        return getattr(state, "db", None)

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        for router in self.routers:
            fn = getattr(router, "allow_relation", None)
            if fn is not None:
                answer = fn(obj1, obj2, **hints)
                if answer is not None:
                    return bool(answer)
        if self._has_hook("dorm_allow_relation"):
            answer = _hook("dorm_allow_relation")(obj1=obj1, obj2=obj2, hints=hints)
            if answer is not None:
                return bool(answer)
        db1 = getattr(getattr(obj1, "_state", None), "db", None)
        db2 = getattr(getattr(obj2, "_state", None), "db", None)
        return db1 is None or db2 is None or db1 == db2

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool:
        for router in self.routers:
            fn = getattr(router, "allow_migrate", None)
            if fn is not None:
                answer = fn(db, app_label, model_name=model_name, **hints)
                if answer is not None:
                    return bool(answer)
        if self._has_hook("dorm_allow_migrate"):
            answer = _hook("dorm_allow_migrate")(alias=db, app_label=app_label,
                                                 model_name=model_name, hints=hints)
            if answer is not None:
                return bool(answer)
        return True

    def allow_migrate_model(self, db: str, model) -> bool:
        meta = model._meta
        if getattr(meta, "proxy", False) or not getattr(meta, "managed", True) or \
                getattr(meta, "abstract", False):
            return False
        return self.allow_migrate(db, meta.app_label, model_name=meta.model_name, model=model)


def clear_read_after_write_window() -> None:
    """Forget the read-after-write marks of the current context."""
    _sticky.set(None)


router = ConnectionRouter()
db_for_read = router.db_for_read
db_for_write = router.db_for_write
allow_relation = router.allow_relation
allow_migrate = router.allow_migrate
allow_migrate_model = router.allow_migrate_model
reset = router.reset

__all__ = ["ConnectionRouter", "allow_migrate", "allow_migrate_model", "allow_relation",
           "clear_read_after_write_window", "db_for_read", "db_for_write", "reset", "router"]
