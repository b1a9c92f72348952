"""``dorm runscript PATH [ARGS...]``: run a Python file with the project's settings.

Contract: settings are loaded (``--settings`` or discovery, models imported) before the
file runs as ``__main__`` (``runpy.run_path``) with ``sys.argv = [PATH, *ARGS]`` and the
file's directory first on ``sys.path``, as ``python PATH ARGS`` would; both are restored
afterwards. Options after PATH belong to the script (``dorm runscript s.py --dry``).
``--database ALIAS`` makes ``DATABASES[ALIAS]`` the ``default`` alias for the run.
A missing file exits 1; the script's own ``sys.exit(n)`` exits ``n``; an exception in
the script shows its traceback and exits 1.
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import click

from . import load_settings, settings_option
from ._common import CommandError, use_as_default


@click.command("runscript", context_settings={"ignore_unknown_options": True,
                                              "allow_interspersed_args": False})
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--database", "--alias", "database", default=None, metavar="ALIAS",
              help="Run with DATABASES[ALIAS] as the 'default' database.")
@settings_option
def runscript(path: Path, args, database):
    """Run the Python file PATH with settings loaded; ARGS become sys.argv[1:].

    Options of dorm go before PATH; everything after PATH is the script's.
    """
    if not path.is_file():
        raise CommandError(f"no script {str(path)!r} (from {Path.cwd()})")
    load_settings(required=True)
    use_as_default(database)
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [str(path), *args]
    sys.path.insert(0, str(path.resolve().parent))
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path


COMMAND = runscript
