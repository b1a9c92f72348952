"""dorm-tree on every installed backend: walks, QuerySets, CTEs, cycle guard, errors."""
import warnings

import dorm
import pytest
from dorm.exceptions import ImproperlyConfigured, NotSupportedError
from dorm.test import assert_num_queries
from dorm.tree import (
    TreeCycleWarning,
    aancestors,
    adescendants,
    ais_descendant_of,
    ancestors,
    ancestors_cte,
    ancestors_queryset,
    children,
    descendants,
    descendants_cte,
    descendants_queryset,
    is_descendant_of,
    roots,
    siblings,
)

from .models import ALL, Category, Code, Comment, Folder, Owner

MODELS = ALL


@pytest.fixture
def tree(db):
    """root -> a -> a1, a2 ; root -> b ; other (a second root)."""
    root = Category.objects.create(name="root")
    a = Category.objects.create(name="a", parent=root)
    b = Category.objects.create(name="b", parent=root)
    a1 = Category.objects.create(name="a1", parent=a)
    a2 = Category.objects.create(name="a2", parent=a, active=False)
    other = Category.objects.create(name="other")
    return {"root": root, "a": a, "b": b, "a1": a1, "a2": a2, "other": other}


def names(nodes):
    return [n.name for n in nodes]


def depths(nodes):
    return {n.name: n.depth for n in nodes}


def make_cycle(t):
    """root -> a -> a1 and a1 -> root: root, a, a1 form a loop (b, a2 hang off it)."""
    Category.objects.filter(pk=t["root"].pk).update(parent=t["a1"].pk)


# ---- walks ------------------------------------------------------------------------------------------
def test_import_path_is_the_plugin_module():
    import dorm.tree
    import dorm_tree.api

    assert dorm.tree is dorm_tree.api


def test_descendants_of_root_and_subtree(tree):
    nodes = descendants(Category, root_pk=tree["root"].pk)
    assert depths(nodes) == {"a": 1, "b": 1, "a1": 2, "a2": 2}
    assert names(nodes) == ["a", "b", "a1", "a2"]          # by depth, then Meta.ordering
    assert all(isinstance(n, Category) and n.cycle is False for n in nodes)
    assert nodes.cycles == []
    assert {n.name for n in descendants(Category, root_pk=tree["a"])} == {"a1", "a2"}
    assert list(descendants(Category, root_pk=tree["a1"].pk)) == []
    with_root = descendants(Category, root_pk=tree["a"].pk, include_root=True)
    assert [(n.name, n.depth) for n in with_root] == [("a", 0), ("a1", 1), ("a2", 1)]


def test_ancestors_leaf_to_root(tree):
    nodes = ancestors(Category, leaf_pk=tree["a1"].pk)
    assert [(n.name, n.depth) for n in nodes] == [("a", 1), ("root", 2)]
    assert names(ancestors(Category, leaf_pk=tree["a1"], include_self=True)) == ["a1", "a", "root"]
    assert names(ancestors(Category, leaf_pk=tree["a1"], max_depth=1)) == ["a"]
    assert list(ancestors(Category, leaf_pk=tree["root"].pk)) == []


def test_paths(tree):
    t = tree
    nodes = descendants(Category, root_pk=t["root"].pk, with_path=True)
    assert {n.name: n.path for n in nodes} == {
        "a": (t["root"].pk, t["a"].pk), "b": (t["root"].pk, t["b"].pk),
        "a1": (t["root"].pk, t["a"].pk, t["a1"].pk), "a2": (t["root"].pk, t["a"].pk, t["a2"].pk)}
    up = ancestors(Category, leaf_pk=t["a1"].pk, with_path=True)
    assert [n.path for n in up] == [(t["a1"].pk, t["a"].pk), (t["a1"].pk, t["a"].pk, t["root"].pk)]
    threaded = sorted(descendants(Category, root_pk=t["root"].pk, with_path=True), key=lambda n: n.path)
    assert names(threaded) == ["a", "a1", "a2", "b"]        # pre-order: a comment thread


def test_max_depth(tree):
    assert names(descendants(Category, root_pk=tree["root"].pk, max_depth=1)) == ["a", "b"]
    assert list(descendants(Category, root_pk=tree["root"].pk, max_depth=0)) == []
    assert names(descendants(Category, root_pk=tree["root"].pk, max_depth=0, include_root=True)) == ["root"]
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="max_depth"):
            descendants(Category, root_pk=tree["root"].pk, max_depth=bad)


