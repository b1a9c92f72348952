"""Relation fields: ``ForeignKey``, ``OneToOneField``, ``ManyToManyField``.

A relation field lives on the source model; its ``remote_field`` (a ``*Rel``
object) is registered on the target model's ``_meta.related_objects`` once the
target is known (string references resolve lazily through the model registry,
``"self"`` meaning the declaring model). Query paths use ``path_infos`` on both
sides; deletion uses the rel's ``collect_related_gen`` (``on_delete``).
"""
from __future__ import annotations

from dorm.exceptions import FieldError, ImproperlyConfigured, ProtectedError, RestrictedError

from .base import Field, validate_identifier

CASCADE = "CASCADE"
PROTECT = "PROTECT"
RESTRICT = "RESTRICT"
SET_NULL = "SET NULL"
SET_DEFAULT = "SET DEFAULT"
DO_NOTHING = "NO ACTION"
ON_DELETE_CHOICES = (CASCADE, PROTECT, RESTRICT, SET_NULL, SET_DEFAULT, DO_NOTHING)


class SET:
    """``on_delete=SET(value_or_callable)``: set the FK to a value when the target goes."""

    sql = "NO ACTION"

    def __init__(self, value):
        self.value = value

    def get_value(self):
        return self.value() if callable(self.value) else self.value

    def deconstruct(self):
        return "dorm.SET", [self.value], {}

    def __eq__(self, other):
        return isinstance(other, SET) and other.value == self.value


def on_delete_sql(on_delete) -> str:
    """DDL action for ``REFERENCES ... ON DELETE``: PROTECT → RESTRICT (the kernel also
    enforces PROTECT in Python, with a clear ``ProtectedError``)."""
    if isinstance(on_delete, SET):
        return "NO ACTION"
    return "RESTRICT" if on_delete == PROTECT else on_delete


class ForeignObjectRel:
    """The reverse side of a relation, stored on the target model's ``_meta``."""

    is_relation = True
    concrete = False
    many_to_many = False
    multiple = True
    auto_created = True
    column = None
    attname = None
    primary_key = False
    null = True

    def __init__(self, field, to, related_name=None, related_query_name=None, on_delete=CASCADE):
        self.field = field
        self.model = to                   # target model (resolved lazily)
        self.related_name = related_name
        self.related_query_name = related_query_name
        self.on_delete = on_delete

    # names --------------------------------------------------------------------------
    @property
    def related_model(self):
        return self.field.model

    @property
    def name(self):
        return self.related_query_name or self.related_name or self.field.model._meta.model_name

    query_name = name

    def is_hidden(self) -> bool:
        return bool(self.related_name) and self.related_name.endswith("+")

    def get_accessor_name(self) -> str:
        if self.related_name:
            return self.related_name
        suffix = "" if not self.multiple else "_set"
        return self.field.model._meta.model_name + suffix

    @property
    def creation_counter(self):
        return self.field.creation_counter

    def get_internal_type(self):
        return self.field.get_internal_type()

    @property
    def output_field(self):
        return self.related_model._meta.pk

    def get_lookup(self, name):
        return self.related_model._meta.pk.get_lookup(name)

    def __repr__(self):
        return f"<{type(self).__name__}: {self.field.model.__name__}.{self.field.name}>"

    # query paths -----------------------------------------------------------------------
    @property
    def path_infos(self):
        from dorm.query.query import PathInfo

        fk = self.field
        return [PathInfo(fk.model._meta, ((fk.target_field.column, fk.column),), True, True, fk,
                         fk.model._meta.pk)]

    def target_field_for_reverse(self, query, alias):
        """``Author.objects.filter(book=5)``: join to the source table, compare its pk."""
        from dorm.expressions import Col
        from dorm.query.query import Join

        for path in self.path_infos:
            alias = query.join(Join(path.to_opts.db_table, alias, None, Join.LOUTER,
                                    path.join_cols, True, path.join_field))
        return Col(alias, self.related_model._meta.pk)

    # deletion ---------------------------------------------------------------------------
    def collect_related_gen(self, collector, objs):
        """Generator: apply ``on_delete`` for rows of ``field.model`` pointing at ``objs``."""
        fk = self.field
        on_delete = fk.remote_field.on_delete
        if on_delete == DO_NOTHING:
            return
        values = [getattr(o, fk.target_field.attname) for o in objs]
        values = [v for v in values if v is not None]
        if not values:
            return
        source = fk.model._meta.base_manager().using(collector.using)
        qs = source.filter(**{f"{fk.attname}__in": values})
        children = yield from qs._fetch_gen()
        if not children:
            return
        if on_delete == CASCADE:
            yield from collector.collect_gen(children, source=type(objs[0])._meta.concrete_model)
        elif on_delete == PROTECT:
            raise ProtectedError(
                f"Cannot delete some instances of model {type(objs[0]).__name__} because they are "
                f"referenced through protected foreign key {fk.model.__name__}.{fk.name}", children)
        elif on_delete == RESTRICT:
            pending = [c for c in children if c.pk not in collector.data.get(type(c)._meta.concrete_model, {})]
            if pending:
                raise RestrictedError(
                    f"Cannot delete some instances of model {type(objs[0]).__name__} because they are "
                    f"referenced through restricted foreign key {fk.model.__name__}.{fk.name}", pending)
        elif on_delete == SET_NULL:
            collector.field_updates.append((fk.model, fk, None, [c.pk for c in children]))
        elif on_delete == SET_DEFAULT:
            collector.field_updates.append((fk.model, fk, fk.get_default(), [c.pk for c in children]))
        elif isinstance(on_delete, SET):
            collector.field_updates.append((fk.model, fk, on_delete.get_value(), [c.pk for c in children]))


