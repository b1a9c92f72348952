"""``dorm.contrib.tenants_row``: row-level multi-tenancy.

A ``TenantModel`` has a tenant column (``tenant_id`` by default). Inside
``current_tenant("acme")``:

* every read of ``Model.objects`` (and of related managers, ``select_related`` /
  ``prefetch_related``, forward relation loads ``book.author``, ``refresh_from_db``)
  is filtered on the active tenant;
* ``create``/``save``/``asave``/``bulk_create``/``abulk_create`` fill the column;
* ``update()``/``delete()`` only touch the active tenant's rows;
* writing another tenant's row (changing the tenant column, saving or deleting an
  instance of another tenant, ``bulk_create``/``bulk_update`` with a foreign
  tenant) raises ``TenantMismatchError``.

Outside any ``current_tenant`` block every read and write raises
``NoActiveTenantError``: never a silent "all tenants". ``Model.unscoped`` is the
explicit escape hatch (a plain manager).
"""
from __future__ import annotations

import uuid

from dorm.exceptions import ImproperlyConfigured, NotSupportedError
from dorm.models import Manager, Model, QuerySet, peek_state
from dorm.models.iterables import ModelIterable

from .context import (
    NoActiveTenantError,
    TenantMismatchError,
    check_tenant_id,
    current_tenant,
    get_active_tenant,
    require_active_tenant,
)

__all__ = [
    "AsyncOnlyError",
    "NoActiveTenantError",
    "TenantManager",
    "TenantMismatchError",
    "TenantModel",
    "TenantQuerySet",
    "current_tenant",
    "get_active_tenant",
    "make_async_tenant_manager",
    "tenant_field_of",
]

#: key in an instance ``__dict__``: ``(tenant value, pk)`` the row was read or written
#: with through a scoped path (so later writes need no extra check query)
ORIGIN = "_tenant_origin"

_CHAR = {"CharField", "TextField", "SlugField", "EmailField", "CITextField"}
_INT = {"IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
        "PositiveBigIntegerField", "PositiveSmallIntegerField", "AutoField", "BigAutoField",
        "SmallAutoField"}


try:  # the kernel's async-only error, when it ships one
    from dorm.contrib.asyncmodel import AsyncOnlyError  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the kernel version
    class AsyncOnlyError(RuntimeError):
        """A synchronous ORM call on an async-only manager."""


# ---- the tenant column ---------------------------------------------------------------------
def _internal_type(field):
    t = field.get_internal_type()
    if t in ("ForeignKey", "OneToOneField"):
        return _internal_type(field.target_field)
    return t


def tenant_field_of(model):
    """The tenant field of a tenant-scoped model (``Meta.tenant_field``, else the
    manager's ``tenant_field``, else ``tenant_id``)."""
    opts = model._meta
    name = getattr(opts, "tenant_field", None)
    if not name:
        mgr = opts.default_manager
        name = getattr(mgr, "tenant_field", None) or "tenant_id"
    try:
        return opts.get_field(name)
    except Exception:  # noqa: BLE001 - re-raised with the fix
        raise ImproperlyConfigured(
            f"{model.__name__} is tenant-scoped but has no field {name!r} (Meta.tenant_field / "
            "TenantManager.tenant_field): declare it, or subclass TenantModel with the dorm-tenancy "
            "plugin enabled so it is added") from None


def tenant_value(model, tenant):
    """``tenant`` checked against ``model``'s tenant column: a ``CharField`` column
    takes ``str`` ids only (no silent ``5`` -> ``"5"``), an integer column ``int``
    ids, a UUID column ``UUID`` or its text."""
    field = tenant_field_of(model)
    t = _internal_type(field)
    where = f"{model.__name__}.{field.name} ({t})"
    if t in _CHAR:
        if not isinstance(tenant, str):
            raise TypeError(
                f"tenant id {tenant!r} ({type(tenant).__name__}) does not fit {where}: use a str "
                "tenant id")
        max_length = getattr(field, "max_length", None)
        if max_length and len(tenant) > max_length:
            raise ValueError(f"tenant id {tenant!r} is longer than {where} max_length={max_length}")
        return tenant
    if t in _INT:
        if isinstance(tenant, bool) or not isinstance(tenant, int):
            raise TypeError(
                f"tenant id {tenant!r} ({type(tenant).__name__}) does not fit {where}: use an int "
                "tenant id")
        return tenant
    if t == "UUIDField":
        try:
            return tenant if isinstance(tenant, uuid.UUID) else uuid.UUID(str(tenant))
        except ValueError:
            raise ValueError(f"tenant id {tenant!r} is not a UUID ({where})") from None
    return field.to_python(tenant)


