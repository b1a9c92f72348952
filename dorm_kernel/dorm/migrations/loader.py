"""Finding, importing and ordering migration files.

Apps come from ``settings.INSTALLED_APPS`` (in that order). An app's migrations live
in ``<app package>/migrations/`` (the package directory is found by importing the app;
fallback ``<cwd>/<app/path>/migrations``). Every ``*.py`` file there whose name starts
with a digit is a migration; its number is the integer before the first ``_``.

A migration file is executed in a fresh module namespace (no import cache, so a file
rewritten in the same process is read again); it defines ``operations`` and
optionally ``dependencies``, ``replaces``, ``run_before``, ``atomic``, ``initial``
(module attributes, or attributes of a ``Migration`` class in the module).

The graph: explicit ``dependencies``; a migration that names no migration of its own
app depends on the previous-numbered migration of its app (files written without
dependencies still form a chain); ``(app, "__first__")`` / ``(app, "__latest__")``
name an app's first / last migration (dropped when the app has none). Squashed
migrations replace the migrations in their ``replaces`` when all or none of those are
applied; otherwise the originals are used.
"""
from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from .exceptions import (
    BadMigrationError,
    ConflictError,
    InconsistentMigrationHistory,
    NodeNotFoundError,
)
from .graph import MigrationGraph, _sort_name
from .migration import Migration, migration_number
from .state import ProjectState

MIGRATIONS_DIR = "migrations"


@dataclass
class AppInfo:
    """An installed app: ``label`` (``Meta.app_label`` of its models), ``package``
    (dotted import path) and the ``migrations`` directory."""

    label: str
    package: str
    directory: Path | None

    @property
    def migrations_dir(self) -> Path | None:
        return self.directory / MIGRATIONS_DIR if self.directory is not None else None

    @property
    def migrations_package(self) -> str:
        return f"{self.package}.{MIGRATIONS_DIR}"


def _package_dir(package: str) -> Path | None:
    try:
        module = importlib.import_module(package)
    except ImportError:
        module = None
    if module is not None:
        paths = list(getattr(module, "__path__", []) or [])
        if paths:
            return Path(paths[0])
        file = getattr(module, "__file__", None)
        if file:
            return Path(file).parent
    candidate = Path.cwd().joinpath(*package.split("."))
    return candidate if candidate.is_dir() else None


def installed_apps(app_packages=None) -> list[AppInfo]:
    """The installed apps (``settings.INSTALLED_APPS`` unless ``app_packages`` is given)."""
    from dorm.conf import settings
    from dorm.models.options import registry

    packages = list(settings.INSTALLED_APPS if app_packages is None else app_packages)
    models = registry.get_models()
    out: list[AppInfo] = []
    seen: set[str] = set()
    for package in packages:
        labels = []
        for model in models:
            module = model.__module__
            if module == package or module.startswith(package + "."):
                label = model._meta.app_label
                if label not in labels and not getattr(model._meta, "auto_created", False):
                    labels.append(label)
        if not labels:
            labels = [package]
        directory = _package_dir(package)
        for label in labels:
            if label in seen:
                continue
            seen.add(label)
            out.append(AppInfo(label, package, directory))
    return out


def resolve_app(apps: list[AppInfo], name: str) -> AppInfo:
    """The app for ``name``: its label, its dotted package, or the last part of either."""
    for app in apps:
        if name in (app.label, app.package):
            return app
    matches = [a for a in apps if name in (a.label.split(".")[-1], a.package.split(".")[-1])]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(a.label for a in apps) or "none"
    if matches:
        raise LookupError(f"app name {name!r} is ambiguous ({', '.join(a.label for a in matches)})")
    raise LookupError(f"no installed app {name!r} (installed apps: {known})")


def migration_files(directory: Path | None) -> list[Path]:
    if directory is None or not directory.is_dir():
        return []
    files = [p for p in directory.iterdir()
             if p.suffix == ".py" and p.is_file() and p.name[:1].isdigit()]
    return sorted(files, key=lambda p: _sort_name(p.stem))


