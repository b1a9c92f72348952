"""Fan-out: run work on every shard and merge what can be merged exactly.

* ``for_each_shard(func, ...)`` – ``{alias: func(alias)}``, in parallel threads.
* ``await afor_each_shard(func, ...)`` – the same with asyncio (``func`` may be a
  coroutine function or a plain one, which then runs in a worker thread).
* ``sharded(queryset)`` – a ``ShardedQuerySet``: ``count()``, ``exists()``,
  ``aggregate(Sum/Min/Max/Count)``, ``avg(field)``, ordered and sliced fetches
  (``sharded(qs).order_by("-total")[:10]``), each with an ``a``-prefixed async twin.
  Results equal the single-database answer; what cannot be merged exactly (``Avg``,
  ``distinct`` values, grouped rows, ``StdDev``/``Variance``, ``Count(distinct=True)``)
  raises ``CrossShardError`` saying why and what to do instead.

A shard whose circuit breaker is open is not contacted: it fails fast with
``ShardUnavailable``. By default any shard failing makes the whole call raise
``FanOutError`` (a partial sum is a wrong answer); ``return_exceptions=True`` returns
the exceptions in the result dict instead.
"""
from __future__ import annotations

import asyncio
import atexit
import contextvars
import decimal
import functools
import inspect
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from dorm.exceptions import ImproperlyConfigured

from . import breaker as _breaker
from .exceptions import CrossShardError, FanOutError
from .placement import check_aliases
from .router import get_router

# ---- which shards ---------------------------------------------------------------------------------


def resolve_aliases(*, num_shards=None, aliases=None, router=None) -> list[str]:
    """The shard aliases a fan-out covers: ``aliases``, else ``shard_0..`` for
    ``num_shards``, else those of ``router`` / the configured ``HashShardRouter``."""
    if aliases is not None:
        aliases = list(aliases)
        return check_aliases(aliases, num_shards if num_shards is not None else len(aliases))
    if num_shards is not None:
        return check_aliases(None, num_shards)
    found = get_router(router)
    _breaker.ensure_guard()
    return list(found.aliases)


# ---- the thread pool --------------------------------------------------------------------------------
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_worker = threading.local()


def _workers() -> int:
    try:
        from dorm.conf import settings

        sharding = getattr(settings, "SHARDING", None) if settings.configured else None
    except ImproperlyConfigured:
        sharding = None
    value = (sharding or {}).get("FANOUT_WORKERS") if isinstance(sharding, dict) else None
    if value is None:
        return min(32, (os.cpu_count() or 1) * 4)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f'SHARDING["FANOUT_WORKERS"] must be an int >= 1, got {value!r}')
    return value


def _executor() -> ThreadPoolExecutor:
    """One process-wide pool: its threads keep their (per-thread) connections open
    between fan-outs."""
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            pool = _pool
            if pool is None:
                pool = _pool = ThreadPoolExecutor(max_workers=_workers(),
                                                  thread_name_prefix="dorm-shard-fanout")
    return pool


def _shutdown_pool() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


atexit.register(_shutdown_pool)


def _in_pool(ctx, func, alias):
    _in_worker.active = True
    try:
        return ctx.run(func, alias)
    finally:
        _in_worker.active = False


def _call(func, alias):
    """Run ``func(alias)`` behind the shard's breaker; returns ``(ok, value_or_exc)``."""
    try:
        _breaker.check(alias)
        value = func(alias)
    except Exception as exc:  # noqa: BLE001 - collected per shard
        _breaker.observe_exception(exc, alias)
        return False, exc
    return True, value


