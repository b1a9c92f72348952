"""``dorm reset``: unapply every migration, then apply them all again (a clean schema
for development; the data is lost).

Contract:

* Refuses (exit 2, saying why) a database that does not look like a development one
  unless ``--force``: a ``HOST`` that is not this machine (``localhost``, ``127.x``,
  ``::1`` or a Unix socket directory), or a ``NAME``/``HOST`` that says production
  (``prod``, ``production``, ``live``).
* Asks for confirmation unless ``--noinput``.
* Runs the executor backwards to zero for every installed app, then forwards to every
  leaf; each migration in its own transaction as ``migrate`` does (an irreversible
  operation stops it before anything is unapplied: exit 1). Tables of apps without
  migrations are left alone.
"""
from __future__ import annotations

import ipaddress
import re

import click

from . import load_settings, settings_option
from ._common import connection_for, database_option, handle_errors

_PRODUCTION = re.compile(r"(?:^|[^a-z])(prod|production|live)(?:[^a-z]|$)", re.IGNORECASE)


class Refused(click.ClickException):
    """Exit status 2: the database does not look like a development database."""

    exit_code = 2


def is_local_host(host: str) -> bool:
    """Empty (embedded or default socket), a Unix socket directory, ``localhost`` or a
    loopback address."""
    host = (host or "").strip()
    if not host or host.startswith("/") or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def production_signs(settings_dict: dict) -> list[str]:
    """Why a ``DATABASES`` entry does not look like a development database ([] if it does)."""
    reasons = []
    host = str(settings_dict.get("HOST") or "")
    if not is_local_host(host):
        reasons.append(f"HOST {host!r} is not a local host")
    for key in ("NAME", "HOST"):
        value = str(settings_dict.get(key) or "")
        if _PRODUCTION.search(value):
            reasons.append(f"{key} {value!r} looks like a production database")
    return reasons


@click.command("reset")
@click.option("--force", is_flag=True,
              help="Also reset a database that does not look like a development one.")
@click.option("--noinput", "--no-input", "no_input", is_flag=True, help="Do not ask for confirmation.")
@click.option("-v", "--verbosity", type=click.IntRange(0, 3), default=1, show_default=True)
@database_option
@settings_option
@handle_errors
def reset(force, no_input, verbosity, database):
    """Unapply all migrations, then apply them again (all data in them is lost).

    Refuses a non-local or production-looking database unless --force.
    """
    from dorm.migrations import MigrationExecutor
    from dorm.migrations.exceptions import IrreversibleError

    from .migrate_commands import _loader, _run_plan

    load_settings(required=True)
    connection = connection_for(database)
    reasons = production_signs(connection.settings_dict)
    if reasons and not force:
        raise Refused(f"refusing to reset alias {database!r}: {'; '.join(reasons)}. Pass --force "
                      "if it really is a development database.")
    if not no_input:
        click.confirm(f"Unapply and re-apply every migration on alias {database!r} "
                      f"({connection.display_name} {connection.settings_dict.get('NAME')})? "
                      "All data in those tables is lost.", abort=True)
    loader = _loader(connection)
    loader.check_conflicts()
    executor = MigrationExecutor(connection, loader)
    plan = executor.migration_plan([(app.label, None) for app in loader.apps])
    for migration, _ in plan:
        for op in migration.operations:
            if not op.reversible:
                raise IrreversibleError(f"cannot reset: {migration} has an irreversible operation "
                                        f"({op.describe()}); nothing was unapplied")
    if plan:
        _run_plan(executor, plan, fake=False, fake_initial=False, dry_run=False,
                  verbosity=verbosity, action="Unapplying migrations")
    loader = _loader(connection)
    executor = MigrationExecutor(connection, loader)
    plan = executor.migration_plan(executor.targets_for())
    if plan:
        _run_plan(executor, plan, fake=False, fake_initial=False, dry_run=False,
                  verbosity=verbosity, action="Applying migrations")
    click.echo(f"Reset alias {database!r}: {len(plan)} migration(s) applied.")


COMMAND = reset