def test_parent_field_by_name_column_or_detected(tree):
    root = tree["root"].pk
    expected = {"a", "b", "a1", "a2"}
    for pf in (None, "parent", "parent_id"):
        assert {n.name for n in descendants(Category, root_pk=root, parent_field=pf)} == expected
    # the reference's spelling: pk_column and the parent column
    assert {n.name for n in descendants(Category, parent_field="parent_id", root_pk=root,
                                         pk_column="id")} == expected


def test_plain_integer_parent_column(db):
    top = Comment.objects.create(body="top")
    reply = Comment.objects.create(body="reply", parent_id=top.pk)
    deep = Comment.objects.create(body="deep", parent_id=reply.pk)
    assert [(c.body, c.depth) for c in descendants(Comment, parent_field="parent_id", root_pk=top.pk)] \
        == [("reply", 1), ("deep", 2)]
    assert [c.body for c in ancestors(Comment, parent_field="parent_id", leaf_pk=deep.pk)] == ["reply", "top"]
    with pytest.raises(ImproperlyConfigured, match="Comment has no ForeignKey"):
        descendants(Comment, root_pk=top.pk)   # nothing to detect: parent_field is needed


def test_one_statement_per_walk(tree):
    with assert_num_queries(1):
        descendants(Category, root_pk=tree["root"].pk, with_path=True)
    with assert_num_queries(1):
        ancestors(Category, leaf_pk=tree["a2"].pk)
    with assert_num_queries(1):
        assert is_descendant_of(Category, pk=tree["a2"].pk, ancestor_pk=tree["root"].pk)


def test_is_descendant_of(tree):
    t = tree
    assert is_descendant_of(Category, pk=t["a1"].pk, ancestor_pk=t["root"].pk)
    assert is_descendant_of(Category, pk=t["a1"], ancestor_pk=t["a"])
    assert not is_descendant_of(Category, pk=t["a1"].pk, ancestor_pk=t["b"].pk)
    assert not is_descendant_of(Category, pk=t["root"].pk, ancestor_pk=t["a1"].pk)
    assert not is_descendant_of(Category, pk=t["a"].pk, ancestor_pk=t["a"].pk)   # not its own
    assert not is_descendant_of(Category, pk=t["a"].pk, ancestor_pk=10 ** 9)
    with pytest.raises(Category.DoesNotExist, match="does not exist"):
        is_descendant_of(Category, pk=10 ** 9, ancestor_pk=t["a"].pk)


# ---- QuerySets -----------------------------------------------------------------------------------
def test_descendants_queryset_composes(tree):
    t = tree
    qs = descendants_queryset(Category, root_pk=t["root"].pk)
    assert [(c.name, c.depth) for c in qs] == [("a", 1), ("b", 1), ("a1", 2), ("a2", 2)]
    assert qs.count() == 4 and qs.exists()
    assert names(qs.filter(active=True)) == ["a", "b", "a1"]
    assert names(qs.filter(name__startswith="a").order_by("-name")) == ["a2", "a1", "a"]
    assert list(qs.filter(depth=2).values_list("name", flat=True)) == ["a1", "a2"]
    assert qs.aggregate(deepest=dorm.Max("depth"), n=dorm.Count("id")) == {"deepest": 2, "n": 4}
    assert descendants_queryset(Category, root_pk=t["a"].pk, include_root=True).count() == 3
    assert descendants_queryset(Category, root_pk=t["root"].pk, max_depth=1).count() == 2
    assert descendants_queryset(Category, root_pk=10 ** 9).count() == 0
    # select_related / prefetch_related keep working on the walked rows
    with assert_num_queries(1):
        assert sorted((c.name, c.parent.name) for c in qs.select_related("parent")) == [
            ("a", "root"), ("a1", "a"), ("a2", "a"), ("b", "root")]
    with assert_num_queries(2):
        kids = {c.name: sorted(k.name for k in c.children.all()) for c in qs.prefetch_related("children")}
    assert kids == {"a": ["a1", "a2"], "b": [], "a1": [], "a2": []}


def test_descendants_queryset_update_and_delete(tree):
    t = tree
    assert descendants_queryset(Category, root_pk=t["a"].pk).update(active=False) == 2
    assert set(Category.objects.filter(active=False).values_list("name", flat=True)) == {"a1", "a2"}
    deleted, _ = descendants_queryset(Category, root_pk=t["a"].pk).filter(name="a2").delete()
    assert deleted == 1
    assert set(Category.objects.values_list("name", flat=True)) == {"root", "a", "b", "a1", "other"}


