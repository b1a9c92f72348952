"""DuckDB DDL: sequences for auto primary keys, and table rebuilds where ``ALTER
TABLE`` cannot do the change.

What DuckDB's ``ALTER TABLE`` can do (``docs/duckdb.md``): ``ADD COLUMN``,
``DROP COLUMN`` (not of a column in a key, UNIQUE or CHECK), ``RENAME COLUMN``,
``ALTER COLUMN TYPE``, ``SET/DROP DEFAULT``, ``SET/DROP NOT NULL``, ``RENAME TO`` —
and none of them while an index (``CREATE INDEX``) exists on the table. There is no
``ADD/DROP CONSTRAINT`` (UNIQUE, CHECK, FOREIGN KEY). Everything else is done by
rebuilding the table inside one transaction: ``CREATE TABLE new__<t>`` with the new
definition, ``INSERT ... SELECT`` the rows, ``DROP TABLE <t>``, rename, recreate the
indexes. Data, keys, unique and check constraints and indexes are preserved, and
the auto primary key keeps its sequence (moved past the largest key).

Auto primary keys: ``CREATE SEQUENCE "<table>_<col>_<hash>_seq"`` before the table
and ``DEFAULT nextval('...')`` on the column; the sequence is dropped with the table.

Foreign keys are emitted only with ``OPTIONS["foreign_keys"] = True`` and never with
an ``ON DELETE`` action (DuckDB has none; the ORM applies ``on_delete``).
"""
from __future__ import annotations

import dataclasses
import re

from dorm.db.backends.base.rebuild import TableRebuildMixin
from dorm.db.backends.base.schema import (
    BaseSchemaEditor,
    TableModel,
    _has_db_default,
    _is_expression,
)
from dorm.exceptions import NotSupportedError

_AUTO = ("AutoField", "BigAutoField", "SmallAutoField")
_NEXTVAL = re.compile(r"^nextval\('((?:[^']|'')+)'\)$")


def _is_auto(field) -> bool:
    return getattr(field, "primary_key", False) and field.get_internal_type() in _AUTO


