"""The maintenance commands as a user runs them: ``python -m dorm`` in a temporary
project (settings.py + app packages), on every installed backend where a database is
involved: ``migrate --run-syncdb``, ``runscript``, ``dumpdata``/``loaddata`` with
``--settings``, ``reset``, ``migrations-graph`` and a clean ``doctor``."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DORM = [sys.executable, "-m", "dorm"]
PREFIXES = ("cdshop_", "cdlegacy_", "dorm_migrations")

SHOP = """
    import dorm


    class Customer(dorm.Model):
        name = dorm.CharField(max_length=40)


    class Order(dorm.Model):
        customer = dorm.ForeignKey(Customer, on_delete=dorm.CASCADE, related_name="orders")
        total = dorm.DecimalField(max_digits=9, decimal_places=2)
"""

LEGACY = """
    import dorm


    class Note(dorm.Model):
        text = dorm.TextField()
"""

SCRIPT = """
    import sys
    from decimal import Decimal

    from cdlegacy.models import Note
    from cdshop.models import Customer, Order

    name, count = sys.argv[1], int(sys.argv[2])
    customer = Customer.objects.create(name=name)
    for i in range(count):
        Order.objects.create(customer=customer, total=Decimal(i) + Decimal("0.5"))
    Note.objects.create(text=" ".join(sys.argv[3:]))
    print(f"customers={Customer.objects.count()} orders={Order.objects.count()} argv={sys.argv[1:]}")
