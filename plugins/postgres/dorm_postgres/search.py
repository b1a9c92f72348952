"""Full-text search and trigram similarity (``dorm.search``, PostgreSQL only).

* ``SearchVector(*fields, config=None, weight=None)`` – ``to_tsvector('cfg'::regconfig,
  COALESCE("t"."f1"::text, '') || ' ' || ...)`` (``setweight(..., 'A')`` with a weight);
  vectors combine with ``+`` (``||``).
* ``SearchQuery(value, *, config=None, search_type="plain"|"phrase"|"websearch"|"raw",
  invert=False)`` – the value is a bound parameter; ``&``, ``|`` and ``~`` combine.
* ``SearchRank(vector, query, *, cover_density=False, normalization=None)``.
* ``SearchHeadline(expression, query, *, config=None, options=None, **options)`` – the
  option string is a bound parameter (never spliced into the SQL).
* ``TrigramSimilarity(expression, value)``, ``TrigramWordSimilarity(value, expression)``,
  ``TrigramDistance(expression, value)`` (needs ``CreateExtension("pg_trgm")``).
* Lookups (CharField / TextField): ``__search`` (``settings.SEARCH_CONFIG``),
  ``__trigram_similar``, ``__trigram_word_similar``; ``annotate(v=SearchVector(...))
  .filter(v=SearchQuery(...))`` is ``v @@ query``.
* ``search_index(table, *fields, name=None, config=None)`` / ``trigram_index(...)`` –
  ``CREATE INDEX`` statements (for ``RunSQL``) whose expression is exactly the one the
  ``__search`` lookup / ``SearchVector`` emit, so the planner uses the index.

The text-search configuration is a validated identifier written as a literal
(``'english'::regconfig``): a bound parameter would make the expression differ from
the index expression. Every other value is bound. On other backends every expression
and lookup raises ``NotSupportedError`` naming the backend (there is no LIKE
fallback: it would return different rows).
"""
from __future__ import annotations

import re

from dorm.exceptions import ImproperlyConfigured, NotSupportedError
from dorm.expressions import Expression, F
from dorm.fields import Field, FloatField, TextField
from dorm.lookups import Exact, Lookup