def load_migration_file(path: Path, app: AppInfo) -> Migration:
    """Execute one migration file and build its ``Migration`` (``BadMigrationError`` on
    any problem, naming the file)."""
    name = path.stem
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadMigrationError(f"{path}: cannot read the migration: {exc}") from exc
    module = types.ModuleType(f"{app.migrations_package}.{name}")
    module.__file__ = str(path)
    module.__package__ = app.migrations_package
    try:
        code = compile(source, str(path), "exec")
        exec(code, module.__dict__)  # noqa: S102 - migration files are trusted project code
    except SyntaxError as exc:
        raise BadMigrationError(
            f"{path}: syntax error on line {exc.lineno}: {exc.msg}; fix or delete the file") from exc
    except Exception as exc:
        raise BadMigrationError(
            f"{path}: cannot import the migration: {type(exc).__name__}: {exc}") from exc
    holder = module.__dict__
    cls = holder.get("Migration")
    if isinstance(cls, type) and hasattr(cls, "operations"):
        holder = {k: getattr(cls, k) for k in dir(cls) if not k.startswith("__")}
    if "operations" not in holder:
        raise BadMigrationError(f"{path}: the migration defines no 'operations' list")
    from .operations.base import Operation

    operations = holder["operations"]
    if not isinstance(operations, (list, tuple)):
        raise BadMigrationError(f"{path}: 'operations' must be a list, got {type(operations).__name__}")
    for i, op in enumerate(operations):
        if not isinstance(op, Operation):
            raise BadMigrationError(
                f"{path}: operations[{i}] is {op!r}, not a migration operation")
    try:
        deps = _pairs(holder.get("dependencies") or [], "dependencies")
        replaces = _pairs(holder.get("replaces") or [], "replaces")
        run_before = _pairs(holder.get("run_before") or [], "run_before")
    except ValueError as exc:
        raise BadMigrationError(f"{path}: {exc}") from exc
    return Migration(name, app.label, operations, deps, replaces,
                     atomic=holder.get("atomic", True), initial=holder.get("initial"),
                     run_before=run_before, path=path)


def _pairs(value, what: str) -> list[tuple[str, str]]:
    out = []
    for item in value:
        if not (isinstance(item, (list, tuple)) and len(item) == 2
                and all(isinstance(x, str) for x in item)):
            raise ValueError(f"{what} must be a list of (app_label, migration_name) pairs, got {item!r}")
        out.append(tuple(item))
    return out


