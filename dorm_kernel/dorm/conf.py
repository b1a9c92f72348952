"""Settings: ``dorm.settings``, ``dorm.configure()``, discovery, ``parse_database_url``.

Contract (spec core.md §1):

* ``configure(**kwargs)`` sets upper-case settings and marks dorm configured. It may
  be called again; later calls overwrite the keys they name. ``DATABASES`` values may
  be URL strings or dicts with ``"URL"`` (expanded by ``parse_database_url``; explicit
  keys win, ``OPTIONS`` are merged). After setting, it tells ``settings.on_change``
  subscribers which keys changed (the connection layer drops its connections when
  ``DATABASES`` is among them), then runs the historic ``dorm_configure`` plugin hook.
* Reading a setting before ``configure()`` first tries discovery, once
  (``discover()``). Known settings then fall back to their defaults; an unknown name
  raises ``ImproperlyConfigured`` before configuration and ``AttributeError`` after,
  so ``getattr(settings, "X", default)`` works on a configured dorm.
* Discovery (runtime and CLI alike): ``--settings`` dotted path > ``DORM_SETTINGS`` >
  ``DORM_SETTINGS_MODULE`` > ``settings.py`` (or a ``settings/`` package) in the
  directory of ``sys.argv[0]``, then the current directory. Every upper-case attribute
  is forwarded to ``configure()``; empty ``INSTALLED_APPS`` are autodiscovered; then
  ``<app>.models`` is imported for every app.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from dorm.exceptions import ImproperlyConfigured
from dorm.plugins import manager as _plugin_manager  # also installs the dorm.* import hook

__all__ = [
    "DEFAULTS", "Settings", "SettingsSource", "autodiscover_apps", "configure", "discover",
    "import_app_models", "load_settings_module", "parse_database_url", "settings",
]

DEFAULTS: dict[str, Any] = {
    "DATABASES": {},
    "INSTALLED_APPS": [],
    "DATABASE_ROUTERS": [],
    "DEFAULT_AUTO_FIELD": "dorm.fields.BigAutoField",
    "TIME_ZONE": "UTC",
    "USE_TZ": False,
    "SEARCH_CONFIG": "english",
    "STORAGES": {},
    "CACHES": {},
    "CACHE_SIGNING_KEY": "",
    "SECRET_KEY": "",
    "CACHE_INSECURE_PICKLE": False,
    "CACHE_REQUIRE_SIGNING_KEY": False,
    "SLOW_QUERY_MS": 500.0,
    "SLOW_QUERY_EXPLAIN": False,
    "RETRY_ATTEMPTS": 3,
    "RETRY_BACKOFF": 0.1,
    "QUERY_COUNT_WARN": None,
    "READ_AFTER_WRITE_WINDOW": 3.0,
    "FIELD_ENCRYPTION_KEY": "",
    "FIELD_ENCRYPTION_KEYS": [],
    "DEBUG": False,
    "DEBUG_NPLUSONE": False,
    "POOL_SATURATION_WARN": None,
    "HISTORY_MASK_PII": False,
    "PLUGINS": None,
}

_DOTTED_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _to_bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {text!r}")


def _to_float_or_none(text: str) -> float | None:
    return None if str(text).strip().lower() in ("none", "null", "off", "") else float(text)


#: settings whose default can come from an env var (explicit configure() value wins).
ENV_DEFAULTS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "SLOW_QUERY_MS": ("DORM_SLOW_QUERY_MS", _to_float_or_none),
    "SLOW_QUERY_EXPLAIN": ("DORM_SLOW_QUERY_EXPLAIN", _to_bool),
    "RETRY_ATTEMPTS": ("DORM_RETRY_ATTEMPTS", int),
    "RETRY_BACKOFF": ("DORM_RETRY_BACKOFF", float),
}


def _default(name: str) -> Any:
    env = ENV_DEFAULTS.get(name)
    if env is not None and os.environ.get(env[0]) is not None:
        raw = os.environ[env[0]]
        try:
            return env[1](raw)
        except ValueError as exc:
            raise ImproperlyConfigured(f"Environment variable {env[0]}={raw!r} is invalid: {exc}") from None
    return copy.deepcopy(DEFAULTS[name])


@dataclass
class SettingsSource:
    """Where discovered settings came from: module name, file, autodiscovery root, apps."""

    module: str
    file: Path | None
    directory: Path
    apps: list[str] = field(default_factory=list)


class Settings:
    """The settings singleton (``dorm.settings``); see the module docstring.

    Values live in the instance ``__dict__`` so reading a set or defaulted setting is
    a plain attribute access. Assigning an upper-case attribute is ``configure()``.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_subscribers", [])
        self._clear()

    def _clear(self) -> None:
        for key in [k for k in self.__dict__ if k.isupper()]:
            del self.__dict__[key]
        d = self.__dict__
        d["_explicit"] = set()
        d["_configured"] = False
        d["_discovery_done"] = False
        d["_discovering"] = False
        d["source"] = None

    # ---- state -------------------------------------------------------------------------
    @property
    def configured(self) -> bool:
        """True after ``configure()`` (or successful discovery)."""
        return self._configured

    def explicit_value(self, name: str, default: Any = None) -> Any:
        """The value given to ``configure()`` for ``name``, else ``default`` (no discovery)."""
        return self.__dict__[name] if name in self._explicit else default

    def is_explicit(self, name: str) -> bool:
        """Was ``name`` set by ``configure()`` (rather than defaulted)?"""
        return name in self._explicit

    def on_change(self, callback: Callable[[frozenset[str]], None]) -> Callable:
        """Call ``callback(changed_keys)`` after every ``configure()`` and ``reset()``.

        ``changed_keys`` is the frozenset of setting names the call set (all set names
        for ``reset()``, always including ``DATABASES``). Returns ``callback``.
        """
        self._subscribers.append(callback)
        return callback

    def reset(self) -> None:
        """Forget every setting and the discovery state (tests). Subscribers are kept."""
        changed = frozenset(k for k in self.__dict__ if k.isupper()) | {"DATABASES"}
        self._clear()
        _plugin_manager.notify_reset()
        self._notify(changed)

    def _snapshot(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k.isupper()}
        state.update({k: self.__dict__[k] for k in ("_configured", "_discovery_done", "source")})
        state["_explicit"] = set(self._explicit)
        return state

    def _restore(self, state: dict) -> None:
        before = {k for k in self.__dict__ if k.isupper()}
        for key in before:
            del self.__dict__[key]
        self.__dict__.update(state)
        self.__dict__["_explicit"] = set(state["_explicit"])
        self.__dict__["_discovering"] = False
        changed = frozenset(before | {k for k in state if k.isupper()})
        _plugin_manager.notify_reset()
        if self._configured:
            _plugin_manager.notify_configured(self)
        self._notify(changed)

    @contextlib.contextmanager
    def override(self, **kwargs: Any) -> Iterator[Settings]:
        """Within the block, ``configure(**kwargs)``; afterwards the previous settings
        (and configured state) are restored and subscribers notified (tests)."""
        state = self._snapshot()
        try:
            self.configure(**kwargs)
            yield self
        finally:
            self._restore(state)

    @contextlib.contextmanager
    def isolated(self) -> Iterator[Settings]:
        """Within the block, settings start unconfigured (as after ``reset()``);
        afterwards the previous settings are restored (tests)."""
        state = self._snapshot()
        try:
            self.reset()
            yield self
        finally:
            self._restore(state)

    def _notify(self, changed: frozenset[str]) -> None:
        for cb in list(self._subscribers):
            cb(changed)

    # ---- access --------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # Only called when ``name`` is not in __dict__ (not set nor defaulted yet).
        if name.startswith("_") or not name.isupper():
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        d = self.__dict__
        if not d["_configured"] and not d["_discovery_done"] and not d["_discovering"]:
            self.setup()
            if name in d:
                return d[name]
        if name in DEFAULTS:
            value = d[name] = _default(name)
            return value
        if d["_configured"]:
            raise AttributeError(f"Setting {name} is not defined (dorm.settings has no {name!r})")
        raise ImproperlyConfigured(
            f"Setting {name} was requested, but dorm is not configured: call "
            f"dorm.configure({name}=...), or provide settings through DORM_SETTINGS / a "
            f"settings.py next to your script or in the current directory."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name.isupper():
            self.configure(**{name: value})
        else:
            object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if name.isupper():
            self.__dict__.pop(name, None)
            self._explicit.discard(name)
            self._notify(frozenset({name}))
        else:
            object.__delattr__(self, name)

    def __repr__(self) -> str:
        state = "configured" if self._configured else "not configured"
        return f"<dorm.settings ({state})>"

    def setup(self) -> SettingsSource | None:
        """Run runtime discovery once if not configured; returns the source found."""
        d = self.__dict__
        if d["_configured"] or d["_discovery_done"] or d["_discovering"]:
            return d["source"]
        d["_discovering"] = True
        try:
            return discover(required=False)
        finally:
            d["_discovering"] = False
            d["_discovery_done"] = True

    # ---- configure -------------------------------------------------------------------------
    def configure(self, **kwargs: Any) -> None:
        """Set settings (see module docstring). Names must be upper case."""
        bad = [k for k in kwargs if not k.isupper() or k.startswith("_")]
        if bad:
            raise ImproperlyConfigured(
                f"Setting names must be UPPER_CASE; got {', '.join(map(repr, bad))}"
            )
        values = {k: _normalise(k, v) for k, v in kwargs.items()}
        d = self.__dict__
        d.update(values)
        d["_explicit"].update(values)
        d["_configured"] = True
        changed = frozenset(values)
        self._notify(changed)
        if "PLUGINS" in changed and _plugin_manager._pm is not None:
            _plugin_manager.reload()
        _plugin_manager.notify_configured(self)


def _normalise(key: str, value: Any) -> Any:
    if key == "DATABASES":
        return _normalise_databases(value)
    if key == "INSTALLED_APPS":
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ImproperlyConfigured(f"INSTALLED_APPS must be a list of dotted module names, got {value!r}")
        for app in value:
            _check_dotted(app, "INSTALLED_APPS entry")
        return list(value)
    if key == "DATABASE_ROUTERS" and isinstance(value, tuple):
        return list(value)
    return value


def _normalise_databases(value: Any) -> dict[str, dict]:
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"DATABASES must be a dict of alias -> settings, got {type(value).__name__}")
    out: dict[str, dict] = {}
    for alias, entry in value.items():
        if not isinstance(alias, str) or not alias:
            raise ImproperlyConfigured(f"DATABASES alias must be a non-empty string, got {alias!r}")
        if isinstance(entry, str):
            entry = {"URL": entry}
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}] must be a URL string or a dict, got {type(entry).__name__}"
            )
        entry = dict(entry)
        url = entry.pop("URL", None)
        if url is not None:
            try:
                expanded = parse_database_url(url)
            except ImproperlyConfigured as exc:
                raise ImproperlyConfigured(f"DATABASES[{alias!r}]: {exc}") from None
            options = {**expanded.get("OPTIONS", {}), **entry.get("OPTIONS", {})}
            entry = {**expanded, **entry}
            if options:
                entry["OPTIONS"] = options
        out[alias] = entry
    return out


