"""The connection handler behind ``dorm.db.connections``.

Contract (what the query layer and ``dorm.transaction`` rely on):

* ``connections[alias]`` → the backend instance of ``alias`` for **this thread**,
  created lazily from ``settings.DATABASES[alias]`` through
  ``dorm.plugins.resolve_backend(ENGINE)``. After the first call it is one dict
  lookup on a thread-local: settings are parsed once per alias, not per call.
  An unknown alias raises ``ImproperlyConfigured`` listing the configured ones.
* ``await connections.aget(alias)`` → the backend for async use: inside
  ``aatomic()`` the connection pinned to the current task (a ``ContextVar``, so
  concurrent tasks never share a transaction), otherwise one shared instance per
  alias and event loop (autocommit mode).
* ``close_all()`` / ``await aclose_all()`` close every open connection (sync ones
  of every thread, async ones of every loop); they reopen on next use. Call them
  when no other thread is running a statement.
* ``reset()`` closes everything and forgets the configuration: run automatically
  when ``settings.DATABASES`` changes (``settings.on_change``); per-alias shared
  resources (pools, SQLite's in-memory database) are released then.
* Everything is closed at interpreter exit.
"""
from __future__ import annotations

import asyncio
import atexit
import contextvars
import threading
import weakref

from dorm.exceptions import ImproperlyConfigured

from .utils import DEFAULT_DB_ALIAS, knobs

#: alias -> backend pinned to the running task by ``aatomic()``.
pinned_connections: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "dorm_pinned_connections", default=None
)


class AliasConfig:
    """The resolved configuration of one alias: backend class, normalised settings
    and the shared state (created once per alias per configuration)."""

    __slots__ = ("alias", "backend_class", "settings", "shared")

    def __init__(self, alias, backend_class, settings, shared):
        self.alias = alias
        self.backend_class = backend_class
        self.settings = settings
        self.shared = shared

    def new_backend(self):
        return self.backend_class(self.settings, self.alias, self.shared)


class _LoopState:
    """Async backends of one event loop: the shared ones and idle pinned ones."""

    __slots__ = ("__weakref__", "idle", "shared")

    def __init__(self):
        self.shared: dict[str, object] = {}
        self.idle: dict[str, list] = {}

    def backends(self):
        yield from self.shared.values()
        for items in self.idle.values():
            yield from items


def _database_settings() -> dict:
    from dorm.conf import settings

    databases = settings.DATABASES
    if databases is None:
        return {}
    if not isinstance(databases, dict):
        raise ImproperlyConfigured("settings.DATABASES must be a dict of alias -> database settings")
    return databases


def _expand_entry(alias: str, entry) -> dict:
    """A ``DATABASES`` entry as a dict (URL strings and ``{"URL": ...}`` expanded)."""
    if isinstance(entry, str):
        entry = {"URL": entry}
    if not isinstance(entry, dict):
        raise ImproperlyConfigured(
            f"DATABASES[{alias!r}] must be a dict or a URL string, got {type(entry).__name__}"
        )
    entry = dict(entry)
    if "URL" in entry and not entry.get("ENGINE"):
        try:
            from dorm.conf import parse_database_url
        except ImportError as exc:  # pragma: no cover - conf always ships it
            raise ImproperlyConfigured("DATABASES URLs need dorm.conf.parse_database_url") from exc
        parsed = parse_database_url(entry.pop("URL"))
        parsed.update(entry)
        entry = parsed
    else:
        entry.pop("URL", None)
    entry["ENGINE"] = entry.get("ENGINE") or "sqlite"
    return entry


