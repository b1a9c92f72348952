"""The registry: what every loaded plugin registered, validated and de-duplicated.

Built by calling the registration hooks (``dorm_register_backends``,
``dorm_register_field_types``, ``dorm_register_lookups``,
``dorm_register_expressions``, ``dorm_register_migration_operations``,
``dorm_register_modules``) once per plugin, in load order (the kernel first), each
with a ``register`` callback that validates its arguments. The rest of dorm reads the
plain dicts here and never calls a registration hook itself.

Contract of the build:

* A plugin whose registration hook raises (including a ``register`` call with bad
  arguments) is *failed*: none of its registrations are kept, the manager records
  the error and unregisters it, the other plugins are unaffected.
* The same key registered by two different plugins (engine name or alias, field or
  expression name, ``(field class, lookup name, vendors)``, operation name, module
  path) raises ``ImproperlyConfigured`` naming both plugins. Registering the same
  object under the same key twice from one plugin is a no-op.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dorm.exceptions import ImproperlyConfigured

REGISTRATION_HOOKS = (
    "dorm_register_backends",
    "dorm_register_field_types",
    "dorm_register_lookups",
    "dorm_register_expressions",
    "dorm_register_migration_operations",
    "dorm_register_modules",
)

_ENGINE_RE = re.compile(r"^[a-z][a-z0-9_.+-]*$")
_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_DOTTED_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

#: Engine keywords matched as substrings of ENGINE, in this order (spec core.md §1.3),
#: each with the canonical engine name it stands for.
ENGINE_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("libsql", "libsql"),
    ("sqlite", "sqlite"),
    ("cockroach", "cockroachdb"),
    ("postgresql", "postgresql"),
    ("postgres", "postgresql"),
    ("mysql", "mysql"),
    ("mariadb", "mariadb"),
    ("duckdb", "duckdb"),
)


@dataclass(frozen=True)
class BackendRegistration:
    """One engine: ``name`` (canonical, lower case), ``target`` ``"module:Class"``
    (imported only by ``load()``), ``aliases``, optional ``test_settings`` callable
    and the ``plugin`` that registered it."""

    name: str
    target: str
    aliases: tuple[str, ...]
    test_settings: Callable[[], dict | None] | None
    plugin: str

    def load(self) -> type:
        """Import and return the backend class; a failure names plugin and target."""
        module_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ImproperlyConfigured(
                f"Engine {self.name!r} (plugin {self.plugin!r}) could not load its backend "
                f"{self.target!r}: {type(exc).__name__}: {exc}"
            ) from exc
        return obj


@dataclass(frozen=True)
class LookupRegistration:
    """One lookup or transform: applies to ``field_class`` and subclasses (``None``:
    every field), on the backends in ``vendors`` (``None``: all)."""

    field_class: type | None
    lookup_class: type
    vendors: tuple[str, ...] | None
    plugin: str

    @property
    def lookup_name(self) -> str:
        return self.lookup_class.lookup_name

    def describe(self) -> str:
        """``"ne"``, ``"CharField.sameletters"``, ``"search[postgresql]"``."""
        text = self.lookup_name
        if self.field_class is not None:
            text = f"{self.field_class.__name__}.{text}"
        if self.vendors:
            text += "[" + ",".join(self.vendors) + "]"
        return text


@dataclass
class Registry:
    """Everything plugins registered. Treat as read-only; rebuilt on any change."""

    backends: dict[str, BackendRegistration] = field(default_factory=dict)
    field_types: dict[str, type] = field(default_factory=dict)
    lookups: list[LookupRegistration] = field(default_factory=list)
    expressions: dict[str, type] = field(default_factory=dict)
    operations: dict[str, type] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)
    #: (kind, key) -> (plugin name, registered object)
    _owners: dict[tuple, tuple[str, Any]] = field(default_factory=dict, repr=False)
    #: engine name or alias -> canonical engine name
    _engine_index: dict[str, str] = field(default_factory=dict, repr=False)
    _backend_classes: dict[str, type] = field(default_factory=dict, repr=False)

    # ---- queries -------------------------------------------------------------------
    def owner(self, kind: str, key) -> str | None:
        """The plugin that registered ``key`` of ``kind`` ("engine", "field", ...)."""
        entry = self._owners.get((kind, key))
        return entry[0] if entry else None

    def engine_names(self) -> list[str]:
        """Canonical engine names, sorted."""
        return sorted(self.backends)

    def find_engine(self, engine: str | None) -> BackendRegistration | None:
        """Match an ``ENGINE`` value to a registered engine (spec core.md §1.3).

        Case-insensitive. Empty means ``"sqlite"``. An exact name or alias wins; then
        the keywords ``libsql, sqlite, cockroach, postgres(ql), mysql, mariadb,
        duckdb`` as substrings, in that order; then any other registered name or
        alias as a substring (longest first). ``None`` when nothing registered
        matches.
        """
        wanted = (engine or "").strip().lower() or "sqlite"
        index = self._engine_index
        if wanted in index:
            return self.backends[index[wanted]]
        keyword = engine_keyword(wanted)
        if keyword is not None:
            kw, canonical = keyword
            for candidate in (kw, canonical):
                if candidate in index:
                    return self.backends[index[candidate]]
            for alias in sorted(index, key=len, reverse=True):
                if kw in alias:
                    return self.backends[index[alias]]
            return None
        for alias in sorted(index, key=len, reverse=True):
            if alias in wanted:
                return self.backends[index[alias]]
        return None

    def backend_class(self, engine: str | None) -> type | None:
        """Import (once) and return the backend class for ``engine``, or ``None``."""
        reg = self.find_engine(engine)
        if reg is None:
            return None
        cls = self._backend_classes.get(reg.name)
        if cls is None:
            cls = self._backend_classes[reg.name] = reg.load()
        return cls

    def provided_by(self, plugin: str) -> dict[str, list[str]]:
        """What ``plugin`` registered, as sorted name lists per kind (for ``dorm plugins``)."""
        return {
            "engines": sorted(b.name for b in self.backends.values() if b.plugin == plugin),
            "fields": sorted(n for n in self.field_types if self.owner("field", n) == plugin),
            "lookups": sorted(lk.describe() for lk in self.lookups if lk.plugin == plugin),
            "expressions": sorted(
                n for n in self.expressions if self.owner("expression", n) == plugin
            ),
            "operations": sorted(
                n for n in self.operations if self.owner("operation", n) == plugin
            ),
            "modules": sorted(m for m in self.modules if self.owner("module", m) == plugin),
        }


def engine_keyword(engine: str) -> tuple[str, str] | None:
    """The first known keyword contained in ``engine`` (lower case) and its canonical name."""
    for kw, canonical in ENGINE_KEYWORDS:
        if kw in engine:
            return kw, canonical
    return None


class PluginRegistrations:
    """The ``register`` callbacks handed to one plugin's registration hooks.

    Each callback validates its arguments (raising ``TypeError``/``ValueError`` with a
    message naming the plugin) and stages the item; ``merge_into`` later adds the
    staged items to a ``Registry`` with clash detection.
    """

    def __init__(self, plugin: str):
        self.plugin = plugin
        self.items: list[tuple[str, Any]] = []

    def _fail(self, exc_type, message: str):
        raise exc_type(f"plugin {self.plugin!r}: {message}")

    # ---- callbacks -----------------------------------------------------------------
    def backend(self, name, target, aliases=(), test_settings=None) -> None:
        if not isinstance(name, str) or not _ENGINE_RE.match(name.lower()):
            self._fail(ValueError, f"engine name must be a lower-case word, got {name!r}")
        if not isinstance(target, str) or not _TARGET_RE.match(target):
            self._fail(ValueError, f"engine {name!r}: target must be 'module.path:ClassName', got {target!r}")
        if isinstance(aliases, str):
            aliases = (aliases,)
        aliases = tuple(a.lower() for a in aliases)
        for alias in aliases:
            if not _ENGINE_RE.match(alias):
                self._fail(ValueError, f"engine {name!r}: invalid alias {alias!r}")
        if test_settings is not None and not callable(test_settings):
            self._fail(TypeError, f"engine {name!r}: test_settings must be callable or None")
        self.items.append(
            ("engine", BackendRegistration(name.lower(), target, aliases, test_settings, self.plugin))
        )

    def field_type(self, field_class, name=None) -> None:
        self._check_class(field_class, "field type")
        base = _kernel_class("dorm.fields", "Field")
        if base is not None and not issubclass(field_class, base):
            self._fail(TypeError, f"field type {field_class!r} must subclass dorm.fields.Field")
        self.items.append(("field", (self._name(field_class, name), field_class)))

    def lookup(self, field_class, lookup_class, vendors=None) -> None:
        if field_class is not None:
            self._check_class(field_class, "lookup field class")
        self._check_class(lookup_class, "lookup")
        lookup_name = getattr(lookup_class, "lookup_name", None)
        if not isinstance(lookup_name, str) or not lookup_name.isidentifier():
            self._fail(ValueError, f"lookup {lookup_class.__name__} needs a class attribute lookup_name (an identifier), got {lookup_name!r}")
        bases = tuple(
            b for b in (_kernel_class("dorm.lookups", "Lookup"), _kernel_class("dorm.lookups", "Transform")) if b
        )
        if bases and not issubclass(lookup_class, bases):
            self._fail(TypeError, f"lookup {lookup_class.__name__} must subclass dorm.lookups.Lookup or Transform")
        if vendors is not None:
            if isinstance(vendors, str):
                vendors = (vendors,)
            vendors = tuple(sorted({str(v).lower() for v in vendors})) or None
        self.items.append(("lookup", LookupRegistration(field_class, lookup_class, vendors, self.plugin)))

    def expression(self, expression_class, name=None) -> None:
        self._check_class(expression_class, "expression")
        self.items.append(("expression", (self._name(expression_class, name), expression_class)))

    def operation(self, operation_class, name=None) -> None:
        self._check_class(operation_class, "migration operation")
        self.items.append(("operation", (self._name(operation_class, name), operation_class)))

    def module(self, import_path, target) -> None:
        if not isinstance(import_path, str) or not _DOTTED_RE.match(import_path) or not import_path.startswith("dorm."):
            self._fail(ValueError, f"module path must be a dotted name under 'dorm.', got {import_path!r}")
        if not isinstance(target, str) or not _DOTTED_RE.match(target):
            self._fail(ValueError, f"module {import_path!r}: target must be a dotted module name, got {target!r}")
        self.items.append(("module", (import_path, target)))

    # ---- helpers ---------------------------------------------------------------------
    def _check_class(self, obj, what: str) -> None:
        if not isinstance(obj, type):
            self._fail(TypeError, f"{what} must be a class, got {obj!r}")

    def _name(self, cls: type, name) -> str:
        name = cls.__name__ if name is None else name
        if not isinstance(name, str) or not name.isidentifier():
            self._fail(ValueError, f"name for {cls!r} must be an identifier, got {name!r}")
        return name

    def callbacks(self) -> dict[str, Callable]:
        """hook name -> the ``register`` callback for it."""
        return {
            "dorm_register_backends": self.backend,
            "dorm_register_field_types": self.field_type,
            "dorm_register_lookups": self.lookup,
            "dorm_register_expressions": self.expression,
            "dorm_register_migration_operations": self.operation,
            "dorm_register_modules": self.module,
        }

    # ---- merge -----------------------------------------------------------------------
    def merge_into(self, reg: Registry) -> None:
        """Add the staged items to ``reg``; raise ``ImproperlyConfigured`` on a clash."""
        for kind, item in self.items:
            if kind == "engine":
                self._merge_engine(reg, item)
            elif kind == "lookup":
                key = (item.field_class, item.lookup_name, item.vendors)
                if self._claim(reg, "lookup", key, item.lookup_class, f"lookup {item.describe()!r}"):
                    reg.lookups.append(item)
            else:
                name, obj = item
                if kind in ("field", "expression"):
                    # fields and expressions share the dorm.<Name> namespace
                    other = "expression" if kind == "field" else "field"
                    owner = reg._owners.get((other, name))
                    if owner is not None:
                        self._clash(f"dorm.{name} (as {other} and as {kind})", owner[0])
                label = {"field": "field type", "expression": "expression",
                         "operation": "migration operation", "module": "module"}[kind]
                if self._claim(reg, kind, name, obj, f"{label} {name!r}"):
                    target = {"field": reg.field_types, "expression": reg.expressions,
                              "operation": reg.operations, "module": reg.modules}[kind]
                    target[name] = obj

    def _merge_engine(self, reg: Registry, item: BackendRegistration) -> None:
        existing = reg.backends.get(item.name)
        if existing is not None and existing.plugin == self.plugin and existing == item:
            return
        for key in (item.name, *item.aliases):
            owner_name = reg._engine_index.get(key)
            if owner_name is not None:
                self._clash(f"engine name {key!r}", reg.backends[owner_name].plugin)
        reg.backends[item.name] = item
        reg._owners[("engine", item.name)] = (self.plugin, item)
        for key in (item.name, *item.aliases):
            reg._engine_index[key] = item.name

    def _claim(self, reg: Registry, kind: str, key, obj, label: str) -> bool:
        """Record ownership; False if it is an identical re-registration (no-op)."""
        owner = reg._owners.get((kind, key))
        if owner is not None:
            if owner[0] == self.plugin and owner[1] is obj:
                return False
            self._clash(label, owner[0])
        reg._owners[(kind, key)] = (self.plugin, obj)
        return True

    def _clash(self, label: str, other_plugin: str):
        if other_plugin == self.plugin:
            raise ImproperlyConfigured(
                f"Plugin {self.plugin!r} registers {label} twice with different objects."
            )
        raise ImproperlyConfigured(
            f"Plugin clash: {label} is registered by both {other_plugin!r} and {self.plugin!r}. "
            f"Uninstall one, or disable it with DORM_DISABLED_PLUGINS={self.plugin}."
        )


def _kernel_class(module: str, name: str) -> type | None:
    """``module.name`` if the kernel module can be imported now, else ``None``.

    Imported lazily inside ``register`` callbacks (never at registry import) so the
    plugin layer does not depend on the field/lookup layers at import time.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    obj = getattr(mod, name, None)
    return obj if isinstance(obj, type) else None
