"""dorm-sqlite: the SQLite backend of dorm (sync ``sqlite3``, async ``aiosqlite``).

Installed, it provides ``ENGINE = "sqlite"`` (also ``"sqlite3"``,
``"django.db.backends.sqlite3"``). See ``docs/sqlite.md``.
"""
