"""The recursive walk as a ``dorm.CTE`` whose SQL is written per connection.

Shape (``<name>`` is the name the CTE is attached under)::

    "<name>" AS (
      WITH RECURSIVE "<name>__walk" AS (
        SELECT <cols>, 0 AS depth, <path>, FALSE AS is_cycle, <key> AS via
          FROM <table> WHERE <key> = %s                     -- the start row
        UNION ALL
        SELECT r.<cols>, w.depth + 1, w.path || <r.key> || ',',
               <r.key already on w.path> AS is_cycle, w.<key>
          FROM <table> r JOIN "<name>__walk" w ON <edge>
         WHERE NOT w.is_cycle [AND w.depth < %s]            -- stop below a repeat
      )
      SELECT <cols>, depth, is_cycle, via FROM "<name>__walk" [WHERE ...]
    )

The recursion lives in a nested ``WITH RECURSIVE`` so the CTE works under any name
(``qs.with_cte(anything=cte)``) and PostgreSQL's ``CYCLE`` clause has a place to go.

Cycle guard: a row whose key is already on its path is emitted once with
``is_cycle = TRUE`` and not expanded, so a cycle in the data ends the walk. With
``connection.features.supports_cte_cycle_clause`` (PostgreSQL >= 14) the native
``CYCLE <key> SET is_cycle USING <path>`` clause does this; elsewhere the path is a
text column ``,1,4,9,`` (non-integer keys are escaped so a separator inside a key
cannot fake a match) and membership is tested with ``REPLACE(path, needle, '') <> path``,
which works on SQLite, PostgreSQL and DuckDB alike (no LIKE wildcards to escape).
"""
from __future__ import annotations

from dorm import CTE
from dorm.exceptions import NotSupportedError

from .spec import TreeSpec

DOWN, UP = "descendants", "ancestors"
GUARDS = ("auto", "path", "native")


def uses_native_cycle(connection, cycle_guard, path_column=None) -> bool:
    native = bool(getattr(connection.features, "supports_cte_cycle_clause", False))
    if cycle_guard == "native":
        if not native:
            raise NotSupportedError(
                f"cycle_guard='native' needs the SQL CYCLE clause, which {connection.display_name} "
                "does not support (features.supports_cte_cycle_clause); use 'auto' or 'path'")
        if path_column:
            raise ValueError("cycle_field= exposes the portable text path: use cycle_guard='auto' or 'path'")
        return True
    if cycle_guard == "path" or path_column:
        return False
    return native


class TreeCTE(CTE):
    """A recursive walk over ``spec``; see the module docstring. Build it with
    ``descendants_cte()`` / ``ancestors_cte()``."""

    recursive = False  # the recursion is nested inside; the outer WITH needs no RECURSIVE

    def __init__(self, spec: TreeSpec, *, direction, start, columns, name, max_depth=None,
                 include_start=True, keep_cycle_rows=True, cycle_guard="auto", path_column=None):
        if direction not in (DOWN, UP):
            raise ValueError(f"direction must be {DOWN!r} or {UP!r}")
        if cycle_guard not in GUARDS:
            raise ValueError(f"cycle_guard must be one of {', '.join(GUARDS)}, got {cycle_guard!r}")
        self.spec, self.direction, self.start = spec, direction, start
        self.model_columns = list(columns)
        self.name = name
        self.max_depth = max_depth
        self.include_start, self.keep_cycle_rows = include_start, keep_cycle_rows
        self.cycle_guard, self.path_column = cycle_guard, path_column
        self.columns = [f.column for f in self.model_columns] + ["depth", "is_cycle", "via"] + (
            [path_column] if path_column else [])

    # ``dorm.CTE`` exposes ``sql``/``params``; here they depend on the connection.
    @property
    def sql(self):
        """The SQL for the default database (``%s`` placeholders), for reading."""
        from dorm.db import connections

        return self.render(connections["default"])[0]

    @property
    def params(self):
        from dorm.db import connections

        return self.render(connections["default"])[1]

    def as_cte_sql(self, compiler, connection):
        sql, params = self.render(connection)
        return compiler.convert_placeholders(sql), params

    def render(self, connection):
        """``(sql, params)`` of the CTE body for ``connection`` (``%s`` placeholders)."""
        spec = self.spec
        ops = connection.ops
        qn = ops.quote_name
        table = qn(spec.table)
        walk = qn(f"{self.name}__walk")
        key, parent = qn(spec.key.column), qn(spec.parent.column)
        depth, is_cycle, via = qn("depth"), qn("is_cycle"), qn("via")
        path = qn(f"{self.name}__path")
        cols = [qn(f.column) for f in self.model_columns]
        anchor_cols = ", ".join(cols)
        step_cols = ", ".join(f"r.{c}" for c in cols)
        edge = f"r.{parent} = w.{key}" if self.direction == DOWN else f"r.{key} = w.{parent}"
        start = spec.key.get_db_prep_value(self.start, connection)
        params = [start]
        limit = ""
        if self.max_depth is not None:
            limit = f" AND w.{depth} < %s"
        native = uses_native_cycle(connection, self.cycle_guard, self.path_column)
        if native:
            body = (
                f"SELECT {anchor_cols}, 0, {key} FROM {table} WHERE {key} = %s "
                f"UNION ALL SELECT {step_cols}, w.{depth} + 1, w.{key} "
                f"FROM {table} r JOIN {walk} w ON {edge}"
                + (f" WHERE w.{depth} < %s" if self.max_depth is not None else ""))
            names = ", ".join([*cols, depth, via])
            recursive = (f"WITH RECURSIVE {walk} ({names}) AS ({body}) "
                         f"CYCLE {key} SET {is_cycle} USING {path}")
        else:
            text = connection.data_types.get("TextField") or "TEXT"

            def enc(expr):
                sql = ops.cast_sql(expr, text)
                if not spec.integer_key:  # keep the separator out of the encoded key
                    sql = f"REPLACE(REPLACE({sql}, '~', '~t'), ',', '~c')"
                return sql

            sep = "','"
            r_key = enc(f"r.{key}")
            needle = ops.concat_sql([sep, r_key, sep])
            body = (
                f"SELECT {anchor_cols}, 0 AS {depth}, {ops.concat_sql([sep, enc(key), sep])} AS {path}, "
                f"FALSE AS {is_cycle}, {key} AS {via} FROM {table} WHERE {key} = %s "
                f"UNION ALL SELECT {step_cols}, w.{depth} + 1, {ops.concat_sql([f'w.{path}', r_key, sep])}, "
                f"CASE WHEN REPLACE(w.{path}, {needle}, '') <> w.{path} THEN TRUE ELSE FALSE END, "
                f"w.{key} FROM {table} r JOIN {walk} w ON {edge} WHERE NOT w.{is_cycle}{limit}")
            recursive = f"WITH RECURSIVE {walk} AS ({body})"
        if self.max_depth is not None:
            params.append(self.max_depth)
        out_cols = [*cols, depth, is_cycle, via]
        if self.path_column:
            out_cols.append(f"{path} AS {qn(self.path_column)}")
        where = []
        if not self.include_start:
            where.append(f"{depth} > 0")
        if not self.keep_cycle_rows:
            where.append(f"NOT {is_cycle}")
        select = f"SELECT {', '.join(out_cols)} FROM {walk}"
        if where:
            select += " WHERE " + " AND ".join(where)
        return f"{recursive} {select}", params

    def __repr__(self):
        return (f"<TreeCTE {self.name}: {self.direction} of {self.spec.name} "
                f"{self.spec.key.name}={self.start!r}>")
