"""dorm-otel on every installed backend, with the real OpenTelemetry SDK: one span per
statement, names and attributes, errors, nesting, wiring (instrument/uninstrument)."""
from __future__ import annotations

import logging

import dorm
import pytest
from dorm.contrib.otel import instrument, is_instrumented, uninstrument
from dorm.db import connections
from dorm.exceptions import DatabaseError
from dorm.transaction import atomic
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NoOpTracerProvider, SpanKind, StatusCode

from .helpers import counted_statements, db_spans
from .models import ALL, Account, Book

MODELS = ALL


def ph(n: int = 1) -> str:
    """``n`` placeholders of the backend under test."""
    return ", ".join([connections["default"].ops.placeholder] * n)


# ---- one span per statement -----------------------------------------------------------------
def test_one_span_per_statement_with_name_and_attributes(traced, backend_settings):
    conn = connections["default"]
    with counted_statements() as statements:
        book = Book.objects.create(title="Dune", pages=412)
        assert [b.title for b in Book.objects.filter(pages__gt=100)] == ["Dune"]
        assert Book.objects.count() == 1
        assert Book.objects.filter(pk=book.pk).update(pages=500) == 1
        Book.objects.filter(pk=book.pk).delete()
    spans = db_spans(traced)
    assert len(spans) == len(statements) >= 5
    assert [s.attributes["db.statement"] for s in spans] == [sql[:1024] for sql in statements]

    by_op = {}
    for span in spans:
        by_op.setdefault(span.attributes.get("db.operation"), []).append(span)
    assert {"INSERT", "SELECT", "UPDATE", "DELETE"} <= set(by_op)
    for span in spans:
        a = span.attributes
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        assert span.instrumentation_scope.name == "dorm"
        assert a["db.system"] == a["db.system.name"] == conn.vendor
        assert a["db.dorm.alias"] == "default"
        assert a["db.statement"] == a["db.query.text"]
        assert a["db.operation"] == a["db.operation.name"]
        assert a["db.dorm.elapsed_ms"] >= 0
        if a.get("db.sql.table") is not None:
            assert a["db.sql.table"] == a["db.collection.name"]
            assert span.name == f"{a['db.operation']} {a['db.sql.table']}"
        # parameters are bound, never in the text, and not recorded by default
        assert "Dune" not in a["db.statement"]
        assert not any(k.startswith("db.query.parameter") for k in a)
    for op in ("INSERT", "SELECT", "UPDATE", "DELETE"):
        assert any(s.name == f"{op} otel_book" for s in by_op[op]), [s.name for s in by_op[op]]

    select = next(s for s in by_op["SELECT"] if "COUNT" not in s.attributes["db.statement"].upper())
    assert select.attributes["db.response.returned_rows"] == 1
    update = next(s for s in by_op["UPDATE"])
    assert update.attributes["db.dorm.rowcount"] == 1

    if backend_settings.get("HOST"):
        for span in spans:
            assert span.attributes["server.address"] == str(backend_settings["HOST"])
            assert span.attributes["server.port"] == int(backend_settings.get("PORT") or 5432)
            assert span.attributes["db.namespace"] == span.attributes["db.name"]
    else:
        assert not any("server.address" in s.attributes for s in spans)


def test_alias_of_each_connection(traced, backend_settings):
    settings = dict(backend_settings)
    dorm.configure(DATABASES={"default": settings, "reports": settings})
    try:
        connections["reports"].execute("SELECT 1")
        connections["default"].execute("SELECT 2")
    finally:
        connections.close_all()
    spans = db_spans(traced)
    assert [(s.name, s.attributes["db.dorm.alias"]) for s in spans] == [
        ("SELECT", "reports"), ("SELECT", "default")]


def test_returned_rows_of_raw_queries_and_returning(traced):
    conn = connections["default"]
    conn.execute_write(f"INSERT INTO otel_book (title, pages) VALUES ({ph(2)})", ["a", 1])
    conn.execute_write(f"INSERT INTO otel_book (title, pages) VALUES ({ph(2)})", ["b", 2])
    assert len(conn.execute("SELECT id FROM otel_book")) == 2
    cols, rows = conn.execute_with_description("SELECT id, title FROM otel_book WHERE pages > 1")
    assert cols == ["id", "title"] and len(rows) == 1
    spans = db_spans(traced)
    assert [s.attributes.get("db.dorm.rowcount") for s in spans[:2]] == [1, 1]
    assert "db.response.returned_rows" not in spans[0].attributes
    assert [s.attributes["db.response.returned_rows"] for s in spans[2:]] == [2, 1]


