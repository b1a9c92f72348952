"""Model-level operations: create, delete, rename, table, options, unique_together,
indexes and constraints."""
from __future__ import annotations

import copy
import dataclasses

from dorm.migrations.state import (
    ALTER_OPTION_KEYS,
    ModelState,
    auto_through_models,
    default_table,
    make_key,
    split_label,
)

from .base import Operation


def _relation_targets(field, app_label: str) -> list[str]:
    """Model keys a field points at (``to`` and ``through``)."""
    if not getattr(field, "is_relation", False):
        return []
    from dorm.migrations.state import deconstruct_field

    _, _, _, kwargs = deconstruct_field(field)
    out = []
    for key in ("to", "through"):
        ref = kwargs.get(key)
        if isinstance(ref, str) and ref != "self":
            out.append(make_key(*split_label(ref, app_label)))
    return out


class ModelOperation(Operation):
    def __init__(self, name: str):
        self.name = name

    @property
    def name_lower(self) -> str:
        return self.name.lower()

    def references_model(self, name: str, app_label: str) -> bool:
        return name.lower() == self.name_lower

    def reduce(self, operation, app_label):
        result = super().reduce(operation, app_label)
        if result is not False:
            return result
        return not operation.references_model(self.name, app_label)


def sync_auto_through(schema_editor, old_model, new_model) -> None:
    """After a model's table or name changed: rename its auto-created junction tables
    and their columns to match ``new_model``'s."""
    old = {f.name: through for f, through in auto_through_models(old_model)}
    for field, new_through in auto_through_models(new_model):
        old_through = old.get(field.name)
        if old_through is not None:
            sync_through_tables(schema_editor, old_through, new_through)


def sync_through_tables(schema_editor, old_through, new_through) -> None:
    old_table, new_table = old_through._meta.db_table, new_through._meta.db_table
    if old_table != new_table:
        schema_editor.alter_db_table(new_through, old_table, new_table)
    old_fks = [f for f in old_through._meta.local_fields if not f.primary_key]
    new_fks = [f for f in new_through._meta.local_fields if not f.primary_key]
    info = schema_editor.table_model(old_through)
    info = dataclasses.replace(info, table=new_table)
    for old_fk, new_fk in zip(old_fks, new_fks):
        if old_fk.column != new_fk.column:
            schema_editor.alter_field(info, old_fk, new_fk)
            info = dataclasses.replace(
                info, fields=[new_fk if f.column == old_fk.column else f for f in info.fields])


