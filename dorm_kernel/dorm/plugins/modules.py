"""Import paths under ``dorm`` provided by plugins (hook ``dorm_register_modules``).

Two ``sys.meta_path`` finders, installed by ``import dorm.plugins`` (cheap: nothing
is loaded until an import needs them):

* the *alias finder*, appended after the standard finders, so kernel modules always
  win. For ``import dorm.X`` that no file provides, it looks ``dorm.X`` up in the
  registry (loading plugins on first need) and, when a plugin registered it, imports
  the plugin's target module and makes it available as ``dorm.X`` (the very same
  module object: ``sys.modules["dorm.tree"] is sys.modules["dorm_tree.api"]``). For a
  documented path no installed plugin provides (``dorm.tree``,
  ``dorm.contrib.tenants_row``, ...), it raises ``PluginNotInstalled`` naming the
  distribution. Anything else: the usual ``ModuleNotFoundError``.
* the *submodule finder*, first in ``sys.meta_path`` but only acting on children of
  an aliased package (``dorm.contrib.gis.db`` -> ``dorm_gis.db``), so a plugin
  package's submodules are not imported a second time under the dorm name.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

#: dorm name -> real module name, for every alias this module created.
_aliases: dict[str, str] = {}


class _AliasLoader(importlib.abc.Loader):
    """Loads a dorm name by importing the real module and handing it back as is."""

    def __init__(self, fullname: str, target: str, plugin: str | None):
        self.fullname, self.target, self.plugin = fullname, target, plugin

    def create_module(self, spec):
        try:
            module = importlib.import_module(self.target)
        except ImportError as exc:
            by = f" by plugin {self.plugin!r}" if self.plugin else ""
            raise ImportError(
                f"{self.fullname} is provided{by} as {self.target!r}, which failed to import: "
                f"{type(exc).__name__}: {exc}",
                name=self.fullname,
            ) from exc
        _aliases[self.fullname] = module.__name__
        return module

    def exec_module(self, module) -> None:  # the real module is already executed
        pass


def _spec(fullname: str, target: str, plugin: str | None = None):
    return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname, target, plugin))


class PluginModuleFinder(importlib.abc.MetaPathFinder):
    """Resolves registered and documented ``dorm.*`` module paths (see module doc)."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("dorm."):
            return None
        from . import manager
        from .missing import missing_module

        if manager.is_loading():
            return None
        reg = manager.get_registry()
        real = reg.modules.get(fullname)
        if real is not None:
            return _spec(fullname, real, reg.owner("module", fullname))
        err = missing_module(fullname)
        if err is not None:
            raise err
        return None


class AliasSubmoduleFinder(importlib.abc.MetaPathFinder):
    """Maps ``<alias>.<child>`` to ``<real>.<child>`` for packages aliased above."""

    def find_spec(self, fullname, path=None, target=None):
        parent, _, child = fullname.rpartition(".")
        real_parent = _aliases.get(parent)
        if real_parent is None or sys.modules.get(parent) is None:
            return None
        real = f"{real_parent}.{child}"
        if real not in sys.modules and importlib.util.find_spec(real) is None:
            return None
        return _spec(fullname, real)


_finders = (AliasSubmoduleFinder(), PluginModuleFinder())


def install() -> None:
    """Put the two finders on ``sys.meta_path`` (idempotent)."""
    front, back = _finders
    if not any(isinstance(f, AliasSubmoduleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, front)
    if not any(isinstance(f, PluginModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(back)


def forget_aliases() -> None:
    """Drop every alias created so far (after a plugin change); re-created on next import."""
    for name in sorted(_aliases, key=len, reverse=True):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__name__", name) != name:
            del sys.modules[name]
            parent_name, _, child = name.rpartition(".")
            parent = sys.modules.get(parent_name)
            if parent is not None and getattr(parent, child, None) is module:
                delattr(parent, child)
    _aliases.clear()
