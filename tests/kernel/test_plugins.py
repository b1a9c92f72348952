"""The plugin manager, the registry and plugin-provided import paths (dorm.plugins).

Entry points are simulated by monkeypatching ``dorm.plugins.manager._iter_entry_points``
(the real, out-of-tree route is covered by test_third_party_plugin.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types

import pluggy
import pytest
from dorm import plugins
from dorm.exceptions import ImproperlyConfigured, PluginNotInstalled
from dorm.hookspecs import hookimpl
from dorm.plugins import manager

try:  # the kernel's lookup base class (the registry checks subclassing when it exists)
    from dorm.lookups import Lookup as LookupBase
except ImportError:  # pragma: no cover - only while the core is being written
    LookupBase = object

ENV_VARS = ("DORM_PLUGINS", "DORM_DISABLED_PLUGINS", "DORM_DISABLE_PLUGIN_AUTOLOAD",
            "DORM_RAISE_PLUGIN_ERRORS")


# ---- helpers -------------------------------------------------------------------------------
class FakeDist:
    def __init__(self, name, version="1.2.3"):
        self.name, self.version = name, version
        self.metadata = {"Name": name}


class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint."""

    def __init__(self, name, obj=None, error=None, dist="dorm-fake", version="1.2.3"):
        self.name, self.value = name, f"fake_{name}.plugin"
        self._obj, self._error = obj, error
        self.dist = FakeDist(dist, version)
        self.loaded = 0

    def load(self):
        self.loaded += 1
        if self._error is not None:
            raise self._error
        return self._obj


def module_plugin(name, **hooks):
    mod = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, hookimpl(fn))
    return mod


class Backend:
    """A stand-in backend class (targets are imported lazily by resolve_backend)."""


class OtherBackend:
    pass


class NotEqual(LookupBase):
    lookup_name = "ne"


class NotEqual2(LookupBase):
    lookup_name = "ne"


def engines_plugin(*engines):
    """A plugin object registering ``(name, target, aliases)`` engines."""

    class P:
        @hookimpl
        def dorm_register_backends(self, register):
            for name, target, aliases in engines:
                register(name, target, aliases=aliases)

    return P()


HERE = __name__