class ConnectionHandler:
    """See the module docstring. One instance: ``dorm.db.connections``."""

    #: idle pinned async connections kept per alias and loop (reused by ``aatomic``)
    max_idle_pinned = 4

    def __init__(self):
        self._lock = threading.RLock()
        self._local = threading.local()
        self._configs: dict[str, AliasConfig] = {}
        self._sync_backends: weakref.WeakSet = weakref.WeakSet()
        self._loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._subscribed = False

    # ---- configuration -----------------------------------------------------------------
    def configured_aliases(self) -> list[str]:
        """The aliases of ``settings.DATABASES``."""
        return list(_database_settings())

    def __iter__(self):
        return iter(self.configured_aliases())

    def __contains__(self, alias) -> bool:
        return alias in _database_settings()

    def config(self, alias: str = DEFAULT_DB_ALIAS) -> AliasConfig:
        """The resolved configuration of ``alias`` (resolved once, then cached)."""
        cfg = self._configs.get(alias)
        if cfg is not None:
            return cfg
        with self._lock:
            cfg = self._configs.get(alias)
            if cfg is None:
                cfg = self._configs[alias] = self._resolve(alias)
            return cfg

    def settings_for(self, alias: str = DEFAULT_DB_ALIAS) -> dict:
        """The normalised settings dict of ``alias``."""
        return self.config(alias).settings

    def _resolve(self, alias: str) -> AliasConfig:
        self._subscribe()
        databases = _database_settings()
        if alias not in databases:
            if databases:
                listed = ", ".join(repr(a) for a in databases)
                raise ImproperlyConfigured(
                    f"The database alias {alias!r} is not configured. Configured aliases: {listed}."
                )
            raise ImproperlyConfigured(
                f"The database alias {alias!r} is not configured: settings.DATABASES is empty. "
                "Call dorm.configure(DATABASES={'default': {'ENGINE': 'sqlite', 'NAME': 'app.db'}})."
            )
        entry = _expand_entry(alias, databases[alias])
        from dorm import plugins

        backend_class = plugins.resolve_backend(entry["ENGINE"])
        normalized = backend_class.normalize_settings(entry, alias)
        shared = backend_class.create_shared_state(normalized, alias)
        return AliasConfig(alias, backend_class, normalized, shared)

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
        changed = set(changed or ())
        if "DATABASES" in changed:
            self.reset()

    # ---- sync ------------------------------------------------------------------------------
    def __getitem__(self, alias: str):
        try:
            return self._local.conns[alias]
        except (AttributeError, KeyError):
            return self._create(alias)

    def get(self, alias: str = DEFAULT_DB_ALIAS):
        return self[alias]

    def _create(self, alias: str):
        if not isinstance(alias, str):
            raise TypeError(f"database alias must be a string, got {type(alias).__name__}")
        backend = self.config(alias).new_backend()
        local = self._local
        try:
            conns = local.conns
        except AttributeError:
            conns = local.conns = {}
        conns[alias] = backend
        with self._lock:
            self._sync_backends.add(backend)
        return backend

    def existing(self, alias: str):
        """This thread's backend for ``alias`` if one was created, else ``None``
        (never creates one)."""
        try:
            return self._local.conns.get(alias)
        except AttributeError:
            return None

    def all(self, initialized_only: bool = False) -> list:
        """This thread's backend of every configured alias."""
        if initialized_only:
            return list(getattr(self._local, "conns", {}).values())
        return [self[alias] for alias in self.configured_aliases()]

    # ---- async -----------------------------------------------------------------------------
    def async_backend(self, alias: str = DEFAULT_DB_ALIAS):
        """The async backend for ``alias`` (call from a coroutine). ``aget`` awaits this."""
        pinned = pinned_connections.get()
        if pinned is not None:
            backend = pinned.get(alias)
            if backend is not None:
                return backend
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "async connections are per event loop: call this from a coroutine "
                "(use connections[alias] in sync code)"
            ) from None
        state = self._loops.get(loop)
        if state is None:
            state = self._loop_state(loop)
        backend = state.shared.get(alias)
        if backend is None:
            backend = state.shared[alias] = self.config(alias).new_backend()
        return backend

    async def aget(self, alias: str = DEFAULT_DB_ALIAS):
        """``await connections.aget(alias)``: see the module docstring."""
        return self.async_backend(alias)

    def pinned(self, alias: str = DEFAULT_DB_ALIAS):
        """The backend pinned to the running task for ``alias``, or ``None``."""
        pinned = pinned_connections.get()
        return pinned.get(alias) if pinned is not None else None

    def _loop_state(self, loop) -> _LoopState:
        with self._lock:
            for other, state in list(self._loops.items()):
                if other.is_closed():
                    for backend in state.backends():
                        backend.close_async_nowait()
                    del self._loops[other]
            state = self._loops.get(loop)
            if state is None:
                state = self._loops[loop] = _LoopState()
            return state

    async def acquire_pinned(self, alias: str):
        """A backend of its own for one ``aatomic()`` outermost block (reused from the
        idle list of this loop when possible)."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop) or self._loop_state(loop)
        idle = state.idle.get(alias)
        cfg = self.config(alias)
        while idle:
            backend = idle.pop()
            if backend.shared is cfg.shared:
                return backend
            backend.close_async_nowait()
        return cfg.new_backend()

    async def release_pinned(self, backend) -> None:
        """Give back a backend from ``acquire_pinned`` (kept idle or closed)."""
        alias = backend.alias
        cfg = self._configs.get(alias)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always called from a coroutine
            backend.close_async_nowait()
            return
        state = self._loops.get(loop)
        reusable = (cfg is not None and backend.shared is cfg.shared and state is not None
                    and backend.aconnection is not None and not backend.in_transaction
                    and not backend.in_atomic_block)
        if reusable:
            idle = state.idle.setdefault(alias, [])
            if len(idle) < self.max_idle_pinned:
                idle.append(backend)
                return
        await backend.aclose()

    # ---- closing ---------------------------------------------------------------------------
    def close_all(self) -> None:
        """Close every open connection (sync: every thread; async: every loop, without
        awaiting). Connections reopen on next use."""
        with self._lock:
            backends = list(self._sync_backends)
            states = list(self._loops.values())
        for backend in backends:
            try:
                backend.close()
            except Exception:  # noqa: BLE001, S110 - closing must not stop closing the others
                pass
        for state in states:
            for backend in list(state.backends()):
                backend.close_async_nowait()
            state.idle.clear()

    async def aclose_all(self) -> None:
        """Close every connection, awaiting the async ones of the running loop."""
        with self._lock:
            backends = list(self._sync_backends)
            items = list(self._loops.items())
        for backend in backends:
            try:
                backend.close()
            except Exception:  # noqa: BLE001, S110 - best effort while closing
                pass
        current = asyncio.get_running_loop()
        for loop, state in items:
            for backend in list(state.backends()):
                if loop is current:
                    try:
                        await backend.aclose()
                    except Exception:  # noqa: BLE001, S110 - best effort while closing
                        pass
                else:
                    backend.close_async_nowait()
            state.idle.clear()
        # shared resources bound to this event loop (PostgreSQL's async pool): released
        # before the caller closes its loop
        for cfg in list(self._configs.values()):
            try:
                await cfg.shared.aclose()
            except Exception:  # noqa: BLE001, S110 - best effort while closing
                pass

    def reset(self) -> None:
        """Close everything and forget the configuration (re-read on next use)."""
        with self._lock:
            self.close_all()
            configs = list(self._configs.values())
            self._configs.clear()
            self._local = threading.local()
            self._sync_backends = weakref.WeakSet()
            self._loops = weakref.WeakKeyDictionary()
        for cfg in configs:
            try:
                cfg.shared.close()
            except Exception:  # noqa: BLE001, S110 - best effort while closing
                pass
        knobs.invalidate()

    def _shutdown(self) -> None:
        try:
            self.reset()
        except Exception:  # noqa: BLE001, S110 # pragma: no cover - exit must not fail
            pass

    # ---- stats ------------------------------------------------------------------------------
    def pool_stats(self, alias: str = DEFAULT_DB_ALIAS) -> dict:
        """``{"alias", "status": "uninitialised"}`` before first use, else counters of
        open connections plus the backend's shared-state stats."""
        cfg = self._configs.get(alias)
        if cfg is None:
            return {"alias": alias, "status": "uninitialised"}
        with self._lock:
            sync_open = sum(1 for b in self._sync_backends
                            if b.alias == alias and b.connection is not None)
            async_open = sum(1 for st in self._loops.values() for b in st.backends()
                             if b.alias == alias and b.aconnection is not None)
        stats = {"alias": alias, "status": "ok", "vendor": cfg.backend_class.vendor,
                 "sync_connections": sync_open, "async_connections": async_open}
        mine = self.existing(alias)
        stats["atomic_depth"] = mine.atomic_depth if mine is not None else 0
        stats.update(cfg.shared.stats())
        return stats


connections = ConnectionHandler()
atexit.register(connections._shutdown)
