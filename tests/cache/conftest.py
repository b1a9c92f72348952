"""Fixtures of the result-cache suite: every test taking ``cache`` runs once per DB
backend (``backend``/``db`` from tests/conftest.py) and once per cache backend:
``locmem`` and ``redis`` (a real server, ``DORM_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/0``).

Redis isolation: every test gets its own ``KEY_PREFIX`` under a prefix unique to this
session, and its keys are deleted afterwards. Without a server (or without the
dorm-redis-cache plugin) the Redis half skips, unless ``DORM_REQUIRE_REDIS=1`` (CI),
which turns that into a failure, as ``DORM_REQUIRE_PG=1`` does for PostgreSQL.
"""
from __future__ import annotations

import itertools
import os
import secrets

import pytest

import dorm

REDIS_URL = os.environ.get("DORM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SESSION_PREFIX = f"dormtest:{os.getpid()}:{secrets.token_hex(4)}:"
_test_numbers = itertools.count()
SECRET = "cache-suite-secret"


def pytest_generate_tests(metafunc):
    if "cache_backend" in metafunc.fixturenames:
        metafunc.parametrize("cache_backend", ["locmem", "redis"], scope="session")


def _redis_problem() -> str | None:
    try:
        import dorm.cache.redis  # noqa: F401
    except ImportError as exc:
        return f"dorm-redis-cache is not usable: {exc}"
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"no Redis server at {REDIS_URL}: {exc}"
    finally:
        client.close()
    return None


@pytest.fixture(scope="session")
def redis_url():
    problem = _redis_problem()
    if problem is not None:
        if os.environ.get("DORM_REQUIRE_REDIS") == "1":
            pytest.fail(f"{problem} (DORM_REQUIRE_REDIS=1)")
        pytest.skip(problem)
    yield REDIS_URL
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    leftovers = list(client.scan_iter(match=SESSION_PREFIX + "*", count=500))
    if leftovers:
        client.unlink(*leftovers)
    client.close()


def cache_entry(cache_backend, request, **extra) -> dict:
    """A ``CACHES`` entry for ``cache_backend``, with a fresh Redis key prefix."""
    if cache_backend == "locmem":
        return {"BACKEND": "dorm.cache.locmem.LocMemCache", **extra}
    url = request.getfixturevalue("redis_url")
    options = {"KEY_PREFIX": f"{SESSION_PREFIX}{next(_test_numbers)}:", **extra.pop("OPTIONS", {})}
    return {"BACKEND": "dorm.cache.redis.RedisCache", "LOCATION": url, "OPTIONS": options, **extra}


@pytest.fixture
def configure_cache(db, cache_backend, request):
    """``configure_cache(**entry_extra, **settings)`` → the ``default`` cache backend;
    settings are restored and the cache emptied at teardown."""
    from dorm.cache import caches

    stack = []

    def configure(settings=None, **extra):
        entry = cache_entry(cache_backend, request, **extra)
        values = {"CACHES": {"default": entry}, "SECRET_KEY": SECRET, "CACHE_SIGNING_KEY": "",
                  "CACHE_INSECURE_PICKLE": False, "CACHE_REQUIRE_SIGNING_KEY": False,
                  **(settings or {})}
        cm = dorm.settings.override(**values)
        cm.__enter__()
        stack.append(cm)
        return caches["default"]

    yield configure
    while stack:
        try:
            caches["default"].clear()
        except Exception:  # noqa: BLE001 - a test may have configured an unreachable cache
            pass
        stack.pop().__exit__(None, None, None)


@pytest.fixture
def cache(configure_cache):
    """The ``default`` cache, configured for the backend under test (TTL 300 s)."""
    return configure_cache()


def entry_keys(backend) -> list[str]:
    """The result keys stored in ``backend`` (for tests that tamper with entries)."""
    if hasattr(backend, "_data"):
        return [k for k in backend._data if k.startswith("q:")]
    n = len(backend.prefix)
    return [k.decode()[n:] for k in backend.client.scan_iter(match=backend.prefix + "q:*")]
