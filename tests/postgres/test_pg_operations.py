"""PostgreSQL-only migration operations on the real server (migrations-cli.md §4.3, §4.4):
materialized views, declarative partitioning, row-level security and policies, and
``ExclusionConstraint``; each forwards and backwards through the migration executor,
written into migration files and loaded back, shown by ``dorm sqlmigrate``; their
behaviour on SQLite and DuckDB."""
from __future__ import annotations

import datetime
import os
import secrets
import subprocess
import sys
import textwrap

import dorm
import pytest
from dorm import Q
from dorm.db import connections
from dorm.exceptions import IntegrityError
from dorm.expressions import F, Value
from dorm.functions import Coalesce
from dorm.migrations import MigrationAutodetector, MigrationExecutor, MigrationLoader, ProjectState
from dorm.migrations.exceptions import IrreversibleError, MigrationFailed
from dorm.migrations.loader import AppInfo
from dorm.migrations.migration import Migration
from dorm.migrations.operations import (
    AddConstraint,
    AlterPolicy,
    AttachPartition,
    CreateExtension,
    CreateMaterializedView,
    CreateModel,
    CreatePartition,
    CreatePartitionedTable,
    CreatePolicy,
    DetachPartition,
    DisableRowLevelSecurity,
    DropMaterializedView,
    DropPolicy,
    EnableRowLevelSecurity,
    ForceRowLevelSecurity,
    RefreshMaterializedView,
    RemoveConstraint,
)
from dorm.migrations.writer import MigrationWriter
from dorm_postgres.constraints import ExclusionConstraint
from dorm_postgres.pg_operations import MAXVALUE, MINVALUE, IrreversiblePGOperation

APP = "pgo"
D = datetime.date
UTC = datetime.timezone.utc


class Booking(dorm.Model):
    room = dorm.IntegerField()
    period = dorm.DateTimeRangeField()
    cancelled = dorm.BooleanField(default=False)

    class Meta:
        app_label = APP
        db_table = "pgo_booking"
        constraints = [ExclusionConstraint(
            name="pgo_booking_no_overlap", expressions=[("room", "="), ("period", "&&")],
            condition=Q(cancelled=False))]


SALE = """
    import dorm
    from dorm.migrations.operations import CreateModel

    dependencies = []
    operations = [
        CreateModel(name="Sale", fields=[
            ("id", dorm.BigAutoField(primary_key=True)),
            ("region", dorm.CharField(max_length=10)),
            ("amount", dorm.IntegerField()),
        ], options={"db_table": "pgo_sale"}),
    ]
"""

DOC = """
    import dorm
    from dorm.migrations.operations import CreateModel

    dependencies = []
    operations = [
        CreateModel(name="Doc", fields=[
            ("id", dorm.BigAutoField(primary_key=True)),
            ("owner", dorm.CharField(max_length=40)),
            ("title", dorm.CharField(max_length=40)),
            ("public", dorm.BooleanField(default=False)),
        ], options={"db_table": "pgo_doc"}),
    ]
"""


# ---- fixtures and helpers --------------------------------------------------------------------------
@pytest.fixture
def app(tmp_path):
    directory = tmp_path / "pgo_pkg"
    (directory / "migrations").mkdir(parents=True)
    (directory / "migrations" / "__init__.py").touch()
    return AppInfo(APP, "pgo_pkg", directory)


def write(app, name, source):
    (app.migrations_dir / f"{name}.py").write_text(textwrap.dedent(source))


def ops_migration(app, name, ops_source, *, imports="", previous=None, atomic=True):
    """Write ``name`` with ``operations = [ops_source]`` depending on ``previous``."""
    deps = f"[({APP!r}, {previous!r})]" if previous else "[]"
    source = (f"import datetime\nimport dorm\nfrom dorm import Q\n"
              f"from dorm.migrations.operations import {', '.join(OP_NAMES)}\n"
              f"{imports}\n{'' if atomic else 'atomic = False'}\n"
              f"dependencies = {deps}\noperations = [\n{textwrap.dedent(ops_source)}\n]\n")
    (app.migrations_dir / f"{name}.py").write_text(source)


OP_NAMES = [
    "AddConstraint", "AlterPolicy", "AttachPartition", "CreateMaterializedView", "CreateModel",
    "CreatePartition", "CreatePartitionedTable", "CreatePolicy", "DetachPartition",
    "DisableRowLevelSecurity", "DropMaterializedView", "DropPolicy", "EnableRowLevelSecurity",
    "ForceRowLevelSecurity", "RefreshMaterializedView", "RunSQL",
]


def migrate(conn, app, target=None):
    ex = MigrationExecutor(conn, MigrationLoader(conn, apps=[app]))
    if target is not None:
        return ex.migrate_to(APP, target)
    return ex.migrate()


def clean(conn):
    rows = conn.execute("SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON "
                        "n.oid = c.relnamespace WHERE n.nspname = current_schema() AND "
                        "c.relname LIKE 'pgo\\_%%' AND c.relkind IN ('m', 'r', 'p')")
    for name, kind in rows:
        what = "MATERIALIZED VIEW" if kind == "m" else "TABLE"
        conn.execute_write(f'DROP {what} IF EXISTS "{name}" CASCADE', ())
    conn.execute_write("DROP EXTENSION IF EXISTS btree_gist", ())
    if conn.execute("SELECT to_regclass('dorm_migrations')")[0][0]:
        conn.execute_write("DELETE FROM dorm_migrations WHERE app = %s", [APP])


@pytest.fixture
def db(configure_pg):
    with configure_pg():
        conn = connections["default"]
        clean(conn)
        try:
            yield conn
        finally:
            clean(conn)
            connections.close_all()


def one(admin, sql, params=()):
    return admin.execute(sql, params).fetchone()


def rows(admin, sql, params=()):
    return admin.execute(sql, params).fetchall()


