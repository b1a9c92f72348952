"""``Model`` and its metaclass."""
from __future__ import annotations

import copy

from dorm.exceptions import (FieldDoesNotExist, ObjectDoesNotExist, ImproperlyConfigured,
                             MultipleObjectsReturned, ReadOnlyModelError, ValidationError)

from .options import Options, registry
from .sansio import run_async, run_sync


class ModelState:
    """Per-instance bookkeeping: the alias it was loaded from or saved to (``db``),
    whether it is not yet in the database (``adding``) and the cache of loaded related
    objects (``fields_cache``, created on first use: most rows never need one)."""

    __slots__ = ("db", "adding", "_fc")

    def __init__(self, db=None, adding=True, fields_cache=None):
        self.db = db
        self.adding = adding
        self._fc = fields_cache

    @property
    def fields_cache(self) -> dict:
        fc = self._fc
        if fc is None:
            fc = self._fc = {}
        return fc

    @fields_cache.setter
    def fields_cache(self, value):
        self._fc = value

    def has_cached_fields(self) -> bool:
        return bool(self._fc)

    def __getstate__(self):
        return {"db": self.db, "adding": self.adding, "fields_cache": {}}

    def __copy__(self):
        return ModelState(self.db, self.adding, dict(self._fc) if self._fc else None)

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)


def _app_label_for(module: str) -> str:
    parts = module.split(".")
    if parts[-1] == "models" and len(parts) > 1:
        return ".".join(parts[:-1])
    return parts[0]


class ModelBase(type):
    def __new__(mcs, name, bases, attrs, **kwargs):
        parents = [b for b in bases if isinstance(b, ModelBase)]
        if not parents:
            return super().__new__(mcs, name, bases, attrs, **kwargs)
        module = attrs.get("__module__", "__main__")
        meta = attrs.pop("Meta", None)
        contributable = {k: v for k, v in attrs.items() if _contributes(v)}
        plain = {k: v for k, v in attrs.items() if k not in contributable}
        cls = super().__new__(mcs, name, bases, plain, **kwargs)

        abstract = bool(getattr(meta, "abstract", False))
        app_label = getattr(meta, "app_label", None) or _inherited(parents, "app_label", abstract) \
            or _app_label_for(module)
        opts = Options(meta, app_label)
        if meta is None or "ordering" not in meta.__dict__:
            for p in parents:
                if hasattr(p, "_meta") and p._meta.abstract and p._meta.ordering:
                    opts.ordering = list(p._meta.ordering)
                    break
        opts.abstract = abstract
        cls._meta = opts
        opts.contribute_to_class(cls, "_meta")

        concrete_parents = [p for p in parents if hasattr(p, "_meta") and not p._meta.abstract]
        if concrete_parents and not opts.proxy:
            raise ImproperlyConfigured(
                f"{name}: multi-table inheritance (subclassing the concrete model "
                f"{concrete_parents[0].__name__}) is not supported; make the parent abstract "
                "(Meta.abstract = True) or use Meta.proxy = True")
        if opts.proxy:
            if not concrete_parents:
                raise ImproperlyConfigured(f"proxy model {name} needs a concrete parent model")
            base = concrete_parents[0]
            opts.db_table = base._meta.db_table
            opts.concrete_model = base._meta.concrete_model
            opts.managed = False
        else:
            opts.concrete_model = cls

        if not abstract:
            cls.DoesNotExist = type("DoesNotExist", tuple(
                p.DoesNotExist for p in parents if hasattr(p, "DoesNotExist")) or (ObjectDoesNotExist,),
                {"__module__": module, "__qualname__": f"{name}.DoesNotExist"})
            cls.MultipleObjectsReturned = type("MultipleObjectsReturned", tuple(
                p.MultipleObjectsReturned for p in parents if hasattr(p, "MultipleObjectsReturned"))
                or (MultipleObjectsReturned,),
                {"__module__": module, "__qualname__": f"{name}.MultipleObjectsReturned"})

        # inherited fields: deep copies from abstract parents, the concrete parent's for proxies
        own_names = set(contributable)
        for p in reversed(cls.__mro__[1:]):
            if not isinstance(p, ModelBase) or p is Model or not hasattr(p, "_meta"):
                continue
            if p._meta.abstract:
                for f in p._meta.fields:
                    if f.name not in own_names:
                        copy.deepcopy(f).contribute_to_class(cls, f.name)
                        own_names.add(f.name)
        if opts.proxy:
            base_opts = opts.concrete_model._meta
            for f in base_opts.local_fields:
                if f.name not in own_names:
                    opts.add_field(f)
            opts.pk = base_opts.pk

        for attr, value in sorted(contributable.items(), key=lambda kv: _order(kv[1])):
            value.contribute_to_class(cls, attr)

        if opts.pk is None and not opts.proxy:
            pk_name = "id"
            if any(f.name == "id" for f in opts.fields):
                raise ImproperlyConfigured(f"{name}: a field named 'id' must set primary_key=True")
            auto_cls = _default_auto_field()
            auto = auto_cls(verbose_name="ID", primary_key=True)
            auto.creation_counter = -1
            auto.contribute_to_class(cls, pk_name)

        _install_managers(cls, parents)
        if not abstract:
            registry.register(cls)
        _validate_meta(cls)
        _notify_prepared(cls)
        return cls


