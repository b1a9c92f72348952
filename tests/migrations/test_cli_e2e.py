"""The migration workflow through the ``dorm`` command, in a temporary project, on every
installed backend: makemigrations -> migrate -> change models -> makemigrations ->
migrate -> rollback to zero; ``--check`` and ``diff`` exit codes; bad input."""
from __future__ import annotations

import json

STEP1_SHOP = """
    import dorm


    class Author(dorm.Model):
        name = dorm.CharField(max_length=50)


    class Book(dorm.Model):
        title = dorm.CharField(max_length=100)
        author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
"""

STEP1_BLOG = """
    import dorm


    class Post(dorm.Model):
        title = dorm.CharField(max_length=80)
"""

STEP2_SHOP = """
    import dorm


    class Author(dorm.Model):
        full_name = dorm.CharField(max_length=50)
        rating = dorm.IntegerField(default=3)


    class Book(dorm.Model):
        title = dorm.CharField(max_length=100)
        author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
        price = dorm.DecimalField(max_digits=8, decimal_places=2, default=0)
        post = dorm.ForeignKey("migblog.Post", on_delete=dorm.SET_NULL, null=True, related_name="books")
        tags = dorm.ManyToManyField("migblog.Tag", related_name="books")

        class Meta:
            indexes = [dorm.Index(fields=["title", "-price"], name="migshop_book_title_idx")]
            constraints = [dorm.CheckConstraint(check=dorm.Q(price__gte=0), name="migshop_book_price_gte0")]
"""

STEP2_BLOG = """
    import dorm


    class Post(dorm.Model):
        title = dorm.CharField(max_length=80)


    class Tag(dorm.Model):
        label = dorm.CharField(max_length=30, unique=True)
"""


def test_full_workflow(project):
    project.models("migshop", STEP1_SHOP)
    project.models("migblog", STEP1_BLOG)

    # nothing yet: --check reports pending changes and writes nothing
    out = project.run("makemigrations", "--check", expect=1)
    assert "Create model Author" in out.stdout
    assert project.migrations("migshop") == []

    out = project.run("makemigrations", "--no-input")
    assert "migshop/migrations/0001_initial.py" in out.stdout
    assert project.migrations("migshop") == ["0001_initial.py"]
    assert project.migrations("migblog") == ["0001_initial.py"]
    out = project.run("makemigrations", "--check")
    assert "No changes detected" in out.stdout

    # diff before migrating: tables are missing
    out = project.run("diff", expect=1)
    assert "missing_table" in out.stdout

    out = project.run("migrate", "--dry-run")
    assert "CREATE TABLE" in out.stdout
    assert not project.tables(), "dry-run must not touch the database (not even the recorder)"

    out = project.run("migrate")
    assert "Applying migshop.0001_initial... OK" in out.stdout
    assert {"migshop_author", "migshop_book", "migblog_post", "dorm_migrations"} <= project.tables()
    project.run("diff")
    project.write("INSERT INTO migshop_author (name) VALUES ('ann')")
    author_id = project.query("SELECT id FROM migshop_author")[0][0]
    project.write("INSERT INTO migshop_book (title, author_id) VALUES ('t1', %s)", [author_id])

    # change the models
    project.models("migshop", STEP2_SHOP)
    project.models("migblog", STEP2_BLOG)
    out = project.run("makemigrations", "--check", expect=1)
    assert "Add field rating to Author" in out.stdout
    assert project.migrations("migshop") == ["0001_initial.py"]
    out = project.run("diff", expect=1)
    assert "missing_column" in out.stdout
    data = json.loads(project.run("diff", "--json", expect=1).stdout)
    assert data["drift"] is True
    assert {f["kind"] for f in data["findings"]} >= {"missing_column", "missing_table", "extra_column"}

    # interactive: the rename question is answered "yes"
    out = project.run("makemigrations", input="y\n")
    assert "Rename field name on Author to full_name" in out.stdout
    assert project.migrations("migshop") == ["0001_initial.py", "0002_auto.py"]
    assert project.migrations("migblog") == ["0001_initial.py", "0002_auto.py"]
    text = project.read("migshop", "0002_auto.py")
    assert '("migblog", "0002_auto")' in text, text          # FK/M2M to the new blog model
    assert "RemoveField" not in text
    project.run("makemigrations", "--check")

    out = project.run("migrate")
    lines = [line for line in out.stdout.splitlines() if "Applying " in line and "..." in line]
    assert lines[0].strip().startswith("Applying migblog.0002_auto"), out.stdout
    assert project.query("SELECT full_name, rating FROM migshop_author") == [("ann", 3)]
    assert "migblog_tag" in project.tables()
    assert "migshop_book_tags" in project.tables()
    assert "post_id" in project.columns("migshop_book")
    assert "migshop_book_title_idx" in project.constraints("migshop_book")
    project.run("diff")

    out = project.run("showmigrations")
    assert "[X] 0002_auto" in out.stdout
    out = project.run("showmigrations", "--json")
    assert all(item["applied"] for item in json.loads(out.stdout))

    # one step back, then forward again
    out = project.run("rollback", "migshop")
    assert "Unapplying migshop.0002_auto... OK" in out.stdout
    assert project.query("SELECT name FROM migshop_author") == [("ann",)]
    project.run("migrate", "migshop")
    assert project.query("SELECT full_name FROM migshop_author") == [("ann",)]

    # rollback to zero leaves only the recorder
    project.run("migrate", "migshop", "zero")
    project.run("migrate", "migblog", "zero")
    assert project.tables() == {"dorm_migrations"}
    assert project.applied() == set()
    out = project.run("rollback", "migshop")
    assert "Nothing to rollback" in out.stdout

    # and everything comes back
    project.run("migrate")
    assert project.applied() == {("migshop", "0001_initial"), ("migshop", "0002_auto"),
                                 ("migblog", "0001_initial"), ("migblog", "0002_auto")}
    project.run("diff")


