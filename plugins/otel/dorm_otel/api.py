"""``dorm.contrib.otel``: OpenTelemetry spans for dorm's SQL statements.

::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from dorm.contrib.otel import instrument, install_log_correlation

    trace.set_tracer_provider(TracerProvider(...))   # first: the SDK
    instrument()                                     # then: one span per statement

Contract:

* ``instrument(tracer_name="dorm", *, include_params=False, tracer_provider=None)``
  traces every statement of every backend (sync and async) with a tracer named
  ``tracer_name`` from ``tracer_provider`` (default: the global provider). Idempotent:
  a second call replaces the first one's wiring (new name, provider or
  ``include_params``), never doubles spans. Connections already open are traced too.
  Returns ``True`` when statements are now traced.
* No configured provider (OpenTelemetry's default proxy, a ``NoOpTracerProvider``,
  or an SDK disabled with ``OTEL_SDK_DISABLED``) at the time of the call: nothing is
  wired, statements cost exactly what they cost uninstrumented, a WARNING says so,
  and the result is ``False``. Configure the SDK first, or call ``instrument()``
  again once it is configured.
* ``uninstrument()``: stop tracing (no-op when not instrumented).
* ``ImportError`` naming what to install when ``opentelemetry-api`` is missing.
* Spans and attributes: ``dorm_otel.tracing``; log correlation: ``dorm_otel.logs``.
"""
from __future__ import annotations

import logging

from .logs import TraceContextLogFilter, install_log_correlation, uninstall_log_correlation

logger = logging.getLogger("dorm.contrib.otel")

INSTALL_HINT = (
    "dorm.contrib.otel needs the OpenTelemetry API (opentelemetry-api), which is not "
    "installed: pip install dorm-otel (it depends on opentelemetry-api), or "
    "pip install opentelemetry-api"
)


def instrument(tracer_name: str = "dorm", *, include_params: bool = False,
               tracer_provider=None) -> bool:
    """Trace every SQL statement; see the module docstring. Returns whether statements
    are now traced (``False``: no tracer provider is configured, nothing was wired)."""
    if not isinstance(tracer_name, str) or not tracer_name:
        raise TypeError(f"tracer_name must be a non-empty string, got {tracer_name!r}")
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ImportError(INSTALL_HINT, name="opentelemetry") from exc
    from . import wiring
    from .tracing import StatementTracer

    tracer = _tracer(trace, tracer_name, tracer_provider)
    if tracer is None:
        wiring.remove()
        logger.warning(
            "dorm.contrib.otel.instrument(): no OpenTelemetry tracer provider is configured "
            "(set one with opentelemetry.trace.set_tracer_provider() or pass "
            "tracer_provider=), so no spans are recorded and nothing is added per statement; "
            "call instrument() again after configuring the SDK")
        return False
    wiring.install(StatementTracer(tracer, include_params=include_params))
    return True


def uninstrument() -> None:
    """Stop tracing statements (safe to call when not instrumented)."""
    from . import wiring

    wiring.remove()


def is_instrumented() -> bool:
    """Whether ``instrument()`` wired a tracer that is still in place."""
    from . import wiring

    return wiring.installed() is not None


def _tracer(trace, tracer_name: str, provider):
    """The tracer to use, or ``None`` when ``provider`` (default: global) is a no-op."""
    if provider is None:
        provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    tracer = provider.get_tracer(tracer_name, _version())
    if isinstance(tracer, (trace.NoOpTracer, trace.ProxyTracer)):
        return None
    return tracer


def _version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("dorm-otel")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return None


__all__ = [
    "TraceContextLogFilter",
    "install_log_correlation",
    "instrument",
    "is_instrumented",
    "uninstall_log_correlation",
    "uninstrument",
]
