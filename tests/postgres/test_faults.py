"""Faults on a real server: killed connections, an exhausted pool, a server that is
not there. Each test says what the user sees."""
from __future__ import annotations

import asyncio
import contextvars
import socket
import threading
import time

import dorm
import pytest
from dorm import transaction
from dorm.db import connections
from dorm.exceptions import OperationalError

from .models import Item

MODELS = [Item]


def _backend_pids(admin, dbname):
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [dbname]).fetchall()
    return [r[0] for r in rows]


def _terminate(admin, pids):
    for pid in pids:
        # the timeout makes pg_terminate_backend wait until the backend is gone (PG 14+)
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# ---- killed mid-transaction ------------------------------------------------------------------
def test_connection_killed_mid_transaction(pg, admin):
    with pytest.raises(OperationalError) as err, transaction.atomic():
        Item.objects.create(name="first")
        pid = connections["default"].execute("SELECT pg_backend_pid()")[0][0]
        _terminate(admin, [pid])
        Item.objects.create(name="second")
    message = str(err.value)
    assert "terminat" in message or "closed" in message
    assert "nothing of the transaction was committed" in message
    assert err.value.alias == "default" and err.value.vendor == "postgresql"
    # nothing committed, and the next statements run on a fresh connection
    assert Item.objects.count() == 0
    Item.objects.create(name="after")
    assert list(Item.objects.values_list("name", flat=True)) == ["after"]
    assert not connections["default"].in_transaction


async def test_connection_killed_mid_async_transaction(pg, admin):
    with pytest.raises(OperationalError):
        async with transaction.aatomic():
            await Item.objects.acreate(name="first")
            conn = await connections.aget()
            pid = (await conn.aexecute("SELECT pg_backend_pid()"))[0][0]
            _terminate(admin, [pid])
            await Item.objects.acreate(name="second")
    assert await Item.objects.acount() == 0
    await Item.objects.acreate(name="after")
    assert [i.name async for i in Item.objects.all()] == ["after"]


def test_commit_on_a_killed_connection_fails_cleanly(pg, admin):
    with pytest.raises(OperationalError), transaction.atomic():
        Item.objects.create(name="first")
        pid = connections["default"].execute("SELECT pg_backend_pid()")[0][0]
        _terminate(admin, [pid])
            # no statement after the kill: COMMIT itself fails
    assert Item.objects.count() == 0


# ---- dropped outside a transaction --------------------------------------------------------------
def test_dropped_idle_connections_are_replaced_transparently(pg, admin, pg_settings):
    Item.objects.create(name="a")
    before = _backend_pids(admin, pg_settings["NAME"])
    assert before
    _terminate(admin, before)
    # reads and writes both work: dead pooled connections are discarded before use
    assert Item.objects.count() == 1
    Item.objects.create(name="b")
    assert Item.objects.count() == 2
    assert not set(_backend_pids(admin, pg_settings["NAME"])) & set(before)


async def test_dropped_idle_connections_are_replaced_async(pg, admin, pg_settings):
    await Item.objects.acreate(name="a")
    _terminate(admin, _backend_pids(admin, pg_settings["NAME"]))
    assert await Item.objects.acount() == 1
    await Item.objects.acreate(name="b")
    assert await Item.objects.acount() == 2


def test_without_pool_check_reads_retry_and_writes_raise(configure_pg, admin, pg_settings):
    with configure_pg(POOL_CHECK=False, MIN_POOL_SIZE=1, MAX_POOL_SIZE=1):
        dorm.drop_tables(MODELS)
        dorm.create_tables(MODELS)
        try:
            Item.objects.create(name="a")
            _terminate(admin, _backend_pids(admin, pg_settings["NAME"]))
            # a read on the dead connection is retried on a new one
            assert Item.objects.count() == 1
            _terminate(admin, _backend_pids(admin, pg_settings["NAME"]))
            # a write is never re-run: the error surfaces ...
            with pytest.raises(OperationalError):
                Item.objects.create(name="b")
            # ... and the next statement gets a fresh connection
            Item.objects.create(name="c")
            assert sorted(Item.objects.values_list("name", flat=True)) == ["a", "c"]
        finally:
            dorm.drop_tables(MODELS)