class ManyToOneRel(ForeignObjectRel):
    pass


class OneToOneRel(ForeignObjectRel):
    multiple = False


class ManyToManyRel(ForeignObjectRel):
    many_to_many = True

    def __init__(self, field, to, related_name=None, related_query_name=None, through=None):
        super().__init__(field, to, related_name, related_query_name, on_delete=DO_NOTHING)
        self.through = through

    @property
    def path_infos(self):
        return self.field.reverse_path_infos

    def collect_related_gen(self, collector, objs):
        return
        yield  # pragma: no cover - junction rows go by ON DELETE CASCADE / the through FK


class RelatedField(Field):
    is_relation = True
    empty_strings_allowed = False
    rel_class = ManyToOneRel

    def __init__(self, to, on_delete=CASCADE, related_name=None, related_query_name=None,
                 limit_choices_to=None, db_constraint=True, **kwargs):
        if isinstance(to, str):
            self._to_ref = to
        elif isinstance(to, type) and hasattr(to, "_meta"):
            self._to_ref = to
        else:
            raise TypeError(f"{type(self).__name__}(to): a model class or 'app_label.Model' string, got {to!r}")
        if on_delete not in ON_DELETE_CHOICES and not isinstance(on_delete, SET):
            raise ValueError(
                f"on_delete must be one of CASCADE, PROTECT, RESTRICT, SET_NULL, SET_DEFAULT, "
                f"DO_NOTHING or SET(...), got {on_delete!r}")
        if on_delete == SET_NULL and not kwargs.get("null"):
            raise ImproperlyConfigured(f"{type(self).__name__} with on_delete=SET_NULL must have null=True")
        if related_name is not None and not related_name.endswith("+"):
            validate_identifier(related_name, "related_name")
        self.db_constraint = db_constraint
        self.limit_choices_to = limit_choices_to
        super().__init__(**kwargs)
        self.remote_field = self.rel_class(self, to, related_name, related_query_name, on_delete)

    @property
    def related_model(self):
        model = self.remote_field.model
        if isinstance(model, str):
            raise FieldError(
                f"{self.model.__name__}.{self.name} points at {model!r}, which is not (yet) a "
                "registered model")
        return model

    def contribute_to_class(self, cls, name):
        super().contribute_to_class(cls, name)
        self.install_descriptors(cls)
        self._schedule_resolve(cls)

    def install_descriptors(self, cls):
        """Put the forward accessors on the source class."""

    def _schedule_resolve(self, cls):
        ref = self._to_ref
        if ref == "self":
            ref = cls
        if isinstance(ref, str):
            from dorm.models.options import registry

            registry.lazy(ref, cls._meta.app_label, self._resolve_target)
        else:
            self._resolve_target(ref)

    def _resolve_target(self, target):
        self.remote_field.model = target
        if self.model._meta.abstract:
            return
        self.contribute_to_related_class(target)

    def contribute_to_related_class(self, target):
        rel = self.remote_field
        if rel.is_hidden():
            # no accessor, but on_delete still applies (junction rows of M2M fields):
            # databases without ON DELETE CASCADE rely on the collector for them
            target._meta.hidden_related_objects.append(rel)
            return
        target._meta.add_related_object(rel)
        accessor = rel.get_accessor_name()
        from dorm.models.related_descriptors import ReverseDescriptorBase

        existing = target.__dict__.get(accessor)
        if existing is not None and not isinstance(existing, ReverseDescriptorBase):
            raise ImproperlyConfigured(
                f"reverse accessor {target.__name__}.{accessor} for {self.model.__name__}.{self.name} "
                "clashes with an existing attribute; set related_name=")
        setattr(target, accessor, self.reverse_descriptor(rel))

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        to = self._to_ref
        kwargs["to"] = to if isinstance(to, str) else to._meta.label
        rel = self.remote_field
        if not self.many_to_many:
            on_delete = rel.on_delete
            kwargs["on_delete"] = on_delete
        if rel.related_name:
            kwargs["related_name"] = rel.related_name
        if rel.related_query_name:
            kwargs["related_query_name"] = rel.related_query_name
        if not self.db_constraint:
            kwargs["db_constraint"] = False
        return name, path, args, kwargs


