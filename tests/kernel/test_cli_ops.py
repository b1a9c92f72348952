"""``dorm doctor`` and the guards of ``dorm reset`` through the real CLI (click's runner,
in process); the full reset cycle runs in tests/kernel/test_cli_project.py."""
from __future__ import annotations

import json

import dorm
import pytest
from dorm.plugins import get_registry

from .test_cli_data import APP, cli_db, run  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("cli_db")


# ---- doctor ------------------------------------------------------------------------------
def test_doctor_reports_settings_warnings():
    with dorm.settings.override(DEBUG=True, RETRY_ATTEMPTS=0, SLOW_QUERY_MS=None,
                                CACHE_INSECURE_PICKLE=True):
        result = run("doctor", expect=1)
        codes = [line.split("]")[0] + "]" for line in result.stdout.splitlines() if line.startswith("[")]
        assert codes == ["[D001]", "[D002]", "[D003]", "[D004]"]
        assert "RETRY_ATTEMPTS is 0" in result.stdout and "4 warning(s)." in result.stdout
        data = json.loads(run("doctor", "--json", expect=1).stdout)
        assert data["ok"] is False
        assert data["findings"][1] == {"code": "D002", "where": "settings", "message": data["findings"][1]["message"]}
    assert "No problems found (1 database alias(es) checked)." in run("doctor").stdout


def test_doctor_finds_foreign_keys_without_index(cli_db):  # noqa: F811
    constraints = cli_db.introspection.get_constraints("clidata_book")
    name = next(n for n, c in constraints.items()
                if c["index"] and not c["unique"] and c["columns"] == ["editor_id"])
    with cli_db.schema_editor() as editor:
        editor.execute(f"DROP INDEX {cli_db.ops.quote_name(name)}")
    result = run("doctor", "--database", "default", expect=1)
    assert "[D013] default: foreign key clidata_book.editor_id (clidata.Book.editor) has no index" \
        in result.stdout
    assert "clidata_book.author_id" not in result.stdout


def test_doctor_remote_server_without_tls_and_tiny_pool():
    if "postgresql" not in get_registry().backends:
        pytest.skip("the postgresql backend is not installed")
    remote = {"ENGINE": "postgresql", "HOST": "db.invalid", "NAME": "shop", "USER": "app",
              "MAX_POOL_SIZE": 1, "MIN_POOL_SIZE": 0, "POOL_TIMEOUT": 1,
              "OPTIONS": {"sslmode": "prefer", "connect_timeout": 1}}
    databases = {**dorm.settings.DATABASES, "remote": remote}
    with dorm.settings.override(DATABASES=databases):
        result = run("doctor", "--alias", "remote", expect=1)
    out = result.stdout
    assert "[D011] remote: MAX_POOL_SIZE is 1" in out
    assert "[D012] remote: HOST 'db.invalid' is remote but OPTIONS['sslmode'] is 'prefer'; use one " \
           "of require, verify-ca, verify-full" in out
    assert "[D010] remote: cannot connect" in out


def test_doctor_settings_errors_exit_2():
    assert "unknown database alias 'nope'" in run("doctor", "--database", "nope", expect=2).stderr
    with dorm.settings.override(DATABASES={}):
        assert "DATABASES is empty" in run("doctor", expect=2).stderr
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "no-such-engine", "NAME": "x"}}):
        assert "no-such-engine" in run("doctor", expect=2).stderr
    with dorm.settings.isolated():
        result = run("doctor", "--settings", "no_such_settings_module", expect=2)
        assert "no_such_settings_module" in result.stderr


# ---- reset guards ------------------------------------------------------------------------
@pytest.mark.parametrize(("entry", "reason"), [
    ({"ENGINE": "postgresql", "HOST": "db.example.com", "NAME": "shop"},
     "HOST 'db.example.com' is not a local host"),
    ({"ENGINE": "postgresql", "HOST": "10.0.0.7", "NAME": "shop"}, "HOST '10.0.0.7' is not a local host"),
    ({"ENGINE": "sqlite", "NAME": "/srv/shop-prod.db"}, "NAME '/srv/shop-prod.db' looks like a production"),
])
def test_reset_refuses_databases_that_do_not_look_like_development(entry, reason):
    if entry["ENGINE"] not in get_registry().backends:
        pytest.skip(f"the {entry['ENGINE']} backend is not installed")
    with dorm.settings.override(DATABASES={"default": entry}):
        result = run("reset", "--noinput", expect=2)
    assert f"refusing to reset alias 'default': {reason}" in result.stderr
    assert "Pass --force" in result.stderr


def test_reset_local_database_asks_and_force_skips_the_check(tmp_path):
    assert "Aborted" in run("reset", input="n\n", expect=1).stderr
    prod = {"ENGINE": "sqlite", "NAME": str(tmp_path / "prod.db")}
    with dorm.settings.override(DATABASES={"default": prod}, INSTALLED_APPS=[APP]):
        run("reset", "--noinput", expect=2)
        out = run("reset", "--noinput", "--force").stdout
    assert "Reset alias 'default': 0 migration(s) applied." in out


# ---- --database on the project commands ------------------------------------------------------
def test_shell_and_runscript_database_option(tmp_path):
    other = {"ENGINE": "sqlite", "NAME": str(tmp_path / "other.db")}
    with dorm.settings.override(DATABASES={**dorm.settings.DATABASES, "other": other}):
        code = "from dorm.db import connections; print(connections['default'].settings_dict['NAME'])"
        assert run("shell", "--database", "other", "-c", code).stdout.strip() == other["NAME"]
        script = tmp_path / "where.py"
        script.write_text(code.replace("; ", "\n") + "\nimport sys\nprint(sys.argv[1:])\n")
        out = run("runscript", "--alias", "other", script, "--database", "x").stdout.splitlines()
        assert out == [other["NAME"], "['--database', 'x']"]
    with dorm.settings.override(DATABASES={**dorm.settings.DATABASES}):
        assert "unknown database alias 'nope'" in run("shell", "--database", "nope", "-c", "1",
                                                      expect=2).stderr
        assert "unknown database alias 'nope'" in run("makemigrations", "--check", "--database", "nope",
                                                      expect=2).stderr
