#!/usr/bin/env python3
"""A small trainer loop on top of foxwarehouse: plan in-process, then train what the plan says.

    python examples/trainer.py METRICS/training_plan                 # use the exported plan
    python examples/trainer.py METRICS/training_plan --metrics DIR   # plan first (non-blocking)

The trainer's universe is every target and symbol the metrics mention (read from the routing plan);
the training plan decides which of them are trained and with which model families. Nothing is
trained here: each job is printed as a line `train <type> <target> [<symbol>] families=<...>`.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import foxwarehouse
from foxwarehouse.consumer import load_plan

ALL_FAMILIES = ["lightgbm", "xgboost", "catboost", "mlp"]  # what this trainer knows how to train


def universe(plan_dir: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Targets and symbols the metrics mention, from the routing plan next to the training plan."""
    routing = plan_dir.parent / "routing_plan" / "routing_plan.json"
    if not routing.exists():
        return [], {}
    targets = json.loads(routing.read_text(encoding="utf-8"))["targets"]
    return list(targets), {t: list(entry["symbols"]) for t, entry in targets.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan_dir", type=Path, help="the training_plan folder (e.g. METRICS/training_plan)")
    parser.add_argument("--metrics", help="plan these metrics first, in-process and non-blocking")
    parser.add_argument("--db", default="foxwarehouse.duckdb")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    if args.metrics:
        result = foxwarehouse.plan(metrics=args.metrics, db=args.db, out=args.plan_dir.parent, non_blocking=True)
        if not result.fresh:
            print("planning skipped: training from the plan on disk" + (" (stale)" if result.stale_plan_path else ""))

    plan = load_plan(args.plan_dir)
    targets, symbols_by_target = universe(args.plan_dir)

    # One loop over every job of both training types: symbol None is a target's cross-sectional
    # job. (filter_targets() alone would keep only targets with a cross-sectional job.)
    for target, symbol in plan.pairs_to_train(plan.targets_to_train(targets), symbols_by_target):
        families = [f for f in ALL_FAMILIES if plan.should_train(target, symbol, f)]
        if symbol is None:
            print(f"train cross_sectional {target} families={','.join(families)}")
        else:
            print(f"train symbol_specific {target} {symbol} families={','.join(families)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
