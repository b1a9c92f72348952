#!/usr/bin/env python3
"""dorm on DuckDB against raw ``duckdb``: a million-row ingest and analytic queries.

    .venv/bin/python bench/duckdb_analytics.py                 # 1,000,000 rows
    .venv/bin/python bench/duckdb_analytics.py --rows 200000 --repeat 3
    .venv/bin/python bench/duckdb_analytics.py --check         # exit 1 if a target is missed

Each peer (``raw`` = the duckdb module with hand-written SQL, ``dorm`` = dorm's public
API) gets its own DuckDB file and the same rows (``bench.scenarios.make_row``).
Scenarios (run ``--warmup`` times untimed, then ``--repeat`` times; best or median):

| scenario | unit | dorm | raw |
|---|---|---|---|
| ``ingest``   | row | ``bulk_create`` of ROWS objects built inside the timing | lists per column, ``INSERT ... SELECT UNNEST(?)`` |
| ``group_by`` | op  | ``values("value").annotate(Count, Sum, Avg).order_by()`` (1,000 groups) | the same SQL |
| ``window``   | op  | ``annotate(Window(Sum, partition_by, order_by))[:10]`` over ROWS rows | the same SQL |
| ``scan``     | row | ``list(values_list(4 columns))`` of ROWS rows | ``fetchall()`` |

The ratio is dorm's time over raw's; the target is 1.5x. Results are printed and
written to ``bench/results/<time>-duckdb-analytics.json`` (gitignored).
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import platform
import statistics
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.backends import duckdb as backend
from bench.peers.dorm_duckdb import PEER as DORM
from bench.peers.raw_duckdb import PEER as RAW

RESULTS_DIR = ROOT / "bench" / "results"


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    unit: str        # "row" or "op"
    state: str       # "empty" (cleared before each run) or "populated"
    target: float


SCENARIOS = [
    Scenario("ingest", "bulk_create() ingest", "row", "empty", 1.5),
    Scenario("group_by", "group-by aggregate", "op", "populated", 1.5),
    Scenario("window", "window function", "op", "populated", 1.5),
    Scenario("scan", "values_list() scan", "row", "populated", 1.5),
]


@dataclasses.dataclass
class Config:
    rows: int = 1_000_000
    repeat: int = 3
    warmup: int = 1


def units(scenario: Scenario, cfg: Config) -> int:
    return cfg.rows if scenario.unit == "row" else 1


def _time(peer, scenario, state) -> float:
    if scenario.state == "empty":
        peer.clear()
        state[peer.name] = False
    elif not state.get(peer.name):
        peer.populate(state["rows"])
        state[peer.name] = True
    gc.collect()
    t0 = time.perf_counter()
    getattr(peer, f"op_{scenario.name}")()
    return time.perf_counter() - t0


def run(peers, workdir: Path, cfg: Config, scenarios, log) -> dict:
    """Both peers are set up side by side and the runs of a scenario alternate between
    them (raw, dorm, raw, dorm...), so a busy machine slows both alike."""
    results: dict = {}
    ready = []
    for peer in peers:
        results[peer.name] = {"label": peer.label, "scenarios": {}}
        reason = peer.unavailable()
        if reason:
            results[peer.name]["unavailable"] = reason
            continue
        peer.setup(backend.make_env(workdir, peer.name, cfg), cfg)
        ready.append(peer)
    state = {"rows": cfg.rows}
    try:
        for scenario in scenarios:
            log(f"  {scenario.title} ...")
            samples: dict = {p.name: [] for p in ready}
            failed = set()
            for i in range(cfg.warmup + cfg.repeat):
                for peer in ready:
                    if peer.name in failed:
                        continue
                    try:
                        elapsed = _time(peer, scenario, state)
                    except Exception as exc:  # noqa: BLE001 - one failing scenario is one cell
                        failed.add(peer.name)
                        state[peer.name] = False
                        results[peer.name]["scenarios"][scenario.name] = {"error": repr(exc)}
                        log(f"  {peer.name}: {scenario.title} failed\n{traceback.format_exc()}")
                        continue
                    if i >= cfg.warmup:
                        samples[peer.name].append(elapsed)
            n = units(scenario, cfg)
            for peer in ready:
                got = samples[peer.name]
                if peer.name in failed or not got:
                    continue
                results[peer.name]["scenarios"][scenario.name] = {
                    "best_s": min(got), "median_s": statistics.median(got),
                    "best_us_per_unit": min(got) / n * 1e6, "unit": scenario.unit,
                    "units": n, "samples_s": got,
                }
        for peer in ready:
            results[peer.name]["info"] = peer.info()
    finally:
        for peer in ready:
            peer.teardown()
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=Config.rows)
    p.add_argument("--repeat", type=int, default=Config.repeat)
    p.add_argument("--warmup", type=int, default=Config.warmup)
    p.add_argument("--stat", choices=("best", "median"), default="best")
    p.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    p.add_argument("--no-json", action="store_true")
    p.add_argument("--check", action="store_true", help="exit 1 when dorm misses a target")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    cfg = Config(rows=args.rows, repeat=args.repeat, warmup=args.warmup)
    wanted = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    scenarios = [s for s in SCENARIOS if s.name in wanted]

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    reason = backend.unavailable()
    if reason:
        print(f"duckdb: skipped ({reason})")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="dorm-bench-duckdb-"))
    try:
        results = run((RAW, DORM), workdir, cfg, scenarios, log)
    finally:
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()

    key = f"{args.stat}_s"
    rows = []
    print(f"\nduckdb {backend.info()['duckdb_version']}: {platform.python_implementation()} "
          f"{platform.python_version()}; rows={cfg.rows:,}; {args.stat} of {cfg.repeat} runs")
    header = f"{'scenario':24} {'raw s':>9} {'dorm s':>9} {'dorm/raw':>9} {'target':>7}"
    print(header)
    print("-" * len(header))
    missed = []
    for s in scenarios:
        raw = results["raw"]["scenarios"].get(s.name, {}).get(key)
        dorm = results["dorm"]["scenarios"].get(s.name, {}).get(key)
        ratio = dorm / raw if raw and dorm else None
        ok = ratio is not None and ratio <= s.target
        if not ok:
            missed.append(s.title)
        rows.append({"scenario": s.name, "raw_s": raw, "dorm_s": dorm, "ratio": ratio,
                     "target": s.target, "meets_target": ok})
        def fmt(v):
            return f"{v:9.3f}" if v is not None else f"{'n/a':>9}"

        print(f"{s.title:24} {fmt(raw)} {fmt(dorm)} "
              f"{(f'{ratio:8.2f}x' if ratio else '      n/a')} {f'≤{s.target:g}x':>7} "
              f"{'ok' if ok else 'MISSED'}")
    for name, res in results.items():
        if res.get("unavailable"):
            print(f"  {name}: {res['unavailable']}")
        for sname, cell in res.get("scenarios", {}).items():
            if "error" in cell:
                print(f"  {name} {sname}: {cell['error']}")
    if not args.no_json:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIR / f"{stamp}-duckdb-analytics.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "created": stamp, "backend": "duckdb", "backend_info": backend.info(),
            "python": platform.python_version(), "platform": platform.platform(),
            "config": dataclasses.asdict(cfg), "stat": args.stat, "peers": results,
            "summary": rows}, indent=2, default=str) + "\n")
        print(f"\nresults: {path}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
