"""Boolean trees: ``Q`` (what users write) and ``WhereNode`` (what the compiler reads).

``Q(a=1) | ~Q(b=2)`` is an unresolved tree of ``(key, value)`` pairs and expressions.
``Query.build_where_node(q)`` resolves it against a model into a ``WhereNode`` of
lookups. A ``WhereNode`` compiles to SQL; a child that can never match
(``pk__in=[]``) raises ``EmptyResultSet`` and the node folds it (AND → never,
OR → dropped, NOT → always).
"""
from __future__ import annotations

import copy

from dorm.exceptions import EmptyResultSet

AND, OR, XOR = "AND", "OR", "XOR"


class Q:
    """``Q(*children, **lookups)`` combinable with ``&``, ``|``, ``^`` and ``~``.
    Empty ``Q()`` matches everything; ``~Q()`` nothing."""

    conditional = True

    def __init__(self, *args, _connector=AND, _negated=False, **kwargs):
        self.children = [*args, *sorted(kwargs.items())]
        self.connector = _connector
        self.negated = _negated

    def _combine(self, other, conn):
        if getattr(other, "conditional", False) is not True:
            raise TypeError(f"cannot combine Q with {type(other).__name__}; use Q objects")
        if not isinstance(other, Q):
            other = Q(other)
        if not other.children and not other.negated:
            return copy.deepcopy(self)
        if not self.children and not self.negated:
            return copy.deepcopy(other)
        obj = Q(_connector=conn)
        obj.children = [copy.deepcopy(self), copy.deepcopy(other)]
        return obj

    def __and__(self, other):
        return self._combine(other, AND)

    def __or__(self, other):
        return self._combine(other, OR)

    def __xor__(self, other):
        return self._combine(other, XOR)

    def __invert__(self):
        obj = copy.deepcopy(self)
        obj.negated = not self.negated
        return obj

    def __deepcopy__(self, memo):
        obj = Q.__new__(Q)
        obj.connector, obj.negated = self.connector, self.negated
        obj.children = [copy.deepcopy(c, memo) if isinstance(c, Q) else c for c in self.children]
        return obj

    def __eq__(self, other):
        return (isinstance(other, Q) and self.connector == other.connector
                and self.negated == other.negated and self.children == other.children)

    def __hash__(self):
        return hash((self.connector, self.negated, repr(self.children)))

    def __repr__(self):
        inner = f" {self.connector} ".join(repr(c) for c in self.children)
        return f"<Q: {'NOT ' if self.negated else ''}({inner})>"

    def deconstruct(self):
        kwargs = {}
        if self.connector != AND:
            kwargs["_connector"] = self.connector
        if self.negated:
            kwargs["_negated"] = True
        return "dorm.Q", list(self.children), kwargs

    def flatten(self):
        yield self
        for c in self.children:
            if isinstance(c, Q):
                yield from c.flatten()
            else:
                yield c


class WhereNode:
    """A resolved boolean node: children are lookups/expressions or ``WhereNode``s."""

    conditional = True

    def __init__(self, children=None, connector=AND, negated=False):
        self.children = list(children or [])
        self.connector = connector
        self.negated = negated

    def add(self, child, connector=AND):
        if self.connector == connector and not self.negated:
            if isinstance(child, WhereNode) and child.connector == connector and not child.negated:
                self.children.extend(child.children)
            else:
                self.children.append(child)
            return self
        node = WhereNode([self, child] if self.children else [child], connector)
        return node

    @property
    def contains_aggregate(self):
        return any(getattr(c, "contains_aggregate", False) for c in self.children)

    def clone(self):
        obj = WhereNode.__new__(WhereNode)
        obj.connector, obj.negated = self.connector, self.negated
        obj.children = [c.clone() if c.__class__ is WhereNode else c for c in self.children]
        return obj

    def get_group_by_cols(self):
        cols = []
        for c in self.children:
            cols.extend(c.get_group_by_cols())
        return cols

    def as_sql(self, compiler, connection):
        """``(sql, params)``; ``("", [])`` means "always true". Raises
        ``EmptyResultSet`` when the node can never match."""
        parts, params = [], []
        full = empty = 0
        n = len(self.children)
        for child in self.children:
            try:
                sql, p = compiler.compile(child)
            except EmptyResultSet:
                empty += 1
            else:
                if sql:
                    parts.append(sql)
                    params.extend(p)
                else:
                    full += 1
            if self.connector == AND:
                if empty:
                    break  # AND with a never-matching child never matches
            elif full:
                parts, params = [], []
                break  # OR with an always-true child is always true
        if self.connector == AND and empty or self.connector != AND and empty == n and n:
            if self.negated:
                return "", []
            raise EmptyResultSet
        if not parts:
            if self.negated and (full or n == 0) and n:
                raise EmptyResultSet
            return "", []
        if self.connector == XOR:
            sql = _xor_sql(parts, connection)
        else:
            sql = f" {self.connector} ".join(parts)
            if len(parts) > 1:
                sql = f"({sql})"
        if self.negated:
            sql = f"NOT ({sql})" if not sql.startswith("(") else f"NOT {sql}"
        return sql, params

    def __repr__(self):
        return f"<WhereNode {self.connector}{' NOT' if self.negated else ''} {self.children}>"


def _xor_sql(parts, connection):
    """Portable XOR: an odd number of true children."""
    summed = " + ".join(f"(CASE WHEN {p} THEN 1 ELSE 0 END)" for p in parts)
    return f"(({summed}) {connection.ops.combine_operator('%')} 2 = 1)"
