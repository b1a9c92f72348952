"""Fixtures and helpers of the dorm-outbox suite.

The shared tests use ``db`` from ``tests/conftest.py`` (every installed backend). The
PostgreSQL-only tests use ``pg_db``: it skips without the dorm-postgres plugin or a
reachable server, and fails instead under ``DORM_REQUIRE_PG=1`` (CI).
"""
from __future__ import annotations

import collections
import datetime
import os
import threading

import dorm
import pytest
from dorm.contrib.outbox import record_event

from .models import Event


def now():
    """The current time as the outbox stores it (naive UTC: the suite runs without USE_TZ)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def make_events(n, prefix="e"):
    """``n`` committed events with strictly increasing ``created_at``; returns them."""
    base = now() - datetime.timedelta(hours=1)
    events = []
    with dorm.transaction.atomic():
        for i in range(n):
            ev = record_event(Event, f"{prefix}.{i}", {"i": i})
            Event.objects.filter(pk=ev.pk).update(created_at=base + datetime.timedelta(seconds=i))
            events.append(ev)
    return events


def make_due(*events):
    """Make backing-off rows due now, by moving ``next_attempt_at`` into the past."""
    qs = Event.objects.filter(pk__in=[e.pk for e in events]) if events else Event.objects.all()
    qs.update(next_attempt_at=now() - datetime.timedelta(seconds=1))


class Calls:
    """A handler that records every call (thread-safe) and answers with ``result``
    (a value, or a callable taking the event)."""

    def __init__(self, result=True):
        self.result = result
        self.lock = threading.Lock()
        self.events = []
        self.by_id = collections.Counter()
        self.threads = collections.defaultdict(set)

    def __call__(self, event):
        with self.lock:
            self.events.append(event)
            self.by_id[event.pk] += 1
            self.threads[threading.current_thread().name].add(event.pk)
        return self.result(event) if callable(self.result) else self.result

    @property
    def types(self):
        return [e.event_type for e in self.events]


@pytest.fixture(scope="session")
def pg_settings():
    from dorm.plugins import get_registry

    reg = get_registry().backends.get("postgresql")
    settings = reg.test_settings() if reg is not None and reg.test_settings else None
    if settings is None:
        reason = ("the dorm-postgres plugin is not installed" if reg is None
                  else "PostgreSQL is not reachable (DORM_TEST_PG_DSN)")
        if os.environ.get("DORM_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL outbox tests required (DORM_REQUIRE_PG=1) but {reason}")
        pytest.skip(reason)
    return settings


@pytest.fixture
def pg_db(request, pg_settings):
    """``default`` on the PostgreSQL test database with the module's ``MODELS``."""
    from dorm.db import connections

    dorm.configure(DATABASES={"default": dict(pg_settings)})
    models = list(getattr(request.module, "MODELS", []))
    dorm.drop_tables(models)
    dorm.create_tables(models)
    yield connections["default"]
    try:
        dorm.drop_tables(models)
    finally:
        connections.close_all()
