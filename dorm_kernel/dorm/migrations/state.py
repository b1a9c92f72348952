"""Project state: what the models look like at one point of the migration history.

``ProjectState.from_apps()`` reads the live model classes; replaying the operations of
migration files (``state_forwards``) builds the same structure from history. The
autodetector compares two states; operations that touch the database render the
models they need from a state (``state.apps.get_model(app_label, name)``).

A ``ModelState`` holds

* ``fields`` – ``{name: Field}``: unbound field instances rebuilt from
  ``deconstruct()`` (treat as immutable: operations replace fields, never mutate them);
* ``options`` – ``db_table`` (only when it differs from the default
  ``<app>_<model>``), ``unique_together`` (list of tuples), ``indexes``, ``constraints``
  and the non-database options listed in ``ALTER_OPTION_KEYS`` when they differ from
  their defaults.

Rendered ("historical") models are plain classes with a real ``Options`` (``_meta``);
they are not registered in the model registry, have no managers and are meant for the
schema editor only. Relation targets resolve inside the same state, then (for models
without migrations, e.g. ``managed = False``) in the live registry.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from dorm.exceptions import ImproperlyConfigured

#: Options that change the database schema.
DB_OPTION_KEYS = ("db_table", "unique_together", "indexes", "constraints")
#: Options kept in the state and changed by ``AlterModelOptions`` (no SQL).
ALTER_OPTION_KEYS = (
    "ordering", "verbose_name", "verbose_name_plural", "get_latest_by", "default_related_name",
    "permissions", "db_table_comment", "default_manager_name", "base_manager_name",
)
STATE_OPTION_KEYS = DB_OPTION_KEYS + ALTER_OPTION_KEYS


def default_table(app_label: str, model_name: str) -> str:
    """The table of a model without ``Meta.db_table`` (same rule as ``Options``)."""
    return f"{app_label.split('.')[-1]}_{model_name.lower()}"


def split_label(label: str, default_app: str | None = None) -> tuple[str, str]:
    """``"shop.Product"`` → ``("shop", "Product")`` (app labels may contain dots)."""
    if "." not in label:
        if default_app is None:
            raise ValueError(f"model reference {label!r} needs an app label ('app.Model')")
        return default_app, label
    app, _, name = label.rpartition(".")
    return app, name


def make_key(app_label: str, name: str) -> str:
    return f"{app_label}.{name.lower()}"


# ---- fields ------------------------------------------------------------------------------
def _import_path(path: str):
    import importlib

    module, _, attr = path.rpartition(".")
    obj = importlib.import_module(module)
    return getattr(obj, attr)


def deconstruct_field(field) -> tuple[str | None, str, list, dict]:
    """``field.deconstruct()`` with relation targets written as ``"app_label.Model"``."""
    name, path, args, kwargs = field.deconstruct()
    args, kwargs = list(args), dict(kwargs)
    if getattr(field, "is_relation", False) and "to" in kwargs:
        owner = getattr(field, "model", None)
        kwargs["to"] = _qualify(kwargs["to"], getattr(field.remote_field, "model", None), owner)
        if "through" in kwargs:
            kwargs["through"] = _qualify(kwargs["through"],
                                         getattr(field.remote_field, "through", None), owner)
        if getattr(field, "many_to_many", False):
            # ManyToManyField.deconstruct() leaves these out
            if getattr(field, "through_fields", None) and "through_fields" not in kwargs:
                kwargs["through_fields"] = tuple(field.through_fields)
            if getattr(field, "symmetrical", None) is False and "symmetrical" not in kwargs:
                kwargs["symmetrical"] = False
    return name, path, args, kwargs


def _qualify(ref, resolved, owner) -> Any:
    if isinstance(resolved, type) and hasattr(resolved, "_meta") and \
            not getattr(resolved._meta, "auto_created", False):
        return resolved._meta.label
    if isinstance(ref, str) and owner is not None and hasattr(owner, "_meta"):
        if ref == "self":
            return owner._meta.label
        if "." not in ref:
            return f"{owner._meta.app_label}.{ref}"
    return ref


def field_signature(field) -> tuple:
    """What identifies a field's definition: ``(path, args, kwargs)``."""
    _, path, args, kwargs = deconstruct_field(field)
    return path, args, kwargs


