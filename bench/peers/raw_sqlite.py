"""The baseline: the standard-library ``sqlite3`` module with SQL written by hand.

It does what an ORM must do at the least: bind parameters, run the statement,
fetch rows as tuples (no objects). Autocommit, as dorm outside ``atomic()``.
"""
from __future__ import annotations

import sqlite3

from bench.peers.base import Peer
from bench.scenarios import (COUNT_THRESHOLD, RELATED_OWNERS, RELATED_ROWS, make_owner, make_pet,
                             make_row)

DDL = (
    'CREATE TABLE "bench_item" ('
    '"id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
    '"name" varchar(100) NOT NULL, '
    '"value" integer NOT NULL, '
    '"score" real NOT NULL)'
)
COLUMNS = '"id", "name", "value", "score"'
RELATED_DDL = (
    'CREATE TABLE "bench_owner" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
    '"name" varchar(100) NOT NULL)',
    'CREATE TABLE "bench_pet" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
    '"name" varchar(100) NOT NULL, "owner_id" bigint NOT NULL REFERENCES "bench_owner" ("id"))',
)
RELATED_SQL = (
    'SELECT "bench_pet"."id", "bench_pet"."name", "bench_pet"."owner_id", "T1"."id", "T1"."name" '
    'FROM "bench_pet" INNER JOIN "bench_owner" "T1" ON ("bench_pet"."owner_id" = "T1"."id") LIMIT ?'
)


class RawSqlite(Peer):
    name = "raw"
    label = "sqlite3 (raw SQL)"

    def info(self) -> dict:
        return {"sqlite3_module": sqlite3.sqlite_version, "ddl": DDL}

    def setup(self, env, cfg) -> None:
        self.conn = env.raw_connect()
        self.conn.execute(DDL)
        self.cfg = cfg
        c = self.conn
        for ddl in RELATED_DDL:
            c.execute(ddl)
        c.execute("BEGIN")
        c.executemany('INSERT INTO "bench_owner" ("name") VALUES (?)',
                      [(make_owner(i),) for i in range(RELATED_OWNERS)])
        c.executemany('INSERT INTO "bench_pet" ("name", "owner_id") VALUES (?, ?)',
                      [make_pet(i) for i in range(RELATED_ROWS)])
        c.execute("COMMIT")

    def teardown(self) -> None:
        self.conn.close()

    def clear(self) -> None:
        self.conn.execute('DELETE FROM "bench_item"')

    def populate(self, rows: int) -> None:
        self.clear()
        self._insert_many(rows)

    def all_pks(self) -> list[int]:
        return [r[0] for r in self.conn.execute('SELECT "id" FROM "bench_item"')]

    def _insert_many(self, rows: int) -> None:
        c = self.conn
        c.execute("BEGIN")
        c.executemany(
            'INSERT INTO "bench_item" ("name", "value", "score") VALUES (?, ?, ?)',
            [make_row(i) for i in range(rows)],
        )
        c.execute("COMMIT")

    # -- scenarios ---------------------------------------------------------------

    def op_create(self) -> None:
        execute = self.conn.execute
        sql = 'INSERT INTO "bench_item" ("name", "value", "score") VALUES (?, ?, ?)'
        for i in range(self.cfg.ops):
            execute(sql, make_row(i))

    def op_bulk_create(self) -> None:
        self._insert_many(self.cfg.rows)

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

    def op_select_related(self) -> None:
        execute = self.conn.execute
        for _ in range(self.cfg.related_ops):
            execute(RELATED_SQL, (RELATED_ROWS,)).fetchall()

    def op_values_list(self) -> None:
        self.conn.execute('SELECT "id", "name", "value" FROM "bench_item"').fetchall()


PEER = RawSqlite()
