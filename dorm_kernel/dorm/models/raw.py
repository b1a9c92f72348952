"""``RawQuerySet``: model instances from hand-written SQL."""
from __future__ import annotations

import re

from dorm.budget import check_rowcount

from .iterables import _convert
from .row_loader import row_loader
from .sansio import run_async, run_sync

_PLACEHOLDER = re.compile(r"%s|\$\d+")
_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def count_placeholders(sql: str) -> int:
    stripped = _LITERAL.sub("", sql)
    return len(_PLACEHOLDER.findall(stripped.replace("%%", "")))


class RawQuerySet:
    """Iterable of ``model`` instances built from ``raw_query``'s columns (matched to
    field columns; other columns become plain attributes). Use ``%s`` placeholders."""

    def __init__(self, raw_query, model, params=(), translations=None, using=None, ctes=None):
        if not isinstance(raw_query, str) or not raw_query.strip():
            raise ValueError("raw() needs a non-empty SQL string")
        params = list(params or ())
        if "%(" not in raw_query:
            n = count_placeholders(raw_query)
            if n != len(params):
                raise ValueError(
                    f"raw() SQL has {n} placeholder(s) but {len(params)} parameter(s) were given")
        self.raw_query, self.model, self.params = raw_query, model, params
        self.translations = translations or {}
        self._db = using
        self.ctes = ctes or {}
        self._result_cache = None

    @property
    def db(self):
        if self._db:
            return self._db
        from dorm.db import router

        return router.db_for_read(self.model)

    def _fetch_gen(self):
        from dorm.query.compiler import SQLCompiler
        from dorm.query.query import Query

        db = self.db
        conn = yield ("connection", db)
        compiler = SQLCompiler(Query(self.model), conn)
        sql = compiler.convert_placeholders(self.raw_query)
        params = list(self.params)
        if self.ctes:
            compiler.query.ctes = self.ctes
            cte_sql, cte_params = compiler.ctes_sql()
            sql = f"{cte_sql} {sql}"
            params = [*cte_params, *params]
        cursor_cols = yield ("execute_with_description", db, sql, params)
        names, rows = cursor_cols
        check_rowcount(len(rows))  # dorm.budget max_rows (hand-written SQL gets no LIMIT)
        opts = self.model._meta
        by_column = {f.column: f for f in opts.concrete_fields}
        attnames, convs = [], []
        for i, name in enumerate(names):
            name = self.translations.get(name, name)
            f = by_column.get(name)
            attnames.append(f.attname if f else name)
            if f is not None:
                c = f.get_db_converters(conn)
                if c:
                    convs.append((i, c))
        if not rows:
            return []
        return row_loader(self.model, attnames, None, len(attnames))(_convert(rows, convs), db)

    def __iter__(self):
        if self._result_cache is None:
            self._result_cache = run_sync(self._fetch_gen())
        return iter(self._result_cache)

    def __len__(self):
        return len(list(iter(self)))

    def __getitem__(self, k):
        return list(iter(self))[k]

    async def alist(self):
        if self._result_cache is None:
            self._result_cache = await run_async(self._fetch_gen())
        return self._result_cache

    def __aiter__(self):
        async def gen():
            for obj in await self.alist():
                yield obj
        return gen()

    def __repr__(self):
        return f"<RawQuerySet: {self.raw_query}>"
