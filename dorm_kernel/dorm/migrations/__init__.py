"""The migration engine: state, autodetector, writer, loader, executor, recorder.

Public API::

    from dorm.migrations import (
        ProjectState, ModelState,                 # state (from models or from history)
        MigrationAutodetector,                    # state diff -> operations
        Questioner, InteractiveQuestioner,        # rename / default questions
        MigrationWriter, Migration,               # files
        MigrationLoader, MigrationGraph,          # discovery and ordering
        MigrationExecutor, MigrationRecorder,     # applying, the dorm_migrations table
    )
    from dorm.migrations.operations import CreateModel, AddField, ...

See ``docs/migrations.md``.
"""
from __future__ import annotations

import importlib

#: public name -> submodule (imported on first access, so loading the operations
#: at plugin registration does not import the whole engine)
_EXPORTS = {
    "MigrationAutodetector": "autodetector",
    "BadMigrationError": "exceptions", "CircularDependencyError": "exceptions",
    "ConflictError": "exceptions", "InconsistentMigrationHistory": "exceptions",
    "InvalidTargetError": "exceptions", "IrreversibleError": "exceptions",
    "MigrationError": "exceptions", "MigrationFailed": "exceptions",
    "NodeNotFoundError": "exceptions", "QuestionError": "exceptions",
    "SerializationError": "exceptions",
    "MigrationExecutor": "executor", "MigrationResult": "executor",
    "MigrationGraph": "graph",
    "AppInfo": "loader", "MigrationLoader": "loader", "installed_apps": "loader",
    "Migration": "migration",
    "InteractiveQuestioner": "questioner", "Questioner": "questioner",
    "MigrationRecorder": "recorder",
    "ModelState": "state", "ProjectState": "state",
    "MigrationWriter": "writer",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dorm.migrations' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "AppInfo", "BadMigrationError", "CircularDependencyError", "ConflictError",
    "InconsistentMigrationHistory", "InteractiveQuestioner", "InvalidTargetError",
    "IrreversibleError", "Migration", "MigrationAutodetector", "MigrationError",
    "MigrationExecutor", "MigrationFailed", "MigrationGraph", "MigrationLoader",
    "MigrationRecorder", "MigrationResult", "MigrationWriter", "ModelState", "NodeNotFoundError",
    "ProjectState", "QuestionError", "Questioner", "SerializationError", "installed_apps",
]
