"""Recording events (every installed backend): atomic with the business write, the
warning outside a transaction, validation, payload serialisation, the model's index,
the import path with and without the plugin."""
import datetime
import decimal
import json
import logging
import os
import subprocess
import sys
import uuid

import dorm
import pytest
from dorm import transaction
from dorm.contrib.outbox import (
    OutboxEvent,
    arecord_event,
    record_event,
    serialize_payload,
)

from .models import ALL, Event, Order

MODELS = ALL
LOGGER = "dorm.contrib.outbox"


def warnings_of(caplog):
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


# ---- atomic with the business row -------------------------------------------------------------
def test_event_commits_with_the_business_row(db, caplog):
    with transaction.atomic():
        order = Order.objects.create(number="A-1")
        event = record_event(Event, "order.created", {"order": order.pk, "total": "9.90"})
    stored = Event.objects.get(pk=event.pk)
    assert Order.objects.filter(number="A-1").exists()
    assert (stored.event_type, stored.payload) == ("order.created", {"order": order.pk, "total": "9.90"})
    assert (stored.status, stored.attempts, stored.published_at, stored.last_error) == (
        "pending", 0, None, None)
    assert isinstance(stored.pk, uuid.UUID) and stored.created_at is not None
    assert stored.next_attempt_at is None and stored.claimed_by is None
    assert warnings_of(caplog) == []


def test_event_absent_after_rollback(db):
    with pytest.raises(RuntimeError, match="payment declined"):
        with transaction.atomic():
            Order.objects.create(number="A-2")
            record_event(Event, "order.created", {"n": 2})
            raise RuntimeError("payment declined")
    assert Order.objects.count() == 0
    assert Event.objects.count() == 0


def test_event_rolled_back_with_set_rollback(db):
    with transaction.atomic():
        Order.objects.create(number="A-3")
        record_event(Event, "order.created")
        transaction.set_rollback(True)
    assert (Order.objects.count(), Event.objects.count()) == (0, 0)


def test_payload_defaults_to_empty_dict(db):
    with transaction.atomic():
        event = record_event(Event, "ping")
    assert Event.objects.get(pk=event.pk).payload == {}


