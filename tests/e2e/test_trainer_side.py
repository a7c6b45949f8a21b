"""The trainer side around the plan: the in-process pipeline API, the scheduler feed, the example trainer."""
from __future__ import annotations

import csv
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import foxwarehouse
from foxwarehouse.cli import main
from foxwarehouse.errors import ConfigError
from foxwarehouse.project import bundled_dir

EXAMPLE = bundled_dir("examples") / "routing_candidates" / "routing_candidates.parquet"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    result = foxwarehouse.plan(metrics=EXAMPLE, db=root / "w.duckdb", out=root / "METRICS")
    return root, result


def test_plan_returns_a_fresh_result_with_counts(demo):
    root, result = demo
    assert result.fresh and result.plan_is_from_this_run
    assert result.master_plan_path == root / "METRICS" / "training_plan" / "master_training_plan.json"
    plan = json.loads(result.master_plan_path.read_text())
    assert result.total_jobs == len(plan["jobs"]) == sum(result.jobs_by_route.values())
    assert result.run_id == plan["metadata"]["run_id"]


def test_non_blocking_missing_metrics_warns_once_and_reports_the_stale_plan(demo, tmp_path, caplog):
    root, _ = demo
    with caplog.at_level(logging.WARNING, logger="foxwarehouse"):
        result = foxwarehouse.plan(metrics=tmp_path / "nope", db=root / "w.duckdb", out=root / "METRICS",
                                   non_blocking=True)
    assert not result.fresh and not result.plan_is_from_this_run
    assert result.run_id is None
    assert result.stale_plan_path == root / "METRICS" / "training_plan" / "master_training_plan.json"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no new training plan was made" in warnings[0].getMessage()
    assert "stale" in warnings[0].getMessage()


def test_non_blocking_unusable_metrics_do_not_raise(tmp_path):
    bad = tmp_path / "routing_candidates.csv"
    bad.write_text("target,score\nx,0.5\n")  # sample_size missing
    result = foxwarehouse.plan(metrics=bad, db=tmp_path / "w.duckdb", out=tmp_path / "out", non_blocking=True)
    assert not result.fresh and result.stale_plan_path is None
    assert any("sample_size" in w for w in result.warnings)


def test_blocking_mode_raises_on_missing_metrics(tmp_path):
    with pytest.raises(foxwarehouse.errors.InputError):
        foxwarehouse.plan(metrics=tmp_path / "nope", db=tmp_path / "w.duckdb", out=tmp_path / "out")


def test_bad_config_always_raises_even_non_blocking(tmp_path):
    with pytest.raises(ConfigError, match="routing.dev_mode"):
        foxwarehouse.plan(metrics=EXAMPLE, config={"routing": {"dev_mode": "yes"}}, db=tmp_path / "w.duckdb",
                          out=tmp_path / "out", non_blocking=True)


def test_jobs_feed_jsonl_streams_every_job_in_plan_order(demo, capsys):
    root, result = demo
    assert main(["jobs", "--db", str(root / "w.duckdb")]) == 0
    lines = capsys.readouterr().out.splitlines()
    plan = json.loads(result.master_plan_path.read_text())
    assert [json.loads(line) for line in lines] == plan["jobs"]


def test_jobs_feed_filters_and_csv(demo, capsys):
    root, result = demo
    assert main(["jobs", "--db", str(root / "w.duckdb"), "--format", "csv", "--min-priority", "2",
                 "--training-type", "symbol_specific"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    plan = json.loads(result.master_plan_path.read_text())
    expected = [j for j in plan["jobs"] if j["priority"] >= 2 and j["training_type"] == "symbol_specific"]
    assert [r["job_id"] for r in rows] == [j["job_id"] for j in expected]
    assert rows[0]["model_families"] == "|".join(expected[0]["model_families"])


def test_jobs_feed_unknown_run_is_exit_2(demo, capsys):
    root, _ = demo
    assert main(["jobs", "--db", str(root / "w.duckdb"), "--run", "nosuchrun"]) == 2
    assert "unknown run" in capsys.readouterr().err


def test_example_trainer_prints_the_filter_line_and_exactly_the_planned_jobs(demo):
    root, result = demo
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "trainer.py"), str(root / "METRICS" / "training_plan")],
        capture_output=True, text=True, cwd=root, check=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    ).stdout
    assert "Training plan filter applied:" in out
    plan = json.loads(result.master_plan_path.read_text())
    printed = set()
    for line in out.splitlines():
        if line.startswith("train "):
            parts = line.split()
            symbol = parts[3] if parts[1] == "symbol_specific" else None
            families = line.rsplit("families=", 1)[1].split(",")
            printed.add((parts[2], symbol, tuple(families)))
    expected = {(j["target"], j["symbol"], tuple(j["model_families"])) for j in plan["jobs"]
                if j["training_type"] != "blocked"}
    assert printed == expected
