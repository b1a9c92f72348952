"""``ExclusionConstraint`` (``dorm.ExclusionConstraint`` with dorm-postgres installed).

``ExclusionConstraint(*, name, expressions, index_type="gist", condition=None,
deferrable=None, violation_error_message=None)`` goes in ``Meta.constraints`` like
``CheckConstraint``/``UniqueConstraint``: created with the table, added and removed by
``AddConstraint``/``RemoveConstraint``, and detected by the autodetector by name (a
changed definition under the same name is a remove + add).

* ``expressions`` – a non-empty list of ``(element, operator)`` pairs. ``element`` is a
  field name (or column), ``F("field")``, or a dorm expression (``Func`` ...) compiled
  against the model with unqualified columns; ``operator`` is a PostgreSQL operator made
  of operator characters (``=``, ``&&``, ``<>``, ``-|-`` ...), checked at construction.
* ``index_type`` – ``"gist"`` (default), ``"spgist"`` or ``"btree"`` (any case).
* ``condition`` – a ``Q`` (``WHERE`` clause: only rows matching it are constrained).
* ``deferrable`` – ``None``, ``"deferred"`` or ``"immediate"`` (``DEFERRABLE INITIALLY
  ...``; an enum whose ``value`` is one of them also works).

PostgreSQL (feature flag ``supports_exclusion_constraints``): ``CONSTRAINT "name"
EXCLUDE USING gist ("room" WITH =, "period" WITH &&) [WHERE (...)] [DEFERRABLE INITIALLY
...]``. A scalar column compared with ``=`` in a GiST index needs the ``btree_gist``
extension (``CreateExtension("btree_gist")`` in an earlier migration). Other backends:
no SQL at all (the schema editor creates and drops nothing; the constraint only exists
on PostgreSQL). Model validation (``full_clean``) does not check it; the database does
(``IntegrityError``).
"""
from __future__ import annotations

import re

from dorm.models.indexes import BaseConstraint

INDEX_TYPES = ("gist", "spgist", "btree")
DEFERRABLE = ("deferred", "immediate")
_OPERATOR = re.compile(r"^[+\-*/<>=~!@#%^&|`?]{1,63}$")


def _check_element(element, name):
    from dorm.expressions import F

    if isinstance(element, str):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", element):
            raise ValueError(f"ExclusionConstraint {name!r}: {element!r} is not a field name")
        return element
    if isinstance(element, F) or hasattr(element, "resolve_expression"):
        return element
    raise ValueError(f"ExclusionConstraint {name!r}: an element must be a field name, F() or an "
                     f"expression, got {element!r}")


class ExclusionConstraint(BaseConstraint):
    """See the module docstring."""

    def __init__(self, *, name, expressions, index_type="gist", condition=None, deferrable=None,
                 violation_error_message=None):
        super().__init__(name=name, violation_error_message=violation_error_message)
        if not isinstance(expressions, (list, tuple)) or not expressions:
            raise ValueError(f"ExclusionConstraint {name!r}: expressions must be a non-empty list of "
                             "(field, operator) pairs")
        pairs = []
        for item in expressions:
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise ValueError(f"ExclusionConstraint {name!r}: each expression must be a (field, "
                                 f"operator) pair, got {item!r}")
            element, operator = item
            if not isinstance(operator, str) or not _OPERATOR.match(operator):
                raise ValueError(f"ExclusionConstraint {name!r}: {operator!r} is not an operator "
                                 "(operator characters only, e.g. '=', '&&', '<>')")
            pairs.append((_check_element(element, name), operator))
        self.expressions = pairs
        if not isinstance(index_type, str) or index_type.lower() not in INDEX_TYPES:
            raise ValueError(f"ExclusionConstraint {name!r}: index_type must be one of "
                             f"{', '.join(repr(t) for t in INDEX_TYPES)}, got {index_type!r}")
        self.index_type = index_type.lower()
        if condition is not None:
            from dorm.query.where import Q

            if not isinstance(condition, Q):
                raise TypeError(f"ExclusionConstraint {name!r}: condition must be a Q object, got "
                                f"{condition!r}")
        self.condition = condition
        if deferrable is not None:
            mode = str(getattr(deferrable, "value", deferrable)).lower()
            if mode not in DEFERRABLE:
                raise ValueError(f"ExclusionConstraint {name!r}: deferrable must be None, "
                                 f"{' or '.join(repr(d) for d in DEFERRABLE)}, got {deferrable!r}")
        self.deferrable = deferrable

    # ---- serialisation ----------------------------------------------------------------------------
    def deconstruct(self):
        kwargs = {"name": self.name, "expressions": list(self.expressions)}
        if self.index_type != "gist":
            kwargs["index_type"] = self.index_type
        if self.condition is not None:
            kwargs["condition"] = self.condition
        if self.deferrable is not None:
            kwargs["deferrable"] = self.deferrable
        if self.violation_error_message is not None:
            kwargs["violation_error_message"] = self.violation_error_message
        return "dorm.ExclusionConstraint", [], kwargs

    def __repr__(self):
        return (f"<ExclusionConstraint: index_type={self.index_type!r} expressions={self.expressions!r}"
                f" name={self.name!r}>")

    # ---- SQL (called by the schema editor) ---------------------------------------------------------
    def _element_sql(self, info, schema_editor, element) -> str:
        from dorm.expressions import F

        if isinstance(element, str):
            return schema_editor.quote_name(info.column(element))
        if isinstance(element, F):
            return schema_editor.quote_name(info.column(element.name))
        from dorm.query.compiler import SQLCompiler
        from dorm.query.query import Query

        connection = schema_editor.connection
        query = Query(info.source)
        compiler = SQLCompiler(query, connection)
        sql, params = compiler.compile(element.resolve_expression(query))
        sql = sql.replace(compiler.quote_name(query.get_initial_alias()) + ".", "")
        return "(" + (connection.ops.compose_sql(sql, params) if params else sql) + ")"

    def constraint_sql(self, info, schema_editor, *, if_not_exists: bool = False) -> tuple[str, str]:
        """``("table", "EXCLUDE USING ...")`` on a backend with
        ``features.supports_exclusion_constraints``, else ``("none", "")``."""
        if not getattr(schema_editor.connection.features, "supports_exclusion_constraints", False):
            return "none", ""
        elements = ", ".join(f"{self._element_sql(info, schema_editor, e)} WITH {op}"
                             for e, op in self.expressions)
        sql = f"EXCLUDE USING {self.index_type} ({elements})"
        if self.condition is not None:
            sql += f" WHERE ({schema_editor._compile_condition(info, self.condition)})"
        if self.deferrable is not None:
            mode = str(getattr(self.deferrable, "value", self.deferrable)).upper()
            sql += f" DEFERRABLE INITIALLY {mode}"
        return "table", sql
