"""``Manager.cache_get`` / ``cache_get_many`` and their async twins."""
import pytest

import dorm
from dorm.test import capture_queries

from .models import ALL, Author

MODELS = ALL


class Ranked(dorm.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(rank__gte=1)


class RankedAuthor(Author):
    """A proxy with a filtering manager: its entries must not mix with Author's."""

    ranked = Ranked()

    class Meta:
        proxy = True
        app_label = "cache_tests"


@pytest.fixture
def authors(cache):
    return [Author.objects.create(name=n, rank=i) for i, n in enumerate(["a", "b", "c", "d"])]


def test_cache_get_hits_and_misses(authors):
    a = authors[1]
    with capture_queries() as ctx:
        assert Author.objects.cache_get(pk=a.pk).name == "b"
    assert len(ctx) == 1
    with capture_queries() as ctx:
        got = Author.objects.cache_get(pk=a.pk)
        also = Author.objects.cache_get(pk=str(a.pk))  # normalised: same entry
        via_qs = Author.objects.all().cache().get(pk=a.pk)  # shares the entry
    assert len(ctx) == 0
    assert got == also == via_qs == a and got is not also
    with pytest.raises(Author.DoesNotExist, match="pk=999"):
        Author.objects.cache_get(pk=999)
    a.name = "B"
    a.save()
    with capture_queries() as ctx:
        assert Author.objects.cache_get(pk=a.pk).name == "B"
    assert len(ctx) == 1


def test_cache_get_many_one_query_for_the_misses(authors):
    pks = [a.pk for a in authors]
    Author.objects.cache_get(pk=pks[0])
    Author.objects.cache_get(pk=pks[2])
    with capture_queries() as ctx:
        got = Author.objects.cache_get_many(pks=[*pks, 9999])
    assert len(ctx) == 1 and "IN" in ctx.queries[0]["sql"].upper()
    assert list(got) == pks and [o.name for o in got.values()] == ["a", "b", "c", "d"]
    with capture_queries() as ctx:
        again = Author.objects.cache_get_many(pks=reversed(pks))
    assert len(ctx) == 0 and list(again) == pks[::-1]
    assert Author.objects.cache_get_many(pks=[]) == {}
    Author.objects.filter(pk=pks[3]).delete()
    with capture_queries() as ctx:
        assert list(Author.objects.cache_get_many(pks=pks)) == pks[:3]
    assert len(ctx) == 1


def test_entries_follow_the_managers_queryset(authors):
    a0 = authors[0]  # rank 0: not in RankedAuthor.ranked
    assert Author.objects.cache_get(pk=a0.pk).name == "a"
    with pytest.raises(RankedAuthor.DoesNotExist):
        RankedAuthor.ranked.cache_get(pk=a0.pk)
    assert set(RankedAuthor.ranked.cache_get_many(pks=[a.pk for a in authors])) == {
        a.pk for a in authors[1:]}
    Author.objects.filter(pk=authors[1].pk).update(rank=0)  # the proxy shares the table version
    assert set(RankedAuthor.ranked.cache_get_many(pks=[a.pk for a in authors])) == {
        a.pk for a in authors[2:]}


def test_cache_get_argument_errors(authors):
    with pytest.raises(TypeError):
        Author.objects.cache_get(authors[0].pk)  # keyword-only
    with pytest.raises(ValueError, match="primary keys must be values"):
        Author.objects.cache_get(pk=None)
    with pytest.raises(TypeError, match="iterable of primary keys"):
        Author.objects.cache_get_many(pks=5)
    with pytest.raises(ValueError, match="CACHES has no alias 'nope'"):
        Author.objects.cache_get_many(pks=[1], using="nope")


async def test_async_twins(authors):
    pks = [a.pk for a in authors]
    with capture_queries() as ctx:
        assert (await Author.objects.acache_get(pk=pks[0])).name == "a"
        many = await Author.objects.acache_get_many(pks=pks)
    assert len(ctx) == 2 and [o.name for o in many.values()] == ["a", "b", "c", "d"]
    with capture_queries() as ctx:
        assert (await Author.objects.acache_get(pk=pks[3])).name == "d"
        assert list(await Author.objects.acache_get_many(pks=pks[:2])) == pks[:2]
        assert Author.objects.cache_get(pk=pks[1]).name == "b"  # sync reads what async stored
    assert len(ctx) == 0
    with pytest.raises(Author.DoesNotExist):
        await Author.objects.acache_get(pk=12345)
    await authors[0].adelete()
    assert list(await Author.objects.acache_get_many(pks=pks)) == pks[1:]
