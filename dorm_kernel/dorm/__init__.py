"""dorm: a Django-style ORM whose backends and features are plugins.

This module only re-exports. Names provided by plugins (``dorm.HStoreField``,
``dorm.PointField`` ...) resolve through the plugin registry; without the plugin,
the error names the distribution to install.
"""
from dorm.hookspecs import hookimpl
import dorm.plugins  # installs the import hook for plugin-provided paths (dorm.tree ...)
from dorm import exceptions, signals, validators
from dorm.exceptions import *  # noqa: F401,F403
from dorm.conf import configure, parse_database_url, settings
from dorm.fields import *  # noqa: F401,F403
from dorm.fields import Field, NOT_PROVIDED
from dorm.files import (ContentFile, File, FileSystemStorage, Storage, default_storage, get_storage,
                        reset_storages)
from dorm.expressions import (Case, Col, CombinedExpression, Exists, Expression, ExpressionWrapper, F,
                              Func, OrderBy, OuterRef, RawSQL, Subquery, Value, When)
from dorm.aggregates import Aggregate, Avg, Count, Max, Min, StdDev, Sum, Variance
from dorm.functions import *  # noqa: F401,F403
from dorm.window import *  # noqa: F401,F403
from dorm.lookups import Lookup, Transform, register_lookup, unregister_lookup
from dorm.query.where import Q
from dorm.enums import Choices, IntegerChoices, TextChoices
from dorm.query.cte import CTE
from dorm.query.filtered_relation import FilteredRelation
from dorm.models import BaseManager, Manager, Model, QuerySet, RawQuerySet
from dorm.models.indexes import CheckConstraint, Index, UniqueConstraint
from dorm.models.pagination import CursorPage
from dorm.signals import post_delete, post_save, pre_delete, pre_save, receiver
from dorm.validators import *  # noqa: F401,F403
from dorm import budget, transaction
from dorm.db import acreate_tables, adrop_tables, connections, create_tables, drop_tables
from dorm.db.connection import (aconnection_for, ahealth_check, close_all, close_all_async,
                                connection_for, health_check, pool_stats)

from dorm.fields.related import CASCADE, DO_NOTHING, PROTECT, RESTRICT, SET, SET_DEFAULT, SET_NULL
from dorm.models.prefetch import Prefetch, aprefetch_related_objects, prefetch_related_objects

__version__ = "0.1.0"


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    from dorm.plugins import get_registry, missing

    reg = get_registry()
    obj = reg.field_types.get(name) or reg.expressions.get(name)
    if obj is not None:
        return obj
    err = missing(name)
    if err is not None:
        raise err
    raise AttributeError(f"module 'dorm' has no attribute {name!r}")
