"""Row loaders: functions that turn fetched rows into model instances.

Hydration is the per-row cost of every model query, so the loader for one *shape*
(model, selected columns, ``select_related`` tree) is generated once as Python
source and cached on the model's ``_meta``. The generated loop unpacks each row into
locals and builds every instance's ``__dict__`` as one dict display: no ``zip``,
no per-row lookups, no per-instance ``ModelState`` (see ``base.STATE_DB``).

Only repr()'d strings and generated local names (``v3``, ``o1``, ``M0``) ever reach
the generated source; field names never become code.
"""
from __future__ import annotations

from .base import STATE_DB, STATE_JOINED, joined_key

#: generated loaders kept per model; shapes beyond this use the generic loader
MAX_CACHED_SHAPES = 128


def plan_key(plan):
    """A hashable key for a select_related plan (see ``iterables._plan_related``)."""
    if not plan:
        return None
    return tuple((name, start, end, tuple(attnames), pk_pos, model, plan_key(children), reverse)
                 for name, start, end, attnames, pk_pos, model, children, reverse in plan)


def row_loader(model, names, plan, width):
    """``load(rows, db) -> [instances]`` for rows of exactly ``width`` columns whose
    first ``len(names)`` are the model's own attributes/annotations and the rest are
    laid out as ``plan`` says."""
    cache = model._meta.__dict__.setdefault("_row_loaders", {})
    key = (tuple(names), plan_key(plan), width)
    load = cache.get(key)
    if load is None:
        load = _generate(model, names, plan, width)
        if len(cache) < MAX_CACHED_SHAPES:
            cache[key] = load
    return load


class _Source:
    def __init__(self):
        self.lines = []
        self.env = {}
        self.n_models = 0
        self.n_objs = 0

    def model_ref(self, model):
        ref = f"M{self.n_models}"
        self.n_models += 1
        self.env[ref] = model
        self.env["new_" + ref] = model.__new__
        return ref

    def constant(self, value):
        ref = f"C{len(self.env)}"
        self.env[ref] = value
        return ref

    def new_obj(self):
        ref = f"o{self.n_objs}"
        self.n_objs += 1
        return ref


def _dict_display(pairs, extra=()):
    return "{" + ", ".join(f"{name!r}: {var}" for name, var in [*pairs, *extra]) + "}"


def _emit_instance(src, model, pairs, children, indent, obj, back_link=None):
    """Emit code building one instance into local ``obj`` (joined children first).
    ``back_link`` names the reverse one-to-one accessor its parent will fill in."""
    pad = "    " * indent
    joined = []
    for name, start, end, attnames, pk_pos, rel_model, grand, reverse in children or ():
        child = src.new_obj()
        src.lines.append(f"{pad}if v{pk_pos} is None:")
        src.lines.append(f"{pad}    {child} = None")
        src.lines.append(f"{pad}else:")
        _emit_instance(src, rel_model, [(a, f"v{i}") for a, i in zip(attnames, range(start, end))],
                       grand, indent + 1, child, back_link=reverse)
        joined.append((name, child, reverse))
    ref = src.model_ref(model)
    extra = [(STATE_DB, "db")]
    names = tuple(name for name, _, _ in joined) + ((back_link,) if back_link else ())
    if names:
        extra.append((STATE_JOINED, src.constant(names)))
        extra.extend((joined_key(name), child) for name, child, _ in joined)
    src.lines.append(f"{pad}{obj} = new_{ref}({ref})")
    src.lines.append(f"{pad}{obj}.__dict__ = {_dict_display(pairs, extra)}")
    for _, child, reverse in joined:
        if reverse:  # one-to-one: the joined object knows its parent without a query
            src.lines.append(f"{pad}if {child} is not None:")
            src.lines.append(f"{pad}    {child}.__dict__[{joined_key(reverse)!r}] = {obj}")


def _generate(model, names, plan, width):
    src = _Source()
    columns = ", ".join(f"v{i}" for i in range(width)) + ("," if width == 1 else "")
    root = src.new_obj()
    _emit_instance(src, model, [(n, f"v{i}") for i, n in enumerate(names)], plan, 2, root)
    lines = ["def load(rows, db):",
             "    out = []",
             "    append = out.append",
             f"    for {columns} in rows:",
             *src.lines,
             f"        append({root})",
             "    return out"]
    namespace = dict(src.env)
    exec(compile("\n".join(lines), f"<dorm row loader {model.__name__}>", "exec"), namespace)  # noqa: S102
    return namespace["load"]
