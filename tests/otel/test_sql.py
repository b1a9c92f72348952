"""Operation and table detection for span names (pure text, no database)."""
from __future__ import annotations

import pytest
from dorm_otel.sql import Statement, describe
from dorm_otel.tracing import _span_name

CASES = [
    # plain statements, as dorm writes them (quoted) and as people write them
    ('SELECT "otel_book"."id" FROM "otel_book" WHERE "otel_book"."pages" > %s', "SELECT", "otel_book", False),
    ("select title from Books", "SELECT", "Books", False),
    ('INSERT INTO "otel_book" ("title") VALUES (?) RETURNING "otel_book"."id"', "INSERT", "otel_book", True),
    ('UPDATE "otel_book" SET "pages" = %s WHERE "id" = %s', "UPDATE", "otel_book", False),
    ('DELETE FROM "otel_book" WHERE "id" IN (%s)', "DELETE", "otel_book", False),
    ("DELETE FROM ONLY books", "DELETE", "books", False),
    ("MERGE INTO stock USING delivery ON true WHEN MATCHED THEN DELETE", "MERGE", "stock", False),
    ("TRUNCATE TABLE books", "TRUNCATE", "books", False),
    ('CREATE TABLE IF NOT EXISTS "shop_product" ("id" integer)', "CREATE", "shop_product", False),
    ('DROP TABLE IF EXISTS "x"', "DROP", "x", False),
    ("ALTER TABLE books ADD COLUMN isbn text", "ALTER", "books", False),
    ('COPY "otel_book" ("title", "pages") FROM STDIN', "COPY", "otel_book", False),
    ("COPY (SELECT * FROM archive) TO STDOUT", "COPY", "archive", False),
    ("INSERT OR REPLACE INTO t (a) VALUES (1)", "INSERT", "t", False),
    ("PRAGMA foreign_keys = ON", "PRAGMA", None, False),
    # qualified and oddly quoted names
    ('SELECT * FROM "public"."books"', "SELECT", "public.books", False),
    ('SELECT * FROM "we""ird"', "SELECT", 'we"ird', False),
    ("SELECT * FROM `mysql_table`", "SELECT", "mysql_table", False),
    # comments and parentheses before the verb; strings and comments never match
    ("/* request 42 */ -- a hint\n  SELECT a FROM t", "SELECT", "t", False),
    ("((SELECT 1 FROM a) UNION (SELECT 2 FROM b))", "SELECT", "a", False),
    ("SELECT 'FROM fake' AS x FROM real_one", "SELECT", "real_one", False),
    ("SELECT a /* FROM fake */ FROM real_one", "SELECT", "real_one", False),
    ("SELECT $tag$ FROM fake $tag$ FROM real_one", "SELECT", "real_one", False),
    # FROM that is not a table
    ("SELECT EXTRACT(YEAR FROM created) FROM orders", "SELECT", "orders", False),
    ("SELECT * FROM generate_series(1, 3) g JOIN items ON true", "SELECT", "items", False),
    ("SELECT count(*) FROM (SELECT id FROM inner_t) sub", "SELECT", "inner_t", False),
    ("SELECT 1", "SELECT", None, False),
    # common table expressions: the main statement's verb; its table, or the first real
    # table inside the CTEs when it reads only CTEs
    ("WITH RECURSIVE tree(id) AS (SELECT id FROM category WHERE parent_id IS NULL "
     "UNION ALL SELECT c.id FROM category c JOIN tree ON c.parent_id = tree.id) "
     "SELECT * FROM tree", "SELECT", "category", False),
    ('WITH "Tree" AS (SELECT 1 FROM nodes) SELECT * FROM "Tree"', "SELECT", "nodes", False),
    ("WITH x AS (SELECT id FROM src) INSERT INTO dst (id) SELECT id FROM x RETURNING id",
     "INSERT", "dst", True),
    ("WITH old AS (SELECT id FROM t WHERE d < now()) DELETE FROM t WHERE id IN (SELECT id FROM old)",
     "DELETE", "t", False),
    ("WITH a AS (SELECT 1), b AS MATERIALIZED (SELECT 2) SELECT * FROM a, b", "SELECT", None, False),
    ("with n(i) as (values (1)) update t set v = (select i from n)", "UPDATE", "t", False),
    ("/* c */ WITH x AS (SELECT 1) SELECT * FROM x JOIN books ON true", "SELECT", "books", False),
    # not a known operation
    ("BEGIN", None, None, False),
    ("SAVEPOINT s1", None, None, False),
    ("", None, None, False),
    ("WITH x AS (SELECT 1)", None, None, False),
    ("   ", None, None, False),
]


@pytest.mark.parametrize(("sql", "operation", "table", "returning"), CASES)
def test_describe(sql, operation, table, returning):
    assert describe(sql) == Statement(operation, table, returning)


def test_a_column_named_returning_is_not_a_clause():
    assert describe('SELECT "returning" FROM t').returning is False
    assert describe("INSERT INTO t SELECT * FROM (SELECT 1 RETURNING) x").returning is False


@pytest.mark.parametrize(("sql", "name"), [
    ('SELECT * FROM "books"', "SELECT books"),
    ("SELECT 1", "SELECT"),
    ("BEGIN", "db.sqlite"),
    ("not sql at all", "db.sqlite"),
])
def test_span_names(sql, name):
    assert _span_name(describe(sql), "sqlite") == name


def test_never_raises_on_odd_input():
    for sql in ["'unterminated", '"unterminated', "/* unterminated", "$$ unterminated",
                "SELECT (((", "SELECT )))", "\x00\x01", "FROM", "SELECT * FROM"]:
        assert isinstance(describe(sql), Statement)
    assert describe(None) == Statement(None, None, False)


def test_long_statements_are_described_from_their_head_and_tail():
    values = ", ".join(["(%s, %s)"] * 5000)
    bulk = f'INSERT INTO "otel_book" ("title", "pages") VALUES {values} RETURNING "otel_book"."id"'
    assert len(bulk) > 8192
    assert describe(bulk) == Statement("INSERT", "otel_book", True)
    assert describe(bulk) is describe(bulk)                      # cached
    in_list = 'SELECT "id" FROM "otel_book" WHERE "id" IN (' + ", ".join(["%s"] * 5000) + ")"
    assert describe(in_list) == Statement("SELECT", "otel_book", False)
