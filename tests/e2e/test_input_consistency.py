"""Input normalisation and consistency: which files a metrics folder is read from, and how target
and symbol names are trimmed.

A metrics folder is often also the output folder (FoxML's layout: ``plan --metrics METRICS/ --out
METRICS``), so the folder ends up holding the export's own ``routing_candidates`` file next to the
raw metric files. That file is never read back as input; a candidates file someone else wrote next
to raw metric files is ambiguous and stops the command.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import (
    EXAMPLES,
    FEATURE_SELECTION_TYPES,
    LEAKAGE_TYPES,
    SNAPSHOT_TYPES,
    THREE_ROWS,
    plan_in,
    run_cli,
    strict_json_load,
    write_candidates,
    write_config,
    write_raw_metrics,
    write_table,
)

from foxwarehouse.errors import InputError
from foxwarehouse.export.export_record import LEGACY_EXPORTS_DIR, file_digest, write_record
from foxwarehouse.ingest.reader import locate_inputs

FS = THREE_ROWS


def record_as_exported(path: Path) -> Path:
    """Make `path` look exactly like a top-level file a foxwarehouse export wrote."""
    write_record(path.parent, {"files": {path.name: [file_digest(path)]}})
    return path


def input_error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        locate_inputs(path)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# --- our own export is never input -------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_exported_candidates_file_in_a_raw_metrics_folder_is_not_read(tmp_path, fmt):
    write_raw_metrics(tmp_path, FS, fmt=fmt)
    record_as_exported(write_candidates(tmp_path / f"routing_candidates.{fmt}", FS))
    shape, files = locate_inputs(tmp_path)
    assert shape == "raw"
    assert files == {"feature_selection": tmp_path / f"feature_selection.{fmt}"}


def test_an_old_layout_export_link_is_not_read_either(tmp_path):
    write_raw_metrics(tmp_path, FS)
    store = tmp_path / LEGACY_EXPORTS_DIR / "run1"
    write_candidates(store / "routing_candidates.parquet", FS)
    os.symlink(os.path.join(LEGACY_EXPORTS_DIR, "run1", "routing_candidates.parquet"),
               tmp_path / "routing_candidates.parquet")
    assert locate_inputs(tmp_path) == ("raw", {"feature_selection": tmp_path / "feature_selection.parquet"})


def test_a_folder_holding_only_an_export_says_how_to_re_plan_from_it(tmp_path):
    exported = record_as_exported(write_candidates(tmp_path / "routing_candidates.parquet", FS))
    message = input_error(tmp_path)
    assert str(exported) in message
    assert "written by a foxwarehouse export" in message
    assert "--metrics" in message


def test_an_exported_candidates_file_given_itself_is_read(tmp_path):
    exported = record_as_exported(write_candidates(tmp_path / "routing_candidates.parquet", FS))
    assert locate_inputs(exported) == ("candidates", {"routing_candidates": exported})


def test_a_foreign_candidates_file_next_to_raw_metrics_is_ambiguous(tmp_path):
    write_raw_metrics(tmp_path, FS, leakage=[{"target": "fwd_ret_15m", "symbol": "AAPL", "leakage_status": "SAFE"}])
    write_candidates(tmp_path / "routing_candidates.csv", FS)
    message = input_error(tmp_path)
    assert "ambiguous" in message
    assert "routing_candidates.csv" in message and "feature_selection.parquet" in message
    assert "keep one, or pass the file itself" in message


def test_a_changed_export_is_foreign_again(tmp_path):
    # The record holds digests: a file rewritten by someone else after the export is theirs.
    write_raw_metrics(tmp_path, FS)
    exported = record_as_exported(write_candidates(tmp_path / "routing_candidates.parquet", FS))
    write_candidates(exported, FS[:2])
    assert "ambiguous" in input_error(tmp_path)


def test_a_folder_holding_only_a_foreign_candidates_file_is_read_as_candidates(tmp_path):
    path = write_candidates(tmp_path / "routing_candidates.csv", FS)
    assert locate_inputs(tmp_path) == ("candidates", {"routing_candidates": path})


def test_ambiguous_folder_is_exit_2_naming_both_files(tmp_path, capsys):
    metrics = write_raw_metrics(tmp_path / "metrics", FS)
    write_candidates(metrics / "routing_candidates.parquet", FS)
    result = run_cli(["plan", "--metrics", metrics, "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out"], capsys)
    assert result.code == 2, result
    assert "Traceback" not in result.err
    assert "routing_candidates.parquet" in result.err and "feature_selection.parquet" in result.err
    assert not (tmp_path / "out" / "training_plan").exists()


# --- raw file names ----------------------------------------------------------------------------

def test_raw_file_names_match_case_insensitively(tmp_path):
    fs = write_table(tmp_path / "FEATURE_SELECTION.CSV", FS, FEATURE_SELECTION_TYPES)
    leak = write_table(tmp_path / "Leakage.parquet", [{"target": "fwd_ret_15m", "symbol": "AAPL",
                                                       "leakage_status": "BLOCKED"}], LEAKAGE_TYPES)
    snaps = write_table(tmp_path / "Stability_Snapshots.Parquet",
                        [{"target": "fwd_ret_15m", "symbol": "AAPL", "snapshot_id": "s1", "overlap": 0.9, "tau": 0.9}],
                        SNAPSHOT_TYPES)
    assert locate_inputs(tmp_path) == ("raw", {"feature_selection": fs, "leakage": leak, "stability_snapshots": snaps})


def test_a_leakage_file_written_in_another_case_is_used(tmp_path):
    write_raw_metrics(tmp_path / "metrics", FS)
    write_table(tmp_path / "metrics" / "Leakage.parquet",
                [{"target": "fwd_ret_15m", "symbol": "AAPL", "leakage_status": "BLOCKED"}], LEAKAGE_TYPES)
    plan = plan_in(tmp_path, tmp_path / "metrics")
    assert "LEAKAGE_BLOCKED" in plan.pair("fwd_ret_15m", "AAPL")["reason_codes"]


@pytest.mark.parametrize("first, second", [
    ("leakage.parquet", "Leakage.parquet"),
    ("leakage.parquet", "leakage.csv"),
    ("feature_selection.csv", "FEATURE_SELECTION.CSV"),
    ("routing_candidates.parquet", "Routing_Candidates.csv"),
])
def test_two_files_for_one_source_are_an_input_error_naming_both(tmp_path, first, second):
    if "routing_candidates" not in first and "feature_selection" not in first:
        write_raw_metrics(tmp_path, FS)
    for name in (first, second):
        if name.lower().startswith("leakage"):
            write_table(tmp_path / name, [{"target": "fwd_ret_15m", "symbol": None, "leakage_status": "SAFE"}],
                        LEAKAGE_TYPES)
        elif name.lower().startswith("feature_selection"):
            write_table(tmp_path / name, FS, FEATURE_SELECTION_TYPES)
        else:
            write_candidates(tmp_path / name, FS)
    if os.path.samefile(tmp_path / first, tmp_path / second):
        pytest.skip("case-insensitive file system")
    message = input_error(tmp_path)
    assert first in message and second in message


# --- plan twice into the folder the metrics live in --------------------------------------------

@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_re_planning_into_the_metrics_folder_reads_the_refreshed_raw_metrics(tmp_path, fmt):
    """FoxML's layout end to end: the second plan must see the new raw metrics, not the first export.

    Needs both halves: ingest skips what the export recorded, and the export records its candidates file.
    """
    metrics = tmp_path / "METRICS"
    config = write_config(tmp_path / "config.yaml")
    write_raw_metrics(metrics, FS, fmt=fmt)
    args = ["plan", "--metrics", metrics, "--config", config, "--db", tmp_path / "w.duckdb", "--out", metrics]
    first = run_cli(args)
    assert first.code == 0, first
    exported = [p.name for p in metrics.iterdir() if p.name.lower().startswith("routing_candidates.")]
    assert exported, "the first plan exported no candidates file into the metrics folder"
    write_raw_metrics(metrics, [{**row, "score": None} for row in FS], fmt=fmt)   # scores gone
    second = run_cli(args)
    assert second.code == 0, second
    master = strict_json_load(metrics / "training_plan" / "master_training_plan.json")
    assert master["jobs"] == [], [job["job_id"] for job in master["jobs"]]
    # The exported candidates snapshot is the second run's, not the first one's kept over.
    snapshot = metrics / master["metadata"]["metrics_snapshot"]
    if snapshot.suffix == ".parquet":
        scores = pq.read_table(snapshot).column("score").to_pylist()
    else:
        import csv

        with open(snapshot, newline="", encoding="utf-8") as fh:
            scores = [row["score"] or None for row in csv.DictReader(fh)]
    assert scores == [None] * len(FS), scores


# --- trimming target and symbol ----------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "|".join(value)     # a quoted JSON array cannot follow ", " in CSV
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_spaced_csv(source: Path, dest: Path) -> Path:
    """`source` parquet rewritten as CSV with ", " separators (as many tools write it)."""
    table = pq.read_table(source)
    lines = [", ".join(table.column_names)]
    for row in table.to_pylist():
        lines.append(", ".join(_cell(row[name]) for name in table.column_names))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def job_keys(plan: Any) -> list[tuple[Any, ...]]:
    return [(j["job_id"], j["target"], j["symbol"], j["route"], j["training_type"], j["model_families"],
             j["priority"]) for j in plan.jobs]


def test_candidates_csv_with_comma_space_separators_plans_like_the_parquet(tmp_path):
    source = EXAMPLES / "routing_candidates" / "routing_candidates.parquet"
    spaced = write_spaced_csv(source, tmp_path / "spaced" / "routing_candidates.csv")
    assert ", AAPL, " in spaced.read_text()
    from_parquet = plan_in(tmp_path, source, out="parquet")
    from_csv = plan_in(tmp_path, spaced, out="csv")
    assert job_keys(from_csv) == job_keys(from_parquet)
    assert from_csv.summary["total_cs_jobs"] == from_parquet.summary["total_cs_jobs"] > 0
    assert from_csv.routing["targets"] == from_parquet.routing["targets"]


def test_raw_csvs_with_comma_space_separators_plan_like_the_parquets(tmp_path):
    for name in ("feature_selection", "stability_snapshots", "leakage"):
        write_spaced_csv(EXAMPLES / "raw_metrics" / f"{name}.parquet", tmp_path / "spaced" / f"{name}.csv")
    from_parquet = plan_in(tmp_path, EXAMPLES / "raw_metrics", out="parquet")
    from_csv = plan_in(tmp_path, tmp_path / "spaced", out="csv")
    assert job_keys(from_csv) == job_keys(from_parquet)
    assert from_csv.routing["targets"] == from_parquet.routing["targets"]


def test_parquet_names_with_surrounding_spaces_are_trimmed(tmp_path):
    plain = plan_in(tmp_path, FS, out="plain")
    spaced_rows = [
        {"target": " fwd_ret_15m", "symbol": "  ", "score": 0.8, "sample_size": 10_000},
        {"target": "fwd_ret_15m\t", "symbol": " AAPL", "score": 0.8, "sample_size": 2_000},
        {"target": " fwd_ret_15m ", "symbol": "MSFT \n", "score": 0.6, "sample_size": 2_000},
    ]
    spaced = plan_in(tmp_path, spaced_rows, out="spaced")
    assert job_keys(spaced) == job_keys(plain)
    assert spaced.routing["targets"] == plain.routing["targets"]


def test_an_agg_marker_with_spaces_is_the_cs_row(tmp_path):
    plan = plan_in(tmp_path, [{**FS[0], "symbol": " __AGG__ "}, *FS[1:]])
    assert set(plan.routing["targets"]["fwd_ret_15m"]["symbols"]) == {"AAPL", "MSFT"}
    assert "cs_fwd_ret_15m" in plan.job_ids


def test_raw_files_join_on_trimmed_names(tmp_path):
    metrics = write_raw_metrics(
        tmp_path / "metrics", [{**row, "symbol": f" {row['symbol']}" if row["symbol"] else " "} for row in FS],
        snapshots=[{"target": "fwd_ret_15m ", "symbol": "MSFT ", "snapshot_id": f"s{i}", "overlap": overlap, "tau": 0.7}
                   for i, overlap in enumerate([0.9, 0.3])],   # std_overlap 0.3: DIVERGED
        leakage=[{"target": " fwd_ret_15m", "symbol": "AAPL ", "leakage_status": "BLOCKED"}],
    )
    plan = plan_in(tmp_path, metrics)
    assert set(plan.routing["targets"]) == {"fwd_ret_15m"}
    assert "LEAKAGE_BLOCKED" in plan.pair("fwd_ret_15m", "AAPL")["reason_codes"]  # leakage joined
    assert plan.pair("fwd_ret_15m", "MSFT")["local_state"] == "DISALLOWED"       # DIVERGED from snapshots


def test_names_equal_after_trimming_are_a_duplicate_key(tmp_path):
    path = write_candidates(tmp_path / "dupes.parquet", [*FS, {**FS[1], "symbol": "AAPL "}])
    result = run_cli(["plan", "--metrics", path, "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out"])
    assert result.code == 2, result
    assert "duplicate" in result.err and "AAPL" in result.err and "rows 2, 4" in result.err


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_a_target_empty_after_trimming_is_an_input_error(tmp_path, suffix):
    rows = [*FS, {**FS[1], "target": " \t "}, {**FS[2], "target": "  "}]
    path = write_candidates(tmp_path / f"blank.{suffix}", rows)
    result = run_cli(["plan", "--metrics", path, "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out"])
    assert result.code == 2, result
    assert "blank" in result.err and "'target'" in result.err and "row 4" in result.err and "row 5" in result.err


def test_an_empty_target_in_a_raw_file_is_an_input_error(tmp_path):
    metrics = write_raw_metrics(tmp_path / "metrics", FS,
                                leakage=[{"target": "  ", "symbol": "AAPL", "leakage_status": "SAFE"}])
    result = run_cli(["plan", "--metrics", metrics, "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out"])
    assert result.code == 2, result
    assert "leakage.parquet" in result.err and "'target'" in result.err and "row 1" in result.err
