"""Backends: one module per database kind the benchmarks can run on.

A backend module defines ``name``, ``unavailable() -> str | None`` (why it cannot
run here, or None) and ``make_env(workdir, peer_name, cfg) -> Env``: a fresh database
for one peer, with the helpers each peer needs (``raw_connect()`` for the raw
driver, ``dorm_databases()`` for dorm; later peers add ``django_databases()`` etc.).
"""
from __future__ import annotations

import importlib

BACKEND_MODULES = {
    "sqlite": "bench.backends.sqlite",
    "postgres": "bench.backends.postgres",
    "duckdb": "bench.backends.duckdb",
}


def load(name: str):
    return importlib.import_module(BACKEND_MODULES[name])
