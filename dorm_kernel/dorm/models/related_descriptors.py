"""Attribute access for relations: forward FK/O2O, reverse FK/O2O, many-to-many.

Related managers write their operations once as sans-IO generators; ``add()`` and
``aadd()`` (and the rest) are the same code driven sync or async.
"""
from __future__ import annotations

from contextvars import ContextVar

from .base import _UNSET, joined_key, peek_state
from .sansio import run_async, run_sync

_MISSING = object()

#: While ``track_lazy_loads`` is true, the relation a per-instance load is fetching,
#: as ``(model, relation name, kind)`` with kind ``"forward"`` or ``"reverse_one_to_one"``;
#: set around the load's statement (``post_query`` receivers read it: ``dorm.contrib.nplusone``
#: names the relation to ``select_related``). Off (the default), a lazy load pays one
#: global read for it.
lazy_load: ContextVar = ContextVar("dorm_lazy_load", default=None)
track_lazy_loads = False


def _tagged_load(gen, tag):
    """Run the load generator ``gen`` with ``lazy_load`` set to ``tag``."""
    token = lazy_load.set(tag)
    try:
        return (yield from gen)
    finally:
        try:
            lazy_load.reset(token)
        except ValueError:  # closed from another context (garbage collection)
            pass


def _in_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class ReverseDescriptorBase:
    """Base of reverse accessors installed on target models."""


class ForeignKeyIdDescriptor:
    """``obj.author_id``: plain value; changing it drops the cached ``obj.author``."""

    def __init__(self, field):
        self.field = field
        self.attname = field.attname
        self.name = field.name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self.field
        try:
            return instance.__dict__[self.attname]
        except KeyError:
            from dorm.fields.base import _load_deferred

            return _load_deferred(instance, self.field)

    def __set__(self, instance, value):
        d = instance.__dict__
        if d.get(self.attname, _MISSING) != value:
            state = peek_state(instance)
            if state is not None:
                state.fields_cache.pop(self.name, None)
        d[self.attname] = value


class ForwardManyToOneDescriptor:
    """``book.author``: the target instance, fetched once and cached."""

    def __init__(self, field):
        self.field = field
        self.joined_key = joined_key(field.name)

    @property
    def cache_name(self):
        return self.field.name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        name = self.field.name
        d = instance.__dict__
        if "_state" not in d:  # a loaded row: read select_related's object in place
            obj = d.get(self.joined_key, _UNSET)
            if obj is not _UNSET:
                return obj
        cache = instance._state.fields_cache
        if name in cache:
            return cache[name]
        value = getattr(instance, self.field.attname)
        if value is None:
            return None
        if _in_event_loop():
            from dorm.exceptions import NotSupportedError

            raise NotSupportedError(
                f"{type(instance).__name__}.{name} is not loaded and lazy loading would block the "
                f"event loop: use select_related({name!r}), prefetch_related({name!r}) or "
                f"`await obj.aget_related({name!r})`")
        obj = run_sync(self.fetch_gen(instance))
        cache[name] = obj
        return obj

    def fetch_gen(self, instance):
        field = self.field
        target = field.target_field
        value = instance.__dict__.get(field.attname)
        if value is None:
            return None
        qs = field.related_model._meta.base_manager().using(instance._state.db or None)
        if track_lazy_loads:
            return (yield from _tagged_load(qs._get_gen(**{target.attname: value}),
                                            (type(instance), field.name, "forward")))
        obj = yield from qs._get_gen(**{target.attname: value})
        return obj

    def __set__(self, instance, value):
        field = self.field
        d = instance.__dict__
        if value is None:
            d[field.attname] = None
            instance._state.fields_cache[field.name] = None
            return
        if hasattr(value, "_meta"):
            model = field.related_model
            if not isinstance(value, model) and value._meta.concrete_model is not model._meta.concrete_model:
                raise ValueError(
                    f'Cannot assign "{value!r}": "{type(instance).__name__}.{field.name}" must be a '
                    f'"{model.__name__}" instance.')
            d[field.attname] = getattr(value, field.target_field.attname)
            instance._state.fields_cache[field.name] = value
            if field.one_to_one and not field.remote_field.is_hidden():
                value._state.fields_cache[field.remote_field.get_accessor_name()] = instance
            return
        d[field.attname] = field.target_field.to_python(value)
        instance._state.fields_cache.pop(field.name, None)

    # prefetch ---------------------------------------------------------------------------
    def prefetch_gen(self, instances, lookup, db):
        from .prefetch import split_lookup

        name, rest, queryset, to_attr = split_lookup(lookup)
        field = self.field
        values = {i.__dict__.get(field.attname) for i in instances} - {None}
        target = field.target_field
        qs = queryset if queryset is not None else field.related_model._meta.base_manager().get_queryset()
        if qs._db is None:
            qs = qs.using(db)
        related = (yield from qs.filter(**{f"{target.attname}__in": list(values)})._fetch_gen()) if values else []
        by_key = {getattr(r, target.attname): r for r in related}
        for inst in instances:
            obj = by_key.get(inst.__dict__.get(field.attname))
            if to_attr:
                setattr(inst, to_attr, obj)
            else:
                inst._state.fields_cache[field.name] = obj
        if rest and related:
            from .prefetch import prefetch_related_objects_gen

            yield from prefetch_related_objects_gen(related, [rest], db)


