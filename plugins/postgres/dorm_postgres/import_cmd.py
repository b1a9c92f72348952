"""``dorm import FILE TARGET``: load a CSV or JSON Lines file with ``COPY``.

TARGET is a model (``app_label.Model`` or ``Model``, from ``INSTALLED_APPS``) or, when
no model has that name, a table of the database. CSV files need a header row naming
fields (attname, name or column); JSON Lines files hold one object per line. Values of
a model go through its fields (a CSV ``""`` is NULL for a nullable non-text field); a
bare table gets the values as they are.
"""
from __future__ import annotations

import csv
import importlib
import json
import sys
import time

import click
from dorm.cli import load_settings, settings_option


class ImportFailed(click.ClickException):
    exit_code = 1


def _load_app_models() -> None:
    from dorm.conf import settings

    for app in settings.INSTALLED_APPS if settings.configured else []:
        try:
            importlib.import_module(f"{app}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.models":
                raise


def _resolve_target(target, alias):
    """``(model, None)`` or ``(None, table)``."""
    from dorm.db import connections
    from dorm.models.options import registry

    _load_app_models()
    try:
        return registry.get_model(target), None
    except LookupError as exc:
        reason = str(exc)
    backend = connections[alias]
    if "." not in target and backend.table_exists(target):
        return None, target
    raise ImportFailed(f"{reason}, and database alias {alias!r} has no table {target!r}")


def _format_of(path, fmt):
    if fmt:
        return fmt
    low = path.lower()
    if low.endswith((".jsonl", ".ndjson", ".jsonl.txt")):
        return "jsonl"
    if low.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    raise click.UsageError(f"cannot tell the format of {path!r} from its name: pass --format")


def _count_records(path, fmt) -> int:
    with open(path, "rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return max(lines - 1, 0) if fmt == "csv" else lines


def _csv_rows(fh, delimiter, header_cb):
    reader = csv.reader(fh, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFailed("the CSV file is empty (a header row is needed)") from None
    header = [h.strip() for h in header]
    if not all(header):
        raise ImportFailed(f"the CSV header has an empty column name: {header!r}")
    header_cb(header)
    width = len(header)
    for number, row in enumerate(reader, start=1):
        if not row:
            continue
        if len(row) != width:
            raise ImportFailed(f"CSV record {number} (line {reader.line_num}) has {len(row)} "
                               f"values, the header has {width}")
        yield row


def _jsonl_rows(fh):
    for line_no, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFailed(f"line {line_no}: invalid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ImportFailed(f"line {line_no}: expected a JSON object, got "
                               f"{type(obj).__name__}")
        yield obj


def _csv_converter(fields):
    """Turn CSV strings into what the fields expect (JSON parsed, '' → NULL where the
    field takes NULL and is not text)."""
    from dorm.fields import JSONField

    plan = []
    for f in fields:
        text = f.empty_strings_allowed and not isinstance(f, JSONField)
        plan.append((f, text, isinstance(f, JSONField)))

    def convert(row):
        out = []
        for (f, text, is_json), v in zip(plan, row):
            if v == "" and (f.null or not text):
                out.append(f.get_default() if not f.null and f.has_default() else None)
            elif is_json:
                out.append(json.loads(v))
            else:
                out.append(v)
        return out

    return convert


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.argument("target")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None,
              help="File format (default: from the extension: .csv/.tsv, .jsonl/.ndjson).")
@click.option("--batch-size", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Rows per transaction (a failing row rolls back only its batch).")
@click.option("--database", "--alias", "database", default="default", show_default=True,
              metavar="ALIAS", help="DATABASES alias to load into.")
@click.option("--delimiter", default=",", show_default=True, help="CSV field delimiter.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@settings_option
def import_command(path, target, fmt, batch_size, database, delimiter, progress):
    """Load a CSV or JSON Lines file into a model's table (or a table) with COPY."""
    from dorm.conf import settings
    from dorm.exceptions import DatabaseError, ImproperlyConfigured

    from . import copy as bulk

    load_settings(required=True)
    if database not in settings.DATABASES:
        raise click.UsageError(f"unknown database alias {database!r}; configured aliases: "
                               f"{', '.join(sorted(settings.DATABASES)) or 'none'}")
    if len(delimiter) != 1:
        raise click.UsageError("--delimiter must be one character")
    fmt = _format_of(path, fmt)
    model, table = _resolve_target(target, database)
    label = model._meta.label if model is not None else table
    show = sys.stderr.isatty() if progress is None else progress
    total = _count_records(path, fmt) if show else None
    t0 = time.perf_counter()
    state = {"done": 0}
    bar = click.progressbar(length=total or 0, label=f"importing into {label}",
                            file=sys.stderr, show_pos=True) if show else None

    def on_progress(rows):
        if bar is not None:
            bar.update(rows - state["done"])
        state["done"] = rows

    columns_box = {}

    def header_cb(header):
        columns_box["columns"] = header

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            if fmt == "csv":
                rows = _csv_rows(fh, delimiter, header_cb)
                first = next(rows, None)
                if first is None:
                    count = 0
                else:
                    columns = columns_box["columns"]

                    def chain(first=first, rows=rows):
                        yield first
                        yield from rows

                    if model is not None:
                        fields = bulk._fields_for(model, columns)
                        convert = _csv_converter(fields)
                        data = (convert(r) for r in chain())
                        count = bulk.bulk_copy_from(model, data, columns=columns,
                                                    using=database, batch_size=batch_size,
                                                    on_progress=on_progress)
                    else:
                        data = ([None if v == "" else v for v in r] for r in chain())
                        count = bulk.copy_rows(table, columns, data, using=database,
                                               batch_size=batch_size, on_progress=on_progress)
            else:
                rows = _jsonl_rows(fh)
                if model is not None:
                    count = bulk.bulk_copy_from(model, rows, using=database,
                                                batch_size=batch_size, on_progress=on_progress)
                else:
                    first = next(rows, None)
                    if first is None:
                        count = 0
                    else:
                        columns = list(first)

                        def chain(first=first, rows=rows):
                            yield first
                            yield from rows

                        data = ({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                                 for k, v in r.items()} for r in chain())
                        count = bulk.copy_rows(table, columns, data, using=database,
                                               batch_size=batch_size, on_progress=on_progress)
    except (ValueError, TypeError, DatabaseError, NotImplementedError) as exc:
        if bar is not None:
            bar.render_finish()
        done = getattr(exc, "rows_committed", state["done"])
        raise ImportFailed(f"{exc}\n{done} row(s) were imported before the error "
                           f"(committed batches of {batch_size}); nothing of the failing "
                           "batch was written") from exc
    except ImproperlyConfigured:
        raise
    if bar is not None:
        bar.render_finish()
    elapsed = time.perf_counter() - t0
    rate = count / elapsed if elapsed > 0 else 0.0
    click.echo(f"imported {count} row(s) into {label} in {elapsed:.2f} s ({rate:,.0f} rows/s)")
