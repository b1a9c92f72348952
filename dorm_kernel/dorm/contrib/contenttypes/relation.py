"""``GenericRelation`` (declared on the model generic rows point at) and its reverse
``GenericRel``. Import them from ``dorm.contrib.contenttypes.fields`` (Django's path).
"""
from __future__ import annotations

from dorm.exceptions import FieldError, ImproperlyConfigured
from dorm.fields import Field
from dorm.fields.base import validate_identifier

from .checks import check_generic_fields
from .foreign_key import GenericForeignKey
from .joins import GenericJoin
from .manager import cached, natural_key_for
from .values import MISSING, to_object_id


def _join_for_filter(relation, query, alias):
    from dorm.expressions import Col
    from dorm.query.query import Join

    path = None
    for path in relation.path_infos:
        alias = query.join(GenericJoin(path.to_opts.db_table, alias, None, Join.LOUTER,
                                       path.join_cols, True, path.join_field))
    return Col(alias, path.target_field)


class GenericRel:
    """The reverse of a ``GenericRelation``, on the item model when the relation has a
    ``related_query_name``: ``TaggedItem.objects.filter(bookmark__url=...)``. Only
    queries use it (no accessor, no ``on_delete``)."""

    is_relation = True
    concrete = False
    many_to_many = False
    many_to_one = False
    one_to_many = False
    one_to_one = False
    multiple = True  # excluded from select_related; exclude() uses a subquery
    auto_created = True
    column = None
    attname = None
    primary_key = False
    null = True
    related_name = None
    join_class = GenericJoin

    def __init__(self, field):
        self.field = field

    @property
    def name(self):
        return self.field.related_query_name

    query_name = name

    @property
    def model(self):
        return self.field.related_model

    @property
    def related_model(self):
        return self.field.model

    @property
    def creation_counter(self):
        return self.field.creation_counter

    def is_hidden(self) -> bool:
        return False

    def get_accessor_name(self):
        return None

    def get_internal_type(self):
        return "GenericRel"

    @property
    def output_field(self):
        return self.field.model._meta.pk

    def get_lookup(self, name):
        return self.output_field.get_lookup(name)

    @property
    def path_infos(self):
        from dorm.query.query import PathInfo

        field = self.field
        owner_pk = field.model._meta.pk
        return [PathInfo(field.model._meta, ((field.object_id_field.column, owner_pk.column),),
                         True, False, self, owner_pk)]

    def join_conditions(self, compiler, connection, parent_alias, alias):
        from .joins import generic_conditions

        return generic_conditions(compiler, connection, self.field, owner_alias=alias, item_alias=parent_alias)

    def target_field_for_reverse(self, query, alias):
        return _join_for_filter(self, query, alias)

    def __repr__(self):
        return f"<GenericRel: {self.field.model.__name__}.{self.field.name}>"


