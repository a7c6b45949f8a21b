"""The plan fingerprint and the SQL that makes each job's JSON text.

The fingerprint is one sha256 over the jobs' JSON text concatenated in plan order (the text the
master plan holds for each job); small plans are hashed from Python strings, large ones from Arrow
batches, and both must give that same digest. The job JSON takes a fast path (one to_json of the
whole job) unless the metadata holds an exponent-form number; both paths must give the same bytes
as splicing the YAML-safe metadata into the job object.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from foxwarehouse.build.builder import FINGERPRINT_BATCH_ROWS, plan_fingerprint
from foxwarehouse.jobs_json import _METADATA_JSON, JOB_JSON_SQL


def _jobs_table(con: duckdb.DuckDBPyConnection, n: int, name: str = "jobs") -> None:
    con.execute(f"""CREATE TABLE {name} AS
        SELECT range + 1 AS plan_order, 'job_' || range AS job_id, 't' AS target,
               CASE WHEN range % 3 = 0 THEN NULL ELSE 's' || range END AS symbol,
               'ROUTE_BOTH' AS route, 'symbol_specific' AS training_type, ['lightgbm'] AS model_families,
               CAST(range % 3 AS INTEGER) AS priority, CAST(range AS BIGINT) AS estimated_samples,
               'reason é ' || range AS reason,
               {{'cs_state': 'STRONG', 'score': CASE WHEN range % 5 = 0 THEN 1e-7 ELSE range / 7 END}} AS metadata
        FROM range({n})""")


def _expected(con: duckdb.DuckDBPyConnection, table: str) -> str:
    texts = [r[0] for r in con.execute(f"SELECT {JOB_JSON_SQL} FROM {table} ORDER BY plan_order").fetchall()]
    return hashlib.sha256("".join(texts).encode()).hexdigest()


@pytest.mark.parametrize("jobs", [0, 7, FINGERPRINT_BATCH_ROWS + 5])
def test_fingerprint_is_sha256_of_the_jobs_json_in_plan_order(jobs: int) -> None:
    con = duckdb.connect()
    _jobs_table(con, jobs)
    con.execute(f"CREATE TABLE job_json AS SELECT plan_order, {JOB_JSON_SQL} AS job_json FROM jobs ORDER BY plan_order")
    expected = _expected(con, "jobs")
    assert plan_fingerprint(con, "jobs") == expected            # from the plan's rows
    assert plan_fingerprint(con, "jobs", "job_json") == expected  # from the JSON table an export reuses


def test_fingerprint_changes_with_the_order_or_any_job() -> None:
    con = duckdb.connect()
    _jobs_table(con, 50)
    base = plan_fingerprint(con, "jobs")
    con.execute("CREATE TABLE swapped AS SELECT CASE plan_order WHEN 1 THEN 2 WHEN 2 THEN 1 ELSE plan_order END "
                "AS plan_order, * EXCLUDE (plan_order) FROM jobs")
    assert plan_fingerprint(con, "swapped") != base
    con.execute("UPDATE jobs SET reason = reason || '.' WHERE plan_order = 50")
    assert plan_fingerprint(con, "jobs") != base


def test_master_plan_fingerprint_hashes_its_job_texts(tmp_path: Path) -> None:
    """The fingerprint in a written plan is the sha256 of the plan's own job texts, concatenated."""
    from helpers import EXAMPLES

    import foxwarehouse

    foxwarehouse.plan(metrics=EXAMPLES / "routing_candidates", db=tmp_path / "w.duckdb", out=tmp_path / "out")
    text = (tmp_path / "out" / "training_plan" / "master_training_plan.json").read_text(encoding="utf-8")
    plan = json.loads(text)
    lines = text.split('\n  "jobs": [\n    ', 1)[1].split("\n  ]", 1)[0].split(",\n    ")
    assert len(lines) == len(plan["jobs"]) > 0
    assert plan["metadata"]["plan_fingerprint"] == hashlib.sha256("".join(lines).encode()).hexdigest()


def test_job_json_fast_path_matches_the_spliced_metadata() -> None:
    spliced = (f"""(rtrim(to_json({{'job_id': job_id, 'target': target, 'symbol': symbol, 'route': route,
        'training_type': training_type, 'model_families': model_families, 'priority': priority,
        'estimated_samples': estimated_samples, 'reason': reason}}), '}}') || ',"metadata":' ||
        coalesce({_METADATA_JSON}, 'null') || '}}')""")
    con = duckdb.connect()
    _jobs_table(con, 200)
    con.execute("INSERT INTO jobs SELECT 1000, 'j', 't', NULL, 'R', 'cs', NULL, 1, NULL, '}', NULL")
    con.execute("INSERT INTO jobs SELECT 1001, 'k', 't', 's', 'R', 'cs', [], 1, NULL, 'a: 1e5 \u2028', "
                "{'cs_state': 'x:1e5', 'score': 1e21}")
    rows = con.execute(f"SELECT {JOB_JSON_SQL}, {spliced} FROM jobs ORDER BY plan_order").fetchall()
    assert all(fast == slow for fast, slow in rows)
    assert any('"score":1.0e-7' in fast for fast, _ in rows) and any('1.0e+21' in fast for fast, _ in rows)
    assert all(json.loads(fast) for fast, _ in rows)