def rebuild_field(field, **changes):
    """A new unbound field like ``field`` with some constructor kwargs changed
    (``None``-valued ``changes`` whose key is absent from the defaults are dropped)."""
    _, path, args, kwargs = deconstruct_field(field)
    kwargs.update(changes)
    for key, value in changes.items():
        if value is _DROP:
            kwargs.pop(key, None)
    return type(field)(*args, **kwargs)


class _Drop:
    def __repr__(self):
        return "<drop>"


_DROP = _Drop()


def clone_field(field, name: str | None = None):
    """An unbound copy of ``field`` (``deconstruct()`` → constructor); ``name`` binds
    its attribute names (``column``, ``attname``) without a model."""
    new = rebuild_field(field)
    new_name = name or getattr(field, "name", None)
    if new_name:
        new.set_attributes_from_name(new_name)
    return new


def _is_pk(field) -> bool:
    return bool(getattr(field, "primary_key", False))


def _auto_field():
    from dorm.models.base import _default_auto_field

    return _default_auto_field()


# ---- model state ------------------------------------------------------------------------
class ModelState:
    """One model in a ``ProjectState`` (see the module docstring)."""

    def __init__(self, app_label: str, name: str, fields, options: dict | None = None):
        self.app_label = app_label
        self.name = name
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)
        self.fields: dict[str, Any] = {}
        for field_name, field in items:
            if field_name in self.fields:
                raise ValueError(f"{app_label}.{name}: field {field_name!r} given twice")
            if getattr(field, "model", None) is not None:
                field = clone_field(field, field_name)
            elif getattr(field, "name", None) != field_name:
                field.set_attributes_from_name(field_name)
            self.fields[field_name] = field
        if not any(_is_pk(f) for f in self.fields.values()):
            auto = _auto_field()(verbose_name="ID", primary_key=True)
            auto.set_attributes_from_name("id")
            self.fields = {"id": auto, **self.fields}
        self.options = dict(options or {})
        self.options.setdefault("indexes", [])
        self.options.setdefault("constraints", [])
        ut = self.options.get("unique_together") or []
        if ut and isinstance(ut[0], str):
            ut = [tuple(ut)]
        self.options["unique_together"] = [tuple(u) for u in ut]
        for index in self.options["indexes"]:
            if not getattr(index, "name", None):
                raise ValueError(f"{app_label}.{name}: indexes in migrations need a name ({index!r})")

    # ---- names ----------------------------------------------------------------------
    @property
    def name_lower(self) -> str:
        return self.name.lower()

    @property
    def key(self) -> str:
        return make_key(self.app_label, self.name)

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    @property
    def db_table(self) -> str:
        return self.options.get("db_table") or default_table(self.app_label, self.name)

    # spec compatibility: ``state.models[key]["fields"]``
    def __getitem__(self, item):
        if item == "name":
            return self.name
        if item == "fields":
            return self.fields
        if item == "options":
            return self.options
        raise KeyError(item)

    def get_field(self, name: str):
        try:
            return self.fields[name]
        except KeyError:
            raise LookupError(
                f"{self.label} has no field {name!r} in the migration state "
                f"(fields: {', '.join(self.fields)})") from None

    def column_of(self, name: str) -> str:
        return self.get_field(name).column

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def from_model(cls, model) -> ModelState:
        opts = model._meta
        fields = []
        for field in sorted([*opts.local_fields, *opts.local_many_to_many],
                            key=lambda f: f.creation_counter):
            fields.append((field.name, clone_field(field, field.name)))
        options: dict[str, Any] = {}
        if opts.db_table != default_table(opts.app_label, model.__name__):
            options["db_table"] = opts.db_table
        options["unique_together"] = [tuple(u) for u in opts.unique_together]
        options["indexes"] = [copy.deepcopy(i) for i in opts.indexes]
        options["constraints"] = [copy.deepcopy(c) for c in opts.constraints]
        default_verbose = re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()
        for key in ALTER_OPTION_KEYS:
            value = getattr(opts, key, None)
            if key == "verbose_name" and value == default_verbose:
                continue
            if key == "verbose_name_plural" and value == (opts.verbose_name or "") + "s":
                continue
            if value in (None, [], (), ""):
                continue
            options[key] = list(value) if isinstance(value, tuple) and key != "verbose_name" else value
        return cls(opts.app_label, model.__name__, fields, options)

    def clone(self) -> ModelState:
        obj = ModelState.__new__(ModelState)
        obj.app_label, obj.name = self.app_label, self.name
        obj.fields = dict(self.fields)
        obj.options = dict(self.options)
        obj.options["indexes"] = list(self.options["indexes"])
        obj.options["constraints"] = list(self.options["constraints"])
        obj.options["unique_together"] = list(self.options["unique_together"])
        return obj

    # ---- comparison -------------------------------------------------------------------------
    def signature(self) -> tuple:
        return (
            self.app_label, self.name,
            [(n, field_signature(f)) for n, f in self.fields.items()],
            sorted((k, repr(v)) for k, v in self.options.items() if v not in ([], None)),
        )

    def __eq__(self, other):
        if not isinstance(other, ModelState):
            return NotImplemented
        if (self.app_label, self.name) != (other.app_label, other.name):
            return False
        if set(self.fields) != set(other.fields):
            return False
        if any(field_signature(f) != field_signature(other.fields[n]) for n, f in self.fields.items()):
            return False
        mine = {k: v for k, v in self.options.items() if v not in ([], None)}
        theirs = {k: v for k, v in other.options.items() if v not in ([], None)}
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self):
        return f"<ModelState: {self.label}>"


