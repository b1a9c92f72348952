"""The executor and the operations against a real database (every installed backend):
forwards, backwards with data, atomicity, non-atomic migrations, dry-run, fake,
squashed migrations, and "the migrated schema is what the models describe"."""
from __future__ import annotations

import textwrap

import dorm
import pytest
from dorm.db import connections
from dorm.migrations import (
    IrreversibleError,
    Migration,
    MigrationAutodetector,
    MigrationError,
    MigrationExecutor,
    MigrationFailed,
    MigrationLoader,
    MigrationRecorder,
    MigrationWriter,
    ProjectState,
)
from dorm.migrations.drift import schema_drift
from dorm.migrations.loader import AppInfo
from dorm.models.options import registry

from . import rt_models

APP = "migexec"
CALLS: list = []


# functions used by RunPython in the migration files below (importable)
def forwards_dorm_style(app_label, models):
    CALLS.append(("forwards", app_label, "migrt.Target" in models))


def backwards_django_style(apps, schema_editor):
    CALLS.append(("backwards", apps.get_model("migrt", "Target").__name__,
                  schema_editor.connection.alias))


@pytest.fixture
def conn(mig_db):
    with dorm.settings.override(DATABASES={"default": mig_db}):
        try:
            yield connections["default"]
        finally:
            connections.close_all()


@pytest.fixture
def app(tmp_path):
    directory = tmp_path / "migexec_pkg"
    (directory / "migrations").mkdir(parents=True)
    (directory / "migrations" / "__init__.py").touch()
    return AppInfo(APP, "migexec_pkg", directory)


def write(app, name, source):
    (app.migrations_dir / name).write_text(textwrap.dedent(source))


def executor(conn, *apps):
    return MigrationExecutor(conn, MigrationLoader(conn, apps=list(apps)))


def tables(conn, prefix=APP):
    return {t for t in conn.introspection.table_names() if t.startswith(prefix)}


def rows(conn, sql, params=()):
    return [tuple(r) for r in conn.execute(sql.replace("%s", conn.ops.placeholder), params)]


def insert(conn, sql, params=()):
    conn.execute_write(sql.replace("%s", conn.ops.placeholder), params)


INITIAL = """
    from dorm.fields import CharField, IntegerField, ForeignKey, CASCADE
    from dorm.migrations.operations import CreateModel

    dependencies = []
    operations = [
        CreateModel(name="Box", fields=[("label", CharField(max_length=20))]),
        CreateModel(name="Item", fields=[
            ("name", CharField(max_length=20)),
            ("qty", IntegerField(null=True)),
            ("box", ForeignKey(to="migexec.Box", on_delete=CASCADE, null=True)),
        ]),
    ]
"""

CHANGES = """
    from dorm import Index, UniqueConstraint, CheckConstraint, Q
    from dorm.fields import CharField, IntegerField
    from dorm.migrations.operations import (
        AddField, AlterField, RenameField, AddIndex, AddConstraint, AlterUniqueTogether,
        RenameModel, AlterModelTable, RunSQL, RunPython, RemoveField, AlterModelOptions,
        SeparateDatabaseAndState,
    )
    import tests.migrations.test_executor

    dependencies = [("migexec", "0001_initial")]
    operations = [
        AddField(model_name="Item", name="code", field=CharField(max_length=10, default="x")),
        AlterField(model_name="Item", name="qty", field=IntegerField(default=0), preserve_default=False),
        RenameField(model_name="Item", old_name="name", new_name="title"),
        AddIndex(model_name="Item", index=Index(fields=["title", "-code"], name="migexec_item_tc")),
        AddConstraint(model_name="Item",
                      constraint=CheckConstraint(check=Q(qty__gte=0), name="migexec_item_qty")),
        AlterUniqueTogether(name="Item", unique_together=[("title", "code")]),
        RenameModel(old_name="Box", new_name="Crate"),
        AlterModelTable(name="Crate", table="migexec_crates"),
        AlterModelOptions(name="Item", options={"ordering": ["title"]}),
        RunSQL("INSERT INTO migexec_crates (label) VALUES (%s)", reverse_sql=RunSQL.noop, params=["new"]),
        RunPython(tests.migrations.test_executor.forwards_dorm_style,
                  tests.migrations.test_executor.backwards_django_style),
        SeparateDatabaseAndState(state_operations=[
            AddField(model_name="Item", name="ghost", field=IntegerField(null=True))]),
        SeparateDatabaseAndState(
            database_operations=[RunSQL("SELECT 1", reverse_sql="SELECT 2")],
            state_operations=[RemoveField(model_name="Item", name="ghost")]),
    ]
"""


