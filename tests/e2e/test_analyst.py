"""Analyst views and entry points: latest_* views, foxwarehouse.open(), `foxwarehouse query`."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest

import foxwarehouse
from foxwarehouse.analyst.session import (
    ALL_LATEST_VIEWS,
    LATEST_VIEWS,
    AnalystWarehouse,
    format_table,
    is_view_model,
    query,
    to_json_value,
)
from foxwarehouse.errors import FoxError
from foxwarehouse.pipeline import plan, run_build, run_ingest
from foxwarehouse.warehouse import Warehouse
from helpers import EXAMPLES, run_cli

DEMO = EXAMPLES / "routing_candidates" / "routing_candidates.parquet"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("analyst")
    db = root / "wh.duckdb"
    plan(DEMO, db=db, out=root / "out")
    return db


def _con(db: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(db), read_only=True)


def test_latest_views_are_persistent_and_read_the_newest_built_run(demo_db: Path) -> None:
    con = _con(demo_db)
    try:
        views = {r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary").fetchall()}
        assert set(ALL_LATEST_VIEWS) <= views
        latest = con.execute("SELECT run_id FROM runs WHERE status IN ('built', 'exported') ORDER BY seq DESC LIMIT 1").fetchone()[0]
        for view, table in LATEST_VIEWS.items():
            columns = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
            assert "run_id" not in columns, view
            n_view = con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
            n_table = con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [latest]).fetchone()[0]
            assert n_view == n_table > 0, view
        assert con.execute("SELECT count(*) FROM latest_plan_summary").fetchone()[0] == 1
        # the on-demand decision trace: seven stability rules per candidate row, five route rules per pair
        counts = dict(con.execute("SELECT stage, count(*) FROM latest_decision_trace GROUP BY stage").fetchall())
        assert counts["stability"] == 7 * 105 and counts["route"] == 5 * 100
        assert "decision_trace" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    finally:
        con.close()


def test_view_models_are_not_stored(tmp_path: Path) -> None:
    from foxwarehouse.project import packaged_project

    from foxwarehouse.models import model_meta

    meta = model_meta(packaged_project())
    assert meta["decision_trace"].materialized == "view" and meta["master_plan"].materialized == "view"
    assert meta["routing_decisions"].materialized is None
    # the older header comment is still recognised, though the bundled models no longer carry it
    assert is_view_model("-- materialized: view\nSELECT 1\n")
    assert not is_view_model(packaged_project().model_paths()["decision_trace"].read_text(encoding="utf-8"))
    result = run_cli(["build", "--db", tmp_path / "x.duckdb"])
    assert result.code == 2  # nothing ingested; the build itself is covered by the fixture


def test_a_model_may_not_ref_a_view_model(tmp_path: Path) -> None:
    from foxwarehouse.project import init_project

    root = tmp_path / "proj"
    init_project(root)
    (root / "sql" / "bad.sql").write_text("SELECT * FROM {{ ref('decision_trace') }}\n", encoding="utf-8")
    metrics = DEMO
    result = run_cli(["--project-dir", root, "plan", "--metrics", metrics, "--db", tmp_path / "wh.duckdb",
                      "--out", tmp_path / "out"])
    assert result.code == 2 and "materialized: view" in result.err


def test_latest_ignores_runs_that_are_only_ingested(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    first = plan(DEMO, db=db, out=tmp_path / "out")
    report = run_ingest(DEMO, db=db)  # a newer run, not built
    assert report.run_id != first.run_id
    with foxwarehouse.open(db) as wh:
        assert wh.run_id("latest") == first.run_id
        assert wh.sql("SELECT count(*) FROM latest_training_jobs").fetchall()[0][0] == first.total_jobs
    run_build(db=db)
    with foxwarehouse.open(db) as wh:
        assert wh.run_id("latest") == report.run_id


def test_empty_warehouse_opens_without_views(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    Warehouse(db).close()  # schema only, no run, no model table
    with foxwarehouse.open(db) as wh:
        assert wh.sql("SELECT count(*) FROM runs").fetchall() == [(0,)]
        views = {r[0] for r in wh.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert not views & set(ALL_LATEST_VIEWS)
    result = run_cli(["query", "SELECT count(*) AS n FROM runs", "--db", db])
    assert result.code == 0 and "(1 row)" in result.out


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(["query", "SELECT 1", "--db", tmp_path / "nope.duckdb"])
    assert result.code == 2
    assert "warehouse not found" in result.err and "Traceback" not in result.err


def test_older_warehouse_without_views_gets_temporary_ones(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    plan(DEMO, db=db, out=tmp_path / "out")
    con = duckdb.connect(str(db))
    for view in ALL_LATEST_VIEWS:
        con.execute(f"DROP VIEW {view}")
    con.close()
    with foxwarehouse.open(db) as wh:
        assert wh.sql("SELECT count(*) FROM latest_routing_decisions").fetchall()[0][0] == 100
        assert wh.sql("SELECT count(*) FROM latest_decision_trace WHERE stage = 'route'").fetchall()[0][0] == 500


def test_open_returns_relations(demo_db: Path) -> None:
    with foxwarehouse.open(demo_db) as wh:
        rel = wh.decisions()
        assert isinstance(rel, duckdb.DuckDBPyRelation)
        table = rel.to_arrow_table()
        assert table.num_rows == 100 and "route" in table.column_names and "run_id" in table.column_names
        both = wh.jobs(route="ROUTE_BOTH")
        assert {r[0] for r in both.select("route").fetchall()} == {"ROUTE_BOTH"}
        orders = [r[0] for r in wh.jobs().select("plan_order").fetchall()]
        assert orders == sorted(orders)
        assert wh.decisions(target="fwd_ret_15m", symbol="AAPL").count("*").fetchall() == [(1,)]
        assert wh.summary().select("total_jobs").fetchall()[0][0] == wh.jobs().count("*").fetchall()[0][0]
        assert wh.cs_decisions().count("*").fetchall() == [(5,)]
        trace = wh.trace("fwd_ret_15m", "AAPL")
        assert {r[0] for r in trace.select("side").fetchall()} == {"cs", "symbol", "pair"}
        assert wh.trace("fwd_ret_15m", "AAPL", run=wh.run_id()).count("*").fetchall() == trace.count("*").fetchall()
        assert {r[0] for r in wh.trace("fwd_ret_15m").select("side").fetchall()} == {"cs"}
        assert wh.sql("SELECT ?::INT + 1 AS x", params=[41]).fetchall() == [(42,)]
        assert wh.run_info()["status"] in ("built", "exported")
        reader = wh.sql("SELECT * FROM latest_training_jobs").to_arrow_reader()
        assert sum(batch.num_rows for batch in reader) > 0


def test_open_is_read_only(demo_db: Path) -> None:
    with foxwarehouse.open(demo_db) as wh:
        with pytest.raises(FoxError):
            wh.sql("DELETE FROM runs").fetchall()
        with pytest.raises(FoxError, match="no table"):
            wh.table("no_such_model")


def test_query_table_format(demo_db: Path) -> None:
    text = query(demo_db, "SELECT route, count(*) AS pairs FROM latest_routing_decisions GROUP BY route ORDER BY route")
    lines = text.splitlines()
    assert lines[0].split("|")[0].strip() == "route" and lines[0].rstrip().endswith("pairs")
    assert set(lines[1]) <= {"-", "+"}
    assert lines[-1] == "(5 rows)"
    widths = {len(line) for line in lines[2:-1]}
    assert len(widths) == 1  # aligned
    assert "ROUTE_BOTH" in text


def test_query_csv_and_json_formats(demo_db: Path) -> None:
    sql = ("SELECT job_id, model_families, priority, 'nan'::DOUBLE AS x, 'inf'::DOUBLE AS y "
           "FROM latest_training_jobs ORDER BY plan_order LIMIT 3")
    rows = list(csv.DictReader(io.StringIO(query(demo_db, sql, fmt="csv"))))
    assert len(rows) == 3 and rows[0]["model_families"].startswith("[")

    def refuse(token: str) -> None:
        raise AssertionError(f"non-strict JSON token {token}")

    data = json.loads(query(demo_db, sql, fmt="json"), parse_constant=refuse)
    assert len(data) == 3
    assert data[0]["x"] is None and data[0]["y"] is None
    assert isinstance(data[0]["model_families"], list) and isinstance(data[0]["priority"], int)


def test_query_cli(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(["query", "SELECT total_jobs FROM latest_plan_summary", "--db", demo_db, "--format", "json"])
    assert result.code == 0, result
    assert json.loads(result.out)[0]["total_jobs"] > 0
    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT 7 AS seven"))
    result = run_cli(["query", "-", "--db", demo_db, "--format", "csv"])
    assert result.code == 0 and result.out.split() == ["seven", "7"]
    result = run_cli(["query", "SELECT * FROM latest_training_jobs", "--db", demo_db, "--limit", "2", "--format", "json"])
    assert len(json.loads(result.out)) == 2


def test_query_errors_exit_2_without_traceback(demo_db: Path) -> None:
    for sql in ("DELETE FROM runs", "SELEC nonsense", "SELECT * FROM no_such_table", ""):
        result = run_cli(["query", sql, "--db", demo_db])
        assert result.code == 2, (sql, result)
        assert result.err.startswith("error:") and "Traceback" not in result.err
    assert "read-only" in run_cli(["query", "DELETE FROM runs", "--db", demo_db]).err


def test_views_do_not_break_prune(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    plan(DEMO, db=db, out=tmp_path / "out")
    plan(DEMO, db=db, out=tmp_path / "out")
    result = run_cli(["runs", "--prune", "--keep", "1", "--db", db])
    assert result.code == 0, result
    with foxwarehouse.open(db) as wh:
        assert wh.runs().count("*").fetchall() == [(1,)]
        assert wh.sql("SELECT count(*) FROM latest_routing_decisions").fetchall() == [(100,)]


def test_json_values_are_strict() -> None:
    import datetime
    import decimal

    assert to_json_value(float("nan")) is None
    assert to_json_value(decimal.Decimal("1.50")) == 1.5
    assert to_json_value(decimal.Decimal("2")) == 2
    assert to_json_value(datetime.date(2024, 1, 2)) == "2024-01-02"
    assert to_json_value({"k": [float("-inf"), b"\x00"]}) == {"k": [None, "AA=="]}
    assert format_table([], [], []) == "(statement executed; no result set)"


def test_analyst_session_closes(demo_db: Path) -> None:
    wh = AnalystWarehouse(demo_db)
    wh.close()
    con = duckdb.connect(str(demo_db))  # the file is free again for a writer
    con.close()
