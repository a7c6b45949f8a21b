"""Crash safety: SIGKILL at any point of ingest, build, export or publication loses nothing.

Every case starts from a workspace holding an earlier run (inputs A) and its export, then runs
`python -m foxwarehouse.cli` on inputs B in a subprocess that kills itself (SIGKILL) at one named
checkpoint of `foxwarehouse.faults` (or is killed from outside after a delay). Then:

- the export folder, as a reader sees it, holds byte for byte either the previous complete training
  plan (A) or the new complete one (B), run_id and generated_at aside; the candidates file and the
  routing plan, published before the training plan, are each A or B, and all are B once the
  training plan is B;
- the warehouse opens (a WAL left by the kill is replayed), the earlier run is exactly as it was
  (its runs row and its rows in every table), and the killed run is absent, or ingested, or built
  with exactly the plan of B; an export on disk always belongs to a built run;
- `latest` resolves to the earlier run or to a completely built killed run;
- running `plan` again succeeds and publishes B.

The full sweep over every checkpoint hit by `plan` and by the three step commands, plus kills at
fixed delays, is marked slow (run by .ci/run with `-m slow`); a few points run in the default suite.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from foxwarehouse.consumer import load_plan
from foxwarehouse.jobs_json import JOB_JSON_SQL
from foxwarehouse.plan_schema import validate_plan_file
from foxwarehouse.warehouse import Warehouse
from helpers import SIMPLE_CONFIG, write_candidates, write_config
from reliability_helpers import (
    ROOT,
    STATE_DIR,
    assert_runs_intact,
    check_complete_export,
    cli_subprocess,
    copy_workspace,
    visible_tree,
    warehouse_snapshot,
)
from reliability_log import record


ROWS_A = [
    {"target": "ret_5m", "symbol": None, "score": 0.80, "sample_size": 10000},
    {"target": "ret_5m", "symbol": "AAA", "score": 0.75, "sample_size": 2000, "stability": "STABLE"},
    {"target": "ret_5m", "symbol": "BBB", "score": 0.40, "sample_size": 2000, "stability": "DRIFTING"},
    {"target": "ret_1d", "symbol": None, "score": 0.55, "sample_size": 8000, "task_type": "BINARY_CLASSIFICATION"},
    {"target": "ret_1d", "symbol": "AAA", "score": 0.90, "sample_size": 3000, "stability": "STABLE"},
]
# B changes scores, drops BBB and adds CCC and a new target: its export differs file by file.
ROWS_B = [
    {"target": "ret_5m", "symbol": None, "score": 0.60, "sample_size": 10000},
    {"target": "ret_5m", "symbol": "AAA", "score": 0.95, "sample_size": 2000, "stability": "STABLE"},
    {"target": "ret_5m", "symbol": "CCC", "score": 0.35, "sample_size": 2000, "stability": "UNKNOWN"},
    {"target": "ret_1d", "symbol": None, "score": 0.30, "sample_size": 8000, "task_type": "BINARY_CLASSIFICATION"},
    {"target": "ret_1d", "symbol": "AAA", "score": 0.65, "sample_size": 3000, "stability": "STABLE"},
    {"target": "vol_2h", "symbol": None, "score": 0.72, "sample_size": 6000},
    {"target": "vol_2h", "symbol": "DDD", "score": 0.71, "sample_size": 1500, "stability": "STABLE"},
]

QUICK_POINTS = [
    "ingest:before-commit",
    "build:model:routing_decisions",
    "export:after-file:training_plan/master_training_plan.json",
    "publish:after-candidates",
    "publish:after-exchange:routing_plan",
    "publish:after-exchange:training_plan",
]
KILL_FRACTIONS = [round(0.05 * i, 2) for i in range(2, 25)]   # 10% .. 120% of an unkilled plan's run time


@dataclass
class Env:
    root: Path
    template: Path
    config: Path
    metrics_b: Path
    snapshot: dict[str, Any]
    prev_run: str
    manifest_a: dict[str, dict[str, str]]
    manifest_b: dict[str, dict[str, str]]
    jobs_b: list[dict[str, Any]]
    fingerprint_b: str
    plan_seconds: float


def _plan_args(env: Env, ws: Path) -> list[Any]:
    return ["plan", "--metrics", env.metrics_b, "--config", env.config, "--db", ws / "w.duckdb", "--out", ws / "out"]


def _step_args(env: Env, ws: Path) -> list[list[Any]]:
    db = ws / "w.duckdb"
    return [["ingest", env.metrics_b, "--db", db],
            ["build", "--config", env.config, "--db", db],
            ["export", "--db", db, "--out", ws / "out"]]


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, (proc.returncode, proc.stderr[-2000:])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    root = tmp_path_factory.mktemp("crash")
    metrics_a = write_candidates(root / "a.parquet", ROWS_A)
    metrics_b = write_candidates(root / "b.parquet", ROWS_B)
    config = write_config(root / "config.yaml", SIMPLE_CONFIG)
    manifests = {}
    for name, metrics in (("gold_a", metrics_a), ("gold_b", metrics_b)):
        ws = root / name
        ws.mkdir()
        _ok(cli_subprocess(["plan", "--metrics", metrics, "--config", config, "--db", ws / "w.duckdb",
                            "--out", ws / "out"], cwd=root))
        manifests[name] = part_manifests(ws / "out")
    master_b = json.loads((root / "gold_b" / "out" / "training_plan" / "master_training_plan.json").read_text())
    template = root / "template"
    template.mkdir()
    _ok(cli_subprocess(["plan", "--metrics", metrics_a, "--config", config, "--db", template / "w.duckdb",
                        "--out", template / "out"], cwd=root))
    assert part_manifests(template / "out") == manifests["gold_a"], "exports of the same inputs must be identical"
    assert manifests["gold_a"] != manifests["gold_b"]
    snapshot = warehouse_snapshot(template / "w.duckdb")
    timing = copy_workspace(template, root / "timing")   # how long plan B takes on top of A, unkilled
    started = time.monotonic()
    _ok(cli_subprocess(["plan", "--metrics", metrics_b, "--config", config, "--db", timing / "w.duckdb",
                        "--out", timing / "out"], cwd=timing))
    plan_seconds = time.monotonic() - started
    return Env(root, template, config, metrics_b, snapshot, snapshot["order"][-1], manifests["gold_a"],
               manifests["gold_b"], master_b["jobs"], master_b["metadata"]["plan_fingerprint"], plan_seconds)


def _run_jobs(db: Path, run_id: str) -> list[dict[str, Any]]:
    with Warehouse(db, read_only=True) as wh:
        rows = wh.con.execute(f"SELECT {JOB_JSON_SQL} FROM master_plan WHERE run_id = ? ORDER BY plan_order",
                              [run_id]).fetchall()
    return [json.loads(r[0]) for r in rows]


PARTS = ("routing_candidates.parquet", "routing_plan", "training_plan")


def part_manifests(out: Path) -> dict[str, dict[str, str]]:
    """{published entry: {relative path: sha256}}, each entry normalised by its own run_id and time.

    The entries are published one after the other (the training plan last), so each is compared
    on its own: the candidates file has no run id; each plan folder's main JSON names its run."""
    files = visible_tree(out)
    parts: dict[str, dict[str, str]] = {}
    for part in PARTS:
        own = {k: v for k, v in files.items() if k == part or k.startswith(part + "/")}
        main = own.get({"routing_plan": "routing_plan/routing_plan.json",
                        "training_plan": "training_plan/master_training_plan.json"}.get(part, ""))
        replacements: list[tuple[bytes, bytes]] = []
        if main is not None:
            try:
                meta = json.loads(main)["metadata"]
                replacements = [(str(meta["run_id"]).encode(), b"<RUN_ID>"),
                                (str(meta["generated_at"]).encode(), b"<GENERATED_AT>")]
            except (ValueError, KeyError, TypeError):
                pass
        digests = {}
        for name, data in own.items():
            if name.endswith((".json", ".yaml", ".md")):
                for old, new in replacements:
                    data = data.replace(old, new)
            digests[name] = hashlib.sha256(data).hexdigest()
        parts[part] = digests
    return parts


