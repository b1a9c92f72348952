"""Errors of the migration engine. All subclass ``dorm.exceptions.MigrationError``;
the CLI turns them into a one-line message and exit status 1."""
from __future__ import annotations

from dorm.exceptions import MigrationError


class BadMigrationError(MigrationError):
    """A migration file cannot be imported or does not define ``operations``."""


class NodeNotFoundError(MigrationError):
    """A dependency (or a target) names a migration that does not exist."""

    def __init__(self, message: str, node=None, origin=None):
        super().__init__(message)
        self.node = node
        self.origin = origin


class CircularDependencyError(MigrationError):
    """The migration graph has a cycle."""


class ConflictError(MigrationError):
    """An app has more than one leaf migration: ``dorm makemigrations --merge``."""

    def __init__(self, message: str, conflicts: dict | None = None):
        super().__init__(message)
        self.conflicts = conflicts or {}


class InconsistentMigrationHistory(MigrationError):
    """An applied migration depends on one that is not applied."""


class IrreversibleError(MigrationError):
    """An operation cannot be reversed (``RunSQL`` without ``reverse_sql`` ...)."""


class InvalidTargetError(MigrationError):
    """``migrate app <target>`` names no migration of the app."""


class MigrationFailed(MigrationError):
    """Applying or unapplying one migration failed; the message says what state the
    database and the recorder are in. ``__cause__`` is the original error."""

    def __init__(self, message: str, migration=None, operation_index=None, schema_state=None):
        super().__init__(message)
        self.migration = migration
        self.operation_index = operation_index
        #: "rolled back" | "partially applied"
        self.schema_state = schema_state


class QuestionError(MigrationError):
    """``makemigrations`` needs an answer it cannot get (``--no-input``), e.g. a default
    for a new NOT NULL column."""


class SerializationError(MigrationError, ValueError):
    """A value cannot be written into a migration file (lambda, local class ...)."""


__all__ = [
    "BadMigrationError", "CircularDependencyError", "ConflictError",
    "InconsistentMigrationHistory", "InvalidTargetError", "IrreversibleError", "MigrationError",
    "MigrationFailed", "NodeNotFoundError", "QuestionError", "SerializationError",
]
