"""DDL: create, alter and drop tables, columns, indexes and constraints.

``connection.schema_editor()`` returns a ``BaseSchemaEditor`` (or the backend's
subclass). Use it as a context manager: the block runs in one ``atomic()`` when
the backend ``supports_transactional_ddl`` (and ``atomic=True``, the default);
deferred statements (foreign keys added by ``ALTER TABLE`` on backends without
forward references) run at the end of the block.

What it reads from a model (``docs/internals.md``): ``_meta.db_table``,
``_meta.local_fields``, ``_meta.indexes``, ``_meta.constraints``,
``_meta.unique_together``, ``_meta.pk`` (a composite primary key exposes
``field_names``), and per field ``column``, ``db_type(connection)`` (``None`` = no
column), ``null``, ``primary_key``, ``unique``, ``db_index``, ``db_default``,
``db_check(connection)``, ``remote_field`` (``model``, ``field_name``, ``on_delete``),
``db_constraint``, ``get_internal_type()``.

Rules:

* every identifier goes through ``ops.quote_name``; DDL cannot bind parameters,
  so the few values it contains (``db_default`` literals, CHECK and partial-index
  conditions) are inlined by ``ops.quote_value`` / ``ops.compose_sql``, never ``str()``;
* column ``DEFAULT`` comes only from ``db_default`` (a Python ``default`` is applied
  by the ORM, and used once to fill existing rows when a NOT NULL column is added);
* default index and constraint names are deterministic (table, columns and a
  hash; at most ``ops.max_name_length()`` characters), identical at create and drop;
* conditions (``Q`` objects) compile through ``dorm.query.compiler.compile_where``
  with unqualified column names.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

from dorm.exceptions import FieldDoesNotExist, NotSupportedError

logger = logging.getLogger("dorm.db.schema")

_ON_DELETE = {"CASCADE": "CASCADE", "PROTECT": "RESTRICT", "RESTRICT": "RESTRICT",
              "SET NULL": "SET NULL", "SET_NULL": "SET NULL", "SET DEFAULT": "SET DEFAULT",
              "SET_DEFAULT": "SET DEFAULT", "DO_NOTHING": "NO ACTION", "NO ACTION": "NO ACTION"}


def on_delete_sql(on_delete) -> str | None:
    """The ``ON DELETE`` action for an ``on_delete`` value (spec §2.6: PROTECT →
    RESTRICT, DO_NOTHING → NO ACTION). Accepts the string constants or callables
    named like Django's."""
    if on_delete is None:
        return None
    if isinstance(on_delete, str):
        key = on_delete
    else:
        key = getattr(on_delete, "sql", None) or getattr(on_delete, "__name__", None) or ""
    action = _ON_DELETE.get(str(key).strip().upper())
    if action is None:
        raise ValueError(f"unknown on_delete value {on_delete!r}")
    return action


def _has_db_default(field) -> bool:
    has = getattr(field, "has_db_default", None)
    if callable(has):
        return bool(has())
    value = getattr(field, "db_default", None)
    return value is not None and repr(value) != "NOT_PROVIDED" and \
        getattr(value, "__name__", "") != "NOT_PROVIDED"


def _is_expression(value) -> bool:
    return hasattr(value, "as_sql") or hasattr(value, "resolve_expression")


@dataclasses.dataclass
class TableModel:
    """What the schema editor knows about one table, taken from a model and
    modified by ALTER operations (SQLite rebuilds tables from it)."""

    source: Any                     # the model class (conditions compile against it)
    table: str
    fields: list                    # column-bearing fields, table order
    pk_columns: list
    unique_together: list
    indexes: list
    constraints: list
    #: old field name -> field, after a rename (so indexes naming it still resolve)
    aliases: dict = dataclasses.field(default_factory=dict)
    #: table name used to derive default object names (a rebuild stages the table
    #: under a temporary name but keeps the final names)
    naming_table: str | None = None

    @property
    def name_base(self) -> str:
        return self.naming_table or self.table

    def field(self, name: str):
        for f in self.fields:
            if name in (getattr(f, "name", None), getattr(f, "attname", None), f.column):
                return f
        if name in self.aliases:
            return self.aliases[name]
        raise FieldDoesNotExist(f"{self.table} has no field named {name!r}")

    def column(self, name: str) -> str:
        return self.field(name).column

    def has_column(self, column: str) -> bool:
        return any(f.column == column for f in self.fields)


