"""The pydantic schemas' JSON Schema agrees with ``dorm export-json-schema`` (run as a
user runs it, in a subprocess) on the keywords both describe: the property names,
``type``, ``maxLength``, ``format``, ``pattern``, ``enum``, ``minimum``/``maximum``,
``x-pii`` and ``required``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dorm.contrib.pydantic import create_schema_for, schema_for

from .models import ALL, APP, Book

ROOT = Path(__file__).resolve().parents[2]
SHARED = ("type", "maxLength", "format", "pattern", "enum", "minimum", "maximum", "x-pii",
          "contentEncoding", "description")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """``dorm export-json-schema --apps pyd_tests`` for the suite's models."""
    folder = tmp_path_factory.mktemp("settings")
    (folder / "pyd_settings.py").write_text(
        'DATABASES = {"default": {"ENGINE": "sqlite", "NAME": ":memory:"}}\n'
        'INSTALLED_APPS = ["tests.pydantic.models"]\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "dorm", "export-json-schema", "--settings",
                          "pyd_settings", "--apps", APP], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def shared(prop: dict) -> dict:
    return {k: v for k, v in prop.items() if k in SHARED}


@pytest.mark.parametrize("model", ALL, ids=lambda m: m.__name__)
def test_read_schema_agrees_with_export_json_schema(exported, model):
    cli = exported[model._meta.label]
    ours = schema_for(model).model_json_schema()
    assert list(ours["properties"]) == list(cli["properties"])
    for name, prop in cli["properties"].items():
        assert shared(ours["properties"][name]) == shared(prop), name
    assert ours.get("required", []) == cli.get("required", [])
    assert ours["additionalProperties"] is False and cli["additionalProperties"] is False
    assert ours.get("description") == cli.get("description")


def test_the_shared_keywords_are_really_there(exported):
    """Guard against a vacuous comparison: the Book and Author exports carry them."""
    book = exported[f"{APP}.Book"]["properties"]
    author = exported[f"{APP}.Author"]["properties"]
    assert book["title"]["maxLength"] == 40 and book["uid"]["format"] == "uuid"
    assert book["published"]["format"] == "date-time" and book["price"]["format"] == "decimal"
    assert author["email"] == {"type": "string", "format": "email", "maxLength": 254,
                               "x-pii": True}
    assert exported[f"{APP}.Book"]["required"] == ["title", "price", "author_id"]


def test_create_schema_agrees_on_its_fields(exported):
    cli = exported[f"{APP}.Book"]
    ours = create_schema_for(Book).model_json_schema()
    for name, prop in ours["properties"].items():
        assert shared(prop) == shared(cli["properties"][name]), name
    assert ours["required"] == cli["required"]


def test_read_only_key_and_stamps():
    props = schema_for(Book).model_json_schema()["properties"]
    assert props["id"]["readOnly"] is True and props["created"]["readOnly"] is True
    assert props["id"]["type"] == "integer"              # server-assigned: never null in output