def _active_value(model, what):
    tenant = require_active_tenant(f"{model.__name__}: {what}")
    return tenant, tenant_value(model, tenant)


def _is_tenant_model(model) -> bool:
    return bool(getattr(model._meta, "tenant_scoped", False))


# ---- QuerySet -----------------------------------------------------------------------------------
class TenantQuerySet(QuerySet):
    """A QuerySet bound to the tenant active when it was created, filtered on it.

    Every statement it runs first checks that this tenant is still the active one
    (``NoActiveTenantError`` outside any tenant, ``TenantMismatchError`` under
    another), so a QuerySet built for one tenant cannot be run for another.
    """

    _tenant = None          # the raw active tenant id the QuerySet was built under
    _tenant_value = None    # the same, checked against the tenant column

    def __init__(self, model=None, query=None, using=None, hints=None):
        super().__init__(model, query, using, hints)
        if model is not None and query is None:
            tenant, value = _active_value(model, "QuerySet")
            field = tenant_field_of(model)
            self._tenant, self._tenant_value = tenant, value
            self.query.add_filter(field.attname, value)

    # -- the guard -----------------------------------------------------------------------
    def _check_tenant(self, what="query"):
        active = get_active_tenant()
        name = self.model.__name__
        if active is None:
            raise NoActiveTenantError(
                f"{name}: running a {what} needs an active tenant (this QuerySet was built for "
                f"{self._tenant!r}); wrap it in `with current_tenant(...)`")
        if active != self._tenant:
            raise TenantMismatchError(
                f"{name}: this QuerySet was built for tenant {self._tenant!r} but runs under "
                f"tenant {active!r}; build it inside the block that uses it")
        return self._tenant_value

    def _stamp(self, objs, value):
        for obj in objs:
            d = obj.__dict__
            d[ORIGIN] = (value, d.get(self.model._meta.pk.attname))
        if self.query.select_related and objs:
            _check_joined(objs, value)

    # -- reads -----------------------------------------------------------------------------
    def _fetch_gen(self, db=None):
        value = self._check_tenant()
        result = yield from super()._fetch_gen(db)
        if self._iterable_class is ModelIterable:
            self._stamp(result, value)
        return result

    def _count_gen(self):
        self._check_tenant("count()")
        return (yield from super()._count_gen())

    def _exists_gen(self):
        self._check_tenant("exists()")
        return (yield from super()._exists_gen())

    def _aggregate_gen(self, *args, **kwargs):
        self._check_tenant("aggregate()")
        return (yield from super()._aggregate_gen(*args, **kwargs))

    def _explain_gen(self, **options):
        self._check_tenant("explain()")
        return (yield from super()._explain_gen(**options))

    def iterator(self, chunk_size=None):
        value = self._check_tenant("iterator()")
        for obj in super().iterator(chunk_size):
            if self._iterable_class is ModelIterable:
                self._stamp((obj,), value)
            yield obj

    async def aiterator(self, chunk_size=None):
        value = self._check_tenant("aiterator()")
        async for obj in super().aiterator(chunk_size):
            if self._iterable_class is ModelIterable:
                self._stamp((obj,), value)
            yield obj

    def raw(self, raw_query, params=(), translations=None):
        raise NotSupportedError(_RAW_MESSAGE.format(name=self.model.__name__))

    # -- writes -----------------------------------------------------------------------------
    def _create_gen(self, **kwargs):
        value = self._check_tenant("create()")
        field = tenant_field_of(self.model)
        for key in (field.name, field.attname):
            if key in kwargs and kwargs[key] not in (None, ""):
                given = kwargs[key]
                given = getattr(given, "pk", given) if hasattr(given, "_meta") else given
                if given != value:
                    raise TenantMismatchError(
                        f"{self.model.__name__}.create({key}={given!r}) under tenant {self._tenant!r}")
        if field.name not in kwargs and field.attname not in kwargs:
            kwargs[field.attname] = value
        return (yield from super()._create_gen(**kwargs))

    def _update_gen(self, **kwargs):
        value = self._check_tenant("update()")
        field = tenant_field_of(self.model)
        for key in (field.name, field.attname):
            if key in kwargs:
                given = kwargs[key]
                given = getattr(given, "pk", given) if hasattr(given, "_meta") else given
                if given != value:
                    raise TenantMismatchError(
                        f"{self.model.__name__}.update({key}={given!r}) would move rows of tenant "
                        f"{self._tenant!r} to another tenant; do that on purpose with "
                        f"{self.model.__name__}.unscoped")
        return (yield from super()._update_gen(**kwargs))

    def _delete_gen(self):
        self._check_tenant("delete()")
        return (yield from super()._delete_gen())

    def _bulk_create_gen(self, objs, *args, **kwargs):
        value = self._check_tenant("bulk_create()")
        objs = list(objs)
        field = tenant_field_of(self.model)
        for obj in objs:
            if isinstance(obj, self.model):
                _fill_or_check(obj, field, value, self._tenant, "bulk_create()")
                _check_related(obj, value)
        result = yield from super()._bulk_create_gen(objs, *args, **kwargs)
        pk = self.model._meta.pk.attname
        for obj in objs:
            obj.__dict__[ORIGIN] = (value, obj.__dict__.get(pk))
        return result

    def _bulk_update_gen(self, objs, fields, batch_size=None):
        value = self._check_tenant("bulk_update()")
        objs = list(objs)
        field = tenant_field_of(self.model)
        unverified = []
        pk = self.model._meta.pk.attname
        for obj in objs:
            current = obj.__dict__.get(field.attname)
            if current != value:
                raise TenantMismatchError(
                    f"{self.model.__name__}.bulk_update(): {obj!r} has {field.name}={current!r}, "
                    f"not the active tenant {self._tenant!r}")
            origin = obj.__dict__.get(ORIGIN)
            if origin is not None and origin[0] != value:
                raise TenantMismatchError(
                    f"{self.model.__name__}.bulk_update(): {obj!r} was read under tenant "
                    f"{origin[0]!r}; rows do not move between tenants")
            if origin != (value, obj.__dict__.get(pk)) and obj.pk is not None:
                unverified.append(obj.pk)
        if unverified:
            # the kernel's bulk UPDATE matches on pk only: prove the rows are ours first
            found = yield from self.filter(pk__in=unverified)._count_gen()
            if found != len(set(unverified)):
                raise TenantMismatchError(
                    f"{self.model.__name__}.bulk_update(): some rows are not rows of tenant "
                    f"{self._tenant!r}")
        return (yield from super()._bulk_update_gen(objs, fields, batch_size))


