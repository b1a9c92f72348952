"""INSERT and UPDATE of model rows (``save``, ``create``, ``bulk_create``, ``bulk_update``).

Statement text depends only on the model, the column set and the backend, so it
is built once and cached per ``(model, columns, vendor, flags)``; each call only
binds values. Functions here are sans-IO generators (see ``sansio``).
"""
from __future__ import annotations

from dorm.exceptions import DatabaseError

from .base import STATE_DB

_insert_cache: dict = {}


def _quote(conn, name):
    return conn.ops.quote_name(name)


def insert_sql(conn, model, fields, n_rows, returning_fields=(), on_conflict=None,
               update_fields=(), unique_fields=()):
    key = (model, tuple(fields), n_rows, conn.vendor, tuple(returning_fields), on_conflict,
           tuple(update_fields), tuple(unique_fields))
    sql = _insert_cache.get(key)
    if sql is not None:
        return sql
    ops = conn.ops
    table = _quote(conn, model._meta.db_table)
    cols = ", ".join(_quote(conn, f.column) for f in fields)
    if fields:
        row = "(" + ", ".join([ops.placeholder] * len(fields)) + ")"
        values = "VALUES " + ", ".join([row] * n_rows)
        sql = f"{ops.insert_statement(on_conflict)} {table} ({cols}) {values}"
    else:
        if n_rows != 1:
            raise ValueError("multi-row insert needs at least one column")
        sql = f"{ops.insert_statement(on_conflict)} {table} DEFAULT VALUES"
    suffix = ops.on_conflict_suffix_sql(
        on_conflict, [_quote(conn, f.column) for f in update_fields],
        [_quote(conn, f.column) for f in unique_fields])
    if suffix:
        sql += " " + suffix
    if returning_fields:
        sql += " " + ops.returning_sql([_quote(conn, f.column) for f in returning_fields])
    if len(_insert_cache) > 2048:
        _insert_cache.clear()
    _insert_cache[key] = sql
    return sql


def insert_fields(model, obj_has_pk: bool):
    """Fields written by an INSERT: every concrete field except an unset auto PK."""
    opts = model._meta
    cache_key = "_insert_fields_pk" if obj_has_pk else "_insert_fields"
    cached = opts.__dict__.get(cache_key)
    if cached is not None:
        return cached
    out = []
    for f in opts.concrete_fields:
        if f.primary_key and not obj_has_pk and _is_auto(f):
            continue
        if getattr(f, "generated", False):
            continue
        out.append(f)
    opts.__dict__[cache_key] = out
    return out


def _is_auto(field) -> bool:
    return field.get_internal_type() in ("AutoField", "BigAutoField", "SmallAutoField")


def save_table(obj, using, force_insert, force_update, update_fields):
    """Generator: UPDATE or INSERT ``obj``; returns True when a row was inserted."""
    model = type(obj)
    meta = model._meta
    pk_field = meta.pk
    pk_val = obj.__dict__.get(pk_field.attname)
    if pk_val is None and not _is_auto(pk_field) and pk_field.has_default():
        pk_val = pk_field.get_default()
        obj.__dict__[pk_field.attname] = pk_val
    conn = yield ("connection", using)
    adding = obj._state.adding
    if pk_val is not None and not force_insert and (not adding or force_update or update_fields):
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        if update_fields:
            fields = [f for f in fields if f.name in update_fields or f.attname in update_fields]
        values = [(f, f.pre_save(obj, False)) for f in fields]
        if values:
            rows = yield from update_rows_gen(conn, model, using, values, pk_val)
        else:
            rows = yield ("execute", using, *exists_sql(conn, model, pk_val))
            rows = len(rows)
        if rows:
            return False
        if force_update or update_fields:
            raise DatabaseError(
                f"{model.__name__} with pk={pk_val!r} did not update any row "
                f"({'force_update' if force_update else 'update_fields'} given)")
    yield from insert_one_gen(conn, obj, using)
    return True


def exists_sql(conn, model, pk_val):
    meta = model._meta
    sql = (f"SELECT 1 FROM {_quote(conn, meta.db_table)} WHERE "
           f"{_quote(conn, meta.pk.column)} = {conn.ops.placeholder}")
    return sql, [meta.pk.get_db_prep_value(pk_val, conn)]


