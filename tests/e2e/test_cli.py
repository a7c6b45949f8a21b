"""The command line (compile, the three steps of plan, runs, usage errors) and the two input
shapes: the routing-candidates file and the raw-metrics directory give the same jobs."""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from foxwarehouse.config import packaged_config_path
from helpers import (
    EXAMPLES,
    SIMPLE_CONFIG,
    config_with,
    plan_in,
    run_cli,
    strict_json_load,
    write_candidates,
    write_config,
    write_raw_metrics,
)


# --- compile -------------------------------------------------------------------------------------

def test_compile_prints_the_rendered_sql_of_a_model(capsys):
    result = run_cli(["compile", "routing_decisions"], capsys)
    assert result.code == 0, result
    sql = result.out
    assert "{{" not in sql and "{%" not in sql           # fully rendered
    assert '"candidate_signal_states"' in sql            # ref() as a plain table name
    assert "ROUTE_EXPERIMENTAL_ONLY" in sql
    statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    assert len(statements) == 1 and isinstance(statements[0], exp.Query)


def test_compile_renders_the_config_values(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", config_with(**{"routing.experimental.max_fraction_symbols_per_target": 0.37,
                                                              "routing.both_strong_behavior": "PREFER_SYMBOL"}))
    sql = run_cli(["compile", "routing_decisions", "--config", config], capsys).out
    assert "0.37" in sql
    # PREFER_SYMBOL: a pair OK on both sides (route rule BOTH_OK) is routed ROUTE_SYMBOL_SPECIFIC
    both_branch = sql[sql.index("WHEN 'BOTH_OK' THEN"):].split("\n", 1)[0]
    assert "'ROUTE_SYMBOL_SPECIFIC'" in both_branch and "'ROUTE_BOTH'" not in both_branch


def test_compile_dialect_spark_prints_spark_sql(capsys):
    duck = run_cli(["compile", "routing_decisions"], capsys).out
    result = run_cli(["compile", "routing_decisions", "--dialect", "spark"], capsys)
    assert result.code == 0, result
    spark = result.out
    assert spark != duck
    assert "`fw_candidate_signal_states`" in spark       # the Spark engine's view, quoted with backticks
    assert '"candidate_signal_states"' not in spark
    statements = [s for s in sqlglot.parse(spark, read="spark") if s is not None]
    # the session functions the Spark engine defines, then the model's query
    *functions, model = statements
    assert functions and all(isinstance(f, exp.Create) and f.kind == "FUNCTION" for f in functions)
    assert isinstance(model, exp.Query)


def test_compile_without_a_model_prints_every_model_in_dag_order(capsys):
    out = run_cli(["compile"], capsys).out
    order = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("-- model: ")]
    for before, after in [("routing_candidates", "candidate_signal_states"), ("candidate_signal_states", "cs_decisions"),
                          ("cs_decisions", "routing_decisions"), ("routing_decisions", "job_expansion"),
                          ("job_expansion", "training_jobs"), ("training_jobs", "master_plan")]:
        assert order.index(before) < order.index(after)


@pytest.mark.parametrize("args, words", [
    (["compile", "no_such_model"], ["no_such_model", "routing_decisions"]),
    (["compile", "routing_decisions", "--dialect", "klingon"], ["klingon"]),
])
def test_compile_errors_are_exit_2(capsys, args, words):
    result = run_cli(args, capsys)
    assert result.code == 2 and "Traceback" not in result.err
    for word in words:
        assert word in result.err


# --- usage ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [[], ["no-such-command"], ["plan"], ["plan", "--metrics", "x", "--bogus"]])
def test_usage_errors_are_exit_2_without_a_traceback(capsys, args):
    result = run_cli(args, capsys)
    assert result.code == 2
    assert "Traceback" not in result.err and "usage" in (result.err + result.out).lower()


# --- the three steps of plan, one at a time ----------------------------------------------------------

