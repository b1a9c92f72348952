"""``dorm loaddata FIXTURE...``: load fixtures written by ``dorm dumpdata``.

Contract:

* Each file (``.json`` list or ``.jsonl``) loads in one transaction on ``--database``:
  all of it or, on any error, none of it. Files load in the order given; an error stops
  the command (exit 1) and files loaded before it stay loaded (the message says so).
* The error names the file, the object (``objects[3]`` or ``line 4``), the model and
  the field: bad JSON, unknown model or field, a value that does not convert, a NULL
  in a NOT NULL field, a string over ``max_length``, a reference to an object neither in
  the file nor in the database, or a row the database refuses (found by re-running the
  file one row per statement, then rolled back).
* Forward references inside a file are fine (see ``dorm.cli._loading``); objects whose
  key exists are updated; many-to-many fields are restored after all rows.
* Objects are held in memory one file at a time; progress on stderr (``-v 0``: none).
"""
from __future__ import annotations

from pathlib import Path

import click

from . import load_settings, settings_option
from ._common import (CommandError, app_models, auto_m2m_fields, connection_for, database_option,
                      handle_errors)
from ._fixtures import FixtureError, ModelIndex, decode_object, read_fixture
from ._loading import load_rows
from ._progress import Progress


def read_rows(path: Path, connection, models: ModelIndex) -> list:
    """Every object of the file, decoded and checked (``FixtureError`` otherwise)."""
    return [decode_object(obj, where, models, connection, auto_m2m_fields)
            for where, obj in read_fixture(path)]


def load_file(path: Path, connection, models: ModelIndex, *, batch_size: int = 500,
              verbosity: int = 1) -> int:
    """Load one fixture file in one transaction; returns the number of objects.

    ``FixtureError`` (nothing of the file written) names the object at fault.
    """
    from dorm import transaction
    from dorm.exceptions import DatabaseError

    rows = read_rows(path, connection, models)
    progress = Progress(f"loaddata {path.name}", len(rows), verbosity=verbosity, unit="objects")
    try:
        with transaction.atomic(using=connection.alias):
            count = load_rows(connection, rows, batch_size, progress)
    except DatabaseError as exc:  # a batch the database refused: find the row
        if batch_size > 1:
            _pinpoint(path, connection, models, exc)
        raise FixtureError(f"{path}: the database refused the data: {type(exc).__name__}: {exc}") from exc
    progress.done()
    return count


class _Rollback(Exception):
    pass


def _pinpoint(path: Path, connection, models: ModelIndex, original: Exception) -> None:
    """Re-run the file one row per statement inside a transaction that is always rolled
    back, to raise a ``FixtureError`` naming the object the database refuses."""
    from dorm import transaction

    rows = read_rows(path, connection, models)
    try:
        with transaction.atomic(using=connection.alias):
            load_rows(connection, rows, batch_size=1)
            raise _Rollback
    except _Rollback:
        pass
    except FixtureError as exc:
        raise FixtureError(str(exc)) from original


@click.command("loaddata")
@click.argument("fixtures", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--batch-size", type=click.IntRange(1, None), default=500, show_default=True,
              help="Rows per executemany batch.")
@click.option("-v", "--verbosity", type=click.IntRange(0, 3), default=1, show_default=True,
              help="0: no progress on stderr.")
@database_option
@settings_option
@handle_errors
def loaddata(fixtures, batch_size, verbosity, database):
    """Load fixture files (.json or .jsonl), each in one transaction.

    Objects whose primary key exists are updated, the others inserted; references may
    point forwards within a file. Exit 1 on any error (the file is not loaded).
    """
    load_settings(required=True)
    connection = connection_for(database)
    models = ModelIndex(app_models(managed_only=False, include_auto_created=True))
    total, done = 0, []
    for path in fixtures:
        try:
            count = load_file(path, connection, models, batch_size=batch_size, verbosity=verbosity)
        except FixtureError as exc:
            loaded = (f"; already loaded: {', '.join(str(p) for p in done)}" if done else "")
            raise CommandError(f"{exc} (nothing from {path} was loaded{loaded})") from exc
        total += count
        done.append(path)
    click.echo(f"Installed {total} object(s) from {len(done)} fixture(s)")


COMMAND = loaddata
