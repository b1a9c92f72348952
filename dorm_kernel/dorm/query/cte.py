"""Common table expressions for ``QuerySet.with_cte(name=...)``."""
from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CTE:
    """A raw (possibly recursive) CTE body: trusted SQL with ``%s`` parameters."""

    def __init__(self, sql: str, params=(), recursive=False, columns=None):
        self.sql, self.params, self.recursive = sql, list(params), recursive
        self.columns = list(columns) if columns else None

    def as_cte_sql(self, compiler, connection):
        return compiler.convert_placeholders(self.sql), list(self.params)


class QuerySetCTE:
    recursive = False

    def __init__(self, queryset):
        self.query = queryset.query

    def as_cte_sql(self, compiler, connection):
        return compiler.compile_subquery(self.query)


def make_cte(name, value):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"CTE name {name!r} must be an identifier")
    if isinstance(value, CTE):
        return value
    if hasattr(value, "query") and hasattr(value, "model"):
        return QuerySetCTE(value)
    raise TypeError(f"with_cte({name}=...) takes a QuerySet or dorm.CTE, got {type(value).__name__}")
