"""Moving rows when the number of shards changes: ``rebalance()`` / ``dorm shards rebalance``.

Every sharded model needs a *key field* (``HashShardRouter(shard_models={Order:
"customer_id"})``): the row's shard is ``shard_for(row.key_field, to_shards)``.

Two phases, each resumable from a JSON checkpoint file written after every batch
(atomically: temp file + rename):

1. **copy** – models in foreign-key order (referenced tables first). Each source shard
   is scanned in primary-key order (``pk > last ORDER BY pk LIMIT batch``); rows whose
   new shard differs from the one they are on are inserted there (one transaction per
   batch and target), skipping rows a previous, interrupted run already copied. A
   row on the target with the same primary key but another shard key is a collision:
   sharded models need globally unique primary keys (UUIDs, or ids from one sequence),
   and the run stops before deleting anything.
2. **delete** – models in reverse foreign-key order (dependent rows first). The same
   scan; for each batch the rows to remove are first *verified* on their new shard
   (every primary key present, with the same shard key), then deleted from the source
   in one transaction, checking the deleted count.

Only rows that must move are read twice and written once; with jump consistent hash,
growing from N to M shards moves about (M-N)/M of the rows, all to the new shards.
Rows are inserted with their column values as stored (no ``auto_now``, no signals).
At the end the total row count per model is compared with the count taken before
the run. Stop application writes to the sharded models while rebalancing (or run it
again afterwards: a re-run moves whatever is still misplaced), then switch the
router to the new shard count.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from dorm.db import connections
from dorm.transaction import atomic

from .exceptions import RebalanceError
from .placement import (
    DEFAULT_SALT,
    _check_count,
    _salt_bytes,
    check_algorithm,
    check_aliases,
    default_aliases,
    shard_index,
)

STATE_VERSION = 1
_IN_CHUNK = 500


@dataclasses.dataclass
class ModelReport:
    label: str
    before: int = 0
    after: int = 0
    scanned: int = 0
    copied: int = 0
    already_copied: int = 0
    deleted: int = 0
    moves: dict = dataclasses.field(default_factory=dict)    # "src->dst" -> rows

    @property
    def moved(self) -> int:
        return self.deleted

    @property
    def expected_after(self) -> int:
        """``before`` plus the rows this rebalance inserted minus those it deleted."""
        return self.before + self.copied - self.deleted


@dataclasses.dataclass
class RebalanceReport:
    from_shards: int
    to_shards: int
    models: dict = dataclasses.field(default_factory=dict)   # label -> ModelReport
    dry_run: bool = False
    resumed: bool = False
    state_file: str | None = None
    seconds: float = 0.0

    @property
    def moved(self) -> int:
        return sum(m.moved for m in self.models.values())

    @property
    def total(self) -> int:
        return sum(m.before for m in self.models.values())

    @property
    def verified(self) -> bool:
        return self.dry_run or all(m.after == m.expected_after for m in self.models.values())

    def as_dict(self) -> dict:
        return {"from_shards": self.from_shards, "to_shards": self.to_shards, "dry_run": self.dry_run,
                "resumed": self.resumed, "state_file": self.state_file, "seconds": round(self.seconds, 3),
                "moved": self.moved, "total": self.total, "verified": self.verified,
                "models": {k: {**dataclasses.asdict(v), "moved": v.moved, "expected_after": v.expected_after}
                           for k, v in self.models.items()}}


# ---- set-up ----------------------------------------------------------------------------------------------
def _alias_lists(from_shards, to_shards, aliases, router):
    need = max(from_shards, to_shards)
    if aliases is not None:
        aliases = list(aliases)
        if len(aliases) < need:
            raise ValueError(f"aliases lists {len(aliases)} shard(s) but --from {from_shards} / --to "
                             f"{to_shards} needs {need}")
        check_aliases(aliases, len(aliases))
        return aliases[:from_shards], aliases[:to_shards]
    if router is not None:
        own = list(router.aliases)
        if own != default_aliases(len(own)):
            if len(own) < need:
                raise ValueError(
                    f"the router's shard aliases {own!r} are custom and fewer than {need}: pass "
                    f"aliases= (--aliases) listing all {need} of them")
            return own[:from_shards], own[:to_shards]
    return default_aliases(from_shards), default_aliases(to_shards)


def _model_specs(models, router):
    """``[(model, key_attname)]`` in foreign-key order."""
    from dorm.db.tables import dependency_order

    pairs: dict = {}
    if models is None:
        if router is None:
            raise ValueError("rebalance needs models= or a configured HashShardRouter")
        models = router.sharded_models()
        if not models:
            raise ValueError("the HashShardRouter shards no registered model (are the apps imported?)")
    if isinstance(models, dict):
        items = list(models.items())
    else:
        items = [(m, None) for m in models]
    from dorm.models.options import registry

    for model, key_field in items:
        if isinstance(model, str):
            model = registry.get_model(model)
        meta = model._meta
        if getattr(meta, "proxy", False) or getattr(meta, "abstract", False):
            continue
        key_field = key_field or (router.key_field(model) if router is not None else None)
        if not key_field:
            raise RebalanceError(
                f"{meta.label} has no shard key field, so its rows cannot be placed: declare it "
                f"(HashShardRouter(shard_models={{{meta.object_name}: 'customer_id'}})) or pass "
                f"--key-field {meta.label}=FIELD")
        try:
            field = meta.get_field(key_field)
        except Exception as exc:
            raise RebalanceError(f"{meta.label}: shard key field {key_field!r} does not exist: {exc}") from exc
        if not getattr(field, "concrete", False) or getattr(field, "attname", None) is None:
            raise RebalanceError(f"{meta.label}: shard key field {key_field!r} has no column")
        pairs[model] = field.attname
    ordered = dependency_order(list(pairs))
    return [(m, pairs[m]) for m in ordered]


# ---- checkpoint --------------------------------------------------------------------------------------------
def _json_pk(value):
    if value is None or isinstance(value, (int, str)):
        return value
    return str(value)


class _State:
    def __init__(self, path: Path | None, header: dict, restart: bool):
        self.path = path
        self.header = header
        self.resumed = False
        data = None
        if path is not None and path.exists() and not restart:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise RebalanceError(f"cannot read the rebalance checkpoint {path}: {exc}; fix or delete it "
                                     f"(or pass --restart)") from exc
            theirs = {k: data.get(k) for k in header}
            if theirs != header:
                diff = ", ".join(f"{k}: {theirs[k]!r} in the file, {header[k]!r} now"
                                 for k in header if theirs[k] != header[k])
                raise RebalanceError(f"the checkpoint {path} belongs to another rebalance ({diff}); "
                                     f"use another --state-file or --restart")
            self.resumed = True
        self.data = data or {**header, "version": STATE_VERSION, "phase": "copy", "models": {}}

    def model(self, label: str) -> dict:
        return self.data["models"].setdefault(label, {"copy": {}, "delete": {}, "before": None})

    def save(self) -> None:
        if self.path is None:
            return
        self.data["updated_at"] = time.time()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


# ---- SQL helpers ---------------------------------------------------------------------------------------------
def _manager(model, alias):
    return model._meta.base_manager().using(alias)


def _batch(model, alias, attnames, last_pk, size):
    pk = model._meta.pk
    qs = _manager(model, alias)
    if last_pk is not None:
        qs = qs.filter(pk__gt=pk.to_python(last_pk))
    return list(qs.order_by("pk").values_list(*attnames)[:size])


def _insert(model, alias, fields, rows):
    conn = connections[alias]
    ops = conn.ops
    table = ops.quote_name(model._meta.db_table)
    cols = ", ".join(ops.quote_name(f.column) for f in fields)
    row_sql = "(" + ", ".join([ops.placeholder] * len(fields)) + ")"
    per = max(1, min(len(rows), ops.bulk_batch_size(len(fields), len(rows))))
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        params = []
        for row in chunk:
            for f, value in zip(fields, row):
                params.append(None if value is None else f.get_db_prep_save(value, conn))
        conn.execute_write(f"INSERT INTO {table} ({cols}) VALUES {', '.join([row_sql] * len(chunk))}", params)


def _delete(model, alias, pks) -> int:
    conn = connections[alias]
    ops = conn.ops
    table = ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    col = ops.quote_name(pk.column)
    deleted = 0
    for start in range(0, len(pks), _IN_CHUNK):
        chunk = pks[start:start + _IN_CHUNK]
        params = [pk.get_db_prep_value(v, conn) if hasattr(pk, "get_db_prep_value") else v for v in chunk]
        sql = f"DELETE FROM {table} WHERE {col} IN ({', '.join([ops.placeholder] * len(chunk))})"
        deleted += conn.execute_write(sql, params)
    return deleted


# ---- the run ---------------------------------------------------------------------------------------------------
def rebalance(*, from_shards: int, to_shards: int, models=None, router=None, aliases=None,
              from_algorithm: str | None = None, to_algorithm: str | None = None, salt=None,
              batch_size: int = 500, state_file=None, restart: bool = False, dry_run: bool = False,
              progress=None) -> RebalanceReport:
    """Move the rows of sharded models from a ``from_shards`` layout to ``to_shards``.

    * ``models`` – model classes / labels, or ``{model: key_field}``; default: every
      model the (configured) router shards, with its declared key field.
    * ``router`` – the ``HashShardRouter`` supplying models, key fields, salt,
      algorithm and aliases (default: the configured one, if any).
    * ``aliases`` – every shard alias, at least ``max(from, to)`` of them (default: the
      router's, or ``shard_0..``); the source layout is the first ``from_shards``.
    * ``from_algorithm`` / ``to_algorithm`` – placement of the old and new layout
      (default: the router's, else ``"jump"``); ``from_algorithm="modulo"`` migrates
      data placed by the djanorm reference.
    * ``state_file`` – checkpoint path (``None``: no checkpoint, not resumable);
      ``restart`` ignores an existing one.
    * ``dry_run`` – count what would move; nothing is written.
    * ``progress`` – ``callable(event: dict)`` called per batch (``phase``, ``model``,
      ``alias``, ``scanned``, ``total``, ``moved``).
    """
    from .router import shard_routers

    started = time.monotonic()
    from_shards, to_shards = _check_count(from_shards), _check_count(to_shards)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if router is None:
        found = shard_routers()
        router = found[0] if len(found) == 1 else None
    default_algorithm = router.algorithm if router is not None else "jump"
    from_algorithm = check_algorithm(from_algorithm or default_algorithm)
    to_algorithm = check_algorithm(to_algorithm or default_algorithm)
    salt = _salt_bytes(salt if salt is not None else (router.salt if router is not None else DEFAULT_SALT))
    sources, targets = _alias_lists(from_shards, to_shards, aliases, router)
    specs = _model_specs(models, router)
    union = list(dict.fromkeys([*sources, *targets]))
    for alias in union:
        if alias not in connections:
            raise RebalanceError(f"shard alias {alias!r} is not in settings.DATABASES; configured: "
                                 f"{', '.join(connections.configured_aliases())}")
    for model, _ in specs:
        for alias in union:
            if not connections[alias].table_exists(model._meta.db_table):
                raise RebalanceError(
                    f"table {model._meta.db_table!r} of {model._meta.label} does not exist on shard "
                    f"{alias!r}: create it first (dorm shards migrate --database {alias}, or "
                    f"dorm.create_tables([...], using={alias!r}))")

    header = {"from": from_shards, "to": to_shards, "from_algorithm": from_algorithm,
              "to_algorithm": to_algorithm, "salt": salt.hex(), "sources": sources, "targets": targets}
    path = Path(state_file) if state_file is not None and not dry_run else None
    state = _State(path, header, restart)
    report = RebalanceReport(from_shards, to_shards, dry_run=dry_run, resumed=state.resumed,
                             state_file=str(path) if path is not None else None)

    def target_of(key):
        if key is None:
            return None
        return targets[shard_index(key, to_shards, salt=salt, algorithm=to_algorithm)]

    def emit(**event):
        if progress is not None:
            progress(event)

    # totals before (kept in the checkpoint: a resumed run compares with the first count)
    for model, _ in specs:
        label = model._meta.label_lower
        entry = state.model(label)
        rep = report.models[label] = ModelReport(label)
        if entry["before"] is None:
            entry["before"] = sum(_manager(model, a).count() for a in union)
        rep.before = entry["before"]
        for key, value in entry.get("moves", {}).items():
            rep.moves[key] = value
        rep.copied = entry.get("copied", 0)
        rep.already_copied = entry.get("already_copied", 0)
        rep.deleted = entry.get("deleted", 0)
    state.save()
    emit(phase="plan", models=[m._meta.label for m, _ in specs], sources=sources, targets=targets,
         totals={label: r.before for label, r in report.models.items()})

    phases = ("copy", "delete") if not dry_run else ("scan",)
    if state.data.get("phase") == "delete":
        phases = ("delete",)
    elif state.data.get("phase") == "done":
        phases = ()
    for phase in phases:
        ordered = specs if phase != "delete" else list(reversed(specs))
        for model, key_attname in ordered:
            _run_phase(phase, model, key_attname, sources, target_of, batch_size, state,
                       report.models[model._meta.label_lower], emit)
        if phase == "copy":
            state.data["phase"] = "delete"
            state.save()
    if not dry_run:
        state.data["phase"] = "done"
        state.save()
    for model, _ in specs:
        rep = report.models[model._meta.label_lower]
        rep.after = rep.before if dry_run else sum(_manager(model, a).count() for a in union)
    report.seconds = time.monotonic() - started
    emit(phase="done", report=report)
    return report


def _run_phase(phase, model, key_attname, sources, target_of, batch_size, state, rep, emit):
    meta = model._meta
    label = meta.label_lower
    pk_attname = meta.pk.attname
    fields = [f for f in meta.concrete_fields if not getattr(f, "generated", False)]
    attnames = [f.attname for f in fields]
    pk_index = attnames.index(pk_attname)
    key_index = attnames.index(key_attname)
    entry = state.model(label)
    marks = entry.setdefault(phase, {})
    for src in sources:
        mark = marks.setdefault(src, {"last_pk": None, "done": False})
        if mark["done"]:
            continue
        total = _manager(model, src).count()
        scanned = 0
        while True:
            rows = _batch(model, src, attnames, mark["last_pk"], batch_size)
            if not rows:
                break
            groups: dict[str, list] = {}
            for row in rows:
                dst = target_of(row[key_index])
                if dst is None:
                    raise RebalanceError(
                        f"{meta.label} pk={row[pk_index]!r} on shard {src!r} has no shard key "
                        f"({key_attname} is NULL): it cannot be placed; fix the row and re-run")
                if dst != src:
                    groups.setdefault(dst, []).append(row)
            moved = 0
            for dst, group in groups.items():
                if phase == "copy":
                    _copy_group(model, src, dst, fields, group, pk_index, key_index, key_attname, rep,
                                state.resumed)
                elif phase == "delete":
                    _delete_group(model, src, dst, fields, group, pk_index, rep)
                moves = f"{src}->{dst}"
                if phase != "copy":
                    rep.moves[moves] = rep.moves.get(moves, 0) + len(group)
                moved += len(group)
            scanned += len(rows)
            rep.scanned += len(rows) if phase != "delete" else 0
            if phase == "scan":
                rep.deleted += moved
            mark["last_pk"] = _json_pk(rows[-1][pk_index])
            entry.update(copied=rep.copied, already_copied=rep.already_copied, deleted=rep.deleted,
                         moves=rep.moves)
            state.save()
            emit(phase=phase, model=meta.label, alias=src, scanned=scanned, total=total, batch=len(rows),
                 moved=moved)
            if len(rows) < batch_size:
                break
        mark["done"] = True
        state.save()


def _rows_on(model, alias, pks, attnames) -> dict:
    """``{pk: row tuple}`` of the rows among ``pks`` on ``alias``."""
    pk_index = attnames.index(model._meta.pk.attname)
    out = {}
    for start in range(0, len(pks), _IN_CHUNK):
        chunk = pks[start:start + _IN_CHUNK]
        for row in _manager(model, alias).filter(pk__in=chunk).values_list(*attnames):
            out[row[pk_index]] = tuple(row)
    return out


def _differs(model, attnames, theirs, ours) -> str | None:
    """The first column whose value differs, as text, or ``None``."""
    for name, a, b in zip(attnames, theirs, ours):
        if a != b and str(a) != str(b):
            return f"{name}={a!r} there, {b!r} on the source"
    return None


def _copy_group(model, src, dst, fields, group, pk_index, key_index, key_attname, rep, resumed):
    """Copy ``group`` to ``dst``. A row already there with the same content was copied by
    an interrupted run: by this rebalance if it is resumed (counted as copied: ``before``
    predates it), else it was there when ``before`` was counted (a duplicate)."""
    attnames = [f.attname for f in fields]
    pks = [row[pk_index] for row in group]
    with atomic(dst):
        present = _rows_on(model, dst, pks, attnames)
        missing = []
        for row in group:
            pk = row[pk_index]
            if pk in present:
                diff = _differs(model, attnames, present[pk], tuple(row))
                if diff is not None:
                    raise RebalanceError(
                        f"primary-key collision on shard {dst!r}: {model._meta.label} pk={pk!r} already "
                        f"exists there as another row ({diff}). Sharded models need globally unique "
                        f"primary keys (UUIDs, or ids from one sequence); nothing was deleted")
                if resumed:
                    rep.copied += 1
                else:
                    rep.already_copied += 1
            else:
                missing.append(row)
        if missing:
            _insert(model, dst, fields, missing)
            rep.copied += len(missing)
        check = _rows_on(model, dst, pks, attnames)
        bad = [pk for row in group for pk in [row[pk_index]]
               if pk not in check or _differs(model, attnames, check[pk], tuple(row)) is not None]
        if bad:
            raise RebalanceError(
                f"copy of {len(pks)} {model._meta.label} row(s) from {src!r} to {dst!r}: {len(bad)} do not "
                f"read back identical (e.g. pk={bad[0]!r}); rolled back, nothing deleted")


def _delete_group(model, src, dst, fields, group, pk_index, rep):
    attnames = [f.attname for f in fields]
    pks = [row[pk_index] for row in group]
    present = _rows_on(model, dst, pks, attnames)
    missing = [pk for pk in pks if pk not in present]
    changed = [(row[pk_index], diff) for row in group if row[pk_index] in present
               for diff in [_differs(model, attnames, present[row[pk_index]], tuple(row))] if diff]
    if missing or changed:
        example = (f" (e.g. pk={missing[0]!r} missing)" if missing else
                   f" (e.g. pk={changed[0][0]!r}: {changed[0][1]})")
        raise RebalanceError(
            f"verification failed before deleting from {src!r}: of {len(pks)} {model._meta.label} row(s) "
            f"that belong on {dst!r}, {len(missing)} are missing there and {len(changed)} differ{example}; "
            f"nothing of this batch was deleted. Re-run with --restart to copy them again.")
    with atomic(src):
        deleted = _delete(model, src, pks)
        if deleted != len(pks):
            raise RebalanceError(
                f"deleting {len(pks)} moved {model._meta.label} row(s) from {src!r} removed {deleted}; "
                f"rolled back (were rows changed during the rebalance?)")
    rep.deleted += deleted


__all__ = ["ModelReport", "RebalanceReport", "rebalance"]