class BaseSchemaEditor:
    """See module docstring. ``collect_sql=True`` records statements in
    ``collected_sql`` instead of running them (``dorm sqlmigrate``)."""

    sql_create_table = "CREATE TABLE {if_not_exists}{table} ({definition})"
    sql_delete_table = "DROP TABLE {if_exists}{table}"
    sql_rename_table = "ALTER TABLE {old_table} RENAME TO {new_table}"
    sql_add_column = "ALTER TABLE {table} ADD COLUMN {definition}"
    sql_drop_column = "ALTER TABLE {table} DROP COLUMN {column}"
    sql_rename_column = "ALTER TABLE {table} RENAME COLUMN {old_column} TO {new_column}"
    sql_alter_column_type = "ALTER TABLE {table} ALTER COLUMN {column} TYPE {type}"
    sql_alter_column_null = "ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL"
    sql_alter_column_not_null = "ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL"
    sql_alter_column_default = "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}"
    sql_alter_column_no_default = "ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT"
    sql_create_index = "CREATE {unique}INDEX {if_not_exists}{name} ON {table} ({columns}){condition}"
    sql_delete_index = "DROP INDEX {if_exists}{name}"
    #: A backend that can build/drop an index without blocking writes sets these
    #: (PostgreSQL: ``CREATE INDEX CONCURRENTLY``; such statements cannot run in a
    #: transaction). ``None``: ``concurrently=True`` is ignored.
    sql_create_index_concurrently: str | None = None
    sql_delete_index_concurrently: str | None = None
    sql_add_constraint = "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
    sql_drop_constraint = "ALTER TABLE {table} DROP CONSTRAINT {name}"
    sql_references = "REFERENCES {to_table} ({to_column}){on_delete}"
    sql_foreign_key = "FOREIGN KEY ({column}) " + sql_references

    def __init__(self, connection, atomic: bool = True, collect_sql: bool = False):
        self.connection = connection
        self.ops = connection.ops
        self.features = connection.features
        self.atomic_ddl = atomic and self.features.supports_transactional_ddl
        self.collect_sql = collect_sql
        self.collected_sql: list[str] = []
        self.deferred_sql: list[str] = []
        self._atomic = None

    # ---- context -------------------------------------------------------------------------
    def __enter__(self):
        self.deferred_sql = []
        self._prepare()
        if self.atomic_ddl and not self.collect_sql:
            from dorm.transaction import Atomic

            self._atomic = Atomic(self.connection)
            try:
                self._atomic.__enter__()
            except BaseException:
                self._atomic = None
                self._finish()
                raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                for sql in self.deferred_sql:
                    self.execute(sql)
                self.deferred_sql = []
                self._before_commit()
            except BaseException as err:
                try:
                    if self._atomic is not None:
                        self._atomic.__exit__(type(err), err, err.__traceback__)
                finally:
                    self._atomic = None
                    self._finish()
                raise
        try:
            if self._atomic is not None:
                self._atomic.__exit__(exc_type, exc, tb)
        finally:
            self._atomic = None
            self._finish()
        return False

    def _prepare(self) -> None:
        """Backend hook run before the block's transaction starts."""

    def _before_commit(self) -> None:
        """Backend hook run at the end of a successful block, inside its transaction."""

    def _finish(self) -> None:
        """Backend hook run after the block's transaction ended (always)."""

    # ---- statements -----------------------------------------------------------------------
    def execute(self, sql: str, params=()) -> None:
        """Run one DDL statement (or record it with ``collect_sql``)."""
        if self.collect_sql:
            text = self.ops.compose_sql(sql, params) if params else sql
            self.collected_sql.append(text.rstrip(";") + ";")
            return
        self.connection.execute_write(sql, params or ())

    def quote_name(self, name: str) -> str:
        return self.ops.quote_name(name)

    # ---- reading models ----------------------------------------------------------------------
    def table_model(self, model) -> TableModel:
        """The ``TableModel`` of ``model`` (or return it unchanged if it is one)."""
        if isinstance(model, TableModel):
            return model
        meta = model._meta
        fields = [f for f in getattr(meta, "local_fields", ())
                  if f.db_type(self.connection) is not None]
        pk = getattr(meta, "pk", None)
        names = getattr(pk, "field_names", None) if pk is not None and pk not in fields else None
        if names:
            by_name = {getattr(f, "name", None): f for f in fields}
            pk_columns = [by_name[n].column if n in by_name else n for n in names]
        else:
            pk_columns = [f.column for f in fields if getattr(f, "primary_key", False)]
        unique_together = list(getattr(meta, "unique_together", None) or ())
        if unique_together and isinstance(unique_together[0], str):
            unique_together = [tuple(unique_together)]
        return TableModel(
            source=model, table=meta.db_table, fields=fields, pk_columns=pk_columns,
            unique_together=[tuple(u) for u in unique_together],
            indexes=list(getattr(meta, "indexes", None) or ()),
            constraints=list(getattr(meta, "constraints", None) or ()),
        )

    def _resolve_field(self, info: TableModel, field_or_name):
        if isinstance(field_or_name, str):
            return info.field(field_or_name)
        return field_or_name

    # ---- names -----------------------------------------------------------------------------------
    def object_name(self, table: str, columns, suffix: str) -> str:
        """Deterministic name ``<table>_<columns>_<hash>_<suffix>`` within
        ``ops.max_name_length()``; the same for the same input, at create and drop."""
        columns = list(columns)
        # same algorithm as dorm.models.indexes.default_name (keep them in step)
        digest = hashlib.sha256("|".join([table, *columns, suffix]).encode()).hexdigest()[:8]
        limit = self.ops.max_name_length()
        base = f"{table}_{'_'.join(columns)}"
        room = limit - len(digest) - len(suffix) - 2
        return f"{base[:max(room, 1)]}_{digest}_{suffix}"

    def index_name(self, info: TableModel, index) -> str:
        name = getattr(index, "name", None)
        if name:
            return name
        columns = [self._index_column_name(info, f)[0] for f in getattr(index, "fields", ())]
        return self.object_name(info.name_base, columns, "idx")

    def _index_column_name(self, info: TableModel, spec: str) -> tuple[str, str]:
        descending = spec.startswith("-")
        return info.column(spec[1:] if descending else spec), "DESC" if descending else ""

    # ---- column definitions -------------------------------------------------------------------------
    def field_check_sql(self, field) -> str | None:
        """CHECK expression for a field: ``field.db_check(connection)``, else the
        backend's ``data_type_check_constraints`` template."""
        db_check = getattr(field, "db_check", None)
        if callable(db_check):
            return db_check(self.connection)
        template = self.connection.data_type_check_constraints.get(field.get_internal_type())
        return template % {"column": field.column} if template else None

    def default_sql(self, info: TableModel, field) -> str:
        """SQL of ``field.db_default``: an inlined literal or a parenthesised expression."""
        value = field.db_default
        if _is_expression(value):
            sql, params = self._compile_expression(info, value)
            return "(" + self.ops.compose_sql(sql, params) + ")"
        return self.ops.quote_value(self._prep(field, value))

    def _prep(self, field, value):
        prep = getattr(field, "get_db_prep_value", None)
        if prep is None:
            return value
        return prep(value, self.connection)

    def effective_default(self, field):
        """The value used to fill existing rows when a NOT NULL column is added:
        the Python ``default`` (callables called once), prepared for the database."""
        has_default = getattr(field, "has_default", None)
        if callable(has_default) and has_default():
            return self._prep(field, field.get_default())
        return None

    def _fk_target(self, info: TableModel, field):
        """``(to_table, to_column, on_delete)`` or ``None`` (no relation / no constraint)."""
        remote = getattr(field, "remote_field", None)
        if remote is None or not getattr(field, "db_constraint", True):
            return None
        if getattr(field, "many_to_many", False):
            return None
        target = getattr(remote, "model", None)
        if target is None or isinstance(target, str):
            raise ValueError(f"the relation of {info.table}.{field.column} is not resolved ({target!r})")
        target_info = self.table_model(target) if target is not info.source else info
        field_name = getattr(remote, "field_name", None)
        if field_name:
            to_column = target_info.column(field_name)
        elif target_info.pk_columns and len(target_info.pk_columns) == 1:
            to_column = target_info.pk_columns[0]
        else:
            raise ValueError(f"cannot reference {target_info.table}: it has no single-column primary key")
        return target_info.table, to_column, on_delete_sql(getattr(remote, "on_delete", None))

    def _references_sql(self, to_table, to_column, on_delete) -> str:
        return self.sql_references.format(
            to_table=self.quote_name(to_table), to_column=self.quote_name(to_column),
            on_delete=f" ON DELETE {on_delete}" if on_delete else "",
        )

    def _inline_fk(self, info: TableModel, to_table: str) -> bool:
        return (self.features.supports_forward_references or to_table == info.table
                or not self.features.supports_alter_table_constraints)

    def column_sql(self, info: TableModel, field, *, include_pk: bool = True,
                   include_fk: bool = True) -> str | None:
        """``"col" TYPE [PRIMARY KEY [suffix]] [NOT NULL] [UNIQUE] [DEFAULT …] [CHECK (…)]
        [REFERENCES …]``, or ``None`` for a field without a column."""
        db_type = field.db_type(self.connection)
        if db_type is None:
            return None
        parts = [self.quote_name(field.column), db_type]
        is_pk = include_pk and getattr(field, "primary_key", False) and len(info.pk_columns) <= 1
        if is_pk:
            parts.append("PRIMARY KEY")
            suffix = self.connection.data_types_suffix.get(field.get_internal_type())
            if suffix:
                parts.append(suffix)
        if not getattr(field, "null", False) or getattr(field, "primary_key", False):
            parts.append("NOT NULL")
        if getattr(field, "unique", False) and not getattr(field, "primary_key", False):
            parts.append("UNIQUE")
        if _has_db_default(field):
            parts.append("DEFAULT " + self.default_sql(info, field))
        check = self.field_check_sql(field)
        if check:
            parts.append(f"CHECK ({check})")
        if include_fk:
            target = self._fk_target(info, field)
            if target is not None and self._inline_fk(info, target[0]):
                parts.append(self._references_sql(*target))
        return " ".join(parts)

    # ---- conditions and expressions -------------------------------------------------------------
    def _compile_condition(self, info: TableModel, condition) -> str:
        """A ``Q`` condition as inline SQL (unqualified columns, values inlined)."""
        if isinstance(condition, str):
            raise TypeError("conditions must be Q objects, not SQL strings")
        from dorm.query.compiler import compile_where

        sql, params = compile_where(info.source, condition, self.connection)
        return self.ops.compose_sql(sql, params)

    def _compile_expression(self, info: TableModel, expression):
        try:
            from dorm.query.compiler import compile_expression
        except ImportError:
            compile_expression = None
        if compile_expression is not None:
            return compile_expression(info.source, expression, self.connection)
        from dorm.query.compiler import SQLCompiler

        return SQLCompiler(None, self.connection).compile(expression)

    # ---- constraints and indexes (SQL) -----------------------------------------------------------
    def unique_together_sql(self, info: TableModel, names) -> tuple[str, str]:
        """``(name, "UNIQUE (cols)")`` for one ``unique_together`` entry."""
        columns = [info.column(n) for n in names]
        name = self.object_name(info.name_base, columns, "uniq")
        cols = ", ".join(self.quote_name(c) for c in columns)
        return name, f"UNIQUE ({cols})"

    def named(self, name: str, definition: str) -> str:
        return f"CONSTRAINT {self.quote_name(name)} {definition}"

    def constraint_sql(self, info: TableModel, constraint, *, if_not_exists: bool = False) -> tuple[str, str]:
        """``("table", definition)`` for a table-level constraint (without the
        ``CONSTRAINT name`` prefix), or ``("index", CREATE INDEX statement)`` for one
        implemented as an index (a conditional unique constraint). A constraint object
        may provide its own ``constraint_sql(table_model, schema_editor)`` returning the
        same pair (plugins: exclusion constraints), or ``("none", "")`` when it has no
        SQL on this backend (the schema editor then creates and drops nothing)."""
        custom = getattr(constraint, "constraint_sql", None)
        if callable(custom):
            return custom(info, self, if_not_exists=if_not_exists)
        name = getattr(constraint, "name", None)
        if not name:
            raise ValueError(f"{constraint!r} needs a name")
        fields = list(getattr(constraint, "fields", None) or ())
        if getattr(constraint, "expressions", None):
            raise NotSupportedError(f"constraint {name!r}: expression-based unique constraints "
                                    f"are not supported on {self.connection.display_name}")
        for attr in ("include", "opclasses", "deferrable"):
            if getattr(constraint, attr, None):
                raise NotSupportedError(f"constraint {name!r}: {attr}= is not supported on "
                                        f"{self.connection.display_name}")
        if fields:
            columns = [info.column(f) for f in fields]
            cols = ", ".join(self.quote_name(c) for c in columns)
            condition = getattr(constraint, "condition", None)
            if condition is not None:
                if not self.features.supports_partial_indexes:
                    raise NotSupportedError(f"conditional unique constraint {name!r} needs partial "
                                            f"indexes, which {self.connection.display_name} lacks")
                return "index", self.sql_create_index.format(
                    unique="UNIQUE ", if_not_exists=self._if_not_exists(if_not_exists),
                    name=self.quote_name(name),
                    table=self.quote_name(info.table), columns=cols,
                    condition=" WHERE " + self._compile_condition(info, condition),
                    using="", include="",  # placeholders a backend's template may add
                )
            return "table", f"UNIQUE ({cols})"
        check = getattr(constraint, "check", None)
        if check is None:
            check = getattr(constraint, "condition", None)
        if check is not None:
            return "table", f"CHECK ({self._compile_condition(info, check)})"
        raise TypeError(f"unsupported constraint {constraint!r} (expected CheckConstraint or UniqueConstraint)")

    def index_sql(self, info: TableModel, index, *, if_not_exists: bool = False,
                  concurrently: bool = False) -> str:
        custom = getattr(index, "create_sql", None)
        if callable(custom):
            return custom(info, self)
        if getattr(index, "expressions", None):
            raise NotSupportedError(f"expression indexes are not supported by the "
                                    f"{self.connection.display_name} schema editor yet")
        if getattr(index, "include", None) and not self.features.supports_covering_indexes:
            raise NotSupportedError(f"covering indexes (include=) are not supported on "
                                    f"{self.connection.display_name}")
        fields = list(getattr(index, "fields", None) or ())
        if not fields:
            raise ValueError(f"{index!r} has no fields")
        parts = []
        for spec in fields:
            column, order = self._index_column_name(info, spec)
            parts.append(self.quote_name(column) + (f" {order}" if order else ""))
        condition = getattr(index, "condition", None)
        where = ""
        if condition is not None:
            if not self.features.supports_partial_indexes:
                raise NotSupportedError(f"partial indexes are not supported on {self.connection.display_name}")
            where = " WHERE " + self._compile_condition(info, condition)
        template = self.sql_create_index
        if concurrently and self.sql_create_index_concurrently:
            template = self.sql_create_index_concurrently
        return template.format(
            unique="UNIQUE " if getattr(index, "unique", False) else "",
            if_not_exists=self._if_not_exists(if_not_exists), name=self.quote_name(self.index_name(info, index)),
            table=self.quote_name(info.table), columns=", ".join(parts), condition=where,
        )

    def _field_index_sql(self, info: TableModel, field, *, if_not_exists: bool = False) -> str:
        name = self.object_name(info.name_base, [field.column], "idx")
        return self.sql_create_index.format(
            unique="", if_not_exists=self._if_not_exists(if_not_exists), name=self.quote_name(name),
            table=self.quote_name(info.table), columns=self.quote_name(field.column), condition="",
            using="", include="",
        )

    def _wants_index(self, field) -> bool:
        return (getattr(field, "db_index", False) and not getattr(field, "unique", False)
                and not getattr(field, "primary_key", False))

    def _if_not_exists(self, flag: bool) -> str:
        return "IF NOT EXISTS " if flag and self.features.supports_create_if_not_exists else ""

    def _fk_constraint_sql(self, info: TableModel, field, target) -> str:
        name = self.object_name(info.name_base, [field.column], "fk")
        definition = self.sql_foreign_key.format(
            column=self.quote_name(field.column), to_table=self.quote_name(target[0]),
            to_column=self.quote_name(target[1]),
            on_delete=f" ON DELETE {target[2]}" if target[2] else "",
        )
        return self.sql_add_constraint.format(table=self.quote_name(info.table),
                                              name=self.quote_name(name), definition=definition)

    # ---- tables ----------------------------------------------------------------------------------
    def table_sql(self, info: TableModel, *, if_not_exists: bool = False) -> tuple[str, list[str]]:
        """``(CREATE TABLE statement, follow-up statements)``: the follow-ups create
        indexes and conditional unique constraints; foreign keys that cannot be inline
        are appended to ``deferred_sql``."""
        items, after = [], []
        for field in info.fields:
            items.append(self.column_sql(info, field))
            target = self._fk_target(info, field)
            if target is not None and not self._inline_fk(info, target[0]):
                self.deferred_sql.append(self._fk_constraint_sql(info, field, target))
        if len(info.pk_columns) > 1:
            items.append("PRIMARY KEY (" + ", ".join(self.quote_name(c) for c in info.pk_columns) + ")")
        for names in info.unique_together:
            items.append(self.named(*self.unique_together_sql(info, names)))
        for constraint in info.constraints:
            kind, sql = self.constraint_sql(info, constraint, if_not_exists=if_not_exists)
            if kind == "table":
                items.append(self.named(constraint.name, sql))
            elif kind != "none":
                after.append(sql)
        for field in info.fields:
            if self._wants_index(field):
                after.append(self._field_index_sql(info, field, if_not_exists=if_not_exists))
        for index in info.indexes:
            after.append(self.index_sql(info, index, if_not_exists=if_not_exists))
        sql = self.sql_create_table.format(
            if_not_exists=self._if_not_exists(if_not_exists), table=self.quote_name(info.table),
            definition=", ".join(items),
        )
        return sql, after

    def column_created(self, table: str, fields) -> None:
        """Let each field run its extra DDL now that its column exists in ``table``
        (``Field.after_column_created``: GIS registers geometry columns and builds
        spatial indexes there). Hooks must be idempotent (``CREATE TABLE IF NOT EXISTS``
        may meet an existing table)."""
        for field in fields:
            hook = getattr(field, "after_column_created", None)
            if hook is not None:
                hook(self, table)

    def column_dropping(self, table: str, fields) -> None:
        """Let each field undo its extra DDL before its column leaves ``table``
        (``Field.before_column_dropped``); must tolerate a missing table or column."""
        for field in fields:
            hook = getattr(field, "before_column_dropped", None)
            if hook is not None:
                hook(self, table)

    def create_model(self, model, if_not_exists: bool = False) -> None:
        """CREATE TABLE with columns, keys, constraints and indexes (and the tables of
        auto-created many-to-many ``through`` models)."""
        info = self.table_model(model)
        self._warn_lossy(info)
        sql, after = self.table_sql(info, if_not_exists=if_not_exists)
        self.execute(sql)
        for statement in after:
            self.execute(statement)
        self.column_created(info.table, info.fields)
        for through in self._auto_through_models(model):
            self.create_model(through, if_not_exists=if_not_exists)

    def delete_model(self, model, if_exists: bool = False) -> None:
        """DROP TABLE (and the tables of auto-created ``through`` models first)."""
        for through in self._auto_through_models(model):
            self.delete_model(through, if_exists=if_exists)
        info = self.table_model(model)
        self.column_dropping(info.table, info.fields)
        self.execute(self.sql_delete_table.format(
            if_exists="IF EXISTS " if if_exists else "", table=self.quote_name(info.table)))

    def _auto_through_models(self, model) -> list:
        if isinstance(model, TableModel):
            return []
        out = []
        for field in getattr(model._meta, "fields", ()):
            if not getattr(field, "many_to_many", False):
                continue
            through = getattr(getattr(field, "remote_field", None), "through", None)
            if through is not None and not isinstance(through, str) and \
                    getattr(getattr(through, "_meta", None), "auto_created", False):
                out.append(through)
        return out

    def _warn_lossy(self, info: TableModel) -> None:
        """Backend hook: warn about columns the database stores lossily."""

    def alter_db_table(self, model, old_db_table: str, new_db_table: str) -> None:
        if old_db_table == new_db_table:
            return
        fields = self.table_model(model).fields
        self.column_dropping(old_db_table, fields)
        self.execute(self.sql_rename_table.format(old_table=self.quote_name(old_db_table),
                                                  new_table=self.quote_name(new_db_table)))
        self.column_created(new_db_table, fields)

    # ---- fields -------------------------------------------------------------------------------------
    def add_field(self, model, field, new_field=None) -> None:
        """Add a column: ``add_field(model, field)`` (or ``add_field(model, name, field)``)."""
        if new_field is not None:
            field = new_field
        info = self.table_model(model)
        if field.db_type(self.connection) is None:
            return self._add_m2m(model, field)
        if not getattr(field, "null", False) and not _has_db_default(field):
            default = self.effective_default(field)
            if default is not None:
                # fill existing rows once, then drop the temporary default
                definition = self.column_sql(info, field, include_fk=False) + \
                    " DEFAULT " + self.ops.quote_value(default)
                self.execute(self.sql_add_column.format(table=self.quote_name(info.table), definition=definition))
                self.execute(self.sql_alter_column_no_default.format(
                    table=self.quote_name(info.table), column=self.quote_name(field.column)))
                self._add_field_extras(info, field)
                return
        self.execute(self.sql_add_column.format(table=self.quote_name(info.table),
                                                definition=self.column_sql(info, field, include_fk=False)))
        self._add_field_extras(info, field)

    def _add_field_extras(self, info: TableModel, field) -> None:
        target = self._fk_target(info, field)
        if target is not None:
            self.deferred_sql.append(self._fk_constraint_sql(info, field, target))
        if self._wants_index(field):
            self.execute(self._field_index_sql(info, field))
        self.column_created(info.table, [field])

    def _add_m2m(self, model, field) -> None:
        through = getattr(getattr(field, "remote_field", None), "through", None)
        if through is not None and getattr(getattr(through, "_meta", None), "auto_created", False):
            self.create_model(through)

    def remove_field(self, model, field) -> None:
        """Drop a column: ``remove_field(model, field)`` or ``remove_field(model, "name")``."""
        info = self.table_model(model)
        field = self._resolve_field(info, field)
        if field.db_type(self.connection) is None:
            through = getattr(getattr(field, "remote_field", None), "through", None)
            if through is not None and getattr(getattr(through, "_meta", None), "auto_created", False):
                self.delete_model(through)
            return
        self.column_dropping(info.table, [field])
        self.execute(self.sql_drop_column.format(table=self.quote_name(info.table),
                                                 column=self.quote_name(field.column)))

    def rename_field(self, model, old_field, new_field) -> None:
        """Rename a column whose definition is otherwise unchanged."""
        info = self.table_model(model)
        old_field = self._resolve_field(info, old_field)
        if old_field.column == new_field.column:
            return
        self.column_dropping(info.table, [old_field])
        self.execute(self.sql_rename_column.format(
            table=self.quote_name(info.table), old_column=self.quote_name(old_field.column),
            new_column=self.quote_name(new_field.column)))
        self.column_created(info.table, [new_field])

    def _definition_key(self, info: TableModel, field) -> tuple:
        """Everything about a column except its name (to detect a pure rename)."""
        return (field.db_type(self.connection), bool(getattr(field, "null", False)),
                bool(getattr(field, "primary_key", False)), bool(getattr(field, "unique", False)),
                self.default_sql(info, field) if _has_db_default(field) else None,
                self.field_check_sql(field), self._fk_target(info, field))

    def alter_field(self, model, old_field, new_field, strict: bool = False) -> None:
        """Change a column to match ``new_field`` (``old_field`` may be a field name).

        The base implementation issues ``ALTER TABLE ... ALTER COLUMN`` statements;
        backends that cannot (``features.requires_table_rebuild_for_alter``) override it.
        """
        info = self.table_model(model)
        old_field = self._resolve_field(info, old_field)
        old_type, new_type = old_field.db_type(self.connection), new_field.db_type(self.connection)
        if old_type is None or new_type is None:
            if old_type is None and new_type is None:
                return
            raise ValueError("cannot alter a field with a column into one without (or back); "
                             "remove and add the field instead")
        table = self.quote_name(info.table)
        constraints = None if self.collect_sql else self.connection.introspection.get_constraints(info.table)
        # plugin DDL around the column (Field.after_column_created) is redone when the
        # column's name, type or own arguments change
        redo_column_ddl = (old_field.column != new_field.column or old_type != new_type
                           or old_field._deconstruct_extra() != new_field._deconstruct_extra())
        if redo_column_ddl:
            self.column_dropping(info.table, [old_field])

        def drop_matching(predicate):
            for name, c in (constraints or {}).items():
                if c["columns"] == [old_field.column] and predicate(c) and not c["primary_key"]:
                    if c["index"] and not c["unique"]:
                        self.execute(self.sql_delete_index.format(if_exists="", name=self.quote_name(name)))
                    else:
                        self.execute(self.sql_drop_constraint.format(table=table, name=self.quote_name(name)))

        old_fk, new_fk = self._fk_target(info, old_field), self._fk_target(info, new_field)
        if old_fk and old_fk != new_fk:
            drop_matching(lambda c: bool(c["foreign_key"]))
        if getattr(old_field, "unique", False) and not getattr(new_field, "unique", False):
            drop_matching(lambda c: c["unique"])
        if self._wants_index(old_field) and not self._wants_index(new_field):
            drop_matching(lambda c: c["index"] and not c["unique"])
        old_check, new_check = self.field_check_sql(old_field), self.field_check_sql(new_field)
        if old_check and old_check != new_check:
            drop_matching(lambda c: c["check"])

        column = self.quote_name(old_field.column)
        if old_field.column != new_field.column:
            self.rename_field(info, old_field, new_field)
            column = self.quote_name(new_field.column)
        if old_type != new_type:
            self.execute(self.sql_alter_column_type.format(table=table, column=column, type=new_type))
        old_default = self.default_sql(info, old_field) if _has_db_default(old_field) else None
        new_default = self.default_sql(info, new_field) if _has_db_default(new_field) else None
        if old_default != new_default:
            if new_default is None:
                self.execute(self.sql_alter_column_no_default.format(table=table, column=column))
            else:
                self.execute(self.sql_alter_column_default.format(table=table, column=column,
                                                                  default=new_default))
        old_null, new_null = bool(getattr(old_field, "null", False)), bool(getattr(new_field, "null", False))
        if old_null and not new_null:
            fill = self.effective_default(new_field)
            if fill is not None:
                self.execute(f"UPDATE {table} SET {column} = {self.ops.quote_value(fill)} WHERE {column} IS NULL")
            self.execute(self.sql_alter_column_not_null.format(table=table, column=column))
        elif new_null and not old_null:
            self.execute(self.sql_alter_column_null.format(table=table, column=column))
        if getattr(new_field, "unique", False) and not getattr(old_field, "unique", False):
            name = self.object_name(info.table, [new_field.column], "uniq")
            self.execute(self.sql_add_constraint.format(
                table=table, name=self.quote_name(name), definition=f"UNIQUE ({column})"))
        if new_check and new_check != old_check:
            name = self.object_name(info.table, [new_field.column], "check")
            self.execute(self.sql_add_constraint.format(
                table=table, name=self.quote_name(name), definition=f"CHECK ({new_check})"))
        if new_fk and old_fk != new_fk:
            self.deferred_sql.append(self._fk_constraint_sql(info, new_field, new_fk))
        if self._wants_index(new_field) and not self._wants_index(old_field):
            self.execute(self._field_index_sql(info, new_field))
        if redo_column_ddl:
            self.column_created(info.table, [new_field])

    # ---- indexes and constraints ------------------------------------------------------------------
    def add_index(self, model, index, concurrently: bool = False) -> None:
        """CREATE INDEX; ``concurrently=True`` uses ``sql_create_index_concurrently``
        where the backend has it (else a plain CREATE INDEX)."""
        info = self.table_model(model)
        if concurrently and self.sql_create_index_concurrently:
            self.execute(self.index_sql(info, index, concurrently=True))
        else:
            self.execute(self.index_sql(info, index))

    def remove_index(self, model, index, concurrently: bool = False) -> None:
        info = self.table_model(model)
        template = self.sql_delete_index
        if concurrently and self.sql_delete_index_concurrently:
            template = self.sql_delete_index_concurrently
        self.execute(template.format(if_exists="", name=self.quote_name(self.index_name(info, index))))

    def add_constraint(self, model, constraint) -> None:
        info = self.table_model(model)
        kind, sql = self.constraint_sql(info, constraint)
        if kind == "none":
            return
        if kind == "index":
            self.execute(sql)
            return
        self.execute(self.sql_add_constraint.format(table=self.quote_name(info.table),
                                                    name=self.quote_name(constraint.name), definition=sql))

    def remove_constraint(self, model, constraint) -> None:
        info = self.table_model(model)
        kind, _ = self.constraint_sql(info, constraint)
        if kind == "none":
            return
        if kind == "index":
            self.execute(self.sql_delete_index.format(if_exists="", name=self.quote_name(constraint.name)))
            return
        self.execute(self.sql_drop_constraint.format(table=self.quote_name(info.table),
                                                     name=self.quote_name(constraint.name)))

    def alter_unique_together(self, model, old_unique_together, new_unique_together) -> None:
        info = self.table_model(model)
        old = {tuple(u) for u in (old_unique_together or ())}
        new = {tuple(u) for u in (new_unique_together or ())}
        for names in sorted(old - new):
            name, _ = self.unique_together_sql(info, names)
            self.execute(self.sql_drop_constraint.format(table=self.quote_name(info.table),
                                                         name=self.quote_name(name)))
        for names in sorted(new - old):
            name, definition = self.unique_together_sql(info, names)
            self.execute(self.sql_add_constraint.format(table=self.quote_name(info.table),
                                                        name=self.quote_name(name), definition=definition))
