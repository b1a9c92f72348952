"""``dorm.contrib.listen_notify``: PostgreSQL ``LISTEN`` / ``NOTIFY``.

    from dorm.contrib.listen_notify import listen, notify, anotify, Notification

    notify("orders", "42")                          # inside atomic(): sent at commit
    with listen("orders", timeout=5) as channel:    # sync: stops after 5 s of silence
        for n in channel:
            print(n.channel, n.payload, n.pid)
    async with listen("orders", "refunds") as channel:   # async
        async for n in channel:
            ...
    async with Broadcaster(["orders"]) as b:        # one connection, many subscribers
        async with b.subscribe("orders") as stream:
            async for n in stream:
                ...

A listener has a connection of its own (not taken from the pool). When that
connection drops (server restart, ``pg_terminate_backend``) it reconnects and
re-issues ``LISTEN`` for every channel; notifications sent while it was away are lost
(PostgreSQL does not keep them). Channel names are any text of 1..63 bytes (no NUL);
they are double-quoted in ``LISTEN``, so they are case-sensitive and may contain
quotes. Payloads longer than 7999 bytes (UTF-8) are refused before anything is sent.
"""
from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass

import psycopg
from dorm.db import connections
from dorm.exceptions import OperationalError
from dorm.transaction import _current

__all__ = [
    "MAX_CHANNEL_BYTES",
    "MAX_PAYLOAD_BYTES",
    "Broadcaster",  # noqa: F822 - loaded lazily by __getattr__
    "Listener",
    "Notification",
    "alisten",
    "anotify",
    "listen",
    "listen_sync",
    "notify",
    "quote_channel",
    "Subscription",  # noqa: F822 - loaded lazily by __getattr__
    "validate_channel",
]

MAX_PAYLOAD_BYTES = 7999      # PostgreSQL: "payload string too long" at 8000 bytes
MAX_CHANNEL_BYTES = 63        # NAMEDATALEN - 1


@dataclass(frozen=True, slots=True)
class Notification:
    channel: str
    payload: str
    pid: int


def validate_channel(channel) -> str:
    """``channel`` if it is a valid channel name, else ``ValueError``/``TypeError``."""
    if not isinstance(channel, str):
        raise TypeError(f"channel name must be a str, got {type(channel).__name__}")
    if not channel:
        raise ValueError("channel name is empty")
    if "\x00" in channel:
        raise ValueError("channel name contains a NUL character")
    size = len(channel.encode("utf-8"))
    if size > MAX_CHANNEL_BYTES:
        raise ValueError(f"channel name {channel[:20]!r}... is {size} bytes long; PostgreSQL "
                         f"identifiers have at most {MAX_CHANNEL_BYTES}")
    return channel


def quote_channel(channel) -> str:
    """The channel as a quoted SQL identifier (``"`` doubled)."""
    return '"' + validate_channel(channel).replace('"', '""') + '"'


def _check_payload(payload) -> str:
    if payload is None:
        return ""
    if not isinstance(payload, str):
        raise TypeError(f"payload must be a str, got {type(payload).__name__} (encode it first, "
                        "e.g. json.dumps)")
    if "\x00" in payload:
        raise ValueError("payload contains a NUL character")
    size = len(payload.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload is {size} bytes; PostgreSQL accepts at most "
                         f"{MAX_PAYLOAD_BYTES} (send a key and fetch the data instead)")
    return payload


def _require_pg(backend) -> None:
    if getattr(backend, "vendor", None) != "postgresql":
        raise NotImplementedError(
            f"LISTEN/NOTIFY needs PostgreSQL; database alias {backend.alias!r} is "
            f"{getattr(backend, 'vendor', '?')}")


_NOTIFY_SQL = "SELECT pg_notify(%s, %s)"


def notify(channel, payload="", *, using=None) -> None:
    """Send a notification. Inside ``atomic()`` it goes out when the transaction
    commits (and never if it rolls back). Never retried."""
    validate_channel(channel)
    payload = _check_payload(payload)
    backend = _current(using or "default")
    _require_pg(backend)
    backend.execute_write(_NOTIFY_SQL, [channel, payload])


async def anotify(channel, payload="", *, using=None) -> None:
    """``notify`` for coroutines (joins the task's ``aatomic()`` block)."""
    validate_channel(channel)
    payload = _check_payload(payload)
    alias = using or "default"
    backend = connections.pinned(alias) or connections[alias]
    _require_pg(backend)
    await backend.aexecute_write(_NOTIFY_SQL, [channel, payload])


def _wrap_error(exc, alias, what):
    err = OperationalError(f"LISTEN on database alias {alias!r}: {what}: {exc}")
    err.alias, err.vendor, err.sql = alias, "postgresql", None
    return err


