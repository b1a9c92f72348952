#!/usr/bin/env python3
"""Cost per statement of dorm.contrib.otel tracing (numbers, not a test).

    .venv/bin/python bench/otel_overhead.py                       # SQLite file, defaults
    .venv/bin/python bench/otel_overhead.py --backend postgresql --ops 2000 --repeat 7

Modes, each on the same connection and table, measured on two statements (a raw
``SELECT 1`` through the backend, and ``Item.objects.get(pk=...)`` through the ORM):

* ``off``            – not instrumented (the baseline);
* ``no provider``    – ``instrument()`` with no SDK configured (OpenTelemetry's default
                       proxy provider): nothing is wired, should equal ``off``;
* ``noop provider``  – ``instrument(tracer_provider=NoOpTracerProvider())``: same;
* ``sdk sampled out``– SDK ``TracerProvider(sampler=ALWAYS_OFF)``: the hook runs and
                       starts non-recording spans (the floor cost of being wired);
* ``sdk + memory``   – SDK ``TracerProvider`` + ``SimpleSpanProcessor`` +
                       ``InMemorySpanExporter``: every span recorded and exported.

Modes alternate in rounds (``--warmup`` untimed rounds, then ``--repeat`` timed ones),
so load from elsewhere on the machine hits every mode alike; the table shows the best
(or ``--stat median``) time per statement in µs and the difference to ``off``.
Needs ``opentelemetry-sdk``.
"""
from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dorm
from dorm.contrib.otel import instrument, uninstrument
from dorm.db import connections
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NoOpTracerProvider


class Item(dorm.Model):
    name = dorm.CharField(max_length=50)
    value = dorm.IntegerField()

    class Meta:
        app_label = "bench_otel"


def database(backend: str) -> dict:
    if backend == "sqlite":
        return {"ENGINE": "sqlite", "NAME": str(Path(tempfile.mkdtemp()) / "otel.db")}
    reg = dorm.plugins.get_registry().backends[backend]
    settings = reg.test_settings() if reg.test_settings else None
    if settings is None:
        sys.exit(f"backend {backend!r}: no test database available here")
    return settings


def modes(exporter: InMemorySpanExporter):
    memory = TracerProvider()
    memory.add_span_processor(SimpleSpanProcessor(exporter))
    return [
        ("off", uninstrument),
        ("no provider", lambda: instrument()),
        ("noop provider", lambda: instrument(tracer_provider=NoOpTracerProvider())),
        ("sdk sampled out", lambda: instrument(tracer_provider=TracerProvider(sampler=ALWAYS_OFF))),
        ("sdk + memory", lambda: instrument(tracer_provider=memory)),
    ]


def run_once(fn, ops: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(ops):
        fn()
    return (time.perf_counter() - t0) / ops


def summary(samples: list[float], stat: str) -> float:
    return (min(samples) if stat == "best" else statistics.median(samples)) * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="sqlite")
    p.add_argument("--ops", type=int, default=5000, help="statements per timed run")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--stat", choices=("best", "median"), default="best")
    args = p.parse_args(argv)

    logging.getLogger("dorm.contrib.otel").setLevel(logging.ERROR)  # the no-provider warning
    dorm.configure(DATABASES={"default": database(args.backend)})
    dorm.drop_tables([Item])
    dorm.create_tables([Item])
    pk = Item.objects.create(name="x", value=1).pk
    conn = connections["default"]
    statements = [
        ("raw SELECT 1", lambda: conn.execute("SELECT 1")),
        ("ORM get(pk=)", lambda: Item.objects.get(pk=pk)),
    ]
    exporter = InMemorySpanExporter()
    plan = modes(exporter)
    samples = {(mode, label): [] for mode, _ in plan for label, _ in statements}
    try:
        # rounds of every mode in turn, so a busy machine slows all modes alike
        for round_ in range(args.warmup + args.repeat):
            for mode, setup in plan:
                setup()
                for label, fn in statements:
                    exporter.clear()
                    elapsed = run_once(fn, args.ops)
                    if round_ >= args.warmup:
                        samples[mode, label].append(elapsed)
        uninstrument()
    finally:
        dorm.drop_tables([Item])
    results = {mode: {label: summary(samples[mode, label], args.stat) for label, _ in statements}
               for mode, _ in plan}

    print(f"dorm.contrib.otel overhead, backend={args.backend}, {args.ops} statements x "
          f"{args.repeat} runs, {args.stat}; µs per statement (delta vs off)")
    head = f"{'mode':<18}" + "".join(f"{label:>28}" for label, _ in statements)
    print(head)
    print("-" * len(head))
    for mode, row in results.items():
        cells = "".join(
            f"{row[label]:>14.2f} ({row[label] - results['off'][label]:+7.2f})"
            for label, _ in statements
        )
        print(f"{mode:<18}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