@pytest.fixture
def fresh(monkeypatch):
    """No env overrides, no real entry points; fresh plugin state, restored afterwards."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    eps: list = []
    monkeypatch.setattr(manager, "_iter_entry_points", lambda: list(eps))
    # as on a machine with no plugin distribution installed (other helpers' plugins
    # such as dorm-postgres may be installed in the dev venv)
    import importlib

    monkeypatch.setattr(importlib.import_module("dorm.plugins.missing"), "_installed_version",
                        lambda distribution: None)
    with plugins.isolated():
        yield eps


# ---- loading ------------------------------------------------------------------------------
def test_builtin_plugin_is_plugin_zero(fresh):
    recs = manager.records()
    assert recs[0].name == "dorm"
    assert recs[0].source == "built-in"
    assert recs[0].distribution == "dorm-kernel"
    import dorm.builtin_plugin

    assert plugins.get_plugin_manager().get_plugin("dorm") is dorm.builtin_plugin


def test_entry_points_load_in_name_order_and_failures_are_isolated(fresh):
    good = module_plugin("good", dorm_register_backends=lambda register: register("gooddb", f"{HERE}:Backend"))
    fresh += [
        FakeEntryPoint("zgood", good, dist="dorm-good"),
        FakeEntryPoint("broken", error=ImportError("No module named 'psycopg'"), dist="dorm-broken", version="0.9"),
    ]
    by_name = {r.name: r for r in manager.records()}
    assert [r.name for r in manager.records()] == ["dorm", "broken", "zgood"]
    assert by_name["zgood"].status == "loaded"
    broken = by_name["broken"]
    assert broken.status == "failed"
    assert broken.distribution == "dorm-broken" and broken.version == "0.9"
    assert "psycopg" in broken.error and broken.error.startswith("ImportError")
    assert plugins.resolve_backend("gooddb") is Backend
    info = {i.name: i for i in plugins.plugin_infos()}
    assert info["broken"].status.startswith("failed: ImportError")
    assert info["zgood"].provides["engines"] == ["gooddb"]


def test_raise_plugin_errors_reraises(fresh, monkeypatch):
    monkeypatch.setenv("DORM_RAISE_PLUGIN_ERRORS", "1")
    fresh.append(FakeEntryPoint("broken", error=ImportError("boom")))
    with pytest.raises(ImportError, match="boom"):
        plugins.get_plugin_manager()


def test_autoload_off_skips_entry_points(fresh, monkeypatch):
    monkeypatch.setenv("DORM_DISABLE_PLUGIN_AUTOLOAD", "1")
    ep = FakeEntryPoint("good", module_plugin("good"))
    fresh.append(ep)
    assert [r.name for r in manager.records()] == ["dorm"]
    assert ep.loaded == 0


def test_allow_list_env(fresh, monkeypatch):
    monkeypatch.setenv("DORM_PLUGINS", "one, three")
    eps = [FakeEntryPoint(n, module_plugin(n)) for n in ("one", "two", "three")]
    fresh += eps
    status = {r.name: r.status for r in manager.records()}
    assert status == {"dorm": "loaded", "one": "loaded", "three": "loaded", "two": "disabled"}
    assert eps[1].loaded == 0
    assert "DORM_PLUGINS" in manager.get_record("two").error


def test_block_list_env_wins_over_allow_list(fresh, monkeypatch):
    monkeypatch.setenv("DORM_PLUGINS", "one,two")
    monkeypatch.setenv("DORM_DISABLED_PLUGINS", "two")
    fresh += [FakeEntryPoint(n, module_plugin(n)) for n in ("one", "two")]
    assert manager.get_record("one").status == "loaded"
    rec = manager.get_record("two")
    assert rec.status == "disabled" and "DORM_DISABLED_PLUGINS" in rec.error
    info = {i.name: i for i in plugins.plugin_infos()}
    assert info["two"].status.startswith("disabled")


def test_settings_plugins_allow_list(fresh):
    from dorm.conf import settings

    fresh += [FakeEntryPoint(n, module_plugin(n)) for n in ("one", "two")]
    assert manager.get_record("two").status == "loaded"
    with settings.isolated():
        settings.configure(PLUGINS=["one"])  # reloads the plugins
        assert manager.get_record("one").status == "loaded"
        assert manager.get_record("two").status == "disabled"
        assert "settings.PLUGINS" in manager.get_record("two").error


def test_duplicate_entry_point_name_from_two_distributions(fresh):
    fresh += [
        FakeEntryPoint("same", module_plugin("a"), dist="dorm-a"),
        FakeEntryPoint("same", module_plugin("b"), dist="dorm-b"),
    ]
    recs = manager.records()
    failed = [r for r in recs if r.status == "failed"]
    assert len(failed) == 1 and "dorm-a" in failed[0].error


def test_unknown_hook_name_is_a_load_failure(fresh):
    typo = module_plugin("typo", dorm_register_lookup=lambda register: None)
    fresh.append(FakeEntryPoint("typo", typo))
    rec = manager.get_record("typo")
    assert rec.status == "failed"
    assert "dorm_register_lookup" in rec.error and "dorm_register_lookups" in rec.error


def test_bad_hook_signature_is_a_load_failure(fresh):
    bad = module_plugin("bad", dorm_register_backends=lambda register, extra: None)
    fresh.append(FakeEntryPoint("bad", bad))
    assert manager.get_record("bad").status == "failed"
    assert "extra" in manager.get_record("bad").error


def test_unmarked_hook_function_is_reported(fresh):
    mod = types.ModuleType("unmarked")
    mod.dorm_register_backends = lambda register: None  # no @hookimpl
    fresh.append(FakeEntryPoint("unmarked", mod))
    rec = manager.get_record("unmarked")
    assert rec.status == "loaded"
    assert any("not decorated with @dorm.hookimpl" in w for w in rec.warnings)


def test_import_dorm_loads_no_plugin():
    code = textwrap.dedent(
        """
        import sys, dorm, dorm.plugins
        from dorm.plugins import manager
        assert manager._pm is None, "plugins were loaded by import"
        assert "dorm_sqlite.plugin" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ---- run-time registration ------------------------------------------------------------------
