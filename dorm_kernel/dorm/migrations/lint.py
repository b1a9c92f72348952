"""``dorm lint``: flag migration operations that are risky on a live database.

Rules (``Finding.code``):

* ``DORM-M001`` ``AddField`` of a NOT NULL column: without a default it fails on a
  non-empty table; with one, several databases rewrite (and lock) the whole table.
* ``DORM-M002`` ``AlterField`` that changes the column type (table rewrite, possible
  data loss); the type is compared with the configured backend's column types.
* ``DORM-M003`` ``AddIndex`` without ``concurrently=True`` on a backend that can build
  indexes concurrently (``features.supports_concurrent_index``), which locks writes.
* ``DORM-M004`` ``RunPython`` without ``reverse_code`` (the migration cannot be unapplied).
* ``DORM-M005`` ``RemoveField`` / ``DeleteModel``: running code still using the column
  breaks; deploy code that stops using it first.
* ``DORM-M006`` ``RenameField`` / ``RenameModel``: code of the previous release uses the
  old name while the migration runs.

A file containing ``# noqa: DORM-M00X`` ignores that rule (``# noqa`` alone: all rules).
Initial migrations (creating the tables) only get ``DORM-M004``.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

RULES = {
    "DORM-M001": "AddField NOT NULL column",
    "DORM-M002": "AlterField changes the column type",
    "DORM-M003": "AddIndex without concurrently=True",
    "DORM-M004": "RunPython without reverse_code",
    "DORM-M005": "column or table removed",
    "DORM-M006": "column or table renamed",
}

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z0-9\-, ]+))?", re.IGNORECASE)


@dataclass
class Finding:
    code: str
    file: str
    operation: str
    message: str
    migration: str = ""
    index: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file}: operation {self.index} ({self.operation}): {self.code} {self.message}"


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> str:
        return json.dumps({"ok": self.ok, "findings": [f.as_dict() for f in self.findings]}, indent=2)


def _suppressed(path) -> set[str] | None:
    """Codes suppressed file-wide; ``None`` = everything."""
    try:
        text = path.read_text(encoding="utf-8") if path is not None else ""
    except OSError:
        return set()
    codes: set[str] = set()
    for m in _NOQA.finditer(text):
        if not m.group("codes"):
            return None
        codes.update(c.strip().upper() for c in m.group("codes").split(",") if c.strip())
    return codes


def _db_type(field, connection):
    if connection is None:
        params = {k: getattr(field, k, None) for k in ("max_length", "max_digits", "decimal_places")}
        return (field.get_internal_type(), tuple(sorted(params.items())))
    try:
        return field.db_type(connection)
    except Exception:  # noqa: BLE001 - unresolved relation in a partial state
        return field.get_internal_type()


def lint_migration(migration, state, connection=None, rules=None) -> tuple[list[Finding], object]:
    """Findings of one migration; ``state`` is the state before it. Returns the
    findings and the state after it."""
    from .operations import (
        AddField,
        AddIndex,
        AlterField,
        DeleteModel,
        RemoveField,
        RenameField,
        RenameModel,
        RunPython,
    )

    path = migration.path
    file = str(path) if path is not None else f"{migration.app_label}.{migration.name}"
    suppressed = _suppressed(path)
    wanted = set(rules) if rules else set(RULES)
    found: list[Finding] = []
    initial = migration.is_initial
    concurrent = bool(getattr(getattr(connection, "features", None), "supports_concurrent_index", False))

    def add(code, op, index, message):
        if code not in wanted or suppressed is None or code in suppressed:
            return
        found.append(Finding(code, file, type(op).__name__, message, str(migration), index))

    app = migration.app_label
    for index, op in enumerate(migration.operations, 1):
        before = state
        state = state.clone()
        op.state_forwards(app, state)
        if isinstance(op, RunPython) and op.reverse_code is None:
            add("DORM-M004", op, index, f"{op.describe()} has no reverse_code: the migration cannot "
                "be unapplied (use reverse_code=RunPython.noop if nothing needs undoing)")
        if initial:
            continue
        if isinstance(op, AddField) and not getattr(op, "online", False):
            f = op.field
            if not f.null and not getattr(f, "many_to_many", False):
                if f.has_default() or f.has_db_default():
                    add("DORM-M001", op, index, f"{op.model_name}.{op.name} is NOT NULL with a default: "
                        "filling existing rows may rewrite and lock the table; add it nullable, "
                        "backfill in batches, then set NOT NULL")
                else:
                    add("DORM-M001", op, index, f"{op.model_name}.{op.name} is NOT NULL without a "
                        "default: adding it fails on a non-empty table (AddFieldOnline + BackfillBatch + "
                        "SetNotNullOnline)")
        elif isinstance(op, AlterField):
            try:
                old = before.get_model_state(app, op.model_name).get_field(op.name)
            except LookupError:
                old = None
            if old is not None and not getattr(old, "many_to_many", False):
                try:
                    old_m = before.apps.get_model(app, op.model_name)._meta.get_field(op.name)
                    new_m = state.apps.get_model(app, op.model_name)._meta.get_field(op.name)
                    old_t, new_t = _db_type(old_m, connection), _db_type(new_m, connection)
                except Exception:  # noqa: BLE001
                    old_t, new_t = _db_type(old, connection), _db_type(op.field, connection)
                if old_t != new_t:
                    add("DORM-M002", op, index, f"{op.model_name}.{op.name} changes type "
                        f"({_show(old_t)} -> {_show(new_t)}): the table may be rewritten and "
                        "locked, values may not convert")
        elif isinstance(op, AddIndex) and not op.concurrently and concurrent:
            add("DORM-M003", op, index, f"index {op.index.name} is built without concurrently=True: "
                "writes to the table are blocked while it builds (use AddIndex(..., "
                "concurrently=True) in a migration with atomic = False)")
        elif isinstance(op, RemoveField):
            add("DORM-M005", op, index, f"{op.model_name}.{op.name} is dropped: code still reading it "
                "fails; release code that no longer uses it first")
        elif isinstance(op, DeleteModel):
            add("DORM-M005", op, index, f"model {op.name} (its table) is dropped: release code that no "
                "longer uses it first")
        elif isinstance(op, RenameField):
            add("DORM-M006", op, index, f"{op.model_name}.{op.old_name} is renamed to {op.new_name}: "
                "running code using the old column name breaks; prefer add + backfill + remove")
        elif isinstance(op, RenameModel):
            add("DORM-M006", op, index, f"model {op.old_name} is renamed to {op.new_name}: its table "
                "may be renamed under running code")
    return found, state


def _show(db_type) -> str:
    if isinstance(db_type, tuple):
        return str(db_type[0])
    return str(db_type)


def lint(loader, app_labels=None, connection=None, rules=None) -> LintResult:
    """Lint every migration of ``app_labels`` (default: all installed apps) in graph order."""
    from .state import ProjectState

    result = LintResult()
    state = ProjectState()
    for key in loader.graph.order():
        migration = loader.graph.nodes[key]
        if app_labels and key[0] not in app_labels:
            state = migration.mutate_state(state, preserve=False)
            continue
        findings, state = lint_migration(migration, state, connection, rules)
        result.findings.extend(findings)
    return result
