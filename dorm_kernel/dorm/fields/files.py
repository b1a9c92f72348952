"""``FileField`` and ``ImageField``: a file in a storage, its name in a ``VARCHAR`` column.

``FileField(upload_to="", *, storage=None, max_length=255, **options)``

* ``upload_to`` – where uploads go: a directory (``"docs"``), a ``strftime`` template
  (``"docs/%Y/%m"``, the current date) or a callable ``f(instance, filename) -> name``
  returning the full name (directories included). Absolute paths and ``..`` are refused.
* ``storage`` – a ``dorm.Storage`` instance, an alias of ``STORAGES`` (``"avatars"``,
  looked up on every use) or a callable returning a storage (called once, on first
  use); default ``dorm.default_storage``.

Assignment (``obj.doc = value`` and ``Model(doc=value)``): a ``File``/``ContentFile``
becomes a pending upload, written through the storage by ``save()`` (``pre_save``), its
name built from ``upload_to`` and the file's own base name; a ``str`` is a stored name;
a ``FieldFile`` contributes its name (a pending one its content); ``None`` and ``""``
mean no file. Anything else raises ``ValidationError``; a ``File`` without a name too.

Reading ``obj.doc`` gives a ``FieldFile``: ``name``, ``url``, ``path``, ``size``,
``open(mode)``, ``read()``, ``save(name, content, save=True)``, ``delete(save=True)``;
it is false when there is no file and compares equal to its name.

Storage and transactions: an upload made while the row's database alias is inside
``atomic()`` is deleted again if that block rolls back. Replacing a file and deleting a
row never delete the stored file (as in Django): clean up with ``obj.doc.delete()``.

Column: ``VARCHAR(max_length)``. No file is stored as ``NULL`` when ``null=True``, else
as ``""`` (so a ``NOT NULL`` column accepts a row without a file).

``ImageField`` adds: assigning a ``File`` opens it with Pillow and refuses what is not
an image (``ValidationError``); without Pillow that assignment raises ``ImportError``
naming it. ``obj.photo.width`` / ``.height`` read the stored image's size.
"""
from __future__ import annotations

import datetime
import logging
import os
import posixpath
import weakref
from contextvars import ContextVar
from pathlib import PurePosixPath

from dorm.exceptions import ImproperlyConfigured, ValidationError
from dorm.files.base import File
from dorm.files.images import get_image_dimensions, verify_image
from dorm.files.registry import DefaultStorage, default_storage, get_storage
from dorm.files.storage import Storage

from .base import Field, _load_deferred
from .migration_args import check_writable, unwrap

__all__ = ["FieldFile", "FileDescriptor", "FileField", "ImageField", "ImageFieldFile"]

logger = logging.getLogger("dorm.files")

#: (weak reference to the instance being saved, its database alias), set by a
#: ``pre_save`` receiver, so uploads know which alias' transaction they belong to.
_SAVING: ContextVar[tuple | None] = ContextVar("dorm_files_saving", default=None)


def _label(field) -> str:
    model = getattr(field, "model", None)
    owner = f"{model.__name__}." if model is not None else ""
    return f"{owner}{field.name or '<unbound>'} ({type(field).__name__})"


# ---- transactions ------------------------------------------------------------------------------
def _remember_alias(sender, instance, using, **kwargs) -> None:
    _SAVING.set((weakref.ref(instance), using))


def _write_alias(instance) -> str | None:
    saving = _SAVING.get()
    if saving is not None and saving[0]() is instance:
        return saving[1]
    state = getattr(instance, "_state", None)
    if state is not None and state.db:
        return state.db
    try:
        from dorm.db import router

        return router.db_for_write(type(instance), instance=instance)
    except Exception:  # noqa: BLE001 - no database configured: nothing to roll back
        return None


def _delete_on_rollback(instance, storage, name: str) -> None:
    """If the instance's alias is inside ``atomic()``, delete ``name`` on rollback."""
    alias = _write_alias(instance)
    if alias is None:
        return
    from dorm import transaction
    from dorm.db import connections

    sync, pinned = connections.existing(alias), connections.pinned(alias)
    if not ((sync is not None and sync.in_atomic_block)
            or (pinned is not None and pinned.in_atomic_block)):
        return

    def undo() -> None:
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 - a rollback callback must not raise
            logger.warning("could not delete %r after a rolled back transaction", name,
                           exc_info=True)

    transaction.on_rollback(undo, using=alias)


