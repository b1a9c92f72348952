"""Log correlation: trace and span ids on log records."""
from __future__ import annotations

import io
import logging

import dorm
import pytest
from dorm.contrib.otel import (
    TraceContextLogFilter,
    install_log_correlation,
    instrument,
    uninstall_log_correlation,
    uninstrument,
)
from dorm.db import connections

from .helpers import db_spans
from .models import ALL

MODELS = ALL
FORMAT = "%(otel_trace_id)s %(otel_span_id)s %(message)s"


def ids(span) -> str:
    ctx = span.get_span_context()
    return f"{ctx.trace_id:032x} {ctx.span_id:016x}"


@pytest.fixture
def log_stream():
    """A logger ``otel_test`` with a handler writing ``FORMAT`` lines to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger("otel_test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield stream
    uninstall_log_correlation()
    logger.removeHandler(handler)
    logger.propagate = True


def record(msg="m"):
    return logging.LogRecord("x", logging.INFO, __file__, 1, msg, None, None)


def test_filter_without_a_span_sets_dashes():
    rec = record()
    assert TraceContextLogFilter().filter(rec) is True
    assert (rec.otel_trace_id, rec.otel_span_id) == ("-", "-")


def test_filter_inside_a_span_sets_its_ids(tracer):
    rec = record()
    with tracer.start_as_current_span("work") as span:
        TraceContextLogFilter().filter(rec)
    assert f"{rec.otel_trace_id} {rec.otel_span_id}" == ids(span)
    assert len(rec.otel_trace_id) == 32 and len(rec.otel_span_id) == 16


def test_filter_keeps_ids_set_where_the_record_was_made(tracer):
    rec = record()
    with tracer.start_as_current_span("where it happened") as span:
        TraceContextLogFilter().filter(rec)
    TraceContextLogFilter().filter(rec)        # a handler later, outside the span
    assert f"{rec.otel_trace_id} {rec.otel_span_id}" == ids(span)


def test_install_covers_records_of_child_loggers(log_stream, tracer):
    install_log_correlation(["otel_test"])
    child = logging.getLogger("otel_test.db")
    with tracer.start_as_current_span("request") as span:
        child.info("inside")
    child.info("outside")
    lines = log_stream.getvalue().splitlines()
    assert lines == [f"{ids(span)} inside", "- - outside"]


def test_install_is_idempotent_and_uninstall_removes_it(log_stream):
    logger = logging.getLogger("otel_test")
    first = install_log_correlation("otel_test")
    assert install_log_correlation(["otel_test"]) is first
    assert logger.filters.count(first) == 1
    assert logger.handlers[0].filters.count(first) == 1
    uninstall_log_correlation()
    assert first not in logger.filters and first not in logger.handlers[0].filters


def test_default_is_the_root_logger():
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        shared = install_log_correlation()
        assert shared in root.filters and shared in handler.filters
    finally:
        uninstall_log_correlation()
        root.removeHandler(handler)
    assert shared not in root.filters


def test_records_logged_while_a_statement_runs_carry_its_span(db, otel, log_stream):
    """A plugin logging from inside the statement (inner ``dorm_execute`` wrapper) gets
    the statement's span ids: the span is current while the driver runs."""
    provider, exporter = otel
    logger = logging.getLogger("otel_test.inner")

    class LogsInside:
        @dorm.hookimpl(wrapper=True)
        def dorm_execute(self, backend, sql, params, many):
            logger.info("running %s", sql)
            return (yield)

    install_log_correlation(["otel_test"])
    with dorm.plugins.registered(LogsInside()):     # registered first: inner wrapper
        instrument(tracer_provider=provider)
        exporter.clear()
        try:
            connections["default"].execute("SELECT 1")
        finally:
            uninstrument()
    (span,) = db_spans(exporter)
    ctx = span.get_span_context()
    assert log_stream.getvalue().splitlines() == [
        f"{ctx.trace_id:032x} {ctx.span_id:016x} running SELECT 1"]



def test_dict_config_can_name_the_filter():
    """``{"()": "dorm.contrib.otel.TraceContextLogFilter"}`` in ``dictConfig`` resolves
    (checked through dictConfig's own resolver: a real dictConfig call would close
    every handler of the process, pytest's included)."""
    import logging.config

    factory = logging.config.BaseConfigurator({}).resolve("dorm.contrib.otel.TraceContextLogFilter")
    assert factory is TraceContextLogFilter
