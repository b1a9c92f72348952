"""One OpenTelemetry span per SQL statement, through the ``dorm_execute`` wrapper hook.

Contract of ``StatementTracer`` (a plugin object; ``instrument()`` registers one):

* Its ``dorm_execute`` wrapper runs around every statement of every backend (sync and
  async), inside the kernel's error normalisation and read retries: one CLIENT span
  per statement, started before the driver call and ended after it, so spans pair up
  by construction (no pre/post correlation, nothing to leak).
* Parent: the span current where the statement is issued (thread or asyncio task).
  While the driver runs, the statement's span is the current span (log records and
  driver-level instrumentation nest under it).
* Async statements: the kernel calls the wrapper synchronously and gets the
  statement's awaitable back from the innermost implementation; the wrapper returns a
  coroutine that awaits it and ends the span, which the kernel awaits in the same task.
* Name ``"<OPERATION> <table>"``, ``"<OPERATION>"`` when no table is named, else
  ``"db.<vendor>"`` (see ``dorm_otel.sql``).
* Attributes, old and new semantic conventions side by side: ``db.system`` /
  ``db.system.name`` (the backend vendor), ``db.statement`` / ``db.query.text`` (the
  first 1024 characters of the SQL, placeholders only), ``db.operation`` /
  ``db.operation.name``, ``db.sql.table`` / ``db.collection.name``, ``db.name`` /
  ``db.namespace`` and ``server.address`` / ``server.port`` (server databases with a
  ``HOST``), ``db.dorm.alias``; at the end ``db.dorm.elapsed_ms``,
  ``db.response.returned_rows`` (rows of a query or of ``RETURNING``),
  ``db.dorm.rowcount`` (rows affected, when the driver reports it).
* Parameters only with ``include_params=True``, masked by the kernel's
  ``mask_params`` (every value hidden when the SQL names a sensitive column):
  ``db.query.parameter.<index or name>`` per value (strings, at most 256 characters,
  at most 100 values) for single statements, ``db.dorm.params`` (a shortened
  ``repr``) for ``executemany``.
* Failure: the exception propagates unchanged; the span gets ``db.dorm.error`` (the
  exception class name), ``error.type`` (its qualified name),
  ``db.response.status_code`` (the driver's SQLSTATE when it has one), an exception
  event and status ERROR with the message.
* Instrumentation suppressed through OpenTelemetry's ``suppress_instrumentation``
  context key: no span. A span the sampler drops is not made current. A failure to
  start a span (a broken SDK or sampler) is logged once per ``instrument()`` call and
  the statement runs untraced: tracing never stops a statement.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref

from dorm.db.utils import mask_params, shorten_params
from dorm.hookspecs import hookimpl
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .sql import describe

STATEMENT_LIMIT = 1024
PARAM_VALUE_LIMIT = 256
PARAM_COUNT_LIMIT = 100
#: verbs whose result list holds the rows the database returned
_ROW_VERBS = frozenset({"SELECT", "VALUES", "EXPLAIN", "PRAGMA", "SHOW"})
_SUPPRESS_KEY = getattr(context_api, "_SUPPRESS_INSTRUMENTATION_KEY", None)
_perf = time.perf_counter
_attach, _detach, _get_value = context_api.attach, context_api.detach, context_api.get_value
_in_context = trace.set_span_in_context
_CLIENT = SpanKind.CLIENT


class StatementTracer:
    """The ``dorm_execute`` wrapper that traces statements with ``tracer``."""

    def __init__(self, tracer, *, include_params: bool = False):
        self.tracer = tracer
        self.include_params = bool(include_params)
        self._static: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._failed = False

    def _log_failure_once(self) -> None:
        if not self._failed:
            self._failed = True
            logging.getLogger("dorm.contrib.otel").exception(
                "dorm.contrib.otel could not start a span; statements run untraced when this "
                "happens (logged once per instrument() call)")

    @hookimpl(wrapper=True)
    def dorm_execute(self, backend, sql, params, many):
        if _SUPPRESS_KEY is not None and _get_value(_SUPPRESS_KEY):
            return (yield)
        try:
            stmt = describe(sql)
            attributes = self._start_attributes(backend, sql, params, many, stmt)
            span = self.tracer.start_span(_span_name(stmt, backend.vendor), kind=_CLIENT,
                                          attributes=attributes)
            recording = span.is_recording()
        except Exception:  # noqa: BLE001 - tracing must never stop a statement
            self._log_failure_once()
            recording = False
        if not recording:               # sampled out (or no span): nothing to record or end
            return (yield)
        token = _attach(_in_context(span))
        t0 = _perf()
        try:
            result = yield
        except BaseException as exc:
            _detach(token)
            _fail(span, exc, t0)
            raise
        _detach(token)
        if asyncio.iscoroutine(result) or hasattr(result, "__await__"):
            return _finish_async(span, result, t0, stmt)
        _finish(span, result, t0, stmt)
        return result

    # ---- attributes --------------------------------------------------------------------
    def _start_attributes(self, backend, sql, params, many, stmt) -> dict:
        attributes = dict(self._static_attributes(backend))
        text = sql if len(sql) <= STATEMENT_LIMIT else sql[:STATEMENT_LIMIT]
        attributes["db.statement"] = attributes["db.query.text"] = text
        if stmt.operation is not None:
            attributes["db.operation"] = attributes["db.operation.name"] = stmt.operation
        if stmt.table is not None:
            attributes["db.sql.table"] = attributes["db.collection.name"] = stmt.table
        if self.include_params and params:
            _add_params(attributes, sql, params, many)
        return attributes

    def _static_attributes(self, backend) -> dict:
        """Attributes that depend on the connection only (computed once per backend)."""
        try:
            return self._static[backend]
        except KeyError:
            pass
        except TypeError:       # not weak-referenceable: compute every time
            return connection_attributes(backend)
        found = self._static[backend] = connection_attributes(backend)
        return found


def connection_attributes(backend) -> dict:
    """``db.system*``, ``db.dorm.alias`` and, for server databases, ``server.*`` and
    ``db.name``/``db.namespace`` of ``backend``."""
    vendor = str(backend.vendor)
    out = {"db.system": vendor, "db.system.name": vendor, "db.dorm.alias": str(backend.alias)}
    settings = getattr(backend, "settings_dict", None) or {}
    host = settings.get("HOST")
    if host:
        out["server.address"] = str(host)
        port = settings.get("PORT")
        try:
            if port not in (None, ""):
                out["server.port"] = int(port)
        except (TypeError, ValueError):
            pass
        name = settings.get("NAME")
        if name:
            out["db.name"] = out["db.namespace"] = str(name)
    return out


def _span_name(stmt, vendor: str) -> str:
    if stmt.operation is None:
        return f"db.{vendor}"
    if stmt.table is None:
        return stmt.operation
    return f"{stmt.operation} {stmt.table}"


def _add_params(attributes: dict, sql: str, params, many: bool) -> None:
    shown = mask_params(sql, params)
    if many:
        attributes["db.dorm.params"] = shorten_params(shown)
        return
    if isinstance(shown, dict):
        items = list(shown.items())[:PARAM_COUNT_LIMIT]
    elif isinstance(shown, (list, tuple)):
        items = list(enumerate(shown[:PARAM_COUNT_LIMIT]))
    else:
        attributes["db.dorm.params"] = shorten_params(shown)
        return
    for key, value in items:
        text = value if isinstance(value, str) else repr(value)
        attributes[f"db.query.parameter.{key}"] = text[:PARAM_VALUE_LIMIT]


# ---- ending a span ----------------------------------------------------------------------
def _finish(span, result, t0: float, stmt) -> None:
    span.set_attribute("db.dorm.elapsed_ms", (_perf() - t0) * 1000.0)
    kind = type(result)
    if kind is list:
        if stmt.returning or stmt.operation in _ROW_VERBS:
            span.set_attribute("db.response.returned_rows", len(result))
    elif kind is tuple and len(result) == 2 and type(result[1]) is list:
        span.set_attribute("db.response.returned_rows", len(result[1]))   # with description
    elif kind is int and result >= 0:
        span.set_attribute("db.dorm.rowcount", result)
    span.end()


def _fail(span, exc: BaseException, t0: float) -> None:
    kind = type(exc)
    span.set_attribute("db.dorm.elapsed_ms", (_perf() - t0) * 1000.0)
    span.set_attribute("db.dorm.error", kind.__name__)
    span.set_attribute("error.type", f"{kind.__module__}.{kind.__qualname__}")
    code = getattr(exc.__cause__, "sqlstate", None) or getattr(exc, "sqlstate", None)
    if code:
        span.set_attribute("db.response.status_code", str(code))
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, str(exc) or kind.__name__))
    span.end()


async def _finish_async(span, awaitable, t0: float, stmt):
    token = _attach(_in_context(span))
    try:
        result = await awaitable
    except BaseException as exc:
        _detach(token)
        _fail(span, exc, t0)
        raise
    _detach(token)
    _finish(span, result, t0, stmt)
    return result
