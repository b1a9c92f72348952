"""DuckDB introspection: ``information_schema`` for tables and columns,
``duckdb_constraints()`` and ``duckdb_indexes()`` for keys, checks and indexes.

DuckDB keeps no constraint names: it reports its own (``<table>_<cols>_pkey``,
``_key`` for UNIQUE, ``_check``, ``_fkey``), so entries are matched by columns and
definition, not by the names the models gave. Index names are kept. DuckDB indexes
have no sort order (every ``orders`` entry is ``"ASC"``) and no ``WHERE`` part.
"""
from __future__ import annotations

from dorm.db.backends.base.introspection import (
    BaseIntrospection,
    ColumnInfo,
    TableInfo,
    constraint_entry,
)


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and quotes."""
    parts, depth, current, quote = [], 0, [], None
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _identifier(text: str) -> str | None:
    """The unquoted name if ``text`` is one (quoted or bare) identifier, else None."""
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if '"' not in inner.replace('""', ""):
            return inner.replace('""', '"')
        return None
    if text and (text[0].isalpha() or text[0] == "_") and all(c.isalnum() or c == "_" for c in text):
        return text
    return None


def index_columns(sql: str) -> list[str]:
    """Columns (or expression texts) of a ``CREATE INDEX ... ON table(...)`` statement."""
    body = sql.rstrip().rstrip(";").rstrip()
    if not body.endswith(")"):
        return []
    depth, i = 0, len(body) - 1
    while i >= 0:
        if body[i] == ")":
            depth += 1
        elif body[i] == "(":
            depth -= 1
            if depth == 0:
                break
        i -= 1
    out = []
    for part in _split_top(body[i + 1:-1]):
        words = part.rsplit(" ", 1)
        if len(words) == 2 and words[1].upper() in ("ASC", "DESC"):
            part = words[0]
        name = _identifier(part)
        out.append(name if name is not None else part)
    return out


class DuckDBIntrospection(BaseIntrospection):
    #: DuckDB renames CHECK constraints (``<table>_<col>_check``): ``dorm diff`` cannot
    #: look them up by the model's names
    reports_check_constraints = False
    _SCOPE = "database_name = current_database() AND schema_name = current_schema()"

    def get_table_list(self) -> list[TableInfo]:
        rows = self.connection.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = current_schema() "
            "ORDER BY table_name")
        return [TableInfo(name, "v" if "VIEW" in str(kind).upper() else "t") for name, kind in rows]

    def table_exists(self, table: str) -> bool:
        return bool(self.connection.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_schema = current_schema() AND table_name = ?", [table]))

    def get_table_description(self, table: str) -> list[ColumnInfo]:
        rows = self.connection.execute(
            "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position", [table])
        pk = {c: i + 1 for i, c in enumerate(self.get_primary_key_columns(table))}
        return [ColumnInfo(name, dtype, str(nullable).upper() == "YES", default, pk.get(name, 0))
                for name, dtype, nullable, default in rows]

    def get_primary_key_columns(self, table: str) -> list[str]:
        rows = self.connection.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE "
            f"{self._SCOPE} AND table_name = ? AND constraint_type = 'PRIMARY KEY'", [table])
        return list(rows[0][0]) if rows else []

    def get_sequences(self) -> list[str]:
        return [r[0] for r in self.connection.execute(
            f"SELECT sequence_name FROM duckdb_sequences() WHERE {self._SCOPE} ORDER BY sequence_name")]

    def get_constraints(self, table: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        rows = self.connection.execute(
            "SELECT constraint_type, constraint_name, constraint_column_names, expression, "
            "referenced_table, referenced_column_names, constraint_text FROM duckdb_constraints() "
            f"WHERE {self._SCOPE} AND table_name = ? ORDER BY constraint_index", [table])
        for kind, name, columns, expression, ref_table, ref_columns, text in rows:
            columns = list(columns or ())
            if kind == "PRIMARY KEY":
                out[name] = constraint_entry(columns, primary_key=True, unique=True, index=True)
            elif kind == "UNIQUE":
                out[name] = constraint_entry(columns, unique=True, index=True, definition=text)
            elif kind == "CHECK":
                out[name] = constraint_entry(columns, check=True, definition=expression)
            elif kind == "FOREIGN KEY":
                ref = (ref_table, next(iter(ref_columns or ()), None))
                out[name] = constraint_entry(columns, foreign_key=ref, on_delete="NO ACTION",
                                             definition=text)
        for name, unique, sql in self.connection.execute(
                "SELECT index_name, is_unique, sql FROM duckdb_indexes() WHERE "
                f"{self._SCOPE} AND table_name = ? ORDER BY index_name", [table]):
            columns = index_columns(sql or "")
            out[name] = constraint_entry(columns, unique=bool(unique), index=True, definition=sql)
        return out

    def get_referencing_tables(self, table: str) -> list[str]:
        rows = self.connection.execute(
            "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE "
            f"{self._SCOPE} AND constraint_type = 'FOREIGN KEY' AND referenced_table = ? "
            "ORDER BY table_name", [table])
        return [r[0] for r in rows]
