"""Reading the live schema: tables, columns, indexes and constraints.

Drives ``dorm diff`` (models vs database), ``inspectdb`` and the schema editor where
it needs the database's own names (unnamed constraints). A backend plugin
subclasses ``BaseIntrospection``; the defaults query ``information_schema`` and
work on databases that implement it (tables and columns only).

Return shapes (stable, documented in ``docs/backends.md``):

* ``get_table_list()`` → ``[TableInfo(name, type)]``, ``type`` ``"t"`` (table) or ``"v"`` (view);
* ``get_table_description(table)`` → ``[ColumnInfo(name, type, null_ok, default, pk)]``
  in table order (``pk``: position in the primary key, 0 when not part of it;
  ``default``: the SQL text of the column default or ``None``);
* ``get_constraints(table)`` → ``{name: {"columns": [...], "primary_key": bool,
  "unique": bool, "foreign_key": (table, column) | None, "on_delete": str | None,
  "check": bool, "index": bool, "orders": [...], "condition": str | None,
  "definition": str | None}}``;
* ``get_indexes(table)`` → the entries of ``get_constraints`` with ``index`` true;
* ``get_relations(table)`` → ``{column: (referenced_column, referenced_table)}``.
"""
from __future__ import annotations

from typing import NamedTuple


class TableInfo(NamedTuple):
    name: str
    type: str          # "t" table, "v" view


class ColumnInfo(NamedTuple):
    name: str
    type: str          # declared type as the database reports it
    null_ok: bool
    default: str | None
    pk: int            # 1-based position in the primary key, 0 if not part of it


def constraint_entry(columns, *, primary_key=False, unique=False, foreign_key=None,
                     on_delete=None, check=False, index=False, orders=None, condition=None,
                     definition=None) -> dict:
    """One ``get_constraints`` value with every key present."""
    columns = list(columns)
    return {
        "columns": columns,
        "primary_key": primary_key,
        "unique": unique,
        "foreign_key": foreign_key,
        "on_delete": on_delete,
        "check": check,
        "index": index,
        "orders": list(orders) if orders is not None else ["ASC"] * len(columns),
        "condition": condition,
        "definition": definition,
    }


class BaseIntrospection:
    """Schema reader bound to one backend (``backend.introspection``)."""

    def __init__(self, connection):
        self.connection = connection

    # ---- tables ----------------------------------------------------------------------------
    def get_table_list(self) -> list[TableInfo]:
        rows = self.connection.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        )
        return [TableInfo(name, "v" if "VIEW" in str(kind).upper() else "t") for name, kind in rows]

    def table_names(self, include_views: bool = False) -> list[str]:
        return sorted(t.name for t in self.get_table_list() if include_views or t.type == "t")

    def table_exists(self, table: str) -> bool:
        return table in {t.name for t in self.get_table_list()}

    # ---- columns ---------------------------------------------------------------------------
    def get_table_description(self, table: str) -> list[ColumnInfo]:
        placeholder = self.connection.ops.placeholder
        rows = self.connection.execute(
            "SELECT column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns "
            f"WHERE table_schema = current_schema() AND table_name = {placeholder} "
            "ORDER BY ordinal_position",
            [table],
        )
        pk = {c: i + 1 for i, c in enumerate(self.get_primary_key_columns(table))}
        return [ColumnInfo(name, dtype, str(nullable).upper() == "YES", default, pk.get(name, 0))
                for name, dtype, nullable, default in rows]

    def get_primary_key_columns(self, table: str) -> list[str]:
        for entry in self.get_constraints(table).values():
            if entry["primary_key"]:
                return list(entry["columns"])
        return []

    # ---- constraints -------------------------------------------------------------------------
    def get_constraints(self, table: str) -> dict[str, dict]:
        raise NotImplementedError(f"{type(self).__name__} must implement get_constraints()")

    def get_indexes(self, table: str) -> dict[str, dict]:
        return {name: c for name, c in self.get_constraints(table).items() if c["index"]}

    def get_relations(self, table: str) -> dict[str, tuple[str, str]]:
        out = {}
        for entry in self.get_constraints(table).values():
            fk = entry["foreign_key"]
            if fk and len(entry["columns"]) == 1:
                out[entry["columns"][0]] = (fk[1], fk[0])
        return out

    def get_referencing_tables(self, table: str) -> list[str]:
        """Tables (other than views) with a foreign key to ``table`` (itself included)."""
        out = []
        for name in self.table_names():
            if any(c["foreign_key"] and c["foreign_key"][0] == table
                   for c in self.get_constraints(name).values()):
                out.append(name)
        return out
