"""Packaging: the documented import path, ``dorm plugins``, the error without the plugin,
and that loading the plugin does not import pydantic."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest


def run(code: str, **env) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env={**os.environ, **env}, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_path_is_the_plugin_module():
    import dorm.contrib.pydantic
    import dorm_pydantic.api

    assert dorm.contrib.pydantic is dorm_pydantic.api
    from dorm.contrib.pydantic import (  # noqa: F401 - the documented names
        DormSchema,
        create_schema_for,
        list_response_schema,
        nested_schema_for,
        schema_for,
        schema_for_with_examples,
        schema_with_computed,
        update_schema_for,
    )


def test_dorm_plugins_lists_the_plugin():
    out = subprocess.run([sys.executable, "-m", "dorm", "plugins", "--json"], capture_output=True,
                         text=True, check=True)
    info = {p["name"]: p for p in json.loads(out.stdout)}["pydantic"]
    assert info["distribution"] == "dorm-pydantic" and info["status"] == "loaded"
    assert info["provides"]["modules"] == ["dorm.contrib.pydantic"]


@pytest.mark.parametrize("env", [{"DORM_DISABLED_PLUGINS": "pydantic"},
                                 {"DORM_DISABLE_PLUGIN_AUTOLOAD": "1"}])
def test_without_the_plugin_the_error_names_the_distribution(env):
    out = run("""
        from dorm.exceptions import PluginNotInstalled
        try:
            from dorm.contrib.pydantic import schema_for
        except PluginNotInstalled as exc:
            print(exc.distribution, "|", exc)
        else:
            print("imported")
        """, **env)
    distribution, message = out.strip().split(" | ", 1)
    assert distribution == "dorm-pydantic"
    assert "Module dorm.contrib.pydantic" in message and "dorm-pydantic" in message


def test_loading_the_plugin_does_not_import_pydantic():
    out = run("""
        import sys
        import dorm
        dorm.plugins.get_registry()
        import dorm_pydantic.plugin
        print("pydantic" in sys.modules, "dorm_pydantic.api" in sys.modules)
        """)
    assert out.split() == ["False", "False"]
