"""The ``dorm`` command line: version, plugins, init, shell, dbshell, plugin commands."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from dorm import plugins
from dorm.cli import build_cli
from dorm.conf import settings
from dorm.hookspecs import hookimpl
from dorm.plugins import manager

ENV_VARS = ("DORM_PLUGINS", "DORM_DISABLED_PLUGINS", "DORM_DISABLE_PLUGIN_AUTOLOAD",
            "DORM_RAISE_PLUGIN_ERRORS", "DORM_SETTINGS", "DORM_SETTINGS_MODULE", "DORM_PROFILE")


class FakeDist:
    def __init__(self, name, version):
        self.name, self.version, self.metadata = name, version, {"Name": name}


class FakeEntryPoint:
    def __init__(self, name, obj=None, error=None, dist="dorm-fake", version="1.2.3"):
        self.name, self.value, self._obj, self._error = name, f"{name}.plugin", obj, error
        self.dist = FakeDist(dist, version)

    def load(self):
        if self._error:
            raise self._error
        return self._obj


class Backend:
    pass


@click.command("hello")
def hello():
    """Say hello (added by a plugin)."""
    click.echo("hello from a plugin")


class CommandPlugin:
    @hookimpl
    def dorm_register_backends(self, register):
        register("clidb", f"{__name__}:Backend")

    @hookimpl
    def dorm_register_commands(self, cli):
        cli.add_command(hello)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Empty cwd, unconfigured settings, simulated entry points (list to extend)."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    eps: list = []
    monkeypatch.setattr(manager, "_iter_entry_points", lambda: list(eps))
    with plugins.isolated(), settings.isolated():
        yield eps
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def run(*args, expect=0):
    result = CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)
    assert result.exit_code == expect, (result.exit_code, result.output)
    return result


# ---- version ------------------------------------------------------------------------------------
def test_version_lists_kernel_and_plugin_distributions(env):
    env.append(FakeEntryPoint("fake", object(), dist="dorm-fake", version="1.2.3"))
    out = run("--version").stdout
    lines = out.splitlines()
    assert lines[0].startswith("dorm-kernel 0.1.0")
    assert "dorm-fake 1.2.3 (plugin: fake)" in out
    assert run("version").stdout == out


# ---- plugins ------------------------------------------------------------------------------------
def test_plugins_json(env):
    env.append(FakeEntryPoint("broken", error=ImportError("No module named 'psycopg'"), dist="dorm-broken"))
    with plugins.registered(CommandPlugin(), "cmdplugin"):
        data = json.loads(run("plugins", "--json").stdout)
    by_name = {p["name"]: p for p in data}
    assert by_name["dorm"]["source"] == "built-in"
    assert by_name["dorm"]["distribution"] == "dorm-kernel"
    mine = by_name["cmdplugin"]
    assert mine["source"] == "registered at run time"
    assert mine["status"] == "loaded"
    assert mine["provides"]["engines"] == ["clidb"]
    assert mine["provides"]["commands"] == ["hello"]
    assert mine["provides"]["hooks"] == ["dorm_register_backends", "dorm_register_commands"]
    broken = by_name["broken"]
    assert broken["status"].startswith("failed: ImportError") and "psycopg" in broken["error"]
    assert broken["distribution"] == "dorm-broken" and broken["version"] == "1.2.3"


def test_plugins_table(env):
    with plugins.registered(CommandPlugin(), "cmdplugin"):
        out = run("plugins").stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "DISTRIBUTION", "VERSION", "SOURCE", "STATUS"]
    assert "cmdplugin" in out and "registered at run time" in out
    assert "engines (1): clidb" in out and "commands (1): hello" in out


def test_plugins_hook_filter(env):
    with plugins.registered(CommandPlugin(), "cmdplugin"):
        data = json.loads(run("plugins", "--json", "--hook", "dorm_register_commands").stdout)
        names = [p["name"] for p in data]
        assert "cmdplugin" in names  # the kernel ("dorm") adds its own commands the same way
        assert all("dorm_register_commands" in p["provides"]["hooks"] for p in data)
        data = json.loads(run("plugins", "--json", "--hook", "dorm_execute").stdout)
        assert data == []
        result = run("plugins", "--hook", "dorm_nope", expect=2)
        assert "unknown hook 'dorm_nope'" in result.output and "dorm_register_lookups" in result.output


# ---- plugin commands ----------------------------------------------------------------------------
def test_plugin_commands_are_added(env):
    with plugins.registered(CommandPlugin(), "cmdplugin"):
        assert run("hello").stdout == "hello from a plugin\n"
        assert "hello" in run("--help").stdout


def test_command_clash_is_reported_with_both_plugins(env):
    class Second:
        @hookimpl
        def dorm_register_commands(self, cli):
            @cli.command("hello")
            def other():
                click.echo("second")

    class Shadow:  # a kernel command name
        @hookimpl
        def dorm_register_commands(self, cli):
            @cli.command("init")
            def init():
                click.echo("shadow")

    with plugins.registered(CommandPlugin(), "first"), plugins.registered(Second(), "second"), \
            plugins.registered(Shadow(), "shadow"):
        result = run("hello")
        assert result.stdout == "hello from a plugin\n"
        assert "'hello' is registered by both 'first' and 'second'" in result.stderr
        assert "'init' is registered by both 'dorm' and 'shadow'" in result.stderr


def test_failing_plugin_is_reported_but_cli_works(env):
    env.append(FakeEntryPoint("broken", error=RuntimeError("bad import"), dist="dorm-broken"))

    class BadCommands:
        @hookimpl
        def dorm_register_commands(self, cli):
            raise ValueError("no commands today")

    with plugins.registered(BadCommands(), "badcmds"):
        result = run("version")
    assert "plugin 'broken' (dorm-broken) failed to load: RuntimeError: bad import" in result.stderr
    assert "plugin 'badcmds' failed to add its commands: ValueError: no commands today" in result.stderr


# ---- init ---------------------------------------------------------------------------------------
def test_init_scaffolds_app_and_settings(env, tmp_path):
    out = run("init", "shop").stdout
    for rel in ("settings.py", "shop/__init__.py", "shop/models.py", "shop/migrations/__init__.py"):
        assert (tmp_path / rel).is_file(), rel
        assert f"created {rel}" in out
    text = (tmp_path / "settings.py").read_text()
    assert "INSTALLED_APPS = ['shop']" in text and '"ENGINE": "sqlite"' in text
    models = (tmp_path / "shop" / "models.py").read_text()
    assert "class Note(dorm.Model)" in models
    compile(text, "settings.py", "exec")
    compile(models, "models.py", "exec")
    # never overwrites
    (tmp_path / "shop" / "models.py").write_text("# mine\n")
    out = run("init", "--app", "shop").stdout
    assert "exists, left unchanged" in out
    assert (tmp_path / "shop" / "models.py").read_text() == "# mine\n"


def test_init_second_app_tells_to_update_settings(env, tmp_path):
    run("init", "shop")
    out = run("init", "blog").stdout
    assert "add 'blog' to INSTALLED_APPS" in out
    assert (tmp_path / "blog" / "models.py").is_file()


@pytest.mark.parametrize("name", ["my-app", "class", "dorm", "1app"])
def test_init_rejects_bad_app_names(env, name):
    result = run("init", name, expect=2)
    assert "not a valid app name" in result.output


def test_init_without_app_writes_settings_only(env, tmp_path):
    run("init")
    assert (tmp_path / "settings.py").is_file()
    assert "INSTALLED_APPS = []" in (tmp_path / "settings.py").read_text()


# ---- shell --------------------------------------------------------------------------------------
def _project(tmp_path: Path, settings_text: str = "INSTALLED_APPS = ['notes']\nUSE_TZ = True\n"):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "__init__.py").write_text("")
    (tmp_path / "notes" / "models.py").write_text("MARKER = 'notes loaded'\n")
    (tmp_path / "settings.py").write_text(settings_text)


def test_shell_command_runs_with_settings_loaded(env, tmp_path):
    _project(tmp_path)
    code = "import sys; print(dorm.__name__, settings.INSTALLED_APPS, settings.USE_TZ, sys.modules['notes.models'].MARKER)"
    out = run("shell", "-c", code).stdout
    assert out == "dorm ['notes'] True notes loaded\n"


def test_shell_with_settings_option(env, tmp_path):
    (tmp_path / "conf_xyz").mkdir()
    (tmp_path / "conf_xyz" / "__init__.py").write_text("")
    (tmp_path / "conf_xyz" / "local.py").write_text("CUSTOM = 'from option'\nINSTALLED_APPS = []\n")
    assert run("--settings", "conf_xyz.local", "shell", "-c", "print(settings.CUSTOM)").stdout == "from option\n"
    settings.reset()
    assert run("shell", "--settings", "conf_xyz.local", "-c", "print(settings.CUSTOM)").stdout == "from option\n"


def test_shell_imports_models_of_installed_apps(env, tmp_path):
    """Needs the ORM core (dorm.Model): the scaffolded Note model is in the namespace."""
    run("init", "shop")
    out = run("shell", "-c", "print(Note.__name__, Note._meta.db_table)").stdout
    assert out.split()[0] == "Note"


def test_configuration_errors_are_one_line(env):
    result = run("--settings", "not-dotted!", "shell", "-c", "pass", expect=2)
    assert result.stderr.startswith("Error: Settings module (from --settings) must be a dotted Python path")
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


# ---- dbshell ------------------------------------------------------------------------------------
def test_dbshell_without_settings(env):
    result = run("dbshell", expect=2)
    assert "No dorm settings found" in result.stderr


def test_dbshell_unknown_alias(env, tmp_path):
    (tmp_path / "settings.py").write_text("DATABASES = {'default': 'sqlite://'}\n")
    result = run("dbshell", "--database", "replica", expect=2)
    assert "unknown database alias 'replica'; configured aliases: default" in result.stderr


# ---- real processes -----------------------------------------------------------------------------
def test_console_script_and_module_entry(tmp_path):
    bindir = Path(sys.executable).parent
    exe = bindir / "dorm"
    assert exe.exists(), "the dorm console script is installed with dorm-kernel"
    out = subprocess.run([str(exe), "plugins", "--json"], check=False, capture_output=True,
                         text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    names = [p["name"] for p in json.loads(out.stdout)]
    assert names[0] == "dorm"
    out = subprocess.run([sys.executable, "-m", "dorm.cli", "--version"], check=False,
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("dorm-kernel ")
    script = textwrap.dedent("""\
        INSTALLED_APPS = []
        GREETING = "hi"
    """)
    (tmp_path / "settings.py").write_text(script)
    out = subprocess.run([str(exe), "shell", "-c", "print(settings.GREETING)"], check=False,
                         capture_output=True,
                         text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hi\n"


class _ClientBackend:
    """Stands in for a backend whose client records what dbshell asked for."""

    calls: typing.ClassVar[list] = []
    display_name = "Fake"

    class client:  # mimics the backend.client attribute
        @staticmethod
        def runshell(parameters=None):
            _ClientBackend.calls.append(parameters)


class _NoClientBackend:
    display_name = "Clientless"

    class client:
        @staticmethod
        def runshell(parameters=None):
            raise NotImplementedError


def test_dbshell_runs_the_backend_client(env, tmp_path, monkeypatch):
    import dorm.db

    (tmp_path / "settings.py").write_text("DATABASES = {'default': 'sqlite://', 'other': 'sqlite://'}\n")
    fake = {"default": _ClientBackend(), "other": _NoClientBackend()}
    monkeypatch.setattr(dorm.db, "connections", fake)
    _ClientBackend.calls.clear()
    run("dbshell")
    run("dbshell", "--database", "default", "--", "-readonly")
    assert _ClientBackend.calls == [None, ["-readonly"]]
    result = run("dbshell", "--database", "other", expect=2)
    assert "the Clientless backend (alias 'other') provides no command-line client" in result.stderr
