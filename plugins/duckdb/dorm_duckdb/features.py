"""What DuckDB can do (decided for duckdb >= 1.1; see ``docs/duckdb.md``).

Every ``False`` below is something DuckDB itself lacks, and the shared suites skip
on the flag's name:

* ``supports_savepoints`` – DuckDB has no ``SAVEPOINT``. A nested ``atomic()`` is a
  block without a savepoint: a failure inside it marks the whole transaction for
  rollback (``dorm.transaction`` raises ``TransactionManagementError`` if the outer
  block tries to commit after catching it). Half a transaction never commits.
* ``supports_select_for_update`` – no row locks (optimistic concurrency control:
  conflicting writers get a ``TransactionException`` at write or commit time).
* ``supports_partial_indexes`` – ``CREATE INDEX ... WHERE`` is "not supported
  currently"; conditional unique constraints therefore raise ``NotSupportedError``.
* ``supports_alter_table_constraints`` – no ``ALTER TABLE ADD/DROP CONSTRAINT``: the
  schema editor rebuilds the table (data preserved).
* ``supports_forward_references`` – ``REFERENCES`` needs the table to exist.
* ``supports_foreign_keys`` – refined per alias from ``OPTIONS["foreign_keys"]``
  (default off: DuckDB cannot delete a parent row and its children in one
  transaction, nor has ``ON DELETE`` actions, so ``on_delete`` is enforced by the ORM).
"""
from __future__ import annotations

import functools

import duckdb
from dorm.db.backends.base.features import BaseFeatures


@functools.cache
def probe() -> dict:
    """What this duckdb build can do, tried once on a scratch in-memory database:
    ``setval`` (DuckDB 2.0+) and ``ALTER TABLE ADD COLUMN`` with constraints."""
    out = {"setval": False, "add_column_constraints": False}
    con = duckdb.connect(":memory:")
    try:
        out["setval"] = bool(con.execute(
            "SELECT 1 FROM duckdb_functions() WHERE function_name = 'setval'").fetchall())
        con.execute("CREATE TABLE probe (x INTEGER)")
        try:
            con.execute("ALTER TABLE probe ADD COLUMN y INTEGER NOT NULL DEFAULT 1")
            out["add_column_constraints"] = True
        except duckdb.Error:
            pass
    finally:
        con.close()
    return out


class DuckDBFeatures(BaseFeatures):
    # statements
    supports_returning = True
    supports_bulk_returning = True
    supports_ignore_conflicts = True           # ON CONFLICT DO NOTHING
    supports_update_conflicts = True           # ON CONFLICT (...) DO UPDATE
    supports_update_conflicts_with_target = True
    supports_distinct_on = True                # SELECT DISTINCT ON (...)
    supports_select_for_update = False
    supports_aggregate_filter_clause = True
    supports_window_functions = True
    supports_recursive_cte = True
    supports_cte = True
    supports_regex = True                      # regexp_matches (RE2 syntax)
    supports_json = True                       # built-in json extension
    supports_json_field_contains = False
    supports_explain_analyze = True
    supports_partial_indexes = False
    supports_expression_indexes = True
    supports_comments = True                   # COMMENT ON
    supports_stddev = True
    max_query_params = 0                       # no fixed limit

    # transactions
    supports_transactions = True
    supports_savepoints = False
    supports_statement_timeout = True         # dorm.budget: interrupt() from a watchdog thread
    supports_transactional_ddl = True

    # types
    has_native_uuid = True
    has_native_duration = False                # BIGINT microseconds (SUM(INTERVAL) does not exist)
    has_native_json = True
    has_native_decimal = True                  # DECIMAL(p, s), p <= 38, exact
    has_native_bool = True
    has_native_ip = False
    supports_timezones = False                 # TIMESTAMP (naive UTC with USE_TZ)
    has_case_insensitive_like = False

    # cursors and async
    supports_server_side_cursors = True        # results stream in chunks (fetchmany)
    has_native_async = False                   # the sync driver on a worker thread

    # schema
    supports_alter_column_type = True          # only without indexes on the table: else rebuild
    supports_drop_column = True
    supports_column_rename = True
    requires_table_rebuild_for_alter = True
    supports_foreign_keys = False              # see module docstring; per alias
    supports_forward_references = False
    supports_alter_table_constraints = False
    supports_create_if_not_exists = True
    supports_covering_indexes = False
    supports_transaction_modes = False

    #: ``setval()`` exists (DuckDB 2.0+); else sequences are advanced with ``nextval``
    supports_setval = property(lambda self: probe()["setval"])
    #: ``ADD COLUMN`` may carry NOT NULL / UNIQUE / CHECK (else the table is rebuilt)
    supports_add_column_constraints = property(lambda self: probe()["add_column_constraints"])

    def __init__(self, backend):
        super().__init__(backend)
        options = backend.settings_dict.get("OPTIONS", {}) or {}
        self.supports_foreign_keys = bool(options.get("foreign_keys", False))
