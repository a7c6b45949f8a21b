"""Ctrl-C and SIGTERM , and the trainer-side calls that must never hang or raise.

A signal sent to `python -m foxwarehouse` at any point of `plan` or of a long `query` gives exactly
one line on stderr ("interrupted" / "terminated"), exit 130 / 143 and no traceback, and stops a
running DuckDB statement within a second or two. What is on disk is then as after a kill (the
invariants of test_crash_safety.py: earlier runs intact, the export folder holds the previous or the
new complete plan, never a mix) and `plan` runs again. An interrupt that lands just after the new
plan was published still records its run as exported, and the line says so.

The points are reached deterministically: right after the signal handlers are installed (so during
the imports of start-up), at a named checkpoint of `foxwarehouse.faults` (the process sends itself
the signal there, FOXWAREHOUSE_FAULT_ACTION=signal:INT|TERM), or while a long cross join runs. The
random sweep over a plan's run time is marked slow.

Also here: `load_plan` on a FIFO or a device raises PlanError instead of blocking, and
`foxwarehouse.plan(non_blocking=True)` on a warehouse another process holds warns and returns
"no new plan" (its message, meant for Python callers, names the `wait=` argument).
"""
from __future__ import annotations

import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import SIMPLE_CONFIG, run_cli, write_candidates, write_config
from reliability_helpers import (
    ROOT,
    STATE_DIR,
    assert_runs_intact,
    check_complete_export,
    copy_workspace,
    warehouse_snapshot,
)
from reliability_log import record
from test_crash_safety import ROWS_A, ROWS_B, Env, part_manifests, verify_after_kill

import foxwarehouse
from foxwarehouse.errors import WarehouseError
from foxwarehouse.warehouse import Warehouse


SWEEP = "signals_sweep"   # the slow cases' suite in the reliability log (the default ones: "signals")
SIGNALS = {"INT": (signal.SIGINT, 130, "interrupted"), "TERM": (signal.SIGTERM, 143, "terminated")}
# A join that runs for minutes unless DuckDB is interrupted (nothing matches, so nothing is printed).
LONG_QUERY = "SELECT count(*) FROM range(300000) a, range(300000) b WHERE a.range + b.range = -1"


# --- harness ---------------------------------------------------------------------------------------

