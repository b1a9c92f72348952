"""Callable field arguments (``upload_to=``, ``storage=``, ``path=``) in migrations.

A migration file must import every callable it names, so only module-level functions
(and other values the migration serializer can write) are allowed there. A lambda or
a function defined inside another function works at run time, so the field accepts
it; only writing a migration fails, with an error that names the model, the field and
the argument.

* ``check_writable(value, field, arg)`` – ``value`` when the serializer can write it,
  else an ``Unwritable`` stand-in (still callable) whose ``deconstruct()`` raises
  ``SerializationError`` naming ``field`` and ``arg``. Used in ``Field.deconstruct()``,
  so the migration state keeps working and only the writer refuses.
* ``unwrap(value)`` – the original value of an ``Unwritable`` (field constructors call
  it, so a field rebuilt from its own ``deconstruct()`` is unchanged).
"""
from __future__ import annotations

__all__ = ["Unwritable", "check_writable", "unwrap"]


class Unwritable:
    """A callable argument that a migration file cannot import (see module docstring)."""

    def __init__(self, value, label: str, arg: str, reason: str):
        self.value = value
        self.label = label
        self.arg = arg
        self.reason = reason

    def __call__(self, *args, **kwargs):
        return self.value(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<unwritable {self.arg}={self.value!r}>"

    def deconstruct(self):
        from dorm.migrations.exceptions import SerializationError

        raise SerializationError(
            f"{self.label}: {self.arg}={self.value!r} cannot be written into a migration: "
            f"{self.reason}")


def unwrap(value):
    return value.value if isinstance(value, Unwritable) else value


def check_writable(value, field, arg: str):
    from dorm.migrations.exceptions import SerializationError
    from dorm.migrations.serializer import Serializer

    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    try:
        Serializer().serialize(value)
    except SerializationError as exc:
        model = getattr(field, "model", None)
        owner = f"{model.__name__}." if model is not None else ""
        label = f"{owner}{field.name} ({type(field).__name__})"
        return Unwritable(value, label, arg, str(exc))
    return value
