"""Migration operation ``EnableGIS``: prepare a database for geometry columns.

``from dorm.migrations.operations import EnableGIS``; put it first in the migration
that creates the first geometry column:

* PostgreSQL: ``CREATE EXTENSION IF NOT EXISTS postgis`` (needs a role allowed to
  create it, usually a superuser or the database owner with PostGIS trusted);
* SQLite: SpatiaLite's metadata tables (``InitSpatialMetadata``; dorm-gis also does this
  by itself when it creates the first geometry column);
* other backends: nothing.

Reversing it does nothing: dropping PostGIS would drop every geometry column.
"""
from __future__ import annotations

from dorm.migrations.operations.base import Operation


class EnableGIS(Operation):
    reversible = True

    def state_forwards(self, app_label, state) -> None:
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        elif vendor == "sqlite":
            from . import spatialite

            spatialite.require(schema_editor.connection)
            spatialite.ensure_metadata(schema_editor)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        pass

    def describe(self) -> str:
        return "Enable spatial support (PostGIS extension / SpatiaLite metadata)"


__all__ = ["EnableGIS"]
