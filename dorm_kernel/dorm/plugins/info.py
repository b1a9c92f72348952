"""Plugin summaries for ``dorm plugins`` and the commands plugins add to the CLI."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from . import manager


@dataclass
class PluginInfo:
    """One row of ``dorm plugins``.

    ``status`` is ``"loaded"``, ``"failed: <error>"`` or ``"disabled: <why>"``;
    ``provides`` maps ``engines, fields, lookups, expressions, operations, modules,
    commands, hooks`` to sorted name lists (empty unless loaded).
    """

    name: str
    distribution: str | None
    version: str | None
    source: str
    status: str
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect_commands(raise_errors: bool | None = None):
    """Call each plugin's ``dorm_register_commands`` with its own scratch group.

    Returns ``(commands, errors)``: ``commands`` is a list of ``(plugin name, click
    command)`` in load order, ``errors`` a list of ``(plugin name, message)`` for
    plugins whose hook raised (re-raised when ``DORM_RAISE_PLUGIN_ERRORS`` is set or
    ``raise_errors`` is true). A scratch group per plugin tells which plugin added
    which command, so clashes can name both.
    """
    import click

    if raise_errors is None:
        raise_errors = manager.raise_plugin_errors()
    pm = manager.get_plugin_manager()
    commands: list[tuple[str, Any]] = []
    errors: list[tuple[str, str]] = []
    for rec in manager.records():
        if rec.status != "loaded" or rec.plugin is None:
            continue
        for impl in manager._plugin_impls(pm, rec.plugin, "dorm_register_commands"):
            scratch = click.Group("dorm")
            try:
                impl.function(*[{"cli": scratch}[a] for a in impl.argnames])
            except Exception as exc:
                if raise_errors:
                    raise
                errors.append((rec.name, manager._describe(exc)))
                continue
            commands.extend((rec.name, cmd) for cmd in scratch.commands.values())
    return commands, errors


def plugin_infos() -> list[PluginInfo]:
    """Every known plugin (loaded, failed or disabled) with what it provides."""
    try:
        reg = manager.get_registry()
    except Exception as exc:  # noqa: BLE001 - a clash: still describe the plugins
        reg = None
        clash = manager._describe(exc)
    else:
        clash = None
    commands, command_errors = collect_commands(raise_errors=False)
    failed_commands = dict(command_errors)
    infos = []
    for rec in manager.records():
        status = rec.status if rec.status == "loaded" else f"{rec.status}: {rec.error}"
        info = PluginInfo(
            rec.name, rec.distribution, rec.version, rec.source, status,
            error=rec.error if rec.status != "loaded" else None,
            warnings=list(rec.warnings),
        )
        if rec.status == "loaded":
            info.provides = reg.provided_by(rec.name) if reg is not None else {}
            info.provides["commands"] = sorted(
                cmd.name for owner, cmd in commands if owner == rec.name
            )
            info.provides["hooks"] = manager.hooks_of(rec.plugin)
            if rec.name in failed_commands:
                info.warnings.append(f"dorm_register_commands failed: {failed_commands[rec.name]}")
            if clash is not None and repr(rec.name) in clash:
                info.warnings.append(clash)
        infos.append(info)
    return infos