class CreateModel(ModelOperation):
    """``CreateModel(name, fields=[(name, Field), ...], options={...})``: the table with
    its columns, keys, ``unique_together``, indexes, constraints and auto-created
    many-to-many tables."""

    def __init__(self, name: str, fields, options: dict | None = None, bases=None, managers=None):
        super().__init__(name)
        self.fields = list(fields.items()) if isinstance(fields, dict) else list(fields)
        self.options = dict(options or {})
        names = [n for n, _ in self.fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"CreateModel {name}: duplicate field name(s) {', '.join(duplicates)}")

    def deconstruct(self):
        kwargs = {"name": self.name, "fields": self.fields}
        options = {k: v for k, v in self.options.items() if v not in ([], (), None, {})}
        if options:
            kwargs["options"] = options
        return "dorm.migrations.operations.CreateModel", [], kwargs

    def state_forwards(self, app_label, state):
        if state.has_model(app_label, self.name):
            raise ValueError(f"CreateModel: model {app_label}.{self.name} already exists in the state")
        state.add_model(ModelState(app_label, self.name, list(self.fields), copy.copy(self.options)))

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor, model):
            schema_editor.create_model(model)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor, model):
            schema_editor.delete_model(model)

    def describe(self):
        return f"Create model {self.name}"

    @property
    def migration_name_fragment(self):
        return self.name_lower

    def references_model(self, name, app_label):
        if name.lower() == self.name_lower:
            return True
        key = make_key(app_label, name)
        return any(key in _relation_targets(f, app_label) for _, f in self.fields)

    def _with(self, fields=None, options=None):
        return CreateModel(self.name, fields if fields is not None else self.fields,
                           options if options is not None else self.options)

    def reduce(self, operation, app_label):
        from .fields import AddField, AlterField, RemoveField, RenameField

        same = getattr(operation, "name_lower", None) == self.name_lower or \
            getattr(operation, "model_name_lower", None) == self.name_lower
        if isinstance(operation, DeleteModel) and same:
            return []
        if isinstance(operation, RenameModel) and operation.old_name_lower == self.name_lower:
            return [CreateModel(operation.new_name, self.fields, self.options)]
        if same and isinstance(operation, AddField):
            return [self._with(fields=[*self.fields, (operation.name, operation.field)])]
        if same and isinstance(operation, AlterField):
            return [self._with(fields=[(n, operation.field if n == operation.name else f)
                                       for n, f in self.fields])]
        if same and isinstance(operation, RemoveField):
            options = dict(self.options)
            used = _option_field_names(options)
            if operation.name in used:
                return False
            return [self._with(fields=[(n, f) for n, f in self.fields if n != operation.name])]
        if same and isinstance(operation, RenameField):
            if operation.old_name in _option_field_names(self.options):
                return False
            return [self._with(fields=[(operation.new_name if n == operation.old_name else n, f)
                                       for n, f in self.fields])]
        if same and isinstance(operation, AlterModelOptions):
            options = {k: v for k, v in self.options.items() if k not in ALTER_OPTION_KEYS}
            options.update(operation.options)
            return [self._with(options=options)]
        if same and isinstance(operation, AlterUniqueTogether):
            return [self._with(options={**self.options,
                                        "unique_together": list(operation.unique_together)})]
        if same and isinstance(operation, AlterModelTable):
            options = dict(self.options)
            if operation.table:
                options["db_table"] = operation.table
            else:
                options.pop("db_table", None)
            return [self._with(options=options)]
        if same and isinstance(operation, AddIndex):
            return [self._with(options={**self.options, "indexes": [
                *self.options.get("indexes", []), operation.index]})]
        if same and isinstance(operation, RemoveIndex):
            return [self._with(options={**self.options, "indexes": [
                i for i in self.options.get("indexes", []) if i.name != operation.name]})]
        if same and isinstance(operation, AddConstraint):
            return [self._with(options={**self.options, "constraints": [
                *self.options.get("constraints", []), operation.constraint]})]
        if same and isinstance(operation, RemoveConstraint):
            return [self._with(options={**self.options, "constraints": [
                c for c in self.options.get("constraints", []) if c.name != operation.name]})]
        return super().reduce(operation, app_label)


def _option_field_names(options) -> set[str]:
    names: set[str] = set()
    for combo in options.get("unique_together") or []:
        names.update(combo)
    for index in options.get("indexes") or []:
        names.update(f.lstrip("-") for f in getattr(index, "fields", ()))
    for constraint in options.get("constraints") or []:
        names.update(getattr(constraint, "fields", None) or ())
    return names


class DeleteModel(ModelOperation):
    """``DeleteModel(name)``: drop the table (and its auto-created many-to-many tables);
    backwards recreates it from the state."""

    def deconstruct(self):
        return "dorm.migrations.operations.DeleteModel", [], {"name": self.name}

    def state_forwards(self, app_label, state):
        state.remove_model(app_label, self.name)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor, model):
            schema_editor.delete_model(model)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor, model):
            schema_editor.create_model(model)

    def describe(self):
        return f"Delete model {self.name}"

    @property
    def migration_name_fragment(self):
        return f"delete_{self.name_lower}"

    def references_model(self, name, app_label):
        return True  # relations pointing at it must be gone first


