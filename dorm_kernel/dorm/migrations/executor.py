"""Applying and unapplying migrations.

``MigrationExecutor(connection)`` plans (``migration_plan(targets)``) and runs
(``migrate(plan=...)``) migrations:

* Each migration with ``atomic = True`` (the default) runs in **one** schema-editor
  block: all its operations and its ``dorm_migrations`` row commit together, or
  nothing does (on backends with ``features.supports_transactional_ddl``). On a
  backend without transactional DDL the operations run one by one and the error says
  how far it got.
* ``atomic = False`` migrations run each operation in its own block: atomic ones in a
  transaction, non-atomic ones (``AddIndex(concurrently=True)``) without. An operation
  with ``atomic = False`` inside an atomic migration is refused before anything runs.
* Backwards runs the operations in reverse, computing each one's before/after state.
* ``fake=True`` records without touching the schema; ``fake_initial=True`` fakes an
  initial migration whose tables (and added columns) all exist already.
* ``dry_run=True`` runs nothing: the schema editor collects the SQL, statements that
  operations send straight to the connection are captured too (reads pass through),
  ``RunPython`` is skipped, and the recorder is not touched (not even created).
* A backend may provide ``connection.migration_lock()`` (a context manager, e.g. a
  PostgreSQL advisory lock); the whole run holds it.

A failure raises ``MigrationFailed`` whose message names the migration and operation
and says what state the schema and the recorder are in.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from .exceptions import (
    InvalidTargetError,
    IrreversibleError,
    MigrationError,
    MigrationFailed,
    NodeNotFoundError,
)
from .loader import MigrationLoader
from .migration import Migration
from .recorder import MigrationRecorder
from .state import ProjectState

_READS = ("SELECT", "WITH", "PRAGMA", "EXPLAIN", "SHOW", "VALUES", "DESCRIBE")


class CapturingConnection:
    """Wraps a backend connection: writes are recorded in ``sink`` (as SQL text with
    inlined parameters) instead of running; reads run. Everything else delegates."""

    def __init__(self, connection, sink: list):
        self._connection = connection
        self.captured = sink

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def _capture(self, sql: str, params=()) -> None:
        params = list(params or ())
        text = sql.strip().rstrip(";")
        if params:
            try:
                text = self._connection.ops.compose_sql(text, params)
            except (TypeError, ValueError):
                text = f"{text}; -- params: {params!r}"
        self.captured.append(text if text.endswith(";") else text + ";")

    @staticmethod
    def _is_read(sql: str) -> bool:
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if head == "PRAGMA" and "=" in sql:
            return False
        return head in _READS

    def execute(self, sql, params=()):
        if self._is_read(sql):
            return self._connection.execute(sql, params)
        self._capture(sql, params)
        return []

    def execute_with_description(self, sql, params=()):
        if self._is_read(sql):
            return self._connection.execute_with_description(sql, params)
        self._capture(sql, params)
        return [], []

    def execute_write(self, sql, params=()):
        self._capture(sql, params)
        return 0

    def execute_insert(self, sql, params=(), returning=False):
        self._capture(sql, params)
        return []

    def executemany(self, sql, param_list):
        for params in param_list:
            self._capture(sql, params)
        return 0

    def execute_script(self, sql):
        for statement in self._connection.ops.split_statements(sql):
            self._capture(statement)


@dataclass
class MigrationResult:
    migration: Migration
    backwards: bool = False
    faked: bool = False
    sql: list[str] = field(default_factory=list)


def _describe(op) -> str:
    try:
        return op.describe()
    except Exception:  # noqa: BLE001
        return type(op).__name__


class MigrationExecutor:
    """See the module docstring. ``progress(event, migration, **info)`` is called with
    ``event`` in ``apply_start``, ``apply_success``, ``unapply_start``,
    ``unapply_success``, ``fake``, ``fake_unapply``, ``record_squashed``."""

    def __init__(self, connection, loader: MigrationLoader | None = None, progress=None,
                 verbosity: int = 0, stdout=None):
        self.connection = connection
        self.loader = loader if loader is not None else MigrationLoader(connection)
        self.recorder = MigrationRecorder(connection)
        self.verbosity = verbosity
        self.stdout = stdout
        self.progress = progress or (self._print_progress if verbosity else None)

    # ---- progress --------------------------------------------------------------------------
    def _emit(self, event: str, migration, **info) -> None:
        if self.progress is not None:
            self.progress(event, migration, **info)

    def _print_progress(self, event, migration, **info):
        import click

        lines = {
            "apply_start": (f"  Applying {migration}...", False),
            "apply_success": (" OK", True),
            "unapply_start": (f"  Unapplying {migration}...", False),
            "unapply_success": (" OK", True),
            "fake": (f"  Faking {migration}... FAKED", True),
            "fake_unapply": (f"  Faking unapply of {migration}... FAKED", True),
        }
        text, newline = lines.get(event, (None, True))
        if text is not None:
            click.echo(text, nl=newline, file=self.stdout)

    # ---- planning ---------------------------------------------------------------------------
    @property
    def graph(self):
        return self.loader.graph

    def _applied(self) -> set:
        return set(self.loader.applied) | set(self.loader.implicitly_applied)

    def targets_for(self, app_label: str | None = None, target: str | None = None) -> list:
        """Targets for ``migrate [app] [target]``: ``[(app, name | None)]`` (``None`` = zero)."""
        if app_label is None:
            return list(self.graph.leaf_nodes())
        self.loader.app(app_label)
        if target is None:
            leaves = self.graph.leaf_nodes(app_label)
            return leaves
        if target == "zero":
            return [(app_label, None)]
        try:
            migration = self.loader.find_migration(app_label, target)
        except NodeNotFoundError as exc:
            raise InvalidTargetError(str(exc)) from None
        return [migration.key]

    def migration_plan(self, targets, clean_start: bool = False) -> list[tuple[Migration, bool]]:
        """``[(migration, backwards)]`` to reach ``targets`` (``(app, None)`` = unapply all
        of ``app``; an applied target = unapply what follows it in its app)."""
        plan: list = []
        applied = set() if clean_start else self._applied()
        seen: set = set()
        for target in targets:
            app, name = target
            if name is None:
                for root in self.graph.root_nodes(app):
                    for key in self.graph.backwards_plan(root):
                        if key in applied and key not in seen:
                            plan.append((self.graph.nodes[key], True))
                            seen.add(key)
                            applied.discard(key)
            elif target in applied:
                following = sorted(c for c in self.graph.children[target] if c[0] == app)
                for child in following:
                    for key in self.graph.backwards_plan(child):
                        if key in applied and key not in seen:
                            plan.append((self.graph.nodes[key], True))
                            seen.add(key)
                            applied.discard(key)
            else:
                if target not in self.graph:
                    raise InvalidTargetError(f"no migration {app}.{name}")
                for key in self.graph.forwards_plan(target):
                    if key not in applied and key not in seen:
                        plan.append((self.graph.nodes[key], False))
                        seen.add(key)
                        applied.add(key)
        return plan

    # ---- running -------------------------------------------------------------------------------
    def _lock(self):
        lock = getattr(self.connection, "migration_lock", None)
        return lock() if callable(lock) else contextlib.nullcontext()

    def migrate(self, targets=None, plan=None, *, fake: bool = False, fake_initial: bool = False,
                dry_run: bool = False) -> list[MigrationResult]:
        """Run ``plan`` (or the plan for ``targets``, default: every app's latest)."""
        if plan is None:
            plan = self.migration_plan(targets if targets is not None else self.targets_for())
        results: list[MigrationResult] = []
        with self._lock():
            if not dry_run:
                self._record_implicit_squashes()
            if not plan:
                return results
            forwards = [m for m, back in plan if not back]
            backwards = [m for m, back in plan if back]
            if forwards and backwards:
                raise MigrationError("a migration plan cannot mix applying and unapplying migrations")
            if forwards:
                results = self._migrate_forwards(forwards, fake, fake_initial, dry_run)
            else:
                results = self._migrate_backwards(backwards, fake, dry_run)
            if not dry_run:
                self._record_implicit_squashes()
        return results

    def _record_implicit_squashes(self) -> None:
        """Squashed migrations all of whose replaced migrations are applied."""
        applied = self.recorder.applied_migrations()
        for key, squashed in self.loader.replacements.items():
            if key in applied or not squashed.replaces:
                continue
            if all(r in applied for r in squashed.replaces):
                self.recorder.record_applied(*key)
                self.loader.applied.add(key)
                self._emit("record_squashed", squashed)

    def _migrate_forwards(self, migrations, fake, fake_initial, dry_run) -> list[MigrationResult]:
        pending = {m.key: m for m in migrations}
        applied = self._applied()
        state = ProjectState()
        results = []
        for key in self.graph.order():
            migration = self.graph.nodes[key]
            if key in pending:
                result, state = self.apply_migration(state, migration, fake=fake,
                                                     fake_initial=fake_initial, dry_run=dry_run)
                results.append(result)
                del pending[key]
                if not pending:
                    break
            elif key in applied:
                state = migration.mutate_state(state, preserve=False)
        return results

    def _migrate_backwards(self, migrations, fake, dry_run) -> list[MigrationResult]:
        to_unapply = {m.key for m in migrations}
        applied = self._applied()
        states: dict = {}
        state = ProjectState()
        for key in self.graph.order():
            if key in to_unapply:
                states[key] = state.clone()
            if key in applied:
                state = self.graph.nodes[key].mutate_state(state, preserve=False)
            if to_unapply <= set(states):
                break
        results = []
        for migration in migrations:
            results.append(self.unapply_migration(states[migration.key], migration, fake=fake,
                                                  dry_run=dry_run))
        return results

    # ---- one migration ------------------------------------------------------------------------
    def _record(self, migration: Migration, applied: bool) -> None:
        keys = [*migration.replaces, migration.key] if migration.replaces else [migration.key]
        for app, name in keys:
            if applied:
                self.recorder.record_applied(app, name)
                self.loader.applied.add((app, name))
            else:
                self.recorder.record_unapplied(app, name)
                self.loader.applied.discard((app, name))
                self.loader.implicitly_applied.discard((app, name))

    def _check_atomic(self, migration: Migration) -> None:
        if not migration.atomic:
            return
        bad = [op for op in migration.operations if not op.atomic]
        if bad:
            names = ", ".join(_describe(op) for op in bad)
            raise MigrationError(
                f"Migration {migration} is atomic but contains operation(s) that cannot run inside "
                f"a transaction ({names}); add 'atomic = False' to the migration file")

    def _dry_editor(self, sink: list):
        editor = self.connection.schema_editor(atomic=False, collect_sql=True)
        editor.connection = CapturingConnection(self.connection, sink)
        editor.collected_sql = sink
        return editor

    def collect_sql(self, state: ProjectState, migration: Migration, backwards: bool = False) -> list[str]:
        """The SQL of one migration (``sqlmigrate``): nothing runs. ``state`` is the state
        before the migration."""
        sink: list[str] = []
        with self._dry_editor(sink) as editor:
            if backwards:
                self._unapply_ops(migration, state, editor, None)
            else:
                self._apply_ops(migration, state, editor, None)
        return sink

    def collect_sql_by_operation(self, state: ProjectState, migration: Migration,
                                 backwards: bool = False) -> list[tuple]:
        """``[(operation, [sql, ...])]`` for ``sqlmigrate`` (statements deferred to the end
        of the block, such as foreign keys added afterwards, go with the last one)."""
        sink: list[str] = []
        out: list[tuple] = []
        app = migration.app_label
        steps, current = [], state
        for op in migration.operations:
            after = current.clone()
            op.state_forwards(app, after)
            steps.append((op, current, after))
            current = after
        with self._dry_editor(sink) as editor:
            for op, before, after in (reversed(steps) if backwards else steps):
                start = len(sink)
                if backwards:
                    op.database_backwards(app, editor, after, before)
                else:
                    op.database_forwards(app, editor, before, after)
                out.append((op, sink[start:]))
            mark = len(sink)
        if out and len(sink) > mark:
            out[-1] = (out[-1][0], [*out[-1][1], *sink[mark:]])
        return out

    def _apply_ops(self, migration, state, editor, per_op_editor):
        """Run the operations forwards; ``per_op_editor()`` (non-atomic migrations) gives a
        fresh editor block per operation. Returns the new state."""
        app = migration.app_label
        for index, op in enumerate(migration.operations, 1):
            after = state.clone()
            op.state_forwards(app, after)
            try:
                if per_op_editor is not None:
                    with per_op_editor(op) as op_editor:
                        op.database_forwards(app, op_editor, state, after)
                else:
                    op.database_forwards(app, editor, state, after)
            except Exception as exc:
                exc._dorm_op_index = index  # type: ignore[attr-defined]
                raise
            state = after
        return state

    def _unapply_ops(self, migration, state, editor, per_op_editor):
        app = migration.app_label
        steps = []
        current = state
        for op in migration.operations:
            after = current.clone()
            op.state_forwards(app, after)
            steps.append((op, current, after))
            current = after
        for op, _, _ in steps:
            if not op.reversible:
                raise IrreversibleError(f"Migration {migration} cannot be unapplied: operation "
                                        f"{_describe(op)} is irreversible")
        for index, (op, before, after) in reversed(list(enumerate(steps, 1))):
            try:
                if per_op_editor is not None:
                    with per_op_editor(op) as op_editor:
                        op.database_backwards(app, op_editor, after, before)
                else:
                    op.database_backwards(app, editor, after, before)
            except Exception as exc:
                exc._dorm_op_index = index  # type: ignore[attr-defined]
                raise
        return state

    def detect_soft_applied(self, state: ProjectState, migration: Migration) -> bool:
        """Is an initial migration's schema already there (``--fake-initial``)?"""
        from .operations import AddField, CreateModel

        if not migration.is_initial:
            return False
        creates = [op for op in migration.operations if isinstance(op, CreateModel)]
        adds = [op for op in migration.operations if isinstance(op, AddField)]
        if not creates and not adds:
            return False
        after = migration.mutate_state(state)
        intro = self.connection.introspection
        tables = set(intro.table_names())
        for op in creates:
            model = after.apps.get_model(migration.app_label, op.name)
            if model._meta.db_table not in tables:
                return False
            for m2m in model._meta.local_many_to_many:
                through = m2m.remote_field.through
                if getattr(through._meta, "auto_created", False) and through._meta.db_table not in tables:
                    return False
        for op in adds:
            model = after.apps.get_model(migration.app_label, op.model_name)
            added = model._meta.get_field(op.name)
            if getattr(added, "many_to_many", False):
                through = added.remote_field.through
                if through._meta.db_table not in tables:
                    return False
                continue
            if model._meta.db_table not in tables:
                return False
            columns = {c.name for c in intro.get_table_description(model._meta.db_table)}
            if added.column not in columns:
                return False
        return True

    def apply_migration(self, state, migration, *, fake=False, fake_initial=False, dry_run=False):
        """Apply one migration; returns ``(MigrationResult, state after it)``."""
        if not fake and fake_initial and self.detect_soft_applied(state, migration):
            fake = True
        if fake:
            if not dry_run:
                self._record(migration, True)
            self._emit("fake", migration)
            return MigrationResult(migration, faked=True), migration.mutate_state(state)
        self._check_atomic(migration)
        self._emit("apply_start", migration, dry_run=dry_run)
        if dry_run:
            sink: list[str] = []
            with self._dry_editor(sink) as editor:
                new_state = self._apply_ops(migration, state, editor, None)
            self._emit("apply_success", migration, dry_run=True, sql=sink)
            return MigrationResult(migration, sql=sink), new_state
        try:
            if migration.atomic:
                with self.connection.schema_editor(atomic=True) as editor:
                    new_state = self._apply_ops(migration, state, editor, None)
                    self._record(migration, True)
            else:
                new_state = self._apply_ops(
                    migration, state, None,
                    lambda op: self.connection.schema_editor(atomic=op.atomic))
                self._record(migration, True)
        except MigrationError as exc:
            if getattr(exc, "_dorm_op_index", None) is None:
                raise
            raise self._failure(migration, exc, backwards=False) from exc
        except Exception as exc:
            raise self._failure(migration, exc, backwards=False) from exc
        self._emit("apply_success", migration)
        return MigrationResult(migration), new_state

    def unapply_migration(self, state, migration, *, fake=False, dry_run=False) -> MigrationResult:
        """Unapply one migration; ``state`` is the state before it."""
        if fake:
            if not dry_run:
                self._record(migration, False)
            self._emit("fake_unapply", migration)
            return MigrationResult(migration, backwards=True, faked=True)
        self._check_atomic(migration)
        self._emit("unapply_start", migration, dry_run=dry_run)
        if dry_run:
            sink: list[str] = []
            with self._dry_editor(sink) as editor:
                self._unapply_ops(migration, state, editor, None)
            self._emit("unapply_success", migration, dry_run=True, sql=sink)
            return MigrationResult(migration, backwards=True, sql=sink)
        try:
            if migration.atomic:
                with self.connection.schema_editor(atomic=True) as editor:
                    self._unapply_ops(migration, state, editor, None)
                    self._record(migration, False)
            else:
                self._unapply_ops(migration, state, None,
                                  lambda op: self.connection.schema_editor(atomic=op.atomic))
                self._record(migration, False)
        except IrreversibleError:
            raise
        except Exception as exc:
            raise self._failure(migration, exc, backwards=True) from exc
        self._emit("unapply_success", migration)
        return MigrationResult(migration, backwards=True)

    def _failure(self, migration: Migration, exc: BaseException, backwards: bool) -> MigrationFailed:
        index = getattr(exc, "_dorm_op_index", None)
        total = len(migration.operations)
        verb = "Unapplying" if backwards else "Applying"
        where = ""
        if index is not None:
            where = f" at operation {index}/{total} ({_describe(migration.operations[index - 1])})"
        transactional = bool(getattr(self.connection.features, "supports_transactional_ddl", False))
        if migration.atomic and transactional:
            schema_state = "rolled back"
            tail = (f"the migration was rolled back: the schema and {self.recorder.table} are as "
                    f"before {migration} ({'still applied' if backwards else 'not applied'})")
        else:
            schema_state = "partially applied"
            if index is None:
                done = "no operation finished"
            elif backwards:
                done = (f"operations {index + 1}..{total} were reverted and stay reverted"
                        if index < total else "no operation was reverted")
            else:
                done = (f"operations 1..{index - 1} were applied and stay applied"
                        if index > 1 else "no operation was applied")
            why = ("the migration is not atomic" if not migration.atomic
                   else f"{self.connection.display_name} has no transactional DDL")
            tail = (f"{done} ({why}); {migration} is {'still' if backwards else 'not'} recorded as "
                    "applied: repair the schema by hand (or fix the migration) before running again")
        message = f"{verb} {migration} failed{where}: {type(exc).__name__}: {exc}; {tail}"
        return MigrationFailed(message, migration, index, schema_state)

    # ---- conveniences ---------------------------------------------------------------------------------
    def migrate_to(self, app_label: str, target: str | None = None, **kwargs) -> list[MigrationResult]:
        """``migrate app [target]``: forwards or backwards as needed."""
        return self.migrate(self.targets_for(app_label, target), **kwargs)

    def rollback_targets(self, app_label: str, target: str | None = None) -> list:
        """Targets for ``rollback app [target]``: without a target, the app's latest
        applied migration is unapplied (one step)."""
        if target is not None:
            return self.targets_for(app_label, target)
        applied = self._applied()
        nodes = [k for k in self.graph.app_nodes(app_label) if k in applied]
        if not nodes:
            return []
        last = nodes[-1]
        parents = sorted(p for p in self.graph.parents[last] if p[0] == app_label)
        return [parents[-1]] if parents else [(app_label, None)]

    def rollback(self, app_label: str, target: str | None = None, **kwargs) -> list[MigrationResult]:
        targets = self.rollback_targets(app_label, target)
        if not targets:
            return []
        plan = [p for p in self.migration_plan(targets) if p[1]]
        return self.migrate(plan=plan, **kwargs)

    def show_migrations(self, app_label: str | None = None) -> list[str]:
        """``app`` then ``  [X] name`` / ``  [ ] name`` lines."""
        lines = []
        applied = self._applied()
        for app in self.loader.apps:
            if app_label is not None and app.label != app_label:
                continue
            lines.append(app.label)
            nodes = self.graph.app_nodes(app.label)
            if not nodes:
                lines.append("  (no migrations)")
            for key in nodes:
                migration = self.graph.nodes[key]
                mark = "X" if key in applied else " "
                suffix = f" ({len(migration.replaces)} squashed migrations)" if migration.replaces else ""
                lines.append(f"  [{mark}] {key[1]}{suffix}")
        return lines