def test_ancestors_queryset_and_cte_names_do_not_clash(tree):
    t = tree
    up = ancestors_queryset(Category, leaf_pk=t["a2"].pk)
    assert [(c.name, c.depth) for c in up] == [("a", 1), ("root", 2)]
    # two walks on one QuerySet get two CTE names
    both = ancestors_queryset(descendants_queryset(Category, root_pk=t["root"].pk, depth_attr="down"),
                              leaf_pk=t["a1"].pk, depth_attr="up")
    assert [(c.name, c.down, c.up) for c in both] == [("a", 1, 1)]
    with pytest.raises(ImproperlyConfigured, match="depth_attr"):
        descendants_queryset(Category, root_pk=t["root"].pk, depth_attr="name")


def test_manager_methods(tree):
    t = tree
    assert names(Category.objects.descendants_of(t["root"])) == ["a", "b", "a1", "a2"]
    assert names(Category.objects.filter(active=True).descendants_of(t["a"].pk)) == ["a1"]
    assert names(Category.objects.ancestors_of(t["a1"].pk, include_self=True)) == ["a1", "a", "root"]
    assert names(Category.objects.roots()) == ["other", "root"]
    assert names(Category.objects.children_of(t["a"])) == ["a1", "a2"]
    assert names(Category.objects.siblings_of(t["a1"])) == ["a2"]
    assert names(t["a"].children.all()) == ["a1", "a2"]       # the reverse FK still works


def test_roots_children_siblings(tree):
    t = tree
    assert names(roots(Category)) == ["other", "root"]
    assert names(children(Category, pk=t["root"].pk)) == ["a", "b"]
    assert names(siblings(Category, pk=t["a"].pk)) == ["b"]
    assert names(siblings(Category, pk=t["a"])) == ["b"]
    assert names(siblings(Category, pk=t["a"].pk, include_self=True)) == ["a", "b"]
    assert names(siblings(Category, pk=t["root"].pk)) == ["other"]    # roots are siblings
    assert names(siblings(Category, pk=t["root"])) == ["other"]
    assert names(siblings(Category, pk=t["a1"].pk).filter(active=True)) == []


async def test_async_walks(tree):
    t = tree
    nodes = await adescendants(Category, root_pk=t["root"].pk)
    assert depths(nodes) == {"a": 1, "b": 1, "a1": 2, "a2": 2}
    assert names(await aancestors(Category, leaf_pk=t["a2"].pk)) == ["a", "root"]
    assert await ais_descendant_of(Category, pk=t["a2"].pk, ancestor_pk=t["root"].pk)
    qs = descendants_queryset(Category, root_pk=t["a"].pk)
    assert await qs.acount() == 2
    assert [c.name async for c in qs] == ["a1", "a2"]
    with pytest.raises(Category.DoesNotExist):
        await adescendants(Category, root_pk=10 ** 9)


def test_moving_a_subtree_is_a_plain_fk_update(tree):
    t = tree
    a = t["a"]
    a.parent = t["b"]
    a.save()
    assert depths(descendants(Category, root_pk=t["b"].pk)) == {"a": 1, "a1": 2, "a2": 2}
    assert depths(descendants(Category, root_pk=t["root"].pk)) == {"b": 1, "a": 2, "a1": 3, "a2": 3}
    assert names(ancestors(Category, leaf_pk=t["a1"].pk)) == ["a", "b", "root"]
    # the same through a QuerySet update: move it under "other"
    Category.objects.filter(pk=a.pk).update(parent=t["other"])
    assert names(ancestors(Category, leaf_pk=t["a2"].pk)) == ["a", "other"]
    assert names(descendants(Category, root_pk=t["root"].pk)) == ["b"]


# ---- cycle guard -----------------------------------------------------------------------------------
GUARDS = ["auto", "path", "native"]


def _guard_or_skip(db, guard):
    if guard == "native" and not db.features.supports_cte_cycle_clause:
        pytest.skip(f"{db.display_name}: no CYCLE clause (features.supports_cte_cycle_clause)")
    return guard