_RAW_MESSAGE = (
    "{name}.objects.raw() cannot apply the tenant filter to hand-written SQL; use "
    "{name}.unscoped.raw(...) and filter on the tenant column in the SQL yourself "
    "(get_active_tenant() gives the id)")


def _fill_or_check(obj, field, value, tenant, what):
    d = obj.__dict__
    current = d.get(field.attname)
    if current is None or current == "":
        d[field.attname] = value
        return
    if current != value:
        raise TenantMismatchError(
            f"{type(obj).__name__}.{what}: {field.name}={current!r} but the active tenant is "
            f"{tenant!r}; a row is only written inside its own tenant")


def _check_related(obj, value):
    """Refuse a reference to a related tenant row of another tenant (only for related
    objects already in memory: no query)."""
    state = peek_state(obj)
    if state is None or not state.fields_cache:
        return
    for name, rel in state.fields_cache.items():
        if rel is None or not hasattr(rel, "_meta") or not _is_tenant_model(type(rel)):
            continue
        try:
            rvalue = tenant_value(type(rel), get_active_tenant())
        except (TypeError, ValueError):
            rvalue = value
        other = rel.__dict__.get(tenant_field_of(type(rel)).attname)
        if other not in (None, "") and other != rvalue:
            raise TenantMismatchError(
                f"{type(obj).__name__}.{name} refers to {type(rel).__name__} {rel.pk!r} of tenant "
                f"{other!r}, not the active tenant")


