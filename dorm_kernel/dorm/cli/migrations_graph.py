"""``dorm migrations-graph``: the migration dependency graph as Mermaid or Graphviz dot.

Contract:

* Migration files are read with ``ast``, never imported or executed, and the app
  models are not imported either (unless ``--database`` is given): a project whose
  models or migrations do not import still gets its graph. ``dependencies``,
  ``replaces`` and ``run_before`` must be literals (module attributes or attributes of
  a ``Migration`` class); a file that does not parse is an error (exit 1, naming it).
* Edges go from a migration to those that depend on it (the order they apply). As in
  the loader, a migration naming no migration of its own app follows the previous
  number of its app; ``__first__`` / ``__latest__`` are resolved. A squashed migration
  shows how many it replaces.
* Apps are ``INSTALLED_APPS`` (or the APP_LABELS given), each a subgraph. With
  ``--database`` the migrations applied there are highlighted.
* ``--format`` is ``mermaid`` (default) or ``dot``; anything else exits 2.
"""
from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import click

from . import CliState, ConfigError, load_settings, settings_option
from ._common import CommandError, connection_for

_ATTRS = ("dependencies", "replaces", "run_before")


@dataclass
class Node:
    app: str
    name: str
    dependencies: list = field(default_factory=list)
    replaces: list = field(default_factory=list)
    run_before: list = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.app, self.name)


# ---- reading -------------------------------------------------------------------------------
def read_migration(path: Path, app: str) -> Node:
    """The dependencies of one migration file, read with ``ast``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError as exc:
        raise CommandError(f"{path}: syntax error on line {exc.lineno}: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot read the migration: {exc}") from None
    node = Node(app, path.stem)
    bodies = [tree.body] + [c.body for c in tree.body
                            if isinstance(c, ast.ClassDef) and c.name == "Migration"]
    for body in bodies:
        for stmt in body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else \
                [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id in _ATTRS:
                    setattr(node, target.id, _pairs(path, target.id, stmt.value))
    return node


def _pairs(path: Path, what: str, value) -> list:
    try:
        items = ast.literal_eval(value)
    except ValueError:
        raise CommandError(f"{path}: {what} is not a literal list of (app_label, migration_name) "
                           "pairs; migrations-graph reads files without running them") from None
    out = []
    for item in items or ():
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise CommandError(f"{path}: {what} must hold (app_label, migration_name) pairs, got {item!r}")
        out.append(tuple(item))
    return out


def _package_dir(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    candidate = Path.cwd().joinpath(*package.split("."))
    return candidate if candidate.is_dir() else None


def project_apps(with_models: bool) -> list[tuple[str, Path | None]]:
    """``[(app label, package directory)]`` of the installed apps. Without
    ``with_models`` the settings module is read (not applied) when dorm is not
    configured yet, so no models module is imported; labels are then the packages'
    dotted names (the default ``app_label``)."""
    from dorm.conf import autodiscover_apps, find_settings_module, settings

    state = click.get_current_context().find_object(CliState)
    given = state.settings_module if state is not None else None
    if with_models or (settings.configured and not given):
        load_settings(required=True)
        from dorm.migrations.loader import installed_apps

        return [(a.label, a.directory) for a in installed_apps()]
    module = find_settings_module(given)
    if module is None:
        raise ConfigError("No dorm settings found: pass --settings dotted.path, set DORM_SETTINGS, "
                          f"or create settings.py in {Path.cwd()}")
    packages = list(getattr(module, "INSTALLED_APPS", None) or [])
    if not packages and getattr(module, "__file__", None):
        file = Path(module.__file__).resolve()
        depth = module.__name__.count(".") + (1 if file.name == "__init__.py" else 0)
        packages = autodiscover_apps(file.parents[depth])
    return [(p, _package_dir(p)) for p in packages]


def read_graph(apps) -> dict[tuple[str, str], Node]:
    from dorm.migrations.loader import MIGRATIONS_DIR, migration_files

    nodes: dict = {}
    for label, directory in apps:
        folder = directory / MIGRATIONS_DIR if directory is not None else None
        for path in migration_files(folder):
            node = read_migration(path, label)
            nodes[node.key] = node
    return nodes


def edges(nodes: dict) -> list[tuple[tuple, tuple]]:
    """``[(dependency, dependent)]`` following the loader's rules (see module docstring)."""
    from dorm.migrations.graph import _sort_name

    by_app: dict = {}
    for key in nodes:
        by_app.setdefault(key[0], []).append(key)
    for keys in by_app.values():
        keys.sort(key=lambda k: _sort_name(k[1]))
    out = []
    for key, node in nodes.items():
        deps = []
        for app, name in node.dependencies:
            if name in ("__first__", "__latest__"):
                keys = by_app.get(app, [])
                if keys:
                    deps.append(keys[0] if name == "__first__" else keys[-1])
                continue
            deps.append((app, name))
        if not any(d[0] == key[0] for d in deps):
            keys = by_app[key[0]]
            earlier = [k for k in keys[:keys.index(key)] if k not in set(node.replaces)]
            if earlier:
                deps.append(earlier[-1])
        out.extend((dep, key) for dep in deps if dep != key)
        out.extend((key, later) for later in node.run_before)
    return sorted(set(out))