def test_register_unregister_and_on_change(fresh):
    calls = []
    plugins.on_change(lambda: calls.append(1))
    p = engines_plugin(("fakedb", f"{HERE}:Backend", ()))
    name = plugins.register(p, name="fake")
    assert name == "fake"
    assert manager.get_record("fake").source == "registered at run time"
    assert "fakedb" in plugins.get_registry().backends
    assert calls
    n = len(calls)
    plugins.unregister(p)
    assert len(calls) == n + 1
    assert "fakedb" not in plugins.get_registry().backends
    with pytest.raises(ValueError):
        plugins.unregister("fake")
    manager._change_callbacks.pop()


def test_registered_context_manager(fresh):
    with plugins.registered(engines_plugin(("ctxdb", f"{HERE}:Backend", ())), "ctx"):
        assert plugins.resolve_backend("ctxdb") is Backend
    assert "ctxdb" not in plugins.get_registry().backends


def test_register_rejects_unknown_hook(fresh):
    class Typo:
        @hookimpl
        def dorm_register_fields(self, register):
            pass

    with pytest.raises(pluggy.PluginValidationError, match="unknown hook"):
        plugins.register(Typo())


def test_has_impl(fresh):
    assert not plugins.has_impl("dorm_execute", include_builtin=False)

    class Tracer:
        @hookimpl(wrapper=True)
        def dorm_execute(self, backend, sql, params, many):
            return (yield)

    with plugins.registered(Tracer()):
        assert plugins.has_impl("dorm_execute")
        assert plugins.has_impl("dorm_execute", include_builtin=False)
    with pytest.raises(ValueError):
        plugins.has_impl("dorm_nope")


def test_hook_attribute(fresh):
    assert plugins.hook is plugins.get_plugin_manager().hook


# ---- registry: failure isolation, validation, clashes ----------------------------------------
def test_plugin_whose_registration_hook_raises_is_isolated(fresh):
    class Exploding:
        @hookimpl
        def dorm_register_backends(self, register):
            register("halfdb", f"{HERE}:Backend")
            raise RuntimeError("kaboom")

    good = engines_plugin(("gooddb", f"{HERE}:Backend", ()))
    plugins.register(Exploding(), "exploding")
    plugins.register(good, "good")
    reg = plugins.get_registry()
    assert "gooddb" in reg.backends
    assert "halfdb" not in reg.backends  # nothing of a failed plugin is kept
    rec = manager.get_record("exploding")
    assert rec.status == "failed" and "kaboom" in rec.error
    info = {i.name: i for i in plugins.plugin_infos()}
    assert info["exploding"].status == "failed: RuntimeError: kaboom"
    plugins.unregister("exploding")  # a failed plugin can still be unregistered
    plugins.unregister("good")


def test_invalid_registration_arguments_fail_the_plugin(fresh):
    plugins.register(engines_plugin(("baddb", "no_colon_here", ())), "bad")
    plugins.get_registry()
    rec = manager.get_record("bad")
    assert rec.status == "failed"
    assert "module.path:ClassName" in rec.error and "'bad'" in rec.error


def test_field_type_must_be_a_field_class(fresh):
    class P:
        @hookimpl
        def dorm_register_field_types(self, register):
            register(int)

    plugins.register(P(), "notfield")
    plugins.get_registry()
    assert "dorm.fields.Field" in manager.get_record("notfield").error


def test_lookup_needs_lookup_name(fresh):
    class Nameless(LookupBase):
        lookup_name = ""

    class P:
        @hookimpl
        def dorm_register_lookups(self, register):
            register(None, Nameless)

    plugins.register(P(), "nameless")
    plugins.get_registry()
    assert "lookup_name" in manager.get_record("nameless").error


def test_engine_clash_names_both_plugins(fresh):
    plugins.register(engines_plugin(("fakedb", f"{HERE}:Backend", ())), "alpha")
    plugins.register(engines_plugin(("fakedb", f"{HERE}:OtherBackend", ())), "beta")
    with pytest.raises(ImproperlyConfigured) as exc:
        plugins.get_registry()
    assert "'alpha'" in str(exc.value) and "'beta'" in str(exc.value)
    assert "fakedb" in str(exc.value)


def test_alias_clash_names_both_plugins(fresh):
    plugins.register(engines_plugin(("adb", f"{HERE}:Backend", ("shared",))), "alpha")
    plugins.register(engines_plugin(("bdb", f"{HERE}:Backend", ("shared",))), "beta")
    with pytest.raises(ImproperlyConfigured, match="'shared'.*'alpha' and 'beta'"):
        plugins.get_registry()