class GenericRelation(Field):
    """``GenericRelation(to, object_id_field="object_id",
    content_type_field="content_type", for_concrete_model=True,
    related_query_name=None)``: the rows of ``to`` whose generic foreign key points
    at an instance of the declaring model.

    * ``obj.<name>``: a related manager (``dorm.contrib.contenttypes.related``);
    * queries: ``filter(<name>__field=...)`` joins on the object id (cast when the key
      types differ) and the content type (``GenericJoin``); ``related_query_name``
      installs the reverse (``GenericRel``) on ``to``;
    * deletion: deleting owners deletes their generic rows (``collect_related_gen``,
      found by the collector through ``_meta.hidden_related_objects``);
    * ``prefetch_related(name)``: one query.

    ``to``'s two fields are checked when it is resolved (``ImproperlyConfigured`` naming
    the relation, the field and the choices).
    """

    concrete = False
    is_relation = True
    many_to_one = False
    one_to_many = True
    one_to_one = False
    multiple = True
    auto_created = False
    join_class = GenericJoin

    def __init__(self, to, object_id_field="object_id", content_type_field="content_type",
                 for_concrete_model=True, related_query_name=None, limit_choices_to=None, **kwargs):
        if not (isinstance(to, str) or (isinstance(to, type) and hasattr(to, "_meta"))):
            raise TypeError(f"GenericRelation(to): a model class or 'app_label.Model' string, got {to!r}")
        validate_identifier(object_id_field, "GenericRelation object_id_field")
        validate_identifier(content_type_field, "GenericRelation content_type_field")
        if related_query_name is not None:
            validate_identifier(related_query_name, "GenericRelation related_query_name")
        kwargs.update(editable=False, blank=True, null=True, serialize=False)
        super().__init__(**kwargs)
        self._to_ref = to
        self._related = None
        self.object_id_field_name = object_id_field
        self.content_type_field_name = content_type_field
        self.for_concrete_model = for_concrete_model
        self.related_query_name = related_query_name
        self.limit_choices_to = limit_choices_to
        self.remote_field = GenericRel(self)

    # ---- binding ---------------------------------------------------------------------------
    def set_attributes_from_name(self, name):
        super().set_attributes_from_name(name)
        self.column = None

    def contribute_to_class(self, cls, name):
        from .related import ReverseGenericManyToOneDescriptor

        self.set_attributes_from_name(name)
        self.model = cls
        cls._meta.add_field(self)
        setattr(cls, name, ReverseGenericManyToOneDescriptor(self))
        if cls._meta.abstract:
            return  # each concrete subclass gets its own copy
        # deletion visits hidden_related_objects: deleting an owner deletes its generic rows
        cls._meta.hidden_related_objects.append(self)
        ref = cls if self._to_ref == "self" else self._to_ref
        if isinstance(ref, str):
            from dorm.models.options import registry

            registry.lazy(ref, cls._meta.app_label, self._resolve_target)
        else:
            self._resolve_target(ref)

    def _resolve_target(self, target):
        check_generic_fields(target, self.content_type_field_name, self.object_id_field_name,
                             f"{self.model.__name__}.{self.name} (GenericRelation to {target.__name__})")
        self._related = target
        if self.related_query_name:
            rel = self.remote_field
            opts = target._meta
            # a re-definition of the same model (reload) replaces its previous reverse
            label = self.model._meta.label_lower
            opts.related_objects[:] = [
                r for r in opts.related_objects
                if not (isinstance(r, GenericRel) and r.name == rel.name
                        and r.field.model._meta.label_lower == label)]
            opts._expire_cache()
            taken = {f.name for f in opts.fields} | {r.name for r in opts.related_objects}
            if rel.name in taken:
                raise ImproperlyConfigured(
                    f"{self.model.__name__}.{self.name}: related_query_name {rel.name!r} clashes with "
                    f"a field or relation of {target.__name__}")
            opts.add_related_object(rel)

    @property
    def related_model(self):
        if self._related is None:
            raise FieldError(
                f"{self.model.__name__}.{self.name} points at {self._to_ref!r}, which is not (yet) "
                "a registered model")
        return self._related

    @property
    def object_id_field(self):
        return self.related_model._meta.get_field(self.object_id_field_name)

    @property
    def content_type_field(self):
        return self.related_model._meta.get_field(self.content_type_field_name)

    @property
    def owner_model(self):
        """The model the generic rows point at (the one declaring this relation)."""
        return self.model

    def owner_natural_key(self) -> tuple[str, str]:
        return natural_key_for(self.model, self.for_concrete_model)

    def ct_filter(self, alias) -> dict:
        """Filter keywords on the item model selecting this owner model's content type:
        its id when cached for ``alias``, else its natural key (one join, no extra query)."""
        key = self.owner_natural_key()
        ct = cached(alias, key)
        if ct is not None:
            return {self.content_type_field.attname: ct.pk}
        name = self.content_type_field.name
        return {f"{name}__app_label": key[0], f"{name}__model": key[1]}

    def matching_generic_foreign_key(self):
        """The ``GenericForeignKey`` of the item model over the same two fields, if any."""
        for f in self.related_model._meta.private_fields:
            if isinstance(f, GenericForeignKey) and f.ct_field == self.content_type_field_name \
                    and f.fk_field == self.object_id_field_name:
                return f
        return None

    def db_type(self, connection):
        return None

    def get_internal_type(self):
        return "GenericRelation"

    def deconstruct(self):
        to = self._to_ref
        kwargs = {"to": to if isinstance(to, str) else to._meta.label}
        if self.object_id_field_name != "object_id":
            kwargs["object_id_field"] = self.object_id_field_name
        if self.content_type_field_name != "content_type":
            kwargs["content_type_field"] = self.content_type_field_name
        if not self.for_concrete_model:
            kwargs["for_concrete_model"] = False
        if self.related_query_name:
            kwargs["related_query_name"] = self.related_query_name
        return self.name, "dorm.contrib.contenttypes.fields.GenericRelation", [], kwargs

    # ---- queries ----------------------------------------------------------------------------
    @property
    def path_infos(self):
        from dorm.query.query import PathInfo

        target = self.related_model._meta
        return [PathInfo(target, ((self.model._meta.pk.column, self.object_id_field.column),),
                         True, False, self, target.pk)]

    def join_conditions(self, compiler, connection, parent_alias, alias):
        from .joins import generic_conditions

        return generic_conditions(compiler, connection, self, owner_alias=parent_alias, item_alias=alias)

    def target_field_for_reverse(self, query, alias):
        return _join_for_filter(self, query, alias)

    # ---- deletion ---------------------------------------------------------------------------
    def collect_related_gen(self, collector, objs):
        """Generator: the generic rows pointing at ``objs`` go with them (CASCADE)."""
        oid = self.object_id_field
        keys = [k for k in (to_object_id(oid, o.pk) for o in objs) if k is not MISSING]
        if not keys:
            return
        qs = self.related_model._meta.base_manager().using(collector.using).filter(
            **self.ct_filter(collector.using), **{f"{oid.attname}__in": keys})
        children = yield from qs._fetch_gen()
        if children:
            yield from collector.collect_gen(children, source=type(objs[0])._meta.concrete_model)
