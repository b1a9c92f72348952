"""Routing on SQLite shards: each key's rows live on its shard only; no key -> error."""
from __future__ import annotations

import asyncio
import decimal

import dorm
import pytest
from dorm.contrib.sharding import (
    HashShardRouter,
    ShardKeyMismatch,
    ShardKeyRequired,
    get_shard_key,
    with_shard_key,
)
from dorm.db import router as chain

from .conftest import configured, rows_per_shard, sqlite_databases
from .models import Country, Event, Order, OrderLine


def test_crud_under_key_touches_only_its_shard(shard_env):
    router = shard_env(4)
    key = 42
    home = router.shard_for(key)
    with with_shard_key(key) as pinned:
        assert pinned == key and get_shard_key() == key
        order = Order.objects.create(customer_id=key, total="10.50")
        assert order._state.db == home
        assert Order.objects.count() == 1
        fetched = Order.objects.get(pk=order.pk)
        assert fetched._state.db == home
        fetched.total = decimal.Decimal("11.00")
        fetched.save()
        Order.objects.filter(pk=order.pk).update(status="paid")
        fetched.refresh_from_db()
        assert (fetched.total, fetched.status) == (decimal.Decimal("11.00"), "paid")
    assert get_shard_key() is None
    counts = rows_per_shard(Order, router.aliases)
    assert counts == {a: (1 if a == home else 0) for a in router.aliases}
    with with_shard_key(key):
        Order.objects.get(pk=order.pk).delete()
    assert sum(rows_per_shard(Order, router.aliases).values()) == 0


def test_missing_key_raises_naming_the_model(shard_env):
    shard_env(4)
    with pytest.raises(ShardKeyRequired, match=r"Order is sharded across 4 shards.*with_shard_key"):
        Order.objects.count()
    with pytest.raises(ShardKeyRequired, match="Order"):
        list(Order.objects.filter(status="new"))
    with pytest.raises(ShardKeyRequired, match="OrderLine"):
        OrderLine.objects.filter(sku="x").exists()
    with pytest.raises(ShardKeyRequired):
        Order.objects.bulk_create([Order(customer_id=1, total=1)])
    # nothing went to default (no table there either way: the error comes first)
    assert not dorm.db.connections["default"].table_exists(Order._meta.db_table)


def test_write_then_read_with_other_or_no_key(shard_env):
    """Read-after-write stickiness must not pin a sharded model to the last shard."""
    router = shard_env(4, window=30.0)
    a, b = 1, 3
    assert router.shard_for(a) != router.shard_for(b)
    with with_shard_key(a):
        Order.objects.create(customer_id=a, total=1)
    with with_shard_key(b):
        assert Order.objects.count() == 0          # b's shard, not a's
    with pytest.raises(ShardKeyRequired):
        Order.objects.count()                      # still an error, not a's shard


def test_fetched_instance_saves_to_its_shard_outside_key(shard_env):
    router = shard_env(4)
    with with_shard_key(7):
        order = Order.objects.create(customer_id=7, total=5)
    order.status = "shipped"
    order.save()                                   # _state.db: no key needed
    with with_shard_key(7):
        assert Order.objects.get(pk=order.pk).status == "shipped"
    order.delete()
    assert sum(rows_per_shard(Order, router.aliases).values()) == 0


def test_new_instance_placed_by_its_key_field(shard_env):
    router = shard_env(4)
    order = Order(customer_id=1000, total=3)
    order.save()                                   # no context key: the key field decides
    assert order._state.db == router.shard_for(1000)
    with with_shard_key(1000):
        assert Order.objects.filter(pk=order.pk).exists()
    other = next(k for k in range(100) if router.shard_for(k) != router.shard_for(1))
    with with_shard_key(1), pytest.raises(ShardKeyMismatch, match=f"customer_id={other}"):
        Order(customer_id=other, total=1).save()
    with with_shard_key(1):
        same = next(k for k in range(2, 100) if router.shard_for(k) == router.shard_for(1))
        Order(customer_id=same, total=1).save()    # another key, same shard: fine


