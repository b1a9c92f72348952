"""``dorm dbshell`` for PostgreSQL: runs ``psql`` (the password goes in ``PGPASSWORD``)."""
from __future__ import annotations

from dorm.db.backends.base.client import BaseClient

#: libpq parameters psql understands through the environment
_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
        "sslkey": "PGSSLKEY", "passfile": "PGPASSFILE", "service": "PGSERVICE",
        "application_name": "PGAPPNAME", "connect_timeout": "PGCONNECT_TIMEOUT",
        "options": "PGOPTIONS", "target_session_attrs": "PGTARGETSESSIONATTRS"}


class PostgresClient(BaseClient):
    executable_name = "psql"
    install_hint = ("e.g. `apt install postgresql-client`, `brew install libpq` or "
                    "https://www.postgresql.org/download/")

    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict: dict, parameters) -> tuple[list[str], dict | None]:
        args = [cls.executable_name]
        options = settings_dict.get("OPTIONS") or {}
        host = settings_dict.get("HOST")
        port = settings_dict.get("PORT")
        user = settings_dict.get("USER")
        name = settings_dict.get("NAME")
        if user:
            args += ["-U", str(user)]
        if host:
            args += ["-h", str(host)]
        if port:
            args += ["-p", str(port)]
        args += list(parameters)
        if name:
            args += [str(name)]
        env = {}
        if settings_dict.get("PASSWORD"):
            env["PGPASSWORD"] = str(settings_dict["PASSWORD"])
        for key, var in _ENV.items():
            if options.get(key) not in (None, ""):
                env[var] = str(options[key])
        return args, env or None
