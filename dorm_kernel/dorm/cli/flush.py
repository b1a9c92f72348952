"""``dorm flush``: delete every row of the installed apps' tables.

Contract:

* Tables: those of the managed models of ``INSTALLED_APPS`` routed to ``--database``
  (their automatic many-to-many tables included) that exist; ``dorm_migrations`` and
  tables of other apps are kept. A table outside that set with a foreign key into it
  stops the command before anything is deleted (exit 1, naming it).
* One transaction. ``features.supports_truncate_cascade``: one ``TRUNCATE TABLE ...
  CASCADE`` statement; otherwise ``DELETE FROM`` each table, referencing tables first
  (foreign key checks deferred to COMMIT where the backend can).
* Auto-increment sequences restart (``ops.sequence_reset_sql``; where the backend has
  one) unless ``--no-reset-sequences``.
* Asks for confirmation unless ``--noinput``; progress per table on stderr.
"""
from __future__ import annotations

import click

from . import load_settings, settings_option
from ._common import (CommandError, app_models, connection_for, database_option, handle_errors,
                      reset_sequences)
from ._progress import Progress


def flush_models(connection) -> list:
    """Models whose tables ``flush`` empties, referencing models last (table order
    for DELETE is the reverse)."""
    existing = set(connection.introspection.table_names())
    return [m for m in app_models(alias=connection.alias, include_auto_created=True)
            if m._meta.db_table in existing]


def outside_references(connection, tables) -> dict[str, list[str]]:
    """``{table outside the set: [tables of the set it references]}``."""
    intro = connection.introspection
    out: dict[str, list[str]] = {}
    for table in tables:
        for other in intro.get_referencing_tables(table):
            if other not in tables:
                out.setdefault(other, []).append(table)
    return out


def flush_database(connection, models, *, reset: bool = True, verbosity: int = 1) -> None:
    """Empty the tables of ``models`` in one transaction (see the module docstring)."""
    from dorm import transaction

    q = connection.ops.quote_name
    tables = [m._meta.db_table for m in models]
    features = connection.features
    with transaction.atomic(using=connection.alias):
        if getattr(features, "supports_truncate_cascade", False):
            progress = Progress("flush", len(tables), verbosity=verbosity, unit="tables")
            connection.execute_write(f"TRUNCATE TABLE {', '.join(q(t) for t in tables)} CASCADE")
            progress.update(len(tables))
        else:
            if getattr(features, "supports_foreign_keys", True) and \
                    getattr(features, "can_defer_constraint_checks", False):
                connection.execute_write(connection.ops.defer_constraint_checks_sql())
            progress = Progress("flush", len(tables), verbosity=verbosity, unit="tables")
            for table in reversed(tables):
                connection.execute_write(f"DELETE FROM {q(table)}")
                progress.update(1)
        if reset:
            reset_sequences(connection, models)
    progress.done()


@click.command("flush")
@click.option("--noinput", "--no-input", "no_input", is_flag=True, help="Do not ask for confirmation.")
@click.option("--reset-sequences/--no-reset-sequences", "reset", default=True, show_default=True,
              help="Restart auto-increment keys at 1 where the backend can.")
@click.option("-v", "--verbosity", type=click.IntRange(0, 3), default=1, show_default=True)
@database_option
@settings_option
@handle_errors
def flush(no_input, reset, verbosity, database):
    """Delete all rows of the installed apps' tables (the tables stay).

    dorm_migrations is kept. Asks first unless --noinput.
    """
    load_settings(required=True)
    connection = connection_for(database)
    models = flush_models(connection)
    if not models:
        click.echo(f"No tables to flush on alias {database!r}.")
        return
    tables = [m._meta.db_table for m in models]
    outside = outside_references(connection, set(tables))
    if outside:
        detail = "; ".join(f"{t} -> {', '.join(sorted(set(refs)))}" for t, refs in sorted(outside.items()))
        raise CommandError(f"tables outside the installed apps reference tables to flush ({detail}); "
                           "add their app to INSTALLED_APPS or empty them first")
    if not no_input:
        settings_dict = connection.settings_dict
        name = settings_dict.get("NAME")
        click.confirm(f"Delete every row of {len(tables)} table(s) on alias {database!r} "
                      f"({connection.display_name} {name})? This cannot be undone.", abort=True)
    flush_database(connection, models, reset=reset, verbosity=verbosity)
    click.echo(f"Flushed {len(tables)} table(s) on alias {database!r}.")


COMMAND = flush
