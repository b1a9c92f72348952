"""Online migrations on the real server: AddFieldOnline, BackfillBatch (committed per
batch, resumable, concurrent writes proceed), SetNotNullOnline, concurrent indexes,
AddCheckConstraintOnline; the SQLite behaviour."""
from __future__ import annotations

import logging
import textwrap
import threading
import time

import dorm
import pytest
from dorm.db import connections
from dorm.exceptions import NotSupportedError
from dorm.migrations import MigrationExecutor, MigrationLoader
from dorm.migrations.loader import AppInfo
from dorm.migrations.operations import (
    AddCheckConstraintOnline,
    AddFieldOnline,
    BackfillBatch,
    SetNotNullOnline,
)

APP = "onl"
TABLE = "onl_order"

INITIAL = """
    import dorm
    from dorm.migrations.operations import CreateModel

    dependencies = []
    operations = [
        CreateModel(name="Order", fields=[
            ("id", dorm.BigAutoField(primary_key=True)),
            ("amount", dorm.IntegerField()),
        ]),
    ]
"""

ADD = """
    import dorm
    from dorm.migrations.operations import AddFieldOnline

    atomic = False
    dependencies = [("onl", "0001_initial")]
    operations = [
        AddFieldOnline("Order", "status", dorm.CharField(max_length=10, default="new")),
    ]
"""

BACKFILL = """
    from dorm.migrations.operations import BackfillBatch

    atomic = False
    dependencies = [("onl", "0002_add")]
    operations = [
        BackfillBatch("onl_order", update_sql="UPDATE onl_order SET status = 'new' "
                      "WHERE id BETWEEN %s AND %s AND status IS NULL",
                      batch_size=BATCH, sleep_seconds=SLEEP, max_batches=MAX, lock_timeout="2s",
                      statement_timeout=30000),
    ]
"""

NOT_NULL = """
    from dorm.migrations.operations import SetNotNullOnline

    atomic = False
    dependencies = [("onl", "0003_backfill")]
    operations = [SetNotNullOnline("Order", "status", lock_timeout="2s")]
"""

INDEX = """
    import dorm
    from dorm.migrations.operations import AddIndex, AddCheckConstraintOnline

    atomic = False
    dependencies = [("onl", "0004_notnull")]
    operations = [
        AddIndex("Order", dorm.Index(fields=["status"], name="onl_order_status_ix"), concurrently=True),
        AddCheckConstraintOnline("onl_order", "onl_order_amount_pos", "amount > -1000"),
    ]
"""

ATOMIC_INDEX = """
    import dorm
    from dorm.migrations.operations import AddIndex

    dependencies = [("onl", "0001_initial")]
    operations = [
        AddIndex("Order", dorm.Index(fields=["amount"], name="onl_x"), concurrently=True),
    ]
"""


@pytest.fixture
def app(tmp_path):
    directory = tmp_path / "onl_pkg"
    (directory / "migrations").mkdir(parents=True)
    (directory / "migrations" / "__init__.py").touch()
    return AppInfo(APP, "onl_pkg", directory)


def write(app, name, source, **subst):
    text = textwrap.dedent(source)
    for k, v in subst.items():
        text = text.replace(k, repr(v))
    (app.migrations_dir / name).write_text(text)


def migrate(conn, app, target=None):
    ex = MigrationExecutor(conn, MigrationLoader(conn, apps=[app]))
    if target is not None:
        return ex.rollback(APP, target)
    return ex.migrate()


@pytest.fixture
def db(configure_pg):
    def clean(conn):
        for t in (TABLE, "dorm_backfill_progress"):
            conn.execute_write(f"DROP TABLE IF EXISTS {t}", ())
        if conn.execute("SELECT to_regclass('dorm_migrations')")[0][0]:
            conn.execute_write("DELETE FROM dorm_migrations WHERE app = %s", [APP])

    with configure_pg():
        conn = connections["default"]
        clean(conn)
        try:
            yield conn
        finally:
            clean(conn)
            connections.close_all()


