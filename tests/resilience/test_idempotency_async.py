"""Idempotency keys: the async path on every backend, and concurrent duplicates on
PostgreSQL (threads and tasks)."""
from __future__ import annotations

import asyncio
import threading

import pytest
from dorm.contrib.idempotency import (
    COMPLETED,
    IdempotencyInProgress,
    IdempotencyKeyMismatch,
    IdempotencyNotStored,
    aidempotency_key,
    apurge_expired,
    idempotency_key,
)
from dorm.db import connections
from dorm.exceptions import TransactionManagementError
from dorm.transaction import aatomic

from .models import ALL, Payment, Request

MODELS = ALL


async def apay(key, runs, amount=10, **kwargs):
    async with aidempotency_key(key, model=Request, **kwargs) as ctx:
        if not ctx.replay:
            runs.append(key)
            payment = await Payment.objects.acreate(ref=key, amount=amount)
            await ctx.astore({"payment": payment.pk}, status_code=201)
    return ctx


async def test_async_first_call_replay_failure_and_mismatch(db):
    try:
        runs = []
        first = await apay("a-1", runs, fingerprint={"amount": 10})
        second = await apay("a-1", runs, fingerprint={"amount": 10})
        assert (first.replay, second.replay, runs) == (False, True, ["a-1"])
        assert second.cached_status_code == 201 and second.cached_response["payment"] is not None
        with pytest.raises(IdempotencyKeyMismatch):
            await apay("a-1", runs, fingerprint={"amount": 11})

        with pytest.raises(LookupError):
            async with aidempotency_key("a-2", model=Request) as ctx:
                await Payment.objects.acreate(ref="lost")
                await ctx.astore({"ok": True})
                raise LookupError("declined")
        with pytest.raises(IdempotencyNotStored):
            async with aidempotency_key("a-3", model=Request):
                await Payment.objects.acreate(ref="forgotten")
        assert await Payment.objects.acount() == 1
        assert await Request.objects.acount() == 1
        assert await Request.objects.filter(key="a-1", status=COMPLETED).aexists()

        async with aatomic():
            with pytest.raises(TransactionManagementError, match="cannot run inside atomic"):
                async with aidempotency_key("a-4", model=Request):
                    pass
        assert await apurge_expired(Request, older_than_seconds=0) == 1
    finally:
        await connections.aclose_all()


# ---- concurrent duplicates on PostgreSQL ---------------------------------------------------------
def test_concurrent_duplicates_threads_exactly_one_runs(pg):
    """N threads send the same key at once: one runs the block, every other one is refused
    with IdempotencyInProgress while it runs; afterwards the key replays."""
    n = 6
    barrier = threading.Barrier(n)
    others_done = threading.Semaphore(0)
    results, ran = [], []
    lock = threading.Lock()

    def request(i):
        barrier.wait()
        try:
            with idempotency_key("dup-1", model=Request) as ctx:
                assert not ctx.replay
                with lock:
                    ran.append(i)
                Payment.objects.create(ref=f"thread-{i}", amount=10)
                for _ in range(n - 1):             # hold the claim until all others answered
                    assert others_done.acquire(timeout=30)
                ctx.store({"by": i}, status_code=201)
            outcome = "ran"
        except IdempotencyInProgress as exc:
            assert exc.status_code == 409
            outcome = "conflict"
            others_done.release()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome = repr(exc)
            others_done.release()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["conflict"] * (n - 1) + ["ran"], results
    assert len(ran) == 1
    assert Payment.objects.count() == 1
    row = Request.objects.get(key="dup-1")
    assert row.status == COMPLETED and row.response == {"by": ran[0]}
    with idempotency_key("dup-1", model=Request) as ctx:
        assert ctx.replay and ctx.cached_response == {"by": ran[0]}


async def test_concurrent_duplicates_tasks_exactly_one_runs(pg):
    try:
        started, release = asyncio.Event(), asyncio.Event()
        runs = []

        async def first():
            async with aidempotency_key("dup-2", model=Request) as ctx:
                runs.append("first")
                started.set()
                await release.wait()
                await ctx.astore({"ok": 1})

        task = asyncio.create_task(first())
        await started.wait()
        outcomes = await asyncio.gather(*[apay("dup-2", runs) for _ in range(4)], return_exceptions=True)
        assert all(isinstance(o, IdempotencyInProgress) for o in outcomes), outcomes
        release.set()
        await task
        assert runs == ["first"] and (await apay("dup-2", runs)).replay
        assert await Payment.objects.acount() == 0
    finally:
        await connections.aclose_all()
