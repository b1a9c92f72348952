"""Helpers shared by the connection layer: knobs, error normalisation, log masking.

* ``knobs`` holds the statement-path settings (``SLOW_QUERY_MS``, ``RETRY_ATTEMPTS``,
  ``RETRY_BACKOFF``, ``READ_AFTER_WRITE_WINDOW``) as plain attributes, read once and
  re-read lazily after the settings change, so the hot path never parses settings.
* ``normalize_error`` turns a DB-API driver exception into the matching
  ``dorm.exceptions`` class (the driver error stays as ``__cause__``).
* ``mask_params`` hides parameter values in log lines when the statement mentions a
  sensitive name (``password``, ``token``...); ``add_sensitive_pattern`` extends the list.
"""
from __future__ import annotations

import math
import re
import threading

from dorm.exceptions import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)

DEFAULT_DB_ALIAS = "default"

# ---- knobs ---------------------------------------------------------------------------


class Knobs:
    """Statement-path settings, cached as attributes (see module docstring).

    ``slow_query_s`` is ``math.inf`` when slow-query logging is disabled.
    """

    __slots__ = (
        "_loaded",
        "read_after_write_window",
        "retry_attempts",
        "retry_backoff",
        "slow_query_s",
    )

    def __init__(self):
        self.slow_query_s = 0.5
        self.retry_attempts = 3
        self.retry_backoff = 0.1
        self.read_after_write_window = 3.0
        self._loaded = False

    def refresh(self) -> None:
        """Re-read the knobs from ``dorm.conf.settings`` (defaults when unset). The
        first refresh subscribes to settings changes, so a changed knob is re-read
        even when no connection was ever opened."""
        settings = _settings()
        if not _subscribed and settings is not None:
            _subscribe(settings)
        slow = _read(settings, "SLOW_QUERY_MS", 500.0)
        self.slow_query_s = math.inf if slow is None else float(slow) / 1000.0
        attempts = _read(settings, "RETRY_ATTEMPTS", 3)
        self.retry_attempts = max(1, int(attempts if attempts is not None else 1))
        backoff = _read(settings, "RETRY_BACKOFF", 0.1)
        self.retry_backoff = max(0.0, float(backoff or 0.0))
        window = _read(settings, "READ_AFTER_WRITE_WINDOW", 3.0)
        self.read_after_write_window = max(0.0, float(window or 0.0))
        self._loaded = True

    def ensure(self) -> None:
        if not self._loaded:
            self.refresh()

    def invalidate(self) -> None:
        """Settings changed: re-read lazily at the next statement. (Reading settings
        inside a change notification could trigger settings discovery too early.)
        ``slow_query_s`` drops to -1 so the next statement takes the slow-query branch,
        which refreshes first."""
        self._loaded = False
        self.slow_query_s = -1.0


_subscribed = False


def _subscribe(settings) -> None:
    global _subscribed
    on_change = getattr(settings, "on_change", None)
    if on_change is None:
        return
    _subscribed = True

    def changed(names):
        if set(names or ()) & KNOB_SETTINGS:
            knobs.invalidate()

    on_change(changed)


def _settings():
    try:
        from dorm.conf import settings
    except ImportError:  # settings layer not importable: defaults only
        return None
    return settings


def _read(settings, name, default):
    if settings is None:
        return default
    try:
        return getattr(settings, name, default)
    except Exception:  # noqa: BLE001 - not configured yet (ImproperlyConfigured): defaults
        return default


knobs = Knobs()

#: Setting names whose change refreshes ``knobs``.
KNOB_SETTINGS = frozenset({"SLOW_QUERY_MS", "RETRY_ATTEMPTS", "RETRY_BACKOFF",
                           "READ_AFTER_WRITE_WINDOW"})


# ---- error normalisation ---------------------------------------------------------------

#: DB-API (PEP 249) exception class names -> dorm classes. Drivers subclass these
#: names, so walking the MRO maps any PEP 249 driver without naming it.
_DBAPI_CLASSES = {
    "IntegrityError": IntegrityError,
    "DataError": DataError,
    "OperationalError": OperationalError,
    "ProgrammingError": ProgrammingError,
    "InterfaceError": InterfaceError,
    "NotSupportedError": NotSupportedError,
    "InternalError": DatabaseError,
    "DatabaseError": DatabaseError,
    "Error": DatabaseError,
}


def dbapi_class_for(exc: BaseException) -> type[DatabaseError]:
    """The dorm exception class matching a PEP 249 driver exception."""
    for klass in type(exc).__mro__:
        target = _DBAPI_CLASSES.get(klass.__name__)
        if target is not None:
            return target
    return DatabaseError


def normalize_error(exc: BaseException, cls: type[DatabaseError], *, alias: str, vendor: str,
                    sql: str | None = None, hint: str | None = None) -> DatabaseError:
    """Build the dorm exception for driver error ``exc`` (raise it ``from exc``).

    The message is the driver's, plus ``hint`` on a new line. The exception carries
    ``alias``, ``vendor`` and ``sql`` attributes for handlers and logs (parameters are
    deliberately not attached: they may hold secrets).
    """
    message = str(exc) or type(exc).__name__
    if hint:
        message = f"{message}\nHint: {hint}"
    err = cls(message)
    err.alias = alias
    err.vendor = vendor
    err.sql = sql
    return err


# ---- log masking -------------------------------------------------------------------------

_DEFAULT_SENSITIVE = ("password", "passwd", "secret", "token", "api_key", "apikey",
                      "authorization", "credential", "private_key", "session_key")
_sensitive_lock = threading.Lock()
_sensitive: list[str] = list(_DEFAULT_SENSITIVE)
_sensitive_re: re.Pattern | None = None


def _pattern() -> re.Pattern:
    global _sensitive_re
    rx = _sensitive_re
    if rx is None:
        with _sensitive_lock:
            rx = _sensitive_re = re.compile("|".join(re.escape(s) for s in _sensitive),
                                            re.IGNORECASE)
    return rx


def add_sensitive_pattern(*names: str) -> None:
    """Add names whose presence in a statement masks its parameters in log lines."""
    global _sensitive_re
    with _sensitive_lock:
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError("sensitive patterns must be non-empty strings")
            if name.lower() not in _sensitive:
                _sensitive.append(name.lower())
        _sensitive_re = None


def reset_sensitive_patterns() -> None:
    """Back to the built-in list of sensitive names."""
    global _sensitive_re
    with _sensitive_lock:
        _sensitive[:] = _DEFAULT_SENSITIVE
        _sensitive_re = None


def mask_params(sql: str, params):
    """``params`` for a log line: all values replaced by ``'***'`` when ``sql``
    mentions a sensitive name (positional parameters cannot be matched to columns
    reliably, so the whole statement's values are hidden)."""
    if not params or not isinstance(sql, str) or not _pattern().search(sql):
        return params
    if isinstance(params, dict):
        return {k: "***" for k in params}
    try:
        return ["***"] * len(params)
    except TypeError:
        return "***"


def shorten_params(params, limit: int = 500) -> str:
    """``repr(params)`` cut to ``limit`` characters (bulk statements carry thousands)."""
    text = repr(params)
    if len(text) <= limit:
        return text
    count = len(params) if hasattr(params, "__len__") else "?"
    return text[:limit] + f"... [{count} parameters in all]"


def shorten(sql: str, limit: int = 2000) -> str:
    """``sql`` cut to ``limit`` characters for log lines."""
    if len(sql) <= limit:
        return sql
    return sql[:limit] + f"... [{len(sql) - limit} more characters]"
