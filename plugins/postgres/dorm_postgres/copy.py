"""``dorm.contrib.bulk_copy``: PostgreSQL ``COPY`` for bulk loads and exports.

    from dorm.contrib.bulk_copy import bulk_copy_from, abulk_copy_from, copy_to, acopy_to

    n = bulk_copy_from(Item, rows)                      # one transaction, returns the count
    n = bulk_copy_from(Item, gen(), batch_size=50_000, on_progress=print)
    n = await abulk_copy_from(Item, agen())             # sync or async iterable
    for row in copy_to("SELECT id, name FROM item WHERE id > %s", [10]): ...
    copy_to(Item.objects.filter(active=True), "items.csv")          # -> row count

Loads run on psycopg's ``cursor.copy()`` (``COPY "table" ("c", ...) FROM STDIN``),
binary when ``binary=True`` and every column type has an exact binary form (the types
are taken from the table itself, so an ``integer`` column gets 4-byte integers),
text otherwise. Values go through each field's ``get_db_prep_value``.

Transactions: with ``batch_size=None`` (default) the whole load is one transaction;
with ``batch_size=n`` every ``n`` rows are one transaction (committed before the next
is read). Inside an ``atomic()`` block the load joins that transaction (each batch is
a savepoint) and nothing is committed before the block is. A failing row rolls back
its batch (never a part of one) and the error names the row number (1-based, over the
whole input) and its values; ``err.rows_committed`` says how many rows of earlier
batches were kept. The input is read once: a load that fails (including a dropped
connection) is never retried, so a generator is never re-read half-consumed.
"""
from __future__ import annotations

import collections
import datetime
import io
import os
import re

import psycopg
from dorm.db import connections, router
from dorm.exceptions import DatabaseError, DataError, ImproperlyConfigured
from dorm.transaction import _current, aatomic, atomic
from psycopg import pq

__all__ = ["COPY_FORMATS", "abulk_copy_from", "acopy_to", "bulk_copy_from", "copy_rows", "copy_to"]

COPY_FORMATS = ("text", "csv", "binary")

# Column types whose psycopg binary dumper takes the value dorm's fields prepare.
# Anything else (json/jsonb get JSON text, inet gets str, arrays, enums, hstore,
# domains, ...) makes the load use the text format.
_BINARY_SAFE = frozenset({
    "int2", "int4", "int8", "float4", "float8", "numeric", "bool", "text", "varchar",
    "bpchar", "date", "time", "timestamp", "timestamptz", "interval", "uuid", "bytea",
})
_LINE = re.compile(r"\bline (\d+)")
_KEEP = 65_536          # prepared rows kept for naming a failing row in error messages
_MISSING = object()
_NOITEM = object()


# ---- helpers -----------------------------------------------------------------------------
def _check_model(model):
    if model is None or not hasattr(model, "_meta"):
        raise ImproperlyConfigured(f"bulk_copy_from() needs a model class, got {model!r}")
    return model


def _alias_for_write(model, using):
    if using is not None:
        return using if isinstance(using, str) else using.alias
    return router.db_for_write(model)


def _require_pg(backend) -> None:
    if getattr(backend, "vendor", None) != "postgresql":
        raise NotImplementedError(
            f"COPY needs PostgreSQL; database alias {backend.alias!r} is "
            f"{getattr(backend, 'vendor', '?')} (use bulk_create() there)")


def _fields_for(model, columns):
    meta = model._meta
    if columns is None:
        from dorm.fields.scalar import AutoFieldMixin

        return [f for f in meta.concrete_fields if not isinstance(f, AutoFieldMixin)]
    if isinstance(columns, str):
        raise TypeError("columns must be a list of field names, not a string")
    out = []
    by_attname = {f.attname: f for f in meta.concrete_fields}
    for name in columns:
        field = by_attname.get(name)
        if field is None:
            try:
                field = meta.get_field(name)
            except Exception:  # noqa: BLE001 - any lookup failure: unknown name
                raise ValueError(f"{model.__name__} has no field {name!r} (columns=)") from None
        if not getattr(field, "column", None):
            raise ValueError(f"{model.__name__}.{name} has no column of its own (columns=)")
        if field in out:
            raise ValueError(f"field {name!r} is given twice in columns=")
        out.append(field)
    if not out:
        raise ValueError("columns= is empty")
    return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _copy_sql(table, fields, binary):
    cols = ", ".join(_quote(f.column) for f in fields)
    return (f"COPY {_quote(table)} ({cols}) FROM STDIN"
            + (" (FORMAT BINARY)" if binary else ""))


