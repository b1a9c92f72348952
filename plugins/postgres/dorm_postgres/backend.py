"""The PostgreSQL backend: psycopg 3 with ``psycopg_pool`` (sync) and native async
(``AsyncConnection`` + ``AsyncConnectionPool``).

Connections come from a pool per alias (sync: one ``ConnectionPool`` shared by every
thread; async: one ``AsyncConnectionPool`` per event loop). A backend instance does
not own a connection: outside a transaction each statement borrows one and gives it
back, so idle threads and tasks hold nothing and the pool size bounds the *concurrent*
statements, not the number of threads. The connection given back last stays in a
one-slot free list in front of the pool (``shared.free``), so back-to-back statements
skip psycopg_pool's locking (see ``FREE_SLOTS``). Inside
``atomic()`` / ``aatomic()`` (and while a server-side cursor of ``iterate()`` is
open) the connection is pinned to the backend until the block ends.

Connections run in autocommit mode; ``dorm.transaction`` sends ``BEGIN`` and
``COMMIT``/``ROLLBACK`` itself (DDL is transactional). The session time zone is UTC
(``timestamptz`` values come back as aware UTC datetimes).

Checkout checks (``POOL_CHECK``, on by default): a connection whose socket became
readable while idle (the server terminated it, or restarted) is discarded before use
and another one is taken, so a connection dropped outside a transaction is replaced
transparently, for reads and writes alike; a connection idle for more than
``POOL_CHECK_IDLE`` seconds (default 30) is probed with an empty query first. A
connection that breaks *during* a statement: reads outside a transaction are retried
on a fresh connection (``RETRY_ATTEMPTS``), writes are never re-run (the error is
raised), and inside a transaction the error is raised and the block rolls back.

Errors: psycopg's exceptions (PEP 249 classes) become ``dorm.exceptions`` classes;
pool exhaustion raises ``OperationalError`` naming the pool size and timeout; a
server that cannot be reached raises ``OperationalError`` naming host and port
(fast: one direct connection attempt bounded by ``connect_timeout``, default 10 s,
is made before the pool is created).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import re
import select
import threading
import time
import weakref
from typing import ClassVar

import psycopg
from dorm.db.backends.base import backend as _base
from dorm.db.backends.base.backend import READ, BaseBackend, SharedState, _plugin_generation
from dorm.db.utils import knobs
from dorm.exceptions import ImproperlyConfigured, OperationalError
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.adapt import AdaptersMap
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import TextLoader

from .client import PostgresClient
from .features import PostgresFeatures
from .introspection import PostgresIntrospection
from .operations import PostgresOperations
from .schema import PostgresSchemaEditor

logger = logging.getLogger("dorm.db.backends.postgresql")

_perf = time.perf_counter
_monotonic = time.monotonic
_get_running_loop = asyncio.get_running_loop
_DEBUG = logging.DEBUG

#: dorm's own keys in OPTIONS (everything else is a libpq connection parameter)
DORM_OPTIONS = ("isolation_level", "init_command", "pool_check_idle", "pgbouncer_mode")
ISOLATION_LEVELS = ("read uncommitted", "read committed", "repeatable read", "serializable")
#: top-level settings (spec core.md §1.3) and their types
POOL_SETTINGS = {
    "MIN_POOL_SIZE": (int, 1), "MAX_POOL_SIZE": (int, 10), "POOL_TIMEOUT": (float, 30.0),
    "MAX_IDLE": (float, 600.0), "MAX_LIFETIME": (float, 3600.0), "POOL_CHECK": (bool, True),
    "POOL_CHECK_IDLE": (float, 30.0),
}
DEFAULT_CONNECT_TIMEOUT = 10

#: SQLSTATE classes/codes of a lost connection
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")
_TRANSIENT_STATES = ("40001", "40P01", "55P03")

_cursor_names = itertools.count(1)
_IDLE = pq.TransactionStatus.IDLE

# ---- placeholders -------------------------------------------------------------------------
# Statements reach the backend with psycopg-style ``%s`` placeholders (``%%`` for a literal
# ``%``). They are converted once to PostgreSQL's ``$1, $2 ...`` and run on psycopg's raw
# cursors, which skip the per-execute query parsing (expensive for multi-row INSERTs).
_PLACEHOLDER = re.compile(r"%%|%s")
_converted: dict = {}
_MAX_CACHED_SQL = 65536


def to_pg(sql: str) -> bytes:
    """``%s`` -> ``$n`` and ``%%`` -> ``%`` (cached per statement text)."""
    query = _converted.get(sql)
    if query is None:
        counter = itertools.count(1)
        query = _PLACEHOLDER.sub(
            lambda m: "%" if m.group() == "%%" else f"${next(counter)}", sql).encode()
        if len(sql) <= _MAX_CACHED_SQL:
            if len(_converted) >= 4096:
                _converted.clear()
            _converted[sql] = query
    return query


def _adapters() -> AdaptersMap:
    """psycopg adapters of dorm connections: JSON and inet are read as text (the
    fields decode them: ``JSONField`` with its ``decoder``, IP fields as ``str``)."""
    adapters = AdaptersMap(psycopg.adapters)
    for name in ("json", "jsonb", "inet", "cidr"):
        adapters.register_loader(name, TextLoader)
    return adapters


def _to_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _sqlstate(exc) -> str:
    return getattr(exc, "sqlstate", None) or ""


class PostgresShared(SharedState):
    """Per-alias resources: the connection parameters and the pools (sync: one;
    async: one per event loop)."""

    def __init__(self, settings_dict: dict, alias: str):
        super().__init__(settings_dict, alias)
        self.conninfo = settings_dict["_CONNINFO"]
        self.display_target = settings_dict["_TARGET"]
        self.adapters = _adapters()
        self.connect_kwargs = {"autocommit": True, "context": self.adapters,
                               "prepare_threshold": settings_dict["_PREPARE_THRESHOLD"]}
        self.min_size = settings_dict["MIN_POOL_SIZE"]
        self.max_size = settings_dict["MAX_POOL_SIZE"]
        self.timeout = settings_dict["POOL_TIMEOUT"]
        self.check = settings_dict["POOL_CHECK"]
        self.check_idle = settings_dict["POOL_CHECK_IDLE"]
        self.init_statements = settings_dict["_INIT_STATEMENTS"]
        self._lock = threading.Lock()
        self._pool = None
        self._apools: dict = {}          # loop -> AsyncConnectionPool
        self._alocks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._guards: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._closing: set = set()
        self.closed = False
        #: idle connections kept in front of the pools (see "the free list" below)
        self.free: list = []
        self._afree: dict = {}           # loop -> list
        self.max_idle = settings_dict["MAX_IDLE"]
        #: a free connection idle for less than this is reused without a probe query
        self.fresh_for = min(self.max_idle, self.check_idle)
        self._last_probe = 0.0
        #: ``server_version_num`` (e.g. 150004), known after the first connection
        self.server_version: int | None = None

    # ---- connection set-up -----------------------------------------------------------
    def _pool_kwargs(self) -> dict:
        return {"kwargs": dict(self.connect_kwargs), "min_size": self.min_size,
                "max_size": self.max_size, "timeout": self.timeout,
                "max_idle": self.settings_dict["MAX_IDLE"],
                "max_lifetime": self.settings_dict["MAX_LIFETIME"],
                "name": f"dorm-{self.alias}", "open": False}

    def configure(self, conn) -> None:
        """Set-up of every new sync connection (runs in a pool worker thread)."""
        for statement in self.init_statements:
            conn.execute(statement, prepare=False)
        conn._dorm_idle = _monotonic()

    async def aconfigure(self, conn) -> None:
        for statement in self.init_statements:
            await conn.execute(statement, prepare=False)
        conn._dorm_idle = _monotonic()

    def should_probe(self) -> bool:
        """A checkout has waited for the pool: probe the server with a direct connection
        (at most once a second per alias), so a server that went away is reported at
        once instead of after POOL_TIMEOUT."""
        now = _monotonic()
        if now - self._last_probe < 1.0:
            return False
        self._last_probe = now
        return True

    def connect_error(self, exc: BaseException) -> OperationalError:
        err = OperationalError(
            f"could not connect to PostgreSQL at {self.display_target} "
            f"(database alias {self.alias!r}): {str(exc).strip()}"
        )
        err.alias, err.vendor, err.sql = self.alias, "postgresql", None
        return err

    def _open(self, pool) -> None:
        """Open ``pool`` with its MIN_POOL_SIZE connections ready (no connection is then
        being opened in the background when the first statement asks for one)."""
        try:
            pool.open(wait=self.min_size > 0, timeout=max(self.timeout, 1.0))
        except psycopg.Error as exc:
            pool.close()
            raise self.connect_error(exc) from exc

    async def _aopen(self, pool) -> None:
        try:
            await pool.open(wait=self.min_size > 0, timeout=max(self.timeout, 1.0))
        except psycopg.Error as exc:
            await pool.close()
            raise self.connect_error(exc) from exc

    # ---- sync pool ---------------------------------------------------------------------
    def pool(self):
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            if self._pool is None:
                if self.closed:
                    raise OperationalError(f"the connections of alias {self.alias!r} were closed")
                from psycopg_pool import ConnectionPool

                # one direct attempt first: a clear error, quickly, when the server is down
                try:
                    conn = psycopg.connect(self.conninfo, **self.connect_kwargs)
                except psycopg.Error as exc:
                    raise self.connect_error(exc) from exc
                self.server_version = conn.info.server_version
                conn.close()
                pool = ConnectionPool(self.conninfo, configure=self.configure, **self._pool_kwargs())
                self._open(pool)
                self._pool = pool
            return self._pool

    # ---- async pools (one per event loop) ----------------------------------------------------
    async def apool(self):
        loop = asyncio.get_running_loop()
        pool = self._apools.get(loop)
        if pool is not None:
            return pool
        lock = self._alocks.get(loop)
        if lock is None:
            lock = self._alocks[loop] = asyncio.Lock()
        async with lock:
            pool = self._apools.get(loop)
            if pool is not None:
                return pool
            if self.closed:
                raise OperationalError(f"the connections of alias {self.alias!r} were closed")
            from psycopg_pool import AsyncConnectionPool

            self._sweep_closed_loops()
            try:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, **self.connect_kwargs)
            except psycopg.Error as exc:
                raise self.connect_error(exc) from exc
            self.server_version = conn.info.server_version
            await conn.close()
            pool = AsyncConnectionPool(self.conninfo, configure=self.aconfigure, **self._pool_kwargs())
            await self._aopen(pool)
            self._apools[loop] = pool
            # close the pool when the loop shuts down (asyncio.run() cancels every task at
            # exit; psycopg_pool's workers only stop once their pool is closed)
            guard = loop.create_task(self._guard(loop, pool), name=f"dorm-{self.alias}-pool-guard")
            self._guards[loop] = guard
            return pool

    async def _guard(self, loop, pool) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if self._apools.get(loop) is pool:
                del self._apools[loop]
            elif getattr(pool, "_closed", False):
                return
            for conn in self._afree.pop(loop, ()):
                _finish(conn)
            idle = list(getattr(pool, "_pool", ()) or ())
            try:
                await pool.close(timeout=1.0)
            except BaseException:  # noqa: BLE001, S110 - shutting down (its workers were cancelled)
                pass
            for conn in idle:
                if not conn.closed:
                    _finish(conn)
            _dispose_async_pool(pool)

    def _sweep_closed_loops(self) -> None:
        for loop, pool in list(self._apools.items()):
            if loop.is_closed():
                del self._apools[loop]
                self._guards.pop(loop, None)
                for conn in self._afree.pop(loop, ()):
                    _finish(conn)
                _dispose_async_pool(pool)

    # ---- closing --------------------------------------------------------------------------------
    def close(self) -> None:
        self.closed = True
        with self._lock:
            pool, self._pool = self._pool, None
            free, self.free = self.free, []
        for conn in free:
            try:
                pool.putconn(conn) if pool is not None else conn.close()
            except Exception:  # noqa: BLE001 - closing must not fail
                _finish(conn)
        for conns in self._afree.values():
            for conn in conns:
                _finish(conn)
        self._afree = {}
        if pool is not None:
            try:
                pool.close(timeout=2.0)
            except Exception:
                logger.debug("closing the pool of %r failed", self.alias, exc_info=True)
        apools, self._apools = self._apools, {}
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, apool in apools.items():
            guard = self._guards.pop(loop, None)
            if guard is not None and not loop.is_closed() and loop is current:
                guard.cancel()       # the guard closes the pool
                continue
            _close_async_pool(loop, apool, current, self._closing)

    async def aclose(self) -> None:
        """Close the async pool of the running loop (``close_all_async()``)."""
        loop = asyncio.get_running_loop()
        pool = self._apools.pop(loop, None)
        guard = self._guards.pop(loop, None)
        if guard is not None:
            guard.cancel()
        for conn in self._afree.pop(loop, ()):
            try:
                await (pool.putconn(conn) if pool is not None else conn.close())
            except Exception:  # noqa: BLE001 - closing
                _finish(conn)
        if pool is not None:
            idle = list(getattr(pool, "_pool", ()) or ())
            try:
                await pool.close(timeout=2.0)
            finally:
                for conn in idle:
                    if not conn.closed:
                        _finish(conn)

    def stats(self) -> dict:
        out = {"pool_min": self.min_size, "pool_max": self.max_size,
               "pool_timeout": self.timeout, "async_pools": len(self._apools)}
        pool = self._pool
        if pool is not None:
            out.update(pool.get_stats())
            # the free connection(s) in front of the pool are available too
            out["pool_available"] = out.get("pool_available", 0) + len(self.free)
        out["free_connections"] = len(self.free)
        return out


def _finish(conn) -> None:
    """Close a connection without its event loop (the socket, synchronously)."""
    try:
        conn.pgconn.finish()
    except Exception:  # noqa: BLE001, S110 - best effort
        pass


def _dispose_async_pool(pool) -> None:
    """Close the idle connections of an async pool whose event loop is gone."""
    for conn in list(getattr(pool, "_pool", ()) or ()):
        _finish(conn)
    try:
        pool._closed = True
    except Exception:  # noqa: BLE001, S110
        pass


def _close_async_pool(loop, pool, current, keep: set) -> None:
    if loop.is_closed():
        _dispose_async_pool(pool)
        return
    if loop is current:
        task = loop.create_task(pool.close(timeout=2.0))
        keep.add(task)
        task.add_done_callback(keep.discard)
        return
    if loop.is_running():
        try:
            asyncio.run_coroutine_threadsafe(pool.close(timeout=2.0), loop)
            return
        except RuntimeError:
            pass
    _dispose_async_pool(pool)


class PostgresBackend(BaseBackend):
    vendor = "postgresql"
    display_name = "PostgreSQL"
    Database = psycopg
    features_class = PostgresFeatures
    ops_class = PostgresOperations
    schema_editor_class = PostgresSchemaEditor
    introspection_class = PostgresIntrospection
    client_class = PostgresClient
    shared_state_class = PostgresShared

    _data_types_common: ClassVar[dict[str, str]] = {
        "AutoField": "integer",
        "BigAutoField": "bigint",
        "SmallAutoField": "smallint",
        "IntegerField": "integer",
        "SmallIntegerField": "smallint",
        "BigIntegerField": "bigint",
        "PositiveIntegerField": "integer",
        "PositiveSmallIntegerField": "smallint",
        "PositiveBigIntegerField": "bigint",
        "FloatField": "double precision",
        "DecimalField": "numeric(%(max_digits)s, %(decimal_places)s)",
        "CharField": "varchar(%(max_length)s)",
        "TextField": "text",
        "BooleanField": "boolean",
        "DateField": "date",
        "TimeField": "time",
        "DateTimeField": "timestamp",
        "DurationField": "interval",
        "UUIDField": "uuid",
        "GenericIPAddressField": "inet",
        "IPAddressField": "inet",
        "JSONField": "jsonb",
        "BinaryField": "bytea",
    }
    _data_types_tz: ClassVar[dict[str, str]] = {**_data_types_common,
                                                "DateTimeField": "timestamp with time zone"}
    data_types_suffix: ClassVar[dict[str, str]] = {
        "AutoField": "GENERATED BY DEFAULT AS IDENTITY",
        "BigAutoField": "GENERATED BY DEFAULT AS IDENTITY",
        "SmallAutoField": "GENERATED BY DEFAULT AS IDENTITY",
    }
    rel_data_types: ClassVar[dict[str, str]] = {
        "AutoField": "integer",
        "BigAutoField": "bigint",
        "SmallAutoField": "smallint",
    }

    @property
    def data_types(self) -> dict[str, str]:  # type: ignore[override]
        """Column types; ``DateTimeField`` is ``timestamptz`` when ``USE_TZ``."""
        from .operations import use_tz

        return self._data_types_tz if use_tz() else self._data_types_common

    # ---- configuration ----------------------------------------------------------------
    @classmethod
    def normalize_settings(cls, settings_dict: dict, alias: str) -> dict:
        out = super().normalize_settings(settings_dict, alias)
        options = dict(out["OPTIONS"])
        # pool keys given in OPTIONS (URL query strings) are lifted to the top level
        for key in list(options):
            upper = key.upper()
            if upper in POOL_SETTINGS or upper in ("PREPARE_THRESHOLD", "PGBOUNCER_MODE"):
                out.setdefault(upper, options.pop(key))
        for key, (kind, default) in POOL_SETTINGS.items():
            value = out.get(key)
            if value is None:
                out[key] = default
                continue
            try:
                value = _to_bool(value) if kind is bool else kind(value)
            except (TypeError, ValueError):
                raise ImproperlyConfigured(
                    f"DATABASES[{alias!r}][{key!r}] must be {kind.__name__}, got {value!r}") from None
            if kind is not bool and value < 0:
                raise ImproperlyConfigured(f"DATABASES[{alias!r}][{key!r}] must be >= 0, got {value!r}")
            out[key] = value
        if out["MAX_POOL_SIZE"] < 1:
            raise ImproperlyConfigured(f"DATABASES[{alias!r}]['MAX_POOL_SIZE'] must be >= 1")
        if out["MIN_POOL_SIZE"] > out["MAX_POOL_SIZE"]:
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}]: MIN_POOL_SIZE ({out['MIN_POOL_SIZE']}) is larger than "
                f"MAX_POOL_SIZE ({out['MAX_POOL_SIZE']})")
        bouncer = out.get("PGBOUNCER_MODE", False)
        if isinstance(bouncer, str):
            bouncer = bouncer.strip().lower()
            if bouncer not in ("transaction", "statement", "session", "true", "false", ""):
                raise ImproperlyConfigured(
                    f"DATABASES[{alias!r}]['PGBOUNCER_MODE'] must be True/False or one of "
                    "'transaction', 'statement', 'session'")
            bouncer = bouncer in ("transaction", "statement", "true")
        threshold = out.get("PREPARE_THRESHOLD", 5)
        if isinstance(threshold, str):
            threshold = None if threshold.strip().lower() in ("", "none", "null") else threshold
        if threshold is not None:
            try:
                threshold = int(threshold)
            except (TypeError, ValueError):
                raise ImproperlyConfigured(
                    f"DATABASES[{alias!r}]['PREPARE_THRESHOLD'] must be an integer or None") from None
        out["PREPARE_THRESHOLD"] = threshold
        out["_PREPARE_THRESHOLD"] = None if bouncer else threshold

        init = []
        level = options.pop("isolation_level", None)
        if level is not None:
            level = str(level).strip().lower().replace("_", " ")
            if level not in ISOLATION_LEVELS:
                raise ImproperlyConfigured(
                    f"DATABASES[{alias!r}]['OPTIONS']['isolation_level'] = {level!r} is not valid; "
                    f"choose one of {', '.join(ISOLATION_LEVELS)}")
        command = options.pop("init_command", None)
        if command is not None:
            if not isinstance(command, str):
                raise ImproperlyConfigured(f"DATABASES[{alias!r}]['OPTIONS']['init_command'] must be SQL text")
            init.extend(PostgresOperations(None).split_statements(command))
        out["_INIT_STATEMENTS"] = tuple(init)

        params: dict = {}
        name = out.get("NAME")
        if name:
            params["dbname"] = str(name)
        for key, param in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"),
                           ("PORT", "port")):
            value = out.get(key)
            if value not in (None, ""):
                params[param] = str(value)
        params.setdefault("host", "localhost")
        params.setdefault("port", "5432")
        server_options = ["-c TimeZone=UTC"]
        if level is not None:
            server_options.append(f"-c default_transaction_isolation={level.replace(' ', chr(92) + ' ')}")
        user_options = options.pop("options", None)
        if user_options:
            server_options.append(str(user_options))
        params.update({k: str(v) for k, v in options.items()})
        params["options"] = " ".join(server_options)
        params.setdefault("connect_timeout", str(DEFAULT_CONNECT_TIMEOUT))
        try:
            conninfo = make_conninfo("", **params)
            conninfo_to_dict(conninfo)   # validates the parameter names (libpq)
        except psycopg.ProgrammingError as exc:
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}]: invalid PostgreSQL connection settings: {exc}") from None
        out["_CONNINFO"] = conninfo
        out["_TARGET"] = f"{params['host']}:{params['port']}"
        out["OPTIONS"] = options
        return out

    def __init__(self, settings_dict: dict, alias: str = "default", shared=None):
        super().__init__(settings_dict, alias, shared)
        self._pins = 0                     # users of the pinned sync connection
        self._generation = -1

    @property
    def pg_version(self) -> int:
        """The server's ``server_version_num`` (connects once if not known yet)."""
        version = self.shared.server_version
        if version is None:
            try:
                asyncio.get_running_loop()
                return 150000     # inside a coroutine: do not block; assume a current server
            except RuntimeError:
                self.shared.pool()
                version = self.shared.server_version or 0
        return version

    # ---- pooled connections (sync) ---------------------------------------------------------
    def _pool_error(self, exc: BaseException, pool) -> OperationalError:
        from psycopg_pool import PoolClosed, PoolTimeout

        shared = self.shared
        if isinstance(exc, PoolTimeout):
            stats = pool.get_stats() if pool is not None else {}
            size = stats.get("pool_size", 0)
            if size == 0 or stats.get("connections_errors", 0) and not stats.get("pool_available"):
                # nothing could be opened: say why, from one direct attempt
                try:
                    psycopg.connect(shared.conninfo, **shared.connect_kwargs).close()
                except psycopg.Error as conn_exc:
                    return shared.connect_error(conn_exc)
            message = (f"connection pool of database alias {self.alias!r} exhausted: no connection "
                       f"became free within POOL_TIMEOUT={shared.timeout:g} s (pool size "
                       f"MAX_POOL_SIZE={shared.max_size}, {size} open, all in use). Raise "
                       "MAX_POOL_SIZE or POOL_TIMEOUT, or release connections sooner (shorter "
                       "transactions, close iterators).")
        elif isinstance(exc, PoolClosed):
            message = f"the connection pool of database alias {self.alias!r} is closed"
        else:
            message = str(exc)
        err = OperationalError(message)
        err.alias, err.vendor, err.sql = self.alias, self.vendor, None
        return err

    # The free list: the last connection(s) given back stay in ``shared.free`` (at most
    # FREE_SLOTS) instead of going back into psycopg_pool, and the next checkout of any
    # thread takes them first. A thread issuing statements one after another then reuses
    # one connection without the pool's locking (about 10 µs less per statement), while
    # an idle thread still holds nothing: the free connection is anyone's. Connections
    # past MAX_LIFETIME or idle longer than MAX_IDLE go back to the pool, which renews
    # them; a checkout that has to wait for the pool looks at the free list again every
    # 50 ms, so a connection parked there meanwhile is never missed.
    FREE_SLOTS = 1

    def _take_free(self, free):
        while free:
            try:
                raw = free.pop()
            except IndexError:
                return None
            now = _monotonic()
            if (now - getattr(raw, "_dorm_idle", now) > self.shared.max_idle
                    or getattr(raw, "_expire_at", now + 1.0) <= now):
                self._give_back(raw)          # stale: the pool closes and replaces it
                continue
            return raw
        return None

    def _give_back(self, raw) -> None:
        pool = self.shared._pool
        try:
            if pool is not None:
                pool.putconn(raw)
            else:
                raw.close()
        except Exception:  # noqa: BLE001 - a pool closed meanwhile: just close it
            _finish(raw)

    def _checkout(self):
        """A healthy connection: the free one if any, else from the pool."""
        shared = self.shared
        free = shared.free
        if free:
            # fast path: the connection the previous statement gave back
            try:
                raw = free.pop()
            except IndexError:
                raw = None
            if raw is not None:
                now = _monotonic()
                if (now - raw._dorm_idle <= shared.fresh_for and raw._expire_at > now
                        and not raw.closed and not (shared.check and raw._dorm_poll.poll(0))
                        and self._generation == _plugin_generation[0]):
                    return raw
                free.append(raw)
        return self._checkout_checked()

    def _checkout_checked(self):
        shared = self.shared
        check = shared.check
        for _ in range(shared.max_size + 2):
            raw = self._take_free(shared.free) if shared.free else None
            if raw is None:
                raw = self._pool_getconn()
            if check and not self._healthy(raw):
                raw.close()
                self._give_back(raw)
                continue
            if getattr(raw, "_dorm_cur", None) is None or self._generation != _plugin_generation[0]:
                self._announce(raw)
            return raw
        err = OperationalError(f"could not obtain a working connection for alias {self.alias!r}")
        err.alias, err.vendor, err.sql = self.alias, self.vendor, None
        raise err

    def _pool_getconn(self):
        shared = self.shared
        pool = shared._pool or shared.pool()
        deadline = _monotonic() + shared.timeout
        while True:
            remaining = deadline - _monotonic()
            try:
                return pool.getconn(timeout=max(min(remaining, 0.05), 0.001)
                                    if pool._pool or remaining <= 0.05 else 0.05)
            except psycopg.Error as exc:
                from psycopg_pool import PoolTimeout

                if not isinstance(exc, PoolTimeout) or _monotonic() >= deadline:
                    raise self._pool_error(exc, pool) from exc
                if shared.should_probe():
                    try:       # waiting: is the server still there? (at most once a second)
                        psycopg.connect(shared.conninfo, **shared.connect_kwargs).close()
                    except psycopg.Error as conn_exc:
                        raise shared.connect_error(conn_exc) from conn_exc
            raw = self._take_free(shared.free)
            if raw is not None:
                return raw

    @staticmethod
    def _readable(raw) -> bool:
        """Did the server send something while the connection was idle (it was
        terminated, or the server is shutting down)? Any poll event counts."""
        poller = getattr(raw, "_dorm_poll", None)
        try:
            if poller is None:
                poller = raw._dorm_poll = select.poll()
                poller.register(raw.pgconn.socket, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError, psycopg.Error):
            return True

    def _healthy(self, raw) -> bool:
        if raw.closed or self._readable(raw):
            return False
        if _monotonic() - getattr(raw, "_dorm_idle", 0.0) > self.shared.check_idle:
            try:
                raw.execute("", prepare=False)
            except psycopg.Error:
                return False
        return True

    def _announce(self, raw) -> None:
        """First use of a pooled connection by dorm (or plugins changed): cache a cursor
        and run ``dorm_connection_created``."""
        fresh = getattr(raw, "_dorm_cur", None) is None
        if fresh:
            raw._dorm_cur = (psycopg.AsyncRawCursor(raw) if isinstance(raw, psycopg.AsyncConnection)
                             else psycopg.RawCursor(raw))
        self._generation = _plugin_generation[0]
        self._hook = self._compose_execute_hook()
        if fresh:
            try:
                self._connection_created(raw)
            except BaseException:
                raw._dorm_cur = None
                raise

    def _checkin(self, raw) -> None:
        raw._dorm_idle = _monotonic()
        shared = self.shared
        pool = shared._pool
        if (len(shared.free) < self.FREE_SLOTS and pool is not None and not pool._waiting
                and raw.pgconn.transaction_status == _IDLE):
            shared.free.append(raw)
            return
        self._give_back(raw)

    # BaseBackend hooks: "open a connection" = check one out; "close" = give it back
    def _open_configured(self):
        return self._checkout()

    def get_new_connection(self):
        return self._checkout()

    def close_raw(self, raw) -> None:
        self._checkin(raw)

    def _pin(self) -> None:
        if self.connection is None:
            self.connection = self._checkout()
        self._pins += 1

    def _unpin(self) -> None:
        if self._pins > 0:
            self._pins -= 1
        if not self._pins and not self._in_transaction:
            raw, self.connection = self.connection, None
            if raw is not None:
                self._checkin(raw)

    def _run(self, op, sql, params, kind):
        # BaseBackend._run checks a connection out (ensure_connection -> _open_configured),
        # inside the dorm_execute wrappers when there are any
        try:
            return BaseBackend._run(self, op, sql, params, kind)
        finally:
            if not self._pins and not self._in_transaction:
                raw, self.connection = self.connection, None
                if raw is not None:
                    self._checkin(raw)

    def is_usable(self) -> bool:
        raw = self.connection
        return raw is not None and not raw.closed

    # ---- transactions (sync) ------------------------------------------------------------------
    def begin(self) -> None:
        self._pin()
        try:
            super().begin()
        except BaseException:
            self._unpin()
            raise

    def commit(self) -> None:
        super().commit()
        self._unpin()

    def rollback(self) -> None:
        raw = self.connection
        if raw is not None and raw.closed:
            # the server ended the session: its transaction is gone already
            self._in_transaction = False
            self.close()
            self._unpin()
            return
        try:
            super().rollback()
        finally:
            self._unpin()

    # ---- statements (sync) -----------------------------------------------------------------------
    # ``raw._dorm_cur`` is a RawCursor kept per connection; named parameters (a dict, raw SQL
    # from users) go through a regular psycopg cursor instead.
    def _op_fetch(self, raw, sql, params):
        if params.__class__ is dict:
            return raw.execute(sql, params).fetchall()
        cur = raw._dorm_cur
        cur.execute(to_pg(sql), params)
        return cur.fetchall()

    def _op_fetch_described(self, raw, sql, params):
        if params.__class__ is dict:
            cur = raw.execute(sql, params)
        else:
            cur = raw._dorm_cur
            cur.execute(to_pg(sql), params)
        if not cur.description:
            return [], []
        return [d.name for d in cur.description], cur.fetchall()

    def _op_write(self, raw, sql, params):
        if params.__class__ is dict:
            return max(raw.execute(sql, params).rowcount, 0)
        cur = raw._dorm_cur
        cur.execute(to_pg(sql), params)
        return max(cur.rowcount, 0)

    def _op_insert_returning(self, raw, sql, params):
        cur = raw._dorm_cur
        cur.execute(to_pg(sql), params)
        return cur.fetchall()

    def _op_insert(self, raw, sql, params):
        raw._dorm_cur.execute(to_pg(sql), params)
        return [(None,)]

    def _op_many(self, raw, sql, param_list):
        cur = raw._dorm_cur
        cur.executemany(to_pg(sql), param_list)
        return max(cur.rowcount, 0)

    def _op_cursor(self, raw, sql, params):
        cur = psycopg.RawServerCursor(raw, f"dorm_ss_{next(_cursor_names)}",
                                      withhold=not self._in_transaction)
        cur.execute(to_pg(sql), params)
        return cur

    def _op_control(self, raw, sql):
        raw._dorm_cur.execute(sql, prepare=False)

    def _op_script(self, raw, sql, _params):
        cur = raw._dorm_cur
        for statement in self.ops.split_statements(sql):
            cur.execute(statement, prepare=False)

    def iterate(self, sql, params=(), chunk_size=2000):
        """Stream rows through a server-side cursor (``WITH HOLD`` outside a
        transaction); the connection stays pinned until the generator ends."""
        if chunk_size is None or chunk_size < 1:
            raise ValueError("chunk_size must be a positive integer")
        self._pin()
        try:
            yield from BaseBackend.iterate(self, sql, params, chunk_size)
        finally:
            self._unpin()

    # ---- async --------------------------------------------------------------------------------
    async def _acheckout(self):
        shared = self.shared
        loop = asyncio.get_running_loop()
        check = shared.check
        for _ in range(shared.max_size + 2):
            free = shared._afree.get(loop)
            araw = await self._atake_free(free) if free else None
            if araw is None:
                araw = await self._apool_getconn(loop)
            if check and not await self._ahealthy(araw):
                await araw.close()
                await self._agive_back(araw)
                continue
            if getattr(araw, "_dorm_cur", None) is None or self._generation != _plugin_generation[0]:
                self._announce(araw)
            return araw
        err = OperationalError(f"could not obtain a working connection for alias {self.alias!r}")
        err.alias, err.vendor, err.sql = self.alias, self.vendor, None
        raise err

    async def _atake_free(self, free):
        while free:
            araw = free.pop()
            now = _monotonic()
            if (now - getattr(araw, "_dorm_idle", now) > self.shared.max_idle
                    or getattr(araw, "_expire_at", now + 1.0) <= now):
                await self._agive_back(araw)
                continue
            return araw
        return None

    async def _agive_back(self, araw) -> None:
        pool = self.shared._apools.get(asyncio.get_running_loop())
        try:
            if pool is not None:
                await pool.putconn(araw)
            else:
                await araw.close()
        except Exception:  # noqa: BLE001 - the pool was closed meanwhile
            _finish(araw)

    async def _apool_getconn(self, loop):
        shared = self.shared
        pool = shared._apools.get(loop) or await shared.apool()
        deadline = _monotonic() + shared.timeout
        while True:
            remaining = deadline - _monotonic()
            try:
                return await pool.getconn(timeout=max(min(remaining, 0.05), 0.001)
                                          if pool._pool or remaining <= 0.05 else 0.05)
            except psycopg.Error as exc:
                from psycopg_pool import PoolTimeout

                if not isinstance(exc, PoolTimeout) or _monotonic() >= deadline:
                    raise self._pool_error(exc, pool) from exc
                if shared.should_probe():
                    try:
                        conn = await psycopg.AsyncConnection.connect(shared.conninfo,
                                                                     **shared.connect_kwargs)
                        await conn.close()
                    except psycopg.Error as conn_exc:
                        raise shared.connect_error(conn_exc) from conn_exc
            araw = await self._atake_free(shared._afree.get(loop))
            if araw is not None:
                return araw

    async def _ahealthy(self, araw) -> bool:
        if araw.closed or self._readable(araw):
            return False
        if _monotonic() - getattr(araw, "_dorm_idle", 0.0) > self.shared.check_idle:
            try:
                await araw.execute("", prepare=False)
            except psycopg.Error:
                return False
        return True

    async def _acheckin(self, araw) -> None:
        araw._dorm_idle = _monotonic()
        shared = self.shared
        loop = asyncio.get_running_loop()
        pool = shared._apools.get(loop)
        if pool is not None and not araw.closed and not pool._waiting \
                and araw.pgconn.transaction_status == _IDLE:
            free = shared._afree.get(loop)
            if free is None:
                free = shared._afree[loop] = []
            if len(free) < self.FREE_SLOTS:
                free.append(araw)
                return
        await self._agive_back(araw)

    async def aget_new_connection(self):
        return await self._acheckout()

    async def aclose_raw(self, araw) -> None:
        await self._acheckin(araw)

    def aclose_raw_nowait(self, araw) -> None:
        try:
            araw.pgconn.finish()
        except Exception:  # noqa: BLE001, S110 - shutdown path
            pass

    async def _arun(self, aop, sql, params, kind):
        if self.aconnection is not None:     # pinned: aatomic()
            return await BaseBackend._arun(self, aop, sql, params, kind)
        # fast path (inlined): the free connection of this loop, if fresh and healthy
        shared = self.shared
        loop = _get_running_loop()
        free = shared._afree.get(loop)
        araw = None
        if free:
            araw = free.pop()
            now = _monotonic()
            if not (now - araw._dorm_idle <= shared.fresh_for and araw._expire_at > now
                    and not araw.closed and not (shared.check and araw._dorm_poll.poll(0))
                    and self._generation == _plugin_generation[0]):
                free.append(araw)
                araw = None
        if araw is None:
            araw = await self._acheckout()
        try:
            if (self._execute_hook() is not None or _base._pre_query.has_receivers()
                    or _base._post_query.has_receivers()
                    or self._log.isEnabledFor(_DEBUG)):
                return await self._arun_observed(aop, araw, sql, params, kind)
            t0 = _perf()
            try:
                result = await aop(araw, sql, params)
            except psycopg.Error as exc:
                result = await self._arecover(exc, aop, sql, params, kind)
            elapsed = _perf() - t0
            if elapsed >= knobs.slow_query_s:
                self._log_slow(sql, params, elapsed)
            return result
        finally:
            # inlined _acheckin
            araw._dorm_idle = _monotonic()
            pool = shared._apools.get(loop)
            if free is None:
                free = shared._afree.setdefault(loop, [])
            if (len(free) < self.FREE_SLOTS and pool is not None and not pool._waiting
                    and araw.pgconn.transaction_status == _IDLE):
                free.append(araw)
            else:
                await self._agive_back(araw)

    async def _arecover(self, exc, aop, sql, params, kind):
        if self.aconnection is not None:
            return await super()._arecover(exc, aop, sql, params, kind)
        if self._can_retry(exc, sql, kind):
            for attempt in range(1, knobs.retry_attempts):
                await asyncio.sleep(knobs.retry_backoff * 2 ** (attempt - 1))
                self._log.warning("retrying read after transient error (attempt %d/%d): %s",
                                  attempt + 1, knobs.retry_attempts, exc)
                araw = await self._acheckout()
                try:
                    return await aop(araw, sql, params)
                except psycopg.Error as again:
                    exc = again
                    if not self.is_transient_error(again):
                        break
                finally:
                    await self._acheckin(araw)
        raise self._wrap(exc, sql) from exc

    async def _arelease(self) -> None:
        if not self._in_transaction and not self._apins:  # _apins: task_pool's pin
            araw, self.aconnection = self.aconnection, None
            if araw is not None:
                await self._acheckin(araw)

    async def acommit(self) -> None:
        await super().acommit()
        await self._arelease()

    async def arollback(self) -> None:
        araw = self.aconnection
        if araw is not None and araw.closed:
            self._in_transaction = False
            self.aconnection = None
            await self._acheckin(araw)
            return
        try:
            await super().arollback()
        finally:
            await self._arelease()

    async def _aop_fetch(self, araw, sql, params):
        if params.__class__ is dict:
            cur = await araw.execute(sql, params)
            return await cur.fetchall()
        cur = araw._dorm_cur
        await cur.execute(to_pg(sql), params)
        return await cur.fetchall()

    async def _aop_fetch_described(self, araw, sql, params):
        if params.__class__ is dict:
            cur = await araw.execute(sql, params)
        else:
            cur = araw._dorm_cur
            await cur.execute(to_pg(sql), params)
        if not cur.description:
            return [], []
        return [d.name for d in cur.description], await cur.fetchall()

    async def _aop_write(self, araw, sql, params):
        if params.__class__ is dict:
            return max((await araw.execute(sql, params)).rowcount, 0)
        cur = araw._dorm_cur
        await cur.execute(to_pg(sql), params)
        return max(cur.rowcount, 0)

    async def _aop_insert_returning(self, araw, sql, params):
        cur = araw._dorm_cur
        await cur.execute(to_pg(sql), params)
        return await cur.fetchall()

    async def _aop_insert(self, araw, sql, params):
        await araw._dorm_cur.execute(to_pg(sql), params)
        return [(None,)]

    async def _aop_many(self, araw, sql, param_list):
        cur = araw._dorm_cur
        await cur.executemany(to_pg(sql), param_list)
        return max(cur.rowcount, 0)

    async def _aop_cursor(self, araw, sql, params):
        cur = psycopg.AsyncRawServerCursor(araw, f"dorm_ss_{next(_cursor_names)}",
                                           withhold=not self._in_transaction)
        await cur.execute(to_pg(sql), params)
        return cur

    async def _aop_fetchmany(self, cursor, size):
        return await cursor.fetchmany(size)

    async def _aop_close_cursor(self, cursor):
        await cursor.close()

    async def _aop_control(self, araw, sql):
        await araw._dorm_cur.execute(sql, prepare=False)

    async def _aop_script(self, araw, sql, _params):
        cur = araw._dorm_cur
        for statement in self.ops.split_statements(sql):
            await cur.execute(statement, prepare=False)

    async def aiterate(self, sql, params=(), chunk_size=2000):
        if chunk_size is None or chunk_size < 1:
            raise ValueError("chunk_size must be a positive integer")
        if self.aconnection is not None:
            async for row in BaseBackend.aiterate(self, sql, params, chunk_size):
                yield row
            return
        araw = await self._acheckout()
        try:
            cursor = await self._arun_on(araw, self._aop_cursor, sql, params, READ)
            try:
                while True:
                    try:
                        rows = await cursor.fetchmany(chunk_size)
                    except psycopg.Error as exc:
                        raise self._wrap(exc, sql) from exc
                    if not rows:
                        return
                    for row in rows:
                        yield row
            finally:
                try:
                    await cursor.close()
                except (psycopg.Error, ValueError):
                    pass
        finally:
            await self._acheckin(araw)

    # ---- errors ---------------------------------------------------------------------------------------
    def is_connection_broken(self, exc) -> bool:
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            state = _sqlstate(exc)
            if not state or state.startswith(_CONNECTION_STATES):
                return True
        raw = self.connection
        return raw is not None and raw.closed

    def is_transient_error(self, exc) -> bool:
        if isinstance(exc, pg_errors.QueryCanceled):
            return False
        state = _sqlstate(exc)
        if state.startswith(_TRANSIENT_STATES):
            return True
        return self.is_connection_broken(exc) and not isinstance(exc, _pool_errors())

    def is_missing_table_error(self, exc) -> bool:
        return isinstance(exc, pg_errors.UndefinedTable)

    def error_hint(self, exc, sql):
        if isinstance(exc, pg_errors.InFailedSqlTransaction):
            return ("an earlier statement of this transaction failed, so PostgreSQL ignores the "
                    "rest of the block: leave the atomic() block (it rolls back), or wrap the "
                    "statement that may fail in a nested atomic() (a savepoint)")
        if self.is_connection_broken(exc) and self._in_transaction:
            return ("the connection was lost inside a transaction: nothing of the transaction "
                    "was committed; the next statement uses a new connection")
        return super().error_hint(exc, sql)

    # ---- statement time limits (dorm.budget) -------------------------------------------------
    # ``SET LOCAL statement_timeout`` inside the atomic block dorm.budget opened: it lasts
    # until the transaction ends, or until a rollback to a savepoint taken before it. The
    # token says what to restore when the budget block exits: ``None`` when the block's
    # transaction is the outermost one (its end drops the setting), the outer budget's
    # limit (int, ms), or the server's value before the first budget (str, ``SHOW``).
    def set_statement_timeout(self, timeout_ms: int):
        token = self.budget_timeout_ms
        if token is None and self.atomic_depth > 1:
            token = str(self.execute("SHOW statement_timeout")[0][0])
        self._control(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
        return token

    async def aset_statement_timeout(self, timeout_ms: int):
        token = self.budget_timeout_ms
        if token is None and self.atomic_depth > 1:
            token = str((await self.aexecute("SHOW statement_timeout"))[0][0])
        await self._acontrol(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
        return token

    @staticmethod
    def _restore_timeout_sql(raw, token):
        """The ``SET LOCAL`` putting ``token`` back, or None when there is nothing to do
        or nothing can be done (no open transaction, or an aborted one: its rollback to
        the savepoint, or its end, drops the setting anyway)."""
        if token is None or raw is None or raw.closed \
                or raw.pgconn.transaction_status != pq.TransactionStatus.INTRANS:
            return None
        if isinstance(token, int):
            return f"SET LOCAL statement_timeout = {int(token)}"
        return "SET LOCAL statement_timeout = '" + token.replace("'", "''") + "'"

    def restore_statement_timeout(self, token) -> None:
        sql = self._restore_timeout_sql(self.connection, token)
        if sql is not None:
            self._control(sql)

    async def arestore_statement_timeout(self, token) -> None:
        sql = self._restore_timeout_sql(self.aconnection, token)
        if sql is not None:
            await self._acontrol(sql)

    def is_statement_timeout_error(self, exc) -> bool:
        """SQLSTATE 57014 (``query_canceled``): ``statement_timeout`` fired (or the
        statement was cancelled by ``pg_cancel_backend``)."""
        return isinstance(exc, pg_errors.QueryCanceled)

    # ---- health ------------------------------------------------------------------------------
    def health_check(self, deep: bool = False, timeout: float | None = None) -> dict:
        rows = self.execute("SELECT version(), pg_is_in_recovery()")
        out = {"server_version": rows[0][0].split(" ")[1] if rows else None,
               "in_recovery": bool(rows[0][1]) if rows else None}
        if deep:
            out["tables"] = len(self.introspection.get_table_list())
        return out


def _pool_errors():
    from psycopg_pool import PoolClosed, PoolTimeout

    return (PoolTimeout, PoolClosed)
