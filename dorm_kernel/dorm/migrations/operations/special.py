"""``RunSQL``, ``RunPython`` and ``SeparateDatabaseAndState``."""
from __future__ import annotations

import inspect

from dorm.migrations.exceptions import IrreversibleError

from .base import Operation


class SeparateDatabaseAndState(Operation):
    """``SeparateDatabaseAndState(database_operations=None, state_operations=None)``:
    run ``database_operations`` against the database and apply only
    ``state_operations`` to the state."""

    def __init__(self, database_operations=None, state_operations=None):
        self.database_operations = list(database_operations or [])
        self.state_operations = list(state_operations or [])

    @property
    def reversible(self):
        return all(op.reversible for op in self.database_operations)

    @property
    def atomic(self):
        return all(op.atomic for op in self.database_operations)

    def deconstruct(self):
        kwargs = {}
        if self.database_operations:
            kwargs["database_operations"] = self.database_operations
        if self.state_operations:
            kwargs["state_operations"] = self.state_operations
        return "dorm.migrations.operations.SeparateDatabaseAndState", [], kwargs

    def state_forwards(self, app_label, state):
        for op in self.state_operations:
            op.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        for op in self.database_operations:
            to = from_state.clone()
            op.state_forwards(app_label, to)
            op.database_forwards(app_label, schema_editor, from_state, to)
            from_state = to

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        states = []
        current = to_state
        for op in self.database_operations:
            states.append(current)
            current = current.clone()
            op.state_forwards(app_label, current)
        after = current
        for op, before in reversed(list(zip(self.database_operations, states))):
            op.database_backwards(app_label, schema_editor, after, before)
            after = before

    def describe(self):
        return "Custom state/database change combination"

    def references_model(self, name, app_label):
        return any(op.references_model(name, app_label)
                   for op in [*self.database_operations, *self.state_operations])


class RunSQL(Operation):
    """``RunSQL(sql, reverse_sql=None, params=None, state_operations=None, hints=None,
    elidable=False)``.

    ``sql``: a string (split into statements on top-level ``;``), or a list of strings
    or ``(sql, params)`` pairs; ``params`` binds the placeholders of a single-string
    ``sql``. Placeholders are written ``%s`` on every backend (``%%`` for a literal
    ``%`` in SQL with parameters). ``reverse_sql`` in the same forms; ``None`` makes the operation
    irreversible (unapplying raises ``IrreversibleError``), ``RunSQL.noop`` (``""``)
    reverses to nothing. The SQL is trusted migration code: it is run as written.
    """

    noop = ""

    def __init__(self, sql, reverse_sql=None, params=None, state_operations=None, hints=None,
                 elidable=False):
        self.sql = sql
        self.reverse_sql = reverse_sql
        self.params = params
        self.state_operations = list(state_operations or [])
        self.hints = dict(hints or {})
        self.elidable = elidable

    def deconstruct(self):
        kwargs = {"sql": self.sql}
        if self.reverse_sql is not None:
            kwargs["reverse_sql"] = self.reverse_sql
        if self.params is not None:
            kwargs["params"] = self.params
        if self.state_operations:
            kwargs["state_operations"] = self.state_operations
        if self.hints:
            kwargs["hints"] = self.hints
        if self.elidable:
            kwargs["elidable"] = True
        return "dorm.migrations.operations.RunSQL", [], kwargs

    @property
    def reversible(self):
        return self.reverse_sql is not None

    def state_forwards(self, app_label, state):
        for op in self.state_operations:
            op.state_forwards(app_label, state)

    def _allowed(self, app_label, schema_editor) -> bool:
        from dorm.db.router import router

        alias = getattr(schema_editor.connection, "alias", "default")
        return router.allow_migrate(alias, app_label, **self.hints)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if self._allowed(app_label, schema_editor):
            run_sql(schema_editor, self.sql, self.params)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self.reverse_sql is None:
            raise IrreversibleError(
                f"{self.describe()} is not reversible: give reverse_sql= (or RunSQL.noop)")
        if self._allowed(app_label, schema_editor):
            run_sql(schema_editor, self.reverse_sql, None)

    def describe(self):
        text = self.sql if isinstance(self.sql, str) else "; ".join(
            s if isinstance(s, str) else s[0] for s in self.sql)
        text = " ".join(text.split())
        return "Raw SQL operation" + (f": {text[:60]}{'...' if len(text) > 60 else ''}" if text else "")


def backend_placeholders(sql: str, ops) -> str:
    """``sql`` written with ``%s`` placeholders, in the backend's placeholder style."""
    if ops.placeholder == "%s":
        return sql
    from dorm.db.backends.base.operations import _sql_tokens

    out = []
    for kind, text in _sql_tokens(sql, "%s"):
        if kind == "ph":
            out.append(ops.placeholder)
        elif kind == "code":
            out.append(text.replace("%%", "%"))
        else:
            out.append(text)
    return "".join(out)


