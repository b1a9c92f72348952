"""Uniqueness checks for ``validate_unique`` / ``full_clean``."""
from __future__ import annotations


def unique_checks(instance, exclude):
    """``[(field_names_tuple)]`` to check: unique fields and ``unique_together``."""
    opts = instance._meta
    checks = []
    for f in opts.concrete_fields:
        if f.unique and not f.primary_key and f.name not in exclude:
            checks.append((f.name,))
        elif f.primary_key and f.name not in exclude and instance._state.adding and instance.pk is not None:
            checks.append((f.name,))
    for combo in opts.unique_together:
        if not any(n in exclude for n in combo):
            checks.append(tuple(combo))
    for c in opts.constraints:
        fields = getattr(c, "fields", None)
        if fields and getattr(c, "condition", None) is None and not any(n in exclude for n in fields):
            checks.append(tuple(fields))
    return checks


def unique_errors_gen(instance, exclude):
    """Generator returning ``{field_or___all__: [messages]}`` for violated checks."""
    model = type(instance)
    opts = model._meta
    errors: dict = {}
    manager = opts.base_manager()
    for names in unique_checks(instance, exclude):
        lookup = {}
        skip = False
        for n in names:
            f = opts.get_field(n)
            value = instance.__dict__.get(f.attname)
            if value is None:
                skip = True
                break
            lookup[f.attname] = value
        if skip:
            continue
        qs = manager.using(instance._state.db or None).filter(**lookup)
        if not instance._state.adding and instance.pk is not None:
            qs = qs.exclude(pk=instance.pk)
        exists = yield from qs._exists_gen()
        if exists:
            if len(names) == 1:
                f = opts.get_field(names[0])
                errors.setdefault(names[0], []).append(
                    f"{model.__name__} with this {f.verbose_name} already exists.")
            else:
                labels = ", ".join(opts.get_field(n).verbose_name for n in names)
                errors.setdefault("__all__", []).append(
                    f"{model.__name__} with this {labels} already exists.")
    return errors
