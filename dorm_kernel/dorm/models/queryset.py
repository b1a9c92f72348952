"""``QuerySet``: lazy, chainable queries with sync and ``a*`` async terminal methods.

Every terminal method is written once as a sans-IO generator (``_<name>_gen``) and
exposed twice: ``name()`` runs it with ``run_sync``, ``aname()`` with ``run_async``.
"""
from __future__ import annotations

from dorm import budget as _budget
from dorm.budget import _get as _current_budget
from dorm.cache import invalidation as _cache_invalidation
from dorm.cache import state as _cache_state
from dorm.db import router
from dorm.exceptions import (EmptyResultSet, FieldDoesNotExist, FieldError, IntegrityError,
                             NotSupportedError, ReadOnlyModelError)
from dorm.query.compiler import SQLCompiler
from dorm.query.query import LOOKUP_SEP, Query
from dorm.query.where import Q

from . import persistence
from .iterables import (FlatValuesListIterable, ModelIterable, NamedValuesListIterable,
                        ValuesIterable, ValuesListIterable)
from .sansio import run_async, run_sync

MAX_GET_RESULTS = 21
REPR_OUTPUT_SIZE = 20


class QuerySet:
    #: ``CacheOptions`` once ``.cache()`` was called (see ``dorm.cache.query``); a class
    #: attribute so that querysets that never cache pay nothing to set it
    _cache = None

    def __init__(self, model=None, query=None, using=None, hints=None):
        self.model = model
        self._query = query  # created on first use: create()/get(pk=) never need one
        self._db = using
        self._hints = hints or {}
        self._result_cache = None
        self._iterable_class = ModelIterable
        self._fields = None
        self._prefetch_related_lookups = ()
        self._sticky_filter = False

    # ---- plumbing ---------------------------------------------------------------------
    @property
    def query(self):
        if self._query is None:
            self._query = Query(self.model)
        return self._query

    @query.setter
    def query(self, value):
        self._query = value

    def _clone(self):
        c = self.__class__.__new__(self.__class__)
        c.__dict__.update(self.__dict__)
        c._query = self._query.clone() if self._query is not None else None
        c._result_cache = None
        return c

    @property
    def db(self):
        if self._db:
            return self._db
        return router.db_for_read(self.model, **self._hints)

    @property
    def _write_db(self):
        if self._db:
            return self._db
        return router.db_for_write(self.model, **self._hints)

    def __deepcopy__(self, memo):
        return self._clone()

    def __getstate__(self):
        self._fetch_all()
        return {**self.__dict__}

    # ---- evaluation ---------------------------------------------------------------
    def _fetch_all(self):
        if self._result_cache is None:
            self._result_cache = run_sync(self._fetch_gen())

    async def _afetch_all(self):
        if self._result_cache is None:
            self._result_cache = await run_async(self._fetch_gen())
        return self._result_cache

    def _fetch_gen(self, db=None):
        budget = _current_budget()  # dorm.budget: one ContextVar read per query
        max_rows = budget.max_rows if budget is not None else None
        if self._cache is not None:
            from dorm.cache.query import fetch_gen

            if max_rows is None:
                return (yield from fetch_gen(self, db))
            result = yield from fetch_gen(_budget.capped_queryset(self, max_rows), db)
            if len(result) > max_rows:
                raise _budget.rows_exceeded(len(result), max_rows)
            return result
        db = db or self.db
        conn = yield ("connection", db)
        compiler = SQLCompiler(self.query if max_rows is None else
                               _budget.cap_query(self.query, max_rows), conn)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return []
        hydrate = self._iterable_class.hydrator(self, compiler)
        rows = yield ("execute", db, sql, params)
        if max_rows is not None and len(rows) > max_rows:
            raise _budget.rows_exceeded(len(rows), max_rows)
        result = hydrate(rows, db)
        if self._prefetch_related_lookups and self._iterable_class is ModelIterable and result:
            from .prefetch import prefetch_related_objects_gen

            yield from prefetch_related_objects_gen(result, self._prefetch_related_lookups, db)
        return result

    def __iter__(self):
        self._fetch_all()
        return iter(self._result_cache)

    def __aiter__(self):
        async def gen():
            for obj in await self._afetch_all():
                yield obj
        return gen()

    def __await__(self):
        return self._afetch_all().__await__()

    def __len__(self):
        self._fetch_all()
        return len(self._result_cache)

    def __bool__(self):
        self._fetch_all()
        return bool(self._result_cache)

    def __repr__(self):
        data = list(self[:REPR_OUTPUT_SIZE + 1])
        if len(data) > REPR_OUTPUT_SIZE:
            data[-1] = "...(remaining elements truncated)..."
        return f"<{type(self).__name__} {data!r}>"

    def __getitem__(self, k):
        if not isinstance(k, (int, slice)):
            raise TypeError(f"QuerySet indices must be integers or slices, not {type(k).__name__}")
        if isinstance(k, int) and k < 0 or isinstance(k, slice) and (
                (k.start or 0) < 0 or (k.stop is not None and k.stop < 0)):
            raise ValueError("Negative indexing is not supported.")
        if isinstance(k, slice) and k.step not in (None, 1):
            raise ValueError("QuerySet slicing does not support a step")
        if self._result_cache is not None:
            return self._result_cache[k]
        qs = self._clone()
        if isinstance(k, slice):
            qs.query.set_limits(k.start, k.stop)
            return qs
        qs.query.set_limits(k, k + 1)
        qs._fetch_all()
        if not qs._result_cache:
            raise IndexError("QuerySet index out of range")
        return qs._result_cache[0]

    def __and__(self, other):
        self._check_same_model(other)
        c = self._clone()
        c.query.where = c.query.where.add(other.query.where.clone())
        return c

    def __or__(self, other):
        self._check_same_model(other)
        c = self._clone()
        from dorm.query.where import OR

        left = c.query.where.clone()
        c.query.where = left.add(other.query.where.clone(), OR) if left.children else left
        return c

    def _check_same_model(self, other):
        if not isinstance(other, QuerySet) or other.model is not self.model:
            raise TypeError("can only combine QuerySets of the same model")

    # ---- chainable -----------------------------------------------------------------
    def all(self):
        return self._clone()

    def none(self):
        c = self._clone()
        c.query.is_empty = True
        return c

    def _not_sliced(self, what):
        if self._query is None:
            return
        if self.query.is_sliced:
            raise TypeError(f"Cannot {what} a query once a slice has been taken.")
        if self.query.combinator:
            raise TypeError(f"Cannot {what} a combined query ({self.query.combinator}); "
                            "filter the parts before combining them")

    def filter(self, *args, **kwargs):
        self._not_sliced("filter")
        return self._filter_or_exclude(False, args, kwargs)

    def exclude(self, *args, **kwargs):
        self._not_sliced("filter")
        return self._filter_or_exclude(True, args, kwargs)

    def _filter_or_exclude(self, negate, args, kwargs):
        c = self._clone()
        if not negate and not args and len(kwargs) == 1:
            c.query.add_filter(*next(iter(kwargs.items())))
        elif args or kwargs:
            q = Q(*args, **kwargs)
            c.query.add_q(~q if negate else q)
        return c

    def complex_filter(self, filter_obj):
        if isinstance(filter_obj, Q):
            return self.filter(filter_obj)
        return self.filter(**filter_obj)

    def order_by(self, *field_names):
        if self.query.is_sliced:
            raise TypeError("Cannot reorder a query once a slice has been taken.")
        c = self._clone()
        c.query.add_ordering(*field_names)
        if not field_names:
            c.query.default_ordering = False  # Django: no arguments clears all ordering
        return c

    def reverse(self):
        c = self._clone()
        c.query.standard_ordering = not c.query.standard_ordering
        return c

    def distinct(self, *field_names):
        self._not_sliced("create distinct fields on")
        c = self._clone()
        c.query.distinct = True
        if field_names:
            c.query.distinct_fields = tuple(c.query._order_ref(n) for n in field_names)
        return c

    def annotate(self, *args, **kwargs):
        return self._annotate(args, kwargs, select=True)

    def alias(self, *args, **kwargs):
        return self._annotate(args, kwargs, select=False)

    def _annotate(self, args, kwargs, select):
        self._not_sliced("annotate")
        for arg in args:
            name = getattr(arg, "default_alias", None)
            if name is None:
                raise TypeError("Complex annotations require an alias")
            kwargs[name] = arg
        c = self._clone()
        for name, expr in kwargs.items():
            if hasattr(expr, "as_join_annotation"):
                expr.as_join_annotation(c.query, name)
                continue
            c.query.add_annotation(name, expr, select=select)
        return c

    def values(self, *fields, **expressions):
        c = self._clone()
        c.query.set_values(list(fields), expressions)
        c._iterable_class = ValuesIterable
        c._fields = fields
        return c

    def lookup(self, column=None):
        """``Subquery(self.values(column))`` (primary key by default), for
        ``filter(x__in=other.lookup("col"))``: the database runs it as one statement."""
        from dorm.expressions import Subquery

        return Subquery(self.values(column or self.model._meta.pk.name))

    def values_list(self, *fields, flat=False, named=False):
        if flat and named:
            raise TypeError("'flat' and 'named' can't be used together.")
        if flat and len(fields) > 1:
            raise TypeError("'flat' is not valid when values_list is called with more than one field.")
        exprs = {}
        names = []
        for i, f in enumerate(fields):
            if hasattr(f, "resolve_expression"):
                name = f"_expr{i}"
                exprs[name] = f
                names.append(name)
            else:
                names.append(f)
        c = self._clone()
        for name, e in exprs.items():
            c.query.add_annotation(name, e)
        c.query.set_values(names)
        c._fields = tuple(names)
        c._iterable_class = (FlatValuesListIterable if flat else
                             NamedValuesListIterable if named else ValuesListIterable)
        if flat and not fields and len(c.query.select) != 1:
            raise TypeError("'flat' needs exactly one field")
        return c

    def only(self, *fields):
        if not fields:
            raise TypeError("only() needs at least one field name")
        c = self._clone()
        for f in fields:
            c._check_field_name(f, "only")
        c.query.add_immediate(fields)
        return c

    def defer(self, *fields):
        c = self._clone()
        if fields == (None,):
            c.query.deferred = (frozenset(), True)
            return c
        for f in fields:
            c._check_field_name(f, "defer")
        c.query.add_deferred(fields)
        return c

    def _check_field_name(self, name, method):
        if not isinstance(name, str):
            raise TypeError(f"{method}() takes field names, got {name!r}")
        head = name.split(LOOKUP_SEP)[0]
        try:
            self.model._meta.get_field(head)
        except FieldDoesNotExist:
            names = sorted(f.name for f in self.model._meta.concrete_fields)
            raise FieldDoesNotExist(
                f"{self.model.__name__}.{method}(): no field named {name!r}; choices: {', '.join(names)}"
            ) from None

    def using(self, alias):
        c = self._clone()
        c._db = alias
        return c

    def cache(self, timeout=None, *, using="default"):
        """A clone whose results come from the result cache ``using`` (a ``CACHES``
        alias) when present there. ``timeout``: ``None`` = the cache's ``TTL``, ``0`` =
        no expiry, else seconds. No ``CACHES`` configured: a plain clone. What is
        cached and when it is invalidated: docs/cache.md, ``dorm.cache.query``."""
        from dorm.cache.query import make_options

        c = self._clone()
        c._cache = make_options(self.model, timeout, using)
        return c

    def select_for_update(self, nowait=False, skip_locked=False, of=(), no_wait=None):
        """Lock the selected rows until the transaction ends. ``nowait`` (Django) and
        ``no_wait`` (the reference's name) are the same option. Backends without row
        locks raise ``NotSupportedError`` when the query runs (never a silent no-op)."""
        if no_wait is not None:
            nowait = no_wait
        if nowait and skip_locked:
            raise ValueError("The nowait option cannot be used with skip_locked.")
        c = self._clone()
        q = c.query
        q.select_for_update = True
        q.select_for_update_nowait = nowait
        q.select_for_update_skip_locked = skip_locked
        q.select_for_update_of = tuple(of)
        return c

    def select_related(self, *fields):
        c = self._clone()
        if fields == (None,):
            c.query.select_related = False
            return c
        from .related_loading import add_select_related

        add_select_related(c.query, fields)
        return c

    def prefetch_related(self, *lookups):
        c = self._clone()
        if lookups == (None,):
            c._prefetch_related_lookups = ()
        else:
            c._prefetch_related_lookups = (*self._prefetch_related_lookups, *lookups)
        return c

    def with_cte(self, **ctes):
        from dorm.query.cte import make_cte

        c = self._clone()
        for name, value in ctes.items():
            c.query.ctes = {**c.query.ctes, name: make_cte(name, value)}
        return c

    def _combinator(self, kind, other_qs, all_=False):
        c = self._clone()
        q = Query(self.model)
        q.combinator = kind
        q.combinator_all = all_
        q.combined_queries = tuple(x.query.clone() for x in (self, *other_qs))
        c.query = q
        return c

    def union(self, *other_qs, all=False):  # noqa: A002 - Django's name
        return self._combinator("union", other_qs, all)

    def intersection(self, *other_qs):
        return self._combinator("intersection", other_qs)

    def difference(self, *other_qs):
        return self._combinator("difference", other_qs)

    # ---- terminal: reading -------------------------------------------------------------
    def _pristine_for_pk_get(self):
        q = self._query
        if q is None:
            return not self._prefetch_related_lookups and self._iterable_class is ModelIterable
        return (not q.where.children and not q.annotations and q.select is None
                and not q.deferred[0] and len(q.alias_map) <= 1 and not q.is_sliced
                and not q.select_related and not self._prefetch_related_lookups
                and self._iterable_class is ModelIterable and not q.select_for_update
                and not q.ctes and not q.is_empty and not q.distinct and not q.combinator)

    def _get_gen(self, *args, **kwargs):
        model = self.model
        if not args and len(kwargs) == 1 and self._pristine_for_pk_get():
            (key, value), = kwargs.items()
            pk = model._meta.pk
            if key in ("pk", pk.name, pk.attname) and value is not None and not hasattr(value, "resolve_expression"):
                objs = yield from _pk_get_gen(self, value)
                return _one(model, objs, kwargs)
        clone = self.filter(*args, **kwargs) if args or kwargs else self._clone()
        if not clone.query.is_sliced and not clone.query.select_for_update:
            if not clone.query.distinct_fields:
                clone.query.order_by = ()
                clone.query.default_ordering = False
            clone.query.set_limits(high=MAX_GET_RESULTS)
        objs = yield from clone._fetch_gen()
        return _one(model, objs, kwargs)

    def get(self, *args, **kwargs):
        return run_sync(self._get_gen(*args, **kwargs))

    async def aget(self, *args, **kwargs):
        return await run_async(self._get_gen(*args, **kwargs))

    def _get_or_none_gen(self, *args, **kwargs):
        try:
            obj = yield from self._get_gen(*args, **kwargs)
        except self.model.DoesNotExist:
            return None
        return obj

    def _count_gen(self):
        if self._result_cache is not None:
            return len(self._result_cache)
        if self._cache is not None:
            from dorm.cache.query import count_gen

            return (yield from count_gen(self))
        db = self.db
        conn = yield ("connection", db)
        try:
            sql, params = SQLCompiler(self.query, conn).count_sql()
        except EmptyResultSet:
            return 0
        rows = yield ("execute", db, sql, params)
        return rows[0][0]

    def _exists_gen(self):
        if self._result_cache is not None:
            return bool(self._result_cache)
        db = self.db
        conn = yield ("connection", db)
        try:
            sql, params = SQLCompiler(self.query, conn).exists_sql()
        except EmptyResultSet:
            return False
        rows = yield ("execute", db, sql, params)
        return bool(rows)

    def _first_gen(self, last=False):
        qs = self if self.query.order_by or (self.query.default_ordering and self.model._meta.ordering) \
            else self.order_by("pk")
        if last:
            qs = qs.reverse()
        if qs.query.is_sliced and last:
            raise TypeError("Cannot reverse a query once a slice has been taken.")
        qs = qs[:1] if not qs.query.is_sliced else qs._clone()
        objs = yield from qs._fetch_gen()
        return objs[0] if objs else None

    def _last_gen(self):
        return (yield from self._first_gen(last=True))

    def _latest_gen(self, *fields, reverse=False):
        fields = fields or ([self.model._meta.get_latest_by] if self.model._meta.get_latest_by else [])
        fields = [f for f in fields if f]
        if not fields:
            raise ValueError("earliest()/latest() need field names or Meta.get_latest_by")
        if isinstance(fields[0], (list, tuple)):
            fields = list(fields[0])
        if self.query.is_sliced:
            raise TypeError("Cannot change a query once a slice has been taken.")
        order = [f if not reverse else (f[1:] if f.startswith("-") else "-" + f) for f in fields]
        obj = yield from self.order_by(*order)._get_gen_first()
        return obj

    def _get_gen_first(self):
        c = self._clone()
        c.query.set_limits(high=1)
        objs = yield from c._fetch_gen()
        if not objs:
            raise self.model.DoesNotExist(f"{self.model.__name__} matching query does not exist.")
        return objs[0]

    def _earliest_gen(self, *fields):
        return (yield from self._latest_gen(*fields, reverse=False))

    def _latest_desc_gen(self, *fields):
        return (yield from self._latest_gen(*fields, reverse=True))

    def _aggregate_gen(self, *args, **kwargs):
        for arg in args:
            name = getattr(arg, "default_alias", None)
            if name is None:
                src = arg.get_source_expressions()
                fname = getattr(src[0], "name", None) if src else None
                if not fname:
                    raise TypeError("Complex aggregates require an alias")
                name = f"{fname}__{arg.name.lower()}"
            kwargs[name] = arg
        if not kwargs:
            return {}
        q = self.query.clone()
        resolved = {}
        for name, agg in kwargs.items():
            if not getattr(agg, "contains_aggregate", False):
                raise TypeError(f"aggregate({name}=...) needs an aggregate expression, got {agg!r}")
            resolved[name] = agg.resolve_expression(q, summarize=True)
        db = self.db
        conn = yield ("connection", db)
        compiler = SQLCompiler(q, conn)
        try:
            sql, params = compiler.aggregate_sql(resolved)
        except EmptyResultSet:
            return {n: getattr(a, "empty_result_set_value", None) if a.default is None else a.default
                    for n, a in resolved.items()}
        rows = yield ("execute", db, sql, params)
        row = rows[0]
        out = {}
        for (name, agg), value in zip(resolved.items(), row):
            for conv in agg.get_db_converters(conn):
                value = conv(value)
            out[name] = value
        return out

    def _in_bulk_gen(self, id_list=None, *, field_name="pk"):
        if self.query.is_sliced:
            raise TypeError("Cannot use 'limit' or 'offset' with in_bulk().")
        opts = self.model._meta
        if field_name != "pk":
            f = opts.get_field(field_name)
            if not (f.unique or f.primary_key) and not any(
                    (field_name,) == tuple(c) for c in opts.unique_together):
                raise ValueError(f"in_bulk()'s field_name must be a unique field but {field_name!r} isn't.")
        key_attr = opts.pk.attname if field_name == "pk" else opts.get_field(field_name).attname
        if id_list is not None:
            id_list = list(id_list)
            if not id_list:
                return {}
            qs = self.filter(**{f"{field_name}__in": id_list})
        else:
            qs = self._clone()
        qs = qs.order_by()
        objs = yield from qs._fetch_gen()
        return {getattr(o, key_attr): o for o in objs}

    def _values_list_gen(self):
        return (yield from self._fetch_gen())

    def iterator(self, chunk_size=None):
        """Stream results without caching them (``fetchmany``/server-side cursor)."""
        from dorm.db import connections

        if chunk_size is not None and chunk_size <= 0:
            raise ValueError("chunk_size must be strictly positive")
        db = self.db
        conn = connections[db]
        budget = _current_budget()
        max_rows = budget.max_rows if budget is not None else None
        compiler = SQLCompiler(self.query if max_rows is None else
                               _budget.cap_query(self.query, max_rows), conn)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return
        hydrate = self._iterable_class.hydrator(self, compiler)
        size = chunk_size or 2000
        batch = []
        rows = conn.iterate(sql, params, size)
        if max_rows is not None:
            rows = _budget.count_rows(rows, max_rows)
        for row in rows:
            batch.append(row)
            if len(batch) >= size:
                yield from hydrate(batch, db)
                batch = []
        if batch:
            yield from hydrate(batch, db)

    async def aiterator(self, chunk_size=None):
        from dorm.db import connections

        if chunk_size is not None and chunk_size <= 0:
            raise ValueError("chunk_size must be strictly positive")
        db = self.db
        conn = await connections.aget(db)
        budget = _current_budget()
        max_rows = budget.max_rows if budget is not None else None
        compiler = SQLCompiler(self.query if max_rows is None else
                               _budget.cap_query(self.query, max_rows), conn)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return
        hydrate = self._iterable_class.hydrator(self, compiler)
        size = chunk_size or 2000
        batch = []
        rows = conn.aiterate(sql, params, size)
        if max_rows is not None:
            rows = _budget.acount_rows(rows, max_rows)
        async for row in rows:
            batch.append(row)
            if len(batch) >= size:
                for obj in hydrate(batch, db):
                    yield obj
                batch = []
        if batch:
            for obj in hydrate(batch, db):
                yield obj

    def _explain_gen(self, *, format=None, **options):  # noqa: A002
        db = self.db
        conn = yield ("connection", db)
        sql, params = SQLCompiler(self.query, conn).as_sql()
        prefix = conn.ops.explain_prefix(format=format, **options)
        rows = yield ("execute", db, f"{prefix} {sql}", params)
        return "\n".join(" ".join(str(c) for c in row) for row in rows)

    # ---- terminal: writing --------------------------------------------------------
    def _create_gen(self, **kwargs):
        obj = self.model(**kwargs)
        self._for_write = True
        yield from obj._save_gen(self._write_db, True, False, None)
        return obj

    def _get_or_create_gen(self, defaults=None, **kwargs):
        try:
            obj = yield from self._get_gen(**kwargs)
            return obj, False
        except self.model.DoesNotExist:
            pass
        params = self._create_params(kwargs, defaults)
        db = self._write_db
        try:
            obj = yield ("atomic", db, self.using(db)._create_gen(**params))
            return obj, True
        except IntegrityError:
            # another writer created the row first. Where conflicts are detected before
            # that writer commits (DuckDB's optimistic MVCC), its row may not be visible
            # yet: look again briefly before giving up
            for delay in (0.0, 0.005, 0.02, 0.08):
                if delay:
                    yield ("sleep", delay)
                try:
                    obj = yield from self.using(db)._get_gen(**kwargs)
                    return obj, False
                except self.model.DoesNotExist:
                    pass
            raise

    def _create_params(self, kwargs, defaults):
        params = {k: v for k, v in kwargs.items() if LOOKUP_SEP not in k}
        for k, v in (defaults or {}).items():
            params[k] = v() if callable(v) else v
        return params

    def _update_or_create_gen(self, defaults=None, create_defaults=None, **kwargs):
        defaults = defaults or {}
        db = self._write_db
        conn = yield ("connection", db)
        qs = self.using(db)
        if conn.features.supports_select_for_update:
            qs = qs.select_for_update()  # lock the row between read and update
        obj, created = yield ("atomic", db, qs._get_or_create_gen(
            create_defaults if create_defaults is not None else defaults, **kwargs))
        if created:
            return obj, True
        for k, v in defaults.items():
            setattr(obj, k, v() if callable(v) else v)
        yield from obj._save_gen(db, False, False, None)
        return obj, False

    def _validated_update_values(self, kwargs):
        opts = self.model._meta
        values = []
        for name, value in kwargs.items():
            try:
                field = opts.get_field(name)
            except FieldDoesNotExist:
                choices = ", ".join(sorted(f.name for f in opts.concrete_fields))
                raise FieldError(
                    f"{self.model.__name__}.update(): unknown field {name!r}; choices: {choices}") from None
            if not field.concrete or getattr(field, "many_to_many", False) or not field.column:
                raise FieldError(
                    f"{self.model.__name__}.update(): cannot update {name!r} (not a concrete column)")
            if hasattr(value, "resolve_expression"):
                value = value.resolve_expression(self.query, allow_joins=False, for_save=True)
            elif hasattr(value, "_meta") and getattr(field, "is_relation", False):
                value = value.pk
            elif value is not None:
                value = field.to_python(value) if not getattr(field, "is_relation", False) else value
            values.append((field, value))
        return values

    def _update_gen(self, **kwargs):
        if self.query.combinator:
            raise TypeError("Cannot update a combined query")
        if not kwargs:
            raise TypeError("update() needs at least one field=value")
        self._check_writable()
        values = self._validated_update_values(kwargs)
        db = self._write_db
        conn = yield ("connection", db)
        try:
            sql, params = SQLCompiler(self.query, conn).update_sql(values)
        except EmptyResultSet:
            return 0
        rows = yield ("execute_write", db, sql, params)
        self._result_cache = None
        if _cache_state.active:
            _cache_invalidation.written(self.model, db)
        return rows

    def _check_writable(self):
        if self.model._meta.read_only:
            raise ReadOnlyModelError(f"{self.model.__name__} is read-only (Meta.read_only = True)")

    def _delete_gen(self):
        if self.query.combinator:
            raise TypeError("Cannot delete a combined query")
        if self.query.distinct or self.query.select is not None:
            raise TypeError("Cannot call delete() after .distinct() or .values()")
        self._check_writable()
        db = self._write_db
        conn = yield ("connection", db)
        opts = self.model._meta
        if not opts.deletion_relations:
            try:
                sql, params = SQLCompiler(self.query.clone(), conn).delete_sql()
            except EmptyResultSet:
                return 0, {}
            n = yield ("execute_write", db, sql, params)
            self._result_cache = None
            if _cache_state.active:
                _cache_invalidation.written(self.model, db)
            return n, ({opts.label: n} if n else {})
        result = yield ("atomic", db, self._collect_and_delete_gen(db))
        self._result_cache = None
        return result

    def _collect_and_delete_gen(self, db):
        """Read the rows, follow ``on_delete`` and delete, in one transaction."""
        from dorm import signals

        from .deletion import Collector

        objs = yield from self.using(db)._fetch_gen()
        collector = Collector(db, send_signals=False)
        yield from collector.collect_gen(objs)
        return (yield from collector._delete_all_gen(signals))

    def _bulk_create_gen(self, objs, batch_size=None, ignore_conflicts=False,
                         update_conflicts=False, update_fields=None, unique_fields=None):
        if batch_size is not None and batch_size <= 0:
            raise ValueError("Batch size must be a positive integer.")
        objs = list(objs)
        if not objs:
            return objs
        self._check_writable()
        opts = self.model._meta
        for o in objs:
            if not isinstance(o, self.model):
                raise TypeError(f"bulk_create() of {self.model.__name__} got a {type(o).__name__}")
        on_conflict = None
        ufields, uniq = (), ()
        db = self._write_db
        conn = yield ("connection", db)
        if ignore_conflicts and update_conflicts:
            raise ValueError("ignore_conflicts and update_conflicts are mutually exclusive")
        if ignore_conflicts:
            if not conn.features.supports_ignore_conflicts:
                raise NotSupportedError(f"ignore_conflicts is not supported on {conn.display_name}")
            on_conflict = "ignore"
        elif update_conflicts:
            if not update_fields:
                raise ValueError("update_conflicts=True needs update_fields")
            if not unique_fields and conn.features.supports_update_conflicts_with_target:
                raise ValueError("update_conflicts=True needs unique_fields")
            on_conflict = "update"
            ufields = tuple(opts.get_field(n) for n in update_fields)
            uniq = tuple(opts.pk if n == "pk" else opts.get_field(n) for n in (unique_fields or ()))
            for f in ufields:
                if f.primary_key or not f.concrete:
                    raise ValueError(f"bulk_create(update_fields=...) cannot update {f.name!r}")
        work = persistence.bulk_insert_gen(conn, self.model, objs, db, batch_size, on_conflict, ufields, uniq)
        yield ("atomic", db, work)
        if _cache_state.active:
            _cache_invalidation.written(self.model, db)
        return objs

    def _bulk_update_gen(self, objs, fields, batch_size=None):
        if batch_size is not None and batch_size <= 0:
            raise ValueError("Batch size must be a positive integer.")
        if not fields:
            raise ValueError("Field names must be given to bulk_update().")
        self._check_writable()
        opts = self.model._meta
        fobjs = []
        for name in fields:
            f = opts.get_field(name)
            if not f.concrete or f.primary_key or getattr(f, "many_to_many", False):
                raise ValueError(f"bulk_update() can only be used with concrete, non-pk fields ({name!r})")
            fobjs.append(f)
        objs = [o for o in objs if o.pk is not None]
        if not objs:
            return 0
        db = self._write_db
        conn = yield ("connection", db)
        work = _bulk_update_work(conn, self.model, objs, fobjs, batch_size, db)
        total = yield ("atomic", db, work)
        if _cache_state.active:
            _cache_invalidation.written(self.model, db)
        return total

    def _exists_or_create_gen(self, defaults=None, **kwargs):
        """``True`` when a matching row exists, else create it and return ``False``
        (race-safe like ``get_or_create``: a concurrent insert is not an error)."""
        exists = yield from self.filter(**kwargs)._exists_gen()
        if exists:
            return True
        _obj, created = yield from self._get_or_create_gen(defaults, **kwargs)
        return not created

    def _create_or_update_gen(self, defaults=None, **kwargs):
        return (yield from self._update_or_create_gen(defaults, None, **kwargs))

    def _cursor_paginate_gen(self, *, after=None, order_by="pk", page_size=50):
        """Keyset pagination: rows after the cursor ``{column: value}`` (or None) in
        ``order_by`` order (``"-field"`` for descending); one query per page."""
        from .pagination import CursorPage

        if page_size is None or page_size <= 0:
            raise ValueError("cursor_paginate(page_size=...) must be a positive integer")
        desc = order_by.startswith("-")
        name = order_by.lstrip("-")
        field = self.model._meta.pk if name == "pk" else self.model._meta.get_field(name)
        qs = self.order_by(order_by)
        if after:
            if not isinstance(after, dict) or len(after) != 1:
                raise ValueError("cursor_paginate(after=...) takes the next_cursor dict of the previous page")
            value = next(iter(after.values()))
            qs = qs.filter(**{f"{name}__{'lt' if desc else 'gt'}": value})
        rows = yield from qs[:page_size + 1]._fetch_gen()
        has_next = len(rows) > page_size
        rows = rows[:page_size]
        next_cursor = {field.attname if name != "pk" else "pk": getattr(rows[-1], field.attname)} \
            if has_next and rows else None
        return CursorPage(rows, next_cursor, has_next)

    def exists_or_create(self, defaults=None, **kwargs):
        return run_sync(self._exists_or_create_gen(defaults, **kwargs))

    async def aexists_or_create(self, defaults=None, **kwargs):
        return await run_async(self._exists_or_create_gen(defaults, **kwargs))

    def create_or_update(self, defaults=None, **kwargs):
        """The reference's spelling of ``update_or_create``: returns ``(obj, created)``."""
        return run_sync(self._create_or_update_gen(defaults, **kwargs))

    async def acreate_or_update(self, defaults=None, **kwargs):
        return await run_async(self._create_or_update_gen(defaults, **kwargs))

    def cursor_paginate(self, *, after=None, order_by="pk", page_size=50):
        return run_sync(self._cursor_paginate_gen(after=after, order_by=order_by, page_size=page_size))

    async def acursor_paginate(self, *, after=None, order_by="pk", page_size=50):
        return await run_async(self._cursor_paginate_gen(after=after, order_by=order_by,
                                                         page_size=page_size))

    def _dates_gen(self, field_name, kind, order="ASC", datetimes=False):
        import datetime as dt

        kinds = ("year", "month", "week", "day") + (("hour", "minute", "second") if datetimes else ())
        if kind not in kinds:
            raise ValueError(f"'kind' must be one of {', '.join(kinds)}")
        if order not in ("ASC", "DESC"):
            raise ValueError("'order' must be either 'ASC' or 'DESC'.")
        values = yield from self.values_list(field_name, flat=True).order_by()._fetch_gen()
        out = set()
        for v in values:
            if v is None:
                continue
            if isinstance(v, dt.datetime) and not datetimes:
                v = v.date()
            if kind == "year":
                v = v.replace(month=1, day=1)
            elif kind == "month":
                v = v.replace(day=1)
            elif kind == "week":
                v = v - dt.timedelta(days=v.weekday())
            if datetimes:
                if kind in ("year", "month", "week", "day"):
                    v = v.replace(hour=0, minute=0, second=0, microsecond=0)
                elif kind == "hour":
                    v = v.replace(minute=0, second=0, microsecond=0)
                elif kind == "minute":
                    v = v.replace(second=0, microsecond=0)
                else:
                    v = v.replace(microsecond=0)
            out.add(v)
        return sorted(out, reverse=order == "DESC")

    def dates(self, field_name, kind, order="ASC"):
        return run_sync(self._dates_gen(field_name, kind, order))

    def datetimes(self, field_name, kind, order="ASC"):
        return run_sync(self._dates_gen(field_name, kind, order, datetimes=True))

    async def adates(self, field_name, kind, order="ASC"):
        return await run_async(self._dates_gen(field_name, kind, order))

    async def adatetimes(self, field_name, kind, order="ASC"):
        return await run_async(self._dates_gen(field_name, kind, order, datetimes=True))

    # ---- raw ----------------------------------------------------------------------
    def raw(self, raw_query, params=(), translations=None):
        from .raw import RawQuerySet

        return RawQuerySet(raw_query, self.model, params, translations, using=self._db,
                           ctes=self.query.ctes)

    def contains(self, obj):
        if not isinstance(obj, self.model):
            raise TypeError(f"contains() expects a {self.model.__name__} instance")
        if obj.pk is None:
            raise ValueError("QuerySet.contains() cannot be used on unsaved objects.")
        if self._result_cache is not None:
            return obj in self._result_cache
        return self.filter(pk=obj.pk).exists()

    def get_or_none(self, *args, **kwargs):
        return run_sync(self._get_or_none_gen(*args, **kwargs))

    def count(self):
        return run_sync(self._count_gen())

    def exists(self):
        return run_sync(self._exists_gen())

    def first(self):
        return run_sync(self._first_gen())

    def last(self):
        return run_sync(self._first_gen(last=True))

    def earliest(self, *fields):
        return run_sync(self._earliest_gen(*fields))

    def latest(self, *fields):
        return run_sync(self._latest_desc_gen(*fields))

    def aggregate(self, *args, **kwargs):
        return run_sync(self._aggregate_gen(*args, **kwargs))

    def in_bulk(self, id_list=None, *, field_name="pk"):
        return run_sync(self._in_bulk_gen(id_list, field_name=field_name))

    def explain(self, *, format=None, **options):  # noqa: A002
        return run_sync(self._explain_gen(format=format, **options))

    def create(self, **kwargs):
        return run_sync(self._create_gen(**kwargs))

    def get_or_create(self, defaults=None, **kwargs):
        return run_sync(self._get_or_create_gen(defaults, **kwargs))

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        return run_sync(self._update_or_create_gen(defaults, create_defaults, **kwargs))

    def update(self, **kwargs):
        return run_sync(self._update_gen(**kwargs))

    def delete(self):
        return run_sync(self._delete_gen())

    def bulk_create(self, objs, batch_size=None, ignore_conflicts=False, update_conflicts=False,
                    update_fields=None, unique_fields=None):
        return run_sync(self._bulk_create_gen(objs, batch_size, ignore_conflicts, update_conflicts,
                                              update_fields, unique_fields))

    def bulk_update(self, objs, fields, batch_size=None):
        return run_sync(self._bulk_update_gen(objs, fields, batch_size))

    async def aget_or_none(self, *args, **kwargs):
        return await run_async(self._get_or_none_gen(*args, **kwargs))

    async def acount(self):
        return await run_async(self._count_gen())

    async def aexists(self):
        return await run_async(self._exists_gen())

    async def afirst(self):
        return await run_async(self._first_gen())

    async def alast(self):
        return await run_async(self._first_gen(last=True))

    async def aearliest(self, *fields):
        return await run_async(self._earliest_gen(*fields))

    async def alatest(self, *fields):
        return await run_async(self._latest_desc_gen(*fields))

    async def aaggregate(self, *args, **kwargs):
        return await run_async(self._aggregate_gen(*args, **kwargs))

    async def ain_bulk(self, id_list=None, *, field_name="pk"):
        return await run_async(self._in_bulk_gen(id_list, field_name=field_name))

    async def aexplain(self, *, format=None, **options):  # noqa: A002
        return await run_async(self._explain_gen(format=format, **options))

    async def acreate(self, **kwargs):
        return await run_async(self._create_gen(**kwargs))

    async def aget_or_create(self, defaults=None, **kwargs):
        return await run_async(self._get_or_create_gen(defaults, **kwargs))

    async def aupdate_or_create(self, defaults=None, create_defaults=None, **kwargs):
        return await run_async(self._update_or_create_gen(defaults, create_defaults, **kwargs))

    async def aupdate(self, **kwargs):
        return await run_async(self._update_gen(**kwargs))

    async def adelete(self):
        return await run_async(self._delete_gen())

    async def abulk_create(self, objs, batch_size=None, ignore_conflicts=False, update_conflicts=False,
                           update_fields=None, unique_fields=None):
        return await run_async(self._bulk_create_gen(objs, batch_size, ignore_conflicts,
                                                     update_conflicts, update_fields, unique_fields))

    async def abulk_update(self, objs, fields, batch_size=None):
        return await run_async(self._bulk_update_gen(objs, fields, batch_size))

    async def avalues(self, *fields, **expressions):
        return await self.values(*fields, **expressions)._afetch_all()

    async def avalues_list(self, *fields, flat=False, named=False):
        return await self.values_list(*fields, flat=flat, named=named)._afetch_all()

    async def acontains(self, obj):
        if self._result_cache is not None:
            return obj in self._result_cache
        return await self.filter(pk=obj.pk).aexists()


