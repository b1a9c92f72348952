"""Models, managers and QuerySets."""
from .base import Model, ModelBase, ModelState, peek_state
from .manager import BaseManager, Manager
from .options import Options, registry
from .queryset import QuerySet
from .raw import RawQuerySet

__all__ = ["Model", "ModelBase", "ModelState", "peek_state", "BaseManager", "Manager", "Options", "registry",
           "QuerySet", "RawQuerySet"]
