"""Rebalancing SQLite shards: 4 -> 5 moves about 1/5 of the rows, nothing lost or
duplicated, resumable after a crash, verified before deleting."""
from __future__ import annotations

import json
import uuid

import dorm
import pytest
from click.testing import CliRunner
from dorm.contrib.sharding import RebalanceError, rebalance, shard_for, with_shard_key
from dorm.db import connections

from .conftest import configured, sqlite_databases
from .models import KEY_FIELDS, SHARDED, Event, Order, OrderLine

N_ORDERS = 1000


class Crash(Exception):
    pass


@pytest.fixture
def five(tmp_path):
    """Five SQLite shard databases; the router still says 4 shards (the old layout)."""
    from dorm_sharding.router import HashShardRouter

    router = HashShardRouter(num_shards=4, shard_models=KEY_FIELDS)
    dbs = sqlite_databases(tmp_path, 5)
    with configured(dbs, router=router):
        dorm.create_tables(SHARDED, using="shard_4")
        yield router


def populate(n=N_ORDERS, lines_every=4):
    """Orders (and a line for every 4th) placed on their 4-shard homes."""
    created, orders, lines = {}, {}, {}
    for i in range(n):
        key = i % 700
        alias = shard_for(key, 4)
        order = Order(id=uuid.UUID(int=i + 1), customer_id=key, total=i, qty=i % 7)
        orders.setdefault(alias, []).append(order)
        if i % lines_every == 0:
            lines.setdefault(alias, []).append(
                OrderLine(id=uuid.UUID(int=10**6 + i), order_id=order.pk, customer_id=key, sku=f"s{i}"))
        created[order.pk] = key
    for alias, objs in orders.items():
        Order.objects.using(alias).bulk_create(objs)
    for alias, objs in lines.items():
        OrderLine.objects.using(alias).bulk_create(objs)
    with with_shard_key(3):       # and through the router, as an application writes
        order = Order.objects.create(id=uuid.UUID(int=n + 1), customer_id=3, total=1)
    created[order.pk] = 3
    return created


def snapshot(model, aliases):
    """{pk: (alias, key)} over every shard, asserting no pk is on two shards."""
    seen = {}
    for alias in aliases:
        for pk, key in model._meta.base_manager().using(alias).values_list("pk", "customer_id"):
            assert pk not in seen, f"{pk} on {seen[pk][0]} and {alias}"
            seen[pk] = (alias, key)
    return seen


ALL5 = [f"shard_{i}" for i in range(5)]


def assert_placed(model, n_shards):
    for pk, (alias, key) in snapshot(model, ALL5).items():
        assert alias == shard_for(key, n_shards), (pk, alias, key)


def test_grow_4_to_5_moves_a_fifth(five, tmp_path):
    created = populate()
    before_orders = snapshot(Order, ALL5)
    before_lines = snapshot(OrderLine, ALL5)
    events = []
    report = rebalance(from_shards=4, to_shards=5, batch_size=64, state_file=tmp_path / "state.json",
                       progress=events.append)
    after = snapshot(Order, ALL5)
    assert set(after) == set(created) == set(before_orders)          # nothing lost, nothing twice
    assert {pk: v[1] for pk, v in after.items()} == created            # rows unchanged
    assert_placed(Order, 5)
    assert_placed(OrderLine, 5)
    assert set(snapshot(OrderLine, ALL5)) == set(before_lines)
    moved = sum(1 for pk in after if after[pk][0] != before_orders[pk][0])
    rep = report.models["shardtest.order"]
    assert rep.moved == moved == rep.copied
    assert 0.15 * N_ORDERS < moved < 0.25 * N_ORDERS                  # ~1/5
    assert all(k.endswith("->shard_4") for k in rep.moves)              # jump: only to the new shard
    assert report.verified and rep.before == rep.after == N_ORDERS + 1 == rep.expected_after
    assert report.models["shardtest.orderline"].moved > 0
    # lines follow their orders (same key -> same shard)
    for line in OrderLine.objects.using("shard_4").all():
        assert Order.objects.using("shard_4").filter(pk=line.order_id).exists()
    phases = [e["phase"] for e in events]
    assert phases[0] == "plan" and phases[-1] == "done" and "copy" in phases and "delete" in phases
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["phase"] == "done"
    # running it again does nothing
    again = rebalance(from_shards=4, to_shards=5, state_file=tmp_path / "state.json")
    assert again.resumed and again.verified
    with pytest.raises(RebalanceError, match="another rebalance.*to_algorithm"):
        rebalance(from_shards=4, to_shards=5, to_algorithm="modulo", state_file=tmp_path / "state.json")


def test_resumes_after_crashes(five, tmp_path):
    created = populate(600)
    state_file = tmp_path / "resume.json"
    crashes = {"copy": 3, "delete": 2}

    def crash_at(event):
        phase = event["phase"]
        if phase in crashes:
            crashes[phase] -= 1
            if crashes[phase] == 0:
                raise Crash(phase)

    with pytest.raises(Crash, match="copy"):
        rebalance(from_shards=4, to_shards=5, batch_size=40, state_file=state_file, progress=crash_at)
    assert json.loads(state_file.read_text())["phase"] == "copy"
    with pytest.raises(Crash, match="delete"):
        rebalance(from_shards=4, to_shards=5, batch_size=40, state_file=state_file, progress=crash_at)
    state = json.loads(state_file.read_text())
    assert state["phase"] == "delete"
    report = rebalance(from_shards=4, to_shards=5, batch_size=40, state_file=state_file)
    assert report.resumed and report.verified
    after = snapshot(Order, ALL5)
    assert {pk: v[1] for pk, v in after.items()} == created
    assert_placed(Order, 5)
    assert_placed(OrderLine, 5)