ROWS = [
    {"target": "fwd_ret_15m", "symbol": None, "score": 0.8, "sample_size": 10_000},
    {"target": "fwd_ret_15m", "symbol": "AAPL", "score": 0.8, "sample_size": 2_000},
    {"target": "fwd_ret_15m", "symbol": "MSFT", "score": 0.4, "sample_size": 2_000, "stability": "DRIFTING"},
    {"target": "will_peak_4h", "symbol": "AAPL", "score": 0.6, "sample_size": 2_000},
]


def test_ingest_build_export_one_at_a_time_equals_plan(tmp_path, capsys):
    metrics = write_candidates(tmp_path / "m.parquet", ROWS)
    config = write_config(tmp_path / "c.yaml", SIMPLE_CONFIG)
    whole = plan_in(tmp_path, metrics, config, out="whole", capsys=capsys)
    db = tmp_path / "steps.duckdb"
    ingest = run_cli(["ingest", metrics, "--db", db], capsys)
    assert ingest.code == 0, ingest
    assert "4 rows read" in ingest.err
    build = run_cli(["build", "--config", config, "--db", db], capsys)
    assert build.code == 0, build
    export = run_cli(["export", "--db", db, "--out", tmp_path / "steps"], capsys)
    assert export.code == 0, export
    steps = strict_json_load(tmp_path / "steps" / "training_plan" / "master_training_plan.json")
    assert steps["jobs"] == whole.jobs
    assert steps["summary"] == whole.summary
    for key in ("config_hash", "input_fingerprint", "plan_fingerprint"):
        assert steps["metadata"][key] == whole.master["metadata"][key]
    runs = run_cli(["runs", "--db", db], capsys)
    assert runs.code == 0 and steps["metadata"]["run_id"] in runs.out


def test_plan_prints_the_run_and_a_summary(tmp_path, capsys):
    plan = plan_in(tmp_path, ROWS, capsys=capsys)
    assert plan.master["metadata"]["run_id"] in plan.result.out
    assert "master_training_plan.json" in plan.result.out
    assert "ROUTE_BOTH" in plan.result.out
    assert "4 rows read" in plan.result.err


def test_csv_and_parquet_inputs_give_the_same_jobs(tmp_path):
    from_parquet = plan_in(tmp_path, write_candidates(tmp_path / "m.parquet", ROWS), out="p")
    from_csv = plan_in(tmp_path, write_candidates(tmp_path / "m.csv", ROWS), out="c")
    assert from_csv.jobs == from_parquet.jobs
    assert from_csv.routing["targets"] == from_parquet.routing["targets"]


# --- candidates file vs raw-metrics directory ---------------------------------------------------

def example_paths(tmp_path: Path) -> tuple[Path, Path]:
    """The bundled example metrics in both shapes (examples/), or a small hand-made pair."""
    candidates = EXAMPLES / "routing_candidates" / "routing_candidates.parquet"
    raw = EXAMPLES / "raw_metrics"
    if candidates.is_file() and (raw / "feature_selection.parquet").is_file():
        return candidates, raw
    return handmade_pair(tmp_path)


def test_the_2a_file_and_the_2b_directory_of_the_example_metrics_give_the_same_jobs(tmp_path):
    candidates, raw = example_paths(tmp_path)
    config = packaged_config_path()
    from_2a = plan_in(tmp_path, candidates, config, out="from_2a")
    from_2b = plan_in(tmp_path, raw, config, out="from_2b")
    assert len(from_2a.jobs) > 10
    assert from_2b.jobs == from_2a.jobs
    assert from_2b.summary == from_2a.summary
    assert from_2b.routing["targets"] == from_2a.routing["targets"]
    assert from_2b.master["metadata"]["plan_fingerprint"] == from_2a.master["metadata"]["plan_fingerprint"]
    # the example covers every route
    assert {"ROUTE_BOTH", "ROUTE_CROSS_SECTIONAL", "ROUTE_SYMBOL_SPECIFIC", "ROUTE_EXPERIMENTAL_ONLY"} <= set(from_2a.summary["by_route"])


