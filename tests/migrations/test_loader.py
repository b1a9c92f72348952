"""Discovery of migration files and the dependency graph across apps (no database)."""
from __future__ import annotations

import textwrap

import pytest
from dorm.migrations import (
    BadMigrationError,
    CircularDependencyError,
    ConflictError,
    MigrationLoader,
    NodeNotFoundError,
)
from dorm.migrations.loader import AppInfo, resolve_app

EMPTY = "operations = []\n"


def make_app(tmp_path, label, files: dict[str, str]) -> AppInfo:
    directory = tmp_path / label
    (directory / "migrations").mkdir(parents=True)
    (directory / "migrations" / "__init__.py").touch()
    for name, source in files.items():
        (directory / "migrations" / name).write_text(textwrap.dedent(source))
    return AppInfo(label, label, directory)


def deps(*pairs):
    return f"dependencies = {list(pairs)!r}\noperations = []\n"


def test_discovery_rules_and_implicit_chain(tmp_path):
    app = make_app(tmp_path, "a", {
        "0001_initial.py": EMPTY,
        "0002_second.py": EMPTY,          # no dependencies: chained after 0001
        "10_later.py": EMPTY,             # numbers need not be zero-padded
        "_0003_private.py": EMPTY,
        "helpers.py": "raise RuntimeError('not a migration')",
        "0003.txt": "nope",
    })
    loader = MigrationLoader(apps=[app])
    assert loader.graph.order() == [("a", "0001_initial"), ("a", "0002_second"), ("a", "10_later")]
    assert loader.graph.leaf_nodes("a") == [("a", "10_later")]
    assert loader.detect_conflicts() == {}
    assert loader.find_migration("a", "2").name == "0002_second"
    assert loader.find_migration("a", "0002").name == "0002_second"
    assert loader.find_migration("a", "10_later").name == "10_later"
    with pytest.raises(NodeNotFoundError, match="available: 0001_initial, 0002_second, 10_later"):
        loader.find_migration("a", "0005")


def test_cross_app_order_follows_dependencies(tmp_path):
    # "b" is listed first but its first migration needs "a"'s
    b = make_app(tmp_path, "b", {"0001_initial.py": deps(("a", "0001_initial")),
                                 "0002_x.py": deps(("b", "0001_initial"))})
    a = make_app(tmp_path, "a", {"0001_initial.py": EMPTY, "0002_y.py": EMPTY})
    loader = MigrationLoader(apps=[b, a])
    assert loader.graph.order() == [("a", "0001_initial"), ("b", "0001_initial"), ("b", "0002_x"),
                                    ("a", "0002_y")]
    assert loader.graph.forwards_plan(("b", "0001_initial")) == [("a", "0001_initial"), ("b", "0001_initial")]
    assert loader.graph.backwards_plan(("a", "0001_initial"))[-1] == ("a", "0001_initial")
    assert ("b", "0002_x") in loader.graph.backwards_plan(("a", "0001_initial"))


def test_first_and_latest(tmp_path):
    a = make_app(tmp_path, "a", {"0001_initial.py": EMPTY, "0002_y.py": EMPTY})
    b = make_app(tmp_path, "b", {"0001_initial.py": deps(("a", "__latest__")),
                                 "0002_z.py": deps(("b", "0001_initial"), ("a", "__first__"))})
    c = make_app(tmp_path, "c", {"0001_initial.py": deps(("nomigrations", "__first__"))})
    nomig = AppInfo("nomigrations", "nomigrations", tmp_path / "nothing")
    loader = MigrationLoader(apps=[a, b, c, nomig])
    assert loader.graph.parents[("b", "0001_initial")] == {("a", "0002_y")}
    assert loader.graph.parents[("b", "0002_z")] == {("b", "0001_initial"), ("a", "0001_initial")}
    d = make_app(tmp_path, "d", {"0001_initial.py": deps(("ghostapp", "__first__"))})
    with pytest.raises(NodeNotFoundError, match="ghostapp"):
        MigrationLoader(apps=[d])