_TYPES_SQL = ("SELECT a.attname, t.typname, a.atttypid::int FROM pg_attribute a "
              "JOIN pg_type t ON t.oid = a.atttypid "
              "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped")


def _binary_types(column_types, fields):
    """The type oids for ``set_types`` when every column can go binary, else None."""
    oids = []
    for f in fields:
        typname, oid = column_types.get(f.column, (None, None))
        if typname not in _BINARY_SAFE:
            return None
        oids.append(oid)
    return oids


def _plain_temporal(backend):
    """Field classes whose ``get_db_prep_value`` returns some values unchanged: the
    kernel's exact ``DateField`` for a ``date``, and its exact ``DateTimeField`` for a
    naive ``datetime`` when ``USE_TZ`` is off (both only while the backend adapts
    dates as they are)."""
    from dorm.db.backends.base.operations import BaseOperations
    from dorm.fields.scalar import DateField, DateTimeField, _use_tz

    ops = type(backend.ops)
    out = {}
    if ops.adapt_date is BaseOperations.adapt_date:
        out[DateField] = "date"
    if ops.adapt_datetime is BaseOperations.adapt_datetime and not _use_tz():
        out[DateTimeField] = "naive-datetime"
    return out


def _compile_tuple_converter(plan, backend):
    """A function turning a tuple of raw values into prepared values, generated for the
    columns (no per-value loop): a value of the field's fast bind type (or None) passes
    as is, anything else goes through ``get_db_prep_value``. Returns the same tuple
    object when nothing changed."""
    names = [f"v{i}" for i in range(len(plan))]
    ns = {"backend": backend, "DT": datetime.datetime, "D": datetime.date}
    plain = _plain_temporal(backend)
    lines = ["def convert(item):", f"    {', '.join(names)}{',' if len(names) == 1 else ''} = item",
             "    changed = False"]
    for i, (_f, _a, _n, _c, fast, prep) in enumerate(plan):
        ns[f"P{i}"] = prep
        v = names[i]
        if fast is not None:
            ns[f"T{i}"] = fast
            lines.append(f"    if {v}.__class__ is not T{i} and {v} is not None:")
        elif plain.get(type(_f)) == "naive-datetime":
            lines.append(f"    if {v} is not None and not ({v}.__class__ is DT "
                         f"and {v}.tzinfo is None):")
        elif plain.get(type(_f)) == "date":
            lines.append(f"    if {v}.__class__ is not D and {v} is not None:")
        else:
            lines.append(f"    if {v} is not None:")
        lines.append(f"        {v} = P{i}({v}, backend)")
        lines.append("        changed = True")
    lines.append(f"    return ({', '.join(names)},) if changed else item")
    exec("\n".join(lines), ns)  # noqa: S102 - generated from field positions only
    return ns["convert"]


