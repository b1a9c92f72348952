"""``dorm.tree``: walk adjacency-list trees (a ``ForeignKey("self")``) with recursive CTEs.

Two kinds of helpers:

* **lists of model instances**, each with ``depth`` (0 = the start node), ``cycle``
  (True where the walk stopped because the next node was already on the path) and,
  with ``with_path=True``, ``path`` (tuple of keys from the start node to this one):
  ``descendants``, ``ancestors`` and their async twins ``adescendants``,
  ``aancestors``; plus ``is_descendant_of`` / ``ais_descendant_of``;
* **QuerySets** that compose with ``filter``/``order_by``/``values``/``count``/
  ``update``/``delete``/``select_related``/``prefetch_related`` (sync and async,
  annotated with ``depth``): ``descendants_queryset``, ``ancestors_queryset``,
  ``roots``, ``children``, ``siblings``; also as manager/queryset methods through
  ``TreeManager`` / ``TreeQuerySet``.

``descendants_cte`` / ``ancestors_cte`` return the walk itself as a ``dorm.CTE`` for
``QuerySet.with_cte(name=cte)`` and ``raw()``.

Every helper takes the model (or a manager/QuerySet whose rows it returns: a scoped
manager's filter, e.g. row tenancy, applies) first and keywords after it.
``parent_field`` is a field name (``"parent"``) or a column (``"parent_id"``); left out,
the model's single ``ForeignKey("self")`` is used.
"""
from __future__ import annotations

import warnings

from dorm.exceptions import ImproperlyConfigured
from dorm.fields import BooleanField, IntegerField
from dorm.models.sansio import run_async, run_sync

from .cte import DOWN, UP, TreeCTE
from .spec import TreeSpec, columns_for, model_of, resolve

__all__ = [
    "TreeCTE",
    "TreeCycleWarning",
    "TreeManager",
    "TreeNodes",
    "TreeQuerySet",
    "TreeQuerySetMixin",
    "aancestors",
    "adescendants",
    "ais_descendant_of",
    "ancestors",
    "ancestors_cte",
    "ancestors_queryset",
    "children",
    "descendants",
    "descendants_cte",
    "descendants_queryset",
    "is_descendant_of",
    "roots",
    "siblings",
]


class TreeCycleWarning(UserWarning):
    """The data has a cycle: the walk stopped at the repeated node (see ``TreeNodes.cycles``)."""


class TreeNodes(list):
    """The result of ``descendants()`` / ``ancestors()``: a list of model instances.

    ``cycles`` lists ``(key, repeated_key)`` pairs: the node at ``key`` points on to
    ``repeated_key``, a node already on its path, so the walk stopped there (that
    node also has ``cycle = True``). Empty for well-formed trees.
    """

    cycles: list

    def __init__(self, items=(), cycles=()):
        super().__init__(items)
        self.cycles = list(cycles)

    @property
    def pks(self):
        return [o.pk for o in self]


# ---- argument checks ------------------------------------------------------------------------
def _check_depth(max_depth):
    if max_depth is None:
        return None
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise ValueError(f"max_depth must be a non-negative int or None, got {max_depth!r}")
    return max_depth


def _key_value(spec: TreeSpec, node, what):
    """The key of ``node`` (an instance of the model, or a key value)."""
    if node is None:
        raise ValueError(f"{what} is required (a {spec.name} instance or its {spec.key.name})")
    if hasattr(node, "_meta"):
        if node._meta.concrete_model is not spec.model._meta.concrete_model:
            raise TypeError(f"{what} must be a {spec.name} (or its key), got a {type(node).__name__}")
        value = getattr(node, spec.key.attname)
        if value is None:
            raise ValueError(f"{what}: the {spec.name} instance is not saved (no {spec.key.attname})")
        return value
    if hasattr(node, "resolve_expression") or isinstance(node, (list, tuple, set, dict)):
        raise TypeError(f"{what} must be one {spec.name} key value or instance, got {node!r}")
    try:
        return spec.key.to_python(node)
    except Exception as exc:  # noqa: BLE001 - re-raised with the model named
        raise ValueError(f"{what}={node!r} is not a valid {spec.name}.{spec.key.name}: {exc}") from None


