"""``Migration``: one migration file, loaded (module attributes) or generated."""
from __future__ import annotations

import re

_NUMBER = re.compile(r"^(\d+)")


def migration_number(name: str) -> int | None:
    """The number of ``0003_add_sku`` (the digits before the first ``_``)."""
    m = _NUMBER.match(name)
    return int(m.group(1)) if m else None


class Migration:
    """A migration of ``app_label`` named ``name`` (``0002_auto``).

    ``dependencies`` – ``[(app_label, name)]``, also ``(app, "__first__")`` /
    ``(app, "__latest__")``; ``run_before`` – migrations that must run after this one;
    ``replaces`` – for a squashed migration, the migrations it stands for; ``atomic`` –
    ``False`` runs the operations outside one enclosing transaction (each atomic
    operation in its own); ``initial`` – creates the app's tables (``--fake-initial``).
    """

    def __init__(self, name: str, app_label: str, operations=None, dependencies=None,
                 replaces=None, atomic: bool = True, initial: bool | None = None,
                 run_before=None, path=None):
        self.name = name
        self.app_label = app_label
        self.operations = list(operations or [])
        self.dependencies = [tuple(d) for d in (dependencies or [])]
        self.replaces = [tuple(r) for r in (replaces or [])]
        self.run_before = [tuple(r) for r in (run_before or [])]
        self.atomic = bool(atomic)
        self.initial = initial
        self.path = path

    @property
    def key(self) -> tuple[str, str]:
        return (self.app_label, self.name)

    @property
    def number(self) -> int | None:
        return migration_number(self.name)

    def mutate_state(self, state, preserve: bool = True):
        """The state after this migration's operations (a copy unless ``preserve`` is False)."""
        from .exceptions import BadMigrationError, MigrationError

        new = state.clone() if preserve else state
        for i, op in enumerate(self.operations, 1):
            try:
                op.state_forwards(self.app_label, new)
            except MigrationError:
                raise
            except Exception as exc:
                where = f" ({self.path})" if self.path else ""
                raise BadMigrationError(
                    f"Migration {self}{where}: operation {i} ({_describe(op)}) does not apply to "
                    f"the migration state: {type(exc).__name__}: {exc}") from exc
        return new

    @property
    def is_initial(self) -> bool:
        if self.initial is not None:
            return bool(self.initial)
        return not any(app == self.app_label for app, _ in self.dependencies)

    def __eq__(self, other):
        return isinstance(other, Migration) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        return f"<Migration {self.app_label}.{self.name}>"

    def __str__(self):
        return f"{self.app_label}.{self.name}"


def _describe(op) -> str:
    try:
        return op.describe()
    except Exception:  # noqa: BLE001
        return type(op).__name__