class ForeignKey(RelatedField):
    """Many-to-one. Column ``<name>_id``; ``obj.<name>`` loads the target lazily (and
    raises a clear error in async code, where ``await obj.aget_related(name)`` or
    ``select_related`` is the way)."""

    many_to_one = True
    one_to_one = False

    def __init__(self, to, on_delete=CASCADE, related_name=None, related_query_name=None,
                 limit_choices_to=None, to_field=None, db_constraint=True, **kwargs):
        kwargs.setdefault("db_index", True)
        self.to_field = to_field
        super().__init__(to, on_delete, related_name, related_query_name, limit_choices_to,
                         db_constraint, **kwargs)
        self.remote_field.field_name = to_field

    def get_attname(self):
        return f"{self.name}_id"

    def install_descriptors(self, cls):
        from dorm.models.related_descriptors import ForeignKeyIdDescriptor, ForwardManyToOneDescriptor

        setattr(cls, self.attname, ForeignKeyIdDescriptor(self))
        setattr(cls, self.name, ForwardManyToOneDescriptor(self))

    @property
    def reverse_descriptor(self):
        from dorm.models.related_descriptors import ReverseManyToOneDescriptor

        return ReverseManyToOneDescriptor

    @property
    def target_field(self):
        opts = self.related_model._meta
        return opts.get_field(self.to_field) if self.to_field else opts.pk

    def get_internal_type(self):
        return "ForeignKey"

    def db_type(self, connection):
        return self.target_field.rel_db_type(connection)

    def rel_db_type(self, connection):
        return self.db_type(connection)

    def cast_db_type(self, connection):
        return self.target_field.cast_db_type(connection)

    def db_check(self, connection):
        return None

    def db_type_parameters(self):
        return self.target_field.db_type_parameters()

    def to_python(self, value):
        if hasattr(value, "_meta"):
            return getattr(value, self.target_field.attname)
        return self.target_field.to_python(value)

    def get_prep_value(self, value):
        if hasattr(value, "_meta") and not isinstance(value, type):
            value = getattr(value, self.target_field.attname)
        return self.target_field.get_prep_value(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if hasattr(value, "_meta") and not isinstance(value, type):
            value = getattr(value, self.target_field.attname)
        return self.target_field.get_db_prep_value(value, connection, prepared)

    def get_db_converters(self, connection):
        return self.target_field.get_db_converters(connection)

    def get_default(self):
        value = super().get_default()
        if hasattr(value, "_meta"):
            return getattr(value, self.target_field.attname)
        return value

    def validate(self, value, model_instance):
        if value is None and not self.null:
            from dorm.exceptions import ValidationError

            raise ValidationError("This field cannot be null.", code="null")

    @property
    def path_infos(self):
        from dorm.query.query import PathInfo

        target = self.target_field
        return [PathInfo(self.related_model._meta, ((self.column, target.column),), self.null, False,
                         self, target)]

    def _deconstruct_extra(self):
        out = {}
        if self.to_field:
            out["to_field"] = self.to_field
        return out

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("db_index") is True:
            kwargs.pop("db_index")
        elif "db_index" not in kwargs:
            kwargs["db_index"] = False
        return name, path, args, kwargs


class OneToOneField(ForeignKey):
    many_to_one = False
    one_to_one = True
    rel_class = OneToOneRel

    def __init__(self, to, on_delete=CASCADE, to_field=None, **kwargs):
        kwargs["unique"] = True
        super().__init__(to, on_delete, to_field=to_field, **kwargs)

    @property
    def reverse_descriptor(self):
        from dorm.models.related_descriptors import ReverseOneToOneDescriptor

        return ReverseOneToOneDescriptor

    def get_internal_type(self):
        return "OneToOneField"

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("unique", None)
        return name, path, args, kwargs


class ManyToManyField(RelatedField):
    """Many-to-many through an automatic junction model (``<table>_<name>`` with
    ``<source>_id``/``<target>_id`` and ``UNIQUE(src, tgt)``) or ``through=``."""

    many_to_many = True
    concrete = False
    rel_class = ManyToManyRel

    def __init__(self, to, related_name=None, related_query_name=None, limit_choices_to=None,
                 symmetrical=None, through=None, through_fields=None, db_constraint=True,
                 db_table=None, **kwargs):
        if through is not None and db_table:
            raise ValueError("ManyToManyField: db_table and through are mutually exclusive")
        kwargs["null"] = True
        self.through_arg = through
        self.through_fields = through_fields
        self.db_table = db_table
        self.symmetrical = symmetrical
        super().__init__(to, DO_NOTHING, related_name, related_query_name, limit_choices_to,
                         db_constraint, **kwargs)
        self.remote_field.through = through

    def get_attname(self):
        return self.name

    def set_attributes_from_name(self, name):
        super().set_attributes_from_name(name)
        self.column = None

    def db_type(self, connection):
        return None

    def get_internal_type(self):
        return "ManyToManyField"

    def contribute_to_class(self, cls, name):
        self.set_attributes_from_name(name)
        self.model = cls
        cls._meta.add_field(self)
        from dorm.models.related_descriptors import ManyToManyDescriptor

        setattr(cls, name, ManyToManyDescriptor(self, reverse=False))
        if self._to_ref == "self" and self.symmetrical is None:
            self.symmetrical = True
        self._schedule_resolve(cls)

    def _resolve_target(self, target):
        self.remote_field.model = target
        if self.model._meta.abstract:
            return
        from dorm.models.through import resolve_through

        resolve_through(self, target)

    def contribute_to_related_class(self, target):
        rel = self.remote_field
        if rel.is_hidden() or (self.symmetrical and target is self.model):
            return
        target._meta.add_related_object(rel)
        from dorm.models.related_descriptors import ManyToManyDescriptor

        setattr(target, rel.get_accessor_name(), ManyToManyDescriptor(self, reverse=True))

    reverse_descriptor = None

    @property
    def path_infos(self):
        from dorm.query.query import PathInfo

        src, tgt = self.m2m_fields()
        through = self.remote_field.through._meta
        return [
            PathInfo(through, ((self.model._meta.pk.column, src.column),), True, True, src, src),
            PathInfo(self.related_model._meta, ((tgt.column, tgt.target_field.column),), True, True,
                     tgt, tgt.target_field),
        ]

    @property
    def reverse_path_infos(self):
        from dorm.query.query import PathInfo

        src, tgt = self.m2m_fields()
        through = self.remote_field.through._meta
        return [
            PathInfo(through, ((tgt.target_field.column, tgt.column),), True, True, tgt, tgt),
            PathInfo(self.model._meta, ((src.column, self.model._meta.pk.column),), True, True,
                     src, self.model._meta.pk),
        ]

    def m2m_fields(self):
        """``(fk to the source model, fk to the target model)`` on the through model."""
        return self._m2m_source, self._m2m_target

    def target_field_for_reverse(self, query, alias):
        from dorm.expressions import Col
        from dorm.query.query import Join

        for path in self.path_infos:
            alias = query.join(Join(path.to_opts.db_table, alias, None, Join.LOUTER,
                                    path.join_cols, True, path.join_field))
        return Col(alias, self.related_model._meta.pk)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("null", None)
        kwargs.pop("on_delete", None)
        through = self.through_arg
        if through is not None:
            kwargs["through"] = through if isinstance(through, str) else through._meta.label
        if self.db_table:
            kwargs["db_table"] = self.db_table
        return name, path, args, kwargs