def _field_plugin(name, cls):
    class P:
        @hookimpl
        def dorm_register_field_types(self, register):
            register(cls, name=name)

    return P()


def test_field_clash_and_same_object_twice(fresh):
    from dorm.fields import CharField

    class UpperTestField(CharField):
        pass

    class Twice:
        @hookimpl
        def dorm_register_field_types(self, register):
            register(UpperTestField)
            register(UpperTestField)  # same object, same plugin: no-op

    plugins.register(Twice(), "twice")
    assert plugins.get_registry().field_types["UpperTestField"] is UpperTestField
    assert plugins.get_registry().owner("field", "UpperTestField") == "twice"
    plugins.register(_field_plugin("UpperTestField", CharField), "other")
    with pytest.raises(ImproperlyConfigured, match="'twice' and 'other'"):
        plugins.get_registry()


def test_lookup_clash_and_vendor_specific_coexist(fresh):
    class A:
        @hookimpl
        def dorm_register_lookups(self, register):
            register(None, NotEqual)
            register(None, NotEqual)  # no-op

    class B:
        @hookimpl
        def dorm_register_lookups(self, register):
            register(None, NotEqual2, vendors=("postgresql",))

    plugins.register(A(), "a")
    plugins.register(B(), "b")
    lookups = plugins.get_registry().lookups
    assert [(lk.lookup_name, lk.vendors, lk.plugin) for lk in lookups if lk.lookup_name == "ne"] == [
        ("ne", None, "a"), ("ne", ("postgresql",), "b")
    ]
    provided = plugins.get_registry().provided_by("b")
    assert provided["lookups"] == ["ne[postgresql]"]

    class C:
        @hookimpl
        def dorm_register_lookups(self, register):
            register(None, NotEqual2)

    plugins.register(C(), "c")
    with pytest.raises(ImproperlyConfigured, match="'a' and 'c'"):
        plugins.get_registry()


def test_operation_expression_and_module_clashes(fresh):
    class Op:
        pass

    def plugin(kind, *args):
        class P:
            pass

        hook = {"op": "dorm_register_migration_operations", "expr": "dorm_register_expressions",
                "mod": "dorm_register_modules"}[kind]
        setattr(P, hook, hookimpl(lambda self, register: register(*args)))
        return P()

    for kind, args in (("op", (Op, "DoThing")), ("expr", (Op, "Thing")), ("mod", ("dorm.thing", "json"))):
        plugins.register(plugin(kind, *args), "first")
        plugins.register(plugin(kind, *args), "second")
        with pytest.raises(ImproperlyConfigured, match="'first' and 'second'"):
            plugins.get_registry()
        plugins.unregister("first")
        plugins.unregister("second")


def test_field_and_expression_share_the_dorm_namespace(fresh):
    from dorm.fields import CharField

    class Clashing(CharField):
        pass

    class E:
        @hookimpl
        def dorm_register_expressions(self, register):
            register(Clashing, name="Clashing")

    plugins.register(_field_plugin("Clashing", Clashing), "fields")
    plugins.register(E(), "exprs")
    with pytest.raises(ImproperlyConfigured, match="dorm.Clashing"):
        plugins.get_registry()


def test_registry_contents_and_provided_by(fresh):
    from dorm.fields import CharField

    class Shout(CharField):
        pass

    class Fn:
        pass

    class Op:
        pass

    class Everything:
        @hookimpl
        def dorm_register_backends(self, register):
            register("everydb", f"{HERE}:Backend", aliases=("every",), test_settings=lambda: None)

        @hookimpl
        def dorm_register_field_types(self, register):
            register(Shout)

        @hookimpl
        def dorm_register_lookups(self, register):
            register(Shout, NotEqual)

        @hookimpl
        def dorm_register_expressions(self, register):
            register(Fn, "Shouty")

        @hookimpl
        def dorm_register_migration_operations(self, register):
            register(Op, "AddShout")

        @hookimpl
        def dorm_register_modules(self, register):
            register("dorm.contrib.everything", "json")

    plugins.register(Everything(), "everything")
    reg = plugins.get_registry()
    b = reg.backends["everydb"]
    assert (b.target, b.aliases, b.plugin) == (f"{HERE}:Backend", ("every",), "everything")
    assert callable(b.test_settings)
    assert reg.field_types["Shout"] is Shout
    assert reg.expressions["Shouty"] is Fn
    assert reg.operations["AddShout"] is Op
    assert reg.modules["dorm.contrib.everything"] == "json"
    assert reg.provided_by("everything") == {
        "engines": ["everydb"], "fields": ["Shout"], "lookups": ["Shout.ne"],
        "expressions": ["Shouty"], "operations": ["AddShout"], "modules": ["dorm.contrib.everything"],
    }
    info = {i.name: i for i in plugins.plugin_infos()}["everything"]
    assert "dorm_register_lookups" in info.provides["hooks"]
    assert info.source == "registered at run time"


