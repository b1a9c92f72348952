"""``Options`` (``Model._meta``) and the model registry."""
from __future__ import annotations

import re
import threading
from collections import defaultdict

from dorm.exceptions import FieldDoesNotExist, ImproperlyConfigured

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEFAULT_NAMES = {
    "db_table", "ordering", "unique_together", "indexes", "constraints", "abstract", "proxy",
    "managed", "app_label", "read_only", "default_manager_name", "permissions", "verbose_name",
    "verbose_name_plural", "db_table_comment", "tenant_field", "base_manager_name",
    "get_latest_by", "required_db_features", "required_db_vendor", "index_together",
    "default_related_name", "select_on_save",
}


class Options:
    def __init__(self, meta, app_label: str):
        self.meta = meta
        self.model = None
        self.app_label = app_label
        self.db_table = None
        self.ordering: list = []
        self.unique_together: list = []
        self.indexes: list = []
        self.constraints: list = []
        self.abstract = False
        self.proxy = False
        self.managed = True
        self.read_only = False
        self.default_manager_name = None
        self.base_manager_name = None
        self.get_latest_by = None
        self.permissions: list = []
        self.verbose_name = None
        self.verbose_name_plural = None
        self.db_table_comment = None
        self.default_related_name = None
        self.local_fields: list = []          # fields with a column, declaration order
        self.local_many_to_many: list = []
        self.private_fields: list = []
        self.related_objects: list = []       # reverse relations (set by relation fields)
        #: reverse relations without an accessor (``related_name`` ending in ``+``, e.g.
        #: the foreign keys of auto-created M2M junction tables): only deletion visits them
        self.hidden_related_objects: list = []
        self.managers: list = []
        self.pk = None
        self.concrete_model = None
        self.parents: dict = {}
        self._field_cache: dict | None = None
        if meta is not None:
            for key, value in meta.__dict__.items():
                if key.startswith("_"):
                    continue
                setattr(self, key, value)
        if isinstance(self.ordering, str):
            raise ImproperlyConfigured("Meta.ordering must be a list or tuple, not a string")
        ut = self.unique_together
        if ut and isinstance(ut[0], str):
            ut = [tuple(ut)]
        self.unique_together = [tuple(x) for x in ut]

    def contribute_to_class(self, cls, name):
        self.model = cls
        self.object_name = cls.__name__
        self.model_name = cls.__name__.lower()
        if self.verbose_name is None:
            self.verbose_name = re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()
        if self.verbose_name_plural is None:
            self.verbose_name_plural = self.verbose_name + "s"
        if self.db_table is None:
            self.db_table = f"{self.app_label.split('.')[-1]}_{self.model_name}"
        if not _IDENT.match(self.db_table) or len(self.db_table) > 63:
            raise ImproperlyConfigured(
                f"{cls.__name__}.Meta.db_table {self.db_table!r} must match "
                "^[A-Za-z_][A-Za-z0-9_]*$ and be at most 63 characters")

    @property
    def label(self):
        return f"{self.app_label}.{self.object_name}"

    @property
    def label_lower(self):
        return f"{self.app_label}.{self.model_name}"

    # ---- fields ---------------------------------------------------------------------------
    def add_field(self, field):
        if field.many_to_many:
            self.local_many_to_many.append(field)
        elif field.concrete:
            self.local_fields.append(field)
            self.local_fields.sort(key=lambda f: f.creation_counter)
        else:
            self.private_fields.append(field)
        if field.primary_key:
            if self.pk is not None and self.pk is not field:
                raise ImproperlyConfigured(
                    f"{self.object_name}: two primary keys ({self.pk.name}, {field.name})")
            self.pk = field
        self._expire_cache()

    def add_related_object(self, rel):
        self.related_objects.append(rel)
        self._expire_cache()

    def _expire_cache(self):
        self._field_cache = None
        for key in ("concrete_fields", "fields", "_attname_map", "_init_plan",
                    "_insert_fields", "_insert_fields_pk", "_save_plan"):
            self.__dict__.pop(key, None)

    @property
    def fields(self) -> list:
        if "fields" not in self.__dict__:
            self.__dict__["fields"] = sorted(
                [*self.local_fields, *self.local_many_to_many, *self.private_fields],
                key=lambda f: f.creation_counter)
        return self.__dict__["fields"]

    @property
    def concrete_fields(self) -> list:
        if "concrete_fields" not in self.__dict__:
            self.__dict__["concrete_fields"] = [f for f in self.local_fields if f.column]
        return self.__dict__["concrete_fields"]

    @property
    def many_to_many(self) -> list:
        return self.local_many_to_many

    def _build_cache(self):
        cache = {}
        for rel in self.related_objects:
            cache[rel.name] = rel
            qname = getattr(rel, "query_name", None)
            if qname:
                cache.setdefault(qname, rel)
        for f in self.fields:
            cache[f.name] = f
            if f.attname:
                cache.setdefault(f.attname, f)
        self._field_cache = cache
        return cache

    def get_field(self, name: str):
        """The field called ``name`` (or with that attname); reverse relations too.
        Raises ``FieldDoesNotExist`` naming the model and the valid names."""
        cache = self._field_cache or self._build_cache()
        try:
            return cache[name]
        except (KeyError, TypeError):
            names = sorted({f.name for f in self.fields} | {r.name for r in self.related_objects})
            raise FieldDoesNotExist(
                f"{self.object_name} has no field named {name!r}. Choices are: {', '.join(names)}"
            ) from None

    def get_fields(self, include_hidden=False) -> list:
        return [*self.fields, *self.related_objects]

    @property
    def deletion_relations(self) -> list:
        """Reverse relations (visible and hidden, e.g. M2M junction rows) whose
        ``on_delete`` must run when rows of this model are deleted."""
        return [r for r in (*self.related_objects, *self.hidden_related_objects)
                if getattr(r, "collect_related_gen", None) is not None]

    def base_manager(self):
        """The manager for internal reads and writes: forward relation loads
        (``book.author``), forward/one-to-one prefetches, ``refresh_from_db``,
        uniqueness checks, cascade collection, related-manager writes.

        By default a plain ``Manager`` that bypasses custom managers' default filters
        (Django's ``_base_manager``). ``Meta.base_manager_name = "objects"`` makes these
        paths use that manager instead, so its default filter applies to them too (a
        plugin may set it in ``dorm_model_prepared``; row tenancy does)."""
        mgr = self.__dict__.get("_base_manager")
        if mgr is None:
            if self.base_manager_name:
                for m in self.managers:
                    if m.name == self.base_manager_name:
                        mgr = m
                        break
                else:
                    raise ImproperlyConfigured(
                        f"{self.object_name}.Meta.base_manager_name {self.base_manager_name!r} is "
                        f"not a manager; managers: {', '.join(m.name for m in self.managers) or '(none)'}")
            else:
                from .manager import Manager

                mgr = Manager()
                mgr.model, mgr.name = self.model, "_base_manager"
            self.__dict__["_base_manager"] = mgr
        return mgr

    @property
    def default_manager(self):
        if self.default_manager_name:
            for m in self.managers:
                if m.name == self.default_manager_name:
                    return m
        return self.managers[0] if self.managers else self.base_manager()

    @property
    def attnames(self):
        return [f.attname for f in self.concrete_fields]

    def __repr__(self):
        return f"<Options for {self.object_name}>"


