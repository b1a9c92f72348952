"""Shared pieces of the PostgreSQL-only migration operations (``pg_operations.py``,
``pg_partitions.py``, ``pg_policies.py``): identifier checks and quoting, the trusted-SQL
check, feature-flag checks, and the ``PGOperation`` base class."""
from __future__ import annotations

import re

from dorm.migrations.exceptions import IrreversibleError
from dorm.migrations.operations import Operation

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_IDENTIFIER_BYTES = 63


class IrreversiblePGOperation(IrreversibleError, NotImplementedError):
    """Unapplying a PostgreSQL operation that lacks what its backwards needs
    (``DropMaterializedView`` without ``reverse_sql`` ...). Both an ``IrreversibleError``
    (what the executor raises) and a ``NotImplementedError`` (what the spec names)."""


# ---- validation helpers ------------------------------------------------------------------------
def check_identifier(value, what: str) -> str:
    """``value`` if it is a plain SQL identifier of at most 63 bytes, else ``ValueError``."""
    if not isinstance(value, str) or not _IDENT.match(value) or \
            len(value.encode()) > MAX_IDENTIFIER_BYTES:
        raise ValueError(f"{what} must be an identifier ([A-Za-z_][A-Za-z0-9_]*, at most "
                         f"{MAX_IDENTIFIER_BYTES} bytes), got {value!r}")
    return value


def check_qualified_name(value, what: str) -> str:
    """``name`` or ``schema.name``, each part an identifier (``ValueError`` otherwise)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a name (optionally schema-qualified), got {value!r}")
    parts = value.split(".")
    if len(parts) > 2:
        raise ValueError(f"{what} must be 'name' or 'schema.name', got {value!r}")
    for part in parts:
        check_identifier(part, what)
    return value


def quote_qualified(schema_editor, name: str) -> str:
    """``"schema"."name"`` / ``"name"`` with the backend's identifier quoting."""
    return ".".join(schema_editor.quote_name(part) for part in name.split("."))


def check_trusted_sql(value, what: str) -> str:
    """A non-empty SQL string (trusted migration code), without surrounding blanks and a
    trailing ``;``."""
    if not isinstance(value, str) or "\x00" in value or not value.strip().rstrip(";").strip():
        raise ValueError(f"{what} must be a non-empty SQL string, got {value!r}")
    return value.strip().rstrip(";").rstrip()


def backend_name(schema_editor) -> str:
    conn = schema_editor.connection
    return str(getattr(conn, "display_name", None) or getattr(conn, "vendor", None) or "this backend")


def has_feature(schema_editor, flag: str) -> bool:
    return bool(getattr(schema_editor.connection.features, flag, False))


def name_fragment(*parts: str) -> str:
    """A migration-name fragment (``create_matview_sales``), at most 60 characters."""
    return re.sub(r"[^a-z0-9]+", "_", "_".join(parts).lower()).strip("_")[:60]


class PGOperation(Operation):
    """Base of the PostgreSQL-only operations: no state change; ``feature`` names the
    backend flag that must be true, ``what`` the feature in error messages."""

    feature: str = ""
    what: str = ""

    def state_forwards(self, app_label, state):
        pass

    def supported(self, schema_editor) -> bool:
        return has_feature(schema_editor, self.feature)

    def require(self, schema_editor) -> None:
        """``NotImplementedError`` naming the operation and the backend when unsupported."""
        if not self.supported(schema_editor):
            raise NotImplementedError(
                f"{type(self).__name__} is not supported on {backend_name(schema_editor)}: "
                f"{self.what} need PostgreSQL (the backend's features.{self.feature} is not "
                "set). Keep this migration to PostgreSQL databases (a router's allow_migrate) or "
                "use RunSQL with the backend's own SQL")
