"""Row-level security and policies as migration operations (spec: migrations-cli.md §4.3).

* ``EnableRowLevelSecurity(table)`` – ``ALTER TABLE "t" ENABLE ROW LEVEL SECURITY``;
  backwards ``DISABLE``.
* ``DisableRowLevelSecurity(table)`` – ``DISABLE``; backwards ``ENABLE``.
* ``ForceRowLevelSecurity(table)`` – ``FORCE ROW LEVEL SECURITY`` (the policies apply to
  the table's owner too); backwards ``NO FORCE``.
* ``CreatePolicy(name, table, *, command="ALL", roles=None, using=None, check=None,
  permissive=True)`` – ``CREATE POLICY "name" ON "t" [AS RESTRICTIVE] FOR <command> [TO
  roles] [USING (using)] [WITH CHECK (check)]``; backwards ``DROP POLICY IF EXISTS``.
  ``command`` is one of ALL, SELECT, INSERT, UPDATE, DELETE (any case). ``using`` is
  required for ALL/SELECT/UPDATE/DELETE and not allowed for INSERT; ``check`` is
  required for INSERT and not allowed for SELECT/DELETE (``ValueError`` at construction,
  naming the rule).
* ``DropPolicy(name, table, *, reverse_command="ALL", reverse_roles=None,
  reverse_using=None, reverse_check=None, reverse_permissive=True)`` – ``DROP POLICY
  "name" ON "t"`` (an error if it does not exist). Reversible when ``reverse_using`` or
  ``reverse_check`` describes the dropped policy (the ``reverse_*`` values follow
  ``CreatePolicy``'s rules and are checked at construction); otherwise unapplying raises
  ``IrreversibleError``.
* ``AlterPolicy(name, table, *, roles=None, using=None, check=None, previous_roles=None,
  previous_using=None, previous_check=None)`` – ``ALTER POLICY "name" ON "t" [TO roles]
  [USING (...)] [WITH CHECK (...)]`` for what is given (at least one). Reversible when
  every changed part has its ``previous_*`` (a policy created without ``roles`` applies
  to ``PUBLIC``: ``previous_roles=["PUBLIC"]``); backwards applies the ``previous_*``
  values.

``roles``: a role name or a list of them; each an identifier (quoted) or one of the
keywords ``PUBLIC``, ``CURRENT_USER``, ``CURRENT_ROLE``, ``SESSION_USER`` (written as
keywords). ``table``: a table name, optionally schema-qualified (quoted).

``using`` / ``check`` are either

* a SQL expression string – **trusted** migration code spliced as written (like
  ``RunSQL``): ``"owner = current_user"``; or
* a ``Q`` object – compiled (values as literals, columns unqualified) against the model
  whose ``db_table`` is ``table`` in the migration state (the migration's app first,
  then any app). Without such a model the operation raises ``ValueError`` when run.

These statements need PostgreSQL (feature flag ``supports_row_level_security``); on
other backends every operation here is a no-op, forwards and backwards. The project
state is not changed.
"""
from __future__ import annotations

from .pg_common import (
    IrreversiblePGOperation,
    PGOperation,
    check_identifier,
    check_qualified_name,
    name_fragment,
    quote_qualified,
)

COMMANDS = ("ALL", "SELECT", "INSERT", "UPDATE", "DELETE")
ROLE_KEYWORDS = ("PUBLIC", "CURRENT_USER", "CURRENT_ROLE", "SESSION_USER")
_NEEDS_USING = ("ALL", "SELECT", "UPDATE", "DELETE")
_NO_CHECK = ("SELECT", "DELETE")


def _check_roles(roles, what):
    if roles is None:
        return None
    items = [roles] if isinstance(roles, str) else roles
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(f"{what} must be a role name or a non-empty list of role names, got {roles!r}")
    out = []
    for role in items:
        if isinstance(role, str) and role.upper() in ROLE_KEYWORDS:
            out.append(role.upper())
        else:
            out.append(check_identifier(role, f"{what} entry (a role name or one of "
                                              f"{', '.join(ROLE_KEYWORDS)})"))
    return out


def _check_expression(value, what):
    from dorm.query.where import Q

    if value is None or isinstance(value, Q):
        return value
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ValueError(f"{what} must be a SQL expression string or a Q object, got {value!r}")
    return value


def _roles_sql(schema_editor, roles) -> str:
    return ", ".join(r if r in ROLE_KEYWORDS else schema_editor.quote_name(r) for r in roles)


