"""The kernel's own CLI commands: ``plugins``, ``init``, ``shell``, ``dbshell``, ``version``.

The migration commands (``makemigrations``, ``migrate``, ...) are added by the
kernel's built-in plugin through ``dorm_register_commands``, like any plugin's.
"""
from __future__ import annotations

import code
import json
import keyword
import platform
import sys
from importlib import metadata
from pathlib import Path

import click

from . import ConfigError, load_settings, settings_option
from .templates import APP_INIT, MODELS_PY, SETTINGS_PY

PROVIDES_ORDER = ("engines", "fields", "lookups", "expressions", "operations", "modules", "commands", "hooks")


# ---- version ---------------------------------------------------------------------------
def version_lines() -> list[str]:
    """``dorm-kernel X`` then one line per installed plugin distribution (no plugin import)."""
    try:
        kernel = metadata.version("dorm-kernel")
    except metadata.PackageNotFoundError:
        import dorm

        kernel = getattr(dorm, "__version__", "unknown")
    lines = [f"dorm-kernel {kernel} (Python {platform.python_version()})"]
    from dorm.plugins.manager import _dist_of, _iter_entry_points

    seen: dict[str, list[str]] = {}
    versions: dict[str, str] = {}
    for ep in _iter_entry_points():
        dist, version = _dist_of(ep)
        key = dist or "(unknown distribution)"
        seen.setdefault(key, []).append(ep.name)
        versions[key] = version or "?"
    for dist in sorted(seen):
        lines.append(f"  {dist} {versions[dist]} (plugin: {', '.join(sorted(seen[dist]))})")
    if len(lines) == 1:
        lines.append("  no plugin distributions installed")
    return lines


@click.command("version")
def version() -> None:
    """Show dorm-kernel and plugin distribution versions."""
    for line in version_lines():
        click.echo(line)


# ---- plugins ---------------------------------------------------------------------------
def _summarise(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... (+{len(names) - limit} more)" if len(names) > limit else "")


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--hook", "hook_name", metavar="NAME", help="Only plugins implementing this hook.")
@settings_option
def plugins(as_json: bool, hook_name: str | None) -> None:
    """List plugins: name, distribution, version, source, status and what each provides."""
    from dorm import hookspecs
    from dorm.plugins import plugin_infos

    try:
        load_settings(required=False)  # settings.PLUGINS may restrict the list
    except Exception as exc:  # noqa: BLE001 - diagnostics must work with broken settings
        click.echo(f"dorm: warning: settings not loaded: {type(exc).__name__}: {exc}", err=True)
    if hook_name is not None:
        known = sorted(n for n in dir(hookspecs) if n.startswith("dorm_"))
        if hook_name not in known:
            raise click.BadParameter(
                f"unknown hook {hook_name!r}; hooks: {', '.join(known)}", param_hint="--hook"
            )
    infos = plugin_infos()
    if hook_name is not None:
        infos = [i for i in infos if hook_name in i.provides.get("hooks", [])]
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], indent=2, sort_keys=True))
        return
    if not infos:
        click.echo("No plugins." if hook_name is None else f"No plugin implements {hook_name}.")
        return
    cols = ("NAME", "DISTRIBUTION", "VERSION", "SOURCE", "STATUS")
    rows = [(i.name, i.distribution or "-", i.version or "-", i.source, i.status) for i in infos]
    widths = [max(len(str(r[c])) for r in [cols, *rows]) for c in range(4)]
    for info, row in zip([None, *infos], [cols, *rows]):
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row[:4], widths)) + "  " + row[4])
        if info is None:
            continue
        provided = [
            f"{kind} ({len(info.provides[kind])}): {_summarise(info.provides[kind])}"
            for kind in PROVIDES_ORDER if info.provides.get(kind)
        ]
        for line in provided:
            click.echo(f"    {line}")
        for warning in info.warnings:
            click.echo(f"    warning: {warning}")


# ---- init ------------------------------------------------------------------------------
def _write(path: Path, text: str, created: list[str], skipped: list[str]) -> None:
    if path.exists():
        skipped.append(str(path))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    created.append(str(path))


