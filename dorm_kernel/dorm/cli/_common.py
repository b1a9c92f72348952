"""Helpers shared by the data and maintenance commands (``sql``, ``dbcheck``,
``dumpdata``, ``loaddata``, ``flush``, ``doctor``, ``reset``, ...).

* ``CommandError``: ``Error: <message>`` on stderr, exit status 1 (a problem with the
  data or the database; usage and configuration errors stay exit 2).
* ``app_models()``: the concrete models of the installed apps, referenced models first
  (``model_order``: in a reference cycle, the target of a NOT NULL foreign key first).
* ``resolve_models(targets)``: ``app``, ``app.Model`` or ``Model`` to model classes;
  an unknown name is a ``CommandError`` that lists the valid names;
  ``resolve_app_labels(names)`` the same for apps (a usage error, exit 2).
* ``foreign_keys(model)``, ``auto_m2m_fields(model)``, ``auto_pk_column(model)``.
* ``reset_sequences(connection, models)``: the backend's ``ops.sequence_reset_sql``.
* ``use_as_default(alias)``: ``--database`` of ``shell`` / ``runscript``.
"""
from __future__ import annotations

import click

from .migrate_commands import _connection as connection_for  # noqa: F401 - re-exported
from .migrate_commands import database_option, handle_errors  # noqa: F401 - re-exported

AUTO_FIELDS = ("AutoField", "BigAutoField", "SmallAutoField")


class CommandError(click.ClickException):
    """Exit status 1 with ``Error: <message>``."""

    exit_code = 1


def use_as_default(alias: str | None) -> None:
    """``runscript`` / ``shell --database ALIAS``: for the rest of this process the
    ``default`` alias is ``DATABASES[ALIAS]`` (code that names no alias uses it)."""
    if alias is None or alias == "default":
        return
    from dorm.conf import settings

    from . import ConfigError

    databases = dict(settings.DATABASES)
    if alias not in databases:
        raise ConfigError(f"unknown database alias {alias!r}; configured aliases: "
                          f"{', '.join(sorted(databases)) or 'none'}")
    settings.configure(DATABASES={**databases, "default": databases[alias]})


def installed_labels() -> list[str]:
    """App labels of ``INSTALLED_APPS``, in that order."""
    from dorm.migrations.loader import installed_apps

    return [a.label for a in installed_apps()]


def resolve_app_labels(names) -> list[str]:
    """App labels for ``names`` (label, dotted package or its last part); an unknown
    app is a usage error (exit 2) listing the installed ones."""
    from dorm.migrations.loader import installed_apps, resolve_app

    apps = installed_apps()
    out = []
    for name in names:
        try:
            label = resolve_app(apps, name).label
        except LookupError as exc:
            raise click.UsageError(str(exc)) from None
        if label not in out:
            out.append(label)
    return out


def app_models(*, alias: str | None = None, include_auto_created: bool = False,
               managed_only: bool = True) -> list:
    """Concrete, non-proxy models of the installed apps, referenced models first.

    ``alias``: only models the routers let live there (``allow_migrate_model``).
    ``include_auto_created``: also the automatic many-to-many junction models.
    """
    from dorm.db import router
    from dorm.models.options import registry

    labels = installed_labels()
    rank = {label: i for i, label in enumerate(labels)}
    models = []
    for model in registry.get_models():
        opts = model._meta
        if opts.proxy or opts.app_label not in rank:
            continue
        if managed_only and not opts.managed:
            continue
        if getattr(opts, "auto_created", False) and not include_auto_created:
            continue
        if alias is not None and opts.managed and not router.allow_migrate_model(alias, model):
            continue
        models.append(model)
    models.sort(key=lambda m: rank[m._meta.app_label])  # stable: declaration order within an app
    return model_order(models)


def foreign_keys(model) -> list:
    """Concrete foreign key fields of ``model`` with a resolved target (pk included)."""
    out = []
    for f in model._meta.concrete_fields:
        remote = getattr(f, "remote_field", None)
        if remote is None or getattr(f, "many_to_many", False):
            continue
        target = getattr(remote, "model", None)
        if target is not None and not isinstance(target, str):
            out.append(f)
    return out


def model_order(models) -> list:
    """``models`` with referenced models first; in a reference cycle, the model behind
    a NOT NULL foreign key comes first (the nullable side can be filled in later)."""
    from dorm.db.tables import dependency_order

    ordered: list = []
    visiting: set = set()
    candidates = dependency_order(models)

    def visit(model):
        if model in ordered or model in visiting:
            return
        visiting.add(model)
        for f in foreign_keys(model):
            target = f.remote_field.model
            if not f.null and target is not model and target in candidates:
                visit(target)
        visiting.discard(model)
        ordered.append(model)

    for model in candidates:
        visit(model)
    return ordered


def _valid_names(models) -> str:
    return ", ".join(sorted(m._meta.label for m in models)) or "none"


def resolve_models(targets, *, alias: str | None = None) -> list:
    """Models for ``targets``: an app (label or dotted package: its managed models),
    ``app.Model`` or a bare ``Model`` (case-insensitive), without duplicates and
    referenced models first. ``CommandError`` names an unknown target and the valid
    ones."""
    from dorm.migrations.loader import installed_apps

    apps = installed_apps()
    everything = app_models(managed_only=False)
    by_label = {m._meta.label.lower(): m for m in everything}
    chosen: list = []

    def add(models):
        for model in models:
            if model not in chosen:
                chosen.append(model)

    for target in targets:
        app = next((a for a in apps if target in (a.label, a.package)), None)
        if app is not None:
            add(m for m in app_models(alias=alias) if m._meta.app_label == app.label)
            continue
        model = by_label.get(target.lower())
        if model is None and "." in target:
            app_part, _, name = target.rpartition(".")
            app = next((a for a in apps if app_part in (a.label, a.package)
                        or app_part == a.label.rsplit(".", 1)[-1]), None)
            if app is not None:
                model = by_label.get(f"{app.label}.{name}".lower())
        if model is None and "." not in target:
            matches = [m for m in everything if m._meta.object_name.lower() == target.lower()]
            if len(matches) > 1:
                raise CommandError(f"model name {target!r} is ambiguous ({_valid_names(matches)}); "
                                   "use app_label.Model")
            model = matches[0] if matches else None
        if model is None:
            raise CommandError(f"unknown app or model {target!r}; installed apps: "
                               f"{', '.join(a.label for a in apps) or 'none'}; models: "
                               f"{_valid_names(everything)}")
        add([model])
    return model_order(chosen)


def auto_pk_column(model) -> str | None:
    """The column of ``model``'s auto-increment primary key, or None."""
    pk = model._meta.pk
    if pk is not None and pk.get_internal_type() in AUTO_FIELDS:
        return pk.column
    return None


def auto_m2m_fields(model) -> list:
    """Many-to-many fields of ``model`` whose junction model is automatic (their rows
    are dumped as lists of primary keys; explicit ``through`` models are models)."""
    out = []
    for field in model._meta.local_many_to_many:
        through = getattr(field.remote_field, "through", None)
        if through is not None and not isinstance(through, str) and \
                getattr(through._meta, "auto_created", False):
            out.append(field)
    return out


def reset_sequences(connection, models) -> None:
    """Move the auto-increment sequences of ``models`` past their largest key (the
    backend's ``ops.sequence_reset_sql``; nothing where the database does it itself)."""
    for model in models:
        column = auto_pk_column(model)
        if column is None:
            continue
        for sql, params in connection.ops.sequence_reset_sql(model._meta.db_table, column):
            connection.execute_write(sql, params)
