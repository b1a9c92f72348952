"""``FileSystemStorage``: files in a directory on the local disk.

``FileSystemStorage(location=None, base_url=None, file_permissions_mode=None,
directory_permissions_mode=None)``

* ``location`` – the root directory (``str`` or path), made absolute when the storage
  is created; default ``"media"`` in the current directory. Created on first save.
* ``base_url`` – prefix of ``url(name)``; default ``"/media/"``; a missing trailing
  ``/`` is added.
* ``file_permissions_mode`` / ``directory_permissions_mode`` – ``chmod`` modes (ints
  such as ``0o640``) for new files / directories; ``None`` keeps the process umask.

Safety: every name goes through ``safe_join``: a name that leaves the root by ``..``,
by being absolute, or through a symbolic link (inside the root, pointing outside) is
refused with ``SuspiciousFileOperation``, for reading, writing, deleting and listing.

Atomic writes: ``save`` writes the content to a hidden temporary file next to the
target, flushes it to disk, then links it into place with ``os.link`` (which fails
instead of replacing an existing file, so a concurrent save of the same name gets a
fresh variant, never an overwrite). A save that fails part-way (the content raised, the
disk filled) removes the temporary file and any directory it created: no half-written
file is ever visible under the target name.
"""
from __future__ import annotations

import errno
import os
import secrets
from datetime import datetime, timezone
from urllib.parse import quote, urljoin

from dorm.exceptions import ImproperlyConfigured

from .base import File
from .names import safe_join, validate_file_name
from .storage import Storage

__all__ = ["FileSystemStorage"]

#: prefix of the temporary files written during a save (hidden from ``listdir``).
TEMP_PREFIX = ".dorm-upload-"


def _check_mode(value, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        raise ImproperlyConfigured(
            f"FileSystemStorage({what}=...) must be None or a permission mode such as 0o644, "
            f"got {value!r}")
    return value


class FileSystemStorage(Storage):
    """Files under ``location`` on the local disk; see the module docstring."""

    def __init__(self, location=None, base_url: str | None = None,
                 file_permissions_mode: int | None = None,
                 directory_permissions_mode: int | None = None):
        if location is None:
            location = "media"
        if not isinstance(location, (str, os.PathLike)) or not os.fspath(location):
            raise ImproperlyConfigured(
                f"FileSystemStorage(location=...) must be a directory path, got {location!r}")
        if base_url is None:
            base_url = "/media/"
        if not isinstance(base_url, str):
            raise ImproperlyConfigured(
                f"FileSystemStorage(base_url=...) must be a string such as '/media/', got {base_url!r}")
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_location = os.fspath(location)
        self.location = os.path.abspath(self.base_location)
        self.base_url = base_url
        self.file_permissions_mode = _check_mode(file_permissions_mode, "file_permissions_mode")
        self.directory_permissions_mode = _check_mode(directory_permissions_mode,
                                                      "directory_permissions_mode")

    def __repr__(self) -> str:
        return f"<FileSystemStorage location={self.location!r} base_url={self.base_url!r}>"

    # ---- paths -----------------------------------------------------------------------
    def path(self, name: str) -> str:
        """The absolute path of ``name``; ``SuspiciousFileOperation`` outside the root."""
        return safe_join(self.location, name)

    # ---- reading -----------------------------------------------------------------------
    def _open(self, name: str, mode: str = "rb") -> File:
        validate_file_name(name, allow_relative_path=True)
        return File(open(self.path(name), mode), name=name)  # noqa: SIM115 - caller closes

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.path(name))

    def size(self, name: str) -> int:
        return os.path.getsize(self.path(name))

    def listdir(self, path: str = "") -> tuple[list[str], list[str]]:
        """``(directories, files)`` directly under ``path`` (``""``: the root), sorted."""
        full = self.path(path or ".")
        directories, files = [], []
        with os.scandir(full) as entries:
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX):
                    continue
                if entry.is_dir():
                    directories.append(entry.name)
                else:
                    files.append(entry.name)
        return sorted(directories), sorted(files)

    def url(self, name: str) -> str:
        validate_file_name(name, allow_relative_path=True)
        return urljoin(self.base_url, quote(name.replace("\\", "/").lstrip("/"), safe="/~!*()'"))

    def get_modified_time(self, name: str) -> datetime:
        return datetime.fromtimestamp(os.path.getmtime(self.path(name)), tz=timezone.utc)

    def get_accessed_time(self, name: str) -> datetime:
        return datetime.fromtimestamp(os.path.getatime(self.path(name)), tz=timezone.utc)

    # ---- writing -----------------------------------------------------------------------
    def delete(self, name: str) -> None:
        """Remove ``name`` (a file, or an empty directory); missing is not an error."""
        if not name:
            raise ValueError("FileSystemStorage.delete(name): the name must not be empty")
        full = self.path(name)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                os.rmdir(full)
            else:
                os.remove(full)
        except FileNotFoundError:
            pass

    def _save(self, name: str, content: File) -> str:
        while True:
            full = self.path(name)
            created = self._make_dirs(os.path.dirname(full))
            try:
                self._write_new(full, content)
            except FileExistsError:
                # taken between get_available_name() and now: pick another name
                self._remove_dirs(created)
                name = self.get_available_name(name)
                continue
            except BaseException:
                self._remove_dirs(created)
                raise
            return name

    def _make_dirs(self, directory: str) -> list[str]:
        """Create ``directory`` and its missing parents (the root and its parents too);
        returns the directories created. Every one below the root is checked first."""
        created: list[str] = []
        missing = []
        current = directory
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for path in reversed(missing):
            if path != self.location and path.startswith(self.location + os.sep):
                safe_join(self.location, os.path.relpath(path, self.location))
            try:
                os.mkdir(path)
            except FileExistsError:
                if not os.path.isdir(path):
                    raise
                continue
            created.append(path)
            if self.directory_permissions_mode is not None:
                os.chmod(path, self.directory_permissions_mode)
        return created

    @staticmethod
    def _remove_dirs(created: list[str]) -> None:
        for path in reversed(created):
            try:
                os.rmdir(path)
            except OSError:
                break

    def _write_new(self, full: str, content: File) -> None:
        """Write ``content`` to a temporary file, then link it to ``full`` without ever
        replacing an existing file (``FileExistsError`` when ``full`` is taken)."""
        directory = os.path.dirname(full)
        temp = os.path.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(8)}.part")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) \
            | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(temp, flags, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
                out.flush()
                os.fsync(out.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(temp, self.file_permissions_mode)
            # the directory may have been swapped for a symlink since the name was checked
            safe_join(self.location, os.path.relpath(full, self.location))
            self._link_into_place(temp, full)
        finally:
            try:
                os.remove(temp)
            except FileNotFoundError:
                pass

    @staticmethod
    def _link_into_place(temp: str, full: str) -> None:
        try:
            os.link(temp, full, follow_symlinks=False)
            return
        except FileExistsError:
            raise
        except (OSError, NotImplementedError) as exc:
            if isinstance(exc, OSError) and exc.errno not in (
                    errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK,
                    errno.EACCES, errno.ENOSYS):
                raise
        # No hard links here (some network or FAT file systems): claim the name with an
        # exclusive create, then atomically replace that empty placeholder.
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        os.close(fd)
        os.replace(temp, full)
