"""training_plan.jobs_parquet: the jobs of the final view also as parquet partitioned by target."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from helpers import config_with, plan_in, strict_json_load, write_config

from foxwarehouse.config import config_hash, load_config
from foxwarehouse.project import bundled_dir

ROWS = [
    {"target": "fwd_ret_15m", "symbol": None, "score": 0.80, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "fwd_ret_15m", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "fwd_ret_15m", "symbol": "MS/FT", "score": 0.0000125, "sample_size": 5_000, "stability": "DRIFTING"},
    {"target": "a/b c=d", "symbol": None, "score": 0.20, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "a/b c=d", "symbol": "AAPL", "score": 0.60, "sample_size": 5_000, "stability": "STABLE"},
]


def parquet_jobs(folder: Path) -> list[dict]:
    """The jobs of the partitioned parquet, as master_training_plan.json lists them."""
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT * FROM read_parquet({str(folder / '**' / '*.parquet')!r}, hive_partitioning = true) "
        "ORDER BY plan_order").fetchall()
    columns = [d[0] for d in con.description]
    jobs = []
    for row in rows:
        job = dict(zip(columns, row))
        del job["plan_order"]
        jobs.append(job)
    return jobs


def as_json_values(job: dict) -> dict:
    return json.loads(json.dumps(job))


@pytest.mark.parametrize("metrics", ["rows", "examples"])
def test_jobs_parquet_reads_back_as_the_jobs_of_the_master_plan(tmp_path: Path, metrics: str) -> None:
    if metrics == "rows":
        plan = plan_in(tmp_path, ROWS, config_with(**{"training_plan.jobs_parquet": True}))
    else:
        config = load_config(None)
        config["training_plan"]["jobs_parquet"] = True
        plan = plan_in(tmp_path, bundled_dir("examples") / "routing_candidates", write_config(tmp_path / "c.yaml", config))
    folder = plan.out / "training_plan" / "jobs_parquet"
    master = strict_json_load(plan.out / "training_plan" / "master_training_plan.json")
    got = parquet_jobs(folder)
    assert got, "no jobs in the parquet"
    # key order and values as in the JSON (the partition column comes back last from the path)
    want = master["jobs"]
    assert [as_json_values({k: job[k] for k in want[0]}) for job in got] == want
    # one folder per target; the manifest of the training_plan folder describes the files
    targets = {job["target"] for job in want}
    assert len([p for p in folder.iterdir() if p.is_dir()]) == len(targets)
    manifest = json.loads((plan.out / "training_plan" / ".foxwarehouse-manifest.json").read_text())
    assert any(name.startswith("jobs_parquet/") for name in manifest["files"])


def test_jobs_parquet_off_leaves_the_plan_files_and_config_hash_as_without_the_key(tmp_path: Path) -> None:
    default = config_with()
    assert config_hash(load_config(write_config(tmp_path / "a.yaml", default))) == \
        config_hash(load_config(write_config(tmp_path / "b.yaml", config_with(**{"training_plan.jobs_parquet": False}))))
    plan = plan_in(tmp_path, ROWS, config_with(**{"training_plan.jobs_parquet": False}))
    assert not (plan.out / "training_plan" / "jobs_parquet").exists()


def test_jobs_parquet_must_be_true_or_false(tmp_path: Path) -> None:
    plan = plan_in(tmp_path, ROWS, config_with(**{"training_plan.jobs_parquet": "yes please"}), expect=2)
    assert "training_plan.jobs_parquet" in plan.result.err


def test_jobs_parquet_is_the_same_bytes_for_the_same_inputs(tmp_path: Path) -> None:
    config = config_with(**{"training_plan.jobs_parquet": True})
    first = plan_in(tmp_path / "a", ROWS, config)
    second = plan_in(tmp_path / "b", ROWS, config)

    def files(out: Path) -> dict[str, bytes]:
        folder = out / "training_plan" / "jobs_parquet"
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}

    assert files(first.out) == files(second.out) and len(files(first.out)) == 2
