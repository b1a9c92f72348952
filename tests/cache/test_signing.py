"""Signed pickles: tampered, unsigned and foreign payloads are misses; the signing-key
settings (CACHE_SIGNING_KEY, SECRET_KEY, ephemeral key, CACHE_REQUIRE_SIGNING_KEY,
CACHE_INSECURE_PICKLE)."""
import logging
import pickle

import pytest

import dorm
from dorm.cache import signing
from dorm.exceptions import ImproperlyConfigured
from dorm.test import capture_queries

from .conftest import entry_keys
from .models import ALL, Author

MODELS = ALL


def cached_names():
    return [a.name for a in Author.objects.all().cache()]


def queries(fn):
    with capture_queries() as ctx:
        result = fn()
    return result, len(ctx)


def test_tampered_payloads_are_misses(cache):
    Author.objects.create(name="real")
    assert cached_names() == ["real"]
    (key,) = entry_keys(cache)
    payload = cache.get(key)
    forged = pickle.dumps([Author(id=1, name="forged")])
    variants = {
        "flipped body byte": payload[:-1] + bytes([payload[-1] ^ 1]),
        "flipped mac byte": payload[:10] + bytes([payload[10] ^ 1]) + payload[11:],
        "unsigned pickle": forged,
        "forged body, old mac": payload[:5 + 32] + forged,
        "truncated": payload[:20],
        "empty": b"",
    }
    for name, bad in variants.items():
        cache.set(key, bad, 0)
        assert queries(cached_names) == (["real"], 1), name  # a miss: the database answered
        assert queries(cached_names) == (["real"], 0), name  # and the good value is back


def test_a_valid_entry_copied_under_another_key_is_a_miss(cache):
    Author.objects.create(name="a", rank=1)
    Author.objects.create(name="b", rank=2)
    assert [a.name for a in Author.objects.all().cache().filter(rank=1)] == ["a"]
    (key_a,) = entry_keys(cache)
    assert [a.name for a in Author.objects.all().cache().filter(rank=2)] == ["b"]
    (key_b,) = set(entry_keys(cache)) - {key_a}
    cache.set(key_b, cache.get(key_a), 0)  # someone with write access to the server
    result, n = queries(lambda: [a.name for a in Author.objects.all().cache().filter(rank=2)])
    assert (result, n) == (["b"], 1)


def test_signing_key_settings_decide_who_can_read(configure_cache):
    configure_cache(settings={"CACHE_SIGNING_KEY": "k1"})
    Author.objects.create(name="x")
    assert cached_names() == ["x"]
    assert queries(cached_names)[1] == 0
    dorm.configure(CACHE_SIGNING_KEY="k2")  # another key: entries signed with k1 are misses
    assert queries(cached_names) == (["x"], 1)
    assert queries(cached_names) == (["x"], 0)  # re-stored, signed with k2
    dorm.configure(CACHE_SIGNING_KEY="k1")
    assert queries(cached_names) == (["x"], 1)
    # CACHE_SIGNING_KEY wins over SECRET_KEY; SECRET_KEY is the fallback; both derived
    dorm.configure(CACHE_SIGNING_KEY="", SECRET_KEY="sk")
    from_secret = signing.signing_key()
    assert len(from_secret) == 32 and b"sk" not in from_secret
    dorm.configure(CACHE_SIGNING_KEY="sk", SECRET_KEY="other")
    assert signing.signing_key() == from_secret
    dorm.configure(CACHE_SIGNING_KEY=b"sk")
    assert signing.signing_key() == from_secret


def test_no_key_means_an_ephemeral_one(configure_cache, caplog):
    configure_cache(settings={"SECRET_KEY": "", "CACHE_SIGNING_KEY": ""})
    Author.objects.create(name="x")
    with caplog.at_level(logging.WARNING, logger="dorm.cache"):
        assert cached_names() == ["x"]
    assert "random per-process key" in caplog.text
    assert queries(cached_names) == (["x"], 0)  # works inside this process
    signing.reset()  # what another process has: another random key
    assert queries(cached_names) == (["x"], 1)


def test_require_signing_key(configure_cache):
    configure_cache(settings={"SECRET_KEY": "", "CACHE_SIGNING_KEY": "",
                              "CACHE_REQUIRE_SIGNING_KEY": True})
    Author.objects.create(name="x")
    with pytest.raises(ImproperlyConfigured, match="CACHE_REQUIRE_SIGNING_KEY=True"):
        list(Author.objects.all().cache())
    with pytest.raises(ImproperlyConfigured, match="CACHE_SIGNING_KEY"):
        Author.objects.cache_get(pk=1)
    assert [a.name for a in Author.objects.all()] == ["x"]  # uncached reads are unaffected
    configure_cache(settings={"SECRET_KEY": "now-set", "CACHE_REQUIRE_SIGNING_KEY": True})
    assert cached_names() == ["x"]


def test_insecure_pickle_skips_verification(configure_cache):
    configure_cache(settings={"CACHE_SIGNING_KEY": "k1"})
    Author.objects.create(name="x")
    assert cached_names() == ["x"]
    dorm.configure(CACHE_SIGNING_KEY="k2", CACHE_INSECURE_PICKLE=True)
    assert queries(cached_names) == (["x"], 0)  # k1's entry loads unverified
    dorm.configure(CACHE_INSECURE_PICKLE=False)
    assert queries(cached_names) == (["x"], 1)


class LambdaField(dorm.IntegerField):
    """Loads values as lambdas, which pickle refuses."""

    def from_db_value(self, value, connection):
        return lambda: value


def test_unpicklable_results_are_returned_not_cached(cache, caplog):
    Author.objects.create(name="x")
    qs = Author.objects.all().cache().annotate(n=dorm.Value(1, output_field=LambdaField()))
    with caplog.at_level(logging.WARNING, logger="dorm.cache"):
        rows = list(qs)
    assert rows[0].name == "x" and rows[0].n() == 1 and "cannot be pickled" in caplog.text
    assert queries(lambda: list(qs.all()))[1] == 1  # a new evaluation: not cached


def test_signing_round_trip_unit():
    value = {"rows": [1, 2.5, "x", b"y", None]}
    with dorm.settings.override(CACHE_SIGNING_KEY="unit"):
        data = signing.dumps(value, "q:1")
        assert data.startswith(b"dorm1") and signing.loads(data, "q:1") == value
        assert signing.loads(data, "q:2") is signing.MISS
        assert signing.loads("not bytes", "q:1") is signing.MISS
        assert signing.loads(None, "q:1") is signing.MISS
