"""Fixtures of the dorm-otel suite: the real OpenTelemetry SDK with an in-memory
exporter (one provider for the session; it is passed to ``instrument()`` explicitly,
so this process never sets OpenTelemetry's global provider)."""
from __future__ import annotations

import pytest

try:
    import opentelemetry.sdk  # noqa: F401
except ImportError:  # the suite needs dorm-otel[test]
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def otel():
    """``(provider, exporter)``: an SDK ``TracerProvider`` exporting every span
    synchronously to an ``InMemorySpanExporter``."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
def tracer(otel):
    """A tracer of the test provider, for the application's own (parent) spans."""
    return otel[0].get_tracer("tests.otel.app")


@pytest.fixture
def traced(db, otel):
    """dorm instrumented on the backend under test; yields the exporter (emptied)."""
    from dorm.contrib.otel import instrument, uninstrument

    provider, exporter = otel
    assert instrument(tracer_provider=provider) is True
    exporter.clear()
    yield exporter
    uninstrument()
    exporter.clear()



@pytest.fixture(autouse=True)
def _never_leave_instrumented():
    """Whatever a test does, the next one starts uninstrumented."""
    yield
    from dorm.contrib.otel import uninstrument

    uninstrument()