# ---- rendering -----------------------------------------------------------------------------
def _label(node: Node | None, key) -> str:
    text = f"{key[0]}.{key[1]}"
    if node is not None and node.replaces:
        text += f" (squashes {len(node.replaces)})"
    if node is None:
        text += " (missing)"
    return text


def render_mermaid(nodes: dict, links, applied: set | None) -> str:
    keys = sorted({*nodes, *(k for link in links for k in link)})
    ids = {k: f"m{i}" for i, k in enumerate(keys)}
    lines = ["graph TD"]
    by_app: dict = {}
    for key in keys:
        by_app.setdefault(key[0], []).append(key)
    for app, members in by_app.items():
        lines.append(f'    subgraph {ids[members[0]]}_app["{_mermaid_text(app)}"]')
        for key in members:
            lines.append(f'        {ids[key]}["{_mermaid_text(_label(nodes.get(key), key))}"]')
        lines.append("    end")
    for parent, child in links:
        lines.append(f"    {ids[parent]} --> {ids[child]}")
    if applied is not None:
        done = [ids[k] for k in keys if k in applied]
        lines.append("    classDef applied fill:#c8f7c5,stroke:#2e7d32")
        if done:
            lines.append(f"    class {','.join(done)} applied")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(nodes: dict, links, applied: set | None) -> str:
    keys = sorted({*nodes, *(k for link in links for k in link)})
    lines = ["digraph migrations {", "    rankdir=TB;", "    node [shape=box];"]
    by_app: dict = {}
    for key in keys:
        by_app.setdefault(key[0], []).append(key)
    for i, (app, members) in enumerate(by_app.items()):
        lines.append(f"    subgraph cluster_{i} {{")
        lines.append(f"        label={_dot_text(app)};")
        for key in members:
            style = ' style=filled fillcolor="#c8f7c5"' if applied and key in applied else ""
            lines.append(f"        {_dot_text(f'{key[0]}.{key[1]}')} "
                         f"[label={_dot_text(_label(nodes.get(key), key))}{style}];")
        lines.append("    }")
    for parent, child in links:
        lines.append(f"    {_dot_text(f'{parent[0]}.{parent[1]}')} -> {_dot_text(f'{child[0]}.{child[1]}')};")
    lines.append("}")
    return "\n".join(lines) + "\n"


@click.command("migrations-graph")
@click.argument("app_labels", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid",
              show_default=True, help="Output language.")
@click.option("--database", "--alias", "database", default=None, metavar="ALIAS",
              help="Highlight the migrations applied on this alias (imports the models).")
@settings_option
def migrations_graph(app_labels, fmt, database):
    """Print the migration dependency graph (read from the files, nothing imported)."""
    apps = project_apps(with_models=database is not None)
    if app_labels:
        known = {label for label, _ in apps}
        unknown = [a for a in app_labels if a not in known]
        if unknown:
            raise click.UsageError(f"unknown app(s) {', '.join(unknown)}; installed apps: "
                                   f"{', '.join(sorted(known)) or 'none'}")
        apps = [(label, d) for label, d in apps if label in app_labels]
    nodes = read_graph(apps)
    links = edges(nodes)
    if app_labels:
        links = [(a, b) for a, b in links if b[0] in app_labels]
    applied = None
    if database is not None:
        from dorm.migrations.recorder import MigrationRecorder

        applied = MigrationRecorder(connection_for(database)).applied_migrations()
    render = render_mermaid if fmt == "mermaid" else render_dot
    click.echo(render(nodes, links, applied), nl=False)


COMMAND = migrations_graph
