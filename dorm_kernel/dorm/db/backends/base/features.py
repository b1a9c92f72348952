"""Capability flags of a backend.

The kernel asks these flags instead of comparing vendor names. A backend plugin
subclasses ``BaseFeatures`` and flips what its database can do. Shared tests skip
on a flag, and the skip reason names the flag.
"""
from __future__ import annotations


class BaseFeatures:
    # statements
    supports_returning = True            # INSERT/UPDATE ... RETURNING
    supports_bulk_returning = True       # RETURNING on multi-row INSERT
    supports_ignore_conflicts = True     # ON CONFLICT DO NOTHING
    supports_update_conflicts = True     # ON CONFLICT (...) DO UPDATE
    supports_update_conflicts_with_target = True
    supports_distinct_on = False
    supports_select_for_update = False
    supports_select_for_update_nowait = False
    supports_select_for_update_skip_locked = False
    supports_select_for_update_of = False
    supports_aggregate_filter_clause = True
    supports_window_functions = True
    supports_recursive_cte = True
    supports_cte = True
    # WITH RECURSIVE ... CYCLE col SET flag USING path (SQL:2011; PostgreSQL >= 14).
    # dorm-tree uses it when True, a portable path-string check otherwise.
    supports_cte_cycle_clause = False
    supports_regex = True
    supports_json = True
    supports_json_field_contains = False
    supports_explain_analyze = False
    supports_partial_indexes = True
    supports_expression_indexes = True
    supports_comments = False
    supports_stddev = False
    supports_combined_order_by_column_names = True
    supports_slicing_ordering_in_compound = True
    #: Max bound parameters in one statement (0 = unlimited for our purposes).
    max_query_params = 0

    # transactions
    supports_transactions = True
    supports_savepoints = True
    supports_transactional_ddl = True
    autocommits_when_autocommit_is_off = False
    #: ``dorm.budget.budget(timeout_ms=...)``: the backend implements
    #: ``set_statement_timeout`` / ``restore_statement_timeout`` (+ ``a*`` twins) and
    #: ``is_statement_timeout_error`` (else such a budget raises ``NotSupportedError``)
    supports_statement_timeout = False

    # types
    has_native_uuid = False
    has_native_duration = False
    has_native_json = False
    has_native_decimal = True
    has_native_bool = True
    has_native_ip = False
    supports_timezones = False           # TIMESTAMP WITH TIME ZONE
    has_case_insensitive_like = False    # plain LIKE ignores case (SQLite ASCII)

    # cursors and async
    supports_server_side_cursors = False
    has_native_async = False             # async driver (else worker thread)
    #: outside transactions each statement borrows a connection from a pool per alias
    #: (and gives it back): ``dorm.contrib.task_pool.pinned_connection`` pins one
    has_connection_pool = False

    # schema
    supports_alter_column_type = True
    supports_drop_column = True
    supports_column_rename = True
    requires_table_rebuild_for_alter = False

    def __init__(self, backend):
        self.backend = backend

    # schema editor (added with the connection layer)
    supports_foreign_keys = True
    #: inline ``REFERENCES`` may name a table created later (else FKs are added by
    #: ``ALTER TABLE ... ADD CONSTRAINT`` at the end of the schema editor block)
    supports_forward_references = False
    #: ``ALTER TABLE ... ADD/DROP CONSTRAINT`` (else the table is rebuilt)
    supports_alter_table_constraints = True
    supports_create_if_not_exists = True
    supports_covering_indexes = False
    #: ``OPTIONS["transaction_mode"]``: BEGIN DEFERRED/IMMEDIATE/EXCLUSIVE
    supports_transaction_modes = False

    # data commands (``dorm flush`` / ``dorm loaddata`` / ``dorm doctor``)
    #: ``TRUNCATE TABLE a, b CASCADE`` empties tables that reference each other in one
    #: statement (else ``flush`` deletes rows table by table, dependents first)
    supports_truncate_cascade = False
    #: ``ops.defer_constraint_checks_sql()`` postpones foreign key checks to COMMIT for
    #: the current transaction (``loaddata`` then inserts rows in any order)
    can_defer_constraint_checks = False
    #: network servers: ``(OPTIONS key, values that require transport encryption)``;
    #: ``dorm doctor`` warns about a remote HOST without one (None: not applicable)
    tls_option: tuple[str, tuple[str, ...]] | None = None
