"""Base classes a backend plugin subclasses."""
from .backend import BaseBackend
from .features import BaseFeatures
from .operations import BaseOperations

__all__ = ["BaseBackend", "BaseFeatures", "BaseOperations"]
