"""The autodetector (state diff -> operations), the questioner, arranging migrations
across apps, the squasher and the lint rules (no database)."""
from __future__ import annotations

import dorm
import pytest
from dorm.migrations import (
    InteractiveQuestioner,
    Migration,
    MigrationAutodetector,
    ModelState,
    ProjectState,
    Questioner,
    QuestionError,
)
from dorm.migrations.drift import types_match
from dorm.migrations.lint import lint_migration
from dorm.migrations.loader import AppInfo, MigrationLoader
from dorm.migrations.operations import (
    AddField,
    AddIndex,
    AlterField,
    CreateModel,
    DeleteModel,
    RemoveField,
    RenameField,
    RunPython,
)
from dorm.migrations.squasher import squash_operations


def state(*models: ModelState) -> ProjectState:
    s = ProjectState()
    for m in models:
        s.add_model(m)
    return s


def ms(app, name, fields, **options) -> ModelState:
    return ModelState(app, name, fields, options)


def names(ops):
    return [type(op).__name__ for op in ops]


def author(**extra):
    return ms("shop", "Author", [("name", dorm.CharField(max_length=50)), *extra.items()])


def test_create_delete_and_field_changes():
    old = state(author(), ms("shop", "Gone", [("x", dorm.IntegerField())]))
    new = state(ms("shop", "Author", [("name", dorm.CharField(max_length=80)),
                                      ("age", dorm.IntegerField(null=True))]),
                ms("shop", "Book", [("author", dorm.ForeignKey("shop.Author", on_delete=dorm.CASCADE))]))
    changes = MigrationAutodetector(old, new).changes()
    assert names(changes["shop"]) == ["CreateModel", "AddField", "AlterField", "DeleteModel"]
    assert changes["shop"][2].field.max_length == 80


def test_rename_field_hint_question_and_default():
    old = state(author())
    new = state(ms("shop", "Author", [("full_name", dorm.CharField(max_length=50))]))
    # --no-input: no rename, remove + add; the added NOT NULL field needs a default
    with pytest.raises(QuestionError, match="non-nullable field 'full_name'"):
        MigrationAutodetector(old, new).changes()
    ops = MigrationAutodetector(old, new, Questioner(defaults={"shop.Author.full_name": ""})).changes()["shop"]
    assert names(ops) == ["AddField", "RemoveField"] and ops[0].preserve_default is False
    # hint
    ops = MigrationAutodetector(old, new, rename_hints={"fields": {"shop.Author": {"name": "full_name"}}}).changes()
    assert names(ops["shop"]) == ["RenameField"]
    # interactive question
    asked = []
    q = InteractiveQuestioner(confirm=lambda text, default: asked.append(text) or True, echo=lambda *a: None)
    ops = MigrationAutodetector(old, new, q).changes()["shop"]
    assert names(ops) == ["RenameField"] and "renamed to shop.Author.full_name" in asked[0]
    # a different definition is never a rename candidate
    other = state(ms("shop", "Author", [("full_name", dorm.CharField(max_length=51, null=True))]))
    assert names(MigrationAutodetector(old, other, q).changes()["shop"]) == ["AddField", "RemoveField"]


def test_rename_model():
    old = state(author(), ms("shop", "Book", [("by", dorm.ForeignKey("shop.Author", on_delete=dorm.CASCADE))]))
    new = state(ms("shop", "Writer", [("name", dorm.CharField(max_length=50))]),
                ms("shop", "Book", [("by", dorm.ForeignKey("shop.Writer", on_delete=dorm.CASCADE))]))
    assert names(MigrationAutodetector(old, new, Questioner(lenient=True)).changes()["shop"]) == \
        ["CreateModel", "AlterField", "DeleteModel"]
    ops = MigrationAutodetector(old, new, detect_renames=True).changes()["shop"]
    assert names(ops) == ["RenameModel"]        # the FK follows the rename in the state
    ops = MigrationAutodetector(old, new, rename_hints={"models": {"shop": {"Author": "Writer"}}}).changes()
    assert names(ops["shop"]) == ["RenameModel"]


