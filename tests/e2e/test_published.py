"""The `published` run reference: what the trainer reads, not merely the newest build."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import foxwarehouse
from foxwarehouse.errors import RunNotFound
from helpers import strict_json_load

# Run A: T1 strong on both sides (two ROUTE_BOTH symbols); run B: T1's symbols are weak.
ROWS_A = [
    {"target": "T1", "symbol": None, "score": 0.80, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "MSFT", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T2", "symbol": None, "score": 0.20, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T2", "symbol": "AAPL", "score": 0.60, "sample_size": 5_000, "stability": "STABLE"},
]
ROWS_B = [dict(r, score=0.1) if r["symbol"] else r for r in ROWS_A]


def master(fw) -> dict:
    return strict_json_load(fw.root / "out" / "training_plan" / "master_training_plan.json")


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def build_without_export(fw, rows) -> str:
    path = fw.candidates(rows, name="b.parquet")
    assert fw.cli("ingest", path, "--db", fw.db).code == 0
    result = fw.cli("build", "--db", fw.db, "--config", fw.config())
    assert result.code == 0, result
    return result.out.split()[1].rstrip(":")


def count(db: Path, sql: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_jobs_and_views_follow_the_published_run_not_the_newest_build(fw) -> None:
    plan_a = fw.plan(ROWS_A, out="out")
    run_a = plan_a.master["metadata"]["run_id"]
    run_b = build_without_export(fw, ROWS_B)
    assert run_b != run_a

    published = master(fw)
    both = [j for j in published["jobs"] if j["route"] == "ROUTE_BOTH"]
    assert both
    result = fw.cli("jobs", "--db", fw.db)
    assert result.code == 0, result
    assert [j["job_id"] for j in jsonl(result.out)] == [j["job_id"] for j in published["jobs"]]
    routed = fw.cli("jobs", "--db", fw.db, "--route", "ROUTE_BOTH")
    assert len(jsonl(routed.out)) == len(both)
    # the newest build is still one --run away
    newest = fw.cli("jobs", "--db", fw.db, "--run", "latest", "--route", "ROUTE_BOTH")
    assert newest.code == 0 and jsonl(newest.out) == []

    q = fw.cli("query", "SELECT count(*) AS n FROM published_training_jobs", "--db", fw.db, "--format", "csv")
    assert q.code == 0, q
    assert int(q.out.split()[1]) == published["metadata"]["total_jobs"]
    # the persistent views are current in a plain DuckDB session too
    assert count(fw.db, "SELECT count(*) FROM published_training_jobs") == published["metadata"]["total_jobs"]
    assert count(fw.db, "SELECT count(*) FROM published_routing_decisions WHERE route = 'ROUTE_BOTH'") == 2
    assert count(fw.db, "SELECT count(*) FROM latest_routing_decisions WHERE route = 'ROUTE_BOTH'") == 0
    with foxwarehouse.open(fw.db) as wh:
        assert wh.run_id("published") == run_a
        assert wh.run_id() == run_b   # the library default stays latest
        assert wh.jobs(run="published").count("*").fetchall()[0][0] == published["metadata"]["total_jobs"]
        assert wh.sql("SELECT count(*) FROM published_decision_trace WHERE stage = 'route'").fetchall()[0][0] > 0

    report = fw.cli("report", "--db", fw.db, "--out", fw.path("r.html"))
    assert report.code == 0, report
    assert run_a in fw.path("r.html").read_text(encoding="utf-8").split("id='run-id'>")[1][:60]


def test_published_follows_an_export_and_a_rollback(fw) -> None:
    run_a = fw.plan(ROWS_A, out="out").master["metadata"]["run_id"]
    run_b = build_without_export(fw, ROWS_B)
    assert fw.cli("export", "--db", fw.db, "--out", fw.path("out")).code == 0
    assert master(fw)["metadata"]["run_id"] == run_b
    with foxwarehouse.open(fw.db) as wh:
        assert wh.run_id("published") == run_b
    assert fw.cli("jobs", "--db", fw.db, "--route", "ROUTE_BOTH").out.strip() == ""

    rollback = fw.cli("export", "--db", fw.db, "--out", fw.path("out"), "--run", "latest~1")
    assert rollback.code == 0, rollback
    published = master(fw)
    assert published["metadata"]["run_id"] == run_a
    with foxwarehouse.open(fw.db) as wh:
        assert wh.run_id("published") == run_a
        assert wh.run_id("latest") == run_b
    lines = jsonl(fw.cli("jobs", "--db", fw.db).out)
    assert [j["job_id"] for j in lines] == [j["job_id"] for j in published["jobs"]]
    q = fw.cli("query", "SELECT count(*) AS n FROM published_training_jobs", "--db", fw.db, "--format", "csv")
    assert int(q.out.split()[1]) == published["metadata"]["total_jobs"]


def test_published_before_any_export_is_a_clear_error(fw) -> None:
    build_without_export(fw, ROWS_A)
    result = fw.cli("jobs", "--db", fw.db)
    assert result.code == 2 and "no plan has been published yet" in result.err, result
    assert "Traceback" not in result.err
    assert fw.cli("jobs", "--db", fw.db, "--run", "latest").code == 0
    with foxwarehouse.open(fw.db) as wh:
        with pytest.raises(RunNotFound, match="no plan has been published yet"):
            wh.run_id("published")
        assert wh.sql("SELECT count(*) FROM published_training_jobs").fetchall()[0][0] == 0


def test_help_says_jobs_and_report_default_to_published(fw) -> None:
    for command in ("jobs", "report"):
        result = fw.cli(command, "--help")
        assert "published" in " ".join(result.out.split()), result
