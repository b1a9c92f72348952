#!/usr/bin/env python3
"""dorm vs raw psycopg on PostgreSQL, paired: the issue's three targets.

    .venv/bin/python bench/pg_ratios.py                 # get, bulk_create, aget
    .venv/bin/python bench/pg_ratios.py --pairs 21 --scenarios get

``bench/run.py --backends postgres`` runs every scenario for the raw peer, then for
dorm; on a shared, busy machine the load changes between the two and the ratio with
it. Here both peers are set up side by side and each scenario alternates raw and dorm
run by run (ABBA order), so every pair sees the same load; the ratio reported is the
median of the per-pair ratios (and the ratio of the best runs, for reference).
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.backends import postgres as backend
from bench.peers import load
from bench.run import Config
from bench.scenarios import BY_NAME


def timed(peer, scenario, cfg) -> float:
    if scenario.state == "empty":
        peer.clear()
    gc.collect()
    t0 = time.perf_counter()
    getattr(peer, f"op_{scenario.name}")()
    return (time.perf_counter() - t0) / scenario.units(cfg) * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", default="get,bulk_create,aget")
    p.add_argument("--pairs", type=int, default=15)
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--ops", type=int, default=1_000)
    args = p.parse_args(argv)
    reason = backend.unavailable()
    if reason:
        print(f"skipped: {reason}")
        return 0
    cfg = Config(rows=args.rows, ops=args.ops)
    workdir = Path(tempfile.mkdtemp(prefix="dorm-bench-pg-"))
    peers = {name: load(name, "postgres") for name in ("raw", "dorm")}
    cfgs = {}
    for name, peer in peers.items():
        peer_cfg = dataclasses.replace(cfg, pks=[])
        peer.setup(backend.make_env(workdir, name, peer_cfg), peer_cfg)
        cfgs[name] = peer_cfg
    print(f"PostgreSQL {backend.info()['server_version']}, rows={cfg.rows} ops={cfg.ops}, "
          f"{args.pairs} interleaved pairs per scenario, µs per op/row")
    print(f"{'scenario':16s} {'raw':>8s} {'dorm':>8s} {'ratio (median of pairs)':>24s} "
          f"{'ratio (best/best)':>18s} {'target':>7s}")
    code = 0
    try:
        for name in args.scenarios.split(","):
            scenario = BY_NAME[name]
            for peer_name, peer in peers.items():
                if scenario.state == "populated":
                    peer.populate(cfg.rows)
                    pks = sorted(peer.all_pks())
                    rng = random.Random(cfg.seed)
                    cfgs[peer_name].pks[:] = [pks[rng.randrange(len(pks))] for _ in range(cfg.ops)]
                timed(peer, scenario, cfgs[peer_name])          # warm-up
            samples = {"raw": [], "dorm": []}
            for i in range(args.pairs):
                order = ("raw", "dorm") if i % 2 == 0 else ("dorm", "raw")
                for peer_name in order:
                    samples[peer_name].append(timed(peers[peer_name], scenario, cfgs[peer_name]))
            ratios = [d / r for d, r in zip(samples["dorm"], samples["raw"], strict=True)]
            ratio = statistics.median(ratios)
            best = min(samples["dorm"]) / min(samples["raw"])
            target = backend.TARGETS.get(name, scenario.target)
            ok = ratio <= target
            code |= 0 if ok else 1
            print(f"{scenario.title:16s} {statistics.median(samples['raw']):8.1f} "
                  f"{statistics.median(samples['dorm']):8.1f} {ratio:23.2f}x {best:17.2f}x "
                  f"{'≤' + format(target, 'g') + 'x':>7s} {'ok' if ok else 'MISSED'}")
    finally:
        for peer in peers.values():
            peer.teardown()
        workdir.rmdir()
    return code


if __name__ == "__main__":
    sys.exit(main())