def test_meta_changes():
    index = dorm.Index(fields=["name"], name="shop_author_name")
    old = state(author())
    new = state(ms("shop", "Author", [("name", dorm.CharField(max_length=50))], db_table="writers",
                   ordering=["name"], unique_together=[("name",)], indexes=[index],
                   constraints=[dorm.CheckConstraint(check=dorm.Q(name__gt=""), name="name_set")]))
    ops = MigrationAutodetector(old, new).changes()["shop"]
    assert names(ops) == ["AlterModelTable", "AlterUniqueTogether", "AddIndex", "AddConstraint",
                          "AlterModelOptions"]
    # same index name, new definition: remove + add
    changed = state(ms("shop", "Author", [("name", dorm.CharField(max_length=50))],
                       indexes=[dorm.Index(fields=["-name"], name="shop_author_name")]))
    before = state(ms("shop", "Author", [("name", dorm.CharField(max_length=50))], indexes=[index]))
    assert names(MigrationAutodetector(before, changed).changes()["shop"]) == ["RemoveIndex", "AddIndex"]
    assert MigrationAutodetector(new, new.clone()).changes() == {}


def test_many_to_many_and_cross_app_dependencies(tmp_path):
    old = state(ms("blog", "Post", [("title", dorm.CharField(max_length=10))]), author())
    new = state(ms("blog", "Post", [("title", dorm.CharField(max_length=10))]),
                ms("blog", "Tag", [("label", dorm.CharField(max_length=10))]),
                ms("shop", "Author", [("name", dorm.CharField(max_length=50)),
                                      ("posts", dorm.ManyToManyField("blog.Post")),
                                      ("tag", dorm.ForeignKey("blog.Tag", on_delete=dorm.CASCADE, null=True))]))
    detector = MigrationAutodetector(old, new)
    changes = detector.changes()
    loader = _loader(tmp_path, {"shop": ["0001_initial"], "blog": ["0001_initial"]})
    arranged = detector.arrange(changes, loader)
    [shop] = arranged["shop"]
    [blog] = arranged["blog"]
    assert blog.name == "0002_auto" and shop.name == "0002_auto"
    assert shop.dependencies == [("shop", "0001_initial"), ("blog", "0002_auto")]
    assert blog.dependencies == [("blog", "0001_initial")]


def test_cross_app_cycle_is_split(tmp_path):
    new = state(ms("a", "X", [("y", dorm.ForeignKey("b.Y", on_delete=dorm.CASCADE, null=True))]),
                ms("b", "Y", [("x", dorm.ForeignKey("a.X", on_delete=dorm.CASCADE))]))
    detector = MigrationAutodetector(ProjectState(), new)
    arranged = detector.arrange(detector.changes(), _loader(tmp_path, {}))
    flat = {m.name if m.app_label == "a" else "b." + m.name: m for ms_ in arranged.values() for m in ms_}
    a = [m for m in arranged["a"]]
    b = arranged["b"]
    assert len(a) + len(b) == 3
    split_app = a if len(a) == 2 else b
    first, second = split_app
    assert first.name.startswith("0001") and second.name.startswith("0002")
    assert names(second.operations) == ["AddField"]
    assert (first.app_label, first.name) in second.dependencies
    other = b if split_app is a else a
    assert (other[0].app_label, other[0].name) in second.dependencies
    assert (split_app[0].app_label, split_app[0].name) in other[0].dependencies
    assert flat


def _loader(tmp_path, existing: dict[str, list[str]]):
    apps = []
    for label in ("a", "b", "shop", "blog"):
        directory = tmp_path / label
        (directory / "migrations").mkdir(parents=True, exist_ok=True)
        previous = None
        for name in existing.get(label, []):
            deps = [(label, previous)] if previous else []
            (directory / "migrations" / f"{name}.py").write_text(f"dependencies = {deps!r}\noperations = []\n")
            previous = name
        apps.append(AppInfo(label, label, directory))
    return MigrationLoader(apps=apps)


def test_not_null_alteration_question():
    old = state(ms("shop", "Author", [("age", dorm.IntegerField(null=True))]))
    new = state(ms("shop", "Author", [("age", dorm.IntegerField())]))
    q = Questioner()
    [op] = MigrationAutodetector(old, new, q).changes()["shop"]
    assert isinstance(op, AlterField) and op.preserve_default
    assert "becomes NOT NULL" in q.warnings[0]
    q = InteractiveQuestioner(prompt=lambda *a, **k: "0", echo=lambda *a: None)
    [op] = MigrationAutodetector(old, new, q).changes()["shop"]
    assert op.preserve_default is False and op.field.default == 0


