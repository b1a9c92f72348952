"""``create_tables`` / ``drop_tables``: the tables of some models, in foreign-key order.

For scripts, notebooks and tests; projects use migrations. Abstract and proxy
models are skipped. Models are created so that a referenced table exists before
the tables referencing it (on backends without forward references foreign keys
are added at the end anyway) and dropped in the reverse order. The whole call
runs in one schema-editor block (one transaction where DDL is transactional).
"""
from __future__ import annotations

from .handler import connections
from .utils import DEFAULT_DB_ALIAS


def _concrete(models) -> list:
    out = []
    for model in models:
        meta = model._meta
        if getattr(meta, "abstract", False) or getattr(meta, "proxy", False):
            continue
        if model not in out:
            out.append(model)
    return out


def _targets(model) -> list:
    targets = []
    for field in getattr(model._meta, "local_fields", ()):
        remote = getattr(field, "remote_field", None)
        target = getattr(remote, "model", None) if remote is not None else None
        if target is not None and not isinstance(target, str) and target is not model:
            targets.append(target)
    return targets


def dependency_order(models) -> list:
    """``models`` ordered so that referenced models come first (cycles keep the
    given order)."""
    models = _concrete(models)
    ordered: list = []
    visiting: set = set()

    def visit(model):
        if model in ordered or model in visiting:
            return
        visiting.add(model)
        for target in _targets(model):
            if target in models:
                visit(target)
        visiting.discard(model)
        ordered.append(model)

    for model in models:
        visit(model)
    return ordered


def create_tables(models, using: str = DEFAULT_DB_ALIAS, if_not_exists: bool = True) -> None:
    """Create the tables, indexes and constraints of ``models`` on ``using``."""
    connection = connections[using] if isinstance(using, str) else using
    with connection.schema_editor() as editor:
        for model in dependency_order(models):
            editor.create_model(model, if_not_exists=if_not_exists)


def drop_tables(models, using: str = DEFAULT_DB_ALIAS, if_exists: bool = True) -> None:
    """Drop the tables of ``models`` on ``using``, dependents first."""
    connection = connections[using] if isinstance(using, str) else using
    with connection.schema_editor() as editor:
        for model in reversed(dependency_order(models)):
            editor.delete_model(model, if_exists=if_exists)