def _check_joined(objs, value):
    """``select_related`` rows of tenant models must belong to the active tenant (a
    reference across tenants is refused loudly rather than shown)."""
    tenant = get_active_tenant()
    stack = list(objs)
    seen = {id(o) for o in stack}
    while stack:
        obj = stack.pop()
        state = peek_state(obj)
        if state is None:
            continue
        for name, rel in list(state.fields_cache.items()):
            if rel is None or not hasattr(rel, "_meta") or id(rel) in seen:
                continue
            seen.add(id(rel))
            model = type(rel)
            if _is_tenant_model(model):
                rvalue = tenant_value(model, tenant)
                other = rel.__dict__.get(tenant_field_of(model).attname)
                if other != rvalue:
                    raise TenantMismatchError(
                        f"{type(obj).__name__} {obj.pk!r}.{name} refers to {model.__name__} "
                        f"{rel.pk!r} of another tenant")
                rel.__dict__[ORIGIN] = (rvalue, rel.pk)
            stack.append(rel)


# ---- managers -----------------------------------------------------------------------------------
class TenantManager(Manager.from_queryset(TenantQuerySet)):
    """The scoped manager: ``get_queryset()`` filters on the active tenant and raises
    ``NoActiveTenantError`` without one. ``tenant_field`` names the tenant column
    (``Meta.tenant_field`` on the model wins)."""

    tenant_field = "tenant_id"

    def raw(self, raw_query, params=(), translations=None, using=None):
        raise NotSupportedError(_RAW_MESSAGE.format(name=self.model.__name__))

    async def araw(self, raw_query, params=(), translations=None, using=None):
        raise NotSupportedError(_RAW_MESSAGE.format(name=self.model.__name__))


_SYNC_TERMINALS = (
    "get", "get_or_none", "count", "exists", "first", "last", "earliest", "latest", "aggregate",
    "in_bulk", "explain", "create", "get_or_create", "update_or_create", "update", "delete",
    "bulk_create", "bulk_update", "iterator", "contains",
)


def make_async_tenant_manager(tenant_field="tenant_id"):
    """A ``TenantManager`` class whose QuerySets only run through the ``a*`` methods,
    ``await qs`` and ``async for``: every synchronous terminal call (``get()``,
    ``count()``, ``list(qs)``, ...) raises ``AsyncOnlyError``."""

    def refuse(name):
        def method(self, *args, **kwargs):
            raise AsyncOnlyError(
                f"{self.model.__name__}: {name}() is synchronous; this manager is async-only "
                f"(use a{name}(), `await qs` or `async for`)")
        method.__name__ = name
        return method

    attrs = {name: refuse(name) for name in _SYNC_TERMINALS}

    def _fetch_all(self):
        raise AsyncOnlyError(
            f"{self.model.__name__}: iterating a QuerySet synchronously; this manager is async-only "
            "(use `await qs`, `async for` or `await qs.alist()`)")

    attrs["_fetch_all"] = _fetch_all
    qs_class = type("AsyncTenantQuerySet", (TenantQuerySet,), attrs)
    manager = type("AsyncTenantManager", (TenantManager.from_queryset(qs_class),),
                   {"tenant_field": tenant_field, "__module__": __name__})
    return manager


# ---- the model --------------------------------------------------------------------------------
class TenantModel(Model):
    """Abstract base of tenant-scoped models: adds ``tenant_id =
    CharField(max_length=64, db_index=True)`` unless the model declares its tenant
    field itself (``Meta.tenant_field`` names another one), ``objects =
    TenantManager()`` and ``unscoped = Manager()``."""

    objects = TenantManager()
    unscoped = Manager()

    class Meta:
        abstract = True

    def _save_gen(self, using, force_insert, force_update, update_fields):
        cls = type(self)
        tenant, value = _active_value(cls, "save()")
        field = tenant_field_of(cls)
        d = self.__dict__
        _fill_or_check(self, field, value, tenant, "save()")
        origin = d.get(ORIGIN)
        if origin is not None and origin[0] != value:
            raise TenantMismatchError(
                f"{cls.__name__} {self.pk!r} belongs to tenant {origin[0]!r}; rows do not move "
                f"between tenants (use {cls.__name__}.unscoped.filter(pk=...).update("
                f"{field.name}=...) on purpose)")
        _check_related(self, value)
        pk = self.pk
        if (not force_insert and pk is not None and not self._state.adding
                and origin != (value, pk)):
            # an instance not read through the scoped manager: prove the row is ours
            # (or new) before the kernel's UPDATE ... WHERE pk = %s runs
            yield from _verify_row_gen(self, self._write_alias(using), value, tenant, "save()")
        result = yield from super()._save_gen(using, force_insert, force_update, update_fields)
        d[ORIGIN] = (value, self.pk)
        return result

    def _delete_gen(self, using):
        cls = type(self)
        tenant, value = _active_value(cls, "delete()")
        field = tenant_field_of(cls)
        current = self.__dict__.get(field.attname)
        if current != value:
            raise TenantMismatchError(
                f"{cls.__name__} {self.pk!r} has {field.name}={current!r}; the active tenant "
                f"{tenant!r} cannot delete it")
        if self.pk is not None and self.__dict__.get(ORIGIN) != (value, self.pk):
            yield from _verify_row_gen(self, self._write_alias(using), value, tenant, "delete()")
        result = yield from super()._delete_gen(using)
        self.__dict__.pop(ORIGIN, None)
        return result


