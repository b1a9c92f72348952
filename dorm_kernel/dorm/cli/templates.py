"""File templates for ``dorm init`` (``str.format`` placeholders: ``{app}``, ``{apps}``)."""

SETTINGS_PY = '''\
"""dorm settings (written by `dorm init`).

Every UPPER_CASE name here is a setting (see docs/settings.md). dorm finds this file
when it sits next to your script or in the working directory; elsewhere, point
DORM_SETTINGS at its dotted module path.
"""
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

DATABASES = {{
    "default": {{
        "ENGINE": "sqlite",
        "NAME": str(BASE_DIR / "db.sqlite3"),
    }},
    # PostgreSQL (pip install dorm-postgres):
    # "default": {{
    #     "ENGINE": "postgresql",
    #     "NAME": "app",
    #     "USER": "app",
    #     "PASSWORD": "",
    #     "HOST": "localhost",
    #     "PORT": 5432,
    # }},
    # or as a URL: "default": "postgres://app:secret@localhost:5432/app",
}}

INSTALLED_APPS = {apps}

TIME_ZONE = "UTC"
USE_TZ = False
'''

APP_INIT = '''\
"""The {app} app."""
'''

MODELS_PY = '''\
"""Models of the {app} app."""
import dorm


class Note(dorm.Model):
    title = dorm.CharField(max_length=200)
    body = dorm.TextField(blank=True, default="")
    created_at = dorm.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.title
'''
