"""Migration commands: ``makemigrations``, ``migrate``, ``rollback``, ``showmigrations``,
``sqlmigrate``, ``squashmigrations``, ``lint`` (``lint-migrations``).

Registered by the kernel's built-in plugin through ``dorm_register_commands``. Errors
end the command with a one-line ``Error: ...`` on stderr: exit status 1 for migration
problems (bad file, missing dependency, conflict, failed migration, pending changes
with ``--check``), 2 for usage and configuration errors.
"""
from __future__ import annotations

import functools
import json
import re
import sys
import time

import click

from . import ConfigError, load_settings, settings_option

_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class MigrationCommandError(click.ClickException):
    """Exit status 1 with ``Error: <message>``."""

    exit_code = 1


def handle_errors(fn):
    """Turn migration/lookup errors into one-line messages with the right exit status."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from dorm.exceptions import ImproperlyConfigured, MigrationError

        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except ImproperlyConfigured as exc:
            raise ConfigError(str(exc)) from exc
        except MigrationError as exc:
            raise MigrationCommandError(str(exc)) from exc
        except AppNotFound as exc:
            raise click.UsageError(str(exc)) from exc

    return wrapper


class AppNotFound(Exception):
    pass


def migration_aliases(database):
    """``[database]`` when given, else ``default`` plus what plugins add through the
    ``dorm_migration_aliases`` hook (shards), each checked against DATABASES."""
    from dorm.conf import settings
    from dorm.plugins import get_plugin_manager

    if database is not None:
        return [database]
    aliases = ["default"] if "default" in settings.DATABASES else []
    for extra in get_plugin_manager().hook.dorm_migration_aliases(settings=settings):
        for alias in extra or ():
            if alias not in aliases:
                aliases.append(alias)
    missing = [a for a in aliases if a not in settings.DATABASES]
    if missing:
        raise ConfigError(f"alias(es) {', '.join(missing)} named by a plugin are not in DATABASES; "
                          f"configured aliases: {', '.join(sorted(settings.DATABASES)) or 'none'}")
    return aliases or ["default"]


def all_databases_option(f):
    """``--database ALIAS``; without it the command covers ``migration_aliases(None)``."""
    return click.option("--database", "--alias", "database", default=None, metavar="ALIAS",
                        help="Only this alias (default: 'default' and every alias plugins add, "
                             "e.g. shards).")(f)


def database_option(f):
    return click.option("--database", "--alias", "database", default="default", show_default=True,
                        metavar="ALIAS", help="DATABASES alias to use.")(f)


def _connection(alias: str):
    from dorm.conf import settings
    from dorm.db import connections

    if alias not in settings.DATABASES:
        raise ConfigError(f"unknown database alias {alias!r}; configured aliases: "
                          f"{', '.join(sorted(settings.DATABASES)) or 'none'}")
    return connections[alias]


def _loader(connection=None):
    from dorm.migrations.loader import MigrationLoader

    return MigrationLoader(connection)


def _resolve_apps(loader, labels) -> list:
    from dorm.migrations.loader import resolve_app

    out = []
    for label in labels:
        try:
            app = resolve_app(loader.apps, label)
        except LookupError as exc:
            raise AppNotFound(str(exc)) from None
        if app not in out:
            out.append(app)
    return out


def _check_name(name: str | None) -> None:
    if name is not None and not _NAME.match(name):
        raise click.BadParameter(f"{name!r}: use letters, digits and underscores", param_hint="--name")


def _relpath(path) -> str:
    import os

    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


# ---- makemigrations ------------------------------------------------------------------------
def _parse_renames(model_renames, field_renames) -> dict:
    hints: dict = {"models": {}, "fields": {}}
    for item in model_renames:
        target, sep, new = item.partition(":")
        app, _, old = target.rpartition(".")
        if not sep or not app or not old or not new:
            raise click.BadParameter(f"{item!r}: expected APP.OLD:NEW", param_hint="--rename-model")
        hints["models"].setdefault(app, {})[old] = new
    for item in field_renames:
        target, sep, new = item.partition(":")
        model, _, old = target.rpartition(".")
        if not sep or "." not in model or not old or not new:
            raise click.BadParameter(f"{item!r}: expected APP.MODEL.OLD:NEW", param_hint="--rename-field")
        hints["fields"].setdefault(model, {})[old] = new
    return hints


def _verify(text: str, migration) -> None:
    """Execute generated source and check it gives back the same operations."""
    from dorm.migrations.exceptions import SerializationError

    namespace: dict = {"__name__": f"_dorm_generated_{migration.app_label}_{migration.name}"}
    try:
        exec(compile(text, f"<{migration.name}.py>", "exec"), namespace)  # noqa: S102
    except Exception as exc:
        raise SerializationError(
            f"the generated migration {migration.app_label}.{migration.name} does not import "
            f"({type(exc).__name__}: {exc}); nothing was written") from exc
    if len(namespace.get("operations", [])) != len(migration.operations):
        raise SerializationError(f"the generated migration {migration.app_label}.{migration.name} "
                                 "does not round-trip; nothing was written")


def _print_plan(migrations_by_app, loader, out=click.echo) -> None:
    for app, migrations in migrations_by_app.items():
        out(f"Migrations for {app!r}:")
        directory = loader.app(app).migrations_dir
        for m in migrations:
            out(f"  {_relpath(directory / (m.name + '.py')) if directory else m.name}")
            for op in m.operations:
                out(f"    - {op.describe()}")


@click.command("makemigrations")
@click.argument("app_labels", nargs=-1)
@click.option("-n", "--name", help="Name part of the new migration(s) (NNNN_<name>).")
@click.option("--empty", is_flag=True, help="Write an empty migration for each app given.")
@click.option("--check", "check", is_flag=True,
              help="Write nothing; exit 1 if models have changes without a migration.")
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--merge", is_flag=True, help="Write merge migrations for apps with several leaves.")
@click.option("--no-input", "--noinput", "no_input", is_flag=True,
              help="Ask nothing: no rename detection, error where a default is needed.")
@click.option("--rename-model", multiple=True, metavar="APP.OLD:NEW", help="Declare a model rename.")
@click.option("--rename-field", multiple=True, metavar="APP.MODEL.OLD:NEW", help="Declare a field rename.")
@click.option("-v", "--verbosity", type=click.IntRange(0, 3), default=1, show_default=True,
              help="3 prints the generated files with --dry-run/--check.")
@click.option("--database", "--alias", "database", default=None, metavar="ALIAS",
              help="First check that the history applied on ALIAS is consistent (default: "
                   "no database is read).")
@settings_option
@handle_errors
def makemigrations(app_labels, name, empty, check, dry_run, merge, no_input, rename_model,
                   rename_field, verbosity, database):
    """Create migrations from the changes in your models."""
    from dorm.migrations import (
        InteractiveQuestioner,
        Migration,
        MigrationAutodetector,
        MigrationWriter,
        ProjectState,
        Questioner,
    )

    _check_name(name)
    load_settings(required=True)
    hints = _parse_renames(rename_model, rename_field)
    if database is not None:
        _loader(_connection(database)).check_consistent_history()
    loader = _loader()
    apps = _resolve_apps(loader, app_labels) if app_labels else list(loader.apps)
    labels = [a.label for a in apps]

    if merge:
        conflicts = {app: names for app, names in loader.detect_conflicts().items() if app in labels}
        if not conflicts:
            click.echo("No conflicts detected to merge.")
            return
        to_write = []
        for app, leaves in sorted(conflicts.items()):
            numbers = [m.number or 0 for k, m in loader.disk_migrations.items() if k[0] == app]
            number = max(numbers, default=0) + 1
            migration = Migration(f"{number:04d}_{name or 'merge'}", app, [],
                                  [(app, leaf) for leaf in leaves])
            to_write.append(migration)
            click.echo(f"Merging {app}: {', '.join(leaves)}")
        _write_all(to_write, loader, dry_run or check, verbosity)
        return
    loader.check_conflicts()

    if empty:
        if not app_labels:
            raise click.UsageError("--empty needs at least one app label")
        to_write = []
        for app in apps:
            numbers = [m.number or 0 for k, m in loader.disk_migrations.items() if k[0] == app.label]
            number = max(numbers, default=0) + 1
            leaf = loader.leaf(app.label)
            to_write.append(Migration(f"{number:04d}_{name or 'custom'}", app.label, [],
                                      [leaf] if leaf else [], initial=None))
        _write_all(to_write, loader, dry_run, verbosity)
        return

    if check:
        questioner = Questioner(lenient=True)
    else:
        questioner = Questioner() if no_input else InteractiveQuestioner()
    from_state = loader.project_state()
    to_state = ProjectState.from_apps(app_labels=[a.label for a in loader.apps])
    detector = MigrationAutodetector(from_state, to_state, questioner, rename_hints=hints)
    changes = detector.changes(app_labels=labels)
    for warning in questioner.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if not changes:
        if app_labels:
            click.echo(f"No changes detected in app{'s' if len(labels) > 1 else ''} "
                       f"{', '.join(repr(label) for label in labels)}")
        else:
            click.echo("No changes detected")
        return
    migrations = detector.arrange(changes, loader, name)
    texts = []
    for app, app_migrations in migrations.items():
        info = loader.app(app)
        for migration in app_migrations:
            writer = MigrationWriter(migration, info.migrations_dir)
            text = writer.as_string()
            _verify(text, migration)
            texts.append((writer, text))
    if check:
        count = sum(len(v) for v in migrations.values())
        click.echo(f"Your models have changes that are not yet reflected in a migration "
                   f"({count} migration(s) would be written):")
        _print_plan(migrations, loader)
        if verbosity >= 3:
            for _, text in texts:
                click.echo(text)
        sys.exit(1)
    _print_plan(migrations, loader)
    if dry_run:
        if verbosity >= 3:
            for writer, text in texts:
                click.echo(f"# {writer.filename}\n{text}")
        return
    for writer, text in texts:
        _write_text(writer, text)


def _write_text(writer, text: str) -> None:
    from dorm.migrations.loader import clear_migration_modules

    if writer.directory is None:
        raise MigrationCommandError(f"cannot find a directory for the migrations of "
                                    f"{writer.migration.app_label}")
    path = writer.path
    if path.exists():
        raise MigrationCommandError(f"{_relpath(path)} already exists; nothing was overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    init = path.parent / "__init__.py"
    if not init.exists():
        init.write_text("")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    clear_migration_modules(writer.migration.app_label)


def _write_all(migrations, loader, dry_run: bool, verbosity: int) -> None:
    from dorm.migrations import MigrationWriter

    prepared = []
    for migration in migrations:
        writer = MigrationWriter(migration, loader.app(migration.app_label).migrations_dir)
        text = writer.as_string()
        _verify(text, migration)
        prepared.append((writer, text))
    for writer, text in prepared:
        if writer.directory is not None and writer.path.exists():
            raise MigrationCommandError(f"{_relpath(writer.path)} already exists; nothing was written")
    for writer, text in prepared:
        shown = _relpath(writer.path) if writer.directory is not None else writer.filename
        if dry_run:
            click.echo(f"Would write {shown}")
            if verbosity >= 3:
                click.echo(text)
        else:
            _write_text(writer, text)
            click.echo(f"Wrote {shown}")


# ---- migrate / rollback ------------------------------------------------------------------------
class _Reporter:
    """Progress for the executor: a click progress bar on a terminal, else one line per
    migration (``  Applying shop.0001_initial... OK (0.01s)``)."""

    def __init__(self, total: int, verbosity: int, dry_run: bool):
        self.verbosity = verbosity
        self.dry_run = dry_run
        self.bar = None
        self.total = total
        self.started = 0.0
        tty = sys.stdout.isatty()
        if tty and verbosity >= 1 and total > 1 and not dry_run:
            self.bar = click.progressbar(length=total, label="Migrating", show_pos=True,
                                         item_show_func=lambda m: str(m) if m else "")
            self.bar.__enter__()

    def close(self, failed: bool = False) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __call__(self, event, migration, **info):
        if event in ("apply_start", "unapply_start"):
            self.started = time.perf_counter()
            if self.bar is None and self.verbosity >= 1 and not self.dry_run:
                verb = "Applying" if event == "apply_start" else "Unapplying"
                click.echo(f"  {verb} {migration}...", nl=False)
            return
        if event in ("apply_success", "unapply_success"):
            if self.dry_run:
                verb = "apply" if event == "apply_success" else "unapply"
                click.echo(f"--- SQL that would run to {verb} {migration} ---")
                for sql in info.get("sql") or []:
                    click.echo(sql)
                if not info.get("sql"):
                    click.echo("-- (no SQL)")
                return
            elapsed = time.perf_counter() - self.started
            if self.bar is not None:
                self.bar.update(1, migration)
            elif self.verbosity >= 1:
                click.echo(f" OK ({elapsed:.2f}s)")
            return
        if event in ("fake", "fake_unapply"):
            if self.bar is not None:
                self.bar.update(1, migration)
            elif self.verbosity >= 1:
                what = "Faking" if event == "fake" else "Faking unapply of"
                click.echo(f"  {what} {migration}... FAKED")
            return
        if event == "record_squashed" and self.verbosity >= 2:
            click.echo(f"  Marked squashed migration {migration} as applied")


def _print_db_plan(plan) -> None:
    click.echo("Planned operations:")
    if not plan:
        click.echo("  No planned migration operations.")
    for migration, backwards in plan:
        click.echo(f"{'Unapply' if backwards else 'Apply'} {migration}")
        ops = list(reversed(migration.operations)) if backwards else migration.operations
        for op in ops:
            suffix = " (irreversible)" if backwards and not op.reversible else ""
            click.echo(f"    {'Undo ' if backwards else ''}{op.describe()}{suffix}")


def _run_plan(executor, plan, *, fake, fake_initial, dry_run, verbosity, action: str) -> None:
    from dorm.migrations.exceptions import MigrationFailed

    if verbosity >= 1 and not dry_run:
        click.echo(f"{action}:")
    reporter = _Reporter(len(plan), verbosity, dry_run)
    executor.progress = reporter
    try:
        executor.migrate(plan=plan, fake=fake, fake_initial=fake_initial, dry_run=dry_run)
    except MigrationFailed:
        had_bar = reporter.bar is not None
        reporter.close(failed=True)
        if verbosity >= 1 and not had_bar:
            click.echo(" FAILED")
        raise
    finally:
        reporter.close()


def _warn_unmigrated(loader) -> None:
    """After migrate: note models changed without a migration (non-fatal)."""
    try:
        from dorm.migrations import MigrationAutodetector, ProjectState

        detector = MigrationAutodetector(loader.project_state(),
                                         ProjectState.from_apps(app_labels=[a.label for a in loader.apps]))
        changes = detector.changes(app_labels=[a.label for a in loader.apps])
    except Exception:  # noqa: BLE001 - only a hint
        return
    if changes:
        click.echo(f"  Your models in app(s) {', '.join(repr(a) for a in sorted(changes))} have changes "
                   "that are not yet reflected in a migration: run 'dorm makemigrations'.", err=True)


@click.command("migrate")
@click.argument("app_label", required=False)
@click.argument("target", required=False)
@all_databases_option
@click.option("--fake", is_flag=True, help="Record the migrations as run without running them.")
@click.option("--fake-initial", is_flag=True,
              help="Fake initial migrations whose tables already exist.")
@click.option("--plan", "show_plan", is_flag=True, help="Show what would be done; do nothing.")
@click.option("--dry-run", is_flag=True, help="Print the SQL instead of running it.")
@click.option("--prune", is_flag=True,
              help="Delete dorm_migrations rows of migrations whose files no longer exist.")
@click.option("--run-syncdb", is_flag=True,
              help="Also create the tables of apps without migrations (before migrating).")
@click.option("-v", "--verbosity", type=click.IntRange(0, 3), default=1, show_default=True)
@settings_option
@handle_errors
def migrate(app_label, target, database, fake, fake_initial, show_plan, dry_run, prune, run_syncdb,
            verbosity):
    """Apply migrations (or unapply back to TARGET).

    Without arguments every pending migration of every app is applied. With APP_LABEL,
    that app's (and what they depend on). TARGET is a migration name, its number (2,
    0002) or 'zero': the app is moved forwards or backwards to it.
    """
    load_settings(required=True)
    aliases = migration_aliases(database)
    for alias in aliases:
        if len(aliases) > 1 and verbosity >= 1:
            click.echo(f"== {alias} ==")
        _migrate_alias(alias, app_label, target, fake, fake_initial, show_plan, dry_run, prune,
                       verbosity, run_syncdb)


def _migrate_alias(database, app_label, target, fake, fake_initial, show_plan, dry_run, prune,
                   verbosity, run_syncdb=False):
    from dorm.migrations import MigrationExecutor

    connection = _connection(database)
    loader = _loader(connection)
    if app_label is not None:
        app_label = _resolve_apps(loader, [app_label])[0].label
    if prune:
        _prune(loader, connection, app_label, dry_run)
        return
    if run_syncdb:
        from .syncdb import sync_apps

        sync_apps(connection, loader, app_label, dry_run=dry_run, show_plan=show_plan,
                  verbosity=verbosity)
    loader.check_conflicts()
    loader.check_consistent_history()
    executor = MigrationExecutor(connection, loader)
    targets = executor.targets_for(app_label, target)
    plan = executor.migration_plan(targets)
    if show_plan:
        _print_db_plan(plan)
        return
    if not plan:
        if verbosity >= 1:
            click.echo("No migrations to apply." if app_label is None
                       else f"No migrations to apply for {app_label!r}.")
        if not dry_run:
            executor.migrate(plan=[])  # still records fully applied squashed migrations
            _warn_unmigrated(loader)
        return
    backwards = plan[0][1]
    _run_plan(executor, plan, fake=fake, fake_initial=fake_initial, dry_run=dry_run,
              verbosity=verbosity, action="Unapplying migrations" if backwards else "Applying migrations")
    if not dry_run and not backwards:
        _warn_unmigrated(loader)


def _prune(loader, connection, app_label, dry_run: bool) -> None:
    from dorm.migrations import MigrationRecorder

    known = set(loader.disk_migrations)
    for migration in loader.disk_migrations.values():
        known.update(migration.replaces)
    labels = {app_label} if app_label else {a.label for a in loader.apps}
    stale = sorted(k for k in loader.applied if k[0] in labels and k not in known)
    if not stale:
        click.echo("No migrations to prune.")
        return
    recorder = MigrationRecorder(connection)
    for app, name in stale:
        click.echo(f"  {'Would prune' if dry_run else 'Pruning'} {app}.{name}")
        if not dry_run:
            recorder.record_unapplied(app, name)


@click.command("rollback")
@click.argument("app_label")
@click.argument("target", required=False)
@database_option
@click.option("--fake", is_flag=True, help="Remove the records without touching the schema.")
@click.option("--plan", "show_plan", is_flag=True, help="Show what would be done; do nothing.")
@click.option("--dry-run", is_flag=True, help="Print the SQL instead of running it.")
@click.option("-v", "--verbosity", type=click.IntRange(0, 3), default=1, show_default=True)
@settings_option
@handle_errors
def rollback(app_label, target, database, fake, show_plan, dry_run, verbosity):
    """Unapply the latest migration of APP_LABEL (or down to TARGET).

    TARGET is a migration name, its number or 'zero'; migrations of other apps that
    depend on the unapplied ones are unapplied first.
    """
    from dorm.migrations import MigrationExecutor

    load_settings(required=True)
    connection = _connection(database)
    loader = _loader(connection)
    app_label = _resolve_apps(loader, [app_label])[0].label
    loader.check_conflicts()
    executor = MigrationExecutor(connection, loader)
    targets = executor.rollback_targets(app_label, target)
    plan = [p for p in executor.migration_plan(targets) if p[1]] if targets else []
    if show_plan:
        _print_db_plan(plan)
        return
    if not plan:
        click.echo(f"Nothing to rollback for {app_label!r}.")
        return
    _run_plan(executor, plan, fake=fake, fake_initial=False, dry_run=dry_run, verbosity=verbosity,
              action="Unapplying migrations")


@click.command("showmigrations")
@click.argument("app_labels", nargs=-1)
@database_option
@click.option("--plan", "show_plan", is_flag=True, help="All migrations in the order they apply.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@settings_option
@handle_errors
def showmigrations(app_labels, database, show_plan, as_json):
    """List migrations and whether they are applied ([X])."""
    from dorm.migrations import MigrationExecutor

    load_settings(required=True)
    connection = _connection(database)
    loader = _loader(connection)
    apps = _resolve_apps(loader, app_labels) if app_labels else list(loader.apps)
    executor = MigrationExecutor(connection, loader)
    labels = {a.label for a in apps}
    if as_json:
        out = []
        for key in loader.graph.order():
            if key[0] in labels:
                out.append({"app": key[0], "name": key[1], "applied": loader.is_applied(key)})
        click.echo(json.dumps(out, indent=2))
        return
    if show_plan:
        for key in loader.graph.order():
            if key[0] in labels:
                click.echo(f"[{'X' if loader.is_applied(key) else ' '}] {key[0]}.{key[1]}")
        return
    for app in apps:
        for line in executor.show_migrations(app.label):
            click.echo(line)


@click.command("sqlmigrate")
@click.argument("app_label")
@click.argument("migration_name")
@database_option
@click.option("--backwards", is_flag=True, help="SQL to unapply the migration.")
@settings_option
@handle_errors
def sqlmigrate(app_label, migration_name, database, backwards):
    """Print the SQL of one migration (nothing is run)."""
    from dorm.migrations import MigrationExecutor
    from dorm.migrations.exceptions import NodeNotFoundError

    load_settings(required=True)
    connection = _connection(database)
    loader = _loader(None)
    app_label = _resolve_apps(loader, [app_label])[0].label
    try:
        migration = loader.find_migration(app_label, migration_name)
    except NodeNotFoundError as exc:
        raise MigrationCommandError(str(exc)) from None
    state = loader.project_state(nodes=loader.graph.ancestors(migration.key))
    executor = MigrationExecutor(connection, loader)
    click.echo(f"-- {migration} ({'backwards' if backwards else 'forwards'})")
    ops = list(enumerate(migration.operations, 1))
    if backwards:
        for _, op in ops:
            if not op.reversible:
                raise MigrationCommandError(f"{migration}: {op.describe()} is irreversible")
    sql_by_op = executor.collect_sql_by_operation(state, migration, backwards=backwards)
    for op, statements in sql_by_op:
        click.echo(f"-- {type(op).__name__}: {op.describe()}")
        for sql in statements:
            click.echo(sql)
        if not statements:
            click.echo("-- (no SQL)")


@click.command("squashmigrations")
@click.argument("app_label")
@click.argument("start_migration", required=False)
@click.argument("end_migration", required=False)
@click.option("--squashed-name", help="Name part of the squashed migration (default: squashed).")
@click.option("--no-optimize", is_flag=True, help="Keep the operations as they are.")
@click.option("--dry-run", is_flag=True, help="Show the result; write nothing.")
@click.option("--no-input", "--noinput", "no_input", is_flag=True, help="Accepted for compatibility.")
@settings_option
@handle_errors
def squashmigrations(app_label, start_migration, end_migration, squashed_name, no_optimize, dry_run,
                     no_input):
    """Squash a range of migrations into one that replaces them.

    START_MIGRATION..END_MIGRATION is inclusive; with one migration given it is the end
    and the range starts at the app's first migration.
    """
    from dorm.migrations import MigrationWriter
    from dorm.migrations.squasher import check_serializable, squash_migrations

    _check_name(squashed_name)
    load_settings(required=True)
    loader = _loader(None)
    app = _resolve_apps(loader, [app_label])[0]
    if end_migration is None:
        if start_migration is None:
            raise click.UsageError("give the last migration to squash (END_MIGRATION)")
        start_migration, end_migration = None, start_migration
    before = sum(len(loader.graph.nodes[k].operations) for k in loader.graph.app_nodes(app.label))
    squashed = squash_migrations(loader, app.label, start_migration, end_migration, squashed_name,
                                 optimize=not no_optimize)
    check_serializable(squashed, forbidden_modules=(app.migrations_package,))
    writer = MigrationWriter(squashed, app.migrations_dir, forbidden_modules=(app.migrations_package,))
    text = writer.as_string()
    _verify(text, squashed)
    replaced = ", ".join(name for _, name in squashed.replaces)
    original = sum(len(loader.graph.nodes[k].operations) for k in squashed.replaces if k in loader.graph)
    del before
    click.echo(f"Squashing {app.label}: {replaced}")
    click.echo(f"  {original} operation(s) -> {len(squashed.operations)}")
    if dry_run:
        click.echo(text)
        return
    _write_text(writer, text)
    click.echo(f"Created {_relpath(writer.path)} (replaces {len(squashed.replaces)} migrations). "
               "Delete the replaced files once every database has applied it.")


# ---- lint -------------------------------------------------------------------------------------
@click.command("lint")
@click.argument("app_labels", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--rule", "rules", multiple=True, metavar="CODE", help="Only these rules (repeatable).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even with findings.")
@database_option
@settings_option
@handle_errors
def lint(app_labels, fmt, rules, exit_zero, database):
    """Flag risky operations in migrations. Exit 1 on findings.

    Rules: DORM-M001 NOT NULL column added, DORM-M002 column type change, DORM-M003 index
    built without CONCURRENTLY, DORM-M004 RunPython without reverse, DORM-M005 column or
    table dropped, DORM-M006 column or table renamed. '# noqa: DORM-M00X' in a file
    silences a rule for that file.
    """
    from dorm.conf import settings
    from dorm.migrations.lint import RULES
    from dorm.migrations.lint import lint as run_lint

    load_settings(required=True)
    unknown = [r for r in rules if r.upper() not in RULES]
    if unknown:
        raise click.BadParameter(f"unknown rule(s) {', '.join(unknown)}; rules: {', '.join(RULES)}",
                                 param_hint="--rule")
    connection = None
    if database in settings.DATABASES:
        connection = _connection(database)
    loader = _loader(None)
    apps = _resolve_apps(loader, app_labels) if app_labels else None
    result = run_lint(loader, [a.label for a in apps] if apps else None, connection,
                      [r.upper() for r in rules] or None)
    if fmt == "json":
        click.echo(result.as_json())
    else:
        for finding in result.findings:
            click.echo(str(finding))
        click.echo(f"{len(result.findings)} finding(s)." if result.findings else "No findings.")
    if result.findings and not exit_zero:
        sys.exit(1)


lint_migrations = click.Command("lint-migrations", params=lint.params, callback=lint.callback,
                                help="Same as 'dorm lint' (the djanorm name).\n\n" + (lint.help or ""),
                                short_help="Same as 'dorm lint'.")

COMMANDS = (makemigrations, migrate, rollback, showmigrations, sqlmigrate, squashmigrations, lint,
            lint_migrations)
