"""``File`` and ``ContentFile``: what storages read from and what file fields hold.

Contract:

* ``File(file, name=None)`` wraps a Python file object (anything with ``read``).
  ``name`` defaults to ``file.name``. The usual file methods (``read``, ``write``,
  ``seek``, ``tell`` ...) go to the wrapped object; ``chunks()`` yields its content
  from the start in pieces, which is how storages copy it. A ``File`` is true when it
  has a name. ``with File(...)`` closes the wrapped file at the end.
* ``ContentFile(content, name=None)`` is a ``File`` over ``bytes`` or ``str`` held in
  memory (a ``BytesIO`` / ``StringIO``). It is always true (even when empty) and
  ``close()`` keeps its content readable.
* ``size`` is ``file.size`` when the wrapped object has one, else the size on disk
  of ``file.name``, else found by seeking to the end (and back).
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["ContentFile", "File"]


class FileProxyMixin:
    """Forward the standard file methods to ``self.file``."""

    file: Any

    encoding = property(lambda self: self.file.encoding)
    fileno = property(lambda self: self.file.fileno)
    flush = property(lambda self: self.file.flush)
    isatty = property(lambda self: self.file.isatty)
    newlines = property(lambda self: self.file.newlines)
    read = property(lambda self: self.file.read)
    readinto = property(lambda self: self.file.readinto)
    readline = property(lambda self: self.file.readline)
    readlines = property(lambda self: self.file.readlines)
    seek = property(lambda self: self.file.seek)
    tell = property(lambda self: self.file.tell)
    truncate = property(lambda self: self.file.truncate)
    write = property(lambda self: self.file.write)
    writelines = property(lambda self: self.file.writelines)

    @property
    def closed(self) -> bool:
        return not self.file or self.file.closed

    def readable(self) -> bool:
        if self.closed:
            return False
        return self.file.readable() if hasattr(self.file, "readable") else True

    def writable(self) -> bool:
        if self.closed:
            return False
        if hasattr(self.file, "writable"):
            return self.file.writable()
        return "w" in getattr(self.file, "mode", "")

    def seekable(self) -> bool:
        if self.closed:
            return False
        return self.file.seekable() if hasattr(self.file, "seekable") else True

    def __iter__(self):
        return iter(self.file)


class File(FileProxyMixin):
    """A named file object; see the module docstring."""

    DEFAULT_CHUNK_SIZE = 64 * 2**10

    def __init__(self, file, name: str | None = None):
        self.file = file
        if name is None:
            name = getattr(file, "name", None)
        if name is not None and not isinstance(name, str):
            name = os.fspath(name) if isinstance(name, os.PathLike) else None
        self.name = name
        if hasattr(file, "mode"):
            self.mode = file.mode

    def __str__(self) -> str:
        return self.name or ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self or 'None'}>"

    def __bool__(self) -> bool:
        return bool(self.name)

    def __len__(self) -> int:
        return self.size

    # ---- size -------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """The content's size in bytes (see the module docstring)."""
        cached = self.__dict__.get("_size")
        if cached is not None:
            return cached
        self._size = self._find_size()
        return self._size

    @size.setter
    def size(self, value: int) -> None:
        self._size = value

    def _find_size(self) -> int:
        if hasattr(self.file, "size"):
            return self.file.size
        name = getattr(self.file, "name", None)
        if isinstance(name, (str, os.PathLike)):
            try:
                return os.path.getsize(name)
            except (OSError, TypeError):
                pass
        if hasattr(self.file, "tell") and hasattr(self.file, "seek"):
            pos = self.file.tell()
            self.file.seek(0, os.SEEK_END)
            size = self.file.tell()
            self.file.seek(pos)
            return size
        raise AttributeError(f"Unable to determine the size of {self!r}")

    # ---- reading ----------------------------------------------------------------------
    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes | str]:
        """The whole content, from the start, in pieces of at most ``chunk_size``."""
        chunk_size = chunk_size or self.DEFAULT_CHUNK_SIZE
        try:
            self.seek(0)
        except (AttributeError, io.UnsupportedOperation):
            pass
        while True:
            data = self.read(chunk_size)
            if not data:
                break
            yield data

    def multiple_chunks(self, chunk_size: int | None = None) -> bool:
        """Would ``chunks(chunk_size)`` yield more than one piece?"""
        return self.size > (chunk_size or self.DEFAULT_CHUNK_SIZE)

    # ---- opening and closing ----------------------------------------------------------
    def open(self, mode: str | None = None) -> File:
        """Rewind an open file, or reopen a closed one from ``name`` on disk."""
        if not self.closed:
            self.seek(0)
        elif self.name and os.path.exists(self.name):
            self.file = open(self.name, mode or getattr(self, "mode", "rb"))  # noqa: SIM115
        else:
            raise ValueError(f"The file {self.name!r} cannot be reopened.")
        return self

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def __enter__(self) -> File:
        return self

    def __exit__(self, exc_type, exc_value, tb) -> None:
        self.close()


class ContentFile(File):
    """A ``File`` over in-memory ``bytes`` or ``str`` content."""

    def __init__(self, content: bytes | str, name: str | None = None):
        if isinstance(content, (bytes, bytearray, memoryview)):
            stream: io.IOBase = io.BytesIO(bytes(content))
        elif isinstance(content, str):
            stream = io.StringIO(content)
        else:
            raise TypeError(
                f"ContentFile(content) needs bytes or str, got {type(content).__name__}")
        super().__init__(stream, name=name)
        # bytes as stored: storages write str content as UTF-8
        self.size = len(content.encode("utf-8")) if isinstance(content, str) else len(bytes(content))

    def __str__(self) -> str:
        return "Raw content"

    def __bool__(self) -> bool:
        return True

    def open(self, mode: str | None = None) -> ContentFile:
        self.seek(0)
        return self

    def close(self) -> None:
        """Keep the content readable (it only lives in memory)."""

    def write(self, data):
        self.__dict__.pop("_size", None)
        return self.file.write(data)
