"""Build and ingest speed-ups: the faster paths give the answers of the queries they replace.

* names are trimmed by a fast path (a regular expression finds the few values with white space
  around them) that equals trim(x, WHITESPACE) for every value;
* the ingest value checks are counted in one scan and the first failing one is reported as before;
* audits of one model that filter rows (not_null, accepted_values) are counted in one scan, and a
  failing one reports the same rows and counts as its own query;
* a build of a fresh run does not look for the run's old rows; rebuilding a run replaces them.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
from helpers import SIMPLE_CONFIG, run_cli, write_candidates, write_config
from reliability_log import record

from foxwarehouse.build import audits as audits_mod
from foxwarehouse.build.audits import Audit, check_audits
from foxwarehouse.ingest.specs import WHITESPACE, trim_names

SUITE = "build and ingest fast paths"


NAMES = [None, "", " ", "x", " x", "x ", "\u3000x\u2028", "a b", " \u0301a", "a\u0301 ", "\x1cx\x1c", "\t\n",
         "\x85x\xa0", "é ", "\u200b x", "x\u200a", "multi\nline ", "\u202fx\u205f"]


def test_fast_trim_equals_trim_with_the_white_space_set():
    con = duckdb.connect()
    for value in NAMES:
        got = con.execute(f"SELECT {trim_names('CAST($1 AS VARCHAR)')}", [value]).fetchone()[0]
        assert got == (None if value is None else value.strip(WHITESPACE)), repr(value)
    record(SUITE, "fast name trim", "equal", klass="ingest", message=f"{len(NAMES)} edge values")


def _rows(n: int = 4) -> list[dict]:
    return [{"target": "fwd_ret_15m", "symbol": None if i == 0 else f"S{i}", "score": 0.7, "sample_size": 500,
             "stability": "STABLE", "leakage_status": "SAFE"} for i in range(n)]


def test_the_first_failing_value_check_is_reported_with_its_rows(tmp_path: Path):
    rows = _rows(8)
    rows[2]["stability"] = "WOBBLY"      # an enum check (column order: stability before sample_size)
    rows[3]["sample_size"] = -5          # a later check (negative sample size) also fails
    rows[5]["stability"] = "SHAKY"
    metrics = write_candidates(tmp_path / "m.csv", rows)
    result = run_cli(["plan", "--metrics", metrics, "--config", write_config(tmp_path / "c.yaml", SIMPLE_CONFIG),
                      "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out"])
    assert result.code == 2, result
    assert result.err.count("\n") == 1 and "Traceback" not in result.err, result
    assert "column 'stability': 2 rows have a value that is not one of" in result.err, result
    assert "row 3: 'WOBBLY'; row 6: 'SHAKY'" in result.err, result
    record(SUITE, "two failing checks", "first reported", klass="ingest", message=result.err.strip())


def test_a_negative_sample_size_after_passing_value_checks(tmp_path: Path):
    rows = _rows(4)
    rows[1]["sample_size"] = -1
    metrics = write_candidates(tmp_path / "m.parquet", rows)
    result = run_cli(["plan", "--metrics", metrics, "--config", write_config(tmp_path / "c.yaml", SIMPLE_CONFIG),
                      "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out"])
    assert result.code == 2 and "column 'sample_size': 1 row is negative: row 2: -1" in result.err, result
    record(SUITE, "negative sample size", "exit 2", klass="ingest", message=result.err.strip())


def test_fused_audit_counts_equal_the_single_queries(monkeypatch):
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE m AS SELECT * FROM (VALUES ('a', 'X', 1), ('b', NULL, 2), ('c', 'Y', NULL), "
                "('d', 'Z', 9), ('e', 'X', 3)) AS t(job_id, route, priority)")
    audits = [
        Audit("routes", "m", "accepted_values", {"columns": ["route"], "values": ["X", "Y"], "allow_null": False}),
        Audit("keys", "m", "not_null", ["job_id", "priority"]),
        Audit("priorities", "m", "accepted_values", {"columns": ["priority"], "values": [1, 2, 3], "allow_null": True}),
        Audit("all_fine", "m", "not_null", ["job_id"]),
    ]

    def relation(kind: str, name: str) -> str:
        return "temp.main.m"

    fused = [f.message() for f in check_audits(con, audits, relation)]
    monkeypatch.setattr(audits_mod, "_fused_counts", lambda *a: {})
    single = [f.message() for f in check_audits(con, audits, relation)]
    assert fused == single and len(fused) == 3, fused
    assert "audit routes on m failed: 2 rows:" in fused[0]
    record(SUITE, "fused audits", "same failures", klass="audits", message=fused[0].splitlines()[0])


def test_rebuilding_a_built_run_replaces_its_rows(tmp_path: Path):
    from foxwarehouse.build.builder import build
    from foxwarehouse.context import Context
    from foxwarehouse.warehouse import Warehouse

    metrics = write_candidates(tmp_path / "m.parquet", _rows(5))
    config = write_config(tmp_path / "c.yaml", SIMPLE_CONFIG)
    db = tmp_path / "w.duckdb"
    assert run_cli(["ingest", metrics, "--db", db]).code == 0
    assert run_cli(["build", "--db", db, "--config", config]).code == 0
    with Warehouse(db) as wh:
        run_id = wh.resolve_run("latest")
        before = wh.con.execute("SELECT count(*) FROM routing_decisions WHERE run_id = ?", [run_id]).fetchone()[0]
        build(wh, Context.load(config), run_id)   # a direct call on a built run: its rows are replaced
        after = wh.con.execute("SELECT count(*) FROM routing_decisions WHERE run_id = ?", [run_id]).fetchone()[0]
    assert before == after == 4
    record(SUITE, "rebuild of a built run", "rows replaced", klass="build")
