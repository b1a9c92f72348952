"""Hook implementations of dorm-otel (import-light: nothing heavy at load).

Only the import path is declared here. The per-statement ``dorm_execute`` wrapper is
*not* a hook of this module: ``instrument()`` registers it at run time (and only when
a tracer provider is configured), so installing dorm-otel costs nothing per
statement until tracing is switched on.
"""
from __future__ import annotations

import dorm


@dorm.hookimpl
def dorm_register_modules(register):
    register("dorm.contrib.otel", "dorm_otel.api")