class DuckDBSchemaEditor(TableRebuildMixin, BaseSchemaEditor):
    sql_delete_index = "DROP INDEX {if_exists}{name}"
    sql_create_sequence = "CREATE SEQUENCE {if_not_exists}{name}"
    sql_delete_sequence = "DROP SEQUENCE IF EXISTS {name}"

    # ---- foreign keys ---------------------------------------------------------------------------
    def _fk_target(self, info: TableModel, field):
        if not self.features.supports_foreign_keys:
            return None
        return super()._fk_target(info, field)

    def _references_sql(self, to_table, to_column, on_delete) -> str:
        # no ON DELETE actions in DuckDB: on_delete is applied by the ORM
        return self.sql_references.format(to_table=self.quote_name(to_table),
                                          to_column=self.quote_name(to_column), on_delete="")

    # ---- sequences ---------------------------------------------------------------------------------
    def sequence_name(self, info: TableModel, field) -> str:
        return self.object_name(info.name_base, [field.column], "seq")

    def _auto_fields(self, info: TableModel) -> list:
        if len(info.pk_columns) > 1:
            return []
        return [f for f in info.fields if _is_auto(f)]

    def _nextval(self, name: str) -> str:
        return "nextval(" + self.ops.quote_value(self.quote_name(name)) + ")"

    def _create_sequences(self, info: TableModel) -> None:
        for field in self._auto_fields(info):
            self.execute(self.sql_create_sequence.format(
                if_not_exists="IF NOT EXISTS ", name=self.quote_name(self.sequence_name(info, field))))

    def _table_sequences(self, table: str) -> list[str]:
        """Sequences named in the column defaults of ``table`` (as quoted names)."""
        if self.collect_sql:
            return []
        rows = self.connection.execute(
            "SELECT column_default FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND table_schema = current_schema() AND table_name = ? AND column_default LIKE 'nextval(%'",
            [table])
        out = []
        for (default,) in rows:
            m = _NEXTVAL.match(default or "")
            if m:
                out.append(m.group(1).replace("''", "'"))
        return out

    def _advance_sequence_sql(self, info: TableModel, field) -> str:
        """Move the sequence of ``field`` past the largest key in the table (never back):
        ``setval`` on DuckDB 2.0+, else as many ``nextval`` calls as needed."""
        seq = self.sequence_name(info, field)
        literal = self.ops.quote_value(self.quote_name(seq))
        last = ("coalesce((SELECT coalesce(last_value, start_value - 1) FROM duckdb_sequences() "
                "WHERE database_name = current_database() AND schema_name = current_schema() "
                f"AND sequence_name = {self.ops.quote_value(seq)}), 0)")
        top = f"(SELECT max({self.quote_name(field.column)}) FROM {self.quote_name(info.table)})"
        if self.features.supports_setval:
            return f"SELECT setval({literal}, m) FROM (SELECT {top} AS m) AS t WHERE m > {last}"
        return (f"SELECT max(nextval({literal})) FROM range(0, 10000000) AS r(i) "
                f"WHERE i < coalesce({top}, 0) - {last}")

    def column_sql(self, info: TableModel, field, *, include_pk: bool = True,
                   include_fk: bool = True) -> str | None:
        sql = super().column_sql(info, field, include_pk=include_pk, include_fk=include_fk)
        if sql is not None and include_pk and _is_auto(field) and len(info.pk_columns) <= 1 \
                and not _has_db_default(field):
            sql += " DEFAULT " + self._nextval(self.sequence_name(info, field))
        return sql

    # ---- tables ------------------------------------------------------------------------------------
    def create_model(self, model, if_not_exists: bool = False) -> None:
        info = self.table_model(model)
        self._create_sequences(info)
        super().create_model(model, if_not_exists=if_not_exists)

    def delete_model(self, model, if_exists: bool = False) -> None:
        for through in self._auto_through_models(model):
            self.delete_model(through, if_exists=if_exists)
        info = self.table_model(model)
        sequences = [self.quote_name(self.sequence_name(info, f)) for f in self._auto_fields(info)]
        for name in self._table_sequences(info.table):
            quoted = name if name.startswith('"') else self.quote_name(name)
            if quoted not in sequences:
                sequences.append(quoted)
        self.execute(self.sql_delete_table.format(
            if_exists="IF EXISTS " if if_exists else "", table=self.quote_name(info.table)))
        for name in sequences:
            self.execute(self.sql_delete_sequence.format(name=name))

    def alter_db_table(self, model, old_db_table: str, new_db_table: str) -> None:
        if old_db_table == new_db_table:
            return
        info = self.table_model(model)
        old = dataclasses.replace(info, table=old_db_table, naming_table=None)
        self._check_not_referenced(old)
        new = dataclasses.replace(info, table=new_db_table, naming_table=None)
        if not self._has_indexes(old) and not self._auto_fields(old):
            self.execute(self.sql_rename_table.format(old_table=self.quote_name(old_db_table),
                                                      new_table=self.quote_name(new_db_table)))
            return
        self.remake_table(old, new, self._copy_mapping(new))

    # ---- the rebuild -------------------------------------------------------------------------------
    def _check_not_referenced(self, info: TableModel) -> None:
        """DuckDB can neither ALTER nor DROP a table that other tables' foreign keys
        reference (only with ``OPTIONS["foreign_keys"]``): say so clearly."""
        if self.collect_sql or not self.features.supports_foreign_keys:
            return
        referencing = [t for t in self.connection.introspection.get_referencing_tables(info.table)
                       if t != info.table]
        if referencing:
            raise NotSupportedError(
                f"DuckDB cannot alter table {info.table!r}: tables "
                f"{', '.join(map(repr, referencing))} have foreign keys to it (DuckDB refuses to "
                "alter or rebuild a referenced table); drop those tables' constraints first, or "
                "use OPTIONS['foreign_keys'] = False (the default)")

    def _has_indexes(self, info: TableModel) -> bool:
        """Whether ``CREATE INDEX`` objects exist on the table (they block ALTER TABLE)."""
        if self.collect_sql:
            return bool(info.indexes) or any(self._wants_index(f) for f in info.fields)
        rows = self.connection.execute(
            "SELECT 1 FROM duckdb_indexes() WHERE database_name = current_database() AND "
            "schema_name = current_schema() AND table_name = ? LIMIT 1", [info.table])
        return bool(rows)

    def remake_table(self, old: TableModel, new: TableModel, mapping: dict[str, str]) -> None:
        """Rebuild ``old.table`` as ``new`` (same or new name). ``mapping`` maps each new
        column to a SQL expression over the old table's columns (absent columns get
        their default)."""
        self._check_not_referenced(old)
        old_sequences = [self.quote_name(self.sequence_name(old, f)) for f in self._auto_fields(old)]
        for name in self._table_sequences(old.table):
            quoted = name if name.startswith('"') else self.quote_name(name)
            if quoted not in old_sequences:
                old_sequences.append(quoted)
        new_sequences = [self.quote_name(self.sequence_name(new, f)) for f in self._auto_fields(new)]
        temp = f"new__{new.table}"
        staged = dataclasses.replace(new, table=temp, naming_table=new.name_base)
        create_sql, _ = self.table_sql(staged)
        _, follow_ups = self.table_sql(new)
        columns = list(mapping)
        statements = [self.sql_create_sequence.format(if_not_exists="IF NOT EXISTS ", name=name)
                      for name in new_sequences]
        statements += [
            self.sql_delete_table.format(if_exists="IF EXISTS ", table=self.quote_name(temp)),
            create_sql,
        ]
        if columns:
            statements.append("INSERT INTO {new} ({cols}) SELECT {exprs} FROM {old}".format(
                new=self.quote_name(temp), cols=", ".join(self.quote_name(c) for c in columns),
                exprs=", ".join(mapping[c] for c in columns), old=self.quote_name(old.table)))
        statements.append(self.sql_delete_table.format(if_exists="", table=self.quote_name(old.table)))
        statements += [self.sql_delete_sequence.format(name=name) for name in old_sequences
                       if name not in new_sequences]
        statements.append(self.sql_rename_table.format(old_table=self.quote_name(temp),
                                                       new_table=self.quote_name(new.table)))
        statements += follow_ups
        statements += [self._advance_sequence_sql(new, f) for f in self._auto_fields(new)]
        if self.collect_sql:
            for sql in statements:
                self.execute(sql)
            return
        from dorm.transaction import Atomic

        with Atomic(self.connection):
            for sql in statements:
                self.execute(sql)

    # ---- fields --------------------------------------------------------------------------------------
    def add_field(self, model, field, new_field=None) -> None:
        if new_field is not None:
            field = new_field
        info = self.table_model(model)
        if field.db_type(self.connection) is None:
            return self._add_m2m(model, field)
        self._check_not_referenced(info)
        if self._can_add_column(info, field):
            return super().add_field(model, field)
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

    def _can_add_column(self, info: TableModel, field) -> bool:
        if getattr(field, "primary_key", False):
            return False
        if not self.features.supports_add_column_constraints and (
                not getattr(field, "null", False) or getattr(field, "unique", False)
                or self.field_check_sql(field)):
            return False
        if self._fk_target(info, field) is not None:
            return False
        if _has_db_default(field) and _is_expression(field.db_default):
            return False
        return not self._has_indexes(info)

    def remove_field(self, model, field) -> None:
        info = self.table_model(model)
        field = self._resolve_field(info, field)
        if field.db_type(self.connection) is None:
            return super().remove_field(model, field)
        self._check_not_referenced(info)
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
        structural = (getattr(field, "primary_key", False) or getattr(field, "unique", False)
                      or self.field_check_sql(field) or self._fk_target(info, field) is not None
                      or len(new.unique_together) != len(info.unique_together)
                      or len(new.constraints) != len(info.constraints) or info.constraints)
        if not structural and not self._has_indexes(info):
            return super().remove_field(model, field)
        self.remake_table(info, new, self._copy_mapping(new))

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
            return
        self._check_not_referenced(info)
        if self._native_alter_ok(info, old_field, new_field, same_index):
            return super().alter_field(info, old_field, new_field, strict=strict)
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
        if old_type != new_type:
            source = f"CAST({source} AS {new_field.cast_db_type(self.connection) or new_type})"
        if getattr(old_field, "null", False) and not getattr(new_field, "null", False):
            literal = self._literal_default(new_field)
            if literal is None and _has_db_default(new_field) and not _is_expression(new_field.db_default):
                literal = self.default_sql(new, new_field)
            if literal is not None:
                source = f"COALESCE({source}, {literal})"
        mapping[new_field.column] = source
        self.remake_table(info, new, mapping)

    def _native_alter_ok(self, info: TableModel, old_field, new_field, same_index: bool) -> bool:
        """ALTER COLUMN statements suffice: the change touches only the column's type,
        name, nullability or default, and no index blocks ALTER TABLE."""
        if not same_index or self._wants_index(new_field):
            return False
        if getattr(old_field, "null", False) and not getattr(new_field, "null", False):
            # DuckDB refuses SET NOT NULL after an UPDATE in the same transaction ("Cannot
            # create index with outstanding updates"): the rebuild fills NULLs while copying
            return False
        for attr in ("primary_key", "unique"):
            if getattr(old_field, attr, False) or getattr(new_field, attr, False):
                return False
        if self.field_check_sql(old_field) or self.field_check_sql(new_field):
            return False
        if self._fk_target(info, old_field) is not None or self._fk_target(info, new_field) is not None:
            return False
        names = {getattr(old_field, "name", None), getattr(old_field, "attname", None), old_field.column}
        if any(names & set(u) for u in info.unique_together) or info.constraints:
            return False
        if _has_db_default(new_field) and _is_expression(new_field.db_default):
            return False
        return not self._has_indexes(info)

    # ---- warnings ------------------------------------------------------------------------------------
    def _warn_lossy(self, info: TableModel) -> None:
        for field in info.fields:
            if field.get_internal_type() == "DecimalField" and (getattr(field, "max_digits", 0) or 0) > 38:
                raise NotSupportedError(
                    f"{info.table}.{field.column}: DecimalField(max_digits={field.max_digits}) exceeds "
                    "DuckDB's widest DECIMAL (38 digits)")

    # ---- schema-change bookkeeping ----------------------------------------------------------------
    def _finish(self) -> None:
        shared = getattr(self.connection, "shared", None)
        if shared is not None and hasattr(shared, "schema_changed"):
            shared.schema_changed()