def relfilenode(admin):
    return admin.execute(f"SELECT relfilenode FROM pg_class WHERE oid = '{TABLE}'::regclass").fetchone()[0]


def column(admin, name):
    return admin.execute(
        "SELECT is_nullable, column_default FROM information_schema.columns "
        "WHERE table_name = %s AND column_name = %s", [TABLE, name]).fetchone()


def constraints(admin):
    return sorted(r[0] for r in admin.execute(
        f"SELECT conname FROM pg_constraint WHERE conrelid = '{TABLE}'::regclass AND contype = 'c'"))


def test_validation():
    for kwargs in ({"batch_size": 0}, {"sleep_seconds": -1}, {"max_batches": 0}):
        with pytest.raises(ValueError):
            BackfillBatch("t", update_sql="UPDATE t SET a = 1 WHERE id BETWEEN %s AND %s", **kwargs)
    with pytest.raises(ValueError):
        BackfillBatch("t", update_sql="UPDATE t SET a = 1")
    with pytest.raises(ValueError):
        AddCheckConstraintOnline("t", "c", " ")
    assert not BackfillBatch("t", update_sql="x %s %s").atomic and not SetNotNullOnline("M", "c").atomic
    from dorm_postgres.online import constraint_name

    assert len(constraint_name("t" * 60, "c" * 60)) <= 63


def test_atomic_migration_with_concurrent_index_is_refused(db, app):
    write(app, "0001_initial.py", INITIAL)
    write(app, "0002_idx.py", ATOMIC_INDEX)
    with pytest.raises(Exception, match="atomic = False"):
        migrate(db, app)


def test_online_sequence_200k_rows_with_concurrent_writes(db, app, admin, pg_settings, caplog):
    import psycopg

    N = 200_000
    write(app, "0001_initial.py", INITIAL)
    migrate(db, app)
    db.execute_write(f"INSERT INTO {TABLE} (amount) SELECT g FROM generate_series(1, {N}) g", ())
    admin.execute(f"ANALYZE {TABLE}")
    before = relfilenode(admin)

    write(app, "0002_add.py", ADD)
    migrate(db, app)
    assert relfilenode(admin) == before                       # no table rewrite
    assert column(admin, "status") == ("YES", None)           # nullable, no default filled in
    assert admin.execute(f"SELECT count(*) FROM {TABLE} WHERE status IS NULL").fetchone()[0] == N

    write(app, "0003_backfill.py", BACKFILL, BATCH=10_000, SLEEP=0.03, MAX=None)
    stop = threading.Event()
    stats = {"writes": 0, "max_latency": 0.0, "partial": [], "errors": []}

    def writer():
        try:
            with psycopg.connect(host=pg_settings["HOST"], port=pg_settings["PORT"],
                                 user=pg_settings.get("USER"), dbname=pg_settings["NAME"],
                                 autocommit=True) as c:
                c.execute("SET lock_timeout = '3s'")
                i = 0
                while not stop.is_set():
                    i += 1
                    t0 = time.monotonic()
                    c.execute(f"INSERT INTO {TABLE} (amount, status) VALUES (%s, 'new')", [-i])
                    c.execute(f"UPDATE {TABLE} SET amount = amount + 1 WHERE id = %s",
                              [(i * 7919) % N + 1])
                    stats["max_latency"] = max(stats["max_latency"], time.monotonic() - t0)
                    stats["writes"] += 1
                    if i % 20 == 0:
                        done = c.execute(f"SELECT count(*) FROM {TABLE} WHERE id <= {N} "
                                         "AND status IS NOT NULL").fetchone()[0]
                        stats["partial"].append(done)
                    time.sleep(0.005)
        except Exception as exc:  # noqa: BLE001
            stats["errors"].append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="dorm.migrations.online"):
            t0 = time.monotonic()
            migrate(db, app)
            elapsed = time.monotonic() - t0
    finally:
        stop.set()
        thread.join()
    assert not stats["errors"], stats["errors"]
    assert stats["writes"] > 20, stats
    assert stats["max_latency"] < 1.0, stats                      # never stuck behind a long lock
    assert any(0 < p < N for p in stats["partial"]), stats["partial"]  # batches committed one by one
    batch_lines = [r.getMessage() for r in caplog.records if ": batch " in r.getMessage()]
    assert len(batch_lines) >= N // 10_000, elapsed
    assert admin.execute(f"SELECT count(*) FROM {TABLE} WHERE status IS NULL").fetchone()[0] == 0
    progress = admin.execute("SELECT done, batches FROM dorm_backfill_progress").fetchall()
    assert progress[0][0] is True and progress[0][1] >= N // 10_000

    write(app, "0004_notnull.py", NOT_NULL)
    migrate(db, app)
    assert column(admin, "status")[0] == "NO"
    assert constraints(admin) == []                               # the helper CHECK is gone

    write(app, "0005_index.py", INDEX)
    migrate(db, app)
    idx = admin.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'onl_order_status_ix'").fetchone()
    assert idx is not None
    assert admin.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'onl_order_amount_pos'"
                         ).fetchone() == (True,)

    # each step rolls back
    migrate(db, app, "0004_notnull")
    assert admin.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'onl_order_status_ix'").fetchone() is None
    assert constraints(admin) == []
    migrate(db, app, "0003_backfill")
    assert column(admin, "status")[0] == "YES"
    migrate(db, app, "0002_add")
    assert admin.execute("SELECT count(*) FROM dorm_backfill_progress").fetchone()[0] == 0
    migrate(db, app, "0001_initial")
    assert column(admin, "status") is None