# ---- the value ---------------------------------------------------------------------------------
class FieldFile(File):
    """The value of a ``FileField`` on an instance; see the module docstring."""

    def __init__(self, instance, field, name: str | None):
        super().__init__(None, name)
        self.instance = instance
        self.field = field
        self._committed = True

    @property
    def storage(self) -> Storage:
        return self.field.storage

    def __eq__(self, other):
        if hasattr(other, "name"):
            other = other.name
        if other is None or isinstance(other, str):
            return (self.name or "") == (other or "")
        return NotImplemented

    def __hash__(self):
        return hash(self.name or "")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name or 'None'}>"

    def _require_file(self) -> None:
        if not self:
            raise ValueError(f"{_label(self.field)} has no file associated with it.")

    # ---- the underlying file (opened lazily from the storage) ----------------------------
    def _get_file(self):
        self._require_file()
        if getattr(self, "_file", None) is None:
            self._file = self.storage.open(self.name, "rb")
        return self._file

    def _set_file(self, file) -> None:
        self._file = file

    def _del_file(self) -> None:
        self._file = None

    file = property(_get_file, _set_file, _del_file)

    @property
    def closed(self) -> bool:
        file = getattr(self, "_file", None)
        return file is None or file.closed

    def close(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()

    # ---- storage-backed attributes ---------------------------------------------------
    @property
    def path(self) -> str:
        self._require_file()
        return self.storage.path(self.name)

    @property
    def url(self) -> str:
        self._require_file()
        return self.storage.url(self.name)

    @property
    def size(self) -> int:
        self._require_file()
        if not self._committed:
            return self.file.size
        return self.storage.size(self.name)

    def open(self, mode: str = "rb") -> FieldFile:
        """Open (or rewind) the file; returns ``self`` (usable in ``with``)."""
        self._require_file()
        file = getattr(self, "_file", None)
        if file is None or (self._committed and file.closed):
            self._file = self.storage.open(self.name, mode)
        else:
            file.open(mode)
        return self

    # ---- writing -------------------------------------------------------------------------
    def save(self, name: str, content, save: bool = True) -> None:
        """Store ``content`` under a name built from ``upload_to`` and ``name``; set it on
        the instance, and ``instance.save()`` when ``save``."""
        name = self.field.generate_filename(self.instance, name)
        storage = self.storage
        self.name = storage.save(name, content, max_length=self.field.max_length)
        self._file = None
        self._committed = True
        self.instance.__dict__[self.field.attname] = self
        _delete_on_rollback(self.instance, storage, self.name)
        if save:
            self.instance.save()

    def delete(self, save: bool = True) -> None:
        """Delete the stored file, clear the field, and ``instance.save()`` when ``save``."""
        if not self:
            return
        self.close()
        self._file = None
        self.storage.delete(self.name)
        self.name = None
        self._committed = True
        self.instance.__dict__[self.field.attname] = self
        if save:
            self.instance.save()

    def _save_pending(self) -> None:
        """Upload the content assigned to the field (called by ``FileField.pre_save``)."""
        content = self._file
        base = posixpath.basename(str(self.name).replace("\\", "/"))
        self.save(base, content, save=False)

    # ---- copying and pickling ------------------------------------------------------------
    def __reduce__(self):
        if not self._committed:
            raise TypeError(f"{_label(self.field)}: a pending upload cannot be pickled; "
                            "save the instance first")
        model = self.field.model
        return (_restore_field_file, (model._meta.label, self.field.name, self.name))

    def __copy__(self):
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo):
        return self.__copy__()


def _restore_field_file(label: str, field_name: str, name):
    from dorm.models import registry

    field = registry.get_model(label)._meta.get_field(field_name)
    return field.attr_class(None, field, name)


