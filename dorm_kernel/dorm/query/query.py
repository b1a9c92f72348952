"""``Query``: the SQL-independent description of one SELECT/UPDATE/DELETE.

A QuerySet owns a Query and clones it on every chained call. Every name a user
passes (filter keys, ``order_by``, ``values``, ``F()``, aggregate arguments,
``update()`` keywords) is resolved here against the model *before* any SQL is
built: an unknown name raises ``FieldError`` naming the model, the name and the
valid choices. Hostile strings never reach SQL because identifiers only come
from field objects, never from the user's text.
"""
from __future__ import annotations

import copy
import re
from collections import namedtuple

from dorm.exceptions import FieldDoesNotExist, FieldError
from dorm.expressions import Col, F, OrderBy, Ref, Value
from dorm.lookups import In, IsNull, KeyTransform, Lookup, Transform

from .where import AND, OR, Q, WhereNode

LOOKUP_SEP = "__"
_NAME_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: One hop of a relation path, produced by relation fields' ``path_infos``.
#: ``join_cols`` = ((column on the left table, column on the right table), ...).
PathInfo = namedtuple("PathInfo", "to_opts join_cols nullable m2m join_field target_field")


class BaseTable:
    join_type = None
    parent_alias = None

    def __init__(self, table_name, alias):
        self.table_name, self.alias = table_name, alias

    def as_sql(self, compiler, connection):
        qn = compiler.quote_name
        if self.alias == self.table_name:
            return qn(self.table_name), []
        return f"{qn(self.table_name)} {qn(self.alias)}", []


class Join:
    INNER, LOUTER = "INNER JOIN", "LEFT OUTER JOIN"

    def __init__(self, table_name, parent_alias, alias, join_type, join_cols, nullable,
                 join_field=None, extra_condition=None):
        self.table_name, self.parent_alias, self.alias = table_name, parent_alias, alias
        self.join_type, self.join_cols, self.nullable = join_type, join_cols, nullable
        self.join_field = join_field
        self.extra_condition = extra_condition

    def identity(self):
        return (self.table_name, self.parent_alias, self.join_cols, id(self.extra_condition))

    def as_sql(self, compiler, connection):
        qn = compiler.quote_name
        conds = [f"{qn(self.parent_alias)}.{qn(lc)} = {qn(self.alias)}.{qn(rc)}"
                 for lc, rc in self.join_cols]
        params = []
        if self.extra_condition is not None:
            sql, params = compiler.compile(self.extra_condition)
            if sql:
                conds.append(sql)
        return (f"{self.join_type} {qn(self.table_name)} {qn(self.alias)} "
                f"ON ({' AND '.join(conds)})", params)


def _choices(opts, extra=()) -> str:
    names = sorted({f.name for f in opts.get_fields()} | {"pk"} | set(extra))
    return ", ".join(names)


