#!/usr/bin/env python3
"""The DuckDB engine against the Spark engine (local) on the same generated metrics.

    python benchmarks/engines.py --sizes 100k,1M [--master 'local[*]'] [--uri] [--keep DIR]

For every size it generates the seeded synthetic metrics of benchmarks/run.py, then runs
`foxwarehouse plan` with the JSON-only config (dump_plan_as [JSON], no derived views) once per
engine, each as its own process with `-v`, and prints wall time and peak memory (RSS, of the
foxwarehouse process, and sampled over the process tree: Spark's JVM is a child process), where each
engine's time goes (stages, and on Spark: session start, hand-over of the sources, each model on
Spark, its rows back to the warehouse) and the ratio of the two. It checks that both engines wrote
the same master_training_plan.json (apart from run_id and generated_at). With --uri the Spark run
reads the metrics as a file:// URI, so that Spark also reads and validates them (its ingest stage).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from run import SIZES, parse_sizes, size_folder, write_config  # noqa: E402

from foxwarehouse.synthetic import generate  # noqa: E402

ENGINES = ("duckdb", "spark")
_TOOK = re.compile(r"^(?P<indent>\s*)(?:(?P<stage>[\w ]+): )?(?P<name>.+?) took (?P<seconds>[0-9.]+) s$")


def run_plan(engine: str, metrics: str, config: Path, work: Path, env: dict[str, str],
             master: str | None) -> dict:
    """One `plan` process on `engine`: wall seconds, peak RSS (MiB) and its `took` lines."""
    folder = work / engine
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    cmd = [sys.executable, "-m", "foxwarehouse.cli", "plan", "--metrics", metrics, "--config", str(config),
           "--db", str(folder / "w.duckdb"), "--out", str(folder / "out"), "--engine", engine, "--skip-tests", "-v"]
    run_env = dict(env)
    if engine == "spark" and master:
        run_env["FOXWAREHOUSE_SPARK_MASTER"] = master
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = TreePeak(proc.pid)
    output = proc.stdout.read().decode("utf-8", "replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    tree = sampler.stop()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{engine}: plan failed:\n{output[-3000:]}")
    stages: dict[str, float] = {}
    steps: list[tuple[str, float]] = []
    for line in output.splitlines():
        m = _TOOK.match(line)
        if not m:
            continue
        if m["indent"]:
            steps.append((m["name"], float(m["seconds"])))
        else:
            stages[m["name"]] = float(m["seconds"])
    return {"wall": wall, "rss": usage.ru_maxrss / 1024, "tree_rss": tree, "stages": stages, "steps": steps,
            "plan": folder / "out" / "training_plan" / "master_training_plan.json"}


def tree_rss(pid: int) -> float:
    """RSS (MiB) of process `pid` and all its descendants now (Linux /proc; 0 when gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


class TreePeak:
    """The peak of tree_rss(pid), sampled twice a second in a thread (Spark's JVM is a child
    process of the foxwarehouse process, so its own peak RSS leaves the JVM out)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(0.5)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def same_plan(a: Path, b: Path) -> bool:
    """The two master plans are equal apart from run_id and generated_at."""
    docs = []
    for path in (a, b):
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["metadata"].pop("run_id")
        doc["metadata"].pop("generated_at")
        docs.append(doc)
    return docs[0] == docs[1]


def spark_breakdown(steps: list[tuple[str, float]]) -> dict[str, float]:
    """Spark's build steps grouped: session start, sources handed over, models on Spark, rows back,
    and the rest (storing the rows in the warehouse, audits, fingerprint)."""
    groups = {"session start": 0.0, "sources to Spark": 0.0, "models on Spark": 0.0, "rows back (Arrow)": 0.0}
    for name, seconds in steps:
        if name == "spark session start":
            groups["session start"] += seconds
        elif name == "spark sources handed over":
            groups["sources to Spark"] += seconds
        elif name.endswith(" on spark"):
            groups["models on Spark"] += seconds
        elif name.endswith(" rows back"):
            groups["rows back (Arrow)"] += seconds
    return groups


def bench_size(label: str, work: Path, env: dict[str, str], master: str | None, uri: bool = False) -> None:
    n_targets, n_symbols = SIZES[label]
    rows = n_targets * (n_symbols + 1)
    t0 = time.perf_counter()
    generate(work / "data", n_targets, n_symbols, seed=0, shape="candidates", fmt="parquet")
    parquet = work / "data" / "routing_candidates" / "routing_candidates.parquet"
    config = write_config(work / "json_only.yaml", True)
    print(f"\n## {label}: {rows:,} candidates, generated in {time.perf_counter() - t0:.1f} s; plan, JSON only")
    results = {}
    for engine in ENGINES:
        metrics = parquet.as_uri() if uri and engine == "spark" else str(parquet)
        results[engine] = r = run_plan(engine, metrics, config, work, env, master)
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in r["stages"].items())
        print(f"{engine:<7} wall {r['wall']:7.1f} s   peak RSS {r['rss']:6,.0f} MB, with child processes "
              f"(Spark's JVM) {r['tree_rss']:6,.0f} MB   ({stages})")
    d, s = results["duckdb"], results["spark"]
    print(f"ratio   spark / duckdb = {s['wall'] / d['wall']:.1f}x wall, "
          f"{s['stages'].get('build', 0) / max(d['stages'].get('build', 0), 1e-9):.1f}x build")
    print("where Spark's build time goes:")
    for group, seconds in spark_breakdown(s["steps"]).items():
        print(f"  {group:<20} {seconds:7.1f} s")
    print("  per model (on Spark / rows back / whole step incl. storing in DuckDB) vs DuckDB:")
    duck_steps = dict(d["steps"])
    spark_steps = dict(s["steps"])
    for name, seconds in s["steps"]:
        if name in duck_steps and not name.startswith("spark "):
            on = spark_steps.get(f"{name} on spark", 0.0)
            back = spark_steps.get(f"{name} rows back", 0.0)
            print(f"    {name:<26} {on:6.1f} / {back:5.2f} / {seconds:6.1f} s   duckdb {duck_steps[name]:6.2f} s")
    print(f"same master_training_plan.json on both engines: {same_plan(d['plan'], s['plan'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k", help=f"comma list from {', '.join(SIZES)}")
    parser.add_argument("--master", help="Spark master for the Spark run (default: the engine's, local[*])")
    parser.add_argument("--uri", action="store_true",
                        help="give the Spark run the metrics as a file:// URI (read and validated on Spark)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder)")
    args = parser.parse_args()
    sizes = parse_sizes(args.sizes)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"foxwarehouse engines benchmark on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for label in sizes:
        with size_folder(label, args.keep, "foxengines") as work:
            bench_size(label, work, env, args.master, args.uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())