"""


class Project:
    """settings.py and app packages under ``root``; ``run`` executes ``dorm`` there."""

    def __init__(self, root: Path, db: dict | None, apps: list[str]):
        self.root, self.db = root, db
        root.mkdir(parents=True, exist_ok=True)
        databases = {"default": db} if db else {}
        (root / "settings.py").write_text(f"DATABASES = {databases!r}\nINSTALLED_APPS = {apps!r}\n")
        for app in apps:
            (root / app).mkdir(exist_ok=True)
            (root / app / "__init__.py").write_text("")

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def run(self, *args, expect: int | None = 0) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if k not in ("DORM_SETTINGS", "DORM_SETTINGS_MODULE", "DORM_PROFILE")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        proc = subprocess.run([*DORM, *map(str, args)], cwd=self.root, env=env, text=True,
                              capture_output=True, timeout=180)
        if expect is not None:
            assert proc.returncode == expect, (
                f"dorm {' '.join(map(str, args))} exited {proc.returncode}, expected {expect}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc


def _drop_project_tables(db: dict) -> None:
    import dorm
    from dorm.db import connections

    with dorm.settings.override(DATABASES={"default": db}):
        try:
            conn = connections["default"]
            for _ in range(3):
                tables = [t for t in conn.introspection.table_names() if t.startswith(PREFIXES)]
                for table in tables:
                    try:
                        conn.execute_script(f"DROP TABLE IF EXISTS {conn.ops.quote_name(table)}")
                    except Exception:  # noqa: BLE001 - referenced: dropped in a later round
                        pass
        finally:
            connections.close_all()


@pytest.fixture
def project_db(backend, backend_settings, tmp_path):
    entry = dict(backend_settings)
    name = str(entry.get("NAME") or "")
    if name.endswith((".db", ".sqlite3", ".duckdb")):
        entry["NAME"] = str(tmp_path / f"project{Path(name).suffix}")
        yield entry
        return
    _drop_project_tables(entry)
    yield entry
    _drop_project_tables(entry)


def test_project_workflow(project_db, tmp_path):
    """syncdb + migrate, a script fills data, dump with --settings, reset, load again."""
    project = Project(tmp_path / "proj", project_db, ["cdshop", "cdlegacy"])
    project.write("cdshop/models.py", SHOP)
    project.write("cdlegacy/models.py", LEGACY)
    project.run("makemigrations", "cdshop")
    pending = project.run("doctor", expect=1).stdout
    assert "[D014] default: 1 migration(s) not applied: cdshop.0001_initial" in pending
    out = project.run("migrate", "--run-syncdb").stdout
    assert "Synchronizing apps without migrations: cdlegacy" in out
    assert "Applying cdshop.0001_initial" in out

    script = project.write("fill.py", SCRIPT)
    out = project.run("runscript", script.name, "ann", "3", "--flag", "x").stdout
    assert "customers=1 orders=3 argv=['ann', '3', '--flag', 'x']" in out

    project.run("dumpdata", "--settings", "settings", "cdshop", "-o", "shop.json", "--indent", "2")
    graph = project.run("migrations-graph", "--database", "default").stdout
    assert "classDef applied" in graph and '["cdshop.0001_initial"]' in graph

    out = project.run("reset", "--noinput").stdout
    assert "Unapplying cdshop.0001_initial" in out and "Applying cdshop.0001_initial" in out
    count = "from cdshop.models import Order; from cdlegacy.models import Note; " \
            "print(Order.objects.count(), Note.objects.count())"
    assert project.run("shell", "-c", count).stdout.split() == ["0", "1"]   # legacy data kept

    out = project.run("loaddata", "shop.json", "--database", "default").stdout
    assert "Installed 4 object(s) from 1 fixture(s)" in out
    assert project.run("shell", "-c", count).stdout.split() == ["3", "1"]
    out = project.run("doctor").stdout
    assert "No problems found (1 database alias(es) checked)." in out
    project.run("dbcheck", "--settings", "settings")


def test_runscript_errors(tmp_path):
    project = Project(tmp_path / "proj", {"ENGINE": "sqlite", "NAME": str(tmp_path / "x.db")}, [])
    result = project.run("runscript", "missing.py", expect=1)
    assert "Error: no script 'missing.py'" in result.stderr
    project.write("exits.py", "import sys\nsys.exit(3)\n")
    project.run("runscript", "exits.py", expect=3)
    project.write("boom.py", "raise RuntimeError('boom in script')\n")
    result = project.run("runscript", "boom.py", expect=1)
    assert "RuntimeError: boom in script" in result.stderr and "Traceback" in result.stderr
    project.write("where.py", "import dorm, sys\nprint(sys.argv, dorm.settings.DATABASES['default']['ENGINE'])\n")
    out = project.run("runscript", "--settings", "settings", "where.py", "-v", "--", "a").stdout
    assert out.strip() == "['where.py', '-v', '--', 'a'] sqlite"


GRAPH_MIGRATIONS = {
    "gshop/migrations/0001_initial.py": """
        import does_not_exist  # never imported: the graph reads files with ast
        operations = []
    """,
    "gshop/migrations/0002_auto.py": """
        from dorm.migrations import operations as ops
        dependencies = [("gshop", "0001_initial"), ("gblog", "__first__")]
        operations = [ops.RunPython(lambda apps, editor: None)]
    """,
    "gshop/migrations/0003_squashed.py": """
        class Migration:
            replaces = [("gshop", "0001_initial"), ("gshop", "0002_auto")]
            dependencies = [("gblog", "0001_initial")]
            operations = []
    """,
    "gblog/migrations/0001_initial.py": "operations = []\n",
    "gblog/migrations/0002_more.py": "operations = []\n",
}


def test_migrations_graph_reads_files_without_importing(tmp_path):
    project = Project(tmp_path / "proj", {"ENGINE": "sqlite", "NAME": str(tmp_path / "x.db")},
                      ["gshop", "gblog"])
    project.write("gshop/models.py", "raise ImportError('models must not be imported')\n")
    project.write("gblog/models.py", "raise ImportError('models must not be imported')\n")
    for path, text in GRAPH_MIGRATIONS.items():
        project.write(path, text)
    out = project.run("migrations-graph").stdout
    lines = out.splitlines()
    assert lines[0] == "graph TD"
    ids = {line.split("[")[0].strip(): line.split('"')[1] for line in lines if '["' in line and "subgraph" not in line}
    names = {v: k for k, v in ids.items()}
    edges = {(ids[a], ids[b]) for a, _, b in (line.split() for line in lines if "-->" in line)}
    assert edges == {
        ("gshop.0001_initial", "gshop.0002_auto"),
        ("gblog.0001_initial", "gshop.0002_auto"),
        ("gblog.0001_initial", "gblog.0002_more"),
        ("gblog.0001_initial", "gshop.0003_squashed (squashes 2)"),
    }
    assert "gshop.0003_squashed (squashes 2)" in names
    dot = project.run("migrations-graph", "--format", "dot", "--settings", "settings").stdout
    assert dot.startswith("digraph migrations {")
    assert '"gblog.0001_initial" -> "gshop.0002_auto";' in dot
    assert "subgraph cluster_0" in dot and 'label="gshop"' in dot
    only = project.run("migrations-graph", "gblog").stdout
    assert "gshop" not in only and "gblog.0002_more" in only
    result = project.run("migrations-graph", "--format", "svg", expect=2)
    assert "'svg' is not one of 'mermaid', 'dot'" in result.stderr
    assert "unknown app(s) nope" in project.run("migrations-graph", "nope", expect=2).stderr
    project.write("gblog/migrations/0003_broken.py", "operations = [\n")
    result = project.run("migrations-graph", expect=1)
    assert "0003_broken.py: syntax error on line" in result.stderr


def test_reset_stops_before_an_irreversible_migration(tmp_path):
    project = Project(tmp_path / "proj", {"ENGINE": "sqlite", "NAME": str(tmp_path / "dev.db")},
                      ["cdshop"])
    project.write("cdshop/models.py", SHOP)
    project.run("makemigrations", "cdshop")
    project.write("cdshop/migrations/0002_data.py", """
        from dorm.migrations import operations as ops
        operations = [ops.RunPython(lambda apps, editor: None)]
    """)
    project.run("migrate")
    result = project.run("reset", "--noinput", expect=1)
    assert "cdshop.0002_data has an irreversible operation" in result.stderr
    assert "nothing was unapplied" in result.stderr
    out = project.run("showmigrations").stdout
    assert "[X] 0001_initial" in out and "[X] 0002_data" in out
