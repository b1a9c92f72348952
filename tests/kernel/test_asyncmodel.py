"""dorm.contrib.asyncmodel: sync ORM calls refuse to run on async-only models."""
import pickle

import pytest

import dorm
from dorm.models.queryset import QuerySet
from dorm.contrib.asyncmodel import (AsyncModel, AsyncOnlyError, AsyncOnlyManager,
                                     AsyncOnlyQuerySet)


class Venue(dorm.Model):
    name = dorm.CharField(max_length=30)

    class Meta:
        app_label = "asyncmodel_tests"


class Event(AsyncModel):
    name = dorm.CharField(max_length=30, unique=True)
    venue = dorm.ForeignKey(Venue, on_delete=dorm.CASCADE, null=True, related_name="events")
    seats = dorm.IntegerField(default=0)

    class Meta:
        app_label = "asyncmodel_tests"
        ordering = ["name"]


class Ticket(dorm.Model):
    event = dorm.ForeignKey(Event, on_delete=dorm.CASCADE, related_name="tickets")
    code = dorm.CharField(max_length=10)

    class Meta:
        app_label = "asyncmodel_tests"


class BigQuerySet(AsyncOnlyQuerySet):
    def big(self):
        return self.filter(seats__gte=100)

    def total(self):
        return 0

    async def atotal(self):
        return sum([e.seats async for e in self])


class Show(AsyncModel):
    title = dorm.CharField(max_length=30)
    seats = dorm.IntegerField(default=0)
    events = dorm.ManyToManyField(Event, related_name="shows")

    objects = AsyncOnlyManager.from_queryset(BigQuerySet)()

    class Meta:
        app_label = "asyncmodel_tests"


MODELS = [Venue, Event, Ticket, Show, Show.events.field.remote_field.through]


def test_declaration():
    assert Event._meta.abstract is False and AsyncModel._meta.abstract
    assert isinstance(Event.objects, AsyncOnlyManager)
    assert isinstance(Event._meta.base_manager(), AsyncOnlyManager)
    assert issubclass(AsyncOnlyError, RuntimeError)
    with pytest.raises(TypeError, match="must subclass AsyncOnlyQuerySet, got QuerySet"):
        AsyncOnlyManager.from_queryset(QuerySet)


SYNC_MANAGER_CALLS = [
    ("count", lambda: Event.objects.count(), "acount"),
    ("get", lambda: Event.objects.get(name="a"), "aget"),
    ("create", lambda: Event.objects.create(name="z"), "acreate"),
    ("get_or_create", lambda: Event.objects.get_or_create(name="z"), "aget_or_create"),
    ("update_or_create", lambda: Event.objects.update_or_create(name="z"), "aupdate_or_create"),
    ("bulk_create", lambda: Event.objects.bulk_create([Event(name="q")]), "abulk_create"),
    ("exists", lambda: Event.objects.filter(seats=1).exists(), "aexists"),
    ("first", lambda: Event.objects.order_by("name").first(), "afirst"),
    ("last", lambda: Event.objects.last(), "alast"),
    ("aggregate", lambda: Event.objects.aggregate(n=dorm.Count("id")), "aaggregate"),
    ("in_bulk", lambda: Event.objects.in_bulk([1]), "ain_bulk"),
    ("update", lambda: Event.objects.filter(seats=0).update(seats=1), "aupdate"),
    ("delete", lambda: Event.objects.filter(seats=0).delete(), "adelete"),
    ("iterator", lambda: Event.objects.iterator(), "aiterator"),
    ("get_or_none", lambda: Event.objects.get_or_none(name="a"), "aget_or_none"),
    ("explain", lambda: Event.objects.all().explain(), "aexplain"),
    ("raw", lambda: Event.objects.raw("SELECT 1"), "araw"),
    ("total", lambda: Show.objects.total(), "atotal"),
    ("total", lambda: Show.objects.big().total(), "atotal"),
]


@pytest.mark.parametrize("name,call,twin", SYNC_MANAGER_CALLS, ids=[c[0] + str(i) for i, c in
                                                                       enumerate(SYNC_MANAGER_CALLS)])
def test_sync_manager_and_queryset_methods_raise(db, name, call, twin):
    with pytest.raises(AsyncOnlyError, match=f"{twin}") as info:
        call()
    assert "async-only model" in str(info.value)


