"""Deleting rows: the collector.

``Collector(using).collect_gen(objs_or_queryset)`` gathers the rows to delete and,
through relation fields' ``on_delete`` handlers, the rows that depend on them;
``delete_gen()`` then deletes in dependency order inside one transaction and
returns ``(total, {"app.Model": count})``. Instance deletes send
``pre_delete``/``post_delete``; queryset deletes do not (spec).
"""
from __future__ import annotations

from collections import defaultdict

from dorm.cache import invalidation as _cache_invalidation
from dorm.cache import state as _cache_state


class Collector:
    def __init__(self, using, send_signals=True):
        self.using = using
        self.send_signals = send_signals
        #: model -> {pk: instance or None}; insertion order = discovery order
        self.data: dict = defaultdict(dict)
        #: [(model, field, value, pks)] UPDATEs to run before deletes (SET_NULL ...)
        self.field_updates: list = []
        #: dependency edges: model -> set of models that must be deleted first
        self.dependencies: dict = defaultdict(set)

    def add(self, model, instances, source=None):
        new = []
        bucket = self.data[model]
        for obj in instances:
            pk = obj.pk
            if pk not in bucket:
                bucket[pk] = obj
                new.append(obj)
        if source is not None and new:
            self.dependencies[source].add(model)
        return new

    def collect_gen(self, objs, source=None):
        """Generator: add ``objs`` (instances) and cascade through reverse relations."""
        if not objs:
            return
        model = type(objs[0])
        new = self.add(model._meta.concrete_model, objs, source)
        if not new:
            return
        for rel in model._meta.deletion_relations:
            yield from rel.collect_related_gen(self, new)

    def delete_gen(self):
        from dorm import signals

        gen = self._delete_all_gen(signals)
        if len(self.data) == 1 and not self.field_updates and len(next(iter(self.data.values()))) == 1:
            result = yield from gen
            return result
        result = yield ("atomic", self.using, gen)
        return result

    def _ordered_models(self):
        models = list(self.data)
        ordered, seen = [], set()

        def visit(m, stack=()):
            if m in seen or m in stack:
                return
            for dep in self.dependencies.get(m, ()):
                visit(dep, (*stack, m))
            seen.add(m)
            ordered.append(m)

        for m in models:
            visit(m)
        return ordered

    def _delete_all_gen(self, signals):
        conn = yield ("connection", self.using)
        counts = {}
        for model, field, value, pks in self.field_updates:
            yield from _update_field_gen(conn, self.using, model, field, value, pks)
        for model in self._ordered_models():
            bucket = self.data[model]
            if self.send_signals and signals.pre_delete.has_receivers(model):
                for obj in bucket.values():
                    yield ("send", signals.pre_delete, model, {"instance": obj, "using": self.using})
            n = yield from delete_pks_gen(conn, self.using, model, list(bucket))
            # Rows read in this transaction and deleted by it: the database's own
            # ON DELETE CASCADE may have removed some before the statement reached
            # them, so the statement's row count alone would under-report.
            n = max(n, len(bucket))
            counts[model._meta.label] = counts.get(model._meta.label, 0) + n
            if self.send_signals and signals.post_delete.has_receivers(model):
                for obj in bucket.values():
                    yield ("send", signals.post_delete, model, {"instance": obj, "using": self.using})
        if _cache_state.active:
            # post_delete receivers cover deleted rows when signals are sent; SET_NULL
            # and friends updated rows of other models, which no signal reports
            touched = [m for m, *_ in self.field_updates]
            _cache_invalidation.models_written(touched if self.send_signals else [*self.data, *touched],
                                               self.using)
        for model, bucket in self.data.items():
            for obj in bucket.values():
                if obj is not None and hasattr(obj, "_meta"):
                    obj.__dict__[model._meta.pk.attname] = None
                    obj._state.adding = True
        counts = {k: v for k, v in counts.items() if v}
        return sum(counts.values()), counts


def delete_pks_gen(conn, using, model, pks):
    if not pks:
        return 0
    meta = model._meta
    ops = conn.ops
    table = ops.quote_name(meta.db_table)
    col = ops.quote_name(meta.pk.column)
    total = 0
    size = min(conn.features.max_query_params or 1000, 1000)
    for start in range(0, len(pks), size):
        chunk = pks[start:start + size]
        sql = f"DELETE FROM {table} WHERE {col} IN ({', '.join([ops.placeholder] * len(chunk))})"
        params = [meta.pk.get_db_prep_value(pk, conn) for pk in chunk]
        total += yield ("execute_write", using, sql, params)
    return total


def _update_field_gen(conn, using, model, field, value, pks):
    meta = model._meta
    ops = conn.ops
    table = ops.quote_name(meta.db_table)
    for start in range(0, len(pks), 1000):
        chunk = pks[start:start + 1000]
        sql = (f"UPDATE {table} SET {ops.quote_name(field.column)} = {ops.placeholder} "
               f"WHERE {ops.quote_name(meta.pk.column)} IN ({', '.join([ops.placeholder] * len(chunk))})")
        params = [None if value is None else field.get_db_prep_save(value, conn),
                  *[meta.pk.get_db_prep_value(pk, conn) for pk in chunk]]
        yield ("execute_write", using, sql, params)
