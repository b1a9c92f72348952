"""Idempotency keys on every backend (sync path): first call, replay, failure, fingerprint,
ttl, abandoned claims, purge, argument validation."""
from __future__ import annotations

import datetime

import dorm
import pytest
from dorm.contrib.idempotency import (
    COMPLETED,
    IN_PROGRESS,
    IdempotencyInProgress,
    IdempotencyKeyMismatch,
    IdempotencyNotStored,
    idempotency_key,
    purge_expired,
)
from dorm.exceptions import ImproperlyConfigured, TransactionManagementError
from dorm.transaction import atomic
from dorm_resilience.idempotency.spec import digest, now

from .models import ALL, Payment, Request, StrictRequest

MODELS = ALL


def pay(key, ref="p1", amount=10, runs=None, **kwargs):
    """One idempotent "request": creates a Payment, stores its id; returns the context."""
    with idempotency_key(key, model=Request, **kwargs) as ctx:
        if not ctx.replay:
            if runs is not None:
                runs.append(key)
            payment = Payment.objects.create(ref=ref, amount=amount)
            ctx.store({"payment": payment.pk, "amount": amount}, status_code=201)
    return ctx


def age(key, seconds):
    """Move the row of ``key`` ``seconds`` into the past (as if created then)."""
    Request.objects.filter(key=key).update(created_at=now() - datetime.timedelta(seconds=seconds))


def test_first_call_runs_and_stores_then_replays_without_running(db):
    runs = []
    first = pay("order-1", runs=runs)
    assert (first.replay, first.cached_response, first.cached_status_code) == (False, None, None)
    row = Request.objects.get(key="order-1")
    assert row.status == COMPLETED and row.status_code == 201 and row.completed_at is not None
    assert row.response == {"payment": Payment.objects.get().pk, "amount": 10}

    second = pay("order-1", runs=runs)
    assert second.replay is True
    assert second.cached_response == row.response and second.cached_status_code == 201
    assert runs == ["order-1"] and Payment.objects.count() == 1
    assert Request.objects.count() == 1


def test_failure_inside_the_block_stores_nothing_and_releases_the_key(db):
    with pytest.raises(KeyError):
        with idempotency_key("order-2", model=Request) as ctx:
            Payment.objects.create(ref="lost")
            ctx.store({"ok": True})
            raise KeyError("card declined")
    assert Request.objects.count() == 0 and Payment.objects.count() == 0   # rolled back, released
    runs = []
    assert pay("order-2", runs=runs).replay is False                      # a retry runs again
    assert runs == ["order-2"] and Payment.objects.count() == 1


def test_block_without_store_is_an_error_and_records_nothing(db):
    with pytest.raises(IdempotencyNotStored, match="without ctx.store") as info:
        with idempotency_key("order-3", model=Request):
            Payment.objects.create(ref="forgotten")
    assert info.value.key == "order-3" and info.value.model is Request
    assert Request.objects.count() == 0 and Payment.objects.count() == 0


def test_store_rules(db):
    with idempotency_key("order-4", model=Request) as ctx:
        with pytest.raises(ValueError, match="JSON-serialisable"):
            ctx.store({"when": object()})
        with pytest.raises(ValueError, match="JSON-serialisable"):
            ctx.store({"x": float("nan")})
        with pytest.raises(ValueError, match="status_code must be an int"):
            ctx.store({}, status_code="201")
        ctx.store({"n": 1}, status_code=200)
        ctx.store({"n": 2}, status_code=500)          # second call: no-op
    assert Request.objects.values_list("response", "status_code").get() == ({"n": 1}, 200)
    with pytest.raises(RuntimeError, match="after the block ended"):
        ctx.store({"n": 3})
    with idempotency_key("order-4", model=Request) as again:
        again.store({"n": 4})                         # replay: no-op
    assert again.replay and Request.objects.values_list("response", flat=True).get() == {"n": 1}


def test_replay_block_runs_in_a_transaction(db):
    pay("order-5")
    with pytest.raises(ZeroDivisionError):
        with idempotency_key("order-5", model=Request) as ctx:
            assert ctx.replay
            Payment.objects.create(ref="should roll back")
            1 / 0
    assert Payment.objects.count() == 1


def test_fingerprint_mismatch_is_refused(db):
    runs = []
    pay("order-6", runs=runs, fingerprint={"amount": 10, "currency": "EUR"})
    same = pay("order-6", runs=runs, fingerprint={"currency": "EUR", "amount": 10})   # key order
    assert same.replay
    with pytest.raises(IdempotencyKeyMismatch, match="different request fingerprint") as info:
        pay("order-6", runs=runs, fingerprint={"amount": 99, "currency": "EUR"})
    assert info.value.status_code == 422 and isinstance(info.value, ValueError)
    assert runs == ["order-6"]
    assert pay("order-6", runs=runs).replay                  # no fingerprint: not compared
    assert Request.objects.get().fingerprint is not None and len(Request.objects.get().fingerprint) == 64


