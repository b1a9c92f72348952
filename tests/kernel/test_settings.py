"""Settings: configure(), defaults, discovery, parse_database_url (dorm.conf)."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from dorm import plugins
from dorm.conf import (
    autodiscover_apps,
    configure,
    discover,
    import_app_models,
    parse_database_url,
    settings,
)
from dorm.exceptions import ImproperlyConfigured
from dorm.hookspecs import hookimpl

DISCOVERY_ENV = ("DORM_SETTINGS", "DORM_SETTINGS_MODULE", "DORM_PROFILE", "DORM_SLOW_QUERY_MS",
                 "DORM_RETRY_ATTEMPTS", "DORM_SLOW_QUERY_EXPLAIN", "DORM_RETRY_BACKOFF")


@pytest.fixture
def clean(tmp_path, monkeypatch):
    """Unconfigured settings (restored afterwards), an empty cwd, no discovery env;
    sys.path and sys.modules restored."""
    for var in DISCOVERY_ENV:
        monkeypatch.delenv(var, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "nowhere" / "script.py")])
    monkeypatch.setattr(sys, "path", list(sys.path))
    with settings.isolated():
        yield work
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        if file.startswith(str(tmp_path)):
            del sys.modules[name]


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# ---- configure / access ---------------------------------------------------------------------
def test_defaults_before_configuration(clean):
    assert not settings.configured
    assert settings.USE_TZ is False
    assert settings.TIME_ZONE == "UTC"
    assert settings.DATABASES == {}
    assert settings.INSTALLED_APPS == []
    assert settings.DEFAULT_AUTO_FIELD == "dorm.fields.BigAutoField"
    assert settings.SLOW_QUERY_MS == 500.0
    assert settings.RETRY_ATTEMPTS == 3
    assert settings.PLUGINS is None


def test_unknown_setting_before_and_after_configuration(clean):
    with pytest.raises(ImproperlyConfigured, match="NOT_A_SETTING.*not configured"):
        _ = settings.NOT_A_SETTING
    configure(DEBUG=True)
    with pytest.raises(AttributeError, match="NOT_A_SETTING"):
        _ = settings.NOT_A_SETTING
    assert getattr(settings, "NOT_A_SETTING", "fallback") == "fallback"


def test_configure_is_repeatable_and_overwrites(clean):
    configure(DEBUG=True, TIME_ZONE="Europe/Paris", MY_PLUGIN_OPTION=1)
    assert settings.configured
    assert settings.DEBUG is True and settings.TIME_ZONE == "Europe/Paris"
    assert settings.MY_PLUGIN_OPTION == 1  # custom keys are kept (plugins read them)
    configure(DEBUG=False)
    assert settings.DEBUG is False and settings.TIME_ZONE == "Europe/Paris"
    settings.USE_TZ = True  # attribute assignment is configure()
    assert settings.USE_TZ is True and settings.is_explicit("USE_TZ")


def test_mutable_defaults_are_not_shared(clean):
    settings.INSTALLED_APPS.append("x")
    settings.reset()
    assert settings.INSTALLED_APPS == []


def test_setting_names_must_be_upper_case(clean):
    with pytest.raises(ImproperlyConfigured, match="UPPER_CASE.*'databases'"):
        configure(databases={})


def test_databases_urls_are_expanded(clean):
    configure(DATABASES={
        "default": "sqlite:///app.db",
        "pg": {"URL": "postgres://u:p@db:5433/shop?sslmode=require&MAX_POOL_SIZE=20",
               "PORT": 6000, "OPTIONS": {"application_name": "x"}},
        "plain": {"ENGINE": "sqlite", "NAME": ":memory:"},
    })
    dbs = settings.DATABASES
    assert dbs["default"] == {"ENGINE": "sqlite", "NAME": "app.db"}
    assert dbs["pg"] == {
        "ENGINE": "postgresql", "NAME": "shop", "USER": "u", "PASSWORD": "p", "HOST": "db",
        "PORT": 6000,  # explicit keys win over the URL
        "MAX_POOL_SIZE": 20,
        "OPTIONS": {"sslmode": "require", "application_name": "x"},  # merged
    }
    assert dbs["plain"] == {"ENGINE": "sqlite", "NAME": ":memory:"}


@pytest.mark.parametrize("bad, match", [
    ({"default": 42}, "DATABASES\\['default'\\] must be a URL string or a dict"),
    ({"default": "nosuch://x"}, "DATABASES\\['default'\\].*Unknown database URL scheme 'nosuch'"),
    ([("default", {})], "DATABASES must be a dict"),
])
def test_bad_databases(clean, bad, match):
    with pytest.raises(ImproperlyConfigured, match=match):
        configure(DATABASES=bad)


def test_installed_apps_are_validated(clean):
    with pytest.raises(ImproperlyConfigured, match="dotted Python path.*'my-app'"):
        configure(INSTALLED_APPS=["my-app"])
    with pytest.raises(ImproperlyConfigured, match="list of dotted"):
        configure(INSTALLED_APPS="shop")
    configure(INSTALLED_APPS=("shop", "blog.core"))
    assert settings.INSTALLED_APPS == ["shop", "blog.core"]


def test_on_change_receives_changed_keys(clean):
    seen = []
    settings.on_change(seen.append)
    try:
        configure(DATABASES={"default": "sqlite://"}, DEBUG=True)
        configure(USE_TZ=True)
        settings.reset()
    finally:
        settings._subscribers.remove(seen.append)
    assert seen[0] == frozenset({"DATABASES", "DEBUG"})
    assert seen[1] == frozenset({"USE_TZ"})
    assert {"DATABASES", "DEBUG", "USE_TZ"} <= seen[2]


def test_env_defaults_and_explicit_wins(clean, monkeypatch):
    monkeypatch.setenv("DORM_SLOW_QUERY_MS", "none")
    monkeypatch.setenv("DORM_RETRY_ATTEMPTS", "5")
    assert settings.SLOW_QUERY_MS is None
    assert settings.RETRY_ATTEMPTS == 5
    configure(RETRY_ATTEMPTS=1)
    assert settings.RETRY_ATTEMPTS == 1
    settings.reset()
    monkeypatch.setenv("DORM_RETRY_ATTEMPTS", "many")
    with pytest.raises(ImproperlyConfigured, match="DORM_RETRY_ATTEMPTS='many'"):
        _ = settings.RETRY_ATTEMPTS


def test_configure_runs_the_historic_dorm_configure_hook(clean):
    seen = []

    class Early:
        @hookimpl
        def dorm_configure(self, settings):
            seen.append(("early", settings.DEBUG))

    class Late:
        @hookimpl
        def dorm_configure(self, settings):
            seen.append(("late", settings.DEBUG))

    with plugins.registered(Early()):
        configure(DEBUG=True)
        assert ("early", True) in seen
        with plugins.registered(Late()):  # registered after configure(): still called
            assert ("late", True) in seen


def test_dorm_configure_hook_may_reject_settings(clean):
    class Strict:
        @hookimpl
        def dorm_configure(self, settings):
            if getattr(settings, "STRICT_LEVEL", 0) > 3:
                raise ImproperlyConfigured("STRICT_LEVEL must be at most 3")

    with plugins.registered(Strict()), pytest.raises(ImproperlyConfigured, match="STRICT_LEVEL"):
        configure(STRICT_LEVEL=9)


# ---- parse_database_url -----------------------------------------------------------------------
@pytest.mark.parametrize("url, expected", [
    ("sqlite://", {"ENGINE": "sqlite", "NAME": ":memory:"}),
    ("sqlite:///", {"ENGINE": "sqlite", "NAME": ":memory:"}),
    ("sqlite:///:memory:", {"ENGINE": "sqlite", "NAME": ":memory:"}),
    ("sqlite:///rel/app.db", {"ENGINE": "sqlite", "NAME": "rel/app.db"}),
    ("sqlite:////abs/app.db", {"ENGINE": "sqlite", "NAME": "/abs/app.db"}),
    ("sqlite3:///x.db?journal_mode=WAL", {"ENGINE": "sqlite", "NAME": "x.db", "OPTIONS": {"journal_mode": "WAL"}}),
    ("duckdb:///warehouse.duckdb", {"ENGINE": "duckdb", "NAME": "warehouse.duckdb"}),
    ("postgres://user:p%40ss%2Fw@localhost:5432/my%20db",
     {"ENGINE": "postgresql", "NAME": "my db", "USER": "user", "PASSWORD": "p@ss/w", "HOST": "localhost", "PORT": 5432}),
    ("postgresql://db.example.com/shop", {"ENGINE": "postgresql", "NAME": "shop", "HOST": "db.example.com"}),
    ("psql://u@[::1]:6432/x", {"ENGINE": "postgresql", "NAME": "x", "USER": "u", "HOST": "::1", "PORT": 6432}),
    (("postgres://h/db?min_pool_size=2&MAX_POOL_SIZE=8&POOL_TIMEOUT=2.5&POOL_CHECK=false"
      "&MAX_IDLE=60&MAX_LIFETIME=120&PREPARE_THRESHOLD=none&sslmode=require"),
     {"ENGINE": "postgresql", "NAME": "db", "HOST": "h", "MIN_POOL_SIZE": 2, "MAX_POOL_SIZE": 8,
      "POOL_TIMEOUT": 2.5, "POOL_CHECK": False, "MAX_IDLE": 60.0, "MAX_LIFETIME": 120.0,
      "PREPARE_THRESHOLD": None, "OPTIONS": {"sslmode": "require"}}),
    ("postgres://h/db?PREPARE_THRESHOLD=5", {"ENGINE": "postgresql", "NAME": "db", "HOST": "h", "PREPARE_THRESHOLD": 5}),
    ("cockroachdb://root@crdb:26257/bank", {"ENGINE": "cockroachdb", "NAME": "bank", "USER": "root", "HOST": "crdb", "PORT": 26257}),
    ("libsql://my-db.turso.io?authToken=tok", {"ENGINE": "libsql", "NAME": "libsql://my-db.turso.io", "AUTH_TOKEN": "tok"}),
    ("libsql+wss://my-db.turso.io?AUTH_TOKEN=tok&NAME=replica.db",
     {"ENGINE": "libsql", "NAME": "replica.db", "SYNC_URL": "wss://my-db.turso.io", "AUTH_TOKEN": "tok"}),
    ("libsql+http://127.0.0.1:8080", {"ENGINE": "libsql", "NAME": "http://127.0.0.1:8080"}),
    ("mysql://u:pw@db:3307/shop?charset=utf8mb4",
     {"ENGINE": "mysql", "NAME": "shop", "USER": "u", "PASSWORD": "pw", "HOST": "db", "PORT": 3307,
      "OPTIONS": {"charset": "utf8mb4"}}),
    ("mariadb://u@db/shop", {"ENGINE": "mariadb", "NAME": "shop", "USER": "u", "HOST": "db"}),
    ("mysql+pymysql://u@db/shop", {"ENGINE": "mysql", "NAME": "shop", "USER": "u", "HOST": "db", "DRIVER": "pymysql"}),
    ("mysql+asyncmy://u@db/shop", {"ENGINE": "mysql", "NAME": "shop", "USER": "u", "HOST": "db", "DRIVER": "asyncmy"}),
])
def test_parse_database_url(url, expected):
    assert parse_database_url(url) == expected


@pytest.mark.parametrize("url, match", [
    ("oracle://x/y", "Unknown database URL scheme 'oracle'; known schemes: sqlite"),
    ("not a url", "Not a database URL"),
    ("postgres://h/db?MAX_POOL_SIZE=lots", "MAX_POOL_SIZE='lots' is invalid"),
    ("postgres://h/db?POOL_CHECK=maybe", "POOL_CHECK='maybe' is invalid"),
    ("postgres://h:99999/db", "invalid port"),
    ("libsql+ftp://x", "Unknown libsql transport"),
])
def test_parse_database_url_errors(url, match):
    with pytest.raises(ImproperlyConfigured, match=match):
        parse_database_url(url)


# ---- discovery ----------------------------------------------------------------------------------
SETTINGS = """\
    DATABASES = {"default": "sqlite:///from-%(origin)s.db"}
    INSTALLED_APPS = []
    USE_TZ = True
    TIME_ZONE = "Europe/Berlin"
    CUSTOM_FLAG = "%(origin)s"
    lowercase_is_ignored = 1
    _PRIVATE = 2
