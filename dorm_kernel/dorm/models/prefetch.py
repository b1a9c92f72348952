"""``prefetch_related``: one query per relation level instead of one per row.

Each relation descriptor implements ``prefetch_gen(instances, lookup, db)``; this
module walks lookups (``"books__tags"``, ``Prefetch(..., queryset=, to_attr=)``)."""
from __future__ import annotations

from .sansio import run_async, run_sync


class Prefetch:
    def __init__(self, lookup, queryset=None, to_attr=None):
        if queryset is not None and not hasattr(queryset, "_fetch_gen"):
            raise TypeError("Prefetch querysets must be QuerySets")
        if queryset is not None and queryset._iterable_class.__name__ != "ModelIterable":
            raise ValueError("Prefetch querysets cannot use values() or values_list()")
        self.prefetch_through = lookup
        self.queryset = queryset
        self.to_attr = to_attr

    def __repr__(self):
        return f"<Prefetch {self.prefetch_through!r}>"

    def __eq__(self, other):
        return isinstance(other, Prefetch) and other.prefetch_through == self.prefetch_through


def split_lookup(lookup):
    """``(first name, rest or None, queryset, to_attr)``; the queryset and to_attr of a
    ``Prefetch`` apply to its last level."""
    if isinstance(lookup, Prefetch):
        path, qs, to_attr = lookup.prefetch_through, lookup.queryset, lookup.to_attr
    else:
        path, qs, to_attr = lookup, None, None
    first, _, rest = path.partition("__")
    if rest:
        nested = Prefetch(rest, qs, to_attr) if (qs is not None or to_attr) else rest
        return first, nested, None, None
    return first, None, qs, to_attr


def prefetch_related_objects_gen(instances, lookups, db):
    """Generator: attach related objects for each lookup to ``instances``."""
    instances = [i for i in instances if i is not None]
    if not instances:
        return
    model = type(instances[0])
    if any(type(i) is not model for i in instances):
        raise ValueError("prefetch_related_objects() needs instances of one model")
    for lookup in _without_covered(lookups):
        first, _, _, _ = split_lookup(lookup)
        descriptor = model.__dict__.get(first) or getattr(model, first, None)
        loader = getattr(descriptor, "prefetch_gen", None)
        if loader is None:
            path = getattr(lookup, "prefetch_through", lookup)
            raise AttributeError(
                f"Cannot find {first!r} on {model.__name__} object, {path!r} is an invalid "
                "parameter to prefetch_related()")
        yield from loader(instances, lookup, db)


def _without_covered(lookups):
    """Drop a plain lookup that a longer plain lookup walks anyway (``"books"`` next to
    ``"books__tags"``): the longer one loads that level too, so it is fetched once."""
    plain = [lk for lk in lookups if isinstance(lk, str)]
    return [lk for lk in lookups
            if not isinstance(lk, str) or not any(o.startswith(lk + "__") for o in plain)]


def prefetch_related_objects(model_instances, *related_lookups, using=None):
    instances = list(model_instances)
    if not instances:
        return
    db = using or instances[0]._state.db or "default"
    run_sync(prefetch_related_objects_gen(instances, related_lookups, db))


async def aprefetch_related_objects(model_instances, *related_lookups, using=None):
    instances = list(model_instances)
    if not instances:
        return
    db = using or instances[0]._state.db or "default"
    await run_async(prefetch_related_objects_gen(instances, related_lookups, db))
