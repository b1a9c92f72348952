"""The command-line client behind ``dorm dbshell``.

A backend plugin subclasses ``BaseClient``, names its ``executable_name`` and turns
the alias settings into arguments and environment (``settings_to_cmd_args_env``).
Secrets go into the environment (``PGPASSWORD``), never on the command line.
"""
from __future__ import annotations

import os
import shutil
import subprocess

from dorm.exceptions import ImproperlyConfigured


class ClientNotFound(ImproperlyConfigured):
    """The database's command-line client is not installed (not on ``PATH``)."""


class BaseClient:
    executable_name: str | None = None
    #: how to install the client, shown when it is missing
    install_hint: str = ""

    def __init__(self, connection):
        self.connection = connection

    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict: dict, parameters) -> tuple[list[str], dict | None]:
        """``(argv, extra_env)`` for the client (``argv[0]`` is the executable name)."""
        raise NotImplementedError(f"{cls.__name__} must implement settings_to_cmd_args_env()")

    def runshell(self, parameters=()) -> int:
        """Run the client interactively; return its exit status."""
        args, env = self.settings_to_cmd_args_env(self.connection.settings_dict, list(parameters))
        executable = shutil.which(args[0])
        if executable is None:
            hint = f" ({self.install_hint})" if self.install_hint else ""
            raise ClientNotFound(
                f"The {self.connection.display_name} client {args[0]!r} was not found on PATH; "
                f"install it to use `dorm dbshell`{hint}."
            )
        full_env = {**os.environ, **env} if env else None
        return subprocess.run([executable, *args[1:]], env=full_env, check=False).returncode
