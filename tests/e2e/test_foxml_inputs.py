"""Candidates files in every layout FoxML's metrics aggregator writes plan as they are.

The files are in tests/data/foxml/candidates/, written by tests/data/foxml/make_foxml_inputs.py
(pyarrow only): symbol rows labelled with the run's view, `list<null>` families, null-typed
columns, a `stability_metrics` struct with extra fields, legacy `SYMBOL` rows with a float
`sample_size`, and the identical CS copy FoxML's `allow_mode_fallback` adds (merged, and counted
in the ingest report; any other duplicate stays an input error).
"""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from helpers import ROOT, plan_in

DATA = ROOT / "tests" / "data" / "foxml"
CANDIDATES = DATA / "candidates"

# layout -> the jobs SIMPLE_CONFIG plans from it (min 0.50, strong 0.70, experimental 0.30).
EXPECTED_JOBS = {
    "view_labelled": ["cs_fwd_ret_15m", "sym_fwd_ret_15m_AAPL", "sym_fwd_ret_15m_MSFT", "sym_fwd_ret_60m_AAPL"],
    "list_null_families": ["cs_fwd_ret_15m", "sym_fwd_ret_15m_AAPL"],
    "null_columns": ["cs_fwd_ret_15m", "sym_fwd_ret_15m_AAPL"],
    "stability_struct": ["cs_fwd_ret_15m", "sym_fwd_ret_15m_AAPL", "sym_fwd_ret_15m_NVDA"],
    "legacy_symbol_float": ["cs_fwd_ret_15m", "sym_fwd_ret_15m_AAPL"],
    "mode_fallback": ["cs_fwd_ret_15m", "cs_fwd_ret_5d", "sym_fwd_ret_15m_AAPL"],
}


def load_generator():
    spec = importlib.util.spec_from_file_location("make_foxml_inputs", DATA / "make_foxml_inputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_files_are_what_the_script_writes(tmp_path):
    written = load_generator().write(tmp_path)
    assert sorted(written) == sorted(EXPECTED_JOBS)
    for name, path in written.items():
        committed = pq.read_table(CANDIDATES / f"{name}.parquet")
        assert committed.equals(pq.read_table(path)), f"{name}: run make_foxml_inputs.py {CANDIDATES}"


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = plan_in(tmp_path_factory.mktemp(name), CANDIDATES / f"{name}.parquet")
        return cache[name]
    return get


@pytest.mark.parametrize("name", sorted(EXPECTED_JOBS))
def test_each_foxml_layout_plans_with_the_expected_jobs(planned, name):
    plan = planned(name)
    assert sorted(plan.job_ids) == EXPECTED_JOBS[name], plan.result
    for job in plan.jobs:
        assert job["model_families"] == ["lightgbm", "xgboost"]


def test_symbol_rows_labelled_with_the_run_view_are_symbol_rows(planned):
    plan = planned("view_labelled")
    assert plan.route("fwd_ret_15m", "AAPL") == "ROUTE_BOTH"
    assert plan.route("fwd_ret_60m", "AAPL") == "ROUTE_SYMBOL_SPECIFIC"
    assert "2 cs rows, 3 symbol rows, 0 aggregate rows skipped" in plan.result.err


def test_the_stability_struct_classifies_unknown_rows(planned):
    plan = planned("stability_struct")
    assert plan.cs("fwd_ret_15m")["state"] == "STRONG"     # DRIFTING from its metrics, allowed on the CS side
    assert plan.pair("fwd_ret_15m", "MSFT")["local_state"] == "DISALLOWED"  # std_overlap 0.35: DIVERGED
    assert plan.route("fwd_ret_15m", "MSFT") == "ROUTE_CROSS_SECTIONAL"
    with duckdb.connect(str(plan.out.parent / "warehouse.duckdb"), read_only=True) as con:
        rows = dict(con.execute("SELECT coalesce(symbol, ''), stability FROM latest_candidate_signal_states").fetchall())
    assert rows == {"": "DRIFTING", "AAPL": "STABLE", "MSFT": "DIVERGED", "NVDA": "UNKNOWN"}


def test_legacy_symbol_rows_with_float_sample_size(planned):
    plan = planned("legacy_symbol_float")
    assert plan.job("sym_fwd_ret_15m_AAPL")["estimated_samples"] == 4000
    assert plan.pair("fwd_ret_15m", "MSFT")["local_state"] == "DISALLOWED"  # null sample_size = 0


def test_mode_fallback_copies_are_merged_and_counted(planned):
    plan = planned("mode_fallback")
    assert "1 mode fallback rows merged" in plan.result.err, plan.result
    assert plan.job("cs_fwd_ret_5d")["estimated_samples"] == 20_000
    with duckdb.connect(str(plan.out.parent / "warehouse.duckdb"), read_only=True) as con:
        report = con.execute("SELECT ingest_report FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
    assert report is not None
    counts = json.loads(report[0])["routing_candidates"]
    assert counts["rows_read"] == 4 and counts["cs_rows"] == 2 and counts["mode_fallback_rows_merged"] == 1


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def fallback_rows(copy_score: str = "0.8", marker: str = "SYMBOL_SPECIFIC->CROSS_SECTIONAL") -> list[dict[str, str]]:
    base = {"target": "fwd_ret_5d", "symbol": "", "mode": "CROSS_SECTIONAL", "score": "0.8", "sample_size": "20000",
            "failed_model_families": "[]", "mode_fallback": "", "fallback_reason": ""}
    return [base, dict(base, score=copy_score, mode_fallback=marker, fallback_reason="No symbol metrics found (1 missing)")]


def test_a_csv_with_a_mode_fallback_copy_plans(tmp_path):
    plan = plan_in(tmp_path, write_csv(tmp_path / "routing_candidates.csv", fallback_rows()))
    assert plan.job_ids == ["cs_fwd_ret_5d"]
    assert "1 mode fallback rows merged" in plan.result.err


@pytest.mark.parametrize("rows, words", [
    (fallback_rows(copy_score="0.7"), ["duplicate key", "fwd_ret_5d", "mode_fallback"]),  # the copy differs
    (fallback_rows(marker=""), ["duplicate key", "fwd_ret_5d"]),                          # not marked
])
def test_any_other_duplicate_stays_an_input_error(tmp_path, rows, words):
    plan = plan_in(tmp_path, write_csv(tmp_path / "routing_candidates.csv", rows), expect=2)
    for word in words:
        assert word in plan.result.err, plan.result
    assert not plan.out.exists()


def test_a_marked_copy_of_a_symbol_row_is_not_merged(tmp_path):
    rows = fallback_rows()
    for row in rows:
        row["symbol"] = "AAPL"
    plan = plan_in(tmp_path, write_csv(tmp_path / "routing_candidates.csv", rows), expect=2)
    assert "duplicate key" in plan.result.err


def test_the_foxml_guide_examples_run_as_written(tmp_path, monkeypatch):
    """docs/FOXML.md's ```bash lines run from a checkout of this repository (placeholders left out)."""
    import re
    import shlex

    from helpers import run_cli

    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "docs" / "FOXML.md").read_text(encoding="utf-8")
    lines = [line.strip() for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S)
             for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    runnable = [line for line in lines if "path/to/" not in line]
    assert len(runnable) >= 2, lines
    for line in runnable:
        tokens = shlex.split(line)
        assert tokens[0] == "foxwarehouse", line
        result = run_cli(tokens[1:])
        assert result.code == 0 and "Traceback" not in result.err, (line, result)
