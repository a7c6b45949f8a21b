"""Generate seeded synthetic metrics for benchmarks.

    python benchmarks/generate.py --targets 100 --symbols 10000 --seed 0 \
        --shape both --format parquet --out /tmp/bench_1m

Writes ``OUT/routing_candidates/`` (a candidates file) and/or ``OUT/raw_metrics/`` (raw metrics) with
``targets * (symbols + 1)`` candidate rows (one cross-sectional row per target), through
``foxwarehouse.synthetic.generate``; prints the files, their row counts and the time taken.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate seeded synthetic routing metrics.")
    parser.add_argument("--targets", type=int, required=True, help="number of targets (>= 1)")
    parser.add_argument("--symbols", type=int, required=True, help="symbols per target (>= 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--shape", choices=("both", "candidates", "raw"), default="both",
                        help="candidates: one routing_candidates file, raw: a raw-metrics directory, or both (default: both)")
    parser.add_argument("--format", dest="fmt", choices=("parquet", "csv"), default="parquet",
                        help="file format (default: parquet)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    if args.targets < 1 or args.symbols < 0:
        parser.error("--targets must be >= 1 and --symbols >= 0")
    try:
        from foxwarehouse.synthetic import generate
    except ImportError:  # running from a source checkout without an install
        sys.path.insert(0, str(ROOT))
        from foxwarehouse.synthetic import generate

    started = time.perf_counter()
    result = generate(args.out, args.targets, args.symbols, seed=args.seed, shape=args.shape,
                      fmt=args.fmt)
    elapsed = time.perf_counter() - started
    for name, path in result["files"].items():
        size = Path(path).stat().st_size / 1e6
        print(f"{result['rows'][name]:>12,} rows  {size:9.1f} MB  {path}")
    print(f"generated {args.targets} targets x {args.symbols} symbols (seed {args.seed}, "
          f"shape {args.shape}, {args.fmt}) in {elapsed:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