class FileDescriptor:
    """``obj.<field>``: a ``FieldFile`` bound to ``obj`` (made from what is stored)."""

    def __init__(self, field):
        self.field = field
        self.attname = field.attname

    def __get__(self, instance, owner=None):
        if instance is None:
            return self.field
        field = self.field
        d = instance.__dict__
        try:
            value = d[self.attname]
        except KeyError:
            value = _load_deferred(instance, field)
        if isinstance(value, FieldFile):
            if value.instance is instance and value.field is field:
                return value
            bound = field.attr_class(instance, field, value.name)
            if not value._committed:
                bound._file, bound._committed = value._file, False
        elif isinstance(value, File):
            bound = field.attr_class(instance, field, value.name)
            bound._file, bound._committed = value, False
        else:
            bound = field.attr_class(instance, field, value)
        d[self.attname] = bound
        return bound

    def __set__(self, instance, value) -> None:
        instance.__dict__[self.attname] = self.field.to_python(value)


# ---- the fields -------------------------------------------------------------------------------
class FileField(Field):
    """A file kept in a storage; see the module docstring."""

    attr_class = FieldFile
    descriptor_class = FileDescriptor
    uses_class_descriptor = True

    def __init__(self, upload_to="", *, storage=None, max_length=255, **kwargs):
        self.upload_to = unwrap(upload_to)
        self._storage_arg = unwrap(storage)
        self._storage_resolved = None
        super().__init__(max_length=max_length, **kwargs)

    def get_internal_type(self) -> str:
        return "CharField"

    # ---- binding and checks ------------------------------------------------------------
    def contribute_to_class(self, cls, name: str) -> None:
        super().contribute_to_class(cls, name)
        setattr(cls, self.attname, self.descriptor_class(self))
        self._check()
        if not getattr(cls._meta, "abstract", False):
            from dorm import signals

            signals.pre_save.connect(_remember_alias, sender=cls, weak=False)

    def _check(self) -> None:
        label = _label(self)
        if self.primary_key:
            raise ImproperlyConfigured(f"{label}: primary_key=True is not allowed on a file field")
        if not isinstance(self.max_length, int) or isinstance(self.max_length, bool) \
                or self.max_length < 1:
            raise ImproperlyConfigured(
                f"{label}: max_length must be a positive integer, got {self.max_length!r}")
        upload_to = self.upload_to
        if isinstance(upload_to, os.PathLike):
            upload_to = self.upload_to = os.fspath(upload_to)
        if isinstance(upload_to, str):
            pure = PurePosixPath(upload_to.replace("\\", "/"))
            if pure.is_absolute() or ".." in pure.parts or "\x00" in upload_to:
                raise ImproperlyConfigured(
                    f"{label}: upload_to={upload_to!r} must be a relative directory inside the "
                    "storage (no leading '/', no '..')")
        elif not callable(upload_to):
            raise ImproperlyConfigured(
                f"{label}: upload_to must be a directory, a strftime template or a callable "
                f"(instance, filename) -> name, got {type(upload_to).__name__}")
        storage = self._storage_arg
        if storage is None or isinstance(storage, DefaultStorage):
            return
        if isinstance(storage, str):
            if not storage:
                raise ImproperlyConfigured(f"{label}: storage alias must not be empty")
        elif not (isinstance(storage, Storage) or callable(storage)):
            raise ImproperlyConfigured(
                f"{label}: storage must be a dorm.Storage, a STORAGES alias or a callable "
                f"returning a storage, got {type(storage).__name__}")

    @property
    def storage(self) -> Storage:
        """The storage files of this field live in (resolved on use, see module doc)."""
        arg = self._storage_arg
        if arg is None:
            return default_storage
        if isinstance(arg, str):
            return get_storage(arg)
        if isinstance(arg, DefaultStorage) or isinstance(arg, Storage):
            return arg
        if self._storage_resolved is None:
            resolved = arg()
            if not isinstance(resolved, (DefaultStorage, Storage)):
                raise ImproperlyConfigured(
                    f"{_label(self)}: the storage callable {arg!r} returned {resolved!r}, "
                    "not a dorm.Storage")
            self._storage_resolved = resolved
        return self._storage_resolved

    # ---- names -----------------------------------------------------------------------
    def generate_filename(self, instance, filename: str) -> str:
        """The storage name for an upload called ``filename`` (``upload_to`` applied,
        last component cleaned; ``SuspiciousFileOperation`` for unsafe results)."""
        from dorm.files.names import validate_file_name

        if callable(self.upload_to):
            name = self.upload_to(instance, filename)
            if not isinstance(name, str) or not name:
                raise TypeError(
                    f"{_label(self)}: upload_to {self.upload_to!r} returned {name!r}; it must "
                    "return the file name to use (a non-empty str)")
        else:
            name = posixpath.join(_now().strftime(str(self.upload_to)), filename)
        name = validate_file_name(name.replace("\\", "/"), allow_relative_path=True)
        return self.storage.generate_filename(name)

    # ---- values ----------------------------------------------------------------------
    def to_python(self, value):
        if value is None or isinstance(value, (str, FieldFile)):
            return value
        if isinstance(value, File):
            if not value.name:
                raise ValidationError(
                    {self.name: f"{_label(self)}: the assigned {type(value).__name__} has no "
                                "name; give one, e.g. ContentFile(data, name='report.pdf')"},
                    code="invalid")
            return value
        raise ValidationError(
            {self.name: f"{_label(self)} accepts a dorm.File/ContentFile, a stored name (str) "
                        f"or None, not {type(value).__name__}"}, code="invalid")

    def pre_save(self, instance, add: bool):
        file = getattr(instance, self.attname)
        if file and not file._committed:
            file._save_pending()
        return file

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if isinstance(value, File):
            return value.name
        return str(value)

    def get_db_prep_save(self, value, connection):
        if isinstance(value, File) and not (isinstance(value, FieldFile) and value._committed):
            raise ValueError(
                f"{_label(self)}: {value!r} has not been uploaded; only Model.save() (and "
                "create/bulk_create) upload files. For QuerySet.update() or bulk_update(), store "
                "it first (name = field.storage.save(name, content)) and pass the name.")
        value = self.get_prep_value(value)
        if value is None or value == "":
            return None if self.null else ""
        return value

    def value_to_string(self, obj) -> str:
        return self.get_prep_value(self.value_from_object(obj)) or ""

    def validate(self, value, model_instance) -> None:
        super().validate(value, model_instance)
        name = getattr(value, "name", value)
        if isinstance(name, str) and self.max_length is not None and len(name) > self.max_length:
            raise ValidationError(
                f"Ensure this file name has at most {self.max_length} characters "
                f"(it has {len(name)}).", code="max_length")

    # ---- migrations --------------------------------------------------------------------
    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == 255:
            del kwargs["max_length"]
        if self.upload_to:
            kwargs["upload_to"] = check_writable(self.upload_to, self, "upload_to")
        storage = self._storage_arg
        if storage is not None and not isinstance(storage, DefaultStorage):
            kwargs["storage"] = check_writable(storage, self, "storage")
        return name, path, args, kwargs