def _order(value):
    return getattr(value, "creation_counter", 0)


def _contributes(value) -> bool:
    return not isinstance(value, type) and hasattr(value, "contribute_to_class")


def _inherited(parents, name, abstract):
    for p in parents:
        if hasattr(p, "_meta") and p._meta.abstract and getattr(p._meta.meta, name, None):
            return getattr(p._meta.meta, name)
    return None


def _default_auto_field():
    from dorm.conf import settings

    path = getattr(settings, "DEFAULT_AUTO_FIELD", None) or "dorm.fields.BigAutoField"
    module, _, attr = path.rpartition(".")
    import importlib

    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        raise ImproperlyConfigured(f"DEFAULT_AUTO_FIELD {path!r} cannot be imported") from None
    return cls


def _install_managers(cls, parents):
    from .manager import BaseManager, Manager, ManagerDescriptor

    opts = cls._meta
    managers = []
    for name, value in list(cls.__dict__.items()):
        # declared managers were already contributed: the class holds their descriptors
        if isinstance(value, ManagerDescriptor):
            value = value.manager
        if isinstance(value, BaseManager):
            managers.append((value.creation_counter, name, value))
    if not managers:
        seen = set()
        for p in cls.__mro__[1:]:
            for m in getattr(getattr(p, "_meta", None), "managers", []):
                if m.name not in seen:
                    seen.add(m.name)
                    mgr = copy.copy(m)
                    managers.append((mgr.creation_counter, m.name, mgr))
    if not managers:
        if any(f.name == "objects" for f in opts.fields):
            raise ImproperlyConfigured(f"{cls.__name__}: a field named 'objects' hides the default manager")
        mgr = Manager()
        managers.append((mgr.creation_counter, "objects", mgr))
    managers.sort(key=lambda t: t[0])
    opts.managers = []
    for _counter, name, mgr in managers:
        mgr = copy.copy(mgr)
        mgr.contribute_to_class(cls, name)
        opts.managers.append(mgr)
    names = [m.name for m in opts.managers]
    for option in ("default_manager_name", "base_manager_name"):
        value = getattr(opts, option)
        if value and value not in names:
            raise ImproperlyConfigured(
                f"{cls.__name__}.Meta.{option} {value!r} is not a manager; managers: {', '.join(names)}")