def test_squash_operations():
    ops = [
        CreateModel("Author", [("name", dorm.CharField(max_length=5))]),
        CreateModel("Temp", [("x", dorm.IntegerField())]),
        AddField("Author", "age", dorm.IntegerField(null=True)),
        AlterField("Author", "age", dorm.IntegerField(null=True, default=1)),
        RenameField("Author", "name", "full_name"),
        DeleteModel("Temp"),
        AddField("Author", "tmp", dorm.IntegerField(null=True)),
        RemoveField("Author", "tmp"),
        AddIndex("Author", dorm.Index(fields=["age"], name="author_age")),
        RunPython(RunPython.noop, RunPython.noop, elidable=True),
    ]
    [create] = squash_operations(ops, "shop")
    assert isinstance(create, CreateModel)
    assert [n for n, _ in create.fields] == ["id", "full_name", "age"] or \
        [n for n, _ in create.fields] == ["full_name", "age"]
    assert create.options["indexes"][0].name == "author_age"
    assert dict(create.fields)["age"].default == 1
    # a RunPython in between blocks folding across it
    blocked = squash_operations([CreateModel("A", [("x", dorm.IntegerField())]),
                                 RunPython(RunPython.noop),
                                 AddField("A", "y", dorm.IntegerField(null=True))], "shop")
    assert names(blocked) == ["CreateModel", "RunPython", "AddField"]


def test_lint_rules():
    before = state(author(), ms("shop", "Book", [("n", dorm.IntegerField())]))
    migration = Migration("0002_x", "shop", [
        AddField("Author", "age", dorm.IntegerField()),
        AddField("Author", "score", dorm.IntegerField(default=0)),
        AlterField("Author", "name", dorm.TextField()),
        AlterField("Author", "name", dorm.TextField(null=True)),
        AddIndex("Author", dorm.Index(fields=["age"], name="a_age")),
        RunPython(RunPython.noop),
        RemoveField("Book", "n"),
        RenameField("Author", "age", "years"),
        DeleteModel("Book"),
    ], [("shop", "0001_initial")])
    findings, after = lint_migration(migration, before)
    codes = [f.code for f in findings]
    assert codes == ["DORM-M001", "DORM-M001", "DORM-M002", "DORM-M004", "DORM-M005", "DORM-M006",
                     "DORM-M005"]
    assert "without a default" in findings[0].message and "with a default" in findings[1].message
    assert after.has_model("shop", "Author") and not after.has_model("shop", "Book")

    class Concurrent:
        class features:
            supports_concurrent_index = True

    findings, _ = lint_migration(migration, before, Concurrent, rules=["DORM-M003"])
    assert [f.code for f in findings] == ["DORM-M003"]
    initial = Migration("0001_initial", "shop", [AddField("Author", "age", dorm.IntegerField())])
    assert lint_migration(initial, before)[0] == []


@pytest.mark.parametrize(("expected", "live", "ok"), [
    ("varchar(100)", "VARCHAR(100)", True),
    ("varchar(100)", "character varying", True),
    ("varchar(100)", "varchar(50)", False),
    ("integer", "bigint", True),
    ("integer", "text", False),
    ("decimal(8, 2)", "NUMERIC(8,2)", True),
    ("datetime", "timestamp with time zone", True),
    ("date", "timestamp", False),
    ("bool", "boolean", True),
    ("integer unsigned", "INTEGER", True),
])
def test_types_match(expected, live, ok):
    assert types_match(expected, live) is ok


def test_model_state_from_model_and_rendering():
    from . import rt_models

    st = ProjectState.from_apps(app_label="migrt")
    everything = st.get_model_state("migrt", "Everything")
    assert everything.db_table == "migrt_everything_tbl"
    assert everything.options["ordering"] == ["-created", "name"]
    assert "verbose_name" in everything.options
    target = st.get_model_state("migrt", "Target")
    assert "verbose_name" not in target.options and "db_table" not in target.options
    model = st.apps.get_model("migrt", "Everything")
    assert model._meta.db_table == "migrt_everything_tbl"
    assert model._meta.get_field("target").remote_field.model is st.apps.get_model("migrt.Target")
    many = model._meta.get_field("many").remote_field.through
    assert many._meta.db_table == "migrt_many_custom" and many._meta.auto_created
    assert [f.column for f in many._meta.local_fields] == ["id", "everything_id", "target_id"]
    friends = model._meta.get_field("friends").remote_field.through
    assert [f.column for f in friends._meta.local_fields] == ["id", "from_everything_id", "to_everything_id"]
    with pytest.raises(TypeError, match="historical model"):
        model()
    assert st.models["migrt.target"]["fields"] is target.fields          # spec-style access
    assert rt_models.Everything._meta.db_table == model._meta.db_table


def test_rename_keeping_the_column():
    old = state(author())
    new = state(ms("shop", "Author", [("full_name", dorm.CharField(max_length=50, db_column="name"))]))
    ops = MigrationAutodetector(old, new, detect_renames=True).changes()["shop"]
    assert names(ops) == ["RenameField", "AlterField"]
