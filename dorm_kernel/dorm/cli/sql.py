"""``dorm sql NAME... | --all``: the CREATE TABLE DDL of models (nothing runs).

The statements come from the backend's schema editor in collect mode (as
``sqlmigrate`` gets them), so they are exactly what ``create_model`` would run on the
``--database`` backend: the table, its indexes and constraints, the tables of automatic
many-to-many fields, and foreign keys added after all tables where the backend cannot
reference a later table inline. Exit 1 for an unknown model (the message lists them).
"""
from __future__ import annotations

import click

from . import load_settings, settings_option
from ._common import app_models, connection_for, database_option, handle_errors, resolve_models


def create_table_sql(connection, models) -> list[tuple[str, list[str]]]:
    """``[(header, statements)]``: one entry per model (``-- app.Model``), then the
    statements the schema editor defers to the end of the block, if any."""
    from dorm.migrations.executor import CapturingConnection

    sink: list[str] = []
    out: list[tuple[str, list[str]]] = []
    editor = connection.schema_editor(atomic=False, collect_sql=True)
    editor.connection = CapturingConnection(connection, sink)
    editor.collected_sql = sink
    with editor:
        for model in models:
            start = len(sink)
            editor.create_model(model)
            out.append((f"-- {model._meta.label}", sink[start:]))
        mark = len(sink)
    if len(sink) > mark:
        out.append(("-- constraints added after the tables", sink[mark:]))
    return out


@click.command("sql")
@click.argument("names", nargs=-1)
@click.option("--all", "all_models", is_flag=True, help="Every model of the installed apps.")
@database_option
@settings_option
@handle_errors
def sql(names, all_models, database):
    """Print the CREATE TABLE statements of models (NAME: Model, app.Model or an app).

    The SQL is that of the --database backend; nothing runs. Exit 1 for an unknown
    model.
    """
    load_settings(required=True)
    if not names and not all_models:
        raise click.UsageError("name at least one model (Model or app.Model), or pass --all")
    if names and all_models:
        raise click.UsageError("give model names or --all, not both")
    connection = connection_for(database)
    models = app_models(alias=database) if all_models else resolve_models(names)
    for model in models:
        if not model._meta.managed:
            click.echo(f"-- {model._meta.label}: Meta.managed is False, dorm creates no table for it")
    models = [m for m in models if m._meta.managed]
    if not models:
        click.echo("-- no models")
        return
    for header, statements in create_table_sql(connection, models):
        click.echo(header)
        for statement in statements:
            click.echo(statement)


COMMAND = sql