class _Rows:
    """Turns input items into tuples of prepared values, counting them."""

    def __init__(self, model, fields, backend):
        self.model = model
        self.backend = backend
        self.n = 0                         # items read so far
        self.kept = collections.deque(maxlen=_KEEP)
        self.width = len(fields)
        self.plan = []
        for f in fields:
            fast = f.fast_bind_type()
            self.plan.append((f, f.attname, f.name, f.column, fast, f.get_db_prep_value))
        self.convert_tuple = _compile_tuple_converter(self.plan, backend)

    def _default(self, field):
        return field.get_default() if field.has_default() else (
            None if field.null else field.get_default())

    def prepare(self, item):
        """Prepared tuple for one item (``self.n`` is its 1-based number)."""
        backend = self.backend
        if isinstance(item, (tuple, list)):
            if len(item) != self.width:
                raise ValueError(f"has {len(item)} values, expected {self.width} "
                                 f"({', '.join(p[1] for p in self.plan)})")
            return self.convert_tuple(tuple(item))
        if isinstance(item, dict):
            values = []
            for f, attname, name, column, _fast, _prep in self.plan:
                v = item.get(attname, _MISSING)
                if v is _MISSING:
                    v = item.get(name, _MISSING)
                if v is _MISSING:
                    v = item.get(column, _MISSING)
                if v is _MISSING:
                    v = self._default(f)
                values.append(v)
        elif isinstance(item, self.model):
            d = item.__dict__
            values = []
            for f, attname, _name, _column, _fast, _prep in self.plan:
                v = d.get(attname, _MISSING)
                values.append(self._default(f) if v is _MISSING else v)
        else:
            raise TypeError(f"is a {type(item).__name__}; expected a {self.model.__name__} "
                            "instance, a dict or a tuple")
        out = []
        for (_f, _a, _n, _c, fast, prep), v in zip(self.plan, values):
            if v is None or v.__class__ is fast:
                out.append(v)
            else:
                out.append(prep(v, backend))
        return tuple(out)

    def row_error(self, exc, number):
        err = DataError(f"bulk_copy_from({self.model.__name__}): row {number} {exc}")
        err.row_number = number
        return err

    def values_of(self, number):
        """The prepared values of row ``number`` if still kept, else None."""
        first = self.n - len(self.kept) + 1
        if first <= number <= self.n:
            return self.kept[number - first]
        return None


def _name_row(err, exc, rows, start, committed):
    """Make the database error of a failed batch name the row (from the server's
    ``COPY ..., line N`` context)."""
    context = getattr(getattr(exc, "diag", None), "context", None) or ""
    m = _LINE.search(context)
    where = ""
    if m:
        number = start + int(m.group(1))
        values = rows.values_of(number)
        err.row_number = number
        where = f"row {number}" + (f" {values!r}" if values is not None else "")
    else:
        err.row_number = None
        where = f"rows {start + 1}..{rows.n}"
    msg = str(err.args[0]) if err.args else str(exc)
    text = (f"bulk_copy_from(): {where}: {msg} (batch rolled back; "
            f"{committed} row(s) of earlier batches kept)")
    err.args = (text, *err.args[1:])
    return err


def _batch_size(batch_size):
    if batch_size is None:
        return None
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    return batch_size


def _setup(model, columns, using, binary):
    _check_model(model)
    alias = _alias_for_write(model, using)
    return alias, _fields_for(model, columns), binary


def _column_types(backend, table):
    rows = backend.execute(_TYPES_SQL, [_quote(table)])
    return {name: (typname, oid) for name, typname, oid in rows}


# ---- loading (sync) ----------------------------------------------------------------------
def bulk_copy_from(model, objs, *, columns=None, using=None, binary=False, batch_size=None,
                   on_progress=None) -> int:
    """Load ``objs`` (model instances, dicts or tuples in ``columns`` order) into
    ``model``'s table with ``COPY``; return the number of rows written.

    ``columns``: field names (default: every column except auto primary keys);
    ``batch_size``: rows per transaction (default: all in one); ``on_progress(rows)``
    is called after each batch with the total so far; ``binary=True`` uses the binary
    format when every column type allows it (text otherwise)."""
    alias, fields, binary = _setup(model, columns, using, binary)
    size = _batch_size(batch_size)
    backend = _current(alias)
    _require_pg(backend)
    table = model._meta.db_table
    oids = _binary_types(_column_types(backend, table), fields) if binary else None
    sql = _copy_sql(table, fields, oids is not None)
    return _load(alias, backend, sql, oids, _Rows(model, fields, backend), iter(objs), size,
                 on_progress)


def _load(alias, backend, sql, oids, rows, it, size, on_progress) -> int:
    total = 0
    while True:
        start = rows.n
        with _batch_errors(rows, start, total, backend, sql), atomic(using=alias):
            written = _copy_batch(backend, sql, oids, rows, it, size)
        if written == 0 and rows.n == start:
            break
        total += written
        if on_progress is not None:
            on_progress(total)
        if size is None or written < size:
            break
    return total


