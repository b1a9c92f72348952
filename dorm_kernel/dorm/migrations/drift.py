"""Schema drift (``dorm diff``): the live database compared with the models.

``schema_drift(connection, models=None, app_prefixes=None, ignore_tables=())`` returns
``Finding``s (``kind``, ``table``, ``column``, ``model``, ``detail``), read through the
backend's introspection:

* ``missing_table`` / ``extra_table`` (``extra_table`` only without an app filter;
  ``dorm_migrations``, ``sqlite_*``, ``pg_*`` and ``--ignore-table`` patterns skipped);
* ``missing_column`` / ``extra_column``;
* ``type_mismatch`` – the column type differs from the field's type on this backend
  (same type family and same length/precision count as equal, so a database that
  reports ``character varying`` for ``varchar(100)`` is not a false alarm);
* ``null_mismatch``; ``default_mismatch`` (presence of a database default, compared
  with ``db_default``);
* ``missing_unique`` / ``extra_unique`` (field ``unique``, ``unique_together``,
  ``UniqueConstraint``), ``missing_constraint`` (named check constraints, where the
  backend reports constraint names);
* ``missing_index`` / ``extra_index`` (``db_index``, foreign keys, ``Meta.indexes``);
* ``missing_fk`` / ``fk_mismatch`` (foreign keys with ``db_constraint``).

A backend's introspection may define ``column_type_matches(expected, live)`` to
refine the type comparison, and ``reports_check_constraints = False`` when it cannot
list named CHECK constraints.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass

DEFAULT_IGNORED = ("dorm_migrations", "sqlite_*", "pg_*")

_FAMILIES = (
    ("interval", ("INTERVAL",)),
    ("datetime", ("TIMESTAMP", "DATETIME")),
    ("date", ("DATE",)),
    ("time", ("TIME",)),
    ("bool", ("BOOL",)),
    ("uuid", ("UUID",)),
    ("json", ("JSON",)),
    ("decimal", ("DECIMAL", "NUMERIC")),
    ("float", ("REAL", "FLOAT", "DOUBLE")),
    ("int", ("INT", "SERIAL")),
    ("text", ("CHAR", "TEXT", "CLOB", "STRING")),
    ("blob", ("BLOB", "BYTEA", "BINARY")),
)


@dataclass
class Finding:
    kind: str
    table: str
    detail: str
    column: str | None = None
    model: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.kind}] {self.detail}"


def _normalize(type_text: str) -> str:
    text = " ".join(str(type_text or "").upper().split())
    text = re.sub(r"\s*\(\s*", "(", text)
    text = re.sub(r"\s*,\s*", ",", text)
    return re.sub(r"\s*\)", ")", text)


def type_family(type_text: str) -> str:
    base = _normalize(type_text).split("(")[0]
    for family, words in _FAMILIES:
        if any(w in base for w in words):
            return family
    return base


def _params(type_text: str) -> str | None:
    m = re.search(r"\(([^)]*)\)", _normalize(type_text))
    return m.group(1) if m else None


def types_match(expected: str, live: str) -> bool:
    if _normalize(expected) == _normalize(live):
        return True
    if type_family(expected) != type_family(live):
        return False
    pe, pl = _params(expected), _params(live)
    return pe is None or pl is None or pe == pl


def _has_db_default(field) -> bool:
    has = getattr(field, "has_db_default", None)
    return bool(has()) if callable(has) else False


def drift_models(app_prefixes=None) -> list:
    """Concrete, managed models of the installed apps (and their auto junction models),
    filtered by app label / module prefix."""
    from dorm.models.options import registry

    from .loader import installed_apps

    labels = {a.label for a in installed_apps()}
    out = []
    for model in registry.get_models():
        opts = model._meta
        if opts.abstract or opts.proxy or not opts.managed:
            continue
        if opts.app_label not in labels:
            continue
        if app_prefixes and not any(opts.app_label == p or opts.app_label.startswith(p + ".")
                                    or model.__module__.startswith(p) for p in app_prefixes):
            continue
        out.append(model)
    return out


def schema_drift(connection, models=None, app_prefixes=None, ignore_tables=()) -> list[Finding]:
    if models is None:
        # only the models the routers let live on this alias (shards, split databases)
        from dorm.db import router

        alias = getattr(connection, "alias", None)
        models = [m for m in drift_models(app_prefixes)
                  if not isinstance(alias, str) or router.allow_migrate_model(alias, m)]
    else:
        models = list(models)
    intro = connection.introspection
    live_tables = set(intro.table_names())
    findings: list[Finding] = []
    expected_tables = set()
    for model in sorted(models, key=lambda m: m._meta.db_table):
        table = model._meta.db_table
        if table in expected_tables:
            continue
        expected_tables.add(table)
        label = model._meta.label
        if table not in live_tables:
            findings.append(Finding("missing_table", table, f"table {table} of {label} does not exist",
                                    model=label))
            continue
        findings.extend(_table_drift(connection, model, table, label))
    if not app_prefixes:
        ignored = (*DEFAULT_IGNORED, *ignore_tables)
        for table in sorted(live_tables - expected_tables):
            if any(fnmatch.fnmatchcase(table, pattern) for pattern in ignored):
                continue
            findings.append(Finding("extra_table", table, f"table {table} has no model"))
    return findings


def _table_drift(connection, model, table, label) -> list[Finding]:
    intro = connection.introspection
    out: list[Finding] = []
    live = {c.name: c for c in intro.get_table_description(table)}
    matcher = getattr(intro, "column_type_matches", None) or types_match
    fields = [f for f in model._meta.local_fields if f.db_type(connection) is not None]
    columns = {f.column for f in fields}
    for field in fields:
        col = live.get(field.column)
        where = f"{table}.{field.column}"
        if col is None:
            out.append(Finding("missing_column", table, f"column {where} ({label}.{field.name}) does "
                               "not exist", field.column, label))
            continue
        expected = field.db_type(connection)
        if col.type and not matcher(expected, col.type):
            out.append(Finding("type_mismatch", table, f"column {where} is {col.type}, the model "
                               f"says {expected}", field.column, label))
        want_null = bool(field.null) and not field.primary_key
        if bool(col.null_ok) != want_null and not field.primary_key:
            out.append(Finding("null_mismatch", table, f"column {where} is "
                               f"{'NULL' if col.null_ok else 'NOT NULL'}, the model says "
                               f"{'NULL' if want_null else 'NOT NULL'}", field.column, label))
        if not field.primary_key:
            if _has_db_default(field) and col.default is None:
                out.append(Finding("default_mismatch", table, f"column {where} has no database "
                                   "default, the model has db_default", field.column, label))
            elif not _has_db_default(field) and col.default is not None:
                out.append(Finding("default_mismatch", table, f"column {where} has a database "
                                   f"default ({col.default}), the model has no db_default",
                                   field.column, label))
    for name in sorted(set(live) - columns):
        out.append(Finding("extra_column", table, f"column {table}.{name} is not in {label}", name, label))
    try:
        constraints = intro.get_constraints(table)
    except NotImplementedError:
        return out
    out.extend(_constraint_drift(connection, model, table, label, constraints, live))
    return out


def _constraint_drift(connection, model, table, label, constraints, live) -> list[Finding]:
    out: list[Finding] = []
    opts = model._meta
    by_name = {f.name: f for f in opts.local_fields}

    def column(name):
        f = by_name.get(name) or next((x for x in opts.local_fields if x.attname == name), None)
        return f.column if f is not None else name

    uniques = [c for c in constraints.values() if c["unique"] and not c["primary_key"]]
    indexes = [(n, c) for n, c in constraints.items()
               if c["index"] and not c["unique"] and not c["primary_key"]]
    expected_unique: list[set] = []
    for f in opts.local_fields:
        if getattr(f, "unique", False) and not f.primary_key and f.column in live:
            expected_unique.append({f.column})
    for combo in opts.unique_together:
        expected_unique.append({column(n) for n in combo})
    unique_names = set()
    for c in opts.constraints:
        fields = getattr(c, "fields", None)
        if fields:
            unique_names.add(c.name)
            if c.name in constraints:
                continue
            if getattr(c, "condition", None) is None:
                expected_unique.append({column(n) for n in fields})
            else:
                out.append(Finding("missing_unique", table, f"unique constraint {c.name} on {table} "
                                   "does not exist", model=label))
        elif c.name not in constraints and getattr(connection.introspection,
                                                   "reports_check_constraints", True):
            out.append(Finding("missing_constraint", table, f"constraint {c.name} on {table} does "
                               "not exist", model=label))
    for cols in expected_unique:
        if not any(set(u["columns"]) == cols for u in uniques):
            out.append(Finding("missing_unique", table, f"no unique constraint on {table} "
                               f"({', '.join(sorted(cols))})", model=label))
    for name, u in constraints.items():
        if not u["unique"] or u["primary_key"] or name in unique_names:
            continue
        if u.get("condition"):
            continue
        if not any(set(u["columns"]) == cols for cols in expected_unique):
            out.append(Finding("extra_unique", table, f"unique constraint {name} on {table} "
                               f"({', '.join(u['columns'])}) is not in the model", model=label))
    # indexes
    expected_index_cols: list[list[str]] = []
    expected_index_names = set()
    for f in opts.local_fields:
        if getattr(f, "db_index", False) and not getattr(f, "unique", False) and not f.primary_key:
            expected_index_cols.append([f.column])
    for index in opts.indexes:
        if getattr(index, "name", None):
            expected_index_names.add(index.name)
            if index.name not in constraints:
                out.append(Finding("missing_index", table, f"index {index.name} on {table} does not "
                                   "exist", model=label))
    for cols in expected_index_cols:
        if not any(c["columns"] == cols for _, c in indexes) and \
                not any(u["columns"][:1] == cols for u in uniques):
            out.append(Finding("missing_index", table, f"no index on {table} ({', '.join(cols)})",
                               cols[0], label))
    for name, c in indexes:
        if name in expected_index_names or c["columns"] in expected_index_cols:
            continue
        out.append(Finding("extra_index", table, f"index {name} on {table} ({', '.join(c['columns'])}) "
                           "is not in the model", model=label))
    # foreign keys
    if getattr(connection.features, "supports_foreign_keys", True):
        relations = {}
        for c in constraints.values():
            if c["foreign_key"] and len(c["columns"]) == 1:
                relations[c["columns"][0]] = c["foreign_key"]
        for f in opts.local_fields:
            remote = getattr(f, "remote_field", None)
            if remote is None or not getattr(f, "db_constraint", True) or f.column not in live:
                continue
            target = getattr(remote, "model", None)
            if target is None or isinstance(target, str):
                continue
            target_table = target._meta.db_table
            fk = relations.get(f.column)
            if fk is None:
                out.append(Finding("missing_fk", table, f"column {table}.{f.column} has no foreign key "
                                   f"to {target_table}", f.column, label))
            elif fk[0] != target_table:
                out.append(Finding("fk_mismatch", table, f"column {table}.{f.column} references "
                                   f"{fk[0]}, the model says {target_table}", f.column, label))
    return out