def verify_after_kill(env: Env, ws: Path) -> dict[str, Any]:
    """The invariants after a kill; returns what was found, for the reliability log."""
    db, out = ws / "w.duckdb", ws / "out"
    # 1. the export a reader sees: the training plan is the previous complete one or the new
    # complete one; what is published before it (candidates, routing plan) may already be new
    manifest = part_manifests(out)
    which = {}
    for part in PARTS:
        if manifest[part] == env.manifest_a[part]:
            which[part] = "A"
        elif manifest[part] == env.manifest_b[part]:
            which[part] = "B"
        else:
            got, want = manifest[part], env.manifest_a[part]
            extra = sorted(set(got) ^ set(want))[:5]
            changed = sorted(k for k in set(got) & set(want) if got[k] != want[k])[:5]
            raise AssertionError(f"{part} is neither the previous nor the new one: files {extra}, changed {changed}")
    if which["training_plan"] == "B":
        assert set(which.values()) == {"B"}, f"the training plan was published before {which}"
    if set(which.values()) == {"A"}:
        seen = "previous export"
    elif set(which.values()) == {"B"}:
        seen = "new export"
    else:
        seen = "previous training plan (" + ", ".join(p for p in PARTS if which[p] == "B") + " already new)"
    if seen.startswith("previous training plan ("):
        assert not validate_plan_file(out / "training_plan")
        master = json.loads((out / "training_plan" / "master_training_plan.json").read_bytes())
    else:
        master = check_complete_export(out)
    plan = load_plan(out / "training_plan")
    assert len(plan.jobs()) == len(master["jobs"])
    # 2. the warehouse: opens (first read-only, as `runs` would, then for writing, which replays
    # the WAL for good; both see the same), earlier run intact, killed run absent / ingested / built
    seen_by_reader = warehouse_snapshot(db, read_only=True)
    after = warehouse_snapshot(db)
    assert seen_by_reader == after, "a read-only open after the kill saw another state than a write open"
    new = assert_runs_intact(env.snapshot, after)
    assert len(new) <= 1, new
    status = after["runs"][new[0]]["row"]["status"] if new else "absent"
    assert status in ("absent", "ingested", "built", "exported"), status
    if status in ("built", "exported"):
        assert _run_jobs(db, new[0]) == env.jobs_b
        assert after["runs"][new[0]]["row"]["plan_fingerprint"] == env.fingerprint_b
    exported_run = master["metadata"]["run_id"]
    if which["training_plan"] == "B":
        assert new and exported_run == new[0] and status in ("built", "exported"), (exported_run, new, status)
    else:
        assert exported_run == env.prev_run
    with Warehouse(db, read_only=True) as wh:
        latest = wh.resolve_run("latest")
    assert latest == env.prev_run or (new and latest == new[0] and status in ("built", "exported"))
    return {"export_seen": seen, "killed_run": status}


