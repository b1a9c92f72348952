"""``CITextField``: case-insensitive text (``dorm.CITextField``).

A ``TextField`` whose column compares case-insensitively, so ``exact``, ``in``,
``unique`` and ordering ignore case while the stored value keeps its case:

==============  ==============================  =====================================
backend         column                          case folding
==============  ==============================  =====================================
PostgreSQL      ``citext``                      ``lower()`` of the database's locale
SQLite          ``TEXT COLLATE NOCASE``         ASCII letters only (SQLite's NOCASE)
DuckDB          ``VARCHAR COLLATE NOCASE``      DuckDB's NOCASE collation
other           the backend's ``data_types["CITextField"]``, else ``NotSupportedError``
==============  ==============================  =====================================

* PostgreSQL: the schema editor runs ``CREATE EXTENSION IF NOT EXISTS citext`` before
  it creates a table with such a column, adds one or alters a column into one (the
  field lists ``db_extensions = ("citext",)``; the role needs the right to create the
  extension, which is trusted since PostgreSQL 13). ``exact``/``in`` cast the value to
  ``citext`` so the comparison is never a plain ``text`` one.
* DuckDB ignores the collation in ``UNIQUE`` constraints, so ``unique=True`` also gets
  ``CREATE UNIQUE INDEX ... ((lower(col)))`` (``after_column_created``); the DuckDB
  plugin's table rebuilds (some ``ALTER`` emulations) do not run field hooks, so
  re-create that index after such a rebuild (``Meta.indexes`` are not affected).
* ``contains`` / ``startswith`` / ``endswith`` / ``regex`` on this field are the
  case-insensitive ``icontains`` ... ``iregex`` on every backend.
"""
from __future__ import annotations

from dorm.exceptions import NotSupportedError
from dorm.fields import TextField
from dorm.lookups import Contains, EndsWith, Exact, In, IRegex, StartsWith

__all__ = ["CITEXT_LOOKUPS", "CITextField"]

_FALLBACK_TYPES = {"sqlite": "TEXT COLLATE NOCASE", "duckdb": "VARCHAR COLLATE NOCASE"}
_CAST_TYPES = {"sqlite": "TEXT", "duckdb": "VARCHAR"}


def _is_pg(connection) -> bool:
    return bool(getattr(connection.features, "supports_citext", False))


class CITextField(TextField):
    """Case-insensitive text (see the module docstring)."""

    description = "case-insensitive text"
    #: PostgreSQL extensions the schema editor creates before this column
    db_extensions = ("citext",)

    def get_internal_type(self) -> str:
        return "CITextField"

    def _label(self) -> str:
        if self.model is not None and self.name:
            return f"{self.model.__name__}.{self.name}"
        return self.name or "CITextField"

    def db_type(self, connection) -> str:
        if _is_pg(connection):
            return "citext"
        custom = connection.data_types.get("CITextField")
        if custom:
            return custom % self.db_type_parameters()
        fallback = _FALLBACK_TYPES.get(connection.vendor)
        if fallback is None:
            raise NotSupportedError(
                f"{self._label()}: CITextField has no case-insensitive column type on "
                f"{connection.display_name}; supported: PostgreSQL (citext), SQLite "
                "(TEXT COLLATE NOCASE), DuckDB (VARCHAR COLLATE NOCASE), or a backend whose "
                "data_types define 'CITextField'")
        return fallback

    def cast_db_type(self, connection) -> str:
        """The type for ``CAST(... AS ...)`` (no collation clause)."""
        if _is_pg(connection):
            return "citext"
        return _CAST_TYPES.get(connection.vendor) or self.db_type(connection)

    def rel_db_type(self, connection) -> str:
        return self.db_type(connection)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if type(self) is CITextField:
            path = "dorm.CITextField"
        return name, path, args, kwargs

    # ---- DuckDB: a unique index that ignores case ----------------------------------------------
    def _ci_index_name(self, schema_editor, table: str) -> str:
        return schema_editor.object_name(table, [self.column], "ci_uniq")

    def after_column_created(self, schema_editor, table: str) -> None:
        if schema_editor.connection.vendor != "duckdb":
            return
        if not self.unique or self.primary_key:
            return
        qn = schema_editor.quote_name
        schema_editor.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {qn(self._ci_index_name(schema_editor, table))} "
            f"ON {qn(table)} ((lower({qn(self.column)})))")

    def before_column_dropped(self, schema_editor, table: str) -> None:
        if schema_editor.connection.vendor != "duckdb" or not self.unique or self.primary_key:
            return
        qn = schema_editor.quote_name
        schema_editor.execute(
            f"DROP INDEX IF EXISTS {qn(self._ci_index_name(schema_editor, table))}")


# ---- lookups -------------------------------------------------------------------------------------
class CITextExact(Exact):
    """``exact``: on PostgreSQL the value is cast to ``citext``."""

    def process_rhs(self, compiler, connection):
        sql, params = super().process_rhs(compiler, connection)
        if _is_pg(connection) and not hasattr(self.rhs, "as_sql"):
            sql = f"{sql}::citext"
        return sql, params


class CITextIn(In):
    """``in``: on PostgreSQL each value is cast to ``citext``."""

    def as_sql(self, compiler, connection):
        if not _is_pg(connection) or hasattr(self.rhs, "as_sql"):
            return super().as_sql(compiler, connection)
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        _, rp = self.process_rhs(compiler, connection)
        marks = ", ".join(["%s::citext"] * len(rp))
        return f"{lhs} IN ({marks})", [*lp, *rp]


class _CIPattern:
    """A pattern lookup that runs as its case-insensitive twin (``contains`` as
    ``icontains``): the value is escaped and compared as the twin would be."""

    def _twin(self) -> str:
        return "i" + self.lookup_name

    def process_rhs(self, compiler, connection):
        if hasattr(self.rhs, "as_sql"):
            return compiler.compile(self.rhs)
        return connection.ops.placeholder, [connection.ops.prep_like(self._twin(), self.rhs)]

    def as_sql(self, compiler, connection):
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        rhs, rp = self.process_rhs(compiler, connection)
        if hasattr(self.rhs, "as_sql"):
            return connection.ops.pattern_lookup_sql(self._twin(), lhs, rhs), [*lp, *rp]
        return connection.ops.lookup_sql(self._twin(), lhs, rhs), [*lp, *rp]


class CITextContains(_CIPattern, Contains):
    pass


class CITextStartsWith(_CIPattern, StartsWith):
    pass


class CITextEndsWith(_CIPattern, EndsWith):
    pass


class CITextRegex(IRegex):
    """``regex`` on a case-insensitive column matches ignoring case (``iregex``)."""

    lookup_name = "regex"

    def as_sql(self, compiler, connection):
        if not connection.features.supports_regex:
            raise NotSupportedError(f"regex lookups are not supported on {connection.display_name}")
        self.check_vendor(connection)
        lhs, lp = self.process_lhs(compiler, connection)
        rhs, rp = self.process_rhs(compiler, connection)
        return connection.ops.lookup_sql("iregex", lhs, rhs), [*lp, *rp]


CITEXT_LOOKUPS = [CITextExact, CITextIn, CITextContains, CITextStartsWith, CITextEndsWith,
                  CITextRegex]
