"""``GenericForeignKey``: a column-less field naming a row of any model.

Import it from ``dorm.contrib.contenttypes.fields`` (Django's path); the contract
is in that module's docstring and in ``GenericForeignKey``'s.
"""
from __future__ import annotations

from dorm.exceptions import FieldError
from dorm.fields import Field
from dorm.fields.base import validate_identifier
from dorm.models.related_descriptors import _in_event_loop
from dorm.models.sansio import run_sync

from .checks import check_generic_fields
from .manager import cached, natural_key_for
from .models import ContentType
from .values import MISSING, to_object_id, to_pk


class GenericForeignKey(Field):
    """``GenericForeignKey(ct_field="content_type", fk_field="object_id",
    for_concrete_model=True)``.

    * read: the object named by the two columns, loaded with one query (plus one for
      its content type the first time) and cached in ``_state.fields_cache`` together
      with the ids it was read for, so changing either id re-reads; None when either
      id is None or the row is gone. In a running event loop an unloaded read raises
      ``NotSupportedError`` (``await obj.aget_related(name)`` instead).
    * assign: a saved instance (sets both columns; unsaved → ``ValueError`` naming the
      field; a key the object id column cannot hold → ``ValueError``) or None.
    * queries: ``FieldError`` (filter on the two columns); ``prefetch_related(name)``.
    * the two field names are checked when the model class is complete
      (``ImproperlyConfigured`` naming the model, the field and the choices).
    """

    concrete = False
    is_relation = True
    many_to_one = True
    one_to_many = False
    one_to_one = False
    multiple = False
    auto_created = False

    def __init__(self, ct_field="content_type", fk_field="object_id", for_concrete_model=True):
        validate_identifier(ct_field, "GenericForeignKey ct_field")
        validate_identifier(fk_field, "GenericForeignKey fk_field")
        super().__init__(editable=False, serialize=False, null=True, blank=True)
        self.ct_field = ct_field
        self.fk_field = fk_field
        self.for_concrete_model = for_concrete_model

    # ---- binding ---------------------------------------------------------------------------
    def set_attributes_from_name(self, name):
        super().set_attributes_from_name(name)
        self.column = None

    def contribute_to_class(self, cls, name):
        self.set_attributes_from_name(name)
        self.model = cls
        cls._meta.add_field(self)
        setattr(cls, name, self)

    def check_fields(self):
        return check_generic_fields(self.model, self.ct_field, self.fk_field,
                                    f"{self.model.__name__}.{self.name} (GenericForeignKey)")

    @property
    def _label(self):
        return f"{self.model.__name__}.{self.name}"

    def db_type(self, connection):
        return None

    def get_internal_type(self):
        return "GenericForeignKey"

    def deconstruct(self):
        kwargs = {}
        if self.ct_field != "content_type":
            kwargs["ct_field"] = self.ct_field
        if self.fk_field != "object_id":
            kwargs["fk_field"] = self.fk_field
        if not self.for_concrete_model:
            kwargs["for_concrete_model"] = False
        return self.name, "dorm.contrib.contenttypes.fields.GenericForeignKey", [], kwargs

    # ---- not queryable ------------------------------------------------------------------------
    def _query_error(self):
        return FieldError(
            f"{self._label} is a GenericForeignKey: it has no column and cannot be used in "
            f"filter(), exclude(), order_by(), values() or select_related(). Filter on "
            f"{self.ct_field!r} and {self.fk_field!r} instead, e.g. filter({self.ct_field}="
            f"ContentType.objects.get_for_model(obj), {self.fk_field}=obj.pk), and load it with "
            f"prefetch_related({self.name!r})")

    @property
    def related_model(self):
        raise self._query_error()

    @property
    def path_infos(self):
        raise self._query_error()

    def target_field_for_reverse(self, query, alias):
        raise self._query_error()

    # ---- values --------------------------------------------------------------------------------
    def _fields(self):
        opts = self.model._meta
        return opts.get_field(self.ct_field), opts.get_field(self.fk_field)

    def _ids(self, instance):
        ct, fk = self._fields()
        return getattr(instance, ct.attname), getattr(instance, fk.attname)

    @property
    def _key_name(self):
        return f"{self.name}:ids"  # not an identifier: cannot clash with a field name

    def cache_value(self, instance, obj) -> None:
        """Cache ``obj`` as the target of ``instance`` for its current ids."""
        cache = instance._state.fields_cache
        cache[self.name] = obj
        cache[self._key_name] = self._ids(instance)

    def get_content_type(self, obj=None, id=None, using=None):  # noqa: A002 - Django's API
        """Django's helper: the content type of ``obj`` or with primary key ``id``."""
        manager = ContentType.objects.db_manager(using)
        if obj is not None:
            return manager.get_for_model(obj, for_concrete_model=self.for_concrete_model)
        if id is not None:
            return manager.get_for_id(id)
        raise ValueError("get_content_type() needs obj= or id=")

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        cache = instance._state.fields_cache
        ids = self._ids(instance)
        obj = cache.get(self.name, MISSING)
        if obj is not MISSING and cache.get(self._key_name, ids) == ids:
            return obj
        if ids[0] is None or ids[1] is None:
            self.cache_value(instance, None)
            return None
        if _in_event_loop():
            from dorm.exceptions import NotSupportedError

            raise NotSupportedError(
                f"{self._label} is not loaded and lazy loading would block the event loop: use "
                f"prefetch_related({self.name!r}) or `await obj.aget_related({self.name!r})`")
        obj = run_sync(self.fetch_gen(instance))
        self.cache_value(instance, obj)
        return obj

    def fetch_gen(self, instance):
        """Generator: the target object of ``instance`` (None when either id is None or
        the row is gone). Used by ``__get__`` and ``aget_related``."""
        ct_id, oid = self._ids(instance)
        if ct_id is None or oid is None:
            return None
        db = instance._state.db
        ct = yield from ContentType.objects._get_for_id_gen(ct_id, db)
        model = ct.require_model_class()
        pk = to_pk(model._meta.pk, oid)
        if pk is MISSING:
            return None
        try:
            return (yield from model._meta.base_manager().using(db)._get_gen(pk=pk))
        except model.DoesNotExist:
            return None

    def __set__(self, instance, value):
        ct_field, fk_field = self._fields()
        if value is None:
            setattr(instance, ct_field.name, None)
            setattr(instance, fk_field.attname, None)
            self.cache_value(instance, None)
            return
        if not hasattr(value, "_meta") or isinstance(value, type):
            raise TypeError(f"{self._label} must be set to a model instance or None, got {value!r}")
        if value.pk is None:
            raise ValueError(
                f"Cannot assign {value!r} to {self._label}: the instance is not saved yet (its "
                "primary key is None); save it first")
        oid = to_object_id(fk_field, value.pk)
        if oid is MISSING:
            raise ValueError(
                f"Cannot assign {value!r} to {self._label}: its primary key {value.pk!r} cannot be "
                f"stored in {self.model.__name__}.{fk_field.name} ({type(fk_field).__name__})")
        ct = self._content_type_for(value)
        setattr(instance, ct_field.name, ct)
        setattr(instance, fk_field.attname, oid)
        self.cache_value(instance, value)

    def _content_type_for(self, value):
        db = value._state.db or ContentType.objects.db
        ct = cached(db, natural_key_for(value, self.for_concrete_model))
        if ct is not None:
            return ct
        if _in_event_loop():
            from dorm.exceptions import NotSupportedError

            raise NotSupportedError(
                f"Setting {self._label} needs the content type of {type(value).__name__}, which is "
                f"not cached yet, and reading it would block the event loop: `await "
                f"ContentType.objects.aget_for_model({type(value).__name__})` first (once per "
                "process), or set the content type and object id fields yourself")
        return run_sync(ContentType.objects._get_for_model_gen(value, self.for_concrete_model, db))

    # ---- prefetch -------------------------------------------------------------------------
    def prefetch_gen(self, instances, lookup, db):
        from .prefetch import generic_foreign_key_prefetch_gen

        return generic_foreign_key_prefetch_gen(self, instances, lookup, db)
