"""Turning result rows into model instances, dicts, tuples or scalars.

Each iterable class gets the compiled select list once per query and returns a
``hydrate(rows, db)`` function specialised for it: per-row work is a ``zip`` and a
dict update, with converters applied only to the columns that have them.
"""
from __future__ import annotations

from collections import namedtuple

from .row_loader import row_loader


def _convert(rows, converters):
    if not converters:
        return rows
    out = []
    for row in rows:
        row = list(row)
        for i, convs in converters:
            v = row[i]
            for c in convs:
                v = c(v)
            row[i] = v
        out.append(row)
    return out


class ModelIterable:
    @staticmethod
    def hydrator(qs, compiler):
        select, model_fields, ann_names = compiler.get_select()
        model = qs.model
        names = [f.attname for f in model_fields] + ann_names
        converters = compiler.get_converters([e for e, _ in select])
        plan = _plan_related(getattr(compiler, "related_klass_info", None))
        width = len(select)
        load = row_loader(model, names, plan, width)

        def hydrate(rows, db):
            if converters:
                rows = _convert(rows, converters)
            if rows and len(rows[0]) != width:  # a driver added columns: unpack those too
                return row_loader(model, names, plan, len(rows[0]))(rows, db)
            return load(rows, db)
        return hydrate


def _plan_related(nodes):
    """Precompute per joined relation what hydration needs (no per-row lookups):
    ``(name, start, end, attnames, pk_pos, model, children, reverse_name)``."""
    if not nodes:
        return None
    plan = []
    for field, start, fields, model, children in nodes:
        reverse_name = None
        if getattr(field, "one_to_one", False) and not field.remote_field.is_hidden():
            reverse_name = field.remote_field.get_accessor_name()
        plan.append((field.name, start, start + len(fields), [f.attname for f in fields],
                     start + fields.index(model._meta.pk), model, _plan_related(children),
                     reverse_name))
    return plan


class ValuesIterable:
    @staticmethod
    def hydrator(qs, compiler):
        select, _, names = compiler.get_select()
        converters = compiler.get_converters([e for e, _ in select])

        def hydrate(rows, db):
            return [dict(zip(names, row)) for row in _convert(rows, converters)]
        return hydrate


class ValuesListIterable:
    @staticmethod
    def hydrator(qs, compiler):
        select, _, _ = compiler.get_select()
        converters = compiler.get_converters([e for e, _ in select])

        def hydrate(rows, db):
            if not converters:
                return [tuple(r) for r in rows] if rows and not isinstance(rows[0], tuple) else list(rows)
            return [tuple(r) for r in _convert(rows, converters)]
        return hydrate


class FlatValuesListIterable:
    @staticmethod
    def hydrator(qs, compiler):
        select, _, _ = compiler.get_select()
        converters = compiler.get_converters([e for e, _ in select])
        convs = converters[0][1] if converters else ()

        def hydrate(rows, db):
            if not convs:
                return [r[0] for r in rows]
            out = []
            for r in rows:
                v = r[0]
                for c in convs:
                    v = c(v)
                out.append(v)
            return out
        return hydrate


class NamedValuesListIterable:
    @staticmethod
    def hydrator(qs, compiler):
        select, _, names = compiler.get_select()
        converters = compiler.get_converters([e for e, _ in select])
        Row = namedtuple("Row", names, rename=True)

        def hydrate(rows, db):
            return [Row._make(r) for r in _convert(rows, converters)]
        return hydrate
