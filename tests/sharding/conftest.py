"""Fixtures of the sharding suite.

``shard_env`` configures SQLite files as shards (``default`` + ``shard_0..``) with a
``HashShardRouter`` in ``DATABASE_ROUTERS`` and creates the tables (sharded models on
the shards, ``Country`` on ``default``). The PostgreSQL fixtures live in
``pg_support.py``.
"""
from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def configured(databases: dict, *, router=None, sharding=None, routers=None, window=3.0, create=True):
    """Configure ``databases`` (+ router) and create the suite's tables; restore after."""
    import dorm
    from dorm.db import connections
    from dorm_sharding import breaker
    from dorm_sharding.router import HashShardRouter

    from .models import SHARDED, Country

    kwargs = {"DATABASES": databases, "DATABASE_ROUTERS": routers if routers is not None else
              ([router] if router is not None else []), "READ_AFTER_WRITE_WINDOW": window}
    if sharding is not None:
        kwargs["SHARDING"] = sharding
    with dorm.settings.override(**kwargs):
        breaker.reset_breakers()
        from dorm.db.router import clear_read_after_write_window
        from dorm.db.router import router as chain

        chain.reset()
        clear_read_after_write_window()
        shard_router = router
        if shard_router is None:
            from dorm_sharding.router import shard_routers

            found = shard_routers()
            shard_router = found[0] if found else None
        if create and shard_router is not None:
            for alias in shard_router.aliases:
                if alias in databases:
                    dorm.drop_tables(SHARDED, using=alias)
                    dorm.create_tables(SHARDED, using=alias)
            if "default" in databases:
                dorm.drop_tables([Country], using="default")
                dorm.create_tables([Country], using="default")
        try:
            yield shard_router
        finally:
            connections.close_all()
            breaker.reset_breakers()
            clear_read_after_write_window()
            chain.reset()
    assert isinstance(shard_router, (HashShardRouter, type(None)))


#: test databases need no durability: no fsync per commit keeps the suite fast
FAST = {"synchronous": "OFF"}


def sqlite_db(path) -> dict:
    return {"ENGINE": "sqlite", "NAME": str(path), "OPTIONS": dict(FAST)}


def sqlite_databases(tmp_path, n: int, names=None) -> dict:
    names = names or [f"shard_{i}" for i in range(n)]
    dbs = {"default": sqlite_db(tmp_path / "default.sqlite3")}
    for name in names:
        dbs[name] = sqlite_db(tmp_path / f"{name}.sqlite3")
    return dbs


@pytest.fixture
def shard_env(tmp_path):
    """``shard_env(n=4, **router_kwargs)`` -> the router, with SQLite shards configured."""
    from dorm_sharding.router import HashShardRouter

    from .models import KEY_FIELDS

    stack = contextlib.ExitStack()

    def make(n=4, *, sharding=None, window=3.0, **router_kwargs):
        router_kwargs.setdefault("shard_models", KEY_FIELDS)
        router = HashShardRouter(num_shards=n, **router_kwargs)
        dbs = sqlite_databases(tmp_path, n, list(router.aliases))
        return stack.enter_context(configured(dbs, router=router, sharding=sharding, window=window))

    with stack:
        yield make


def rows_per_shard(model, aliases) -> dict:
    return {alias: model._meta.base_manager().using(alias).count() for alias in aliases}
