"""Base classes a backend plugin subclasses (see ``docs/backends.md``)."""
from .backend import AsyncWorker, BaseBackend, SharedState
from .client import BaseClient, ClientNotFound
from .features import BaseFeatures
from .introspection import BaseIntrospection, ColumnInfo, TableInfo, constraint_entry
from .operations import BaseOperations
from .schema import BaseSchemaEditor, TableModel

__all__ = ["AsyncWorker", "BaseBackend", "BaseClient", "BaseFeatures", "BaseIntrospection",
           "BaseOperations", "BaseSchemaEditor", "ClientNotFound", "ColumnInfo", "SharedState",
           "TableInfo", "TableModel", "constraint_entry"]
