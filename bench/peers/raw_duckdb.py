"""The DuckDB baseline: the ``duckdb`` module with SQL written by hand.

The same table dorm creates (a sequence-backed ``BIGINT`` primary key), the same rows.
Bulk inserts use the fastest honest path the Python API offers without
pandas/pyarrow: one list per column bound as a parameter, ``INSERT ... SELECT
UNNEST(...)`` (DuckDB converts each list in C). Reads fetch plain tuples. Autocommit,
as dorm outside ``atomic()``. Serves both ``bench/run.py --backends duckdb`` (the
standard scenarios) and ``bench/duckdb_analytics.py``.
"""
from __future__ import annotations

from bench.peers.base import Peer
from bench.scenarios import COUNT_THRESHOLD, make_row

DDL = [
    'CREATE SEQUENCE "bench_item_id_seq"',
    ('CREATE TABLE "bench_item" ('
     '"id" BIGINT PRIMARY KEY NOT NULL DEFAULT nextval(\'"bench_item_id_seq"\'), '
     '"name" VARCHAR(100) NOT NULL, "value" INTEGER NOT NULL, "score" DOUBLE NOT NULL)'),
]
INSERT = ('INSERT INTO "bench_item" ("name", "value", "score") '
          'SELECT UNNEST(c0), UNNEST(c1), UNNEST(c2) FROM (SELECT ? AS c0, ? AS c1, ? AS c2)')
GROUP_BY = ('SELECT "value", COUNT("id") AS "n", SUM("score") AS "total", AVG("score") AS "mean" '
            'FROM "bench_item" GROUP BY "value" ORDER BY "value"')
WINDOW = ('SELECT "id", SUM("score") OVER (PARTITION BY "value" ORDER BY "id") AS "running" '
          'FROM "bench_item" ORDER BY "running" DESC LIMIT 10')
SCAN = 'SELECT "id", "name", "value", "score" FROM "bench_item"'
COLUMNS = '"id", "name", "value", "score"'


class RawDuckDB(Peer):
    name = "raw"
    label = "duckdb (raw SQL)"
    backends = ("duckdb",)

    def unavailable(self) -> str | None:
        try:
            import duckdb  # noqa: F401
        except ImportError:
            return "duckdb is not installed"
        return None

    def info(self) -> dict:
        import duckdb

        return {"duckdb_module": duckdb.__version__, "ddl": DDL, "insert": INSERT}

    def setup(self, env, cfg) -> None:
        self.conn = env.raw_connect()
        for sql in DDL:
            self.conn.execute(sql)
        self.cfg = cfg

    def teardown(self) -> None:
        self.conn.close()

    def clear(self) -> None:
        self.conn.execute('DELETE FROM "bench_item"')

    def populate(self, rows: int) -> None:
        self.clear()
        self.op_ingest(rows)

    def all_pks(self) -> list[int]:
        return [r[0] for r in self.conn.execute('SELECT "id" FROM "bench_item"').fetchall()]

    # -- bench/run.py scenarios --------------------------------------------------
    def op_create(self) -> None:
        execute = self.conn.execute
        sql = 'INSERT INTO "bench_item" ("name", "value", "score") VALUES (?, ?, ?)'
        for i in range(self.cfg.ops):
            execute(sql, make_row(i))

    def op_bulk_create(self, rows: int | None = None) -> None:
        rows = self.cfg.rows if rows is None else rows
        names, values, scores = [], [], []
        for i in range(rows):
            name, value, score = make_row(i)
            names.append(name)
            values.append(value)
            scores.append(score)
        self.conn.execute(INSERT, [names, values, scores])

    def op_get(self) -> None:
        execute = self.conn.execute
        sql = f'SELECT {COLUMNS} FROM "bench_item" WHERE "id" = ? LIMIT 21'
        for pk in self.cfg.pks:
            execute(sql, (pk,)).fetchall()

    def op_count(self) -> None:
        execute = self.conn.execute
        sql = 'SELECT COUNT(*) FROM "bench_item" WHERE "value" < ?'
        for _ in range(self.cfg.count_ops):
            execute(sql, (COUNT_THRESHOLD,)).fetchone()

    def op_list(self) -> None:
        execute = self.conn.execute
        sql = f'SELECT {COLUMNS} FROM "bench_item" LIMIT ?'
        for _ in range(self.cfg.list_ops):
            execute(sql, (self.cfg.list_limit,)).fetchall()

    def op_update(self) -> None:
        execute = self.conn.execute
        sql = 'UPDATE "bench_item" SET "value" = ? WHERE "id" = ?'
        for n, pk in enumerate(self.cfg.pks):
            execute(sql, (n % 1000, pk))

    def op_values_list(self) -> None:
        self.conn.execute('SELECT "id", "name", "value" FROM "bench_item"').fetchall()

    # -- bench/duckdb_analytics.py scenarios ----------------------------------------
    def op_ingest(self, rows: int | None = None) -> None:
        self.op_bulk_create(rows)

    def op_group_by(self) -> None:
        self.conn.execute(GROUP_BY).fetchall()

    def op_window(self) -> None:
        self.conn.execute(WINDOW).fetchall()

    def op_scan(self) -> None:
        self.conn.execute(SCAN).fetchall()


PEER = RawDuckDB()
