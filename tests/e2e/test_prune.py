"""`runs --prune --keep N`: counts successful runs only, never deletes the published run, and shrinks
the warehouse file."""
from __future__ import annotations

import duckdb

import foxwarehouse
from foxwarehouse.analyst.runs import list_runs

ROWS = [
    {"target": f"T{t}", "symbol": s, "score": 0.80, "sample_size": 10_000, "stability": "STABLE"}
    for t in range(30) for s in [None] + [f"S{i:03d}" for i in range(40)]
]


def statuses(db) -> list[tuple[str, str]]:
    return [(r["run_id"], r["status"]) for r in list_runs(db)]


def ingest(fw, name: str = "again.parquet") -> str:
    result = fw.cli("ingest", fw.candidates(ROWS[:50], name=name), "--db", fw.db)
    assert result.code == 0, result
    return result.out.split()[1].rstrip(":")


def mark_failed(db, run_id: str) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute("UPDATE runs SET status = 'failed', error = 'boom' WHERE run_id = ?", [run_id])
    finally:
        con.close()


def test_prune_keeps_the_published_run_after_newer_failed_and_unexported_runs(fw) -> None:
    published = fw.plan(ROWS[:50], out="out").master["metadata"]["run_id"]
    failed = ingest(fw, "f.parquet")
    mark_failed(fw.db, failed)
    unexported = ingest(fw, "u.parquet")
    assert fw.cli("build", "--db", fw.db, "--config", fw.config()).code == 0
    leftover = ingest(fw, "i.parquet")            # ingested, never built

    result = fw.cli("runs", "--db", fw.db, "--prune", "--keep", "1")
    assert result.code == 0, result
    assert "removed 2 run(s)" in result.out, result
    kept = [r for r, _ in statuses(fw.db)]
    assert kept == [published, unexported]
    assert failed not in kept and leftover not in kept
    with foxwarehouse.open(fw.db) as wh:
        assert wh.run_id("published") == published
        assert wh.sql("SELECT count(*) FROM published_training_jobs").fetchall()[0][0] > 0
        assert wh.sql("SELECT count(*) FROM source_routing_candidates WHERE run_id NOT IN "
                      "(SELECT run_id FROM runs)").fetchall()[0][0] == 0


def test_prune_shrinks_the_file_and_views_and_macros_survive(fw) -> None:
    for i in range(5):
        fw.plan(ROWS, out=f"out{i}")
    con = duckdb.connect(str(fw.db))
    try:
        con.execute("CREATE MACRO twice(x) AS x * 2")
        con.execute("CREATE VIEW my_jobs AS SELECT run_id, job_id FROM training_jobs")
    finally:
        con.close()
    before = fw.db.stat().st_size
    result = fw.cli("runs", "--db", fw.db, "--prune", "--keep", "1")
    assert result.code == 0, result
    after = fw.db.stat().st_size
    assert after < before, (before, after)
    assert "removed 4 run(s)" in result.out and "→" in result.out
    assert len(list_runs(fw.db)) == 1
    con = duckdb.connect(str(fw.db), read_only=True)
    try:
        assert con.execute("SELECT twice(21)").fetchone()[0] == 42
        assert con.execute("SELECT count(DISTINCT run_id) FROM my_jobs").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM latest_training_jobs").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM published_training_jobs").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM latest_decision_trace").fetchone()[0] > 0
    finally:
        con.close()
    assert not [p for p in fw.root.iterdir() if p.name.startswith(fw.db.name + ".")], list(fw.root.iterdir())
    # the warehouse still works for the next plan
    fw.plan(ROWS[:50], out="again")
    assert len(list_runs(fw.db)) == 2


def test_prune_keep_must_be_at_least_1(fw) -> None:
    fw.plan(ROWS[:50])
    for keep in ("0", "-1"):
        result = fw.cli("runs", "--db", fw.db, "--prune", "--keep", keep)
        assert result.code == 2 and "--keep" in result.err and ">= 1" in result.err, result
    assert len(list_runs(fw.db)) == 1


def test_prune_failure_leaves_the_file_untouched(fw, monkeypatch) -> None:
    from foxwarehouse.analyst import runs

    fw.plan(ROWS[:50], out="a")
    fw.plan(ROWS[:50], out="b")
    before = fw.db.read_bytes()

    def boom(*args, **kwargs):
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(runs, "_copy_into_fresh", boom)
    result = fw.cli("runs", "--db", fw.db, "--prune", "--keep", "1")
    assert result.code == 2 and "Traceback" not in result.err, result
    assert fw.db.read_bytes() == before
    assert len(list_runs(fw.db)) == 2
    assert not [p for p in fw.root.iterdir() if p.name.startswith(fw.db.name + ".")]
