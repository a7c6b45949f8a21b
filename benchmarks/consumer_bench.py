#!/usr/bin/env python3
"""Benchmark the trainer side: load a plan of N jobs and answer should_train for every job.

    python benchmarks/consumer_bench.py --jobs 1000000

Writes a synthetic, schema-valid master_training_plan.json to a temp folder, then, each in a fresh
process of its own (so that each peak RSS is its own), measures ``json.load`` of the file (the
floor: parsing alone) and ``load_plan`` (parse + duplicate keys + schema + consistency + indexing),
and in the load_plan process one should_train call per job (with and without a family). Prints
wall times, peak RSS and the ratios load_plan / json.load; ``--repeat N`` keeps the best of N
(alternating the two, as the machine may be shared).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUTES = [("ROUTE_BOTH", 3), ("ROUTE_SYMBOL_SPECIFIC", 2), ("ROUTE_EXPERIMENTAL_ONLY", 1)]


def write_plan(path: Path, n_jobs: int, symbols_per_target: int = 10_000) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"metadata": ' + json.dumps({
            "schema_version": "1.0", "run_id": "bench", "generated_at": "2026-01-01T00:00:00Z",
            "git_commit": None, "config_hash": "0" * 64, "input_fingerprint": "0" * 64,
            "plan_fingerprint": "0" * 64, "metrics_snapshot": "routing_candidates.parquet",
            "routing_plan_path": "routing_plan/routing_plan.json", "total_jobs": n_jobs,
            "model_families": ["lightgbm", "xgboost"]}) + ', "jobs": [\n')
        for i in range(n_jobs):
            target, symbol = f"fwd_ret_15m_t{i // symbols_per_target:03d}", f"SYM{i % symbols_per_target:05d}"
            route, priority = ROUTES[i % 3]
            job = {"job_id": f"sym_{target}_{symbol}", "target": target, "symbol": symbol, "route": route,
                   "training_type": "symbol_specific", "model_families": ["lightgbm", "xgboost"],
                   "priority": priority, "estimated_samples": 1000 + i % 5000, "reason": "benchmark job",
                   "metadata": {"needs_cs_ensemble": route == "ROUTE_BOTH", "cs_state": "STRONG",
                                "local_state": "STRONG"}}
            fh.write(("," if i else "") + json.dumps(job) + "\n")
        fh.write('], "summary": {"by_route": {}, "by_type": {}, "by_priority": {}, "total_cs_jobs": 0, '
                 f'"total_symbol_jobs": {n_jobs}, "total_blocked": 0, "skipped_no_families": 0}}}}\n')


def child(kind: str, path: str) -> int:
    """One measurement in this (fresh) process; prints its figures as one JSON line."""
    import gc

    out: dict = {}
    t0 = time.perf_counter()
    if kind == "json":
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        t1 = time.perf_counter()
        gc.collect()
        out.update(seconds=t1 - t0, gc_after=time.perf_counter() - t1, jobs=len(doc["jobs"]))
    else:
        from foxwarehouse.consumer import load_plan

        plan = load_plan(path)
        t1 = time.perf_counter()
        gc.collect()  # what a later collection costs is part of loading, not of the next step
        t2 = time.perf_counter()
        out.update(seconds=t1 - t0, gc_after=t2 - t1, jobs=len(plan))
        pairs = [(j["target"], j["symbol"]) for j in plan.document["jobs"]]
        should_train = plan.should_train
        t3 = time.perf_counter()
        answered = sum(should_train(t, s) for t, s in pairs)
        answered += sum(should_train(t, s, "xgboost") for t, s in pairs)
        t4 = time.perf_counter()
        out.update(calls=2 * len(pairs), call_seconds=t4 - t3, all_true=answered == 2 * len(pairs))
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    return 0


def run_child(kind: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="keep the best of N runs of each (default 1)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "master_training_plan.json"
        write_plan(path, args.jobs)
        size_mb = path.stat().st_size / 1e6
        runs: dict[str, list[dict]] = {"json": [], "load": []}
        for _ in range(max(1, args.repeat)):
            for kind in ("json", "load"):
                runs[kind].append(run_child(kind, path))
    base = min(runs["json"], key=lambda r: r["seconds"] + r["gc_after"])
    load = min(runs["load"], key=lambda r: r["seconds"] + r["gc_after"])
    base_rss = min(r["peak_mb"] for r in runs["json"])
    load_rss = min(r["peak_mb"] for r in runs["load"])
    load_s = load["seconds"] + load["gc_after"]
    base_s = base["seconds"] + base["gc_after"]
    print(f"plan: {args.jobs:,} jobs, {size_mb:.0f} MB (best of {max(1, args.repeat)}, each in its own process)")
    print(f"{'':<36} {'seconds':>8} {'peak RSS':>10}")
    print(f"{'json.load (the floor)':<36} {base_s:>8.2f} {base_rss:>7,.0f} MB")
    print(f"{'load_plan (parse+validate+index)':<36} {load_s:>8.2f} {load_rss:>7,.0f} MB"
          f"   = {load_s / base_s:.2f}x time, {load_rss / base_rss:.2f}x RSS of json.load")
    print(f"{'  each incl. a gc.collect() after it':<36} {base['gc_after']:>8.2f} (json.load), "
          f"{load['gc_after']:.2f} (load_plan)")
    print(f"{'should_train x ' + format(load['calls'], ','):<36} {load['call_seconds']:>8.2f}"
          f"   ({load['calls'] / max(load['call_seconds'], 1e-9):,.0f} calls/s); all answered True: {load['all_true']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
