"""SQLite DDL: what ``ALTER TABLE`` cannot do is done by rebuilding the table.

The rebuild follows https://sqlite.org/lang_altertable.html#otheralter: create
``new__<table>`` with the new definition, copy the rows, drop the old table, rename
the new one and recreate its indexes, all inside one ``atomic()`` block. Data,
indexes, unique/check constraints and foreign keys are preserved.

Dropping the old table would fire ``ON DELETE`` actions of tables referencing it,
so the schema editor switches ``PRAGMA foreign_keys`` off for its block (SQLite
only allows that outside a transaction) and runs ``PRAGMA foreign_key_check``
before committing. Inside an enclosing ``atomic()`` the switch is impossible: a
rebuild of a table that other tables reference then raises ``NotSupportedError``
instead of cascading deletes.
"""
from __future__ import annotations

import dataclasses
import logging

from dorm.db.backends.base.rebuild import TableRebuildMixin
from dorm.db.backends.base.schema import (
    BaseSchemaEditor,
    TableModel,
    _has_db_default,
    _is_expression,
)
from dorm.exceptions import IntegrityError, NotSupportedError

logger = logging.getLogger("dorm.db.backends.sqlite")


class SQLiteSchemaEditor(TableRebuildMixin, BaseSchemaEditor):
    sql_delete_index = "DROP INDEX {if_exists}{name}"

    def __init__(self, connection, atomic: bool = True, collect_sql: bool = False):
        super().__init__(connection, atomic=atomic, collect_sql=collect_sql)
        self._fk_disabled = False

    # ---- foreign key enforcement around the block --------------------------------------------
    def _foreign_keys_on(self) -> bool:
        return bool(self.connection.execute("PRAGMA foreign_keys")[0][0])

    def _prepare(self) -> None:
        if self.collect_sql or self.connection.in_atomic_block or self.connection.in_transaction:
            return
        if self._foreign_keys_on():
            self.connection.execute_write("PRAGMA foreign_keys = OFF")
            self._fk_disabled = True

    def _before_commit(self) -> None:
        if self._fk_disabled:
            problems = self.connection.execute("PRAGMA foreign_key_check")
            if problems:
                shown = ", ".join(f"{t} rowid {r} -> {p}" for t, r, p, _ in problems[:5])
                raise IntegrityError(
                    f"the schema change leaves {len(problems)} row(s) violating foreign keys: {shown}"
                )

    def _finish(self) -> None:
        if self._fk_disabled:
            self._fk_disabled = False
            self.connection.execute_write("PRAGMA foreign_keys = ON")

    # ---- warnings ------------------------------------------------------------------------------
    def _warn_lossy(self, info: TableModel) -> None:
        for field in info.fields:
            if field.get_internal_type() == "DecimalField" and (getattr(field, "max_digits", 0) or 0) > 15:
                logger.warning(
                    "%s.%s: DecimalField(max_digits=%s) on SQLite stores values exactly only up to "
                    "15 significant digits; longer values are rejected with DataError",
                    info.table, field.column, field.max_digits)

    # ---- the rebuild ------------------------------------------------------------------------------
    def remake_table(self, old: TableModel, new: TableModel, mapping: dict[str, str]) -> None:
        """Rebuild ``old.table`` as ``new`` (same or new name). ``mapping`` maps each new
        column to a SQL expression over the old table's columns (columns absent from
        it get their default)."""
        if not self.collect_sql and not self._fk_disabled and self._foreign_keys_on():
            referencing = self.connection.introspection.get_referencing_tables(old.table)
            if referencing:
                raise NotSupportedError(
                    f"SQLite must rebuild table {old.table!r} for this change, and tables "
                    f"{', '.join(map(repr, referencing))} reference it: run the schema change "
                    "outside atomic() so foreign-key enforcement can be switched off (SQLite "
                    "cannot switch it off inside a transaction)"
                )
        temp = f"new__{new.table}"
        staged = dataclasses.replace(new, table=temp, naming_table=new.name_base)
        create_sql, _ = self.table_sql(staged)
        _, follow_ups = self.table_sql(new)
        columns = list(mapping)
        statements = [
            create_sql,
            "INSERT INTO {new} ({cols}) SELECT {exprs} FROM {old}".format(
                new=self.quote_name(temp), cols=", ".join(self.quote_name(c) for c in columns),
                exprs=", ".join(mapping[c] for c in columns), old=self.quote_name(old.table)),
            self.sql_delete_table.format(if_exists="", table=self.quote_name(old.table)),
            self.sql_rename_table.format(old_table=self.quote_name(temp), new_table=self.quote_name(new.table)),
            *follow_ups,
        ]
        if self.collect_sql:
            self._remake(old, new, statements)
            return
        from dorm.transaction import Atomic

        with Atomic(self.connection):
            self._remake(old, new, statements)

    def _remake(self, old: TableModel, new: TableModel, statements) -> None:
        # plugin DDL of the columns (Field.before_column_dropped / after_column_created,
        # e.g. SpatiaLite geometry registration) is undone on the old table and redone
        # on the rebuilt one
        self.column_dropping(old.table, old.fields)
        for sql in statements:
            self.execute(sql)
        self.column_created(new.table, new.fields)

    # ---- fields --------------------------------------------------------------------------------------
    def add_field(self, model, field, new_field=None) -> None:
        if new_field is not None:
            field = new_field
        info = self.table_model(model)
        if field.db_type(self.connection) is None:
            return self._add_m2m(model, field)
        if self._can_add_column(field):
            self.execute(self.sql_add_column.format(table=self.quote_name(info.table),
                                                    definition=self.column_sql(info, field)))
            if self._wants_index(field):
                self.execute(self._field_index_sql(info, field))
            self.column_created(info.table, [field])
            return
        base = dataclasses.replace(info, fields=[f for f in info.fields if f.column != field.column])
        new = dataclasses.replace(base, fields=[*base.fields, field])
        if getattr(field, "primary_key", False):
            new.pk_columns = [field.column]
        mapping = self._copy_mapping(base)
        if not _has_db_default(field):
            literal = self._literal_default(field)
            if literal is not None:
                mapping[field.column] = literal
        self.remake_table(base, new, mapping)

    def _can_add_column(self, field) -> bool:
        """``ALTER TABLE ADD COLUMN`` works for a column that is not a key, not unique,
        and nullable or with a constant default."""
        if getattr(field, "primary_key", False) or getattr(field, "unique", False):
            return False
        has_default = _has_db_default(field)
        if has_default and _is_expression(field.db_default):
            return False
        if getattr(field, "remote_field", None) is not None and has_default:
            return False
        return bool(getattr(field, "null", False)) or has_default

    def remove_field(self, model, field) -> None:
        info = self.table_model(model)
        field = self._resolve_field(info, field)
        if field.db_type(self.connection) is None:
            return super().remove_field(model, field)
        names = {getattr(field, "name", None), getattr(field, "attname", None), field.column} - {None}
        new = dataclasses.replace(
            info,
            fields=[f for f in info.fields if f.column != field.column],
            pk_columns=[c for c in info.pk_columns if c != field.column],
            unique_together=[u for u in info.unique_together if not names & set(u)],
            indexes=[i for i in info.indexes
                     if not names & {n.lstrip("-") for n in getattr(i, "fields", ())}],
            constraints=[c for c in info.constraints
                         if not names & set(getattr(c, "fields", None) or ())],
        )
        self.remake_table(info, new, self._copy_mapping(new))

    def rename_field(self, model, old_field, new_field) -> None:
        if self.features.supports_column_rename:
            return super().rename_field(model, old_field, new_field)
        self.alter_field(model, old_field, new_field)

    def alter_field(self, model, old_field, new_field, strict: bool = False) -> None:
        info = self.table_model(model)
        old_field = self._resolve_field(info, old_field)
        old_type, new_type = old_field.db_type(self.connection), new_field.db_type(self.connection)
        if old_type is None or new_type is None:
            if old_type is None and new_type is None:
                return
            raise ValueError("cannot alter a field with a column into one without (or back); "
                             "remove and add the field instead")
        same_definition = self._definition_key(info, old_field) == self._definition_key(info, new_field)
        same_index = self._wants_index(old_field) == self._wants_index(new_field)
        renamed = old_field.column != new_field.column
        if same_definition and same_index and not renamed:
            if old_field._deconstruct_extra() != new_field._deconstruct_extra():
                # same column, other field arguments: redo the plugin DDL around it
                self.column_dropping(info.table, [old_field])
                self.column_created(info.table, [new_field])
            return
        if same_definition and same_index and renamed and self.features.supports_column_rename \
                and not self._wants_index(new_field) and not self._in_named_structures(info, old_field):
            return super().rename_field(info, old_field, new_field)
        new = dataclasses.replace(
            info,
            fields=[new_field if f.column == old_field.column else f for f in info.fields],
            pk_columns=[new_field.column if c == old_field.column else c for c in info.pk_columns],
            aliases={**info.aliases, **{n: new_field for n in (getattr(old_field, "name", None),
                                                             getattr(old_field, "attname", None))
                                        if n and n != getattr(new_field, "name", None)}},
        )
        mapping = self._copy_mapping(new, skip={new_field.column})
        source = self.quote_name(old_field.column)
        if getattr(old_field, "null", False) and not getattr(new_field, "null", False):
            literal = self._literal_default(new_field)
            if literal is None and _has_db_default(new_field) and not _is_expression(new_field.db_default):
                literal = self.default_sql(new, new_field)
            if literal is not None:
                source = f"COALESCE({source}, {literal})"
        mapping[new_field.column] = source
        self.remake_table(info, new, mapping)

    def _in_named_structures(self, info: TableModel, field) -> bool:
        """Whether an auto-named index or unique_together entry uses ``field`` (its
        deterministic name derives from the column, so a rename needs a rebuild)."""
        names = {getattr(field, "name", None), getattr(field, "attname", None), field.column} - {None}
        if any(names & set(u) for u in info.unique_together):
            return True
        return any(not getattr(i, "name", None) and names & {n.lstrip("-") for n in getattr(i, "fields", ())}
                   for i in info.indexes)
