"""The ``dorm`` command line (click).

``main()`` is the console entry point: it builds the root group with the kernel's
commands (``plugins``, ``init``, ``shell``, ``dbshell``, ``version``), lets every
plugin add its own through ``dorm_register_commands(cli)``, and runs it.

For command authors (the kernel's and plugins'):

* ``@settings_option`` adds ``--settings DOTTED.PATH`` to a command (the group has it
  too); ``load_settings(required=...)`` applies discovery (spec core.md §1.4) once.
* ``ImproperlyConfigured`` / ``PluginNotInstalled`` raised by a command become a
  one-line ``Error: ...`` on stderr and exit status 2, without a traceback. Other
  exceptions keep their traceback (exit 1).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import click

from dorm.exceptions import ImproperlyConfigured

__all__ = ["CliState", "ConfigError", "DormGroup", "build_cli", "load_settings", "main", "settings_option"]


class ConfigError(click.ClickException):
    """A configuration problem, shown as ``Error: <message>`` with exit status 2."""

    exit_code = 2


@dataclass
class CliState:
    """Per-invocation state, stored as ``ctx.obj``."""

    settings_module: str | None = None
    source: Any = None
    loaded: bool = False


def _state() -> CliState:
    ctx = click.get_current_context()
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    return state


def load_settings(required: bool = False):
    """Discover and apply settings for this invocation (once); returns the source.

    Precedence: ``--settings`` > ``DORM_SETTINGS`` > ``DORM_SETTINGS_MODULE`` >
    ``settings.py`` next to the script / in the current directory. A dorm already
    configured in-process (``dorm.configure()`` before invoking the CLI, as tests do)
    is used as is unless ``--settings`` was given. With ``required``, finding nothing
    is an error.
    """
    from dorm.conf import discover, settings

    state = _state()
    if state.loaded:
        return state.source
    if settings.configured and not state.settings_module:
        state.loaded, state.source = True, settings.source
        return state.source
    state.source = discover(state.settings_module, required=required)
    state.loaded = True
    return state.source


def _remember_settings(ctx: click.Context, param, value):
    if value:
        ctx.ensure_object(CliState).settings_module = value
    return value


def settings_option(f):
    """Decorator: add ``--settings DOTTED.PATH`` to a command."""
    return click.option(
        "--settings", "settings_module", metavar="DOTTED.PATH", expose_value=False,
        callback=_remember_settings, is_eager=True,
        help="Settings module (default: DORM_SETTINGS, DORM_SETTINGS_MODULE, ./settings.py).",
    )(f)


class DormGroup(click.Group):
    """Root group: adds plugin commands on first need (so ``dorm --version`` imports no
    plugin and warnings go to this invocation's stderr), and turns configuration
    errors into one-line messages."""

    plugin_commands_added = False

    def _ensure_plugin_commands(self) -> None:
        if not self.plugin_commands_added:
            self.plugin_commands_added = True
            add_plugin_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str):
        self._ensure_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context):
        self._ensure_plugin_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ImproperlyConfigured as exc:
            raise ConfigError(str(exc)) from exc


def _print_version(ctx: click.Context, param, value) -> None:
    if not value or ctx.resilient_parsing:
        return
    from .commands import version_lines

    for line in version_lines():
        click.echo(line)
    ctx.exit()


def make_group() -> DormGroup:
    """The root group with the kernel's own commands (plugin commands come lazily)."""
    from . import commands

    @click.group(cls=DormGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--version", is_flag=True, expose_value=False, is_eager=True,
                  callback=_print_version, help="Show dorm-kernel and plugin versions.")
    @settings_option
    @click.pass_context
    def dorm(ctx: click.Context) -> None:
        """dorm: a Django-style ORM whose backends and features are plugins."""
        ctx.ensure_object(CliState)

    for cmd in commands.KERNEL_COMMANDS:
        dorm.add_command(cmd)
    return dorm


def add_plugin_commands(cli: click.Group) -> None:
    """Run ``dorm_register_commands`` for every plugin and add the commands.

    A command name already taken is a clash: reported on stderr naming both plugins
    (the earlier one is kept); ``DORM_RAISE_PLUGIN_ERRORS=1`` raises instead.
    """
    from dorm.plugins import collect_commands, records
    from dorm.plugins.manager import BUILTIN_NAME, raise_plugin_errors

    for rec in records():
        if rec.status == "failed":
            click.echo(
                f"dorm: warning: plugin {rec.name!r} ({rec.distribution or rec.source}) failed "
                f"to load: {rec.error} (see 'dorm plugins')",
                err=True,
            )
    commands, errors = collect_commands()
    for plugin, message in errors:
        click.echo(f"dorm: warning: plugin {plugin!r} failed to add its commands: {message}", err=True)
    owners = {name: BUILTIN_NAME for name in cli.commands}
    for plugin, cmd in commands:
        owner = owners.get(cmd.name)
        if owner is not None:
            if cli.commands.get(cmd.name) is cmd:
                continue
            message = (
                f"command {cmd.name!r} is registered by both {owner!r} and {plugin!r}; "
                f"keeping {owner!r}'s"
            )
            if raise_plugin_errors():
                raise ImproperlyConfigured(f"Plugin clash: {message}")
            click.echo(f"dorm: warning: {message}", err=True)
            continue
        cli.add_command(cmd)
        owners[cmd.name] = plugin


def build_cli() -> DormGroup:
    """A fresh root group; plugin commands are added on first lookup (tests invoke this)."""
    return make_group()


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``dorm``."""
    try:
        build_cli().main(args=argv, prog_name="dorm")
    except ImproperlyConfigured as exc:  # raised outside a command (e.g. during --help)
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