class ReverseOneToOneDescriptor(ReverseDescriptorBase):
    """``user.profile``: the one row pointing back; missing → ``Profile.DoesNotExist``."""

    def __init__(self, rel):
        self.rel = rel

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        name = self.rel.get_accessor_name()
        cache = instance._state.fields_cache
        if name not in cache:
            if _in_event_loop():
                from dorm.exceptions import NotSupportedError

                raise NotSupportedError(
                    f"{type(instance).__name__}.{name} is not loaded; use select_related/prefetch_related "
                    f"or `await obj.aget_related({name!r})` in async code")
            cache[name] = run_sync(self.fetch_gen(instance, raise_missing=False))
        obj = cache[name]
        if obj is None:
            raise self.rel.related_model.DoesNotExist(
                f"{type(instance).__name__} has no {name}.")
        return obj

    def fetch_gen(self, instance, raise_missing=True):
        fk = self.rel.field
        value = getattr(instance, fk.target_field.attname)
        qs = self.rel.related_model._meta.base_manager().using(instance._state.db or None)
        load = qs.filter(**{fk.attname: value})[:1]._fetch_gen()
        if track_lazy_loads:
            load = _tagged_load(load, (type(instance), self.rel.get_accessor_name(),
                                       "reverse_one_to_one"))
        objs = yield from load
        if not objs:
            if raise_missing:
                raise self.rel.related_model.DoesNotExist(
                    f"{type(instance).__name__} has no {self.rel.get_accessor_name()}.")
            return None
        objs[0]._state.fields_cache[fk.name] = instance
        return objs[0]

    def __set__(self, instance, value):
        fk = self.rel.field
        if value is not None:
            setattr(value, fk.name, instance)
        instance._state.fields_cache[self.rel.get_accessor_name()] = value

    def prefetch_gen(self, instances, lookup, db):
        from .prefetch import split_lookup

        name, rest, queryset, to_attr = split_lookup(lookup)
        fk = self.rel.field
        keys = [getattr(i, fk.target_field.attname) for i in instances]
        qs = queryset if queryset is not None else self.rel.related_model._meta.base_manager().get_queryset()
        if qs._db is None:
            qs = qs.using(db)
        related = yield from qs.filter(**{f"{fk.attname}__in": keys})._fetch_gen()
        by_key = {r.__dict__[fk.attname]: r for r in related}
        for inst in instances:
            obj = by_key.get(getattr(inst, fk.target_field.attname))
            if to_attr:
                setattr(inst, to_attr, obj)
            else:
                inst._state.fields_cache[self.rel.get_accessor_name()] = obj
            if obj is not None:
                obj._state.fields_cache[fk.name] = inst
        if rest and related:
            from .prefetch import prefetch_related_objects_gen

            yield from prefetch_related_objects_gen(related, [rest], db)