class Listener:
    """A LISTEN session on its own connection: ``with`` + ``for`` (sync) or
    ``async with`` + ``async for`` (async). Iteration ends after ``timeout`` seconds
    without a notification (``None``: never)."""

    def __init__(self, channels, *, timeout=None, using=None, reconnect=True,
                 reconnect_attempts=10, reconnect_backoff=0.1):
        if not channels:
            raise ValueError("listen() needs at least one channel")
        self.channels = tuple(dict.fromkeys(validate_channel(c) for c in channels))
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be None or >= 0")
        self.timeout = timeout
        self.alias = using or "default"
        self.reconnect = reconnect
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_backoff = reconnect_backoff
        self.reconnects = 0            # how many times the connection was re-established
        self._conn = None
        self._aconn = None
        self._buffer = collections.deque()
        self._closed = False

    def _conninfo(self):
        backend = connections[self.alias]
        _require_pg(backend)
        shared = backend.shared
        kwargs = dict(shared.connect_kwargs)
        kwargs["autocommit"] = True
        return shared.conninfo, kwargs

    @property
    def pid(self):
        """The server process id of the listening connection (None when closed)."""
        conn = self._conn or self._aconn
        if conn is None or conn.closed:
            return None
        return conn.info.backend_pid

    def _listen_sql(self):
        return "; ".join(f"LISTEN {quote_channel(c)}" for c in self.channels)

    # ---- sync ------------------------------------------------------------------------------
    def _connect(self):
        conninfo, kwargs = self._conninfo()
        conn = psycopg.connect(conninfo, **kwargs)
        try:
            conn.execute(self._listen_sql())
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _reconnect(self, exc):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if not self.reconnect:
            raise _wrap_error(exc, self.alias, "connection lost") from exc
        last = exc
        for attempt in range(self.reconnect_attempts):
            try:
                self._connect()
                self.reconnects += 1
                return
            except psycopg.OperationalError as again:
                last = again
                time.sleep(min(self.reconnect_backoff * 2 ** attempt, 5.0))
        raise _wrap_error(last, self.alias,
                          f"could not reconnect after {self.reconnect_attempts} attempts") from last

    def __enter__(self):
        if self._conn is None:
            try:
                self._connect()
            except psycopg.Error as exc:
                raise _wrap_error(exc, self.alias, "could not start listening") from exc
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                conn.execute("UNLISTEN *")
            except psycopg.Error:
                pass
            conn.close()

    def get(self, timeout=...):
        """The next notification, or ``None`` after ``timeout`` seconds (default: the
        listener's ``timeout``)."""
        if self._buffer:
            return self._buffer.popleft()
        if self._conn is None:
            if self._closed:
                raise RuntimeError("this listener is closed")
            self.__enter__()
        timeout = self.timeout if timeout is ... else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                for n in self._conn.notifies(timeout=remaining, stop_after=1):
                    self._buffer.append(Notification(n.channel, n.payload, n.pid))
            except psycopg.OperationalError as exc:
                if self._closed:
                    raise RuntimeError("this listener is closed") from exc
                self._reconnect(exc)
                continue
            if self._buffer:
                return self._buffer.popleft()
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def __iter__(self):
        own = self._conn is None
        if own:
            self.__enter__()
        try:
            while True:
                n = self.get()
                if n is None:
                    return
                yield n
        finally:
            if own:
                self.close()

    # ---- async -----------------------------------------------------------------------------
    async def _aconnect(self):
        conninfo, kwargs = self._conninfo()
        aconn = await psycopg.AsyncConnection.connect(conninfo, **kwargs)
        try:
            await aconn.execute(self._listen_sql())
        except BaseException:
            await aconn.close()
            raise
        self._aconn = aconn

    async def _areconnect(self, exc):
        if self._aconn is not None:
            await self._aconn.close()
            self._aconn = None
        if not self.reconnect:
            raise _wrap_error(exc, self.alias, "connection lost") from exc
        last = exc
        for attempt in range(self.reconnect_attempts):
            try:
                await self._aconnect()
                self.reconnects += 1
                return
            except psycopg.OperationalError as again:
                last = again
                await asyncio.sleep(min(self.reconnect_backoff * 2 ** attempt, 5.0))
        raise _wrap_error(last, self.alias,
                          f"could not reconnect after {self.reconnect_attempts} attempts") from last

    async def __aenter__(self):
        if self._aconn is None:
            try:
                await self._aconnect()
            except psycopg.Error as exc:
                raise _wrap_error(exc, self.alias, "could not start listening") from exc
        return self

    async def __aexit__(self, *exc):
        await self.aclose()
        return False

    async def aclose(self) -> None:
        self._closed = True
        aconn, self._aconn = self._aconn, None
        if aconn is not None and not aconn.closed:
            try:
                await aconn.execute("UNLISTEN *")
            except psycopg.Error:
                pass
            await aconn.close()

    async def aget(self, timeout=...):
        """``get`` for coroutines."""
        if self._buffer:
            return self._buffer.popleft()
        if self._aconn is None:
            if self._closed:
                raise RuntimeError("this listener is closed")
            await self.__aenter__()
        timeout = self.timeout if timeout is ... else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                async for n in self._aconn.notifies(timeout=remaining, stop_after=1):
                    self._buffer.append(Notification(n.channel, n.payload, n.pid))
            except psycopg.OperationalError as exc:
                if self._closed:
                    raise RuntimeError("this listener is closed") from exc
                await self._areconnect(exc)
                continue
            if self._buffer:
                return self._buffer.popleft()
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def __aiter__(self):
        return self

    async def __anext__(self):
        n = await self.aget()
        if n is None:
            raise StopAsyncIteration
        return n


def listen(*channels, timeout=None, using=None, reconnect=True) -> Listener:
    """A :class:`Listener` for ``channels``: ``with listen(...) as ch: for n in ch`` or
    ``async with listen(...) as ch: async for n in ch``."""
    return Listener(channels, timeout=timeout, using=using, reconnect=reconnect)


alisten = listen


def listen_sync(*channels, timeout=None, using=None):
    """Generator of notifications (sync); ends after ``timeout`` seconds of silence."""
    with Listener(channels, timeout=timeout, using=using) as listener:
        yield from listener


def __getattr__(name):
    # Broadcaster lives in its own module (it builds on Listener): loaded on first use
    if name in ("Broadcaster", "Subscription"):
        from . import broadcast

        return getattr(broadcast, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
