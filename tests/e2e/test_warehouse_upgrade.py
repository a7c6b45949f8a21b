"""Warehouses written before master_plan became a view (schema version 1, a stored copy per run)
still read, and upgrade to the view when opened for writing without losing a run's jobs."""
from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pytest

import foxwarehouse
from foxwarehouse.errors import WarehouseError
from foxwarehouse.analyst.feed import stream_jobs
from foxwarehouse.project import bundled_dir
from foxwarehouse.warehouse import SCHEMA_VERSION, Warehouse

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
