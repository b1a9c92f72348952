"""SQL of the join between a model and the rows that point at it generically.

``owner.pk = item.object_id AND item.content_type_id = (SELECT id FROM
dorm_content_type WHERE app_label = %s AND model = %s)``. The content type is
matched by natural key inside the statement, so building or running the query never
needs an extra query and the statement is right on every alias. When the primary
key and the object id column have different types (an integer or UUID key stored
in a text ``object_id``), the non-text side is cast to the text side's type, so the
comparison works on backends without implicit casts (PostgreSQL, DuckDB).
Identifiers come from field objects and are quoted; values are bound parameters.
"""
from __future__ import annotations

from dorm.fields import CharField, IntegerField, TextField
from dorm.query.query import Join

_TEXT_FALLBACK = TextField()


def _base_field(field):
    while getattr(field, "is_relation", False) and getattr(field, "target_field", None) is not None:
        field = field.target_field
    return field


def _kind(field) -> str:
    field = _base_field(field)
    if isinstance(field, IntegerField):
        return "int"
    if isinstance(field, (CharField, TextField)):
        return "text"
    return field.get_internal_type()


def comparable(connection, pk_field, pk_sql: str, oid_field, oid_sql: str) -> tuple[str, str]:
    """``(pk_sql, oid_sql)`` with a cast added where the column types differ."""
    pk_kind, oid_kind = _kind(pk_field), _kind(oid_field)
    if pk_kind == oid_kind:
        return pk_sql, oid_sql
    ops = connection.ops
    if oid_kind == "text":
        return ops.cast_sql(pk_sql, _base_field(oid_field).cast_db_type(connection)), oid_sql
    if pk_kind == "text":
        return pk_sql, ops.cast_sql(oid_sql, _base_field(pk_field).cast_db_type(connection))
    text = _TEXT_FALLBACK.cast_db_type(connection)
    return ops.cast_sql(pk_sql, text), ops.cast_sql(oid_sql, text)


def content_type_match_sql(compiler, connection, column_sql: str, natural_key) -> tuple[str, list]:
    """``<column> = (SELECT id FROM <content type table> WHERE app_label = ? AND model = ?)``."""
    from .models import ContentType

    opts = ContentType._meta
    qn = compiler.quote_name
    ph = connection.ops.placeholder
    sql = (f"{column_sql} = (SELECT {qn(opts.pk.column)} FROM {qn(opts.db_table)} "
           f"WHERE {qn(opts.get_field('app_label').column)} = {ph} "
           f"AND {qn(opts.get_field('model').column)} = {ph})")
    return sql, list(natural_key)


def generic_conditions(compiler, connection, relation, owner_alias, item_alias) -> tuple[list, list]:
    """The ON conditions joining ``relation.owner_model`` rows (``owner_alias``) to the
    rows of ``relation.item_model`` pointing at them (``item_alias``)."""
    qn = compiler.quote_name
    pk = relation.owner_model._meta.pk
    oid = relation.object_id_field
    ct = relation.content_type_field
    pk_sql, oid_sql = comparable(connection, pk, f"{qn(owner_alias)}.{qn(pk.column)}",
                                 oid, f"{qn(item_alias)}.{qn(oid.column)}")
    ct_sql, params = content_type_match_sql(compiler, connection, f"{qn(item_alias)}.{qn(ct.column)}",
                                            relation.owner_natural_key())
    return [f"{pk_sql} = {oid_sql}", ct_sql], params


class GenericJoin(Join):
    """A join along a generic relation; ``join_field`` (a ``GenericRelation``, or its
    reverse ``GenericRel`` for ``related_query_name``) renders the ON clause through
    ``join_conditions(compiler, connection, parent_alias, alias)``. Extra conditions
    (``FilteredRelation``) are AND-ed to it."""

    def identity(self):
        return (self.table_name, self.parent_alias, ("generic", id(self.join_field)),
                id(self.extra_condition))

    def as_sql(self, compiler, connection):
        qn = compiler.quote_name
        conds, params = self.join_field.join_conditions(compiler, connection, self.parent_alias, self.alias)
        if self.extra_condition is not None:
            sql, extra = compiler.compile(self.extra_condition)
            if sql:
                conds.append(sql)
                params = [*params, *extra]
        return (f"{self.join_type} {qn(self.table_name)} {qn(self.alias)} "
                f"ON ({' AND '.join(conds)})", params)
