"""dorm-resilience as a plugin: documented import paths, `dorm plugins`, and the error
raised when the plugin is missing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest


def test_documented_paths_are_the_plugin_modules():
    import dorm.contrib.circuit_breaker as cb
    import dorm.contrib.idempotency as idem
    import dorm_resilience.circuit_breaker
    import dorm_resilience.idempotency

    assert idem is dorm_resilience.idempotency and cb is dorm_resilience.circuit_breaker
    from dorm.contrib.circuit_breaker import CircuitBreaker, CircuitOpenError, circuit_breaker  # noqa: F401
    from dorm.contrib.idempotency import IdempotencyRecord, aidempotency_key, idempotency_key  # noqa: F401


def test_dorm_plugins_lists_the_plugin():
    out = subprocess.run([sys.executable, "-m", "dorm", "plugins", "--json"], capture_output=True,
                         text=True, check=True)
    info = {p["name"]: p for p in json.loads(out.stdout)}["resilience"]
    assert info["distribution"] == "dorm-resilience" and info["status"] == "loaded"
    assert sorted(info["provides"]["modules"]) == ["dorm.contrib.circuit_breaker",
                                                   "dorm.contrib.idempotency"]
    assert "dorm_execute" not in info["provides"]["hooks"]   # nothing per statement by default


@pytest.mark.parametrize("env", [{"DORM_DISABLED_PLUGINS": "resilience"},
                                 {"DORM_DISABLE_PLUGIN_AUTOLOAD": "1"}])
@pytest.mark.parametrize("path", ["dorm.contrib.idempotency", "dorm.contrib.circuit_breaker"])
def test_without_the_plugin_the_error_names_the_distribution(env, path):
    code = textwrap.dedent(f"""
        from dorm.exceptions import PluginNotInstalled
        try:
            import {path}
        except PluginNotInstalled as exc:
            print(exc.distribution, "|", exc)
        else:
            print("imported")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    distribution, message = out.stdout.strip().split(" | ", 1)
    assert distribution == "dorm-resilience"
    assert f"Module {path}" in message and "dorm-resilience" in message


def test_no_per_statement_hook_without_circuit_breaker_setting(tmp_path):
    import dorm
    from dorm_resilience.circuit_breaker.aliases import GUARD_NAME

    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite",
                                                       "NAME": str(tmp_path / "x.sqlite3")}}):
        pm = dorm.plugins.get_plugin_manager()
        assert pm.get_plugin(GUARD_NAME) is None
        impls = [pm.get_name(i.plugin) for i in pm.hook.dorm_execute.get_hookimpls()]
        assert "resilience" not in impls and GUARD_NAME not in impls