def test_fingerprint_is_checked_against_an_unfinished_claim_too(db):
    # another request holds the claim (fingerprint of body-a) and has not finished
    Request.objects.create(key="order-7", status=IN_PROGRESS, claim_token="t" * 32,
                           fingerprint=digest(b"body-a"))
    with pytest.raises(IdempotencyInProgress):
        pay("order-7", fingerprint="body-a")
    with pytest.raises(IdempotencyInProgress):
        pay("order-7")                                     # no fingerprint: not compared
    with pytest.raises(IdempotencyKeyMismatch):
        pay("order-7", fingerprint="body-b")               # a client bug, whatever the timing
    with pytest.raises(TypeError, match="fingerprint must be"):
        pay("order-8", fingerprint={"x": object()})
    assert Payment.objects.count() == 0


def test_ttl_is_honoured_at_lookup(db):
    runs = []
    pay("order-9", runs=runs, amount=1)
    age("order-9", 120)
    assert pay("order-9", runs=runs, ttl=3600).replay                 # younger than the ttl
    assert pay("order-9", runs=runs).replay                           # no ttl: never expires
    fresh = pay("order-9", runs=runs, amount=2, ttl=datetime.timedelta(seconds=60))
    assert fresh.replay is False and runs == ["order-9", "order-9"]   # expired: runs again
    row = Request.objects.get(key="order-9")
    assert row.response["amount"] == 2 and Request.objects.count() == 1
    assert pay("order-9", runs=runs, ttl=60).replay


def test_in_progress_claim_blocks_and_abandoned_claim_is_taken_over(db):
    # a claim left behind by a process that died in the middle of its block
    Request.objects.create(key="order-10", status=IN_PROGRESS, claim_token="d" * 32)
    with pytest.raises(IdempotencyInProgress, match="being processed by another request") as info:
        pay("order-10")
    assert info.value.status_code == 409
    with pytest.raises(IdempotencyInProgress):
        pay("order-10", claim_timeout=60)                  # not old enough to be abandoned
    age("order-10", 300)
    runs = []
    assert pay("order-10", runs=runs, claim_timeout=60).replay is False
    assert runs == ["order-10"] and Request.objects.get().status == COMPLETED


def test_claim_lost_while_running_rolls_the_block_back(db):
    with pytest.raises(IdempotencyInProgress, match="taken over .* or purged"):
        with idempotency_key("order-11", model=Request) as ctx:
            Payment.objects.create(ref="x")
            Request.objects.filter(key="order-11").delete()     # a purge job removed the claim
            ctx.store({})
    assert Payment.objects.count() == 0 and Request.objects.count() == 0


def test_refuses_to_run_inside_an_atomic_block(db):
    with atomic():
        with pytest.raises(TransactionManagementError, match="cannot run inside atomic"):
            with idempotency_key("order-12", model=Request):
                pass
    assert Request.objects.count() == 0


def test_purge_removes_only_old_rows(db):
    for key in ("old-1", "old-2", "new-1"):
        pay(key)
    Request.objects.create(key="old-claim", status=IN_PROGRESS, claim_token="c" * 32)
    for key in ("old-1", "old-2", "old-claim"):
        age(key, 7200)
    assert purge_expired(Request, older_than_seconds=3600) == 3
    assert list(Request.objects.values_list("key", flat=True)) == ["new-1"]
    assert purge_expired(Request, older_than_seconds=datetime.timedelta(hours=1)) == 0
    assert purge_expired(Request, older_than_seconds=0) == 1


def test_argument_validation(db):
    class NotARecord(dorm.Model):
        class Meta:
            app_label = "resilience_tests"
            abstract = True

    from dorm.contrib.idempotency import IdempotencyRecord

    cases = [
        (dict(key=""), ValueError, "non-empty"),
        (dict(key="   "), ValueError, "non-empty"),
        (dict(key=42), TypeError, "must be a str"),
        (dict(key="k" * 201), ValueError, "201 characters long; Request.key holds at most 200"),
        (dict(model=Payment), TypeError, "concrete subclass of IdempotencyRecord"),
        (dict(model=IdempotencyRecord), TypeError, "is abstract"),
        (dict(model=NotARecord), TypeError, "concrete subclass"),
        (dict(using="nope"), ImproperlyConfigured, "'nope' is not configured"),
        (dict(ttl=0), ValueError, "ttl must be > 0"),
        (dict(ttl=-5), ValueError, "ttl must be > 0"),
        (dict(ttl="1h"), TypeError, "ttl must be a number of seconds"),
        (dict(claim_timeout=True), TypeError, "claim_timeout must be"),
    ]
    for overrides, error, message in cases:
        kwargs = {"key": "k", "model": Request, **overrides}
        with pytest.raises(error, match=message):
            with idempotency_key(kwargs.pop("key"), **kwargs):
                pytest.fail("the block must not run")
    with pytest.raises(TypeError, match="concrete subclass"):
        purge_expired(Payment, older_than_seconds=1)
    with pytest.raises(ValueError, match="older_than_seconds must be >= 0"):
        purge_expired(Request, older_than_seconds=-1)
    with pytest.raises(TypeError, match="older_than_seconds is required"):
        purge_expired(Request, older_than_seconds=None)
    assert Request.objects.count() == 0


def test_an_integrity_error_that_is_not_a_key_conflict_propagates(db):
    from dorm.exceptions import IntegrityError

    with pytest.raises(IntegrityError):
        with idempotency_key("order-13", model=StrictRequest):
            pytest.fail("the block must not run")
    assert StrictRequest.objects.count() == 0