__all__ = [
    "SEARCH_LOOKUPS",
    "SearchHeadline",
    "SearchQuery",
    "SearchRank",
    "SearchVector",
    "SearchVectorField",
    "TrigramDistance",
    "TrigramSimilarity",
    "TrigramWordSimilarity",
    "search_index",
    "trigram_index",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_WEIGHTS = ("A", "B", "C", "D")
_SEP = " || ' ' || "


def _require_pg(connection, what: str) -> None:
    if getattr(connection, "vendor", None) != "postgresql":
        raise NotSupportedError(
            f"{what} is not supported on {getattr(connection, 'display_name', connection.vendor)}: "
            "full-text search and trigram similarity are PostgreSQL only (dorm-postgres)")


def _config(config) -> str:
    """The configuration literal (``'english'::regconfig``) of a validated name."""
    if config is None:
        from dorm.conf import settings

        config = getattr(settings, "SEARCH_CONFIG", None) or "english"
    if not isinstance(config, str) or not _IDENT.match(config):
        raise ImproperlyConfigured(f"invalid text search configuration {config!r}: expected an "
                                   "identifier such as 'english' or 'pg_catalog.simple'")
    return f"'{config}'::regconfig"


def _text_arg(sql: str) -> str:
    return f"COALESCE({sql}::text, '')"


class SearchVectorField(Field):
    """Output type of ``SearchVector`` (``tsvector``); ``= SearchQuery`` means ``@@``.
    Usable as a model field for a stored ``tsvector`` column on PostgreSQL."""

    def get_internal_type(self):
        return "SearchVectorField"

    def db_type(self, connection):
        _require_pg(connection, "SearchVectorField")
        return "tsvector"

    def cast_db_type(self, connection):
        return self.db_type(connection)

    def db_check(self, connection):
        return None


class SearchQueryField(Field):
    def get_internal_type(self):
        return "SearchQueryField"

    def db_type(self, connection):
        return "tsquery"


class _Search(Expression):
    name = "search"

    def _check(self, connection):
        _require_pg(connection, type(self).__name__)


class SearchVector(_Search):
    def __init__(self, *expressions, config=None, weight=None):
        if not expressions:
            raise ImproperlyConfigured("SearchVector needs at least one field")
        super().__init__(output_field=SearchVectorField())
        self.source_expressions = [F(e) if isinstance(e, str) else e for e in expressions]
        _config(config)  # validate early
        self.config = config
        if weight is not None and weight not in _WEIGHTS:
            raise ImproperlyConfigured(f"SearchVector weight must be one of {_WEIGHTS}, got {weight!r}")
        self.weight = weight

    def get_source_expressions(self):
        return self.source_expressions

    def set_source_expressions(self, exprs):
        self.source_expressions = list(exprs)

    def copy(self):
        c = super().copy()
        c.source_expressions = list(self.source_expressions)
        return c

    def as_sql(self, compiler, connection):
        self._check(connection)
        parts, params = [], []
        for e in self.source_expressions:
            sql, p = compiler.compile(e)
            parts.append(_text_arg(sql))
            params.extend(p)
        sql = f"to_tsvector({_config(self.config)}, {_SEP.join(parts)})"
        if self.weight:
            sql = f"setweight({sql}, '{self.weight}')"
        return sql, params

    def __add__(self, other):
        return _CombinedVector(self, other)


class _CombinedVector(_Search):
    def __init__(self, lhs, rhs):
        super().__init__(output_field=SearchVectorField())
        self.lhs, self.rhs = lhs, rhs

    def get_source_expressions(self):
        return [self.lhs, self.rhs]

    def set_source_expressions(self, exprs):
        self.lhs, self.rhs = exprs

    def as_sql(self, compiler, connection):
        self._check(connection)
        ls, lp = compiler.compile(self.lhs)
        rs, rp = compiler.compile(self.rhs)
        return f"({ls} || {rs})", [*lp, *rp]

    def __add__(self, other):
        return _CombinedVector(self, other)


_QUERY_FUNCS = {"plain": "plainto_tsquery", "phrase": "phraseto_tsquery",
                "websearch": "websearch_to_tsquery", "raw": "to_tsquery"}


class _QueryOps:
    def __and__(self, other):
        return _CombinedQuery(self, "&&", _as_query(other))

    def __or__(self, other):
        return _CombinedQuery(self, "||", _as_query(other))

    def __invert__(self):
        return _InvertedQuery(self)

    def __rand__(self, other):
        return _CombinedQuery(_as_query(other), "&&", self)

    def __ror__(self, other):
        return _CombinedQuery(_as_query(other), "||", self)


def _as_query(value):
    if isinstance(value, (SearchQuery, _CombinedQuery, _InvertedQuery)):
        return value
    if isinstance(value, str):
        return SearchQuery(value)
    raise ImproperlyConfigured(f"cannot combine a SearchQuery with {type(value).__name__}")


class SearchQuery(_QueryOps, _Search):
    def __init__(self, value, *, config=None, search_type="plain", invert=False):
        if not isinstance(value, str):
            raise ImproperlyConfigured(f"SearchQuery needs a string, got {type(value).__name__}")
        if search_type not in _QUERY_FUNCS:
            raise ImproperlyConfigured(f"SearchQuery search_type must be one of "
                                       f"{', '.join(_QUERY_FUNCS)}, got {search_type!r}")
        super().__init__(output_field=SearchQueryField())
        _config(config)
        self.value, self.config, self.search_type, self.invert = value, config, search_type, invert

    def as_sql(self, compiler, connection):
        self._check(connection)
        sql = f"{_QUERY_FUNCS[self.search_type]}({_config(self.config)}, %s)"
        if self.invert:
            sql = f"!!({sql})"
        return sql, [self.value]

    def __invert__(self):
        c = self.copy()
        c.invert = not self.invert
        return c

    def __repr__(self):
        return f"SearchQuery({self.value!r}, search_type={self.search_type!r})"


class _CombinedQuery(_QueryOps, _Search):
    def __init__(self, lhs, connector, rhs):
        super().__init__(output_field=SearchQueryField())
        self.lhs, self.connector, self.rhs = lhs, connector, rhs

    def get_source_expressions(self):
        return [self.lhs, self.rhs]

    def set_source_expressions(self, exprs):
        self.lhs, self.rhs = exprs

    def as_sql(self, compiler, connection):
        self._check(connection)
        ls, lp = compiler.compile(self.lhs)
        rs, rp = compiler.compile(self.rhs)
        return f"({ls} {self.connector} {rs})", [*lp, *rp]


class _InvertedQuery(_QueryOps, _Search):
    def __init__(self, query):
        super().__init__(output_field=SearchQueryField())
        self.query = query

    def get_source_expressions(self):
        return [self.query]

    def set_source_expressions(self, exprs):
        (self.query,) = exprs

    def as_sql(self, compiler, connection):
        self._check(connection)
        sql, params = compiler.compile(self.query)
        return f"!!({sql})", params

    def __invert__(self):
        return self.query


def _is_vector(e):
    return isinstance(getattr(e, "output_field", None), SearchVectorField) or \
        isinstance(e, (SearchVector, _CombinedVector))


def _is_query(e):
    return isinstance(e, (SearchQuery, _CombinedQuery, _InvertedQuery))


class SearchRank(_Search):
    def __init__(self, vector, query, *, cover_density=False, normalization=None, weights=None):
        if isinstance(query, str):
            query = SearchQuery(query)
        if not _is_vector(vector) and not isinstance(vector, (str, F)):
            raise ImproperlyConfigured("SearchRank(vector, query): vector must be a SearchVector")
        if not _is_query(query):
            raise ImproperlyConfigured("SearchRank(vector, query): query must be a SearchQuery")
        if normalization is not None and (not isinstance(normalization, int) or isinstance(normalization, bool)):
            raise ImproperlyConfigured("SearchRank normalization must be an integer bit mask")
        if weights is not None and (len(weights) != 4 or not all(isinstance(w, (int, float)) for w in weights)):
            raise ImproperlyConfigured("SearchRank weights must be 4 numbers (D, C, B, A)")
        super().__init__(output_field=FloatField())
        self.vector = F(vector) if isinstance(vector, str) else vector
        self.query = query
        self.function = "ts_rank_cd" if cover_density else "ts_rank"
        self.normalization, self.weights = normalization, weights

    def get_source_expressions(self):
        return [self.vector, self.query]

    def set_source_expressions(self, exprs):
        self.vector, self.query = exprs

    def as_sql(self, compiler, connection):
        self._check(connection)
        vs, vp = compiler.compile(self.vector)
        qs, qp = compiler.compile(self.query)
        head, hp = "", []
        if self.weights is not None:
            head, hp = "%s::float4[], ", [[float(w) for w in self.weights]]
        tail, tp = "", []
        if self.normalization is not None:
            tail, tp = ", %s", [self.normalization]
        return f"{self.function}({head}{vs}, {qs}{tail})", [*hp, *vp, *qp, *tp]


_HEADLINE_OPTIONS = {
    "StartSel", "StopSel", "MaxWords", "MinWords", "ShortWord", "HighlightAll",
    "MaxFragments", "FragmentDelimiter",
}


def _headline_options(options: dict) -> str:
    out = []
    lower = {k.lower(): k for k in _HEADLINE_OPTIONS}
    for key, value in options.items():
        canon = lower.get(str(key).lower().replace("_", ""))
        if canon is None:
            raise ImproperlyConfigured(f"unknown ts_headline option {key!r} (valid: "
                                       f"{', '.join(sorted(_HEADLINE_OPTIONS))})")
        if isinstance(value, bool):
            value = "true" if value else "false"
        text = str(value)
        out.append(f'{canon}="{text.replace(chr(34), chr(34) * 2)}"')
    return ", ".join(out)


class SearchHeadline(_Search):
    def __init__(self, expression, query, *, config=None, options=None, **kw_options):
        if isinstance(query, str):
            query = SearchQuery(query, config=config)
        if not _is_query(query):
            raise ImproperlyConfigured("SearchHeadline(expression, query): query must be a SearchQuery")
        super().__init__(output_field=TextField())
        _config(config)
        self.expression = F(expression) if isinstance(expression, str) else expression
        self.query, self.config = query, config
        merged = {**(options or {}), **kw_options}
        self.options = _headline_options(merged) if merged else None

    def get_source_expressions(self):
        return [self.expression, self.query]

    def set_source_expressions(self, exprs):
        self.expression, self.query = exprs

    def as_sql(self, compiler, connection):
        self._check(connection)
        es, ep = compiler.compile(self.expression)
        qs, qp = compiler.compile(self.query)
        if self.options is None:
            return f"ts_headline({_config(self.config)}, {es}::text, {qs})", [*ep, *qp]
        return f"ts_headline({_config(self.config)}, {es}::text, {qs}, %s)", [*ep, *qp, self.options]


# ---- trigram ---------------------------------------------------------------------------------


def _trigram_value(value, cls):
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"{cls}: the value must be a string, got {type(value).__name__}")
    return value