class Query:
    """See the module docstring. Attributes are plain data; ``clone()`` copies them."""

    # Immutable defaults live on the class; an instance only stores what differs, so
    # creating and cloning a Query copies a small dict.
    order_by: tuple = ()
    default_ordering = True
    standard_ordering = True
    low_mark, high_mark = 0, None
    distinct = False
    distinct_fields: tuple = ()
    select = None                  # [(name, expr)] for values(); None = model columns
    values_mode = False
    annotation_select_mask = None  # names of annotations to select (None = all)
    group_by = None                # None, or True (group by the select list)
    deferred = (frozenset(), True)
    select_for_update = False
    select_for_update_nowait = False
    select_for_update_skip_locked = False
    select_for_update_of: tuple = ()
    select_related = False
    is_empty = False
    subquery = False
    outer_query = None
    combinator = None
    combined_queries: tuple = ()
    combinator_all = False
    alias_prefix = "T"
    _EMPTY: dict = {}

    def __init__(self, model):
        self.model = model
        self.alias_map: dict = {}
        self.where = WhereNode()
        self.having = WhereNode()
        self.annotations: dict = {}
        self.ctes = Query._EMPTY            # replaced (not mutated) when set
        self.filtered_relations = Query._EMPTY

    # ---- cloning -----------------------------------------------------------------------
    def clone(self):
        obj = Query.__new__(Query)
        obj.__dict__ = self.__dict__.copy()
        obj.alias_map = dict(self.alias_map)
        obj.where = self.where.clone()
        obj.having = self.having.clone()
        obj.annotations = dict(self.annotations)
        if self.ctes:
            obj.ctes = dict(self.ctes)
        if self.filtered_relations:
            obj.filtered_relations = dict(self.filtered_relations)
        if isinstance(self.select_related, dict):
            obj.select_related = copy.deepcopy(self.select_related)
        return obj

    # ---- aliases and joins -----------------------------------------------------------------
    @property
    def base_alias(self):
        return self.get_initial_alias()

    def get_initial_alias(self):
        if not self.alias_map:
            table = self.model._meta.db_table
            alias = table if not self.subquery else f"{table}_sub"
            self.alias_map[alias] = BaseTable(table, alias)
            return alias
        return next(iter(self.alias_map))

    def join(self, join: Join, reuse=True):
        for alias, existing in self.alias_map.items():
            if isinstance(existing, Join) and reuse and existing.identity() == join.identity():
                if join.join_type == Join.INNER and existing.join_type == Join.LOUTER and not existing.nullable:
                    existing.join_type = Join.INNER
                return alias
        alias = f"{self.alias_prefix}{len(self.alias_map)}"
        join.alias = alias
        if self.alias_map.get(join.parent_alias) is not None:
            parent = self.alias_map[join.parent_alias]
            if parent.join_type == Join.LOUTER:
                join.join_type = Join.LOUTER
        self.alias_map[alias] = join
        return alias

    def setup_joins(self, names, allow_joins=True, reuse=True):
        """Walk ``names`` from the base model, joining across relations. Returns
        ``(field, alias, rest)``: the last field reached, the alias of the table it
        lives on, and the names left over (transforms and lookups). Raises
        ``FieldError`` naming the model and the valid choices for an unknown name."""
        opts = self.model._meta
        alias = self.get_initial_alias()
        if names and names[0] in self.filtered_relations:
            alias, opts = self.filtered_relations[names[0]]
            names = names[1:]
            if not names or (names[0] != "pk" and not _has_field(opts, names[0])):
                names = ["pk", *names]
        for i, name in enumerate(names):
            if not _NAME_PART.match(name):
                raise FieldError(
                    f"{opts.model.__name__}: invalid name {name!r} in "
                    f"{LOOKUP_SEP.join(names)!r}; choices are: {_choices(opts)}")
            try:
                field = opts.pk if name == "pk" else opts.get_field(name)
            except FieldDoesNotExist:
                extra = self.annotations if opts is self.model._meta else ()
                raise FieldError(
                    f"Cannot resolve keyword {name!r} into field of {opts.model.__name__}. "
                    f"Choices are: {_choices(opts, extra)}") from None
            rest = names[i + 1:]
            if not rest or not getattr(field, "is_relation", False):
                return field, alias, rest
            target_opts = field.related_model._meta
            if rest[0] != "pk" and not _has_field(target_opts, rest[0]):
                return field, alias, rest  # a lookup on the relation itself (author__in=...)
            if not allow_joins:
                raise FieldError(f"joined field references are not permitted here: {LOOKUP_SEP.join(names)}")
            for path in field.path_infos:
                multi = path.nullable or path.m2m
                # a relation whose ON clause is not plain column equality (generic
                # relations) names its own Join subclass
                join_class = getattr(path.join_field, "join_class", None) or Join
                alias = self.join(join_class(path.to_opts.db_table, alias, None,
                                             Join.LOUTER if multi else Join.INNER,
                                             path.join_cols, multi, path.join_field), reuse=reuse)
            opts = target_opts
        raise FieldError("empty field path")

    # ---- references ------------------------------------------------------------------
    def resolve_ref(self, name, allow_joins=True, summarize=False):
        """Resolve ``F(name)``: an annotation, or a field path with optional transforms."""
        if name in self.annotations:
            expr = self.annotations[name]
            if summarize or (self.group_by is not None and expr.contains_aggregate):
                return Ref(name, expr)
            return expr
        parts = name.split(LOOKUP_SEP)
        field, alias, rest = self.setup_joins(parts, allow_joins)
        col = self._col(field, alias)
        for tname in rest:
            col = self._transform(col, tname, name)
        return col

    def _col(self, field, alias):
        if not field.concrete or getattr(field, "column", None) is None:
            target = getattr(field, "target_field_for_reverse", None)
            if target is not None:
                return target(self, alias)
            raise FieldError(f"{field.name!r} of {field.model.__name__} has no column here")
        return Col(alias, field)

    def _transform(self, lhs, name, full):
        out_field = lhs.output_field
        cls = out_field.get_lookup(name) if out_field is not None else None
        if cls is not None and issubclass(cls, Transform):
            return cls(lhs)
        if out_field is not None and out_field.get_internal_type() == "JSONField":
            return KeyTransform(name, lhs)
        if out_field is not None and hasattr(out_field, "key_transform"):
            return out_field.key_transform(name, lhs)  # a plugin's key/value field (hstore)
        raise FieldError(
            f"Unsupported transform {name!r} in {full!r} for "
            f"{type(out_field).__name__}; valid transforms: {_valid(out_field, Transform)}")

    # ---- filters ---------------------------------------------------------------------
    def build_where_node(self, q, negated=False) -> WhereNode:
        if not isinstance(q, Q):
            q = Q(q)
        node = WhereNode(connector=q.connector, negated=q.negated)
        branch_negated = negated ^ q.negated
        for child in q.children:
            if isinstance(child, Q):
                node.children.append(self.build_where_node(child, branch_negated))
            elif isinstance(child, tuple):
                node.children.append(self.build_filter(child[0], child[1], branch_negated))
            elif getattr(child, "conditional", False):
                node.children.append(child.resolve_expression(self))
            else:
                raise TypeError(f"filter() arguments must be Q objects or keyword lookups, got {child!r}")
        return node

    def add_q(self, q):
        node = self.build_where_node(q)
        if node.contains_aggregate or _mentions_aggregate(node):
            self.having = self.having.add(node, AND)
        else:
            self.where = self.where.add(node, AND)

    def add_filter(self, key, value):
        """``filter(key=value)``: one condition, the common case, without a Q tree."""
        lookup = self.build_filter(key, value)
        if lookup.contains_aggregate or _mentions_aggregate(WhereNode([lookup])):
            self.having = self.having.add(lookup, AND)
        else:
            self.where = self.where.add(lookup, AND)

    def build_filter(self, key, value, negated=False):
        fast = _LOCAL_LOOKUPS.get((self.model, key))
        if fast is not None and not negated and not self.filtered_relations:
            col, cls = fast
            value = self.resolve_lookup_value(value)
            if value is not None and col.alias == self.get_initial_alias():
                return cls(col, value)
        if not isinstance(key, str) or not key:
            raise TypeError(f"filter keyword must be a non-empty string, got {key!r}")
        parts = key.split(LOOKUP_SEP)
        if negated and parts[0] not in self.annotations and self._crosses_multivalued(parts):
            return self._split_exclude(key, value)
        if parts[0] in self.annotations:
            lhs = self.annotations[parts[0]]  # the expression itself: HAVING can't use aliases
            rest = parts[1:]
        else:
            field, alias, rest = self.setup_joins(parts)
            lhs = None
            if getattr(field, "is_relation", False) and not getattr(field, "concrete", True):
                lhs = field.target_field_for_reverse(self, alias)
            elif getattr(field, "many_to_many", False):
                lhs = field.target_field_for_reverse(self, alias)
            else:
                lhs = self._col(field, alias)
        lookup = self.build_lookup(lhs, rest, value, key)
        if (lhs.__class__ is Col and lhs.alias == self.get_initial_alias() and len(rest) <= 1
                and lookup.lhs is lhs and key not in self.annotations):
            # remember: this key is a plain lookup on a local column
            _remember_local_lookup(self.model, key, lhs, type(lookup))
        if negated and not isinstance(lookup, IsNull) and _nullable(lhs):
            return WhereNode([lookup, IsNull(lookup.lhs, False)], AND)
        return lookup

    def _crosses_multivalued(self, parts) -> bool:
        opts = self.model._meta
        for name in parts[:-1] if len(parts) > 1 else parts:
            try:
                field = opts.pk if name == "pk" else opts.get_field(name)
            except FieldDoesNotExist:
                return False
            if not getattr(field, "is_relation", False):
                return False
            if getattr(field, "many_to_many", False) or getattr(field, "multiple", False) and not field.concrete:
                return True
            opts = field.related_model._meta
        return False

    def _split_exclude(self, key, value):
        """``exclude(books__title=x)``: rows with *no* related row matching, i.e.
        ``pk NOT IN (SELECT pk ... WHERE books__title = x)`` (Django semantics) rather
        than a NOT over a multi-valued join."""
        from dorm.expressions import Subquery

        inner = Query(self.model)
        inner.add_q(Q(**{key: value}))
        pk = self.model._meta.pk
        inner.select = [("pk", Col(inner.get_initial_alias(), pk))]
        inner.values_mode = True
        inner.default_ordering = False
        return In(Col(self.get_initial_alias(), pk), Subquery(inner).resolve_expression(self))

    def build_lookup(self, lhs, names, value, key) -> Lookup:
        names = list(names) or ["exact"]
        *transforms, last = names
        for t in transforms:
            lhs = self._transform(lhs, t, key)
        field = lhs.output_field
        cls = field.get_lookup(last) if field is not None else None
        if cls is not None and issubclass(cls, Transform):
            lhs, cls = cls(lhs), None
            field = lhs.output_field
            cls = field.get_lookup("exact")
        elif cls is None and field is not None and field.get_internal_type() == "JSONField":
            lhs = KeyTransform(last, lhs)
            cls = lhs.output_field.get_lookup("exact")
        elif cls is None and field is not None and hasattr(field, "key_transform"):
            lhs = field.key_transform(last, lhs)
            cls = lhs.output_field.get_lookup("exact")
        if cls is None and getattr(field, "is_relation", False) and getattr(field, "related_model", None):
            target = field.related_model._meta
            raise FieldError(
                f"Cannot resolve {last!r} in {key!r}: it is neither a field of "
                f"{target.object_name} (choices: {_choices(target)}) nor a lookup on "
                f"{type(field).__name__} {self.model.__name__}.{field.name} "
                f"(lookups: {_valid(field, Lookup)})")
        if cls is None:
            raise FieldError(
                f"Unsupported lookup {last!r} in {key!r} for {type(field).__name__} "
                f"{getattr(field, 'name', '')!r} of {self.model.__name__}; "
                f"valid lookups: {_valid(field, Lookup)}")
        value = self.resolve_lookup_value(value)
        if value is None and cls.lookup_name not in ("exact", "iexact", "isnull"):
            raise ValueError(f"{key}: None is only allowed with exact/iexact lookups (use isnull)")
        if value is None and cls.lookup_name == "iexact":
            return IsNull(lhs, True)
        return cls(lhs, value)

    def resolve_lookup_value(self, value):
        if value.__class__ in _PLAIN_VALUES:
            return value
        if hasattr(value, "_meta") and hasattr(value, "pk") and not isinstance(value, type):
            if value.pk is None:
                raise ValueError(
                    f"{type(value).__name__} instance passed to a related filter must be saved "
                    "(its primary key is None)")
            return value.pk
        if hasattr(value, "query") and hasattr(value, "_iterable_class"):
            from dorm.expressions import Subquery

            sub = value.query.clone()
            if sub.select is None:
                sub.set_values(["pk"])
            if not sub.is_sliced:
                sub.order_by, sub.default_ordering = (), False
            return Subquery(sub).resolve_expression(self)
        if hasattr(value, "resolve_expression"):
            return value.resolve_expression(self)
        if isinstance(value, (list, tuple)) and any(hasattr(v, "resolve_expression") for v in value):
            return type(value)(self.resolve_lookup_value(v) for v in value)
        return value

    # ---- ordering ------------------------------------------------------------------
    def add_ordering(self, *items):
        self.order_by = tuple(self.resolve_ordering(items))

    def resolve_ordering(self, items) -> list:
        """``OrderBy`` expressions for ``order_by()`` items (names, ``"-name"``, ``"?"``,
        expressions); joins they need are added to this query."""
        resolved = []
        for item in items:
            if isinstance(item, str):
                if item == "?":
                    resolved.append(OrderBy(_Random()))
                    continue
                desc = item.startswith("-")
                name = item[1:] if desc or item.startswith("+") else item
                expr = self._order_ref(name)
                resolved.append(OrderBy(expr, descending=desc))
            elif isinstance(item, OrderBy):
                resolved.append(item.resolve_expression(self))
            elif hasattr(item, "resolve_expression"):
                resolved.append(OrderBy(item.resolve_expression(self)))
            else:
                raise TypeError(f"order_by() takes field names or expressions, got {item!r}")
        return resolved

    def _order_ref(self, name):
        if name in self.annotations:
            return Ref(name, self.annotations[name]) if self._is_selected(name) else self.annotations[name]
        if self.select is not None:
            for sel_name, expr in self.select:
                if sel_name == name:
                    return expr
        field, alias, rest = self.setup_joins(name.split(LOOKUP_SEP))
        if getattr(field, "many_to_many", False) or not getattr(field, "concrete", True):
            col = field.target_field_for_reverse(self, alias)
        else:
            col = self._col(field, alias)
        for t in rest:
            col = self._transform(col, t, name)
        return col

    def selects_annotation(self, name) -> bool:
        """Is annotation ``name`` in the SELECT list (so ``ORDER BY "name"`` works)?"""
        mask = self.annotation_select_mask
        if self.select is not None:
            return any(n == name for n, _ in self.select) or (mask is not None and name in mask)
        return mask is None or name in mask

    def _is_selected(self, name):
        return self.annotation_select_mask is None or name in self.annotation_select_mask

    def default_order(self):
        """The ordering in effect: explicit, else ``Meta.ordering`` (not for grouped
        queries, as in Django 3.1+). Meta orderings that need no join are resolved once
        per model and alias and reused."""
        if self.order_by:
            return self.order_by
        if self.group_by is not None or not self.default_ordering:
            return ()
        ordering = self.model._meta.ordering
        if not ordering:
            return ()
        alias = self.get_initial_alias()
        key = (self.model, alias)
        cached = _META_ORDERING.get(key)
        if cached is not None:
            return cached
        n_aliases = len(self.alias_map)
        resolved = tuple(self.resolve_ordering(ordering))
        if len(self.alias_map) == n_aliases and not any(
                getattr(o.expression, "contains_aggregate", False) for o in resolved):
            _subscribe_caches()
            _META_ORDERING[key] = resolved
        return resolved

    # ---- annotations and values -------------------------------------------------------
    def add_annotation(self, name, expr, select=True):
        if not _NAME_PART.match(name):
            raise ValueError(f"annotation name {name!r} must be an identifier")
        try:
            self.model._meta.get_field(name)
        except FieldDoesNotExist:
            pass
        else:
            raise ValueError(f"The annotation {name!r} conflicts with a field on {self.model.__name__}.")
        if isinstance(expr, str):
            expr = F(expr)
        if not hasattr(expr, "resolve_expression"):
            raise TypeError(f"annotate({name}=...) needs an expression, got {expr!r}")
        resolved = expr.resolve_expression(self, summarize=False)
        self.annotations[name] = resolved
        if select:
            if self.annotation_select_mask is not None:
                self.annotation_select_mask = self.annotation_select_mask | {name}
        else:
            mask = self.annotation_select_mask
            if mask is None:
                mask = set(self.annotations) - {name}
            self.annotation_select_mask = set(mask) - {name}
        if resolved.contains_aggregate:
            self.set_group_by()
        return resolved

    def set_group_by(self):
        """GROUP BY the selected non-aggregate columns (values() or model columns)."""
        self.group_by = True

    def set_values(self, names, expressions=None):
        """Select ``names`` (fields, paths, annotations); ``[]`` = all concrete fields."""
        self.values_mode = True
        select = []
        for name, expr in (expressions or {}).items():
            self.add_annotation(name, expr)
        if not names:
            names = [f.attname for f in self.model._meta.concrete_fields]
            names += [n for n in self.annotations if self._is_selected(n) and n not in names]
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"values() takes field names, got {name!r}")
            if name in self.annotations:
                select.append((name, Ref(name, self.annotations[name])))
                continue
            select.append((name, self._values_ref(name)))
        self.select = select
        # annotations not named explicitly are no longer selected
        self.annotation_select_mask = {n for n, e in select if isinstance(e, Ref)}
        if self.group_by is not None:
            self.group_by = True

    def _values_ref(self, name):
        opts = self.model._meta
        try:
            f = opts.get_field(name)
            if f.concrete and getattr(f, "column", None):
                return Col(self.get_initial_alias(), f)
        except FieldDoesNotExist:
            pass
        return self.resolve_ref(name)

    def single_output_field(self):
        if self.select:
            return self.select[0][1].output_field
        return self.model._meta.pk

    def clear_select_for_exists(self):
        self.select = [("a", Value(1))]
        self.values_mode = True
        self.order_by = ()
        self.default_ordering = False
        self.annotation_select_mask = set()

    # ---- deferred loading ------------------------------------------------------------
    def add_deferred(self, names):
        current, defer = self.deferred
        if defer:
            self.deferred = (current | frozenset(names), True)
        else:
            self.deferred = (current - frozenset(names), False)

    def add_immediate(self, names):
        self.deferred = (frozenset(names), False)

    def loaded_fields(self):
        """Concrete fields to select for model instances (PK always kept)."""
        opts = self.model._meta
        names, defer = self.deferred
        fields = opts.concrete_fields
        if not names:
            return fields
        if defer:
            return [f for f in fields if f.primary_key or (f.name not in names and f.attname not in names)]
        return [f for f in fields if f.primary_key or f.name in names or f.attname in names]

    # ---- limits ------------------------------------------------------------------------
    def set_limits(self, low=None, high=None):
        """Narrow the row window; ``low``/``high`` are positions relative to the current
        window (``qs[2:5][1:2]`` is row 3)."""
        if high is not None:
            if self.high_mark is not None:
                high = min(self.high_mark, self.low_mark + high)
            else:
                high = self.low_mark + high
            self.high_mark = high
        if low is not None:
            if self.high_mark is not None:
                self.low_mark = min(self.high_mark, self.low_mark + low)
            else:
                self.low_mark = self.low_mark + low
        if self.low_mark == self.high_mark:
            self.is_empty = True

    @property
    def is_sliced(self):
        return self.low_mark != 0 or self.high_mark is not None

    def has_joins(self):
        return len(self.alias_map) > 1