def test_migrate_targets_plan_and_sqlmigrate(project):
    project.models("migshop", STEP1_SHOP)
    project.run("makemigrations", "--no-input")
    project.models("migshop", STEP1_SHOP + """
    class Shelf(dorm.Model):
        code = dorm.CharField(max_length=10, null=True)
    """)
    project.run("makemigrations", "--no-input", "--name", "shelf")
    assert project.migrations("migshop") == ["0001_initial.py", "0002_shelf.py"]

    out = project.run("migrate", "--plan")
    assert "Apply migshop.0001_initial" in out.stdout and "Create model Shelf" in out.stdout
    assert not project.tables()

    project.run("migrate", "migshop", "1")
    assert project.applied() == {("migshop", "0001_initial")}
    project.run("migrate", "migshop", "0002")
    assert "migshop_shelf" in project.tables()
    project.run("migrate", "migshop", "0001_initial")
    assert "migshop_shelf" not in project.tables()

    out = project.run("migrate", "migshop", "0042", expect=1)
    assert "0042" in out.stderr and "available" in out.stderr
    out = project.run("migrate", "nosuchapp", expect=2)
    assert "nosuchapp" in out.stderr

    out = project.run("sqlmigrate", "migshop", "0002")
    assert "CREATE TABLE" in out.stdout and "migshop_shelf" in out.stdout
    out = project.run("sqlmigrate", "migshop", "0002", "--backwards")
    assert "DROP TABLE" in out.stdout
    project.run("sqlmigrate", "migshop", "0077", expect=1)
    assert project.applied() == {("migshop", "0001_initial")}

    # --fake records without touching the schema, --fake-initial detects existing tables
    project.run("migrate", "migshop", "--fake")
    assert "migshop_shelf" not in project.tables()
    assert ("migshop", "0002_shelf") in project.applied()
    project.run("migrate", "migshop", "zero", "--fake")
    assert project.applied() == set()
    out = project.run("migrate", "--fake-initial")
    assert "FAKED" in out.stdout          # 0001's tables exist
    assert "Applying migshop.0002_shelf" in out.stdout
    assert "migshop_shelf" in project.tables()


