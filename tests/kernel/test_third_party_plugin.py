"""A third-party plugin, end to end, exactly as a user installs one.

A throw-away virtualenv gets dorm-kernel and dorm-sqlite from this checkout (one pip
call, non-editable), then the out-of-tree distribution in
``tests/plugin_pkg/dorm-example-plugin`` (entry point ``example``, registering
``UpperCaseField`` and the ``__ne`` lookup). Scripts run in that venv as separate
processes, so nothing from the development environment leaks in.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KERNEL = REPO / "dorm_kernel"
SQLITE = REPO / "plugins" / "sqlite"
EXAMPLE = REPO / "tests" / "plugin_pkg" / "dorm-example-plugin"


def _clean_env() -> dict[str, str]:
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")
    return {k: v for k, v in os.environ.items() if not k.startswith("DORM_") and k not in drop}


class Venv:
    def __init__(self, path: Path):
        self.path = path
        self.bin = path / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / "python"

    def pip_install(self, *targets: Path) -> None:
        cmd = [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               *map(str, targets)]
        out = subprocess.run(cmd, check=False, capture_output=True, text=True,
                             env=_clean_env(), timeout=900)
        assert out.returncode == 0, f"pip install failed:\n{out.stdout}\n{out.stderr}"

    def run(self, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(args, check=False, capture_output=True, text=True, cwd=cwd,
                              env=_clean_env(), timeout=300)

    def script(self, code: str, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
        path = cwd / "script.py"
        path.write_text(textwrap.dedent(code))
        return self.run([str(self.python), str(path), *argv], cwd)


_BUILD_LITTER = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".venv")


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> dict[str, Path]:
    """Copies of the three source trees: pip builds in the source directory, and the
    checkout must stay clean (and safe for concurrent runs)."""
    root = tmp_path_factory.mktemp("third_party_src")
    out = {}
    for name, src in (("kernel", KERNEL), ("sqlite", SQLITE), ("example", EXAMPLE)):
        out[name] = root / src.name
        shutil.copytree(src, out[name], ignore=_BUILD_LITTER)
    return out


@pytest.fixture(scope="session")
def user_venv(tmp_path_factory, sources) -> Venv:
    """A venv with dorm-kernel and dorm-sqlite from this checkout (no example plugin yet)."""
    path = tmp_path_factory.mktemp("third_party") / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    env = Venv(path)
    env.pip_install(sources["kernel"], sources["sqlite"])  # one call: both from the checkout
    return env


@pytest.fixture(scope="session")
def example_venv(user_venv: Venv, sources) -> Venv:
    """The same venv after ``pip install`` of the example plugin distribution."""
    user_venv.pip_install(sources["example"])
    return user_venv


# (a) only the kernel and dorm-sqlite -------------------------------------------------------------
def test_postgresql_engine_without_plugin_names_the_distribution(user_venv, tmp_path):
    out = user_venv.script(
        """
        import dorm
        from dorm.db import connections

        dorm.configure(DATABASES={"default": {"ENGINE": "postgresql", "NAME": "shop"}})
        connections["default"].execute("SELECT 1")
        """,
        tmp_path,
    )
    assert out.returncode != 0
    assert "PluginNotInstalled" in out.stderr
    assert "pip install dorm-postgres" in out.stderr


def test_without_example_plugin_plugins_lists_kernel_and_sqlite(user_venv, tmp_path):
    out = user_venv.run([str(user_venv.bin / "dorm"), "plugins", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    names = {p["name"]: p for p in json.loads(out.stdout)}
    assert set(names) == {"dorm", "sqlite"}
    assert names["sqlite"]["distribution"] == "dorm-sqlite"
    assert names["sqlite"]["status"] == "loaded", names["sqlite"]
    assert "sqlite" in names["sqlite"]["provides"]["engines"]


def test_documented_plugin_paths_name_their_distribution(user_venv, tmp_path):
    out = user_venv.script(
        """
        try:
            import dorm.tree
        except ImportError as exc:
            print(type(exc).__name__, exc)
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("PluginNotInstalled") and "pip install dorm-tree" in out.stdout


# (b) the example plugin, seen by `dorm plugins` ---------------------------------------------------
def test_dorm_plugins_lists_the_example_plugin(example_venv, tmp_path):
    out = example_venv.run([str(example_venv.bin / "dorm"), "plugins", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    by_name = {p["name"]: p for p in json.loads(out.stdout)}
    example = by_name["example"]
    assert example["distribution"] == "dorm-example-plugin"
    assert example["version"] == "0.1.0"
    assert example["source"] == "entry point"
    assert example["status"] == "loaded", example
    assert example["provides"]["fields"] == ["UpperCaseField"]
    assert example["provides"]["lookups"] == ["ne"]
    assert example["provides"]["hooks"] == ["dorm_register_field_types", "dorm_register_lookups"]
    version = example_venv.run([str(example_venv.bin / "dorm"), "--version"], tmp_path)
    assert "dorm-example-plugin 0.1.0 (plugin: example)" in version.stdout


# (c) the example plugin, used by a model ------------------------------------------------------------
def test_model_uses_plugin_field_and_lookup(example_venv, tmp_path):
    out = example_venv.script(
        """
        import sys
        import dorm

        dorm.configure(DATABASES={"default": {"ENGINE": "sqlite", "NAME": sys.argv[1]}})


        class Person(dorm.Model):
            name = dorm.UpperCaseField(max_length=50)

            class Meta:
                app_label = "people"


        from dorm.fields import UpperCaseField
        assert UpperCaseField is dorm.UpperCaseField

        dorm.create_tables([Person])
        for name in ("alice", "Bob", "carol"):
            Person.objects.create(name=name)
        names = sorted(p.name for p in Person.objects.all())
        assert names == ["ALICE", "BOB", "CAROL"], names
        others = sorted(p.name for p in Person.objects.filter(name__ne="bob"))
        assert others == ["ALICE", "CAROL"], others
        assert Person.objects.filter(name__ne="ALICE").count() == 2
        print("ok")
        """,
        tmp_path,
        str(tmp_path / "people.db"),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
