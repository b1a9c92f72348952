#!/usr/bin/env python3
"""Benchmark dorm against raw drivers (and, later, other ORMs) in one run.

    make bench                              # everything, default sizes
    make bench BENCH_ARGS="--quick"         # smaller, faster run
    python bench/run.py --scenarios get,count --repeat 9 --stat median

Each peer gets its own fresh database file (WAL mode, same ``synchronous``
setting), the same rows and the same primary keys to look up. Every scenario is
run ``--warmup`` times untimed, then ``--repeat`` times; the table shows the best
(or median) time per unit in µs, the ratio to the raw baseline and dorm's target.
Results go to ``bench/results/<time>-<backend>.json`` (gitignored).
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import platform
import random
import statistics
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` from anywhere
    sys.path.insert(0, str(ROOT))

from bench import backends as backend_registry
from bench import peers as peer_registry
from bench.scenarios import BY_NAME, SCENARIOS

RESULTS_DIR = ROOT / "bench" / "results"
BASELINE = "raw"


@dataclasses.dataclass
class Config:
    rows: int = 10_000  # bulk_create size and table size for the read scenarios
    ops: int = 1_000  # create / get / update calls per timed run
    count_ops: int = 200  # count() calls per timed run
    list_ops: int = 100  # list(qs[:limit]) calls per timed run
    related_ops: int = 20  # select_related fetches of RELATED_ROWS rows per timed run
    list_limit: int = 100
    repeat: int = 5
    warmup: int = 1
    synchronous: str = "NORMAL"
    seed: int = 20240501
    pks: list[int] = dataclasses.field(default_factory=list)

    def public(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("pks")
        return out


# -- running -------------------------------------------------------------------------


def time_scenario(peer, scenario, cfg: Config) -> dict:
    op = getattr(peer, f"op_{scenario.name}")
    units = scenario.units(cfg)
    samples = []
    for i in range(cfg.warmup + cfg.repeat):
        if scenario.state == "empty":
            peer.clear()
        gc.collect()
        t0 = time.perf_counter()
        op()
        elapsed = time.perf_counter() - t0
        if i >= cfg.warmup:
            samples.append(elapsed / units * 1e6)
    return {
        "best_us": min(samples),
        "median_us": statistics.median(samples),
        "units": units,
        "unit": scenario.unit,
        "samples_us": samples,
    }


def all_pks(peer) -> list[int]:
    return sorted(peer.all_pks())


def run_peer(peer, backend, workdir: Path, cfg: Config, scenarios, log) -> dict:
    result: dict = {"label": peer.label, "scenarios": {}}
    reason = peer.unavailable()
    if reason:
        result["unavailable"] = reason
        log(f"  {peer.name}: skipped ({reason})")
        return result
    env = backend.make_env(workdir, peer.name, cfg)
    cfg = dataclasses.replace(cfg, pks=[])
    try:
        peer.setup(env, cfg)
    except Exception as exc:  # noqa: BLE001 - reported in the table, others still run
        result["unavailable"] = f"set-up failed: {exc!r}"
        log(f"  {peer.name}: set-up failed\n{traceback.format_exc()}")
        return result
    try:
        populated = False
        for scenario in scenarios:
            if not peer.supports(scenario.name):
                continue
            try:
                if scenario.state == "populated" and not populated:
                    peer.populate(cfg.rows)
                    pks = all_pks(peer)
                    rng = random.Random(cfg.seed)
                    cfg.pks[:] = [pks[rng.randrange(len(pks))] for _ in range(cfg.ops)]
                    populated = True
                log(f"  {peer.name}: {scenario.title} ...")
                result["scenarios"][scenario.name] = time_scenario(peer, scenario, cfg)
            except Exception as exc:  # noqa: BLE001 - one failing scenario is a cell
                result["scenarios"][scenario.name] = {"error": repr(exc)}
                log(f"  {peer.name}: {scenario.title} failed\n{traceback.format_exc()}")
                populated = False  # state unknown: rebuild before the next read
        result["info"] = peer.info()
    finally:
        peer.teardown()
    return result


# -- reporting -----------------------------------------------------------------------


def fmt_us(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def build_rows(results: dict, scenarios, stat: str, targets: dict | None = None) -> list[dict]:
    key = f"{stat}_us"
    rows = []
    for scenario in scenarios:
        target = (targets or {}).get(scenario.name, scenario.target)
        row = {"scenario": scenario.name, "title": scenario.title, "unit": scenario.unit,
               "target": target, "us": {}, "ratio": {}}
        base = results.get(BASELINE, {}).get("scenarios", {}).get(scenario.name, {})
        for peer_name, peer_result in results.items():
            cell = peer_result.get("scenarios", {}).get(scenario.name)
            value = cell.get(key) if cell else None
            row["us"][peer_name] = value
            if peer_name != BASELINE and value is not None and base.get(key):
                row["ratio"][peer_name] = value / base[key]
        ratio = row["ratio"].get("dorm")
        row["meets_target"] = None if ratio is None or target is None else ratio <= target
        rows.append(row)
    return rows


def print_table(rows: list[dict], peer_names: list[str], header: str) -> None:
    others = [p for p in peer_names if p != BASELINE]
    cols = (["scenario", "per"] + [f"{p} µs" for p in peer_names]
            + [f"{p}/{BASELINE}" for p in others if BASELINE in peer_names]
            + ["target", ""])
    table = []
    for row in rows:
        line = [row["title"], row["unit"]]
        line += [fmt_us(row["us"].get(p)) for p in peer_names]
        if BASELINE in peer_names:
            line += [f"{row['ratio'][p]:.2f}x" if p in row["ratio"] else "-" for p in others]
        line.append(f"≤{row['target']:g}x" if row["target"] else "")
        verdict = {True: "ok", False: "MISSED", None: ""}[row["meets_target"]]
        line.append(verdict)
        table.append(line)
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *table, strict=False)]
    print(header)
    print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(cols, widths, strict=False))))
    print("  ".join("-" * w for w in widths))
    for line in table:
        print("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(line, widths, strict=False))))


# -- command line --------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description="dorm benchmarks (numbers, not tests)")
    p.add_argument("--backends", default="sqlite",
                   help="comma-separated: " + ", ".join(backend_registry.BACKEND_MODULES))
    p.add_argument("--peers", default=",".join(peer_registry.PEER_MODULES),
                   help="comma-separated: " + ", ".join(peer_registry.PEER_MODULES))
    p.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS),
                   help="comma-separated: " + ", ".join(s.name for s in SCENARIOS))
    p.add_argument("--rows", type=int, default=Config.rows)
    p.add_argument("--ops", type=int, default=Config.ops)
    p.add_argument("--repeat", type=int, default=Config.repeat)
    p.add_argument("--warmup", type=int, default=Config.warmup)
    p.add_argument("--quick", action="store_true",
                   help="small sizes (rows=2000, ops=200, repeat=3) for a fast look")
    p.add_argument("--stat", choices=("best", "median"), default="best")
    p.add_argument("--synchronous", default=Config.synchronous,
                   choices=("OFF", "NORMAL", "FULL", "EXTRA"),
                   help="SQLite PRAGMA synchronous for every peer (default NORMAL)")
    p.add_argument("--json", dest="json_path", help="write results here instead of "
                   "bench/results/<time>-<backend>.json")
    p.add_argument("--no-json", action="store_true", help="do not write results")
    p.add_argument("--check", action="store_true",
                   help="exit 1 if dorm misses a target or could not run")
    p.add_argument("--keep", action="store_true", help="keep the database files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)

    def names(value, known, what):
        chosen = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in chosen if n not in known]
        if unknown:
            p.error(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
        return chosen

    args.backends = names(args.backends, backend_registry.BACKEND_MODULES, "backend")
    args.peers = names(args.peers, peer_registry.PEER_MODULES, "peer")
    args.scenarios = names(args.scenarios, BY_NAME, "scenario")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config(rows=args.rows, ops=args.ops, repeat=args.repeat, warmup=args.warmup,
                 synchronous=args.synchronous)
    if args.quick:
        cfg = dataclasses.replace(cfg, rows=2_000, ops=200, count_ops=50, list_ops=30, related_ops=5,
                                  repeat=3)
    scenarios = [s for s in SCENARIOS if s.name in args.scenarios]

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    exit_code = 0
    for backend_name in args.backends:
        backend = backend_registry.load(backend_name)
        reason = backend.unavailable()
        if reason:
            print(f"backend {backend_name}: skipped ({reason})")
            continue
        workdir = Path(tempfile.mkdtemp(prefix=f"dorm-bench-{backend_name}-"))
        log(f"backend {backend_name}: databases in {workdir}")
        results = {}
        for peer_name in args.peers:
            peer = peer_registry.load(peer_name, backend_name)
            results[peer_name] = run_peer(peer, backend, workdir, cfg, scenarios, log)
        if not args.keep:
            for f in workdir.iterdir():
                f.unlink()
            workdir.rmdir()

        rows = build_rows(results, scenarios, args.stat, getattr(backend, "TARGETS", None))
        if hasattr(backend, "describe"):
            setting = backend.describe(cfg)
        else:
            setting = (f" SQLite {backend.info().get('sqlite_version', '?')}, file DB in WAL mode,"
                       f" synchronous={cfg.synchronous};")
        header = (
            f"\n{backend_name}: {platform.python_implementation()} {platform.python_version()},"
            f"{setting} rows={cfg.rows} ops={cfg.ops};"
            f" {args.stat} of {cfg.repeat} runs, µs per op/row"
        )
        print_table(rows, args.peers, header)
        for name, res in results.items():
            if res.get("unavailable"):
                print(f"  {name}: {res['unavailable']}")

        if not args.no_json:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            path = Path(args.json_path) if args.json_path else (
                RESULTS_DIR / f"{stamp}-{backend_name}.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            document = {
                "created": stamp,
                "backend": backend_name,
                "backend_info": backend.info(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "config": cfg.public(),
                "stat": args.stat,
                "peers": results,
                "summary": rows,
            }
            path.write_text(json.dumps(document, indent=2, default=str) + "\n")
            print(f"\nresults: {path}")

        if args.check:
            dorm_ran = "dorm" in results and not results["dorm"].get("unavailable")
            missed = [r["title"] for r in rows if r["meets_target"] is False]
            if not dorm_ran or missed:
                exit_code = 1
                print("check failed: " + (", ".join(missed) if missed else "dorm did not run"))
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
