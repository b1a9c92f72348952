"""The migration writer: every kernel field type, indexes and constraints round-trip
(write -> import -> same definition), output is deterministic, imports are complete,
and values that cannot be written are refused clearly."""
from __future__ import annotations

import datetime
import decimal
import enum
import uuid

import dorm
import pytest
from dorm.migrations import (
    Migration,
    MigrationAutodetector,
    MigrationLoader,
    MigrationWriter,
    ProjectState,
    SerializationError,
)
from dorm.migrations.autodetector import field_key
from dorm.migrations.loader import AppInfo
from dorm.migrations.operations import AddField, AddIndex, CreateModel, RunPython, RunSQL
from dorm.migrations.serializer import Serializer, serialize_value

from . import rt_models
from .rt_models import APP


def _exec(text: str) -> dict:
    namespace: dict = {"__name__": "migration_under_test"}
    exec(compile(text, "<migration>", "exec"), namespace)  # noqa: S102
    return namespace


def _write_and_load(ops, deps=()):
    text = MigrationWriter(Migration("0001_test", APP, ops, list(deps))).as_string()
    return text, _exec(text)


def _model_fields():
    out = []
    for model in (rt_models.Everything, rt_models.Target, rt_models.Group, rt_models.Membership,
                  rt_models.NativeHolder):
        for field in [*model._meta.local_fields, *model._meta.local_many_to_many]:
            out.append(pytest.param(model, field.name, id=f"{model.__name__}.{field.name}"))
    return out


@pytest.mark.parametrize(("model", "name"), _model_fields())
def test_field_round_trip(model, name):
    field = model._meta.get_field(name)
    text, ns = _write_and_load([AddField(model.__name__, name, field)])
    loaded = ns["operations"][0].field
    assert type(loaded) is type(field)
    assert field_key(loaded) == field_key(field), text
    # the definition survives a second round trip unchanged
    text2, _ = _write_and_load([AddField(model.__name__, name, loaded)])
    assert text2 == text


def test_field_details_are_kept():
    fields = {f.name: f for f in rt_models.Everything._meta.local_fields}
    text, ns = _write_and_load([AddField("Everything", n, f) for n, f in fields.items()])
    loaded = {op.name: op.field for op in ns["operations"]}
    assert loaded["big"].db_column == "big_col"
    assert loaded["small"].db_default == 1
    assert loaded["pos_big"].db_comment == "big one"
    assert loaded["name"].choices == [("a", "A"), ("b", "B")]
    assert loaded["name"].verbose_name == "the name"
    assert loaded["day"].default is rt_models.today
    assert loaded["uid"].version == 4
    assert loaded["uid2"].default is uuid.uuid4
    assert loaded["data"].encoder is rt_models.Encoder and loaded["data"].default is dict
    assert loaded["color"].enum_cls is rt_models.Color and loaded["color"].default is rt_models.Color.RED
    native = rt_models.NativeHolder._meta.get_field("native")
    _, ns = _write_and_load([AddField("NativeHolder", "native", native)])
    assert ns["operations"][0].field.native is True
    assert ns["operations"][0].field.type_name == "color_t"
    assert loaded["integer"].validators[-2:] == fields["integer"].validators[-2:]
    assert loaded["target"].remote_field.related_name == "everything"
    assert loaded["target"].remote_field.on_delete == dorm.PROTECT
    assert loaded["target_code"].to_field == "code" and loaded["target_code"].db_constraint is False
    assert loaded["target_default"].remote_field.on_delete == dorm.SET(None)
    assert loaded["parent"].deconstruct()[3]["to"] == "migrt.Everything"
    assert loaded["span"].default == datetime.timedelta(hours=1)
    assert "import tests.migrations.rt_models" in text
    assert "from dorm.fields import" in text and "PROTECT" in text


def test_whole_app_round_trip(tmp_path):
    app = AppInfo(APP, "migrt_pkg", tmp_path)
    loader = MigrationLoader(apps=[app])
    target = ProjectState.from_apps(app_label=APP)
    detector = MigrationAutodetector(ProjectState(), target)
    changes = detector.changes(app_labels=[APP])
    migrations = detector.arrange(changes, loader)
    [migration] = migrations[APP]
    assert migration.name == "0001_initial" and migration.initial
    names = [op.name for op in migration.operations if isinstance(op, CreateModel)]
    assert names.index("Target") < names.index("Everything")      # referenced model first
    writer = MigrationWriter(migration, app.migrations_dir)
    first = writer.as_string()
    writer.write()
    assert (app.migrations_dir / "__init__.py").exists()

    loaded = MigrationLoader(apps=[app])
    state = loaded.project_state()
    assert state == target
    assert MigrationAutodetector(state, target).changes(app_labels=[APP]) == {}
    # deterministic: the same changes give the same text
    again = MigrationAutodetector(ProjectState(), ProjectState.from_apps(app_label=APP))
    regenerated = again.arrange(again.changes(app_labels=[APP]), MigrationLoader(apps=[
        AppInfo(APP, "migrt_pkg", tmp_path / "other")]))
    assert MigrationWriter(regenerated[APP][0]).as_string() == first