# ---- backends ---------------------------------------------------------------------------------
def test_resolve_backend_matching(fresh):
    plugins.register(engines_plugin(
        ("sqlite", f"{HERE}:Backend", ()),
        ("postgresql", f"{HERE}:OtherBackend", ("postgres", "psql")),
        ("fakedb", f"{HERE}:Backend", ()),
    ), "engines")
    r = plugins.resolve_backend
    assert r("sqlite") is Backend
    assert r("SQLite") is Backend
    assert r("") is Backend and r(None) is Backend  # empty means sqlite
    assert r("django.db.backends.sqlite3") is Backend
    assert r("postgresql") is OtherBackend
    assert r("PSQL") is OtherBackend  # alias
    assert r("django.db.backends.postgresql") is OtherBackend
    assert r("postgres") is OtherBackend
    assert r("my.company.FakeDB.backend") is Backend  # any registered name, as a substring


def test_resolve_backend_not_installed_names_distribution(fresh):
    plugins.register(engines_plugin(("sqlite", f"{HERE}:Backend", ())), "sqlite")
    with pytest.raises(PluginNotInstalled) as exc:
        plugins.resolve_backend("postgresql")
    msg = str(exc.value)
    assert "pip install dorm-postgres" in msg
    assert "available engines: sqlite" in msg
    assert exc.value.distribution == "dorm-postgres"
    assert isinstance(exc.value, ImportError) and isinstance(exc.value, ImproperlyConfigured)
    for engine, dist in (("duckdb", "dorm-duckdb"), ("mariadb", "dorm-mysql"), ("libsql", "dorm-libsql"),
                         ("cockroachdb", "dorm-postgres"), ("django.db.backends.mysql", "dorm-mysql")):
        with pytest.raises(PluginNotInstalled, match=dist):
            plugins.resolve_backend(engine)


def test_resolve_backend_unknown_engine_lists_available(fresh):
    plugins.register(engines_plugin(("sqlite", f"{HERE}:Backend", ())), "sqlite")
    with pytest.raises(ImproperlyConfigured, match="Unknown database ENGINE 'oracle'. Available engines: sqlite"):
        plugins.resolve_backend("oracle")


def test_resolve_backend_when_provider_failed_to_load(fresh):
    fresh.append(FakeEntryPoint("postgres", error=ModuleNotFoundError("No module named 'psycopg'"),
                                dist="dorm-postgres", version="0.1.0"))
    with pytest.raises(PluginNotInstalled) as exc:
        plugins.resolve_backend("postgresql")
    msg = str(exc.value)
    assert "dorm-postgres" in msg and "failed to load" in msg and "psycopg" in msg


def test_resolve_backend_import_error_names_plugin_and_target(fresh):
    plugins.register(engines_plugin(("ghostdb", "no_such_module_xyz:Backend", ())), "ghost")
    with pytest.raises(ImproperlyConfigured, match="'ghostdb' \\(plugin 'ghost'\\).*no_such_module_xyz"):
        plugins.resolve_backend("ghostdb")


# ---- missing attributes -------------------------------------------------------------------------
def test_missing_names_the_distribution(fresh):
    err = plugins.missing("HStoreField")
    assert isinstance(err, PluginNotInstalled)
    assert "dorm.HStoreField" in str(err) and "pip install dorm-postgres" in str(err)
    assert plugins.missing("PointField").distribution == "dorm-gis"
    assert plugins.missing("EnumField") is None
    assert plugins.missing("NoSuchThing") is None


