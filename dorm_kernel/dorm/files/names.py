"""Checking and cleaning file names before they reach a storage.

Every function here raises ``dorm.exceptions.SuspiciousFileOperation`` (never a bare
``ValueError``) for a name it refuses, and says why in the message.

* ``validate_file_name(name, allow_relative_path=False)`` – a plain file name, or with
  ``allow_relative_path`` a relative path ``dir/sub/name``: no absolute path, no ``..``
  component, no NUL byte, not empty, not ``.``/``..``. Returns ``name``.
* ``get_valid_filename(name)`` – a name made only of letters, digits, ``-``, ``_`` and
  ``.`` (spaces become ``_``, the rest is dropped), as ``Storage.get_valid_name`` uses.
* ``safe_join(base, name)`` – ``base/name`` as an absolute path, refused when it lies
  outside ``base`` either textually (``..``, absolute ``name``) or once symlinks are
  resolved (a link inside ``base`` pointing elsewhere).
"""
from __future__ import annotations

import os
import posixpath
import re
from pathlib import PurePosixPath, PureWindowsPath

from dorm.exceptions import SuspiciousFileOperation

__all__ = ["get_valid_filename", "safe_join", "validate_file_name"]

_INVALID_CHARS = re.compile(r"(?u)[^-\w.]")
#: how a relative name is split into components: ``/`` everywhere, and ``\`` and drive
#: letters too where the operating system reads them so.
_PURE_PATHS = (PurePosixPath, PureWindowsPath) if os.name == "nt" else (PurePosixPath,)


def _as_text(name, what: str = "file name") -> str:
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str):
        raise SuspiciousFileOperation(f"A {what} must be a string, got {type(name).__name__}: {name!r}")
    if "\x00" in name:
        raise SuspiciousFileOperation(f"The {what} {name!r} contains a NUL byte")
    return name


def validate_file_name(name, allow_relative_path: bool = False) -> str:
    """``name`` when it is safe to hand to a storage (see the module docstring)."""
    name = _as_text(name)
    if os.path.basename(name) in ("", ".", "..") or posixpath.basename(name) in ("", ".", ".."):
        raise SuspiciousFileOperation(f"Could not derive a file name from {name!r}")
    if allow_relative_path:
        for pure in _PURE_PATHS:
            pure = pure(name)
            if pure.is_absolute() or pure.anchor or ".." in pure.parts:
                raise SuspiciousFileOperation(
                    f"Detected path traversal attempt in {name!r}: file names must be relative "
                    "to the storage root, without '..'")
    elif name != os.path.basename(name) or "/" in name or "\\" in name:
        raise SuspiciousFileOperation(f"File name {name!r} includes path elements")
    return name


def get_valid_filename(name) -> str:
    """A cleaned copy of ``name`` that is safe as a single file name."""
    text = str(name).strip().replace(" ", "_")
    cleaned = _INVALID_CHARS.sub("", text)
    if cleaned in ("", ".", ".."):
        raise SuspiciousFileOperation(f"Could not derive a file name from {name!r}")
    return cleaned


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def safe_join(base: str, name) -> str:
    """The absolute path of ``name`` under ``base``, refused when it escapes ``base``."""
    name = _as_text(name, "path")
    base = os.path.abspath(base)
    final = os.path.normpath(os.path.join(base, name))
    if not _inside(final, base):
        raise SuspiciousFileOperation(
            f"The path {name!r} is located outside of the storage root {base!r}")
    real_base = os.path.realpath(base)
    real = os.path.realpath(final)
    if not _inside(real, real_base):
        raise SuspiciousFileOperation(
            f"The path {name!r} resolves (through a symbolic link) to {real!r}, outside of "
            f"the storage root {base!r}")
    return final