def _base(source, using):
    """The QuerySet whose rows a helper returns: the model's default manager, or the
    manager / QuerySet the caller passed."""
    from dorm.models import Model

    if isinstance(source, type) and issubclass(source, Model):
        qs = source._meta.default_manager.get_queryset()
    elif hasattr(source, "get_queryset") and not hasattr(source, "query"):
        qs = source.get_queryset()
    elif hasattr(source, "query"):
        qs = source._clone()
    else:
        qs = type(source)._meta.default_manager.get_queryset()
    if using is not None:
        qs = qs.using(using)
    return qs


def _free_name(qs, wanted):
    ctes = qs.query.ctes
    if wanted not in ctes:
        return wanted
    n = 2
    while f"{wanted}_{n}" in ctes:
        n += 1
    return f"{wanted}_{n}"


def _cte_col(alias, name, field):
    from dorm.expressions import Col

    field.set_attributes_from_name(name)
    return Col(alias, field)


def _renamed(field, name):
    """A copy of ``field`` (same type and converters) reading column ``name``."""
    import copy

    f = copy.copy(field)
    f.name, f.db_column = None, None
    f.set_attributes_from_name(name)
    return f


def _join_walk(qs, spec, cte, annotate):
    """Attach ``cte`` to ``qs`` and INNER JOIN it on the key; ``annotate`` maps
    annotation names to CTE columns (``"depth"``, ``"is_cycle"``, ``"via"``)."""
    from dorm.query.query import Join

    qs = qs.with_cte(**{cte.name: cte})
    q = qs.query
    alias = q.join(Join(cte.name, q.get_initial_alias(), None, Join.INNER,
                        ((spec.key.column, spec.key.column),), False), reuse=False)
    exprs = {}
    for attr, column in annotate.items():
        if column == "depth":
            exprs[attr] = _cte_col(alias, "depth", IntegerField())
        elif column == "is_cycle":
            exprs[attr] = _cte_col(alias, "is_cycle", BooleanField())
        elif column == "via":
            exprs[attr] = _cte_col(alias, "via", _renamed(spec.key, "via"))
    if exprs:
        qs = qs.annotate(**exprs)
    return qs


def _walk_queryset(source, direction, node, *, parent_field, max_depth, include_start, using,
                   cycle_guard, depth_attr, cte_name, keep_cycle_rows=False, extra=None,
                   pk_column=None):
    model = model_of(source)
    spec = resolve(model, parent_field, pk_column)
    what = "root_pk" if direction == DOWN else "leaf_pk"
    start = _key_value(spec, node, what)
    qs = _base(source, using)
    name = _free_name(qs, cte_name or direction)
    cte = TreeCTE(spec, direction=direction, start=start, columns=columns_for(spec, None),
                  name=name, max_depth=_check_depth(max_depth), include_start=include_start,
                  keep_cycle_rows=keep_cycle_rows, cycle_guard=cycle_guard)
    annotate = {depth_attr: "depth"} if depth_attr else {}
    annotate.update(extra or {})
    for attr in annotate:
        if _has_field(model, attr):
            raise ImproperlyConfigured(
                f"{model.__name__}.{attr} is a field: pass depth_attr='tree_depth' (or another "
                "free name) so the walk's depth does not hide it")
    qs = _join_walk(qs, spec, cte, annotate)
    return qs, spec, start


def _has_field(model, name):
    try:
        model._meta.get_field(name)
    except Exception:  # noqa: BLE001
        return False
    return True


def _ordered(qs, depth_attr):
    ordering = list(qs.model._meta.ordering) or ["pk"]
    return qs.order_by(depth_attr, *ordering)


# ---- QuerySets --------------------------------------------------------------------------------
def descendants_queryset(model, *, root_pk, parent_field=None, max_depth=None, include_root=False,
                         using=None, cycle_guard="auto", depth_attr="depth", cte_name=None):
    """The subtree below ``root_pk`` as a QuerySet annotated with ``depth_attr``
    (1 = children), ordered by depth then the model's ordering (or pk).

    Lazy, so it composes: ``.filter(active=True)``, ``.order_by("name")``,
    ``.count()``, ``.values()``, ``.update()``, ``.delete()``, async iteration. A
    root that does not exist gives an empty QuerySet (the list helpers raise
    instead). Rows on a cycle are returned once."""
    qs, _spec, _start = _walk_queryset(
        model, DOWN, root_pk, parent_field=parent_field, max_depth=max_depth,
        include_start=include_root, using=using, cycle_guard=cycle_guard, depth_attr=depth_attr,
        cte_name=cte_name)
    return _ordered(qs, depth_attr)


