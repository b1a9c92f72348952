"""Field-level operations: add, remove, alter and rename a field (its column, or the
junction table of a many-to-many field)."""
from __future__ import annotations

import copy

from dorm.migrations.state import _DROP, clone_field, make_key, rebuild_field

from .base import Operation
from .models import _relation_targets, sync_through_tables


class FieldOperation(Operation):
    def __init__(self, model_name: str, name: str, field=None):
        self.model_name = model_name
        self.name = name
        self.field = field

    @property
    def model_name_lower(self):
        return self.model_name.lower()

    @property
    def name_lower(self):
        return self.name.lower()

    def references_model(self, name, app_label):
        if name.lower() == self.model_name_lower:
            return True
        if self.field is not None:
            return make_key(app_label, name) in _relation_targets(self.field, app_label)
        return False

    def references_field(self, model_name, name, app_label):
        if model_name.lower() == self.model_name_lower and name == self.name:
            return True
        if self.field is not None and make_key(app_label, model_name) in _relation_targets(self.field, app_label):
            return True
        return False

    def is_same_field_operation(self, operation) -> bool:
        return (getattr(operation, "model_name_lower", None) == self.model_name_lower
                and getattr(operation, "name", None) == self.name)

    def reduce(self, operation, app_label):
        result = super().reduce(operation, app_label)
        if result is not False:
            return result
        return not operation.references_field(self.model_name, self.name, app_label)


def _state_field(field, name, preserve_default):
    new = clone_field(field, name)
    if not preserve_default:
        new = clone_field(rebuild_field(field, default=_DROP), name)
    return new


class AddField(FieldOperation):
    """``AddField(model_name, name, field, preserve_default=True)``: add the column (or
    the junction table). Existing rows get the field's ``default`` (``db_default`` stays
    in the column definition). ``preserve_default=False``: the default is only used to
    fill existing rows and is not kept in the state (a one-off default given to
    ``makemigrations``)."""

    def __init__(self, model_name: str, name: str, field, preserve_default: bool = True):
        super().__init__(model_name, name, field)
        self.preserve_default = preserve_default

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "name": self.name, "field": self.field}
        if not self.preserve_default:
            kwargs["preserve_default"] = False
        return "dorm.migrations.operations.AddField", [], kwargs

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.model_name)
        if self.name in ms.fields:
            raise ValueError(f"AddField: {ms.label} already has a field {self.name!r}")
        ms.fields[self.name] = _state_field(self.field, self.name, self.preserve_default)
        state.reload()

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        from_model = from_state.apps.get_model(app_label, self.model_name)
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor, to_model):
            return
        field = to_model._meta.get_field(self.name)
        if not self.preserve_default:
            field.default = self.field.default
        schema_editor.add_field(from_model, field)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            schema_editor.remove_field(model, model._meta.get_field(self.name))

    def describe(self):
        return f"Add field {self.name} to {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"{self.model_name_lower}_{self.name_lower}"

    def reduce(self, operation, app_label):
        if self.is_same_field_operation(operation):
            if isinstance(operation, AlterField):
                return [AddField(self.model_name, self.name, operation.field)]
            if isinstance(operation, RemoveField):
                return []
            if isinstance(operation, RenameField):
                return [AddField(self.model_name, operation.new_name, self.field)]
        return super().reduce(operation, app_label)


class RemoveField(FieldOperation):
    """``RemoveField(model_name, name)``: drop the column (resolved from the state, so
    ``db_column`` and foreign keys' ``_id`` columns are right) or the junction table.
    Indexes and constraints over the column go with it (as the database drops them)."""

    def __init__(self, model_name: str, name: str):
        super().__init__(model_name, name)

    def deconstruct(self):
        return "dorm.migrations.operations.RemoveField", [], {
            "model_name": self.model_name, "name": self.name}

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.model_name)
        ms.get_field(self.name)
        del ms.fields[self.name]
        options = ms.options
        options["unique_together"] = [u for u in options["unique_together"] if self.name not in u]
        options["indexes"] = [i for i in options["indexes"]
                              if self.name not in {f.lstrip("-") for f in getattr(i, "fields", ())}]
        options["constraints"] = [c for c in options["constraints"]
                                  if self.name not in set(getattr(c, "fields", None) or ())]
        state.reload()

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, model):
            schema_editor.remove_field(model, model._meta.get_field(self.name))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        from_model = from_state.apps.get_model(app_label, self.model_name)
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, to_model):
            schema_editor.add_field(from_model, to_model._meta.get_field(self.name))

    def describe(self):
        return f"Remove field {self.name} from {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"remove_{self.model_name_lower}_{self.name_lower}"

    def reduce(self, operation, app_label):
        from .models import DeleteModel

        if isinstance(operation, DeleteModel) and operation.name_lower == self.model_name_lower:
            return [operation]
        return super().reduce(operation, app_label)


