"""``dorm shards ...``: status, placement, migrations and schema drift on every shard,
and rebalancing.

* ``dorm shards status [--json]`` – routers, shard aliases, breaker states.
* ``dorm shards where KEY...`` – the shard of each key.
* ``dorm shards migrate [APP] [TARGET] [--database ALIAS] [...]`` – ``dorm migrate`` on
  ``default`` and on every shard (or only ``--database``); each operation honours the
  routers' ``allow_migrate``, so sharded tables are created on shards only.
* ``dorm shards diff [--database ALIAS] [--apps ...] [--json]`` – ``dorm diff`` on every
  shard (and ``default``), each compared with the models allowed there. Exit 1 on drift.
* ``dorm shards rebalance --from N --to M [...]`` – move the rows that must move.
"""
from __future__ import annotations

import json
import sys

import click
from dorm.cli import ConfigError, load_settings, settings_option


def _router():
    from .router import get_router

    try:
        return get_router()
    except Exception as exc:
        raise ConfigError(str(exc)) from exc


def _aliases_for(database):
    """``[database]`` or ``default`` + the shards (in router order)."""
    from dorm.conf import settings

    if database is not None:
        if database not in settings.DATABASES:
            raise ConfigError(f"unknown database alias {database!r}; configured aliases: "
                              f"{', '.join(sorted(settings.DATABASES)) or 'none'}")
        return [database]
    router = _router()
    aliases = ["default"] if "default" in settings.DATABASES else []
    aliases += [a for a in router.aliases if a not in aliases]
    missing = [a for a in aliases if a not in settings.DATABASES]
    if missing:
        raise ConfigError(f"shard alias(es) {', '.join(missing)} of the HashShardRouter are not in "
                          f"settings.DATABASES")
    return aliases


@click.group("shards")
def shards():
    """Sharding: placement, per-shard migrations and drift, rebalancing, breakers."""


