"""The ``dorm_migrations`` table: which migrations are applied.

Columns: ``id`` (auto primary key), ``app`` and ``name`` (``VARCHAR(255) NOT NULL``,
unique together) and ``applied_at`` (timestamp, UTC). The table is created through the
backend's schema editor (so it is right on every backend) the first time something
is recorded; reading from a database without it means "nothing applied" and never
creates it (dry runs leave the database untouched).
"""
from __future__ import annotations

import datetime

TABLE = "dorm_migrations"


def _recorder_model():
    from dorm.fields import BigAutoField, CharField, DateTimeField

    from .state import ModelState, ProjectState

    state = ProjectState()
    state.add_model(ModelState("dorm", "MigrationRecord", [
        ("id", BigAutoField(primary_key=True)),
        ("app", CharField(max_length=255)),
        ("name", CharField(max_length=255)),
        ("applied_at", DateTimeField(null=True)),
    ], {"db_table": TABLE, "unique_together": [("app", "name")]}))
    return state.apps.get_model("dorm", "MigrationRecord")


class MigrationRecorder:
    """``MigrationRecorder(connection)``: ``ensure_table()``, ``applied_migrations()``,
    ``record_applied(app, name)``, ``record_unapplied(app, name)``."""

    table = TABLE

    def __init__(self, connection):
        self.connection = connection
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = _recorder_model()
        return self._model

    def has_table(self) -> bool:
        return self.connection.introspection.table_exists(self.table)

    def ensure_table(self) -> None:
        if self.has_table():
            return
        with self.connection.schema_editor() as editor:
            editor.create_model(self.model, if_not_exists=True)

    def _q(self, name: str) -> str:
        return self.connection.ops.quote_name(name)

    def applied_rows(self) -> list[tuple[str, str, object]]:
        """``[(app, name, applied_at)]`` ordered by id (empty without the table)."""
        if not self.has_table():
            return []
        rows = self.connection.execute(
            f"SELECT {self._q('app')}, {self._q('name')}, {self._q('applied_at')} "
            f"FROM {self._q(self.table)} ORDER BY {self._q('id')}")
        return [(a, n, t) for a, n, t in rows]

    def applied_migrations(self) -> set[tuple[str, str]]:
        return {(a, n) for a, n, _ in self.applied_rows()}

    def record_applied(self, app: str, name: str) -> None:
        self.ensure_table()
        ph = self.connection.ops.placeholder
        exists = self.connection.execute(
            f"SELECT 1 FROM {self._q(self.table)} WHERE {self._q('app')} = {ph} AND {self._q('name')} = {ph}",
            [app, name])
        if exists:
            return
        field = self.model._meta.get_field("applied_at")
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        self.connection.execute_write(
            f"INSERT INTO {self._q(self.table)} ({self._q('app')}, {self._q('name')}, "
            f"{self._q('applied_at')}) VALUES ({ph}, {ph}, {ph})",
            [app, name, field.get_db_prep_value(now, self.connection)])

    def record_unapplied(self, app: str, name: str) -> None:
        if not self.has_table():
            return
        ph = self.connection.ops.placeholder
        self.connection.execute_write(
            f"DELETE FROM {self._q(self.table)} WHERE {self._q('app')} = {ph} AND {self._q('name')} = {ph}",
            [app, name])

    def flush(self) -> None:
        """Forget every record (tests)."""
        if self.has_table():
            self.connection.execute_write(f"DELETE FROM {self._q(self.table)}")
