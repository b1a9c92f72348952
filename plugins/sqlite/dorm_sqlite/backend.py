"""The SQLite backend: sync ``sqlite3``, async ``aiosqlite``.

Connections:

* ``isolation_level=None`` (the driver never opens transactions on its own) and an
  explicit ``BEGIN`` from ``dorm.transaction``, so DDL is transactional too;
* ``PRAGMA foreign_keys = ON`` (``OPTIONS["foreign_keys"] = False`` to opt out);
* ``OPTIONS``: ``journal_mode`` (DELETE/TRUNCATE/PERSIST/MEMORY/WAL/OFF), ``synchronous``
  (OFF/NORMAL/FULL/EXTRA), ``timeout`` (busy timeout, seconds, default 5),
  ``transaction_mode`` (DEFERRED/IMMEDIATE/EXCLUSIVE), ``foreign_keys`` (bool),
  ``init_command`` (trusted SQL run on each connection), ``cached_statements``.
  Anything else is rejected with ``ImproperlyConfigured``;
* ``detect_types`` off: values are converted by ``ops.get_db_converter``;
* REGEXP and the helpers of ``dorm_sqlite.functions`` on every connection.

``NAME = ":memory:"`` (the default) gives every alias one private in-memory database
that all its connections share, sync and async: a named ``memdb`` database
(``file:/dorm_mem_<id>?vfs=memdb``, real locking and busy timeout) or, on SQLite
builds without ``memdb``, a shared-cache one
(``file:dorm_mem_<id>?mode=memory&cache=shared``). A keeper connection holds it open
until the alias is reset (``connections.reset()``, a ``DATABASES`` change, exit).

Async connections are ``aiosqlite`` connections whose worker thread opens and
configures the ``sqlite3`` connection (and runs ``dorm_connection_created`` with it),
so plugins see a plain ``sqlite3.Connection`` in both worlds.
"""
from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
import uuid
from typing import ClassVar

from dorm.db.backends.base.backend import BaseBackend, SharedState
from dorm.exceptions import ImproperlyConfigured, ProgrammingError

from . import functions
from .client import SQLiteClient
from .features import SQLiteFeatures
from .introspection import SQLiteIntrospection
from .operations import SQLiteOperations
from .schema import SQLiteSchemaEditor

JOURNAL_MODES = ("DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF")
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
TRANSACTION_MODES = ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")
OPTIONS = ("journal_mode", "synchronous", "timeout", "transaction_mode", "foreign_keys",
           "init_command", "cached_statements")

_BUSY = getattr(sqlite3, "SQLITE_BUSY", 5)
_LOCKED = getattr(sqlite3, "SQLITE_LOCKED", 6)
_INTERRUPT = getattr(sqlite3, "SQLITE_INTERRUPT", 9)
#: virtual-machine instructions between two looks at the clock of a budget timeout
PROGRESS_STEPS = 1000

_memdb_supported: bool | None = None
_monotonic = time.monotonic


def memdb_supported() -> bool:
    """Whether this SQLite build has the ``memdb`` VFS (3.36+, default builds)."""
    global _memdb_supported
    if _memdb_supported is None:
        try:
            con = sqlite3.connect(f"file:/dorm_probe_{uuid.uuid4().hex}?vfs=memdb", uri=True)
            con.execute("CREATE TABLE t (x)")
            con.close()
            _memdb_supported = True
        except sqlite3.Error:
            _memdb_supported = False
    return _memdb_supported


def _is_memory(name: str) -> bool:
    return name in ("", ":memory:") or (name.startswith("file:") and "mode=memory" in name
                                         and "cache=shared" not in name)


class SQLiteShared(SharedState):
    """Database location of one alias, and the keeper of its in-memory database."""

    def __init__(self, settings_dict: dict, alias: str):
        super().__init__(settings_dict, alias)
        name = settings_dict["NAME"]
        self.memory = _is_memory(name)
        self._keeper = None
        self._lock = threading.Lock()
        if self.memory:
            token = uuid.uuid4().hex[:16]
            if memdb_supported():
                self.database = f"file:/dorm_mem_{token}?vfs=memdb"
            else:
                self.database = f"file:dorm_mem_{token}?mode=memory&cache=shared"
            self.uri = True
        else:
            self.database = name
            self.uri = name.startswith("file:")

    def keep_alive(self) -> None:
        """Open the keeper connection of an in-memory database (once)."""
        if not self.memory or self._keeper is not None:
            return
        with self._lock:
            if self._keeper is None:
                self._keeper = sqlite3.connect(self.database, uri=True, check_same_thread=False)

    def close(self) -> None:
        with self._lock:
            keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.close()

    def stats(self) -> dict:
        return {"database": self.settings_dict["NAME"] if not self.memory else ":memory:",
                "memory": self.memory}


