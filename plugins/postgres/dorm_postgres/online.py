"""Online (low-lock) migration operations.

* ``AddFieldOnline(model_name, name, field, *, set_not_null_now=False, preserve_default=True)``
  – the state records ``field``; the column is added from a *copy* with ``null=True``
  (no table rewrite, no scan). ``set_not_null_now=True`` with ``null=False`` adds
  ``SET NOT NULL`` at once (small tables). Otherwise finish with ``BackfillBatch`` and
  ``SetNotNullOnline``. Backwards: drop the column.
* ``BackfillBatch(table, *, update_sql, pk_column="id", batch_size=10_000,
  sleep_seconds=0.0, max_batches=None, lock_timeout=None, statement_timeout=None,
  progress=None, name=None)`` – walks the primary key in keyset batches (``pk > last
  ORDER BY pk LIMIT batch_size``, any orderable key type) and runs ``update_sql`` with
  ``[first_pk, last_pk]`` of each batch (write ``... WHERE id BETWEEN %s AND %s AND col
  IS NULL``). Each batch is its own transaction, committed with its progress row in
  ``dorm_backfill_progress``: an interrupted backfill resumes after the last committed
  batch. One INFO log line per batch (logger ``dorm.migrations.online``) and
  ``progress(info)`` if given. Non-atomic: the migration needs ``atomic = False``.
* ``SetNotNullOnline(model_name, column, *, lock_timeout=None)`` – PostgreSQL:
  ``ADD CONSTRAINT chk CHECK (col IS NOT NULL) NOT VALID`` → ``VALIDATE CONSTRAINT``
  (no write lock) → ``SET NOT NULL`` (uses the validated CHECK, no scan) → ``DROP
  CONSTRAINT``, each step its own short transaction (non-atomic). Elsewhere: the plain
  equivalent, the schema editor's ``alter_field`` to NOT NULL (SQLite rebuilds the
  table). Backwards: ``DROP NOT NULL`` / the plain equivalent.
* ``AddCheckConstraintOnline(table, name, check)`` – PostgreSQL: ``ADD CONSTRAINT ...
  NOT VALID`` then ``VALIDATE CONSTRAINT`` in a second transaction (non-atomic).
  Backends with ``ALTER TABLE ADD CONSTRAINT``: the plain statement; SQLite:
  ``NotSupportedError`` (use a model ``CheckConstraint`` + ``AddConstraint``, which
  rebuilds the table). Backwards ``DROP CONSTRAINT IF EXISTS``. The state is not
  changed (the constraint is raw SQL).
"""
from __future__ import annotations

import hashlib
import logging
import re
import time

from dorm.exceptions import NotSupportedError
from dorm.migrations.operations import AddField, Operation

logger = logging.getLogger("dorm.migrations.online")

PROGRESS_TABLE = "dorm_backfill_progress"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_TIMEOUT = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$")


def _is_pg(schema_editor) -> bool:
    return getattr(schema_editor.connection, "vendor", None) == "postgresql"


def _collecting(schema_editor) -> bool:
    return bool(getattr(schema_editor, "collect_sql", False))


def _ident(value, what):
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValueError(f"{what} must be a non-empty identifier, got {value!r}")
    return value


def _timeout(value, what):
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{what} must be >= 0")
        return f"{int(value)}ms"
    if isinstance(value, str) and _TIMEOUT.match(value.strip()):
        return value.strip()
    raise ValueError(f"{what} must be milliseconds or a PostgreSQL duration ('5s'), got {value!r}")


def constraint_name(table: str, column: str, suffix: str = "notnull") -> str:
    """``chk_<table>_<col>_<suffix>`` shortened with a hash to PostgreSQL's 63 bytes."""
    name = f"chk_{table}_{column}_{suffix}"
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"chk_{table[:20]}_{column[:20]}_{digest}_{suffix[:7]}"


def _set_timeouts(schema_editor, lock_timeout, statement_timeout) -> None:
    """Transaction-local timeouts (``set_config(..., true)``), PostgreSQL only."""
    if not _is_pg(schema_editor) or _collecting(schema_editor):
        return
    for key, value in (("lock_timeout", lock_timeout), ("statement_timeout", statement_timeout)):
        if value is not None:
            schema_editor.connection.execute("SELECT set_config(%s, %s, true)", [key, value])


def _step(schema_editor, sql, lock_timeout=None):
    """One statement in its own short transaction (``lock_timeout`` local to it)."""
    if _collecting(schema_editor):
        schema_editor.execute(sql)
        return
    from dorm.transaction import atomic

    with atomic(schema_editor.connection.alias):
        _set_timeouts(schema_editor, lock_timeout, None)
        schema_editor.execute(sql)


