"""Schema commands: ``diff`` (drift between the live database and the models),
``inspectdb`` (models from existing tables) and ``export-json-schema``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import load_settings, settings_option
from .migrate_commands import (_connection, all_databases_option, database_option, handle_errors,
                               migration_aliases)


@click.command("diff")
@all_databases_option
@click.option("--apps", "app_prefixes", multiple=True, metavar="PREFIX",
              help="Only models whose app label or module starts with PREFIX (repeatable).")
@click.option("--ignore-table", "ignore_tables", multiple=True, metavar="PATTERN",
              help="Live tables to ignore (glob, repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@settings_option
@handle_errors
def diff(database, app_prefixes, ignore_tables, as_json):
    """Compare the live database schema with the models. Exit 1 on drift.

    Checks tables, columns, types, NULL, database defaults, unique constraints, indexes
    and foreign keys through the backend's introspection (for CI).
    """
    from dorm.migrations.drift import schema_drift

    load_settings(required=True)
    aliases = migration_aliases(database)
    reports, drift = [], False
    for alias in aliases:
        findings = schema_drift(_connection(alias), app_prefixes=list(app_prefixes) or None,
                                ignore_tables=tuple(ignore_tables))
        drift = drift or bool(findings)
        reports.append({"alias": alias, "drift": bool(findings),
                        "findings": [f.as_dict() for f in findings]})
        if as_json:
            continue
        print_drift(alias, findings)
    if as_json:
        # one alias: the object itself (stable for tools); several: a list of them
        click.echo(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
    if drift:
        sys.exit(1)


def print_drift(alias: str, findings) -> None:
    """The human ``dorm diff`` report for one alias."""
    if not findings:
        click.echo(f"OK - no drift detected against alias {alias!r}.")
        return
    click.echo(f"Drift detected against alias {alias!r}: {len(findings)} finding(s)")
    for finding in findings:
        click.echo(f"  {finding}")


@click.command("inspectdb")
@click.argument("tables", nargs=-1)
@database_option
@settings_option
@handle_errors
def inspectdb(tables, database):
    """Print model classes for the tables of the database (all, or TABLES)."""
    from dorm.migrations.inspectdb import inspect_tables

    load_settings(required=True)
    connection = _connection(database)
    try:
        click.echo(inspect_tables(connection, list(tables) or None), nl=False)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from None


@click.command("export-json-schema")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write one <Model>.json per model into this directory (default: stdout).")
@click.option("--apps", "app_prefixes", multiple=True, metavar="PREFIX",
              help="Only models whose app label or module starts with PREFIX (repeatable).")
@click.option("--include-relations", is_flag=True,
              help="Describe relations (x-related-model) and many-to-many fields.")
@database_option
@settings_option
@handle_errors
def export_json_schema(out_dir, app_prefixes, include_relations, database):
    """Export a JSON Schema (draft 2020-12) for each model."""
    from dorm.migrations.drift import drift_models
    from dorm.migrations.jsonschema import export_schemas

    load_settings(required=True)
    models = [m for m in drift_models(list(app_prefixes) or None)
              if not getattr(m._meta, "auto_created", False)]
    schemas = export_schemas(models, include_relations=include_relations)
    if out_dir is None:
        click.echo(json.dumps(schemas, indent=2))
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [label.rpartition(".")[2] for label in schemas]
    for label, schema in schemas.items():
        short = label.rpartition(".")[2]
        filename = f"{short}.json" if names.count(short) == 1 else f"{label}.json"
        path = out_dir / filename
        path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote {path}")


COMMANDS = (diff, inspectdb, export_json_schema)