def test_operations_forwards_and_backwards_keep_data(conn, app):
    write(app, "0001_initial.py", INITIAL)
    ex = executor(conn, app)
    ex.migrate()
    assert tables(conn) == {"migexec_box", "migexec_item"}
    insert(conn, "INSERT INTO migexec_box (label) VALUES ('b1')")
    box = rows(conn, "SELECT id FROM migexec_box")[0][0]
    insert(conn, "INSERT INTO migexec_item (name, qty, box_id) VALUES ('a', NULL, %s)", [box])
    insert(conn, "INSERT INTO migexec_item (name, qty, box_id) VALUES ('b', 5, %s)", [box])

    write(app, "0002_changes.py", CHANGES)
    CALLS.clear()
    ex = executor(conn, app)
    ex.migrate()
    assert CALLS == [("forwards", APP, True)]
    assert tables(conn) == {"migexec_crates", "migexec_item"}
    assert rows(conn, "SELECT title, qty, code FROM migexec_item ORDER BY title") == [("a", 0, "x"), ("b", 5, "x")]
    assert sorted(r[0] for r in rows(conn, "SELECT label FROM migexec_crates")) == ["b1", "new"]
    constraints = conn.introspection.get_constraints("migexec_item")
    assert "migexec_item_tc" in constraints
    assert any(c["unique"] and set(c["columns"]) == {"title", "code"} for c in constraints.values())
    assert [r[0] for r in rows(conn, "SELECT box_id FROM migexec_item")] == [box, box]
    with pytest.raises(dorm.IntegrityError):
        insert(conn, "INSERT INTO migexec_item (title, qty, code) VALUES ('c', -1, 'y')")

    # the state replayed from the files is what the executor built
    state = ex.loader.project_state()
    item = state.get_model_state(APP, "Item")
    assert list(item.fields) == ["id", "title", "qty", "box", "code"]
    assert item.options["ordering"] == ["title"]
    assert state.get_model_state(APP, "Crate").db_table == "migexec_crates"

    ex.migrate([(APP, "0001_initial")])
    assert CALLS[-1] == ("backwards", "Target", "default")
    assert tables(conn) == {"migexec_box", "migexec_item"}
    assert [c.name for c in conn.introspection.get_table_description("migexec_item")] == \
        ["id", "name", "qty", "box_id"]
    assert rows(conn, "SELECT name, qty FROM migexec_item ORDER BY name") == [("a", 0), ("b", 5)]
    assert "migexec_item_tc" not in conn.introspection.get_constraints("migexec_item")
    insert(conn, "INSERT INTO migexec_item (name, qty) VALUES ('n', NULL)")   # nullable again

    ex.migrate([(APP, None)])
    assert tables(conn) == set()
    assert MigrationRecorder(conn).applied_migrations() == set()


def test_failing_migration_is_rolled_back_whole(conn, app):
    write(app, "0001_initial.py", INITIAL)
    write(app, "0002_fails.py", """
        from dorm.fields import CharField
        from dorm.migrations.operations import AddField, CreateModel, RunSQL
        dependencies = [("migexec", "0001_initial")]
        operations = [
            CreateModel(name="Ghost", fields=[("n", CharField(max_length=5))]),
            AddField(model_name="Item", name="extra", field=CharField(max_length=5, null=True)),
            RunSQL("INSERT INTO migexec_nope VALUES (1)"),
        ]
    """)
    ex = executor(conn, app)
    with pytest.raises(MigrationFailed) as info:
        ex.migrate()
    message = str(info.value)
    assert "migexec.0002_fails failed at operation 3/3" in message
    applied = MigrationRecorder(conn).applied_migrations()
    assert applied == {(APP, "0001_initial")}
    if conn.features.supports_transactional_ddl:
        assert info.value.schema_state == "rolled back"
        assert "rolled back" in message
        assert tables(conn) == {"migexec_box", "migexec_item"}
        assert "extra" not in [c.name for c in conn.introspection.get_table_description("migexec_item")]
    else:
        assert info.value.schema_state == "partially applied"
        assert "operations 1..2 were applied" in message