def snapshots(target: str, symbol: str | None, overlaps: list[float], taus: list[float]) -> list[dict[str, Any]]:
    return [{"target": target, "symbol": symbol, "snapshot_id": f"s{i}", "overlap": o, "tau": t}
            for i, (o, t) in enumerate(zip(overlaps, taus))]


FS = [{"target": "t", "symbol": s, "score": 0.8, "sample_size": 10_000 if s is None else 2_000,
       "task_type": "REGRESSION", "failed_model_families": ["xgboost"] if s == "A" else None}
      for s in (None, "A", "B", "C", "D", "E", "F")]
SNAPS = (snapshots("t", None, [0.8, 0.9], [0.7, 0.7])
         + snapshots("t", "A", [0.8, 0.9, 1.0], [0.7, 0.7, 0.7])      # STABLE
         + snapshots("t", "B", [0.9, 0.3], [0.7, 0.7])                # std_overlap 0.3: DIVERGED
         + snapshots("t", "C", [0.9], [0.9])                          # one snapshot: UNKNOWN
         + snapshots("t", "D", [0.55, 0.85], [0.7, 0.7])              # population std 0.15 (sample std 0.21): STABLE
         + snapshots("t", "F", [0.6, 0.6], [0.5, 0.5]))               # DRIFTING
LEAKAGE = [
    {"target": "t", "symbol": "A", "leakage_status": "BLOCKED", "quarantine_confirmed": True},   # -> SUSPECT
    {"target": "t", "symbol": "C", "leakage_status": "BLOCKED", "quarantine_confirmed": False},  # stays BLOCKED
    {"target": "t", "symbol": "E", "leakage_status": "blocked", "quarantine_confirmed": None},   # stays BLOCKED
    {"target": "t", "symbol": "F", "leakage_status": "SAFE"},
]


def aggregated_2a() -> list[dict[str, Any]]:
    """The candidate rows the raw metrics above stand for, computed here by hand."""
    rows = []
    leak = {r["symbol"]: r for r in LEAKAGE}
    for fs in FS:
        mine = [s for s in SNAPS if s["symbol"] == fs["symbol"]]
        row = {**fs, "stability": None, "mode": "CROSS_SECTIONAL" if fs["symbol"] is None else "SYMBOL_SPECIFIC"}
        if mine:
            overlaps, taus = [s["overlap"] for s in mine], [s["tau"] for s in mine]
            row.update(n_snapshots=len(mine), mean_overlap=statistics.fmean(overlaps), std_overlap=statistics.pstdev(overlaps),
                       mean_tau=statistics.fmean(taus), std_tau=statistics.pstdev(taus))
        status = leak.get(fs["symbol"])
        if status:
            blocked = status["leakage_status"].upper() == "BLOCKED"
            row["leakage_status"] = "SUSPECT" if blocked and status.get("quarantine_confirmed") else status["leakage_status"]
        rows.append(row)
    return rows


def handmade_pair(tmp_path: Path) -> tuple[Path, Path]:
    raw = write_raw_metrics(tmp_path / "raw", FS, SNAPS, LEAKAGE)
    candidates = write_candidates(tmp_path / "candidates" / "routing_candidates.parquet", aggregated_2a())
    return candidates, raw


def test_raw_metrics_are_aggregated_into_candidates(tmp_path):
    candidates, raw = handmade_pair(tmp_path)
    from_2b = plan_in(tmp_path, raw, out="from_2b")
    from_2a = plan_in(tmp_path, candidates, out="from_2a")
    assert from_2b.jobs == from_2a.jobs
    assert from_2b.routing["targets"] == from_2a.routing["targets"]
    states = {s: from_2b.pair("t", s)["local_state"] for s in "ABCDEF"}
    assert states == {
        "A": "STRONG",        # STABLE from snapshots; BLOCKED + confirmed quarantine counts as SUSPECT
        "B": "DISALLOWED",    # DIVERGED
        "C": "DISALLOWED",    # leakage BLOCKED
        "D": "STRONG",        # population std 0.15 <= 0.20
        "E": "DISALLOWED",    # leakage BLOCKED (null quarantine_confirmed)
        "F": "EXPERIMENTAL",  # DRIFTING is not in the symbol allowlist
    }
    assert from_2b.pair("t", "B")["reason_codes"][1] == "STABILITY_NOT_ALLOWED"
    assert from_2b.pair("t", "C")["reason_codes"][1] == "LEAKAGE_BLOCKED"
    assert from_2b.job("sym_t_A")["model_families"] == ["lightgbm"]  # failed xgboost dropped