def test_backfill_max_batches_resume_and_sleep(db, app, admin, monkeypatch):
    write(app, "0001_initial.py", INITIAL)
    write(app, "0002_add.py", ADD)
    migrate(db, app)
    db.execute_write(f"INSERT INTO {TABLE} (amount) SELECT g FROM generate_series(1, 1000) g", ())
    sleeps = []
    monkeypatch.setattr("dorm_postgres.online.time.sleep", lambda s: sleeps.append(s))
    progress = []
    op = BackfillBatch(TABLE, update_sql=f"UPDATE {TABLE} SET status = 'x' WHERE id BETWEEN %s AND %s "
                       "AND status IS NULL", batch_size=100, sleep_seconds=0.5, max_batches=3,
                       progress=progress.append, name="resume-test")
    with db.schema_editor(atomic=False) as editor:
        op.database_forwards(APP, editor, None, None)
    assert admin.execute(f"SELECT count(*) FROM {TABLE} WHERE status = 'x'").fetchone()[0] == 300
    assert [p["batch"] for p in progress] == [1, 2, 3] and progress[-1]["rows_done"] == 300
    assert sleeps == [0.5, 0.5, 0.5]
    # "interrupted": the next run resumes after the last committed batch
    op2 = BackfillBatch(TABLE, update_sql=f"UPDATE {TABLE} SET status = 'x' WHERE id BETWEEN %s AND %s",
                        batch_size=100, progress=progress.append, name="resume-test")
    with db.schema_editor(atomic=False) as editor:
        op2.database_forwards(APP, editor, None, None)
    assert progress[3]["batch"] == 4 and progress[3]["first_pk"] == 301
    assert admin.execute(f"SELECT count(*) FROM {TABLE} WHERE status = 'x'").fetchone()[0] == 1000
    # refused inside a transaction
    with dorm.transaction.atomic(), db.schema_editor(atomic=False) as editor:
        with pytest.raises(NotSupportedError, match="atomic = False"):
            BackfillBatch(TABLE, update_sql="UPDATE onl_order SET amount = 1 WHERE id BETWEEN %s AND %s",
                          name="other").database_forwards(APP, editor, None, None)


