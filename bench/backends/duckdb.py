"""DuckDB on a file: the embedded analytics backend (``dorm-duckdb``).

Every peer gets its own fresh database file (DuckDB's defaults: WAL, checkpoint on
close). Used by ``bench/run.py --backends duckdb`` (the standard scenarios, raw
baseline ``bench.peers.raw_duckdb``) and by ``bench/duckdb_analytics.py``
(1,000,000-row ingest and analytic queries against raw ``duckdb``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

name = "duckdb"


def unavailable() -> str | None:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return "the duckdb package is not installed (pip install dorm-duckdb)"
    try:
        import dorm_duckdb  # noqa: F401
    except ImportError:
        return "dorm-duckdb is not installed"
    return None


def info() -> dict:
    import duckdb

    return {"duckdb_version": duckdb.__version__}


def describe(cfg) -> str:
    """The table header's description of this backend."""
    return f" DuckDB {info()['duckdb_version']}, file DB;"


@dataclass
class Env:
    """One peer's database: a fresh DuckDB file."""

    path: Path
    vendor: str = "duckdb"
    notes: list[str] = field(default_factory=list)

    def raw_connect(self):
        import duckdb

        return duckdb.connect(str(self.path))

    def dorm_databases(self) -> dict:
        return {"default": {"ENGINE": "duckdb", "NAME": str(self.path)}}


def make_env(workdir: Path, peer_name: str, cfg) -> Env:
    path = workdir / f"{peer_name}.duckdb"
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Env(path=path)
