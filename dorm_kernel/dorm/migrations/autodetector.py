"""Comparing two project states and generating the operations between them.

``MigrationAutodetector(from_state, to_state, questioner=None, rename_hints=None,
detect_renames=False)``:

* ``changes(app_labels=None) -> {app_label: [operations]}``;
* ``arrange(changes, loader, name=None) -> {app_label: [Migration]}`` numbers and names
  the migrations and computes their dependencies (the app's previous leaf, and the
  migrations of other apps whose models the operations reference). When two apps'
  new migrations would depend on each other (foreign keys both ways), one app's
  cross-app foreign keys move to a second migration of that app.

Renames: a model or field present only in the old state and one present only in the
new state with an identical definition is a rename candidate. It becomes
``RenameModel`` / ``RenameField`` when ``rename_hints`` says so
(``{"models": {app: {Old: New}}, "fields": {"app.Model": {old: new}}}``), when
``detect_renames`` is true, or when the questioner confirms; otherwise it is a
remove + add.

Order of operations in one migration: ``RenameModel``, ``AlterModelTable``,
``RenameField``, ``RemoveIndex``, ``RemoveConstraint``, ``CreateModel`` (referenced
models first), ``AddField``, ``AlterField``, ``AlterUniqueTogether``, ``RemoveField``,
``DeleteModel`` (referencing models first), ``AddIndex``, ``AddConstraint``,
``AlterModelOptions``.
"""
from __future__ import annotations

from collections import defaultdict

from .exceptions import MigrationError
from .migration import Migration
from .operations import (
    AddConstraint,
    AddField,
    AddIndex,
    AlterField,
    AlterModelOptions,
    AlterModelTable,
    AlterUniqueTogether,
    CreateModel,
    DeleteModel,
    RemoveConstraint,
    RemoveField,
    RemoveIndex,
    RenameField,
    RenameModel,
)
from .questioner import Questioner
from .serializer import serialize_value
from .state import ALTER_OPTION_KEYS, deconstruct_field, make_key, rebuild_field, split_label

CATEGORIES = ("field_types_before", "rename_model", "alter_table", "rename_field", "remove_index", "remove_constraint",
              "create_model", "add_field", "alter_field", "unique_together", "remove_field",
              "delete_model", "add_index", "add_constraint", "options", "field_types_after")


def field_key(field, rename: dict | None = None) -> str:
    """A comparable text of a field's definition (its serialised constructor call)."""
    _, path, args, kwargs = deconstruct_field(field)
    if rename:
        for k in ("to", "through"):
            ref = kwargs.get(k)
            if isinstance(ref, str) and ref.lower() in rename:
                kwargs[k] = rename[ref.lower()]
    return serialize_value((path, args, kwargs))


def _same_definition(old_field, new_field) -> bool:
    """A rename candidate: the same definition, or the same one with ``db_column``
    keeping the old column name."""
    if field_key(old_field) == field_key(new_field):
        return True
    column = getattr(new_field, "db_column", None)
    if column and column == old_field.column and not getattr(old_field, "db_column", None):
        from .state import _DROP

        return field_key(rebuild_field(new_field, db_column=_DROP)) == field_key(old_field)
    return False


def _targets(field, app_label: str) -> set[str]:
    if not getattr(field, "is_relation", False):
        return set()
    _, _, _, kwargs = deconstruct_field(field)
    out = set()
    for k in ("to", "through"):
        ref = kwargs.get(k)
        if isinstance(ref, str) and ref != "self":
            out.add(make_key(*split_label(ref, app_label)))
    return out


def _needs_default(field) -> bool:
    if getattr(field, "null", False) or getattr(field, "many_to_many", False):
        return False
    if field.has_default() or field.has_db_default():
        return False
    if getattr(field, "primary_key", False):
        return False
    return True