def test_non_atomic_migrations(conn, app):
    write(app, "0001_initial.py", INITIAL)
    write(app, "0002_index.py", """
        from dorm import Index
        from dorm.migrations.operations import AddIndex
        dependencies = [("migexec", "0001_initial")]
        operations = [AddIndex("Item", Index(fields=["name"], name="migexec_item_name"), concurrently=True)]
    """)
    with pytest.raises(MigrationError, match="atomic = False"):
        executor(conn, app).migrate()
    assert MigrationRecorder(conn).applied_migrations() == {(APP, "0001_initial")}
    source = (app.migrations_dir / "0002_index.py").read_text()
    (app.migrations_dir / "0002_index.py").write_text("atomic = False\n" + source)
    ex = executor(conn, app)
    ex.migrate()
    assert "migexec_item_name" in conn.introspection.get_constraints("migexec_item")
    ex.migrate([(APP, "0001_initial")])
    assert "migexec_item_name" not in conn.introspection.get_constraints("migexec_item")


def test_dry_run_fake_and_fake_initial(conn, app):
    write(app, "0001_initial.py", INITIAL)
    write(app, "0002_py.py", """
        from dorm.migrations.operations import RunPython
        import tests.migrations.test_executor as t
        dependencies = [("migexec", "0001_initial")]
        operations = [RunPython(t.forwards_dorm_style)]
    """)
    CALLS.clear()
    ex = executor(conn, app)
    results = ex.migrate(dry_run=True)
    assert any("CREATE TABLE" in sql for sql in results[0].sql)
    assert any("RunPython" in sql for sql in results[1].sql)
    assert CALLS == []
    assert not conn.introspection.table_exists("dorm_migrations")
    assert tables(conn) == set()

    ex.migrate(fake=True)
    assert tables(conn) == set()
    assert MigrationRecorder(conn).applied_migrations() == {(APP, "0001_initial"), (APP, "0002_py")}
    with pytest.raises(IrreversibleError):
        executor(conn, app).migrate([(APP, None)])
    assert len(MigrationRecorder(conn).applied_migrations()) == 2
    executor(conn, app).migrate([(APP, None)], fake=True)
    assert MigrationRecorder(conn).applied_migrations() == set()

    # tables exist already: --fake-initial fakes 0001 and runs 0002
    with conn.schema_editor() as editor:
        for model in ProjectState().clone().apps.get_models():
            editor.create_model(model)
    state = MigrationLoader(apps=[app]).project_state(nodes=[(APP, "0001_initial")])
    with conn.schema_editor() as editor:
        for model in state.apps.get_models():
            editor.create_model(model)
    seen = []
    ex = executor(conn, app)
    ex.progress = lambda event, migration, **info: seen.append((event, migration.name))
    ex.migrate(fake_initial=True)
    assert ("fake", "0001_initial") in seen and ("apply_success", "0002_py") in seen
    assert CALLS == [("forwards", APP, True)]


def test_irreversible_rollback_changes_nothing(conn, app):
    write(app, "0001_initial.py", INITIAL)
    write(app, "0002_sql.py", """
        from dorm.migrations.operations import RunSQL
        dependencies = [("migexec", "0001_initial")]
        operations = [RunSQL("INSERT INTO migexec_box (label) VALUES ('z')")]
    """)
    executor(conn, app).migrate()
    with pytest.raises(IrreversibleError, match="irreversible"):
        executor(conn, app).rollback(APP)
    assert (APP, "0002_sql") in MigrationRecorder(conn).applied_migrations()
    assert rows(conn, "SELECT label FROM migexec_box") == [("z",)]


