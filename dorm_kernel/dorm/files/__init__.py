"""Files and storages (spec core.md §4.1; user guide ``docs/files.md``).

``dorm.files`` gathers ``File``, ``ContentFile``, the ``Storage`` base class,
``FileSystemStorage``, ``default_storage``, ``get_storage`` and ``reset_storages``;
all of them are re-exported as ``dorm.<name>`` too. The model fields that use them
(``FileField``, ``ImageField``, ``FilePathField``) live in ``dorm.fields``.
"""
from .base import ContentFile, File
from .filesystem import FileSystemStorage
from .names import get_valid_filename, safe_join, validate_file_name
from .registry import (DEFAULT_STORAGE_ALIAS, DefaultStorage, create_storage, default_storage,
                       get_storage, reset_storages, storage_settings)
from .storage import Storage

__all__ = [
    "ContentFile", "DEFAULT_STORAGE_ALIAS", "DefaultStorage", "File", "FileSystemStorage",
    "Storage", "create_storage", "default_storage", "get_storage", "get_valid_filename",
    "reset_storages", "safe_join", "storage_settings", "validate_file_name",
]