@pytest.mark.parametrize("guard", GUARDS)
def test_cycle_ends_the_walk_and_is_reported(tree, db, guard):
    guard = _guard_or_skip(db, guard)
    t = tree
    make_cycle(t)
    with pytest.warns(TreeCycleWarning, match="cycle"):
        nodes = descendants(Category, root_pk=t["root"].pk, cycle_guard=guard, with_path=True)
    assert depths(nodes) == {"a": 1, "b": 1, "a1": 2, "a2": 2}     # each node once
    assert nodes.cycles == [(t["a1"].pk, t["root"].pk)]            # a1 points back to root
    assert [n.name for n in nodes if n.cycle] == ["a1"]
    with pytest.warns(TreeCycleWarning):
        up = ancestors(Category, leaf_pk=t["a2"].pk, cycle_guard=guard)
    assert [(n.name, n.depth, n.cycle) for n in up] == [("a", 1, False), ("root", 2, False), ("a1", 3, True)]
    assert up.cycles == [(t["a1"].pk, t["a"].pk)]
    # QuerySets return each node once and never loop
    assert names(descendants_queryset(Category, root_pk=t["a"].pk, cycle_guard=guard)) == ["a1", "a2", "root", "b"]
    assert descendants_queryset(Category, root_pk=t["root"].pk, cycle_guard=guard).count() == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert is_descendant_of(Category, pk=t["a"].pk, ancestor_pk=t["a1"].pk, cycle_guard=guard)
        assert not is_descendant_of(Category, pk=t["a"].pk, ancestor_pk=t["other"].pk, cycle_guard=guard)


@pytest.mark.parametrize("guard", GUARDS)
def test_self_loop(tree, db, guard):
    guard = _guard_or_skip(db, guard)
    Category.objects.filter(pk=tree["b"].pk).update(parent=tree["b"].pk)
    with pytest.warns(TreeCycleWarning):
        nodes = descendants(Category, root_pk=tree["b"].pk, include_root=True, cycle_guard=guard)
    assert [(n.name, n.cycle) for n in nodes] == [("b", True)]
    assert nodes.cycles == [(tree["b"].pk, tree["b"].pk)]


@pytest.mark.parametrize("guard", GUARDS)
def test_cycle_guard_in_raw_cte(tree, db, guard):
    guard = _guard_or_skip(db, guard)
    make_cycle(tree)
    cte = descendants_cte(Category, root_pk=tree["a"].pk, cycle_guard=guard)
    rows = list(Category.objects.with_cte(descendants=cte).raw(
        'SELECT "id", "parent_id", "depth", "is_cycle" FROM "descendants" ORDER BY "depth"'))
    assert sorted((r.depth, r.id, bool(r.is_cycle)) for r in rows) == sorted([
        (0, tree["a"].pk, False), (1, tree["a1"].pk, False), (1, tree["a2"].pk, False),
        (2, tree["root"].pk, False), (3, tree["b"].pk, False), (3, tree["a"].pk, True)])


def test_native_guard_needs_the_feature(tree, db):
    if db.features.supports_cte_cycle_clause:
        pytest.skip(f"{db.display_name} supports CYCLE")
    with pytest.raises(NotSupportedError, match="CYCLE"):
        descendants(Category, root_pk=tree["root"].pk, cycle_guard="native")


def test_string_keys_with_separators(db):
    """Keys containing the path separator and the escape character: no false cycle."""
    for code, parent in [("x", None), ("x,y", "x"), ("y", "x,y"), ("~c", "y"), ("y~c", "~c")]:
        Code.objects.create(code=code, parent_id=parent)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nodes = descendants(Code, root_pk="x", with_path=True)
    assert [(n.code, n.depth) for n in nodes] == [("x,y", 1), ("y", 2), ("~c", 3), ("y~c", 4)]
    assert nodes[-1].path == ("x", "x,y", "y", "~c", "y~c")
    Code.objects.filter(code="x").update(parent="y~c")
    with pytest.warns(TreeCycleWarning):
        cyc = descendants(Code, root_pk="x")
    assert cyc.cycles == [("y~c", "x")]


