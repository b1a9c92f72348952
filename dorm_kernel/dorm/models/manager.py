"""Managers: the ``Model.objects`` entry point to QuerySets."""
from __future__ import annotations

import inspect

from .queryset import QuerySet
from .sansio import run_async, run_sync

# Spec core.md §6: managers proxy every QuerySet method except these.
_NOT_PROXIED = {"union", "intersection", "difference", "reverse", "lookup", "cache", "as_manager"}


class BaseManager:
    _creation_counter = 0
    _queryset_class = QuerySet

    def __init__(self):
        self.model = None
        self.name = None
        self._db = None
        self._hints = {}
        self.creation_counter = BaseManager._creation_counter
        BaseManager._creation_counter += 1

    def contribute_to_class(self, cls, name):
        self.name = self.name or name
        self.model = cls
        setattr(cls, name, ManagerDescriptor(self))

    def get_queryset(self):
        return self._queryset_class(model=self.model, using=self._db, hints=self._hints)

    def all(self):
        return self.get_queryset()

    def db_manager(self, using=None, hints=None):
        import copy

        obj = copy.copy(self)
        obj._db = using or self._db
        obj._hints = hints or self._hints
        return obj

    @property
    def db(self):
        return self.get_queryset().db

    # ---- result cache (Manager-only; spec core.md §6, §15; docs/cache.md) ---------------------
    def cached(self, timeout=None, *, using="default"):
        """``get_queryset().cache(timeout, using=using)`` (4.2+)."""
        return self.get_queryset().cache(timeout, using=using)

    def _cache_gen(self, method, pk_or_pks, timeout, using):
        from dorm.cache import query

        opts = query.make_options(self.model, timeout, using, method)
        if method.endswith("cache_get"):
            return query.cache_get_gen(self.get_queryset(), pk_or_pks, opts)
        if isinstance(pk_or_pks, (str, bytes)) or not hasattr(pk_or_pks, "__iter__"):
            raise TypeError(f"{self.model.__name__}.{method}(pks=...) takes an iterable of "
                            f"primary keys, got {pk_or_pks!r}")
        return query.pk_many_gen(self.get_queryset(), list(pk_or_pks), opts, f"{method}()")

    def cache_get(self, *, pk, timeout=None, using="default"):
        """The object with primary key ``pk``, from the result cache ``using`` when there
        (else one query, then cached). ``Model.DoesNotExist`` when there is none."""
        return run_sync(self._cache_gen("cache_get", pk, timeout, using))

    def cache_get_many(self, *, pks, timeout=None, using="default"):
        """``{pk: obj}`` for the ``pks`` that exist (missing ones left out), with one
        query for those not in the cache."""
        return run_sync(self._cache_gen("cache_get_many", pks, timeout, using))

    async def acache_get(self, *, pk, timeout=None, using="default"):
        return await run_async(self._cache_gen("acache_get", pk, timeout, using))

    async def acache_get_many(self, *, pks, timeout=None, using="default"):
        return await run_async(self._cache_gen("acache_get_many", pks, timeout, using))

    def check(self):
        return []

    @classmethod
    def from_queryset(cls, queryset_class, class_name=None):
        if not (isinstance(queryset_class, type) and issubclass(queryset_class, QuerySet)):
            raise TypeError("from_queryset() needs a QuerySet subclass")
        name = class_name or f"{cls.__name__}From{queryset_class.__name__}"
        attrs = {"_queryset_class": queryset_class}
        attrs.update(cls._proxy_methods(queryset_class))
        return type(name, (cls,), attrs)

    @classmethod
    def _proxy_methods(cls, queryset_class):
        methods = {}
        for name, method in inspect.getmembers(queryset_class, predicate=inspect.isfunction):
            if name.startswith("_") or name in _NOT_PROXIED or hasattr(cls, name):
                continue
            methods[name] = _make_proxy(name, method)
        return methods

    def __class_getitem__(cls, item):
        return cls

    def __repr__(self):
        model = self.model.__name__ if self.model else "?"
        return f"<{type(self).__name__} {model}.{self.name}>"


def _make_proxy(name, method):
    if inspect.iscoroutinefunction(method):
        async def aproxy(self, *args, **kwargs):
            return await getattr(self.get_queryset(), name)(*args, **kwargs)
        aproxy.__name__ = name
        aproxy.__doc__ = method.__doc__
        return aproxy

    def proxy(self, *args, **kwargs):
        return getattr(self.get_queryset(), name)(*args, **kwargs)
    proxy.__name__ = name
    proxy.__doc__ = method.__doc__
    return proxy


class Manager(BaseManager.from_queryset(QuerySet)):
    """The default manager. Subclass and override ``get_queryset()`` for custom ones."""

    def raw(self, raw_query, params=(), translations=None, using=None):
        from .raw import RawQuerySet

        return RawQuerySet(raw_query, self.model, params, translations, using=using or self._db)

    async def araw(self, raw_query, params=(), translations=None, using=None):
        return await self.raw(raw_query, params, translations, using).alist()


class ManagerDescriptor:
    def __init__(self, manager):
        self.manager = manager

    def __get__(self, instance, owner=None):
        if instance is not None:
            raise AttributeError(
                f"Manager isn't accessible via {owner.__name__} instances "
                f"(use {owner.__name__}.{self.manager.name})")
        return self.manager
