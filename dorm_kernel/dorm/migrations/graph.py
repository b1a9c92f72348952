"""The migration graph: nodes are ``(app_label, name)``, edges are dependencies.

The order is a topological sort that prefers, among the migrations whose
dependencies are met, the app listed first in ``INSTALLED_APPS``, then the lowest
number, then the name; so independent apps migrate one after the other in
``INSTALLED_APPS`` order and cross-app dependencies are honoured. A cycle raises
``CircularDependencyError`` showing it.
"""
from __future__ import annotations

import heapq

from .exceptions import CircularDependencyError, NodeNotFoundError
from .migration import migration_number


class MigrationGraph:
    def __init__(self, app_order=()):
        self.nodes: dict[tuple[str, str], object] = {}
        self.parents: dict[tuple[str, str], set] = {}
        self.children: dict[tuple[str, str], set] = {}
        self.app_order = {app: i for i, app in enumerate(app_order)}
        self._order: list | None = None

    # ---- building ---------------------------------------------------------------------------
    def add_node(self, key, migration) -> None:
        self.nodes[key] = migration
        self.parents.setdefault(key, set())
        self.children.setdefault(key, set())
        self._order = None

    def add_dependency(self, child, parent, origin: str | None = None) -> None:
        if child not in self.nodes:
            raise NodeNotFoundError(f"migration {child[0]}.{child[1]} is not in the graph", child)
        if parent not in self.nodes:
            where = origin or f"{child[0]}.{child[1]}"
            raise NodeNotFoundError(
                f"Migration {where} depends on {parent[0]}.{parent[1]}, which does not exist "
                f"(known migrations of {parent[0]!r}: {self._names_of(parent[0])})", parent, child)
        if child == parent:
            raise CircularDependencyError(f"migration {child[0]}.{child[1]} depends on itself")
        self.parents[child].add(parent)
        self.children[parent].add(child)
        self._order = None

    def _names_of(self, app: str) -> str:
        names = sorted((n for a, n in self.nodes if a == app), key=_sort_name)
        return ", ".join(names) or "none"

    # ---- queries ----------------------------------------------------------------------------
    def _priority(self, key):
        app, name = key
        return (self.app_order.get(app, len(self.app_order)), app, *_sort_name(name))

    def order(self) -> list:
        """Every node, dependencies first (see the module docstring)."""
        if self._order is not None:
            return list(self._order)
        indegree = {k: len(self.parents[k]) for k in self.nodes}
        heap = [(self._priority(k), k) for k, d in indegree.items() if d == 0]
        heapq.heapify(heap)
        out = []
        while heap:
            _, key = heapq.heappop(heap)
            out.append(key)
            for child in self.children[key]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(heap, (self._priority(child), child))
        if len(out) != len(self.nodes):
            cycle = self._find_cycle({k for k, d in indegree.items() if d > 0})
            raise CircularDependencyError(
                "Circular dependency between migrations: " + " -> ".join(f"{a}.{n}" for a, n in cycle))
        self._order = out
        return list(out)

    def _find_cycle(self, candidates: set) -> list:
        state: dict = {}
        stack: list = []

        def visit(node):
            state[node] = 1
            stack.append(node)
            for parent in sorted(self.parents[node]):
                if parent not in candidates:
                    continue
                if state.get(parent) == 1:
                    return stack[stack.index(parent):] + [parent]
                if parent not in state:
                    found = visit(parent)
                    if found:
                        return found
            stack.pop()
            state[node] = 2
            return None

        for node in sorted(candidates):
            if node not in state:
                found = visit(node)
                if found:
                    return list(reversed(found))
        return sorted(candidates)

    def ancestors(self, key) -> set:
        seen, todo = set(), [key]
        while todo:
            node = todo.pop()
            for parent in self.parents[node]:
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    def descendants(self, key) -> set:
        seen, todo = set(), [key]
        while todo:
            node = todo.pop()
            for child in self.children[node]:
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    def forwards_plan(self, key) -> list:
        """``key`` and everything it depends on, in order."""
        wanted = self.ancestors(key) | {key}
        return [k for k in self.order() if k in wanted]

    def backwards_plan(self, key) -> list:
        """``key`` and everything depending on it, dependents first."""
        wanted = self.descendants(key) | {key}
        return [k for k in reversed(self.order()) if k in wanted]

    def leaf_nodes(self, app: str | None = None) -> list:
        """Nodes of ``app`` that no other migration of the same app depends on."""
        out = []
        for key in self.nodes:
            if app is not None and key[0] != app:
                continue
            if not any(child[0] == key[0] for child in self.children[key]):
                out.append(key)
        return sorted(out, key=lambda k: (k[0], *_sort_name(k[1])))

    def root_nodes(self, app: str | None = None) -> list:
        out = []
        for key in self.nodes:
            if app is not None and key[0] != app:
                continue
            if not any(parent[0] == key[0] for parent in self.parents[key]):
                out.append(key)
        return sorted(out, key=lambda k: (k[0], *_sort_name(k[1])))

    def app_nodes(self, app: str) -> list:
        return [k for k in self.order() if k[0] == app]

    def __contains__(self, key):
        return key in self.nodes

    def __len__(self):
        return len(self.nodes)


def _sort_name(name: str) -> tuple:
    number = migration_number(name)
    return (number if number is not None else 1 << 30, name)
