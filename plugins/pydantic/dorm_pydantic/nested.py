"""``nested_schema_for(model, depth=N)``: a read schema that embeds related rows.

At each level above the last, relations are followed:

* a forward ``ForeignKey``/``OneToOneField`` ``author`` becomes ``author: <Author>``
  (``Optional`` when nullable) in place of the ``author_id`` column;
* a reverse foreign key (``author.books``), a ``ManyToManyField`` and its reverse
  become lists; a reverse one-to-one becomes ``<Model> | None``.

The last level (``depth`` hops down) is flat: relations appear as ``<name>_id`` keys
only. Cycles cannot recurse: the depth bounds every path, and a level never follows
back the edge it was reached through (``book.author`` does not list ``author.books``
again; ``category.parent.parent`` and ``category.children.children`` still work).

``Schema.dorm_relations`` lists the relation paths the schema reads, longest first-class
paths only (``("author", "tags", "reviews__user")``; ``reviews__user`` covers
``reviews``): ``prefetch_related(*Schema.dorm_relations)`` loads a whole list with one
query per relation instead of one per row.
"""
from __future__ import annotations

import operator
from typing import Optional

from pydantic import Field as PydanticField

from .base import Slot
from .mapping import relation_target
from .options import (Spec, cached, check_class_name, check_model, check_pii, field_index,
                      make_schema, names_arg, resolve)
from .schemas import read_specs


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _related_many(accessor: str):
    def get(obj):
        return list(getattr(obj, accessor).all())

    return get


def _related_one(accessor: str):
    from dorm.exceptions import DoesNotExist

    def get(obj):
        try:
            return getattr(obj, accessor)
        except DoesNotExist:
            return None

    return get


def relations_of(model) -> list[tuple[str, object, object, str]]:
    """``(accessor, edge, target model, kind)`` for every relation of ``model`` whose
    target is resolved; ``edge`` is the field or reverse-relation object, ``kind`` is
    ``"object"`` (forward to-one), ``"one"`` (reverse one-to-one) or ``"many"``."""
    opts = model._meta
    out = []
    for f in opts.concrete_fields:
        if (getattr(f, "many_to_one", False) or getattr(f, "one_to_one", False)) \
                and not isinstance(f.remote_field.model, str):
            out.append((f.name, f, f.remote_field.model, "object"))
    for f in opts.many_to_many:
        if not isinstance(f.remote_field.model, str):
            out.append((f.name, f, f.remote_field.model, "many"))
    for rel in opts.related_objects:
        if rel.is_hidden():
            continue
        kind = "many" if (rel.multiple or rel.many_to_many) else "one"
        out.append((rel.get_accessor_name(), rel, rel.related_model, kind))
    return out


def leaf_paths(paths) -> tuple[str, ...]:
    """The paths no other path extends (``books__tags`` covers ``books``): one prefetch
    lookup per branch, so no relation is fetched twice."""
    return tuple(p for p in paths if not any(q.startswith(p + "__") for q in paths))


def _reverse_of(edge):
    """What the next level must not follow back: the other end of ``edge``."""
    return edge.remote_field if hasattr(edge, "remote_field") else edge.field


class _Builder:
    def __init__(self, pii: str):
        self.pii = pii

    def build(self, model, depth: int, cls_name: str, *, skip=None, prefix: str = "",
              columns=None, relations=None, paths: list):
        """The schema of ``model`` at ``depth`` hops from the last level. ``columns`` /
        ``relations`` (top level only) narrow the fields; ``skip`` is the edge back."""
        opts = model._meta
        columns = list(opts.concrete_fields) if columns is None else columns
        rels = [r for r in relations_of(model) if r[1] is not skip] if depth > 0 else []
        if relations is not None:
            rels = [r for r in rels if r[0] in relations or r[1] in relations]
        followed = {edge for _, edge, _, kind in rels if kind == "object"}
        specs = read_specs([f for f in columns if f not in followed], pii=self.pii)
        for accessor, edge, target, kind in rels:
            path = f"{prefix}{accessor}"
            paths.append(path)
            inner = self.build(target, depth - 1, f"{cls_name}{_camel(accessor)}",
                               skip=_reverse_of(edge), prefix=f"{path}__", paths=paths)
            specs.append(self._relation_spec(accessor, edge, inner, kind))
        order = {f.attname: i for i, f in enumerate(opts.concrete_fields)}
        order.update({f.name: order[f.attname] for f in followed})
        specs.sort(key=lambda s: order.get(s.name, len(order)))
        return make_schema(cls_name, model, specs, relations=leaf_paths(paths) if not prefix else ())

    @staticmethod
    def _relation_spec(accessor: str, edge, inner, kind: str) -> Spec:
        if kind == "many":
            return Spec(accessor, list[inner], PydanticField(default_factory=list),
                        Slot("many", None, _related_many(accessor)))
        if kind == "one":
            return Spec(accessor, Optional[inner], PydanticField(default=None),
                        Slot("one", None, _related_one(accessor)))
        target = relation_target(edge).attname
        slot = Slot("object", edge.attname, operator.attrgetter(accessor), bool(edge.null), target)
        if edge.null:
            return Spec(accessor, Optional[inner], PydanticField(default=None), slot)
        return Spec(accessor, inner, PydanticField(), slot)


def nested_schema_for(model, depth: int = 1, *, include=None, exclude=None,
                      name: str | None = None, pii: str = "include"):
    """A read schema of ``model`` embedding related rows ``depth`` levels deep (see the
    module docstring). ``include``/``exclude`` take column names and relation accessors
    (``"author"``, ``"books"``) of the top level. ``pii`` as in ``schema_for``, at every
    level. ``name`` defaults to ``<Model>Nested``; inner classes are named after their
    path (``BookNestedAuthor``). Cached per arguments."""
    what = "nested_schema_for"
    check_model(model, what)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f"{what}({model.__name__}, depth={depth!r}): depth must be an "
                         "integer >= 0")
    include = names_arg(include, "include", what)
    exclude = names_arg(exclude, "exclude", what)
    check_pii(pii, what)
    cls_name = check_class_name(name, f"{model.__name__}Nested", what)
    key = ("nested", depth, include, exclude, cls_name, pii)

    def build():
        columns = list(model._meta.concrete_fields)
        rels = relations_of(model) if depth > 0 else []
        index = {**field_index(columns), **{acc: edge for acc, edge, _, _ in rels}}
        wanted = set(index.values()) if include is None else \
            set(resolve(model, index, include, "include", what))
        if exclude is not None:
            wanted -= set(resolve(model, index, exclude, "exclude", what))
        cols = [f for f in columns if f in wanted]
        chosen_rels = [acc for acc, edge, _, _ in rels if edge in wanted]
        # a followed forward key is shown as the object: keep it only if its field is wanted
        return _Builder(pii).build(model, depth, cls_name, columns=cols, relations=chosen_rels,
                                   paths=[])

    return cached(model, key, build)
