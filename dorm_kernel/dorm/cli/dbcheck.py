"""``dorm dbcheck [APP...]``: do the live tables have the models' columns?

The column-level part of ``dorm diff`` (``dorm.migrations.drift.schema_drift``, the
same introspection and comparison): missing tables, missing and extra columns, column
types, NULL and database defaults, for the models of the apps given (default: every
installed app) that the routers place on ``--database``. Constraints, indexes and
tables without a model are ``dorm diff``'s business. Exit 1 on drift.
"""
from __future__ import annotations

import json
import sys

import click

from . import load_settings, settings_option
from ._common import (app_models, connection_for, database_option, handle_errors, installed_labels,
                      resolve_app_labels)

#: the ``Finding.kind`` values about tables and columns
COLUMN_KINDS = ("missing_table", "missing_column", "extra_column", "type_mismatch",
                "null_mismatch", "default_mismatch")


def column_drift(connection, app_labels=None) -> list:
    """``schema_drift`` findings of kinds ``COLUMN_KINDS`` for the models of
    ``app_labels`` (default: all installed apps) routed to ``connection.alias``."""
    from dorm.migrations.drift import schema_drift

    labels = set(app_labels or installed_labels())
    models = [m for m in app_models(alias=connection.alias, include_auto_created=True)
              if m._meta.app_label in labels]
    return [f for f in schema_drift(connection, models=models) if f.kind in COLUMN_KINDS]


@click.command("dbcheck")
@click.argument("app_labels", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@database_option
@settings_option
@handle_errors
def dbcheck(app_labels, as_json, database):
    """Compare the models' columns with the live tables. Exit 1 on drift.

    APP_LABELS: app labels or dotted packages (default: every installed app).
    """
    load_settings(required=True)
    connection = connection_for(database)
    labels = resolve_app_labels(app_labels) if app_labels else None
    findings = column_drift(connection, labels)
    if as_json:
        click.echo(json.dumps({"alias": database, "drift": bool(findings),
                               "findings": [f.as_dict() for f in findings]}, indent=2))
    elif findings:
        click.echo(f"Column drift against alias {database!r}: {len(findings)} finding(s)")
        for finding in findings:
            click.echo(f"  {finding}")
    else:
        click.echo(f"OK - the tables on alias {database!r} have the models' columns.")
    if findings:
        sys.exit(1)


COMMAND = dbcheck
