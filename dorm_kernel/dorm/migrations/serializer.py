"""Python source for the values found in migrations, with the imports they need.

``Serializer().serialize(value)`` returns a ``Node`` that renders as source
(``node.render(indent)``, wrapped at ``WIDTH`` columns); the names it uses are
collected in ``serializer.imports``. Supported: ``None``/bool/int/float/str/bytes,
``Decimal``, dates and times (aware ones too), ``timedelta``, ``UUID``, enum members
and classes, module-level functions and classes (by import path; class attributes like
``datetime.datetime.now`` too), lists/tuples/sets/frozensets/dicts, compiled regexes,
``functools.partial``, paths, fields (``deconstruct()``), operations, and any object
with ``deconstruct() -> (path, args, kwargs)`` (``Index``, constraints, ``Q``,
validators, ``SET``); ``F``, ``Value``, combined expressions and ``Func`` subclasses.
Anything else (a lambda, a class defined inside a function, an object without
``deconstruct``) raises ``SerializationError`` naming it.
"""
from __future__ import annotations

import builtins
import datetime
import decimal
import enum
import functools
import math
import pathlib
import re
import types
import uuid
from typing import Any

from .exceptions import SerializationError

WIDTH = 100

#: ``on_delete`` string constants -> the name exported by ``dorm.fields``
ON_DELETE_NAMES = {"CASCADE": "CASCADE", "PROTECT": "PROTECT", "RESTRICT": "RESTRICT",
                   "SET NULL": "SET_NULL", "SET DEFAULT": "SET_DEFAULT", "NO ACTION": "DO_NOTHING"}


# ---- nodes ---------------------------------------------------------------------------------
class Node:
    def flat(self) -> str:
        raise NotImplementedError

    def render(self, indent: int = 0) -> str:
        return self.flat()


class Atom(Node):
    def __init__(self, text: str):
        self.text = text

    def flat(self):
        return self.text


class Seq(Node):
    """A bracketed, comma-separated sequence (call arguments, list, tuple, dict)."""

    def __init__(self, open_: str, close: str, items: list, single_comma: bool = False):
        self.open, self.close, self.items = open_, close, items
        self.single_comma = single_comma

    def _item_flat(self, item):
        if isinstance(item, tuple):
            key, value = item
            return f"{key}={value.flat()}" if isinstance(key, str) else f"{key.flat()}: {value.flat()}"
        return item.flat()

    def flat(self):
        inner = ", ".join(self._item_flat(i) for i in self.items)
        if self.single_comma and len(self.items) == 1:
            inner += ","
        return f"{self.open}{inner}{self.close}"

    def render(self, indent: int = 0) -> str:
        flat = self.flat()
        if indent + len(flat) <= WIDTH or not self.items:
            return flat
        pad = " " * (indent + 4)
        lines = [self.open]
        for item in self.items:
            if isinstance(item, tuple):
                key, value = item
                if isinstance(key, str):
                    head = f"{key}="
                else:
                    head = f"{key.flat()}: "
                lines.append(pad + head + value.render(indent + 4) + ",")
            else:
                lines.append(pad + item.render(indent + 4) + ",")
        lines.append(" " * indent + self.close)
        return "\n".join(lines)


class Call(Node):
    def __init__(self, func: str, args: list, kwargs: list):
        self.func = func
        self.seq = Seq("(", ")", [*args, *kwargs])

    def flat(self):
        return self.func + self.seq.flat()

    def render(self, indent: int = 0) -> str:
        flat = self.flat()
        if indent + len(flat) <= WIDTH:
            return flat
        return self.func + self.seq.render(indent)


# ---- the serializer --------------------------------------------------------------------------
def _is_identifier_path(path: str) -> bool:
    return all(part.isidentifier() for part in path.split("."))