def _verify_row_gen(obj, db, value, tenant, what):
    cls = type(obj)
    mine = yield from cls._meta.base_manager().using(db).filter(pk=obj.pk)._exists_gen()
    if mine:
        return
    anywhere = yield from QuerySet(model=cls).using(db).filter(pk=obj.pk)._exists_gen()
    if anywhere:
        raise TenantMismatchError(
            f"{cls.__name__} {obj.pk!r}: {what} refused, the row with this primary key belongs "
            f"to another tenant than {tenant!r}")


# ---- model preparation (called from the plugin's dorm_model_prepared) ---------------------------
def prepare(model):
    """Make a concrete subclass of ``TenantModel`` tenant-scoped: add the tenant
    column if missing, check that the default manager is a ``TenantManager``, keep
    an ``unscoped`` manager, and route the kernel's internal reads (forward
    relations, refresh, uniqueness checks, cascades) through the scoped manager
    (``Meta.base_manager_name``)."""
    from dorm.fields import CharField

    if not (isinstance(model, type) and issubclass(model, TenantModel)):
        return
    opts = model._meta
    if opts.abstract:
        return
    default = opts.default_manager
    if not isinstance(default, TenantManager):
        raise ImproperlyConfigured(
            f"{model.__name__} is a TenantModel but its default manager {default.name!r} is a "
            f"{type(default).__name__}: it must be a TenantManager (subclass it), or reads "
            "would not be filtered by tenant")
    qs_class = getattr(default, "_queryset_class", None)
    if not (isinstance(qs_class, type) and issubclass(qs_class, TenantQuerySet)):
        raise ImproperlyConfigured(
            f"{model.__name__}.{default.name} is a TenantManager whose QuerySet class "
            f"{getattr(qs_class, '__name__', qs_class)} is not a TenantQuerySet, so its reads would "
            "not be filtered: build custom managers with TenantManager.from_queryset(<a "
            "TenantQuerySet subclass>)")
    name = getattr(opts.meta, "tenant_field", None) if opts.meta is not None else None
    name = name or getattr(opts, "tenant_field", None) or getattr(default, "tenant_field", None) \
        or "tenant_id"
    if not isinstance(name, str) or not name.isidentifier():
        raise ImproperlyConfigured(f"{model.__name__}.Meta.tenant_field must be a field name, got {name!r}")
    opts.tenant_field = name
    if not opts.proxy:
        try:
            opts.get_field(name)
        except Exception:  # noqa: BLE001 - the field is missing: add the default one
            CharField(max_length=64, db_index=True).contribute_to_class(model, name)
    field = tenant_field_of(model)
    if not field.concrete or getattr(field, "many_to_many", False):
        raise ImproperlyConfigured(f"{model.__name__}.{name} (tenant field) must be a concrete column")
    opts.tenant_scoped = True
    if not any(m.name == "unscoped" for m in opts.managers) and "unscoped" not in model.__dict__:
        mgr = Manager()
        mgr.contribute_to_class(model, "unscoped")
        opts.managers.append(mgr)
    if not opts.base_manager_name:
        opts.base_manager_name = default.name
        opts.__dict__.pop("_base_manager", None)


__all__ += ["check_tenant_id"]
