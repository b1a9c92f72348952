"""Moving a query inside another: alias relabelling and ``OuterRef`` resolution.

A QuerySet used as ``Subquery``/``Exists``/``__in`` value was built on its own, so
its table aliases may clash with the outer query's (the same table, or ``T1``
joins on both sides). ``nest(inner, outer)`` renames every inner alias to a
prefix unique to the nesting depth and replaces the ``OuterRef`` placeholders with
columns of the outer query.
"""
from __future__ import annotations

import copy

from dorm.expressions import Col, Expression

from .where import WhereNode


class ResolvedOuterRef(Expression):
    """Placeholder for ``OuterRef(name)`` until the query is nested in an outer one."""

    contains_aggregate = False

    def __init__(self, name):
        super().__init__()
        self.name = name

    def resolve_expression(self, *args, **kwargs):
        return self

    def as_sql(self, compiler, connection):
        raise ValueError(
            f"OuterRef({self.name!r}) is only valid inside Subquery()/Exists() used in another query")

    def get_group_by_cols(self):
        return []

    def __repr__(self):
        return f"ResolvedOuterRef({self.name})"


def transform(node, fn):
    """Rebuild ``node`` bottom-up, replacing each expression ``e`` by ``fn(e)``."""
    if isinstance(node, WhereNode):
        new = WhereNode([transform(c, fn) for c in node.children], node.connector, node.negated)
        return fn(new)
    if isinstance(node, (list, tuple)):
        return type(node)(transform(c, fn) for c in node)
    if not hasattr(node, "get_source_expressions"):
        return node
    c = copy.copy(node)
    sources = node.get_source_expressions()
    if sources:
        c.set_source_expressions([transform(s, fn) for s in sources])
    flt = getattr(node, "filter", None)
    if isinstance(flt, WhereNode):
        c.filter = transform(flt, fn)
    cond = getattr(node, "condition", None)
    if isinstance(cond, WhereNode) and "condition" in getattr(c, "__dict__", {}):
        c.condition = transform(cond, fn)
    rhs = getattr(node, "rhs", None)
    if isinstance(rhs, (list, tuple)) and any(hasattr(v, "get_source_expressions") for v in rhs):
        c.rhs = type(rhs)(transform(v, fn) for v in rhs)
    inner = getattr(node, "query", None)
    if inner is not None and getattr(inner, "model", None) is not None and hasattr(inner, "alias_map"):
        c.query = apply_to_query(inner.clone(), fn)
    return fn(c)


def apply_to_query(q, fn):
    """Apply ``transform(.., fn)`` to every expression a query holds."""
    q.where = transform(q.where, fn)
    q.having = transform(q.having, fn)
    q.annotations = {k: transform(v, fn) for k, v in q.annotations.items()}
    if q.select is not None:
        q.select = [(n, transform(e, fn)) for n, e in q.select]
    q.order_by = tuple(transform(o, fn) for o in q.order_by)
    q.distinct_fields = tuple(transform(o, fn) for o in q.distinct_fields)
    for alias, join in list(q.alias_map.items()):
        cond = getattr(join, "extra_condition", None)
        if cond is not None:
            join = copy.copy(join)
            join.extra_condition = transform(cond, fn)
            q.alias_map[alias] = join
    return q


def relabel(q, prefix):
    """Rename every alias of ``q`` to ``<prefix><n>`` (in place)."""
    change = {old: f"{prefix}{i}" for i, old in enumerate(q.alias_map)}
    new_map = {}
    for old, join in q.alias_map.items():
        join = copy.copy(join)
        join.alias = change[old]
        if getattr(join, "parent_alias", None) is not None:
            join.parent_alias = change.get(join.parent_alias, join.parent_alias)
        new_map[change[old]] = join
    q.alias_map = new_map
    q.filtered_relations = {k: (change.get(a, a), o) for k, (a, o) in q.filtered_relations.items()}

    def fn(e):
        if e.__class__ is Col and e.alias in change:
            return Col(change[e.alias], e.target, e._output_field)
        return e

    apply_to_query(q, fn)
    return q


def nest(inner, outer):
    """Prepare ``inner`` (a clone) to run inside ``outer``."""
    depth = 0
    o = outer
    while o is not None:
        depth += 1
        o = getattr(o, "outer_query", None)
    relabel(inner, f"U{depth}_")
    inner.outer_query = outer
    inner.subquery = True

    def fn(e):
        if isinstance(e, ResolvedOuterRef):
            return outer.resolve_ref(e.name)
        return e

    apply_to_query(inner, fn)
    return inner