@click.command("init")
@click.argument("app", required=False)
@click.option("--app", "app_option", metavar="NAME", help="App package to create (same as APP).")
@click.option("--dir", "directory", default=".", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Project directory.")
def init(app: str | None, app_option: str | None, directory: Path) -> None:
    """Scaffold a project: settings.py (SQLite) and, with APP, an app package.

    Creates APP/__init__.py, APP/models.py (an example model) and
    APP/migrations/__init__.py. Existing files are never overwritten.
    """
    if app and app_option and app != app_option:
        raise click.UsageError(f"two app names given: {app!r} and --app {app_option!r}")
    app = app or app_option
    if app is not None and (not app.isidentifier() or keyword.iskeyword(app) or app in ("dorm", "settings")):
        raise click.BadParameter(
            f"{app!r} is not a valid app name (use a Python identifier, not 'dorm' or 'settings')",
            param_hint="APP",
        )
    created: list[str] = []
    skipped: list[str] = []
    settings_path = directory / "settings.py"
    had_settings = settings_path.exists()
    apps_literal = f"[{app!r}]" if app else "[]"
    _write(settings_path, SETTINGS_PY.format(apps=apps_literal), created, skipped)
    if app:
        _write(directory / app / "__init__.py", APP_INIT.format(app=app), created, skipped)
        _write(directory / app / "models.py", MODELS_PY.format(app=app), created, skipped)
        _write(directory / app / "migrations" / "__init__.py", "", created, skipped)
    for path in created:
        click.echo(f"created {path}")
    for path in skipped:
        click.echo(f"exists, left unchanged: {path}")
    if app and had_settings and repr(app) not in settings_path.read_text(encoding="utf-8"):
        click.echo(f"note: add {app!r} to INSTALLED_APPS in {settings_path}")


# ---- shell -----------------------------------------------------------------------------
def shell_namespace() -> dict:
    """``dorm``, ``settings`` and every model class of the installed apps."""
    import importlib

    import dorm
    from dorm.conf import settings

    namespace: dict = {"dorm": dorm, "settings": settings}
    model_base = getattr(sys.modules.get("dorm.models"), "Model", None)
    if model_base is None:
        try:
            model_base = getattr(dorm, "Model", None)
        except Exception:  # noqa: BLE001 - the core may not provide Model yet
            model_base = None
    if model_base is None:
        return namespace
    for app in settings.INSTALLED_APPS if settings.configured else []:
        try:
            module = importlib.import_module(f"{app}.models")
        except ModuleNotFoundError as exc:
            if exc.name == f"{app}.models":
                continue
            raise
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, model_base) and obj is not model_base:
                namespace.setdefault(name, obj)
    return namespace


@click.command("shell")
@click.option("-c", "--command", "command", metavar="CODE", help="Run CODE and exit instead of a REPL.")
@click.option("--database", "--alias", "database", default=None, metavar="ALIAS",
              help="Use DATABASES[ALIAS] as the 'default' database.")
@settings_option
def shell(command: str | None, database: str | None) -> None:
    """Python REPL with dorm, settings and the installed apps' models imported."""
    load_settings(required=database is not None)
    if database is not None:
        from ._common import use_as_default

        use_as_default(database)
    namespace = shell_namespace()
    if command is not None:
        exec(compile(command, "<dorm shell -c>", "exec"), namespace)  # noqa: S102 - user code, like python -c
        return
    names = ", ".join(sorted(k for k in namespace if not k.startswith("__")))
    code.interact(banner=f"dorm shell (Python {platform.python_version()})\nImported: {names}",
                  local=namespace, exitmsg="")


# ---- dbshell ---------------------------------------------------------------------------
@click.command("dbshell", context_settings={"ignore_unknown_options": True})
@click.option("--database", "--alias", "database", default="default", show_default=True,
              help="DATABASES alias to open.")
@click.argument("parameters", nargs=-1, type=click.UNPROCESSED)
@settings_option
@click.pass_context
def dbshell(ctx: click.Context, database: str, parameters: tuple[str, ...]) -> None:
    """Open the database's own command-line client (sqlite3, psql, ...).

    Extra PARAMETERS (after --) are passed to the client.
    """
    from dorm.conf import settings

    load_settings(required=True)
    aliases = settings.DATABASES
    if database not in aliases:
        raise ConfigError(
            f"unknown database alias {database!r}; configured aliases: "
            f"{', '.join(sorted(aliases)) or 'none'}"
        )
    from dorm.db import connections

    conn = connections[database]
    client = getattr(conn, "client", None)
    no_client = ConfigError(
        f"the {getattr(conn, 'display_name', type(conn).__name__)} backend (alias {database!r}) "
        f"provides no command-line client for dbshell"
    )
    if client is None or not hasattr(client, "runshell"):
        raise no_client
    try:
        client.runshell(list(parameters)) if parameters else client.runshell()
    except NotImplementedError:
        raise no_client from None
    except FileNotFoundError as exc:
        program = exc.filename or getattr(client, "executable_name", "the database client")
        click.echo(f"Error: {program} was not found on PATH; install it to use dbshell", err=True)
        ctx.exit(127)


KERNEL_COMMANDS = (plugins, init, shell, dbshell, version)
