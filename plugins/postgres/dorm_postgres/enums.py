"""PostgreSQL enum types and extensions as migration operations.

* ``CreatePGEnum(name, values)`` – ``CREATE TYPE "name" AS ENUM ('a', 'b')`` (skipped when
  the type already exists with the same values; a type of that name with other values
  is an error); backwards ``DROP TYPE IF EXISTS``.
* ``DropPGEnum(name, *, reverse_values=None)`` – ``DROP TYPE IF EXISTS``; reversible only
  with ``reverse_values``.
* ``AddPGEnumValue(type_name, value, *, before=None, after=None)`` –
  ``ALTER TYPE "t" ADD VALUE IF NOT EXISTS 'v' [BEFORE|AFTER 'x']``. Non-atomic
  (``atomic = False``): the migration must declare ``atomic = False`` (the autodetector
  writes it), so the value is committed before later operations use it. Irreversible
  (PostgreSQL cannot drop an enum value).
* ``RenamePGEnumValue(type_name, old, new)`` – ``ALTER TYPE "t" RENAME VALUE``; reversible.
* ``CreateExtension(name)`` – ``CREATE EXTENSION IF NOT EXISTS``; backwards
  ``DROP EXTENSION IF EXISTS``.

On other backends these are explicit no-ops: a native ``EnumField`` is a VARCHAR with a
``CHECK (col IN (...))`` there, whose values the ``AlterField`` the autodetector writes
next to ``AddPGEnumValue`` updates; HStore has a TEXT fallback; search raises.
None of them change the project state (enum values live in the fields' ``values=``).
"""
from __future__ import annotations

import re

from dorm.migrations.operations import Operation

_EXT = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _is_pg(schema_editor) -> bool:
    return getattr(schema_editor.connection, "vendor", None) == "postgresql"


def _qn(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _check_value(value, what="value") -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValueError(f"enum {what} must be a non-empty string, got {value!r}")
    if len(value.encode()) > 63:
        raise ValueError(f"enum {what} {value!r} is longer than 63 bytes (PostgreSQL's limit)")
    return value


def _check_name(name) -> str:
    if not isinstance(name, str) or not name or "\x00" in name or len(name.encode()) > 63:
        raise ValueError(f"invalid enum type name {name!r}")
    return name


def _existing_values(schema_editor, name):
    """The labels of enum type ``name`` in the current schema, or None if absent."""
    rows = schema_editor.connection.execute(
        "SELECT e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
        "WHERE t.typname = %s AND t.typnamespace = current_schema()::regnamespace "
        "ORDER BY e.enumsortorder", [name])
    if rows:
        return [r[0] for r in rows]
    exists = schema_editor.connection.execute(
        "SELECT 1 FROM pg_type WHERE typname = %s AND typnamespace = current_schema()::regnamespace",
        [name])
    return [] if exists else None


class _PGOperation(Operation):
    def state_forwards(self, app_label, state):
        pass

    def references_model(self, name, app_label):
        return False


class CreatePGEnum(_PGOperation):
    def __init__(self, name, values):
        self.name = _check_name(name)
        if isinstance(values, str) or not values:
            raise ValueError("CreatePGEnum needs a non-empty list of values")
        self.values = [_check_value(v) for v in values]
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"CreatePGEnum({name!r}): duplicate values")

    def _sql(self):
        return f"CREATE TYPE {_qn(self.name)} AS ENUM ({', '.join(_lit(v) for v in self.values)})"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not _is_pg(schema_editor):
            return
        if not getattr(schema_editor, "collect_sql", False):
            existing = _existing_values(schema_editor, self.name)
            if existing is not None:
                if existing == self.values:
                    return
                raise ValueError(f"type {self.name!r} already exists with values {existing}, "
                                 f"not {self.values}")
        schema_editor.execute(self._sql())

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _is_pg(schema_editor):
            schema_editor.execute(f"DROP TYPE IF EXISTS {_qn(self.name)}")

    def describe(self):
        return f"Create PostgreSQL enum type {self.name} ({', '.join(self.values)})"

    @property
    def migration_name_fragment(self):
        return f"create_enum_{self.name}"


