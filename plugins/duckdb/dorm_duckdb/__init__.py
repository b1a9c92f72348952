"""dorm-duckdb: the DuckDB backend of dorm (sync ``duckdb``, async on a worker thread).

Installed, it provides ``ENGINE = "duckdb"``. See ``docs/duckdb.md``.
"""
