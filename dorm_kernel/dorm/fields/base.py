"""``Field``: the base of every model field.

A field knows its column, converts values between Python and the database, and
validates. Plain fields store their value directly in the instance ``__dict__``
(no descriptor), so attribute access on a loaded row costs nothing.

Conversion contract:

* ``to_python(value)`` – on assignment through ``Model(**kw)`` and in ``clean``;
  returns the Python value or raises ``ValidationError``.
* ``get_prep_value(value)`` – Python-level normalisation before binding.
* ``get_db_prep_value(value, connection)`` – the bound parameter (backend adapts).
* ``get_db_converters(connection)`` – callables applied to values read from the
  database, in order (backend converter first, then ``from_db_value``).
"""
from __future__ import annotations

import copy
import re
from dorm.exceptions import ValidationError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _NotProvided:
    def __repr__(self):
        return "NOT_PROVIDED"

    def __reduce__(self):
        return "NOT_PROVIDED"


NOT_PROVIDED = _NotProvided()


_KERNEL_TYPES: set = set()


class Field:
    """Base class of model fields; see the module docstring for the contract."""

    #: True for fields that own a column; False for M2M and other virtual fields.
    concrete = True
    is_relation = False
    many_to_many = False
    #: Route ``Model(**kw)`` and attribute assignment through a descriptor.
    uses_class_descriptor = False
    empty_strings_allowed = True
    default_validators: list = []
    #: Values of exactly this class are already valid Python values: ``Model()``
    #: stores them without calling ``to_python`` (None = always convert).
    python_type: type | None = None
    #: Values of exactly this class bind unchanged (``get_db_prep_save`` is the
    #: identity for them on every backend); used by bulk inserts.
    identity_bind_type: type | None = None
    _creation_counter = 0

    def __init__(self, verbose_name=None, name=None, primary_key=False, max_length=None,
                 unique=False, blank=False, null=False, db_index=False, default=NOT_PROVIDED,
                 db_default=NOT_PROVIDED, editable=True, serialize=True, choices=None,
                 help_text="", db_column=None, db_tablespace=None, db_comment=None,
                 validators=None, pii=False, unique_for_date=None, error_messages=None):
        self.verbose_name = verbose_name
        self.name = name
        self.primary_key = primary_key
        self.max_length = max_length
        self.unique = unique or primary_key
        self._unique_arg = unique
        self.blank = blank
        self.null = null
        self.db_index = db_index
        self.default = default
        self.db_default = db_default
        self.editable = editable
        self.serialize = serialize
        if choices is not None and hasattr(choices, "__members__"):
            choices = [(m.value, getattr(m, "label", m.name)) for m in choices]
        self.choices = list(choices) if choices is not None else None
        self.help_text = help_text
        self.db_column = db_column
        self.db_tablespace = db_tablespace
        self.db_comment = db_comment
        self._validators = list(validators or [])
        self.pii = pii
        self.model = None
        self.attname = None
        self.column = None
        self.creation_counter = Field._creation_counter
        Field._creation_counter += 1

    # ---- binding to a model ------------------------------------------------------------
    def set_attributes_from_name(self, name: str) -> None:
        if not _IDENT.match(name):
            from dorm.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"invalid field name {name!r}: must be a Python identifier")
        self.name = self.name or name
        self.attname = self.get_attname()
        self.column = self.db_column or self.attname
        if self.verbose_name is None:
            self.verbose_name = self.name.replace("_", " ")

    def get_attname(self) -> str:
        return self.name

    def contribute_to_class(self, cls, name: str) -> None:
        """Bind to ``cls`` under ``name`` and register in ``cls._meta``.

        Plain fields stay on the class as non-data descriptors: a loaded value lives
        in the instance ``__dict__`` and wins, so reads cost nothing; a missing value
        (deferred by ``only()``/``defer()``) is loaded on first access."""
        self.set_attributes_from_name(name)
        self.model = cls
        cls._meta.add_field(self)
        if self.uses_class_descriptor:
            setattr(cls, self.attname, ConvertingDescriptor(self))
        else:
            setattr(cls, self.attname, self)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return _load_deferred(instance, self)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("dorm.fields"):
            _KERNEL_TYPES.add(cls)

    # ---- column types ----------------------------------------------------------------
    def get_internal_type(self) -> str:
        """The kernel type whose column this field uses: the nearest kernel class in
        the MRO, so a third-party ``UpperCaseField(CharField)`` maps to ``"CharField"``.
        A plugin field with its own column type overrides this (or ``db_type``)."""
        for klass in type(self).__mro__:
            if klass in _KERNEL_TYPES:
                return klass.__name__
        return type(self).__name__

    def db_type_parameters(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def db_type(self, connection) -> str | None:
        template = connection.data_types.get(self.get_internal_type())
        if template is None:
            return None
        return template % self.db_type_parameters()

    def rel_db_type(self, connection) -> str | None:
        """Column type of a foreign key that points at this field."""
        rel = connection.rel_data_types.get(self.get_internal_type())
        return rel if rel is not None else self.db_type(connection)

    def db_check(self, connection) -> str | None:
        template = connection.data_type_check_constraints.get(self.get_internal_type())
        if template is None:
            return None
        params = dict(self.db_type_parameters(), column=self.column)
        return template % params

    def cast_db_type(self, connection) -> str | None:
        return self.db_type(connection)

    # ---- extra DDL around the column (plugin field types) --------------------------------
    def after_column_created(self, schema_editor, table: str) -> None:
        """Called by the schema editor once this field's column exists in ``table``
        (table created or rebuilt, column added or renamed). A plugin field runs extra
        DDL here through ``schema_editor.execute(sql, params)`` (GIS: register the
        geometry column, create a spatial index). Default: nothing."""

    def before_column_dropped(self, schema_editor, table: str) -> None:
        """Called by the schema editor before this field's column leaves ``table``
        (table dropped or rebuilt, column removed or renamed): undo what
        ``after_column_created`` did. Default: nothing."""

    # ---- values ------------------------------------------------------------------------
    def has_default(self) -> bool:
        return self.default is not NOT_PROVIDED

    def has_db_default(self) -> bool:
        return self.db_default is not NOT_PROVIDED

    def get_default(self):
        if self.default is NOT_PROVIDED:
            return None if self.null or not self.empty_strings_allowed else self._empty_default()
        if callable(self.default):
            return self.default()
        return copy.copy(self.default) if isinstance(self.default, (list, dict, set)) else self.default

    def _empty_default(self):
        return ""

    def to_python(self, value):
        return value

    #: ``get_prep_value`` converts plain values with ``to_python`` (so "2026-01-02"
    #: binds as a date and a bad value raises ``ValidationError``).
    prep_via_to_python = False
    #: Name of the ``connection.ops`` method that adapts a prepared value for the
    #: driver (``"adapt_date"``), or None to bind the prepared value as is.
    db_adapter: str | None = None

    def get_prep_value(self, value):
        if self.prep_via_to_python and value is not None and not hasattr(value, "resolve_expression"):
            return self.to_python(value)
        return value

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if self.db_adapter is None or value is None or hasattr(value, "resolve_expression"):
            return value
        return getattr(connection.ops, self.db_adapter)(value)

    def get_db_prep_save(self, value, connection):
        return self.get_db_prep_value(value, connection)

    def get_db_converters(self, connection) -> list:
        convs = []
        backend_conv = connection.ops.get_db_converter(self.get_internal_type(), self)
        if backend_conv is not None:
            convs.append(backend_conv)
        if hasattr(self, "from_db_value"):
            fdv = self.from_db_value
            convs.append(lambda v, _f=fdv, _c=connection: _f(v, _c))
        return convs

    def _owner_of(self, attr):
        for klass in type(self).__mro__:
            if attr in klass.__dict__:
                return klass
        return Field

    def fast_python_type(self):
        """``python_type`` unless a subclass overrides ``to_python`` (then None)."""
        pt = self.python_type
        if pt is None:
            return None
        owner = self._owner_of("python_type")
        return pt if type(self).to_python is owner.to_python else None

    def fast_bind_type(self):
        """``identity_bind_type`` unless a subclass changes how values are bound."""
        bt = self.identity_bind_type
        if bt is None:
            return None
        owner = self._owner_of("identity_bind_type")
        cls = type(self)
        same = (cls.get_prep_value is owner.get_prep_value
                and cls.get_db_prep_value is owner.get_db_prep_value
                and cls.get_db_prep_save is owner.get_db_prep_save)
        return bt if same else None

    def has_plain_pre_save(self) -> bool:
        return type(self).pre_save is Field.pre_save

    def pre_save(self, instance, add: bool):
        return getattr(instance, self.attname)

    def value_from_object(self, obj):
        return getattr(obj, self.attname)

    # ---- validation ------------------------------------------------------------------
    @property
    def validators(self) -> list:
        return [*self.default_validators, *self._validators]

    def run_validators(self, value) -> None:
        if value is None or value == "":
            return
        errors = []
        for v in self.validators:
            try:
                v(value)
            except ValidationError as e:
                errors.extend(e.messages)
        if errors:
            raise ValidationError(errors)

    def validate(self, value, model_instance) -> None:
        if self.choices is not None and value not in (None, ""):
            valid = {c[0] for c in self.flatchoices}
            if value not in valid and getattr(value, "value", object()) not in valid:
                raise ValidationError(
                    f"Value {value!r} is not a valid choice.", code="invalid_choice")
        if value is None and not self.null:
            raise ValidationError("This field cannot be null.", code="null")
        if not self.blank and value in ("", [], {}, ()) and self.empty_strings_allowed:
            raise ValidationError("This field cannot be blank.", code="blank")

    @property
    def flatchoices(self):
        out = []
        for choice in self.choices or []:
            if isinstance(choice[1], (list, tuple)) and choice[1] and isinstance(choice[1][0], (list, tuple)):
                out.extend(choice[1])
            else:
                out.append(choice)
        return out

    def clean(self, value, model_instance):
        value = self.to_python(value)
        self.validate(value, model_instance)
        self.run_validators(value)
        return value

    # ---- lookups ---------------------------------------------------------------------
    @classmethod
    def get_lookup(cls, name: str):
        from dorm.lookups import lookup_table

        return lookup_table(cls).get(name)

    # ---- migrations ------------------------------------------------------------------
    _deconstruct_defaults = {
        "verbose_name": None, "primary_key": False, "max_length": None, "unique": False,
        "blank": False, "null": False, "db_index": False, "default": NOT_PROVIDED,
        "db_default": NOT_PROVIDED, "editable": True, "serialize": True, "choices": None,
        "help_text": "", "db_column": None, "db_tablespace": None, "db_comment": None,
        "validators": [], "pii": False,
    }

    def deconstruct(self):
        """``(name, "module.Class", args, kwargs)`` with only non-default kwargs.

        Subclasses extend ``_deconstruct_extra()`` for their own arguments."""
        kwargs = {}
        own = {"unique": self._unique_arg, "validators": self._validators}
        for key, default in self._deconstruct_defaults.items():
            value = own.get(key, getattr(self, key, default))
            if key == "verbose_name" and self.name and value == self.name.replace("_", " "):
                continue
            if value != default if not isinstance(default, _NotProvided) else value is not default:
                kwargs[key] = value
        kwargs.update(self._deconstruct_extra())
        cls = type(self)
        path = f"{cls.__module__}.{cls.__qualname__}"
        if path.startswith("dorm.fields."):
            path = f"dorm.fields.{cls.__qualname__}"
        return self.name, path, [], kwargs

    def _deconstruct_extra(self) -> dict:
        return {}

    def clone(self):
        name, path, args, kwargs = self.deconstruct()
        return type(self)(*args, **kwargs)

    def __deepcopy__(self, memo):
        obj = copy.copy(self)
        obj.model = None
        memo[id(self)] = obj
        return obj

    def __lt__(self, other):
        return self.creation_counter < other.creation_counter

    def __repr__(self):
        if self.model is not None:
            return f"<{type(self).__name__}: {self.model.__name__}.{self.name}>"
        return f"<{type(self).__name__}: {self.name}>"

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    # ---- typing sugar: class access returns the field ------------------------------------
    def __class_getitem__(cls, item):
        return cls


def _load_deferred(instance, field):
    if instance.pk is None or field.attname == instance._meta.pk.attname:
        raise AttributeError(
            f"{type(instance).__name__}.{field.attname} is not set on this instance")
    instance.refresh_from_db(fields=[field.attname])
    return instance.__dict__[field.attname]


class ConvertingDescriptor:
    """Data descriptor for fields that convert/validate on assignment
    (``uses_class_descriptor = True``): ``obj.email = "bad"`` raises at once."""

    def __init__(self, field):
        self.field = field
        self.attname = field.attname

    def __get__(self, instance, owner=None):
        if instance is None:
            return self.field
        try:
            return instance.__dict__[self.attname]
        except KeyError:
            return _load_deferred(instance, self.field)

    def __set__(self, instance, value):
        instance.__dict__[self.attname] = self.field.to_python(value)


def validate_identifier(name: str, what: str) -> str:
    from dorm.exceptions import ImproperlyConfigured

    if not isinstance(name, str) or not _IDENT.match(name) or len(name) > 63:
        raise ImproperlyConfigured(
            f"invalid {what} {name!r}: must match ^[A-Za-z_][A-Za-z0-9_]*$ and be at most 63 characters")
    return name

