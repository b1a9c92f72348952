"""Placement: keyed BLAKE2b + jump consistent hash (or modulo), stable everywhere."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from dorm_sharding.placement import (
    DEFAULT_SALT,
    default_aliases,
    jump_consistent_hash,
    key_hash,
    shard_for,
    shard_index,
)

# Checked-in placements. If one of these changes, rows already stored on shards would
# no longer be found: never "fix" this table, fix the code.
FIXED_JUMP_4 = {
    0: "shard_1", 1: "shard_1", 2: "shard_1", 7: "shard_0", 42: "shard_3", 1000: "shard_1",
    "alice": "shard_1", "bob": "shard_1", "user:17": "shard_0", "tenant-eu-1": "shard_3",
    "12345678-1234-5678-1234-567812345678": "shard_0", "": "shard_1", "ü": "shard_1",
}
# 4 -> 5 shards: only keys landing on the new shard_4 moved
FIXED_JUMP_5 = {
    0: "shard_4", 1: "shard_1", 2: "shard_1", 7: "shard_0", 42: "shard_4", 1000: "shard_1",
    "alice": "shard_1", "bob": "shard_1", "user:17": "shard_0", "tenant-eu-1": "shard_3",
    "12345678-1234-5678-1234-567812345678": "shard_4", "": "shard_1", "ü": "shard_1",
}
# the djanorm 4.0 reference placement: blake2b(...) % N
FIXED_MODULO_4 = {
    0: "shard_3", 1: "shard_0", 2: "shard_1", 7: "shard_2", 42: "shard_3", 1000: "shard_2",
    "alice": "shard_0", "bob": "shard_2", "user:17": "shard_3", "tenant-eu-1": "shard_0",
    "12345678-1234-5678-1234-567812345678": "shard_3", "": "shard_2", "ü": "shard_1",
}
FIXED_HASHES = {0: 0x086B88B25B1C2007, "alice": 0xE08D5CF891649420}


def test_fixed_table_jump():
    assert {k: shard_for(k, 4) for k in FIXED_JUMP_4} == FIXED_JUMP_4
    assert {k: shard_for(k, 5) for k in FIXED_JUMP_5} == FIXED_JUMP_5


def test_fixed_table_modulo():
    assert {k: shard_for(k, 4, algorithm="modulo") for k in FIXED_MODULO_4} == FIXED_MODULO_4


def test_fixed_hashes_and_jump_vectors():
    # keyed BLAKE2b-64 (big-endian) of str(key), as the spec writes it
    for key, value in FIXED_HASHES.items():
        assert key_hash(key) == value
        digest = hashlib.blake2b(str(key).encode(), key=b"dorm-shard", digest_size=8).digest()
        assert int.from_bytes(digest, "big") == value
        assert shard_for(key, 4, algorithm="modulo") == f"shard_{value % 4}"
    assert key_hash(42) == key_hash("42")
    assert key_hash("x", salt=b"other") != key_hash("x")
    # jump consistent hash: published vectors of the reference algorithm
    assert jump_consistent_hash(256, 1024) == 520
    assert jump_consistent_hash(1, 1) == 0
    assert jump_consistent_hash(42, 57) == 43
    assert jump_consistent_hash(3735883980, 666) == 361
    assert jump_consistent_hash(16045690984833335023, 255) == 237
    assert jump_consistent_hash(10863919174838991, 11) == 6
    assert jump_consistent_hash(2016238256797177309, 11) == 3


def test_same_placement_in_another_process():
    keys = [*FIXED_JUMP_4, *range(200)]
    code = (
        "import json, sys\n"
        "from dorm_sharding.placement import shard_for\n"
        "keys = json.loads(sys.argv[1])\n"
        "print(json.dumps([[shard_for(k, 4), shard_for(k, 7, algorithm='modulo'), shard_for(k, 5, salt=b's')]"
        " for k in keys]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(keys)], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "12345", "PATH": ""})
    theirs = json.loads(out.stdout)
    ours = [[shard_for(k, 4), shard_for(k, 7, algorithm="modulo"), shard_for(k, 5, salt=b"s")] for k in keys]
    assert theirs == ours


def test_key_normalised_with_str():
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert shard_for(u, 4) == shard_for(str(u), 4) == FIXED_JUMP_4[str(u)]
    assert shard_for(7, 4) == shard_for("7", 4)


def test_distribution_roughly_uniform():
    counts = Counter(shard_for(i, 8) for i in range(10_000))
    assert set(counts) == set(default_aliases(8))
    assert all(1_100 < c < 1_400 for c in counts.values()), counts
    counts = Counter(shard_for(f"user-{i}", 4, algorithm="modulo") for i in range(10_000))
    assert all(2_300 < c < 2_700 for c in counts.values()), counts


@pytest.mark.parametrize(("n", "m"), [(4, 5), (5, 6), (8, 10), (5, 4)])
def test_jump_moves_few_keys(n, m):
    keys = range(20_000)
    moved = [k for k in keys if shard_index(k, n) != shard_index(k, m)]
    expected = abs(m - n) / max(n, m)
    assert abs(len(moved) / 20_000 - expected) < 0.02
    if m > n:   # growing: keys only move to the new shards
        assert all(shard_index(k, m) >= n for k in moved)


def test_modulo_moves_most_keys():
    moved = sum(shard_index(k, 4, algorithm="modulo") != shard_index(k, 5, algorithm="modulo")
                for k in range(10_000))
    assert moved > 7_500


def test_custom_aliases_and_errors():
    assert shard_for("alice", 4, aliases=["a", "b", "c", "d"]) == ["a", "b", "c", "d"][int(FIXED_JUMP_4["alice"][-1])]
    with pytest.raises(ValueError, match="None"):
        shard_for(None, 4)
    with pytest.raises(ValueError, match="num_shards"):
        shard_for(1, 0)
    with pytest.raises(TypeError, match="num_shards"):
        shard_for(1, 2.0)
    with pytest.raises(ValueError, match="3 entries but num_shards is 4"):
        shard_for(1, 4, aliases=["a", "b", "c"])
    with pytest.raises(ValueError, match="distinct"):
        shard_for(1, 2, aliases=["a", "a"])
    with pytest.raises(ValueError, match="unknown placement algorithm"):
        shard_for(1, 2, algorithm="ring")
    with pytest.raises(ValueError, match="64 bytes"):
        shard_for(1, 2, salt=b"x" * 65)
    assert shard_for(1, 2, salt="text-salt") == shard_for(1, 2, salt=b"text-salt")
    assert DEFAULT_SALT == b"dorm-shard"


def test_public_import_path():
    from dorm.contrib.sharding import (  # noqa: F401 - the documented names
        HashShardRouter,
        afor_each_shard,
        for_each_shard,
        get_shard_key,
        sharded,
        with_shard_key,
    )
    from dorm.contrib.sharding import (
        shard_for as public_shard_for,
    )

    assert public_shard_for is shard_for