class AddFieldOnline(AddField):
    online = True  # lint: the recommended path, not a risky AddField
    def __init__(self, model_name, name, field, *, set_not_null_now=False, preserve_default=True):
        super().__init__(model_name, name, field, preserve_default=preserve_default)
        self.set_not_null_now = bool(set_not_null_now)

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "name": self.name, "field": self.field}
        if self.set_not_null_now:
            kwargs["set_not_null_now"] = True
        if not self.preserve_default:
            kwargs["preserve_default"] = False
        return "dorm.migrations.operations.AddFieldOnline", [], kwargs

    def reduce(self, operation, app_label):
        return Operation.reduce(self, operation, app_label) or \
            not operation.references_field(self.model_name, self.name, app_label)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        from dorm.migrations.state import rebuild_field

        from_model = from_state.apps.get_model(app_label, self.model_name)
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor, to_model):
            return
        final = to_model._meta.get_field(self.name)
        nullable = rebuild_field(final, null=True)       # a copy: the state's field is untouched
        nullable.set_attributes_from_name(self.name)
        if not self.preserve_default:
            nullable.default = self.field.default
        nullable.model = from_model
        schema_editor.add_field(from_model, nullable)
        if self.set_not_null_now and not final.null:
            table = from_model._meta.db_table
            qn = schema_editor.quote_name
            if _is_pg(schema_editor):
                schema_editor.execute(f"ALTER TABLE {qn(table)} ALTER COLUMN {qn(final.column)} SET NOT NULL")
            else:
                schema_editor.alter_field(to_model, nullable, final)

    def describe(self):
        return f"Add field {self.name} to {self.model_name} (nullable column, online)"