class DropPGEnum(_PGOperation):
    def __init__(self, name, *, reverse_values=None):
        self.name = _check_name(name)
        self.reverse_values = None if reverse_values is None else [_check_value(v) for v in reverse_values]

    @property
    def reversible(self):
        return self.reverse_values is not None

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _is_pg(schema_editor):
            schema_editor.execute(f"DROP TYPE IF EXISTS {_qn(self.name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self.reverse_values is None:
            raise NotImplementedError(f"DropPGEnum({self.name!r}) cannot be reversed without "
                                      "reverse_values=[...]")
        CreatePGEnum(self.name, self.reverse_values).database_forwards(
            app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"Drop PostgreSQL enum type {self.name}"


class AddPGEnumValue(_PGOperation):
    atomic = False
    reversible = False

    def __init__(self, type_name, value, *, before=None, after=None):
        self.type_name = _check_name(type_name)
        self.value = _check_value(value)
        if before is not None and after is not None:
            raise ValueError("AddPGEnumValue: give before= or after=, not both")
        self.before = None if before is None else _check_value(before, "before")
        self.after = None if after is None else _check_value(after, "after")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not _is_pg(schema_editor):
            return
        sql = f"ALTER TYPE {_qn(self.type_name)} ADD VALUE IF NOT EXISTS {_lit(self.value)}"
        if self.before is not None:
            sql += f" BEFORE {_lit(self.before)}"
        elif self.after is not None:
            sql += f" AFTER {_lit(self.after)}"
        schema_editor.execute(sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        raise NotImplementedError(
            f"AddPGEnumValue({self.type_name!r}, {self.value!r}) cannot be reversed: PostgreSQL "
            "cannot remove a value from an enum type")

    def describe(self):
        return f"Add value {self.value!r} to PostgreSQL enum type {self.type_name}"

    @property
    def migration_name_fragment(self):
        return f"enum_{self.type_name}_add_{re.sub(r'[^a-z0-9]+', '_', self.value.lower())}"[:60]


class RenamePGEnumValue(_PGOperation):
    def __init__(self, type_name, old_value, new_value):
        self.type_name = _check_name(type_name)
        self.old_value = _check_value(old_value)
        self.new_value = _check_value(new_value)

    def _rename(self, schema_editor, old, new):
        if _is_pg(schema_editor):
            schema_editor.execute(f"ALTER TYPE {_qn(self.type_name)} RENAME VALUE {_lit(old)} TO {_lit(new)}")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._rename(schema_editor, self.old_value, self.new_value)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._rename(schema_editor, self.new_value, self.old_value)

    def describe(self):
        return f"Rename value {self.old_value!r} of {self.type_name} to {self.new_value!r}"


class CreateExtension(_PGOperation):
    """``CreateExtension("hstore")``: ``CREATE EXTENSION IF NOT EXISTS``; backwards
    ``DROP EXTENSION IF EXISTS`` (``drop_on_reverse=False`` keeps it). No-op elsewhere."""

    def __init__(self, name, *, drop_on_reverse=True):
        if not isinstance(name, str) or not _EXT.match(name):
            raise ValueError(f"invalid extension name {name!r}")
        self.name = name
        self.drop_on_reverse = drop_on_reverse

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _is_pg(schema_editor):
            schema_editor.execute(f"CREATE EXTENSION IF NOT EXISTS {_qn(self.name)}")
            _reset_type_cache(schema_editor)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _is_pg(schema_editor) and self.drop_on_reverse:
            schema_editor.execute(f"DROP EXTENSION IF EXISTS {_qn(self.name)}")

    def describe(self):
        return f"Create PostgreSQL extension {self.name}"

    @property
    def migration_name_fragment(self):
        return f"extension_{self.name.replace('-', '_')}"


def _reset_type_cache(schema_editor) -> None:
    """A new extension may bring types (hstore) whose adapters register per connection."""
    try:
        from .hstore import forget_hstore_oid

        forget_hstore_oid(schema_editor.connection)
    except Exception:  # noqa: BLE001, S110 - best effort
        pass


ENUM_OPERATIONS = [CreatePGEnum, DropPGEnum, AddPGEnumValue, RenamePGEnumValue, CreateExtension]
