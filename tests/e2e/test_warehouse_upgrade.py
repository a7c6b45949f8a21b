"""Warehouses written before master_plan became a view (schema version 1, a stored copy per run)
still read, and upgrade to the view when opened for writing without losing a run's jobs."""
from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import pytest

import foxwarehouse
from foxwarehouse.errors import WarehouseError
from foxwarehouse.analyst.feed import stream_jobs
from foxwarehouse.project import bundled_dir
from foxwarehouse.warehouse import RUNS_V3_COLUMNS, RUNS_V4_COLUMNS, SCHEMA_VERSION, Warehouse

EXAMPLE = bundled_dir("examples") / "routing_candidates" / "routing_candidates.parquet"
PLAN_COLUMNS = ("run_id, plan_order, job_id, target, symbol, route, training_type, model_families, priority, "
                "estimated_samples, reason, metadata")


def _kind(db: Path, name: str) -> str | None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def _as_version_1(db: Path) -> None:
    """Turn a warehouse into what version 1 wrote: master_plan stored as a table."""
    con = duckdb.connect(str(db))
    try:
        con.execute("DROP VIEW master_plan")
        con.execute(f"CREATE TABLE master_plan AS SELECT {PLAN_COLUMNS} FROM training_jobs ORDER BY run_id, plan_order")
        con.execute("UPDATE foxwarehouse_meta SET value = '1' WHERE key = 'schema_version'")
    finally:
        con.close()


def _jobs(db: Path) -> str:
    out = io.StringIO()
    stream_jobs(db, out, run="latest")
    return out.getvalue()


@pytest.fixture
def planned(tmp_path: Path) -> Path:
    db = tmp_path / "w.duckdb"
    foxwarehouse.plan(metrics=EXAMPLE, db=db, out=tmp_path / "METRICS")
    return db


def test_master_plan_is_a_view_over_training_jobs(planned: Path) -> None:
    assert _kind(planned, "master_plan") == "VIEW"
    assert _kind(planned, "training_jobs") == "BASE TABLE"


def test_a_version_1_warehouse_reads_and_upgrades_with_the_same_jobs(planned: Path) -> None:
    jobs = _jobs(planned)
    _as_version_1(planned)
    assert _kind(planned, "master_plan") == "BASE TABLE"
    assert _jobs(planned) == jobs                       # read-only: the stored copy is read as before
    with Warehouse(planned) as wh:                      # a write connection upgrades
        assert wh.schema_version == SCHEMA_VERSION
    assert _kind(planned, "master_plan") == "VIEW"
    assert _jobs(planned) == jobs


def test_an_upgrade_that_would_lose_jobs_refuses(planned: Path) -> None:
    _as_version_1(planned)
    con = duckdb.connect(str(planned))
    con.execute("DELETE FROM training_jobs WHERE plan_order = 1")
    con.close()
    with pytest.raises(WarehouseError, match="cannot upgrade"):
        Warehouse(planned)
    assert _kind(planned, "master_plan") == "BASE TABLE"


def _as_version_2(db: Path) -> None:
    """Turn a warehouse into what version 2 wrote: no model versions, no test passes, the runs of old."""
    con = duckdb.connect(str(db))
    try:
        con.execute("DROP TABLE run_models")
        con.execute("DROP TABLE test_passes")
        for column in [*RUNS_V3_COLUMNS, *RUNS_V4_COLUMNS]:
            con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        con.execute("UPDATE foxwarehouse_meta SET value = '2' WHERE key = 'schema_version'")
    finally:
        con.close()


def test_a_version_2_warehouse_reads_and_upgrades_to_model_versions(planned: Path, tmp_path: Path, capsys) -> None:
    from helpers import run_cli

    jobs = _jobs(planned)
    _as_version_2(planned)
    # read-only commands work on the old schema: no models fingerprint, models unknown in a diff
    result = run_cli(["runs", "--db", planned], capsys)
    assert result.code == 0 and result.out.splitlines()[1].split()[5] == "-", result
    assert _jobs(planned) == jobs
    result = run_cli(["diff", "latest", "latest", "--db", planned, "--format", "json"], capsys)
    assert result.code == 0, result
    assert json.loads(result.out)["models"]["status"] == "unknown"
    with Warehouse(planned) as wh:                      # a write connection upgrades in place
        assert wh.schema_version == SCHEMA_VERSION == 4
        assert set(RUNS_V3_COLUMNS) | set(RUNS_V4_COLUMNS) <= wh.columns("runs")
        assert {"run_models", "test_passes"} <= wh.tables()
        old_run = wh.resolve_run("latest")
        assert wh.run(old_run)["models_fingerprint"] is None and wh.run_models(old_run) is None
    assert _jobs(planned) == jobs
    # a new run next to the old one records its models; the diff knows the old one's are unknown
    foxwarehouse.plan(metrics=EXAMPLE, db=planned, out=tmp_path / "METRICS", force=True)
    with Warehouse(planned, read_only=True) as wh:
        new_run = wh.resolve_run("latest")
        assert new_run != old_run
        assert wh.run(new_run)["models_fingerprint"] and wh.run_models(new_run)
    result = run_cli(["diff", old_run, "latest", "--db", planned], capsys)
    assert result.code == 0 and "models: unknown (no model versions recorded for a" in result.out, result


def test_a_version_3_warehouse_gains_the_run_timings(planned: Path, tmp_path: Path) -> None:
    """Version 3 had no runs.timings: it is read as is, and a write connection adds the column; the
    next plan records its stage times there."""
    con = duckdb.connect(str(planned))
    try:
        con.execute("ALTER TABLE runs DROP COLUMN timings")
        con.execute("UPDATE foxwarehouse_meta SET value = '3' WHERE key = 'schema_version'")
    finally:
        con.close()
    with Warehouse(planned, read_only=True) as wh:
        assert wh.schema_version == 3 and "timings" not in wh.columns("runs")
    foxwarehouse.plan(metrics=EXAMPLE, db=planned, out=tmp_path / "METRICS", force=True)
    with Warehouse(planned, read_only=True) as wh:
        assert wh.schema_version == 4
        timings = json.loads(wh.run(wh.resolve_run("latest"))["timings"])
    assert set(timings["stages"]) >= {"ingest", "build", "export"}, timings
