"""Migration operations.

The kernel's operations are registered through ``dorm_register_migration_operations``
like any plugin's; this module exposes them, and any name a plugin registered
(``from dorm.migrations.operations import CreateExtension``) resolves through the
plugin registry. A documented operation of a plugin that is not installed raises
``PluginNotInstalled`` naming the distribution.
"""
from __future__ import annotations

from .base import Operation
from .fields import AddField, AlterField, FieldOperation, RemoveField, RenameField
from .models import (
    AddConstraint,
    AddIndex,
    AlterModelOptions,
    AlterModelTable,
    AlterUniqueTogether,
    CreateModel,
    DeleteModel,
    IndexOperation,
    ModelOperation,
    RemoveConstraint,
    RemoveIndex,
    RenameModel,
)
from .special import RunPython, RunSQL, SeparateDatabaseAndState

#: The operations the kernel registers (``dorm.builtin_plugin``).
KERNEL_OPERATIONS = (
    CreateModel, DeleteModel, RenameModel, AlterModelTable, AlterModelOptions,
    AlterUniqueTogether, AddField, RemoveField, AlterField, RenameField, AddIndex, RemoveIndex,
    AddConstraint, RemoveConstraint, RunSQL, RunPython, SeparateDatabaseAndState,
)

__all__ = [
    "KERNEL_OPERATIONS",
    "AddConstraint",
    "AddField",
    "AddIndex",
    "AlterField",
    "AlterModelOptions",
    "AlterModelTable",
    "AlterUniqueTogether",
    "CreateModel",
    "DeleteModel",
    "FieldOperation",
    "IndexOperation",
    "ModelOperation",
    "Operation",
    "RemoveConstraint",
    "RemoveField",
    "RemoveIndex",
    "RenameField",
    "RenameModel",
    "RunPython",
    "RunSQL",
    "SeparateDatabaseAndState",
]


#: documented operations provided by plugins -> distribution (for the error message)
KNOWN_PLUGIN_OPERATIONS: dict[str, str] = dict.fromkeys(
    [
        "CreateMaterializedView", "DropMaterializedView", "RefreshMaterializedView",
        "CreatePartitionedTable", "CreatePartition", "AttachPartition", "DetachPartition",
        "CreatePGEnum", "DropPGEnum", "AddPGEnumValue", "RenamePGEnumValue",
        "EnableRowLevelSecurity", "DisableRowLevelSecurity", "ForceRowLevelSecurity",
        "CreatePolicy", "DropPolicy", "AlterPolicy", "CreateExtension", "VectorExtension",
        "AddFieldOnline", "BackfillBatch", "SetNotNullOnline", "AddCheckConstraintOnline",
        "SetLockTimeout", "ValidateConstraint", "AlterColumnTypeOnline", "MakeTableAppendOnly",
    ],
    "dorm-postgres",
)


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    from dorm.plugins import get_registry
    from dorm.plugins.missing import not_installed

    cls = get_registry().operations.get(name)
    if cls is not None:
        return cls
    dist = KNOWN_PLUGIN_OPERATIONS.get(name)
    if dist is not None:
        raise not_installed(f"dorm.migrations.operations.{name}", dist)
    raise AttributeError(
        f"module 'dorm.migrations.operations' has no attribute {name!r} (no installed plugin "
        "registers a migration operation by that name; see 'dorm plugins')")


def __dir__():
    try:
        from dorm.plugins import get_registry

        extra = list(get_registry().operations)
    except Exception:  # noqa: BLE001
        extra = []
    return sorted(set(__all__) | set(extra))