class BackfillBatch(Operation):
    atomic = False

    def __init__(self, table, *, update_sql, pk_column="id", batch_size=10_000, sleep_seconds=0.0,
                 max_batches=None, lock_timeout=None, statement_timeout=None, progress=None,
                 name=None):
        self.table = _ident(table, "table")
        self.pk_column = _ident(pk_column, "pk_column")
        if not isinstance(update_sql, str) or update_sql.count("%s") != 2:
            raise ValueError("BackfillBatch(update_sql=) must contain exactly two %s placeholders "
                             "(the first and last primary key of the batch: BETWEEN %s AND %s)")
        self.update_sql = update_sql
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError("BackfillBatch(batch_size=) must be a positive integer")
        if not isinstance(sleep_seconds, (int, float)) or sleep_seconds < 0:
            raise ValueError("BackfillBatch(sleep_seconds=) must be >= 0")
        if max_batches is not None and (not isinstance(max_batches, int) or max_batches <= 0):
            raise ValueError("BackfillBatch(max_batches=) must be a positive integer or None")
        if progress is not None and not callable(progress):
            raise ValueError("BackfillBatch(progress=) must be callable")
        self.batch_size = batch_size
        self.sleep_seconds = float(sleep_seconds)
        self.max_batches = max_batches
        self.lock_timeout = _timeout(lock_timeout, "lock_timeout")
        self.statement_timeout = _timeout(statement_timeout, "statement_timeout")
        self.progress = progress
        self.name = name or f"{table}:{hashlib.sha1(update_sql.encode()).hexdigest()[:12]}"

    def state_forwards(self, app_label, state):
        pass

    def references_model(self, name, app_label):
        return False

    # ---- progress table ----------------------------------------------------------------------
    def _ensure_progress_table(self, conn):
        conn.execute_write(
            f"CREATE TABLE IF NOT EXISTS {conn.ops.quote_name(PROGRESS_TABLE)} ("
            "name VARCHAR(200) PRIMARY KEY, last_pk TEXT, batches INTEGER NOT NULL, "
            "rows_done BIGINT NOT NULL, done BOOLEAN NOT NULL)", ())

    def _load(self, conn):
        ph = conn.ops.placeholder
        rows = conn.execute(f"SELECT last_pk, batches, rows_done, done FROM "
                            f"{conn.ops.quote_name(PROGRESS_TABLE)} WHERE name = {ph}", [self.name])
        return rows[0] if rows else None

    def _save(self, conn, last_pk, batches, rows_done, done, exists):
        ph = conn.ops.placeholder
        t = conn.ops.quote_name(PROGRESS_TABLE)
        if exists:
            conn.execute_write(f"UPDATE {t} SET last_pk = {ph}, batches = {ph}, rows_done = {ph}, "
                               f"done = {ph} WHERE name = {ph}",
                               [last_pk, batches, rows_done, done, self.name])
        else:
            conn.execute_write(f"INSERT INTO {t} (name, last_pk, batches, rows_done, done) VALUES "
                               f"({ph}, {ph}, {ph}, {ph}, {ph})",
                               [self.name, last_pk, batches, rows_done, done])

    # ---- run ---------------------------------------------------------------------------------
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        from dorm.migrations.operations.special import backend_placeholders
        from dorm.transaction import atomic

        if _collecting(schema_editor):
            schema_editor.collected_sql.append(
                f"-- BackfillBatch {self.name}: in batches of {self.batch_size} over "
                f"{self.table}.{self.pk_column}: {self.update_sql}")
            return
        conn = schema_editor.connection
        if conn.in_atomic_block:
            raise NotSupportedError("BackfillBatch must run outside a transaction (each batch is "
                                    "committed): put it in a migration with atomic = False")
        qn = conn.ops.quote_name
        ph = conn.ops.placeholder
        update = backend_placeholders(self.update_sql, conn.ops)
        pk_type = None
        with atomic(conn.alias):
            self._ensure_progress_table(conn)
        saved = self._load(conn)
        exists = saved is not None
        last_pk, batches, rows_done = (None, 0, 0)
        if saved is not None:
            if saved[3]:
                logger.info("backfill %s: already complete (%s batches, %s rows)",
                            self.name, saved[1], saved[2])
                return
            last_pk, batches, rows_done = saved[0], saved[1], saved[2]
            if last_pk is not None:
                logger.info("backfill %s: resuming after %s=%s (%s batches done)",
                            self.name, self.pk_column, last_pk, batches)
        table, pk = qn(self.table), qn(self.pk_column)
        pk_type = self._pk_cast(conn)
        run = 0
        started = time.monotonic()
        while self.max_batches is None or run < self.max_batches:
            if last_pk is None:
                where, params = "", []
            else:
                where, params = f" WHERE {pk} > {ph}{pk_type}", [last_pk]
            with atomic(conn.alias):
                _set_timeouts(schema_editor, self.lock_timeout, self.statement_timeout)
                bounds = conn.execute(
                    f"SELECT MIN(k), MAX(k), COUNT(*) FROM (SELECT {pk} AS k FROM {table}{where} "
                    f"ORDER BY {pk} LIMIT {int(self.batch_size)}) s", params)
                lo, hi, count = bounds[0]
                if not count:
                    self._save(conn, None if last_pk is None else str(last_pk), batches, rows_done,
                               True, exists)
                    exists = True
                    break
                changed = conn.execute_write(update, [lo, hi])
                rows = changed if isinstance(changed, int) and changed >= 0 else count
                batches += 1
                run += 1
                rows_done += rows
                last_pk = hi
                self._save(conn, str(hi), batches, rows_done, False, exists)
                exists = True
            elapsed = time.monotonic() - started
            info = {"name": self.name, "table": self.table, "batch": batches, "rows": rows,
                    "rows_done": rows_done, "first_pk": lo, "last_pk": hi,
                    "elapsed": round(elapsed, 3)}
            logger.info("backfill %s: batch %s (%s=%s..%s) %s rows, %s total, %.1fs",
                        self.name, batches, self.pk_column, lo, hi, rows, rows_done, elapsed)
            if self.progress is not None:
                self.progress(info)
            if count < self.batch_size:
                with atomic(conn.alias):
                    self._save(conn, str(hi), batches, rows_done, True, exists)
                break
            if self.sleep_seconds:
                time.sleep(self.sleep_seconds)

    def _pk_cast(self, conn) -> str:
        """``::<type>`` of the key column on PostgreSQL (the resume value is stored as text)."""
        if conn.vendor != "postgresql":
            return ""
        rows = conn.execute(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attname = %s AND NOT a.attisdropped",
            [conn.ops.quote_name(self.table), self.pk_column])
        if not rows:
            raise ValueError(f"BackfillBatch: no column {self.pk_column!r} in table {self.table!r}")
        return f"::{rows[0][0]}"

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        """Nothing to undo in the data; forget the progress so re-applying runs again."""
        if _collecting(schema_editor):
            return
        conn = schema_editor.connection
        from dorm.transaction import atomic

        with atomic(conn.alias):
            self._ensure_progress_table(conn)
            conn.execute_write(f"DELETE FROM {conn.ops.quote_name(PROGRESS_TABLE)} WHERE name = "
                               f"{conn.ops.placeholder}", [self.name])

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        kwargs.pop("progress", None)        # a callable is not written into migration files
        return path, args, kwargs

    def describe(self):
        return f"Backfill {self.table} in batches of {self.batch_size}"


def _resolve_field(model, column):
    for f in model._meta.concrete_fields:
        if f.name == column or f.column == column:
            return f
    raise ValueError(f"{model.__name__} has no field or column {column!r}")


