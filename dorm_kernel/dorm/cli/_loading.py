"""Writing one fixture file's rows (``dorm loaddata``).

``load_rows(connection, rows, batch_size, progress)`` runs inside the caller's
transaction and returns the number of objects written. Contract:

* Every reference (foreign key with a database constraint, many-to-many key) must
  point at an object of the same file or a row already in the database; one that does
  not is a ``FixtureError`` naming the object and the field, before anything is written.
* An object whose primary key is already in its table is updated, others inserted
  (objects without ``pk`` get a generated key); many-to-many fields given replace the
  object's junction rows.
* Order: models referenced-first; rows of a self-referencing model parents-first. On a
  backend with ``features.can_defer_constraint_checks`` the foreign key checks wait for
  COMMIT (``ops.defer_constraint_checks_sql()``), so any order loads. Elsewhere (with
  foreign keys enforced) a reference to an object written later is inserted as NULL
  and set by a second pass of UPDATEs; a NOT NULL foreign key in a reference cycle
  cannot be loaded there and is reported.
* Rows go in ``executemany`` batches of ``batch_size``; ``batch_size=1`` turns a
  database error into a ``FixtureError`` naming the object (``loaddata`` re-runs a
  failed file that way to find it). Auto-increment sequences are moved past the loaded
  keys at the end (``ops.sequence_reset_sql``).
"""
from __future__ import annotations

from dorm.exceptions import DatabaseError

from ._common import auto_m2m_fields, foreign_keys, model_order, reset_sequences
from ._fixtures import FixtureError, Row


