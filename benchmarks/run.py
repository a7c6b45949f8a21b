#!/usr/bin/env python3
"""End-to-end benchmark of the pipeline: ingest, build and export at several sizes.

    python benchmarks/run.py --sizes 10k,100k,1M [--history 20] [--keep DIR]
    python benchmarks/run.py --sizes 5M --json-only --no-demo

For every size it generates seeded synthetic metrics (benchmarks/generate.py), then runs each stage
as its own `foxwarehouse` process and prints wall time, rows per second, peak memory (RSS) and
output sizes. It also times a DuckDB-only baseline (read the same parquet, write the same number of
rows as JSON) and two end-to-end `plan` runs: JSON only (dump_plan_as [JSON], no derived views) and
every artifact of the default config, each as a ratio to the baseline. With --history N it fills the
warehouse with N copies of the 1M run and times one more build, to show that build time does not
grow with history. First (unless --no-demo) it times `foxwarehouse demo`, the 105-row plan, as a
whole process: start-up and per-call work that does not depend on the data.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from foxwarehouse.synthetic import generate  # noqa: E402

SIZES = {"10k": (10, 999), "100k": (100, 999), "1M": (100, 9_999), "5M": (100, 49_999)}
# n_targets x (n_symbols + 1 CS row) candidates


def parse_sizes(text: str) -> list[str]:
    sizes = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size(s) {unknown}; choose from {', '.join(SIZES)}")
    return sizes


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{stderr}")
    return wall, usage.ru_maxrss / 1024


def dir_size(path: Path) -> int:
    """Bytes of the files below `path`, a hard-linked file (training_plan.json) counted once."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for root, _, files in os.walk(path, followlinks=False):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                st = p.stat()
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
    return total


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def baseline(parquet: Path, work: Path, env: dict[str, str]) -> tuple[float, float]:
    script = textwrap.dedent(f"""
        import duckdb
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        con.execute("COPY (SELECT * FROM read_parquet('{parquet}')) TO '{work / 'baseline.json'}' (FORMAT json, ARRAY true)")
    """)
    return run_measured([sys.executable, "-c", script], work, env)


def write_config(path: Path, json_only: bool) -> Path:
    text = (REPO / "config" / "routing_config.yaml").read_text()
    if json_only:
        text = text.replace("dump_plan_as: [JSON, YAML, MARKDOWN]", "dump_plan_as: [JSON]")
        text = text.replace("derived_views: true", "derived_views: false")
    path.write_text(text)
    return path


def bench_size(label: str, work: Path, env: dict[str, str], history: int, json_only: bool = False) -> None:
    n_targets, n_symbols = SIZES[label]
    rows = n_targets * (n_symbols + 1)
    data = work / "data"
    t0 = time.perf_counter()
    generate(data, n_targets, n_symbols, seed=0, shape="candidates", fmt="parquet")
    parquet = data / "routing_candidates" / "routing_candidates.parquet"
    print(f"\n## {label}: {rows:,} candidates ({n_targets} targets x {n_symbols} symbols + CS rows), "
          f"generated in {time.perf_counter() - t0:.1f} s")
    fox = [sys.executable, "-m", "foxwarehouse.cli"]
    db = work / "w.duckdb"
    # With json_only the stages too use the JSON-only config (at 5M the default config writes ~17 GB).
    stage_config = ["--config", str(write_config(work / "json_only.yaml", True))] if json_only else []
    stages = [
        ("ingest", fox + ["ingest", str(parquet), "--db", str(db)]),
        ("build", fox + ["build", "--db", str(db), *stage_config]),
        ("export", fox + ["export", "--db", str(db), "--out", str(work / "out")]),
    ]
    print(f"{'stage':<22} {'wall s':>8} {'rows/s':>12} {'peak RSS':>10} {'output':>10}")
    for name, cmd in stages:
        wall, rss = run_measured(cmd, work, env)
        out = human(db.stat().st_size) if name != "export" else human(dir_size(work / "out"))
        print(f"{name:<22} {wall:>8.2f} {rows / wall:>12,.0f} {rss:>8,.0f} MB {out:>10}")
    base_wall, base_rss = baseline(parquet, work, env)
    print(f"{'baseline (DuckDB only)':<22} {base_wall:>8.2f} {rows / base_wall:>12,.0f} {base_rss:>8,.0f} MB "
          f"{human((work / 'baseline.json').stat().st_size):>10}")
    plans = (("plan, JSON only", True),) if json_only else (("plan, JSON only", True), ("plan, all artifacts", False))
    for title, only_json in plans:
        cfg = write_config(work / ("json_only.yaml" if only_json else "full.yaml"), only_json)
        fresh = work / f"plan-{'json' if only_json else 'full'}"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir()
        wall, rss = run_measured(fox + ["plan", "--metrics", str(parquet), "--config", str(cfg),
                                        "--db", str(fresh / "w.duckdb"), "--out", str(fresh / "out")], work, env)
        print(f"{title:<22} {wall:>8.2f} {rows / wall:>12,.0f} {rss:>8,.0f} MB {human(dir_size(fresh / 'out')):>10}"
              f"   = {wall / base_wall:.1f}x baseline")
        shutil.rmtree(fresh, ignore_errors=True)
    if history:
        bench_history(fox, db, work, env, history)