# ---- the warning --------------------------------------------------------------------------------
def test_warning_outside_a_transaction(db, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    event = record_event(Event, "order.created", {"n": 1})
    assert Event.objects.filter(pk=event.pk).exists()        # still saved
    [record] = warnings_of(caplog)
    message = record.getMessage()
    assert "outside a transaction" in message and "'default'" in message
    assert "Event" in message and "order.created" in message


def test_no_warning_inside_atomic_on_that_alias(db, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with transaction.atomic():
        record_event(Event, "a")
        record_event(Event, "b", using="default")
    assert warnings_of(caplog) == []


async def test_arecord_event_joins_aatomic(db, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    async with transaction.aatomic():
        await Order.objects.acreate(number="B-1")
        event = await arecord_event(Event, "order.created", {"n": 1})
    assert warnings_of(caplog) == []
    assert (await Event.objects.aget(pk=event.pk)).event_type == "order.created"

    with pytest.raises(ValueError):
        async with transaction.aatomic():
            await Order.objects.acreate(number="B-2")
            await arecord_event(Event, "order.created", {"n": 2})
            raise ValueError("rolled back")
    assert await Event.objects.acount() == 1
    assert await Order.objects.acount() == 1


async def test_arecord_event_warns_outside_a_transaction(db, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    await arecord_event(Event, "x")
    [record] = warnings_of(caplog)
    assert "arecord_event" in record.getMessage() and "aatomic" in record.getMessage()
    assert await Event.objects.acount() == 1


# ---- validation ---------------------------------------------------------------------------------
def test_bad_arguments_write_nothing(db):
    with transaction.atomic():
        with pytest.raises(TypeError, match="abstract"):
            record_event(OutboxEvent, "x")
        with pytest.raises(TypeError, match="concrete subclass of dorm.contrib.outbox.OutboxEvent, got Order"):
            record_event(Order, "x")
        with pytest.raises(ValueError, match="non-empty string"):
            record_event(Event, "")
        with pytest.raises(ValueError, match="non-empty string"):
            record_event(Event, 42)
        with pytest.raises(ValueError, match="129 characters.*at most 128"):
            record_event(Event, "x" * 129)
        with pytest.raises(TypeError, match="JSON-serializable"):
            record_event(Event, "x", {"when": datetime.datetime(2024, 1, 1)})
        with pytest.raises(TypeError, match="database alias"):
            record_event(Event, "x", using=3)
    assert Event.objects.count() == 0


def test_unknown_alias_names_the_configured_ones(db):
    with pytest.raises(dorm.ImproperlyConfigured, match="'nope'.*Configured aliases: 'default'"):
        record_event(Event, "x", using="nope")


# ---- serialize_payload --------------------------------------------------------------------------
def test_serialize_payload_is_deterministic():
    a = {"b": 1, "a": [1, 2, {"z": None, "y": True}], "c": "é"}
    b = {"c": "é", "a": [1, 2, {"y": True, "z": None}], "b": 1}
    assert serialize_payload(a) == serialize_payload(b)
    assert serialize_payload(a) == '{"a":[1,2,{"y":true,"z":null}],"b":1,"c":"\\u00e9"}'
    odd = {"at": datetime.datetime(2024, 5, 1, 12, 0), "amount": decimal.Decimal("1.20"),
           "id": uuid.UUID(int=1)}
    assert json.loads(serialize_payload(odd)) == {
        "at": "2024-05-01 12:00:00", "amount": "1.20", "id": "00000000-0000-0000-0000-000000000001"}


# ---- model, index, import path ------------------------------------------------------------------
def test_fields_of_the_reference():
    opts = Event._meta
    kinds = {f.name: type(f).__name__ for f in opts.fields}
    assert kinds == {
        "id": "UUIDField", "event_type": "CharField", "payload": "JSONField", "status": "CharField",
        "created_at": "DateTimeField", "published_at": "DateTimeField", "last_error": "TextField",
        "attempts": "IntegerField", "next_attempt_at": "DateTimeField", "claimed_by": "CharField",
        "claimed_until": "DateTimeField"}
    assert opts.pk.name == "id" and opts.get_field("event_type").max_length == 128
    status = opts.get_field("status")
    assert (status.max_length, status.default, status.db_index) == (16, "pending", True)
    assert opts.get_field("payload").default is dict
    assert opts.get_field("attempts").default == 0
    assert opts.get_field("published_at").null and opts.get_field("last_error").null
    assert OutboxEvent._meta.abstract and not Event._meta.abstract


def test_concrete_subclass_gets_the_poll_index(db):
    [index] = [i for i in Event._meta.indexes if i.fields == ["status", "created_at"]]
    found = db.introspection.get_indexes(Event._meta.db_table)
    assert index.name in found


def test_declared_poll_index_is_not_duplicated():
    class OwnIndexEvent(OutboxEvent):
        class Meta:
            app_label = "outbox_tests_own"
            indexes = [dorm.Index(fields=["status", "created_at"], name="own_poll_idx")]

    try:
        assert [i.name for i in OwnIndexEvent._meta.indexes] == ["own_poll_idx"]
    finally:
        dorm.models.registry.unregister(OwnIndexEvent)


def test_import_path_is_the_plugin_module():
    import dorm.contrib.outbox
    import dorm_outbox.api

    assert dorm.contrib.outbox is dorm_outbox.api
    assert "at least once" in dorm.contrib.outbox.__doc__


@pytest.mark.parametrize("env", [{"DORM_DISABLED_PLUGINS": "outbox"},
                                 {"DORM_DISABLE_PLUGIN_AUTOLOAD": "1"}])
def test_without_the_plugin_the_error_names_the_distribution(env):
    code = ("try:\n    import dorm.contrib.outbox\n"
            "except ImportError as exc:\n    print(type(exc).__name__, exc.distribution)\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **env}, check=False)
    assert out.returncode == 0, out.stderr
    first, message = out.stdout.splitlines()[:2]
    assert first == "PluginNotInstalled dorm-outbox"
    assert "dorm.contrib.outbox" in message