def _now() -> datetime.datetime:
    from dorm.db.backends.base.converters import use_tz

    return datetime.datetime.now(datetime.timezone.utc) if use_tz() else datetime.datetime.now()


class ImageFieldFile(FieldFile):
    """A ``FieldFile`` that also knows the image's ``width`` and ``height``."""

    @property
    def dimensions(self) -> tuple[int, int]:
        cached = self.__dict__.get("_dimensions")
        if cached is not None and cached[0] == self.name:
            return cached[1]
        self._require_file()
        was_closed = self.closed
        self.open()
        try:
            size = get_image_dimensions(self, _label(self.field))
        finally:
            if was_closed:
                self.close()
        self._dimensions = (self.name, size)
        return size

    @property
    def width(self) -> int:
        return self.dimensions[0]

    @property
    def height(self) -> int:
        return self.dimensions[1]


class ImageField(FileField):
    """A ``FileField`` that accepts only images (checked with Pillow on assignment)."""

    attr_class = ImageFieldFile

    def to_python(self, value):
        value = super().to_python(value)
        if isinstance(value, File) and not isinstance(value, FieldFile):
            try:
                verify_image(value, _label(self))
            except ValueError as exc:
                raise ValidationError(
                    {self.name: f"{_label(self)}: upload a valid image; {value.name!r} is "
                                f"{exc}"}, code="invalid_image") from None
        return value