# ---- module aliases ------------------------------------------------------------------------------
@pytest.fixture
def fake_feature_package(tmp_path, monkeypatch):
    pkg = tmp_path / "fakefeat_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("def descendants(x):\n    return ['child of ' + x]\n")
    (pkg / "sub" / "__init__.py").write_text("VALUE = 42\n")
    (pkg / "sub" / "leaf.py").write_text("LEAF = 'leaf'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "fakefeat_pkg"
    for name in [m for m in sys.modules if m.startswith(("fakefeat_pkg", "dorm.fakefeat", "dorm.tree"))]:
        del sys.modules[name]


def _modules_plugin(mapping):
    class P:
        @hookimpl
        def dorm_register_modules(self, register):
            for path, target in mapping.items():
                register(path, target)

    return P()


def test_module_alias_is_the_plugin_module(fresh, fake_feature_package):
    import importlib

    with plugins.registered(_modules_plugin({"dorm.fakefeat": "fakefeat_pkg"}), "feat"):
        import dorm
        import dorm.fakefeat
        from dorm.fakefeat import descendants

        assert dorm.fakefeat is sys.modules["fakefeat_pkg"]
        assert descendants("a") == ["child of a"]
        from dorm.fakefeat.sub import VALUE
        from dorm.fakefeat.sub.leaf import LEAF

        assert VALUE == 42 and LEAF == "leaf"
        # submodules are aliased too, never imported twice
        assert sys.modules["dorm.fakefeat.sub"] is sys.modules["fakefeat_pkg.sub"]
        assert sys.modules["dorm.fakefeat.sub.leaf"] is sys.modules["fakefeat_pkg.sub.leaf"]
        assert importlib.import_module("dorm.fakefeat") is sys.modules["fakefeat_pkg"]
    # after the plugin goes away, so does the alias
    assert "dorm.fakefeat" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        import dorm.fakefeat


def test_documented_path_without_plugin_names_distribution(fresh):
    with pytest.raises(PluginNotInstalled) as exc:
        import dorm.tree
    assert "pip install dorm-tree" in str(exc.value)
    assert isinstance(exc.value, ImportError)
    assert exc.value.distribution == "dorm-tree"
    with pytest.raises(PluginNotInstalled, match="dorm-tenancy"):
        from dorm.contrib.tenants_row import TenantModel  # noqa: F401
    with pytest.raises(PluginNotInstalled, match="dorm-postgres"):
        import dorm.contrib.bulk_copy
    with pytest.raises(PluginNotInstalled, match="dorm-resilience"):
        import dorm.contrib.circuit_breaker  # noqa: F401


def test_documented_path_provided_by_plugin(fresh, fake_feature_package):
    with plugins.registered(_modules_plugin({"dorm.tree": "fakefeat_pkg"}), "tree"):
        from dorm.tree import descendants

        assert descendants("root") == ["child of root"]


def test_import_hook_is_active_in_a_fresh_process():
    code = textwrap.dedent(
        """
        try:
            from dorm.contrib.sharding import ShardRouter
        except ImportError as exc:
            print(type(exc).__name__, exc.distribution)
        """
    )
    # dorm-sharding may be installed in this environment: block it for the subprocess
    env = {**os.environ, "DORM_DISABLED_PLUGINS": "sharding"}
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "PluginNotInstalled dorm-sharding"


def test_unknown_dorm_module_is_a_plain_module_not_found(fresh):
    with pytest.raises(ModuleNotFoundError) as exc:
        import dorm.no_such_module_xyz  # noqa: F401
    assert not isinstance(exc.value, PluginNotInstalled)


def test_alias_target_import_error_names_plugin(fresh):
    plugin = _modules_plugin({"dorm.brokenfeat": "no_such_target_xyz"})
    with plugins.registered(plugin, "brokenfeat"), \
            pytest.raises(ImportError, match="plugin 'brokenfeat'.*no_such_target_xyz"):
        import dorm.brokenfeat  # noqa: F401


def test_module_path_must_be_under_dorm(fresh):
    plugins.register(_modules_plugin({"elsewhere.x": "json"}), "outside")
    plugins.get_registry()
    assert "under 'dorm.'" in manager.get_record("outside").error


def test_isolated_restores_previous_plugins():
    outer = plugins.register(engines_plugin(("outerdb", f"{HERE}:Backend", ())), "outer")
    try:
        with plugins.isolated():
            assert "outerdb" not in plugins.get_registry().backends
            plugins.register(engines_plugin(("innerdb", f"{HERE}:Backend", ())), "inner")
        reg = plugins.get_registry()
        assert "outerdb" in reg.backends and "innerdb" not in reg.backends
    finally:
        plugins.unregister(outer)
