"""Validated arguments of one ``idempotency_key`` call, and the clock.

Every argument is checked before the database is touched; errors name the argument,
the model and what is accepted.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import numbers
from dataclasses import dataclass

from dorm.db.backends.base.converters import use_tz
from dorm.db.handler import connections

from .models import IdempotencyRecord


def now() -> datetime.datetime:
    """The current time as ``DateTimeField(auto_now_add=True)`` stores it: aware UTC
    with ``USE_TZ``, naive UTC without."""
    current = datetime.datetime.now(datetime.timezone.utc)
    return current if use_tz() else current.replace(tzinfo=None)


def check_model(model, what: str = "model") -> type:
    """``model`` must be a concrete subclass of ``IdempotencyRecord``."""
    if not (isinstance(model, type) and issubclass(model, IdempotencyRecord)):
        raise TypeError(f"{what} must be a concrete subclass of IdempotencyRecord, got {model!r}")
    if model._meta.abstract:
        raise TypeError(f"{what} {model.__name__} is abstract: pass a concrete subclass of "
                        "IdempotencyRecord (one with a table)")
    return model


def check_alias(using) -> str:
    """``using`` must be a configured database alias (the error lists them)."""
    if not isinstance(using, str):
        raise TypeError(f"using must be a database alias (str), got {type(using).__name__}")
    connections.config(using)
    return using


def check_seconds(name: str, value, *, allow_zero: bool = False) -> float | None:
    """``None``, a number of seconds or a ``timedelta``; > 0 (>= 0 with ``allow_zero``)."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{name} must be a number of seconds or a datetime.timedelta, "
                        f"got {type(value).__name__}")
    if seconds != seconds or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")
    return seconds


def digest(fingerprint) -> str | None:
    """SHA-256 hex of a request fingerprint: ``str``/``bytes`` as given, anything else
    as canonical JSON (sorted keys). ``None`` stays ``None``."""
    if fingerprint is None:
        return None
    if isinstance(fingerprint, str):
        data = fingerprint.encode("utf-8")
    elif isinstance(fingerprint, (bytes, bytearray, memoryview)):
        data = bytes(fingerprint)
    else:
        try:
            data = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise TypeError("fingerprint must be a str, bytes or a JSON-serialisable value "
                            f"(dict, list, ...): {exc}") from exc
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Spec:
    """The validated arguments of one call."""

    key: str
    model: type
    using: str
    fingerprint: str | None
    ttl: float | None
    claim_timeout: float | None

    @classmethod
    def build(cls, key, *, model, using, fingerprint, ttl, claim_timeout) -> Spec:
        model = check_model(model)
        if not isinstance(key, str):
            raise TypeError(f"idempotency key must be a str, got {type(key).__name__}")
        if not key.strip():
            raise ValueError("idempotency key must be a non-empty string")
        limit = model._meta.get_field("key").max_length
        if limit is not None and len(key) > limit:
            raise ValueError(f"idempotency key is {len(key)} characters long; "
                             f"{model.__name__}.key holds at most {limit}")
        return cls(key=key, model=model, using=check_alias(using), fingerprint=digest(fingerprint),
                   ttl=check_seconds("ttl", ttl), claim_timeout=check_seconds("claim_timeout", claim_timeout))

    @property
    def rows(self):
        """The model's base manager on ``using`` (no custom default filters)."""
        return self.model._meta.base_manager().using(self.using)

    def label(self) -> str:
        return f"idempotency key {self.key!r} ({self.model.__name__} on alias {self.using!r})"