def verify_recovery(env: Env, ws: Path) -> None:
    """`plan` again: succeeds, publishes B, keeps the earlier run, leaves no staging folders."""
    _ok(cli_subprocess(_plan_args(env, ws), cwd=ws))
    assert part_manifests(ws / "out") == env.manifest_b
    check_complete_export(ws / "out")
    after = warehouse_snapshot(ws / "w.duckdb")
    assert_runs_intact(env.snapshot, after)
    assert after["runs"][after["order"][-1]]["row"]["status"] == "exported"
    state = sorted(p.name for p in (ws / "out" / STATE_DIR).iterdir())
    assert not [name for name in state if name.startswith(("staging-", "kept-"))], state


def kill_at(env: Env, ws: Path, point: str, step: int | None = None) -> subprocess.CompletedProcess:
    """Run `plan` (or the step commands up to `step`) with FOXWAREHOUSE_FAULT=point on the last one."""
    commands = [_plan_args(env, ws)] if step is None else _step_args(env, ws)[: step + 1]
    for args in commands[:-1]:
        _ok(cli_subprocess(args, cwd=ws))
    return cli_subprocess(commands[-1], cwd=ws, env={"FOXWAREHOUSE_FAULT": point})


def check_point(env: Env, tmp: Path, point: str, step: int | None = None, suite: str = "crash_safety") -> None:
    ws = copy_workspace(env.template, tmp)
    proc = kill_at(env, ws, point, step)
    assert proc.returncode == -signal.SIGKILL, (
        f"{point}: the process was not killed there (exit {proc.returncode}); is the checkpoint still hit?\n"
        f"{proc.stderr[-1500:]}")
    found = verify_after_kill(env, ws)
    verify_recovery(env, ws)
    command = "plan" if step is None else ("ingest", "build", "export")[step]
    record(suite, f"{command} @ {point}", f"{found['export_seen']}; killed run {found['killed_run']}",
           command=command, point=point, nothing_lost=True, **found)


