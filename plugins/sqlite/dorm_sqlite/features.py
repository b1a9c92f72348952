"""What SQLite can do, decided from the linked library version (``sqlite3.sqlite_version_info``)."""
from __future__ import annotations

import sqlite3

from dorm.db.backends.base.features import BaseFeatures

V = sqlite3.sqlite_version_info


def _has_json1() -> bool:
    try:
        con = sqlite3.connect(":memory:")
        try:
            con.execute("SELECT json('{}')")
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return True


class SQLiteFeatures(BaseFeatures):
    supports_returning = V >= (3, 35, 0)
    supports_bulk_returning = V >= (3, 35, 0)
    supports_ignore_conflicts = V >= (3, 24, 0)
    supports_update_conflicts = V >= (3, 24, 0)
    supports_update_conflicts_with_target = V >= (3, 24, 0)
    supports_distinct_on = False
    supports_select_for_update = False
    supports_aggregate_filter_clause = V >= (3, 30, 1)
    supports_window_functions = V >= (3, 25, 0)
    supports_recursive_cte = True
    supports_cte = True
    supports_regex = True                      # REGEXP registered on every connection
    supports_json = _has_json1()
    supports_json_field_contains = False
    supports_partial_indexes = True
    supports_expression_indexes = True
    supports_comments = False
    supports_stddev = False
    supports_explain_analyze = False
    #: refined per connection from ``getlimit(SQLITE_LIMIT_VARIABLE_NUMBER)``
    max_query_params = 32766 if V >= (3, 32, 0) else 999

    supports_transactions = True
    supports_savepoints = True
    supports_transactional_ddl = True          # explicit BEGIN, isolation_level=None
    supports_statement_timeout = True          # dorm.budget: progress handler (backend.py)

    has_native_uuid = False
    has_native_duration = False
    has_native_json = False
    has_native_decimal = False                 # see docs/sqlite.md "Decimals"
    has_native_bool = False
    has_native_ip = False
    supports_timezones = False
    has_case_insensitive_like = True

    supports_server_side_cursors = False
    has_native_async = False                   # aiosqlite runs the driver on a thread

    supports_alter_column_type = False
    supports_drop_column = V >= (3, 35, 5)
    supports_column_rename = V >= (3, 25, 0)
    requires_table_rebuild_for_alter = True

    supports_foreign_keys = True
    supports_forward_references = True         # REFERENCES is resolved lazily
    supports_alter_table_constraints = False   # constraints change by rebuilding the table
    supports_create_if_not_exists = True
    supports_covering_indexes = False
    supports_transaction_modes = True
    #: ``PRAGMA defer_foreign_keys = ON`` (checks at COMMIT; used by ``dorm loaddata``)
    can_defer_constraint_checks = True
    #: ``x -> '$.path'`` JSON operator
    supports_json_arrow = V >= (3, 38, 0)
