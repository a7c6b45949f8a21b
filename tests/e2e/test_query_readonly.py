"""`foxwarehouse query` runs read statements only: nothing that writes a file or changes state."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import plan_in, run_cli

ROWS = [
    {"target": "T1", "symbol": None, "score": 0.80, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("query_ro")
    plan_in(root, ROWS, out="METRICS")
    (root / "side.csv").write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    return root


def _q(ws: Path, sql: str, *extra: str):
    return run_cli(["query", sql, "--db", ws / "warehouse.duckdb", *extra])


FORBIDDEN = {
    "copy_to": "COPY (SELECT * FROM runs) TO '{root}/leak.csv'",
    "copy_over_plan": "COPY (SELECT 1 AS x) TO '{root}/METRICS/training_plan/master_training_plan.json'",
    "copy_from": "COPY runs FROM '{root}/side.csv'",
    "export": "EXPORT DATABASE '{root}/dump'",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "attach": "ATTACH '{root}/extra.duckdb' AS extra",
    "detach": "DETACH extra",
    "set": "SET threads = 1",
    "reset": "RESET threads",
    "pragma": "PRAGMA enable_profiling",
    "create": "CREATE TEMP TABLE x AS SELECT 1",
    "create_macro": "CREATE MACRO m() AS 1",
    "insert": "INSERT INTO runs SELECT * FROM runs",
    "update": "UPDATE runs SET status = 'failed'",
    "delete": "DELETE FROM runs",
    "drop": "DROP VIEW latest_training_jobs",
    "alter": "ALTER TABLE runs ADD COLUMN x INT",
    "call": "CALL pragma_version()",
    "checkpoint": "CHECKPOINT",
    "use": "USE memory",
    "vacuum": "VACUUM",
    "begin": "BEGIN TRANSACTION",
    "explain_analyze_write": "EXPLAIN ANALYZE COPY (SELECT 1) TO '{root}/leak.csv'",
    "explain_analyze_create": "EXPLAIN ANALYZE CREATE TEMP TABLE y AS SELECT 1",
    # hiding tricks
    "leading_comment": "-- just a look\n/* honest */ COPY (SELECT 1) TO '{root}/leak.csv'",
    "lower_case": "copy (select 1) to '{root}/leak.csv'",
    "second_statement": "SELECT 1; COPY (SELECT 1) TO '{root}/leak.csv'",
    "second_after_comment": "SELECT 1 -- ;\n; copy (select 2) to '{root}/leak.csv'",
    "cte_then_copy": "WITH t AS (SELECT 1 AS x) SELECT * FROM t; COPY (WITH t AS (SELECT 1) SELECT * FROM t) TO '{root}/leak.csv'",
}


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_statements_that_write_or_change_state_are_refused(ws: Path, name: str) -> None:
    sql = FORBIDDEN[name].format(root=ws)
    before = sorted(p.name for p in ws.rglob("*"))
    master = ws / "METRICS" / "training_plan" / "master_training_plan.json"
    master_before = master.read_bytes()
    result = _q(ws, sql)
    assert result.code == 2, (name, result)
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1, result
    assert "read" in result.err.lower()
    assert sorted(p.name for p in ws.rglob("*")) == before
    assert master.read_bytes() == master_before


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM runs",
    "  -- leading comment\nselect 1",
    "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
    "VALUES (1), (2)",
    "DESCRIBE runs",
    "SHOW TABLES",
    "SUMMARIZE runs",
    "EXPLAIN SELECT * FROM runs",
    "EXPLAIN ANALYZE SELECT count(*) FROM runs",
    "FROM latest_training_jobs",
    "SELECT 1; SELECT 2",
])
def test_read_statements_still_work(ws: Path, sql: str) -> None:
    result = _q(ws, sql)
    assert result.code == 0, (sql, result)


def test_reading_local_files_stays_allowed(ws: Path) -> None:
    result = _q(ws, f"SELECT sum(a) AS s FROM read_csv('{ws / 'side.csv'}')", "--format", "csv")
    assert result.code == 0, result
    assert result.out.split() == ["s", "4"]


@pytest.mark.parametrize("sql", ["-- comment", "/* nothing */", "  ;  ", ""])
def test_no_statement_is_exit_2(ws: Path, sql: str) -> None:
    result = _q(ws, sql)
    assert result.code == 2, result
    assert "no statement" in result.err or "empty" in result.err
    assert "Traceback" not in result.err


def test_negative_limit_is_exit_2(ws: Path) -> None:
    result = _q(ws, "SELECT 1", "--limit", "-1")
    assert result.code == 2 and "--limit" in result.err, result