# ---- construction-time validation ------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: CreateMaterializedView('v"; DROP TABLE x; --', "SELECT 1"),
    lambda: CreateMaterializedView("a.b.c", "SELECT 1"),
    lambda: CreateMaterializedView("v" * 64, "SELECT 1"),
    lambda: CreateMaterializedView("v", "  ;"),
    lambda: DropMaterializedView("v", reverse_sql="   "),
    lambda: RefreshMaterializedView("1v"),
    lambda: CreatePartitionedTable("t", columns_sql="id int", method="RANGE", key="id; --"),
    lambda: CreatePartitionedTable("t", columns_sql="", method="RANGE", key="id"),
    lambda: CreatePartitionedTable("t", columns_sql="a int, b int", method="LIST", key=["a", "b"]),
    lambda: CreatePartitionedTable("t", columns_sql="a int", method="RANGE", key=[]),
    lambda: CreatePartition("t", "p", for_values={"from": 1}),
    lambda: CreatePartition("t", "p", for_values={"from": 1, "to": [2, 3]}),
    lambda: CreatePartition("t", "p", for_values={"from": object(), "to": 2}),
    lambda: CreatePartition("t", "p", for_values={"from": float("nan"), "to": 2}),
    lambda: CreatePartition("t", "p", for_values={"from": None, "to": 2}),
    lambda: CreatePartition("t", "p", for_values={"in": []}),
    lambda: CreatePartition("t", "p", for_values={"in": "abc"}),
    lambda: CreatePartition("t", "p", for_values={"in": [MINVALUE]}),
    lambda: CreatePartition("t", "p", for_values={"modulus": 0, "remainder": 0}),
    lambda: CreatePartition("t", "p", for_values={"modulus": 4, "remainder": 4}),
    lambda: CreatePartition("t", "p", for_values={"modulus": True, "remainder": 0}),
    lambda: CreatePartition("t", "p", for_values={"in": [1], "modulus": 2}),
    lambda: CreatePartition("t", "p", for_values="IN (1); DROP TABLE t"),
    lambda: CreatePartition("t", "p", for_values=""),
    lambda: CreatePartition("t", "p", for_values=5),
    lambda: AttachPartition("t", "p x", for_values="DEFAULT"),
    lambda: DetachPartition("t", "p", for_values={"to": 1}),
    lambda: EnableRowLevelSecurity("t;"),
    lambda: CreatePolicy("p", "t", command="MERGE", using="true"),
    lambda: CreatePolicy("p", "t", using=None),
    lambda: CreatePolicy("p", "t", command="select", check="true"),
    lambda: CreatePolicy("p", "t", command="DELETE", using="true", check="true"),
    lambda: CreatePolicy("p", "t", command="INSERT", using="true"),
    lambda: CreatePolicy("p", "t", command="INSERT"),
    lambda: CreatePolicy("p", "t", using="true", roles=["bob; --"]),
    lambda: CreatePolicy("p", "t", using="true", roles=[]),
    lambda: CreatePolicy("p", "t", using="  "),
    lambda: CreatePolicy("p", "t", using=5),
    lambda: CreatePolicy("p", "t", using="true", permissive="no"),
    lambda: DropPolicy("p", "t", reverse_command="INSERT", reverse_using="true"),
    lambda: DropPolicy("p", "t", reverse_roles=["bob"]),
    lambda: AlterPolicy("p", "t"),
    lambda: AlterPolicy("p", "t", using="true", previous_check="true"),
    lambda: ExclusionConstraint(name="x", expressions=[]),
    lambda: ExclusionConstraint(name="x", expressions=[("room",)]),
    lambda: ExclusionConstraint(name="x", expressions=[("room", "= 1; --")]),
    lambda: ExclusionConstraint(name="x", expressions=[("room x", "=")]),
    lambda: ExclusionConstraint(name="x", expressions=[("room", "=")], index_type="hash"),
    lambda: ExclusionConstraint(name="x", expressions=[("room", "=")], deferrable="later"),
    lambda: ExclusionConstraint(name="x y", expressions=[("room", "=")]),
])
def test_bad_arguments_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_error_messages_name_the_choices():
    with pytest.raises(ValueError, match="'RANGE', 'LIST', 'HASH'.*'weekly'"):
        CreatePartitionedTable("t", columns_sql="d date", method="weekly", key="d")
    with pytest.raises(ValueError, match="ALL, SELECT, INSERT, UPDATE, DELETE"):
        CreatePolicy("p", "t", command="TRUNCATE", using="true")
    with pytest.raises(ValueError, match="FOR SELECT policy needs using="):
        CreatePolicy("p", "t", command="SELECT")
    with pytest.raises(ValueError, match="FOR INSERT policy needs check="):
        CreatePolicy("p", "t", command="INSERT")
    with pytest.raises(ValueError, match="'gist', 'spgist', 'btree'"):
        ExclusionConstraint(name="x", expressions=[("a", "=")], index_type="brin")
    with pytest.raises(ValueError, match="'from'.*'in'.*'modulus'.*DEFAULT"):
        CreatePartition("t", "p", for_values={"values": [1]})
    with pytest.raises(TypeError, match="Q object"):
        ExclusionConstraint(name="x", expressions=[("a", "=")], condition="a > 1")
    # accepted spellings
    assert CreatePartitionedTable("s.t", columns_sql=["a int", "b date"], method="hash",
                                  key=["a", "b"]).method == "HASH"
    assert CreatePolicy("p", "t", command="update", using="true", check="true").command == "UPDATE"
    assert CreatePolicy("p", "t", using="true", roles="public").roles == ["PUBLIC"]
    assert ExclusionConstraint(name="x", expressions=[(F("a"), "-|-")], index_type="SPGIST").index_type == "spgist"


def test_reversibility_flags():
    assert CreateMaterializedView("v", "SELECT 1").reversible
    assert not DropMaterializedView("v").reversible
    assert DropMaterializedView("v", reverse_sql="SELECT 1").reversible
    assert not DropPolicy("p", "t").reversible
    assert DropPolicy("p", "t", reverse_using="true").reversible
    assert not AlterPolicy("p", "t", using="a", check="b", previous_using="c").reversible
    assert AlterPolicy("p", "t", using="a", previous_using="c").reversible
    for op in (DropMaterializedView("v"), DropPolicy("p", "t"), AlterPolicy("p", "t", roles=["x"])):
        with pytest.raises(IrreversibleError) as info:
            op.database_backwards(APP, None, None, None)
        assert isinstance(info.value, NotImplementedError)
    assert isinstance(IrreversiblePGOperation("x"), IrreversibleError)


# ---- materialized views ----------------------------------------------------------------------------
VIEW_SQL = "SELECT region, SUM(amount) AS total, COUNT(*) AS n FROM pgo_sale GROUP BY region"


