"""``prefetch_related``: resolving lookups to relation descriptors that know how to
load their related objects in one query per level."""
from __future__ import annotations


def prefetch_related_objects_gen(instances, lookups, db):
    """Generator: attach related objects for each lookup to ``instances``."""
    if not instances:
        return
    model = type(instances[0])
    for lookup in lookups:
        path = getattr(lookup, "prefetch_through", lookup)
        first = path.split("__")[0]
        descriptor = getattr(model, first, None)
        loader = getattr(descriptor, "prefetch_gen", None)
        if loader is None:
            raise AttributeError(
                f"Cannot find {first!r} on {model.__name__} object, {path!r} is an invalid "
                "parameter to prefetch_related()")
        yield from loader(instances, lookup, db)