class MigrationLoader:
    """Loads the migrations of the installed apps and builds the graph.

    ``connection``: when given, ``applied`` is read from the recorder (without creating
    its table). ``apps``: ``AppInfo`` list (default: ``installed_apps()``).
    """

    def __init__(self, connection=None, apps: list[AppInfo] | None = None, load: bool = True):
        self.connection = connection
        self.apps = apps if apps is not None else installed_apps()
        self.disk_migrations: dict[tuple[str, str], Migration] = {}
        self.applied: set[tuple[str, str]] = set()
        #: squashed migrations whose replaced migrations are all applied (they count as
        #: applied; the executor records them)
        self.implicitly_applied: set[tuple[str, str]] = set()
        self.replacements: dict[tuple[str, str], Migration] = {}
        self.graph = MigrationGraph([a.label for a in self.apps])
        if load:
            self.build_graph()

    # ---- loading ------------------------------------------------------------------------------
    def app(self, label: str) -> AppInfo:
        return resolve_app(self.apps, label)

    def load_disk(self) -> None:
        self.disk_migrations = {}
        for app in self.apps:
            for path in migration_files(app.migrations_dir):
                migration = load_migration_file(path, app)
                self.disk_migrations[migration.key] = migration

    def read_applied(self) -> set:
        if self.connection is None:
            return set()
        from .recorder import MigrationRecorder

        return MigrationRecorder(self.connection).applied_migrations()

    def build_graph(self) -> None:
        self.load_disk()
        self.applied = self.read_applied()
        migrations = dict(self.disk_migrations)
        remap: dict = {}
        self.replacements = {k: m for k, m in migrations.items() if m.replaces}
        self.implicitly_applied = set()
        for key, squashed in self.replacements.items():
            replaced = [r for r in squashed.replaces]
            applied = [r in self.applied for r in replaced]
            if all(applied) or not any(applied):
                for r in replaced:
                    migrations.pop(r, None)
                    remap[r] = key
                if replaced and all(applied) and key not in self.applied:
                    self.implicitly_applied.add(key)
            else:
                migrations.pop(key, None)
                present = [r for r in replaced if r in migrations]
                if present:
                    remap[key] = max(present, key=lambda r: _sort_name(r[1]))
        self.active = migrations
        graph = MigrationGraph([a.label for a in self.apps])
        for key, migration in migrations.items():
            graph.add_node(key, migration)
        by_app: dict[str, list] = {}
        for key in migrations:
            by_app.setdefault(key[0], []).append(key)
        for keys in by_app.values():
            keys.sort(key=lambda k: _sort_name(k[1]))
        for key, migration in migrations.items():
            deps = self._resolve_deps(migration, remap, by_app)
            for dep in deps:
                if dep == key:
                    continue
                graph.add_dependency(key, dep, origin=f"{key[0]}.{key[1]}")
            if not any(d[0] == key[0] for d in deps):
                previous = self._previous(key, by_app, migration)
                if previous is not None:
                    graph.add_dependency(key, previous)
            for later in migration.run_before:
                later = remap.get(later, later)
                if later not in graph:
                    raise NodeNotFoundError(
                        f"Migration {key[0]}.{key[1]} has run_before {later[0]}.{later[1]}, "
                        "which does not exist", later, key)
                graph.add_dependency(later, key)
        graph.order()  # raises on cycles
        self.graph = graph

    def _resolve_deps(self, migration: Migration, remap: dict, by_app: dict) -> list:
        out = []
        for app, name in migration.dependencies:
            if name in ("__first__", "__latest__"):
                keys = by_app.get(app, [])
                if not keys:
                    if not any(a.label == app for a in self.apps):
                        raise NodeNotFoundError(
                            f"Migration {migration.app_label}.{migration.name} depends on app "
                            f"{app!r}, which is not installed", (app, name), migration.key)
                    continue
                out.append(keys[0] if name == "__first__" else keys[-1])
                continue
            dep = remap.get((app, name), (app, name))
            out.append(dep)
        return out

    @staticmethod
    def _previous(key, by_app, migration):
        keys = by_app.get(key[0], [])
        index = keys.index(key)
        replaced = set(migration.replaces)
        for candidate in reversed(keys[:index]):
            if candidate not in replaced:
                return candidate
        return None

    # ---- queries --------------------------------------------------------------------------------
    def is_applied(self, key) -> bool:
        return key in self.applied or key in self.implicitly_applied

    def get_migration(self, app_label: str, name: str) -> Migration:
        try:
            return self.graph.nodes[(app_label, name)]
        except KeyError:
            raise NodeNotFoundError(f"no migration {app_label}.{name}", (app_label, name)) from None

    def find_migration(self, app_label: str, target: str) -> Migration:
        """A migration of the app by full name or number prefix (``"2"``, ``"0002"``,
        ``"0002_auto"``); ``NodeNotFoundError`` listing the available names."""
        nodes = [self.graph.nodes[k] for k in self.graph.app_nodes(app_label)]
        for m in nodes:
            if m.name == target:
                return m
        matches = [m for m in nodes if m.name.startswith(target)]
        if target.isdigit():
            matches = [m for m in nodes if m.number == int(target)] or matches
        if len(matches) == 1:
            return matches[0]
        names = ", ".join(m.name for m in nodes) or "none"
        if matches:
            raise NodeNotFoundError(
                f"{target!r} matches several migrations of {app_label!r}: "
                f"{', '.join(m.name for m in matches)}", (app_label, target))
        raise NodeNotFoundError(
            f"no migration {target!r} in app {app_label!r} (available: {names}, or 'zero')",
            (app_label, target))

    def detect_conflicts(self) -> dict[str, list[str]]:
        """``{app_label: [leaf names]}`` for apps with more than one leaf migration."""
        out = {}
        for app in self.apps:
            leaves = self.graph.leaf_nodes(app.label)
            if len(leaves) > 1:
                out[app.label] = [name for _, name in leaves]
        return out

    def check_conflicts(self) -> None:
        conflicts = self.detect_conflicts()
        if conflicts:
            text = "; ".join(f"{', '.join(names)} in {app}" for app, names in sorted(conflicts.items()))
            raise ConflictError(
                f"Conflicting migrations detected; multiple leaf nodes in the migration graph: "
                f"({text}). To fix them run 'dorm makemigrations --merge'", conflicts)

    def check_consistent_history(self) -> None:
        """An applied migration whose dependency is not applied is an error."""
        for key in self.graph.order():
            if not self.is_applied(key):
                continue
            for parent in self.graph.parents[key]:
                if not self.is_applied(parent):
                    raise InconsistentMigrationHistory(
                        f"Migration {key[0]}.{key[1]} is applied before its dependency "
                        f"{parent[0]}.{parent[1]}; apply the dependency with --fake if its "
                        "changes are already in the database")

    def leaf(self, app_label: str) -> tuple[str, str] | None:
        leaves = self.graph.leaf_nodes(app_label)
        return leaves[-1] if leaves else None

    def project_state(self, nodes=None, applied_only: bool = False) -> ProjectState:
        """The state after replaying ``nodes`` (default: all migrations, or only the
        applied ones) in graph order."""
        state = ProjectState()
        wanted = set(nodes) if nodes is not None else None
        for key in self.graph.order():
            if wanted is not None and key not in wanted:
                continue
            if applied_only and not self.is_applied(key):
                continue
            self.graph.nodes[key].mutate_state(state, preserve=False)
        return state

    def get_migration_state(self, app_label: str | None = None, all_migrations: bool = False) -> ProjectState:
        """Spec name: the state of the applied (or all) migrations."""
        return self.project_state(applied_only=not all_migrations)


def clear_migration_modules(app) -> None:
    """Forget cached imports of an app's migrations package (after writing files);
    ``app`` is an ``AppInfo`` or a package name."""
    prefix = app.migrations_package if isinstance(app, AppInfo) else f"{app}.{MIGRATIONS_DIR}"
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]


__all__ = ["AppInfo", "MigrationLoader", "installed_apps", "load_migration_file", "migration_files",
           "migration_number", "resolve_app"]