class RenameModel(Operation):
    """``RenameModel(old_name, new_name)``: renames the table when it is the default
    ``<app>_<model>`` one, the model's auto-created many-to-many tables and the junction
    columns named after it, and repoints relation fields."""

    def __init__(self, old_name: str, new_name: str):
        self.old_name, self.new_name = old_name, new_name

    @property
    def old_name_lower(self):
        return self.old_name.lower()

    @property
    def new_name_lower(self):
        return self.new_name.lower()

    def deconstruct(self):
        return "dorm.migrations.operations.RenameModel", [], {
            "old_name": self.old_name, "new_name": self.new_name}

    def state_forwards(self, app_label, state):
        if state.has_model(app_label, self.new_name):
            raise ValueError(f"RenameModel: {app_label}.{self.new_name} already exists")
        ms = state.remove_model(app_label, self.old_name)
        new = ms.clone()
        new.name = self.new_name
        state.add_model(new)
        state.rename_model_references(app_label, self.old_name, self.new_name)

    def _rename(self, app_label, schema_editor, from_state, to_state, old_name, new_name):
        old_model = from_state.apps.get_model(app_label, old_name)
        new_model = to_state.apps.get_model(app_label, new_name)
        if not self.allow_migrate_model(schema_editor, new_model):
            return
        schema_editor.alter_db_table(new_model, old_model._meta.db_table, new_model._meta.db_table)
        sync_auto_through(schema_editor, old_model, new_model)
        # junction tables of other models pointing at this one name a column after it
        new_key = make_key(app_label, new_name)
        for ms in to_state.models.values():
            if ms.key == new_key or not from_state.has_model(ms.app_label, ms.name):
                continue
            if not any(getattr(f, "many_to_many", False) and new_key in _relation_targets(f, ms.app_label)
                       for f in ms.fields.values()):
                continue
            sync_auto_through(schema_editor, from_state.apps.get_model(ms.app_label, ms.name),
                              to_state.apps.get_model(ms.app_label, ms.name))

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._rename(app_label, schema_editor, from_state, to_state, self.old_name, self.new_name)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._rename(app_label, schema_editor, from_state, to_state, self.new_name, self.old_name)

    def describe(self):
        return f"Rename model {self.old_name} to {self.new_name}"

    @property
    def migration_name_fragment(self):
        return f"rename_{self.old_name_lower}_{self.new_name_lower}"

    def references_model(self, name, app_label):
        return name.lower() in (self.old_name_lower, self.new_name_lower)

    def reduce(self, operation, app_label):
        if isinstance(operation, RenameModel) and operation.old_name_lower == self.new_name_lower:
            return [RenameModel(self.old_name, operation.new_name)]
        result = super().reduce(operation, app_label)
        if result is not False:
            return result
        return not (operation.references_model(self.old_name, app_label)
                    or operation.references_model(self.new_name, app_label))


class AlterModelTable(ModelOperation):
    """``AlterModelTable(name, table)``: rename the table (``None`` = the default name)."""

    def __init__(self, name: str, table: str | None):
        super().__init__(name)
        self.table = table

    def deconstruct(self):
        return "dorm.migrations.operations.AlterModelTable", [], {"name": self.name, "table": self.table}

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.name)
        if self.table and self.table != default_table(app_label, ms.name):
            ms.options["db_table"] = self.table
        else:
            ms.options.pop("db_table", None)
        state.reload()

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        old_model = from_state.apps.get_model(app_label, self.name)
        new_model = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor, new_model):
            schema_editor.alter_db_table(new_model, old_model._meta.db_table, new_model._meta.db_table)
            sync_auto_through(schema_editor, old_model, new_model)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self.database_forwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"Rename table for {self.name} to {self.table or '(default)'}"

    @property
    def migration_name_fragment(self):
        return f"alter_{self.name_lower}_table"

    def reduce(self, operation, app_label):
        if isinstance(operation, (AlterModelTable, DeleteModel)) and operation.name_lower == self.name_lower:
            return [operation]
        return super().reduce(operation, app_label)


class AlterModelOptions(ModelOperation):
    """``AlterModelOptions(name, options)``: state only (ordering, verbose names ...).
    Options of ``ALTER_OPTION_KEYS`` missing from ``options`` are removed."""

    def __init__(self, name: str, options: dict | None = None):
        super().__init__(name)
        self.options = dict(options or {})

    def deconstruct(self):
        return "dorm.migrations.operations.AlterModelOptions", [], {
            "name": self.name, "options": self.options}

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.name)
        for key in ALTER_OPTION_KEYS:
            if key in self.options:
                ms.options[key] = self.options[key]
            else:
                ms.options.pop(key, None)
        state.reload()

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def describe(self):
        return f"Change Meta options on {self.name}"

    @property
    def migration_name_fragment(self):
        return f"alter_{self.name_lower}_options"

    def reduce(self, operation, app_label):
        if isinstance(operation, (AlterModelOptions, DeleteModel)) and operation.name_lower == self.name_lower:
            return [operation]
        return super().reduce(operation, app_label)