# ---- status / where ---------------------------------------------------------------------------------
@shards.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@settings_option
def status(as_json):
    """Show the shard routers, their aliases and the circuit-breaker state of each shard."""
    from .breaker import breaker_states, config
    from .router import shard_routers

    load_settings(required=True)
    routers = shard_routers()
    cfg = config()
    states = breaker_states()
    data = {
        "routers": [{"num_shards": r.num_shards, "aliases": list(r.aliases), "algorithm": r.algorithm,
                     "models": [m._meta.label for m in r.sharded_models()]} for r in routers],
        "breaker": {"enabled": cfg.enabled, "failure_threshold": cfg.failure_threshold,
                    "open_window_s": cfg.open_window_s},
        "shards": states,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    if not routers:
        click.echo("No HashShardRouter is configured (settings.DATABASE_ROUTERS / settings.SHARDING).")
        return
    for r in data["routers"]:
        click.echo(f"HashShardRouter: {r['num_shards']} shards, algorithm {r['algorithm']}, "
                   f"models: {', '.join(r['models']) or '-'}")
    click.echo(f"Breakers: {'on' if cfg.enabled else 'off'} (failure_threshold={cfg.failure_threshold}, "
               f"open_window_s={cfg.open_window_s:g})")
    for alias, st in states.items():
        extra = f", retry in {st['retry_in']:.1f} s" if st["state"] == "open" else ""
        last = f" - {st['last_error']}" if st.get("last_error") else ""
        click.echo(f"  {alias}: {st['state']} ({st['failures']} failure(s){extra}){last}")


@shards.command("where")
@click.argument("keys", nargs=-1, required=True)
@settings_option
def where(keys):
    """Print the shard of each KEY (keys are compared as text, like str(key))."""
    load_settings(required=True)
    router = _router()
    for key in keys:
        click.echo(f"{key}\t{router.shard_for(key)}")


# ---- migrate / diff --------------------------------------------------------------------------------------
def _root_command(ctx, name):
    root = ctx.find_root().command
    cmd = root.get_command(ctx, name) if isinstance(root, click.Group) else None
    if cmd is None:
        raise ConfigError(f"the kernel command 'dorm {name}' is not available")
    return cmd


@shards.command("migrate", context_settings={"ignore_unknown_options": True})
@click.argument("app_label", required=False)
@click.argument("target", required=False)
@click.option("--database", "--alias", "database", default=None, metavar="ALIAS",
              help="Only this alias (default: 'default' and every shard).")
@click.option("--fake", is_flag=True, help="Record the migrations as run without running them.")
@click.option("--fake-initial", is_flag=True, help="Fake initial migrations whose tables already exist.")
@click.option("--plan", "show_plan", is_flag=True, help="Show what would be done; do nothing.")
@click.option("--dry-run", is_flag=True, help="Print the SQL instead of running it.")
@click.option("-v", "--verbosity", type=click.IntRange(0, 3), default=1, show_default=True)
@settings_option
@click.pass_context
def shards_migrate(ctx, app_label, target, database, fake, fake_initial, show_plan, dry_run, verbosity):
    """Run 'dorm migrate' on 'default' and on every shard (or only --database).

    Each operation asks the routers' allow_migrate, so sharded models get their tables
    on the shards and the other models on 'default'.
    """
    load_settings(required=True)
    migrate = _root_command(ctx, "migrate")
    aliases = _aliases_for(database)
    failed = []
    for alias in aliases:
        if verbosity >= 1:
            click.echo(f"== {alias} ==")
        try:
            ctx.invoke(migrate, app_label=app_label, target=target, database=alias, fake=fake,
                       fake_initial=fake_initial, show_plan=show_plan, dry_run=dry_run, verbosity=verbosity)
        except SystemExit as exc:
            if exc.code not in (0, None):
                failed.append(alias)
        except click.exceptions.Exit as exc:
            if exc.exit_code:
                failed.append(alias)
        except click.ClickException as exc:
            exc.show()
            failed.append(alias)
    if failed:
        click.echo(f"migrate failed on: {', '.join(failed)}", err=True)
        ctx.exit(1)


@shards.command("diff")
@click.option("--database", "--alias", "database", default=None, metavar="ALIAS",
              help="Only this alias (default: 'default' and every shard).")
@click.option("--apps", "app_prefixes", multiple=True, metavar="PREFIX",
              help="Only models whose app label or module starts with PREFIX (repeatable).")
@click.option("--ignore-table", "ignore_tables", multiple=True, metavar="PATTERN",
              help="Live tables to ignore (glob, repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@settings_option
def shards_diff(database, app_prefixes, ignore_tables, as_json):
    """Schema drift on 'default' and every shard (or only --database): each alias is
    compared with the models the routers allow there. Exit 1 when any drifts."""
    from dorm.db import connections
    from dorm.db.router import router as chain
    from dorm.migrations.drift import drift_models, schema_drift

    load_settings(required=True)
    aliases = _aliases_for(database)
    models = drift_models(list(app_prefixes) or None)
    report = {}
    for alias in aliases:
        allowed = [m for m in models if chain.allow_migrate_model(alias, m)]
        findings = schema_drift(connections[alias], models=allowed,
                                app_prefixes=list(app_prefixes) or None, ignore_tables=tuple(ignore_tables))
        report[alias] = findings
    drift = any(report.values())
    if as_json:
        click.echo(json.dumps({"drift": drift, "databases": {
            a: {"drift": bool(f), "findings": [x.as_dict() for x in f]} for a, f in report.items()}},
            indent=2))
    else:
        from dorm.cli.schema_commands import print_drift

        for alias, findings in report.items():
            print_drift(alias, findings)
    if drift:
        sys.exit(1)


# ---- rebalance ---------------------------------------------------------------------------------------------
class _Progress:
    """A click progress bar per (phase, model, shard) on a terminal, one line per batch
    otherwise."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stdout.isatty()
        self.bar = None
        self.bar_key = None

    def close(self):
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None

    def __call__(self, event):
        phase = event["phase"]
        if phase == "plan":
            if not self.quiet:
                totals = ", ".join(f"{k}: {v}" for k, v in event["totals"].items())
                click.echo(f"rebalancing {', '.join(event['models'])} from {len(event['sources'])} to "
                           f"{len(event['targets'])} shards ({totals} rows)")
            return
        if phase == "done":
            self.close()
            return
        if self.quiet:
            return
        key = (phase, event["model"], event["alias"])
        if self.tty:
            if key != self.bar_key:
                self.close()
                self.bar = click.progressbar(length=max(event["total"], 1),
                                             label=f"{phase} {event['model']} {event['alias']}")
                self.bar.render_progress()
                self.bar_key = key
            self.bar.update(event["batch"])
        else:
            click.echo(f"{phase} {event['model']} {event['alias']}: {event['scanned']}/{event['total']} "
                       f"scanned, {event['moved']} moving in this batch")


def _parse_key_fields(values):
    out = {}
    for value in values:
        label, sep, field = value.partition("=")
        if not sep or not label or not field:
            raise click.BadParameter(f"expected APP.MODEL=FIELD, got {value!r}", param_hint="--key-field")
        out[label] = field
    return out


@shards.command("rebalance")
@click.option("--from", "from_shards", type=click.IntRange(min=1), required=True,
              help="Number of shards the rows are placed for now.")
@click.option("--to", "to_shards", type=click.IntRange(min=1), required=True,
              help="Number of shards to place them for.")
@click.option("--model", "models", multiple=True, metavar="APP.MODEL",
              help="Only these models (default: every model the router shards).")
@click.option("--key-field", "key_fields", multiple=True, metavar="APP.MODEL=FIELD",
              help="The shard key field of a model (when the router does not declare it).")
@click.option("--aliases", metavar="A,B,...", help="Every shard alias, in order (default: the router's, "
              "or shard_0, shard_1, ...).")
@click.option("--from-algorithm", type=click.Choice(["jump", "modulo"]),
              help="Placement of the current layout (default: the router's).")
@click.option("--to-algorithm", type=click.Choice(["jump", "modulo"]),
              help="Placement of the new layout (default: the router's).")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--state-file", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint file (default: .dorm-rebalance-FROM-to-TO.json in the current directory).")
@click.option("--restart", is_flag=True, help="Ignore an existing checkpoint and start over.")
@click.option("--dry-run", is_flag=True, help="Count the rows that would move; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@settings_option
def rebalance_cmd(from_shards, to_shards, models, key_fields, aliases, from_algorithm, to_algorithm,
                  batch_size, state_file, restart, dry_run, as_json, quiet):
    """Move the rows of sharded models from a --from N layout to a --to M layout.

    Only rows whose shard changes are copied (in batches, each verified), then deleted
    from their old shard after a second verification. A checkpoint file makes an
    interrupted run resumable: run the same command again. Stop writes to the sharded
    models meanwhile, then switch the router to M shards.
    """
    from .exceptions import RebalanceError
    from .rebalance import rebalance
    from .router import shard_routers

    load_settings(required=True)
    routers = shard_routers()
    router = routers[0] if len(routers) == 1 else None
    if len(routers) > 1:
        raise ConfigError("several HashShardRouters are configured; rebalance needs exactly one")
    fields = _parse_key_fields(key_fields)
    model_spec = None
    if models or fields:
        names = list(models) or ([m._meta.label for m in router.sharded_models()] if router else [])
        model_spec = {name: fields.get(name) for name in names}
        for label, field in fields.items():
            model_spec.setdefault(label, field)
    alias_list = [a.strip() for a in aliases.split(",") if a.strip()] if aliases else None
    if state_file is None and not dry_run:
        state_file = f".dorm-rebalance-{from_shards}-to-{to_shards}.json"
    progress = _Progress(quiet or as_json)
    try:
        report = rebalance(from_shards=from_shards, to_shards=to_shards, models=model_spec, router=router,
                           aliases=alias_list, from_algorithm=from_algorithm, to_algorithm=to_algorithm,
                           batch_size=batch_size, state_file=state_file, restart=restart, dry_run=dry_run,
                           progress=progress)
    except (RebalanceError, ValueError, LookupError) as exc:
        progress.close()
        click.echo(f"Error: {exc}", err=True)
        if state_file and not dry_run:
            click.echo(f"Progress is kept in {state_file}: fix the cause and run the same command to resume.",
                       err=True)
        sys.exit(1)
    finally:
        progress.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        verb = "would move" if dry_run else "moved"
        click.echo(f"{verb} {report.moved} of {report.total} row(s) in {report.seconds:.1f} s"
                   f"{' (resumed)' if report.resumed else ''}")
        for label, rep in report.models.items():
            moves = ", ".join(f"{k}: {v}" for k, v in sorted(rep.moves.items())) or "nothing"
            click.echo(f"  {label}: {rep.moved}/{rep.before} ({moves})")
        if not dry_run:
            click.echo("verified: row counts as expected" if report.verified else
                       "WARNING: row counts changed during the rebalance (writes while it ran?): "
                       + ", ".join(f"{k}: expected {r.expected_after}, found {r.after}"
                                   for k, r in report.models.items() if r.after != r.expected_after))
    if not report.verified:
        sys.exit(1)