class _Trigram(_Search):
    template = ""

    def __init__(self, expression, value):
        super().__init__(output_field=FloatField())
        self.expression = F(expression) if isinstance(expression, str) else expression
        self.value = _trigram_value(value, type(self).__name__)

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def as_sql(self, compiler, connection):
        self._check(connection)
        es, ep = compiler.compile(self.expression)
        return self.template.format(expr=es), [*ep, self.value] if self.template.index("{expr}") < \
            self.template.index("%s") else [self.value, *ep]


class TrigramSimilarity(_Trigram):
    """``similarity(expr, value)`` (0..1)."""

    template = "similarity({expr}, %s)"


class TrigramDistance(_Trigram):
    """``expr <-> value`` (1 - similarity); ``order_by`` it for nearest matches."""

    template = "({expr} <-> %s)"


class TrigramWordSimilarity(_Trigram):
    """``word_similarity(value, expr)``: note the argument order (as PostgreSQL's)."""

    template = "word_similarity(%s, {expr})"

    def __init__(self, value, expression):
        super().__init__(expression, value)


# ---- lookups ------------------------------------------------------------------------------------


class SearchLookup(Lookup):
    """``title__search="words"`` (``plainto_tsquery`` with ``settings.SEARCH_CONFIG``) or
    ``title__search=SearchQuery(...)``: ``to_tsvector(cfg, COALESCE(col::text, '')) @@ q``
    – the expression ``search_index(table, "col")`` indexes."""

    lookup_name = "search"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        _require_pg(connection, "lookup 'search'")
        lhs, lp = self.process_lhs(compiler, connection)
        if _is_vector(self.lhs):
            vec = lhs
        else:
            vec = f"to_tsvector({_config(None)}, {_text_arg(lhs)})"
        rhs = self.rhs
        if isinstance(rhs, str):
            rhs = SearchQuery(rhs)
        if not hasattr(rhs, "as_sql"):
            raise ImproperlyConfigured(f"__search needs a string or a SearchQuery, got {rhs!r}")
        rs, rp = compiler.compile(rhs)
        return f"{vec} @@ {rs}", [*lp, *rp]


