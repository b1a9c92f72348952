"""Async-only models: the sync ORM API refuses to run (spec features-4.0 §20;
docs/contrib.md).

Public API::

    AsyncModel            # abstract base model: class Event(AsyncModel): ...
    AsyncOnlyManager      # its default manager (use it, or a subclass, for custom managers)
    AsyncOnlyQuerySet     # what the manager returns
    AsyncOnlyError(RuntimeError)

Contract:

* Every synchronous entry point that would touch the database raises ``AsyncOnlyError``
  naming the async twin to use: instance ``save``/``delete``/``refresh_from_db``/
  ``validate_unique``/``full_clean`` (``full_clean(validate_unique=False)`` stays
  allowed: it does not query); every manager and queryset method that has an
  ``a``-prefixed twin (``get``→``aget``, ``count``→``acount``, ``iterator``→``aiterator``,
  ``bulk_create``→``abulk_create`` ...); evaluating a queryset synchronously
  (``for``, ``list()``, ``len()``, ``bool()``, ``qs[0]``, pickling); related managers
  of relations *to* the model (``author.events.add(...)``→``aadd``).
* Internal sync reads of the model's table (a lazy relation load, a prefetch, a
  cascade collected by a sync ``delete()`` of another model, a sync ``refresh``) raise
  ``AsyncOnlyError`` too: the model's base manager is async-only, and its querysets
  check which driver runs them.
* Chainable methods (``filter``, ``order_by``, ``values`` ...) build querysets as
  usual; awaiting them, ``async for``, and every ``a*`` method work unchanged. A
  queryset already evaluated with ``await`` can be read synchronously (no query).
* A custom manager on an ``AsyncModel`` must subclass ``AsyncOnlyManager``; sync methods
  it defines that have an ``a``-prefixed async twin are blocked automatically.
"""
from __future__ import annotations

import functools
import inspect

from dorm.models import Model
from dorm.models.manager import Manager
from dorm.models.queryset import QuerySet

__all__ = ["AsyncModel", "AsyncOnlyError", "AsyncOnlyManager", "AsyncOnlyQuerySet"]


class AsyncOnlyError(RuntimeError):
    """A synchronous ORM call on an async-only model; the message names the async twin."""


#: lazy methods that have an evaluating ``a``-twin (``values`` → ``avalues``)
_CHAINABLE = frozenset({"values", "values_list"})


def _is_async(fn) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


def _sync_with_twin(namespace: dict, lookup) -> dict[str, str]:
    """``{name: twin}`` for the public sync functions in ``namespace`` whose
    ``"a" + name`` (found with ``lookup``) is async."""
    out = {}
    for name, fn in namespace.items():
        if name.startswith("_") or name in _CHAINABLE or not inspect.isfunction(fn) or _is_async(fn):
            continue
        twin = lookup("a" + name)
        if twin is not None and _is_async(twin):
            out[name] = "a" + name
    return out


def _blocked(name: str, twin: str, kind: str, agen: bool = False):
    """A method that raises ``AsyncOnlyError`` naming ``twin``; ``kind`` is ``"qs"``
    (manager/queryset methods) or ``"obj"`` (instance methods); ``agen``: the twin is
    an async generator (``aiterator``)."""
    def method(self, *args, **kwargs):
        if kind == "obj":
            model = type(self).__name__
            what, target = f"{model}.{name}()", "obj"
        else:
            model = self.model.__name__
            what, target = f"{name}()", f"{model}.objects"
            instance = getattr(self, "instance", None)
            if instance is not None and getattr(self, "name", None):   # a related manager
                target = f"{type(instance).__name__.lower()}.{self.name}"
        call = (f"`async for item in {target}.{twin}(...)`" if agen
                else f"`await {target}.{twin}(...)`")
        raise AsyncOnlyError(
            f"{what} is synchronous, but {model} is an async-only model: use {call} instead")
    method.__name__ = name
    method.__qualname__ = name
    method.__doc__ = f"Blocked on async-only models: use ``{twin}()``."
    return method


def _block_twins(cls, namespace: dict, kind: str) -> None:
    """Replace the sync functions of ``namespace`` that have an async twin on ``cls``."""
    for name, twin in _sync_with_twin(namespace, lambda n: getattr(cls, n, None)).items():
        agen = inspect.isasyncgenfunction(getattr(cls, twin))
        setattr(cls, name, _blocked(name, twin, kind, agen))


