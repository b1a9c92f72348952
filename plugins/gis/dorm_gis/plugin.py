"""The ``dorm`` plugin of dorm-gis (entry point ``gis = "dorm_gis.plugin"``).

* fields ``dorm.GeometryField``, ``dorm.PointField``, ... (``dorm_register_field_types``);
* the spatial lookups, scoped to ``GeometryField`` and limited to PostgreSQL and SQLite
  (``dorm_register_lookups``: elsewhere they raise ``NotSupportedError`` naming the
  backend);
* the functions ``Distance``, ``Area``, ``Perimeter``, ``Centroid``, ``Envelope``,
  ``Buffer``, ``AsGeoJSON``, ``AsWKT`` as ``dorm.<Name>``; ``Length`` and ``Transform``
  (names the kernel already uses for other things) only from ``dorm.contrib.gis``;
* the module path ``dorm.contrib.gis`` (this package);
* the migration operation ``EnableGIS``;
* SpatiaLite loaded on every SQLite connection (``dorm_connection_created``).

This module imports neither shapely nor the model layer: the hooks import lazily.
"""
from __future__ import annotations

import logging

from dorm.hookspecs import hookimpl

logger = logging.getLogger("dorm.gis")

VENDORS = ("postgresql", "sqlite")
#: functions also exposed as ``dorm.<Name>`` (``Length``/``Transform`` would clash
#: with the kernel's string ``Length`` and lookup ``Transform`` base class)
TOP_LEVEL_FUNCTIONS = ("Distance", "Area", "Perimeter", "Centroid", "Envelope", "Buffer",
                       "AsGeoJSON", "AsWKT")


@hookimpl
def dorm_register_field_types(register):
    from .fields import FIELD_CLASSES

    for cls in FIELD_CLASSES:
        register(cls)


@hookimpl
def dorm_register_lookups(register):
    from .fields import GeometryField
    from .lookups import SPATIAL_LOOKUP_CLASSES

    for cls in SPATIAL_LOOKUP_CLASSES:
        register(GeometryField, cls, vendors=VENDORS)


@hookimpl
def dorm_register_expressions(register):
    from . import functions

    for name in TOP_LEVEL_FUNCTIONS:
        register(getattr(functions, name))


@hookimpl
def dorm_register_modules(register):
    register("dorm.contrib.gis", "dorm_gis")


@hookimpl
def dorm_register_migration_operations(register):
    from .operations import EnableGIS

    register(EnableGIS)


@hookimpl
def dorm_connection_created(backend, connection, alias):
    if getattr(backend, "vendor", None) != "sqlite":
        return
    from .fields import GIS_IN_USE

    if not GIS_IN_USE[0]:
        return  # no geometry field anywhere: keep plain SQLite connections plain
    from . import spatialite

    try:
        backend.gis_spatialite_version = spatialite.load_spatialite(connection)
    except Exception as exc:  # noqa: BLE001 - GIS unusable here; non-GIS use must go on
        backend.gis_spatialite_version = None
        backend.gis_unavailable = str(exc)
        logger.debug("SpatiaLite not loaded on %s connection %r: %s", backend.display_name, alias, exc)
