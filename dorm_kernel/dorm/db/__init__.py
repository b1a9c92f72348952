"""The database layer: connections, routing, backend base classes, table helpers.

* ``connections`` – the connection handler (``connections[alias]``,
  ``await connections.aget(alias)``); see ``dorm.db.handler``.
* ``router`` – the router chain (``dorm.db.router.db_for_read`` ...).
* ``create_tables(models, using="default")`` / ``drop_tables(models)`` – create or
  drop the tables of some models in foreign-key order (scripts and tests; projects
  use migrations).
* ``dorm.db.connection`` – the spec's helper names (``get_connection``,
  ``health_check``, ``pool_stats`` ...).
"""
from __future__ import annotations

from .handler import connections
from .utils import DEFAULT_DB_ALIAS


def create_tables(models, using: str = DEFAULT_DB_ALIAS, if_not_exists: bool = True) -> None:
    """Create the tables (with indexes and constraints) of ``models``; see ``dorm.db.tables``."""
    from .tables import create_tables as _create

    _create(models, using=using, if_not_exists=if_not_exists)


def drop_tables(models, using: str = DEFAULT_DB_ALIAS, if_exists: bool = True) -> None:
    """Drop the tables of ``models`` (dependents first); see ``dorm.db.tables``."""
    from .tables import drop_tables as _drop

    _drop(models, using=using, if_exists=if_exists)


async def acreate_tables(models, using: str = DEFAULT_DB_ALIAS, if_not_exists: bool = True) -> None:
    """``create_tables`` from async code (runs in a worker thread)."""
    import asyncio

    await asyncio.to_thread(create_tables, models, using, if_not_exists)


async def adrop_tables(models, using: str = DEFAULT_DB_ALIAS, if_exists: bool = True) -> None:
    import asyncio

    await asyncio.to_thread(drop_tables, models, using, if_exists)


__all__ = ["DEFAULT_DB_ALIAS", "acreate_tables", "adrop_tables", "connections", "create_tables",
           "drop_tables"]