class SetNotNullOnline(Operation):
    atomic = False

    def __init__(self, model_name, column, *, lock_timeout=None):
        self.model_name = _ident(model_name, "model_name")
        self.column = _ident(column, "column")
        self.lock_timeout = _timeout(lock_timeout, "lock_timeout")

    def references_model(self, name, app_label):
        return name.lower() == self.model_name.lower()

    def state_forwards(self, app_label, state):
        from dorm.migrations.state import rebuild_field

        ms = state.get_model_state(app_label, self.model_name)
        for name, f in list(ms.fields.items()):
            if name == self.column or getattr(f, "column", None) == self.column:
                if f.null:
                    new = rebuild_field(f, null=False)
                    new.set_attributes_from_name(name)
                    ms.fields[name] = new
                    state.reload()
                return
        raise ValueError(f"SetNotNullOnline: {ms.label} has no field or column {self.column!r}")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor, model):
            return
        field = _resolve_field(model, self.column)
        table = model._meta.db_table
        if not _is_pg(schema_editor):
            from dorm.migrations.state import rebuild_field

            old = rebuild_field(field, null=True)
            old.set_attributes_from_name(field.name)
            old.model = model
            schema_editor.alter_field(model, old, field)
            return
        qn = schema_editor.quote_name
        col = field.column
        chk = constraint_name(table, col)
        t = qn(table)
        _step(schema_editor, f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {qn(chk)}", self.lock_timeout)
        _step(schema_editor, f"ALTER TABLE {t} ADD CONSTRAINT {qn(chk)} CHECK ({qn(col)} IS NOT NULL) "
              "NOT VALID", self.lock_timeout)
        try:
            _step(schema_editor, f"ALTER TABLE {t} VALIDATE CONSTRAINT {qn(chk)}")
        except Exception:
            _step(schema_editor, f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {qn(chk)}")
            raise
        _step(schema_editor, f"ALTER TABLE {t} ALTER COLUMN {qn(col)} SET NOT NULL", self.lock_timeout)
        _step(schema_editor, f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {qn(chk)}", self.lock_timeout)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor, model):
            return
        field = _resolve_field(model, self.column)
        if not _is_pg(schema_editor):
            from dorm.migrations.state import rebuild_field

            new = rebuild_field(field, null=True)
            new.set_attributes_from_name(field.name)
            new.model = model
            schema_editor.alter_field(model, field, new)
            return
        qn = schema_editor.quote_name
        _step(schema_editor, f"ALTER TABLE {qn(model._meta.db_table)} ALTER COLUMN {qn(field.column)} "
              "DROP NOT NULL", self.lock_timeout)

    def describe(self):
        return f"Set NOT NULL on {self.model_name}.{self.column} (online)"


class AddCheckConstraintOnline(Operation):
    atomic = False

    def __init__(self, table, name, check):
        self.table = _ident(table, "table")
        self.name = _ident(name, "name")
        if not isinstance(check, str) or not check.strip():
            raise ValueError("AddCheckConstraintOnline needs a non-empty check expression")
        self.check = check

    def state_forwards(self, app_label, state):
        pass

    def references_model(self, name, app_label):
        return False

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        qn = schema_editor.quote_name
        t, n = qn(self.table), qn(self.name)
        vendor = getattr(schema_editor.connection, "vendor", None)
        if vendor == "postgresql":
            _step(schema_editor, f"ALTER TABLE {t} ADD CONSTRAINT {n} CHECK ({self.check}) NOT VALID")
            try:
                _step(schema_editor, f"ALTER TABLE {t} VALIDATE CONSTRAINT {n}")
            except Exception:
                _step(schema_editor, f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {n}")
                raise
            return
        if vendor == "sqlite":
            raise NotSupportedError(
                "AddCheckConstraintOnline is not supported on SQLite (no ALTER TABLE ADD "
                "CONSTRAINT): declare a CheckConstraint in Meta.constraints (AddConstraint "
                "rebuilds the table)")
        schema_editor.execute(f"ALTER TABLE {t} ADD CONSTRAINT {n} CHECK ({self.check})")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        qn = schema_editor.quote_name
        vendor = getattr(schema_editor.connection, "vendor", None)
        if vendor == "sqlite":
            raise NotSupportedError("AddCheckConstraintOnline is not supported on SQLite")
        if vendor == "mysql":
            schema_editor.execute(f"ALTER TABLE {qn(self.table)} DROP CHECK {qn(self.name)}")
            return
        schema_editor.execute(f"ALTER TABLE {qn(self.table)} DROP CONSTRAINT IF EXISTS {qn(self.name)}")

    def describe(self):
        return f"Add CHECK constraint {self.name} on {self.table} (NOT VALID + VALIDATE)"


ONLINE_OPERATIONS = [AddFieldOnline, BackfillBatch, SetNotNullOnline, AddCheckConstraintOnline]
