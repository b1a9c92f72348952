"""The DuckDB backend: the ``duckdb`` driver, async on a worker thread.

Connections:

* per alias one *root* connection (``duckdb.connect(NAME, read_only, config)``) kept
  in the shared state; every backend instance (one per thread, one per async
  connection) works on ``root.cursor()``, a connection to the **same** database
  instance. So ``NAME = ":memory:"`` (the default) is one in-memory database that all
  threads and tasks of the alias share, and a file is opened once per process
  (DuckDB refuses a second configuration of the same file in one process and lets
  only **one process** open a file for writing);
* autocommit outside ``atomic()``; ``BEGIN TRANSACTION`` / ``COMMIT`` / ``ROLLBACK``
  from ``dorm.transaction``. DuckDB has **no savepoints**: see ``docs/duckdb.md``
  for what a nested ``atomic()`` does;
* ``OPTIONS``: ``read_only`` (bool), ``config`` (dict handed to ``duckdb.connect``:
  ``threads``, ``memory_limit``, ``access_mode``...), ``foreign_keys`` (bool, default
  False: emit ``REFERENCES`` constraints, with DuckDB's limits), ``init_command``
  (trusted SQL run on each new connection), ``bulk_insert`` (bool, default True: the
  columnar insert path below). Anything else raises ``ImproperlyConfigured``.

Statements: ``?`` placeholders; DML row counts come from DuckDB's ``Count`` result
row. A multi-row ``INSERT ... VALUES (?, ...), (?, ...)`` built by ``bulk_create``
is sent as ``INSERT ... SELECT UNNEST(c1), UNNEST(c2) FROM (SELECT ? AS c1, ? AS
c2)`` with one list parameter per column: DuckDB converts each list in C and inserts
columnar (a million rows in about a second), instead of binding millions of scalar
parameters. Rows keep their order, so ``RETURNING`` back-fills primary keys.

Auto primary keys use a sequence (``DEFAULT nextval('<table>_<col>_<hash>_seq')``).
An insert that names an auto primary key explicitly moves the sequence past the
largest value written (``setval``), so later inserts do not collide with it.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import ClassVar

import duckdb
from dorm.db.backends.base.backend import BaseBackend, SharedState
from dorm.exceptions import (
    ImproperlyConfigured,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    TransactionManagementError,
)

from .client import DuckDBClient
from .features import DuckDBFeatures
from .introspection import DuckDBIntrospection
from .operations import DuckDBOperations
from .schema import DuckDBSchemaEditor

logger = logging.getLogger("dorm.db.backends.duckdb")

OPTIONS = ("read_only", "config", "foreign_keys", "init_command", "bulk_insert")

#: below this many rows a multi-row insert stays a plain VALUES statement
BULK_MIN_ROWS = 16

_AUTO_TYPES = ("AutoField", "BigAutoField", "SmallAutoField")
_INSERT_HEAD = re.compile(r'^INSERT INTO ("(?:[^"]|"")+") \(((?:"(?:[^"]|"")+"(?:, )?)+)\) VALUES ')
_NAME = re.compile(r'"((?:[^"]|"")+)"')
_DDL = ("CREATE", "ALTER", "DROP", "COMMENT")
# exception classes that older duckdb releases do not have (isinstance(x, ()) is False)
_DependencyException = getattr(duckdb, "DependencyException", ())
_SequenceException = getattr(duckdb, "SequenceException", ())


def _is_memory(name: str) -> bool:
    return name in ("", ":memory:") or name.startswith(":memory:")


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


class DuckDBShared(SharedState):
    """The root connection of one alias (the database instance every cursor shares),
    and per-table facts the statement path needs (auto-PK sequences).

    Closing the root connection closes every cursor made from it, possibly while
    another thread (an async worker) still uses one: ``close()`` therefore waits for
    the last cursor to be released (``release()``, called by each backend when it
    closes its connection) before it closes the root."""

    def __init__(self, settings_dict: dict, alias: str):
        super().__init__(settings_dict, alias)
        name = settings_dict["NAME"]
        self.memory = _is_memory(name)
        self.database = ":memory:" if self.memory else name
        self._root = None
        self._lock = threading.Lock()
        self._open = 0
        self._closing = False
        #: table -> (pk column, sequence name) or None; filled lazily, dropped on DDL
        self.auto_pk: dict[str, tuple[str, str] | None] = {}
        #: SQL text -> columnar rewrite (or None when the statement is not a bulk insert)
        self.bulk_sql: dict[str, tuple | None] = {}

    def _connect(self):
        options = self.settings_dict.get("OPTIONS", {})
        kwargs = {"database": self.database}
        if options.get("read_only"):
            kwargs["read_only"] = True
        if options.get("config"):
            kwargs["config"] = dict(options["config"])
        return duckdb.connect(**kwargs)

    def root(self):
        with self._lock:
            if self._root is None:
                self._root = self._connect()
                self._closing = False
            return self._root

    def cursor(self):
        """A new connection to the alias' database instance (``release()`` it)."""
        with self._lock:
            if self._root is None:
                self._root = self._connect()
                self._closing = False
            cursor = self._root.cursor()
            self._open += 1
            return cursor

    def release(self) -> None:
        """A cursor from ``cursor()`` was closed."""
        with self._lock:
            self._open = max(self._open - 1, 0)
            root = self._take_root_if_done()
        self._close_root(root)

    def _take_root_if_done(self):
        if self._closing and self._open == 0:
            root, self._root = self._root, None
            self._closing = False
            return root
        return None

    @staticmethod
    def _close_root(root) -> None:
        if root is not None:
            try:
                root.close()
            except duckdb.Error:
                pass

    def schema_changed(self) -> None:
        self.auto_pk.clear()

    def close(self) -> None:
        with self._lock:
            self._closing = self._root is not None
            root = self._take_root_if_done()
        self.auto_pk.clear()
        self.bulk_sql.clear()
        self._close_root(root)

    def stats(self) -> dict:
        return {"database": self.database, "memory": self.memory, "open_connections": self._open}