# ---- pool exhaustion -------------------------------------------------------------------------
def test_pool_exhaustion_times_out_naming_the_pool_size(configure_pg):
    with configure_pg(MIN_POOL_SIZE=1, MAX_POOL_SIZE=1, POOL_TIMEOUT=0.3):
        dorm.drop_tables(MODELS)
        dorm.create_tables(MODELS)
        try:
            holding = threading.Event()
            release = threading.Event()

            def hold():
                with transaction.atomic():
                    Item.objects.count()
                    holding.set()
                    release.wait(10)

            worker = threading.Thread(target=hold)
            worker.start()
            try:
                assert holding.wait(10)
                t0 = time.monotonic()
                with pytest.raises(OperationalError) as err:
                    Item.objects.count()
                elapsed = time.monotonic() - t0
            finally:
                release.set()
                worker.join()
            message = str(err.value)
            assert "exhausted" in message and "MAX_POOL_SIZE=1" in message
            assert "POOL_TIMEOUT=0.3" in message
            assert 0.25 <= elapsed < 5
            # once released, the pool serves again
            assert Item.objects.count() == 0
        finally:
            dorm.drop_tables(MODELS)


async def test_async_pool_exhaustion(configure_pg):
    with configure_pg(MIN_POOL_SIZE=1, MAX_POOL_SIZE=1, POOL_TIMEOUT=0.3):
        await dorm.acreate_tables(MODELS)
        try:
            async with transaction.aatomic():
                await Item.objects.acount()
                # a task outside the block (tasks created inside inherit its connection)
                other = asyncio.create_task(Item.objects.acount(), context=contextvars.Context())
                with pytest.raises(OperationalError, match="MAX_POOL_SIZE=1"):
                    await other
        finally:
            await dorm.adrop_tables(MODELS)


# ---- server down at start -------------------------------------------------------------------------
def test_server_down_at_start_fails_fast_naming_host_and_port(pg_settings):
    port = _closed_port()
    entry = dict(pg_settings, HOST="127.0.0.1", PORT=port)
    with dorm.settings.override(DATABASES={"default": entry}):
        t0 = time.monotonic()
        with pytest.raises(OperationalError) as err:
            connections["default"].execute("SELECT 1")
        assert time.monotonic() - t0 < 5
        message = str(err.value)
        assert f"127.0.0.1:{port}" in message and "could not connect" in message
        assert "'default'" in message
        # still failing (no half-open pool left behind), still fast
        with pytest.raises(OperationalError):
            connections["default"].execute("SELECT 1")


async def test_server_down_at_start_async(pg_settings):
    port = _closed_port()
    entry = dict(pg_settings, HOST="127.0.0.1", PORT=port)
    with dorm.settings.override(DATABASES={"default": entry}):
        t0 = time.monotonic()
        with pytest.raises(OperationalError, match=f"127.0.0.1:{port}"):
            await (await connections.aget()).aexecute("SELECT 1")
        assert time.monotonic() - t0 < 5


def test_unreachable_host_is_bounded_by_connect_timeout(pg_settings):
    # 192.0.2.0/24 is TEST-NET-1: nothing answers, packets are dropped or refused
    entry = dict(pg_settings, HOST="192.0.2.1", PORT=5432, OPTIONS={"connect_timeout": 1})
    with dorm.settings.override(DATABASES={"default": entry}):
        t0 = time.monotonic()
        with pytest.raises(OperationalError, match="192.0.2.1:5432"):
            connections["default"].execute("SELECT 1")
        assert time.monotonic() - t0 < 4


def test_health_check_reports_instead_of_raising(pg_settings):
    entry = dict(pg_settings, PORT=_closed_port())
    with dorm.settings.override(DATABASES={"default": entry}):
        report = dorm.db.connection.health_check()
        assert report["status"] == "error" and "could not connect" in report["error"]


# ---- the server goes away (and comes back) ---------------------------------------------------
class Proxy:
    """A TCP forwarder in front of the real server: ``stop()`` drops every connection
    and refuses new ones (the server went away); ``start()`` brings it back."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.port = _closed_port()
        self.sockets: list = []
        self.listener = None

    def start(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)    # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.sockets.clear()


def test_server_going_away_is_reported_fast_and_recovery_is_transparent(pg_settings):
    proxy = Proxy(pg_settings["HOST"], pg_settings["PORT"])
    proxy.start()
    entry = dict(pg_settings, HOST="127.0.0.1", PORT=proxy.port, POOL_TIMEOUT=20)
    try:
        with dorm.settings.override(DATABASES={"default": entry}):
            dorm.create_tables(MODELS)
            Item.objects.create(name="a")
            proxy.stop()
            time.sleep(0.1)
            t0 = time.monotonic()
            with pytest.raises(OperationalError) as err:
                Item.objects.count()
            assert time.monotonic() - t0 < 5          # not POOL_TIMEOUT=20
            assert f"127.0.0.1:{proxy.port}" in str(err.value)
            proxy.start()                             # the server is back
            assert Item.objects.count() == 1
            Item.objects.create(name="b")
            dorm.drop_tables(MODELS)
    finally:
        proxy.stop()