def update_rows_gen(conn, model, using, values, pk_val):
    meta = model._meta
    sets, params = [], []
    from dorm.query.compiler import SQLCompiler
    from dorm.query.query import Query

    compiler = None
    for f, v in values:
        if hasattr(v, "resolve_expression"):
            if compiler is None:
                q = Query(model)
                compiler = SQLCompiler(q, conn)
            expr = v.resolve_expression(compiler.query, for_save=True)
            s, p = compiler.compile(expr)
            sets.append(f"{_quote(conn, f.column)} = {s}")
            params.extend(p)
        else:
            sets.append(f"{_quote(conn, f.column)} = {conn.ops.placeholder}")
            params.append(f.get_db_prep_save(v, conn))
    sql = (f"UPDATE {_quote(conn, meta.db_table)} SET {', '.join(sets)} "
           f"WHERE {_quote(conn, meta.pk.column)} = {conn.ops.placeholder}")
    params.append(meta.pk.get_db_prep_value(pk_val, conn))
    rows = yield ("execute_write", using, sql, params)
    return rows


def insert_one_gen(conn, obj, using):
    model = type(obj)
    meta = model._meta
    pk_field = meta.pk
    has_pk = obj.__dict__.get(pk_field.attname) is not None
    fields = insert_fields(model, has_pk)
    params = []
    for f in fields:
        value = f.pre_save(obj, True)
        if value is None and f.has_db_default() and not f.null:
            # let the database fill db_default
            fields = [x for x in fields if x is not f]
            continue
        params.append(f.get_db_prep_save(value, conn) if value is not None else None)
    returning = ()
    if not has_pk and conn.features.supports_returning:
        returning = (pk_field,)
    sql = insert_sql(conn, model, fields, 1, returning)
    rows = yield ("execute_insert", using, sql, params, bool(returning))
    if not has_pk and rows:
        value = rows[0][0]
        for conv in pk_field.get_db_converters(conn):
            value = conv(value)
        obj.__dict__[pk_field.attname] = value


def _bind_plan(fields):
    """Per field: ``(field, attname, plain pre_save?, identity bind type, prep)``."""
    return [(f, f.attname, f.has_plain_pre_save(), f.fast_bind_type(), f.get_db_prep_save)
            for f in fields]


def bulk_insert_gen(conn, model, objs, using, batch_size, on_conflict, update_fields, unique_fields):
    """Insert ``objs`` with one multi-row INSERT per batch; back-fills auto PKs where
    the backend returns them (not with conflict handling: rows may be skipped)."""
    meta = model._meta
    pk_field = meta.pk
    with_pk = [o for o in objs if o.__dict__.get(pk_field.attname) is not None]
    without_pk = [o for o in objs if o.__dict__.get(pk_field.attname) is None]
    for group, has_pk in ((with_pk, True), (without_pk, False)):
        if not group:
            continue
        fields = insert_fields(model, has_pk)
        returning = ()
        if not has_pk and not on_conflict and conn.features.supports_bulk_returning:
            returning = (pk_field,)
        size = conn.ops.bulk_batch_size(max(len(fields), 1), len(group))
        if batch_size:
            size = min(size, batch_size)
        plan = _bind_plan(fields)
        for start in range(0, len(group), size):
            batch = group[start:start + size]
            params = []
            append = params.append
            for obj in batch:
                d = obj.__dict__
                for f, attname, plain, fast, prep_save in plan:
                    v = d.get(attname) if plain else f.pre_save(obj, True)
                    if v is None or v.__class__ is fast:
                        append(v)
                    else:
                        append(prep_save(v, conn))
            sql = insert_sql(conn, model, fields, len(batch), returning, on_conflict,
                             update_fields, unique_fields)
            rows = yield ("execute_insert", using, sql, params, bool(returning))
            if returning and rows and len(rows) == len(batch):
                convs = pk_field.get_db_converters(conn)
                for obj, row in zip(batch, rows):
                    value = row[0]
                    for c in convs:
                        value = c(value)
                    obj.__dict__[pk_field.attname] = value
            for obj in batch:
                d = obj.__dict__
                state = d.get("_state")
                if state is None:
                    d[STATE_DB] = using  # the state is built if it is ever asked for
                else:
                    state.adding, state.db = False, using
