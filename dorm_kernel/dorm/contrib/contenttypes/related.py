"""``bookmark.tags``: the manager of the rows pointing at an object through a
``GenericRelation``.

Reads: ``all()``, ``filter()``, ``count()``, iteration (one query; served from the
prefetch cache after ``prefetch_related``). Writes, written once as sans-IO
generators and exposed sync and async (``aadd`` ...), as Django's generic related
manager:

* ``add(*objs, bulk=True)`` points saved ``objs`` at the owner (one UPDATE; with
  ``bulk=False`` each object is saved);
* ``create(**kw)`` / ``get_or_create`` / ``update_or_create`` fill in the content type
  and object id;
* ``remove(*objs, bulk=True)`` / ``clear(bulk=True)`` **delete** the related rows
  (a generic row has no NULL state to fall back to); ``bulk=False`` deletes them one
  by one with signals;
* ``set(objs, bulk=True, clear=False)`` removes (deletes) the rows not in ``objs`` and
  adds the new ones, in one transaction; ``clear=True`` also re-points every object of
  ``objs`` (unlike Django, whose clear-then-add deletes the rows it then re-adds).

Writes drop the prefetch cache of the relation.
"""
from __future__ import annotations

from dorm.models.related_descriptors import _prefetched_queryset
from dorm.models.sansio import run_async, run_sync

from .models import ContentType
from .values import MISSING, to_object_id


class ReverseGenericManyToOneDescriptor:
    """Class attribute for a ``GenericRelation``: instance access → related manager."""

    def __init__(self, field):
        self.field = field
        self._manager_class = None

    @property
    def rel(self):
        return self.field.remote_field

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        if self._manager_class is None:
            self._manager_class = create_generic_related_manager(self.field)
        return self._manager_class(instance)

    def __set__(self, instance, value):
        raise TypeError(
            "Direct assignment to the reverse side of a generic relation is prohibited. "
            f"Use {self.field.name}.set() instead.")

    def prefetch_gen(self, instances, lookup, db):
        from .prefetch import generic_relation_prefetch_gen

        return generic_relation_prefetch_gen(self.field, instances, lookup, db)


