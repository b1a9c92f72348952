"""The backends themselves, through the ``BaseCache`` contract (locmem and a real
Redis server), plus what is specific to each: LRU bound and threads (locmem), key
prefixes, index sets and counters (Redis)."""
import asyncio
import threading
import time

import pytest

from dorm.cache.keys import canonical_params, entry_key, query_tables
from dorm.cache.locmem import LocMemCache

from .conftest import cache_entry
from .models import Author, Book


@pytest.fixture
def store(cache_backend, request):
    entry = cache_entry(cache_backend, request)
    if cache_backend == "locmem":
        b = LocMemCache("t", "", {}, 300)
    else:
        from dorm.cache.redis import RedisCache

        b = RedisCache("t", entry["LOCATION"], entry["OPTIONS"], 300)
    yield b
    b.clear()
    b.close()


def test_contract_entries_ttl_and_tags(store):
    assert store.get("q:1") is None and store.get_many([]) == {}
    store.set("q:1", b"one", None, ["t1"])
    store.set_many({"q:2": b"two", "q:3": b"three"}, 0, ["t1", "t2"])
    store.set("q:4", b"four", 0.3, ["t2"])
    assert store.get_many(["q:1", "q:2", "q:3", "q:4", "q:x"]) == {
        "q:1": b"one", "q:2": b"two", "q:3": b"three", "q:4": b"four"}
    time.sleep(0.45)
    assert store.get("q:4") is None  # expired
    v1, v2 = store.get_versions(["t1", "t2"])
    assert v1 > 1000 and v2 > 1000 and v1 != v2  # random starts, not 0/1
    assert store.get_versions(["t1", "t2"]) == [v1, v2]  # stable
    store.bump(["t1"])
    assert store.get_versions(["t1", "t2"]) == [v1 + 1, v2]
    assert store.get_many(["q:1", "q:2", "q:3"]) == {}  # every key recorded under t1 is gone
    store.set("q:5", b"five", 0, ["t2"])
    store.bump(["t1", "t2"])
    assert store.get("q:5") is None and store.get_versions(["t1", "t2"]) == [v1 + 2, v2 + 1]


async def test_contract_async_twins(store):
    await store.aset("q:a", b"A", 0, ["ta"])
    assert await store.aget("q:a") == b"A"
    await store.aset_many({"q:b": b"B"}, None, ["ta"])
    assert await store.aget_many(["q:a", "q:b"]) == {"q:a": b"A", "q:b": b"B"}
    (v,) = await store.aget_versions(["ta"])
    await store.abump(["ta"])
    assert await store.aget_versions(["ta"]) == [v + 1]
    assert await store.aget_many(["q:a", "q:b"]) == {}
    await store.aclear()


def test_concurrent_bumps_are_atomic(store):
    (start,) = store.get_versions(["c"])

    def work():
        for _ in range(50):
            store.bump(["c"])
            store.set("q:c", b"x", 0, ["c"])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get_versions(["c"]) == [start + 200]


def test_locmem_is_bounded_lru():
    b = LocMemCache("t", "", {"MAX_ENTRIES": 3}, 300)
    for i in range(3):
        b.set(f"q:{i}", b"v", 0, ["t"])
    assert b.get("q:0") == b"v"  # now most recently used
    b.set("q:3", b"v", 0, ["t"])
    assert len(b) == 3 and b.get("q:1") is None and b.get("q:0") == b"v"
    b.bump(["t"])
    assert len(b) == 0 and not b._tagged


