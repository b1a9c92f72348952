"""What a SQL statement is, for span names and attributes.

``describe(sql)`` returns a ``Statement(operation, table, returning)``:

* ``operation`` – the statement's verb, upper case: the first keyword after leading
  comments (``-- ...``, ``/* ... */``), whitespace and opening parentheses, when it is
  one of ``OPERATIONS``; for ``WITH [RECURSIVE] name AS (...), ... <verb>`` the verb
  of the main statement after the common table expressions (``SELECT``, ``INSERT``,
  ``UPDATE``, ``DELETE``, ``MERGE``, ``VALUES``). ``None`` when the text starts
  otherwise.
* ``table`` – the first table named after ``FROM``, ``INTO``, ``UPDATE``, ``COPY`` or
  ``JOIN`` (and after ``TABLE`` in ``CREATE``/``ALTER``/``DROP``/``TRUNCATE``),
  unquoted (``"books"`` → ``books``), a qualified name joined by dots
  (``"public"."books"`` → ``public.books``). Names of the statement's own common table
  expressions are skipped (the first real table inside them is used when the main
  statement reads only CTEs); ``FROM`` inside a parenthesised group that is not a
  subquery (``EXTRACT(YEAR FROM col)``) does not count, nor does a function call
  after ``FROM`` (``generate_series(...)``). ``None`` when no table is named.
* ``returning`` – an ``INSERT``/``UPDATE``/``DELETE``/``MERGE`` ending with a
  ``RETURNING`` clause (its result rows are the returned rows).

String literals (``'...'``, ``$tag$...$tag$``) and comments never match. Only the
first ``SCAN_LIMIT`` characters are scanned, lazily: most statements are decided
after a few tokens. Results are cached (bounded; a long statement by its head and
tail), so the per-statement cost is one dict lookup. Never raises: unparseable text
yields ``Statement(None, None, False)``.
"""
from __future__ import annotations

import re
from typing import NamedTuple

#: verbs reported as ``db.operation`` (features-4.0 §18 list, plus a few read verbs)
OPERATIONS = frozenset({
    "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "TRUNCATE", "CREATE",
    "ALTER", "DROP", "COPY", "REPLACE", "VALUES", "EXPLAIN", "PRAGMA", "SHOW", "CALL",
})
SCAN_LIMIT = 8192
_TAIL = 2048
_CACHE_LIMIT, _LONG_CACHE_LIMIT = 2048, 256

_CTE_VERBS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES"})
_WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE"})
_NAME_AFTER = frozenset({"FROM", "INTO", "UPDATE", "COPY", "JOIN"})
_DDL = frozenset({"CREATE", "ALTER", "DROP", "TRUNCATE"})
_SKIP_BEFORE_NAME = frozenset({"ONLY", "LATERAL", "IF", "NOT", "EXISTS", "TABLE"})
_SUBQUERY_START = frozenset({"SELECT", "WITH", "VALUES"})