class AlterUniqueTogether(ModelOperation):
    """``AlterUniqueTogether(name, unique_together)``: UNIQUE constraints over column
    groups (dropped and added as needed)."""

    def __init__(self, name: str, unique_together):
        super().__init__(name)
        ut = list(unique_together or [])
        if ut and isinstance(ut[0], str):
            ut = [tuple(ut)]
        self.unique_together = [tuple(u) for u in ut]

    def deconstruct(self):
        return "dorm.migrations.operations.AlterUniqueTogether", [], {
            "name": self.name, "unique_together": self.unique_together}

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.name)
        ms.options["unique_together"] = list(self.unique_together)
        state.reload()

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        old_model = from_state.apps.get_model(app_label, self.name)
        new_model = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor, new_model):
            schema_editor.alter_unique_together(new_model, old_model._meta.unique_together,
                                                new_model._meta.unique_together)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self.database_forwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"Alter unique_together for {self.name} ({len(self.unique_together)} constraint(s))"

    @property
    def migration_name_fragment(self):
        return f"alter_{self.name_lower}_unique_together"

    def references_field(self, model_name, name, app_label):
        return self.references_model(model_name, app_label) and \
            (not self.unique_together or any(name in u for u in self.unique_together))

    def reduce(self, operation, app_label):
        if isinstance(operation, (AlterUniqueTogether, DeleteModel)) and operation.name_lower == self.name_lower:
            return [operation]
        return super().reduce(operation, app_label)


# ---- indexes and constraints ---------------------------------------------------------------
class IndexOperation(Operation):
    def __init__(self, model_name: str):
        self.model_name = model_name

    @property
    def model_name_lower(self):
        return self.model_name.lower()

    def references_model(self, name, app_label):
        return name.lower() == self.model_name_lower

    def reduce(self, operation, app_label):
        result = super().reduce(operation, app_label)
        if result is not False:
            return result
        return not operation.references_model(self.model_name, app_label)


def _add_named(items: list, item, what: str, label: str) -> list:
    if any(getattr(i, "name", None) == item.name for i in items):
        raise ValueError(f"{label} already has an {what} named {item.name!r}")
    return [*items, item]


def _find_named(items: list, name: str, what: str, label: str):
    for item in items:
        if getattr(item, "name", None) == name:
            return item
    known = ", ".join(i.name for i in items) or "none"
    raise ValueError(f"{label} has no {what} named {name!r} in the migration state (known: {known})")


class AddIndex(IndexOperation):
    """``AddIndex(model_name, index, *, concurrently=False)``. ``concurrently=True`` asks
    the backend to build the index without locking writes where it can (PostgreSQL
    ``CREATE INDEX CONCURRENTLY``; ignored elsewhere) and makes the operation
    non-atomic: the migration must declare ``atomic = False``."""

    def __init__(self, model_name: str, index, *, concurrently: bool = False):
        super().__init__(model_name)
        if not getattr(index, "name", None):
            raise ValueError("AddIndex needs an index with a name (Index(fields=[...], name='...'))")
        self.index = index
        self.concurrently = bool(concurrently)

    @property
    def atomic(self):
        return not self.concurrently

    @property
    def name(self):
        return self.index.name

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "index": self.index}
        if self.concurrently:
            kwargs["concurrently"] = True
        return "dorm.migrations.operations.AddIndex", [], kwargs

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.model_name)
        ms.options["indexes"] = _add_named(ms.options["indexes"], self.index, "index", ms.label)
        state.reload()

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            _add_index(schema_editor, model, self.index, self.concurrently)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            _remove_index(schema_editor, model, self.index, self.concurrently)

    def describe(self):
        fields = ", ".join(getattr(self.index, "fields", ()) or ["<expressions>"])
        return f"Create index {self.index.name} on {self.model_name} ({fields})"

    @property
    def migration_name_fragment(self):
        return self.index.name.lower()

    def reduce(self, operation, app_label):
        if isinstance(operation, RemoveIndex) and operation.model_name_lower == self.model_name_lower \
                and operation.name == self.index.name:
            return []
        return super().reduce(operation, app_label)