class ReverseManyToOneDescriptor(ReverseDescriptorBase):
    """``author.book_set``: a manager of the rows pointing back."""

    def __init__(self, rel):
        self.rel = rel
        self._manager_class = None

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        if self._manager_class is None:
            self._manager_class = create_reverse_many_to_one_manager(self.rel)
        return self._manager_class(instance)

    def __set__(self, instance, value):
        raise TypeError(
            f"Direct assignment to the reverse side of a related set is prohibited. "
            f"Use {self.rel.get_accessor_name()}.set() instead.")

    def prefetch_gen(self, instances, lookup, db):
        from .prefetch import split_lookup

        name, rest, queryset, to_attr = split_lookup(lookup)
        fk = self.rel.field
        keys = {getattr(i, fk.target_field.attname) for i in instances} - {None}
        model = self.rel.related_model
        qs = queryset if queryset is not None else model._meta.default_manager.get_queryset()
        if qs._db is None:
            qs = qs.using(db)
        related = (yield from qs.filter(**{f"{fk.attname}__in": list(keys)})._fetch_gen()) if keys else []
        groups: dict = {}
        for r in related:
            groups.setdefault(r.__dict__[fk.attname], []).append(r)
        accessor = self.rel.get_accessor_name()
        by_pk = {getattr(i, fk.target_field.attname): i for i in instances}
        for inst in instances:
            items = groups.get(getattr(inst, fk.target_field.attname), [])
            for r in items:
                r._state.fields_cache[fk.name] = by_pk.get(r.__dict__[fk.attname])
            if to_attr:
                setattr(inst, to_attr, items)
            else:
                inst.__dict__.setdefault("_prefetched_objects_cache", {})[accessor] = items
        if rest and related:
            from .prefetch import prefetch_related_objects_gen

            yield from prefetch_related_objects_gen(related, [rest], db)


def _prefetched_queryset(manager, cache_key):
    cache = manager.instance.__dict__.get("_prefetched_objects_cache")
    if cache and cache_key in cache:
        qs = manager._base_queryset()
        qs._result_cache = list(cache[cache_key])
        return qs
    return None


