"""Cached values: pickled, then signed with HMAC-SHA256.

Format of a stored value: ``b"dorm1" + mac (32 bytes) + pickle``, where
``mac = HMAC-SHA256(k, cache_key + b"\\0" + pickle)``. Binding the cache key into the
MAC means a valid entry copied under another key (by someone who can write to the
cache server) does not verify either.

Signing key ``k``: derived from ``settings.CACHE_SIGNING_KEY``, else
``settings.SECRET_KEY``. With neither:

* ``CACHE_REQUIRE_SIGNING_KEY=True`` → ``ImproperlyConfigured`` on first use (this
  error is not swallowed: it is a configuration mistake, not a cache failure);
* otherwise a random per-process key (one WARNING on ``dorm.cache``): entries work
  inside this process, and entries written by other processes are misses.

``loads`` returns ``MISS`` for anything that is not a value this code stored with the
current key: a tampered, truncated, unsigned or foreign payload, a MAC made with
another key, or a pickle that no longer loads (a model renamed since). Unpickling
happens only after the MAC verified, except with ``CACHE_INSECURE_PICKLE=True``,
which skips verification (only for a cache that nobody else can write to).

Model instances keep what ``select_related`` loaded (``ModelState.fields_cache``,
which a plain pickle of an instance drops), and the ``Row`` namedtuples of
``values_list(named=True)``, which pickle cannot import by name, are rebuilt.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import logging
import pickle
import secrets
import sys
import threading
from collections import namedtuple

from dorm.conf import settings
from dorm.exceptions import ImproperlyConfigured

logger = logging.getLogger("dorm.cache")

MAGIC = b"dorm1"
MAC_SIZE = 32
MISS = object()

_lock = threading.Lock()
_key: bytes | None = None


def reset() -> None:
    """Forget the signing key (``configure()`` of a key setting calls this)."""
    global _key
    with _lock:
        _key = None


def signing_key() -> bytes:
    """The HMAC key (derived, 32 bytes); see the module docstring."""
    key = _key
    if key is not None:
        return key
    return _load_key()


def _load_key() -> bytes:
    global _key
    with _lock:
        if _key is not None:
            return _key
        secret = settings.CACHE_SIGNING_KEY or settings.SECRET_KEY
        if secret:
            if isinstance(secret, str):
                secret = secret.encode()
            if not isinstance(secret, bytes):
                raise ImproperlyConfigured(
                    f"CACHE_SIGNING_KEY / SECRET_KEY must be str or bytes, got {type(secret).__name__}")
            _key = hashlib.sha256(b"dorm.cache.signing\0" + secret).digest()
        elif settings.CACHE_REQUIRE_SIGNING_KEY:
            raise ImproperlyConfigured(
                "CACHE_REQUIRE_SIGNING_KEY=True but neither CACHE_SIGNING_KEY nor SECRET_KEY is "
                "set: configure one of them to use the result cache")
        else:
            logger.warning(
                "neither CACHE_SIGNING_KEY nor SECRET_KEY is set: cached results are signed with "
                "a random per-process key, so processes cannot share cache entries (set "
                "CACHE_SIGNING_KEY; CACHE_REQUIRE_SIGNING_KEY=True makes this an error)")
            _key = secrets.token_bytes(32)
        return _key


# ---- pickling ------------------------------------------------------------------------------
def _model_state(db, adding, fields_cache):
    from dorm.models.base import ModelState

    return ModelState(db, adding, fields_cache or None)


def _model_by_label(label):
    from dorm.models.options import registry

    return registry.by_label[label]


def _instance(cls, state):
    obj = cls.__new__(cls)
    obj.__dict__ = state
    return obj


def _named_row(name, fields):
    return namedtuple(name, fields, rename=True)


def _importable(cls) -> bool:
    module = sys.modules.get(cls.__module__)
    return module is not None and getattr(module, cls.__qualname__, None) is cls


class _Pickler(pickle.Pickler):
    """Model classes by label (once per payload), instances as their ``__dict__`` (no
    per-row registry lookup, the lazy row state left lazy), ``ModelState`` with its
    ``fields_cache``, and non-importable namedtuple classes by name and fields."""

    def reducer_override(self, obj):
        from dorm.models.base import ModelBase, ModelState

        cls = type(obj)
        if isinstance(cls, ModelBase):
            return _instance, (cls, obj.__dict__)
        if isinstance(obj, ModelBase):
            return _model_by_label, (obj._meta.label_lower,)
        if cls is ModelState:
            return _model_state, (obj.db, obj.adding, obj._fc)
        if (isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")
                and not _importable(obj)):
            return _named_row, (obj.__name__, obj._fields)
        return NotImplemented


def _mac(key: bytes, cache_key: str, body: bytes) -> bytes:
    return hmac.new(key, cache_key.encode() + b"\0" + body, hashlib.sha256).digest()


def dumps(value, cache_key: str) -> bytes:
    """Pickle and sign ``value`` for storage under ``cache_key`` (may raise
    ``pickle.PicklingError`` and friends for values that cannot be pickled)."""
    buf = io.BytesIO()
    _Pickler(buf, pickle.HIGHEST_PROTOCOL).dump(value)
    body = buf.getvalue()
    return MAGIC + _mac(signing_key(), cache_key, body) + body


def loads(payload, cache_key: str):
    """The value stored by ``dumps`` under ``cache_key``, or ``MISS``."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        return MISS
    payload = bytes(payload)
    head = len(MAGIC) + MAC_SIZE
    if len(payload) <= head or not payload.startswith(MAGIC):
        return MISS
    body = payload[head:]
    if not settings.CACHE_INSECURE_PICKLE:
        expected = _mac(signing_key(), cache_key, body)
        if not hmac.compare_digest(expected, payload[len(MAGIC):head]):
            return MISS
    try:
        return pickle.loads(body)
    except Exception:  # noqa: BLE001 - a payload that no longer loads is a miss
        logger.debug("cache entry %s did not unpickle; treated as a miss", cache_key, exc_info=True)
        return MISS