def test_missing_dependency(tmp_path):
    a = make_app(tmp_path, "a", {"0001_initial.py": deps(("b", "0007_nope"))})
    b = make_app(tmp_path, "b", {"0001_initial.py": EMPTY})
    with pytest.raises(NodeNotFoundError) as info:
        MigrationLoader(apps=[a, b])
    assert "a.0001_initial depends on b.0007_nope, which does not exist" in str(info.value)
    assert "known migrations of 'b': 0001_initial" in str(info.value)


def test_cycle(tmp_path):
    a = make_app(tmp_path, "a", {"0001_initial.py": deps(("b", "0001_initial"))})
    b = make_app(tmp_path, "b", {"0001_initial.py": deps(("a", "0001_initial"))})
    with pytest.raises(CircularDependencyError, match=r"a\.0001_initial -> b\.0001_initial -> a\.0001_initial|"
                                                      r"b\.0001_initial -> a\.0001_initial -> b\.0001_initial"):
        MigrationLoader(apps=[a, b])


def test_multiple_leaves(tmp_path):
    a = make_app(tmp_path, "a", {"0001_initial.py": EMPTY,
                                 "0002_left.py": deps(("a", "0001_initial")),
                                 "0002_right.py": deps(("a", "0001_initial"))})
    loader = MigrationLoader(apps=[a])
    assert loader.detect_conflicts() == {"a": ["0002_left", "0002_right"]}
    with pytest.raises(ConflictError, match="0002_left, 0002_right in a.*--merge"):
        loader.check_conflicts()
    (a.migrations_dir / "0003_merge.py").write_text(deps(("a", "0002_left"), ("a", "0002_right")))
    assert MigrationLoader(apps=[a]).detect_conflicts() == {}


@pytest.mark.parametrize(("source", "message"), [
    ("operations = [\n", "syntax error on line"),
    ("import no_such_module_xyz\noperations = []\n", "ModuleNotFoundError"),
    ("dependencies = []\n", "defines no 'operations'"),
    ("operations = [42]\n", "not a migration operation"),
    ("dependencies = ['a']\noperations = []\n", "pairs"),
    ("raise ValueError('boom')\n", "ValueError: boom"),
])
def test_broken_files(tmp_path, source, message):
    a = make_app(tmp_path, "a", {"0001_initial.py": source})
    with pytest.raises(BadMigrationError) as info:
        MigrationLoader(apps=[a])
    assert message in str(info.value)
    assert "0001_initial.py" in str(info.value)


def test_django_style_migration_class(tmp_path):
    a = make_app(tmp_path, "a", {"0001_initial.py": """
        from dorm.migrations.operations import RunSQL

        class Migration:
            dependencies = []
            atomic = False
            operations = [RunSQL("SELECT 1")]
    """})
    [migration] = MigrationLoader(apps=[a]).graph.nodes.values()
    assert migration.atomic is False and len(migration.operations) == 1


def test_state_errors_name_the_migration(tmp_path):
    a = make_app(tmp_path, "a", {"0001_initial.py": """
        from dorm.migrations.operations import RemoveField
        operations = [RemoveField("Nope", "x")]
    """})
    loader = MigrationLoader(apps=[a])
    with pytest.raises(BadMigrationError, match=r"a\.0001_initial.*operation 1 \(Remove field x from Nope\)"):
        loader.project_state()


def test_resolve_app():
    apps = [AppInfo("shop", "proj.shop", None), AppInfo("proj.blog", "proj.blog", None)]
    assert resolve_app(apps, "shop").label == "shop"
    assert resolve_app(apps, "proj.shop").label == "shop"
    assert resolve_app(apps, "blog").label == "proj.blog"
    with pytest.raises(LookupError, match="installed apps: shop, proj.blog"):
        resolve_app(apps, "nope")
