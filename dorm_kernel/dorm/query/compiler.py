"""One SQL compiler for every backend, parameterised by the backend's operations.

``SQLCompiler(query, connection).as_sql()`` turns a resolved ``Query`` into
``(sql, params)``. Dialect differences come from ``connection.ops`` and
``connection.features``; any expression may provide ``as_<vendor>()`` to override
its SQL on one backend (dispatch, not a vendor branch in the kernel).
"""
from __future__ import annotations

from dorm.exceptions import EmptyResultSet, NotSupportedError
from dorm.expressions import Col, Ref

from .where import WhereNode


#: ops class -> {identifier: quoted}; identifiers come from models, so this stays small.
_QUOTE_CACHES: dict = {}


class SQLCompiler:
    def __init__(self, query, connection):
        self.query = query
        self.connection = connection
        self.ops = ops = connection.ops
        cache = _QUOTE_CACHES.get(ops.__class__)
        if cache is None:
            cache = _QUOTE_CACHES[ops.__class__] = {}
        self._quote_cache = cache
        self._vendor_attr = "as_" + connection.vendor
        self._select = None

    # ---- helpers -----------------------------------------------------------------------
    def quote_name(self, name: str) -> str:
        q = self._quote_cache.get(name)
        if q is None:
            q = self._quote_cache[name] = self.ops.quote_name(name)
        return q

    def compile(self, node):
        vendor_impl = getattr(node, self._vendor_attr, None)
        if vendor_impl is not None:
            return vendor_impl(self, self.connection)
        return node.as_sql(self, self.connection)

    def convert_placeholders(self, sql: str) -> str:
        """Rewrite the portable ``%s`` of raw SQL to the backend's placeholder."""
        ph = self.ops.placeholder
        if ph == "%s":
            return sql
        return sql.replace("%%", "\x00").replace("%s", ph).replace("\x00", "%")

    def compile_subquery(self, query):
        return SQLCompiler(query, self.connection).as_sql()

    # ---- select list --------------------------------------------------------------------
    def get_select(self):
        """``(select, model_fields, annotation_names)``: ``select`` is a list of
        ``(expr, alias_or_None)``; ``model_fields`` are the fields hydrated onto model
        instances (the first ``len(model_fields)`` columns)."""
        if self._select is not None:
            return self._select  # as_sql() and the row hydrator both ask: build once
        self._select = self._build_select()
        return self._select

    def _build_select(self):
        q = self.query
        select, model_fields, ann_names = [], [], []
        if q.select is not None:
            names = []
            for name, expr in q.select:
                if isinstance(expr, Ref):
                    select.append((expr.source, name))
                else:
                    select.append((expr, None))
                names.append(name)
            # annotations added after values() are selected too (Django parity)
            for name, expr in q.annotations.items():
                if name not in names and q.annotation_select_mask is not None \
                        and name in q.annotation_select_mask:
                    select.append((expr, name))
                    names.append(name)
            return select, model_fields, names
        alias = q.get_initial_alias()
        for f in q.loaded_fields():
            model_fields.append(f)
            select.append((Col(alias, f), None))
        for name, expr in q.annotations.items():
            if q.annotation_select_mask is None or name in q.annotation_select_mask:
                select.append((expr, name))
                ann_names.append(name)
        self.related_klass_info = []
        if q.select_related:
            self.related_klass_info = self._select_related(q.model, alias, q.select_related, select, 0)
        return select, model_fields, ann_names

    def _select_related(self, model, alias, tree, select, depth):
        """Join and select the columns of each requested forward FK/O2O; returns
        ``[(field, start, fields, model, children)]`` for hydration."""
        from .query import Join

        q = self.query
        if tree is True:
            if depth >= 5:
                return []
            wanted = [(f.name, True) for f in model._meta.concrete_fields
                      if getattr(f, "is_relation", False) and not f.null]
        else:
            wanted = list(tree.items())
        nodes = []
        for name, sub in wanted:
            field = model._meta.get_field(name)
            path = field.path_infos[0]
            jalias = q.join(Join(path.to_opts.db_table, alias, None,
                                 Join.LOUTER if field.null else Join.INNER,
                                 path.join_cols, field.null, field))
            rel_model = field.related_model
            fields = rel_model._meta.concrete_fields
            start = len(select)
            for f in fields:
                select.append((Col(jalias, f), None))
            children = self._select_related(rel_model, jalias, sub, select, depth + 1)
            nodes.append((field, start, fields, rel_model, children))
        return nodes

    def get_converters(self, exprs):
        """``[(index, [converters])]`` for the columns that need conversion."""
        out = []
        for i, expr in enumerate(exprs):
            field = getattr(expr, "output_field", None)
            if field is None:
                continue
            convs = field.get_db_converters(self.connection)
            if convs:
                out.append((i, convs))
        return out

    # ---- SELECT -------------------------------------------------------------------------
    def as_sql(self, with_limits=True, extra_select=()):
        q = self.query
        if q.is_empty:
            raise EmptyResultSet
        if q.combinator:
            return self.combined_sql(with_limits)
        select, _, _ = self.get_select()
        params: list = []
        cols = []
        for expr, alias in [*select, *extra_select]:
            sql, p = self.compile(expr)
            if alias:
                sql = f"{sql} AS {self.quote_name(alias)}"
            cols.append(sql)
            params.extend(p)
        where_sql, where_params = self.compile_where(q.where)
        order = self.get_order_by()  # before FROM: Meta.ordering may add joins
        lock_sql = None
        if q.select_for_update:
            self._check_select_for_update()
            lock_sql = self.ops.for_update_sql(
                nowait=q.select_for_update_nowait, skip_locked=q.select_for_update_skip_locked,
                of=self._lock_of())  # before FROM: locking a relation may add its join
        from_sql, from_params = self.get_from_clause()
        parts = []
        if q.ctes:
            cte_sql, cte_params = self.ctes_sql()
            parts.append(cte_sql)
            params = [*cte_params, *params]
        distinct = ""
        if q.distinct:
            distinct = self.ops.distinct_sql([self.compile(e)[0] for e in q.distinct_fields]) + " "
        parts.append(f"SELECT {distinct}{', '.join(cols)}")
        parts.append(f"FROM {from_sql}")
        params.extend(from_params)
        if where_sql:
            parts.append(f"WHERE {where_sql}")
            params.extend(where_params)
        group_by = self.get_group_by(select)
        if group_by:
            gsql, gparams = group_by
            parts.append(f"GROUP BY {gsql}")
            params.extend(gparams)
        having_sql, having_params = self.compile_where(q.having)
        if having_sql:
            parts.append(f"HAVING {having_sql}")
            params.extend(having_params)
        if order:
            osql, oparams = order
            parts.append(f"ORDER BY {osql}")
            params.extend(oparams)
        if with_limits and q.is_sliced:
            parts.append(self.ops.limit_offset_sql(
                None if q.high_mark is None else q.high_mark - q.low_mark, q.low_mark))
        if lock_sql:
            parts.append(lock_sql)
        return " ".join(parts), params

    def _lock_of(self):
        """``of=("self", "author")``: the table aliases to lock (relations by name)."""
        q = self.query
        out = []
        for name in q.select_for_update_of:
            if name == "self":
                alias = q.get_initial_alias()
            else:
                _field, alias, _rest = q.setup_joins([*name.split("__"), "pk"])
            out.append(self.quote_name(alias))
        return tuple(out)

    def _check_select_for_update(self):
        from dorm.exceptions import TransactionManagementError

        q, conn = self.query, self.connection
        features = conn.features
        name = conn.display_name
        if not features.supports_select_for_update:
            raise NotSupportedError(
                f"select_for_update() is not supported on {name}: it would silently lock nothing "
                "(SQLite serialises writers per database; use atomic() there)")
        if q.select_for_update_nowait and not features.supports_select_for_update_nowait:
            raise NotSupportedError(f"select_for_update(nowait=True) is not supported on {name}")
        if q.select_for_update_skip_locked and not features.supports_select_for_update_skip_locked:
            raise NotSupportedError(f"select_for_update(skip_locked=True) is not supported on {name}")
        if q.select_for_update_of and not features.supports_select_for_update_of:
            raise NotSupportedError(f"select_for_update(of=...) is not supported on {name}")
        if not q.subquery and not getattr(conn, "in_atomic_block", True):
            raise TransactionManagementError(
                "select_for_update() must run inside a transaction (wrap it in transaction.atomic())")

    def compile_where(self, node: WhereNode):
        if not node.children:
            return "", []
        return self.compile(node)

    def get_from_clause(self):
        parts, params = [], []
        for i, (alias, join) in enumerate(self.query.alias_map.items()):
            sql, p = join.as_sql(self, self.connection)
            parts.append(sql if i == 0 or join.join_type else f", {sql}")
            params.extend(p)
        if not parts:
            alias = self.query.get_initial_alias()
            return self.query.alias_map[alias].as_sql(self, self.connection)
        return " ".join(parts), params

    def get_group_by(self, select):
        q = self.query
        if q.group_by is None:
            return None
        exprs = []
        for expr, _alias in select:
            exprs.extend(expr.get_group_by_cols())
        for ob in q.order_by:
            # order_by("-total") on an aggregate annotation: OrderBy(Ref(...)) is built
            # unresolved, so ask the ordered expression too (never GROUP BY an aggregate)
            if not (ob.contains_aggregate
                    or getattr(getattr(ob, "expression", None), "contains_aggregate", False)):
                exprs.extend(ob.get_group_by_cols())
        seen, parts, params = set(), [], []
        for e in exprs:
            sql, p = self.compile(e)
            key = (sql, tuple(map(repr, p)))
            if key in seen:
                continue
            seen.add(key)
            parts.append(sql)
            params.extend(p)
        if not parts:
            return None
        return ", ".join(parts), params

    def get_order_by(self):
        q = self.query
        order = q.default_order()
        if not order:
            return None
        parts, params = [], []
        for ob in order:
            expr = ob.expression
            if isinstance(expr, Ref) and not q.selects_annotation(expr.refs):
                # values()/values_list() dropped the annotation from SELECT after
                # order_by() named it: order by the expression itself
                ob = ob.copy()
                ob.expression = expr.source
            if not q.standard_ordering:
                ob = ob.reverse_ordering()
            sql, p = self.compile(ob)
            parts.append(sql)
            params.extend(p)
        return ", ".join(parts), params

    def _with_ctes(self, sql, params, query=None):
        """Prefix a derived statement (COUNT, EXISTS, aggregate) with the query's
        ``WITH`` clause, so ``with_cte()`` composes with every terminal method."""
        if not (query or self.query).ctes:
            return sql, params
        cte_sql, cte_params = self.ctes_sql()
        return f"{cte_sql} {sql}", [*cte_params, *params]

    def ctes_sql(self):
        recursive = any(getattr(c, "recursive", False) for c in self.query.ctes.values())
        parts, params = [], []
        for name, cte in self.query.ctes.items():
            sql, p = cte.as_cte_sql(self, self.connection)
            parts.append(f"{self.quote_name(name)} AS ({sql})")
            params.extend(p)
        return f"WITH {'RECURSIVE ' if recursive else ''}{', '.join(parts)}", params

    def combined_sql(self, with_limits=True):
        q = self.query
        features = self.connection.features
        parts, params = [], []
        for sub in q.combined_queries:
            if not sub.is_sliced and (sub.order_by or sub.default_ordering):
                sub = sub.clone()
                sub.order_by, sub.default_ordering = (), False
            try:
                sql, p = SQLCompiler(sub, self.connection).as_sql()
            except EmptyResultSet:
                if q.combinator == "union":
                    continue
                raise
            if sub.order_by or sub.is_sliced:
                if not features.supports_slicing_ordering_in_compound:
                    raise NotSupportedError("ORDER BY/LIMIT in a compound statement part")
                sql = f"SELECT * FROM ({sql})"
            parts.append(sql)
            params.extend(p)
        if not parts:
            raise EmptyResultSet
        keyword = {"union": "UNION", "intersection": "INTERSECT", "difference": "EXCEPT"}[q.combinator]
        if q.combinator_all:
            keyword += " ALL"
        sql = f" {keyword} ".join(parts)
        if q.order_by:
            obs = []
            for ob in q.order_by:
                expr = ob.expression
                col = getattr(getattr(expr, "target", None), "column", None) or getattr(expr, "refs", None)
                obs.append(f"{self.quote_name(col)} {'DESC' if ob.descending else 'ASC'}")
            sql = f"SELECT * FROM ({sql}) ORDER BY {', '.join(obs)}"
        if with_limits and q.is_sliced:
            sql += " " + self.ops.limit_offset_sql(
                None if q.high_mark is None else q.high_mark - q.low_mark, q.low_mark)
        return sql, params

    # ---- derived statements --------------------------------------------------------------
    def needs_subquery_for_count(self) -> bool:
        q = self.query
        return bool(q.distinct or q.is_sliced or q.group_by is not None or q.combinator
                    or q.having.children)

    def count_sql(self):
        if self.query.is_empty:
            raise EmptyResultSet
        if self.needs_subquery_for_count():
            q = self.query
            if not q.is_sliced and (q.order_by or q.default_ordering):
                q = q.clone()
                q.order_by, q.default_ordering = (), False
            inner, params = SQLCompiler(q, self.connection).as_sql()
            return f"SELECT COUNT(*) FROM ({inner}) {self.quote_name('__count')}", params
        q = self.query
        where_sql, where_params = self.compile_where(q.where)
        from_sql, from_params = self.get_from_clause()
        sql = f"SELECT COUNT(*) FROM {from_sql}"
        if where_sql:
            sql += f" WHERE {where_sql}"
        return self._with_ctes(sql, [*from_params, *where_params])

    def exists_sql(self):
        if self.query.is_empty:
            raise EmptyResultSet
        q = self.query.clone()
        if not (q.distinct or q.group_by is not None or q.having.children or q.combinator):
            q.select = None
            q.values_mode = False
            q.annotation_select_mask = set()
            q.deferred = (frozenset(), False)
            q.order_by = ()
            q.default_ordering = False
            inner_compiler = SQLCompiler(q, self.connection)
            where_sql, where_params = inner_compiler.compile_where(q.where)
            from_sql, from_params = inner_compiler.get_from_clause()
            sql = f"SELECT 1 AS {self.quote_name('a')} FROM {from_sql}"
            if where_sql:
                sql += f" WHERE {where_sql}"
            limit = 1
            if q.is_sliced:
                if q.high_mark is not None:
                    limit = min(1, q.high_mark - q.low_mark)
                sql += " " + self.ops.limit_offset_sql(limit, q.low_mark)
            else:
                sql += " " + self.ops.limit_offset_sql(1, 0)
            return self._with_ctes(sql, [*from_params, *where_params], q)
        inner, params = self.as_sql()
        return f"SELECT 1 FROM ({inner}) {self.quote_name('__exists')} LIMIT 1", params

    def aggregate_sql(self, aggregates: dict):
        if self.query.is_empty:
            raise EmptyResultSet
        """``SELECT agg1, agg2 ...`` over the query (wrapped when sliced/distinct/grouped)."""
        q = self.query
        if self.needs_subquery_for_count() or q.annotations:
            inner_q = q.clone()
            extra = []
            for i, (name, agg) in enumerate(aggregates.items()):
                for j, src in enumerate(agg.get_source_expressions()):
                    extra.append((src, f"__agg{i}_{j}"))
            if inner_q.select is None and not inner_q.group_by:
                inner_q.deferred = (frozenset(), False)
                inner_q.annotation_select_mask = set(inner_q.annotation_select_mask or ()) & set(
                    n for n in inner_q.annotations if inner_q.annotations[n].contains_aggregate)
            inner_sql, params = SQLCompiler(inner_q, self.connection).as_sql(extra_select=extra)
            cols = []
            for i, (name, agg) in enumerate(aggregates.items()):
                outer = agg.copy()
                outer.set_source_expressions([
                    _OuterCol(f"__agg{i}_{j}", src) for j, src in enumerate(agg.get_source_expressions())
                ])
                sql, p = self.compile(outer)
                cols.append(f"{sql} AS {self.quote_name(name)}")
                params = [*p, *params] if p else params
            return f"SELECT {', '.join(cols)} FROM ({inner_sql}) {self.quote_name('__agg')}", params
        params, cols = [], []
        for name, agg in aggregates.items():
            sql, p = self.compile(agg)
            cols.append(f"{sql} AS {self.quote_name(name)}")
            params.extend(p)
        where_sql, where_params = self.compile_where(q.where)
        from_sql, from_params = self.get_from_clause()
        sql = f"SELECT {', '.join(cols)} FROM {from_sql}"
        if where_sql:
            sql += f" WHERE {where_sql}"
        return self._with_ctes(sql, [*params, *from_params, *where_params])

    def pk_subquery_sql(self):
        """``SELECT pk FROM ... WHERE ... [LIMIT]`` for UPDATE/DELETE with joins or slices."""
        q = self.query.clone()
        q.select = [("pk", Col(q.get_initial_alias(), q.model._meta.pk))]
        q.annotation_select_mask = set()
        q.group_by = None if not q.having.children else q.group_by
        if not q.is_sliced:
            q.order_by = ()
            q.default_ordering = False
        return SQLCompiler(q, self.connection).as_sql()

    def update_sql(self, values):
        if self.query.is_empty:
            raise EmptyResultSet
        """``values``: list of (field, resolved value or expression)."""
        q = self.query
        opts = q.model._meta
        sets, params = [], []
        q.get_initial_alias()  # the base alias is the table name: qualified refs stay valid
        for field, value in values:
            if hasattr(value, "as_sql"):
                sql, p = self.compile(value)
            elif value is None:
                sql, p = "NULL", []
            else:
                sql, p = self.ops.placeholder, [field.get_db_prep_save(value, self.connection)]
            sets.append(f"{self.quote_name(field.column)} = {sql}")
            params.extend(p)
        table = self.quote_name(opts.db_table)
        if q.has_joins() or q.is_sliced or q.having.children or q.ctes:
            sub_sql, sub_params = self.pk_subquery_sql()
            pk = self.quote_name(opts.pk.column)
            return (f"UPDATE {table} SET {', '.join(sets)} WHERE {pk} IN "
                    f"(SELECT * FROM ({sub_sql}) {self.quote_name('__u')})", [*params, *sub_params])
        where_sql, where_params = self.compile_where(q.where)
        sql = f"UPDATE {table} SET {', '.join(sets)}"
        if where_sql:
            sql += f" WHERE {where_sql}"
        return sql, [*params, *where_params]

    def delete_sql(self):
        if self.query.is_empty:
            raise EmptyResultSet
        q = self.query
        opts = q.model._meta
        table = self.quote_name(opts.db_table)
        if q.has_joins() or q.is_sliced or q.having.children or q.ctes:
            # the pk subquery carries the WITH clause (portable; UPDATE/DELETE ... WITH is not)
            sub_sql, sub_params = self.pk_subquery_sql()
            pk = self.quote_name(opts.pk.column)
            return (f"DELETE FROM {table} WHERE {pk} IN "
                    f"(SELECT * FROM ({sub_sql}) {self.quote_name('__d')})", sub_params)
        where_sql, where_params = self.compile_where(q.where)
        sql = f"DELETE FROM {table}"
        if where_sql:
            sql += f" WHERE {where_sql}"
        return sql, where_params