def _expression_sql(schema_editor, value, table, app_label, state, what) -> str:
    """SQL of a policy expression: a string as written, a ``Q`` compiled against the
    model of ``table`` in ``state``."""
    if isinstance(value, str):
        return value.strip()
    from dorm.query.compiler import compile_where

    bare = table.split(".")[-1]
    candidates = [ms for ms in state.models.values() if ms.db_table in (table, bare)]
    candidates.sort(key=lambda ms: ms.app_label != app_label)
    if not candidates:
        raise ValueError(
            f"{what}: a Q condition is compiled against the model of table {table!r}, and no model "
            "in the migration state has that db_table; write the condition as a SQL string or "
            "create the model in an earlier operation")
    ms = candidates[0]
    model = state.apps.get_model(ms.app_label, ms.name)
    sql, _ = compile_where(model, value, schema_editor.connection, inline=True)
    return sql


class _RLSOperation(PGOperation):
    feature = "supports_row_level_security"
    what = "row-level security and policies"

    def _table(self, schema_editor) -> str:
        return quote_qualified(schema_editor, self.table)


# ---- ALTER TABLE ... ROW LEVEL SECURITY ----------------------------------------------------------
class _TableRLS(_RLSOperation):
    forwards_sql = backwards_sql = verb = ""

    def __init__(self, table):
        self.table = check_qualified_name(table, f"{type(self).__name__} table")

    def _run(self, schema_editor, clause):
        if self.supported(schema_editor):
            schema_editor.execute(f"ALTER TABLE {self._table(schema_editor)} {clause} ROW LEVEL SECURITY")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._run(schema_editor, self.forwards_sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._run(schema_editor, self.backwards_sql)

    def describe(self):
        return f"{self.verb} row-level security on {self.table}"

    @property
    def migration_name_fragment(self):
        return name_fragment(self.verb, "rls", self.table)


class EnableRowLevelSecurity(_TableRLS):
    """See the module docstring."""

    forwards_sql, backwards_sql, verb = "ENABLE", "DISABLE", "Enable"


class DisableRowLevelSecurity(_TableRLS):
    """See the module docstring."""

    forwards_sql, backwards_sql, verb = "DISABLE", "ENABLE", "Disable"


class ForceRowLevelSecurity(_TableRLS):
    """See the module docstring."""

    forwards_sql, backwards_sql, verb = "FORCE", "NO FORCE", "Force"


# ---- policies ----------------------------------------------------------------------------------------
class CreatePolicy(_RLSOperation):
    """See the module docstring."""

    def __init__(self, name, table, *, command="ALL", roles=None, using=None, check=None,
                 permissive=True):
        label = f"{type(self).__name__}({name!r})"
        self.name = check_identifier(name, f"{type(self).__name__} name")
        self.table = check_qualified_name(table, f"{label} table")
        if not isinstance(command, str) or command.strip().upper() not in COMMANDS:
            raise ValueError(f"{label}: command must be one of {', '.join(COMMANDS)}, got {command!r}")
        self.command = command.strip().upper()
        self.roles = _check_roles(roles, f"{label} roles")
        self.using = _check_expression(using, f"{label} using")
        self.check = _check_expression(check, f"{label} check")
        if self.command in _NEEDS_USING and self.using is None:
            raise ValueError(f"{label}: a FOR {self.command} policy needs using= (the condition "
                             "rows must meet to be visible or changed)")
        if self.command == "INSERT" and self.using is not None:
            raise ValueError(f"{label}: a FOR INSERT policy takes only check= (no using=)")
        if self.command == "INSERT" and self.check is None:
            raise ValueError(f"{label}: a FOR INSERT policy needs check= (the condition new "
                             "rows must meet)")
        if self.command in _NO_CHECK and self.check is not None:
            raise ValueError(f"{label}: a FOR {self.command} policy takes only using= (no check=)")
        if not isinstance(permissive, bool):
            raise ValueError(f"{label}: permissive must be True or False, got {permissive!r}")
        self.permissive = permissive

    def create_sql(self, app_label, schema_editor, state) -> str:
        what = f"CreatePolicy({self.name!r})"
        parts = [f"CREATE POLICY {schema_editor.quote_name(self.name)} ON {self._table(schema_editor)}"]
        if not self.permissive:
            parts.append("AS RESTRICTIVE")
        parts.append(f"FOR {self.command}")
        if self.roles:
            parts.append(f"TO {_roles_sql(schema_editor, self.roles)}")
        if self.using is not None:
            parts.append(f"USING ({_expression_sql(schema_editor, self.using, self.table, app_label, state, what)})")
        if self.check is not None:
            parts.append("WITH CHECK ("
                         f"{_expression_sql(schema_editor, self.check, self.table, app_label, state, what)})")
        return " ".join(parts)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if self.supported(schema_editor):
            schema_editor.execute(self.create_sql(app_label, schema_editor, to_state))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self.supported(schema_editor):
            schema_editor.execute(f"DROP POLICY IF EXISTS {schema_editor.quote_name(self.name)} ON "
                                  f"{self._table(schema_editor)}")

    def describe(self):
        kind = "" if self.permissive else "restrictive "
        return f"Create {kind}policy {self.name} on {self.table} for {self.command}"

    @property
    def migration_name_fragment(self):
        return name_fragment("create_policy", self.name)


class DropPolicy(_RLSOperation):
    """See the module docstring."""

    def __init__(self, name, table, *, reverse_command="ALL", reverse_roles=None, reverse_using=None,
                 reverse_check=None, reverse_permissive=True):
        self.name = check_identifier(name, "DropPolicy name")
        self.table = check_qualified_name(table, f"DropPolicy({name!r}) table")
        self._reverse = None
        if reverse_using is not None or reverse_check is not None:
            try:
                self._reverse = CreatePolicy(name, table, command=reverse_command, roles=reverse_roles,
                                             using=reverse_using, check=reverse_check,
                                             permissive=reverse_permissive)
            except ValueError as exc:
                raise ValueError(f"DropPolicy({name!r}): the reverse_* values do not describe a valid "
                                 f"policy: {exc}") from None
        elif reverse_roles is not None or str(reverse_command).upper() != "ALL" or reverse_permissive is not True:
            raise ValueError(f"DropPolicy({name!r}): reverse_command/reverse_roles/reverse_permissive "
                             "need reverse_using= or reverse_check= (the dropped policy's conditions)")

    @property
    def reversible(self):
        return self._reverse is not None

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if self.supported(schema_editor):
            schema_editor.execute(f"DROP POLICY {schema_editor.quote_name(self.name)} ON "
                                  f"{self._table(schema_editor)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self._reverse is None:
            raise IrreversiblePGOperation(
                f"DropPolicy({self.name!r}) cannot be reversed: give reverse_using= and/or "
                "reverse_check= (with reverse_command=, reverse_roles=, reverse_permissive=) "
                "describing the dropped policy")
        self._reverse.database_forwards(app_label, schema_editor, to_state, to_state)

    def describe(self):
        return f"Drop policy {self.name} on {self.table}"

    @property
    def migration_name_fragment(self):
        return name_fragment("drop_policy", self.name)


class AlterPolicy(_RLSOperation):
    """See the module docstring."""

    def __init__(self, name, table, *, roles=None, using=None, check=None, previous_roles=None,
                 previous_using=None, previous_check=None):
        label = f"AlterPolicy({name!r})"
        self.name = check_identifier(name, "AlterPolicy name")
        self.table = check_qualified_name(table, f"{label} table")
        self.roles = _check_roles(roles, f"{label} roles")
        self.using = _check_expression(using, f"{label} using")
        self.check = _check_expression(check, f"{label} check")
        self.previous_roles = _check_roles(previous_roles, f"{label} previous_roles")
        self.previous_using = _check_expression(previous_using, f"{label} previous_using")
        self.previous_check = _check_expression(previous_check, f"{label} previous_check")
        if self.roles is None and self.using is None and self.check is None:
            raise ValueError(f"{label}: give at least one of roles=, using=, check=")
        for part in ("roles", "using", "check"):
            if getattr(self, part) is None and getattr(self, f"previous_{part}") is not None:
                raise ValueError(f"{label}: previous_{part}= without {part}= (only what changes "
                                 "is altered)")

    @property
    def missing_previous(self) -> list[str]:
        return [f"previous_{p}" for p in ("roles", "using", "check")
                if getattr(self, p) is not None and getattr(self, f"previous_{p}") is None]

    @property
    def reversible(self):
        return not self.missing_previous

    def _alter(self, app_label, schema_editor, state, roles, using, check):
        if not self.supported(schema_editor):
            return
        what = f"AlterPolicy({self.name!r})"
        parts = [f"ALTER POLICY {schema_editor.quote_name(self.name)} ON {self._table(schema_editor)}"]
        if roles is not None:
            parts.append(f"TO {_roles_sql(schema_editor, roles)}")
        if using is not None:
            parts.append(f"USING ({_expression_sql(schema_editor, using, self.table, app_label, state, what)})")
        if check is not None:
            parts.append(f"WITH CHECK ({_expression_sql(schema_editor, check, self.table, app_label, state, what)})")
        schema_editor.execute(" ".join(parts))

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._alter(app_label, schema_editor, to_state, self.roles, self.using, self.check)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        missing = self.missing_previous
        if missing:
            raise IrreversiblePGOperation(
                f"AlterPolicy({self.name!r}) cannot be reversed: give {', '.join(missing)}= "
                "(the values before this change)")
        self._alter(app_label, schema_editor, to_state, self.previous_roles, self.previous_using,
                    self.previous_check)

    def describe(self):
        changed = [p for p in ("roles", "using", "check") if getattr(self, p) is not None]
        return f"Alter policy {self.name} on {self.table} ({', '.join(changed)})"

    @property
    def migration_name_fragment(self):
        return name_fragment("alter_policy", self.name)


POLICY_OPERATIONS = [
    EnableRowLevelSecurity, DisableRowLevelSecurity, ForceRowLevelSecurity,
    CreatePolicy, DropPolicy, AlterPolicy,
]