def create_reverse_many_to_one_manager(rel):
    superclass = rel.related_model._meta.default_manager.__class__
    fk = rel.field

    class RelatedManager(superclass):
        def __init__(self, instance):
            super().__init__()
            self.instance = instance
            self.model = rel.related_model
            self.name = rel.get_accessor_name()
            self.field = fk
            self._db = instance._state.db

        def _key(self):
            value = getattr(self.instance, fk.target_field.attname)
            if value is None:
                raise ValueError(
                    f'"{self.instance!r}" needs to have a value for field '
                    f'"{fk.target_field.attname}" before this relationship can be used.')
            return value

        def _base_queryset(self):
            qs = super().get_queryset()
            return qs.filter(**{fk.attname: self._key()})

        def get_queryset(self):
            qs = _prefetched_queryset(self, self.name)
            if qs is not None:
                return qs
            return self._base_queryset()

        def _check(self, objs):
            for obj in objs:
                if not isinstance(obj, self.model):
                    raise TypeError(f"'{self.model.__name__}' instance expected, got {obj!r}")

        def _clear_prefetch(self):
            self.instance.__dict__.get("_prefetched_objects_cache", {}).pop(self.name, None)

        # -- writes as generators ---------------------------------------------------
        def _add_gen(self, *objs, bulk=True):
            self._check(objs)
            self._clear_prefetch()
            key = self._key()
            db = self._db or self.instance._state.db or "default"
            if bulk:
                pks = []
                for obj in objs:
                    if obj._state.adding:
                        raise ValueError(
                            f"{obj!r} instance isn't saved. Use bulk=False or save the object first.")
                    setattr(obj, fk.name, self.instance)
                    pks.append(obj.pk)
                if pks:
                    qs = self.model._meta.base_manager().using(db).filter(pk__in=pks)
                    yield from qs._update_gen(**{fk.attname: key})
            else:
                for obj in objs:
                    setattr(obj, fk.name, self.instance)
                    yield from obj._save_gen(db, False, False, None)

        def _create_gen(self, **kwargs):
            self._clear_prefetch()
            kwargs[fk.name] = self.instance
            db = self._db or self.instance._state.db
            qs = self.model._meta.base_manager().get_queryset()
            if db:
                qs = qs.using(db)
            obj = yield from qs._create_gen(**kwargs)
            return obj

        def _remove_gen(self, *objs, bulk=True):
            if not fk.null:
                raise ValueError(
                    f"{self.name}.remove() is not possible: {fk.model.__name__}.{fk.name} is not "
                    "nullable (delete the objects instead)")
            self._check(objs)
            self._clear_prefetch()
            key = self._key()
            pks = []
            for obj in objs:
                if obj.__dict__.get(fk.attname) != key:
                    raise fk.model.DoesNotExist(f"{obj!r} is not related to {self.instance!r}.")
                pks.append(obj.pk)
                obj.__dict__[fk.attname] = None
                obj._state.fields_cache.pop(fk.name, None)
            if pks:
                yield from self._base_queryset().filter(pk__in=pks)._update_gen(**{fk.attname: None})

        def _clear_gen(self, bulk=True):
            if not fk.null:
                raise ValueError(
                    f"{self.name}.clear() is not possible: {fk.model.__name__}.{fk.name} is not nullable")
            self._clear_prefetch()
            yield from self._base_queryset()._update_gen(**{fk.attname: None})

        def _set_gen(self, objs, bulk=True, clear=False):
            objs = list(objs)
            if clear or not fk.null:
                if clear:
                    yield from self._clear_gen(bulk=bulk)
                    yield from self._add_gen(*objs, bulk=bulk)
                    return
            current = yield from self._base_queryset()._fetch_gen()
            current_pks = {o.pk for o in current}
            new_pks = {o.pk for o in objs}
            stale = [o for o in current if o.pk not in new_pks]
            if stale:
                yield from self._remove_gen(*stale, bulk=bulk)
            fresh = [o for o in objs if o.pk not in current_pks]
            if fresh:
                yield from self._add_gen(*fresh, bulk=bulk)

        def add(self, *objs, bulk=True):
            return run_sync(self._add_gen(*objs, bulk=bulk))

        async def aadd(self, *objs, bulk=True):
            return await run_async(self._add_gen(*objs, bulk=bulk))

        def create(self, **kwargs):
            return run_sync(self._create_gen(**kwargs))

        async def acreate(self, **kwargs):
            return await run_async(self._create_gen(**kwargs))

        def get_or_create(self, defaults=None, **kwargs):
            kwargs[fk.name] = self.instance
            return self._base_queryset().get_or_create(defaults, **kwargs)

        async def aget_or_create(self, defaults=None, **kwargs):
            kwargs[fk.name] = self.instance
            return await self._base_queryset().aget_or_create(defaults, **kwargs)

        def update_or_create(self, defaults=None, **kwargs):
            kwargs[fk.name] = self.instance
            return self._base_queryset().update_or_create(defaults, **kwargs)

        async def aupdate_or_create(self, defaults=None, **kwargs):
            kwargs[fk.name] = self.instance
            return await self._base_queryset().aupdate_or_create(defaults, **kwargs)

        def remove(self, *objs, bulk=True):
            return run_sync(self._remove_gen(*objs, bulk=bulk))

        async def aremove(self, *objs, bulk=True):
            return await run_async(self._remove_gen(*objs, bulk=bulk))

        def clear(self, bulk=True):
            return run_sync(self._clear_gen(bulk=bulk))

        async def aclear(self, bulk=True):
            return await run_async(self._clear_gen(bulk=bulk))

        def set(self, objs, *, bulk=True, clear=False):
            return run_sync(self._set_gen(objs, bulk=bulk, clear=clear))

        async def aset(self, objs, *, bulk=True, clear=False):
            return await run_async(self._set_gen(objs, bulk=bulk, clear=clear))

        def __iter__(self):
            return iter(self.get_queryset())

        def __aiter__(self):
            return self.get_queryset().__aiter__()

    return RelatedManager