def _one(model, objs, kwargs):
    n = len(objs)
    if n == 1:
        return objs[0]
    if not n:
        raise model.DoesNotExist(f"{model.__name__} matching query does not exist. ({_describe(kwargs)})")
    raise model.MultipleObjectsReturned(
        f"get() returned more than one {model.__name__} -- it returned "
        f"{n if n < MAX_GET_RESULTS else f'more than {MAX_GET_RESULTS - 1}'}!")


def _describe(kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no filters"


_pk_get_cache: dict = {}


def _clear_caches(_keys=None):
    """Cached statements embed converters that depend on settings (USE_TZ)."""
    _pk_get_cache.clear()


def _subscribe():
    from dorm.conf import settings

    settings.on_change(_clear_caches)


_subscribe()


def _pk_get_gen(qs, value):
    """``get(pk=value)`` on an unfiltered queryset: cached statement, direct hydration."""
    if qs._cache is not None:
        from dorm.cache.query import pk_get_gen

        return (yield from pk_get_gen(qs, value))
    model = qs.model
    db = qs.db
    conn = yield ("connection", db)
    key = (model, conn.vendor, id(conn.ops.__class__))
    entry = _pk_get_cache.get(key)
    if entry is None:
        q = Query(model)
        q.add_q(Q(pk=0))
        q.set_limits(high=MAX_GET_RESULTS)
        q.default_ordering = False
        compiler = SQLCompiler(q, conn)
        sql, _ = compiler.as_sql()
        hydrate = ModelIterable.hydrator(qs, compiler)
        entry = _pk_get_cache[key] = (sql, hydrate, model._meta.pk)
    sql, hydrate, pk = entry
    rows = yield ("execute", db, sql, [pk.get_db_prep_value(value, conn)])
    return hydrate(rows, db)


def _bulk_update_work(conn, model, objs, fields, batch_size, db):
    opts = model._meta
    ops = conn.ops
    qn = ops.quote_name
    ph = ops.placeholder
    pk = opts.pk
    n_params_per_obj = len(fields) * 2 + 1
    size = ops.bulk_batch_size(n_params_per_obj, len(objs))
    if batch_size:
        size = min(size, batch_size)
    total = 0
    for start in range(0, len(objs), size):
        batch = objs[start:start + size]
        sets, params = [], []
        for f in fields:
            whens = []
            for o in batch:
                v = getattr(o, f.attname)
                whens.append(f"WHEN {qn(pk.column)} = {ph} THEN {ph}")
                params.append(pk.get_db_prep_value(o.pk, conn))
                params.append(None if v is None else f.get_db_prep_save(v, conn))
            cast = f.cast_db_type(conn)
            case = f"CASE {' '.join(whens)} ELSE {qn(f.column)} END"
            if cast:
                case = ops.cast_sql(case, cast)
            sets.append(f"{qn(f.column)} = {case}")
        pks = [pk.get_db_prep_value(o.pk, conn) for o in batch]
        sql = (f"UPDATE {qn(opts.db_table)} SET {', '.join(sets)} WHERE {qn(pk.column)} IN "
               f"({', '.join([ph] * len(pks))})")
        total += yield ("execute_write", db, sql, [*params, *pks])
    return total