def test_related_objects_stay_on_the_shard(shard_env):
    router = shard_env(4)
    with with_shard_key(5):
        order = Order.objects.create(customer_id=5, total=2)
        OrderLine.objects.create(order=order, customer_id=5, sku="a")
        OrderLine.objects.create(order=order, customer_id=5, sku="b")
        assert sorted(order.lines.values_list("sku", flat=True)) == ["a", "b"]
        line = OrderLine.objects.select_related("order").get(sku="a")
        assert line.order.pk == order.pk and line._state.db == router.shard_for(5)
    assert router.allow_relation(order, line) is True


def test_unsharded_models_use_default(shard_env):
    router = shard_env(4)
    Country.objects.create(code="fr", name="France")
    with with_shard_key(1):
        Country.objects.create(code="de", name="Germany")
        assert Country.objects.count() == 2
    assert Country.objects.using("default").count() == 2
    assert chain.db_for_read(Country) == "default"
    for alias in router.aliases:
        assert not dorm.db.connections[alias].table_exists(Country._meta.db_table)


def test_allow_migrate_and_relation(shard_env):
    router = shard_env(4)
    assert router.allow_migrate("shard_0", "shardtest", "order") is True
    assert router.allow_migrate("default", "shardtest", "order") is False
    assert router.allow_migrate("shard_2", "shardtest", "country") is False
    assert router.allow_migrate("default", "shardtest", "country") is None
    assert router.allow_migrate("shard_0", "shardtest", model_name=None) is None
    assert chain.allow_migrate_model("shard_1", Order) is True
    assert chain.allow_migrate_model("default", Order) is False
    assert chain.allow_migrate_model("default", Country) is True
    assert chain.allow_migrate_model("shard_1", Country) is False
    loose = HashShardRouter(num_shards=2, shard_models=["shardtest.Order"], unsharded_on_shards=True)
    assert loose.allow_migrate("shard_1", "shardtest", "country") is None
    a, b = Order(customer_id=1, total=1), Order(customer_id=2, total=1)
    a._state.db, b._state.db = "shard_0", "shard_1"
    assert router.allow_relation(a, b) is False
    b._state.db = "shard_0"
    assert router.allow_relation(a, b) is True


def test_model_matching_by_label_and_subclass(shard_env):
    router = HashShardRouter(num_shards=2, shard_models=["shardtest.Order", Event])
    assert router.is_sharded(Order) and router.is_sharded(Event)
    assert not router.is_sharded(Country) and not router.is_sharded(OrderLine)
    everything = HashShardRouter(num_shards=2)
    assert everything.is_sharded(Country)

    class ProxyOrder(Order):
        class Meta:
            proxy = True
            app_label = "shardtest"

    assert router.is_sharded(ProxyOrder)
    with pytest.raises(TypeError):
        HashShardRouter(num_shards=2, shard_models=[object()])


def test_settings_sharding_answers_routing_hooks(tmp_path):
    """settings.SHARDING builds a router registered as a plugin (pluggy routing hooks),
    without any DATABASE_ROUTERS entry."""
    from dorm import plugins
    from dorm_sharding.plugin import SETTINGS_ROUTER_NAME

    dbs = sqlite_databases(tmp_path, 3)
    sharding = {"NUM_SHARDS": 3, "MODELS": {"shardtest.Order": "customer_id",
                                            "shardtest.OrderLine": "customer_id",
                                            "shardtest.Event": "customer_id"},
                "BREAKER": {"failure_threshold": 3, "open_window_s": 5}}
    with configured(dbs, sharding=sharding) as router:
        assert plugins.get_plugin_manager().get_plugin(SETTINGS_ROUTER_NAME) is router
        assert plugins.has_impl("dorm_db_for_read")
        with with_shard_key(9):
            Order.objects.create(customer_id=9, total=1)
            assert Order.objects.count() == 1
        assert rows_per_shard(Order, router.aliases)[router.shard_for(9)] == 1
        with pytest.raises(ShardKeyRequired):
            Order.objects.count()
    assert plugins.get_plugin_manager().get_plugin(SETTINGS_ROUTER_NAME) is None


