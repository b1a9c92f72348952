"""Spans stay paired and parented under concurrency: asyncio tasks (shared and pinned
connections) and threads, each working under its own parent span at the same time."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from dorm.contrib.otel import instrument, uninstrument
from dorm.db import connections
from dorm.exceptions import DatabaseError
from dorm.transaction import aatomic
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from .helpers import counted_statements, db_spans
from .models import ALL, Book

MODELS = ALL
N = 6
#: a statement that takes a few milliseconds on every backend (and names its worker)
SLOW = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) "
        "SELECT count(*) FROM n a, n b, n c WHERE CAST({ph} AS TEXT) IS NOT NULL")
SLOW_ROWS = 50 ** 3


@pytest.fixture
def traced(db, otel):
    """Instrumented with parameters recorded: each span shows which worker ran it."""
    provider, exporter = otel
    instrument(tracer_provider=provider, include_params=True)
    exporter.clear()
    yield exporter
    uninstrument()
    exporter.clear()


def params_of(span) -> set:
    return {v for k, v in span.attributes.items() if k.startswith("db.query.parameter.")}


def check_pairing(exporter, parents: dict, per_worker: int, statements: list) -> None:
    """Every worker's parent span has exactly its own ``per_worker`` statement spans,
    inside its time window and trace; nothing else was recorded."""
    spans = db_spans(exporter)
    assert len(spans) == len(statements) == per_worker * len(parents)
    by_parent: dict = {}
    for span in spans:
        assert span.parent is not None, span.name
        by_parent.setdefault(span.parent.span_id, []).append(span)
    assert set(by_parent) == {p.context.span_id for p in parents.values()}
    for label, parent in parents.items():
        children = by_parent[parent.context.span_id]
        assert len(children) == per_worker, label
        for child in children:
            assert label in params_of(child), (label, child.name, params_of(child))
            assert child.context.trace_id == parent.context.trace_id
            assert parent.start_time <= child.start_time <= child.end_time <= parent.end_time
    assert len({p.context.trace_id for p in parents.values()}) == len(parents)


def finished_parents(exporter, prefix: str) -> dict:
    return {s.name[len(prefix):]: s for s in exporter.get_finished_spans()
            if s.name.startswith(prefix)}


# ---- asyncio -------------------------------------------------------------------------------------
async def test_concurrent_async_queries_are_paired_and_parented(traced, tracer):
    barrier = asyncio.Barrier(N)
    conn = await connections.aget()
    alone = []
    for _ in range(3):                          # the slow statement, uncontended and warm
        before = time.perf_counter_ns()
        await conn.aexecute(SLOW.format(ph=conn.ops.placeholder), ["alone"])
        alone.append(time.perf_counter_ns() - before)
    traced.clear()

    async def worker(i: int):
        label = f"w{i}"
        with tracer.start_as_current_span(f"task {label}"):
            await barrier.wait()            # every parent span is open at once
            await Book.objects.acreate(title=label, pages=i)
            await asyncio.sleep(0)
            assert await Book.objects.filter(title=label).acount() == 1
            await asyncio.sleep(0)
            book = await Book.objects.filter(title=label).afirst()
            assert book.pages == i
            conn = await connections.aget()
            assert await conn.aexecute(SLOW.format(ph=conn.ops.placeholder), [label]) == [(SLOW_ROWS,)]

    try:
        with counted_statements() as statements:
            await asyncio.gather(*(worker(i) for i in range(N)))
    finally:
        await connections.aclose_all()
    check_pairing(traced, finished_parents(traced, "task "), 4, statements)
    # each span lasts until its statement completed (it is not ended when it was issued)
    slow = [s for s in db_spans(traced) if "a, n b, n c" in s.attributes["db.statement"]]
    assert len(slow) == N
    assert all(s.end_time - s.start_time >= 0.2 * min(alone) for s in slow), alone


async def test_concurrent_async_transactions_are_paired_and_parented(traced, tracer):
    barrier = asyncio.Barrier(N)

    async def worker(i: int):
        label = f"w{i}"
        with tracer.start_as_current_span(f"tx {label}"):
            await barrier.wait()
            async with aatomic():           # a connection pinned to this task
                await Book.objects.acreate(title=label, pages=i)
                await asyncio.sleep(0)
                assert await Book.objects.filter(title=label).acount() == 1

    try:
        with counted_statements() as statements:
            await asyncio.gather(*(worker(i) for i in range(N)))
    finally:
        await connections.aclose_all()
    check_pairing(traced, finished_parents(traced, "tx "), 2, statements)


async def test_a_failing_task_does_not_disturb_the_others(traced, tracer):
    async def worker(i: int):
        label = f"w{i}"
        with tracer.start_as_current_span(f"task {label}"):
            if i == 2:
                conn = await connections.aget()
                with pytest.raises(DatabaseError):
                    await conn.aexecute(f"SELECT * FROM otel_missing WHERE title = {conn.ops.placeholder}",
                                        [label])
            else:
                await Book.objects.filter(title=label).acount()

    try:
        with counted_statements() as statements:
            await asyncio.gather(*(worker(i) for i in range(N)))
    finally:
        await connections.aclose_all()
    check_pairing(traced, finished_parents(traced, "task "), 1, statements)
    failed = [s for s in db_spans(traced) if s.status.status_code is StatusCode.ERROR]
    assert [params_of(s) for s in failed] == [{"w2"}]


# ---- threads ---------------------------------------------------------------------------------------
def test_threads_are_paired_and_parented(traced, tracer):
    barrier = threading.Barrier(N)

    def worker(i: int):
        label = f"w{i}"
        with tracer.start_as_current_span(f"thread {label}"):
            barrier.wait()
            Book.objects.create(title=label, pages=i)
            assert Book.objects.filter(title=label).count() == 1
            assert Book.objects.filter(title=label).first().pages == i

    with counted_statements() as statements, ThreadPoolExecutor(N) as pool:
        list(pool.map(worker, range(N)))
    check_pairing(traced, finished_parents(traced, "thread "), 3, statements)



class StartWatcher(SpanProcessor):
    """A span processor that notes when a span starts (the exporter only sees ends)."""

    def __init__(self):
        self.started = []

    def on_start(self, span, parent_context=None):
        self.started.append(span.name)


async def test_a_cancelled_statement_still_ends_its_span(db, tracer):
    exporter, watcher = InMemorySpanExporter(), StartWatcher()
    provider = TracerProvider()
    provider.add_span_processor(watcher)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=provider)
    conn = await connections.aget()
    size = 400 if conn.vendor == "duckdb" else 200      # a statement of ~0.1 s or more
    sql = SLOW.replace("< 50", f"< {size}").format(ph=conn.ops.placeholder)

    async def worker():
        with tracer.start_as_current_span("doomed"):
            await conn.aexecute(sql, ["doomed"])

    task = asyncio.ensure_future(worker())
    try:
        while not watcher.started and not task.done():
            await asyncio.sleep(0)                # until the statement's span has started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        uninstrument()
        await connections.aclose_all()
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["db.dorm.error"] == "CancelledError"
    assert span.parent is not None      # under "doomed" (a span of the session provider)
