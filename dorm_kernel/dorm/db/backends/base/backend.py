"""The backend contract: what a backend plugin supplies and what the kernel calls.

A backend plugin registers ``"module:Class"`` for a subclass of ``BaseBackend``
through ``dorm_register_backends``. The kernel (``dorm.db.connections``) creates:

* one instance per alias and **thread** for sync work (``connections[alias]``);
* one shared instance per alias and **event loop** for async work outside
  transactions, and one instance **pinned to the task** inside ``aatomic()``
  (``await connections.aget(alias)``).

An instance is used either sync or async, never both, and by one thread or task
at a time; it owns at most one raw driver connection, opened lazily.

Small collaborators, one idea each:

* ``features``      – capability flags (``BaseFeatures``)
* ``ops``           – SQL dialect (``BaseOperations``)
* ``schema_editor`` – DDL (``BaseSchemaEditor``)
* ``introspection`` – reading the live schema (``BaseIntrospection``)
* ``client``        – ``dorm dbshell`` (``BaseClient``)

What a plugin implements (the *driver layer*, see ``docs/backends.md``):

* ``Database`` (the DB-API module) and ``get_new_connection()``;
  ``init_connection_state(raw)`` for per-connection set-up;
* optionally faster ``_op_*`` methods (the defaults use plain DB-API cursors);
* async: nothing (the default runs the sync driver on one worker thread per
  connection) or native ``aget_new_connection`` / ``_aop_*`` methods;
* ``classify_error`` / ``is_transient_error`` / ``is_missing_table_error``.

What the kernel calls (the *statement API*, the contract of ``docs/internals.md``):
``execute``, ``execute_write``, ``execute_insert``, ``executemany``, ``iterate``,
``execute_script`` and their ``a``-prefixed twins, plus the transaction primitives
``begin/commit/rollback/savepoint_*`` (and ``a*`` twins) driven by
``dorm.transaction``. SQL arrives with ``ops.placeholder`` and parameters already
adapted by the fields; rows go back as tuples.

Every statement goes through one path that stays thin: the ``pre_query`` /
``post_query`` signals, DEBUG logging and the ``dorm_execute`` hook are only paid
for when something listens; timing is two ``perf_counter`` calls for the slow-query
WARNING; driver exceptions become ``dorm.exceptions`` classes with the driver error
as ``__cause__``; transient errors of *reads* outside a transaction are retried
(``RETRY_ATTEMPTS``/``RETRY_BACKOFF``); writes are never re-run.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import queue
import re
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any, ClassVar

from dorm.db.utils import (dbapi_class_for, knobs, mask_params, normalize_error, shorten,
                           shorten_params)
from dorm.exceptions import DatabaseError, ImproperlyConfigured, NotSupportedError
from dorm.hookspecs import hookimpl

from .features import BaseFeatures
from .operations import BaseOperations

#: Statement kinds: only ``READ`` statements are ever retried.
READ, WRITE, MANY = "read", "write", "many"

_DEBUG = logging.DEBUG
_perf = time.perf_counter
_READ_SQL = re.compile(r"^\s*\(*\s*(SELECT|VALUES|EXPLAIN|SHOW|PRAGMA)\b", re.IGNORECASE)

_pre_query = None
_post_query = None


#: bumped whenever the plugin set changes: backends recompose their ``dorm_execute``
#: caller lazily at their next statement (a wrapper registered at run time applies to
#: connections that are already open, and to the first statement of a new one)
_plugin_generation = [0]
_generation_subscribed = [False]


def _subscribe_plugin_generation() -> None:
    if _generation_subscribed[0]:
        return
    _generation_subscribed[0] = True
    try:
        from dorm.plugins import on_change
    except ImportError:  # pragma: no cover - stripped-down installs
        return

    def bump():
        _plugin_generation[0] += 1

    on_change(bump)


def _load_signals() -> None:
    """Import ``dorm.signals`` once (lazily, so the db layer imports cheaply)."""
    global _pre_query, _post_query
    if _pre_query is None:
        from dorm import signals

        _pre_query, _post_query = signals.pre_query, signals.post_query


@hookimpl(trylast=True)
def dorm_execute(backend, sql, params, many):
    """The kernel's innermost ``dorm_execute``: run the statement the backend is
    executing (wrappers registered by plugins run around it). For async statements
    the result is an awaitable that the backend awaits."""
    return backend._pending_statement()


def _rowcount(result):
    if isinstance(result, int):
        return result
    if isinstance(result, list):
        return len(result)
    return None


class SharedState:
    """Resources shared by every instance of one alias (all threads and loops).

    Created once per alias by ``BaseBackend.create_shared_state`` and closed when the
    configuration changes (``connections.reset()``) or at interpreter exit. A pool
    lives here; the SQLite plugin keeps its in-memory database alive here.
    """

    def __init__(self, settings_dict: dict, alias: str):
        self.settings_dict = settings_dict
        self.alias = alias

    def close(self) -> None:
        """Release the shared resources (idempotent)."""

    async def aclose(self) -> None:
        """Release the resources bound to the running event loop (an async pool);
        called by ``connections.aclose_all()``. They are recreated on next use."""

    def stats(self) -> dict:
        """Extra keys for ``pool_stats(alias)``."""
        return {}


def _set_result(fut, value):
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut, exc):
    if not fut.done():
        fut.set_exception(exc)


class AsyncWorker:
    """One daemon thread running every call of one async connection, in order.

    The async fallback for drivers without native async: the raw connection is
    created and used only on this thread. ``await worker.call(fn, *args)`` costs one
    thread hop; a compound operation (execute + fetchall) is one call.
    """

    def __init__(self, name: str):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fut, fn, args = item
            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting task
                if fut is not None:
                    self._deliver(fut, _set_exception, exc)
            else:
                if fut is not None:
                    self._deliver(fut, _set_result, result)

    @staticmethod
    def _deliver(fut, setter, value) -> None:
        try:
            fut.get_loop().call_soon_threadsafe(setter, fut, value)
        except RuntimeError:  # the loop was closed meanwhile: nobody waits any more
            pass

    async def call(self, fn, *args):
        fut = asyncio.get_running_loop().create_future()
        self._queue.put((fut, fn, args))
        return await fut

    def call_nowait(self, fn, *args) -> None:
        self._queue.put((None, fn, args))

    def stop(self) -> None:
        self._queue.put(None)


class BaseBackend:
    """One database connection of one alias (see module docstring)."""

    vendor: str = "unknown"
    display_name: str = "Unknown"
    features_class = BaseFeatures
    ops_class = BaseOperations
    schema_editor_class: type | None = None      # default: BaseSchemaEditor
    introspection_class: type | None = None      # default: BaseIntrospection
    client_class: type | None = None             # default: BaseClient
    shared_state_class = SharedState

    #: The DB-API 2 driver module; its ``Error`` class is what gets normalised.
    Database: Any = None

    #: internal field type -> column DDL template (``%(max_length)s`` etc.).
    data_types: ClassVar[dict[str, str]] = {}
    #: internal type -> text appended after ``PRIMARY KEY`` (``AUTOINCREMENT``).
    data_types_suffix: ClassVar[dict[str, str]] = {}
    #: internal type -> CHECK expression template; ``%(column)s`` is the raw column
    #: name (validated identifier): quote it in the template (``'"%(column)s" >= 0'``).
    data_type_check_constraints: ClassVar[dict[str, str]] = {
        "PositiveIntegerField": '"%(column)s" >= 0',
        "PositiveSmallIntegerField": '"%(column)s" >= 0',
        "PositiveBigIntegerField": '"%(column)s" >= 0',
    }
    #: Keys ``DATABASES[alias]["OPTIONS"]`` may hold (None: not checked here).
    allowed_options: tuple[str, ...] | None = None
    #: Holders of ``aconnection`` outside transactions (``dorm.contrib.task_pool``): a
    #: pooling backend (``features.has_connection_pool``) keeps its async connection
    #: after ``COMMIT``/``ROLLBACK`` while this is above zero instead of giving it back.
    _apins = 0
    #: auto field internal type -> column type of a foreign key pointing at it.
    rel_data_types: ClassVar[dict[str, str]] = {}
    #: The per-statement time limit (ms) that ``dorm.budget`` put in force on this
    #: connection, ``None`` when none. Set and cleared by ``dorm.budget`` only; while it
    #: is set, an error for which ``is_statement_timeout_error`` is true is raised as
    #: ``BudgetExceeded`` naming the limit.
    budget_timeout_ms: int | None = None

    # ---- configuration ---------------------------------------------------------------
    @classmethod
    def normalize_settings(cls, settings_dict: dict, alias: str) -> dict:
        """Validate one ``DATABASES`` entry and fill defaults; return a new dict.

        Called once per alias (not per connection). Raise ``ImproperlyConfigured``
        naming the alias and the key for a wrong value.
        """
        out = dict(settings_dict)
        out.setdefault("OPTIONS", {})
        if not isinstance(out["OPTIONS"], dict):
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}]['OPTIONS'] must be a dict, got {type(out['OPTIONS']).__name__}"
            )
        if cls.allowed_options is not None:
            unknown = sorted(set(out["OPTIONS"]) - set(cls.allowed_options))
            if unknown:
                raise ImproperlyConfigured(
                    f"DATABASES[{alias!r}]['OPTIONS'] has unknown {cls.display_name} option(s) "
                    f"{', '.join(map(repr, unknown))}; valid options: {', '.join(cls.allowed_options)}")
        return out

    @classmethod
    def create_shared_state(cls, settings_dict: dict, alias: str) -> SharedState:
        """The per-alias shared resources (see ``SharedState``)."""
        return cls.shared_state_class(settings_dict, alias)

    def __init__(self, settings_dict: dict, alias: str = "default", shared: SharedState | None = None):
        self.settings_dict = settings_dict
        self.alias = alias
        self.shared = shared if shared is not None else self.create_shared_state(settings_dict, alias)
        self.features = self.features_class(self)
        self.ops = self.ops_class(self)
        #: raw sync driver connection (``None`` until first use)
        self.connection = None
        #: raw async connection (driver specific; ``None`` until first async use)
        self.aconnection = None
        self._worker: AsyncWorker | None = None
        self._atomic_levels: list = []   # managed by dorm.transaction
        self._in_transaction = False
        self._hook = None
        self._hook_generation = -1       # _plugin_generation the hook was composed for
        self._pending = None
        self._introspection = None
        self._log = logging.getLogger(f"dorm.db.backends.{self.vendor}")
        error = getattr(self.Database, "Error", None)
        self._driver_error = error if isinstance(error, type) else Exception
        _load_signals()
        _subscribe_plugin_generation()
        knobs.ensure()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} vendor={self.vendor!r} alias={self.alias!r}>"

    # ---- collaborators ---------------------------------------------------------------
    def schema_editor(self, *args, **kwargs):
        """A ``BaseSchemaEditor`` (context manager) bound to this connection."""
        cls = self.schema_editor_class
        if cls is None:
            from .schema import BaseSchemaEditor as cls
        return cls(self, *args, **kwargs)

    @property
    def introspection(self):
        if self._introspection is None:
            cls = self.introspection_class
            if cls is None:
                from .introspection import BaseIntrospection as cls
            self._introspection = cls(self)
        return self._introspection

    @property
    def client(self):
        cls = self.client_class
        if cls is None:
            from .client import BaseClient as cls
        return cls(self)

    def table_exists(self, table: str) -> bool:
        return self.introspection.table_exists(table)

    def get_table_columns(self, table: str) -> list[str]:
        """Column names of ``table`` in table order (empty list if it does not exist)."""
        return [c.name for c in self.introspection.get_table_description(table)]

    # ---- transactions state ----------------------------------------------------------
    @property
    def in_atomic_block(self) -> bool:
        """True inside ``atomic()`` / ``aatomic()`` on this connection."""
        return bool(self._atomic_levels)

    @property
    def in_transaction(self) -> bool:
        """True between ``begin()`` and ``commit()``/``rollback()``."""
        return self._in_transaction

    @property
    def atomic_depth(self) -> int:
        return len(self._atomic_levels)

    # ---- driver layer: connections (override in a plugin) -----------------------------
    def get_connection_params(self) -> dict:
        """Keyword arguments for the driver's ``connect()``."""
        return {}

    def get_new_connection(self):
        """Open and return a raw DB-API connection (no per-connection set-up yet)."""
        if self.Database is None:
            raise NotImplementedError(f"{type(self).__name__} must set Database or override get_new_connection()")
        return self.Database.connect(**self.get_connection_params())

    def init_connection_state(self, raw) -> None:
        """Per-connection set-up of a new raw connection (session settings, SQL
        functions). Runs before the ``dorm_connection_created`` hook."""

    def close_raw(self, raw) -> None:
        raw.close()

    def _open_configured(self):
        """Open a raw connection, set it up and announce it (runs on the thread that
        will use the connection)."""
        try:
            raw = self.get_new_connection()
        except self._driver_error as exc:
            raise self._wrap(exc, None) from exc
        try:
            self.init_connection_state(raw)
            self._connection_created(raw)
        except BaseException:
            try:
                self.close_raw(raw)
            except Exception:  # noqa: BLE001, S110 - the set-up error is the one to report
                pass
            raise
        return raw

    def _connection_created(self, raw) -> None:
        """Decide the ``dorm_execute`` composition and call ``dorm_connection_created``."""
        self._hook = self._compose_execute_hook()
        try:
            from dorm import plugins
        except ImportError:  # plugin layer not importable (stripped-down installs)
            return
        plugins.get_plugin_manager().hook.dorm_connection_created(
            backend=self, connection=raw, alias=self.alias
        )

    def _execute_hook(self):
        """The ``dorm_execute`` caller for this backend's statements, or ``None`` when no
        plugin wraps statements; recomposed after the plugin set changed."""
        if self._hook_generation != _plugin_generation[0]:
            self._hook_generation = _plugin_generation[0]
            self._hook = self._compose_execute_hook()
        return self._hook

    def _compose_execute_hook(self):
        """The ``dorm_execute`` caller, or ``None`` when no plugin wraps statements."""
        try:
            from dorm import plugins
        except ImportError:
            return None
        try:
            wanted = plugins.has_impl("dorm_execute", include_builtin=False)
        except TypeError:  # older plugin API without include_builtin
            wanted = plugins.has_impl("dorm_execute")
        if not wanted:
            return None
        caller = plugins.get_plugin_manager().hook.dorm_execute
        if any(impl.function is dorm_execute for impl in caller.get_hookimpls()):
            return caller
        extra = [dorm_execute]
        return lambda **kw: caller.call_extra(extra, kw)

    def ensure_connection(self):
        """The raw sync connection, opened on first use."""
        raw = self.connection
        if raw is None:
            raw = self.connection = self._open_configured()
        return raw

    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        try:
            self._op_control(self.connection, "SELECT 1")
        except self._driver_error:
            return False
        return True

    def close(self) -> None:
        """Close the sync raw connection (reopened on next use). An open transaction
        is rolled back by the database; an enclosing ``atomic()`` then fails at exit
        with ``TransactionManagementError`` instead of committing."""
        raw, self.connection = self.connection, None
        self._in_transaction = False
        if raw is not None:
            try:
                self.close_raw(raw)
            except self._driver_error:
                pass

    # ---- driver layer: async connections ------------------------------------------------
    async def aget_new_connection(self):
        """Open the raw async connection. Default: a sync driver connection living on
        a dedicated worker thread (``AsyncWorker``); all ``_aop_*`` run there."""
        self._worker = AsyncWorker(f"dorm-{self.vendor}-{self.alias}")
        try:
            return await self._worker.call(self._open_configured)
        except BaseException:
            self._worker.stop()
            self._worker = None
            raise

    async def aensure_connection(self):
        araw = self.aconnection
        if araw is None:
            araw = self.aconnection = await self.aget_new_connection()
        return araw

    async def aclose_raw(self, araw) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            try:
                await worker.call(self.close_raw, araw)
            except self._driver_error:
                pass
            finally:
                worker.stop()

    def aclose_raw_nowait(self, araw) -> None:
        """Close an async raw connection without awaiting (shutdown, another loop)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.call_nowait(self.close_raw, araw)
            worker.stop()

    async def aclose(self) -> None:
        araw, self.aconnection = self.aconnection, None
        self._in_transaction = False
        if araw is not None:
            await self.aclose_raw(araw)

    def close_async_nowait(self) -> None:
        araw, self.aconnection = self.aconnection, None
        if araw is not None:
            self._in_transaction = False
            try:
                self.aclose_raw_nowait(araw)
            except Exception:  # noqa: BLE001, S110 - shutdown path: never raise
                pass

    # ---- driver layer: statements (DB-API defaults; plugins may override) -------------
    def _op_fetch(self, raw, sql, params):
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall()
        finally:
            cur.close()

    def _op_fetch_described(self, raw, sql, params):
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            names = [d[0] for d in (cur.description or ())]
            return names, cur.fetchall()
        finally:
            cur.close()

    def _op_write(self, raw, sql, params):
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            return cur.rowcount
        finally:
            cur.close()

    def _op_insert_returning(self, raw, sql, params):
        return self._op_fetch(raw, sql, params)

    def _op_insert(self, raw, sql, params):
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            return [(cur.lastrowid,)]
        finally:
            cur.close()

    def _op_many(self, raw, sql, param_list):
        cur = raw.cursor()
        try:
            cur.executemany(sql, param_list)
            return cur.rowcount
        finally:
            cur.close()

    def _op_cursor(self, raw, sql, params):
        cur = raw.cursor()
        cur.execute(sql, params)
        return cur

    def _op_fetchmany(self, cursor, size):
        return cursor.fetchmany(size)

    def _op_close_cursor(self, cursor):
        cursor.close()

    def _op_control(self, raw, sql):
        cur = raw.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()

    def _op_script(self, raw, sql, _params):
        for statement in self.ops.split_statements(sql):
            self._op_control(raw, statement)

    # async twins: default = the sync op on the worker thread
    async def _aop_fetch(self, araw, sql, params):
        return await self._worker.call(self._op_fetch, araw, sql, params)

    async def _aop_fetch_described(self, araw, sql, params):
        return await self._worker.call(self._op_fetch_described, araw, sql, params)

    async def _aop_write(self, araw, sql, params):
        return await self._worker.call(self._op_write, araw, sql, params)

    async def _aop_insert_returning(self, araw, sql, params):
        return await self._worker.call(self._op_insert_returning, araw, sql, params)

    async def _aop_insert(self, araw, sql, params):
        return await self._worker.call(self._op_insert, araw, sql, params)

    async def _aop_many(self, araw, sql, param_list):
        return await self._worker.call(self._op_many, araw, sql, list(param_list))

    async def _aop_cursor(self, araw, sql, params):
        return await self._worker.call(self._op_cursor, araw, sql, params)

    async def _aop_fetchmany(self, cursor, size):
        return await self._worker.call(self._op_fetchmany, cursor, size)

    async def _aop_close_cursor(self, cursor):
        return await self._worker.call(self._op_close_cursor, cursor)

    async def _aop_control(self, araw, sql):
        return await self._worker.call(self._op_control, araw, sql)

    async def _aop_script(self, araw, sql, params):
        return await self._worker.call(self._op_script, araw, sql, params)

    # ---- driver layer: errors ----------------------------------------------------------
    def classify_error(self, exc: BaseException) -> type[DatabaseError]:
        """The dorm exception class for driver error ``exc`` (PEP 249 names by default)."""
        return dbapi_class_for(exc)

    def is_transient_error(self, exc: BaseException) -> bool:
        """True when re-running a *read* may succeed (lock timeout, dropped connection)."""
        return False

    def is_connection_broken(self, exc: BaseException) -> bool:
        """True when the connection must be reopened before a retry."""
        return False

    def is_missing_table_error(self, exc: BaseException) -> bool:
        return False

    def error_hint(self, exc: BaseException, sql: str | None) -> str | None:
        """Extra advice appended to the message of a normalised error."""
        if self.is_missing_table_error(exc):
            return ("the table does not exist on database alias "
                    f"{self.alias!r}: run `dorm migrate` (or `dorm.create_tables([...])` "
                    "in scripts and tests)")
        return None

    def _wrap(self, exc: BaseException, sql: str | None) -> DatabaseError:
        if self.budget_timeout_ms is not None and self.is_statement_timeout_error(exc):
            return self._budget_timeout_error(exc, sql)
        return normalize_error(exc, self.classify_error(exc), alias=self.alias, vendor=self.vendor,
                               sql=sql, hint=self.error_hint(exc, sql))

    # ---- statement time limits (dorm.budget) ---------------------------------------------
    # Called by ``dorm.budget`` inside the atomic block the budget opened on this
    # connection, only when ``features.supports_statement_timeout`` is true.
    def set_statement_timeout(self, timeout_ms: int) -> Any:
        """Cancel every statement this connection runs from now on that takes longer
        than ``timeout_ms`` milliseconds (a positive int), until
        ``restore_statement_timeout`` is called. Returns a token describing the limit in
        force before (opaque to the caller), for ``restore_statement_timeout``. A
        cancelled statement must raise a driver error for which
        ``is_statement_timeout_error`` is true."""
        raise self._no_statement_timeout()

    def restore_statement_timeout(self, token: Any) -> None:
        """Put back the limit in force before the ``set_statement_timeout`` call that
        returned ``token``. Called when the budget block exits, before its atomic block
        ends, also after a failure (a cancelled statement, an aborted transaction):
        then it restores what it can and does not raise."""
        raise self._no_statement_timeout()

    async def aset_statement_timeout(self, timeout_ms: int) -> Any:
        """Async twin of ``set_statement_timeout`` (on the async connection)."""
        raise self._no_statement_timeout()

    async def arestore_statement_timeout(self, token: Any) -> None:
        """Async twin of ``restore_statement_timeout``."""
        raise self._no_statement_timeout()

    def _no_statement_timeout(self) -> NotSupportedError:
        return NotSupportedError(
            f"{self.display_name} (database alias {self.alias!r}) cannot bound the run time of "
            "statements: budget(timeout_ms=...) needs a backend whose "
            "features.supports_statement_timeout is true; use budget(max_rows=...) only")

    def is_statement_timeout_error(self, exc: BaseException) -> bool:
        """True when driver error ``exc`` is the cancellation of a statement that ran
        past the limit of ``set_statement_timeout``."""
        return False

    def _budget_timeout_error(self, exc: BaseException, sql: str | None) -> DatabaseError:
        from dorm.exceptions import BudgetExceeded

        limit = self.budget_timeout_ms
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        err = BudgetExceeded(f"Statement cancelled: it ran longer than the active budget "
                             f"timeout_ms={limit} (database alias {self.alias!r}, "
                             f"{self.display_name}: {detail}).")
        err.alias, err.vendor, err.sql = self.alias, self.vendor, sql
        err.timeout_ms, err.max_rows, err.rows = limit, None, None
        return err

    def _can_retry(self, exc, sql, kind) -> bool:
        knobs.ensure()
        return (kind is READ and not self._in_transaction and knobs.retry_attempts > 1
                and self.is_transient_error(exc) and bool(_READ_SQL.match(sql)))

    # ---- the statement path (sync) ------------------------------------------------------
    def _observed(self) -> bool:
        """Does anything watch statements (hook, signal receivers, DEBUG log)?"""
        return (self._execute_hook() is not None or _pre_query.has_receivers()
                or _post_query.has_receivers() or self._log.isEnabledFor(_DEBUG))

    def _run(self, op, sql, params, kind):
        # inlined _observed() and _execute_hook(): this is the hot path
        hook = self._hook if self._hook_generation == _plugin_generation[0] else self._execute_hook()
        if (hook is not None or _pre_query.has_receivers() or _post_query.has_receivers()
                or self._log.isEnabledFor(_DEBUG)):
            # observed: opening the connection is part of the statement, so wrappers
            # (breakers, tracing) and post_query see a server that refuses connections
            return self._run_observed(op, sql, params, kind, hook)
        raw = self.connection
        if raw is None:
            raw = self.ensure_connection()
        t0 = _perf()
        try:
            result = op(raw, sql, params)
        except self._driver_error as exc:
            result = self._recover(exc, op, sql, params, kind)
        elapsed = _perf() - t0
        if elapsed >= knobs.slow_query_s:
            self._log_slow(sql, params, elapsed)
        return result

    def _core(self, op, sql, params, kind):
        raw = self.connection
        if raw is None:
            raw = self.ensure_connection()
        try:
            return op(raw, sql, params)
        except self._driver_error as exc:
            return self._recover(exc, op, sql, params, kind)

    def _recover(self, exc, op, sql, params, kind):
        """Retry a transient read failure, else raise the normalised error."""
        if self._can_retry(exc, sql, kind):
            for attempt in range(1, knobs.retry_attempts):
                time.sleep(knobs.retry_backoff * 2 ** (attempt - 1))
                self._log.warning("retrying read after transient error (attempt %d/%d): %s",
                                  attempt + 1, knobs.retry_attempts, exc)
                if self.is_connection_broken(exc):
                    self.close()
                try:
                    return op(self.ensure_connection(), sql, params)
                except self._driver_error as again:
                    exc = again
                    if not self.is_transient_error(again):
                        break
        raise self._wrap(exc, sql) from exc

    def _pending_statement(self):
        return self._pending()

    def _call_hook(self, hook, thunk, sql, params, many):
        previous = self._pending
        self._pending = thunk
        try:
            return hook(backend=self, sql=sql, params=params, many=many)
        finally:
            self._pending = previous

    def _run_observed(self, op, sql, params, kind, hook):
        vendor = self.vendor
        many = kind is MANY
        if _pre_query.has_receivers(vendor):
            _pre_query.send(vendor, sql=sql, params=params, alias=self.alias, many=many)
        t0 = _perf()
        try:
            if hook is not None:
                result = self._call_hook(
                    hook, functools.partial(self._core, op, sql, params, kind), sql, params, many)
            else:
                result = self._core(op, sql, params, kind)
        except Exception as exc:
            self._after(sql, params, _perf() - t0, exc, None, many)
            raise
        self._after(sql, params, _perf() - t0, None, result, many)
        return result

    def _after(self, sql, params, elapsed, error, result, many):
        if self._log.isEnabledFor(_DEBUG):
            self._log.debug("(%.3f ms) %s; params=%s; alias=%s%s", elapsed * 1000.0, shorten(sql),
                            shorten_params(mask_params(sql, params)), self.alias,
                            f"; error={type(error).__name__}" if error is not None else "")
        if elapsed >= knobs.slow_query_s:
            self._log_slow(sql, params, elapsed)
        if _post_query.has_receivers(self.vendor):
            _post_query.send(self.vendor, sql=sql, params=params, elapsed_ms=elapsed * 1000.0,
                             error=error, alias=self.alias, many=many,
                             rowcount=_rowcount(result) if error is None else None)

    def _log_slow(self, sql, params, elapsed):
        if not knobs._loaded:   # settings changed since the knobs were read
            knobs.refresh()
            if elapsed < knobs.slow_query_s:
                return
        self._log.warning("slow query (%.1f ms, alias=%s): %s; params=%s", elapsed * 1000.0,
                          self.alias, shorten(sql), shorten_params(mask_params(sql, params)))

    # ---- statement API (sync) -----------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a query and return all rows as tuples."""
        return self._run(self._op_fetch, sql, params, READ)

    def execute_with_description(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        """Run a query; return ``(column names, rows)`` (raw SQL whose columns are not
        known in advance)."""
        return self._run(self._op_fetch_described, sql, params, READ)

    def execute_write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run INSERT/UPDATE/DELETE/DDL; return the affected row count."""
        return self._run(self._op_write, sql, params, WRITE)

    def execute_insert(self, sql: str, params: Sequence[Any] = (), returning: bool = False) -> list[tuple]:
        """Run an INSERT. With ``returning`` (the SQL carries a RETURNING clause)
        return the returned rows; else ``[(lastrowid,)]``."""
        op = self._op_insert_returning if returning else self._op_insert
        return self._run(op, sql, params, WRITE)

    def executemany(self, sql: str, param_list: Iterable[Sequence[Any]]) -> int:
        """Run one statement for each parameter sequence; return the total row count."""
        return self._run(self._op_many, sql, param_list, MANY)

    def iterate(self, sql: str, params: Sequence[Any] = (), chunk_size: int = 2000) -> Iterator[tuple]:
        """Stream rows (``fetchmany`` of ``chunk_size``) without loading them all.

        A generator: the statement runs at the first ``next()``. Close it (or exhaust
        it) to release the cursor.
        """
        if chunk_size is None or chunk_size < 1:
            raise ValueError("chunk_size must be a positive integer")
        cursor = self._run(self._op_cursor, sql, params, READ)
        try:
            while True:
                try:
                    rows = self._op_fetchmany(cursor, chunk_size)
                except self._driver_error as exc:
                    raise self._wrap(exc, sql) from exc
                if not rows:
                    return
                yield from rows
        finally:
            try:
                self._op_close_cursor(cursor)
            except self._driver_error:
                pass

    def execute_script(self, sql: str) -> None:
        """Run several ``;``-separated statements (trusted SQL: migrations, fixtures).

        Never commits on its own: inside ``atomic()`` the statements join the block.
        """
        self._run(self._op_script, sql, (), WRITE)

    # ---- the statement path (async) -----------------------------------------------------
    async def _arun(self, aop, sql, params, kind):
        araw = self.aconnection
        if araw is None:
            if self._observed():  # open the connection inside the observed statement
                return await self._arun_observed(aop, None, sql, params, kind)
            araw = await self.aensure_connection()
        return await self._arun_on(araw, aop, sql, params, kind)

    async def _arun_on(self, araw, aop, sql, params, kind):
        """Run ``aop`` on the raw async connection ``araw``: signals/logging/hook when
        observed, transient-error recovery, the slow-query warning."""
        if self._observed():
            return await self._arun_observed(aop, araw, sql, params, kind)
        t0 = _perf()
        try:
            result = await aop(araw, sql, params)
        except self._driver_error as exc:
            result = await self._arecover(exc, aop, sql, params, kind)
        elapsed = _perf() - t0
        if elapsed >= knobs.slow_query_s:
            self._log_slow(sql, params, elapsed)
        return result

    async def _acore(self, aop, araw, sql, params, kind):
        if araw is None:
            araw = await self.aensure_connection()
        try:
            return await aop(araw, sql, params)
        except self._driver_error as exc:
            return await self._arecover(exc, aop, sql, params, kind)

    async def _arecover(self, exc, aop, sql, params, kind):
        if self._can_retry(exc, sql, kind):
            for attempt in range(1, knobs.retry_attempts):
                await asyncio.sleep(knobs.retry_backoff * 2 ** (attempt - 1))
                self._log.warning("retrying read after transient error (attempt %d/%d): %s",
                                  attempt + 1, knobs.retry_attempts, exc)
                if self.is_connection_broken(exc):
                    await self.aclose()
                try:
                    return await aop(await self.aensure_connection(), sql, params)
                except self._driver_error as again:
                    exc = again
                    if not self.is_transient_error(again):
                        break
        raise self._wrap(exc, sql) from exc

    async def _arun_observed(self, aop, araw, sql, params, kind):
        vendor = self.vendor
        many = kind is MANY
        if _pre_query.has_receivers(vendor):
            _pre_query.send(vendor, sql=sql, params=params, alias=self.alias, many=many)
        t0 = _perf()
        hook = self._execute_hook()
        try:
            if hook is not None:
                result = self._call_hook(
                    hook, functools.partial(self._acore, aop, araw, sql, params, kind), sql, params,
                    many)
                if asyncio.iscoroutine(result) or hasattr(result, "__await__"):
                    result = await result
            else:
                result = await self._acore(aop, araw, sql, params, kind)
        except Exception as exc:
            self._after(sql, params, _perf() - t0, exc, None, many)
            raise
        self._after(sql, params, _perf() - t0, None, result, many)
        return result

    # ---- statement API (async) ------------------------------------------------------------
    async def aexecute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return await self._arun(self._aop_fetch, sql, params, READ)

    async def aexecute_with_description(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        return await self._arun(self._aop_fetch_described, sql, params, READ)

    async def aexecute_write(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._arun(self._aop_write, sql, params, WRITE)

    async def aexecute_insert(self, sql: str, params: Sequence[Any] = (), returning: bool = False) -> list[tuple]:
        aop = self._aop_insert_returning if returning else self._aop_insert
        return await self._arun(aop, sql, params, WRITE)

    async def aexecutemany(self, sql: str, param_list: Iterable[Sequence[Any]]) -> int:
        return await self._arun(self._aop_many, sql, param_list, MANY)

    async def aiterate(self, sql: str, params: Sequence[Any] = (), chunk_size: int = 2000) -> AsyncIterator[tuple]:
        """Async twin of ``iterate`` (an async generator)."""
        if chunk_size is None or chunk_size < 1:
            raise ValueError("chunk_size must be a positive integer")
        cursor = await self._arun(self._aop_cursor, sql, params, READ)
        try:
            while True:
                try:
                    rows = await self._aop_fetchmany(cursor, chunk_size)
                except self._driver_error as exc:
                    raise self._wrap(exc, sql) from exc
                if not rows:
                    return
                for row in rows:
                    yield row
        finally:
            try:
                await self._aop_close_cursor(cursor)
            except (self._driver_error, ValueError):
                pass

    async def aexecute_script(self, sql: str) -> None:
        await self._arun(self._aop_script, sql, (), WRITE)

    # ---- transaction primitives (driven by dorm.transaction) --------------------------------
    def _control(self, sql: str) -> None:
        raw = self.ensure_connection()
        if self._log.isEnabledFor(_DEBUG):
            self._log.debug("%s; alias=%s", sql, self.alias)
        try:
            self._op_control(raw, sql)
        except self._driver_error as exc:
            raise self._wrap(exc, sql) from exc

    async def _acontrol(self, sql: str) -> None:
        araw = await self.aensure_connection()
        if self._log.isEnabledFor(_DEBUG):
            self._log.debug("%s; alias=%s", sql, self.alias)
        try:
            await self._aop_control(araw, sql)
        except self._driver_error as exc:
            raise self._wrap(exc, sql) from exc

    def begin(self) -> None:
        """Start a transaction (the connection is otherwise in autocommit mode)."""
        self._control(self.ops.begin_transaction_sql())
        self._in_transaction = True

    def commit(self) -> None:
        """Commit the open transaction; on failure the transaction stays open (roll it back)."""
        self._control(self.ops.commit_sql())
        self._in_transaction = False

    def rollback(self) -> None:
        try:
            self._control(self.ops.rollback_sql())
        finally:
            self._in_transaction = False

    def savepoint_create(self, sid: str) -> None:
        self._control(self.ops.savepoint_create_sql(sid))

    def savepoint_release(self, sid: str) -> None:
        self._control(self.ops.savepoint_commit_sql(sid))

    def savepoint_rollback(self, sid: str) -> None:
        self._control(self.ops.savepoint_rollback_sql(sid))

    async def abegin(self) -> None:
        await self._acontrol(self.ops.begin_transaction_sql())
        self._in_transaction = True

    async def acommit(self) -> None:
        await self._acontrol(self.ops.commit_sql())
        self._in_transaction = False

    async def arollback(self) -> None:
        try:
            await self._acontrol(self.ops.rollback_sql())
        finally:
            self._in_transaction = False

    async def asavepoint_create(self, sid: str) -> None:
        await self._acontrol(self.ops.savepoint_create_sql(sid))

    async def asavepoint_release(self, sid: str) -> None:
        await self._acontrol(self.ops.savepoint_commit_sql(sid))

    async def asavepoint_rollback(self, sid: str) -> None:
        await self._acontrol(self.ops.savepoint_rollback_sql(sid))

    # ---- health ------------------------------------------------------------------------------
    def health_check(self, deep: bool = False, timeout: float | None = None) -> dict:
        """Run a trivial query (``deep``: also read the schema); raise on failure.
        Returns extra details for ``dorm.db.connection.health_check``."""
        self.execute(self.ops.health_check_sql())
        if deep:
            return {"tables": len(self.introspection.get_table_list())}
        return {}

    async def ahealth_check(self, deep: bool = False) -> dict:
        await self.aexecute(self.ops.health_check_sql())
        return {}