def test_bad_sharding_settings():
    with pytest.raises(dorm.ImproperlyConfigured, match="unknown key"), dorm.settings.override(
            SHARDING={"NUM_SHARD": 3}):
        pass
    with pytest.raises(dorm.ImproperlyConfigured, match="failure_threshold"), dorm.settings.override(
            SHARDING={"BREAKER": {"failure_threshold": 0}}):
        pass
    with pytest.raises(dorm.ImproperlyConfigured, match="num_shards"), dorm.settings.override(
            SHARDING={"NUM_SHARDS": 0}):
        pass


def test_router_registered_as_plugin(tmp_path):
    from dorm import plugins

    from .models import KEY_FIELDS

    router = HashShardRouter(num_shards=2, shard_models=KEY_FIELDS, aliases=["left", "right"])
    dbs = sqlite_databases(tmp_path, 2, ["left", "right"])
    with plugins.registered(router), configured(dbs, router=None, routers=[]):
        for alias in router.aliases:
            dorm.create_tables([Order], using=alias)
        with with_shard_key("x"):
            Order.objects.create(customer_id=1, total=1)
        assert rows_per_shard(Order, router.aliases)[router.shard_for("x")] == 1
        with pytest.raises(ShardKeyRequired):
            Order.objects.count()


def test_dotted_path_router(tmp_path, monkeypatch):
    import sys
    import types

    from .models import KEY_FIELDS

    module = types.ModuleType("shard_settings_mod")
    module.router = HashShardRouter(num_shards=2, shard_models=KEY_FIELDS)
    monkeypatch.setitem(sys.modules, "shard_settings_mod", module)
    with configured(sqlite_databases(tmp_path, 2), routers=["shard_settings_mod.router"]) as router:
        assert router is module.router
        with with_shard_key(3):
            Order.objects.create(customer_id=3, total=1)
            assert Order.objects.count() == 1


def test_nested_keys_and_threads(shard_env):
    import threading

    router = shard_env(4)
    keys = [k for k in range(40)]
    with with_shard_key(1):
        with with_shard_key(2):
            assert get_shard_key() == 2
        assert get_shard_key() == 1
    errors = []

    def worker(key):
        try:
            with with_shard_key(key):
                Order.objects.create(customer_id=key, total=key)
                assert Order.objects.filter(customer_id=key).count() == 1
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    counts = rows_per_shard(Order, router.aliases)
    expected = {a: sum(1 for k in keys if router.shard_for(k) == a) for a in router.aliases}
    assert counts == expected


async def test_async_tasks_keep_their_own_key(shard_env):
    router = shard_env(4)

    async def work(key):
        async with with_shard_key(key):
            await Order.objects.acreate(customer_id=key, total=key)
            await asyncio.sleep(0)
            assert get_shard_key() == key
            return await Order.objects.filter(customer_id=key).acount()

    keys = list(range(12))
    assert await asyncio.gather(*(work(k) for k in keys)) == [1] * len(keys)
    with pytest.raises(ShardKeyRequired):
        await Order.objects.acount()
    async with with_shard_key(keys[0]):
        obj = await Order.objects.aget(customer_id=keys[0])
        assert obj._state.db == router.shard_for(keys[0])
    counts = rows_per_shard(Order, router.aliases)
    assert counts == {a: sum(1 for k in keys if router.shard_for(k) == a) for a in router.aliases}


def test_with_shard_key_none_refused():
    with pytest.raises(ValueError, match="None"):
        with_shard_key(None)


def test_no_statement_hook_without_a_shard_router(tmp_path):
    """Installing dorm-sharding costs nothing per statement until a router is configured."""
    from dorm import plugins

    dbs = sqlite_databases(tmp_path, 2)
    with dorm.settings.override(DATABASES=dbs, DATABASE_ROUTERS=[]):
        assert not plugins.has_impl("dorm_execute", include_builtin=False)
        with configured(dbs, router=HashShardRouter(num_shards=2)):
            assert plugins.has_impl("dorm_execute", include_builtin=False)
        assert not plugins.has_impl("dorm_execute", include_builtin=False)