def test_2b_without_optional_files_reads_unknown_stability_and_leakage(tmp_path):
    raw = write_raw_metrics(tmp_path / "raw", FS)
    plan = plan_in(tmp_path, raw)
    assert {plan.pair("t", s)["local_state"] for s in "ABCDEF"} == {"STRONG"}  # UNKNOWN is in the symbol allowlist
    assert plan.cs("t")["state"] == "STRONG"


def test_a_directory_holding_routing_candidates_is_read_as_2a(tmp_path):
    folder = tmp_path / "metrics"
    write_candidates(folder / "routing_candidates.csv", ROWS)
    plan = plan_in(tmp_path, folder)
    assert set(plan.routing["targets"]) == {"fwd_ret_15m", "will_peak_4h"}


def test_a_directory_holding_routing_candidates_and_raw_metrics_is_ambiguous(tmp_path):
    folder = tmp_path / "metrics"
    write_candidates(folder / "routing_candidates.csv", ROWS)
    write_raw_metrics(folder, [{"target": "other", "symbol": None, "score": 0.9, "sample_size": 10**6}])
    plan = plan_in(tmp_path, folder, expect=2)
    assert "ambiguous" in plan.result.err and "routing_candidates.csv" in plan.result.err


def test_demo_plans_the_bundled_example_metrics(tmp_path, monkeypatch, capsys):
    if not (EXAMPLES / "routing_candidates" / "routing_candidates.parquet").is_file():
        pytest.skip("no bundled example metrics")
    monkeypatch.chdir(tmp_path)
    result = run_cli(["demo", "--db", "demo.duckdb", "--out", "out"], capsys)
    assert result.code == 0, result
    master = strict_json_load(tmp_path / "out" / "training_plan" / "master_training_plan.json")
    assert master["metadata"]["total_jobs"] == len(master["jobs"]) > 0


def test_stability_metrics_may_come_as_a_struct_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    metrics = pa.struct([("mean_overlap", pa.float64()), ("std_overlap", pa.float64()),
                         ("mean_tau", pa.float64()), ("std_tau", pa.float64())])
    table = pa.table({
        "target": ["t", "t"], "symbol": ["STAB", "DIV"], "score": [0.8, 0.8], "sample_size": [2_000, 2_000],
        "stability_metrics": pa.array([
            {"mean_overlap": 0.9, "std_overlap": 0.01, "mean_tau": 0.9, "std_tau": 0.01},
            {"mean_overlap": 0.9, "std_overlap": 0.5, "mean_tau": 0.9, "std_tau": 0.01},
        ], type=metrics),
    })
    pq.write_table(table, tmp_path / "struct.parquet")
    plan = plan_in(tmp_path, tmp_path / "struct.parquet")
    assert "stability STABLE " in " ".join(plan.pair("t", "STAB")["reason"])
    assert "stability DIVERGED " in " ".join(plan.pair("t", "DIV")["reason"])
    assert plan.pair("t", "DIV")["local_state"] == "DISALLOWED"


def test_db_and_out_default_to_foxwarehouse_duckdb_and_metrics(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_candidates(tmp_path / "m.parquet", ROWS)
    write_config(tmp_path / "c.yaml", SIMPLE_CONFIG)
    result = run_cli(["plan", "--metrics", "m.parquet", "--config", "c.yaml"], capsys)
    assert result.code == 0, result
    assert (tmp_path / "foxwarehouse.duckdb").is_file()
    assert (tmp_path / "METRICS" / "training_plan" / "master_training_plan.json").is_file()