class _OuterCol:
    """A column of the aggregate wrapper's inner query, by its select alias."""

    contains_aggregate = False

    def __init__(self, name, source):
        self.name, self.source = name, source

    @property
    def output_field(self):
        return getattr(self.source, "output_field", None)

    def get_group_by_cols(self):
        return []

    def resolve_expression(self, *a, **k):
        return self

    def as_sql(self, compiler, connection):
        return compiler.quote_name(self.name), []


def compile_where(model, q, connection, inline=False):
    """Compile a ``Q`` over ``model`` with unqualified column names (CHECK constraints,
    partial indexes). With ``inline=True`` parameters are inlined with the backend's
    literal quoting (``ops.quote_value``), as DDL cannot take bound parameters."""
    from .query import Query

    query = Query(model)
    node = query.build_where_node(q)
    compiler = SQLCompiler(query, connection)
    sql, params = compiler.compile(node)
    prefix = compiler.quote_name(query.get_initial_alias()) + "."
    sql = sql.replace(prefix, "")
    if not inline:
        return sql, params
    ph = connection.ops.placeholder
    parts = sql.split(ph)
    if len(parts) - 1 != len(params):
        raise ValueError("cannot inline parameters into this condition")
    out = [parts[0]]
    for value, rest in zip(params, parts[1:]):
        out.append(connection.ops.quote_value(value))
        out.append(rest)
    return "".join(out), []
