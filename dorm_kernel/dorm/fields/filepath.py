"""``FilePathField``: a path chosen among the files (or folders) of a directory.

``FilePathField(path="", *, match=None, recursive=False, allow_files=True,
allow_folders=False, max_length=100, **options)``; column ``VARCHAR(max_length)``.

* ``path`` – the directory (or a callable returning it, evaluated when validating).
* ``match`` – a regular expression searched in the *base name* of the value.
* ``recursive`` – allow entries in subdirectories of ``path``.
* ``allow_files`` / ``allow_folders`` – which kinds of entry are valid (at least one).

The value is a ``str``: an absolute path, or one relative to ``path``. Like other
constraints it is checked by ``full_clean()`` (``validate``), not on assignment: the
entry must exist, be of an allowed kind, match ``match``, and lie inside ``path``
(after resolving symlinks; directly inside unless ``recursive``). ``choices_from_path()``
lists the valid values (absolute paths), e.g. for a form's select box.
"""
from __future__ import annotations

import os
import re

from dorm.exceptions import ImproperlyConfigured, ValidationError

from .migration_args import check_writable, unwrap
from .scalar import CharField

__all__ = ["FilePathField"]


class FilePathField(CharField):
    """A path inside a directory; see the module docstring."""

    python_type = None

    def __init__(self, path="", *, match=None, recursive=False, allow_files=True,
                 allow_folders=False, max_length=100, **kwargs):
        self.path = unwrap(path)
        self.match = match
        self.recursive = recursive
        self.allow_files = allow_files
        self.allow_folders = allow_folders
        super().__init__(max_length=max_length, **kwargs)

    def get_internal_type(self) -> str:
        return "CharField"

    def to_python(self, value):
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        return super().to_python(value)

    def _label(self) -> str:
        owner = f"{self.model.__name__}." if self.model is not None else ""
        return f"{owner}{self.name} (FilePathField)"

    def contribute_to_class(self, cls, name: str) -> None:
        super().contribute_to_class(cls, name)
        label = self._label()
        if not (self.allow_files or self.allow_folders):
            raise ImproperlyConfigured(f"{label}: allow_files or allow_folders must be True")
        if not (isinstance(self.path, (str, os.PathLike)) or callable(self.path)):
            raise ImproperlyConfigured(
                f"{label}: path must be a directory or a callable returning one, got {self.path!r}")
        if self.match is not None:
            if not isinstance(self.match, str):
                raise ImproperlyConfigured(f"{label}: match must be a regular expression string")
            try:
                re.compile(self.match)
            except re.error as exc:
                raise ImproperlyConfigured(f"{label}: match={self.match!r} is not a valid "
                                           f"regular expression: {exc}") from None

    def directory(self) -> str:
        """The directory (``path``, called when it is a callable), absolute."""
        path = self.path() if callable(self.path) else self.path
        return os.path.abspath(os.fspath(path)) if path else ""

    def _inside(self, full: str, base: str) -> bool:
        """Is ``full`` (symlinks resolved) inside ``base`` (directly unless recursive)?"""
        real, real_base = os.path.realpath(full), os.path.realpath(base)
        if not real.startswith(real_base.rstrip(os.sep) + os.sep):
            return False
        return self.recursive or os.path.dirname(real) == real_base

    def _allowed(self, full: str, base_name: str) -> bool:
        if self.match is not None and not re.search(self.match, base_name):
            return False
        if os.path.isdir(full):
            return bool(self.allow_folders)
        return bool(self.allow_files) and os.path.isfile(full)

    def choices_from_path(self) -> list[str]:
        """Every valid value under the directory, as sorted absolute paths."""
        base = self.directory()
        if not base or not os.path.isdir(base):
            return []
        out = []
        for root, dirs, files in os.walk(base):
            for entry in [*dirs, *files]:
                full = os.path.join(root, entry)
                if self._inside(full, base) and self._allowed(full, entry):
                    out.append(full)
            if not self.recursive:
                break
        return sorted(out)

    def validate(self, value, model_instance) -> None:
        super().validate(value, model_instance)
        if value in (None, ""):
            return
        base = self.directory()
        if not base:
            return
        full = os.path.abspath(value if os.path.isabs(value) else os.path.join(base, value))
        if not self._inside(full, base):
            where = "inside" if self.recursive else "directly inside"
            raise ValidationError(f"{value!r} is not {where} {base!r}.", code="invalid_path")
        if not self._allowed(full, os.path.basename(full)):
            kinds = " or ".join(k for k, ok in (("file", self.allow_files),
                                                ("folder", self.allow_folders)) if ok)
            extra = f" whose name matches {self.match!r}" if self.match else ""
            raise ValidationError(f"{value!r} is not an existing {kinds}{extra} in {base!r}.",
                                  code="invalid_path")

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == 100:
            del kwargs["max_length"]
        if self.path:
            kwargs["path"] = check_writable(self.path, self, "path")
        for key, default in (("match", None), ("recursive", False), ("allow_files", True),
                             ("allow_folders", False)):
            value = getattr(self, key)
            if value != default:
                kwargs[key] = value
        return name, path, args, kwargs
