"""``dorm dbshell`` support: the SQLite client."""
from __future__ import annotations

import subprocess

import pytest
from dorm.db import connections
from dorm.db.backends.base.client import ClientNotFound
from dorm.exceptions import ImproperlyConfigured
from dorm_sqlite.client import SQLiteClient


def test_arguments_for_a_file(tmp_path):
    args, env = SQLiteClient.settings_to_cmd_args_env({"NAME": str(tmp_path / "a.db")}, ["-readonly"])
    assert args == ["sqlite3", str(tmp_path / "a.db"), "-readonly"] and env is None


def test_memory_database_has_no_shell():
    with pytest.raises(ImproperlyConfigured, match="in-memory"):
        SQLiteClient.settings_to_cmd_args_env({"NAME": ":memory:"}, [])


def test_missing_binary_is_a_clear_error(file_conn, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ClientNotFound, match="'sqlite3' was not found on PATH.*apt install sqlite3"):
        file_conn.client.runshell()


def test_runshell_runs_the_client(file_conn, monkeypatch):
    calls = []
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(subprocess, "run",
                        lambda args, env=None, check=False: calls.append(args) or subprocess.CompletedProcess(args, 0))
    assert connections["default"].client.runshell(["-cmd", ".tables"]) == 0
    assert calls == [["/usr/bin/sqlite3", file_conn.settings_dict["NAME"], "-cmd", ".tables"]]