def test_materialized_view_create_refresh_concurrently_and_rollback(db, app, admin):
    write(app, "0001_initial", SALE)
    ops_migration(app, "0002_view", f"""
        CreateMaterializedView("pgo_sales_by_region", {VIEW_SQL!r}, with_data=False),
        RunSQL('CREATE UNIQUE INDEX pgo_sales_by_region_uq ON pgo_sales_by_region (region)',
               reverse_sql=RunSQL.noop),
    """, previous="0001_initial")
    migrate(db, app)
    assert one(admin, "SELECT relispopulated FROM pg_class WHERE relname = 'pgo_sales_by_region'") == (False,)
    admin.execute("INSERT INTO pgo_sale (region, amount) VALUES ('eu', 10), ('eu', 5), ('us', 7)")

    ops_migration(app, "0003_refresh", 'RefreshMaterializedView("pgo_sales_by_region"),', previous="0002_view")
    migrate(db, app)
    assert rows(admin, "SELECT region, total, n FROM pgo_sales_by_region ORDER BY region") == [
        ("eu", 15, 2), ("us", 7, 1)]

    admin.execute("INSERT INTO pgo_sale (region, amount) VALUES ('us', 3), ('apac', 1)")
    ops_migration(app, "0004_refresh", 'RefreshMaterializedView("pgo_sales_by_region", concurrently=True),',
                  previous="0003_refresh")
    migrate(db, app)
    assert rows(admin, "SELECT region, total, n FROM pgo_sales_by_region ORDER BY region") == [
        ("apac", 1, 1), ("eu", 15, 2), ("us", 10, 2)]

    # refresh is a no-op backwards; creating it is undone by dropping the view
    migrate(db, app, "0002_view")
    assert one(admin, "SELECT count(*) FROM pgo_sales_by_region") == (3,)
    migrate(db, app, "0001_initial")
    assert one(admin, "SELECT to_regclass('pgo_sales_by_region')") == (None,)
    # if_not_exists tolerates an existing view
    admin.execute(f"CREATE MATERIALIZED VIEW pgo_sales_by_region AS {VIEW_SQL}")
    ops_migration(app, "0002_view", f'CreateMaterializedView("pgo_sales_by_region", {VIEW_SQL!r}, '
                  'if_not_exists=True),', previous="0001_initial")
    (app.migrations_dir / "0003_refresh.py").unlink()
    (app.migrations_dir / "0004_refresh.py").unlink()
    migrate(db, app)
    assert one(admin, "SELECT count(*) FROM pgo_sales_by_region") == (3,)


def test_refresh_concurrently_needs_unique_index(db, app):
    write(app, "0001_initial", SALE)
    ops_migration(app, "0002_view", f"""
        CreateMaterializedView("pgo_sales_by_region", {VIEW_SQL!r}),
        RefreshMaterializedView("pgo_sales_by_region", concurrently=True),
    """, previous="0001_initial")
    with pytest.raises(MigrationFailed, match="concurrently|unique index"):
        migrate(db, app)
    # the whole migration rolled back
    assert db.execute("SELECT to_regclass('pgo_sales_by_region')")[0][0] is None


def test_drop_materialized_view_reversal(db, app, admin):
    write(app, "0001_initial", SALE)
    ops_migration(app, "0002_views", f"""
        CreateMaterializedView("pgo_mv_a", {VIEW_SQL!r}),
        CreateMaterializedView("pgo_mv_b", {VIEW_SQL!r}),
        CreateMaterializedView("pgo_mv_c", "SELECT 1 AS x"),
    """, previous="0001_initial")
    migrate(db, app, "0001_initial")
    admin.execute("INSERT INTO pgo_sale (region, amount) VALUES ('eu', 4)")
    migrate(db, app)
    full = (f"CREATE MATERIALIZED VIEW pgo_mv_b AS {VIEW_SQL}; "
            "CREATE UNIQUE INDEX pgo_mv_b_uq ON pgo_mv_b (region)")
    ops_migration(app, "0003_drop", f"""
        DropMaterializedView("pgo_mv_a", reverse_sql={VIEW_SQL!r}),
        DropMaterializedView("pgo_mv_b", reverse_sql={full!r}),
    """, previous="0002_views")
    migrate(db, app)
    assert one(admin, "SELECT to_regclass('pgo_mv_a'), to_regclass('pgo_mv_b')") == (None, None)
    migrate(db, app, "0002_views")
    assert rows(admin, "SELECT region, total FROM pgo_mv_a") == [("eu", 4)]
    assert rows(admin, "SELECT region, total FROM pgo_mv_b") == [("eu", 4)]
    assert one(admin, "SELECT to_regclass('pgo_mv_b_uq')") == ("pgo_mv_b_uq",)

    # without reverse_sql: applying works, unapplying is refused before anything runs
    ops_migration(app, "0003_drop", 'DropMaterializedView("pgo_mv_c"), DropMaterializedView("pgo_mv_a"),',
                  previous="0002_views")
    migrate(db, app)
    with pytest.raises(IrreversibleError, match="irreversible"):
        migrate(db, app, "0002_views")
    assert one(admin, "SELECT to_regclass('pgo_mv_c')") == (None,)
    # if_exists=False: a missing view is an error
    ops_migration(app, "0004_drop", 'DropMaterializedView("pgo_mv_c", if_exists=False),', previous="0003_drop")
    with pytest.raises(MigrationFailed, match="pgo_mv_c"):
        migrate(db, app)


