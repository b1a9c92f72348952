"""What PostgreSQL (12+) can do, as the kernel's capability flags."""
from __future__ import annotations

from dorm.db.backends.base.features import BaseFeatures


class PostgresFeatures(BaseFeatures):
    supports_returning = True
    supports_bulk_returning = True
    supports_ignore_conflicts = True
    supports_update_conflicts = True
    supports_update_conflicts_with_target = True
    supports_distinct_on = True
    supports_select_for_update = True
    supports_select_for_update_nowait = True
    supports_select_for_update_skip_locked = True
    supports_select_for_update_of = True
    supports_aggregate_filter_clause = True
    supports_window_functions = True
    supports_recursive_cte = True
    supports_cte = True
    supports_regex = True
    supports_json = True
    supports_json_field_contains = True      # jsonb @> / <@
    supports_explain_analyze = True
    supports_partial_indexes = True
    supports_expression_indexes = True
    supports_comments = True
    supports_stddev = True
    supports_combined_order_by_column_names = True
    supports_slicing_ordering_in_compound = True
    #: the wire protocol counts parameters in a 16-bit integer
    max_query_params = 65535

    supports_transactions = True
    supports_savepoints = True
    supports_transactional_ddl = True
    supports_statement_timeout = True        # dorm.budget: SET LOCAL statement_timeout

    has_native_uuid = True
    has_native_duration = True
    has_native_json = True
    has_native_decimal = True
    has_native_bool = True
    has_native_ip = True
    supports_timezones = True
    has_case_insensitive_like = False

    supports_server_side_cursors = True
    has_native_async = True                  # psycopg AsyncConnection + AsyncConnectionPool
    has_connection_pool = True               # statements borrow from psycopg_pool

    supports_alter_column_type = True
    supports_drop_column = True
    supports_column_rename = True
    requires_table_rebuild_for_alter = False

    supports_foreign_keys = True
    supports_forward_references = False      # FKs to later tables: ALTER TABLE at block end
    supports_alter_table_constraints = True
    supports_create_if_not_exists = True
    supports_covering_indexes = True         # CREATE INDEX ... INCLUDE (...)
    supports_transaction_modes = False

    supports_concurrent_index = True         # CREATE INDEX CONCURRENTLY (outside a transaction)
    supports_truncate_cascade = True         # dorm flush: one TRUNCATE ... CASCADE
    #: dorm doctor: a remote HOST should require TLS (libpq ``sslmode``)
    tls_option = ("sslmode", ("require", "verify-ca", "verify-full"))

    @property
    def supports_cte_cycle_clause(self) -> bool:
        """``WITH RECURSIVE ... CYCLE`` (PostgreSQL 14+)."""
        return self.backend.pg_version >= 140000

    # PostgreSQL-only extras (read by the plugin's own code)
    supports_array_field = True
    supports_jsonb = True
    supports_range_fields = True             # int4range ... tstzrange (range_fields.py)
    supports_citext = True                   # the citext extension (citext.py)
    # read by the PostgreSQL-only migration operations and ExclusionConstraint
    # (pg_operations.py, pg_partitions.py, pg_policies.py, constraints.py); absent = False
    supports_materialized_views = True
    supports_table_partitioning = True       # declarative RANGE/LIST/HASH partitioning
    supports_row_level_security = True       # ALTER TABLE ... ROW LEVEL SECURITY, policies
    supports_exclusion_constraints = True    # EXCLUDE USING gist/spgist/btree
