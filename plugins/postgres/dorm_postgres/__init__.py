"""dorm-postgres: the PostgreSQL backend of dorm (psycopg 3 + psycopg_pool).

Install it and use ``ENGINE: "postgresql"``; ``dorm.ArrayField`` and the PostgreSQL
lookups are registered through the plugin (entry point ``postgres`` in group
``dorm``). See ``docs/postgres.md``.
"""
__version__ = "0.1.0"


def __getattr__(name):
    if name == "ArrayField":
        from .fields import ArrayField

        return ArrayField
    raise AttributeError(f"module 'dorm_postgres' has no attribute {name!r}")