def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOXWAREHOUSE_FAULT")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def launch(args: list[Any], cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m foxwarehouse ARGS`, the way a user's shell starts it."""
    return subprocess.Popen([sys.executable, "-m", "foxwarehouse", *map(str, args)], cwd=cwd, env=_env(extra_env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def handlers_installed(proc: subprocess.Popen, timeout: float = 20.0) -> bool:
    """Wait until the process catches SIGTERM (the first thing its entry point does), via /proc."""
    if not Path("/proc/self/status").exists():
        proc.kill()
        proc.communicate()
        pytest.skip("reads a process's signal handlers from /proc (Linux)")
    status, cmdline = Path(f"/proc/{proc.pid}/status"), Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            caught = next(line for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
            # Until exec, the child is a copy of this process, with this process's handlers.
            ours = b"\0-m\0foxwarehouse\0" in cmdline.read_bytes()
        except (OSError, StopIteration):
            return False
        if ours and int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return True
        time.sleep(0.001)
    return False


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int | None, str, str]:
    """(exit code or None when it had to be killed after `timeout` s, stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, out, err


def assert_one_line(code: int | None, err: str, sig: str, words: tuple[str, ...] = ()) -> str:
    _, exit_code, word = SIGNALS[sig]
    lines = err.splitlines()
    assert "Traceback" not in err, err[-3000:]
    assert code == exit_code, (code, err[-3000:])
    assert len(lines) == 1 and lines[0].startswith(word), err[-3000:]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def recover(env: Env, ws: Path) -> None:
    """`plan` again (in-process): succeeds, publishes B, keeps every earlier run, no staging left."""
    result = run_cli(_plan_args(env, ws))
    assert result.code == 0 and "Traceback" not in result.err, result
    assert part_manifests(ws / "out") == env.manifest_b
    check_complete_export(ws / "out")
    after = warehouse_snapshot(ws / "w.duckdb")
    assert_runs_intact(env.snapshot, after)
    assert after["runs"][after["order"][-1]]["row"]["status"] == "exported"
    assert not _staging_left(ws / "out")


def _generic(line: str, ws: Path) -> str:
    """The line with the workspace path and the run id made generic, for the reliability report."""
    return re.sub(r"\b\d{8}T\d+-[0-9a-f]{6}\b", "RUN", line.replace(str(ws), "WS"))


def _staging_left(out: Path) -> list[str]:
    state = out / STATE_DIR
    return sorted(p.name for p in state.iterdir() if p.name.startswith(("staging-", "kept-"))) if state.exists() else []


def _plan_args(env: Env, ws: Path, gate: bool = False) -> list[Any]:
    """`plan` B into workspace `ws`; without `gate`, --skip-tests (the SQL unit tests take seconds)."""
    return ["plan", "--metrics", env.metrics_b, "--config", env.config, "--db", ws / "w.duckdb", "--out", ws / "out",
            *([] if gate else ["--skip-tests"])]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    """A workspace holding run A and its export (the template), and what plans A and B look like.

    Planned in-process and without the SQL unit tests, to keep the default run short."""
    root = tmp_path_factory.mktemp("signals")
    metrics_a = write_candidates(root / "a.parquet", ROWS_A)
    metrics_b = write_candidates(root / "b.parquet", ROWS_B)
    config = write_config(root / "config.yaml", SIMPLE_CONFIG)
    manifests = {}
    for name, metrics in (("gold_b", metrics_b), ("template", metrics_a)):
        ws = root / name
        ws.mkdir()
        result = run_cli(["plan", "--metrics", metrics, "--config", config, "--db", ws / "w.duckdb", "--out", ws / "out",
                          "--skip-tests"])
        assert result.code == 0, result
        manifests[name] = part_manifests(ws / "out")
    master_b = json.loads((root / "gold_b" / "out" / "training_plan" / "master_training_plan.json").read_text())
    template = root / "template"
    snapshot = warehouse_snapshot(template / "w.duckdb")
    return Env(root, template, config, metrics_b, snapshot, snapshot["order"][-1], manifests["template"],
               manifests["gold_b"], master_b["jobs"], master_b["metadata"]["plan_fingerprint"], 0.0)


# --- start-up --------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", ["INT", "TERM"])
def test_signal_during_start_up_imports(env: Env, tmp_path: Path, sig: str) -> None:
    """Sent as soon as the handlers are in, i.e. while the CLI's imports (DuckDB, sqlglot, pyarrow) load."""
    ws = copy_workspace(env.template, tmp_path / "ws")
    proc = launch(_plan_args(env, ws), cwd=ws)
    assert handlers_installed(proc), "the entry point did not install its signal handlers"
    proc.send_signal(SIGNALS[sig][0])
    code, _, err = finish(proc, timeout=30)
    line = assert_one_line(code, err, sig)
    after = warehouse_snapshot(ws / "w.duckdb")
    assert_runs_intact(env.snapshot, after, allow_new=False)
    assert part_manifests(ws / "out") == env.manifest_a
    record("signals", f"plan: SIG{sig} during start-up imports", f"exit {code}: {line}; nothing changed")


# --- named points of plan ----------------------------------------------------------------------------

# (checkpoint, signal): in DuckDB work (build), while staging files (export), just after publishing.
POINTS = [
    ("export:after-file:training_plan/master_training_plan.json", "TERM"),
    ("publish:after-exchange:training_plan", "INT"),
]
SLOW_POINTS = [
    ("build:model:routing_decisions", "INT"),
    ("ingest:before-commit", "TERM"),
    ("txn:before-commit#2", "INT"),
    ("publish:after-candidates", "TERM"),
    ("publish:after-exchange:routing_plan", "INT"),
    ("export:published", "TERM"),
    ("publish:after-exchange:training_plan", "TERM"),
]


def signal_at(env: Env, tmp_path: Path, point: str, sig: str, suite: str = "signals") -> None:
    ws = copy_workspace(env.template, tmp_path / "ws")
    proc = launch(_plan_args(env, ws), cwd=ws,
                  extra_env={"FOXWAREHOUSE_FAULT": point, "FOXWAREHOUSE_FAULT_ACTION": f"signal:{sig}"})
    code, _, err = finish(proc, timeout=60)
    line = assert_one_line(code, err, sig)
    found = verify_after_kill(env, ws)
    assert not _staging_left(ws / "out"), "a signal must clean up like Ctrl-C: staging folders left"
    if part_manifests(ws / "out")["training_plan"] == env.manifest_b["training_plan"]:
        # The new plan is live: its run is recorded as exported (published), and the line says so.
        assert found["killed_run"] == "exported", found
        assert "published" in line, line
        with Warehouse(ws / "w.duckdb", read_only=True) as wh:
            assert wh.resolve_run("published") == wh.resolve_run("latest")
    recover(env, ws)
    line = _generic(line, ws)
    record(suite, f"plan: SIG{sig} at {point}", f"exit {code}: {line}; {found['export_seen']}; "
           f"run {found['killed_run']}", command="plan", point=point, nothing_lost=True, **found)


@pytest.mark.parametrize("point,sig", POINTS)
def test_signal_at_point_of_plan(env: Env, tmp_path: Path, point: str, sig: str) -> None:
    signal_at(env, tmp_path, point, sig)


@pytest.mark.slow
@pytest.mark.parametrize("point,sig", SLOW_POINTS)
def test_signal_at_more_points_of_plan(env: Env, tmp_path: Path, point: str, sig: str) -> None:
    signal_at(env, tmp_path, point, sig, suite=SWEEP)


# --- a long DuckDB statement ---------------------------------------------------------------------------

def interrupt_query(env: Env, sig: str, delay: float) -> tuple[str, float]:
    proc = launch(["query", LONG_QUERY, "--db", env.template / "w.duckdb"], cwd=env.template)
    assert handlers_installed(proc)
    time.sleep(delay)
    assert proc.poll() is None, proc.communicate()
    sent = time.monotonic()
    proc.send_signal(SIGNALS[sig][0])
    # How long until the user sees the line (the interpreter's teardown after it is not counted: on a
    # loaded machine it alone can take a second or two).
    ready, _, _ = select.select([proc.stderr], [], [], 15)
    took = time.monotonic() - sent
    code, _, err = finish(proc, timeout=30)
    assert ready and code is not None, f"SIG{sig} did not stop the query within 15 s: {err[-2000:]}"
    return assert_one_line(code, err, sig), took


@pytest.mark.parametrize("sig", ["INT", pytest.param("TERM", marks=pytest.mark.slow)])
def test_signal_stops_a_long_query(env: Env, sig: str) -> None:
    before = warehouse_snapshot(env.template / "w.duckdb", read_only=True)
    line, took = interrupt_query(env, sig, delay=1.2)   # imports done, the join running inside DuckDB
    assert took < 3.0, f"the query took {took:.1f} s to stop"
    assert warehouse_snapshot(env.template / "w.duckdb", read_only=True) == before
    record("signals" if sig == "INT" else SWEEP, f"query: SIG{sig} during a long join", f"stopped within 3 s; {line}", seconds=round(took, 2))


@pytest.mark.slow
def test_signal_at_random_points_of_query(env: Env) -> None:
    rng = random.Random(15)
    for i in range(8):
        sig = rng.choice(["INT", "TERM"])
        line, took = interrupt_query(env, sig, delay=rng.uniform(0.0, 2.5))
        assert took < 3.0, (i, took)
    record(SWEEP, "query: 8 signals at random points", "each stopped within 3 s, one line")


# --- random points of plan (slow) ------------------------------------------------------------------------

_PLAN_SECONDS: dict[bool, float] = {}


def _plan_seconds(env: Env, tmp: Path, gate: bool) -> float:
    """How long an uninterrupted `plan` B takes from the moment the handlers are in."""
    if gate not in _PLAN_SECONDS:
        timing = copy_workspace(env.template, tmp)
        proc = launch(_plan_args(env, timing, gate), cwd=timing)
        assert handlers_installed(proc)
        started = time.monotonic()
        code, _, err = finish(proc, timeout=180)
        assert code == 0, err
        _PLAN_SECONDS[gate] = time.monotonic() - started
    return _PLAN_SECONDS[gate]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_signal_at_random_point_of_plan(env: Env, tmp_path: Path, seed: int) -> None:
    """A signal at a random moment of `plan` (a third of them with the SQL unit tests, which run
    on in-memory DuckDB connections, in the way)."""
    rng = random.Random(seed)
    sig = "INT" if seed % 2 == 0 else "TERM"
    gate = seed % 3 == 0
    seconds = _plan_seconds(env, tmp_path / "timing", gate)
    ws = copy_workspace(env.template, tmp_path / "ws")
    proc = launch(_plan_args(env, ws, gate), cwd=ws)
    assert handlers_installed(proc)
    delay = rng.uniform(0.0, seconds)
    time.sleep(delay)
    proc.send_signal(SIGNALS[sig][0])
    code, _, err = finish(proc, timeout=60)
    if code == 0:
        what = "finished before the signal"
    else:
        what = _generic(assert_one_line(code, err, sig), ws)
    found = verify_after_kill(env, ws)
    assert not _staging_left(ws / "out")
    if found["export_seen"] == "new export":
        assert found["killed_run"] == "exported", found
    recover(env, ws)
    record(SWEEP, f"plan: SIG{sig} at random point #{seed}", f"{what}; {found['export_seen']}; "
           f"run {found['killed_run']}", command="plan (timed signal)", delay=round(delay, 3), nothing_lost=True, **found)


# --- trainer side: load_plan never blocks ------------------------------------------------------------------

def _load_plan_in_subprocess(path: Path) -> subprocess.CompletedProcess:
    code = ("import sys\nfrom foxwarehouse.consumer import load_plan\nfrom foxwarehouse.errors import PlanError\n"
            "try:\n    load_plan(sys.argv[1])\nexcept PlanError as exc:\n    print('PlanError:', exc)\n")
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=20,
                          env=_env())


@pytest.mark.parametrize("kind", ["fifo", "fifo in a plan folder", "character device"])
def test_load_plan_refuses_a_fifo_or_device(tmp_path: Path, kind: str) -> None:
    if kind == "character device":
        path = Path("/dev/zero")
        if not path.exists():
            pytest.skip("no /dev/zero here")
    else:
        folder = tmp_path / "training_plan" if kind == "fifo in a plan folder" else tmp_path
        folder.mkdir(exist_ok=True)
        path = folder / ("master_training_plan.json" if kind == "fifo in a plan folder" else "plan.json")
        os.mkfifo(path)
        if kind == "fifo in a plan folder":
            path = folder
    try:
        proc = _load_plan_in_subprocess(path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"load_plan({kind}) blocked for 20 s")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith("PlanError:") and ("FIFO" in proc.stdout or "device" in proc.stdout), proc.stdout
    record("signals", f"load_plan on a {kind}", proc.stdout.strip().replace(str(tmp_path), "TMP"))


# --- trainer side: plan(non_blocking=True) on a busy warehouse ---------------------------------------------

@pytest.fixture
def held_warehouse(env: Env, tmp_path: Path) -> Any:
    """A copy of the template whose warehouse another process holds open for writing."""
    ws = copy_workspace(env.template, tmp_path / "ws")
    code = ("import sys, time, duckdb\ncon = duckdb.connect(sys.argv[1])\nprint('holding', flush=True)\n"
            "sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(ws / "w.duckdb")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=_env())
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    try:
        yield ws
    finally:
        holder.communicate(input="", timeout=30)


def test_non_blocking_plan_on_a_busy_warehouse_warns(env: Env, held_warehouse: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    ws = held_warehouse
    with caplog.at_level("WARNING", logger="foxwarehouse"):
        result = foxwarehouse.plan(env.metrics_b, config=env.config, db=ws / "w.duckdb", out=ws / "out",
                                   non_blocking=True)
    assert not result.fresh and result.run_id is None
    assert result.stale_plan_path == ws / "out" / "training_plan" / "master_training_plan.json"
    message = " ".join(result.warnings)
    assert "in use by another process" in message and "wait=" in message and "--wait" not in message, message
    assert any("no new training plan" in r.getMessage() for r in caplog.records), caplog.text
    with pytest.raises(WarehouseError) as caught:    # blocking: raises, and talks to a Python caller
        foxwarehouse.plan(env.metrics_b, config=env.config, db=ws / "w.duckdb", out=ws / "out")
    assert "wait=" in caught.value.message and "--wait" not in caught.value.message, caught.value.message
    assert part_manifests(ws / "out") == env.manifest_a
    record("signals", "plan(non_blocking=True) on a busy warehouse",
           re.sub(r"PID \d+", "PID N", message.replace(str(ws), "WS")))
