"""SQLite on a file in WAL mode: the embedded backend every peer can use."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

name = "sqlite"


def unavailable() -> str | None:
    return None


def info() -> dict:
    return {"sqlite_version": sqlite3.sqlite_version}


@dataclass
class Env:
    """One peer's database: a fresh file, switched to WAL before the peer opens it."""

    path: Path
    synchronous: str
    vendor: str = "sqlite"
    notes: list[str] = field(default_factory=list)

    def pragmas(self) -> list[str]:
        return [f"PRAGMA synchronous={self.synchronous}"]

    def raw_connect(self) -> sqlite3.Connection:
        """An autocommit sqlite3 connection with the shared pragmas."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in self.pragmas():
            conn.execute(pragma)
        return conn

    def dorm_databases(self) -> dict:
        return {"default": {"ENGINE": "sqlite", "NAME": str(self.path)}}


def make_env(workdir: Path, peer_name: str, cfg) -> Env:
    path = workdir / f"{peer_name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]  # persistent in the file
    conn.close()
    if mode.lower() != "wal":
        raise RuntimeError(f"could not switch {path} to WAL (got {mode!r})")
    return Env(path=path, synchronous=cfg.synchronous)
