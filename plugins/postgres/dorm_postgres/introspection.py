"""PostgreSQL introspection from ``pg_catalog`` (the schema of ``current_schema()``).

Shapes as documented in ``dorm.db.backends.base.introspection``. Extras used by
``inspectdb``: ``get_auto_columns(table)`` (identity and serial columns),
``get_sequences(table)`` and ``get_column_comments(table)``. Constraint entries carry
two more keys: ``"type"`` (``"p"``, ``"u"``, ``"f"``, ``"c"``, ``"x"`` for constraints,
``"i"`` for a plain index) and, for indexes, ``"method"`` (``btree``, ``gin``...).
"""
from __future__ import annotations

from dorm.db.backends.base.introspection import (
    BaseIntrospection,
    ColumnInfo,
    TableInfo,
    constraint_entry,
)

_ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

_TABLE_FILTER = ("JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = current_schema()")


class PostgresIntrospection(BaseIntrospection):
    # ---- tables --------------------------------------------------------------------
    def get_table_list(self) -> list[TableInfo]:
        rows = self.connection.execute(
            "SELECT c.relname, c.relkind FROM pg_catalog.pg_class c " + _TABLE_FILTER +
            " AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname", [])
        return [TableInfo(name, "v" if kind in ("v", "m") else "t") for name, kind in rows]

    def table_exists(self, table: str) -> bool:
        return bool(self.connection.execute(
            "SELECT 1 FROM pg_catalog.pg_class c " + _TABLE_FILTER +
            " AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname = %s", [table]))

    # ---- columns ---------------------------------------------------------------------
    def get_table_description(self, table: str) -> list[ColumnInfo]:
        rows = self.connection.execute(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "pg_catalog.pg_get_expr(d.adbin, d.adrelid), "
            "COALESCE((SELECT array_position(k.conkey, a.attnum) FROM pg_catalog.pg_constraint k "
            "          WHERE k.conrelid = c.oid AND k.contype = 'p'), 0) "
            "FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
            "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
            "WHERE n.nspname = current_schema() AND c.relname = %s AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum", [table])
        return [ColumnInfo(name, dtype, bool(null_ok), default, int(pk or 0))
                for name, dtype, null_ok, default, pk in rows]

    def get_auto_columns(self, table: str) -> dict[str, str]:
        """``{column: "identity" | "serial"}`` for columns filled by a sequence."""
        rows = self.connection.execute(
            "SELECT a.attname, a.attidentity, pg_catalog.pg_get_expr(d.adbin, d.adrelid) "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
            "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
            "WHERE n.nspname = current_schema() AND c.relname = %s AND a.attnum > 0 "
            "AND NOT a.attisdropped", [table])
        out = {}
        for name, identity, default in rows:
            if identity:
                out[name] = "identity"
            elif default and str(default).startswith("nextval("):
                out[name] = "serial"
        return out

    def get_sequences(self, table: str) -> list[dict]:
        """``[{"table", "column", "name"}]``: the sequences owned by ``table``'s columns."""
        rows = self.connection.execute(
            "SELECT s.relname, a.attname FROM pg_catalog.pg_class s "
            "JOIN pg_catalog.pg_depend d ON d.objid = s.oid AND d.classid = 'pg_catalog.pg_class'::regclass "
            "AND d.refclassid = 'pg_catalog.pg_class'::regclass "
            "JOIN pg_catalog.pg_class c ON c.oid = d.refobjid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid "
            "WHERE s.relkind = 'S' AND n.nspname = current_schema() AND c.relname = %s", [table])
        return [{"table": table, "column": column, "name": name} for name, column in rows]

    def get_column_comments(self, table: str) -> dict[str, str]:
        rows = self.connection.execute(
            "SELECT a.attname, pg_catalog.col_description(c.oid, a.attnum) "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
            "WHERE n.nspname = current_schema() AND c.relname = %s AND a.attnum > 0 "
            "AND NOT a.attisdropped AND pg_catalog.col_description(c.oid, a.attnum) IS NOT NULL",
            [table])
        return dict(rows)

    def get_table_comment(self, table: str) -> str | None:
        rows = self.connection.execute(
            "SELECT pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c "
            + _TABLE_FILTER + " AND c.relname = %s", [table])
        return rows[0][0] if rows else None

    # ---- constraints and indexes ------------------------------------------------------------
    def get_constraints(self, table: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        rows = self.connection.execute(
            "SELECT k.conname, k.contype, "
            "ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(num, pos) "
            "      JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num "
            "      ORDER BY u.pos), "
            "f.relname, "
            "(SELECT a.attname FROM pg_catalog.pg_attribute a "
            " WHERE a.attrelid = k.confrelid AND a.attnum = k.confkey[1]), "
            "k.confdeltype, pg_catalog.pg_get_constraintdef(k.oid, true) "
            "FROM pg_catalog.pg_constraint k "
            "JOIN pg_catalog.pg_class c ON c.oid = k.conrelid "
            "LEFT JOIN pg_catalog.pg_class f ON f.oid = k.confrelid "
            + _TABLE_FILTER + " AND c.relname = %s ORDER BY k.conname", [table])
        for name, kind, columns, ftable, fcolumn, deltype, definition in rows:
            columns = list(columns or ())
            if kind == "c":
                text = definition or ""
                if text.upper().startswith("CHECK "):
                    text = text[6:].strip()
                    if text.startswith("(") and text.endswith(")"):
                        text = text[1:-1]
                entry = constraint_entry(columns, check=True, definition=text)
            elif kind == "f":
                entry = constraint_entry(columns, foreign_key=(ftable, fcolumn),
                                         on_delete=_ON_DELETE.get(deltype, "NO ACTION"),
                                         definition=definition)
            else:
                entry = constraint_entry(columns, primary_key=kind == "p", unique=kind in ("p", "u"),
                                         index=kind in ("p", "u", "x"), definition=definition)
            entry["type"] = kind
            out[name] = entry
        rows = self.connection.execute(
            "SELECT ic.relname, i.indisunique, i.indisprimary, "
            "ARRAY(SELECT COALESCE(a.attname, '') FROM unnest(i.indkey, i.indoption) "
            "      WITH ORDINALITY AS u(num, opt, pos) "
            "      LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.num "
            "      WHERE u.pos <= i.indnkeyatts ORDER BY u.pos), "
            "ARRAY(SELECT CASE WHEN (u.opt::int & 1) = 1 THEN 'DESC' ELSE 'ASC' END "
            "      FROM unnest(i.indkey, i.indoption) WITH ORDINALITY AS u(num, opt, pos) "
            "      WHERE u.pos <= i.indnkeyatts ORDER BY u.pos), "
            "pg_catalog.pg_get_expr(i.indpred, i.indrelid), "
            "pg_catalog.pg_get_indexdef(i.indexrelid), am.amname "
            "FROM pg_catalog.pg_index i "
            "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
            "JOIN pg_catalog.pg_am am ON am.oid = ic.relam "
            "JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
            + _TABLE_FILTER + " AND c.relname = %s ORDER BY ic.relname", [table])
        for name, unique, primary, columns, orders, condition, definition, method in rows:
            existing = out.get(name)
            if existing is not None:
                existing["index"] = True
                existing["orders"] = list(orders or ())
                existing["method"] = method
                continue
            columns = [c for c in (columns or ())]
            entry = constraint_entry(columns, primary_key=bool(primary), unique=bool(unique),
                                     index=True, orders=list(orders or ()), condition=condition,
                                     definition=definition)
            entry["type"] = "i"
            entry["method"] = method
            out[name] = entry
        return out

    def get_referencing_tables(self, table: str) -> list[str]:
        rows = self.connection.execute(
            "SELECT DISTINCT c.relname FROM pg_catalog.pg_constraint k "
            "JOIN pg_catalog.pg_class c ON c.oid = k.conrelid "
            "JOIN pg_catalog.pg_class f ON f.oid = k.confrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE k.contype = 'f' AND n.nspname = current_schema() AND f.relname = %s "
            "ORDER BY c.relname", [table])
        return [r[0] for r in rows]
