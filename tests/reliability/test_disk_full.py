"""Disk full: exit 2, one line naming the file, nothing lost, and the next run works.

The export folder or the warehouse sits on a small tmpfs filled until only a few bytes or kilobytes
are free (skipped, with the reason, where this machine cannot mount one). A full export folder
stops the export before anything visible changes, and the message says which run was built but not
published and which run's plan the folder still holds; `latest` and `published` then differ as
docs/PUBLISHING.md says, until an export with room publishes the new run. A full warehouse disk
stops at the commit with the earlier runs unchanged.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import SIMPLE_CONFIG, THREE_ROWS, CliResult, run_cli, visible_files, write_candidates, write_config
from reliability_helpers import STATE_DIR, assert_runs_intact, check_complete_export, one_line_error, warehouse_snapshot
from reliability_log import record

from foxwarehouse.warehouse import Warehouse

SUITE = "disk_full"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One good run, and metrics with other scores for the run that meets the full disk."""
    ws = tmp_path_factory.mktemp("disk-full") / "ws"
    ws.mkdir()
    write_config(ws / "config.yaml", SIMPLE_CONFIG)
    write_candidates(ws / "first.parquet", THREE_ROWS)
    write_candidates(ws / "next.parquet", [dict(r, score=r["score"] - 0.05) for r in THREE_ROWS])
    return ws


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` (skips the test when mounting is not allowed here)."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()[:200]}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(mount: Path, free: int) -> Path:
    """Write a filler file so that only about `free` bytes stay available on `mount`."""
    filler = mount / "filler"
    st = os.statvfs(mount)
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(st.f_bavail * st.f_frsize - free, 0))
    return filler


def plan(ws: Path, metrics: str, db: Path, out: Path) -> CliResult:
    return run_cli(["plan", "--metrics", ws / metrics, "--config", ws / "config.yaml", "--db", db, "--out", out,
                    "--skip-tests", "--force"])




def refs(db: Path) -> tuple[str, str]:
    """(latest, published) run ids."""
    with Warehouse(db, read_only=True) as wh:
        return wh.resolve_run("latest"), wh.resolve_run("published")


def staged(out: Path) -> list[str]:
    state = out / STATE_DIR
    return sorted(p.name for p in state.iterdir() if p.name.startswith("staging-")) if state.is_dir() else []


def master_run(out: Path) -> str:
    return json.loads((out / "training_plan" / "master_training_plan.json").read_text())["metadata"]["run_id"]


# --- the export folder is full ------------------------------------------------------------------------

def check_full_out(template: Path, tmp_path: Path, free: int) -> str:
    ws = Path(shutil.copytree(template, tmp_path / "ws"))
    db = ws / "w.duckdb"
    with small_tmpfs(tmp_path / "mnt", "1m") as mount:
        out = mount / "out"
        assert plan(ws, "first.parquet", db, out).code == 0
        first = master_run(out)
        before_runs, before_out = warehouse_snapshot(db), visible_files(out)
        filler = fill(mount, free)
        line = one_line_error(plan(ws, "next.parquet", db, out), str(out), "disk full",
                              "is built but not published", f"still holds run {first}'s plan, the 'published' run")
        assert visible_files(out) == before_out, "the visible export changed"
        assert staged(out) == [], "a staging folder was left behind"
        assert_runs_intact(before_runs, warehouse_snapshot(db))
        latest, published = refs(db)
        assert published == first and latest != first and f"run {latest} is built" in line
        # jobs (like the trainer) reads the published run: the plan that is on disk.
        jobs = run_cli(["jobs", "--db", db])
        assert jobs.code == 0, jobs
        on_disk = json.loads((out / "training_plan" / "master_training_plan.json").read_text())["jobs"]
        assert [json.loads(x)["job_id"] for x in jobs.out.splitlines()] == [j["job_id"] for j in on_disk]
        # With room again, exporting the latest run publishes it: latest and published agree again.
        filler.unlink()
        result = run_cli(["export", "--db", db, "--out", out])
        assert result.code == 0, result
        assert refs(db) == (latest, latest) and master_run(out) == latest
        check_complete_export(out)
    return line


# 0 bytes free: the parquet COPY is what fails (DuckDB's IOException); more room moves the failure
# to a later plan file (an OSError), which the slow sweep covers.
@pytest.mark.parametrize("free", [0])
def test_a_full_export_folder_is_one_line_and_publishes_nothing(template: Path, tmp_path: Path, free: int) -> None:
    line = check_full_out(template, tmp_path, free)
    record(SUITE, f"export folder with {free} bytes free", "exit 2", message=line[:300], nothing_lost=True)


@pytest.mark.slow
@pytest.mark.parametrize("free", [1024, 2048, 4096, 8192, 16384, 32768, 65536])
def test_a_full_export_folder_sweep(template: Path, tmp_path: Path, free: int) -> None:
    line = check_full_out(template, tmp_path, free)
    record(SUITE, f"export folder with {free} bytes free", "exit 2", message=line[:300], nothing_lost=True)


# --- the warehouse's disk is full ---------------------------------------------------------------------

def check_full_warehouse(template: Path, tmp_path: Path, free: int) -> str:
    """Plan onto a warehouse on a full disk: exit 0, or exit 2 naming the warehouse with the earlier
    runs unchanged; with room again the same plan works. Returns the outcome."""
    ws = Path(shutil.copytree(template, tmp_path / "ws"))
    out = ws / "out"
    with small_tmpfs(tmp_path / "mnt", "16m") as mount:
        db = mount / "w.duckdb"
        assert plan(ws, "first.parquet", db, out).code == 0
        before_runs, before_out = warehouse_snapshot(db), visible_files(out)
        filler = fill(mount, free)
        result = plan(ws, "next.parquet", db, out)
        filler.unlink()
        if result.code == 0:
            return "exit 0 (fitted)"
        line = one_line_error(result, "disk full")
        assert str(db) in line, line
        if "was published to" in line:
            # The plan went live but the warehouse could not mark it: the message says so, and
            # exporting that run again (now with room) records it.
            run_id = line.split("run ", 1)[1].split("'", 1)[0]
            assert master_run(out) == run_id and "'published' names the run before" in line
            assert run_cli(["export", "--db", db, "--out", out, "--run", run_id]).code == 0
            assert refs(db) == (run_id, run_id)
        else:
            assert visible_files(out) == before_out, "the export folder changed"
            assert_runs_intact(before_runs, warehouse_snapshot(db))
            assert plan(ws, "next.parquet", db, out).code == 0, "the next plan, with room, failed"
        check_complete_export(out)
    return line


@pytest.mark.parametrize("free", [0])   # the commit of the ingest fails (a TransactionException)
def test_a_full_warehouse_disk_is_one_line_and_keeps_earlier_runs(template: Path, tmp_path: Path, free: int) -> None:
    line = check_full_warehouse(template, tmp_path, free)
    assert line.startswith("error: cannot write warehouse"), line
    record(SUITE, f"warehouse disk with {free} bytes free", "exit 2", message=line[:300], nothing_lost=True)


@pytest.mark.slow
@pytest.mark.parametrize("free", [4096, 65536, 100_000, 120_000, 130_000, 140_000, 146_000, 150_000, 200_000])
def test_a_full_warehouse_disk_sweep(template: Path, tmp_path: Path, free: int) -> None:
    outcome = check_full_warehouse(template, tmp_path, free)
    record(SUITE, f"warehouse disk with {free} bytes free", "exit 2" if outcome.startswith("error") else outcome,
           message=outcome[:300], nothing_lost=True)
