"""PostgreSQL-only migration operations: materialized views and declarative partitioning
(spec: migrations-cli.md §4.3). The view operations are defined here, the partition
operations in ``pg_partitions.py`` (re-exported here with ``MINVALUE``/``MAXVALUE``),
row-level security and policies in ``pg_policies.py``, ``ExclusionConstraint`` in
``constraints.py``; all are importable from ``dorm.migrations.operations`` once
dorm-postgres is installed.

* ``CreateMaterializedView(name, sql, *, with_data=True, if_not_exists=False)`` –
  ``CREATE MATERIALIZED VIEW [IF NOT EXISTS] "name" AS <sql> [WITH NO DATA]``;
  backwards ``DROP MATERIALIZED VIEW IF EXISTS "name"``.
* ``DropMaterializedView(name, *, reverse_sql="", if_exists=True)`` –
  ``DROP MATERIALIZED VIEW [IF EXISTS] "name"``. Backwards needs ``reverse_sql``: the
  view's query (recreated as ``CREATE MATERIALIZED VIEW "name" AS <reverse_sql>``), or
  complete statements starting with ``CREATE`` (run as written, split on ``;``, e.g.
  to recreate the view's indexes too). Without it the operation is irreversible:
  unapplying raises ``IrreversibleError`` (``IrreversiblePGOperation``, also a
  ``NotImplementedError``).
* ``RefreshMaterializedView(name, *, concurrently=False)`` – ``REFRESH MATERIALIZED VIEW
  [CONCURRENTLY] "name"``; backwards does nothing. ``CONCURRENTLY`` needs a unique index
  on the view and a populated view (PostgreSQL's rules); it is allowed inside a
  transaction, so the operation stays atomic.
* ``CreatePartitionedTable``, ``CreatePartition``, ``AttachPartition``,
  ``DetachPartition`` and the ``for_values`` forms (``{"from": .., "to": ..}``,
  ``{"in": [..]}``, ``{"modulus": m, "remainder": r}``, ``"DEFAULT"``, or a raw trusted
  SQL string): see ``pg_partitions.py``.

Common contracts:

* Identifiers (view, table, partition and parent names; key columns) must match
  ``[A-Za-z_][A-Za-z0-9_]*`` and fit in 63 bytes; table and view names may be
  schema-qualified (``"reporting.sales"``). Checked at construction (``ValueError``)
  and always quoted.
* ``sql``, ``reverse_sql`` and ``columns_sql`` are trusted migration code, spliced as
  written (like ``RunSQL``).
* Backend support is read from feature flags (``supports_materialized_views``,
  ``supports_table_partitioning``), not vendor names. Where it is missing, forwards and
  backwards (and ``sqlmigrate`` / dry-run) raise ``NotImplementedError`` naming the
  operation and the backend (``RefreshMaterializedView``'s backwards stays a no-op).
* The project state is not changed: views and partitioned tables are not models (map
  a model with ``Meta.managed = False`` onto one to query it).
"""
from __future__ import annotations

import re

from .pg_common import (
    IrreversiblePGOperation,
    PGOperation,
    check_identifier,
    check_qualified_name,
    check_trusted_sql,
    name_fragment,
    quote_qualified,
)
from .pg_partitions import (
    MAXVALUE,
    MINVALUE,
    PARTITION_METHODS,
    AttachPartition,
    CreatePartition,
    CreatePartitionedTable,
    DetachPartition,
    PartitionBound,
    check_for_values,
    for_values_sql,
)

__all__ = [
    "MAXVALUE", "MINVALUE", "PARTITION_METHODS", "AttachPartition", "CreateMaterializedView",
    "CreatePartition", "CreatePartitionedTable", "DetachPartition", "DropMaterializedView",
    "IrreversiblePGOperation", "PGOperation", "PartitionBound", "RefreshMaterializedView",
    "VIEW_PARTITION_OPERATIONS", "check_for_values", "check_identifier", "check_qualified_name",
    "for_values_sql",
]


# ---- materialized views --------------------------------------------------------------------------
class _ViewOperation(PGOperation):
    feature = "supports_materialized_views"
    what = "materialized views"

    def _view(self, schema_editor) -> str:
        return quote_qualified(schema_editor, self.name)


class CreateMaterializedView(_ViewOperation):
    """See the module docstring."""

    def __init__(self, name, sql, *, with_data=True, if_not_exists=False):
        self.name = check_qualified_name(name, "CreateMaterializedView name")
        self.sql = check_trusted_sql(sql, "CreateMaterializedView sql")
        self.with_data = bool(with_data)
        self.if_not_exists = bool(if_not_exists)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self.require(schema_editor)
        schema_editor.execute(
            f"CREATE MATERIALIZED VIEW {'IF NOT EXISTS ' if self.if_not_exists else ''}"
            f"{self._view(schema_editor)} AS {self.sql}{'' if self.with_data else ' WITH NO DATA'}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self.require(schema_editor)
        schema_editor.execute(f"DROP MATERIALIZED VIEW IF EXISTS {self._view(schema_editor)}")

    def describe(self):
        return f"Create materialized view {self.name}" + ("" if self.with_data else " (no data)")

    @property
    def migration_name_fragment(self):
        return name_fragment("create_matview", self.name)


class DropMaterializedView(_ViewOperation):
    """See the module docstring."""

    def __init__(self, name, *, reverse_sql="", if_exists=True):
        self.name = check_qualified_name(name, "DropMaterializedView name")
        if reverse_sql is None:
            reverse_sql = ""
        self.reverse_sql = check_trusted_sql(reverse_sql, "DropMaterializedView reverse_sql") \
            if reverse_sql != "" else ""
        self.if_exists = bool(if_exists)

    @property
    def reversible(self):
        return bool(self.reverse_sql)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self.require(schema_editor)
        schema_editor.execute(f"DROP MATERIALIZED VIEW {'IF EXISTS ' if self.if_exists else ''}"
                              f"{self._view(schema_editor)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if not self.reverse_sql:
            raise IrreversiblePGOperation(
                f"DropMaterializedView({self.name!r}) cannot be reversed: give reverse_sql= (the "
                "view's query, or the CREATE statements that rebuild it)")
        self.require(schema_editor)
        if re.match(r"^\s*CREATE\b", self.reverse_sql, re.IGNORECASE):
            from dorm.migrations.operations.special import run_sql

            run_sql(schema_editor, self.reverse_sql, None)
        else:
            schema_editor.execute(f"CREATE MATERIALIZED VIEW {self._view(schema_editor)} AS "
                                  f"{self.reverse_sql}")

    def describe(self):
        return f"Drop materialized view {self.name}"

    @property
    def migration_name_fragment(self):
        return name_fragment("drop_matview", self.name)


class RefreshMaterializedView(_ViewOperation):
    """See the module docstring."""

    def __init__(self, name, *, concurrently=False):
        self.name = check_qualified_name(name, "RefreshMaterializedView name")
        self.concurrently = bool(concurrently)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self.require(schema_editor)
        schema_editor.execute(f"REFRESH MATERIALIZED VIEW {'CONCURRENTLY ' if self.concurrently else ''}"
                              f"{self._view(schema_editor)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        """Nothing to undo (the data is whatever the last refresh computed)."""

    def describe(self):
        return f"Refresh materialized view {self.name}" + (" concurrently" if self.concurrently else "")

    @property
    def migration_name_fragment(self):
        return name_fragment("refresh_matview", self.name)


VIEW_PARTITION_OPERATIONS = [
    CreateMaterializedView, DropMaterializedView, RefreshMaterializedView,
    CreatePartitionedTable, CreatePartition, AttachPartition, DetachPartition,
]