class ManyToManyDescriptor(ReverseDescriptorBase):
    """``article.tags`` / ``tag.article_set``: a many-to-many manager."""

    def __init__(self, field, reverse):
        self.field = field
        self.reverse = reverse
        self._manager_class = None

    @property
    def rel(self):
        return self.field.remote_field

    @property
    def through(self):
        """The junction model (``Book.tags.through``)."""
        return self.field.remote_field.through

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        if self._manager_class is None:
            self._manager_class = create_many_related_manager(self.field, self.reverse)
        return self._manager_class(instance)

    def __set__(self, instance, value):
        raise TypeError(
            f"Direct assignment to the {'reverse' if self.reverse else 'forward'} side of a "
            f"many-to-many set is prohibited. Use {self._accessor()}.set() instead.")

    def _accessor(self):
        return self.rel.get_accessor_name() if self.reverse else self.field.name

    def prefetch_gen(self, instances, lookup, db):
        from .prefetch import split_lookup

        name, rest, queryset, to_attr = split_lookup(lookup)
        from dorm.expressions import Col
        from dorm.lookups import In
        from dorm.query.query import Join

        src_fk, tgt_fk = self.field.m2m_fields()
        if self.reverse:
            src_fk, tgt_fk = tgt_fk, src_fk
        through = self.field.remote_field.through
        keys = [i.pk for i in instances]
        target_model = tgt_fk.related_model
        qs = queryset if queryset is not None else target_model._meta.default_manager.get_queryset()
        qs = qs.all() if qs._db is not None else qs.using(db)
        # one query: targets joined to the junction rows, tagged with the source key
        q = qs.query
        alias = q.join(Join(through._meta.db_table, q.get_initial_alias(), None, Join.INNER,
                            ((tgt_fk.target_field.column, tgt_fk.column),), False, tgt_fk), reuse=False)
        src_col = Col(alias, src_fk)
        q.where = q.where.add(In(src_col, keys))
        q.annotations["_prefetch_related_val"] = src_col
        if q.annotation_select_mask is not None:
            q.annotation_select_mask = set(q.annotation_select_mask) | {"_prefetch_related_val"}
        targets = yield from qs._fetch_gen()
        groups: dict = {}
        for t in targets:
            groups.setdefault(t.__dict__.pop("_prefetch_related_val"), []).append(t)
        accessor = self._accessor()
        for inst in instances:
            items = groups.get(inst.pk, [])
            if to_attr:
                setattr(inst, to_attr, items)
            else:
                inst.__dict__.setdefault("_prefetched_objects_cache", {})[accessor] = items
        if rest and targets:
            from .prefetch import prefetch_related_objects_gen

            yield from prefetch_related_objects_gen(targets, [rest], db)