class _TableRows(_Rows):
    """Rows for a bare table (no model): tuples in column order or dicts by column
    name; values are sent as they are."""

    def __init__(self, table, columns):
        self.model = None
        self.label = table
        self.columns = list(columns)
        self.width = len(self.columns)
        self.n = 0
        self.kept = collections.deque(maxlen=_KEEP)

    def prepare(self, item):
        if isinstance(item, dict):
            unknown = set(item) - set(self.columns)
            if unknown:
                raise ValueError(f"has unknown column(s) {', '.join(sorted(unknown))}")
            return tuple(item.get(c) for c in self.columns)
        if isinstance(item, (tuple, list)):
            if len(item) != self.width:
                raise ValueError(f"has {len(item)} values, expected {self.width} "
                                 f"({', '.join(self.columns)})")
            return tuple(item)
        raise TypeError(f"is a {type(item).__name__}; expected a dict or a tuple")

    def row_error(self, exc, number):
        err = DataError(f"copy_rows({self.label}): row {number} {exc}")
        err.row_number = number
        return err


def copy_rows(table, columns, rows, *, using=None, batch_size=None, on_progress=None) -> int:
    """``COPY`` tuples (or dicts by column name) into a table that has no model; values
    are sent as they are (text format). Same transactions and errors as
    ``bulk_copy_from``."""
    if not columns:
        raise ValueError("copy_rows() needs the column names")
    alias = using or "default"
    size = _batch_size(batch_size)
    backend = _current(alias)
    _require_pg(backend)
    known = _column_types(backend, table)
    if not known:
        raise ValueError(f"table {table!r} does not exist on database alias {alias!r}")
    missing = [c for c in columns if c not in known]
    if missing:
        raise ValueError(f"table {table!r} has no column(s) {', '.join(missing)}")
    cols = ", ".join(_quote(c) for c in columns)
    sql = f"COPY {_quote(table)} ({cols}) FROM STDIN"
    return _load(alias, backend, sql, None, _TableRows(table, columns), iter(rows), size,
                 on_progress)


class _batch_errors:
    """Context manager turning a failed batch into an error that names the row."""

    def __init__(self, rows, start, committed, backend, sql):
        self.rows, self.start, self.committed = rows, start, committed
        self.backend, self.sql = backend, sql

    def __enter__(self):
        return self

    async def __aenter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, _RowError):
            err = exc.err
            err.rows_committed = self.committed
            err.args = (err.args[0] + f" (batch rolled back; {self.committed} row(s) of "
                        "earlier batches kept)",)
            raise err from exc.__cause__
        if isinstance(exc, psycopg.Error):
            err = self.backend._wrap(exc, self.sql)
        elif isinstance(exc, DatabaseError):
            err = exc
            cause = exc.__cause__
            if isinstance(cause, psycopg.Error):
                exc = cause
        else:
            return False
        err = _name_row(err, exc, self.rows, self.start, self.committed)
        err.rows_committed = self.committed
        if err is exc:
            return False
        raise err from exc

    async def __aexit__(self, exc_type, exc, tb):
        return self.__exit__(exc_type, exc, tb)


class _RowError(Exception):
    """A row that could not be prepared (raised inside the COPY block so psycopg sends
    CopyFail and the batch rolls back)."""

    def __init__(self, err):
        super().__init__(str(err))
        self.err = err


def _row_failure(rows, item, exc):
    """The error for input item number ``rows.n`` that could not be prepared/sent."""
    values = item if isinstance(item, (tuple, list, dict)) else None
    err = rows.row_error(f"{values!r}: {exc}" if values is not None else str(exc), rows.n)
    return _RowError(err)