def test_indexes_and_constraints_round_trip():
    opts = rt_models.Everything._meta
    ops = [AddIndex("Everything", i) for i in opts.indexes]
    text, ns = _write_and_load(ops)
    for original, op in zip(opts.indexes, ns["operations"]):
        assert serialize_value(op.index) == serialize_value(original)
        assert op.index.condition == original.condition
    assert "from dorm import" in text and "Index" in text and "Q(flag=True)" in text
    from dorm.migrations.operations import AddConstraint

    text, ns = _write_and_load([AddConstraint("Everything", c) for c in opts.constraints])
    for original, op in zip(opts.constraints, ns["operations"]):
        assert type(op.constraint) is type(original)
        assert serialize_value(op.constraint) == serialize_value(original)
    assert "CheckConstraint" in text and "UniqueConstraint" in text and "F(" in text
    assert "..." not in text


def test_values_serialize_and_import():
    class Local(enum.Enum):
        A = 1

    values = [None, True, 3, 2.5, float("inf"), "it's \"x\"", b"\x00b", decimal.Decimal("1.10"),
              datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5),
              datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC), datetime.time(1, 2),
              datetime.timedelta(days=2), uuid.UUID(int=7), [1, (2,)], {"k": {1, 2}}, frozenset(),
              rt_models.Color.GREEN, rt_models.Level.HIGH, datetime.datetime.now, dorm.Q(a=1) | dorm.Q(b=2),
              dorm.F("x"), dorm.Value(3)]
    ser = Serializer()
    source = ", ".join(ser.serialize(v).flat() for v in values)
    text = "\n".join(ser.import_lines()) + f"\nvalues = [{source}]\n"
    ns = _exec(text)
    loaded = ns["values"]
    for original, back in zip(values, loaded):
        if isinstance(original, (dorm.F, dorm.Value)):
            assert serialize_value(back) == serialize_value(original)
        else:
            assert back == original, (original, back)
    with pytest.raises(SerializationError, match="lambda"):
        Serializer().serialize(lambda: 1)
    with pytest.raises(SerializationError, match="inside a function"):
        Serializer().serialize(Local.A)

    def nested():
        return 1

    with pytest.raises(SerializationError, match="inside a function"):
        Serializer().serialize(nested)
    with pytest.raises(SerializationError, match="deconstruct"):
        Serializer().serialize(object())


def test_lambda_default_is_refused_with_the_field_named():
    field = dorm.IntegerField(default=lambda: 1)
    with pytest.raises(SerializationError, match="lambda"):
        MigrationWriter(Migration("0001_x", APP, [AddField("Everything", "n", field)])).as_string()


def test_special_operations_round_trip():
    ops = [RunSQL("UPDATE t SET a = %s", reverse_sql=RunSQL.noop, params=[1]),
           RunSQL(["SELECT 1", ("SELECT %s", [2])], reverse_sql=None),
           RunPython(rt_models.today, RunPython.noop)]
    text, ns = _write_and_load(ops)
    loaded = ns["operations"]
    assert loaded[0].params == [1] and loaded[0].reverse_sql == ""
    assert loaded[1].sql == ["SELECT 1", ("SELECT %s", [2])] and not loaded[1].reversible
    assert loaded[2].code is rt_models.today and loaded[2].reverse_code is RunPython.noop
    assert "RunPython.noop" in text


def test_plugin_operation_is_importable_and_written(tmp_path):
    from dorm.migrations.operations.base import Operation

    class Shout(Operation):
        def __init__(self, word, *, times=1):
            self.word, self.times = word, times

        def state_forwards(self, app_label, state):
            pass

        def database_forwards(self, app_label, schema_editor, from_state, to_state):
            schema_editor.execute(f"SELECT '{self.word}'")

        def database_backwards(self, app_label, schema_editor, from_state, to_state):
            pass

    class Plugin:
        @dorm.hookimpl
        def dorm_register_migration_operations(self, register):
            register(Shout, name="ShoutOperation")

    with dorm.plugins.registered(Plugin()):
        from dorm.migrations import operations

        assert operations.ShoutOperation is Shout
        text, ns = _write_and_load([Shout("hey", times=2)])
        assert "from dorm.migrations.operations import ShoutOperation" in text
        assert "ShoutOperation(\"hey\", times=2)" in text
        assert ns["operations"][0].word == "hey"
    with pytest.raises(AttributeError, match="ShoutOperation"):
        operations.ShoutOperation  # noqa: B018
    # a documented operation whose plugin is not installed names the distribution
    # (a made-up entry: the real ones are provided when dorm-postgres is installed)
    operations.KNOWN_PLUGIN_OPERATIONS["FuturePGOperation"] = "dorm-postgres"
    try:
        with pytest.raises(ImportError, match="dorm-postgres"):
            from dorm.migrations.operations import FuturePGOperation  # noqa: F401
    finally:
        del operations.KNOWN_PLUGIN_OPERATIONS["FuturePGOperation"]


def test_file_shape():
    migration = Migration("0002_auto", APP, [AddField("Target", "note", dorm.TextField(null=True))],
                          [(APP, "0001_initial"), ("other", "0003_x")], atomic=False)
    text = MigrationWriter(migration).as_string()
    assert text.startswith('"""Migration migrt.0002_auto')
    assert "atomic = False" in text
    assert 'dependencies = [\n    ("migrt", "0001_initial"),\n    ("other", "0003_x"),\n]' in text
    assert 'AddField(model_name="Target", name="note", field=TextField(null=True))' in text
    assert all(len(line) <= 100 for line in text.splitlines())
