"""The exception hierarchy of dorm.

Driver exceptions are normalised to the ``DatabaseError`` family by each backend
plugin, so user code catches ``dorm.IntegrityError`` whatever the database is.
"""
from __future__ import annotations


class ImproperlyConfigured(Exception):
    """Settings, models or plugins are set up wrongly; the message says how to fix it."""


class PluginNotInstalled(ImproperlyConfigured, ImportError):
    """A feature needs a plugin distribution that is not installed.

    ``distribution`` names what to ``pip install``.
    """

    def __init__(self, message: str, distribution: str | None = None):
        super().__init__(message)
        self.distribution = distribution


class SuspiciousOperation(Exception):
    """User-supplied input tried something unsafe; the operation was refused."""


class SuspiciousFileOperation(SuspiciousOperation):
    """A file name or path was refused: it escapes the storage root (``..``, an absolute
    path, a symlink pointing outside), contains path elements where none are allowed,
    or no safe name can be derived from it (see ``docs/files.md``)."""


class DoesNotExist(Exception):
    """A query that must return one row returned none (base of ``Model.DoesNotExist``)."""


class ObjectDoesNotExist(DoesNotExist):
    """A subclass of ``DoesNotExist`` (as in the reference). Every ``Model.DoesNotExist``
    derives from it, so both ``except DoesNotExist`` and Django's ``except
    ObjectDoesNotExist`` catch a missing row."""


class MultipleObjectsReturned(Exception):
    """A query that must return one row returned several."""


class FieldDoesNotExist(Exception):
    """A name does not match any field of the model."""


class FieldError(Exception):
    """A query names a field, lookup or expression in a way the model cannot satisfy."""


class ValidationError(Exception):
    """One or more values are invalid.

    ``message`` may be a string, a list of strings or a dict ``{field: [msgs]}``.
    ``message_dict``, ``messages`` and ``error_list`` are provided as in Django.
    """

    def __init__(self, message, code: str | None = None, params: dict | None = None):
        if isinstance(message, ValidationError):
            message = message.message
        if params and isinstance(message, str):
            message = message % params
        super().__init__(message)
        self.message = message
        self.code = code
        self.params = params

    @property
    def message_dict(self) -> dict[str, list[str]]:
        if not isinstance(self.message, dict):
            raise AttributeError("ValidationError has no message_dict (not a per-field error)")
        out: dict[str, list[str]] = {}
        for key, val in self.message.items():
            out[key] = _flatten(val)
        return out

    @property
    def messages(self) -> list[str]:
        if isinstance(self.message, dict):
            return [m for msgs in self.message_dict.values() for m in msgs]
        return _flatten(self.message)

    @property
    def error_list(self) -> list["ValidationError"]:
        return [ValidationError(m, self.code) for m in self.messages]

    def __str__(self) -> str:
        if isinstance(self.message, dict):
            return repr(self.message_dict)
        if isinstance(self.message, (list, tuple)):
            return repr(self.messages)
        return str(self.message)


def _flatten(val) -> list[str]:
    if isinstance(val, ValidationError):
        return val.messages
    if isinstance(val, (list, tuple)):
        out: list[str] = []
        for v in val:
            out.extend(_flatten(v))
        return out
    return [str(val)]


class DatabaseError(Exception):
    """Base of every error raised by the database or its driver."""


class InterfaceError(DatabaseError):
    """The connection to the database is unusable (closed, dropped)."""


class DataError(DatabaseError):
    """A value does not fit the column (too long, out of range, bad format)."""


class IntegrityError(DatabaseError):
    """A constraint (unique, foreign key, not null, check) was violated."""


class OperationalError(DatabaseError):
    """The database could not run the statement (locked, unreachable, timed out)."""


class ProgrammingError(DatabaseError):
    """The SQL is wrong for this database (missing table, syntax error)."""


class NotSupportedError(DatabaseError):
    """The backend cannot do what was asked; the message names backend and feature."""


class TransactionManagementError(ProgrammingError):
    """Transactions were used wrongly (durable block nested, commit inside atomic, ...)."""


class ProtectedError(IntegrityError):
    """Deleting would orphan rows that reference it with ``on_delete=PROTECT``."""

    def __init__(self, msg: str, protected_objects):
        super().__init__(msg)
        self.protected_objects = protected_objects


class RestrictedError(IntegrityError):
    """Deleting would orphan rows that reference it with ``on_delete=RESTRICT``."""

    def __init__(self, msg: str, restricted_objects):
        super().__init__(msg)
        self.restricted_objects = restricted_objects


class ReadOnlyModelError(DatabaseError):
    """A write was attempted on a model whose ``Meta.read_only`` is true."""


class BudgetExceeded(DatabaseError):
    """A query budget (``dorm.budget``) was exceeded: a result had more rows than
    ``max_rows`` (``rows`` and ``max_rows`` attributes set), or a statement ran longer
    than ``timeout_ms`` and was cancelled (``timeout_ms`` set, the driver error as
    ``__cause__``)."""


class CircuitOpenError(DatabaseError):
    """A circuit breaker is open; calls fail fast until it half-opens."""


class MigrationError(Exception):
    """A migration cannot be loaded, planned or applied."""


class EmptyResultSet(Exception):
    """Internal: a WHERE clause can never match (``pk__in=[]``); the query returns no rows."""


__all__ = [n for n in dir() if n[0].isupper()]