def create_generic_related_manager(field):
    model = field.related_model
    superclass = model._meta.default_manager.__class__
    ct_field = field.content_type_field
    oid_field = field.object_id_field
    gfk = field.matching_generic_foreign_key()

    class GenericRelatedObjectManager(superclass):
        def __init__(self, instance):
            super().__init__()
            self.instance = instance
            self.model = model
            self.name = field.name
            self.field = field
            self.content_type_field_name = ct_field.name
            self.object_id_field_name = oid_field.name
            self._db = instance._state.db

        def _key(self):
            pk = self.instance.pk
            key = to_object_id(oid_field, pk)
            if key is MISSING:
                raise ValueError(
                    f'"{self.instance!r}" needs to have a value for field '
                    f'"{self.instance._meta.pk.attname}" before this relationship can be used.')
            return key

        def _base_queryset(self):
            qs = super().get_queryset()
            return qs.filter(**field.ct_filter(qs.db), **{oid_field.attname: self._key()})

        def get_queryset(self):
            qs = _prefetched_queryset(self, self.name)
            if qs is not None:
                return qs
            return self._base_queryset()

        def _write_db(self):
            if self._db:
                return self._db
            from dorm.db import router

            return router.db_for_write(model, instance=self.instance)

        def _clear_prefetch(self):
            self.instance.__dict__.get("_prefetched_objects_cache", {}).pop(self.name, None)

        def _content_type_gen(self, db):
            ct = yield from ContentType.objects._get_for_model_gen(
                self.instance, field.for_concrete_model, db)
            return ct

        def _point(self, obj, ct, key):
            setattr(obj, ct_field.name, ct)
            setattr(obj, oid_field.attname, key)
            if gfk is not None:
                gfk.cache_value(obj, self.instance)

        def _check(self, objs):
            for obj in objs:
                if not isinstance(obj, model):
                    raise TypeError(f"'{model.__name__}' instance expected, got {obj!r}")

        # -- writes as generators ------------------------------------------------------
        def _add_gen(self, *objs, bulk=True):
            self._check(objs)
            self._clear_prefetch()
            key = self._key()
            db = self._write_db()
            if not objs:
                return
            if bulk:
                for obj in objs:
                    if obj._state.adding:
                        raise ValueError(
                            f"{obj!r} instance isn't saved. Use bulk=False or save the object first.")
            ct = yield from self._content_type_gen(db)
            for obj in objs:
                self._point(obj, ct, key)
            if bulk:
                qs = model._meta.base_manager().using(db).filter(pk__in=[o.pk for o in objs])
                yield from qs._update_gen(**{ct_field.attname: ct.pk, oid_field.attname: key})
            else:
                for obj in objs:
                    yield from obj._save_gen(db, False, False, None)

        def _create_gen(self, **kwargs):
            self._clear_prefetch()
            db = self._write_db()
            ct = yield from self._content_type_gen(db)
            kwargs[ct_field.name] = ct
            kwargs[oid_field.attname] = self._key()
            obj = yield from model._meta.base_manager().using(db)._create_gen(**kwargs)
            if gfk is not None:
                gfk.cache_value(obj, self.instance)
            return obj

        def _scoped_gen(self, db):
            """The related rows' queryset on ``db``, with the content type id."""
            ct = yield from self._content_type_gen(db)
            qs = model._meta.default_manager.get_queryset().using(db)
            return qs.filter(**{ct_field.attname: ct.pk, oid_field.attname: self._key()}), ct

        def _get_or_create_gen(self, defaults=None, **kwargs):
            self._clear_prefetch()
            qs, ct = yield from self._scoped_gen(self._write_db())
            kwargs.update({ct_field.name: ct, oid_field.attname: self._key()})
            obj, created = yield from qs._get_or_create_gen(defaults, **kwargs)
            if gfk is not None:
                gfk.cache_value(obj, self.instance)
            return obj, created

        def _update_or_create_gen(self, defaults=None, **kwargs):
            self._clear_prefetch()
            qs, ct = yield from self._scoped_gen(self._write_db())
            kwargs.update({ct_field.name: ct, oid_field.attname: self._key()})
            obj, created = yield from qs._update_or_create_gen(defaults, **kwargs)
            if gfk is not None:
                gfk.cache_value(obj, self.instance)
            return obj, created

        def _delete_rows_gen(self, qs, bulk):
            if bulk:
                yield from qs._delete_gen()
                return
            for obj in (yield from qs._fetch_gen()):
                yield from obj._delete_gen(qs._db)

        def _remove_gen(self, *objs, bulk=True):
            self._check(objs)
            self._clear_prefetch()
            if not objs:
                return
            qs = self._base_queryset().using(self._write_db()).filter(pk__in=[o.pk for o in objs])
            yield from self._delete_rows_gen(qs, bulk)

        def _clear_gen(self, bulk=True):
            self._clear_prefetch()
            yield from self._delete_rows_gen(self._base_queryset().using(self._write_db()), bulk)

        def _set_gen(self, objs, bulk=True, clear=False):
            objs = list(objs)
            self._check(objs)
            if clear:  # not Django's clear()+add(): that would delete the rows it re-adds
                keep = [o.pk for o in objs if o.pk is not None]
                qs = self._base_queryset().using(self._write_db()).exclude(pk__in=keep)
                self._clear_prefetch()
                yield from self._delete_rows_gen(qs, bulk)
                yield from self._add_gen(*objs, bulk=bulk)
                return
            current = yield from self._base_queryset().using(self._write_db())._fetch_gen()
            wanted = {o.pk for o in objs if o.pk is not None}
            have = {o.pk for o in current}
            stale = [o for o in current if o.pk not in wanted]
            if stale:
                yield from self._remove_gen(*stale, bulk=bulk)
            fresh = [o for o in objs if o.pk is None or o.pk not in have]
            if fresh:
                yield from self._add_gen(*fresh, bulk=bulk)

        def _atomic(self, gen):
            """Run ``gen`` in one transaction on the write alias."""
            result = yield ("atomic", self._write_db(), gen)
            return result

        # -- sync / async twins ---------------------------------------------------------
        def add(self, *objs, bulk=True):
            return run_sync(self._atomic(self._add_gen(*objs, bulk=bulk)))

        async def aadd(self, *objs, bulk=True):
            return await run_async(self._atomic(self._add_gen(*objs, bulk=bulk)))

        def create(self, **kwargs):
            return run_sync(self._create_gen(**kwargs))

        async def acreate(self, **kwargs):
            return await run_async(self._create_gen(**kwargs))

        def get_or_create(self, defaults=None, **kwargs):
            return run_sync(self._get_or_create_gen(defaults, **kwargs))

        async def aget_or_create(self, defaults=None, **kwargs):
            return await run_async(self._get_or_create_gen(defaults, **kwargs))

        def update_or_create(self, defaults=None, **kwargs):
            return run_sync(self._update_or_create_gen(defaults, **kwargs))

        async def aupdate_or_create(self, defaults=None, **kwargs):
            return await run_async(self._update_or_create_gen(defaults, **kwargs))

        def remove(self, *objs, bulk=True):
            return run_sync(self._atomic(self._remove_gen(*objs, bulk=bulk)))

        async def aremove(self, *objs, bulk=True):
            return await run_async(self._atomic(self._remove_gen(*objs, bulk=bulk)))

        def clear(self, bulk=True):
            return run_sync(self._atomic(self._clear_gen(bulk=bulk)))

        async def aclear(self, bulk=True):
            return await run_async(self._atomic(self._clear_gen(bulk=bulk)))

        def set(self, objs, *, bulk=True, clear=False):
            return run_sync(self._atomic(self._set_gen(objs, bulk=bulk, clear=clear)))

        async def aset(self, objs, *, bulk=True, clear=False):
            return await run_async(self._atomic(self._set_gen(objs, bulk=bulk, clear=clear)))

        def __iter__(self):
            return iter(self.get_queryset())

        def __aiter__(self):
            return self.get_queryset().__aiter__()

    GenericRelatedObjectManager.__name__ = f"{model.__name__}GenericRelatedManager"
    return GenericRelatedObjectManager