def test_set_not_null_online_fails_cleanly_with_nulls(db, app, admin):
    write(app, "0001_initial.py", INITIAL)
    write(app, "0002_add.py", ADD)
    migrate(db, app)
    db.execute_write(f"INSERT INTO {TABLE} (amount) VALUES (1)", ())
    write(app, "0003_backfill.py", NOT_NULL.replace("0003_backfill", "0002_add"))
    with pytest.raises(Exception, match="(?i)violat|check"):
        migrate(db, app)
    assert constraints(admin) == [] and column(admin, "status")[0] == "YES"


def test_sqlite_behaviour(app, tmp_path):
    with dorm.settings.override(DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "o.db")}}):
        conn = connections["default"]
        try:
            write(app, "0001_initial.py", INITIAL)
            write(app, "0002_add.py", ADD)
            migrate(conn, app)
            conn.execute_write(f"INSERT INTO {TABLE} (amount) VALUES (1), (2), (3)", ())
            write(app, "0003_backfill.py", BACKFILL, BATCH=2, SLEEP=0, MAX=None)
            write(app, "0004_notnull.py", NOT_NULL)
            migrate(conn, app)
            assert [r[0] for r in conn.execute(f"SELECT status FROM {TABLE} ORDER BY id")] == ["new"] * 3
            # the column really is NOT NULL now (table rebuilt), as the state says
            notnull = conn.execute(f"SELECT \"notnull\" FROM pragma_table_info('{TABLE}') WHERE name = 'status'")
            assert notnull[0][0] == 1
            with pytest.raises(dorm.exceptions.IntegrityError):
                conn.execute_write(f"INSERT INTO {TABLE} (amount) VALUES (4)", ())
            write(app, "0005_index.py", INDEX)
            with pytest.raises(Exception, match="not supported on SQLite"):
                migrate(conn, app)
            migrate(conn, app, "0003_backfill")
            notnull = conn.execute(f"SELECT \"notnull\" FROM pragma_table_info('{TABLE}') WHERE name = 'status'")
            assert notnull[0][0] == 0
        finally:
            connections.close_all()


def test_lint_points_to_online_operations():
    from dorm.migrations import ModelState, ProjectState
    from dorm.migrations.lint import lint_migration
    from dorm.migrations.migration import Migration
    from dorm.migrations.operations import AddField

    state = ProjectState()
    state.add_model(ModelState(APP, "Order", [("id", dorm.BigAutoField(primary_key=True))], {}))
    plain = Migration("0002_x", APP, [AddField("Order", "s", dorm.CharField(max_length=5))], [(APP, "0001_initial")])
    found, _ = lint_migration(plain, state)
    assert [f.code for f in found] == ["DORM-M001"] and "AddFieldOnline" in found[0].message
    online = Migration("0002_x", APP, [AddFieldOnline("Order", "s", dorm.CharField(max_length=5))], [(APP, "0001_initial")],
                       atomic=False)
    assert lint_migration(online, state)[0] == []


REMOVE_INDEX = """
    import dorm
    from dorm.migrations.operations import AddIndex, RemoveIndex

    atomic = False
    dependencies = [("onl", "0001_initial")]
    operations = [
        AddIndex("Order", dorm.Index(fields=["amount"], name="onl_amount_ix"), concurrently=True),
        RemoveIndex("Order", "onl_amount_ix", concurrently=True),
    ]
"""


def test_remove_index_concurrently(db, app, admin):
    from dorm.test import capture_queries

    write(app, "0001_initial.py", INITIAL)
    write(app, "0002_ix.py", REMOVE_INDEX)
    with capture_queries() as seen:
        migrate(db, app)
    statements = [q["sql"] for q in seen.queries]
    assert any("CREATE INDEX CONCURRENTLY" in s for s in statements)
    assert any("DROP INDEX CONCURRENTLY" in s for s in statements)
    assert admin.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'onl_amount_ix'").fetchone() is None
    migrate(db, app, "0001_initial")  # backwards: the index comes back and goes again
    assert admin.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'onl_amount_ix'").fetchone() is None