def _check_dotted(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _DOTTED_RE.match(name):
        raise ImproperlyConfigured(
            f"{what} must be a dotted Python path like 'myproject.settings', got {name!r}"
        )
    return name


settings = Settings()


@settings.on_change
def _debug_nplusone_changed(changed: frozenset[str]) -> None:
    """``DEBUG_NPLUSONE`` (core.md §1.1): install or remove the global N+1 detector
    (``dorm.contrib.nplusone`` is imported only when the setting is used)."""
    if "DEBUG_NPLUSONE" in changed:
        from dorm.contrib import nplusone

        nplusone.sync_global_detector()


def configure(**kwargs: Any) -> None:
    """``dorm.configure(**settings)``: see ``Settings.configure``."""
    settings.configure(**kwargs)


# ---- parse_database_url ---------------------------------------------------------------
_PG_INT = ("MIN_POOL_SIZE", "MAX_POOL_SIZE")
_PG_FLOAT = ("POOL_TIMEOUT", "MAX_IDLE", "MAX_LIFETIME")


def _pg_param(key: str, raw: str) -> Any:
    try:
        if key in _PG_INT:
            return int(raw)
        if key in _PG_FLOAT:
            return float(raw)
        if key == "POOL_CHECK":
            return _to_bool(raw)
        if key == "PREPARE_THRESHOLD":
            return None if raw.strip().lower() in ("none", "null", "") else int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Database URL parameter {key}={raw!r} is invalid: {exc}") from None
    raise AssertionError(key)


def _server_parts(parts) -> dict[str, Any]:
    out: dict[str, Any] = {"NAME": unquote(parts.path.lstrip("/"))}
    if parts.username:
        out["USER"] = unquote(parts.username)
    if parts.password is not None:
        out["PASSWORD"] = unquote(parts.password)
    host = parts.netloc.rpartition("@")[2]
    if host.startswith("["):  # IPv6 literal
        host = host[1:].partition("]")[0]
    else:
        host = host.partition(":")[0]
    if host:
        out["HOST"] = unquote(host)
    try:
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(f"Database URL has an invalid port: {exc}") from None
    if port is not None:
        out["PORT"] = port
    return out


def parse_database_url(url: str) -> dict[str, Any]:
    """Turn a database URL into a ``DATABASES`` entry (spec core.md §1.3).

    * ``sqlite://`` / ``sqlite:///`` -> ``:memory:``; ``sqlite:///rel.db`` relative;
      ``sqlite:////abs/path.db`` absolute (``sqlite3`` and ``duckdb`` likewise);
      query parameters go to ``OPTIONS``.
    * ``postgres`` / ``postgresql`` / ``psql`` (and ``cockroachdb``):
      ``MIN_POOL_SIZE MAX_POOL_SIZE POOL_TIMEOUT POOL_CHECK MAX_IDLE MAX_LIFETIME
      PREPARE_THRESHOLD`` (any case) are lifted to the top level with their types, the
      rest of the query goes to ``OPTIONS``.
    * ``libsql``, ``libsql+ws(s)``, ``libsql+http(s)``: ``authToken``/``AUTH_TOKEN`` ->
      ``AUTH_TOKEN``. With a ``NAME`` parameter (a local replica file), ``NAME`` is that
      and ``SYNC_URL`` the remote URL; without, ``NAME`` is the remote URL.
    * ``mysql``, ``mariadb``, ``mysql+pymysql``, ``mysql+asyncmy`` (driver -> ``DRIVER``).

    User, password, host and database name are percent-decoded. An unknown scheme
    raises ``ImproperlyConfigured`` listing the known ones.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ImproperlyConfigured(f"Not a database URL (expected scheme://...): {url!r}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = parse_qsl(parts.query, keep_blank_values=True)

    if scheme in ("sqlite", "sqlite3", "duckdb"):
        name = unquote(parts.netloc + parts.path)
        if name.startswith("/") and not parts.netloc:
            name = name[1:]  # sqlite:///rel -> rel ; sqlite:////abs -> /abs
        out: dict[str, Any] = {"ENGINE": "duckdb" if scheme == "duckdb" else "sqlite",
                               "NAME": name or ":memory:"}
        if query:
            out["OPTIONS"] = dict(query)
        return out

    if scheme in ("postgres", "postgresql", "psql", "pgsql", "cockroach", "cockroachdb"):
        is_crdb = scheme.startswith("cockroach")
        out = {"ENGINE": "cockroachdb" if is_crdb else "postgresql", **_server_parts(parts)}
        options: dict[str, str] = {}
        for key, raw in query:
            upper = key.upper()
            if upper in (*_PG_INT, *_PG_FLOAT, "POOL_CHECK", "PREPARE_THRESHOLD"):
                out[upper] = _pg_param(upper, raw)
            else:
                options[key] = raw
        if options:
            out["OPTIONS"] = options
        return out

    if scheme == "libsql" or scheme.startswith("libsql+"):
        transport = scheme.partition("+")[2] or "libsql"
        if transport not in ("libsql", "ws", "wss", "http", "https"):
            raise ImproperlyConfigured(f"Unknown libsql transport {scheme!r} (use libsql, libsql+ws, libsql+wss, libsql+http, libsql+https)")
        rest: list[tuple[str, str]] = []
        out = {"ENGINE": "libsql"}
        local_name = None
        for key, raw in query:
            if key in ("authToken", "AUTH_TOKEN", "auth_token"):
                out["AUTH_TOKEN"] = raw
            elif key in ("NAME", "name"):
                local_name = raw
            else:
                rest.append((key, raw))
        remote = f"{transport}://{parts.netloc}{parts.path}"
        if local_name is not None:
            out["NAME"], out["SYNC_URL"] = local_name, remote
        else:
            out["NAME"] = remote
        if rest:
            out["OPTIONS"] = dict(rest)
        return out

    if scheme in ("mysql", "mariadb", "mysql+pymysql", "mysql+asyncmy", "mariadb+pymysql", "mariadb+asyncmy"):
        base, _, driver = scheme.partition("+")
        out = {"ENGINE": base, **_server_parts(parts)}
        if driver:
            out["DRIVER"] = driver
        if query:
            out["OPTIONS"] = dict(query)
        return out

    raise ImproperlyConfigured(
        f"Unknown database URL scheme {parts.scheme!r}; known schemes: sqlite, sqlite3, "
        f"postgres, postgresql, psql, cockroachdb, libsql, libsql+ws(s), libsql+http(s), "
        f"mysql, mariadb, mysql+pymysql, mysql+asyncmy, duckdb"
    )


# ---- discovery --------------------------------------------------------------------------
SKIP_DIRS = frozenset(
    ["venv", ".venv", "env", ".env", "site-packages", "__pycache__", ".git", ".hg", ".tox", "dist", "build", "node_modules", "migrations", ".mypy_cache", ".ruff_cache", ".pytest_cache"]
)


def autodiscover_apps(root: str | os.PathLike) -> list[str]:
    """Dotted names of the packages under ``root`` that contain ``models.py``.

    A package counts only if it and every ancestor up to ``root`` have ``__init__.py``
    (so the name is importable with ``root`` on ``sys.path``). ``SKIP_DIRS`` and
    dot-directories are not searched. Sorted.
    """
    root = Path(root)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and not d.startswith(".") and d.isidentifier()
            and (here / d / "__init__.py").is_file()
        )
        rel = here.relative_to(root).parts
        if rel and ("models.py" in filenames or (here / "models" / "__init__.py").is_file()):
            found.append(".".join(rel))
    return sorted(found)


def import_app_models(apps: list[str] | None = None) -> list[str]:
    """Import ``<app>.models`` for each app (default ``settings.INSTALLED_APPS``).

    An app without a ``models`` module is fine; an app that cannot be imported raises
    ``ImproperlyConfigured`` naming it; any other error inside a models module
    propagates unchanged. Returns the apps.
    """
    apps = list(settings.INSTALLED_APPS if apps is None else apps)
    for app in apps:
        _check_dotted(app, "INSTALLED_APPS entry")
        try:
            importlib.import_module(f"{app}.models")
        except ModuleNotFoundError as exc:
            if exc.name == f"{app}.models":
                continue
            if exc.name and (app == exc.name or app.startswith(exc.name + ".")):
                raise ImproperlyConfigured(
                    f"INSTALLED_APPS entry {app!r} cannot be imported ({exc}); "
                    f"sys.path starts with {sys.path[:3]}"
                ) from exc
            raise
    return apps


def _prepend_path(path: Path, *, front: bool = False) -> None:
    """Put ``path`` on ``sys.path`` (moved to the front when ``front``)."""
    text = str(path)
    if text in sys.path:
        if not front:
            return
        sys.path.remove(text)
    sys.path.insert(0, text)


def _import_settings(name: str, origin: str) -> Any:
    """Import settings module ``name``; ``DORM_PROFILE=p`` tries ``name.p`` first."""
    _check_dotted(name, f"Settings module (from {origin})")
    importlib.invalidate_caches()
    candidates = [name]
    profile = os.environ.get("DORM_PROFILE", "").strip()
    if profile and "." not in name:
        candidates.insert(0, f"{name}.{_check_dotted(profile, 'DORM_PROFILE')}")
    for i, candidate in enumerate(candidates):
        try:
            return importlib.import_module(candidate)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if not (candidate == missing or candidate.startswith(missing + ".")):
                raise
            if i == len(candidates) - 1:
                raise ImproperlyConfigured(
                    f"Settings module {name!r} (from {origin}) cannot be imported: {exc}. "
                    f"Looked on sys.path, which starts with {sys.path[:3]}."
                ) from exc
    raise AssertionError("unreachable")


def _settings_in(directory: Path) -> bool:
    return (directory / "settings.py").is_file() or (directory / "settings" / "__init__.py").is_file()


def _purge_foreign(name: str, directory: Path) -> None:
    """Forget a cached top-level ``settings`` module that lives in another directory."""
    cached = sys.modules.get(name)
    file = getattr(cached, "__file__", None)
    if cached is None or (file and Path(file).resolve().is_relative_to(directory.resolve())):
        return
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def _import_root(module: Any) -> Path:
    file = Path(module.__file__).resolve()
    depth = module.__name__.count(".") + (1 if file.name == "__init__.py" else 0)
    return file.parents[depth]


def find_settings_module(settings_module: str | None = None) -> Any | None:
    """Locate and import the settings module (precedence in the module docstring)."""
    for value, origin in (
        (settings_module, "--settings"),
        (os.environ.get("DORM_SETTINGS"), "DORM_SETTINGS"),
        (os.environ.get("DORM_SETTINGS_MODULE"), "DORM_SETTINGS_MODULE"),
    ):
        if value:
            _prepend_path(Path.cwd())
            return _import_settings(value.strip(), origin)
    dirs = []
    if sys.argv and sys.argv[0] and sys.argv[0] not in ("-c", "-m"):
        dirs.append(Path(sys.argv[0]).resolve().parent)
    dirs.append(Path.cwd())
    for directory in dirs:
        if _settings_in(directory):
            _purge_foreign("settings", directory)
            _prepend_path(directory, front=True)
            return _import_settings("settings", f"{directory / 'settings.py'}")
    return None


def load_settings_module(module: Any) -> SettingsSource:
    """Configure dorm from a settings module (CLI and runtime share this).

    Forwards every UPPER_CASE attribute to ``configure()``, prepends the settings
    file's directory and its parent to ``sys.path``, autodiscovers apps under the
    module's import root when ``INSTALLED_APPS`` is empty, then imports each app's
    ``models``.
    """
    values = {k: v for k, v in vars(module).items() if k.isupper() and not k.startswith("_")}
    file = Path(module.__file__).resolve() if getattr(module, "__file__", None) else None
    directory = _import_root(module) if file else Path.cwd()
    if file:
        _prepend_path(file.parent.parent)
        _prepend_path(file.parent)
        _prepend_path(directory)
    if not values.get("INSTALLED_APPS"):
        values["INSTALLED_APPS"] = autodiscover_apps(directory)
    source = SettingsSource(module.__name__, file, directory, list(values["INSTALLED_APPS"]))
    settings.__dict__["source"] = source
    configure(**values)
    import_app_models(source.apps)
    return source


def discover(settings_module: str | None = None, *, required: bool = False) -> SettingsSource | None:
    """Find, import and apply the settings module; ``None`` if there is none.

    With ``required=True`` a missing settings module raises ``ImproperlyConfigured``
    saying where dorm looked.
    """
    module = find_settings_module(settings_module)
    if module is None:
        if required:
            raise ImproperlyConfigured(
                "No dorm settings found: pass --settings dotted.path, set DORM_SETTINGS, or "
                f"create settings.py in {Path.cwd()} (try 'dorm init')."
            )
        return None
    return load_settings_module(module)