"""


def settings_file(path: Path, origin: str, **extra) -> Path:
    text = SETTINGS % {"origin": origin} + "".join(f"    {k} = {v!r}\n" for k, v in extra.items())
    return write(path, text)


def test_runtime_discovery_from_cwd_forwards_uppercase(clean):
    settings_file(clean / "settings.py", "cwd")
    # first access of a setting without configure() discovers settings.py
    assert settings.DATABASES == {"default": {"ENGINE": "sqlite", "NAME": "from-cwd.db"}}
    assert settings.configured
    assert settings.USE_TZ is True and settings.TIME_ZONE == "Europe/Berlin"
    assert settings.CUSTOM_FLAG == "cwd"
    assert not hasattr(settings, "lowercase_is_ignored")
    with pytest.raises(AttributeError):
        _ = settings._PRIVATE
    assert settings.source.module == "settings"
    assert str(clean) in sys.path


def test_settings_next_to_script_win_over_cwd(clean, tmp_path, monkeypatch):
    settings_file(clean / "settings.py", "cwd")
    script_dir = tmp_path / "project"
    settings_file(script_dir / "settings.py", "script")
    monkeypatch.setattr(sys, "argv", [str(script_dir / "main.py")])
    assert settings.CUSTOM_FLAG == "script"


def test_dorm_settings_env(clean, monkeypatch):
    settings_file(clean / "proj" / "conf" / "dev.py", "env")
    write(clean / "proj" / "__init__.py")
    write(clean / "proj" / "conf" / "__init__.py")
    settings_file(clean / "settings.py", "cwd")
    monkeypatch.setenv("DORM_SETTINGS", "proj.conf.dev")
    assert settings.CUSTOM_FLAG == "env"
    assert settings.source.module == "proj.conf.dev"
    assert str(clean / "proj" / "conf") in sys.path  # settings dir ...
    assert str(clean / "proj") in sys.path  # ... and its parent


def test_dorm_settings_module_env_and_precedence(clean, monkeypatch):
    settings_file(clean / "alt_settings_a.py", "module-env")
    settings_file(clean / "alt_settings_b.py", "settings-env")
    monkeypatch.setenv("DORM_SETTINGS_MODULE", "alt_settings_a")
    assert discover().module == "alt_settings_a"
    assert settings.CUSTOM_FLAG == "module-env"
    settings.reset()
    monkeypatch.setenv("DORM_SETTINGS", "alt_settings_b")  # DORM_SETTINGS wins
    assert discover().module == "alt_settings_b"
    settings.reset()
    settings_file(clean / "alt_settings_c.py", "flag")
    assert discover("alt_settings_c").module == "alt_settings_c"  # --settings wins over both
    assert settings.CUSTOM_FLAG == "flag"


def test_profile_tries_package_submodule_first(clean, monkeypatch):
    write(clean / "settings" / "__init__.py", "CUSTOM_FLAG = 'base'\n")
    write(clean / "settings" / "prod.py", "CUSTOM_FLAG = 'prod'\n")
    monkeypatch.setenv("DORM_PROFILE", "prod")
    assert settings.CUSTOM_FLAG == "prod"
    settings.reset()
    monkeypatch.setenv("DORM_PROFILE", "staging")  # no such profile: the base module
    assert discover().module == "settings"
    assert settings.CUSTOM_FLAG == "base"


@pytest.mark.parametrize("value, match", [
    ("not-dotted", "dotted Python path"),
    ("no_such_settings_module_xyz", "cannot be imported"),
])
def test_bad_settings_module(clean, monkeypatch, value, match):
    monkeypatch.setenv("DORM_SETTINGS", value)
    with pytest.raises(ImproperlyConfigured, match=match):
        discover()


def test_settings_module_errors_propagate(clean, monkeypatch):
    write(clean / "broken_settings.py", "import no_such_dependency_xyz\n")
    monkeypatch.setenv("DORM_SETTINGS", "broken_settings")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        discover()


def test_no_settings_found(clean):
    assert discover() is None
    assert not settings.configured
    with pytest.raises(ImproperlyConfigured, match="No dorm settings found"):
        discover(required=True)


def test_installed_apps_models_are_imported(clean):
    write(clean / "shop" / "__init__.py")
    write(clean / "shop" / "models.py", "import builtins\nbuiltins._dorm_test_shop_loaded = True\n")
    write(clean / "nomodels" / "__init__.py")  # an app without models is fine
    write(clean / "settings.py", "INSTALLED_APPS = ['shop', 'nomodels']\n")
    import builtins

    try:
        source = discover()
        assert source.apps == ["shop", "nomodels"]
        assert "shop.models" in sys.modules
        assert builtins._dorm_test_shop_loaded
    finally:
        del builtins._dorm_test_shop_loaded


def test_missing_app_is_improperly_configured(clean):
    write(clean / "settings.py", "INSTALLED_APPS = ['ghost_app_xyz']\n")
    with pytest.raises(ImproperlyConfigured, match="'ghost_app_xyz' cannot be imported"):
        discover()


def test_errors_inside_models_propagate(clean):
    sys.path.insert(0, str(clean))
    write(clean / "badapp" / "__init__.py")
    write(clean / "badapp" / "models.py", "1 / 0\n")
    with pytest.raises(ZeroDivisionError):
        import_app_models(["badapp"])
    write(clean / "badapp2" / "__init__.py")
    write(clean / "badapp2" / "models.py", "import no_such_dependency_xyz\n")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        import_app_models(["badapp2"])


def test_app_autodiscovery(clean):
    root = clean
    for pkg in ("shop", "blog", "blog/comments", "noinit_parent/child", ".hidden", "venv/lib", "build"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
    for pkg in ("shop", "blog", "blog/comments", "noinit_parent/child", ".hidden", "venv/lib", "build"):
        if pkg != "noinit_parent":
            write(root / pkg / "__init__.py")
        write(root / pkg / "models.py")
    write(root / "blog" / "migrations" / "__init__.py")
    write(root / "blog" / "migrations" / "models.py")
    write(root / "util" / "__init__.py")  # a package without models
    assert autodiscover_apps(root) == ["blog", "blog.comments", "shop"]


def test_empty_installed_apps_triggers_autodiscovery(clean):
    write(clean / "shop" / "__init__.py")
    write(clean / "shop" / "models.py", "LOADED = True\n")
    write(clean / "settings.py", "DATABASES = {'default': 'sqlite://'}\n")
    assert settings.INSTALLED_APPS == ["shop"]
    assert sys.modules["shop.models"].LOADED


def test_runtime_discovery_runs_once(clean):
    assert settings.USE_TZ is False  # nothing found
    settings_file(clean / "settings.py", "late")
    assert settings.USE_TZ is False  # not searched again until reset()
    settings.reset()
    assert settings.USE_TZ is True


# ---- test helpers ---------------------------------------------------------------------------------
def test_override_and_isolated_restore_previous_state(clean):
    configure(DEBUG=True, TIME_ZONE="Asia/Tokyo")
    seen = []
    settings.on_change(seen.append)
    try:
        with settings.override(DEBUG=False, EXTRA=1):
            assert settings.DEBUG is False and settings.EXTRA == 1
        assert settings.DEBUG is True and settings.TIME_ZONE == "Asia/Tokyo"
        assert not hasattr(settings, "EXTRA")
        with settings.isolated():
            assert not settings.configured
        assert settings.configured and settings.is_explicit("DEBUG")
    finally:
        settings._subscribers.remove(seen.append)
    assert {"DEBUG", "EXTRA"} <= seen[1]  # restoring notifies subscribers