class SearchVectorExact(Exact):
    """``annotate(v=SearchVector(...)).filter(v=SearchQuery(...))``: ``v @@ query``."""

    prepare_rhs = False

    def as_sql(self, compiler, connection):
        _require_pg(connection, "matching a SearchVector")
        lhs, lp = self.process_lhs(compiler, connection)
        rhs = SearchQuery(self.rhs) if isinstance(self.rhs, str) else self.rhs
        rs, rp = compiler.compile(rhs)
        return f"{lhs} @@ {rs}", [*lp, *rp]


class _TrigramLookup(Lookup):
    operator = ""
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        _require_pg(connection, f"lookup '{self.lookup_name}'")
        lhs, lp = self.process_lhs(compiler, connection)
        value = _trigram_value(self.rhs, f"__{self.lookup_name}")
        return self.operator.format(lhs=lhs), [*lp, value] if self.lhs_first else [value, *lp]


class TrigramSimilar(_TrigramLookup):
    """``name__trigram_similar="alise"``: ``name % 'alise'`` (pg_trgm.similarity_threshold)."""

    lookup_name = "trigram_similar"
    operator = "{lhs} %% %s"
    lhs_first = True


class TrigramWordSimilar(_TrigramLookup):
    """``name__trigram_word_similar="alise"``: ``'alise' <% name``."""

    lookup_name = "trigram_word_similar"
    operator = "%s <%% {lhs}"
    lhs_first = False