def _copy_batch(backend, sql, oids, rows, it, size) -> int:
    """COPY up to ``size`` items (all when None) on the backend's transaction
    connection; ``rows.n`` counts the items read, also when the COPY fails."""
    raw = backend.connection
    n = 0
    base = rows.n
    item = _NOITEM
    try:
        with raw.cursor() as cur, cur.copy(sql) as copy:
            if oids is not None:
                copy.set_types(oids)
            write = copy.write_row
            keep = rows.kept.append
            convert = rows.convert_tuple if rows.model is not None else None
            width = rows.width
            prepare = rows.prepare
            try:
                for item in it:
                    n += 1
                    if convert is not None and item.__class__ is tuple and len(item) == width:
                        row = convert(item)
                    else:
                        row = prepare(item)
                    keep(row)
                    write(row)
                    item = _NOITEM
                    if n == size:
                        break
            except psycopg.Error:
                raise
            except Exception as exc:
                rows.n = base + n
                if item is _NOITEM:        # raised by the input iterable itself
                    raise
                raise _row_failure(rows, item, exc) from exc
    finally:
        rows.n = base + n
    return n


# ---- loading (async) ---------------------------------------------------------------------
async def abulk_copy_from(model, objs, *, columns=None, using=None, binary=False,
                          batch_size=None, on_progress=None) -> int:
    """``bulk_copy_from`` for coroutines; ``objs`` may be a sync or an async iterable."""
    alias, fields, binary = _setup(model, columns, using, binary)
    size = _batch_size(batch_size)
    if hasattr(objs, "__aiter__"):
        it, is_async = objs.__aiter__(), True
    else:
        it, is_async = iter(objs), False
    table = model._meta.db_table
    rows = None
    total = 0
    sql = oids = None
    while True:
        start = rows.n if rows is not None else 0
        errors = _batch_errors(rows, start, total, connections[alias], sql)
        async with errors, aatomic(using=alias):
            backend = connections.pinned(alias)
            if rows is None:
                _require_pg(backend)
                types = None
                if binary:
                    types = {name: (t, oid) for name, t, oid in
                             await backend.aexecute(_TYPES_SQL, [_quote(table)])}
                oids = _binary_types(types, fields) if binary else None
                sql = _copy_sql(table, fields, oids is not None)
                rows = _Rows(model, fields, backend)
                errors.rows, errors.sql = rows, sql
            errors.backend = backend
            written = await _acopy_batch(backend, sql, oids, rows, it, is_async, size)
        if written == 0 and rows.n == start:
            break
        total += written
        if on_progress is not None:
            on_progress(total)
        if size is None or written < size:
            break
    return total


async def _acopy_batch(backend, sql, oids, rows, it, is_async, size) -> int:
    araw = backend.aconnection
    n = 0
    base = rows.n
    item = _NOITEM
    prepare = rows.prepare
    keep = rows.kept.append
    try:
        async with araw.cursor() as cur, cur.copy(sql) as copy:
            if oids is not None:
                copy.set_types(oids)
            write = copy.write_row
            try:
                if is_async:
                    while size is None or n < size:
                        try:
                            item = await it.__anext__()
                        except StopAsyncIteration:
                            break
                        n += 1
                        row = prepare(item)
                        keep(row)
                        await write(row)
                        item = _NOITEM
                else:
                    for item in it:
                        n += 1
                        row = prepare(item)
                        keep(row)
                        await write(row)
                        item = _NOITEM
                        if n == size:
                            break
            except psycopg.Error:
                raise
            except Exception as exc:
                rows.n = base + n
                if item is _NOITEM:        # raised by the input iterable itself
                    raise
                raise _row_failure(rows, item, exc) from exc
    finally:
        rows.n = base + n
    return n


# ---- export ------------------------------------------------------------------------------
def _source_sql(source, columns, using):
    """``(alias, sql, params_or_None)`` for a SQL string, a model or a QuerySet."""
    if isinstance(source, str):
        if columns is not None:
            raise ValueError("columns= applies to a model or a QuerySet, not to SQL")
        return (using or "default"), source, None
    if isinstance(source, type) and hasattr(source, "_meta"):
        model = source
        fields = ([f for f in model._meta.concrete_fields] if columns is None
                  else _fields_for(model, columns))
        cols = ", ".join(_quote(f.column) for f in fields)
        alias = using or router.db_for_read(model)
        return alias, f"SELECT {cols} FROM {_quote(model._meta.db_table)}", ()
    if hasattr(source, "query") and hasattr(source, "model"):
        from dorm.query.compiler import SQLCompiler

        qs = source
        if columns is not None:
            qs = qs.values_list(*columns)
        alias = using or qs.db
        backend = connections[alias]
        sql, params = SQLCompiler(qs.query, backend).as_sql()
        return alias, sql, tuple(params)
    raise TypeError(f"copy_to() takes SQL, a model or a QuerySet, got {source!r}")


