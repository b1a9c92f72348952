"""Model field types. ``dorm.fields.X`` also resolves field classes registered by
plugins (``dorm_register_field_types``)."""
from .base import NOT_PROVIDED, ConvertingDescriptor, Field
from .scalar import *  # noqa: F401,F403
from .scalar import __all__ as _scalar_all
from .related import (CASCADE, DO_NOTHING, PROTECT, RESTRICT, SET, SET_DEFAULT, SET_NULL, ForeignKey,
                      ForeignObjectRel, ManyToManyField, ManyToManyRel, ManyToOneRel, OneToOneField,
                      OneToOneRel)

from .files import FieldFile, FileField, ImageField, ImageFieldFile
from .filepath import FilePathField

RELATION_FIELDS = ["ForeignKey", "OneToOneField", "ManyToManyField"]
FILE_FIELDS = ["FileField", "ImageField", "FilePathField"]
__all__ = ["Field", "NOT_PROVIDED", "ConvertingDescriptor", *_scalar_all, *RELATION_FIELDS,
           *FILE_FIELDS, "FieldFile", "ImageFieldFile",
           "CASCADE", "PROTECT", "RESTRICT", "SET", "SET_NULL", "SET_DEFAULT", "DO_NOTHING"]


def __getattr__(name: str):
    from dorm.plugins import get_registry, missing

    cls = get_registry().field_types.get(name)
    if cls is not None:
        return cls
    err = missing(name)
    if err is not None:
        raise err
    raise AttributeError(f"module 'dorm.fields' has no attribute {name!r}")