def enumerate_points(env: Env, tmp: Path, step: int | None = None) -> list[str]:
    """Every checkpoint hit by the command, `name#N` for the N-th hit of a repeated one."""
    ws = copy_workspace(env.template, tmp)
    listing = tmp.parent / f"{tmp.name}.points"
    commands = [_plan_args(env, ws)] if step is None else _step_args(env, ws)[: step + 1]
    for args in commands[:-1]:
        _ok(cli_subprocess(args, cwd=ws))
    _ok(cli_subprocess(commands[-1], cwd=ws, env={"FOXWAREHOUSE_FAULT_LIST": str(listing)}))
    names = listing.read_text(encoding="utf-8").splitlines()
    counts: dict[str, int] = {}
    points = []
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        points.append(name if names.count(name) == 1 else f"{name}#{counts[name]}")
    return points


# --- default suite: a few points -----------------------------------------------------------------

@pytest.mark.parametrize("point", QUICK_POINTS)
def test_kill_point_quick(env: Env, tmp_path: Path, point: str) -> None:
    check_point(env, tmp_path / "ws", point, suite="crash_safety_quick")


def test_checkpoints_cost_nothing_when_disabled() -> None:
    code = ("import time, foxwarehouse.faults as f\n"
            "t = time.perf_counter()\n"
            "for _ in range(1_000_000): f.checkpoint('export:after-file:x')\n"
            "print(time.perf_counter() - t, f.ACTIVE)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOXWAREHOUSE_FAULT")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    seconds, active = float(out[0]), out[1]
    assert active == "False" and seconds < 1.0, out   # well under a microsecond per call
    record("crash_safety_quick", "checkpoint cost when disabled", f"{seconds * 1000:.0f} ns per call")


# --- the full sweep (slow) --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("flow", ["plan", "ingest", "build", "export"])
def test_kill_point_sweep(env: Env, tmp_path: Path, flow: str) -> None:
    """SIGKILL at every checkpoint the command hits (the step commands run after their predecessors)."""
    step = None if flow == "plan" else ("ingest", "build", "export").index(flow)
    points = enumerate_points(env, tmp_path / "enumerate", step)
    assert len(points) >= (40 if flow == "plan" else 5), points
    if flow == "plan":
        for prefix in ("ingest:", "build:model:", "export:after-file:", "publish:", "txn:"):
            assert any(p.startswith(prefix) for p in points), prefix
    failures = []
    for i, point in enumerate(points):
        try:
            check_point(env, tmp_path / f"p{i}", point, step)
        except AssertionError as exc:
            failures.append(f"{point}: {exc}")
    assert not failures, "\n".join(failures)
    record("crash_safety", f"{flow}: sweep", "all points passed", points=len(points), nothing_lost=True)


@pytest.mark.slow
@pytest.mark.parametrize("fraction", KILL_FRACTIONS)
def test_kill_after_delay(env: Env, tmp_path: Path, fraction: float) -> None:
    """SIGKILL from outside at fractions of a plan's run time: lands inside imports, DuckDB, Python
    and the file system alike."""
    delay = fraction * env.plan_seconds
    ws = copy_workspace(env.template, tmp_path / "ws")
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "foxwarehouse.cli", *map(str, _plan_args(env, ws))], cwd=ws,
                            env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = True
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    proc.stderr.close()
    assert killed or proc.returncode == 0, stderr
    found = verify_after_kill(env, ws)
    verify_recovery(env, ws)
    record("crash_safety", f"plan killed at {fraction:.0%} of its run time", f"{found['export_seen']}; killed run "
           f"{found['killed_run']}" + ("" if killed else " (finished before the kill)"),
           command="plan (timed kill)", delay=round(delay, 3), nothing_lost=True, **found)