def test_locmem_threads_hammering():
    b = LocMemCache("t", "", {"MAX_ENTRIES": 50}, 300)
    errors = []

    def work(n):
        try:
            for i in range(300):
                b.set(f"q:{n}:{i % 70}", b"v", 0.05 if i % 3 else 0, [f"t{i % 5}"])
                b.get_many([f"q:{n}:{i % 70}", f"q:{n}:{(i * 7) % 70}"])
                if i % 25 == 0:
                    b.bump([f"t{i % 5}"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(b) <= 50
    assert all(k in b._data for keys in b._tagged.values() for k in keys)  # index consistent


def test_redis_prefix_isolation_index_and_clear(cache_backend, request):
    if cache_backend != "redis":
        pytest.skip("Redis layout")
    from dorm.cache.redis import RedisCache

    e1, e2 = cache_entry("redis", request), cache_entry("redis", request)
    one = RedisCache("one", e1["LOCATION"], e1["OPTIONS"], 300)
    two = RedisCache("two", e2["LOCATION"], e2["OPTIONS"], 300)
    try:
        one.set("q:k", b"1", 10, ["tab"])
        two.set("q:k", b"2", 0, ["tab"])
        assert (one.get("q:k"), two.get("q:k")) == (b"1", b"2")
        r = one.client
        assert r.smembers(one.prefix + "t:tab") == {(one.prefix + "q:k").encode()}
        assert 0 < r.ttl(one.prefix + "t:tab") <= 11  # the index lives as long as its entries
        assert r.ttl(two.prefix + "t:tab") == -1  # timeout=0: no expiry
        assert 0 < r.pttl(one.prefix + "q:k") <= 10_000
        one.bump(["tab"])
        assert not r.exists(one.prefix + "t:tab") and one.get("q:k") is None
        assert two.get("q:k") == b"2"  # another prefix is another cache
        r.delete(one.prefix + "v:tab")  # a counter lost (eviction): never back to an old value
        (v,) = one.get_versions(["tab"])
        assert v > 1000
        one.clear()
        assert list(r.scan_iter(match=one.prefix + "*")) == [] and two.get("q:k") == b"2"
    finally:
        for b in (one, two):
            b.clear()
            b.close()


def test_redis_async_runs_in_a_thread(cache_backend, request):
    if cache_backend != "redis":
        pytest.skip("Redis layout")
    from dorm.cache.redis import RedisCache

    e = cache_entry("redis", request)
    b = RedisCache("t", e["LOCATION"], e["OPTIONS"], 300)

    async def main():
        await asyncio.gather(*(b.aset(f"q:{i}", b"v", 0, ["t"]) for i in range(20)))
        return await b.aget_many([f"q:{i}" for i in range(20)])

    try:
        assert len(asyncio.run(main())) == 20
        assert len(asyncio.run(main())) == 20  # a second event loop: same client, no loop binding
    finally:
        b.clear()
        b.close()


# ---- keys -----------------------------------------------------------------------------------------
def test_canonical_params_are_typed():
    assert canonical_params([1]) != canonical_params(["1"]) != canonical_params([1.0])
    assert canonical_params([True]) != canonical_params([1])
    assert canonical_params([None, b"x"]) == canonical_params([None, b"x"])


def test_query_tables_finds_joined_registered_tables():
    a, b = Author._meta.db_table, Book._meta.db_table
    sql = f'SELECT "{b}"."id" FROM "{b}" INNER JOIN "{a}" ON ("{a}"."id" = "{b}"."author_id")'
    assert query_tables(Book, sql) == tuple(sorted((a, b)))
    assert query_tables(Book, f'SELECT 1 FROM "{b}" WHERE "x" = \'{a}\'') == (b,)  # a literal is no table
    assert query_tables(Author, "SELECT 1") == (a,)  # the model's own table, always
    assert query_tables(Book, f"SELECT 1 FROM `{a}`", quote="`") == tuple(sorted((a, b)))


def test_entry_key_covers_every_part():
    base = ("rows", Book, "default", ("t",), (1,), "SELECT 1", [1], "shape")
    key = entry_key(*base)
    assert key.startswith("q:") and len(key) == 42 and entry_key(*base) == key
    for i, other in [(0, "count"), (1, Author), (2, "replica"), (4, (2,)), (5, "SELECT 2"),
                     (6, [2]), (7, "other")]:
        changed = list(base)
        changed[i] = other
        assert entry_key(*changed) != key, i
