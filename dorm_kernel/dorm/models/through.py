"""The junction model of a ``ManyToManyField``: automatic or ``through=``."""
from __future__ import annotations

from dorm.exceptions import ImproperlyConfigured


def resolve_through(field, target):
    """Set ``field.remote_field.through`` and the two FKs once both ends are known."""
    through = field.through_arg
    if through is None:
        _finish(field, target, create_auto_through(field, target))
        return
    from .options import registry

    if isinstance(through, str):
        registry.lazy(through, field.model._meta.app_label, lambda m: _finish(field, target, m))
    else:
        _finish(field, target, through)


def _finish(field, target, through):
    field.remote_field.through = through
    src, tgt = _find_fks(field, target, through)
    field._m2m_source, field._m2m_target = src, tgt
    field.contribute_to_related_class(target)


def _find_fks(field, target, through):
    opts = through._meta
    if field.through_fields:
        src_name, tgt_name = field.through_fields
        return opts.get_field(src_name), opts.get_field(tgt_name)
    fks = [f for f in opts.local_fields if getattr(f, "many_to_one", False) or getattr(f, "one_to_one", False)]

    def pointing_at(model):
        out = []
        for f in fks:
            ref = f.remote_field.model
            if ref is model or (isinstance(ref, str) and ref.split(".")[-1].lower() == model.__name__.lower()):
                out.append(f)
        return out

    src = pointing_at(field.model)
    tgt = pointing_at(target)
    if field.model is target:
        if len(src) != 2:
            raise ImproperlyConfigured(
                f"{field.model.__name__}.{field.name}: the through model {through.__name__} needs exactly "
                "two foreign keys to the model, or through_fields=(source, target)")
        return src[0], src[1]
    if len(src) != 1 or len(tgt) != 1:
        raise ImproperlyConfigured(
            f"{field.model.__name__}.{field.name}: the through model {through.__name__} must have exactly "
            f"one foreign key to {field.model.__name__} and one to {target.__name__} "
            "(or give through_fields=(source, target))")
    return src[0], tgt[0]


def create_auto_through(field, target):
    from dorm.fields.related import CASCADE, ForeignKey

    from .base import Model

    source = field.model
    s_opts, t_opts = source._meta, target._meta
    name = f"{source.__name__}_{field.name}"
    table = field.db_table or f"{s_opts.db_table}_{field.name}"
    if len(table) > 63:
        raise ImproperlyConfigured(
            f"{source.__name__}.{field.name}: junction table name {table!r} is longer than 63 "
            "characters; set db_table=")
    from_name, to_name = s_opts.model_name, t_opts.model_name
    if from_name == to_name:
        from_name, to_name = f"from_{from_name}", f"to_{to_name}"
    meta = type("Meta", (), {
        "db_table": table, "app_label": s_opts.app_label, "auto_created": True,
        "unique_together": [(from_name, to_name)],
        "verbose_name": f"{source.__name__}-{target.__name__} relationship",
    })
    attrs = {
        "Meta": meta,
        "__module__": source.__module__,
        from_name: ForeignKey(source, on_delete=CASCADE, related_name=f"{name}+",
                              db_constraint=field.db_constraint),
        to_name: ForeignKey(target, on_delete=CASCADE, related_name=f"{name}+",
                            db_constraint=field.db_constraint),
    }
    return type(name, (Model,), attrs)