# ---- CTE API -----------------------------------------------------------------------------------
def test_cte_composes_with_with_cte_and_raw(tree):
    t = tree
    cte = descendants_cte(Category, parent_field="parent_id", root_pk=t["root"].pk, fields=["id", "name"])
    assert cte.columns == ["id", "name", "parent_id", "depth", "is_cycle", "via"]
    rows = Category.objects.with_cte(descendants=cte).raw(
        'SELECT c.* , d."depth" FROM "tree_tests_category" c JOIN "descendants" d ON d."id" = c."id" '
        'WHERE d."depth" > %s ORDER BY d."depth", c."name"', [0])
    assert [(r.name, r.depth) for r in rows] == [("a", 1), ("b", 1), ("a1", 2), ("a2", 2)]
    # under any name, and as a pk__in subquery of a normal QuerySet
    walk = descendants_cte(Category, root_pk=t["a"].pk, include_root=False)
    qs = Category.objects.with_cte(sub=walk).filter(pk__in=dorm.RawSQL('SELECT "id" FROM "sub"', []))
    assert names(qs) == ["a1", "a2"] and qs.count() == 2
    up = ancestors_cte(Category, leaf_pk=t["a2"].pk, cycle_field="path")
    got = list(Category.objects.with_cte(ancestors=up).raw(
        'SELECT "id", "depth", "path" FROM "ancestors" ORDER BY "depth"'))
    assert [r.depth for r in got] == [0, 1, 2]
    assert got[-1].path == f",{t['a2'].pk},{t['a'].pk},{t['root'].pk},"


def test_parameters_are_bound_not_interpolated(db):
    hostile = "x'); DROP TABLE tree_tests_code; --"
    Code.objects.create(code=hostile)
    Code.objects.create(code="child", parent_id=hostile)
    cte = descendants_cte(Code, root_pk=hostile)
    sql, params = cte.sql, cte.params
    assert hostile not in sql and params == [hostile]
    assert [n.code for n in descendants(Code, root_pk=hostile)] == ["child"]
    assert Code.objects.count() == 2


# ---- bad input -----------------------------------------------------------------------------------
def test_bad_parent_field(tree):
    root = tree["root"].pk
    with pytest.raises(ImproperlyConfigured, match=r"Category has no field or column 'mother'.*parent"):
        descendants(Category, root_pk=root, parent_field="mother")
    with pytest.raises(ImproperlyConfigured, match=r"Folder.owner is a ForeignKey to Owner, not to Folder"):
        descendants(Folder, root_pk=1, parent_field="owner")
    with pytest.raises(ImproperlyConfigured, match=r"several ForeignKey\('self'\).*up, shortcut_to"):
        descendants(Folder, root_pk=1)
    with pytest.raises(ImproperlyConfigured, match="Owner has no ForeignKey"):
        roots(Owner)
    with pytest.raises(ImproperlyConfigured, match="primary key"):
        descendants(Category, root_pk=root, parent_field="id")
    with pytest.raises(ImproperlyConfigured, match="pk_column"):
        descendants(Category, root_pk=root, pk_column="name")


def test_folder_with_explicit_parent_field(db):
    top = Folder.objects.create(name="top")
    sub = Folder.objects.create(name="sub", up=top, shortcut_to=top)
    assert [f.name for f in descendants(Folder, root_pk=top.pk, parent_field="up")] == ["sub"]
    assert [f.name for f in descendants(Folder, root_pk=top.pk, parent_field="shortcut_to_id")] == ["sub"]
    assert sub.pk


def test_missing_root_and_bad_keys(tree):
    with pytest.raises(Category.DoesNotExist, match=r"Category with id=999999 does not exist \(root_pk of descendants"):
        descendants(Category, root_pk=999999)
    with pytest.raises(Category.DoesNotExist, match="leaf_pk of ancestors"):
        ancestors(Category, leaf_pk=999999)
    with pytest.raises(ValueError, match="root_pk is required"):
        descendants(Category, root_pk=None)
    with pytest.raises(ValueError, match="not a valid Category.id"):
        descendants(Category, root_pk="abc")
    with pytest.raises(TypeError, match="must be a Category"):
        descendants(Category, root_pk=Owner(pk=1, name="x"))
    with pytest.raises(ValueError, match="not saved"):
        descendants(Category, root_pk=Category(name="new"))
    with pytest.raises(TypeError, match="model class"):
        descendants("Category", root_pk=1)


def test_bad_cte_arguments(tree):
    root = tree["root"].pk
    with pytest.raises(ImproperlyConfigured, match="no column 'nope'"):
        descendants_cte(Category, root_pk=root, fields=["id", "nope"])
    with pytest.raises(ImproperlyConfigured, match="cte_name"):
        descendants_cte(Category, root_pk=root, cte_name="bad name; --")
    with pytest.raises(ImproperlyConfigured, match="cycle_field"):
        descendants_cte(Category, root_pk=root, cycle_field="a b")
    with pytest.raises(ValueError, match="cycle_guard"):
        descendants_cte(Category, root_pk=root, cycle_guard="sometimes")