class AlterField(FieldOperation):
    """``AlterField(model_name, name, field, preserve_default=True)``: change the column
    to the new definition (type, null, default, unique, index, check, foreign key).
    Backwards alters it back to the previous definition from the state. SQLite rebuilds
    the table; backends with ``ALTER COLUMN`` alter in place."""

    def __init__(self, model_name: str, name: str, field, preserve_default: bool = True):
        super().__init__(model_name, name, field)
        self.preserve_default = preserve_default

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "name": self.name, "field": self.field}
        if not self.preserve_default:
            kwargs["preserve_default"] = False
        return "dorm.migrations.operations.AlterField", [], kwargs

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.model_name)
        ms.get_field(self.name)
        ms.fields[self.name] = _state_field(self.field, self.name, self.preserve_default)
        state.reload()

    def _alter(self, app_label, schema_editor, from_state, to_state, default_from=None):
        from_model = from_state.apps.get_model(app_label, self.model_name)
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor, to_model):
            return
        old = from_model._meta.get_field(self.name)
        new = to_model._meta.get_field(self.name)
        if default_from is not None:
            new.default = default_from.default
        if getattr(old, "many_to_many", False) and getattr(new, "many_to_many", False):
            old_through, new_through = old.remote_field.through, new.remote_field.through
            if getattr(old_through._meta, "auto_created", False) and \
                    getattr(new_through._meta, "auto_created", False):
                sync_through_tables(schema_editor, old_through, new_through)
            return
        schema_editor.alter_field(from_model, old, new)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._alter(app_label, schema_editor, from_state, to_state,
                    default_from=None if self.preserve_default else self.field)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._alter(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"Alter field {self.name} on {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"alter_{self.model_name_lower}_{self.name_lower}"

    def reduce(self, operation, app_label):
        if self.is_same_field_operation(operation):
            if isinstance(operation, (AlterField, RemoveField)):
                return [operation]
            if isinstance(operation, RenameField):
                return [operation, AlterField(self.model_name, operation.new_name, self.field)]
        return super().reduce(operation, app_label)


def _rename_in(names, old: str, new: str):
    out = []
    for name in names:
        desc = name.startswith("-")
        bare = name[1:] if desc else name
        out.append(("-" if desc else "") + (new if bare == old else bare))
    return out


class RenameField(FieldOperation):
    """``RenameField(model_name, old_name, new_name)``: rename the column when the
    column name derives from the field name (``db_column`` unchanged = nothing to do);
    ``unique_together``, index and constraint field lists and ``to_field`` references
    follow in the state."""

    def __init__(self, model_name: str, old_name: str, new_name: str):
        super().__init__(model_name, old_name)
        self.old_name, self.new_name = old_name, new_name

    def deconstruct(self):
        return "dorm.migrations.operations.RenameField", [], {
            "model_name": self.model_name, "old_name": self.old_name, "new_name": self.new_name}

    def state_forwards(self, app_label, state):
        ms = state.get_model_state(app_label, self.model_name)
        field = ms.get_field(self.old_name)
        if self.new_name in ms.fields:
            raise ValueError(f"RenameField: {ms.label} already has a field {self.new_name!r}")
        ms.fields = {(self.new_name if n == self.old_name else n):
                     (clone_field(field, self.new_name) if n == self.old_name else f)
                     for n, f in ms.fields.items()}
        options = ms.options
        options["unique_together"] = [tuple(_rename_in(u, self.old_name, self.new_name))
                                      for u in options["unique_together"]]
        indexes = []
        for index in options["indexes"]:
            if self.old_name in {f.lstrip("-") for f in getattr(index, "fields", ())}:
                index = copy.deepcopy(index)
                index.fields = _rename_in(index.fields, self.old_name, self.new_name)
            indexes.append(index)
        options["indexes"] = indexes
        constraints = []
        for constraint in options["constraints"]:
            if self.old_name in set(getattr(constraint, "fields", None) or ()):
                constraint = copy.deepcopy(constraint)
                constraint.fields = tuple(_rename_in(constraint.fields, self.old_name, self.new_name))
            constraints.append(constraint)
        options["constraints"] = constraints
        # to_field references from other models
        target = ms.key
        for other in state.models.values():
            for fname, f in list(other.fields.items()):
                if getattr(f, "to_field", None) == self.old_name and \
                        target in _relation_targets(f, other.app_label):
                    other.fields[fname] = clone_field(rebuild_field(f, to_field=self.new_name), fname)
        state.reload()

    def _rename(self, app_label, schema_editor, from_state, to_state, old_name, new_name):
        from_model = from_state.apps.get_model(app_label, self.model_name)
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor, to_model):
            old = from_model._meta.get_field(old_name)
            new = to_model._meta.get_field(new_name)
            if getattr(old, "many_to_many", False):
                sync_through_tables(schema_editor, old.remote_field.through, new.remote_field.through)
                return
            schema_editor.alter_field(from_model, old, new)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._rename(app_label, schema_editor, from_state, to_state, self.old_name, self.new_name)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._rename(app_label, schema_editor, from_state, to_state, self.new_name, self.old_name)

    def describe(self):
        return f"Rename field {self.old_name} on {self.model_name} to {self.new_name}"

    @property
    def migration_name_fragment(self):
        return f"rename_{self.old_name.lower()}_{self.model_name_lower}_{self.new_name.lower()}"

    def references_field(self, model_name, name, app_label):
        return model_name.lower() == self.model_name_lower and name in (self.old_name, self.new_name)

    def reduce(self, operation, app_label):
        if isinstance(operation, RenameField) and operation.model_name_lower == self.model_name_lower \
                and operation.old_name == self.new_name:
            return [RenameField(self.model_name, self.old_name, operation.new_name)]
        result = Operation.reduce(self, operation, app_label)
        if result is not False:
            return result
        return not (operation.references_field(self.model_name, self.old_name, app_label)
                    or operation.references_field(self.model_name, self.new_name, app_label))


__all__ = ["AddField", "AlterField", "RemoveField", "RenameField"]
