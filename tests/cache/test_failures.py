"""A cache that fails never fails a query; wrong settings say what is wrong."""
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import dorm
from dorm.cache import caches
from dorm.exceptions import ImproperlyConfigured, PluginNotInstalled
from dorm.test import capture_queries

from .conftest import SECRET
from .models import ALL, Author, Book

MODELS = ALL


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def settings_block():
    blocks = []

    def enter(**values):
        cm = dorm.settings.override(SECRET_KEY=SECRET, **values)
        cm.__enter__()
        blocks.append(cm)

    yield enter
    while blocks:
        blocks.pop().__exit__(None, None, None)


def exercise():
    """Reads and writes through every cached path; returns what they saw."""
    a = Author.objects.create(name="a", rank=1)
    Book.objects.create(title="t", author=a)
    seen = [
        [x.name for x in Author.objects.all().cache()],
        Author.objects.all().cache().count(),
        Author.objects.all().cache().get(pk=a.pk).name,
        Author.objects.cache_get(pk=a.pk).name,
        sorted(Author.objects.cache_get_many(pks=[a.pk])),
    ]
    Author.objects.filter(pk=a.pk).update(rank=2)
    seen.append(Author.objects.all().cache().filter(rank=2).count())
    a.delete()
    seen.append(Author.objects.all().cache().count())
    return seen


def redis_down(settings_block):
    pytest.importorskip("dorm.cache.redis")
    settings_block(CACHES={"default": {"BACKEND": "dorm.cache.redis.RedisCache",
                                       "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"}})


def assert_warned(caplog):
    warnings = [r for r in caplog.records if r.name == "dorm.cache" and r.levelno == logging.WARNING]
    assert warnings and "using the database" in warnings[0].getMessage()
    assert "RedisCache" in warnings[0].getMessage()


def test_redis_down_queries_still_work_and_warn(db, settings_block, caplog):
    redis_down(settings_block)
    with caplog.at_level(logging.WARNING, logger="dorm.cache"):
        seen = exercise()
    assert seen == [["a"], 1, "a", "a", seen[4], 1, 0] and len(seen[4]) == 1
    assert_warned(caplog)


async def test_redis_down_async(db, settings_block, caplog):
    redis_down(settings_block)
    with caplog.at_level(logging.WARNING, logger="dorm.cache"):
        a = await Author.objects.acreate(name="a")
        assert [x.name async for x in Author.objects.all().cache()] == ["a"]
        assert await Author.objects.all().cache().acount() == 1
        assert (await Author.objects.acache_get(pk=a.pk)).name == "a"
        assert list(await Author.objects.acache_get_many(pks=[a.pk])) == [a.pk]
        await a.adelete()
        assert await Author.objects.all().cache().acount() == 0
    assert_warned(caplog)


def test_flaky_backend_never_serves_what_it_failed_to_invalidate(db, settings_block, caplog):
    settings_block(CACHES={"default": {"BACKEND": "tests.cache.backends.FlakyCache"}})
    backend = caches["default"]
    backend.retry_after = 0.2
    Author.objects.create(name="a")
    assert Author.objects.all().cache().count() == 1
    with capture_queries() as ctx:
        assert Author.objects.all().cache().count() == 1
    assert len(ctx) == 0
    backend.broken = True
    with caplog.at_level(logging.WARNING, logger="dorm.cache"):
        Author.objects.create(name="b")  # the bump fails: remembered
        assert Author.objects.all().cache().count() == 2  # the database answers
    assert "failed in bump()" in caplog.text
    backend.broken = False
    assert Author.objects.all().cache().count() == 2  # still skipped (retry_after)
    time.sleep(0.3)
    with capture_queries() as ctx:
        assert Author.objects.all().cache().count() == 2  # pending bump delivered first
    assert len(ctx) == 1 and not backend._pending_bumps
    with capture_queries() as ctx:
        assert Author.objects.all().cache().count() == 2
    assert len(ctx) == 0


def test_warnings_are_rate_limited(db, settings_block, caplog):
    settings_block(CACHES={"default": {"BACKEND": "tests.cache.backends.FlakyCache"}})
    backend = caches["default"]
    backend.retry_after = 0
    Author.objects.create(name="a")
    backend.broken = True
    with caplog.at_level(logging.WARNING, logger="dorm.cache"):
        for _ in range(5):
            assert Author.objects.all().cache().count() == 1
    assert len([r for r in caplog.records if "get_versions" in r.getMessage()]) == 1


