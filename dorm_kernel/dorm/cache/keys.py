"""Cache keys: SHA-1 of the model, the database alias, the versions of the tables the
query reads, and a canonical form of the query.

* The canonical form is the compiled SQL and its parameters, not the Python call that
  built it: ``filter(a=1, b=2)`` and ``filter(b=2, a=1)`` compile to the same
  statement (``Q`` sorts keyword arguments), so they share one entry, whatever order
  the keywords came in. Parameters are rendered with their type
  (``int:1`` ≠ ``str:'1'``). The result shape is part of the key too
  (``values_list("a")`` and ``values_list("a", flat=True)`` run the same SQL).
* *Tables, not just the model*: every registered model's table that appears as a
  quoted identifier in the SQL (joins in ``filter(author__name=...)``,
  ``select_related``, subqueries, CTEs) is a dependency: a write to any of them bumps
  a version in the key. A column that happens to share a table's name only costs an
  extra invalidation, never a stale read.
* Versions are per table (a proxy model shares its concrete model's table and so its
  version). Version counters live in the cache backend (``BaseCache.get_versions``),
  so processes sharing a server agree.
"""
from __future__ import annotations

import hashlib
import re
import threading

#: at most this many SQL shapes remember their table dependencies
_MEMO_LIMIT = 4096
_memo: dict[tuple[str, str], tuple[str, ...]] = {}
_memo_lock = threading.Lock()


def model_table(model) -> str:
    """The table whose version covers ``model`` (its concrete model's table)."""
    return model._meta.concrete_model._meta.db_table


def _known_tables() -> set[str]:
    from dorm.models.options import registry

    out = set()
    for m in list(registry.by_label.values()):
        opts = m._meta
        if not opts.abstract and getattr(opts, "db_table", None):
            out.add(opts.db_table)
    return out


def _identifiers(sql: str, quote: str) -> set[str]:
    q = re.escape(quote)
    return set(re.findall(f"{q}((?:[^{q}]|{q}{q})+){q}", sql))


def query_tables(model, sql: str, quote: str = '"') -> tuple[str, ...]:
    """Sorted tables ``sql`` depends on: ``model``'s own and every registered model's
    table named in it (``quote`` is the backend's identifier quote character)."""
    memo_key = (quote, sql)
    found = _memo.get(memo_key)
    if found is None:
        names = _identifiers(sql, quote)
        found = tuple(sorted(names & _known_tables()))
        with _memo_lock:
            if len(_memo) >= _MEMO_LIMIT:
                _memo.clear()
            _memo[memo_key] = found
    own = model_table(model)
    return found if own in found else tuple(sorted((*found, own)))


def clear_memo() -> None:
    """Forget table dependencies (models were (un)registered)."""
    with _memo_lock:
        _memo.clear()


def canonical_params(params) -> str:
    """Type-tagged rendering of statement parameters, stable across processes for the
    values databases take (numbers, strings, bytes, dates, decimals, UUIDs, lists)."""
    return "\x1f".join(f"{type(p).__module__}.{type(p).__qualname__}:{p!r}" for p in params)


def entry_key(kind: str, model, db: str, tables, versions, sql: str, params, shape="") -> str:
    """Backend key of one cached result. ``kind`` says what is stored (``rows``,
    ``count``, ``pk``), ``shape`` how rows are returned (iterable class and fields)."""
    h = hashlib.sha1(usedforsecurity=False)
    for part in (kind, model._meta.label, db, shape,
                 ",".join(f"{t}={v}" for t, v in zip(tables, versions)),
                 sql, canonical_params(params)):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return "q:" + h.hexdigest()