class _Loader:
    """One file's rows on one connection (see the module docstring); ``run()``."""

    def __init__(self, connection, rows: list[Row], batch_size: int, progress=None):
        self.connection = connection
        self.ops = connection.ops
        self.batch_size = max(1, batch_size)
        self.progress = progress
        self.by_model: dict = {}
        for row in rows:
            self.by_model.setdefault(row.model, []).append(row)
        self.models = model_order(list(self.by_model))
        self.rows = rows
        self._index: dict = {}           # (model, attname) -> {value: row}
        self._fks: dict = {}             # model -> its foreign keys
        self.postponed: list = []        # (row, field, value)
        features = connection.features
        self.enforced = bool(getattr(features, "supports_foreign_keys", True))
        self.deferred = self.enforced and bool(getattr(features, "can_defer_constraint_checks", False))

    # ---- lookups -------------------------------------------------------------------------
    def _refs(self, model) -> set:
        if model not in self._fks:
            self._fks[model] = set(foreign_keys(model))
        return self._fks[model]

    def file_index(self, model, attname: str) -> dict:
        """``{value of attname: row}`` for the rows of ``model`` in this file."""
        key = (model, attname)
        if key not in self._index:
            index = {}
            for row in self.by_model.get(model, ()):
                for f, value in row.values.items():
                    if f.attname == attname and value is not None:
                        index.setdefault(value, row)
            self._index[key] = index
        return self._index[key]

    def _existing(self, model, attname: str, values) -> set:
        from dorm.models.queryset import QuerySet

        found: set = set()
        values = list(values)
        step = self._in_size()
        for i in range(0, len(values), step):
            chunk = values[i:i + step]
            found.update(QuerySet(model=model, using=self.connection.alias)
                         .filter(**{f"{attname}__in": chunk}).values_list(attname, flat=True))
        return found

    def _in_size(self) -> int:
        limit = getattr(self.connection.features, "max_query_params", 0) or 0
        return max(1, min(1000, limit - 10)) if limit > 10 else 1000

    # ---- checks --------------------------------------------------------------------------
    def check(self) -> None:
        """Mark rows already in the table; every reference must resolve."""
        for model, rows in self.by_model.items():
            pk = model._meta.pk
            keys = {r.pk for r in rows if r.pk is not None}
            present = self._existing(model, pk.attname, keys) if keys else set()
            for row in rows:
                if row.pk is not None and row.pk in present:
                    row.exists = row.written = True
        wanted: dict = {}   # (model, attname) -> {value: (row, field)}
        for row in self.rows:
            for f in foreign_keys(row.model):
                value = row.values.get(f)
                if value is None or not getattr(f, "db_constraint", True):
                    continue
                target = f.target_field
                key = (f.remote_field.model, target.attname)
                if value not in self.file_index(*key):
                    wanted.setdefault(key, {}).setdefault(value, (row, f))
            for f, values in row.m2m.items():
                target_model = f.remote_field.model
                key = (target_model, target_model._meta.pk.attname)
                for value in values:
                    if value not in self.file_index(*key):
                        wanted.setdefault(key, {}).setdefault(value, (row, f))
        for (model, attname), refs in wanted.items():
            present = self._existing(model, attname, refs)
            for value, (row, f) in refs.items():
                if value not in present:
                    raise FixtureError(
                        f"{row.describe()}: field {f.name!r} refers to {model._meta.label} "
                        f"{attname}={value!r}, which is neither in this file nor in the database")

    # ---- ordering ------------------------------------------------------------------------
    def ordered(self, model) -> list[Row]:
        """Rows of ``model``, rows referenced by others of the same model first."""
        rows = self.by_model[model]
        self_refs = [f for f in foreign_keys(model) if f.remote_field.model is model]
        if not self_refs:
            return rows
        out: list[Row] = []
        state: dict = {}

        def visit(row):
            if state.get(id(row)):
                return
            state[id(row)] = 1  # visiting: a cycle stops here (second pass or deferral)
            for f in self_refs:
                parent = self.file_index(model, f.target_field.attname).get(row.values.get(f))
                if parent is not None and parent is not row:
                    visit(parent)
            out.append(row)

        for row in rows:
            visit(row)
        return out

    def _value_now(self, row: Row, f, value):
        """The value to write for foreign key ``f`` now (None + a second pass when the
        target is written later and checks cannot wait for COMMIT)."""
        if value is None or not self.enforced or self.deferred or \
                f not in self._refs(row.model) or not getattr(f, "db_constraint", True):
            return value
        target = self.file_index(f.remote_field.model, f.target_field.attname).get(value)
        if target is None or target.written or target is row:
            return value  # in the database already, written before, or the row itself
        if f.null:
            self.postponed.append((row, f, value))
            return None
        raise FixtureError(
            f"{row.describe()}: field {f.name!r} refers to {target.describe()}, which can only be "
            f"written later (a cycle of NOT NULL foreign keys), and {self.connection.display_name} "
            "cannot defer foreign key checks; make the field nullable or split the data")

    # ---- writing -------------------------------------------------------------------------
    def run(self) -> int:
        self.check()
        if self.deferred:
            self.connection.execute_write(self.ops.defer_constraint_checks_sql())
        for model in self.models:
            self._write_model(model)
        self._second_pass()
        self._write_m2m()
        reset_sequences(self.connection, [m for m in self.models
                                          if any(r.pk is not None and not r.exists
                                                 for r in self.by_model[m])])
        return len(self.rows)

    def _execute_batch(self, sql: str, batch: list) -> None:
        if not batch:
            return
        if self.batch_size == 1:
            for row, params in batch:
                try:
                    self.connection.execute_write(sql, params)
                except DatabaseError as exc:
                    raise FixtureError(f"{row.describe()}: the database refused it: "
                                       f"{type(exc).__name__}: {exc}") from exc
        else:
            self.connection.executemany(sql, [params for _, params in batch])
        if self.progress is not None:
            self.progress.update(len(batch))

    def _write_model(self, model) -> None:
        q = self.ops.quote_name
        ph = self.ops.placeholder
        table = q(model._meta.db_table)
        pk = model._meta.pk
        shape, sql, batch = None, None, []
        for row in self.ordered(model):
            if row.pk is None:
                self._flush(sql, batch)
                shape, sql, batch = None, None, []
                self._insert_returning(model, row)
                continue
            fields = list(row.values)
            values = [self._value_now(row, f, row.values[f]) for f in fields]
            params = [f.get_db_prep_save(v, self.connection) for f, v in zip(fields, values)]
            if row.exists:
                assignments = [(f, p) for f, p in zip(fields, params) if f is not pk]
                key = ("update", tuple(f.column for f, _ in assignments))
                params = [p for _, p in assignments] + [pk.get_db_prep_save(row.pk, self.connection)]
                statement = (f"UPDATE {table} SET " + ", ".join(f"{q(f.column)} = {ph}" for f, _ in assignments)
                             + f" WHERE {q(pk.column)} = {ph}") if assignments else None
            else:
                key = ("insert", tuple(f.column for f in fields))
                statement = (f"INSERT INTO {table} ({', '.join(q(f.column) for f in fields)}) "
                             f"VALUES ({', '.join([ph] * len(fields))})")
            row.written = True
            if statement is None:
                continue
            if key != shape or len(batch) >= self.batch_size:
                self._flush(sql, batch)
                shape, sql, batch = key, statement, []
            batch.append((row, params))
        self._flush(sql, batch)

    def _flush(self, sql, batch) -> None:
        if sql is not None:
            self._execute_batch(sql, batch)

    def _insert_returning(self, model, row: Row) -> None:
        q = self.ops.quote_name
        pk = model._meta.pk
        fields = [f for f in row.values if f is not pk]
        values = [self._value_now(row, f, row.values[f]) for f in fields]
        params = [f.get_db_prep_save(v, self.connection) for f, v in zip(fields, values)]
        table = q(model._meta.db_table)
        if fields:
            sql = (f"INSERT INTO {table} ({', '.join(q(f.column) for f in fields)}) "
                   f"VALUES ({', '.join([self.ops.placeholder] * len(fields))})")
        else:
            sql = f"INSERT INTO {table} DEFAULT VALUES"
        returning = bool(getattr(self.connection.features, "supports_returning", False))
        if returning:
            sql += self.ops.returning_sql([pk.column])
        try:
            result = self.connection.execute_insert(sql, params, returning=returning)
        except DatabaseError as exc:
            if self.batch_size > 1:
                raise
            raise FixtureError(f"{row.describe()}: the database refused it: {type(exc).__name__}: "
                               f"{exc}") from exc
        row.pk = result[0][0] if result else None
        row.written = True
        if self.progress is not None:
            self.progress.update(1)

    def _second_pass(self) -> None:
        q, ph = self.ops.quote_name, self.ops.placeholder
        groups: dict = {}
        for row, f, value in self.postponed:
            groups.setdefault((row.model, f), []).append((row, value))
        for (model, f), items in groups.items():
            pk = model._meta.pk
            sql = (f"UPDATE {q(model._meta.db_table)} SET {q(f.column)} = {ph} "
                   f"WHERE {q(pk.column)} = {ph}")
            batch = [(row, [f.get_db_prep_save(value, self.connection),
                            pk.get_db_prep_save(row.pk, self.connection)]) for row, value in items]
            for i in range(0, len(batch), self.batch_size):
                self._run_quiet(sql, batch[i:i + self.batch_size])

    def _write_m2m(self) -> None:
        q, ph = self.ops.quote_name, self.ops.placeholder
        for model in self.models:
            for f in auto_m2m_fields(model):
                rows = [r for r in self.by_model[model] if f in r.m2m]
                if not rows:
                    continue
                src, tgt = f.m2m_fields()
                table = q(f.remote_field.through._meta.db_table)
                clear = f"DELETE FROM {table} WHERE {q(src.column)} = {ph}"
                insert = f"INSERT INTO {table} ({q(src.column)}, {q(tgt.column)}) VALUES ({ph}, {ph})"
                stale = [(r, [src.get_db_prep_save(r.pk, self.connection)]) for r in rows if r.exists]
                pairs = [(r, [src.get_db_prep_save(r.pk, self.connection),
                              tgt.get_db_prep_save(v, self.connection)])
                         for r in rows for v in dict.fromkeys(r.m2m[f])]
                for sql, batch in ((clear, stale), (insert, pairs)):
                    for i in range(0, len(batch), self.batch_size):
                        self._run_quiet(sql, batch[i:i + self.batch_size])

    def _run_quiet(self, sql, batch) -> None:
        """A batch that does not count as objects for progress."""
        progress, self.progress = self.progress, None
        try:
            self._execute_batch(sql, batch)
        finally:
            self.progress = progress


def load_rows(connection, rows: list[Row], batch_size: int = 500, progress=None) -> int:
    """Write ``rows`` (see the module docstring); returns how many objects."""
    return _Loader(connection, rows, batch_size, progress).run()


__all__ = ["load_rows", "auto_m2m_fields"]
