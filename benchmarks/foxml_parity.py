#!/usr/bin/env python3
"""Agreement and wall time of FoxML's router and foxwarehouse on the same candidates.

    python benchmarks/foxml_parity.py --foxml PATH/TO/FoxML_Core [--targets 20] [--symbols 500]
                                      [--seeds 0,1,2] [--config CONFIG] [--keep DIR]

For each seed it generates synthetic routing candidates (foxwarehouse.synthetic), plans them with
foxwarehouse (``foxwarehouse.plan``, the SQL test gate skipped) and with FoxML's own
``TrainingRouter.generate_routing_plan`` and ``TrainingPlanGenerator.generate_training_plan``,
imported from the checkout in a separate Python process (nothing of FoxML is copied here; FoxML
needs its own dependencies: pandas, numpy, scikit-learn, joblib, ...). The candidates are handed
to FoxML in the layout its metrics aggregator writes: every row labelled with the run's view
(``CROSS_SECTIONAL``), the CS row first, the stability metrics as a ``stability_metrics`` struct,
null stability and leakage as ``UNKNOWN``.

It prints, per seed and in total, how many (target, symbol) pairs agree on the CS signal state,
the local signal state and the route; how many jobs both plans have, and of those how many have
the same priority and model families; and both wall times. The disagreements it finds are the
deliberate differences of docs/FOXML.md ("Routing: where foxwarehouse decides differently"); the
first few are listed with --show N. Exit code 2 without a usable --foxml.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Runs in FoxML's checkout (cwd and sys.path[0]); prints one JSON object. Calls FoxML's public
# classes only.
FOXML_DRIVER = textwrap.dedent("""
    import json, logging, sys, tempfile, time
    from pathlib import Path
    sys.path.insert(0, ".")
    logging.disable(logging.WARNING)
    import pandas as pd
    import yaml
    from TRAINING.orchestration.training_router import TrainingRouter
    from TRAINING.orchestration.training_plan_generator import TrainingPlanGenerator

    candidates, config_path, families = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    config = yaml.safe_load(Path(config_path).read_text())
    df = pd.read_parquet(candidates)
    metric_cols = ["mean_overlap", "std_overlap", "mean_tau", "std_tau", "n_snapshots"]
    def struct(row):
        values = {c: float(row[c]) for c in metric_cols if c in row and pd.notna(row[c])}
        return values or None
    df["stability_metrics"] = [struct(r) for r in df.to_dict("records")]
    df = df.drop(columns=[c for c in metric_cols if c in df.columns])
    for col in ("symbol", "task_type", "metric_name", "feature_set_id", "model_status"):
        if col in df.columns:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    df["mode"] = "CROSS_SECTIONAL"
    df["stability"] = df["stability"].fillna("UNKNOWN")
    df["leakage_status"] = df["leakage_status"].fillna("UNKNOWN")
    df["sample_size"] = df["sample_size"].fillna(0).astype(int)
    df["_cs_last"] = df["symbol"].notna()
    df = df.sort_values(["target", "_cs_last"], kind="stable").drop(columns="_cs_last").reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        plan = TrainingRouter(config).generate_routing_plan(df, output_dir=Path(tmp) / "routing_plan")
        training = TrainingPlanGenerator(routing_plan=plan, model_families=families).generate_training_plan(
            output_dir=Path(tmp) / "training_plan", include_blocked=False)
        seconds = time.perf_counter() - started
    pairs = {f"{t}|{s}": [d["cs_state"], d["local_state"], d["route"]]
             for t, entry in plan["targets"].items() for s, d in entry.get("symbols", {}).items()}
    jobs = {j["job_id"]: [j["priority"], sorted(j["model_families"])] for j in training["jobs"]}
    print(json.dumps({"pairs": pairs, "jobs": jobs, "seconds": seconds}))
