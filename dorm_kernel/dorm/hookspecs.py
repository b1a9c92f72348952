"""Hook specifications: the contract between the dorm kernel and its plugins.

A plugin is a module (or object) with functions named after these hooks and
decorated with ``@dorm.hookimpl``. Plugins are found through the entry-point group
``dorm`` (``[project.entry-points.dorm] name = "package.module"``) or registered at
run time with ``dorm.plugins.register(obj)``.

Rules every hook follows:

* Registration hooks receive a ``register`` callback instead of returning lists, so
  the kernel can validate each item, de-duplicate, and report a clash between two
  plugins with both their names.
* Hooks run at plugin load, model preparation, connection creation or CLI start:
  never once per statement, except ``dorm_execute`` which the kernel composes into
  the statement path only when some plugin implements it.
* A hook must not import a heavy driver at module import time of the plugin; import
  lazily inside the hook or name the target as a ``"module:attr"`` string.
"""
from __future__ import annotations

import pluggy

PROJECT_NAME = "dorm"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def dorm_register_backends(register):
    """Declare database engines.

    Call ``register(name, target, aliases=(), test_settings=None)`` once per engine:

    * ``name`` – the canonical engine name used in ``DATABASES[...]["ENGINE"]``
      (``"sqlite"``, ``"postgresql"``). Matching is case-insensitive; an ENGINE
      containing ``name`` or one of ``aliases`` as a dotted component or substring
      resolves to it (``"django.db.backends.postgresql"`` → ``postgresql``).
    * ``target`` – ``"module.path:ClassName"`` of a subclass of
      ``dorm.db.backends.base.BaseBackend``. It is imported only when a connection
      to that engine is first made, so declaring an engine is free.
    * ``aliases`` – other names for the same engine (``("postgres", "psql")``).
    * ``test_settings`` – optional callable ``() -> dict | None`` returning a
      ``DATABASES`` entry the shared test suite can use (``None`` = not available
      here, e.g. no server); used by ``dorm.testing`` to parametrise the suites.

    Two plugins registering one name is an error that names both plugins.
    """


@hookspec
def dorm_register_field_types(register):
    """Declare field classes.

    Call ``register(field_class, name=None)``; the class becomes ``dorm.<name>``
    (default: the class ``__name__``) and is importable from ``dorm.fields``. The class
    must subclass ``dorm.fields.Field``. Field classes may carry per-backend column
    types through ``db_type(connection)``.
    """


@hookspec
def dorm_register_lookups(register):
    """Declare lookups and transforms usable after ``__`` in query keywords.

    Call ``register(field_class_or_None, lookup_class, vendors=None)``:

    * ``field_class_or_None`` – the lookup applies to this field class and its
      subclasses; ``None`` means every field.
    * ``lookup_class`` – a subclass of ``dorm.lookups.Lookup`` (a predicate, e.g.
      ``icontains``) or ``dorm.lookups.Transform`` (changes the left-hand side and
      can be chained: ``created__year__gte``). Its ``lookup_name`` is the keyword.
    * ``vendors`` – optional tuple of backend vendor names; the lookup is then only
      offered on those backends and other backends raise ``NotSupportedError``
      naming the backend.

    The most specific field class wins; the same (field class, name, vendor) from two
    plugins is a clash.
    """


@hookspec
def dorm_register_expressions(register):
    """Declare query expressions: functions, aggregates, window functions.

    Call ``register(expression_class, name=None)``; the class becomes ``dorm.<name>``
    and ``dorm.functions.<name>``.
    """


@hookspec
def dorm_register_migration_operations(register):
    """Declare migration operation classes.

    Call ``register(operation_class, name=None)``; importable afterwards as
    ``from dorm.migrations.operations import <name>`` and usable in migration files.
    """


@hookspec
def dorm_register_modules(register):
    """Provide documented import paths under ``dorm``.

    Call ``register("dorm.tree", "dorm_tree.api")``: afterwards ``import dorm.tree``
    (and ``from dorm.tree import descendants``) yields the plugin's module. This is
    how a plugin makes the reference's import paths (``dorm.contrib.tenants_row``,
    ``dorm.search``) work without writing files into the kernel package. Without the
    plugin, importing such a path raises ``PluginNotInstalled`` naming the
    distribution to install.
    """


@hookspec
def dorm_register_commands(cli):
    """Add commands to the ``dorm`` command line.

    ``cli`` is a ``click.Group``: call ``cli.add_command(cmd)`` or use ``@cli.command()``;
    its commands are added to the root ``dorm`` group. Each plugin gets its own group,
    so dorm knows which plugin added which command. Runs once, when the CLI first looks
    up a command. A command name already taken is reported as a clash naming both
    plugins (the earlier one is kept). Use ``dorm.cli.settings_option`` /
    ``dorm.cli.load_settings()`` to honour ``--settings``.
    """


@hookspec(historic=True)
def dorm_configure(settings):
    """Read this plugin's own settings.

    ``settings`` is ``dorm.settings`` after ``dorm.configure()`` (runs after every
    call). Historic: a plugin registered after configuration is called once, with the
    current settings. Read optional settings with ``getattr(settings, NAME, default)``;
    raise ``ImproperlyConfigured`` naming the setting when a value is wrong (it
    propagates out of ``configure()``).
    """


@hookspec
def dorm_model_prepared(model):
    """A model class has been fully created (fields bound, ``_meta`` final).

    Runs once per concrete or abstract model class. A plugin may add fields,
    managers or default query filters here (row tenancy, trees). It must not run
    queries.
    """


@hookspec
def dorm_connection_created(backend, connection, alias):
    """A new DB-API connection was opened.

    ``backend`` is the dorm backend instance (ask ``backend.vendor`` and
    ``backend.features``), ``connection`` the raw driver connection, ``alias`` the
    ``DATABASES`` key. Runs for every new connection, sync and async, including
    replicas and shards: register SQL functions, type adapters, session settings.
    """


@hookspec
def dorm_migration_aliases(settings):
    """Aliases besides ``default`` that ``dorm migrate`` and ``dorm diff`` cover when no
    ``--database`` is given (the shards of a sharding plugin).

    Return a list of ``DATABASES`` aliases, or None. Every plugin's list is used (in
    plugin order, de-duplicated). Each operation still asks ``allow_migrate`` for each
    alias, so a model's tables only go where the routers allow them.
    """


@hookspec(firstresult=True)
def dorm_db_for_read(model, hints):
    """Return the alias to read ``model`` from, or ``None`` to defer.

    The first non-None answer wins; exceptions propagate (they are never swallowed
    and the next router is not tried). ``hints`` may contain ``instance``.
    """


@hookspec(firstresult=True)
def dorm_db_for_write(model, hints):
    """Return the alias to write ``model`` to, or ``None`` to defer (as above)."""


@hookspec(firstresult=True)
def dorm_allow_relation(obj1, obj2, hints):
    """Return True/False to allow or refuse a relation between two instances, or None."""


@hookspec(firstresult=True)
def dorm_allow_migrate(alias, app_label, model_name, hints):
    """Return True/False to allow or refuse migrating a model on ``alias``, or None."""


@hookspec(firstresult=True)
def dorm_execute(backend, sql, params, many):
    """Wrap the execution of one statement (opt-in: tracing, budgets, breakers).

    Implement it as a new-style pluggy wrapper (``@hookimpl(wrapper=True)``):
    ``result = yield`` runs the statement (and inner wrappers); return the result or
    raise. The kernel's own innermost implementation runs the statement. ``many`` is True for ``executemany``.
    Only composed into the statement path when at least one plugin implements it.
    """