def test_bad_input(project):
    project.models("migshop", STEP1_SHOP)
    project.run("makemigrations", "--no-input")
    project.run("migrate")

    # a model change that needs a default: clear message, nothing written
    project.models("migshop", STEP1_SHOP.replace(
        'name = dorm.CharField(max_length=50)',
        'name = dorm.CharField(max_length=50)\n        code = dorm.CharField(max_length=5)'))
    out = project.run("makemigrations", "--no-input", expect=1)
    assert "non-nullable field 'code'" in out.stderr
    assert project.migrations("migshop") == ["0001_initial.py"]
    # answered interactively: a one-off default fills the existing rows
    project.write("INSERT INTO migshop_author (name) VALUES ('bob')")
    project.run("makemigrations", input="'zz'\n")
    assert "preserve_default=False" in project.read("migshop", "0002_auto.py")
    project.run("migrate")
    assert project.query("SELECT code FROM migshop_author") == [("zz",)]
    project.run("makemigrations", "--check")

    # a broken migration file
    project.write_migration("migshop", "0003_broken.py", "from dorm.migrations.operations import Nope\n"
                            "operations = [\n")
    for args in (["makemigrations", "--no-input"], ["migrate"], ["showmigrations"]):
        out = project.run(*args, expect=1)
        assert "0003_broken.py" in out.stderr and "syntax error" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    project.write_migration("migshop", "0003_broken.py", "from dorm.migrations.operations import Nope\n"
                            "operations = []\n")
    out = project.run("migrate", expect=1)
    assert "Nope" in out.stderr
    assert project.migrations("migshop") == ["0001_initial.py", "0002_auto.py", "0003_broken.py"]

    # a missing dependency
    project.write_migration("migshop", "0003_broken.py", """
        dependencies = [("migshop", "0002_auto"), ("migblog", "0009_nope")]
        operations = []
    """)
    out = project.run("migrate", expect=1)
    assert "migblog.0009_nope" in out.stderr and "does not exist" in out.stderr

    # two leaves: refused until merged
    project.write_migration("migshop", "0003_broken.py", """
        dependencies = [("migshop", "0002_auto")]
        operations = []
    """)
    project.write_migration("migshop", "0003_other.py", """
        from dorm.migrations.operations import RunSQL
        dependencies = [("migshop", "0002_auto")]
        operations = [RunSQL(RunSQL.noop, reverse_sql=RunSQL.noop)]
    """)
    for args in (["makemigrations", "--no-input"], ["migrate"]):
        out = project.run(*args, expect=1)
        assert "Conflicting migrations" in out.stderr and "--merge" in out.stderr
    assert len(project.migrations("migshop")) == 4
    out = project.run("makemigrations", "--merge")
    assert project.migrations("migshop")[-1] == "0004_merge.py"
    project.run("migrate")
    assert ("migshop", "0004_merge") in project.applied()

    # usage errors exit 2
    project.run("makemigrations", "--empty", expect=2)
    project.run("makemigrations", "nosuchapp", expect=2)
    project.run("makemigrations", "--name", "bad name!", expect=2)
    project.run("migrate", "--database", "nope", expect=2)


def test_failing_migration_leaves_database_and_recorder_consistent(project):
    project.models("migshop", STEP1_SHOP)
    project.run("makemigrations", "--no-input")
    project.write_migration("migshop", "0002_fails.py", """
        from dorm.fields import CharField
        from dorm.migrations.operations import CreateModel, RunSQL

        dependencies = [("migshop", "0001_initial")]
        operations = [
            CreateModel(name="Ghost", fields=[("label", CharField(max_length=5))]),
            RunSQL("INSERT INTO migshop_no_such_table VALUES (1)"),
        ]
    """)
    out = project.run("migrate", expect=1)
    assert "migshop.0002_fails failed at operation 2/2" in out.stderr
    assert "Traceback" not in out.stderr
    transactional = project._with_conn(lambda c: c.features.supports_transactional_ddl)
    assert ("migshop", "0001_initial") in project.applied()
    assert ("migshop", "0002_fails") not in project.applied()
    if transactional:
        assert "rolled back" in out.stderr
        assert "migshop_ghost" not in project.tables()
    else:
        assert "operations 1..1 were applied" in out.stderr


