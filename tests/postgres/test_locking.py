"""select_for_update() with two real connections (two threads)."""
from __future__ import annotations

import threading

import pytest
from dorm import transaction
from dorm.exceptions import NotSupportedError, OperationalError, TransactionManagementError

from .models import Item, Owner, Pet

MODELS = [Item, Owner, Pet]


@pytest.fixture
def items(pg):
    return Item.objects.bulk_create([Item(name=n) for n in ("a", "b", "c")])


class Holder:
    """Locks rows in another thread (its own connection) until released."""

    def __init__(self, qs_factory):
        self.ready, self.done = threading.Event(), threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(qs_factory,))

    def _run(self, qs_factory):
        try:
            with transaction.atomic():
                list(qs_factory())
                self.ready.set()
                self.done.wait(10)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.ready.set()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        assert self.error is None


def test_nowait_raises_when_locked(items):
    with Holder(lambda: Item.objects.filter(name="a").select_for_update()):
        with pytest.raises(OperationalError, match="could not obtain lock"):
            with transaction.atomic():
                list(Item.objects.filter(name="a").select_for_update(nowait=True))
        # other rows are free
        with transaction.atomic():
            assert [i.name for i in Item.objects.filter(name="b").select_for_update(nowait=True)] == ["b"]


def test_skip_locked_skips_locked_rows(items):
    with Holder(lambda: Item.objects.filter(name__in=["a", "b"]).select_for_update()):
        with transaction.atomic():
            got = [i.name for i in Item.objects.order_by("name").select_for_update(skip_locked=True)]
    assert got == ["c"]


def test_plain_lock_waits_for_the_other_transaction(items):
    order = []
    with Holder(lambda: Item.objects.filter(name="a").select_for_update()) as holder:
        def blocked():
            with transaction.atomic():
                list(Item.objects.filter(name="a").select_for_update())
                order.append("second")

        t = threading.Thread(target=blocked)
        t.start()
        t.join(0.3)
        assert t.is_alive()          # waiting on the lock
        order.append("first")
        holder.done.set()
        t.join(10)
    assert order == ["first", "second"]


def test_of_locks_only_the_named_table(pg):
    owner = Owner.objects.create(name="o")
    Pet.objects.create(name="p", owner=owner)
    qs = Pet.objects.select_related("owner").select_for_update(of=("self",))
    with transaction.atomic():
        assert [p.name for p in qs] == ["p"]
    # the owner row is not locked by that query: another transaction can lock it at once
    with Holder(lambda: Pet.objects.select_related("owner").select_for_update(of=("self",))):
        with transaction.atomic():
            assert [o.name for o in Owner.objects.select_for_update(nowait=True)] == ["o"]
            with pytest.raises(OperationalError):
                list(Pet.objects.select_for_update(nowait=True))


def test_select_for_update_needs_a_transaction(items):
    with pytest.raises(TransactionManagementError):
        list(Item.objects.select_for_update())


def test_nowait_and_skip_locked_are_exclusive(items):
    with pytest.raises((ValueError, NotSupportedError)), transaction.atomic():
        list(Item.objects.select_for_update(nowait=True, skip_locked=True))
