"""Peers: one module per ORM (or raw driver) being measured.

A peer module defines ``PEER``, an instance of a :class:`bench.peers.base.Peer`
subclass. Add a peer (Django, SQLAlchemy, peewee, djanorm) by adding a module here
and its name to ``PEER_MODULES``; it runs in the same process, on the same kind of
database file, with the same rows.
"""
from __future__ import annotations

import importlib

#: name -> module, in the order peers run and are printed. "raw" is the baseline.
PEER_MODULES = {
    "raw": "bench.peers.raw_sqlite",
    "dorm": "bench.peers.dorm_peer",
}


#: backend -> {peer name: module} replacing ``PEER_MODULES`` on that backend (the raw
#: baseline is the backend's own driver).
BACKEND_PEER_MODULES = {
    "postgres": {"raw": "bench.peers.raw_psycopg"},
    "duckdb": {"raw": "bench.peers.raw_duckdb"},
}


def load(name: str, backend: str | None = None):
    module = BACKEND_PEER_MODULES.get(backend or "", {}).get(name, PEER_MODULES[name])
    return importlib.import_module(module).PEER
