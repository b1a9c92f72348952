"""``Operation``: the base class of every migration operation (kernel and plugins).

Protocol (Django's, with dorm's names):

* ``state_forwards(app_label, state)`` – change the ``ProjectState`` in place (replace
  field objects, never mutate them);
* ``database_forwards(app_label, schema_editor, from_state, to_state)`` – apply to the
  database. ``schema_editor`` is the backend's schema editor (``schema_editor.connection``
  is the backend connection; in dry-run / ``sqlmigrate`` it collects SQL instead of
  running it: write through ``schema_editor.execute(sql, params)`` so SQL is shown);
  ``from_state`` is the state before the operation, ``to_state`` after it;
* ``database_backwards(app_label, schema_editor, from_state, to_state)`` – undo it;
  here ``from_state`` is the state *with* the operation applied and ``to_state`` the
  state before it (as in Django);
* ``describe()`` – one line for humans; ``reversible`` – can it be undone;
* ``atomic`` – ``False`` for an operation that cannot run inside a transaction (``CREATE
  INDEX CONCURRENTLY``); such an operation is only allowed in a migration with
  ``atomic = False``;
* ``deconstruct()`` – ``(import path, args, kwargs)`` for the migration writer. The
  default records the constructor arguments, so a plugin operation only needs an
  ``__init__``.

Tables and columns are always taken from rendered state models
(``to_state.apps.get_model(app_label, name)``), never derived from names.
"""
from __future__ import annotations

from typing import Any


def operation_path(cls: type) -> str:
    """``"dorm.migrations.operations.<Name>"`` for a registered operation class, else its
    module path."""
    try:
        from dorm.plugins import get_registry

        for name, registered in get_registry().operations.items():
            if registered is cls:
                return f"dorm.migrations.operations.{name}"
    except Exception:  # noqa: BLE001 - registry broken: fall back to the module path
        pass
    return f"{cls.__module__}.{cls.__qualname__}"


class Operation:
    """Base class; see the module docstring."""

    #: can ``database_backwards`` undo it
    reversible = True
    #: can ``sqlmigrate`` / dry-run show it as SQL (``RunPython`` cannot)
    reduces_to_sql = True
    #: False: must run outside a transaction (migration needs ``atomic = False``)
    atomic = True
    #: may be dropped when squashing
    elidable = False

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        self._constructor_args = (args, kwargs)
        return self

    # ---- serialisation ----------------------------------------------------------------
    def deconstruct(self) -> tuple[str, list, dict]:
        args, kwargs = self._constructor_args
        return operation_path(type(self)), list(args), dict(kwargs)

    # ---- protocol ------------------------------------------------------------------------
    def state_forwards(self, app_label: str, state) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement state_forwards()")

    def database_forwards(self, app_label: str, schema_editor, from_state, to_state) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement database_forwards()")

    def database_backwards(self, app_label: str, schema_editor, from_state, to_state) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement database_backwards()")

    def describe(self) -> str:
        return f"{type(self).__name__}"

    @property
    def migration_name_fragment(self) -> str | None:
        """A short name part for an auto-named migration (``add_product_sku``)."""
        return None

    # ---- helpers for the optimizer and the autodetector ------------------------------------
    def references_model(self, name: str, app_label: str) -> bool:
        """Might this operation touch model ``app_label.name``? (Conservative: True.)"""
        return True

    def references_field(self, model_name: str, name: str, app_label: str) -> bool:
        return self.references_model(model_name, app_label)

    def reduce(self, operation: Operation, app_label: str):
        """Combine with a later ``operation``: a list of replacement operations, ``True``
        if ``operation`` may be moved across this one, ``False`` otherwise."""
        if self.elidable:
            return [operation]
        if operation.elidable:
            return [self]
        return False

    def allow_migrate_model(self, schema_editor, model) -> bool:
        """Routers (``allow_migrate``) decide whether ``model`` lives on this database."""
        from dorm.db.router import router

        alias = getattr(schema_editor.connection, "alias", "default")
        return router.allow_migrate_model(alias, model)

    # ---- dunder ----------------------------------------------------------------------------------
    def __eq__(self, other):
        if not isinstance(other, Operation) or type(self) is not type(other):
            return NotImplemented
        return _comparable(self.deconstruct()) == _comparable(other.deconstruct())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        _, args, kwargs = self.deconstruct()
        parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"<{type(self).__name__} {', '.join(parts)}>"


def _comparable(value: Any):
    """Deconstructed values with fields replaced by their signatures (fields compare by
    identity)."""
    from dorm.fields import Field

    if isinstance(value, Field):
        from dorm.migrations.state import field_signature

        return ("field", _comparable(field_signature(value)))
    if isinstance(value, (list, tuple)):
        return type(value)(_comparable(v) for v in value)
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    return value