def _validate_meta(cls):
    opts = cls._meta
    names = {f.name for f in opts.fields} | {f.attname for f in opts.fields}
    for combo in opts.unique_together:
        for n in combo:
            if n not in names:
                raise ImproperlyConfigured(
                    f"{cls.__name__}.Meta.unique_together names unknown field {n!r}; "
                    f"fields: {', '.join(sorted(f.name for f in opts.fields))}")
    for item in opts.ordering:
        if not isinstance(item, str) and not hasattr(item, "resolve_expression"):
            raise ImproperlyConfigured(f"{cls.__name__}.Meta.ordering items must be strings or expressions")
    for idx in opts.indexes:
        if hasattr(idx, "set_name_with_model"):
            idx.set_name_with_model(cls)


def _notify_prepared(cls):
    from dorm.plugins import get_plugin_manager

    try:
        get_plugin_manager().hook.dorm_model_prepared(model=cls)
    except ImproperlyConfigured:
        raise
    from dorm import signals

    if signals.class_prepared.has_receivers():
        signals.class_prepared.send(cls)


# Instances loaded from the database do not get a ModelState up front: building one
# per row costs more than the row's dict. Loaders put the alias under STATE_DB, each
# object joined by select_related under joined_key(name) and the tuple of those names
# under STATE_JOINED; the first ``_state`` access turns them into the ModelState and
# removes them. None of these keys is an identifier, so none can clash with a field.
STATE_DB = "_state:db"
STATE_JOINED = "_state:joined"
_JOINED_PREFIX = "_joined:"
_UNSET = object()


def joined_key(name: str) -> str:
    """Instance-dict key of the object joined for relation ``name`` before the
    instance's ``_state`` exists."""
    return _JOINED_PREFIX + name


class _LazyState:
    """``instance._state``, created on first access (a non-data descriptor, so
    afterwards the instance dict answers): from the loader's STATE_* entries for
    loaded rows, fresh (``adding=True``) for ``Model(...)``."""

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        d = instance.__dict__
        db = d.pop(STATE_DB, _UNSET)
        if db is _UNSET:
            state = ModelState()
        else:
            joined = d.pop(STATE_JOINED, None)
            cache = {name: d.pop(_JOINED_PREFIX + name, None) for name in joined} if joined else None
            state = ModelState(db, False, cache)
        d["_state"] = state
        return state


def peek_state(obj):
    """``obj._state`` if the instance has one (loaded, saved or touched); ``None``
    for a fresh ``Model(...)`` whose state was never asked for. Plugins use it to
    read ``db``/``fields_cache`` without giving every instance a state."""
    d = obj.__dict__
    state = d.get("_state")
    if state is None and STATE_DB in d:
        return obj._state
    return state