def test_verification_before_delete(five, tmp_path):
    populate(300)
    state_file = tmp_path / "v.json"

    def stop_after_copy(event):
        if event["phase"] == "delete":
            raise Crash("after copy")

    with pytest.raises(Crash):
        rebalance(from_shards=4, to_shards=5, state_file=state_file, progress=stop_after_copy)
    # someone removes a copied row on the new shard before the delete phase
    victim = Order.objects.using("shard_4").order_by("pk").first()
    OrderLine.objects.using("shard_4").filter(order_id=victim.pk).delete()
    Order.objects.using("shard_4").filter(pk=victim.pk).delete()
    with pytest.raises(RebalanceError, match="verification failed before deleting.*missing there"):
        rebalance(from_shards=4, to_shards=5, state_file=state_file)
    source = shard_for(victim.customer_id, 4)
    assert Order.objects.using(source).filter(pk=victim.pk).exists()   # not deleted
    report = rebalance(from_shards=4, to_shards=5, state_file=state_file, restart=True)
    assert report.verified
    assert_placed(Order, 5)
    assert Order.objects.using("shard_4").filter(pk=victim.pk).exists()


def test_primary_key_collision_stops_before_deleting(five, tmp_path):
    moving = next(k for k in range(1000) if shard_for(k, 4) != shard_for(k, 5))
    src = shard_for(moving, 4)
    staying = next(k for k in range(1000) if shard_for(k, 5) == "shard_4" and k != moving)
    Event.objects.using(src).create(id=1, customer_id=moving, kind="a")
    Event.objects.using("shard_4").create(id=1, customer_id=staying, kind="b")
    with pytest.raises(RebalanceError, match="primary-key collision on shard 'shard_4'.*globally unique"):
        rebalance(from_shards=4, to_shards=5, models={Event: "customer_id"}, state_file=tmp_path / "c.json")
    assert Event.objects.using(src).filter(id=1).exists()
    assert Event.objects.using("shard_4").get(id=1).customer_id == staying


def test_dry_run_changes_nothing(five):
    populate(200)
    before = snapshot(Order, ALL5)
    report = rebalance(from_shards=4, to_shards=5, dry_run=True)
    assert snapshot(Order, ALL5) == before
    expected = sum(1 for pk, (alias, key) in before.items() if shard_for(key, 5) != alias)
    assert report.models["shardtest.order"].moved == expected > 0


def test_modulo_to_jump(five, tmp_path):
    """Data placed by the reference's modulo placement, moved to jump placement."""
    for i in range(200):
        alias = shard_for(i, 4, algorithm="modulo")
        Order.objects.using(alias).create(customer_id=i, total=i)
    report = rebalance(from_shards=4, to_shards=4, models={Order: "customer_id"}, from_algorithm="modulo",
                       to_algorithm="jump", state_file=tmp_path / "m.json")
    assert report.verified and report.moved > 100
    for (alias, key) in snapshot(Order, ALL5[:4]).values():
        assert alias == shard_for(key, 4)


def test_errors(five, tmp_path):
    with pytest.raises(RebalanceError, match="no shard key field"):
        rebalance(from_shards=4, to_shards=5, models=[Order], router=None, aliases=ALL5,
                  state_file=None) if False else rebalance(
            from_shards=4, to_shards=5, models=["shardtest.Country"])
    with pytest.raises(RebalanceError, match="not in settings.DATABASES"):
        rebalance(from_shards=4, to_shards=6)
    connections["shard_4"].execute_script('DROP TABLE "shardtest_event"')
    with pytest.raises(RebalanceError, match="does not exist on shard 'shard_4'"):
        rebalance(from_shards=4, to_shards=5)
    with pytest.raises(ValueError, match="batch_size"):
        rebalance(from_shards=4, to_shards=5, batch_size=0)


def test_cli_rebalance(five, tmp_path, monkeypatch):
    from dorm.cli import build_cli

    monkeypatch.chdir(tmp_path)
    populate(300)
    runner = CliRunner()
    dry = runner.invoke(build_cli(), ["shards", "rebalance", "--from", "4", "--to", "5", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would move" in dry.output
    result = runner.invoke(build_cli(), ["shards", "rebalance", "--from", "4", "--to", "5",
                                         "--batch-size", "50"])
    assert result.exit_code == 0, result.output
    assert "rebalancing shardtest.Order" in result.output or "rebalancing" in result.output
    assert "copy shardtest.Order shard_0: 50/" in result.output          # progress, one line per batch
    assert "verified: row counts as expected" in result.output
    assert (tmp_path / ".dorm-rebalance-4-to-5.json").exists()
    assert_placed(Order, 5)
    as_json = runner.invoke(build_cli(), ["shards", "rebalance", "--from", "4", "--to", "5", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["verified"] is True
    bad = runner.invoke(build_cli(), ["shards", "rebalance", "--from", "4", "--to", "5",
                                      "--key-field", "nonsense"])
    assert bad.exit_code == 2 and "APP.MODEL=FIELD" in bad.output
