"""Deterministic placement of shard keys: ``shard_for`` and friends.

A key is turned into a 64-bit number with keyed BLAKE2b (never Python's ``hash()``,
which is randomised per process)::

    h = int.from_bytes(blake2b(str(key).encode("utf-8"), key=salt, digest_size=8).digest(), "big")

then into a shard index with one of two algorithms:

* ``"jump"`` (default) – Lamping & Veach's *jump consistent hash*. Growing from N to
  N+1 shards moves only the keys that land on the new shard (about 1/(N+1) of them);
  shrinking moves only the keys of the removed last shard. Integer and IEEE-754
  double arithmetic only, so the answer is the same in every process, on every
  platform and Python version.
* ``"modulo"`` – ``h % num_shards``: the placement of the djanorm 4.0 reference
  (``algorithm="modulo"`` reads data placed by it). Changing the shard count moves
  most keys (4 → 5 moves about 4/5 of them).

The key is normalised with ``str()``: ``5`` and ``"5"`` go to the same shard, a
``UUID`` goes where its canonical text goes.
"""
from __future__ import annotations

from hashlib import blake2b

DEFAULT_SALT = b"dorm-shard"
ALGORITHMS = ("jump", "modulo")

_MASK64 = (1 << 64) - 1
_JUMP_MULTIPLIER = 2862933555777941757


def _salt_bytes(salt) -> bytes:
    if isinstance(salt, str):
        salt = salt.encode("utf-8")
    if not isinstance(salt, (bytes, bytearray)):
        raise TypeError(f"salt must be bytes or str, got {type(salt).__name__}")
    if len(salt) > 64:
        raise ValueError(f"salt must be at most 64 bytes (a BLAKE2b key), got {len(salt)}")
    return bytes(salt)


def key_hash(key, salt=DEFAULT_SALT) -> int:
    """The 64-bit keyed BLAKE2b hash of ``str(key)`` (big-endian)."""
    if key is None:
        raise ValueError("shard key must not be None")
    digest = blake2b(str(key).encode("utf-8"), key=_salt_bytes(salt), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def jump_consistent_hash(key64: int, num_buckets: int) -> int:
    """Jump consistent hash (Lamping & Veach 2014) of a 64-bit key into
    ``range(num_buckets)``."""
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be >= 1, got {num_buckets}")
    key = key64 & _MASK64
    b, j = -1, 0
    while j < num_buckets:
        b = j
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def _check_count(num_shards) -> int:
    if isinstance(num_shards, bool) or not isinstance(num_shards, int):
        raise TypeError(f"num_shards must be an int, got {type(num_shards).__name__}")
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    return num_shards


def check_algorithm(algorithm: str) -> str:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown placement algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    return algorithm


def shard_index(key, num_shards: int, *, salt=DEFAULT_SALT, algorithm: str = "jump") -> int:
    """The shard number (``0 .. num_shards-1``) of ``key``."""
    _check_count(num_shards)
    check_algorithm(algorithm)
    h = key_hash(key, salt)
    if algorithm == "modulo":
        return h % num_shards
    return jump_consistent_hash(h, num_shards)


def default_aliases(num_shards: int) -> list[str]:
    """``["shard_0", ..., "shard_{N-1}"]``."""
    return [f"shard_{i}" for i in range(_check_count(num_shards))]


def check_aliases(aliases, num_shards: int) -> list[str]:
    """``aliases`` as a list of ``num_shards`` distinct non-empty strings (or the
    default names when ``aliases`` is None)."""
    _check_count(num_shards)
    if aliases is None:
        return default_aliases(num_shards)
    if isinstance(aliases, str):
        raise TypeError("aliases must be a list of alias names, not a string")
    aliases = list(aliases)
    if len(aliases) != num_shards:
        raise ValueError(f"aliases has {len(aliases)} entries but num_shards is {num_shards}")
    for alias in aliases:
        if not isinstance(alias, str) or not alias:
            raise ValueError(f"shard aliases must be non-empty strings, got {alias!r}")
    if len(set(aliases)) != len(aliases):
        raise ValueError(f"shard aliases must be distinct, got {aliases!r}")
    return aliases


def shard_for(key, num_shards: int, *, aliases=None, salt=DEFAULT_SALT, algorithm: str = "jump") -> str:
    """The alias of the shard holding ``key``: ``aliases[i]`` or ``f"shard_{i}"``.

    ``num_shards < 1``, ``len(aliases) != num_shards`` and ``key is None`` raise
    ``ValueError``. Deterministic across processes, platforms and Python versions.
    """
    names = check_aliases(aliases, num_shards)
    return names[shard_index(key, num_shards, salt=salt, algorithm=algorithm)]


__all__ = ["ALGORITHMS", "DEFAULT_SALT", "check_aliases", "default_aliases", "jump_consistent_hash",
           "key_hash", "shard_for", "shard_index"]
