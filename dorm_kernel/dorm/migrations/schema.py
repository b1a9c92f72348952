"""``SchemaEditor``: apply model changes directly, without migration files.

::

    from dorm.migrations.schema import SchemaEditor

    with SchemaEditor("default") as editor:        # alias or backend connection
        editor.create_model(Product)
        editor.add_field(Product, "sku", dorm.CharField(max_length=32, null=True))
        editor.alter_field(Product, "sku", dorm.CharField(max_length=64, null=True))
        editor.remove_field(Product, "sku")
        editor.execute("UPDATE ...", params)

The block runs in one transaction when ``atomic=True`` and the backend has
transactional DDL. ``AsyncSchemaEditor`` offers ``acreate_model``, ``adelete_model``,
``aadd_field``, ``aremove_field``, ``aalter_field`` and ``aexecute`` in
``async with``; the work runs on one worker thread with its own connection.
"""
from __future__ import annotations

import asyncio
import concurrent.futures


def _backend(connection):
    if connection is None or isinstance(connection, str):
        from dorm.db import connections

        return connections[connection or "default"]
    return connection


class SchemaEditor:
    def __init__(self, connection=None, *, atomic: bool = False):
        self.connection = _backend(connection)
        self.atomic = atomic
        self._editor = None

    def __enter__(self):
        self._editor = self.connection.schema_editor(atomic=self.atomic)
        self._editor.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        editor, self._editor = self._editor, None
        return editor.__exit__(exc_type, exc, tb)

    def _run(self, fn):
        if self._editor is not None:
            return fn(self._editor)
        with self.connection.schema_editor(atomic=self.atomic) as editor:
            return fn(editor)

    @staticmethod
    def _bind(model, name, field):
        if getattr(field, "name", None) != name or field.column is None:
            field.set_attributes_from_name(name)
        field.model = model
        return field

    def create_model(self, model) -> None:
        self._run(lambda e: e.create_model(model))

    def delete_model(self, model) -> None:
        self._run(lambda e: e.delete_model(model))

    def add_field(self, model, name, field) -> None:
        self._run(lambda e: e.add_field(model, self._bind(model, name, field)))

    def remove_field(self, model, name) -> None:
        self._run(lambda e: e.remove_field(model, model._meta.get_field(name)))

    def alter_field(self, model, name, new_field) -> None:
        old = model._meta.get_field(name)
        self._run(lambda e: e.alter_field(model, old, self._bind(model, name, new_field)))

    def execute(self, sql, params=None) -> None:
        self._run(lambda e: e.execute(sql, params or ()))


class AsyncSchemaEditor:
    """The async twin of ``SchemaEditor`` (``async with AsyncSchemaEditor("default") as e``)."""

    def __init__(self, alias: str = "default", *, atomic: bool = False):
        if not isinstance(alias, str):
            alias = getattr(alias, "alias", "default")
        self.alias = alias
        self.atomic = atomic
        self._pool = None
        self._sync = None

    async def _call(self, fn, *args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    async def __aenter__(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dorm-schema")

        def enter():
            self._sync = SchemaEditor(self.alias, atomic=self.atomic)
            self._sync.__enter__()

        await self._call(enter)
        return self

    async def __aexit__(self, exc_type, exc, tb):
        try:
            await self._call(self._sync.__exit__, exc_type, exc, tb)
        finally:
            self._pool.shutdown(wait=False)
        return False

    async def acreate_model(self, model):
        await self._call(self._sync.create_model, model)

    async def adelete_model(self, model):
        await self._call(self._sync.delete_model, model)

    async def aadd_field(self, model, name, field):
        await self._call(self._sync.add_field, model, name, field)

    async def aremove_field(self, model, name):
        await self._call(self._sync.remove_field, model, name)

    async def aalter_field(self, model, name, new_field):
        await self._call(self._sync.alter_field, model, name, new_field)

    async def aexecute(self, sql, params=None):
        await self._call(self._sync.execute, sql, params)
