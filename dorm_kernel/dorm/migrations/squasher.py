"""Squashing: many migrations into one with the same end state.

``squash_operations(operations, app_label)`` reduces a list of operations until
nothing changes: ``CreateModel`` + later ``AddField``/``AlterField``/``RemoveField``/
``RenameField``/option and index operations on that model fold into the
``CreateModel``; ``CreateModel`` + ``DeleteModel`` vanish; ``AddField`` +
``RemoveField`` vanish; ``AlterField`` chains keep the last; ``RenameModel`` and
``RenameField`` chains merge. Two operations combine only when nothing between them
touches the same model (each operation's ``reduce`` decides), and elidable
``RunSQL``/``RunPython`` operations are dropped.

``squash_migrations(loader, app_label, start, end, name)`` builds the squashed
``Migration`` (``replaces`` = the squashed range; dependencies = those of the range on
migrations outside it). Operations that cannot be written into a file (``RunPython``
whose function lives in a migration module, lambdas) are refused with a list of them.
"""
from __future__ import annotations

from .exceptions import MigrationError, SerializationError
from .migration import Migration


def squash_operations(operations: list, app_label: str) -> list:
    ops = [op for op in operations if not op.elidable]
    while True:
        result = _reduce_once(ops, app_label)
        if result is None:
            return ops
        ops = result


def _reduce_once(ops: list, app_label: str) -> list | None:
    """One reduction step (Django's optimizer algorithm), or ``None`` when stable."""
    for i, op in enumerate(ops):
        right = True
        for j in range(i + 1, len(ops)):
            other = ops[j]
            result = op.reduce(other, app_label)
            if isinstance(result, list):
                between = ops[i + 1:j]
                if right:
                    return ops[:i] + between + result + ops[j + 1:]
                if all(mid.reduce(other, app_label) is True for mid in between):
                    return ops[:i] + result + between + ops[j + 1:]
                break
            if not result:
                right = False
    return None


def squash_migrations(loader, app_label: str, start: str | None, end: str,
                      squashed_name: str | None = None, optimize: bool = True) -> Migration:
    """The squashed migration for ``start``..``end`` (inclusive) of ``app_label``."""
    graph = loader.graph
    end_m = loader.find_migration(app_label, end)
    nodes = graph.app_nodes(app_label)
    start_m = loader.find_migration(app_label, start) if start else graph.nodes[nodes[0]]
    i, j = nodes.index(start_m.key), nodes.index(end_m.key)
    if i > j:
        raise MigrationError(f"{start_m.name} comes after {end_m.name}: give the range in order")
    keys = nodes[i:j + 1]
    if len(keys) < 2:
        raise MigrationError("squashing needs at least two migrations")
    migrations = [graph.nodes[k] for k in keys]
    nested = [m for m in migrations if m.replaces]
    if nested:
        raise MigrationError(
            f"{', '.join(m.name for m in nested)} already squash other migrations; squash a range "
            "without squashed migrations (or delete the originals first)")
    in_range = set(keys)
    deps = set()
    for k in keys:
        for parent in graph.parents[k]:
            if parent not in in_range:
                deps.add(parent)
    operations = [op for m in migrations for op in m.operations]
    if optimize:
        operations = squash_operations(operations, app_label)
    numbers = [m.number for m in loader.disk_migrations.values() if m.app_label == app_label and m.number]
    number = max(numbers, default=0) + 1
    name = f"{number:04d}_{squashed_name or 'squashed'}"
    own = sorted(d for d in deps if d[0] == app_label)
    other = sorted(d for d in deps if d[0] != app_label)
    return Migration(name, app_label, operations, [*own, *other], replaces=keys,
                     atomic=all(m.atomic for m in migrations),
                     initial=True if any(m.is_initial for m in migrations[:1]) else None)


def check_serializable(migration: Migration, forbidden_modules=()) -> None:
    """Raise ``SerializationError`` listing every operation that cannot be written."""
    from .serializer import Serializer

    problems = []
    for index, op in enumerate(migration.operations, 1):
        try:
            Serializer(forbidden_modules=forbidden_modules).serialize(op)
        except SerializationError as exc:
            problems.append(f"operation {index} ({op.describe()}): {exc}")
    if problems:
        raise SerializationError(
            "cannot squash: these operations cannot be written into the squashed file "
            "(move their functions to an importable module, or squash a range without them): "
            + "; ".join(problems))
