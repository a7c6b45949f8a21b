"""`foxwarehouse runs`: listing runs and pruning old ones."""
from __future__ import annotations

import duckdb

from foxwarehouse.analyst.runs import list_runs

ROWS = [
    {"target": "T1", "symbol": None, "score": 0.80, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "MSFT", "score": 0.60, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T2", "symbol": None, "score": 0.20, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T2", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
]


def run_tables(db) -> dict[str, set[str]]:
    """Every base table with a run_id column -> the run ids it holds."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [t for (t,) in con.execute(
            "SELECT DISTINCT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
            "USING (table_catalog, table_schema, table_name) "
            "WHERE c.column_name = 'run_id' AND t.table_type = 'BASE TABLE' AND c.table_schema = 'main'").fetchall()]
        return {t: {r[0] for r in con.execute(f'SELECT DISTINCT run_id FROM "{t}"').fetchall()} for t in tables}
    finally:
        con.close()


def test_runs_lists_id_time_status_hashes_and_jobs_by_route(fw):
    plans = [fw.plan(ROWS, out=f"out{i}") for i in range(2)]
    result = fw.cli("runs", "--db", fw.db)
    assert result.code == 0, result
    lines = result.out.strip().splitlines()
    assert lines[0].split()[:6] == ["run_id", "created_at", "status", "config", "models", "input"]
    assert len(lines) == 3
    meta = plans[1].master["metadata"]
    last = lines[-1]
    assert last.startswith(meta["run_id"])
    assert " exported " in last
    assert meta["config_hash"][:8] in last and meta["input_fingerprint"][:8] in last
    assert last.split()[5] == meta["models_fingerprint"][:8]
    assert "BOTH=2" in last and "CROSS_SECTIONAL=1" in last and "SYMBOL_SPECIFIC=1" in last

    runs = list_runs(fw.db)
    assert [r["run_id"] for r in runs] == [p.master["metadata"]["run_id"] for p in plans]
    assert runs[0]["jobs_by_route"] == {"ROUTE_BOTH": 2, "ROUTE_CROSS_SECTIONAL": 1, "ROUTE_SYMBOL_SPECIFIC": 1}
    assert runs[0]["status"] == "exported"


def test_runs_shows_an_ingested_run_and_a_missing_warehouse_is_exit_2(fw, tmp_path):
    fw.plan(ROWS)
    assert fw.cli("ingest", fw.candidates(ROWS, name="again.parquet"), "--db", fw.db).code == 0
    out = fw.cli("runs", "--db", fw.db).out.strip().splitlines()
    assert " ingested " in out[-1] and out[-1].rstrip().endswith("-")
    missing = fw.cli("runs", "--db", tmp_path / "none.duckdb")
    assert missing.code == 2 and "warehouse not found" in missing.err and "Traceback" not in missing.err


def test_prune_keeps_the_newest_n_and_removes_rows_from_every_run_table(fw):
    plans = [fw.plan(ROWS, out=f"out{i}") for i in range(4)]
    ids = [p.master["metadata"]["run_id"] for p in plans]
    before = run_tables(fw.db)
    assert before["training_jobs"] == set(ids)
    assert {"runs", "run_models", "source_routing_candidates", "routing_decisions", "training_jobs"} <= set(before)
    assert before["run_models"] == set(ids)

    result = fw.cli("runs", "--db", fw.db, "--prune", "--keep", "2")
    assert result.code == 0, result
    assert "removed 2 run(s); kept 2 run(s)" in result.out
    after = run_tables(fw.db)
    assert set(after) == set(before)
    for table, held in after.items():
        assert held <= set(ids[2:]), (table, held)
    assert after["runs"] == after["training_jobs"] == after["run_models"] == set(ids[2:])
    assert [r["run_id"] for r in list_runs(fw.db)] == ids[2:]
    # master_plan is a view over training_jobs: it survives the prune and holds the kept runs only
    con = duckdb.connect(str(fw.db), read_only=True)
    try:
        assert {r[0] for r in con.execute("SELECT DISTINCT run_id FROM master_plan").fetchall()} == set(ids[2:])
    finally:
        con.close()
    # the kept runs still diff and export; latest~1 is now the older kept run
    d = fw.cli("diff", "latest~1", "latest", "--db", fw.db, "--exit-code")
    assert d.code == 0, d
    assert fw.cli("diff", ids[0], "latest", "--db", fw.db).code == 2
    # nothing left to prune
    again = fw.cli("runs", "--db", fw.db, "--prune", "--keep", "2")
    assert again.code == 0 and "removed 0 run(s)" in again.out


def test_prune_keep_1_keeps_one_run_and_a_new_plan_still_works(fw):
    fw.plan(ROWS, out="out0")
    fw.plan(ROWS, out="out1")
    assert fw.cli("runs", "--db", fw.db, "--prune", "--keep", "1").code == 0
    assert len(list_runs(fw.db)) == 1
    fw.plan(ROWS, out="out2")
    assert len(list_runs(fw.db)) == 2


def test_prune_ignores_views_holding_run_id(fw):
    fw.plan(ROWS, out="out0")
    fw.plan(ROWS, out="out1")
    con = duckdb.connect(str(fw.db))
    try:
        con.execute("CREATE VIEW my_jobs AS SELECT run_id, job_id FROM training_jobs")
    finally:
        con.close()
    result = fw.cli("runs", "--db", fw.db, "--prune", "--keep", "1")
    assert result.code == 0, result
    con = duckdb.connect(str(fw.db), read_only=True)
    try:
        assert con.execute("SELECT count(DISTINCT run_id) FROM my_jobs").fetchone()[0] == 1
    finally:
        con.close()


def test_prune_needs_a_valid_keep(fw):
    fw.plan(ROWS)
    no_keep = fw.cli("runs", "--db", fw.db, "--prune")
    assert no_keep.code == 2 and "--prune needs --keep N" in no_keep.err
    negative = fw.cli("runs", "--db", fw.db, "--prune", "--keep", "-1")
    assert negative.code == 2 and "--keep must be >= 1" in negative.err
    assert len(list_runs(fw.db)) == 1
