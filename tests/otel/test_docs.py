"""The ``python`` blocks of docs/otel.md run here, in order, on every backend.

Each run is a fresh process: the page sets OpenTelemetry's global tracer provider, as
an application does, and a process can do that only once.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DRIVER = """
import json, os, sys
sys.path.insert(0, os.environ["DOCS_ROOT"])
import dorm
dorm.configure(DATABASES={"default": json.loads(os.environ["DOCS_DATABASE"])})
from tests.doc_examples import run_doc_examples
try:
    run_doc_examples("otel.md", min_blocks=8)
finally:
    from dorm.db import connections
    connections.close_all()
print("ok")
"""


def test_otel_doc_examples_run(backend, backend_settings, tmp_path):
    settings = dict(backend_settings)
    if not settings.get("HOST"):    # an embedded database: a file of its own
        settings["NAME"] = str(tmp_path / f"docs.{backend}")
    env = {**os.environ, "DOCS_ROOT": str(ROOT), "DOCS_DATABASE": json.dumps(settings)}
    out = subprocess.run([sys.executable, "-c", DRIVER], capture_output=True, text=True,
                         env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