def test_misconfigured_cache_raises_on_read_but_never_fails_a_write(db, settings_block, caplog):
    settings_block(CACHES={"default": {"BACKEND": "no_such_pkg.Cache"}})
    with caplog.at_level(logging.ERROR, logger="dorm.cache"):
        a = Author.objects.create(name="a")  # the write happened; the error is logged
    assert "misconfigured" in caplog.text and Author.objects.count() == 1
    with pytest.raises(ImproperlyConfigured, match="cannot import 'no_such_pkg'"):
        list(Author.objects.all().cache())
    a.delete()


@pytest.mark.parametrize("entry, message", [
    ("not a dict", "CACHES\\['default'\\] must be a dict"),
    ({"BACKEND": "dorm.cache.locmem.LocMemCache", "LOCATIONS": "x"},
     "unknown key\\(s\\) 'LOCATIONS'; valid: BACKEND, LOCATION, OPTIONS, TTL"),
    ({}, "\\['BACKEND'\\] must be the dotted path.*built-in: dorm.cache.locmem.LocMemCache"),
    ({"BACKEND": "LocMemCache"}, "must be the dotted path"),
    ({"BACKEND": "dorm.cache.locmem.NoSuch"}, "has no BaseCache subclass 'NoSuch'"),
    ({"BACKEND": "dorm.cache.locmem.LocMemCache", "TTL": -1}, "\\['TTL'\\] must be seconds >= 0"),
    ({"BACKEND": "dorm.cache.locmem.LocMemCache", "TTL": "300"}, "\\['TTL'\\] must be seconds"),
    ({"BACKEND": "dorm.cache.locmem.LocMemCache", "OPTIONS": []}, "\\['OPTIONS'\\] must be a dict"),
    ({"BACKEND": "dorm.cache.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 0}},
     "\\['OPTIONS'\\]\\['MAX_ENTRIES'\\] must be a positive integer"),
    ({"BACKEND": "dorm.cache.locmem.LocMemCache", "OPTIONS": {"MAX": 3}},
     "unknown key\\(s\\) 'MAX' for LocMemCache; valid: MAX_ENTRIES"),
    ({"BACKEND": "dorm.cache.redis.RedisCache"}, "\\['LOCATION'\\] must be a Redis URL"),
    ({"BACKEND": "dorm.cache.redis.RedisCache", "LOCATION": "http://x"}, "must be a Redis URL"),
    ({"BACKEND": "dorm.cache.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
      "OPTIONS": {"PREFIX": "x"}}, "unknown key\\(s\\) 'PREFIX'; RedisCache knows 'KEY_PREFIX'"),
    ({"BACKEND": "dorm.cache.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
      "OPTIONS": {"sockettimeout": 1}}, "'sockettimeout' that redis.Redis does not take"),
    ({"BACKEND": "dorm.cache.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
      "OPTIONS": {"decode_responses": True}}, "decode_responses'\\] must be False"),
    ({"BACKEND": "dorm.cache.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
      "OPTIONS": {"KEY_PREFIX": ""}}, "KEY_PREFIX'\\] must be a non-empty string"),
])
def test_bad_entries_name_the_setting(db, settings_block, entry, message):
    if "redis" in str(entry):
        pytest.importorskip("dorm.cache.redis")
    settings_block(CACHES={"default": entry})
    with pytest.raises(ImproperlyConfigured, match=message):
        Author.objects.all().cache().count()


def test_unknown_alias_lists_the_configured_ones(db, settings_block):
    settings_block(CACHES={"main": {"BACKEND": "dorm.cache.locmem.LocMemCache"}})
    with pytest.raises(ValueError, match="no alias 'default'; configured: 'main'"):
        Author.objects.all().cache()
    with pytest.raises(ImproperlyConfigured, match="no alias 'x'; configured: 'main'"):
        caches["x"]
    Author.objects.create(name="a")
    assert Author.objects.all().cache(using="main").count() == 1


def test_redis_backend_without_the_plugin_names_the_distribution():
    code = textwrap.dedent("""
        import dorm
        from dorm.exceptions import PluginNotInstalled
        dorm.configure(DATABASES={"default": {"ENGINE": "sqlite", "NAME": ":memory:"}},
                       CACHES={"default": {"BACKEND": "dorm.cache.redis.RedisCache",
                                           "LOCATION": "redis://127.0.0.1:6379/0"}})
        class A(dorm.Model):
            class Meta:
                app_label = "x"
        try:
            A.objects.all().cache().count()
        except PluginNotInstalled as exc:
            print(exc.distribution, "|", exc)
    """)
    env = {**os.environ, "DORM_DISABLED_PLUGINS": "redis_cache"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    dist, _, message = out.stdout.strip().partition(" | ")
    assert dist == "dorm-redis-cache"
    assert "CACHES['default']['BACKEND'] = 'dorm.cache.redis.RedisCache'" in message
    assert "dorm-redis-cache" in message
    assert issubclass(PluginNotInstalled, ImproperlyConfigured)
