"""``dorm migrate --run-syncdb``: tables for the apps that have no migrations.

``unmigrated_models(connection, loader)`` lists the managed models (routed to the
alias) of installed apps without any migration file whose table does not exist yet,
referenced models first; ``sync_apps`` creates them in one schema-editor block (one
transaction where DDL is transactional), or only prints the SQL with ``dry_run``.
Apps with migrations are never touched here.
"""
from __future__ import annotations

import click

from ._common import app_models


def unmigrated_models(connection, loader, app_label: str | None = None) -> list:
    labels = {a.label for a in loader.apps if not loader.graph.app_nodes(a.label)}
    if app_label is not None:
        labels &= {app_label}
    existing = set(connection.introspection.table_names())
    return [m for m in app_models(alias=connection.alias)
            if m._meta.app_label in labels and m._meta.db_table not in existing]


def sync_apps(connection, loader, app_label=None, *, dry_run=False, show_plan=False,
              verbosity: int = 1) -> int:
    """Create the missing tables of apps without migrations; returns how many models."""
    models = unmigrated_models(connection, loader, app_label)
    if not models:
        if verbosity >= 1 and (show_plan or not dry_run):
            click.echo("Synchronizing apps without migrations: nothing to create.")
        return 0
    if show_plan:
        click.echo("Synchronize apps without migrations:")
        for model in models:
            click.echo(f"    Create table {model._meta.db_table} ({model._meta.label})")
        return len(models)
    if dry_run:
        from .sql import create_table_sql

        click.echo("--- SQL that would run to synchronize apps without migrations ---")
        for header, statements in create_table_sql(connection, models):
            click.echo(header)
            for statement in statements:
                click.echo(statement)
        return len(models)
    if verbosity >= 1:
        apps = sorted({m._meta.app_label for m in models})
        click.echo(f"Synchronizing apps without migrations: {', '.join(apps)}")
    with connection.schema_editor() as editor:
        for model in models:
            if verbosity >= 1:
                click.echo(f"  Creating table {model._meta.db_table}")
            editor.create_model(model)
    return len(models)
