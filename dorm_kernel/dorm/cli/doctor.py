"""``dorm doctor``: a production audit of the settings and databases.

Contract: exit 2 when the settings cannot be loaded (missing module, empty
``DATABASES``, an invalid ``DATABASES`` entry); otherwise every check runs and each
finding is one line ``[CODE] where: message``; exit 1 if there is any, 0 if none.
The checks are cheap (catalogue reads, no table scans) and ask backend features,
never vendor names:

* ``D001`` ``DEBUG`` is on; ``D002`` retries disabled (``RETRY_ATTEMPTS = 0``);
  ``D003`` no slow-query log (``SLOW_QUERY_MS = None``); ``D004``
  ``CACHE_INSECURE_PICKLE`` on;
* per alias: ``D010`` cannot connect; ``D011`` pool too small (``MAX_POOL_SIZE`` < 2)
  or ``POOL_TIMEOUT`` over a minute, for pooling backends
  (``features.has_connection_pool``); ``D012`` a remote ``HOST`` without required
  transport encryption (``features.tls_option``, e.g. libpq ``sslmode``); ``D013`` a
  foreign key column without an index whose first column it is (the live table, or the
  model where the table does not exist); ``D014`` migrations not applied;
* ``D015`` models changed without a migration (apps that have migrations; apps without
  any are created by ``migrate --run-syncdb``).
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass

import click

from . import ConfigError, load_settings, settings_option
from .reset import is_local_host


@dataclass
class Finding:
    code: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.code}] {self.where}: {self.message}"


def settings_checks(settings) -> list[Finding]:
    out = []
    if getattr(settings, "DEBUG", False):
        out.append(Finding("D001", "settings", "DEBUG is True; turn it off in production"))
    if int(getattr(settings, "RETRY_ATTEMPTS", 3) or 0) <= 0:
        out.append(Finding("D002", "settings", "RETRY_ATTEMPTS is 0: reads that hit a dropped "
                           "connection or a failover are not retried"))
    if getattr(settings, "SLOW_QUERY_MS", None) is None:
        out.append(Finding("D003", "settings", "SLOW_QUERY_MS is None: slow queries are not logged"))
    if getattr(settings, "CACHE_INSECURE_PICKLE", False):
        out.append(Finding("D004", "settings", "CACHE_INSECURE_PICKLE is True: a writable cache "
                           "can run code in this process"))
    return out


def connection_checks(connection) -> list[Finding]:
    alias = connection.alias
    out = []
    settings_dict, features = connection.settings_dict, connection.features
    if getattr(features, "has_connection_pool", False):
        size = settings_dict.get("MAX_POOL_SIZE")
        if isinstance(size, int) and size < 2:
            out.append(Finding("D011", alias, f"MAX_POOL_SIZE is {size}: concurrent requests wait "
                               "for one connection"))
        timeout = settings_dict.get("POOL_TIMEOUT")
        if isinstance(timeout, (int, float)) and timeout > 60:
            out.append(Finding("D011", alias, f"POOL_TIMEOUT is {timeout}s: requests hang that long "
                               "when the pool is exhausted"))
    tls = getattr(features, "tls_option", None)
    host = str(settings_dict.get("HOST") or "")
    if tls and not is_local_host(host):
        key, required = tls
        value = (settings_dict.get("OPTIONS") or {}).get(key)
        if value not in required:
            out.append(Finding("D012", alias, f"HOST {host!r} is remote but OPTIONS[{key!r}] is "
                               f"{value!r}; use one of {', '.join(required)}"))
    try:
        connection.execute(connection.ops.health_check_sql())
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        return [*out, Finding("D010", alias, f"cannot connect: {type(exc).__name__}: {exc}")]
    out.extend(fk_index_checks(connection))
    out.extend(migration_checks(connection))
    return out


def _indexed_first_columns(connection, table: str) -> set[str] | None:
    try:
        constraints = connection.introspection.get_constraints(table)
    except NotImplementedError:
        return None
    return {c["columns"][0] for c in constraints.values()
            if c["columns"] and (c["index"] or c["unique"] or c["primary_key"])}


def _declared_first_columns(model) -> set[str]:
    opts = model._meta
    columns = {f.column for f in opts.local_fields
               if f.primary_key or getattr(f, "unique", False) or getattr(f, "db_index", False)}

    def column(name):
        try:
            return opts.get_field(name).column
        except Exception:  # noqa: BLE001 - an expression index
            return None

    for names in opts.unique_together:
        columns.add(column(names[0]))
    for item in [*opts.indexes, *opts.constraints]:
        names = [n.lstrip("-") for n in (getattr(item, "fields", None) or ())]
        if names:
            columns.add(column(names[0]))
    return columns


def fk_index_checks(connection) -> list[Finding]:
    """Foreign key columns with no index starting with them (deletes on the target
    table and joins scan the referencing table)."""
    from ._common import app_models

    out = []
    existing = set(connection.introspection.table_names())
    for model in app_models(alias=connection.alias, include_auto_created=True):
        fks = [f for f in model._meta.local_fields
               if getattr(f, "remote_field", None) is not None and f.column]
        if not fks:
            continue
        table = model._meta.db_table
        indexed = _indexed_first_columns(connection, table) if table in existing else None
        if indexed is None:
            indexed = _declared_first_columns(model)
        for f in fks:
            if f.column not in indexed:
                out.append(Finding("D013", connection.alias, f"foreign key {table}.{f.column} "
                                   f"({model._meta.label}.{f.name}) has no index"))
    return out


def migration_checks(connection) -> list[Finding]:
    from dorm.migrations.loader import MigrationLoader

    try:
        loader = MigrationLoader(connection)
    except Exception as exc:  # noqa: BLE001 - a broken migration file is a finding
        return [Finding("D014", connection.alias, f"migrations cannot be loaded: {exc}")]
    pending = [k for k in loader.graph.order() if not loader.is_applied(k)]
    if not pending:
        return []
    shown = ", ".join(f"{a}.{n}" for a, n in pending[:5]) + (" ..." if len(pending) > 5 else "")
    return [Finding("D014", connection.alias, f"{len(pending)} migration(s) not applied: {shown}")]


def model_change_checks() -> list[Finding]:
    from dorm.migrations import MigrationAutodetector, MigrationLoader, ProjectState

    try:
        loader = MigrationLoader(None)
        labels = [a.label for a in loader.apps if loader.graph.app_nodes(a.label)]
        if not labels:
            return []
        detector = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(
            app_labels=[a.label for a in loader.apps]))
        changes = detector.changes(app_labels=labels)
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        return [Finding("D015", "models", f"cannot compare models with migrations: {exc}")]
    return [Finding("D015", "models", f"app {app!r} has model changes without a migration "
                    "(run 'dorm makemigrations')") for app in sorted(changes)]


@click.command("doctor")
@click.option("--database", "--alias", "database", default=None, metavar="ALIAS",
              help="Only this alias (default: every alias in DATABASES).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@settings_option
def doctor(database, as_json):
    """Audit settings and databases for production. Exit 1 on warnings, 2 on a settings error."""
    from dorm.conf import settings
    from dorm.db import connections
    from dorm.exceptions import ImproperlyConfigured

    try:
        load_settings(required=True)
        aliases = list(settings.DATABASES)
        if not aliases:
            raise ConfigError("DATABASES is empty: configure at least the 'default' alias")
        if database is not None and database not in aliases:
            raise ConfigError(f"unknown database alias {database!r}; configured aliases: "
                              f"{', '.join(sorted(aliases))}")
        backends = [connections[a] for a in ([database] if database else aliases)]
    except ImproperlyConfigured as exc:
        raise ConfigError(str(exc)) from exc
    findings = settings_checks(settings)
    for backend in backends:
        findings.extend(connection_checks(backend))
    findings.extend(model_change_checks())
    if as_json:
        click.echo(json.dumps({"ok": not findings, "findings": [asdict(f) for f in findings]}, indent=2))
    else:
        for finding in findings:
            click.echo(str(finding))
        click.echo(f"{len(findings)} warning(s)." if findings else
                   f"No problems found ({len(backends)} database alias(es) checked).")
    if findings:
        sys.exit(1)


COMMAND = doctor
