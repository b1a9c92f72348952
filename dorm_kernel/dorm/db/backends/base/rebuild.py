"""Schema changes by table rebuild, for databases whose ``ALTER TABLE`` cannot add or
drop constraints (SQLite, DuckDB).

A schema editor mixes ``TableRebuildMixin`` in before ``BaseSchemaEditor`` and
implements ``remake_table(old, new, mapping)``: rebuild ``old.table`` as the
``TableModel`` ``new``, filling each new column from the SQL expression
``mapping[column]`` over the old table, inside one transaction.
"""
from __future__ import annotations

import dataclasses


class TableRebuildMixin:
    def remake_table(self, old, new, mapping: dict[str, str]) -> None:
        raise NotImplementedError

    def _copy_mapping(self, info, skip=()) -> dict[str, str]:
        """Every column copied as is (except ``skip``)."""
        return {f.column: self.quote_name(f.column) for f in info.fields if f.column not in skip}

    def _literal_default(self, field) -> str | None:
        value = self.effective_default(field)
        return None if value is None else self.ops.quote_value(value)

    def add_constraint(self, model, constraint) -> None:
        info = self.table_model(model)
        kind, sql = self.constraint_sql(info, constraint)
        if kind == "none":
            return
        if kind == "index":
            self.execute(sql)
            return
        kept = [c for c in info.constraints if getattr(c, "name", None) != constraint.name]
        self.remake_table(info, dataclasses.replace(info, constraints=[*kept, constraint]),
                          self._copy_mapping(info))

    def remove_constraint(self, model, constraint) -> None:
        info = self.table_model(model)
        kind, _ = self.constraint_sql(info, constraint)
        if kind == "none":
            return
        if kind == "index":
            return super().remove_constraint(model, constraint)
        kept = [c for c in info.constraints if getattr(c, "name", None) != constraint.name]
        self.remake_table(info, dataclasses.replace(info, constraints=kept), self._copy_mapping(info))

    def alter_unique_together(self, model, old_unique_together, new_unique_together) -> None:
        info = self.table_model(model)
        new_list = [tuple(u) for u in (new_unique_together or ())]
        if {tuple(u) for u in (old_unique_together or ())} == set(new_list):
            return
        self.remake_table(info, dataclasses.replace(info, unique_together=new_list),
                          self._copy_mapping(info))