class ModelRegistry:
    """All concrete and abstract model classes, by ``app_label.Name`` and bare name."""

    def __init__(self):
        self._lock = threading.RLock()
        self.by_label: dict[str, type] = {}
        self.by_name: dict[str, list] = defaultdict(list)
        self._pending: dict[str, list] = defaultdict(list)

    def register(self, model):
        opts = model._meta
        with self._lock:
            key = f"{opts.app_label}.{model.__name__}".lower()
            self.by_label[key] = model
            lst = self.by_name[model.__name__.lower()]
            lst[:] = [m for m in lst if m._meta.label_lower != opts.label_lower]
            lst.append(model)
            waiting = self._pending.pop(key, []) + self._pending.pop(model.__name__.lower(), [])
        for callback in waiting:
            callback(model)

    def get_model(self, ref: str, app_label: str | None = None):
        """Resolve ``"app.Model"`` or ``"Model"`` (preferring ``app_label``)."""
        ref_l = ref.lower()
        if "." in ref_l:
            model = self.by_label.get(ref_l)
            if model is not None:
                return model
            app, _, name = ref_l.rpartition(".")
            for m in self.by_name.get(name, []):
                if m._meta.app_label.split(".")[-1] == app.split(".")[-1]:
                    return m
            raise LookupError(f"no model {ref!r} is registered")
        candidates = self.by_name.get(ref_l, [])
        if app_label:
            for m in candidates:
                if m._meta.app_label == app_label:
                    return m
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise LookupError(f"no model {ref!r} is registered")
        labels = ", ".join(m._meta.label for m in candidates)
        raise LookupError(f"model name {ref!r} is ambiguous ({labels}); use 'app_label.{ref}'")

    def lazy(self, ref: str, app_label: str | None, callback):
        """Call ``callback(model)`` now if ``ref`` resolves, else when it is registered."""
        try:
            model = self.get_model(ref, app_label)
        except LookupError:
            key = ref.lower() if "." in ref else ref.lower()
            self._pending[key].append(callback)
            if "." not in ref and app_label:
                pass
            return
        callback(model)

    def get_models(self, app_label=None, include_abstract=False):
        out = []
        for m in self.by_label.values():
            if m._meta.abstract and not include_abstract:
                continue
            if app_label is None or m._meta.app_label == app_label:
                out.append(m)
        return out

    def unregister(self, model):
        with self._lock:
            self.by_label.pop(model._meta.label_lower, None)
            lst = self.by_name.get(model.__name__.lower(), [])
            if model in lst:
                lst.remove(model)


registry = ModelRegistry()
