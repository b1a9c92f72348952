"""``Storage``: the base class of file storages (local disk, S3, ...).

A storage maps *names* (relative, ``/``-separated: ``"avatars/2026/me.png"``) to file
content. Subclasses implement ``_save``, ``_open``, ``delete``, ``exists``, ``size``,
``listdir`` and ``url`` (``path`` only when files live on the local disk). Contract of
the public methods:

* ``save(name, content, max_length=None) -> str`` stores ``content`` (a ``File``, a
  file object, ``bytes`` or ``str``) under ``name`` or, when that name is taken or
  longer than ``max_length``, under a free variant (``report_a1B2c3d.pdf``): a save
  **never overwrites**. Returns the name actually used. ``name=None`` takes
  ``content.name``. Unsafe names (absolute, ``..``) raise ``SuspiciousFileOperation``.
* ``open(name, mode="rb") -> File``; ``delete(name)`` (a missing file is not an error);
  ``exists(name) -> bool``; ``size(name) -> int``; ``url(name) -> str``;
  ``listdir(path) -> (directories, files)``; ``path(name) -> str`` (absolute local path,
  ``NotImplementedError`` on storages without one).
* ``get_valid_name(name)`` cleans one file name (no directories);
  ``get_available_name(name, max_length=None)`` returns ``name`` or a free variant;
  ``generate_filename(filename)`` cleans the last component of a relative path.
* Async twins ``asave``, ``aopen``, ``adelete``, ``aexists``, ``asize``, ``alistdir``,
  ``aurl`` run the sync method in a worker thread (``asyncio.to_thread``).
* ``deconstruct()`` lets a storage instance be written into a migration
  (``FileField(storage=FileSystemStorage(location="..."))``): its class path and the
  arguments it was created with.
"""
from __future__ import annotations

import asyncio
import posixpath
import secrets
import string
from pathlib import PurePosixPath

from dorm.exceptions import SuspiciousFileOperation

from .base import ContentFile, File
from .names import get_valid_filename, validate_file_name

__all__ = ["Storage"]

_ALPHABET = string.ascii_letters + string.digits


def _split_ext(file_name: str) -> tuple[str, str]:
    """``("archive", ".tar.gz")``: every suffix counts as the extension, as users
    expect for a name collision (``archive_x1Y2z3a.tar.gz``)."""
    suffixes = "".join(PurePosixPath(file_name).suffixes)
    if not suffixes or suffixes == file_name:
        return file_name, ""
    return file_name[: -len(suffixes)], suffixes


def as_file(content, name: str | None) -> File:
    """``content`` as a ``File``: ``File``s as they are, ``bytes``/``str`` in memory,
    other objects with ``read()`` wrapped; anything else is a ``TypeError``."""
    if isinstance(content, File):
        return content
    if isinstance(content, (bytes, bytearray, memoryview, str)):
        return ContentFile(content, name=name)
    if hasattr(content, "read"):
        return File(content, name)
    raise TypeError(
        f"cannot store a {type(content).__name__}: pass a dorm.File, a file object, bytes or str")