def _add_index(schema_editor, model, index, concurrently):
    if concurrently:
        schema_editor.add_index(model, index, concurrently=True)
    else:
        schema_editor.add_index(model, index)


def _remove_index(schema_editor, model, index, concurrently):
    if concurrently:
        schema_editor.remove_index(model, index, concurrently=True)
    else:
        schema_editor.remove_index(model, index)


class RemoveIndex(IndexOperation):
    """``RemoveIndex(model_name, name, *, concurrently=False)`` (``name`` may also be the
    ``Index``); backwards recreates the index from the state."""

    def __init__(self, model_name: str, name, *, concurrently: bool = False):
        super().__init__(model_name)
        self.name = name if isinstance(name, str) else name.name
        self.concurrently = bool(concurrently)

    @property
    def atomic(self):
        return not self.concurrently

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "name": self.name}
        if self.concurrently:
            kwargs["concurrently"] = True
        return "dorm.migrations.operations.RemoveIndex", [], kwargs

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.model_name)
        _find_named(ms.options["indexes"], self.name, "index", ms.label)
        ms.options["indexes"] = [i for i in ms.options["indexes"] if i.name != self.name]
        state.reload()

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            ms = from_state.get_model_state(app_label, self.model_name)
            index = _find_named(ms.options["indexes"], self.name, "index", ms.label)
            _remove_index(schema_editor, model, index, self.concurrently)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            ms = to_state.get_model_state(app_label, self.model_name)
            index = _find_named(ms.options["indexes"], self.name, "index", ms.label)
            _add_index(schema_editor, model, index, self.concurrently)

    def describe(self):
        return f"Remove index {self.name} from {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"remove_{self.model_name_lower}_{self.name.lower()}"


class AddConstraint(IndexOperation):
    """``AddConstraint(model_name, constraint)`` (``CheckConstraint``, ``UniqueConstraint``
    or a plugin constraint)."""

    def __init__(self, model_name: str, constraint):
        super().__init__(model_name)
        if not getattr(constraint, "name", None):
            raise ValueError("AddConstraint needs a constraint with a name")
        self.constraint = constraint

    @property
    def name(self):
        return self.constraint.name

    def deconstruct(self):
        return "dorm.migrations.operations.AddConstraint", [], {
            "model_name": self.model_name, "constraint": self.constraint}

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.model_name)
        ms.options["constraints"] = _add_named(ms.options["constraints"], self.constraint,
                                               "constraint", ms.label)
        state.reload()

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            schema_editor.add_constraint(model, self.constraint)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            schema_editor.remove_constraint(model, self.constraint)

    def describe(self):
        return f"Create constraint {self.constraint.name} on model {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"{self.model_name_lower}_{self.constraint.name.lower()}"

    def reduce(self, operation, app_label):
        if isinstance(operation, RemoveConstraint) and operation.model_name_lower == self.model_name_lower \
                and operation.name == self.constraint.name:
            return []
        return super().reduce(operation, app_label)


class RemoveConstraint(IndexOperation):
    """``RemoveConstraint(model_name, name)`` (``name`` may also be the constraint)."""

    def __init__(self, model_name: str, name):
        super().__init__(model_name)
        self.name = name if isinstance(name, str) else name.name

    def deconstruct(self):
        return "dorm.migrations.operations.RemoveConstraint", [], {
            "model_name": self.model_name, "name": self.name}

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.model_name)
        _find_named(ms.options["constraints"], self.name, "constraint", ms.label)
        ms.options["constraints"] = [c for c in ms.options["constraints"] if c.name != self.name]
        state.reload()

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            ms = from_state.get_model_state(app_label, self.model_name)
            schema_editor.remove_constraint(
                model, _find_named(ms.options["constraints"], self.name, "constraint", ms.label))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            ms = to_state.get_model_state(app_label, self.model_name)
            schema_editor.add_constraint(
                model, _find_named(ms.options["constraints"], self.name, "constraint", ms.label))

    def describe(self):
        return f"Remove constraint {self.name} from model {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"remove_{self.model_name_lower}_{self.name.lower()}"


__all__ = ["AddConstraint", "AddIndex", "AlterModelOptions", "AlterModelTable", "AlterUniqueTogether",
           "CreateModel", "DeleteModel", "RemoveConstraint", "RemoveIndex", "RenameModel"]