def ancestors_queryset(model, *, leaf_pk, parent_field=None, max_depth=None, include_self=False,
                       using=None, cycle_guard="auto", depth_attr="depth", cte_name=None):
    """The chain above ``leaf_pk`` as a QuerySet annotated with ``depth_attr``
    (1 = parent), ordered leaf → root."""
    qs, _spec, _start = _walk_queryset(
        model, UP, leaf_pk, parent_field=parent_field, max_depth=max_depth,
        include_start=include_self, using=using, cycle_guard=cycle_guard, depth_attr=depth_attr,
        cte_name=cte_name)
    return qs.order_by(depth_attr)


def roots(model, *, parent_field=None, using=None):
    """Nodes without a parent (``parent IS NULL``), as a QuerySet."""
    spec = resolve(model_of(model), parent_field)
    return _base(model, using).filter(**{f"{spec.parent.attname}__isnull": True})


def children(model, *, pk, parent_field=None, using=None):
    """The direct children of ``pk`` (an instance or a key), as a QuerySet."""
    spec = resolve(model_of(model), parent_field)
    return _base(model, using).filter(**{spec.parent.attname: _key_value(spec, pk, "pk")})


def siblings(model, *, pk, parent_field=None, include_self=False, using=None):
    """Nodes with the same parent as ``pk`` (for a root: the other roots), as a
    QuerySet. With an instance no extra query is needed; with a key the parent is
    read in a subquery of the same statement."""
    from dorm.expressions import Exists, Subquery
    from dorm.query.where import Q

    spec = resolve(model_of(model), parent_field)
    base = _base(model, using)
    parent_attr, key_attr = spec.parent.attname, spec.key.attname
    if hasattr(pk, "_meta"):
        key = _key_value(spec, pk, "pk")
        parent = pk.__dict__.get(parent_attr)
        qs = base.filter(**({f"{parent_attr}__isnull": True} if parent is None else {parent_attr: parent}))
    else:
        key = _key_value(spec, pk, "pk")
        node = spec.model._meta.base_manager().get_queryset().filter(**{key_attr: key})
        if using is not None:
            node = node.using(using)
        same_parent = Q(**{f"{parent_attr}__in": Subquery(node.values(parent_attr))})
        both_roots = Q(**{f"{parent_attr}__isnull": True}) & Q(
            Exists(node.filter(**{f"{parent_attr}__isnull": True})))
        qs = base.filter(same_parent | both_roots)
    if not include_self:
        qs = qs.exclude(**{key_attr: key})
    return qs


# ---- CTEs ---------------------------------------------------------------------------------------
def descendants_cte(model, *, root_pk, parent_field=None, fields=None, pk_column=None,
                    cte_name="descendants", cycle_field=None, max_depth=None, include_root=True,
                    cycle_guard="auto"):
    """The walk below ``root_pk`` as a ``dorm.CTE``: columns ``fields`` (default: the
    key and parent columns) plus ``depth`` (0 = root), ``is_cycle`` (TRUE on the row
    that would repeat a node: filter it out with ``WHERE NOT is_cycle``) and ``via``
    (the key of the row it was reached from); ``cycle_field="path"`` adds the visited
    path as text (``,1,4,9,``). Attach it under any name: ``qs.with_cte(tree=cte)``."""
    return _cte(model, DOWN, root_pk, "root_pk", parent_field, fields, pk_column, cte_name,
                cycle_field, max_depth, include_root, cycle_guard)


def ancestors_cte(model, *, leaf_pk, parent_field=None, fields=None, pk_column=None,
                  cte_name="ancestors", cycle_field=None, max_depth=None, include_self=True,
                  cycle_guard="auto"):
    """The chain above ``leaf_pk`` (depth 1 = parent) as a ``dorm.CTE``; columns as
    for ``descendants_cte``."""
    return _cte(model, UP, leaf_pk, "leaf_pk", parent_field, fields, pk_column, cte_name,
                cycle_field, max_depth, include_self, cycle_guard)