def test_squash_lint_inspectdb_and_json_schema(project):
    project.models("migshop", STEP1_SHOP)
    project.run("makemigrations", "--no-input")
    project.models("migshop", STEP1_SHOP.replace(
        'title = dorm.CharField(max_length=100)',
        'title = dorm.CharField(max_length=100)\n        isbn = dorm.CharField(max_length=13, null=True)'))
    project.run("makemigrations", "--no-input")
    project.models("migshop", STEP1_SHOP.replace(
        'title = dorm.CharField(max_length=100)',
        'title = dorm.CharField(max_length=100)\n        isbn = dorm.CharField(max_length=20, null=True)'))
    project.run("makemigrations", "--no-input")
    assert len(project.migrations("migshop")) == 3

    # lint: the type change is flagged, JSON output parses, --exit-zero, noqa
    out = project.run("lint", expect=1)
    assert "DORM-M002" in out.stdout
    data = json.loads(project.run("lint-migrations", "--format", "json", expect=1).stdout)
    assert {f["code"] for f in data["findings"]} == {"DORM-M002"}
    project.run("lint", "--exit-zero")
    project.run("lint", "--rule", "DORM-M004")
    source = project.read("migshop", "0003_auto.py")
    project.write_migration("migshop", "0003_auto.py", source + "# noqa: DORM-M002\n")
    project.run("lint")

    # squash everything into one migration that replaces them
    out = project.run("squashmigrations", "migshop", "0003")
    assert "0004_squashed.py" in out.stdout
    text = project.read("migshop", "0004_squashed.py")
    assert "replaces" in text and "AlterField" not in text and "AddField" not in text
    assert "max_length=20" in text
    project.run("migrate")
    applied = project.applied()
    assert ("migshop", "0004_squashed") in applied and ("migshop", "0002_auto") in applied
    project.run("makemigrations", "--check")
    project.run("diff")

    out = project.run("inspectdb", "migshop_book")
    assert "class MigshopBook(dorm.Model):" in out.stdout
    assert "managed = False" in out.stdout
    # a relation is only visible where the database keeps the foreign key constraint
    # (DuckDB: off by default, features.supports_foreign_keys)
    if project._with_conn(lambda c: c.features.supports_foreign_keys):
        assert "dorm.ForeignKey(" in out.stdout
    compile(out.stdout, "inspected.py", "exec")
    project.run("inspectdb", "migshop_nope", expect=2)

    out = project.run("export-json-schema", "--apps", "migshop")
    schemas = json.loads(out.stdout)
    book = schemas["migshop.Book"]
    assert book["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert book["properties"]["isbn"] == {"type": ["string", "null"], "maxLength": 20}
    assert "title" in book["required"] and "author_id" in book["required"]
    out_dir = project.root / "schemas"
    project.run("export-json-schema", "--out", str(out_dir), "--include-relations")
    assert sorted(p.name for p in out_dir.iterdir()) == ["Author.json", "Book.json"]
    assert json.loads((out_dir / "Book.json").read_text())["properties"]["author_id"][
        "x-related-model"] == "migshop.Author"


def test_progress_lines_when_not_a_tty(project):
    project.models("migshop", STEP1_SHOP)
    project.models("migblog", STEP1_BLOG)
    project.run("makemigrations", "--no-input")
    out = project.run("migrate")
    lines = [line.strip() for line in out.stdout.splitlines()]
    assert any(line.startswith("Applying migshop.0001_initial... OK (") for line in lines), out.stdout
    assert any(line.startswith("Applying migblog.0001_initial... OK (") for line in lines)
    out = project.run("migrate", "-v", "0", "migshop", "zero")
    assert out.stdout == ""


def test_flags_empty_rename_prune(project):
    project.models("migshop", STEP1_SHOP)
    project.run("makemigrations", "--no-input")
    out = project.run("makemigrations", "--empty", "migshop", "--name", "data", "--dry-run", "-v", "3")
    assert "Would write" in out.stdout and "operations = []" in out.stdout
    assert project.migrations("migshop") == ["0001_initial.py"]
    project.run("makemigrations", "--empty", "migshop", "--name", "data")
    assert project.migrations("migshop") == ["0001_initial.py", "0002_data.py"]
    assert '("migshop", "0001_initial")' in project.read("migshop", "0002_data.py")
    project.run("migrate")

    # a declared rename needs no question
    project.models("migshop", STEP1_SHOP.replace("title = ", "heading = "))
    out = project.run("makemigrations", "--no-input", "--rename-field", "migshop.Book.title:heading")
    assert "Rename field title on Book to heading" in out.stdout
    out = project.run("makemigrations", "--dry-run")
    assert "No changes detected" in out.stdout
    out = project.run("showmigrations", "--plan")
    assert "[X] migshop.0002_data" in out.stdout and "[ ] migshop.0003_auto" in out.stdout
    out = project.run("rollback", "migshop", "--plan")
    assert "Unapply migshop.0002_data" in out.stdout

    # --prune forgets applied migrations whose file is gone
    project.run("migrate")
    (project.root / "migshop" / "migrations" / "0003_auto.py").unlink()
    out = project.run("migrate", "--prune", "--dry-run")
    assert "Would prune migshop.0003_auto" in out.stdout
    assert ("migshop", "0003_auto") in project.applied()
    project.run("migrate", "--prune")
    assert ("migshop", "0003_auto") not in project.applied()
    out = project.run("migrate", "--prune")
    assert "No migrations to prune" in out.stdout