def test_squashed_migrations(conn, app):
    write(app, "0001_initial.py", INITIAL)
    write(app, "0002_more.py", """
        from dorm.fields import CharField
        from dorm.migrations.operations import AddField
        dependencies = [("migexec", "0001_initial")]
        operations = [AddField("Item", "note", CharField(max_length=5, null=True))]
    """)
    executor(conn, app).migrate()
    from dorm.migrations.squasher import squash_migrations

    squashed = squash_migrations(MigrationLoader(apps=[app]), APP, None, "0002")
    assert [type(op).__name__ for op in squashed.operations] == ["CreateModel", "CreateModel"]
    MigrationWriter(squashed, app.migrations_dir).write()
    # every replaced migration is applied: the squashed one counts as applied and is recorded
    ex = executor(conn, app)
    assert ex.migration_plan(ex.targets_for()) == []
    ex.migrate()
    assert (APP, "0003_squashed") in MigrationRecorder(conn).applied_migrations()
    # a fresh database applies the squashed migration and records what it replaces
    ex.migrate([(APP, None)])
    assert MigrationRecorder(conn).applied_migrations() == set()
    ex = executor(conn, app)
    plan = ex.migration_plan(ex.targets_for())
    assert [m.name for m, _ in plan] == ["0003_squashed"]
    ex.migrate(plan=plan)
    assert MigrationRecorder(conn).applied_migrations() == {
        (APP, "0001_initial"), (APP, "0002_more"), (APP, "0003_squashed")}
    assert "note" in [c.name for c in conn.introspection.get_table_description("migexec_item")]


def test_migrated_schema_matches_the_models(conn, tmp_path):
    """Every kernel field type, index and constraint: the tables built by the
    migration are exactly what the models describe (no drift), and zero drops them."""
    if not conn.features.supports_partial_indexes:
        pytest.skip("the round-trip models use partial indexes (features.supports_partial_indexes)")
    app = AppInfo(rt_models.APP, "migrt_pkg", tmp_path)
    loader = MigrationLoader(conn, apps=[app])
    detector = MigrationAutodetector(ProjectState(), ProjectState.from_apps(app_label=rt_models.APP))
    [migration] = detector.arrange(detector.changes(app_labels=[rt_models.APP]), loader)[rt_models.APP]
    MigrationWriter(migration, app.migrations_dir).write()
    ex = executor(conn, app)
    ex.migrate()
    models = registry.get_models(rt_models.APP)
    assert len(models) == 6            # 4 models and 2 auto-created junction models
    assert schema_drift(conn, models=models) == []
    ex.migrate([(rt_models.APP, None)])
    assert tables(conn, "migrt") == set()


def test_migration_objects_and_recorder(conn):
    recorder = MigrationRecorder(conn)
    assert recorder.applied_migrations() == set()
    assert not recorder.has_table()
    recorder.record_applied("a", "0001_x")
    recorder.record_applied("a", "0001_x")
    assert recorder.applied_migrations() == {("a", "0001_x")}
    assert recorder.applied_rows()[0][2] is not None
    recorder.record_unapplied("a", "0001_x")
    assert recorder.applied_migrations() == set()
    assert Migration("0003_y", "a").number == 3


def test_schema_editor_api(conn):
    from dorm.migrations.schema import SchemaEditor

    model = rt_models.Target
    table = model._meta.db_table
    with SchemaEditor(conn, atomic=True) as editor:
        editor.create_model(model)
        editor.add_field(model, "note", dorm.CharField(max_length=5, null=True))
        editor.execute(f"INSERT INTO {conn.ops.quote_name(table)} (code, note) VALUES (%s, %s)"
                       .replace("%s", conn.ops.placeholder), ["c1", "n"])
    assert [c.name for c in conn.introspection.get_table_description(table)] == ["id", "code", "note"]
    SchemaEditor(conn).delete_model(model)
    assert not conn.introspection.table_exists(table)


async def test_async_schema_editor(mig_db):
    from dorm.migrations.schema import AsyncSchemaEditor

    model = rt_models.Target
    with dorm.settings.override(DATABASES={"default": mig_db}):
        try:
            async with AsyncSchemaEditor("default") as editor:
                await editor.acreate_model(model)
                await editor.aadd_field(model, "extra", dorm.IntegerField(null=True))
            assert "extra" in [c.name for c in connections["default"].introspection
                               .get_table_description(model._meta.db_table)]
            async with AsyncSchemaEditor("default") as editor:
                await editor.adelete_model(model)
            assert not connections["default"].introspection.table_exists(model._meta.db_table)
        finally:
            connections.close_all()