def _cte(model, direction, node, what, parent_field, fields, pk_column, cte_name, cycle_field,
         max_depth, include_start, cycle_guard):
    model = model_of(model)
    spec = resolve(model, parent_field, pk_column)
    if cycle_field is not None and not (isinstance(cycle_field, str) and cycle_field.isidentifier()):
        raise ImproperlyConfigured(f"cycle_field must be an identifier, got {cycle_field!r}")
    if not isinstance(cte_name, str) or not cte_name.isidentifier():
        raise ImproperlyConfigured(f"cte_name must be an identifier, got {cte_name!r}")
    cols = columns_for(spec, fields, (cycle_field,) if cycle_field else ())
    return TreeCTE(spec, direction=direction, start=_key_value(spec, node, what), columns=cols,
                   name=cte_name, max_depth=_check_depth(max_depth), include_start=include_start,
                   keep_cycle_rows=True, cycle_guard=cycle_guard, path_column=cycle_field)


# ---- lists of instances ------------------------------------------------------------------------
_WALK = {"depth": "depth", "_tree_cycle": "is_cycle", "_tree_via": "via"}


def _nodes_gen(source, direction, node, *, parent_field, max_depth, include_start, using,
               with_path, cycle_guard, pk_column=None):
    qs, spec, start = _walk_queryset(
        source, direction, node, parent_field=parent_field, max_depth=max_depth,
        include_start=True, using=using, cycle_guard=cycle_guard, depth_attr=None,
        cte_name=None, keep_cycle_rows=True, extra=_WALK, pk_column=pk_column)
    qs = _ordered(qs, "depth")
    rows = yield from qs._fetch_gen()
    model = spec.model
    key_attr = spec.key.attname
    nodes, cycles, paths, by_key = [], [], {}, {}
    found_start = False
    for obj in rows:
        d = obj.__dict__
        repeated, via = d.pop("_tree_cycle"), d.pop("_tree_via")
        key = d.get(key_attr)
        if repeated:
            cycles.append((via, key))
            continue
        obj.cycle = False
        if obj.depth == 0:
            found_start = True
            paths[key] = (key,)
        elif with_path:
            paths[key] = paths.get(via, (via,)) + (key,)
        if with_path:
            obj.path = paths[key]
        by_key[key] = obj
        if obj.depth > 0 or include_start:
            nodes.append(obj)
    if not found_start:
        what = "root_pk" if direction == DOWN else "leaf_pk"
        raise model.DoesNotExist(
            f"{model.__name__} with {spec.key.name}={start!r} does not exist "
            f"({what} of {direction}())")
    for via, _key in cycles:
        if via in by_key:
            by_key[via].cycle = True
    if cycles:
        edges = ", ".join(f"{a!r} -> {b!r}" for a, b in cycles)
        warnings.warn(TreeCycleWarning(
            f"{model.__name__}.{spec.parent.name} has a cycle: {edges}; the walk from "
            f"{start!r} stopped there"), stacklevel=4)
    return TreeNodes(nodes, cycles)


def descendants(model, *, root_pk, parent_field=None, max_depth=None, include_root=False,
                with_path=False, using=None, pk_column=None, cycle_guard="auto"):
    """Every node below ``root_pk`` as model instances, ordered by depth (1 =
    children) then the model's ordering (or pk). Each has ``depth`` and ``cycle``,
    and ``path`` with ``with_path=True``. Raises ``<Model>.DoesNotExist`` for a root
    that does not exist; a cycle ends the walk, sets ``cycle`` on the node where it
    closes, fills ``TreeNodes.cycles`` and emits ``TreeCycleWarning``."""
    return run_sync(_nodes_gen(model, DOWN, root_pk, parent_field=parent_field,
                               max_depth=max_depth, include_start=include_root, using=using,
                               with_path=with_path, cycle_guard=cycle_guard,
                               pk_column=pk_column))


async def adescendants(model, *, root_pk, parent_field=None, max_depth=None, include_root=False,
                       with_path=False, using=None, pk_column=None, cycle_guard="auto"):
    """Async ``descendants()``."""
    return await run_async(_nodes_gen(model, DOWN, root_pk, parent_field=parent_field,
                                      max_depth=max_depth, include_start=include_root, using=using,
                                      with_path=with_path, cycle_guard=cycle_guard,
                               pk_column=pk_column))


def ancestors(model, *, leaf_pk, parent_field=None, max_depth=None, include_self=False,
              with_path=False, using=None, pk_column=None, cycle_guard="auto"):
    """The chain above ``leaf_pk``, ordered leaf → root (``depth`` 1 = parent).
    Same attributes, errors and cycle reporting as ``descendants()``."""
    return run_sync(_nodes_gen(model, UP, leaf_pk, parent_field=parent_field,
                               max_depth=max_depth, include_start=include_self, using=using,
                               with_path=with_path, cycle_guard=cycle_guard,
                               pk_column=pk_column))