class Model(metaclass=ModelBase):
    """Base class of every model. See ``spec/core.md`` §2 for the instance API."""

    _meta: Options
    _state = _LazyState()

    def __init__(self, *args, **kwargs):
        opts = self._meta
        plan = opts.__dict__.get("_init_plan") or _build_init_plan(type(self))
        by_key, constants, computed, positional = plan
        d = self.__dict__
        d.update(constants)
        if args:
            if len(args) > len(positional):
                raise TypeError(f"{type(self).__name__}() takes at most {len(positional)} positional arguments")
            for name, value in zip(positional, args):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
                kwargs[name] = value
        for name, attname, field in computed:
            if name not in kwargs and attname not in kwargs:
                d[attname] = field.get_default()
        unknown = None
        for key, value in kwargs.items():
            entry = by_key.get(key)
            if entry is None:
                if isinstance(getattr(type(self), key, None), property):
                    setattr(self, key, value)
                    continue
                unknown = [*(unknown or ()), key]
                continue
            attname, to_python, fast, setter = entry
            if setter:
                setattr(self, key, value)
            elif value is None or value.__class__ is fast:
                d[attname] = value
            else:
                d[attname] = to_python(value)
        if unknown:
            valid = ", ".join(sorted(by_key))
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s): "
                f"{', '.join(sorted(unknown))}. Valid fields: {valid}")

    @classmethod
    def from_db(cls, db, field_names, values):
        obj = cls.__new__(cls)
        d = dict(zip(field_names, values))
        d[STATE_DB] = db
        obj.__dict__ = d
        return obj

    # ---- identity -----------------------------------------------------------------------
    def _get_pk_val(self):
        return self.__dict__.get(self._meta.pk.attname)

    def _set_pk_val(self, value):
        setattr(self, self._meta.pk.attname, value)

    pk = property(_get_pk_val, _set_pk_val)

    def __eq__(self, other):
        if not isinstance(other, Model):
            return NotImplemented
        if self._meta.concrete_model is not other._meta.concrete_model:
            return False
        pk = self.pk
        return self is other if pk is None else pk == other.pk

    def __hash__(self):
        if self.pk is None:
            raise TypeError("Model instances without primary key value are unhashable")
        return hash((self._meta.concrete_model, self.pk))

    def __repr__(self):
        return f"<{type(self).__name__}: {self}>"

    def __str__(self):
        return f"{type(self).__name__} object ({self.pk})"

    def __reduce__(self):
        # copy.copy() and pickle: the copy gets its own state (never the original's)
        state = self._state
        d = self.__dict__.copy()
        d["_state"] = copy.copy(state)
        return (_unpickle, (type(self)._meta.label,), d)

    def __setstate__(self, state):
        self.__dict__.update(state)

    # ---- persistence ---------------------------------------------------------------
    def _check_writable(self):
        if self._meta.read_only:
            raise ReadOnlyModelError(f"{type(self).__name__} is read-only (Meta.read_only = True)")

    def save(self, using=None, force_insert=False, force_update=False, update_fields=None):
        return run_sync(self._save_gen(using, force_insert, force_update, update_fields))

    async def asave(self, using=None, force_insert=False, force_update=False, update_fields=None):
        return await run_async(self._save_gen(using, force_insert, force_update, update_fields))

    def _write_alias(self, using):
        if using:
            return using
        if self._state.db:
            return self._state.db
        from dorm.db import router

        return router.db_for_write(type(self), instance=self)

    def _save_gen(self, using, force_insert, force_update, update_fields):
        from dorm import signals
        from dorm.models import persistence

        self._check_writable()
        if force_insert and (force_update or update_fields):
            raise ValueError("cannot force both insert and updating in model saving")
        cls = type(self)
        using = self._write_alias(using)
        if update_fields is not None:
            update_fields = frozenset(update_fields)
            if not update_fields:
                return None
            names = {f.name for f in self._meta.concrete_fields} | {f.attname for f in self._meta.concrete_fields}
            bad = update_fields - names
            if bad:
                raise ValueError(
                    f"{cls.__name__}.save(update_fields=...) names unknown field(s) "
                    f"{', '.join(sorted(bad))}; fields: {', '.join(sorted(f.name for f in self._meta.concrete_fields))}")
        self._prepare_related_for_save()
        sender = self._meta.concrete_model if self._meta.proxy else cls
        if signals.pre_save.has_receivers(sender):
            yield ("send", signals.pre_save, sender,
                   {"instance": self, "raw": False, "using": using, "update_fields": update_fields})
        created = yield from persistence.save_table(self, using, force_insert, force_update, update_fields)
        self._state.db = using
        self._state.adding = False
        if signals.post_save.has_receivers(sender):
            yield ("send", signals.post_save, sender,
                   {"instance": self, "created": created, "raw": False, "using": using,
                    "update_fields": update_fields})
        return None

    def _prepare_related_for_save(self):
        """A related object assigned before it was saved: take its primary key now, or
        refuse (saving would silently store NULL and lose the relation)."""
        state = peek_state(self)
        if state is None or not state.has_cached_fields():
            return
        for field in self._meta.concrete_fields:
            if not getattr(field, "is_relation", False):
                continue
            obj = state.fields_cache.get(field.name)
            if obj is None:
                continue
            value = getattr(obj, field.target_field.attname)
            if value is None:
                raise ValueError(
                    f"save() prohibited to prevent data loss due to unsaved related object "
                    f"'{field.name}' ({type(self).__name__}.{field.name})")
            if self.__dict__.get(field.attname) is None:
                self.__dict__[field.attname] = value

    def delete(self, using=None, keep_parents=False):
        return run_sync(self._delete_gen(using))

    async def adelete(self, using=None, keep_parents=False):
        return await run_async(self._delete_gen(using))

    def _delete_gen(self, using):
        from dorm.models.deletion import Collector

        self._check_writable()
        if self.pk is None:
            raise ValueError(f"{type(self).__name__} object can't be deleted because its "
                             f"{self._meta.pk.attname} attribute is set to None.")
        using = self._write_alias(using)
        collector = Collector(using)
        if not self._meta.deletion_relations:
            yield from collector.collect_gen([self])
            return (yield from collector.delete_gen())
        # collect and delete in one transaction, so what was read is what goes
        return (yield ("atomic", using, _collect_and_delete(collector, self)))

    def refresh_from_db(self, using=None, fields=None):
        return run_sync(self._refresh_gen(using, fields))

    async def arefresh_from_db(self, using=None, fields=None):
        return await run_async(self._refresh_gen(using, fields))

    def _refresh_gen(self, using, fields):
        cls = type(self)
        qs = cls._meta.base_manager().using(using or self._state.db or _read_alias(cls, self))
        qs = qs.filter(pk=self.pk)
        if fields:
            names = [f.attname if hasattr(f, "attname") else f for f in fields]
            for n in names:
                self._meta.get_field(n)
            qs = qs.only(*names)
        objs = yield from qs._fetch_gen()
        if not objs:
            raise cls.DoesNotExist(f"{cls.__name__} with pk={self.pk!r} no longer exists")
        fresh = objs[0]
        for f in self._meta.concrete_fields:
            if f.attname in fresh.__dict__ and (not fields or f.attname in names or f.name in names):
                self.__dict__[f.attname] = fresh.__dict__[f.attname]
        self._state.fields_cache.clear()
        self._state.db = fresh._state.db

    # ---- validation ------------------------------------------------------------------
    def clean(self):
        """Override for model-wide validation; raise ``ValidationError``."""

    def clean_fields(self, exclude=None):
        exclude = set(exclude or ())
        errors = {}
        for f in self._meta.concrete_fields:
            if f.name in exclude or f.attname in exclude:
                continue
            raw = self.__dict__.get(f.attname)
            if f.blank and raw in f.__class__.__dict__.get("empty_values", (None, "")):
                continue
            if getattr(f, "primary_key", False) and raw is None:
                continue
            try:
                self.__dict__[f.attname] = f.clean(raw, self)
            except ValidationError as e:
                errors.setdefault(f.name, []).extend(_msgs(e, f.name))
        if errors:
            raise ValidationError(errors)

    def validate_unique(self, exclude=None):
        return run_sync(self._validate_unique_gen(exclude))

    async def avalidate_unique(self, exclude=None):
        return await run_async(self._validate_unique_gen(exclude))

    def _validate_unique_gen(self, exclude):
        from dorm.models import validation

        errors = yield from validation.unique_errors_gen(self, set(exclude or ()))
        if errors:
            raise ValidationError(errors)

    def full_clean(self, exclude=None, validate_unique=True):
        return run_sync(self._full_clean_gen(exclude, validate_unique))

    async def afull_clean(self, exclude=None, validate_unique=True):
        return await run_async(self._full_clean_gen(exclude, validate_unique))

    def _full_clean_gen(self, exclude, validate_unique):
        errors = {}
        exclude = set(exclude or ())
        try:
            self.clean_fields(exclude)
        except ValidationError as e:
            _merge(errors, e)
        try:
            self.clean()
        except ValidationError as e:
            _merge(errors, e)
        if validate_unique:
            from dorm.models import validation

            failed = set(errors)
            uerrors = yield from validation.unique_errors_gen(self, exclude | failed)
            for k, v in uerrors.items():
                errors.setdefault(k, []).extend(v)
        if errors:
            raise ValidationError(errors)

    async def aget_related(self, name):
        """Load a forward relation (``await book.aget_related("author")``) without
        blocking the event loop; the result is cached like ``book.author``."""
        descriptor = type(self).__dict__.get(name)
        fetch = getattr(descriptor, "fetch_gen", None)
        if fetch is None:
            raise AttributeError(f"{type(self).__name__}.{name} is not a forward relation")
        cache = self._state.fields_cache
        if name not in cache:
            cache[name] = await run_async(fetch(self))
        return cache[name]

    # ---- helpers used by plugins --------------------------------------------------------
    def serializable_value(self, name):
        try:
            f = self._meta.get_field(name)
        except FieldDoesNotExist:
            return getattr(self, name)
        return getattr(self, f.attname)