def bench_history(fox: list[str], db: Path, work: Path, env: dict[str, str], history: int) -> None:
    """Fill the warehouse with `history` copies of the latest run, then time one more build."""
    script = textwrap.dedent(f"""
        import duckdb
        from foxwarehouse.warehouse import Warehouse, new_run_id, utc_now
        with Warehouse({str(db)!r}) as wh:
            con = wh.con
            src = con.execute("SELECT run_id FROM runs WHERE status IN ('built','exported') ORDER BY seq DESC LIMIT 1").fetchone()[0]
            tables = [t for (t,) in con.execute("SELECT DISTINCT table_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name) WHERE c.column_name = 'run_id' AND t.table_type = 'BASE TABLE' AND table_name <> 'runs'").fetchall()]
            for _ in range({history}):
                rid = new_run_id()
                with wh.transaction():
                    con.execute("INSERT INTO runs SELECT ? AS run_id, (SELECT max(seq) + 1 FROM runs) AS seq, * EXCLUDE (run_id, seq) FROM runs WHERE run_id = ?", [rid, src])
                    for t in tables:
                        con.execute(f'INSERT INTO "{{t}}" SELECT ? AS run_id, * EXCLUDE (run_id) FROM "{{t}}" WHERE run_id = ?', [rid, src])
    """)
    first_wall, _ = run_measured(fox + ["build", "--db", str(db)], work, env)
    t0 = time.perf_counter()
    run_measured([sys.executable, "-c", script], work, env)
    fill = time.perf_counter() - t0
    later_wall, rss = run_measured(fox + ["build", "--db", str(db)], work, env)
    ratio = later_wall / first_wall
    print(f"history: build with {history + 2} earlier runs took {later_wall:.2f} s vs {first_wall:.2f} s with 1 "
          f"({ratio:.2f}x; filled in {fill:.0f} s, warehouse {human(db.stat().st_size)})")


def bench_demo(env: dict[str, str], repeat: int = 3) -> None:
    """`foxwarehouse demo` (the 105-row bundled example) as a user runs it: a fresh process in a fresh
    folder, then again with nothing changed; best of `repeat` (the machine may be shared). The
    per-machine caches (test passes, model work) are warm after the first run, as they are for a user."""
    fox = [sys.executable, "-m", "foxwarehouse"]
    results: dict[str, list[tuple[float, float, str]]] = {"fresh": [], "unchanged": [], "imports": []}
    for i in range(repeat + 1):
        with tempfile.TemporaryDirectory(prefix="foxbench-demo-") as tmp:
            for kind in ("fresh", "unchanged"):
                start = time.perf_counter()
                proc = subprocess.Popen(fox + ["demo"], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
                _, status, usage = os.wait4(proc.pid, 0)
                wall = time.perf_counter() - start
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                if os.waitstatus_to_exitcode(status) != 0:
                    raise SystemExit(f"demo failed:\n{stderr}")
                if i:  # the first round only warms the machine caches
                    results[kind].append((wall, usage.ru_maxrss / 1024, stderr))
        if i:
            wall, rss = run_measured([sys.executable, "-c", "import foxwarehouse.cli"], REPO, env)
            results["imports"].append((wall, rss, ""))
    print(f"\n## demo: `foxwarehouse demo` on the bundled 105 rows (best of {repeat}, each a fresh process)")
    print(f"{'':<26} {'wall s':>8} {'peak RSS':>10}")
    titles = {"fresh": "plan, fresh folder", "unchanged": "plan again, unchanged", "imports": "start-up + CLI imports"}
    for kind, title in titles.items():
        wall, rss, stderr = min(results[kind])
        stages = "; ".join(line for line in stderr.splitlines() if " took " in line)
        print(f"{title:<26} {wall:>8.2f} {rss:>8,.0f} MB   {stages}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k,1M", help=f"comma list from {', '.join(SIZES)}")
    parser.add_argument("--history", type=int, default=0, help="copies of the largest run to add before a last build")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder)")
    parser.add_argument("--json-only", action="store_true",
                        help="stages and plan with the JSON-only config only (for 5M: the default config writes ~17 GB)")
    parser.add_argument("--no-demo", action="store_true", help="skip timing `foxwarehouse demo` (the 105-row plan)")
    args = parser.parse_args()
    sizes = parse_sizes(args.sizes)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"foxwarehouse benchmark on {os.cpu_count()} cores; memory limit {env.get('FOXWAREHOUSE_MEMORY_LIMIT', '1GB (default)')}")
    if not args.no_demo:
        bench_demo(env)
    for i, label in enumerate(sizes):
        with size_folder(label, args.keep, "foxbench") as work:
            bench_size(label, work, env, args.history if i == len(sizes) - 1 else 0, args.json_only)
    return 0


@contextlib.contextmanager
def size_folder(label: str, keep: Path | None, prefix: str) -> Iterator[Path]:
    """An empty work folder for one size: KEEP/label (kept afterwards) or a temp folder (removed)."""
    work = (keep / label) if keep else Path(tempfile.mkdtemp(prefix=f"{prefix}-{label}-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        yield work
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