def test_sync_evaluation_raises(db):
    qs = Event.objects.filter(seats__gte=0)
    for evaluate in (list, len, bool, lambda q: q[0], lambda q: [e for e in q], pickle.dumps):
        with pytest.raises(AsyncOnlyError, match="evaluating a queryset of Event synchronously"):
            evaluate(qs)
    assert "not evaluated" in repr(qs)
    assert qs[1:3] is not None                       # slicing stays lazy


async def test_async_api_works(db):
    venue = await Venue.objects.acreate(name="hall")
    e = await Event.objects.acreate(name="a", venue=venue, seats=10)
    await Event.objects.abulk_create([Event(name="b", seats=200), Event(name="c")])
    assert await Event.objects.acount() == 3
    assert [x.name async for x in Event.objects.all()] == ["a", "b", "c"]
    assert [x.name for x in await Event.objects.filter(seats__gt=5)] == ["a", "b"]
    assert (await Event.objects.aget(name="a")).pk == e.pk
    e.seats = 11
    await e.asave()
    await e.arefresh_from_db()
    assert e.seats == 11
    assert await Event.objects.avalues_list("name", flat=True) == ["a", "b", "c"]
    assert [x.name async for x in Event.objects.aiterator(chunk_size=2)] == ["a", "b", "c"]
    qs = Event.objects.filter(seats__gt=5)
    await qs                                       # evaluated: reading it is not a query
    assert len(qs) == 2 and [x.name for x in qs] == ["a", "b"] and "Event" in repr(qs)
    assert (await e.aget_related("venue")).name == "hall"
    assert [x.name async for x in venue.events.all()] == ["a"]
    t = await Ticket.objects.acreate(event=e, code="T1")      # a normal model pointing at it
    assert (await t.aget_related("event")).name == "a"
    await e.afull_clean()
    e.full_clean(validate_unique=False)
    assert await Show.objects.big().atotal() == 0
    show = await Show.objects.acreate(title="s", seats=1)
    await show.events.aadd(e)
    assert [x.name async for x in show.events.all()] == ["a"]
    deleted, _ = await Event.objects.filter(name="c").adelete()
    assert deleted == 1 and await Event.objects.acount() == 2
    await e.adelete()
    assert await Event.objects.acount() == 1
    assert await Ticket.objects.acount() == 0      # cascade ran through the async path


async def test_instance_methods_raise(db):
    e = await Event.objects.acreate(name="a")
    for call, twin in ((e.save, "asave"), (e.delete, "adelete"),
                       (e.refresh_from_db, "arefresh_from_db"),
                       (e.validate_unique, "avalidate_unique"), (e.full_clean, "afull_clean")):
        with pytest.raises(AsyncOnlyError, match=twin):
            call()
    with pytest.raises(AsyncOnlyError, match="asave"):
        Event(name="new").save()


async def _seed():
    venue = await Venue.objects.acreate(name="hall")
    e = await Event.objects.acreate(name="a", venue=venue)
    t = await Ticket.objects.acreate(event=e, code="x")
    show = await Show.objects.acreate(title="s")
    return venue, e, t, show


def test_related_managers_and_lazy_loads_raise(db):
    import asyncio

    venue, e, t, show = asyncio.run(_seed())
    with pytest.raises(AsyncOnlyError, match="`await venue.events.aadd"):
        venue.events.add(e)
    with pytest.raises(AsyncOnlyError, match="`await venue.events.acreate"):
        venue.events.create(name="n")
    with pytest.raises(AsyncOnlyError, match="evaluating a queryset of Event"):
        list(venue.events.all())
    with pytest.raises(AsyncOnlyError, match="aadd"):
        show.events.add(e)
    fresh = Ticket.objects.get(pk=t.pk)               # Ticket itself is a normal model
    with pytest.raises(AsyncOnlyError, match="synchronous database access to the async-only "
                                             "model Event"):
        fresh.event                                   # lazy load through the base manager
    with pytest.raises(AsyncOnlyError, match="async-only model Event"):
        list(Ticket.objects.prefetch_related("event"))
    with pytest.raises(AsyncOnlyError, match="async-only model Event"):
        venue.delete()                                # cascade collection reads Event rows
    assert Venue.objects.count() == 1                 # nothing was deleted
    assert [x.code for x in Ticket.objects.select_related("event")] == ["x"]  # a join: fine