class _Random:
    """``order_by("?")``."""

    contains_aggregate = False

    def resolve_expression(self, *a, **k):
        return self

    def get_group_by_cols(self):
        return []

    def as_sql(self, compiler, connection):
        return connection.ops.random_function_sql(), []


_PLAIN_VALUES = frozenset({int, str, float, bool, bytes})

#: (model, base alias) -> resolved ``Meta.ordering`` that needed no join
_META_ORDERING: dict = {}

#: (model, filter key) -> (shared Col, lookup class) for keys that name a local column and
#: at most a lookup: later ``filter()`` calls skip path resolution. Cleared whenever
#: the plugin registry (and so the lookup tables) changes.
_LOCAL_LOOKUPS: dict = {}
_subscribed = False


def _subscribe_caches():
    """Drop the query caches whenever the plugin registry (lookups) changes."""
    global _subscribed
    if not _subscribed:
        from dorm.plugins import on_change

        on_change(_LOCAL_LOOKUPS.clear)
        on_change(_META_ORDERING.clear)
        _subscribed = True


def _remember_local_lookup(model, key, col, lookup_cls):
    _subscribe_caches()
    if len(_LOCAL_LOOKUPS) > 4096:
        _LOCAL_LOOKUPS.clear()
    _LOCAL_LOOKUPS[(model, key)] = (col, lookup_cls)


def _has_field(opts, name) -> bool:
    try:
        opts.get_field(name)
        return True
    except FieldDoesNotExist:
        return False


def _nullable(expr) -> bool:
    target = getattr(expr, "target", None)
    if target is not None:
        return bool(getattr(target, "null", False))
    lhs = getattr(expr, "lhs", None)
    return _nullable(lhs) if lhs is not None else False


def _mentions_aggregate(node) -> bool:
    for c in node.children:
        if isinstance(c, WhereNode):
            if _mentions_aggregate(c):
                return True
        elif getattr(c, "contains_aggregate", False) or getattr(getattr(c, "lhs", None), "contains_aggregate", False):
            return True
        elif isinstance(getattr(c, "lhs", None), Ref):
            return True
    return False


def _valid(field, kind) -> str:
    if field is None:
        return "(none)"
    from dorm.lookups import lookup_table

    return ", ".join(sorted(n for n, c in lookup_table(type(field)).items() if issubclass(c, kind)))


__all__ = ["Query", "PathInfo", "Join", "BaseTable", "LOOKUP_SEP", "In", "OR"]