# ---- partitioning ----------------------------------------------------------------------------------
def partition_counts(admin, table):
    return dict(rows(admin, f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1"))


def test_range_partitions_default_detach_and_attach(db, app, admin):
    ops_migration(app, "0001_initial", """
        CreatePartitionedTable("pgo_measure", columns_sql="id bigint NOT NULL, logdate date NOT NULL, "
                               "value int", method="RANGE", key="logdate"),
        CreatePartition("pgo_measure", "pgo_measure_old",
                        for_values={"from": MINVALUE, "to": datetime.date(2024, 1, 1)}),
        CreatePartition("pgo_measure", "pgo_measure_2024",
                        for_values={"from": datetime.date(2024, 1, 1), "to": datetime.date(2025, 1, 1)}),
        CreatePartition("pgo_measure", "pgo_measure_default", for_values="DEFAULT"),
    """, imports="from dorm_postgres.pg_operations import MINVALUE")
    migrate(db, app)
    assert one(admin, "SELECT relkind FROM pg_class WHERE relname = 'pgo_measure'") == ("p",)
    assert one(admin, "SELECT pg_get_partkeydef('pgo_measure'::regclass)") == ("RANGE (logdate)",)
    admin.execute("INSERT INTO pgo_measure VALUES (1, '2020-05-01', 1), (2, '2024-03-01', 2), "
                  "(3, '2024-12-31', 3), (4, '2026-01-01', 4)")
    assert partition_counts(admin, "pgo_measure") == {
        "pgo_measure_old": 1, "pgo_measure_2024": 2, "pgo_measure_default": 1}

    ops_migration(app, "0002_detach", """
        DetachPartition("pgo_measure", "pgo_measure_2024",
                        for_values={"from": datetime.date(2024, 1, 1), "to": datetime.date(2025, 1, 1)}),
    """, previous="0001_initial")
    migrate(db, app)
    assert one(admin, "SELECT count(*) FROM pgo_measure") == (2,)
    assert one(admin, "SELECT count(*) FROM pgo_measure_2024") == (2,)       # a plain table now
    assert one(admin, "SELECT relispartition FROM pg_class WHERE relname = 'pgo_measure_2024'") == (False,)
    migrate(db, app, "0001_initial")                                        # re-attached
    assert partition_counts(admin, "pgo_measure")["pgo_measure_2024"] == 2

    # attach a table made elsewhere (raw, trusted for_values string)
    ops_migration(app, "0002_detach", """
        RunSQL("CREATE TABLE pgo_measure_2025 (LIKE pgo_measure)", reverse_sql="DROP TABLE pgo_measure_2025"),
        RunSQL("INSERT INTO pgo_measure_2025 VALUES (5, '2025-06-01', 5)", reverse_sql=RunSQL.noop),
        AttachPartition("pgo_measure", "pgo_measure_2025",
                        for_values="FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"),
    """, previous="0001_initial")
    migrate(db, app)
    assert partition_counts(admin, "pgo_measure")["pgo_measure_2025"] == 1
    assert one(admin, "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = "
               "'pgo_measure_2025'") == ("FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",)
    migrate(db, app, "0001_initial")
    assert one(admin, "SELECT to_regclass('pgo_measure_2025')") == (None,)
    migrate(db, app, "zero")
    assert one(admin, "SELECT to_regclass('pgo_measure'), to_regclass('pgo_measure_old')") == (None, None)


def test_list_hash_and_multi_column_partitions(db, app, admin):
    ops_migration(app, "0001_initial", """
        CreatePartitionedTable("pgo_customer", columns_sql=["id int NOT NULL", "region text"],
                               method="list", key="region"),
        CreatePartition("pgo_customer", "pgo_customer_eu", for_values={"in": ["eu", "uk", "it's"]}),
        CreatePartition("pgo_customer", "pgo_customer_us", for_values={"in": ("us",)}),
        CreatePartition("pgo_customer", "pgo_customer_none", for_values={"in": [None]}),
        CreatePartition("pgo_customer", "pgo_customer_apac", for_values="IN ('apac')"),
        CreatePartitionedTable("pgo_event", columns_sql="id int NOT NULL", method="HASH", key="id"),
        CreatePartition("pgo_event", "pgo_event_0", for_values={"modulus": 3, "remainder": 0}),
        CreatePartition("pgo_event", "pgo_event_1", for_values={"modulus": 3, "remainder": 1}),
        CreatePartition("pgo_event", "pgo_event_2", for_values={"modulus": 3, "remainder": 2},
                        if_not_exists=True),
        CreatePartitionedTable("pgo_grid", columns_sql="x int, y int", method="RANGE", key=["x", "y"]),
        CreatePartition("pgo_grid", "pgo_grid_low", for_values={"from": [0, MINVALUE], "to": [10, MAXVALUE]}),
    """, imports="from dorm_postgres.pg_operations import MINVALUE, MAXVALUE")
    migrate(db, app)
    admin.execute("INSERT INTO pgo_customer VALUES (1, 'eu'), (2, 'it''s'), (3, 'us'), (4, NULL), (5, 'apac')")
    assert partition_counts(admin, "pgo_customer") == {
        "pgo_customer_eu": 2, "pgo_customer_us": 1, "pgo_customer_none": 1, "pgo_customer_apac": 1}
    with pytest.raises(Exception, match="no partition"):
        admin.execute("INSERT INTO pgo_customer VALUES (9, 'mars')")
    admin.execute("INSERT INTO pgo_event SELECT g FROM generate_series(1, 60) g")
    counts = partition_counts(admin, "pgo_event")
    assert sorted(counts) == ["pgo_event_0", "pgo_event_1", "pgo_event_2"] and sum(counts.values()) == 60
    admin.execute("INSERT INTO pgo_grid VALUES (5, -1000000), (9, 7)")
    assert partition_counts(admin, "pgo_grid") == {"pgo_grid_low": 2}
    migrate(db, app, "zero")
    assert one(admin, "SELECT to_regclass('pgo_customer'), to_regclass('pgo_event')") == (None, None)


# ---- row-level security and policies ------------------------------------------------------------------
@pytest.fixture
def roles(admin):
    suffix = f"{os.getpid()}_{secrets.token_hex(3)}"
    reader, owner = f"pgo_reader_{suffix}", f"pgo_owner_{suffix}"
    for role in (reader, owner):
        admin.execute(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        yield reader, owner
    finally:
        admin.execute("RESET ROLE")
        admin.execute("DROP TABLE IF EXISTS pgo_doc CASCADE")
        for role in (reader, owner):
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def visible(admin, role, sql="SELECT owner, title FROM pgo_doc ORDER BY id"):
    admin.execute(f'SET ROLE "{role}"')
    try:
        return [tuple(r) for r in admin.execute(sql).fetchall()]
    finally:
        admin.execute("RESET ROLE")


def policies(admin):
    return {r[0]: r[1:] for r in rows(
        admin, "SELECT policyname, permissive, cmd, roles::text[], qual, with_check FROM pg_policies "
               "WHERE tablename = 'pgo_doc'")}


def test_row_level_security_filters_rows_for_a_non_superuser(db, app, admin, roles):
    reader, owner = roles
    write(app, "0001_initial", DOC)
    migrate(db, app)
    admin.execute(f'GRANT SELECT, INSERT ON pgo_doc TO "{reader}", "{owner}"')
    admin.execute("INSERT INTO pgo_doc (owner, title, public) VALUES "
                  f"('{reader}', 'mine', false), ('carol', 'hers', false), ('carol', 'news', true), "
                  f"('carol', 'secret', true), ('shared', 'wiki', false)")
    everything = visible(admin, reader)
    assert len(everything) == 5                         # no RLS yet

    ops_migration(app, "0002_rls", f"""
        EnableRowLevelSecurity("pgo_doc"),
        CreatePolicy("pgo_doc_own", "pgo_doc", command="SELECT", roles=[{reader!r}],
                     using="owner = current_user"),
        CreatePolicy("pgo_doc_public", "pgo_doc", command="SELECT", using=Q(public=True)),
        CreatePolicy("pgo_doc_insert", "pgo_doc", command="INSERT", roles=[{reader!r}],
                     check="owner = current_user"),
    """, previous="0001_initial")
    migrate(db, app)
    assert visible(admin, reader) == [(reader, "mine"), ("carol", "news"), ("carol", "secret")]
    assert policies(admin)["pgo_doc_public"] == ("PERMISSIVE", "SELECT", ["public"], "(public = true)", None)
    admin.execute(f'SET ROLE "{reader}"')
    try:
        admin.execute(f"INSERT INTO pgo_doc (owner, title, public) VALUES ('{reader}', 'new', false)")
        with pytest.raises(Exception, match="row-level security"):
            admin.execute("INSERT INTO pgo_doc (owner, title, public) VALUES ('carol', 'forged', false)")
    finally:
        admin.execute("RESET ROLE")
    admin.execute("DELETE FROM pgo_doc WHERE title = 'new'")

    # a restrictive policy narrows what the permissive ones allow
    ops_migration(app, "0003_restrict", """
        CreatePolicy("pgo_doc_no_secret", "pgo_doc", command="SELECT", using="title <> 'secret'",
                     permissive=False),
    """, previous="0002_rls")
    migrate(db, app)
    assert visible(admin, reader) == [(reader, "mine"), ("carol", "news")]
    assert policies(admin)["pgo_doc_no_secret"][0] == "RESTRICTIVE"

    # alter: widen the own-rows policy; backwards restores it
    ops_migration(app, "0004_alter", f"""
        AlterPolicy("pgo_doc_own", "pgo_doc", using="owner IN (current_user, 'shared')",
                    previous_using="owner = current_user",
                    roles=[{reader!r}, {owner!r}], previous_roles=[{reader!r}]),
    """, previous="0003_restrict")
    migrate(db, app)
    assert visible(admin, reader) == [(reader, "mine"), ("carol", "news"), ("shared", "wiki")]
    assert sorted(policies(admin)["pgo_doc_own"][2]) == sorted([reader, owner])
    migrate(db, app, "0003_restrict")
    assert visible(admin, reader) == [(reader, "mine"), ("carol", "news")]
    assert policies(admin)["pgo_doc_own"][2] == [reader]
    assert policies(admin)["pgo_doc_own"][3] == "((owner)::text = CURRENT_USER)"

    # drop with the reverse definition (a Q again): undone exactly
    ops_migration(app, "0004_alter", """
        DropPolicy("pgo_doc_public", "pgo_doc", reverse_command="SELECT", reverse_using=Q(public=True)),
        DropPolicy("pgo_doc_no_secret", "pgo_doc", reverse_command="SELECT",
                   reverse_using="title <> 'secret'", reverse_permissive=False),
    """, previous="0003_restrict")
    before = policies(admin)
    migrate(db, app)
    assert visible(admin, reader) == [(reader, "mine")]
    assert set(policies(admin)) == {"pgo_doc_own", "pgo_doc_insert"}
    migrate(db, app, "0003_restrict")
    assert policies(admin) == before

    # the table owner bypasses RLS unless it is forced
    admin.execute(f'ALTER TABLE pgo_doc OWNER TO "{owner}"')
    assert len(visible(admin, owner)) == 5
    ops_migration(app, "0004_alter", 'ForceRowLevelSecurity("pgo_doc"),', previous="0003_restrict")
    migrate(db, app)
    assert visible(admin, owner) == [("carol", "news")]    # public and not secret
    assert one(admin, "SELECT relforcerowsecurity FROM pg_class WHERE relname = 'pgo_doc'") == (True,)
    migrate(db, app, "0003_restrict")
    assert len(visible(admin, owner)) == 5
    admin.execute('ALTER TABLE pgo_doc OWNER TO CURRENT_USER')

    # disable / enable are each other's backwards
    ops_migration(app, "0004_alter", 'DisableRowLevelSecurity("pgo_doc"),', previous="0003_restrict")
    migrate(db, app)
    assert len(visible(admin, reader)) == 5
    migrate(db, app, "0003_restrict")
    assert len(visible(admin, reader)) == 2

    # everything is undone down to the bare table
    migrate(db, app, "0001_initial")
    assert policies(admin) == {}
    assert one(admin, "SELECT relrowsecurity FROM pg_class WHERE relname = 'pgo_doc'") == (False,)
    assert len(visible(admin, reader)) == 5


def test_policy_reversal_requirements(db, app, admin, roles):
    reader, _ = roles
    write(app, "0001_initial", DOC)
    ops_migration(app, "0002_policy", """
        EnableRowLevelSecurity("pgo_doc"),
        CreatePolicy("pgo_doc_all", "pgo_doc", using="public", check="owner = current_user"),
    """, previous="0001_initial")
    migrate(db, app)
    assert policies(admin)["pgo_doc_all"][1:3] == ("ALL", ["public"])
    ops_migration(app, "0003_drop", 'DropPolicy("pgo_doc_all", "pgo_doc"),', previous="0002_policy")
    migrate(db, app)
    with pytest.raises(IrreversibleError):
        migrate(db, app, "0002_policy")
    assert "pgo_doc_all" not in policies(admin)
    # DropPolicy of a missing policy is an error (it is not IF EXISTS)
    ops_migration(app, "0004_again", 'DropPolicy("pgo_doc_all", "pgo_doc"),', previous="0003_drop")
    with pytest.raises(MigrationFailed, match="pgo_doc_all"):
        migrate(db, app)
    (app.migrations_dir / "0004_again.py").unlink()
    ops_migration(app, "0004_alter", f'AlterPolicy("missing", "pgo_doc", roles=[{reader!r}]),',
                  previous="0003_drop")
    assert not MigrationLoader(db, apps=[app]).graph.nodes[(APP, "0004_alter")].operations[0].reversible


def test_policy_q_condition_needs_the_model_in_state(db, app):
    ops_migration(app, "0001_initial", """
        RunSQL("CREATE TABLE pgo_raw (id int, public bool)", reverse_sql="DROP TABLE pgo_raw"),
        CreatePolicy("pgo_raw_public", "pgo_raw", using=Q(public=True)),
    """)
    with pytest.raises(MigrationFailed, match="no model in the migration state has that db_table"):
        migrate(db, app)


# ---- ExclusionConstraint ---------------------------------------------------------------------------------
def _span(day, start, end):
    return dorm.Range(datetime.datetime(2024, 5, day, start, tzinfo=UTC),
                      datetime.datetime(2024, 5, day, end, tzinfo=UTC))


def test_exclusion_constraint_autodetected_written_and_enforced(db, app, admin):
    new = ProjectState.from_apps(models=[Booking])
    changes = MigrationAutodetector(ProjectState(), new).changes()
    create = changes[APP][0]
    assert isinstance(create, CreateModel)
    assert create.options["constraints"] == Booking._meta.constraints
    migration = Migration("0001_initial", APP, operations=[CreateExtension("btree_gist"), create])
    text = MigrationWriter(migration).as_string()
    assert any(line.startswith("from dorm import") and "ExclusionConstraint" in line
               for line in text.splitlines())
    (app.migrations_dir / "0001_initial.py").write_text(text)
    loaded = MigrationLoader(db, apps=[app]).graph.nodes[(APP, "0001_initial")]
    assert loaded.operations == migration.operations
    migrate(db, app)
    definition = one(admin, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = "
                            "'pgo_booking_no_overlap'")[0]
    assert definition.startswith("EXCLUDE USING gist (room WITH =, period WITH &&) WHERE ")

    Booking.objects.create(room=1, period=_span(1, 9, 11))
    Booking.objects.create(room=2, period=_span(1, 9, 11))                  # other room
    Booking.objects.create(room=1, period=_span(1, 11, 12))                 # adjacent: [) bounds
    Booking.objects.create(room=1, period=_span(1, 10, 12), cancelled=True)  # outside the condition
    with pytest.raises(IntegrityError):
        Booking.objects.create(room=1, period=_span(1, 10, 13))
    assert Booking.objects.count() == 4

    # removed from Meta -> RemoveConstraint; added back -> AddConstraint; both run
    bare = ProjectState.from_apps(models=[Booking])
    bare.models[f"{APP}.booking"].options["constraints"] = []
    ops = MigrationAutodetector(new, bare).changes()[APP]
    assert [type(o).__name__ for o in ops] == ["RemoveConstraint"]
    back = MigrationAutodetector(bare, new).changes()[APP]
    assert [type(o).__name__ for o in back] == ["AddConstraint"]
    (app.migrations_dir / "0002_remove.py").write_text(MigrationWriter(Migration(
        "0002_remove", APP, operations=ops, dependencies=[(APP, "0001_initial")])).as_string())
    (app.migrations_dir / "0003_add.py").write_text(MigrationWriter(Migration(
        "0003_add", APP, operations=back, dependencies=[(APP, "0002_remove")])).as_string())
    migrate(db, app, "0002_remove")
    assert one(admin, "SELECT count(*) FROM pg_constraint WHERE conname = 'pgo_booking_no_overlap'") == (0,)
    Booking.objects.filter(cancelled=True).delete()
    migrate(db, app)
    assert one(admin, "SELECT count(*) FROM pg_constraint WHERE conname = 'pgo_booking_no_overlap'") == (1,)
    migrate(db, app, "0002_remove")
    migrate(db, app, "zero")
    assert one(admin, "SELECT to_regclass('pgo_booking')") == (None,)


def test_exclusion_constraint_sql_forms(db, admin):
    with db.schema_editor(atomic=False, collect_sql=True) as editor:
        info = editor.table_model(Booking)
        c = ExclusionConstraint(name="x", expressions=[(F("room"), "="), ("period", "&&")],
                                index_type="SPGIST", deferrable="deferred")
        assert c.constraint_sql(info, editor) == (
            "table", 'EXCLUDE USING spgist ("room" WITH =, "period" WITH &&) DEFERRABLE INITIALLY DEFERRED')
        c = ExclusionConstraint(name="x", expressions=[(Coalesce("room", Value(0)), "=")],
                                index_type="btree", deferrable="immediate")
        assert c.constraint_sql(info, editor) == (
            "table", 'EXCLUDE USING btree ((COALESCE("room", 0)) WITH =) DEFERRABLE INITIALLY IMMEDIATE')
    # really accepted by the server, with an expression element and deferred checking
    db.execute_write("CREATE EXTENSION IF NOT EXISTS btree_gist", ())
    db.execute_write("CREATE TABLE pgo_x (room int, period tstzrange)", ())
    with db.schema_editor() as editor:
        editor.add_constraint(_XModel, ExclusionConstraint(
            name="pgo_x_excl", expressions=[(Coalesce("room", Value(0)), "="), ("period", "&&")],
            deferrable="deferred"))
    assert "DEFERRABLE" in one(admin, "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                      "WHERE conname = 'pgo_x_excl'")[0]


class _XModel(dorm.Model):
    room = dorm.IntegerField(null=True)
    period = dorm.DateTimeRangeField()

    class Meta:
        app_label = "pgo_x"
        db_table = "pgo_x"
        managed = False


# ---- writing, loading and sqlmigrate ---------------------------------------------------------------------
def all_operations():
    return [
        CreateMaterializedView("reporting.pgo_mv", VIEW_SQL, with_data=False, if_not_exists=True),
        RefreshMaterializedView("pgo_mv", concurrently=True),
        DropMaterializedView("pgo_mv", reverse_sql="SELECT 1 AS x", if_exists=False),
        CreatePartitionedTable("pgo_m", columns_sql=["id int", "d date"], method="range", key=["d"]),
        CreatePartition("pgo_m", "pgo_m_a", for_values={"from": [MINVALUE], "to": [D(2024, 1, 1)]}),
        CreatePartition("pgo_m", "pgo_m_b", for_values={"from": D(2024, 1, 1), "to": MAXVALUE},
                        if_not_exists=True),
        CreatePartition("pgo_l", "pgo_l_a", for_values={"in": ["x", None, 1.5]}),
        CreatePartition("pgo_h", "pgo_h_0", for_values={"modulus": 2, "remainder": 0}),
        CreatePartition("pgo_m", "pgo_m_def", for_values="DEFAULT"),
        AttachPartition("pgo_m", "pgo_m_c", for_values="FROM ('2030-01-01') TO ('2031-01-01')"),
        DetachPartition("pgo_m", "pgo_m_c", for_values={"from": D(2030, 1, 1), "to": D(2031, 1, 1)}),
        EnableRowLevelSecurity("pgo_doc"),
        ForceRowLevelSecurity("pgo_doc"),
        DisableRowLevelSecurity("pgo_doc"),
        CreatePolicy("p1", "pgo_doc", command="UPDATE", roles=["PUBLIC", "bob"], using="true",
                     check=Q(public=True), permissive=False),
        AlterPolicy("p1", "pgo_doc", roles="current_user", previous_roles=["PUBLIC", "bob"],
                    using=Q(owner="x") | Q(public=True), previous_using="true"),
        DropPolicy("p1", "pgo_doc", reverse_command="UPDATE", reverse_using="true",
                   reverse_check="false", reverse_roles=["bob"], reverse_permissive=False),
        AddConstraint("Doc", ExclusionConstraint(
            name="pgo_doc_excl", expressions=[("owner", "="), (F("title"), "<>")], index_type="btree",
            condition=~Q(public=True), deferrable="immediate")),
        RemoveConstraint("Doc", "pgo_doc_excl"),
    ]


def test_writer_round_trip(app):
    ops = all_operations()
    migration = Migration("0002_everything", APP, operations=ops, dependencies=[(APP, "0001_initial")])
    text = MigrationWriter(migration).as_string()
    for op in ops:
        assert f"{type(op).__name__}(" in text
    assert "from dorm.migrations.operations import" in text
    assert "import dorm_postgres.pg_operations" in text            # MINVALUE / MAXVALUE
    write(app, "0001_initial", DOC)
    (app.migrations_dir / "0002_everything.py").write_text(text)
    loaded = MigrationLoader(None, apps=[app]).graph.nodes[(APP, "0002_everything")].operations
    assert loaded == ops
    for a, b in zip(loaded, ops):
        assert a.deconstruct() == b.deconstruct()
        assert a.describe() == b.describe()
    # and again: writing the loaded operations gives the same file
    assert MigrationWriter(Migration("0002_everything", APP, operations=loaded,
                                     dependencies=[(APP, "0001_initial")])).as_string() == text


def test_migration_name_fragments():
    assert CreateMaterializedView("reporting.Sales", "SELECT 1").migration_name_fragment == \
        "create_matview_reporting_sales"
    assert EnableRowLevelSecurity("doc").migration_name_fragment == "enable_rls_doc"
    assert CreatePolicy("own", "doc", using="true").describe() == "Create policy own on doc for ALL"


def run_dorm(root, *args, expect=0):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DORM_SETTINGS")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run([sys.executable, "-m", "dorm", *args], cwd=root, env=env, text=True,
                          capture_output=True, timeout=120)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return proc


def test_sqlmigrate_shows_the_sql(tmp_path, pg_settings):
    root = tmp_path / "proj"
    pkg = root / "pgo_cli"
    (pkg / "migrations").mkdir(parents=True)
    (pkg / "__init__.py").touch()
    (pkg / "migrations" / "__init__.py").touch()
    (root / "settings.py").write_text(f"DATABASES = {{'default': {pg_settings!r}}}\n"
                                      "INSTALLED_APPS = ['pgo_cli']\n")
    (pkg / "migrations" / "0001_initial.py").write_text(textwrap.dedent(DOC))
    ops = [op for op in all_operations() if not isinstance(op, (AddConstraint, RemoveConstraint))]
    (pkg / "migrations" / "0002_pg.py").write_text(MigrationWriter(Migration(
        "0002_pg", "pgo_cli", operations=ops, dependencies=[("pgo_cli", "0001_initial")])).as_string())
    out = run_dorm(root, "sqlmigrate", "pgo_cli", "0002").stdout
    expected = [
        'CREATE MATERIALIZED VIEW IF NOT EXISTS "reporting"."pgo_mv" AS SELECT region',
        'REFRESH MATERIALIZED VIEW CONCURRENTLY "pgo_mv";',
        'DROP MATERIALIZED VIEW "pgo_mv";',
        'CREATE TABLE "pgo_m" (id int, d date) PARTITION BY RANGE ("d");',
        'CREATE TABLE "pgo_m_a" PARTITION OF "pgo_m" FOR VALUES FROM (MINVALUE) TO (\'2024-01-01\');',
        'CREATE TABLE IF NOT EXISTS "pgo_m_b" PARTITION OF "pgo_m" FOR VALUES FROM (\'2024-01-01\') TO (MAXVALUE);',
        'CREATE TABLE "pgo_l_a" PARTITION OF "pgo_l" FOR VALUES IN (\'x\', NULL, 1.5);',
        'CREATE TABLE "pgo_h_0" PARTITION OF "pgo_h" FOR VALUES WITH (MODULUS 2, REMAINDER 0);',
        'CREATE TABLE "pgo_m_def" PARTITION OF "pgo_m" DEFAULT;',
        'ALTER TABLE "pgo_m" ATTACH PARTITION "pgo_m_c" FOR VALUES FROM (\'2030-01-01\') TO (\'2031-01-01\');',
        'ALTER TABLE "pgo_m" DETACH PARTITION "pgo_m_c";',
        'ALTER TABLE "pgo_doc" ENABLE ROW LEVEL SECURITY;',
        'ALTER TABLE "pgo_doc" FORCE ROW LEVEL SECURITY;',
        'ALTER TABLE "pgo_doc" DISABLE ROW LEVEL SECURITY;',
        'CREATE POLICY "p1" ON "pgo_doc" AS RESTRICTIVE FOR UPDATE TO PUBLIC, "bob" USING (true) '
        'WITH CHECK ("public" = TRUE);',
        'ALTER POLICY "p1" ON "pgo_doc" TO CURRENT_USER USING (("owner" = \'x\' OR "public" = TRUE));',
        'DROP POLICY "p1" ON "pgo_doc";',
    ]
    for line in expected:
        assert line in out, f"{line!r} not in:\n{out}"
    assert "-- CreatePolicy: Create restrictive policy p1 on pgo_doc for UPDATE" in out

    back = run_dorm(root, "sqlmigrate", "pgo_cli", "0002", "--backwards").stdout
    for line in [
        'CREATE POLICY "p1" ON "pgo_doc" AS RESTRICTIVE FOR UPDATE TO "bob" USING (true) WITH CHECK (false);',
        'ALTER POLICY "p1" ON "pgo_doc" TO PUBLIC, "bob" USING (true);',
        'DROP POLICY IF EXISTS "p1" ON "pgo_doc";',
        'ALTER TABLE "pgo_doc" NO FORCE ROW LEVEL SECURITY;',
        'ALTER TABLE "pgo_m" ATTACH PARTITION "pgo_m_c" FOR VALUES FROM (\'2030-01-01\') TO (\'2031-01-01\');',
        'ALTER TABLE "pgo_m" DETACH PARTITION "pgo_m_c";',
        'DROP TABLE IF EXISTS "pgo_m";',
        'CREATE MATERIALIZED VIEW "pgo_mv" AS SELECT 1 AS x;',
        'DROP MATERIALIZED VIEW IF EXISTS "reporting"."pgo_mv";',
    ]:
        assert line in back, f"{line!r} not in:\n{back}"
    assert back.index("CREATE MATERIALIZED VIEW") < back.index('DROP MATERIALIZED VIEW IF EXISTS')

    # an irreversible operation: --backwards refuses
    (pkg / "migrations" / "0003_drop.py").write_text(MigrationWriter(Migration(
        "0003_drop", "pgo_cli", operations=[DropMaterializedView("pgo_mv")],
        dependencies=[("pgo_cli", "0002_pg")])).as_string())
    err = run_dorm(root, "sqlmigrate", "pgo_cli", "0003", "--backwards", expect=1).stderr
    assert "irreversible" in err and "pgo_mv" in err


# ---- other backends ------------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_other_backends(engine, app, tmp_path):
    pytest.importorskip({"sqlite": "dorm_sqlite", "duckdb": "dorm_duckdb"}[engine])
    name = str(tmp_path / ("o.db" if engine == "sqlite" else "o.duckdb"))
    with dorm.settings.override(DATABASES={"default": {"ENGINE": engine, "NAME": name}}):
        conn = connections["default"]
        try:
            display = conn.display_name
            # RLS and policy operations are no-ops; an ExclusionConstraint has no SQL
            ops_migration(app, "0001_initial", """
                CreateModel(name="Booking", fields=[
                    ("id", dorm.BigAutoField(primary_key=True)),
                    ("room", dorm.IntegerField()),
                    ("cancelled", dorm.BooleanField(default=False)),
                ], options={"db_table": "pgo_booking", "constraints": [dorm.ExclusionConstraint(
                    name="pgo_booking_excl", expressions=[("room", "=")], condition=Q(cancelled=False))]}),
                AddConstraint("Booking", dorm.ExclusionConstraint(name="pgo_booking_excl2",
                                                                  expressions=[("room", "<>")])),
                EnableRowLevelSecurity("pgo_booking"),
                ForceRowLevelSecurity("pgo_booking"),
                CreatePolicy("pgo_p", "pgo_booking", using=Q(cancelled=False)),
                AlterPolicy("pgo_p", "pgo_booking", using="true", previous_using="false"),
                DropPolicy("pgo_p", "pgo_booking", reverse_using="true"),
                DisableRowLevelSecurity("pgo_booking"),
            """)
            migrate(conn, app)
            conn.execute_write("INSERT INTO pgo_booking (id, room, cancelled) VALUES (1, 1, FALSE), "
                               "(2, 1, FALSE)", ())
            assert conn.execute("SELECT COUNT(*) FROM pgo_booking")[0][0] == 2

            loader = MigrationLoader(conn, apps=[app])
            executor = MigrationExecutor(conn, loader)
            migration = loader.graph.nodes[(APP, "0001_initial")]
            by_op = executor.collect_sql_by_operation(ProjectState(), migration)
            assert [sql for op, sql in by_op[1:]] == [[]] * 7          # AddConstraint + 6 RLS ops
            assert "pgo_booking_excl" not in " ".join(by_op[0][1])

            # views and partitions: NotImplementedError naming the operation and backend
            for i, source in enumerate([
                'CreateMaterializedView("pgo_mv", "SELECT 1")',
                'RefreshMaterializedView("pgo_mv")',
                'DropMaterializedView("pgo_mv", reverse_sql="SELECT 1")',
                'CreatePartitionedTable("pgo_m", columns_sql="d date", method="RANGE", key="d")',
                'CreatePartition("pgo_m", "pgo_m1", for_values="DEFAULT")',
                'AttachPartition("pgo_m", "pgo_m1", for_values="DEFAULT")',
                'DetachPartition("pgo_m", "pgo_m1", for_values="DEFAULT")',
            ]):
                ops_migration(app, "0002_pg", source + ",", previous="0001_initial")
                with pytest.raises(MigrationFailed) as info:
                    migrate(conn, app)
                cause = info.value.__cause__
                assert isinstance(cause, NotImplementedError), cause
                assert source.split("(")[0] in str(cause) and display in str(cause)
                with pytest.raises(NotImplementedError, match=source.split("(")[0]):  # sqlmigrate too
                    MigrationExecutor(conn, MigrationLoader(conn, apps=[app])).collect_sql(
                        ProjectState(), MigrationLoader(conn, apps=[app]).graph.nodes[(APP, "0002_pg")])
            (app.migrations_dir / "0002_pg.py").unlink()
            migrate(conn, app, "zero")
            assert "pgo_booking" not in conn.introspection.table_names()
        finally:
            connections.close_all()
