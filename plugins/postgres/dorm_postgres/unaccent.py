"""The ``unaccent`` transform (PostgreSQL's ``unaccent`` extension).

``name__unaccent="Helene"`` is ``unaccent("name") = unaccent(%s)``: both sides lose
their accents, so ``Hélène`` matches ``Helene`` and ``Hélène`` alike. It is a transform:
any lookup may follow, and the right-hand side is unaccented too
(``name__unaccent__icontains="ele"`` is ``UPPER(unaccent("name")::text) LIKE
UPPER(unaccent(%s))``; ``__in`` unaccents every value). Registered for ``CharField``
and ``TextField`` (so their subclasses, ``CITextField`` included) on PostgreSQL; other
backends raise ``NotSupportedError`` naming the backend.

The extension must exist: put ``CreateExtension("unaccent")`` in a migration before the
first query that uses it (as ``pg_trgm`` for the trigram lookups), or run
``CREATE EXTENSION IF NOT EXISTS unaccent`` once. The function is ``unaccent(text)``
from the extension (its default ``unaccent`` dictionary).
"""
from __future__ import annotations

from dorm.exceptions import NotSupportedError
from dorm.fields import TextField
from dorm.lookups import (Contains, EndsWith, Exact, GreaterThan, GreaterThanOrEqual, IContains,
                          IEndsWith, IExact, In, IStartsWith, LessThan, LessThanOrEqual,
                          StartsWith, Transform)

__all__ = ["UNACCENT_LOOKUPS", "Unaccent", "UnaccentedText"]


def _require_pg(node, connection) -> None:
    if getattr(connection, "vendor", None) != "postgresql" or (
            node.vendors is not None and connection.vendor not in node.vendors):
        raise NotSupportedError(f"lookup '{node.lookup_name}' is not supported on "
                                f"{connection.display_name} (PostgreSQL only, with the "
                                "unaccent extension)")


class UnaccentedText(TextField):
    """Output of ``Unaccent``: text whose lookups unaccent their right-hand side."""


class Unaccent(Transform):
    """``unaccent(<lhs>)``."""

    lookup_name = "unaccent"
    function = "unaccent"

    def _resolve_output_field(self):
        return UnaccentedText()

    def as_sql(self, compiler, connection, **extra):
        _require_pg(self, connection)
        sql, params = compiler.compile(self.lhs)
        return f"unaccent({sql})", params


class _UnaccentRhs:
    """Mixin: a plain right-hand side becomes ``unaccent(%s)``."""

    def process_rhs(self, compiler, connection):
        sql, params = super().process_rhs(compiler, connection)
        if hasattr(self.rhs, "as_sql"):
            return sql, params
        return f"unaccent({sql})", params


def _lookup(base):
    return type(f"Unaccent{base.__name__}", (_UnaccentRhs, base), {})


class UnaccentIn(In):
    """``__unaccent__in=[...]``: ``unaccent(col) IN (unaccent(%s), ...)``."""

    def as_sql(self, compiler, connection):
        if hasattr(self.rhs, "as_sql"):
            return super().as_sql(compiler, connection)
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        _, rp = self.process_rhs(compiler, connection)
        marks = ", ".join([f"unaccent({connection.ops.placeholder})"] * len(rp))
        return f"{lhs} IN ({marks})", [*lp, *rp]


UNACCENTED_LOOKUPS = [UnaccentIn, *(_lookup(b) for b in (
    Exact, IExact, Contains, IContains, StartsWith, IStartsWith, EndsWith, IEndsWith,
    GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual))]
UNACCENT_LOOKUPS = [Unaccent]
