"""Concurrency: one writer process per warehouse file; everyone else gets a clear error or waits.

DuckDB locks the database file per process: while one process has it open for writing, no other
process can open it (not even read-only), and while readers have it open, no writer can. A command
that meets the lock exits 2 with "warehouse ... is in use by another process (PID n)", or, with
`--wait SECONDS`, retries until the holder is gone. The exported JSON files are plain files a
reader (the trainer) can read at any time, including during a build.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from foxwarehouse.consumer import load_plan
from helpers import SIMPLE_CONFIG, run_cli, tree_bytes, write_candidates, write_config
from reliability_helpers import ROOT, assert_runs_intact, check_complete_export, export_manifest, warehouse_snapshot
from reliability_log import record


IN_USE = "is in use by another process"

ROWS = [
    {"target": "ret_5m", "symbol": None, "score": 0.8, "sample_size": 10000},
    {"target": "ret_5m", "symbol": "AAA", "score": 0.8, "sample_size": 2000, "stability": "STABLE"},
]
ROWS_2 = ROWS + [{"target": "ret_5m", "symbol": "BBB", "score": 0.6, "sample_size": 2000, "stability": "STABLE"}]


class Holder:
    """Another process holding the warehouse file open (read-write or read-only) until released."""

    def __init__(self, db: Path, read_only: bool = False):
        code = ("import duckdb, sys\n"
                f"con = duckdb.connect(sys.argv[1], read_only={read_only})\n"
                "print('ready', flush=True)\n"
                "sys.stdin.readline()\n"
                "con.close()\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)

    def __enter__(self) -> "Holder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    write_candidates(tmp_path / "m1.parquet", ROWS)
    write_candidates(tmp_path / "m2.parquet", ROWS_2)
    write_config(tmp_path / "config.yaml", SIMPLE_CONFIG)
    result = plan(tmp_path, "m1.parquet")
    assert result.code == 0, result
    return tmp_path


def plan(ws: Path, metrics: str, *extra: Any) -> Any:
    return run_cli(["plan", "--metrics", ws / metrics, "--config", ws / "config.yaml", "--db", ws / "w.duckdb",
                    "--out", ws / "out", *extra])


COMMANDS = {
    "plan": lambda ws: ["plan", "--metrics", ws / "m2.parquet", "--config", ws / "config.yaml", "--db", ws / "w.duckdb",
                        "--out", ws / "out"],
    "ingest": lambda ws: ["ingest", ws / "m2.parquet", "--db", ws / "w.duckdb"],
    "build": lambda ws: ["build", "--config", ws / "config.yaml", "--db", ws / "w.duckdb"],
    "export": lambda ws: ["export", "--db", ws / "w.duckdb", "--out", ws / "out"],
    "runs": lambda ws: ["runs", "--db", ws / "w.duckdb"],
    "jobs": lambda ws: ["jobs", "--db", ws / "w.duckdb"],
    "diff": lambda ws: ["diff", "latest", "latest", "--db", ws / "w.duckdb"],
}


def test_every_command_meets_a_writer_with_a_clear_error(ws: Path) -> None:
    before_db, before_out = warehouse_snapshot(ws / "w.duckdb"), tree_bytes(ws / "out")
    with Holder(ws / "w.duckdb") as holder:
        for name, args in COMMANDS.items():
            result = run_cli(args(ws))
            assert result.code == 2, (name, result)
            assert IN_USE in result.err and f"PID {holder.proc.pid}" in result.err, (name, result)
            assert "--wait" in result.err and "Traceback" not in result.err, (name, result)
            record("concurrency", f"{name} while another process writes", "exit 2: in use", nothing_lost=True)
        # the exported plan stays readable by trainers the whole time
        assert len(load_plan(ws / "out" / "training_plan").jobs()) == 2
    assert_runs_intact(before_db, warehouse_snapshot(ws / "w.duckdb"), allow_new=False)
    assert tree_bytes(ws / "out") == before_out


def test_a_writer_meets_readers_with_a_clear_error_and_readers_share(ws: Path) -> None:
    with Holder(ws / "w.duckdb", read_only=True):
        result = run_cli(COMMANDS["runs"](ws))          # readers share the file
        assert result.code == 0, result
        result = plan(ws, "m2.parquet")                   # a writer does not get in
        assert result.code == 2 and IN_USE in result.err, result
    record("concurrency", "runs while another process reads", "ok (readers share)", nothing_lost=True)
    record("concurrency", "plan while another process reads", "exit 2: in use", nothing_lost=True)


def test_wait_gets_in_once_the_holder_releases(ws: Path) -> None:
    before = warehouse_snapshot(ws / "w.duckdb")
    with Holder(ws / "w.duckdb") as holder:
        timer = threading.Timer(1.5, holder.release)
        timer.start()
        started = time.monotonic()
        result = plan(ws, "m2.parquet", "--wait", "60")
        waited = time.monotonic() - started
        timer.join()
    assert result.code == 0, result
    assert waited >= 1.0, waited
    new = assert_runs_intact(before, warehouse_snapshot(ws / "w.duckdb"))
    assert len(new) == 1
    assert len(check_complete_export(ws / "out")["jobs"]) == 3
    record("concurrency", "plan --wait 60 while another process writes", f"waited {waited:.1f} s, then ok",
           nothing_lost=True)


def test_wait_gives_up_with_the_same_error(ws: Path) -> None:
    with Holder(ws / "w.duckdb"):
        started = time.monotonic()
        result = plan(ws, "m2.parquet", "--wait", "1")
        waited = time.monotonic() - started
    assert result.code == 2 and IN_USE in result.err, result
    assert waited >= 1.0
    record("concurrency", "plan --wait 1 while another process writes for longer", "exit 2 after 1 s",
           nothing_lost=True)


@pytest.mark.slow  # a build paused 4 s on purpose: with the slow sweep
def test_second_plan_during_a_slow_build(ws: Path, tmp_path: Path) -> None:
    """A real `plan` paused inside its build: a second plan is refused, then waits its turn."""
    before = warehouse_snapshot(ws / "w.duckdb")
    previous = export_manifest(ws / "out")
    hits = tmp_path / "hits.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOXWAREHOUSE_FAULT")}
    env.update(PYTHONPATH=str(ROOT), FOXWAREHOUSE_FAULT="build:model:routing_decisions",
               FOXWAREHOUSE_FAULT_ACTION="sleep:4", FOXWAREHOUSE_FAULT_LIST=str(hits))
    first = subprocess.Popen([sys.executable, "-m", "foxwarehouse.cli", "plan", "--metrics", str(ws / "m1.parquet"),
                              "--config", str(ws / "config.yaml"), "--db", str(ws / "w.duckdb"),
                              "--out", str(ws / "out"), "--force"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # m1 is published already: plan it again
    try:
        deadline = time.monotonic() + 60
        while "build:model:routing_decisions" not in (hits.read_text() if hits.exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        refused = plan(ws, "m2.parquet")
        assert refused.code == 2 and IN_USE in refused.err and f"PID {first.pid}" in refused.err, refused
        reader = run_cli(COMMANDS["runs"](ws))
        assert reader.code == 2 and IN_USE in reader.err, reader
        assert export_manifest(ws / "out") == previous           # trainers still read the previous plan
        assert len(load_plan(ws / "out" / "training_plan").jobs()) == 2
        waited = plan(ws, "m2.parquet", "--wait", "120")
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert waited.code == 0, waited
    after = warehouse_snapshot(ws / "w.duckdb")
    new = assert_runs_intact(before, after)
    assert [after["runs"][r]["row"]["status"] for r in new] == ["exported", "exported"]
    assert len(check_complete_export(ws / "out")["jobs"]) == 3     # the second plan published last
    record("concurrency", "plan while another plan is building", "exit 2: in use", nothing_lost=True)
    record("concurrency", "runs while a plan is building", "exit 2: in use", nothing_lost=True)
    record("concurrency", "trainer reads the exported plan while a plan is building", "previous plan, complete",
           nothing_lost=True)
    record("concurrency", "plan --wait 120 while another plan is building", "ok after the first finished",
           nothing_lost=True)