class DuckDBBackend(BaseBackend):
    vendor = "duckdb"
    display_name = "DuckDB"
    Database = duckdb
    features_class = DuckDBFeatures
    ops_class = DuckDBOperations
    schema_editor_class = DuckDBSchemaEditor
    introspection_class = DuckDBIntrospection
    client_class = DuckDBClient
    shared_state_class = DuckDBShared

    data_types: ClassVar[dict[str, str]] = {
        "AutoField": "INTEGER",
        "BigAutoField": "BIGINT",
        "SmallAutoField": "SMALLINT",
        "IntegerField": "INTEGER",
        "SmallIntegerField": "SMALLINT",
        "BigIntegerField": "BIGINT",
        "PositiveIntegerField": "INTEGER",
        "PositiveSmallIntegerField": "SMALLINT",
        "PositiveBigIntegerField": "BIGINT",
        "FloatField": "DOUBLE",
        "DecimalField": "DECIMAL(%(max_digits)s, %(decimal_places)s)",
        "CharField": "VARCHAR(%(max_length)s)",
        "TextField": "VARCHAR",
        "BooleanField": "BOOLEAN",
        "DateField": "DATE",
        "TimeField": "TIME",
        "DateTimeField": "TIMESTAMP",
        "DurationField": "BIGINT",
        "UUIDField": "UUID",
        "GenericIPAddressField": "VARCHAR(39)",
        "IPAddressField": "VARCHAR(15)",
        "JSONField": "JSON",
        "BinaryField": "BLOB",
    }
    data_types_suffix: ClassVar[dict[str, str]] = {}
    allowed_options = OPTIONS
    rel_data_types: ClassVar[dict[str, str]] = {
        "AutoField": "INTEGER",
        "BigAutoField": "BIGINT",
        "SmallAutoField": "SMALLINT",
    }

    # ---- configuration ----------------------------------------------------------------------
    @classmethod
    def normalize_settings(cls, settings_dict: dict, alias: str) -> dict:
        out = super().normalize_settings(settings_dict, alias)
        name = out.get("NAME")
        out["NAME"] = ":memory:" if name in (None, "") else os.fspath(name)
        options = dict(out["OPTIONS"])
        for key in ("read_only", "foreign_keys", "bulk_insert"):
            if key in options and not isinstance(options[key], bool):
                raise ImproperlyConfigured(f"DATABASES[{alias!r}]['OPTIONS'][{key!r}] must be True or False")
        if "config" in options and not isinstance(options["config"], dict):
            raise ImproperlyConfigured(f"DATABASES[{alias!r}]['OPTIONS']['config'] must be a dict "
                                       "(duckdb.connect(config=...))")
        if "init_command" in options and not isinstance(options["init_command"], str):
            raise ImproperlyConfigured(f"DATABASES[{alias!r}]['OPTIONS']['init_command'] must be SQL text")
        if options.get("read_only") and _is_memory(out["NAME"]):
            raise ImproperlyConfigured(f"DATABASES[{alias!r}]: read_only needs a database file, "
                                       "not ':memory:'")
        out["OPTIONS"] = options
        return out

    @property
    def options(self) -> dict:
        return self.settings_dict["OPTIONS"]

    # ---- connections ---------------------------------------------------------------------------
    def get_new_connection(self):
        try:
            return self.shared.cursor()
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise OperationalError(
                    f"cannot open DuckDB database {self.shared.database!r}: another process holds "
                    "its write lock (DuckDB allows one writing process per file; open it with "
                    "OPTIONS={'read_only': True} from other processes)") from exc
            raise

    def init_connection_state(self, raw) -> None:
        command = self.options.get("init_command")
        if command:
            for statement in self.ops.split_statements(command):
                raw.execute(statement)

    def close_raw(self, raw) -> None:
        try:
            raw.close()
        except duckdb.Error:
            pass
        finally:
            self.shared.release()

    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        try:
            self.connection.execute("SELECT 1").fetchall()
        except duckdb.Error:
            return False
        return True

    # ---- statements ------------------------------------------------------------------------------
    # A DuckDB connection has one pending result: running a statement while an
    # ``iterate()`` stream is open would silently end that stream. Every operation
    # therefore first buffers the rest of an open stream (``_park``).
    _stream = None

    def _park(self):
        stream = self._stream
        if stream is not None:
            self._stream = None
            stream.buffer()

    def _op_fetch(self, raw, sql, params):
        if self._stream is not None:
            self._park()
        rows = raw.execute(sql, params).fetchall()
        if sql[:1] in "CADcad" and sql.lstrip()[:7].upper().startswith(_DDL):
            self.shared.schema_changed()   # DDL sent through execute()
        return rows

    def _op_fetch_described(self, raw, sql, params):
        if self._stream is not None:
            self._park()
        raw.execute(sql, params)
        names = [d[0] for d in (raw.description or ())]
        return names, raw.fetchall()

    def _op_write(self, raw, sql, params):
        if self._stream is not None:
            self._park()
        raw.execute(sql, params)
        if sql.lstrip()[:7].upper().startswith(_DDL):
            self.shared.schema_changed()
            return 0
        description = raw.description
        if description and len(description) == 1 and description[0][0] == "Count":
            row = raw.fetchone()
            return int(row[0]) if row else 0
        return 0

    def _op_insert_returning(self, raw, sql, params):
        if self._stream is not None:
            self._park()
        rewritten = self._bulk_rewrite(sql, params)
        if rewritten is not None:
            sql, params = rewritten
        return raw.execute(sql, params).fetchall()

    def _op_insert(self, raw, sql, params):
        if self._stream is not None:
            self._park()
        rewritten = self._bulk_rewrite(sql, params)
        if rewritten is not None:
            raw.execute(*rewritten)
        else:
            raw.execute(sql, params)
        self._advance_sequence(raw, sql, params)
        return [(None,)]

    def _op_many(self, raw, sql, param_list):
        if self._stream is not None:
            self._park()
        param_list = list(param_list)
        if not param_list:
            return 0
        raw.executemany(sql, param_list)
        if sql.lstrip()[:6].upper() == "INSERT":
            self._advance_sequence_many(raw, sql, param_list)
            return len(param_list)
        return -1

    def _op_cursor(self, raw, sql, params):
        if self._stream is not None:
            self._park()
        raw.execute(sql, params)
        stream = self._stream = _Stream(self, raw)
        return stream

    def _op_fetchmany(self, cursor, size):
        return cursor.fetchmany(size)

    def _op_close_cursor(self, cursor):
        cursor.close()

    def _op_control(self, raw, sql):
        if self._stream is not None:
            self._park()
        try:
            raw.execute(sql)
        except duckdb.TransactionException as exc:
            # DuckDB ends a transaction whose COMMIT failed: the ROLLBACK that follows
            # has nothing left to undo
            if sql == "ROLLBACK" and "no transaction is active" in str(exc):
                return
            raise

    def _op_script(self, raw, sql, _params):
        if self._stream is not None:
            self._park()
        for statement in self.ops.split_statements(sql):
            raw.execute(statement)
        self.shared.schema_changed()

    # ---- the columnar bulk insert ------------------------------------------------------------------
    def _bulk_rewrite(self, sql, params):
        """``(sql, params)`` of the columnar form of a multi-row VALUES insert, or None."""
        if not self.options.get("bulk_insert", True):
            return None
        cache = self.shared.bulk_sql
        plan = cache.get(sql, False)
        if plan is False:
            plan = self._bulk_plan(sql)
            if len(cache) > 256:
                cache.clear()
            cache[sql] = plan
        if plan is None:
            return None
        new_sql, ncols, min_params = plan
        if len(params) < min_params:
            return None
        params = params if isinstance(params, list) else list(params)
        return new_sql, [params[i::ncols] for i in range(ncols)]

    @staticmethod
    def _bulk_plan(sql):
        match = _INSERT_HEAD.match(sql)
        if match is None:
            return None
        columns = _NAME.findall(match.group(2))
        ncols = len(columns)
        row = "(" + ", ".join(["?"] * ncols) + ")"
        rest = sql[match.end():]
        # the VALUES part: row, row, ... (the kernel's multi-row form), then the tail
        n_rows = 0
        pos = 0
        step = len(row)
        while rest.startswith(row, pos):
            n_rows += 1
            pos += step
            if rest.startswith(", ", pos):
                pos += 2
            else:
                break
        tail = rest[pos:]
        if n_rows < BULK_MIN_ROWS or (tail and not tail.startswith(" ")) or "?" in tail:
            return None
        names = [f"c{i}" for i in range(ncols)]
        select = ", ".join(f"UNNEST({n})" for n in names)
        source = ", ".join(f"? AS {n}" for n in names)
        new_sql = (f"INSERT INTO {match.group(1)} ({match.group(2)}) SELECT {select} "
                   f"FROM (SELECT {source}){tail}")
        return new_sql, ncols, n_rows * ncols

    # ---- explicit values for auto primary keys -------------------------------------------------------
    def _auto_pk(self, raw, table: str):
        cache = self.shared.auto_pk
        try:
            return cache[table]
        except KeyError:
            pass
        found = None
        rows = raw.execute(
            "SELECT column_name, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? AND column_default LIKE 'nextval(%'",
            [table]).fetchall()
        for column, default in rows:
            m = re.match(r"^nextval\('((?:[^']|'')+)'\)$", default or "")
            if m:
                found = (column, m.group(1).replace("''", "'"))
                break
        cache[table] = found
        return found

    def _advance_sequence(self, raw, sql, params):
        match = _INSERT_HEAD.match(sql)
        if match is None or not params:
            return
        table = _unquote(match.group(1))
        auto = self._auto_pk(raw, table)
        if auto is None:
            return
        columns = [c.replace('""', '"') for c in _NAME.findall(match.group(2))]
        try:
            index = columns.index(auto[0])
        except ValueError:
            return
        values = [v for v in list(params)[index::len(columns)] if isinstance(v, int)]
        if values:
            self._setval(raw, auto[1], max(values))

    def _advance_sequence_many(self, raw, sql, param_list):
        match = _INSERT_HEAD.match(sql)
        if match is None:
            return
        auto = self._auto_pk(raw, _unquote(match.group(1)))
        if auto is None:
            return
        columns = [c.replace('""', '"') for c in _NAME.findall(match.group(2))]
        if auto[0] not in columns:
            return
        index = columns.index(auto[0])
        values = [p[index] for p in param_list if isinstance(p[index], int)]
        if values:
            self._setval(raw, auto[1], max(values))

    #: explicit keys further than this beyond the sequence are not caught up with
    #: ``nextval`` on DuckDB < 2.0 (no ``setval`` there): a warning is logged instead
    MAX_NEXTVAL_CATCH_UP = 10_000_000

    def _setval(self, raw, sequence: str, value: int) -> None:
        """Move ``sequence`` so that its next value is above ``value`` (never back)."""
        if self.features.supports_setval:
            raw.execute(
                "SELECT setval(?, ?) FROM duckdb_sequences() WHERE schema_name = current_schema() "
                "AND sequence_name = ? AND coalesce(last_value, start_value - 1) < ?",
                [sequence, value, _unquote(sequence), value]).fetchall()
            return
        rows = raw.execute(
            "SELECT coalesce(last_value, start_value - 1) FROM duckdb_sequences() "
            "WHERE schema_name = current_schema() AND sequence_name = ?", [_unquote(sequence)]).fetchall()
        if not rows or rows[0][0] is None or rows[0][0] >= value:
            return
        gap = value - rows[0][0]
        if gap > self.MAX_NEXTVAL_CATCH_UP:
            logger.warning("sequence %s is %d behind an explicit key (%d); DuckDB < 2.0 has no "
                           "setval(): later automatic keys may collide", sequence, gap, value)
            return
        # no bound parameters: a prepared statement calling nextval() is taken for a
        # read-only one by DuckDB 1.x, which then fails at commit (values are inlined
        # with quote_value / int)
        raw.execute(f"SELECT max(nextval({self.ops.quote_value(sequence)})) "
                    f"FROM range({int(gap)})").fetchall()

    # ---- errors ---------------------------------------------------------------------------------------
    def classify_error(self, exc):
        if isinstance(exc, duckdb.TransactionException):
            message = str(exc)
            if "constraint violat" in message or "duplicate key" in message.lower():
                return IntegrityError
            if "Current transaction is aborted" in message:
                return TransactionManagementError
            return OperationalError
        if isinstance(exc, _DependencyException):
            return ProgrammingError
        if isinstance(exc, _SequenceException):
            return IntegrityError
        return super().classify_error(exc)

    def error_hint(self, exc, sql):
        if isinstance(exc, duckdb.TransactionException) and "Current transaction is aborted" in str(exc):
            return ("an earlier statement of this transaction failed; DuckDB has no savepoints, "
                    "so the whole atomic() block must end (it rolls back)")
        if isinstance(exc, duckdb.TransactionException) and "Conflict" in str(exc):
            return ("another transaction changed the same rows (DuckDB uses optimistic "
                    "concurrency control): retry the transaction")
        return super().error_hint(exc, sql)

    def is_transient_error(self, exc) -> bool:
        return isinstance(exc, duckdb.TransactionException) and "Conflict" in str(exc)

    def is_missing_table_error(self, exc) -> bool:
        return isinstance(exc, duckdb.CatalogException) and "Table with name" in str(exc) \
            and "does not exist" in str(exc)

    # ---- statement time limits (dorm.budget) ----------------------------------------------------------
    # While a budget timeout is in force (``budget_timeout_ms``), each statement arms a
    # watchdog thread that calls the connection's ``interrupt()`` once the statement has
    # run for the limit; DuckDB then fails it with ``InterruptException`` (and the
    # transaction must be rolled back: the atomic block does). ``begin``/``commit`` and
    # the rows fetched by ``iterate()`` after its statement ran are not timed.
    _watchdog = None

    def set_statement_timeout(self, timeout_ms: int):
        if self._watchdog is None:
            self._watchdog = _Watchdog(f"dorm-duckdb-budget-{self.alias}")
        return self.budget_timeout_ms

    async def aset_statement_timeout(self, timeout_ms: int):
        return self.set_statement_timeout(timeout_ms)

    def restore_statement_timeout(self, token) -> None:
        if token is None and self._watchdog is not None:
            watchdog, self._watchdog = self._watchdog, None
            watchdog.close()

    async def arestore_statement_timeout(self, token) -> None:
        self.restore_statement_timeout(token)

    def is_statement_timeout_error(self, exc) -> bool:
        return isinstance(exc, duckdb.InterruptException)

    def _run(self, op, sql, params, kind):
        watchdog = self._watchdog
        if watchdog is None or self.budget_timeout_ms is None:
            return BaseBackend._run(self, op, sql, params, kind)
        watchdog.arm(self.connection or self.ensure_connection(), self.budget_timeout_ms)
        try:
            return BaseBackend._run(self, op, sql, params, kind)
        finally:
            watchdog.disarm()

    async def _arun_on(self, araw, aop, sql, params, kind):
        watchdog = self._watchdog
        if watchdog is None or self.budget_timeout_ms is None:
            return await BaseBackend._arun_on(self, araw, aop, sql, params, kind)
        watchdog.arm(araw, self.budget_timeout_ms)
        try:
            return await BaseBackend._arun_on(self, araw, aop, sql, params, kind)
        finally:
            watchdog.disarm()

    # ---- health -----------------------------------------------------------------------------------------
    def health_check(self, deep: bool = False, timeout: float | None = None) -> dict:
        self.execute("SELECT 1")
        if not deep:
            return {}
        rows = self.execute("SELECT count(*) FROM duckdb_tables() WHERE NOT internal")
        return {"tables": rows[0][0] if rows else 0, "database": self.shared.database}