def _export_args(source, params, dest, fmt, binary, columns, using):
    if not isinstance(source, str) and params is not None and dest is None:
        dest, params = params, None     # copy_to(Model_or_queryset, dest)
    alias, sql, qparams = _source_sql(source, columns, using)
    if qparams is not None:
        if params is not None:
            raise ValueError("params= applies to SQL; a QuerySet carries its own")
        params = qparams
    if fmt is None:
        fmt = "binary" if binary else ("csv" if dest is not None else "text")
    if fmt not in COPY_FORMATS:
        raise ValueError(f"format must be one of {', '.join(COPY_FORMATS)}, got {fmt!r}")
    if dest is None and fmt == "csv":
        raise ValueError("format='csv' needs dest= (rows are yielded in 'text' or 'binary')")
    options = {"text": "", "csv": " WITH (FORMAT CSV, HEADER)",
               "binary": " WITH (FORMAT BINARY)"}[fmt]
    copy_sql = f"COPY ({sql}) TO STDOUT{options}"
    return alias, sql, params or None, dest, fmt, copy_sql


def _open_dest(dest, fmt):
    """``(write(bytes), close)`` for a path or a file object."""
    if isinstance(dest, (str, os.PathLike)):
        fh = open(dest, "wb")  # noqa: SIM115 - closed by the caller
        return fh.write, fh.close
    if isinstance(dest, io.TextIOBase) or (
            hasattr(dest, "encoding") and not hasattr(dest, "buffer") and "b" not in getattr(
                dest, "mode", "b")):
        if fmt == "binary":
            raise ValueError("format='binary' needs a binary file (open(..., 'wb'))")
        return (lambda data: dest.write(bytes(data).decode("utf-8"))), (lambda: None)
    if hasattr(dest, "write"):
        return (lambda data: dest.write(bytes(data))), (lambda: None)
    raise TypeError(f"dest must be a path or a file object, got {dest!r}")


def _types_of(raw, sql, params):
    cur = raw.execute(f"SELECT * FROM ({sql}) AS _dorm_q LIMIT 0", params)
    return [d.type_code for d in cur.description]


def _close_or_return(backend, raw):
    if raw.closed or raw.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        try:
            raw.close()
        finally:
            backend._give_back(raw)
    else:
        backend._checkin(raw)


def copy_to(source, params=None, *, dest=None, format=None, binary=False, columns=None,
            using=None):
    """Export with ``COPY (...) TO STDOUT``.

    ``source``: SQL (with ``params``), a model (all its columns, or ``columns=``) or a
    QuerySet (its SELECT; ``columns=`` as ``values_list``). Without ``dest``: a
    generator of row tuples (strings in ``format="text"``, typed values with
    ``binary=True`` / ``format="binary"``). With ``dest`` (a path or a file object;
    also the second positional argument for a model or QuerySet): writes the data
    (``format`` ``"csv"`` with a header by default, ``"text"`` or ``"binary"``) and
    returns the row count."""
    alias, sql, params, dest, fmt, copy_sql = _export_args(source, params, dest, format,
                                                           binary, columns, using)
    backend = _current(alias)
    _require_pg(backend)
    if dest is not None:
        return _copy_to_dest(backend, copy_sql, params, dest, fmt)
    if backend.in_atomic_block:
        raise RuntimeError("copy_to() without dest= cannot run inside atomic(): the stream "
                           "would hold the transaction's connection (pass dest=, or iterate "
                           "outside the block)")
    return _copy_rows(backend, sql, copy_sql, params, fmt)


