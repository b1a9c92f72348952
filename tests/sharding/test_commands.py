"""``dorm shards ...`` in a temporary project, as a user runs it (subprocesses): migrate
on every shard honouring allow_migrate, drift on every shard, status, where."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

DORM = [sys.executable, "-m", "dorm"]

MODELS = """
    import uuid

    import dorm


    class Order(dorm.Model):
        id = dorm.UUIDField(primary_key=True, default=uuid.uuid4)
        customer_id = dorm.IntegerField()
        total = dorm.DecimalField(max_digits=8, decimal_places=2)


    class Country(dorm.Model):
        code = dorm.CharField(max_length=2)
"""


@pytest.fixture
def project(tmp_path):
    dbs = {alias: {"ENGINE": "sqlite", "NAME": str(tmp_path / f"{alias}.sqlite3")}
           for alias in ("default", "shard_0", "shard_1", "shard_2")}
    (tmp_path / "settings.py").write_text(
        f"DATABASES = {dbs!r}\n"
        "INSTALLED_APPS = ['shardshop']\n"
        "SHARDING = {'NUM_SHARDS': 3, 'MODELS': {'shardshop.Order': 'customer_id'},\n"
        "            'BREAKER': {'failure_threshold': 3, 'open_window_s': 5}}\n")
    app = tmp_path / "shardshop"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(textwrap.dedent(MODELS))

    def run(*args, ok=True):
        result = subprocess.run([*DORM, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                                check=False)
        if ok and result.returncode != 0:
            raise AssertionError(f"dorm {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def tables(alias):
        with sqlite3.connect(tmp_path / f"{alias}.sqlite3") as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    run.tables = tables
    run.root = tmp_path
    return run


def test_migrate_every_shard_and_diff(project):
    project("makemigrations", "shardshop")
    out = project("shards", "migrate").stdout
    for alias in ("default", "shard_0", "shard_1", "shard_2"):
        assert f"== {alias} ==" in out
    assert "shardshop_order" not in project.tables("default")
    assert "shardshop_country" in project.tables("default")
    for alias in ("shard_0", "shard_1", "shard_2"):
        tables = project.tables(alias)
        assert "shardshop_order" in tables and "shardshop_country" not in tables
        assert "dorm_migrations" in tables
    diff = project("shards", "diff")
    assert diff.stdout.count("OK - no drift") == 4, diff.stdout
    # the plain command honours allow_migrate too: no sharded table expected on default
    assert "OK - no drift" in project("diff").stdout
    assert "OK - no drift" in project("diff", "--database", "shard_0").stdout
    as_json = json.loads(project("shards", "diff", "--json").stdout)
    assert as_json["drift"] is False and set(as_json["databases"]) == {"default", "shard_0", "shard_1",
                                                                         "shard_2"}
    with sqlite3.connect(project.root / "shard_1.sqlite3") as conn:
        conn.execute("ALTER TABLE shardshop_order DROP COLUMN total")
    drift = project("shards", "diff", ok=False)
    assert drift.returncode == 1
    assert "Drift detected against alias 'shard_1'" in drift.stdout
    assert "OK - no drift detected against alias 'shard_2'" in drift.stdout
    only = project("shards", "diff", "--database", "shard_2")
    assert only.stdout.strip() == "OK - no drift detected against alias 'shard_2'."


def test_plain_migrate_and_diff_cover_every_shard(project):
    project("makemigrations", "shardshop")
    out = project("migrate").stdout
    for alias in ("default", "shard_0", "shard_1", "shard_2"):
        assert f"== {alias} ==" in out
    for alias in ("shard_0", "shard_1", "shard_2"):
        assert "shardshop_order" in project.tables(alias)
    assert "shardshop_order" not in project.tables("default")
    assert project("diff").stdout.count("OK - no drift") == 4
    only = project("migrate", "--database", "shard_1").stdout
    assert "== shard_1 ==" not in only  # one alias: no headers


def test_migrate_one_database(project):
    project("makemigrations", "shardshop")
    out = project("shards", "migrate", "--database", "shard_2").stdout
    assert "== shard_2 ==" in out and "== shard_0 ==" not in out
    assert "shardshop_order" in project.tables("shard_2")
    assert "shardshop_order" not in project.tables("shard_0")
    bad = project("shards", "migrate", "--database", "nope", ok=False)
    assert bad.returncode == 2 and "unknown database alias 'nope'" in bad.stderr


def test_status_and_where(shard_env):
    from click.testing import CliRunner
    from dorm.cli import build_cli
    from dorm_sharding.placement import shard_for

    shard_env(3, sharding={"BREAKER": {"failure_threshold": 3, "open_window_s": 5}})
    runner = CliRunner()
    status = json.loads(runner.invoke(build_cli(), ["shards", "status", "--json"]).output)
    assert status["routers"][0]["aliases"] == ["shard_0", "shard_1", "shard_2"]
    assert sorted(status["routers"][0]["models"]) == ["shardtest.Event", "shardtest.Order", "shardtest.OrderLine"]
    assert status["breaker"] == {"enabled": True, "failure_threshold": 3, "open_window_s": 5.0}
    assert status["shards"]["shard_1"]["state"] == "closed"
    text = runner.invoke(build_cli(), ["shards", "status"]).output
    assert "HashShardRouter: 3 shards, algorithm jump" in text and "shard_2: closed" in text
    where = runner.invoke(build_cli(), ["shards", "where", "1", "alice"]).output.splitlines()
    assert where == [f"1\t{shard_for(1, 3)}", f"alice\t{shard_for('alice', 3)}"]
    assert "shards" in runner.invoke(build_cli(), ["--help"]).output


def test_progress_bar_on_a_terminal(monkeypatch, capsys):
    from dorm_sharding.commands import _Progress

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    progress = _Progress(quiet=False)
    assert progress.tty
    progress({"phase": "plan", "models": ["a.B"], "sources": [1, 2], "targets": [1, 2, 3],
              "totals": {"a.b": 10}})
    for i in range(2):
        progress({"phase": "copy", "model": "a.B", "alias": "shard_0", "scanned": 5 * (i + 1), "total": 10,
                  "batch": 5, "moved": 1})
    progress({"phase": "done", "report": None})
    out = capsys.readouterr().out
    assert "rebalancing a.B from 2 to 3 shards" in out
    assert "copy a.B shard_0" in out