# ---- project state ------------------------------------------------------------------------
class ProjectState:
    """All models of a project at one point of history: ``models`` maps
    ``"app_label.modelname"`` to ``ModelState``."""

    def __init__(self, models: dict | None = None):
        self.models: dict[str, ModelState] = dict(models or {})
        self._apps: StateApps | None = None

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def from_apps(cls, app_label: str | None = None, app_labels=None, models=None) -> ProjectState:
        """The state of the live model classes, skipping abstract, proxy, ``managed =
        False`` and auto-created (many-to-many junction) models."""
        from dorm.models.options import registry

        wanted = set(app_labels) if app_labels is not None else None
        if app_label is not None:
            wanted = {app_label}
        state = cls()
        for model in (models if models is not None else registry.get_models()):
            opts = model._meta
            if opts.abstract or opts.proxy or not opts.managed or getattr(opts, "auto_created", False):
                continue
            if wanted is not None and opts.app_label not in wanted:
                continue
            state.add_model(ModelState.from_model(model))
        return state

    def clone(self) -> ProjectState:
        return ProjectState({k: m.clone() for k, m in self.models.items()})

    # ---- access ------------------------------------------------------------------------------
    def add_model(self, model_state: ModelState) -> None:
        self.models[model_state.key] = model_state
        self.reload()

    def remove_model(self, app_label: str, name: str) -> ModelState:
        state = self.get_model_state(app_label, name)
        del self.models[state.key]
        self.reload()
        return state

    def get_model_state(self, app_label: str, name: str) -> ModelState:
        try:
            return self.models[make_key(app_label, name)]
        except KeyError:
            known = ", ".join(sorted(m.label for m in self.models.values())) or "none"
            raise LookupError(
                f"model {app_label}.{name} is not in the migration state (known models: {known}); "
                "a dependency on the migration that creates it is probably missing") from None

    def has_model(self, app_label: str, name: str) -> bool:
        return make_key(app_label, name) in self.models

    def app_labels(self) -> list[str]:
        return sorted({m.app_label for m in self.models.values()})

    def reload(self) -> None:
        """Forget rendered models (call after changing a ``ModelState``)."""
        self._apps = None

    @property
    def apps(self) -> StateApps:
        if self._apps is None:
            self._apps = StateApps(self)
        return self._apps

    # ---- references ----------------------------------------------------------------------------
    def relations_to(self, app_label: str, name: str):
        """``(model_state, field_name, field)`` of every relation field pointing at the model."""
        target = make_key(app_label, name)
        for ms in self.models.values():
            for fname, field in ms.fields.items():
                to = _relation_target(field, ms.app_label)
                if to is not None and make_key(*to) == target:
                    yield ms, fname, field

    def rename_model_references(self, app_label: str, old_name: str, new_name: str) -> None:
        """Point relation fields (``to`` and ``through``) at the renamed model."""
        old_key, new_label = make_key(app_label, old_name), f"{app_label}.{new_name}"
        for ms in self.models.values():
            for fname, field in list(ms.fields.items()):
                if not getattr(field, "is_relation", False):
                    continue
                _, _, _, kwargs = deconstruct_field(field)
                changes = {}
                for key in ("to", "through"):
                    ref = kwargs.get(key)
                    if isinstance(ref, str) and make_key(*split_label(ref, ms.app_label)) == old_key:
                        changes[key] = new_label
                if changes:
                    ms.fields[fname] = clone_field(rebuild_field(field, **changes), fname)
        self.reload()

    def __eq__(self, other):
        if not isinstance(other, ProjectState):
            return NotImplemented
        return self.models == other.models

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self):
        return f"<ProjectState: {len(self.models)} models>"


