"""Plugin number zero: the kernel registers its own fields, lookups and expressions
through the same hooks third parties use (one path, not two)."""
from __future__ import annotations

from dorm.hookspecs import hookimpl


@hookimpl
def dorm_register_field_types(register):
    from dorm import fields
    from dorm.fields import scalar

    for name in [*scalar.__all__, *fields.RELATION_FIELDS, *fields.FILE_FIELDS]:
        obj = getattr(fields, name)
        if isinstance(obj, type):
            register(obj)


@hookimpl
def dorm_register_lookups(register):
    from dorm import fields as f
    from dorm import lookups as lk

    for cls in lk.BUILTIN_LOOKUPS:
        register(None, cls)
    for field_cls in (f.DateField, f.DateTimeField):
        for cls in lk.DATE_TRANSFORMS:
            register(field_cls, cls)
    register(f.DateTimeField, lk.TruncDateTransform)
    for field_cls in (f.DateTimeField, f.TimeField):
        for cls in lk.TIME_TRANSFORMS:
            register(field_cls, cls)
    register(f.DateTimeField, lk.TruncTimeTransform)
    register(f.JSONField, lk.HasKey)
    register(f.JSONField, lk.JSONContains)
    for field_cls in (f.CharField, f.TextField):
        register(field_cls, lk.Lower)
        register(field_cls, lk.Upper)


@hookimpl
def dorm_register_expressions(register):
    from dorm import aggregates, functions, window

    for name in aggregates.__all__:
        register(getattr(aggregates, name))
    for name in window.__all__:
        register(getattr(window, name))
    for name in functions.__all__:
        obj = getattr(functions, name)
        if isinstance(obj, type):
            register(obj, name)


@hookimpl
def dorm_register_migration_operations(register):
    from dorm.migrations.operations import KERNEL_OPERATIONS

    for cls in KERNEL_OPERATIONS:
        register(cls)


@hookimpl
def dorm_register_commands(cli):
    from dorm.cli import (dbcheck, doctor, dumpdata, flush, loaddata, migrate_commands,
                          migrations_graph, reset, runscript, schema_commands, sql)

    for cmd in (*migrate_commands.COMMANDS, *schema_commands.COMMANDS):
        cli.add_command(cmd)
    for module in (sql, dbcheck, dumpdata, loaddata, flush, runscript, doctor, migrations_graph,
                   reset):
        cli.add_command(module.COMMAND)