def run_sql(schema_editor, sql, params) -> None:
    """Run ``sql`` (see ``RunSQL``) through ``schema_editor.execute``; parameters use
    ``%s`` placeholders on every backend."""
    if sql in (None, ""):
        return
    ops = schema_editor.connection.ops
    if isinstance(sql, (list, tuple)):
        for item in sql:
            if isinstance(item, (list, tuple)):
                if len(item) != 2:
                    raise ValueError(f"RunSQL items must be strings or (sql, params) pairs, got {item!r}")
                schema_editor.execute(backend_placeholders(item[0], ops), item[1])
            else:
                schema_editor.execute(item)
        return
    if params is not None:
        schema_editor.execute(backend_placeholders(sql, ops), params)
        return
    for statement in schema_editor.connection.ops.split_statements(sql):
        schema_editor.execute(statement)


class _LiveApps:
    """What a Django-style ``RunPython`` function receives as ``apps``: ``get_model``
    returns the *current* model class (dorm does not build historical model classes
    that can run queries)."""

    def get_model(self, app_label: str, model_name: str | None = None):
        from dorm.models.options import registry

        ref = app_label if model_name is None else f"{app_label}.{model_name}"
        return registry.get_model(ref)

    def get_models(self):
        from dorm.models.options import registry

        return registry.get_models()


def live_registry(app_label: str | None = None) -> dict:
    """``{"Name": Model, "app.Name": Model}`` of the registered models (a bare name
    prefers ``app_label``'s model)."""
    from dorm.models.options import registry

    out: dict = {}
    models = registry.get_models()
    for model in sorted(models, key=lambda m: m._meta.app_label == app_label):
        out[model.__name__] = model
        out[model._meta.label] = model
    return out


class RunPython(Operation):
    """``RunPython(code, reverse_code=None, atomic=None, hints=None, elidable=False)``.

    ``code(app_label, registry)`` is called with the migration's app label and a dict of
    the live model classes (``"Name"`` and ``"app.Name"`` keys). A Django-style
    ``code(apps, schema_editor)`` (first parameter named ``apps``) receives an object
    whose ``get_model(app_label, name)`` returns the live model, and the schema editor.
    Functions must be importable (module level) to be written into a squashed
    migration. ``reverse_code=None`` makes the operation irreversible;
    ``RunPython.noop`` does nothing. Not run in dry-run / ``sqlmigrate``.
    """

    reduces_to_sql = False

    def __init__(self, code, reverse_code=None, atomic=None, hints=None, elidable=False):
        if not callable(code):
            raise ValueError("RunPython needs a callable as code")
        if reverse_code is not None and not callable(reverse_code):
            raise ValueError("RunPython reverse_code must be callable or None")
        self.code = code
        self.reverse_code = reverse_code
        self._atomic = atomic
        self.hints = dict(hints or {})
        self.elidable = elidable

    @property
    def atomic(self):
        return True if self._atomic is None else bool(self._atomic)

    @staticmethod
    def noop(*args, **kwargs):
        return None

    def deconstruct(self):
        kwargs = {"code": self.code}
        if self.reverse_code is not None:
            kwargs["reverse_code"] = self.reverse_code
        if self._atomic is not None:
            kwargs["atomic"] = self._atomic
        if self.hints:
            kwargs["hints"] = self.hints
        if self.elidable:
            kwargs["elidable"] = True
        return "dorm.migrations.operations.RunPython", [], kwargs

    @property
    def reversible(self):
        return self.reverse_code is not None

    def state_forwards(self, app_label, state):
        pass

    def _run(self, func, app_label, schema_editor):
        from dorm.db.router import router

        alias = getattr(schema_editor.connection, "alias", "default")
        if not router.allow_migrate(alias, app_label, **self.hints):
            return
        if getattr(schema_editor, "collect_sql", False):
            schema_editor.collected_sql.append(
                f"-- RunPython {getattr(func, '__qualname__', func)!s}: Python code, not run here")
            return
        call_python(func, app_label, schema_editor)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._run(self.code, app_label, schema_editor)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self.reverse_code is None:
            raise IrreversibleError(f"{self.describe()} is not reversible: give reverse_code= "
                                    "(or RunPython.noop)")
        self._run(self.reverse_code, app_label, schema_editor)

    def describe(self):
        name = getattr(self.code, "__qualname__", None) or repr(self.code)
        return f"Raw Python operation {name}"


def call_python(func, app_label: str, schema_editor) -> None:
    """Call a ``RunPython`` function with the convention its signature asks for."""
    try:
        params = [p for p in inspect.signature(func).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = None
    if params is not None and params and params[0].name == "apps" or \
            params is not None and len(params) == 2 and params[1].name == "schema_editor":
        func(_LiveApps(), schema_editor)
    elif params is not None and not params and not _takes_varargs(func):
        func()
    else:
        func(app_label, live_registry(app_label))


def _takes_varargs(func) -> bool:
    try:
        return any(p.kind == p.VAR_POSITIONAL for p in inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return True
