#!/usr/bin/env python3
"""bulk_copy_from vs raw psycopg COPY on PostgreSQL, paired (features-4.0 §1 target).

    .venv/bin/python bench/pg_copy.py                      # 1,000,000 rows, 5 pairs
    .venv/bin/python bench/pg_copy.py --rows 200000 --pairs 7 --binary

Both peers load the same pre-built list of tuples into identical tables of one fresh
database (created with the plugin's test_settings(), dropped at exit): ``raw`` is
psycopg's ``cursor.copy()`` + ``write_row`` in one transaction, ``dorm`` is
``bulk_copy_from(Model, rows, columns=...)`` (values through the fields'
``get_db_prep_value``, one transaction). The tables are truncated before every run
(untimed). Runs alternate raw/dorm in ABBA order so each pair sees the same load; the
ratio reported is the median of the per-pair ratios (and best/best for reference).
Target: ≤ 1.3×.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET = 1.3
COLUMNS = ["name", "qty", "big", "ratio", "note"]


def make_rows(n: int, with_datetime: bool):
    base = datetime.datetime(2024, 1, 1)
    rows = []
    for i in range(n):
        row = (f"item-{i}", i % 1000, i * 1_000_003, i / 7.0, "lorem ipsum dolor")
        if with_datetime:
            row += (base + datetime.timedelta(seconds=i),)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--binary", action="store_true", help="binary COPY for both peers")
    p.add_argument("--datetime", action="store_true",
                   help="add a timestamp column (values converted by DateTimeField)")
    args = p.parse_args(argv)

    import dorm
    import psycopg
    from dorm.contrib.bulk_copy import bulk_copy_from
    from dorm_postgres.plugin import test_settings

    settings = test_settings()
    if settings is None:
        print("skipped: PostgreSQL is not reachable (DORM_TEST_PG_DSN)")
        return 0
    dorm.configure(DATABASES={"default": settings})

    attrs = {
        "name": dorm.CharField(max_length=40),
        "qty": dorm.IntegerField(),
        "big": dorm.BigIntegerField(),
        "ratio": dorm.FloatField(),
        "note": dorm.TextField(),
        "Meta": type("Meta", (), {"app_label": "bench_copy"}),
        "__module__": __name__,
    }
    columns = list(COLUMNS)
    if args.datetime:
        attrs["at"] = dorm.DateTimeField()
        columns.append("at")
    Model = type("CopyRow", (dorm.Model,), attrs)
    dorm.create_tables([Model])
    table = Model._meta.db_table
    raw_table = table + "_raw"

    conn = psycopg.connect(host=settings["HOST"], port=settings["PORT"],
                           user=settings.get("USER"), password=settings.get("PASSWORD"),
                           dbname=settings["NAME"])
    conn.execute(f'CREATE TABLE "{raw_table}" (LIKE "{table}" INCLUDING ALL)')
    conn.commit()
    cols_sql = ", ".join(f'"{c}"' for c in columns)
    fmt = " (FORMAT BINARY)" if args.binary else ""
    raw_sql = f'COPY "{raw_table}" ({cols_sql}) FROM STDIN{fmt}'
    types = None
    if args.binary:
        types = ["varchar", "int4", "int8", "float8", "text"] + (
            ["timestamp"] if args.datetime else [])

    rows = make_rows(args.rows, args.datetime)

    def truncate():
        conn.execute(f'TRUNCATE "{raw_table}", "{table}"')
        conn.commit()
        conn.execute("CHECKPOINT")
        conn.commit()

    def run_raw():
        with conn.cursor() as cur, cur.copy(raw_sql) as copy:
            if types:
                copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        conn.commit()

    def run_dorm():
        n = bulk_copy_from(Model, rows, columns=columns, binary=args.binary)
        assert n == len(rows)

    peers = {"raw": run_raw, "dorm": run_dorm}

    def timed(name):
        truncate()
        gc.collect()
        t0 = time.perf_counter()
        peers[name]()
        return time.perf_counter() - t0

    timed("raw")
    timed("dorm")                                    # warm-up
    samples = {"raw": [], "dorm": []}
    for i in range(args.pairs):
        order = ("raw", "dorm") if i % 2 == 0 else ("dorm", "raw")
        for name in order:
            samples[name].append(timed(name))
    count = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    assert count == args.rows, count
    ratios = [d / r for d, r in zip(samples["dorm"], samples["raw"], strict=True)]
    ratio = statistics.median(ratios)
    best = min(samples["dorm"]) / min(samples["raw"])
    version = conn.execute("SHOW server_version").fetchone()[0]
    conn.close()
    dorm.db.connections.close_all()
    mode = "binary" if args.binary else "text"
    print(f"PostgreSQL {version}, psycopg {psycopg.__version__}, {args.rows:,} rows "
          f"({', '.join(columns)}), {mode} COPY, {args.pairs} ABBA pairs")
    print(f"{'peer':6s} {'median s':>9s} {'best s':>8s} {'rows/s (median)':>16s}")
    for name in ("raw", "dorm"):
        med = statistics.median(samples[name])
        print(f"{name:6s} {med:9.3f} {min(samples[name]):8.3f} {args.rows / med:16,.0f}")
    ok = ratio <= TARGET
    print(f"ratio dorm/raw: {ratio:.2f}x (median of pairs), {best:.2f}x (best/best); "
          f"target ≤{TARGET}x {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