def test_executemany_is_one_span(traced):
    conn = connections["default"]
    with counted_statements() as statements:
        conn.executemany(f"INSERT INTO otel_book (title, pages) VALUES ({ph(2)})",
                         [("a", 1), ("b", 2), ("c", 3)])
    (span,) = db_spans(traced)
    assert len(statements) == 1
    assert span.name == "INSERT otel_book"
    assert "db.dorm.params" not in span.attributes


def test_statement_text_is_cut_at_1024_characters(traced):
    sql = "SELECT 1 AS x /* " + "x" * 3000 + " */"
    connections["default"].execute(sql)
    (span,) = db_spans(traced)
    assert span.attributes["db.statement"] == sql[:1024] == span.attributes["db.query.text"]


# ---- names ---------------------------------------------------------------------------------------
def test_cte_and_commented_statements_are_named(traced):
    conn = connections["default"]
    Book.objects.create(title="a", pages=1)
    traced.clear()
    conn.execute('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) '
                 'SELECT count(*) FROM "otel_book", n')
    conn.execute("WITH big AS (SELECT id FROM otel_book WHERE pages > 0) SELECT * FROM big")
    conn.execute("/* request: 42 */ -- hint\n SELECT title FROM otel_book")
    conn.execute_write(f"WITH gone AS (SELECT id FROM otel_book WHERE pages = {ph()}) "
                       "DELETE FROM otel_book WHERE id IN (SELECT id FROM gone)", [7])
    conn.execute("SELECT 1")
    names = [s.name for s in db_spans(traced)]
    vendor = conn.vendor
    assert names == ["SELECT otel_book", "SELECT otel_book", "SELECT otel_book",
                     "DELETE otel_book", "SELECT"], vendor
    cte = db_spans(traced)[0]
    assert cte.attributes["db.operation.name"] == "SELECT"
    assert cte.attributes["db.collection.name"] == "otel_book"


# ---- errors --------------------------------------------------------------------------------------
def test_failed_statement_has_error_status(traced):
    conn = connections["default"]
    with counted_statements() as statements, pytest.raises(DatabaseError) as info:
        conn.execute("SELECT * FROM otel_no_such_table")
    (span,) = db_spans(traced)
    assert len(statements) == 1
    assert span.name == "SELECT otel_no_such_table"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == str(info.value)
    error = type(info.value)
    assert span.attributes["db.dorm.error"] == error.__name__
    assert span.attributes["error.type"] == f"{error.__module__}.{error.__qualname__}"
    assert span.attributes["db.dorm.elapsed_ms"] >= 0
    if conn.vendor == "postgresql":     # the driver's SQLSTATE
        assert span.attributes["db.response.status_code"] == "42P01"
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"].endswith(error.__name__)
    # the connection still works and the next span is fine
    conn.execute("SELECT 1")
    assert db_spans(traced)[-1].status.status_code is StatusCode.UNSET


# ---- parents ---------------------------------------------------------------------------------
def test_statements_nest_under_the_active_request_span(traced, tracer):
    with tracer.start_as_current_span("GET /books") as request:
        Book.objects.create(title="a")
        list(Book.objects.all())
        assert trace.get_current_span() is request       # context restored after each statement
    connections["default"].execute("SELECT 1")           # outside the request: a root span
    spans = db_spans(traced)
    inside, outside = spans[:-1], spans[-1]
    assert len(inside) >= 2
    for span in inside:
        assert span.parent.span_id == request.get_span_context().span_id
        assert span.context.trace_id == request.get_span_context().trace_id
    assert outside.parent is None
    assert outside.context.trace_id != request.get_span_context().trace_id


def test_statements_inside_atomic_are_traced(traced, tracer):
    with tracer.start_as_current_span("job") as job, atomic():
        Book.objects.create(title="a")
        Book.objects.create(title="b")
    spans = db_spans(traced)
    assert [s.name for s in spans] == ["INSERT otel_book", "INSERT otel_book"]
    assert all(s.parent.span_id == job.get_span_context().span_id for s in spans)