# one token per match; whitespace is skipped by the gaps between matches
_TOKEN = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^']|'')*(?:'|\Z)|\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)?\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<quoted>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z)|\[[^\]]*(?:\]|\Z))
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<punct>[(),.;])
    | (?P<other>[^\sA-Za-z_(),.;'"`\[\-/*$]+|\S)
    """,
    re.VERBOSE | re.DOTALL,
)
# a RETURNING clause at the very end: only names, commas, dots and stars follow it
_RETURNING_END = re.compile(r"\bRETURNING\s[\w\"`.,*\s]*;?\s*\Z", re.IGNORECASE)


class Statement(NamedTuple):
    operation: str | None
    table: str | None
    returning: bool


_UNKNOWN = Statement(None, None, False)
_cache: dict = {}
_long_cache: dict = {}


def describe(sql: str) -> Statement:
    """The ``Statement`` of ``sql`` (cached; see the module docstring)."""
    found = _cache.get(sql)
    if found is not None:
        return found
    if not isinstance(sql, str):
        return _UNKNOWN
    if len(sql) > SCAN_LIMIT:       # the result depends on the head and the tail only
        key = (sql[:SCAN_LIMIT], sql[-_TAIL:])
        found = _long_cache.get(key)
        if found is None:
            found = _store(_long_cache, _LONG_CACHE_LIMIT, key, _safe_describe(sql))
        return found
    return _store(_cache, _CACHE_LIMIT, sql, _safe_describe(sql))


def _store(cache: dict, limit: int, key, value: Statement) -> Statement:
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value


def _safe_describe(sql: str) -> Statement:
    try:
        return _describe(sql)
    except Exception:  # noqa: BLE001 - tracing must never break a statement
        return _UNKNOWN


class _Tok(NamedTuple):
    kind: str      # "word", "name" (a quoted identifier, unquoted), "punct" or "other"
    text: str      # as written (a quoted identifier without its quotes)
    up: str        # upper-cased text of a word ("" for the other kinds)
    depth: int     # parenthesis depth before this token
    sub: bool      # every enclosing parenthesised group is a subquery or a CTE body


class _Tokens:
    """The tokens of ``sql`` (up to ``SCAN_LIMIT``), produced on demand: ``get(i)``
    returns the i-th token or ``None`` past the end."""

    def __init__(self, sql: str):
        self._matches = _TOKEN.finditer(sql, 0, SCAN_LIMIT)
        self._items: list[_Tok] = []
        self._groups: list[bool] = []   # per open "(": does it hold a subquery?
        self._plain = 0                 # open groups that do not
        self._pending = False           # the last token was "(": the next decides
        self._done = False

    def get(self, i: int) -> _Tok | None:
        items = self._items
        while len(items) <= i and not self._done:
            self._advance()
        return items[i] if i < len(items) else None

    def _advance(self) -> None:
        m = next(self._matches, None)
        if m is None:
            self._done = True
            return
        kind = m.lastgroup
        if kind == "comment":
            return
        text = m.group()
        up = text.upper() if kind == "word" else ""
        if kind == "quoted":
            kind, text = "name", _unquote(text)
        if self._pending:       # "(SELECT": a subquery; "((": the inner group decides
            self._pending = False
            if up in _SUBQUERY_START or (kind == "punct" and text == "("):
                self._groups[-1] = True
                self._plain -= 1
        if kind == "string":
            return
        self._items.append(_Tok(kind, text, up, len(self._groups), self._plain == 0))
        if kind == "punct":
            if text == "(":
                self._groups.append(False)
                self._plain += 1
                self._pending = True
            elif text == ")" and self._groups:
                if not self._groups.pop():
                    self._plain -= 1


def _unquote(text: str) -> str:
    close = "]" if text[0] == "[" else text[0]
    body = text[1:-1] if len(text) > 1 and text.endswith(close) else text[1:]
    return body if close == "]" else body.replace(close + close, close)


def _is(tok: _Tok | None, punct: str) -> bool:
    return tok is not None and tok.kind == "punct" and tok.text == punct


def _describe(sql: str) -> Statement:
    toks = _Tokens(sql)
    i = 0
    while _is(toks.get(i), "("):
        i += 1
    first = toks.get(i)
    if first is None or first.kind != "word":
        return _UNKNOWN
    verb, main, ctes = first.up, i, frozenset()
    if verb == "WITH":
        verb, main, ctes = _after_ctes(toks, i)
        if verb is None:
            return _UNKNOWN
    elif verb not in OPERATIONS:
        return _UNKNOWN
    base = first.depth
    table = _first_table(toks, main, None, base, ctes, verb)
    if table is None and ctes:      # the main statement reads only CTEs: look inside them
        table = _first_table(toks, i, main, base, ctes, verb)
    returning = verb in _WRITE_VERBS and _RETURNING_END.search(sql[-_TAIL:]) is not None
    return Statement(verb, table, returning)


def _after_ctes(toks: _Tokens, start: int):
    """``(main verb, its index, lower-cased CTE names)`` of the ``WITH`` at ``start``;
    the verb is ``None`` when no main statement follows."""
    base = toks.get(start).depth
    names: set[str] = set()
    expect_name = True
    j = start + 1
    while (t := toks.get(j)) is not None:
        if t.depth == base:
            if expect_name and t.up == "RECURSIVE":
                pass
            elif expect_name and t.kind in ("word", "name"):
                names.add(t.text.lower())
                expect_name = False
            elif _is(t, ","):
                expect_name = True
            elif t.up in _CTE_VERBS:
                return t.up, j, frozenset(names)
        j += 1
    return None, start, frozenset(names)


def _first_table(toks: _Tokens, start: int, stop: int | None, base: int, ctes, verb) -> str | None:
    j = start
    while (stop is None or j < stop) and (t := toks.get(j)) is not None:
        if t.up and t.sub and t.depth >= base and (
                t.up in _NAME_AFTER or (t.up == "TABLE" and verb in _DDL)):
            name = _name_at(toks, j + 1, t.up)
            if name is not None and name.lower() not in ctes:
                return name
        j += 1
    return None


def _name_at(toks: _Tokens, j: int, keyword: str) -> str | None:
    """The possibly qualified name starting at token ``j``, right after ``keyword``;
    ``None`` when no name follows or it is a function call after FROM/JOIN."""
    while (t := toks.get(j)) is not None and t.up in _SKIP_BEFORE_NAME:
        j += 1
    parts: list[str] = []
    while (t := toks.get(j)) is not None and t.kind in ("word", "name"):
        parts.append(t.text)
        j += 1
        if _is(toks.get(j), ".") and toks.get(j + 1) is not None:
            j += 1
            continue
        break
    if not parts:
        return None
    if keyword in ("FROM", "JOIN") and _is(toks.get(j), "("):
        return None     # FROM generate_series(...): a function, not a table
    return ".".join(parts)
