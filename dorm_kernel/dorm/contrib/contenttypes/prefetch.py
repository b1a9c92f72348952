"""``prefetch_related`` for generic relations (the ``prefetch_gen`` protocol of
``dorm.models.prefetch``).

* ``prefetch_related("content_object")`` (a ``GenericForeignKey``): the content types
  of the rows (one query for those not cached yet), then one query per content type
  (K), in content-type id order. ``Prefetch("content_object", queryset=qs)`` loads the
  objects of ``qs.model``'s type through ``qs`` (others through their base manager; a
  row filtered out by ``qs`` reads as None); ``to_attr=`` stores the object in that
  attribute instead of the fields cache. ``"content_object__x"`` prefetches ``x`` on
  the loaded objects, per model.
* ``prefetch_related("tags")`` (a ``GenericRelation``): one query; ``Prefetch(...,
  queryset=, to_attr=)`` as for reverse foreign keys. Each loaded row's generic
  foreign key is set to its owner (no query to go back).
"""
from __future__ import annotations

from dorm.models.prefetch import prefetch_related_objects_gen, split_lookup

from .models import ContentType
from .values import MISSING, to_object_id, to_pk


def _per_model(objs):
    groups: dict = {}
    for obj in objs:
        groups.setdefault(type(obj), []).append(obj)
    return groups.values()


def generic_foreign_key_prefetch_gen(gfk, instances, lookup, db):
    name, rest, queryset, to_attr = split_lookup(lookup)
    wanted: dict = {}
    for inst in instances:
        ct_id, oid = gfk._ids(inst)
        if ct_id is not None and oid is not None:
            wanted.setdefault(ct_id, set()).add(oid)
    cts = (yield from ContentType.objects._get_for_ids_gen(sorted(wanted), db)) if wanted else {}
    found: dict = {}
    for ct_id in sorted(wanted):
        ct = cts.get(ct_id)
        if ct is None:
            continue  # a content type deleted under the rows: their objects read as None
        model = ct.require_model_class()
        pk_field = model._meta.pk
        pks = {p for p in (to_pk(pk_field, oid) for oid in wanted[ct_id]) if p is not MISSING}
        if not pks:
            continue
        if queryset is not None and queryset.model._meta.concrete_model is model._meta.concrete_model:
            qs = queryset if queryset._db is not None else queryset.using(db)
        else:
            qs = model._meta.base_manager().using(db)
        for obj in (yield from qs.filter(pk__in=list(pks))._fetch_gen()):
            found[(ct_id, obj.pk)] = obj
    for inst in instances:
        ct_id, oid = gfk._ids(inst)
        obj = None
        ct = cts.get(ct_id) if ct_id is not None else None
        if ct is not None and ct.model_class() is not None:
            pk = to_pk(ct.model_class()._meta.pk, oid)
            obj = found.get((ct_id, pk)) if pk is not MISSING else None
        if to_attr:
            setattr(inst, to_attr, obj)
        else:
            gfk.cache_value(inst, obj)
    if rest and found:
        for group in _per_model(found.values()):
            yield from prefetch_related_objects_gen(group, [rest], db)


def generic_relation_prefetch_gen(field, instances, lookup, db):
    name, rest, queryset, to_attr = split_lookup(lookup)
    oid_field = field.object_id_field
    keys = [(inst, to_object_id(oid_field, inst.pk)) for inst in instances]
    values = sorted({k for _, k in keys if k is not MISSING}, key=repr)
    model = field.related_model
    qs = queryset if queryset is not None else model._meta.default_manager.get_queryset()
    if qs._db is None:
        qs = qs.using(db)
    related = []
    if values:
        qs = qs.filter(**field.ct_filter(qs._db), **{f"{oid_field.attname}__in": values})
        related = yield from qs._fetch_gen()
    groups: dict = {}
    for item in related:
        key = to_object_id(oid_field, item.__dict__.get(oid_field.attname))
        groups.setdefault(key, []).append(item)
    gfk = field.matching_generic_foreign_key()
    for inst, key in keys:
        items = groups.get(key, []) if key is not MISSING else []
        if gfk is not None:
            for item in items:
                gfk.cache_value(item, inst)
        if to_attr:
            setattr(inst, to_attr, items)
        else:
            inst.__dict__.setdefault("_prefetched_objects_cache", {})[field.name] = items
    if rest and related:
        yield from prefetch_related_objects_gen(related, [rest], db)