class Storage:
    """Base class of storages; see the module docstring for the contract."""

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj._constructor_args = (args, kwargs)
        return obj

    # ---- public API ----------------------------------------------------------------------
    def open(self, name: str, mode: str = "rb") -> File:
        """The stored file ``name`` opened in ``mode``."""
        return self._open(name, mode)

    def save(self, name: str | None, content, max_length: int | None = None) -> str:
        """Store ``content``; returns the name used (never overwrites, see above)."""
        if name is None:
            name = getattr(content, "name", None)
            if not name:
                raise ValueError("Storage.save(name=None, ...): the content has no name either")
        content = as_file(content, name)
        name = validate_file_name(name, allow_relative_path=True)
        name = self.get_available_name(name, max_length=max_length)
        name = self._save(name, content)
        return validate_file_name(name, allow_relative_path=True)

    def get_valid_name(self, name: str) -> str:
        """``name`` cleaned to letters, digits, ``-``, ``_`` and ``.`` (one component)."""
        return get_valid_filename(name)

    def get_alternative_name(self, file_root: str, file_ext: str) -> str:
        """A variant of a taken name: ``<root>_<7 random characters><ext>``."""
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(7))
        return f"{file_root}_{suffix}{file_ext}"

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        """``name`` if it is free and short enough, else a free variant of it.

        Raises ``SuspiciousFileOperation`` when no variant fits in ``max_length``."""
        name = validate_file_name(name, allow_relative_path=True)
        dir_name, file_name = posixpath.split(name)
        file_root, file_ext = _split_ext(file_name)
        while self.exists(name) or (max_length is not None and len(name) > max_length):
            name = posixpath.join(dir_name, self.get_alternative_name(file_root, file_ext))
            if max_length is None:
                continue
            truncation = len(name) - max_length
            if truncation > 0:
                file_root = file_root[:-truncation]
                if not file_root:
                    raise SuspiciousFileOperation(
                        f"Storage cannot find an available name for {name!r}: shorten the "
                        f"file name, its upload_to directory, or raise max_length ({max_length})")
                name = posixpath.join(dir_name, self.get_alternative_name(file_root, file_ext))
        return name

    def generate_filename(self, filename: str) -> str:
        """``filename`` (a relative path) with its last component cleaned by
        ``get_valid_name``; ``..`` or an absolute path raise ``SuspiciousFileOperation``."""
        filename = validate_file_name(str(filename).replace("\\", "/"), allow_relative_path=True)
        dir_name, base = posixpath.split(filename)
        return posixpath.normpath(posixpath.join(dir_name, self.get_valid_name(base)))

    def path(self, name: str) -> str:
        """The absolute local path of ``name``; only for storages on the local disk."""
        raise NotImplementedError(
            f"{type(self).__name__} does not store files on the local disk (no path()); "
            "use open() to read them")

    # ---- for subclasses ------------------------------------------------------------------
    def _open(self, name: str, mode: str = "rb") -> File:
        raise NotImplementedError(f"{type(self).__name__} must implement _open(name, mode)")

    def _save(self, name: str, content: File) -> str:
        raise NotImplementedError(f"{type(self).__name__} must implement _save(name, content)")

    def delete(self, name: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement delete(name)")

    def exists(self, name: str) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must implement exists(name)")

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        raise NotImplementedError(f"{type(self).__name__} must implement listdir(path)")

    def size(self, name: str) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement size(name)")

    def url(self, name: str) -> str:
        raise NotImplementedError(f"{type(self).__name__} must implement url(name)")

    # ---- async twins -------------------------------------------------------------------
    async def asave(self, name: str | None, content, max_length: int | None = None) -> str:
        return await asyncio.to_thread(self.save, name, content, max_length)

    async def aopen(self, name: str, mode: str = "rb") -> File:
        return await asyncio.to_thread(self.open, name, mode)

    async def adelete(self, name: str) -> None:
        return await asyncio.to_thread(self.delete, name)

    async def aexists(self, name: str) -> bool:
        return await asyncio.to_thread(self.exists, name)

    async def asize(self, name: str) -> int:
        return await asyncio.to_thread(self.size, name)

    async def alistdir(self, path: str) -> tuple[list[str], list[str]]:
        return await asyncio.to_thread(self.listdir, path)

    async def aurl(self, name: str) -> str:
        return await asyncio.to_thread(self.url, name)

    # ---- migrations --------------------------------------------------------------------
    def deconstruct(self) -> tuple[str, tuple, dict]:
        """``(import path, args, kwargs)`` that rebuild this storage (for migrations)."""
        cls = type(self)
        module = cls.__module__
        if module.startswith("dorm.files."):
            module = "dorm.files"
        args, kwargs = getattr(self, "_constructor_args", ((), {}))
        return f"{module}.{cls.__qualname__}", tuple(args), dict(kwargs)