def _collect_and_delete(collector, obj):
    yield from collector.collect_gen([obj])
    from dorm import signals

    return (yield from collector._delete_all_gen(signals))


def _read_alias(cls, instance=None):
    from dorm.db import router

    return router.db_for_read(cls, instance=instance)


def _msgs(e: ValidationError, name):
    if isinstance(e.message, dict):
        out = []
        for v in e.message.values():
            out.extend(v if isinstance(v, list) else [v])
        return [str(m) for m in out]
    return e.messages


def _merge(errors: dict, e: ValidationError):
    if isinstance(e.message, dict):
        for k, v in e.message_dict.items():
            errors.setdefault(k, []).extend(v)
    else:
        errors.setdefault("__all__", []).extend(e.messages)


_IMMUTABLE = (type(None), str, int, float, bool, bytes, tuple, frozenset)


def _build_init_plan(cls):
    """Precompute what ``Model.__init__`` needs, once per class:

    * ``by_key``: keyword (name or attname) -> ``(attname, to_python, fast type,
      use setattr)``; a value whose class is the fast type is stored as is;
    * ``constants``: attname -> default for fields whose default is a constant
      (one ``dict.update`` fills them);
    * ``computed``: fields whose default must be computed per instance;
    * ``positional``: field names in declaration order (positional arguments).
    """
    import decimal

    by_key, constants, computed, positional = {}, {}, [], []
    for f in cls._meta.fields:
        if getattr(f, "many_to_many", False):
            continue
        if not f.concrete and f.column is None:
            # a column-less field (GenericForeignKey...): a keyword its descriptor takes;
            # not a positional argument and nothing in the instance dict
            by_key[f.name] = (f.attname, f.to_python, None, True)
            continue
        setter = bool(getattr(f, "uses_class_descriptor", False) or getattr(f, "is_relation", False))
        fast = f.fast_python_type()
        by_key[f.name] = (f.attname, f.to_python, fast, setter)
        if f.attname != f.name:
            by_key[f.attname] = (f.attname, f.to_python if not f.is_relation else f.to_python, fast, False)
        positional.append(f.name)
        if f.has_default():
            default = f.default
            if callable(default) or not isinstance(default, (*_IMMUTABLE, decimal.Decimal)):
                computed.append((f.name, f.attname, f))
            else:
                constants[f.attname] = f.to_python(default) if default is not None else None
        elif not f.concrete or f.null or f.primary_key or f.has_db_default():
            constants[f.attname] = None
        else:
            default = f.get_default()
            constants[f.attname] = default
    plan = (by_key, constants, computed, positional)
    cls._meta.__dict__["_init_plan"] = plan
    return plan


def _unpickle(label):
    model = registry.get_model(label)
    return model.__new__(model)
