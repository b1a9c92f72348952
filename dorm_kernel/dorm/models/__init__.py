"""Models, managers and QuerySets."""
from .base import Model, ModelBase, ModelState
from .manager import BaseManager, Manager
from .options import Options, registry
from .queryset import QuerySet
from .raw import RawQuerySet

__all__ = ["Model", "ModelBase", "ModelState", "BaseManager", "Manager", "Options", "registry",
           "QuerySet", "RawQuerySet"]