def _relation_target(field, app_label: str):
    if not getattr(field, "is_relation", False):
        return None
    _, _, _, kwargs = deconstruct_field(field)
    ref = kwargs.get("to")
    if not isinstance(ref, str):
        return None
    return split_label(ref, app_label)


# ---- rendering -------------------------------------------------------------------------------
class StateModel:
    """Base class of rendered (historical) models: ``_meta`` only, no managers."""

    _dorm_state_model = True

    def __init__(self, *args, **kwargs):
        raise TypeError(
            f"{type(self).__name__} is a historical model rendered from migration state; it "
            "cannot be instantiated or queried (use the live model in RunPython)")


class StateApps:
    """Rendered models of one ``ProjectState`` (lazily, one model at a time)."""

    def __init__(self, state: ProjectState):
        self.state = state
        self._models: dict[str, type] = {}

    def get_model(self, app_label: str, model_name: str | None = None) -> type:
        """``get_model("shop", "Product")`` or ``get_model("shop.Product")``."""
        if model_name is None:
            app_label, model_name = split_label(app_label)
        key = make_key(app_label, model_name)
        cls = self._models.get(key)
        if cls is None:
            ms = self.state.get_model_state(app_label, model_name)
            cls = self._render(ms)
        return cls

    def get_models(self, app_label: str | None = None) -> list[type]:
        return [self.get_model(ms.app_label, ms.name) for ms in self.state.models.values()
                if app_label is None or ms.app_label == app_label]

    def _resolve(self, ref, app_label: str, what: str):
        if not isinstance(ref, str):
            return ref
        target_app, target_name = split_label(ref, app_label)
        if self.state.has_model(target_app, target_name):
            return self.get_model(target_app, target_name)
        from dorm.models.options import registry

        try:
            return registry.get_model(f"{target_app}.{target_name}")
        except LookupError:
            raise ImproperlyConfigured(
                f"{what} refers to model {target_app}.{target_name}, which is neither in the "
                "migration state nor a registered model; add a dependency on the migration "
                "that creates it") from None

    def _render(self, ms: ModelState) -> type:
        from dorm.models.options import Options

        meta_attrs = {
            "db_table": ms.db_table,
            "unique_together": list(ms.options.get("unique_together") or []),
            "indexes": [copy.deepcopy(i) for i in ms.options.get("indexes") or []],
            "constraints": [copy.deepcopy(c) for c in ms.options.get("constraints") or []],
        }
        for key in ALTER_OPTION_KEYS:
            if key in ms.options and key not in ("default_manager_name", "base_manager_name"):
                meta_attrs[key] = ms.options[key]
        cls = type(ms.name, (StateModel,), {"__module__": "__dorm_state__", "__qualname__": ms.name})
        opts = Options(type("Meta", (), meta_attrs), ms.app_label)
        cls._meta = opts
        opts.contribute_to_class(cls, "_meta")
        opts.concrete_model = cls
        self._models[ms.key] = cls
        relations = []
        for name, field in ms.fields.items():
            f = rebuild_field(field)
            f.set_attributes_from_name(name)
            f.model = cls
            opts.add_field(f)
            if getattr(f, "is_relation", False):
                relations.append(f)
        for f in relations:
            ref = f.remote_field.model
            target = self._resolve(ms.label if ref == "self" else ref, ms.app_label,
                                   f"{ms.label}.{f.name}")
            f.remote_field.model = target
            if getattr(f, "many_to_many", False):
                self._render_through(f, cls, target, ms)
        return cls

    def _render_through(self, field, source, target, ms: ModelState) -> None:
        through_arg = getattr(field, "through_arg", None)
        if through_arg is None:
            through = self._auto_through(field, source, target)
        else:
            through = self._resolve(through_arg if not isinstance(through_arg, type)
                                    else through_arg._meta.label, ms.app_label,
                                    f"{ms.label}.{field.name} (through)")
        field.remote_field.through = through
        from dorm.models.through import _find_fks

        field._m2m_source, field._m2m_target = _find_fks(field, target, through)

    def _auto_through(self, field, source, target) -> type:
        from dorm.fields.related import CASCADE, ForeignKey
        from dorm.models.options import Options

        s_opts, t_opts = source._meta, target._meta
        name = f"{source.__name__}_{field.name}"
        table = getattr(field, "db_table", None) or f"{s_opts.db_table}_{field.name}"
        from_name, to_name = s_opts.model_name, t_opts.model_name
        if from_name == to_name:
            from_name, to_name = f"from_{from_name}", f"to_{to_name}"
        meta = type("Meta", (), {"db_table": table, "auto_created": True,
                                 "unique_together": [(from_name, to_name)]})
        cls = type(name, (StateModel,), {"__module__": "__dorm_state__", "__qualname__": name})
        opts = Options(meta, s_opts.app_label)
        cls._meta = opts
        opts.contribute_to_class(cls, "_meta")
        opts.concrete_model = cls
        pk = _auto_field()(verbose_name="ID", primary_key=True)
        fields = [("id", pk),
                  (from_name, ForeignKey(source, on_delete=CASCADE, related_name=f"{name}+",
                                         db_constraint=field.db_constraint)),
                  (to_name, ForeignKey(target, on_delete=CASCADE, related_name=f"{name}+",
                                       db_constraint=field.db_constraint))]
        for fname, f in fields:
            f.set_attributes_from_name(fname)
            f.model = cls
            opts.add_field(f)
        return cls


def auto_through_models(model) -> list:
    """The auto-created junction models of ``model``'s many-to-many fields."""
    out = []
    for field in getattr(model._meta, "local_many_to_many", ()):
        through = getattr(field.remote_field, "through", None)
        if through is not None and not isinstance(through, str) and \
                getattr(through._meta, "auto_created", False):
            out.append((field, through))
    return out
