"""Trace/span ids on log records, so log lines and traces can be joined.

Contract:

* ``TraceContextLogFilter`` (a ``logging.Filter``) sets ``record.otel_trace_id`` (32
  lower-case hex digits) and ``record.otel_span_id`` (16) from the span current when
  the record passes through it, or ``"-"`` for both when there is no valid span (or
  OpenTelemetry is not installed). It never drops a record, and keeps ids a record
  already carries (set where the record was created, which is the right context when
  a handler runs later or on another thread).
* ``install_log_correlation(logger_names=None)`` adds one shared filter to each named
  logger (default: the root logger) **and to each of its handlers** (a logger's own
  filters only see records logged on that very logger; a handler's filters also see
  those propagated from child loggers such as ``dorm.db.backends.sqlite``).
  Idempotent; returns the filter. Handlers added later are not covered: call it after
  configuring logging (again, if handlers change).
* ``uninstall_log_correlation()`` removes the shared filter from everywhere it was
  added.

Format with ``%(otel_trace_id)s`` / ``%(otel_span_id)s`` (``{otel_trace_id}`` with
``style="{"``).
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable

NO_ID = "-"

try:  # the filter works (ids "-") without OpenTelemetry installed
    from opentelemetry.trace import get_current_span as _current_span
except ImportError:  # pragma: no cover - exercised by a subprocess test
    _current_span = None


class TraceContextLogFilter(logging.Filter):
    """Adds ``otel_trace_id`` / ``otel_span_id`` to every record (see module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "otel_trace_id", None) is None:
            trace_id = span_id = NO_ID
            if _current_span is not None:
                ctx = _current_span().get_span_context()
                if ctx.is_valid:
                    trace_id = format(ctx.trace_id, "032x")
                    span_id = format(ctx.span_id, "016x")
            record.otel_trace_id = trace_id
            record.otel_span_id = span_id
        return True


_lock = threading.Lock()
_shared: TraceContextLogFilter | None = None
_targets: weakref.WeakSet = weakref.WeakSet()   # loggers/handlers the filter was added to


def install_log_correlation(logger_names: Iterable[str] | str | None = None) -> TraceContextLogFilter:
    """Add the shared ``TraceContextLogFilter`` to the named loggers (default: root)
    and their handlers; return it."""
    global _shared
    if isinstance(logger_names, str):
        logger_names = [logger_names]
    names = [""] if logger_names is None else list(logger_names)
    with _lock:
        if _shared is None:
            _shared = TraceContextLogFilter()
        for name in names:
            logger = logging.getLogger(name or None)
            for target in (logger, *logger.handlers):
                if _shared not in target.filters:
                    target.addFilter(_shared)
                _targets.add(target)
        return _shared


def uninstall_log_correlation() -> None:
    """Remove the shared filter from every logger and handler it was added to."""
    with _lock:
        if _shared is not None:
            for target in list(_targets):
                target.removeFilter(_shared)
        _targets.clear()