async def aancestors(model, *, leaf_pk, parent_field=None, max_depth=None, include_self=False,
                     with_path=False, using=None, pk_column=None, cycle_guard="auto"):
    """Async ``ancestors()``."""
    return await run_async(_nodes_gen(model, UP, leaf_pk, parent_field=parent_field,
                                      max_depth=max_depth, include_start=include_self, using=using,
                                      with_path=with_path, cycle_guard=cycle_guard,
                               pk_column=pk_column))


def _is_descendant_gen(model, pk, ancestor_pk, parent_field, using, cycle_guard):
    spec = resolve(model_of(model), parent_field)
    target = _key_value(spec, ancestor_pk, "ancestor_pk")
    qs, spec, start = _walk_queryset(
        model, UP, pk, parent_field=parent_field, max_depth=None, include_start=True,
        using=using, cycle_guard=cycle_guard, depth_attr="_tree_depth", cte_name=None)
    key_attr = spec.key.attname
    qs = qs.filter(**{f"{key_attr}__in": [start, target]}).order_by()
    rows = yield from qs.values_list(key_attr, "_tree_depth")._fetch_gen()
    depths = dict(rows)
    if start not in depths:
        raise spec.model.DoesNotExist(
            f"{spec.name} with {spec.key.name}={start!r} does not exist (pk of is_descendant_of())")
    return start != target and target in depths


def is_descendant_of(model, *, pk, ancestor_pk, parent_field=None, using=None, cycle_guard="auto"):
    """True when ``ancestor_pk`` is above ``pk`` in the tree (a node is not its own
    descendant). One statement; raises ``<Model>.DoesNotExist`` for a missing ``pk``."""
    return run_sync(_is_descendant_gen(model, pk, ancestor_pk, parent_field, using, cycle_guard))


async def ais_descendant_of(model, *, pk, ancestor_pk, parent_field=None, using=None,
                            cycle_guard="auto"):
    """Async ``is_descendant_of()``."""
    return await run_async(_is_descendant_gen(model, pk, ancestor_pk, parent_field, using, cycle_guard))


# ---- manager / queryset methods ------------------------------------------------------------------
class TreeQuerySetMixin:
    """Tree methods for a QuerySet class (mix into your own, e.g. with a tenant
    QuerySet). ``tree_parent_field`` (class attribute, or ``TreeManager(parent_field=)``)
    names the parent pointer; ``None`` = the model's ``ForeignKey("self")``. The
    methods keep the QuerySet's filters on the rows they return."""

    tree_parent_field = None

    def _tree_field(self):
        return self.__dict__.get("_tree_parent_field", self.tree_parent_field)

    def descendants_of(self, node, *, max_depth=None, include_self=False):
        return descendants_queryset(self, root_pk=node, parent_field=self._tree_field(),
                                    max_depth=max_depth, include_root=include_self)

    def ancestors_of(self, node, *, max_depth=None, include_self=False):
        return ancestors_queryset(self, leaf_pk=node, parent_field=self._tree_field(),
                                  max_depth=max_depth, include_self=include_self)

    def roots(self):
        return roots(self, parent_field=self._tree_field())

    def children_of(self, node):
        return children(self, pk=node, parent_field=self._tree_field())

    def siblings_of(self, node, *, include_self=False):
        return siblings(self, pk=node, parent_field=self._tree_field(), include_self=include_self)


def _make_tree_classes():
    from dorm.models import Manager, QuerySet

    class TreeQuerySet(TreeQuerySetMixin, QuerySet):
        """A QuerySet with ``descendants_of``, ``ancestors_of``, ``roots``,
        ``children_of`` and ``siblings_of``."""

    class TreeManager(Manager.from_queryset(TreeQuerySet)):
        """``objects = TreeManager()`` (or ``TreeManager(parent_field="parent")``):
        ``Category.objects.descendants_of(pk)`` and the other tree methods."""

        def __init__(self, parent_field=None):
            super().__init__()
            self.tree_parent_field = parent_field

        def get_queryset(self):
            qs = super().get_queryset()
            if self.tree_parent_field is not None:
                qs._tree_parent_field = self.tree_parent_field
            return qs

    TreeQuerySet.__module__ = TreeManager.__module__ = __name__
    return TreeQuerySet, TreeManager


TreeQuerySet, TreeManager = _make_tree_classes()