class TrigramStrictWordSimilar(_TrigramLookup):
    lookup_name = "trigram_strict_word_similar"
    operator = "%s <<%% {lhs}"
    lhs_first = False


SEARCH_LOOKUPS = [SearchLookup, TrigramSimilar, TrigramWordSimilar, TrigramStrictWordSimilar]


# ---- index helpers ---------------------------------------------------------------------------------


def _qn(name: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ImproperlyConfigured(f"invalid identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def search_vector_sql(*columns: str, config=None) -> str:
    """The unqualified ``to_tsvector(...)`` expression ``SearchVector(*columns)`` and
    ``col__search`` emit (for an index or a generated column)."""
    if not columns:
        raise ImproperlyConfigured("search_index needs at least one column")
    return f"to_tsvector({_config(config)}, {_SEP.join(_text_arg(_qn(c)) for c in columns)})"


def search_index(table: str, *fields: str, name: str | None = None, config=None,
                 concurrently: bool = False) -> str:
    """``CREATE INDEX ... USING GIN (<the __search / SearchVector expression>)``.

    ``search_index("article", "body")`` serves ``filter(body__search=...)``;
    ``search_index("article", "title", "body")`` serves
    ``annotate(v=SearchVector("title", "body")).filter(v=SearchQuery(...))``. ``config``
    must be the one the query uses (``__search``: ``settings.SEARCH_CONFIG``)."""
    expr = search_vector_sql(*fields, config=config)
    name = name or f"ix_{table}_{'_'.join(fields)}_search"[:63]
    conc = " CONCURRENTLY" if concurrently else ""
    return f"CREATE INDEX{conc} IF NOT EXISTS {_qn(name)} ON {_qn(table)} USING GIN ({expr})"


def trigram_index(table: str, field: str, *, name: str | None = None, using: str = "gin",
                  concurrently: bool = False) -> str:
    """``CREATE INDEX ... USING GIN (col gin_trgm_ops)`` (``using="gist"``: gist_trgm_ops)
    – serves ``__trigram_similar``, ``TrigramDistance`` ordering (GiST) and LIKE."""
    if using not in ("gin", "gist"):
        raise ImproperlyConfigured("trigram_index(using=) must be 'gin' or 'gist'")
    name = name or f"ix_{table}_{field}_trgm"[:63]
    conc = " CONCURRENTLY" if concurrently else ""
    return (f"CREATE INDEX{conc} IF NOT EXISTS {_qn(name)} ON {_qn(table)} USING {using.upper()} "
            f"({_qn(field)} {using}_trgm_ops)")