class _StatementClock:
    """The deadline of the running statement under a budget timeout: ``started`` is the
    trace callback (each statement's start), ``check`` the progress handler."""

    __slots__ = ("deadline", "limit", "timeout_ms")

    def __init__(self, timeout_ms: int):
        self.deadline = math.inf
        self.set(timeout_ms)

    def set(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.limit = timeout_ms / 1000.0

    def started(self, _sql) -> None:
        self.deadline = _monotonic() + self.limit

    def check(self) -> int:
        return 1 if _monotonic() > self.deadline else 0


class SQLiteBackend(BaseBackend):
    vendor = "sqlite"
    display_name = "SQLite"
    Database = sqlite3
    features_class = SQLiteFeatures
    ops_class = SQLiteOperations
    schema_editor_class = SQLiteSchemaEditor
    introspection_class = SQLiteIntrospection
    client_class = SQLiteClient
    shared_state_class = SQLiteShared

    data_types: ClassVar[dict[str, str]] = {
        "AutoField": "integer",
        "BigAutoField": "integer",
        "SmallAutoField": "integer",
        "IntegerField": "integer",
        "SmallIntegerField": "smallint",
        "BigIntegerField": "bigint",
        "PositiveIntegerField": "integer unsigned",
        "PositiveSmallIntegerField": "smallint unsigned",
        "PositiveBigIntegerField": "bigint unsigned",
        "FloatField": "real",
        "DecimalField": "decimal(%(max_digits)s, %(decimal_places)s)",
        "CharField": "varchar(%(max_length)s)",
        "TextField": "text",
        "BooleanField": "bool",
        "DateField": "date",
        "TimeField": "time",
        "DateTimeField": "datetime",
        "DurationField": "bigint",
        "UUIDField": "varchar(36)",
        "GenericIPAddressField": "varchar(39)",
        "IPAddressField": "varchar(39)",
        "JSONField": "text",
        "BinaryField": "blob",
    }
    data_types_suffix: ClassVar[dict[str, str]] = {
        "AutoField": "AUTOINCREMENT",
        "BigAutoField": "AUTOINCREMENT",
        "SmallAutoField": "AUTOINCREMENT",
    }
    # %(column)s is the raw (validated) column name: the templates quote it
    allowed_options = OPTIONS
    data_type_check_constraints: ClassVar[dict[str, str]] = {
        **BaseBackend.data_type_check_constraints,
        "JSONField": '(JSON_VALID("%(column)s") OR "%(column)s" IS NULL)',
    }
    rel_data_types: ClassVar[dict[str, str]] = {
        "AutoField": "integer",
        "BigAutoField": "bigint",
        "SmallAutoField": "smallint",
    }

    # ---- configuration ----------------------------------------------------------------------
    @classmethod
    def normalize_settings(cls, settings_dict: dict, alias: str) -> dict:
        out = super().normalize_settings(settings_dict, alias)
        name = out.get("NAME")
        out["NAME"] = ":memory:" if name in (None, "") else os.fspath(name)
        options = dict(out["OPTIONS"])
        for key, allowed in (("journal_mode", JOURNAL_MODES), ("synchronous", SYNCHRONOUS),
                             ("transaction_mode", TRANSACTION_MODES)):
            if options.get(key) is not None:
                value = str(options[key]).upper()
                if value not in allowed:
                    raise ImproperlyConfigured(
                        f"DATABASES[{alias!r}]['OPTIONS'][{key!r}] = {options[key]!r} is not valid; "
                        f"choose one of {', '.join(allowed)}"
                    )
                options[key] = value
        if "timeout" in options:
            try:
                options["timeout"] = float(options["timeout"])
            except (TypeError, ValueError):
                raise ImproperlyConfigured(
                    f"DATABASES[{alias!r}]['OPTIONS']['timeout'] must be a number of seconds"
                ) from None
            if options["timeout"] < 0:
                raise ImproperlyConfigured(f"DATABASES[{alias!r}]['OPTIONS']['timeout'] must be >= 0")
        if "cached_statements" in options and not isinstance(options["cached_statements"], int):
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}]['OPTIONS']['cached_statements'] must be an integer")
        if "init_command" in options and not isinstance(options["init_command"], str):
            raise ImproperlyConfigured(f"DATABASES[{alias!r}]['OPTIONS']['init_command'] must be SQL text")
        out["OPTIONS"] = options
        return out

    @property
    def options(self) -> dict:
        return self.settings_dict["OPTIONS"]

    # ---- connections ---------------------------------------------------------------------------
    def get_connection_params(self) -> dict:
        options = self.options
        return {
            "database": self.shared.database,
            "uri": self.shared.uri,
            "timeout": options.get("timeout", 5.0),
            "isolation_level": None,
            "check_same_thread": False,
            "detect_types": 0,
            "cached_statements": options.get("cached_statements", 256),
        }

    def get_new_connection(self):
        self.shared.keep_alive()
        return sqlite3.connect(**self.get_connection_params())

    def init_connection_state(self, raw) -> None:
        options = self.options
        if options.get("foreign_keys", True):
            raw.execute("PRAGMA foreign_keys = ON")
        mode = options.get("journal_mode")
        if mode and not self.shared.memory:
            current = raw.execute("PRAGMA journal_mode").fetchone()[0].upper()
            if current != mode:
                # validated against JOURNAL_MODES: safe to inline (PRAGMA cannot bind)
                raw.execute(f"PRAGMA journal_mode = {mode}")
        if options.get("synchronous"):
            raw.execute(f"PRAGMA synchronous = {options['synchronous']}")
        functions.register(raw)
        if options.get("init_command"):
            for statement in self.ops.split_statements(options["init_command"]):
                raw.execute(statement)
        try:
            self.features.max_query_params = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        except AttributeError:  # pragma: no cover - Python < 3.11
            pass

    # ---- async (aiosqlite) -------------------------------------------------------------------------
    async def aget_new_connection(self):
        import aiosqlite

        conn = aiosqlite.Connection(self._open_configured, 256)
        worker = getattr(conn, "_thread", None)
        if isinstance(worker, threading.Thread):
            # a forgotten connection must not keep the interpreter from exiting
            worker.daemon = True
        await conn
        return conn

    async def aclose_raw(self, araw) -> None:
        try:
            await araw.close()
        except (sqlite3.Error, ValueError):
            pass

    def aclose_raw_nowait(self, araw) -> None:
        araw.stop()

    # ---- statements: sqlite3 shortcuts (one C call each) ----------------------------------------------
    def _op_fetch(self, raw, sql, params):
        return raw.execute(sql, params).fetchall()

    def _op_fetch_described(self, raw, sql, params):
        cursor = raw.execute(sql, params)
        return [d[0] for d in (cursor.description or ())], cursor.fetchall()

    def _op_write(self, raw, sql, params):
        return max(raw.execute(sql, params).rowcount, 0)

    def _op_insert_returning(self, raw, sql, params):
        return raw.execute(sql, params).fetchall()

    def _op_insert(self, raw, sql, params):
        return [(raw.execute(sql, params).lastrowid,)]

    def _op_many(self, raw, sql, param_list):
        return max(raw.executemany(sql, param_list).rowcount, 0)

    def _op_cursor(self, raw, sql, params):
        return raw.execute(sql, params)

    def _op_control(self, raw, sql):
        raw.execute(sql)

    def _op_script(self, raw, sql, _params):
        for statement in self.ops.split_statements(sql):
            raw.execute(statement)

    async def _aop_fetch(self, araw, sql, params):
        return list(await araw.execute_fetchall(sql, params))

    async def _aop_fetch_described(self, araw, sql, params):
        cursor = await araw.execute(sql, params)
        try:
            names = [d[0] for d in (cursor.description or ())]
            return names, list(await cursor.fetchall())
        finally:
            await cursor.close()

    async def _aop_write(self, araw, sql, params):
        cursor = await araw.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return max(count, 0)

    async def _aop_insert_returning(self, araw, sql, params):
        return list(await araw.execute_fetchall(sql, params))

    async def _aop_insert(self, araw, sql, params):
        cursor = await araw.execute(sql, params)
        rowid = cursor.lastrowid
        await cursor.close()
        return [(rowid,)]

    async def _aop_many(self, araw, sql, param_list):
        cursor = await araw.executemany(sql, param_list)
        count = cursor.rowcount
        await cursor.close()
        return max(count, 0)

    async def _aop_cursor(self, araw, sql, params):
        return await araw.execute(sql, params)

    async def _aop_fetchmany(self, cursor, size):
        return list(await cursor.fetchmany(size))

    async def _aop_close_cursor(self, cursor):
        await cursor.close()

    async def _aop_control(self, araw, sql):
        await araw.execute_fetchall(sql, ())

    async def _aop_script(self, araw, sql, _params):
        for statement in self.ops.split_statements(sql):
            await araw.execute_fetchall(statement, ())

    # ---- errors ---------------------------------------------------------------------------------------
    _PROGRAMMING = ("no such table", "no such column", "syntax error", "has no column named",
                    "no such function", "no such index", "already exists")

    def classify_error(self, exc):
        if isinstance(exc, sqlite3.OperationalError):
            message = str(exc)
            if any(part in message for part in self._PROGRAMMING):
                return ProgrammingError
        return super().classify_error(exc)

    def is_transient_error(self, exc) -> bool:
        if not isinstance(exc, sqlite3.OperationalError):
            return False
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return (code & 0xFF) in (_BUSY, _LOCKED)
        message = str(exc)
        return "database is locked" in message or "database table is locked" in message

    def is_missing_table_error(self, exc) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("no such table")

    # ---- statement time limits (dorm.budget) ----------------------------------------------------------
    # A trace callback marks the start of every statement and a progress handler (called
    # every PROGRESS_STEPS virtual-machine instructions) interrupts one that runs past
    # its start + the limit: SQLite then fails it with SQLITE_INTERRUPT. Both are
    # installed on the connection while a budget timeout is in force, removed after.
    # Note (SQLite itself): an interrupted INSERT/UPDATE/DELETE inside a transaction
    # rolls the whole transaction back; ``restore_statement_timeout`` tells
    # dorm.transaction so (no ROLLBACK of a transaction that is gone).
    _budget_clock = None

    def _clock_token(self, timeout_ms):
        clock = self._budget_clock
        if clock is None:
            self._budget_clock = _StatementClock(timeout_ms)
            return None
        previous = clock.timeout_ms
        clock.set(timeout_ms)
        return previous

    def set_statement_timeout(self, timeout_ms: int):
        raw = self.ensure_connection()
        token = self._clock_token(timeout_ms)
        if token is None:
            clock = self._budget_clock
            raw.set_trace_callback(clock.started)
            raw.set_progress_handler(clock.check, PROGRESS_STEPS)
        return token

    async def aset_statement_timeout(self, timeout_ms: int):
        araw = await self.aensure_connection()
        token = self._clock_token(timeout_ms)
        if token is None:
            clock = self._budget_clock
            await araw.set_trace_callback(clock.started)
            await araw.set_progress_handler(clock.check, PROGRESS_STEPS)
        return token

    def _restore_clock(self, token, in_transaction) -> bool:
        """Apply ``token`` to the clock; True when the handlers must be removed."""
        if self._in_transaction and not in_transaction:
            self._in_transaction = False     # SQLite rolled the transaction back itself
        if token is not None and self._budget_clock is not None:
            self._budget_clock.set(token)
            return False
        self._budget_clock = None
        return True

    def restore_statement_timeout(self, token) -> None:
        raw = self.connection
        if raw is None:
            self._budget_clock = None
            return
        if self._restore_clock(token, raw.in_transaction):
            raw.set_progress_handler(None, 0)
            raw.set_trace_callback(None)

    async def arestore_statement_timeout(self, token) -> None:
        araw = self.aconnection
        if araw is None:
            self._budget_clock = None
            return
        if self._restore_clock(token, araw.in_transaction):
            await araw.set_progress_handler(None, 0)
            await araw.set_trace_callback(None)

    def is_statement_timeout_error(self, exc) -> bool:
        if not isinstance(exc, sqlite3.OperationalError):
            return False
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return code == _INTERRUPT
        return str(exc) == "interrupted"

    # ---- health -----------------------------------------------------------------------------------------
    def health_check(self, deep: bool = False, timeout: float | None = None) -> dict:
        if not deep:
            self.execute("SELECT 1")
            return {}
        raw = self.ensure_connection()
        if timeout:
            import time

            deadline = time.monotonic() + timeout
            raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10000)
        try:
            result = self.execute("PRAGMA quick_check")
        finally:
            if timeout:
                raw.set_progress_handler(None, 0)
        status = result[0][0] if result else "no result"
        if status != "ok":
            from dorm.exceptions import DatabaseError

            raise DatabaseError(f"PRAGMA quick_check reported: {status}")
        return {"quick_check": "ok"}
