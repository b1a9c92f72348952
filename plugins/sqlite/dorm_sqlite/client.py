"""``dorm dbshell`` for SQLite: runs the ``sqlite3`` command-line shell on the file."""
from __future__ import annotations

from dorm.db.backends.base.client import BaseClient
from dorm.exceptions import ImproperlyConfigured


class SQLiteClient(BaseClient):
    executable_name = "sqlite3"
    install_hint = "e.g. `apt install sqlite3`, `brew install sqlite` or https://sqlite.org/download.html"

    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict: dict, parameters) -> tuple[list[str], dict | None]:
        name = settings_dict.get("NAME") or ":memory:"
        if name == ":memory:" or "mode=memory" in str(name):
            raise ImproperlyConfigured(
                "dbshell cannot open an in-memory database: it lives inside the running process. "
                "Set DATABASES[...]['NAME'] to a file path."
            )
        return [cls.executable_name, str(name), *parameters], None