""")


def run_foxml(foxml: Path, candidates: Path, config: Path, families: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", FOXML_DRIVER, str(candidates), str(config.resolve()),
                           json.dumps(families)], cwd=foxml, capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": "42"})
    if proc.returncode != 0:
        raise SystemExit(f"FoxML's router failed in {foxml}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_foxwarehouse(work: Path, candidates: Path, config: Path) -> dict[str, Any]:
    import foxwarehouse

    started = time.perf_counter()
    result = foxwarehouse.plan(candidates, config=config, db=work / "warehouse.duckdb", out=work / "out",
                               skip_tests=True, force=True)
    seconds = time.perf_counter() - started
    routing = json.loads((work / "out" / "routing_plan" / "routing_plan.json").read_text(encoding="utf-8"))
    master = json.loads(Path(str(result.master_plan_path)).read_text(encoding="utf-8"))
    pairs = {f"{t}|{s}": [d["cs_state"], d["local_state"], d["route"]]
             for t, entry in routing["targets"].items() for s, d in entry.get("symbols", {}).items()}
    jobs = {j["job_id"]: [j["priority"], sorted(j["model_families"])] for j in master["jobs"]}
    return {"pairs": pairs, "jobs": jobs, "seconds": seconds}


def compare(fox: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    keys = sorted(set(fox["pairs"]) | set(ours["pairs"]))
    counts: Counter[str] = Counter()
    differences: list[str] = []
    for key in keys:
        a, b = fox["pairs"].get(key), ours["pairs"].get(key)
        counts["pairs"] += 1
        if a is None or b is None:
            differences.append(f"{key}: only in {'foxwarehouse' if a is None else 'FoxML'}")
            continue
        for i, name in enumerate(("cs_state", "local_state", "route")):
            counts[name] += a[i] == b[i]
        if a != b:
            differences.append(f"{key}: FoxML {a} / foxwarehouse {b}")
    both = set(fox["jobs"]) & set(ours["jobs"])
    counts["jobs_foxml"], counts["jobs_ours"], counts["jobs_both"] = len(fox["jobs"]), len(ours["jobs"]), len(both)
    counts["priority"] = sum(fox["jobs"][j][0] == ours["jobs"][j][0] for j in both)
    counts["families"] = sum(fox["jobs"][j][1] == ours["jobs"][j][1] for j in both)
    return {"counts": counts, "differences": differences}


def report(label: str, counts: Counter[str], fox_s: float, ours_s: float) -> None:
    n = counts["pairs"]

    def pct(k: str, of: int) -> str:
        return f"{counts[k]}/{of} ({100.0 * counts[k] / of:.1f}%)" if of else "0/0"
    print(f"{label}: pairs {n}; cs_state {pct('cs_state', n)}, local_state {pct('local_state', n)}, "
          f"route {pct('route', n)}")
    print(f"{' ' * len(label)}  jobs FoxML {counts['jobs_foxml']}, foxwarehouse {counts['jobs_ours']}, "
          f"in both {counts['jobs_both']}; same priority {pct('priority', counts['jobs_both'])}, "
          f"same families {pct('families', counts['jobs_both'])}")
    ratio = f" ({fox_s / ours_s:.1f}x)" if ours_s else ""
    print(f"{' ' * len(label)}  wall time FoxML {fox_s:.2f}s, foxwarehouse {ours_s:.2f}s{ratio}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--foxml", type=Path, help="a FoxML_Core checkout (holding TRAINING/ and CONFIG/)")
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--config", type=Path, default=None,
                        help="routing config both read (default: foxwarehouse's packaged config)")
    parser.add_argument("--show", type=int, default=5, help="list the first N differing pairs (default 5)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the candidates and plans in DIR")
    args = parser.parse_args(argv)
    if args.foxml is None:
        print("foxml_parity: --foxml PATH is required: a FoxML_Core checkout "
              "(https://github.com/Jennyfirrr/FoxML_Core) with its Python dependencies installed", file=sys.stderr)
        return 2
    if not (args.foxml / "TRAINING" / "orchestration" / "training_router.py").is_file():
        print(f"foxml_parity: {args.foxml} is not a FoxML_Core checkout "
              "(no TRAINING/orchestration/training_router.py)", file=sys.stderr)
        return 2
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        print(f"foxml_parity: --seeds must be integers, got {args.seeds!r}", file=sys.stderr)
        return 2

    import yaml

    from foxwarehouse.config import packaged_config_path
    from foxwarehouse.synthetic import generate

    config = args.config or packaged_config_path()
    families = list(yaml.safe_load(config.read_text(encoding="utf-8")).get("training_plan", {})
                    .get("model_families", ["lightgbm", "xgboost"]))
    root = args.keep or Path(tempfile.mkdtemp(prefix="foxml-parity-"))
    total: Counter[str] = Counter()
    fox_total = ours_total = 0.0
    shown: list[str] = []
    for seed in seeds:
        work = root / f"seed{seed}"
        written = generate(work, args.targets, args.symbols, seed=seed, shape="candidates")
        candidates = Path(written["files"]["routing_candidates"])
        fox = run_foxml(args.foxml, candidates, config, families)
        ours = run_foxwarehouse(work, candidates, config)
        result = compare(fox, ours)
        report(f"seed {seed}", result["counts"], fox["seconds"], ours["seconds"])
        total.update(result["counts"])
        fox_total += fox["seconds"]
        ours_total += ours["seconds"]
        shown.extend(result["differences"][:max(0, args.show - len(shown))])
    if len(seeds) > 1:
        report("total", total, fox_total, ours_total)
    if shown:
        print("first differences:")
        for line in shown:
            print(f"  {line}")
    if args.keep is None:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
