"""SQLite introspection: ``sqlite_master`` and the ``pragma_*`` table-valued functions.

Constraint names that SQLite does not keep (column-level ``UNIQUE``/``CHECK``,
foreign keys) get stable synthetic names: ``__primary__``, ``<table>_<col>_unique``,
``<table>_<col>_check``, ``<table>_<cols>_fk``. Named table constraints
(``CONSTRAINT "x" CHECK (...)``) are read from the table's ``CREATE TABLE`` text.
"""
from __future__ import annotations

from dorm.db.backends.base.introspection import (
    BaseIntrospection,
    ColumnInfo,
    TableInfo,
    constraint_entry,
)


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'`":
        return name[1:-1].replace(name[0] * 2, name[0])
    if name.startswith("[") and name.endswith("]"):
        return name[1:-1]
    return name


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    parts, depth, current, quote = [], 0, [], None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == quote:
                if i + 1 < len(text) and text[i + 1] == quote:
                    current.append(text[i + 1])
                    i += 1
                else:
                    quote = None
        elif ch in "\"'`":
            quote = ch
            current.append(ch)
        elif ch == "(":
            depth += 1
            current.append(ch)
        elif ch == ")":
            depth -= 1
            current.append(ch)
        elif ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _tokens(text: str) -> list[str]:
    """Words, quoted names and parenthesised groups (kept whole)."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'`[":
            close = "]" if ch == "[" else ch
            j = i + 1
            while j < n:
                if text[j] == close:
                    if close != "]" and j + 1 < n and text[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            out.append(text[i:j + 1])
            i = j + 1
            continue
        if ch == "(":
            depth, j = 0, i
            while j < n:
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            out.append(text[i:j + 1])
            i = j + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in "(\"'`[":
            j += 1
        out.append(text[i:j])
        i = j
    return out


def _body(create_sql: str) -> str:
    start = create_sql.find("(")
    end = create_sql.rfind(")")
    return create_sql[start + 1:end] if start != -1 and end > start else ""


_TABLE_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}


class SQLiteIntrospection(BaseIntrospection):
    def get_table_list(self) -> list[TableInfo]:
        rows = self.connection.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        return [TableInfo(name, "v" if kind == "view" else "t") for name, kind in rows]

    def table_exists(self, table: str) -> bool:
        return bool(self.connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", [table]))

    def get_table_description(self, table: str) -> list[ColumnInfo]:
        rows = self.connection.execute(
            'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid',
            [table])
        return [ColumnInfo(name, dtype, not notnull, default, pk) for name, dtype, notnull, default, pk in rows]

    def _table_sql(self, table: str) -> str:
        rows = self.connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table])
        return rows[0][0] or "" if rows else ""

    def get_constraints(self, table: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        columns = self.get_table_description(table)
        pk = sorted((c for c in columns if c.pk), key=lambda c: c.pk)
        if pk:
            out["__primary__"] = constraint_entry([c.name for c in pk], primary_key=True, unique=True,
                                                  index=True)
        self._parse_create_table(table, out)
        # foreign keys
        groups: dict[int, list] = {}
        for fid, seq, ref_table, from_col, to_col, on_delete in self.connection.execute(
                'SELECT id, seq, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?) '
                "ORDER BY id, seq", [table]):
            groups.setdefault(fid, []).append((from_col, ref_table, to_col, on_delete))
        for items in groups.values():
            cols = [i[0] for i in items]
            name = f"{table}_{'_'.join(cols)}_fk"
            ref_table, to_col, on_delete = items[0][1], items[0][2], items[0][3]
            out[name] = constraint_entry(cols, foreign_key=(ref_table, to_col),
                                         on_delete=on_delete if on_delete != "NO ACTION" else "NO ACTION")
        # indexes (explicit ones and the automatic indexes of UNIQUE constraints)
        for _seq, name, unique, origin, partial in self.connection.execute(
                'SELECT seq, name, "unique", origin, partial FROM pragma_index_list(?)', [table]):
            cols, orders = [], []
            for col, desc in self.connection.execute(
                    "SELECT name, desc FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", [name]):
                cols.append(col)
                orders.append("DESC" if desc else "ASC")
            if origin == "pk":
                continue
            if origin == "u":
                # an automatic index: report it under the constraint's own name if known
                existing = next((k for k, v in out.items() if v["unique"] and v["columns"] == cols
                                 and not v["primary_key"]), None)
                if existing is not None:
                    out[existing]["index"] = True
                    continue
                out[f"{table}_{'_'.join(cols)}_unique"] = constraint_entry(cols, unique=True, index=True,
                                                                           orders=orders)
                continue
            sql_rows = self.connection.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", [name])
            definition = sql_rows[0][0] if sql_rows else None
            condition = None
            if partial and definition:
                upper = definition.upper()
                at = upper.rfind(" WHERE ")
                condition = definition[at + 7:].strip() if at != -1 else None
            out[name] = constraint_entry(cols, unique=bool(unique), index=True, orders=orders,
                                         condition=condition, definition=definition)
        return out

    def _parse_create_table(self, table: str, out: dict) -> None:
        """Named and unnamed UNIQUE/CHECK constraints from the CREATE TABLE text."""
        checks = 0
        for item in _split_top(_body(self._table_sql(table))):
            tokens = _tokens(item)
            if not tokens:
                continue
            head = tokens[0].upper()
            if head in _TABLE_CONSTRAINT_WORDS:
                name = None
                if head == "CONSTRAINT" and len(tokens) >= 3:
                    name, tokens = _unquote(tokens[1]), tokens[2:]
                kind = tokens[0].upper()
                if kind == "UNIQUE" and len(tokens) >= 2:
                    cols = [_unquote(c) for c in _split_top(tokens[1][1:-1])]
                    out[name or f"{table}_{'_'.join(cols)}_unique"] = constraint_entry(
                        cols, unique=True, definition=item)
                elif kind == "CHECK" and len(tokens) >= 2:
                    checks += 1
                    out[name or f"{table}_check_{checks}"] = constraint_entry(
                        [], check=True, definition=tokens[1][1:-1].strip())
                continue
            column = _unquote(tokens[0])
            upper = [t.upper() for t in tokens]
            for i, word in enumerate(upper):
                if word == "UNIQUE":
                    out[f"{table}_{column}_unique"] = constraint_entry([column], unique=True)
                elif word == "CHECK" and i + 1 < len(tokens):
                    name = f"{table}_{column}_check"
                    if i >= 2 and upper[i - 2] == "CONSTRAINT":
                        name = _unquote(tokens[i - 1])
                    out[name] = constraint_entry([column], check=True,
                                                 definition=tokens[i + 1][1:-1].strip())

    def get_referencing_tables(self, table: str) -> list[str]:
        rows = self.connection.execute(
            "SELECT DISTINCT m.name FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS fk "
            "WHERE m.type = 'table' AND fk.\"table\" = ? COLLATE NOCASE ORDER BY m.name", [table])
        return [r[0] for r in rows]