# ---- parameters ----------------------------------------------------------------------------------
def test_include_params_records_masked_parameters(db, otel):
    provider, exporter = otel
    instrument(tracer_provider=provider, include_params=True)
    exporter.clear()
    try:
        Book.objects.create(title="Dune", pages=412)
        Account.objects.create(login="ann", password="hunter2")
        connections["default"].executemany(
            f"INSERT INTO otel_book (title, pages) VALUES ({ph(2)})", [("x", 1), ("y", 2)])
    finally:
        uninstrument()
    book, account, many = db_spans(exporter)
    params = {k: v for k, v in book.attributes.items() if k.startswith("db.query.parameter.")}
    assert sorted(params.values()) == ["412", "Dune"]
    masked = {k: v for k, v in account.attributes.items() if k.startswith("db.query.parameter.")}
    assert masked and set(masked.values()) == {"***"}
    assert "hunter2" not in str(dict(account.attributes))
    assert many.attributes["db.dorm.params"] == repr([("x", 1), ("y", 2)])


# ---- wiring ----------------------------------------------------------------------------------------
def test_uninstrument_stops_spans(traced):
    connections["default"].execute("SELECT 1")
    assert len(db_spans(traced)) == 1 and is_instrumented()
    uninstrument()
    assert not is_instrumented()
    connections["default"].execute("SELECT 1")
    Book.objects.create(title="quiet")
    assert len(db_spans(traced)) == 1
    uninstrument()      # twice is fine


def test_instrument_twice_replaces_the_first_wiring(db, otel):
    provider, exporter = otel
    exporter.clear()
    assert instrument(tracer_provider=provider)
    assert instrument("shop.db", tracer_provider=provider)
    try:
        connections["default"].execute("SELECT 1")
    finally:
        uninstrument()
    (span,) = exporter.get_finished_spans()
    assert span.instrumentation_scope.name == "shop.db"


def test_connections_opened_before_instrument_are_traced(db, otel):
    provider, exporter = otel
    conn = connections["default"]
    conn.execute("SELECT 1")            # the connection is open before instrument()
    exporter.clear()
    instrument(tracer_provider=provider)
    try:
        conn.execute("SELECT 1")
    finally:
        uninstrument()
    assert len(db_spans(exporter)) == 1


def test_no_configured_provider_wires_nothing(db, caplog):
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.skip("a global tracer provider was set in this process")
    with caplog.at_level(logging.WARNING, logger="dorm.contrib.otel"):
        assert instrument() is False
        assert instrument(tracer_provider=NoOpTracerProvider()) is False
    assert not is_instrumented()
    assert "no OpenTelemetry tracer provider is configured" in caplog.text
    assert connections["default"].execute("SELECT 1") == [(1,)]


def test_a_no_op_instrument_call_removes_earlier_wiring(db, otel):
    provider, exporter = otel
    instrument(tracer_provider=provider)
    assert instrument(tracer_provider=NoOpTracerProvider()) is False
    exporter.clear()
    connections["default"].execute("SELECT 1")
    assert db_spans(exporter) == [] and not is_instrumented()


def test_sampled_out_statements_record_nothing(db):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert instrument(tracer_provider=provider)
    try:
        Book.objects.create(title="a")
        assert Book.objects.count() == 1
    finally:
        uninstrument()
    assert exporter.get_finished_spans() == ()


def test_suppressed_instrumentation_records_nothing(traced):
    key = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
    if key is None:
        pytest.skip("this opentelemetry-api has no suppress_instrumentation key")
    token = otel_context.attach(otel_context.set_value(key, True))
    try:
        connections["default"].execute("SELECT 1")
    finally:
        otel_context.detach(token)
    connections["default"].execute("SELECT 2")
    assert [s.attributes["db.statement"] for s in db_spans(traced)] == ["SELECT 2"]


def test_instrument_validates_its_arguments():
    with pytest.raises(TypeError, match="tracer_name"):
        instrument("")



def test_a_broken_sdk_never_stops_a_statement(db, caplog):
    from opentelemetry.sdk.trace.sampling import Sampler

    class Broken(Sampler):
        def should_sample(self, *args, **kwargs):
            raise RuntimeError("sampler bug")

        def get_description(self):
            return "Broken"

    instrument(tracer_provider=TracerProvider(sampler=Broken()))
    try:
        with caplog.at_level(logging.ERROR, logger="dorm.contrib.otel"):
            assert connections["default"].execute("SELECT 1") == [(1,)]
            assert Book.objects.count() == 0
    finally:
        uninstrument()
    assert "could not start a span" in caplog.text


def test_a_disabled_sdk_wires_nothing(db, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert instrument(tracer_provider=TracerProvider()) is False
    assert not is_instrumented()
