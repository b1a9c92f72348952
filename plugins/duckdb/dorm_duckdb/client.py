"""``dorm dbshell`` for DuckDB: runs the ``duckdb`` command-line client on the file."""
from __future__ import annotations

from dorm.db.backends.base.client import BaseClient
from dorm.exceptions import ImproperlyConfigured


class DuckDBClient(BaseClient):
    executable_name = "duckdb"
    install_hint = "see https://duckdb.org/docs/installation (the CLI is a single binary)"

    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict: dict, parameters) -> tuple[list[str], dict | None]:
        name = settings_dict.get("NAME") or ":memory:"
        if str(name).startswith(":memory:"):
            raise ImproperlyConfigured(
                "dbshell cannot open an in-memory DuckDB database: it lives inside the running "
                "process. Set DATABASES[...]['NAME'] to a file path."
            )
        args = [cls.executable_name]
        if (settings_dict.get("OPTIONS") or {}).get("read_only"):
            args.append("-readonly")
        return [*args, str(name), *parameters], None