def create_many_related_manager(field, reverse):
    src_fk_fwd, tgt_fk_fwd = field.m2m_fields()
    src_fk, tgt_fk = (tgt_fk_fwd, src_fk_fwd) if reverse else (src_fk_fwd, tgt_fk_fwd)
    target_model = tgt_fk.related_model
    superclass = target_model._meta.default_manager.__class__
    symmetrical = bool(field.symmetrical) and field.model is field.related_model
    name = field.remote_field.get_accessor_name() if reverse else field.name

    class ManyRelatedManager(superclass):
        def __init__(self, instance):
            super().__init__()
            self.instance = instance
            self.model = target_model
            self.name = name
            self.through = field.remote_field.through
            self._db = instance._state.db

        def _key(self):
            if self.instance.pk is None:
                raise ValueError(
                    f'"{self.instance!r}" needs to have a value for field "id" before this '
                    "many-to-many relationship can be used.")
            return self.instance.pk

        def _through_qs(self, db=None):
            return self.through._meta.base_manager().using(db or self._db).filter(
                **{src_fk.attname: self._key()})

        def _base_queryset(self):
            from dorm.expressions import Subquery

            sub = self._through_qs().values(tgt_fk.attname)
            return super().get_queryset().filter(pk__in=Subquery(sub))

        def get_queryset(self):
            qs = _prefetched_queryset(self, self.name)
            if qs is not None:
                return qs
            return self._base_queryset()

        def _pks(self, objs):
            pks = []
            for obj in objs:
                if isinstance(obj, self.model):
                    if obj.pk is None:
                        raise ValueError(f"Cannot add {obj!r}: the instance is not saved yet")
                    pks.append(obj.pk)
                elif hasattr(obj, "_meta"):
                    raise TypeError(f"'{self.model.__name__}' instance expected, got {obj!r}")
                else:
                    pks.append(self.model._meta.pk.to_python(obj))
            return pks

        def _send(self, action, pk_set):
            from dorm import signals

            sig = signals.m2m_changed
            if sig.has_receivers(self.through):
                yield ("send", sig, self.through, {
                    "instance": self.instance, "action": action, "reverse": reverse,
                    "model": self.model, "pk_set": set(pk_set) if pk_set is not None else None,
                    "using": self._db or "default"})

        def _clear_prefetch(self):
            self.instance.__dict__.get("_prefetched_objects_cache", {}).pop(self.name, None)

        def _add_gen(self, *objs, through_defaults=None):
            self._clear_prefetch()
            pks = list(dict.fromkeys(self._pks(objs)))
            if not pks:
                return
            key = self._key()
            existing = yield from self._through_qs().filter(
                **{f"{tgt_fk.attname}__in": pks}).values_list(tgt_fk.attname, flat=True)._fetch_gen()
            missing = [pk for pk in pks if pk not in set(existing)]
            if not missing:
                return
            yield from self._send("pre_add", missing)
            defaults = through_defaults or {}
            rows = [self.through(**{src_fk.attname: key, tgt_fk.attname: pk},
                                 **{k: (v() if callable(v) else v) for k, v in defaults.items()})
                    for pk in missing]
            if symmetrical:
                rows += [self.through(**{src_fk.attname: pk, tgt_fk.attname: key},
                                      **{k: (v() if callable(v) else v) for k, v in defaults.items()})
                         for pk in missing if pk != key]
            qs = self.through._meta.base_manager().get_queryset()
            if self._db:
                qs = qs.using(self._db)
            yield from qs._bulk_create_gen(rows, None, ignore_conflicts=False)
            yield from self._send("post_add", missing)

        def _remove_gen(self, *objs):
            self._clear_prefetch()
            pks = self._pks(objs)
            if not pks:
                return
            yield from self._send("pre_remove", pks)
            yield from self._through_qs().filter(**{f"{tgt_fk.attname}__in": pks})._delete_gen()
            if symmetrical:
                yield from self.through._meta.base_manager().using(self._db).filter(
                    **{f"{src_fk.attname}__in": pks, tgt_fk.attname: self._key()})._delete_gen()
            yield from self._send("post_remove", pks)

        def _clear_gen(self):
            self._clear_prefetch()
            yield from self._send("pre_clear", None)
            yield from self._through_qs()._delete_gen()
            if symmetrical:
                yield from self.through._meta.base_manager().using(self._db).filter(
                    **{tgt_fk.attname: self._key()})._delete_gen()
            yield from self._send("post_clear", None)

        def _set_gen(self, objs, clear=False, through_defaults=None):
            objs = list(objs)
            if clear:
                yield from self._clear_gen()
                yield from self._add_gen(*objs, through_defaults=through_defaults)
                return
            current = set((yield from self._through_qs().values_list(tgt_fk.attname, flat=True)._fetch_gen()))
            wanted = self._pks(objs)
            stale = [pk for pk in current if pk not in set(wanted)]
            if stale:
                yield from self._remove_gen(*stale)
            fresh = [pk for pk in wanted if pk not in current]
            if fresh:
                yield from self._add_gen(*fresh, through_defaults=through_defaults)

        def _create_gen(self, through_defaults=None, **kwargs):
            qs = self.model._meta.base_manager().get_queryset()
            if self._db:
                qs = qs.using(self._db)
            obj = yield from qs._create_gen(**kwargs)
            yield from self._add_gen(obj, through_defaults=through_defaults)
            return obj

        def add(self, *objs, through_defaults=None):
            return run_sync(self._add_gen(*objs, through_defaults=through_defaults))

        async def aadd(self, *objs, through_defaults=None):
            return await run_async(self._add_gen(*objs, through_defaults=through_defaults))

        def remove(self, *objs):
            return run_sync(self._remove_gen(*objs))

        async def aremove(self, *objs):
            return await run_async(self._remove_gen(*objs))

        def clear(self):
            return run_sync(self._clear_gen())

        async def aclear(self):
            return await run_async(self._clear_gen())

        def set(self, objs, *, clear=False, through_defaults=None):
            return run_sync(self._set_gen(objs, clear=clear, through_defaults=through_defaults))

        async def aset(self, objs, *, clear=False, through_defaults=None):
            return await run_async(self._set_gen(objs, clear=clear, through_defaults=through_defaults))

        def create(self, through_defaults=None, **kwargs):
            return run_sync(self._create_gen(through_defaults, **kwargs))

        async def acreate(self, through_defaults=None, **kwargs):
            return await run_async(self._create_gen(through_defaults, **kwargs))

        def __iter__(self):
            return iter(self.get_queryset())

        def __aiter__(self):
            return self.get_queryset().__aiter__()

    return ManyRelatedManager

