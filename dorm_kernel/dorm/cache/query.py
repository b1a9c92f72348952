"""The cached read paths: ``QuerySet.cache()`` and ``Manager.cache_get*``.

Sans-IO generators (``dorm.models.sansio``): one code path for sync and async; the
backend calls are yielded as ``("cache", backend, method, *args)`` requests.

What is cached (for a queryset that called ``.cache()``):

* evaluation (``list(qs)``, iteration, ``len``, ``await qs``, ``values()``,
  ``values_list()``, slices, ``first()``/``last()``, ``get()``, ``in_bulk()``): the
  hydrated rows, keyed by the compiled statement (``dorm.cache.keys``);
  ``prefetch_related`` lookups are not part of the entry: they run against the
  database after a hit (their rows may come from other tables' writes);
* ``count()``: the number;
* ``get(pk=...)`` on an unfiltered queryset, ``cache_get`` and ``cache_get_many``: one
  entry per primary key, shared by the three.

Never cached: ``iterator()``, ``exists()``, ``aggregate()``, ``select_for_update()``
querysets, and any read inside a transaction on the queryset's database (see
``dorm.cache.invalidation`` for why). Without ``CACHES`` every path here is the
plain database read.

Each read: (1) deliver pending bumps, (2) read the versions of the tables the
statement reads, (3) look the entry up, (4) on a miss run the query and store the
result with the versions read in (2). A backend failure at any step means "read the
database" (``dorm.cache.guard``); a signing-key misconfiguration raises.
"""
from __future__ import annotations

import logging
from typing import NamedTuple

from dorm.exceptions import EmptyResultSet, ImproperlyConfigured
from dorm.query.compiler import SQLCompiler

from . import guard, signing
from .keys import entry_key, query_tables
from .registry import caches

logger = logging.getLogger("dorm.cache")


class CacheOptions(NamedTuple):
    """What ``QuerySet.cache(timeout, using=)`` asked for (kept on ``qs._cache``)."""

    timeout: float | None
    using: str


def check_timeout(timeout, where: str):
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0 \
            or timeout != timeout:
        raise ValueError(f"{where}: timeout must be None (the cache's TTL), 0 (no expiry) or "
                         f"seconds > 0, got {timeout!r}")
    return timeout


def check_alias(using, where: str) -> str:
    if not isinstance(using, str) or not using:
        raise ValueError(f"{where}: using must be a CACHES alias (a non-empty string), got {using!r}")
    aliases = caches.aliases()
    if aliases and using not in aliases:
        raise ValueError(f"{where}: CACHES has no alias {using!r}; configured: "
                         f"{', '.join(map(repr, aliases))}")
    return using


def make_options(model, timeout, using, method="cache") -> CacheOptions:
    where = f"{model.__name__}.{method}()"
    return CacheOptions(check_timeout(timeout, where), check_alias(using, where))


# ---- helpers ---------------------------------------------------------------------------------
def plain(qs, prefetch=True):
    """A clone of ``qs`` that reads the database directly."""
    c = qs._clone()
    c._cache = None
    if not prefetch:
        c._prefetch_related_lookups = ()
    return c


def in_transaction(conn) -> bool:
    """Inside a real transaction on ``conn`` (blocks of ``dorm.test.rollback`` do not count)."""
    levels = conn._atomic_levels
    if levels:
        return any(not level.test for level in levels)
    return conn.in_transaction


def _usable(backend, qs, conn) -> bool:
    return backend is not None and not qs.query.select_for_update and not in_transaction(conn)


def _dumps(value, key, model):
    try:
        return signing.dumps(value, key)
    except ImproperlyConfigured:
        raise
    except Exception as exc:  # noqa: BLE001 - an unpicklable result is returned, not cached
        logger.warning("%s result not cached: it cannot be pickled (%s: %s)",
                       model.__name__, type(exc).__name__, exc)
        return None


def _versions_gen(backend, model, sql, conn):
    """``(tables, versions)`` for ``sql``, or ``None`` when the backend must be skipped."""
    if not (yield from guard.ready_gen(backend)):
        return None
    tables = query_tables(model, sql, conn.ops.quote_name("x")[0])
    versions = yield from guard.call_gen(backend, "get_versions", list(tables))
    if versions is guard.FAILED:
        return None
    return tables, versions


def _cached_gen(backend, kind, qs, db, conn, sql, params, shape, timeout, compute):
    """The value under the key of ``(kind, sql, params, shape)``, or ``compute()``'s
    result, stored with the versions read before it ran."""
    signing.signing_key()  # a missing required key raises before any work
    found = yield from _versions_gen(backend, qs.model, sql, conn)
    if found is None:
        return (yield from compute())
    tables, versions = found
    key = entry_key(kind, qs.model, db, tables, versions, sql, params, shape)
    payload = yield from guard.call_gen(backend, "get", key)
    if payload is not None and payload is not guard.FAILED:
        value = signing.loads(payload, key)
        if value is not signing.MISS:
            return value
    value = yield from compute()
    data = _dumps(value, key, qs.model)
    if data is not None:
        yield from guard.call_gen(backend, "set", key, data, timeout, tables)
    return value