class MigrationAutodetector:
    def __init__(self, from_state, to_state, questioner: Questioner | None = None,
                 rename_hints: dict | None = None, detect_renames: bool = False):
        self.from_state = from_state
        self.to_state = to_state
        self.questioner = questioner or Questioner()
        self.rename_hints = rename_hints or {}
        self.detect_renames = detect_renames
        #: id(op) -> model keys that the removed/old definition referenced
        self._old_refs: dict[int, set[str]] = {}

    # ---- entry points ----------------------------------------------------------------------
    def changes(self, app_label: str | None = None, app_labels=None) -> dict[str, list]:
        wanted = set(app_labels) if app_labels is not None else None
        if app_label is not None:
            wanted = {app_label}
        self._ops: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        state = self.from_state.clone()
        scope = (lambda app: True) if wanted is None else (lambda app: app in wanted)
        self._detect_model_renames(state, scope)
        self._detect_field_renames(state, scope)
        self._diff(state, scope)
        self._field_type_operations(state, scope)
        out = {}
        for app in sorted(self._ops):
            ops = [op for cat in CATEGORIES for op in self._ops[app][cat]]
            if ops:
                out[app] = ops
        return out

    def _field_type_operations(self, state, scope) -> None:
        """Operations a field class asks for around the field changes (database types a
        field relies on: PostgreSQL enum types). A field class with a classmethod
        ``autodetect_operations(old_fields, new_fields)`` receives the
        ``(app_label, model, name, field)`` of its fields in both states and returns
        ``[(app_label, "before"|"after", operation)]``."""
        hooks: dict = {}
        for index, st in enumerate((state, self.to_state)):
            for ms in st.models.values():
                for name, field in ms.fields.items():
                    hook = getattr(type(field), "autodetect_operations", None)
                    if hook is not None:
                        hooks.setdefault(hook, ([], []))[index].append((ms.app_label, ms.name, name, field))
        for hook, (old, new) in hooks.items():
            for app, when, op in hook(old, new):
                if scope(app):
                    self._add(app, "field_types_before" if when == "before" else "field_types_after", op)

    def _add(self, app: str, category: str, op, old_refs=None) -> None:
        self._ops[app][category].append(op)
        if old_refs:
            self._old_refs[id(op)] = set(old_refs)

    # ---- renames ---------------------------------------------------------------------------------
    def _rename_wanted(self, hinted: bool, ask) -> bool:
        if hinted:
            return True
        if self.detect_renames:
            return True
        return bool(ask())

    def _detect_model_renames(self, state, scope) -> None:
        old_keys = {k for k, m in state.models.items() if scope(m.app_label)}
        new_keys = {k for k, m in self.to_state.models.items() if scope(m.app_label)}
        removed = old_keys - new_keys
        for new_key in sorted(new_keys - old_keys):
            new = self.to_state.models[new_key]
            hints = self.rename_hints.get("models", {}).get(new.app_label, {})
            hinted_old = next((old for old, n in hints.items() if n == new.name), None)
            candidate = None
            if hinted_old is not None and make_key(new.app_label, hinted_old) in removed:
                candidate, hinted = make_key(new.app_label, hinted_old), True
            else:
                hinted = False
                matches = [k for k in sorted(removed)
                           if state.models[k].app_label == new.app_label
                           and self._same_shape(state.models[k], new)]
                if len(matches) == 1:
                    candidate = matches[0]
            if candidate is None:
                continue
            old = state.models[candidate]
            if not self._rename_wanted(hinted, lambda o=old, n=new: self.questioner.ask_rename_model(o, n)):
                continue
            op = RenameModel(old.name, new.name)
            op.state_forwards(new.app_label, state)
            removed.discard(candidate)
            self._add(new.app_label, "rename_model", op)

    def _same_shape(self, old, new) -> bool:
        if set(old.fields) != set(new.fields):
            return False
        rename = {old.label.lower(): new.label}
        return all(field_key(f, rename) == field_key(new.fields[n]) for n, f in old.fields.items())

    def _detect_field_renames(self, state, scope) -> None:
        for key in sorted(state.models):
            old = state.models[key]
            new = self.to_state.models.get(key)
            if new is None or not scope(old.app_label):
                continue
            removed = [n for n in old.fields if n not in new.fields]
            if not removed:
                continue
            hints = (self.rename_hints.get("fields", {}).get(new.label)
                     or self.rename_hints.get("fields", {}).get(new.key) or {})
            for new_name in [n for n in new.fields if n not in old.fields]:
                field = new.fields[new_name]
                hinted_old = next((o for o, n in hints.items() if n == new_name), None)
                if hinted_old is not None and hinted_old in removed:
                    candidate, hinted = hinted_old, True
                else:
                    hinted = False
                    matches = [o for o in removed if _same_definition(old.fields[o], field)]
                    candidate = matches[0] if len(matches) == 1 else None
                if candidate is None:
                    continue
                if not self._rename_wanted(hinted, lambda c=candidate, n=new_name, f=field, m=new:
                                           self.questioner.ask_rename(m.label, c, n, f)):
                    continue
                op = RenameField(new.name, candidate, new_name)
                op.state_forwards(new.app_label, state)
                old = state.models[key]
                removed.remove(candidate)
                self._add(new.app_label, "rename_field", op)

    # ---- the diff -------------------------------------------------------------------------------
    def _diff(self, state, scope) -> None:
        old_keys = {k for k, m in state.models.items() if scope(m.app_label)}
        new_keys = {k for k, m in self.to_state.models.items() if scope(m.app_label)}
        for key in sorted(old_keys & new_keys):
            self._diff_model(state.models[key], self.to_state.models[key])
        created = [self.to_state.models[k] for k in sorted(new_keys - old_keys)]
        for ms in _dependency_order(created):
            options = {k: v for k, v in ms.options.items() if v not in ([], None, (), {})}
            self._add(ms.app_label, "create_model",
                      CreateModel(ms.name, list(ms.fields.items()), options))
        deleted = [state.models[k] for k in sorted(old_keys - new_keys)]
        for ms in reversed(_dependency_order(deleted)):
            refs = set()
            for f in ms.fields.values():
                refs |= _targets(f, ms.app_label)
            self._add(ms.app_label, "delete_model", DeleteModel(ms.name), old_refs=refs)

    def _diff_model(self, old, new) -> None:
        app = new.app_label
        if old.db_table != new.db_table:
            self._add(app, "alter_table", AlterModelTable(new.name, new.options.get("db_table")))
        for name, field in new.fields.items():
            if name in old.fields:
                continue
            self._add_field(new, name, field)
        for name, old_field in old.fields.items():
            if name not in new.fields:
                self._add(app, "remove_field", RemoveField(new.name, name),
                          old_refs=_targets(old_field, app))
        for name, field in new.fields.items():
            old_field = old.fields.get(name)
            if old_field is None or field_key(old_field) == field_key(field):
                continue
            old_m2m = bool(getattr(old_field, "many_to_many", False))
            new_m2m = bool(getattr(field, "many_to_many", False))
            if old_m2m != new_m2m or (old_m2m and _m2m_identity(old_field, app) != _m2m_identity(field, app)):
                self._add(app, "remove_field", RemoveField(new.name, name),
                          old_refs=_targets(old_field, app))
                self._add_field(new, name, field)
                continue
            preserve = True
            if getattr(old_field, "null", False) and _needs_default(field):
                value = self.questioner.ask_not_null_alteration(new.label, name)
                if value is not None:
                    field, preserve = rebuild_field(field, default=value), False
                    field.set_attributes_from_name(name)
            self._add(app, "alter_field", AlterField(new.name, name, field, preserve_default=preserve),
                      old_refs=_targets(old_field, app))
        if {tuple(u) for u in old.options["unique_together"]} != {tuple(u) for u in new.options["unique_together"]}:
            self._add(app, "unique_together", AlterUniqueTogether(new.name, new.options["unique_together"]))
        self._diff_named(app, new.name, old.options["indexes"], new.options["indexes"],
                         RemoveIndex, AddIndex, "remove_index", "add_index")
        self._diff_named(app, new.name, old.options["constraints"], new.options["constraints"],
                         RemoveConstraint, AddConstraint, "remove_constraint", "add_constraint")
        old_alter = {k: old.options[k] for k in ALTER_OPTION_KEYS if k in old.options}
        new_alter = {k: new.options[k] for k in ALTER_OPTION_KEYS if k in new.options}
        if serialize_value(old_alter) != serialize_value(new_alter):
            self._add(app, "options", AlterModelOptions(new.name, new_alter))

    def _add_field(self, ms, name, field) -> None:
        preserve = True
        if _needs_default(field):
            from dorm.fields import NOT_PROVIDED

            value = self.questioner.ask_not_null_addition(ms.label, name)
            if value is not NOT_PROVIDED:
                field, preserve = rebuild_field(field, default=value), False
                field.set_attributes_from_name(name)
        self._add(ms.app_label, "add_field", AddField(ms.name, name, field, preserve_default=preserve))

    def _diff_named(self, app, model_name, old_items, new_items, remove_cls, add_cls, rcat, acat) -> None:
        old = {i.name: i for i in old_items}
        new = {i.name: i for i in new_items}
        for name, item in old.items():
            if name not in new or serialize_value(item) != serialize_value(new[name]):
                self._add(app, rcat, remove_cls(model_name, name))
        for name, item in new.items():
            if name not in old or serialize_value(item) != serialize_value(old[name]):
                self._add(app, acat, add_cls(model_name, item))

    # ---- arranging into migrations ----------------------------------------------------------------
    def arrange(self, changes: dict[str, list], loader, name: str | None = None) -> dict[str, list]:
        """Number, name and link the migrations for ``changes`` (see the module docstring)."""
        app_order = [a.label for a in loader.apps]
        chunks: dict[str, list[list]] = {app: [list(ops)] for app, ops in changes.items()}
        for _ in range(len(chunks) + 1):
            cycle = self._chunk_cycle(chunks, loader)
            if not cycle:
                break
            if not self._split(cycle, chunks, app_order):
                raise MigrationError(
                    "cannot order the new migrations: circular dependency between apps "
                    f"{', '.join(sorted({a for a, _ in cycle}))} that splitting foreign keys "
                    "into a second migration does not resolve")
        else:
            raise MigrationError("cannot resolve the dependencies between the new migrations")
        names: dict[tuple[str, int], tuple[str, str]] = {}
        for app, app_chunks in chunks.items():
            numbers = [m.number for k, m in loader.graph.nodes.items() if k[0] == app and m.number]
            numbers += [m.number for k, m in loader.disk_migrations.items() if k[0] == app and m.number]
            start = max(numbers, default=0) + 1
            for i in range(len(app_chunks)):
                number = start + i
                if number == 1 and i == 0 and name is None:
                    mig_name = "0001_initial"
                else:
                    mig_name = f"{number:04d}_{name or 'auto'}"
                    if len(app_chunks) > 1 and name is not None and i:
                        mig_name = f"{number:04d}_{name}_{i + 1}"
                names[(app, i)] = (app, mig_name)
        out: dict[str, list] = {}
        for app in sorted(chunks, key=lambda a: (app_order.index(a) if a in app_order else len(app_order), a)):
            for i, ops in enumerate(chunks[app]):
                deps = self._chunk_deps(app, i, chunks, loader)
                # per other app, only the latest: a new migration implies the app's leaf
                latest: dict[str, tuple] = {}
                for dep in deps:
                    current = latest.get(dep[0])
                    if current is None or _later(dep, current):
                        latest[dep[0]] = dep
                resolved = {names[d] if isinstance(d[1], int) else d for d in latest.values()}
                own = sorted(d for d in resolved if d[0] == app)
                other = sorted(d for d in resolved if d[0] != app)
                key = names[(app, i)]
                migration = Migration(key[1], app, ops, [*own, *other],
                                      atomic=all(getattr(op, "atomic", True) for op in ops),
                                      initial=True if key[1].startswith("0001_") and
                                      any(isinstance(op, CreateModel) for op in ops) else None)
                out.setdefault(app, []).append(migration)
        return out

    def _created_in(self, chunks) -> dict[str, tuple[str, int]]:
        created = {}
        for app, app_chunks in chunks.items():
            for i, ops in enumerate(app_chunks):
                for op in ops:
                    if isinstance(op, CreateModel):
                        created[make_key(app, op.name)] = (app, i)
        return created

    def _op_refs(self, op, app) -> set[str]:
        if isinstance(op, CreateModel):
            out = set()
            for _, f in op.fields:
                out |= _targets(f, app)
            return out
        if isinstance(op, (AddField, AlterField)):
            return _targets(op.field, app)
        return set()

    def _chunk_deps(self, app, index, chunks, loader) -> set:
        """Dependencies of chunk ``index`` of ``app``: ``(app, chunk_index)`` for new
        chunks, ``(app, name)`` for existing migrations."""
        deps: set = set()
        if index > 0:
            deps.add((app, index - 1))
        else:
            leaf = loader.leaf(app)
            if leaf is not None:
                deps.add(leaf)
        created = self._created_in(chunks)
        ops = chunks[app][index]
        for op in ops:
            for key in self._op_refs(op, app):
                target_app = key.rpartition(".")[0]
                if target_app == app:
                    continue
                if key in created:
                    deps.add(created[key])
                else:
                    leaf = loader.leaf(target_app)
                    if leaf is not None:
                        deps.add(leaf)
            if isinstance(op, DeleteModel):
                key = make_key(app, op.name)
                for other_app, other_chunks in chunks.items():
                    if other_app == app:
                        continue
                    for j, other_ops in enumerate(other_chunks):
                        if any(key in self._old_refs.get(id(o), ()) for o in other_ops):
                            deps.add((other_app, j))
        return deps

    def _chunk_cycle(self, chunks, loader) -> list | None:
        edges = {}
        for app, app_chunks in chunks.items():
            for i in range(len(app_chunks)):
                edges[(app, i)] = {d for d in self._chunk_deps(app, i, chunks, loader) if isinstance(d[1], int)}
        state: dict = {}
        stack: list = []

        def visit(node):
            state[node] = 1
            stack.append(node)
            for dep in sorted(edges[node]):
                if state.get(dep) == 1:
                    return stack[stack.index(dep):]
                if dep not in state:
                    found = visit(dep)
                    if found:
                        return found
            stack.pop()
            state[node] = 2
            return None

        for node in sorted(edges):
            if node not in state:
                found = visit(node)
                if found:
                    return found
        return None

    def _split(self, cycle, chunks, app_order) -> bool:
        """Move one app's foreign keys to the other apps of ``cycle`` into a new
        migration of that app; False if no app can be split."""
        cycle_apps = {a for a, _ in cycle}
        created = self._created_in(chunks)
        foreign = {k for k, (a, _) in created.items() if a in cycle_apps}
        for app in sorted(cycle_apps, key=lambda a: -(app_order.index(a) if a in app_order else len(app_order))):
            index = min(i for a, i in cycle if a == app)
            first, moved = [], []
            for op in chunks[app][index]:
                if isinstance(op, CreateModel):
                    keep, move = [], []
                    for fname, f in op.fields:
                        t = {k for k in _targets(f, app) if k in foreign and k.rpartition(".")[0] != app}
                        (move if t else keep).append((fname, f))
                    if move:
                        first.append(CreateModel(op.name, keep, op.options))
                        moved.extend(AddField(op.name, fname, f) for fname, f in move)
                    else:
                        first.append(op)
                elif isinstance(op, (AddField, AlterField)) and \
                        {k for k in _targets(op.field, app) if k in foreign and k.rpartition(".")[0] != app}:
                    moved.append(op)
                else:
                    first.append(op)
            if moved and first:
                chunks[app][index:index + 1] = [first, moved]
                return True
        return False


def _later(dep, other) -> bool:
    """Is ``dep`` later than ``other`` (same app): new chunks (int index) come after
    existing migrations, higher chunk indexes after lower ones."""
    new, old = isinstance(dep[1], int), isinstance(other[1], int)
    if new != old:
        return new
    return dep[1] > other[1] if new else False


def _m2m_identity(field, app_label) -> tuple:
    _, _, _, kwargs = deconstruct_field(field)
    to = kwargs.get("to")
    through = kwargs.get("through")
    def norm(ref):
        return make_key(*split_label(ref, app_label)) if isinstance(ref, str) else ref

    return norm(to), norm(through)


def _dependency_order(states: list) -> list:
    """Model states ordered so that models referenced by others' relations come first."""
    by_key = {ms.key: ms for ms in states}
    ordered, done, visiting = [], set(), set()

    def visit(ms):
        if ms.key in done or ms.key in visiting:
            return
        visiting.add(ms.key)
        for f in ms.fields.values():
            for t in sorted(_targets(f, ms.app_label)):
                if t in by_key and t != ms.key:
                    visit(by_key[t])
        visiting.discard(ms.key)
        done.add(ms.key)
        ordered.append(ms)

    for ms in states:
        visit(ms)
    return ordered