def _copy_to_dest(backend, copy_sql, params, dest, fmt):
    write, close = _open_dest(dest, fmt)
    try:
        if backend.in_atomic_block:
            raw, own = backend.connection, False
        else:
            raw, own = backend._checkout(), True
        try:
            with raw.cursor() as cur:
                try:
                    with cur.copy(copy_sql, params) as copy:
                        for data in copy:
                            write(data)
                except psycopg.Error as exc:
                    raise backend._wrap(exc, copy_sql) from exc
                return max(cur.rowcount, 0)
        finally:
            if own:
                _close_or_return(backend, raw)
    finally:
        close()


def _copy_rows(backend, sql, copy_sql, params, fmt):
    raw = backend._checkout()
    try:
        with raw.cursor() as cur:
            try:
                types = _types_of(raw, sql, params) if fmt == "binary" else None
                with cur.copy(copy_sql, params) as copy:
                    if types is not None:
                        copy.set_types(types)
                    yield from copy.rows()
            except psycopg.Error as exc:
                raise backend._wrap(exc, copy_sql) from exc
    finally:
        _close_or_return(backend, raw)


async def acopy_to(source, params=None, *, dest=None, format=None, binary=False,
                   columns=None, using=None):
    """``copy_to`` for coroutines: an async generator of rows, or (with ``dest``) a
    coroutine returning the row count. Use ``await acopy_to(..., dest=...)`` or
    ``async for row in acopy_to(...)``."""
    alias, sql, params, dest, fmt, copy_sql = _export_args(source, params, dest, format,
                                                           binary, columns, using)
    pinned = connections.pinned(alias)
    if dest is None:
        if pinned is not None and pinned.in_atomic_block:
            raise RuntimeError("acopy_to() without dest= cannot run inside aatomic()")
        return _AsyncRows(alias, sql, copy_sql, params, fmt)
    return await _acopy_to_dest(alias, pinned, copy_sql, params, dest, fmt)


async def _acopy_to_dest(alias, pinned, copy_sql, params, dest, fmt):
    backend = pinned if pinned is not None else connections[alias]
    _require_pg(backend)
    write, close = _open_dest(dest, fmt)
    try:
        own = pinned is None or pinned.aconnection is None
        araw = await backend._acheckout() if own else pinned.aconnection
        try:
            async with araw.cursor() as cur:
                try:
                    async with cur.copy(copy_sql, params) as copy:
                        async for data in copy:
                            write(data)
                except psycopg.Error as exc:
                    raise backend._wrap(exc, copy_sql) from exc
                return max(cur.rowcount, 0)
        finally:
            if own:
                await _aclose_or_return(backend, araw)
    finally:
        close()


async def _aclose_or_return(backend, araw):
    if araw.closed or araw.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        try:
            await araw.close()
        finally:
            await backend._agive_back(araw)
    else:
        await backend._acheckin(araw)


class _AsyncRows:
    """What ``await acopy_to(sql)`` returns: an async iterator of rows (also usable
    as ``async with``, which closes it early)."""

    def __init__(self, alias, sql, copy_sql, params, fmt):
        self._gen = _acopy_rows(alias, sql, copy_sql, params, fmt)

    def __aiter__(self):
        return self._gen

    async def __aenter__(self):
        return self._gen

    async def __aexit__(self, *exc):
        await self._gen.aclose()
        return False

    async def aclose(self):
        await self._gen.aclose()


async def _acopy_rows(alias, sql, copy_sql, params, fmt):
    backend = connections[alias]
    _require_pg(backend)
    araw = await backend._acheckout()
    try:
        async with araw.cursor() as cur:
            try:
                types = None
                if fmt == "binary":
                    desc = await araw.execute(f"SELECT * FROM ({sql}) AS _dorm_q LIMIT 0", params)
                    types = [d.type_code for d in desc.description]
                async with cur.copy(copy_sql, params) as copy:
                    if types is not None:
                        copy.set_types(types)
                    async for row in copy.rows():
                        yield row
            except psycopg.Error as exc:
                raise backend._wrap(exc, copy_sql) from exc
    finally:
        await _aclose_or_return(backend, araw)
