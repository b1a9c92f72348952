"""Packaging: the import path, the missing-plugin and missing-API errors, the global
tracer provider (in subprocesses, so this process never sets one), ``dorm plugins``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(code: str, **env) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env={**os.environ, **env}, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out


def test_import_path_is_the_plugin_module():
    import dorm.contrib.otel
    import dorm_otel.api

    assert dorm.contrib.otel is dorm_otel.api
    from dorm.contrib.otel import (  # noqa: F401 - the documented names
        TraceContextLogFilter,
        install_log_correlation,
        instrument,
        uninstrument,
    )


@pytest.mark.parametrize("env", [{"DORM_DISABLED_PLUGINS": "otel"},
                                 {"DORM_DISABLE_PLUGIN_AUTOLOAD": "1"}])
def test_without_the_plugin_the_error_names_the_distribution(env):
    out = run("""
        try:
            import dorm.contrib.otel
        except ImportError as exc:
            print(type(exc).__name__, exc.distribution, "|", exc)
        """, **env)
    kind, dist, _, message = out.stdout.split(" ", 3)
    assert (kind, dist) == ("PluginNotInstalled", "dorm-otel")
    assert "dorm-otel" in message


def test_missing_opentelemetry_api_raises_import_error_with_hint(monkeypatch):
    from dorm.contrib.otel import instrument

    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError) as exc:
        instrument()
    assert "pip install dorm-otel" in str(exc.value)
    assert "opentelemetry-api" in str(exc.value)


def test_log_filter_works_without_opentelemetry():
    out = run("""
        import sys
        sys.modules["opentelemetry"] = None          # as if it were not installed
        import logging
        from dorm.contrib.otel import TraceContextLogFilter
        rec = logging.LogRecord("x", logging.INFO, "f", 1, "m", None, None)
        TraceContextLogFilter().filter(rec)
        print(rec.otel_trace_id, rec.otel_span_id)
        """)
    assert out.stdout.split() == ["-", "-"]


def test_global_tracer_provider(tmp_path):
    """The usual application set-up: the SDK as global provider, then instrument()."""
    out = run(f"""
        import logging, dorm
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from dorm.contrib.otel import instrument
        from dorm.db import connections

        logging.basicConfig(level=logging.WARNING)
        dorm.configure(DATABASES={{"default": {{"ENGINE": "sqlite", "NAME": {str(tmp_path / "g.db")!r}}}}})
        connections["default"].execute("SELECT 1")
        before = instrument()                 # no SDK yet: nothing wired (and a warning)
        connections["default"].execute("SELECT 1")
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        after = instrument()                  # now traced, existing connection included
        connections["default"].execute("SELECT 42")
        print(before, after, [(s.name, s.attributes["db.statement"]) for s in exporter.get_finished_spans()])
        """)
    assert out.stdout.strip() == "False True [('SELECT', 'SELECT 42')]"
    assert "no OpenTelemetry tracer provider is configured" in out.stderr


def test_dorm_plugins_lists_it():
    out = subprocess.run([str(BIN / "dorm"), "plugins", "--json"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    (info,) = [p for p in json.loads(out.stdout) if p["name"] == "otel"]
    assert info["distribution"] == "dorm-otel" and info["status"] == "loaded"
    assert info["provides"]["modules"] == ["dorm.contrib.otel"]
    # nothing per statement until instrument(): the entry point implements no dorm_execute
    assert "dorm_execute" not in info["provides"]["hooks"]