# ---- QuerySet paths --------------------------------------------------------------------------
def fetch_gen(qs, db=None):
    """``QuerySet._fetch_gen`` for a queryset that called ``.cache()``."""
    from dorm.models.iterables import ModelIterable

    opts = qs._cache
    db = db or qs.db
    backend = caches.get(opts.using)
    conn = yield ("connection", db)
    if not _usable(backend, qs, conn):
        return (yield from plain(qs)._fetch_gen(db))
    try:
        sql, params = SQLCompiler(qs.query, conn).as_sql()
    except EmptyResultSet:
        return []
    shape = f"{qs._iterable_class.__qualname__}:{qs._fields!r}"
    result = yield from _cached_gen(backend, "rows", qs, db, conn, sql, params, shape,
                                    opts.timeout, lambda: plain(qs, prefetch=False)._fetch_gen(db))
    lookups = qs._prefetch_related_lookups
    if lookups and qs._iterable_class is ModelIterable and result:
        from dorm.models.prefetch import prefetch_related_objects_gen

        yield from prefetch_related_objects_gen(result, lookups, db)
    return result


def count_gen(qs):
    """``QuerySet._count_gen`` for a queryset that called ``.cache()``."""
    opts = qs._cache
    db = qs.db
    backend = caches.get(opts.using)
    conn = yield ("connection", db)
    if not _usable(backend, qs, conn):
        return (yield from plain(qs)._count_gen())
    try:
        sql, params = SQLCompiler(qs.query, conn).count_sql()
    except EmptyResultSet:
        return 0
    return (yield from _cached_gen(backend, "count", qs, db, conn, sql, params, "", opts.timeout,
                                   lambda: plain(qs)._count_gen()))


def pk_get_gen(qs, value):
    """``get(pk=value)`` on an unfiltered cached queryset: ``[obj]`` or ``[]``."""
    found = yield from pk_many_gen(qs, [value], qs._cache)
    return list(found.values())


# ---- primary-key entries (cache_get / cache_get_many / cached get(pk=)) -----------------------
def _normalise_pks(model, pks, where):
    pk_field = model._meta.pk
    out = []
    for pk in pks:
        if pk is None or hasattr(pk, "resolve_expression"):
            raise ValueError(f"{where}: primary keys must be values, got {pk!r}")
        out.append(pk_field.to_python(pk))
    return list(dict.fromkeys(out))


def pk_many_gen(qs, pks, opts: CacheOptions, where="cache_get_many()"):
    """``{pk: obj}`` for the ``pks`` that exist; one query for the ones not cached.

    The entry of a primary key is keyed by the statement of ``qs`` (so a manager whose
    ``get_queryset()`` filters never shares entries with one that does not) and the
    key's value."""
    model = qs.model
    pks = _normalise_pks(model, pks, f"{model.__name__}.{where}")
    if not pks:
        return {}
    db = qs.db
    backend = caches.get(opts.using)
    conn = yield ("connection", db)

    def fetch(missing):
        rows = yield from plain(qs).filter(pk__in=missing).order_by()._fetch_gen(db)
        return {obj.pk: obj for obj in rows}

    if not _usable(backend, qs, conn):
        found = yield from fetch(pks)
        return {pk: found[pk] for pk in pks if pk in found}
    signing.signing_key()
    try:
        sql, params = SQLCompiler(qs.query, conn).as_sql()
    except EmptyResultSet:
        return {}
    state = yield from _versions_gen(backend, model, sql, conn)
    if state is None:
        found = yield from fetch(pks)
        return {pk: found[pk] for pk in pks if pk in found}
    tables, versions = state
    keys = {pk: entry_key("pk", model, db, tables, versions, sql, [*params, pk]) for pk in pks}
    payloads = yield from guard.call_gen(backend, "get_many", list(keys.values()))
    if payloads is guard.FAILED:
        payloads = {}
    found, missing = {}, []
    for pk, key in keys.items():
        value = signing.loads(payloads[key], key) if key in payloads else signing.MISS
        if value is signing.MISS:
            missing.append(pk)
        else:
            found[pk] = value
    if missing:
        fetched = yield from fetch(missing)
        found.update(fetched)
        entries = {}
        for pk in missing:
            if pk in fetched:
                data = _dumps(fetched[pk], keys[pk], model)
                if data is not None:
                    entries[keys[pk]] = data
        if entries:
            yield from guard.call_gen(backend, "set_many", entries, opts.timeout, tables)
    return {pk: found[pk] for pk in pks if pk in found}


def cache_get_gen(qs, pk, opts: CacheOptions):
    """``Manager.cache_get(pk=)``: the object, or ``Model.DoesNotExist``."""
    found = yield from pk_many_gen(qs, [pk], opts, "cache_get()")
    if not found:
        model = qs.model
        raise model.DoesNotExist(f"{model.__name__} matching query does not exist. (pk={pk!r})")
    return next(iter(found.values()))
