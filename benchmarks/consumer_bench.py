#!/usr/bin/env python3
"""Benchmark the trainer side: load a plan of N jobs and answer should_train for every job.

    python benchmarks/consumer_bench.py --jobs 1000000

Writes a synthetic, schema-valid master_training_plan.json to a temp folder, then measures
load_plan (parse + schema validation + indexing) and one should_train call per job (with and
without a family), printing wall time and peak memory (RSS) of this process.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foxwarehouse.consumer import load_plan  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "master_training_plan.json"
        write_plan(path, args.jobs)
        size_mb = path.stat().st_size / 1e6
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        plan = load_plan(path)
        t1 = time.perf_counter()
        jobs = plan.jobs()
        t2 = time.perf_counter()
        answered = sum(plan.should_train(j["target"], j["symbol"]) for j in jobs)
        answered += sum(plan.should_train(j["target"], j["symbol"], "xgboost") for j in jobs)
        t3 = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"plan: {args.jobs:,} jobs, {size_mb:.0f} MB")
    print(f"{'stage':<32} {'seconds':>8}")
    print(f"{'load_plan (parse+validate+index)':<32} {t1 - t0:>8.2f}")
    print(f"{'jobs() copy':<32} {t2 - t1:>8.2f}")
    print(f"{'should_train x ' + format(2 * len(jobs), ','):<32} {t3 - t2:>8.2f}  "
          f"({2 * len(jobs) / max(t3 - t2, 1e-9):,.0f} calls/s)")
    print(f"peak RSS: {peak:,.0f} MB (before load: {rss_before:,.0f} MB); all answered True: {answered == 2 * len(jobs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
