"""``select_related``: validating the requested relation paths.

Relation fields plug in through ``field.is_relation``; loading joined rows onto
instances is done by the relations layer (``dorm.models.related``)."""
from __future__ import annotations

from dorm.exceptions import FieldDoesNotExist, FieldError


def add_select_related(query, paths):
    opts = query.model._meta
    tree = query.select_related if isinstance(query.select_related, dict) else {}
    if not paths:
        query.select_related = True
        return
    for path in paths:
        node, model_opts = tree, opts
        for part in path.split("__"):
            try:
                field = model_opts.get_field(part)
            except FieldDoesNotExist:
                raise FieldError(
                    f"Invalid field name(s) given in select_related: {part!r} on "
                    f"{model_opts.object_name}. Choices are: {_relation_choices(model_opts)}") from None
            if not getattr(field, "is_relation", False) or getattr(field, "many_to_many", False) \
                    or getattr(field, "multiple", False):
                raise FieldError(
                    f"select_related({path!r}): {part!r} is not a single-valued relation of "
                    f"{model_opts.object_name}. Choices are: {_relation_choices(model_opts)}")
            node = node.setdefault(part, {})
            model_opts = field.related_model._meta
    query.select_related = tree


def _relation_choices(opts):
    names = [f.name for f in opts.get_fields()
             if getattr(f, "is_relation", False) and not getattr(f, "many_to_many", False)
             and not getattr(f, "multiple", False)]
    return ", ".join(sorted(names)) or "(none)"