def _driver_guard(method):
    """Wrap a sans-IO ``_*_gen`` method so the sync driver (``run_sync``) is refused."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return _guard(method(self, *args, **kwargs), self.model)
    return wrapper


def _guard(gen, model):
    from dorm.db import connections

    try:
        req = next(gen)
    except StopIteration as stop:
        return stop.value
    while True:
        try:
            result = yield req
        except BaseException as exc:  # noqa: BLE001 - thrown back into the operation
            try:
                req = gen.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        if req[0] == "connection" and result is connections.existing(req[1]):
            gen.close()
            name = model.__name__
            raise AsyncOnlyError(
                f"synchronous database access to the async-only model {name} (a lazy relation "
                f"load, prefetch, cascade or refresh run from sync code): use the async API "
                f"(`await obj.aget_related(...)`, `await qs`, `await obj.adelete()`)")
        try:
            req = gen.send(result)
        except StopIteration as stop:
            return stop.value


class AsyncOnlyQuerySet(QuerySet):
    """A QuerySet whose synchronous terminal methods raise ``AsyncOnlyError``.
    Subclasses get their own sync methods with an ``a``-twin blocked too."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _block_twins(cls, dict(cls.__dict__), "qs")

    def _fetch_all(self):
        if self._result_cache is None:
            model = self.model.__name__
            raise AsyncOnlyError(
                f"evaluating a queryset of {model} synchronously (for, list(), len(), bool(), "
                f"indexing) is not allowed: {model} is an async-only model; use `await qs`, "
                f"`async for obj in qs`, `await qs.acount()` or `await qs.aexists()`")

    def raw(self, raw_query, params=(), translations=None):
        raise AsyncOnlyError(f"{self.model.__name__} is an async-only model: use "
                             f"`await {self.model.__name__}.objects.araw(...)`")

    def __repr__(self):
        if self._result_cache is not None:
            return super().__repr__()
        return f"<{type(self).__name__} of {self.model.__name__}: not evaluated (await it)>"


_block_twins(AsyncOnlyQuerySet, {n: getattr(QuerySet, n) for n in dir(QuerySet)}, "qs")
for _name in dir(QuerySet):
    _fn = getattr(QuerySet, _name)
    if _name.startswith("_") and _name.endswith("_gen") and inspect.isgeneratorfunction(_fn):
        setattr(AsyncOnlyQuerySet, _name, _driver_guard(_fn))


class AsyncOnlyManager(Manager):
    """Manager of async-only models: returns ``AsyncOnlyQuerySet`` and blocks its own
    sync methods that have an ``a``-prefixed twin (in subclasses too: related managers
    of relations to the model, ``from_queryset`` managers, user managers)."""

    _queryset_class = AsyncOnlyQuerySet

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not issubclass(cls._queryset_class, AsyncOnlyQuerySet):
            raise TypeError(
                f"{cls.__name__}: the queryset class of an AsyncOnlyManager must subclass "
                f"AsyncOnlyQuerySet, got {cls._queryset_class.__name__}")
        _block_twins(cls, dict(cls.__dict__), "qs")

    def contribute_to_class(self, cls, name):
        super().contribute_to_class(cls, name)
        opts = cls._meta
        # internal reads (lazy loads, refresh, cascades) use the base manager: make it
        # async-only too, with no default filter (like the plain Manager it replaces)
        if not opts.abstract and not opts.base_manager_name and "_base_manager" not in opts.__dict__:
            base = AsyncOnlyManager()
            base.model, base.name = cls, "_base_manager"
            opts.__dict__["_base_manager"] = base


_block_twins(AsyncOnlyManager,
             {n: getattr(Manager, n) for n in dir(Manager) if n not in AsyncOnlyManager.__dict__},
             "qs")


class AsyncModel(Model):
    """Abstract base of async-only models (see the module docstring)."""

    objects = AsyncOnlyManager()

    class Meta:
        abstract = True

    def full_clean(self, exclude=None, validate_unique=True):
        if validate_unique:
            raise AsyncOnlyError(
                f"{type(self).__name__}.full_clean() checks uniqueness with a query, but "
                f"{type(self).__name__} is an async-only model: use `await obj.afull_clean()` "
                "(or full_clean(validate_unique=False))")
        return super().full_clean(exclude, validate_unique=False)


_block_twins(AsyncModel,
             {n: getattr(Model, n) for n in dir(Model) if n not in AsyncModel.__dict__}, "obj")
del _name, _fn
