"""``FilteredRelation``: a LEFT JOIN whose ON clause carries an extra condition."""
from __future__ import annotations

from .query import LOOKUP_SEP, Join
from .where import Q


class FilteredRelation:
    """``annotate(pub=FilteredRelation("books", condition=Q(books__pages__gt=100)))`` then
    ``filter(pub__title=...)``. Works for forward FKs, reverse FKs and reverse O2O;
    the condition's paths start with the relation name."""

    def __init__(self, relation_name, *, condition=Q()):
        if not relation_name or LOOKUP_SEP in relation_name:
            raise ValueError("FilteredRelation takes a single relation name (no '__' paths)")
        if not isinstance(condition, Q):
            raise ValueError("FilteredRelation's condition must be a Q instance")
        self.relation_name = relation_name
        self.condition = condition

    def as_join_annotation(self, query, name):
        opts = query.model._meta
        field = opts.get_field(self.relation_name)
        if not getattr(field, "is_relation", False) or getattr(field, "many_to_many", False):
            raise ValueError(
                f"FilteredRelation({self.relation_name!r}): only foreign keys, reverse foreign keys "
                "and reverse one-to-one relations are supported")
        (path,) = field.path_infos
        join_class = getattr(path.join_field, "join_class", None) or Join  # generic relations
        alias = query.join(join_class(path.to_opts.db_table, query.get_initial_alias(), None, Join.LOUTER,
                                      path.join_cols, True, path.join_field), reuse=False)
        query.filtered_relations = {**query.filtered_relations, name: (alias, path.to_opts)}
        condition = _rename(self.condition, self.relation_name, name)
        query.alias_map[alias].extra_condition = query.build_where_node(condition)

    def __eq__(self, other):
        return (isinstance(other, FilteredRelation) and other.relation_name == self.relation_name
                and other.condition == self.condition)


def _rename(q, old, new):
    out = Q(_connector=q.connector, _negated=q.negated)
    out.children = []
    for child in q.children:
        if isinstance(child, Q):
            out.children.append(_rename(child, old, new))
        elif isinstance(child, tuple):
            key, value = child
            if key == old or key.startswith(old + LOOKUP_SEP):
                key = new + key[len(old):]
            out.children.append((key, value))
        else:
            out.children.append(child)
    return out