class _Watchdog:
    """A daemon thread interrupting the statement of the armed connection once it has
    run for the armed number of milliseconds (one per backend under a budget timeout).
    ``arm``/``disarm`` and the interruption hold one lock: once ``disarm`` returns, the
    statement it guarded can no longer be interrupted by it."""

    def __init__(self, name: str):
        self._cond = threading.Condition()
        self._raw = None
        self._deadline = 0.0
        self._closed = False
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def arm(self, raw, timeout_ms: int) -> None:
        with self._cond:
            self._raw = raw
            self._deadline = time.monotonic() + timeout_ms / 1000.0
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._raw = None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._raw = None
            self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                raw = self._raw
                if raw is None:
                    self._cond.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                self._raw = None
                try:
                    raw.interrupt()
                except duckdb.Error:  # the connection was closed meanwhile
                    pass


class _Stream:
    """An ``iterate()`` result streaming from the backend's connection. When the
    connection must run another statement first, the remaining rows are buffered."""

    __slots__ = ("_backend", "_pos", "_raw", "_rows")

    def __init__(self, backend, raw):
        self._backend = backend
        self._raw = raw
        self._rows = None
        self._pos = 0

    def buffer(self) -> None:
        if self._rows is None and self._raw is not None:
            self._rows = self._raw.fetchall()
            self._raw = None

    def fetchmany(self, size):
        rows = self._rows
        if rows is None:
            if self._raw is None:
                return []
            return self._raw.fetchmany(size)
        start = self._pos
        self._pos = start + size
        return rows[start:start + size]

    def close(self) -> None:
        if self._backend._stream is self:
            self._backend._stream = None
        self._raw = None
        self._rows = []


#: djanorm 4.0 names (one class serves sync and async use)
DuckDBDatabaseWrapper = DuckDBBackend
DuckDBAsyncDatabaseWrapper = DuckDBBackend
