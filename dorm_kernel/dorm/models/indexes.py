"""``Index``, ``CheckConstraint``, ``UniqueConstraint``: declared in ``Meta`` and
created by the schema editor (``create_tables``) and migrations."""
from __future__ import annotations

import hashlib
import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME_LENGTH = 63


def _check_name(name, what):
    if name is not None and (not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_NAME_LENGTH):
        raise ValueError(f"{what} name {name!r} must be an identifier of at most {MAX_NAME_LENGTH} characters")
    return name


def default_name(table: str, columns, suffix: str) -> str:
    """Deterministic ``<table>_<cols>_<hash>_<suffix>`` of at most 63 characters: the
    same at creation and at drop time."""
    digest = hashlib.sha256("|".join([table, *columns, suffix]).encode()).hexdigest()[:8]
    base = f"{table}_{'_'.join(columns)}"
    room = MAX_NAME_LENGTH - len(digest) - len(suffix) - 2
    return f"{base[:room]}_{digest}_{suffix}"


class Index:
    suffix = "idx"

    def __init__(self, *expressions, fields=(), name=None, condition=None, opclasses=(),
                 db_tablespace=None, include=None):
        if not fields and not expressions:
            raise ValueError("Index needs fields= or expressions")
        self.fields = list(fields)
        self.expressions = list(expressions)
        self.name = _check_name(name, "Index")
        self.condition = condition
        self.opclasses = list(opclasses)
        self.include = list(include or ())
        self.db_tablespace = db_tablespace

    def set_name_with_model(self, model):
        if self.name is None:
            cols = [model._meta.get_field(f.lstrip("-")).column for f in self.fields] or ["expr"]
            self.name = default_name(model._meta.db_table, cols, self.suffix)

    def deconstruct(self):
        kwargs = {"fields": self.fields, "name": self.name}
        if self.condition is not None:
            kwargs["condition"] = self.condition
        if self.opclasses:
            kwargs["opclasses"] = self.opclasses
        if self.include:
            kwargs["include"] = self.include
        return "dorm.Index", list(self.expressions), kwargs

    def __eq__(self, other):
        return isinstance(other, Index) and self.deconstruct() == other.deconstruct()

    def __repr__(self):
        return f"<Index: fields={self.fields} name={self.name!r}>"


class BaseConstraint:
    def __init__(self, *, name, violation_error_message=None):
        if not name:
            raise ValueError(f"{type(self).__name__} needs a name")
        self.name = _check_name(name, type(self).__name__)
        self.violation_error_message = violation_error_message

    def __eq__(self, other):
        return type(self) is type(other) and self.deconstruct() == other.deconstruct()


class CheckConstraint(BaseConstraint):
    def __init__(self, *, check=None, condition=None, name, violation_error_message=None):
        super().__init__(name=name, violation_error_message=violation_error_message)
        self.check = check if check is not None else condition
        if self.check is None:
            raise TypeError("CheckConstraint needs check=Q(...)")

    def deconstruct(self):
        return "dorm.CheckConstraint", [], {"check": self.check, "name": self.name}

    def __repr__(self):
        return f"<CheckConstraint: check={self.check!r} name={self.name!r}>"


class UniqueConstraint(BaseConstraint):
    def __init__(self, *expressions, fields=(), name, condition=None, deferrable=None,
                 include=None, nulls_distinct=None, violation_error_message=None):
        super().__init__(name=name, violation_error_message=violation_error_message)
        if not fields and not expressions:
            raise ValueError("UniqueConstraint needs fields= or expressions")
        self.fields = tuple(fields)
        self.expressions = list(expressions)
        self.condition = condition
        self.deferrable = deferrable
        self.include = tuple(include or ())
        self.nulls_distinct = nulls_distinct

    def deconstruct(self):
        kwargs = {"fields": self.fields, "name": self.name}
        if self.condition is not None:
            kwargs["condition"] = self.condition
        if self.deferrable is not None:
            kwargs["deferrable"] = self.deferrable
        return "dorm.UniqueConstraint", list(self.expressions), kwargs

    def __repr__(self):
        return f"<UniqueConstraint: fields={self.fields} name={self.name!r}>"