class Serializer:
    """Turns values into ``Node``s and collects the imports they need."""

    def __init__(self, *, forbidden_modules: tuple[str, ...] = ()):
        #: module -> names imported with ``from module import name``
        self.from_imports: dict[str, set[str]] = {}
        #: modules imported with ``import module``
        self.module_imports: set[str] = set()
        self._bound: dict[str, str] = {}   # local name -> module
        self.forbidden_modules = forbidden_modules

    # ---- imports ----------------------------------------------------------------------------
    def reference(self, path: str, what: str = "value") -> str:
        """The expression that names ``module.attr[.attr...]`` and records its import.
        Names under ``dorm`` are imported with ``from``; others by module."""
        module, attrs = self._split_module(path, what)
        if module == "builtins":
            return ".".join(attrs)
        if module.split(".")[0] == "dorm":
            head = attrs[0]
            bound = self._bound.get(head)
            if bound is None or bound == module:
                self._bound[head] = module
                self.from_imports.setdefault(module, set()).add(head)
                return ".".join(attrs)
        self.module_imports.add(module)
        return ".".join([module, *attrs])

    def _split_module(self, path: str, what: str) -> tuple[str, list[str]]:
        import importlib

        if not path or not _is_identifier_path(path):
            raise SerializationError(f"cannot write {what}: {path!r} is not an importable path")
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:i])
            try:
                obj: Any = importlib.import_module(module)
            except ImportError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                raise SerializationError(
                    f"cannot write {what}: {path!r} is not importable ({'.'.join(parts[i:])} "
                    f"not found in module {module})") from None
            if any(module == m or module.startswith(m + ".") for m in self.forbidden_modules):
                raise SerializationError(f"cannot write {what}: {path!r} lives in module {module}, "
                                         "which cannot be imported from another migration")
            return module, parts[i:]
        raise SerializationError(f"cannot write {what}: no module of {path!r} can be imported")

    def import_lines(self) -> list[str]:
        lines = [f"import {m}" for m in sorted(self.module_imports)]
        for module in sorted(self.from_imports):
            names = sorted(self.from_imports[module], key=lambda n: (n.lower(), n))
            line = f"from {module} import {', '.join(names)}"
            if len(line) > WIDTH:
                line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
            lines.append(line)
        return lines

    # ---- values -------------------------------------------------------------------------------
    def serialize(self, value) -> Node:
        from dorm.fields import NOT_PROVIDED, Field

        if value is None or isinstance(value, (bool, int)) and not isinstance(value, enum.Enum):
            return Atom(repr(value))
        if isinstance(value, enum.Enum):
            cls = type(value)
            ref = self._class_ref(cls, f"enum member {value!r}")
            name = value.name
            return Atom(f"{ref}.{name}" if name.isidentifier() else f"{ref}[{name!r}]")
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                return Atom(f'float("{value!r}")')
            return Atom(repr(value))
        if isinstance(value, str):
            return Atom(_str_literal(value))
        if isinstance(value, bytes):
            return Atom(repr(value))
        if value is NOT_PROVIDED:
            return Atom(self.reference("dorm.fields.NOT_PROVIDED"))
        if isinstance(value, decimal.Decimal):
            self.module_imports.add("decimal")
            return Atom(f"decimal.Decimal({str(value)!r})")
        if isinstance(value, (datetime.datetime, datetime.date, datetime.time, datetime.timedelta,
                              datetime.timezone)):
            self.module_imports.add("datetime")
            text = repr(value)
            tz = getattr(value, "tzinfo", None)
            if tz is not None and not isinstance(tz, datetime.timezone):
                if type(tz).__module__ == "zoneinfo":
                    self.module_imports.add("zoneinfo")
                else:
                    raise SerializationError(
                        f"cannot write {value!r}: its tzinfo {tz!r} is not a datetime.timezone "
                        "or zoneinfo.ZoneInfo")
            return Atom(text)
        if isinstance(value, uuid.UUID):
            self.module_imports.add("uuid")
            return Atom(f"uuid.UUID({str(value)!r})")
        if isinstance(value, pathlib.PurePath):
            self.module_imports.add("pathlib")
            cls = "PurePosixPath" if isinstance(value, pathlib.PurePosixPath) else "PureWindowsPath"
            return Atom(f"pathlib.{cls}({str(value)!r})")
        if isinstance(value, re.Pattern):
            self.module_imports.add("re")
            args = [Atom(repr(value.pattern))]
            flags = value.flags & ~re.UNICODE if isinstance(value.pattern, str) else value.flags
            if flags:
                args.append(Atom(f"re.RegexFlag({int(flags)})"))
            return Call("re.compile", args, [])
        if isinstance(value, Field):
            return self._field(value)
        from dorm.migrations.operations.base import Operation

        if isinstance(value, Operation):
            path, args, kwargs = value.deconstruct()
            return self._call(path, args, kwargs, f"operation {type(value).__name__}")
        if isinstance(value, type):
            if hasattr(value, "_meta") and hasattr(value._meta, "label"):
                return Atom(repr(value._meta.label))
            return Atom(self._class_ref(value, f"class {value!r}"))
        if isinstance(value, functools.partial):
            self.module_imports.add("functools")
            return Call("functools.partial", [self.serialize(value.func),
                                              *[self.serialize(a) for a in value.args]],
                        [(k, self.serialize(v)) for k, v in value.keywords.items()])
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                              staticmethod, classmethod)):
            return Atom(self._function_ref(value))
        q = self._q(value)
        if q is not None:
            return q
        deconstruct = getattr(value, "deconstruct", None)
        if callable(deconstruct) and not isinstance(value, type):
            result = deconstruct()
            if isinstance(result, tuple) and len(result) == 3 and isinstance(result[0], str):
                path, args, kwargs = result
                return self._call(path, args, kwargs, f"{type(value).__name__} {value!r}")
        expression = self._expression(value)
        if expression is not None:
            return expression
        if isinstance(value, list):
            return Seq("[", "]", [self.serialize(v) for v in value])
        if isinstance(value, tuple):
            if hasattr(value, "_fields"):  # namedtuple: plain tuple of its values
                value = tuple(value)
            return Seq("(", ")", [self.serialize(v) for v in value], single_comma=True)
        if isinstance(value, (set, frozenset)):
            items = sorted((self.serialize(v) for v in value), key=lambda n: n.flat())
            if not items:
                return Atom("set()" if isinstance(value, set) else "frozenset()")
            seq = Seq("{", "}", items)
            return seq if isinstance(value, set) else Call("frozenset", [seq], [])
        if isinstance(value, dict):
            return Seq("{", "}", [(self.serialize(k), self.serialize(v)) for k, v in value.items()])
        if isinstance(value, range):
            return Atom(repr(value))
        raise SerializationError(
            f"cannot write a {type(value).__module__}.{type(value).__qualname__} value ({value!r}) "
            "into a migration: give its class a deconstruct() method returning "
            "(import path, args, kwargs)")

    # ---- helpers ------------------------------------------------------------------------------
    def _class_ref(self, cls: type, what: str) -> str:
        module, qualname = cls.__module__, cls.__qualname__
        if "<locals>" in qualname or module == "__main__":
            raise SerializationError(
                f"cannot write {what}: {module}.{qualname} is not importable (defined in __main__ "
                "or inside a function); move it to module level of an importable module")
        if module == "builtins":
            return qualname
        return self.reference(f"{module}.{qualname}", what)

    def _function_ref(self, func) -> str:
        if isinstance(func, (staticmethod, classmethod)):
            func = func.__func__
        owner = getattr(func, "__self__", None)
        name = getattr(func, "__name__", None) or repr(func)
        if isinstance(owner, type):             # datetime.datetime.now, Model.classmethod
            return f"{self._class_ref(owner, f'method {name}')}.{name}"
        if owner is not None and not isinstance(owner, types.ModuleType):
            raise SerializationError(
                f"cannot write the bound method {func!r} into a migration; use a module-level function")
        module = getattr(func, "__module__", None) or getattr(owner, "__name__", None)
        qualname = getattr(func, "__qualname__", name)
        if name == "<lambda>" or "<lambda>" in qualname:
            raise SerializationError(
                "cannot write a lambda into a migration (e.g. default=lambda: ...); use a "
                "module-level function and reference it by name")
        if "<locals>" in qualname:
            raise SerializationError(
                f"cannot write {qualname}: it is defined inside a function; move it to module level")
        if module in (None, "__main__"):
            raise SerializationError(
                f"cannot write {qualname}: it is defined in __main__; move it to an importable module")
        if module == "builtins" and hasattr(builtins, qualname):
            return qualname
        if "." in qualname:  # RunPython.noop: name the operation by its public path
            import importlib

            from dorm.migrations.operations.base import Operation, operation_path

            head, _, rest = qualname.partition(".")
            owner_cls = getattr(importlib.import_module(module), head, None)
            if isinstance(owner_cls, type) and issubclass(owner_cls, Operation):
                return f"{self.reference(operation_path(owner_cls))}.{rest}"
        return self.reference(f"{module}.{qualname}", f"function {qualname}")

    def _call(self, path: str, args, kwargs, what: str) -> Call:
        func = self.reference(path, what)
        return Call(func, [self.serialize(a) for a in args],
                    [(k, self.serialize(v)) for k, v in kwargs.items()])

    def _field(self, field) -> Call:
        from dorm.migrations.state import deconstruct_field

        _, path, args, kwargs = deconstruct_field(field)
        func = self.reference(path, f"field {type(field).__name__}")
        items = []
        for key, value in kwargs.items():
            if key == "on_delete" and isinstance(value, str) and value in ON_DELETE_NAMES:
                items.append((key, Atom(self.reference(f"dorm.fields.{ON_DELETE_NAMES[value]}"))))
            else:
                items.append((key, self.serialize(value)))
        return Call(func, [self.serialize(a) for a in args], items)

    def _q(self, value) -> Node | None:
        """``Q(a=1, b=2)`` when that keyword form rebuilds the same children."""
        from dorm.query.where import Q

        if type(value) is not Q:
            return None
        _, args, kwargs = value.deconstruct()
        pairs = [c for c in args if isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str)
                 and c[0].isidentifier() and not c[0].startswith("_")]
        func = self.reference("dorm.Q", "Q")
        keys = [k for k, _ in pairs]
        if len(pairs) == len(args) and keys == sorted(keys) and len(set(keys)) == len(keys):
            return Call(func, [], [*[(k, self.serialize(v)) for k, v in pairs],
                                   *[(k, self.serialize(v)) for k, v in kwargs.items()]])
        return Call(func, [self.serialize(a) for a in args],
                    [(k, self.serialize(v)) for k, v in kwargs.items()])

    def _expression(self, value) -> Node | None:
        from dorm.expressions import CombinedExpression, F, Func, Value

        if isinstance(value, F):
            return Call(self._class_ref(type(value), "F()"), [Atom(repr(value.name))], [])
        output = value.__dict__.get("_output_field") if hasattr(value, "__dict__") else None
        extra = [("output_field", self.serialize(output))] if output is not None else []
        if isinstance(value, Value):
            return Call(self._class_ref(Value, "Value()"), [self.serialize(value.value)], extra)
        if isinstance(value, CombinedExpression):
            return Call(self._class_ref(CombinedExpression, "expression"),
                        [self.serialize(value.lhs), Atom(repr(value.connector)), self.serialize(value.rhs)],
                        extra)
        if isinstance(value, Func):
            return Call(self._class_ref(type(value), f"function {type(value).__name__}"),
                        [self.serialize(e) for e in value.source_expressions],
                        [*[(k, self.serialize(v)) for k, v in value.extra.items()], *extra])
        return None


def _str_literal(text: str) -> str:
    """A string literal, double-quoted when that needs no escaping of quotes."""
    if '"' in text:
        return repr(text)
    inner = repr(text)[1:-1]
    if "'" in text:
        inner = inner.replace("\\'", "'")
    return f'"{inner}"'


def serialize_value(value) -> str:
    """One value as flat source (imports discarded): a comparison key for the
    autodetector, or ``repr`` when it cannot be serialised."""
    try:
        return Serializer().serialize(value).flat()
    except SerializationError:
        return f"<unserializable {value!r}>"