def _finish(outcomes: dict, return_exceptions: bool, what: str) -> dict:
    results = {a: v for a, (ok, v) in outcomes.items() if ok}
    errors = {a: v for a, (ok, v) in outcomes.items() if not ok}
    if not errors:
        return results
    if return_exceptions:
        return {a: v for a, (ok, v) in outcomes.items()}
    detail = "; ".join(f"{a}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                       for a, e in errors.items())
    err = FanOutError(f"{what} failed on {len(errors)} of {len(outcomes)} shard(s): {detail}",
                      errors=errors, results=results)
    raise err from next(iter(errors.values()))


def for_each_shard(func, *, num_shards=None, aliases=None, router=None, parallel: bool = True,
                   return_exceptions: bool = False) -> dict:
    """``{alias: func(alias)}`` for every shard, in alias order.

    Shards are chosen by ``aliases``, ``num_shards`` (``shard_0..``) or the configured
    ``HashShardRouter`` (``router=`` to pick one). ``parallel=True`` runs the calls in a
    shared thread pool (``SHARDING["FANOUT_WORKERS"]``, default ``4 × CPUs`` up to 32),
    each in a copy of the caller's context; a fan-out started inside a worker runs
    sequentially (no pool deadlock). Work in a worker does not join the caller's
    ``atomic()`` block: use ``parallel=False`` for that.

    A failing shard makes the call raise ``FanOutError`` after every shard finished
    (``.errors``, ``.results``); ``return_exceptions=True`` puts the exceptions in the
    returned dict instead.
    """
    names = resolve_aliases(num_shards=num_shards, aliases=aliases, router=router)
    if not callable(func):
        raise TypeError(f"for_each_shard() needs a callable, got {func!r}")
    if inspect.iscoroutinefunction(func):
        raise TypeError("for_each_shard() got a coroutine function: use `await afor_each_shard(...)`")
    outcomes: dict = {}
    if not parallel or len(names) == 1 or getattr(_in_worker, "active", False):
        for alias in names:
            outcomes[alias] = _call(func, alias)
    else:
        pool = _executor()
        futures = {alias: pool.submit(_in_pool, contextvars.copy_context(), _call_pair(func), alias)
                   for alias in names}
        for alias in names:
            outcomes[alias] = futures[alias].result()
    return _finish(outcomes, return_exceptions, "for_each_shard")


def _call_pair(func):
    return functools.partial(_call, func)


async def afor_each_shard(func, *, num_shards=None, aliases=None, router=None,
                          return_exceptions: bool = False, max_concurrency: int | None = None) -> dict:
    """Async ``for_each_shard``: ``func(alias)`` for every shard concurrently
    (``asyncio.gather``). A coroutine function is awaited; a plain function runs in a
    worker thread (``asyncio.to_thread``). ``max_concurrency`` bounds the shards in
    flight at once. Errors: as ``for_each_shard``."""
    names = resolve_aliases(num_shards=num_shards, aliases=aliases, router=router)
    if not callable(func):
        raise TypeError(f"afor_each_shard() needs a callable, got {func!r}")
    is_async = inspect.iscoroutinefunction(func)
    limit = asyncio.Semaphore(max_concurrency) if max_concurrency else None

    async def one(alias):
        try:
            _breaker.check(alias)
            if limit is not None:
                async with limit:
                    value = await _invoke(alias)
            else:
                value = await _invoke(alias)
        except Exception as exc:  # noqa: BLE001 - collected per shard
            _breaker.observe_exception(exc, alias)
            return False, exc
        return True, value

    async def _invoke(alias):
        if is_async:
            return await func(alias)
        value = await asyncio.to_thread(func, alias)
        if inspect.isawaitable(value):
            value = await value
        return value

    done = await asyncio.gather(*(one(a) for a in names))
    return _finish(dict(zip(names, done)), return_exceptions, "afor_each_shard")


# ---- merging --------------------------------------------------------------------------------------------
_MERGEABLE = ("Count", "Sum", "Min", "Max")
_WHY = {
    "Avg": ("an average of per-shard averages is wrong when shards hold different numbers of "
            "rows (it needs each shard's row count as a weight); use sharded(qs).avg(field), which "
            "merges Sum and Count exactly, or aggregate(total=Sum(f), n=Count(f)) and divide"),
    "StdDev": "a standard deviation cannot be rebuilt from per-shard values without each shard's "
              "count, sum and sum of squares; aggregate those (Count, Sum of f and of f*f) and combine",
    "Variance": "a variance cannot be rebuilt from per-shard values without each shard's count, sum "
                "and sum of squares; aggregate those (Count, Sum of f and of f*f) and combine",
}


def _aggregate_name(arg) -> str:
    name = getattr(arg, "default_alias", None)
    if name is None:
        src = arg.get_source_expressions()
        fname = getattr(src[0], "name", None) if src else None
        if not fname:
            raise TypeError("Complex aggregates require an alias")
        name = f"{fname}__{arg.name.lower()}"
    return name


def _check_aggregate(name: str, agg) -> None:
    kind = type(agg).__name__
    base = next((c.__name__ for c in type(agg).__mro__ if c.__name__ in (*_MERGEABLE, *_WHY)), kind)
    if base in _WHY:
        raise CrossShardError(f"aggregate({name}={kind}(...)) cannot be merged exactly across shards: "
                              f"{_WHY[base]}.")
    if base not in _MERGEABLE:
        raise CrossShardError(f"aggregate({name}={kind}(...)): only Count, Sum, Min and Max are merged "
                              f"across shards; {kind} is not known to be mergeable.")
    if getattr(agg, "distinct", False):
        raise CrossShardError(
            f"aggregate({name}={kind}(..., distinct=True)) cannot be merged across shards: the same "
            f"value may occur on several shards, so per-shard distinct results overlap. Fetch the "
            f"distinct values per shard (sharded(qs).values_list(f).distinct() is refused for the "
            f"same reason) with for_each_shard and combine them in a set.")


def _merge_values(kind: str, values: list):
    present = [v for v in values if v is not None]
    if kind == "Count":
        return sum(int(v) for v in present)
    if not present:
        return None
    if kind == "Sum":
        total = present[0]
        for v in present[1:]:
            total = total + v
        return total
    if kind == "Min":
        return min(present)
    return max(present)


def _kind(agg) -> str:
    return next(c.__name__ for c in type(agg).__mro__ if c.__name__ in _MERGEABLE)


def _nulls_mode(vendor: str) -> str:
    """How the backend sorts NULL: ``"largest"`` (PostgreSQL, Oracle), ``"smallest"``
    (SQLite, MySQL) or ``"last"`` (DuckDB: last in both directions)."""
    if vendor in ("postgresql", "oracle", "cockroachdb"):
        return "largest"
    if vendor == "duckdb":
        return "last"
    return "smallest"


def _compare_values(a, b, desc: bool, nulls: str) -> int:
    if a is None or b is None:
        if a is None and b is None:
            return 0
        if nulls == "last":
            return 1 if a is None else -1
        a_big = (a is None) == (nulls == "largest")   # a is the "larger" one
        result = 1 if a_big else -1
        return -result if desc else result
    if a == b:
        return 0
    result = -1 if a < b else 1
    return -result if desc else result


class ShardedQuerySet:
    """A QuerySet evaluated on every shard, with exact merging. Build it with
    ``sharded(qs)``; chain ``filter/exclude/order_by/values/values_list/only/defer/
    select_related/prefetch_related/annotate`` and slices as usual."""

    def __init__(self, qs, aliases, parallel: bool = True, ordering: tuple | None = None,
                 low: int = 0, high: int | None = None):
        self._qs = qs
        self._aliases = list(aliases)
        self._parallel = parallel
        self._ordering = ordering
        self._low = low
        self._high = high

    # ---- chaining -----------------------------------------------------------------------------
    def _chain(self, qs=None, **changes):
        if self._low or self._high is not None:
            raise TypeError("Cannot change a sharded query once a slice has been taken.")
        state = {"qs": self._qs if qs is None else qs, "aliases": self._aliases,
                 "parallel": self._parallel, "ordering": self._ordering, "low": self._low,
                 "high": self._high}
        state.update(changes)
        return ShardedQuerySet(**state)

    def _delegate(name):
        def method(self, *args, **kwargs):
            return self._chain(getattr(self._qs, name)(*args, **kwargs))
        method.__name__ = name
        method.__doc__ = f"``QuerySet.{name}`` on every shard."
        return method

    filter = _delegate("filter")
    exclude = _delegate("exclude")
    values = _delegate("values")
    values_list = _delegate("values_list")
    only = _delegate("only")
    defer = _delegate("defer")
    select_related = _delegate("select_related")
    prefetch_related = _delegate("prefetch_related")
    annotate = _delegate("annotate")
    distinct = _delegate("distinct")
    all = _delegate("all")
    del _delegate

    def order_by(self, *names):
        """Order every shard's rows and merge them in that order. Names of fields,
        ``pk`` or annotations, ``-`` for descending; the merge reads each value from the
        rows, so with ``values()``/``values_list()`` the names must be selected."""
        for name in names:
            if not isinstance(name, str) or name == "?":
                raise CrossShardError(
                    f"sharded(...).order_by({name!r}): only field or annotation names can be merged "
                    f"across shards (random order and expressions cannot); annotate the expression "
                    f"and order by its name")
        return self._chain(self._qs.order_by(*names), ordering=tuple(names))

    def using(self, *aliases):
        """Restrict the fan-out to some shards."""
        return self._chain(aliases=list(aliases))

    def __getitem__(self, k):
        if isinstance(k, int):
            if k < 0:
                raise ValueError("Negative indexing is not supported.")
            rows = self[k:k + 1].fetch()
            if not rows:
                raise IndexError("sharded query index out of range")
            return rows[0]
        if not isinstance(k, slice):
            raise TypeError(f"indices must be integers or slices, not {type(k).__name__}")
        if (k.start or 0) < 0 or (k.stop is not None and k.stop < 0):
            raise ValueError("Negative indexing is not supported.")
        if k.step not in (None, 1):
            raise ValueError("slicing does not support a step")
        low, high = self._low, self._high
        start = k.start or 0
        new_low = low + start
        new_high = high
        if k.stop is not None:
            new_high = low + k.stop if high is None else min(high, low + k.stop)
        if new_high is not None and new_low > new_high:
            new_low = new_high
        return ShardedQuerySet(self._qs, self._aliases, self._parallel, self._ordering, new_low, new_high)

    def __repr__(self) -> str:
        return f"<ShardedQuerySet of {self._qs.model.__name__} over {len(self._aliases)} shards>"

    # ---- checks -----------------------------------------------------------------------------------
    def _check_base(self, what: str) -> None:
        query = self._qs.query
        if query.is_sliced:
            raise CrossShardError(
                f"sharded(qs).{what}: the per-shard queryset is sliced, which would slice each shard "
                f"separately; slice the sharded queryset instead: sharded(qs.order_by(...))[:n] -> "
                f"sharded(qs).order_by(...)[:n]")
        if query.combinator:
            raise CrossShardError(f"sharded(qs).{what}: combined queries (union/intersection/difference) "
                                  f"cannot be merged across shards")
        if query.distinct_fields:
            raise CrossShardError(
                f"sharded(qs).{what}: distinct(*fields) keeps one row per value on each shard, so the "
                f"same value comes back once per shard; there is no exact merge")
        if query.distinct and query.values_mode:
            raise CrossShardError(
                f"sharded(qs).{what}: distinct values cannot be merged across shards: the same value may "
                f"exist on several shards and each shard removes only its own duplicates. Fetch the values "
                f"(without distinct) and deduplicate client-side, e.g. set(...)")
        if query.group_by:
            raise CrossShardError(
                f"sharded(qs).{what}: grouped rows (values(...).annotate(aggregate)) are grouped per shard, "
                f"so each group appears once per shard with partial aggregates; merge them per group "
                f"yourself (for_each_shard) or aggregate per group")

    # ---- running -----------------------------------------------------------------------------------
    def _run_sync(self, make_gen, what: str) -> dict:
        from dorm.models.sansio import run_sync

        self._check_base(what)
        return for_each_shard(lambda alias: run_sync(make_gen(alias)), aliases=self._aliases,
                              parallel=self._parallel)

    async def _run_async(self, make_gen, what: str) -> dict:
        from dorm.models.sansio import run_async

        self._check_base(what)

        async def one(alias):
            return await run_async(make_gen(alias))

        return await afor_each_shard(one, aliases=self._aliases)

    def _on(self, alias):
        return self._qs.using(alias)

    # ---- count / exists -----------------------------------------------------------------------------
    def _count_of(self, counts: dict) -> int:
        total = sum(counts.values())
        high = total if self._high is None else min(total, self._high)
        return max(0, high - self._low)

    def count(self) -> int:
        """The number of rows on all shards (exact: a sum of counts)."""
        return self._count_of(self._run_sync(lambda a: self._on(a)._count_gen(), "count()"))

    async def acount(self) -> int:
        return self._count_of(await self._run_async(lambda a: self._on(a)._count_gen(), "acount()"))

    def exists(self) -> bool:
        if self._low or self._high is not None:
            return self.count() > 0
        return any(self._run_sync(lambda a: self._on(a)._exists_gen(), "exists()").values())

    async def aexists(self) -> bool:
        if self._low or self._high is not None:
            return await self.acount() > 0
        return any((await self._run_async(lambda a: self._on(a)._exists_gen(), "aexists()")).values())

    # ---- aggregate ------------------------------------------------------------------------------------
    def _prepare_aggregates(self, args, kwargs):
        if self._low or self._high is not None:
            raise CrossShardError("aggregate() over a sliced sharded query cannot be merged: the slice "
                                  "depends on the merged order; aggregate the whole query")
        named = dict(kwargs)
        for arg in args:
            named[_aggregate_name(arg)] = arg
        per_shard, plan = {}, {}
        for name, agg in named.items():
            if not getattr(agg, "contains_aggregate", False):
                raise TypeError(f"aggregate({name}=...) needs an aggregate expression, got {agg!r}")
            _check_aggregate(name, agg)
            stripped = agg.copy() if hasattr(agg, "copy") else agg
            default = getattr(agg, "default", None)
            if default is not None:
                stripped.default = None
            per_shard[name] = stripped
            plan[name] = (_kind(agg), default)
        return per_shard, plan

    @staticmethod
    def _merge_aggregates(results: dict, plan: dict) -> dict:
        out = {}
        for name, (kind, default) in plan.items():
            value = _merge_values(kind, [r.get(name) for r in results.values()])
            if value is None and default is not None:
                value = getattr(default, "value", default)
            out[name] = value
        return out

    def aggregate(self, *args, **kwargs) -> dict:
        """``Count``/``Sum``/``Min``/``Max`` over every shard, merged exactly (``default=``
        is applied after the merge). Anything else raises ``CrossShardError``."""
        per_shard, plan = self._prepare_aggregates(args, kwargs)
        if not plan:
            return {}
        results = self._run_sync(lambda a: self._on(a)._aggregate_gen(**dict(per_shard)), "aggregate()")
        return self._merge_aggregates(results, plan)

    async def aaggregate(self, *args, **kwargs) -> dict:
        per_shard, plan = self._prepare_aggregates(args, kwargs)
        if not plan:
            return {}
        results = await self._run_async(lambda a: self._on(a)._aggregate_gen(**dict(per_shard)),
                                        "aaggregate()")
        return self._merge_aggregates(results, plan)

    @staticmethod
    def _avg_of(result: dict):
        total, n = result["total"], result["n"]
        if not n:
            return None
        if isinstance(total, decimal.Decimal):
            return total / decimal.Decimal(n)
        return float(total) / n

    def avg(self, field: str):
        """The exact average of ``field`` over every shard: ``Sum(field) / Count(field)``
        (NULLs ignored, as SQL ``AVG`` does). ``None`` when there are no values."""
        from dorm.aggregates import Count, Sum

        return self._avg_of(self.aggregate(total=Sum(field), n=Count(field)))

    async def aavg(self, field: str):
        from dorm.aggregates import Count, Sum

        return self._avg_of(await self.aaggregate(total=Sum(field), n=Count(field)))

    # ---- rows -------------------------------------------------------------------------------------------
    def _sort_spec(self) -> list[tuple[str, bool]]:
        query = self._qs.query
        names = self._ordering
        if names is None:
            if query.order_by:
                raise CrossShardError(
                    "sharded(qs): the queryset was ordered before sharded() wrapped it, and the merge "
                    "needs the order as field names: write sharded(qs).order_by('-field', ...) instead")
            if query.default_ordering and not query.group_by:
                names = tuple(n for n in (self._qs.model._meta.ordering or ()) if isinstance(n, str))
            else:
                names = ()
        spec = []
        for name in names:
            desc = name.startswith("-")
            bare = name.lstrip("-+")
            if not query.standard_ordering:
                desc = not desc
            spec.append((bare, desc))
        return spec

    def _getter(self, name: str):
        qs = self._qs
        fields = qs._fields
        iterable = qs._iterable_class.__name__
        model = qs.model
        if iterable == "ModelIterable":
            if name == "pk":
                return lambda obj: obj.pk
            try:
                field = model._meta.get_field(name)
            except Exception:  # noqa: BLE001 - not a field: an annotation attribute
                field = None
            attname = getattr(field, "attname", None) if field is not None and getattr(field, "concrete", False) else None
            if attname is not None:
                return lambda obj: obj.__dict__.get(attname)
            if name in qs.query.annotations:
                return lambda obj: getattr(obj, name)
        elif iterable == "ValuesIterable":
            selected = [n for n, _ in (qs.query.select or ())]
            if name in selected:
                return lambda row: row[name]
        elif fields and name in fields:
            index = list(fields).index(name)
            if iterable == "FlatValuesListIterable":
                return lambda row: row
            return lambda row: row[index]
        raise CrossShardError(
            f"sharded(qs).order_by({name!r}): the merge reads the sort value from each row, and "
            f"{name!r} is not on the rows ({'not a local field or annotation' if iterable == 'ModelIterable' else 'not selected'}). "
            f"Annotate it (annotate(k=F({name!r})).order_by('k')) or select it.")

    def _merge_rows(self, per_shard: dict, vendor: str) -> list:
        spec = self._sort_spec()
        rows = [row for alias in self._aliases for row in per_shard.get(alias, ())]
        if spec:
            getters = [(self._getter(name), desc) for name, desc in spec]
            nulls = _nulls_mode(vendor)

            def compare(a, b):
                for get, desc in getters:
                    c = _compare_values(get(a), get(b), desc, nulls)
                    if c:
                        return c
                return 0

            rows.sort(key=functools.cmp_to_key(compare))
        high = self._high
        return rows[self._low:high] if (self._low or high is not None) else rows

    def _per_shard_qs(self, alias):
        qs = self._on(alias)
        if self._high is not None:
            qs = qs[:self._high]
        return qs

    def _vendor(self) -> str:
        from dorm.db import connections

        try:
            return connections[self._aliases[0]].vendor
        except Exception:  # noqa: BLE001 - only used to order NULLs
            return ""

    def fetch(self) -> list:
        """Evaluate: the rows of every shard, merged in order and sliced. Model instances
        carry ``_state.db`` = their shard, so ``save()``/``delete()`` go back there."""
        if self._high is not None and self._low >= self._high:
            return []
        self._sort_spec()   # refuse unmergeable orderings before touching any shard
        per_shard = self._run_sync(lambda a: self._per_shard_qs(a)._fetch_gen(a), "fetch()")
        return self._merge_rows(per_shard, self._vendor())

    async def afetch(self) -> list:
        if self._high is not None and self._low >= self._high:
            return []
        self._sort_spec()
        per_shard = await self._run_async(lambda a: self._per_shard_qs(a)._fetch_gen(a), "afetch()")
        return self._merge_rows(per_shard, self._vendor())

    def __iter__(self):
        return iter(self.fetch())

    def __len__(self) -> int:
        return len(self.fetch())

    def __aiter__(self):
        async def gen():
            for row in await self.afetch():
                yield row
        return gen()

    def __await__(self):
        return self.afetch().__await__()

    def first(self):
        rows = self[:1].fetch()
        return rows[0] if rows else None

    async def afirst(self):
        rows = await self[:1].afetch()
        return rows[0] if rows else None


def sharded(queryset, *, aliases=None, num_shards=None, router=None, parallel: bool = True) -> ShardedQuerySet:
    """Wrap ``queryset`` (a QuerySet or a Manager) so that it runs on every shard.

    Shards: ``aliases``, ``num_shards`` or the configured ``HashShardRouter``. The
    queryset must not be sliced or ordered yet: slice and order the wrapper
    (``sharded(Order.objects.filter(paid=True)).order_by("-total")[:10]``).
    """
    from dorm.models.queryset import QuerySet

    qs = queryset if isinstance(queryset, QuerySet) else queryset.all()
    names = resolve_aliases(num_shards=num_shards, aliases=aliases, router=router)
    return ShardedQuerySet(qs, names, parallel=parallel)


__all__ = ["FanOutError", "ShardedQuerySet", "afor_each_shard", "for_each_shard", "resolve_aliases", "sharded"]
