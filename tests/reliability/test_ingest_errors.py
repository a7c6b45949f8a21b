"""Bad input: every class of input error stops `plan` with exit code 2 and one message
that names the file, the column and the offending rows (at most 5), with no traceback. Nothing of
that ingest is kept: the earlier run in the same warehouse is untouched and the export folder of
the earlier run is byte-identical (no export file written or half-written).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import (
    SIMPLE_CONFIG,
    THREE_ROWS,
    plan_in,
    run_cli,
    tree_bytes,
    warehouse_state,
    write_candidates,
    write_config,
    write_raw_metrics,
)
from reliability_log import record

GOOD = THREE_ROWS
SUITE = "ingest_errors"


class Earlier:
    """A warehouse and an export folder holding one good run, and a way to try bad inputs on them."""

    def __init__(self, root: Path):
        self.root = root
        self.config = write_config(root / "config.yaml", SIMPLE_CONFIG)
        self.good = plan_in(root, GOOD, self.config)
        self.db, self.out = root / "warehouse.duckdb", self.good.out
        self.state = warehouse_state(self.db)
        self.files = tree_bytes(self.out)
        self._n = 0

    def file(self, rows: list[dict[str, Any]], suffix: str = "parquet", columns: list[str] | None = None) -> Path:
        self._n += 1
        return write_candidates(self.root / f"bad_{self._n}.{suffix}", rows, columns)

    def text(self, text: str | bytes, name: str) -> Path:
        self._n += 1
        path = self.root / f"{self._n}_{name}"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    def reject(self, metrics: Path, *words: str) -> str:
        """Plan `metrics`; assert exit 2, a one-line message naming the file and `words`, nothing changed."""
        result = run_cli(["plan", "--metrics", metrics, "--config", self.config, "--db", self.db, "--out", self.out])
        assert result.code == 2, result
        assert "Traceback" not in result.err, result.err
        assert result.err.startswith("error: "), result.err
        message = result.err
        assert Path(metrics).name in message, message
        for word in words:
            assert word in message, (word, message)
        assert warehouse_state(self.db) == self.state      # earlier runs untouched, no new run
        assert tree_bytes(self.out) == self.files          # earlier export byte-identical
        assert not any(p.name.startswith("staging-") for p in (self.out / ".foxwarehouse").iterdir())
        return message


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Earlier:
    return Earlier(tmp_path_factory.mktemp("earlier"))


def rows_named(message: str) -> list[int]:
    return [int(n) for n in re.findall(r"\brows? (\d+)", message)]


# --- missing required column ---------------------------------------------------------------------

@pytest.mark.parametrize("column", ["target", "score", "sample_size"])
@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_a_missing_required_column_is_rejected(earlier, column, suffix):
    rows = [{k: v for k, v in r.items() if k != column} for r in GOOD]
    columns = [c for c in ("target", "symbol", "score", "sample_size") if c != column]
    earlier.reject(earlier.file(rows, suffix, columns), column, "missing")


# --- wrong type ----------------------------------------------------------------------------------

def test_a_non_number_score_in_one_csv_row_is_rejected_naming_the_row(earlier):
    path = earlier.text("target,symbol,score,sample_size\nt,,0.5,10\nt,A,0.6,10\nt,B,abc,10\n", "scores.csv")
    message = earlier.reject(path, "score", "abc")
    assert rows_named(message) == [3]


def test_a_non_number_score_in_a_parquet_text_column_is_rejected(earlier):
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = earlier.root / "text_scores.parquet"
    pq.write_table(pa.table({"target": ["t", "t"], "symbol": [None, "A"], "score": ["0.5", "high"],
                             "sample_size": [10, 10]}), path)
    message = earlier.reject(path, "score", "high")
    assert rows_named(message) == [2]


def test_a_fractional_sample_size_is_rejected(earlier):
    path = earlier.text("target,symbol,score,sample_size\nt,,0.5,10.5\n", "fraction.csv")
    assert rows_named(earlier.reject(path, "sample_size", "10.5")) == [1]


# --- negative sample_size ------------------------------------------------------------------------

def test_negative_sample_sizes_are_rejected_naming_the_rows(earlier):
    rows = [dict(GOOD[0]), {**GOOD[1], "sample_size": -1}, dict(GOOD[2]), {**GOOD[2], "symbol": "X", "sample_size": -5}]
    message = earlier.reject(earlier.file(rows), "sample_size", "negative")
    assert rows_named(message) == [2, 4]


# --- duplicate keys ------------------------------------------------------------------------------

def test_two_cs_rows_for_one_target_are_a_duplicate_key(earlier):
    # null and __AGG__ both mean the CS row
    rows = [*GOOD, {**GOOD[0], "symbol": "__AGG__", "score": 0.1}]
    message = earlier.reject(earlier.file(rows), "duplicate", "fwd_ret_15m", "target", "symbol")
    assert "(CS row) at rows 1, 4" in message


def test_two_rows_for_one_target_and_symbol_are_a_duplicate_key(earlier):
    rows = [*GOOD, {**GOOD[2], "score": 0.1}]
    message = earlier.reject(earlier.file(rows, "csv"), "duplicate", "MSFT")
    assert "at rows 3, 4" in message


# --- unknown enum values -------------------------------------------------------------------------

@pytest.mark.parametrize("column, value", [
    ("stability", "STABEL"), ("leakage_status", "BLOKED"), ("task_type", "REGR"), ("mode", "BOTH"),
    ("model_status", "GOOD"),
])
def test_an_unknown_enum_value_is_rejected(earlier, column, value):
    rows = [dict(r) for r in GOOD]
    rows[1][column] = value
    message = earlier.reject(earlier.file(rows), column, value)
    assert rows_named(message) == [2]


# --- unreadable and truncated files --------------------------------------------------------------

def test_a_file_that_is_not_parquet_is_rejected(earlier):
    earlier.reject(earlier.text(b"\x00\x01 definitely not parquet " * 40, "noise.parquet"), "parquet".upper())


def test_a_truncated_parquet_file_is_rejected(earlier):
    whole = earlier.file([*GOOD] * 1).read_bytes()
    earlier.reject(earlier.text(whole[: len(whole) // 2], "half.parquet"))


@pytest.mark.parametrize("tail", ["t,A,0.6", "t,A", 't,"A,0.6,10'], ids=["short-row", "very-short-row", "open-quote"])
def test_a_truncated_csv_file_is_rejected(earlier, tail):
    path = earlier.text(f"target,symbol,score,sample_size\nt,,0.5,10\nt,B,0.6,10\n{tail}", "cut.csv")
    earlier.reject(path)


def test_an_empty_file_is_rejected(earlier):
    earlier.reject(earlier.text("", "empty.csv"))


def test_a_header_without_rows_is_rejected(earlier):
    earlier.reject(earlier.text("target,symbol,score,sample_size\n", "header_only.csv"))


def test_an_unsupported_file_type_is_rejected(earlier):
    earlier.reject(earlier.text("target\tscore\n", "metrics.txt"))


def test_a_missing_metrics_path_is_rejected(earlier):
    earlier.reject(earlier.root / "does_not_exist.parquet", "not found")


# --- empty target --------------------------------------------------------------------------------

def test_empty_targets_are_rejected_naming_the_rows(earlier):
    rows = [*GOOD, {**GOOD[1], "target": ""}, {**GOOD[1], "target": "   ", "symbol": "Z"}]
    message = earlier.reject(earlier.file(rows), "target", "empty")
    assert rows_named(message) == [4, 5]


def test_a_null_target_is_rejected(earlier):
    rows = [*GOOD, {**GOOD[1], "target": None}]
    assert rows_named(earlier.reject(earlier.file(rows), "target")) == [4]


# --- at most 5 offending rows --------------------------------------------------------------------

def test_at_most_five_offending_rows_are_shown(earlier):
    rows = [{**GOOD[1], "symbol": f"S{i}", "sample_size": -i - 1} for i in range(8)]
    message = earlier.reject(earlier.file(rows), "sample_size", "3 more")
    assert rows_named(message) == [1, 2, 3, 4, 5]


# --- raw metrics --------------------------------------------------------------------------------

def test_a_bad_raw_metrics_file_is_named(earlier):
    folder = earlier.root / "raw_bad"
    write_raw_metrics(folder, [{"target": "t", "symbol": None, "score": 0.8, "sample_size": 10_000}],
                      snapshots=[{"target": "t", "symbol": None, "snapshot_id": "s1", "overlap": 0.9, "tau": 0.9}],
                      leakage=[{"target": "t", "symbol": None, "leakage_status": "SAFE"},
                               {"target": "t", "symbol": "X", "leakage_status": "LEAKY"}])
    message = earlier.reject(folder, "leakage", "LEAKY")
    assert rows_named(message) == [2]


def test_a_raw_metrics_folder_without_feature_selection_is_rejected(earlier):
    folder = earlier.root / "raw_empty"
    folder.mkdir()
    (folder / "leakage.csv").write_text("target,leakage_status\nt,SAFE\n")
    earlier.reject(folder, "feature_selection")


def test_the_ingest_command_rejects_the_same_way(earlier):
    path = earlier.text("target,symbol,score,sample_size\nt,,0.5,-3\n", "neg.csv")
    result = run_cli(["ingest", path, "--db", earlier.db])
    assert result.code == 2 and "sample_size" in result.err and "neg.csv" in result.err
    assert "Traceback" not in result.err
    assert warehouse_state(earlier.db) == earlier.state


# --- repeated names, the stability_metrics struct, raw file names ----------------------

def parquet(earlier: Earlier, name: str, table: pa.Table) -> Path:
    earlier._n += 1
    path = earlier.root / f"{earlier._n}_{name}"
    pq.write_table(table, path)
    return path


def good_table(**extra: Any) -> pa.Table:
    columns = {"target": [r["target"] for r in GOOD], "symbol": pa.array([r["symbol"] for r in GOOD], pa.string()),
               "score": [r["score"] for r in GOOD], "sample_size": [r["sample_size"] for r in GOOD]}
    return pa.table({**columns, **extra})


def test_a_parquet_column_repeated_three_times_is_rejected(earlier):
    # DuckDB reads the repeats as score_1 and score_2 (or so); a real `score_1` column must not confuse it.
    t = good_table()
    t = pa.Table.from_arrays(t.columns + [pa.array([0.1] * 3), pa.array([0.2] * 3)],
                             names=t.column_names + ["score_1", "Score "])
    message = earlier.reject(parquet(earlier, "three_scores.parquet", t), "column 'Score '", "appears more than once",
                             "columns 3 and 6")
    record(SUITE, "parquet column repeated (score, score_1, 'Score ')", "exit 2", klass="duplicate column", message=message)


@pytest.mark.parametrize("field_type, value, shown", [
    (pa.bool_(), True, "true"),
    (pa.list_(pa.float64()), [0.5], "[0.5]"),
    (pa.struct([("v", pa.float64())]), {"v": 0.5}, "'v': 0.5"),
    (pa.string(), "high", "high"),
], ids=["boolean", "list", "struct", "text"])
def test_a_stability_metrics_field_of_the_wrong_type_is_rejected(earlier, field_type, value, shown):
    fields = pa.struct([("mean_overlap", pa.float64()), ("mean_tau", field_type)])
    metrics = pa.array([{"mean_overlap": 0.9, "mean_tau": None}, {"mean_overlap": 0.9, "mean_tau": value}, None], fields)
    path = parquet(earlier, "struct_field.parquet", good_table(stability_metrics=metrics))
    message = earlier.reject(path, "column 'stability_metrics.mean_tau'", "not numbers", "row 2: ", shown)
    record(SUITE, f"stability_metrics.mean_tau as {field_type}", "exit 2", klass="wrong type", message=message)


def test_a_text_n_snapshots_field_is_rejected(earlier):
    fields = pa.struct([("mean_overlap", pa.float64()), ("n_snapshots", pa.string())])
    metrics = pa.array([{"mean_overlap": 0.9, "n_snapshots": "4"}, {"mean_overlap": 0.9, "n_snapshots": "many"}, None],
                       fields)
    message = earlier.reject(parquet(earlier, "struct_n.parquet", good_table(stability_metrics=metrics)),
                             "column 'stability_metrics.n_snapshots'", "row 2: 'many'")
    record(SUITE, "stability_metrics.n_snapshots as text", "exit 2", klass="wrong type", message=message)


def test_a_field_merely_ending_in_a_metric_name_is_not_that_metric(earlier, tmp_path):
    # `not_mean_overlap DOUBLE` once matched `mean_overlap ` in the struct's type text
    fields = pa.struct([("not_mean_overlap", pa.float64())])
    metrics = pa.array([{"not_mean_overlap": 0.9}] * 3, fields)
    path = parquet(earlier, "struct_lookalike.parquet", good_table(stability_metrics=metrics))
    result = run_cli(["plan", "--metrics", path, "--config", earlier.config, "--db", tmp_path / "w.duckdb",
                      "--out", tmp_path / "out"])
    assert result.code == 0 and "Traceback" not in result.err, result
    record(SUITE, "stability_metrics field not_mean_overlap", "accepted", klass="struct column")


def test_a_value_the_checks_miss_is_still_one_line_naming_the_file(earlier, monkeypatch):
    # The backstop: a DuckDB conversion error while loading aborts the ingest transaction; it must
    # come out as an input error naming the file, not as the TransactionException of the cleanup.
    from foxwarehouse.ingest import staged
    typed = staged.StagedFile.typed
    monkeypatch.setattr(staged.StagedFile, "check_values", lambda self: None)
    monkeypatch.setattr(staged.StagedFile, "typed", lambda self, *a: tuple(
        None if part is None else part.replace("TRY_CAST", "CAST") for part in typed(self, *a)))
    fields = pa.struct([("mean_overlap", pa.string())])
    metrics = pa.array([{"mean_overlap": "0.9"}, {"mean_overlap": "x"}, None], fields)
    path = parquet(earlier, "struct_unchecked.parquet", good_table(stability_metrics=metrics))
    message = earlier.reject(path, "cannot be loaded", "'x'")
    record(SUITE, "conversion error past the checks", "exit 2", klass="wrong type", message=message)


def test_plan_non_blocking_warns_on_unusable_stability_metrics(earlier, caplog):
    import foxwarehouse
    fields = pa.struct([("mean_overlap", pa.string()), ("std_overlap", pa.string())])
    metrics = pa.array([{"mean_overlap": "0.9", "std_overlap": "x"}] * 3, fields)
    path = parquet(earlier, "struct_text.parquet", good_table(stability_metrics=metrics))
    result = foxwarehouse.plan(path, config=earlier.config, db=earlier.db, out=earlier.out, non_blocking=True)
    assert result.fresh is False and result.run_id is None
    assert any("no new training plan was made" in w and path.name in w and "stability_metrics.std_overlap" in w
               for w in result.warnings), result.warnings
    assert result.stale_plan_path is not None
    assert warehouse_state(earlier.db) == earlier.state
    assert tree_bytes(earlier.out) == earlier.files
    record(SUITE, "plan(non_blocking=True) with text stability_metrics", "warned", klass="wrong type",
           message=result.warnings[-1][:300])


def case_sensitive_files(folder: Path) -> bool:
    (folder / "probe").write_text("a")
    try:
        return not (folder / "PROBE").exists()
    finally:
        (folder / "probe").unlink()


def test_two_raw_files_differing_only_in_case_are_rejected(earlier):
    folder = earlier.root / "raw_case_twice"
    write_raw_metrics(folder, [{"target": "t", "symbol": None, "score": 0.8, "sample_size": 10_000}],
                      leakage=[{"target": "t", "symbol": None, "leakage_status": "SAFE"}])
    if not case_sensitive_files(folder):
        pytest.skip("the file system here does not tell leakage.parquet from LEAKAGE.parquet")
    pq.write_table(pa.table({"target": ["t"], "symbol": pa.array([None], pa.string()), "leakage_status": ["BLOCKED"]}),
                   folder / "LEAKAGE.parquet")
    message = earlier.reject(folder, "LEAKAGE.parquet", "leakage.parquet", "both the leakage file")
    record(SUITE, "leakage.parquet and LEAKAGE.parquet", "exit 2", klass="raw metrics directory", message=message)


def test_snapshot_rows_without_a_snapshot_id_have_no_key_to_repeat(tmp_path):
    # Without snapshot_id two equal rows are two snapshots that measured the same values.
    folder = tmp_path / "raw"
    write_raw_metrics(folder, [{"target": "t", "symbol": "A", "score": 0.8, "sample_size": 2_000}], fmt="csv")
    (folder / "stability_snapshots.csv").write_text("target,symbol,overlap,tau\nt,A,0.9,0.8\nt,A,0.9,0.8\nt,A,0.9,0.8\n")
    plan = plan_in(tmp_path, folder)
    assert "stability STABLE " in " ".join(plan.pair("t", "A")["reason"])
    record(SUITE, "snapshot rows without snapshot_id", "accepted", klass="duplicate key")


def test_a_metric_given_as_a_column_and_as_a_struct_field_is_rejected(earlier):
    fields = pa.struct([("mean_overlap", pa.float64())])
    metrics = pa.array([None, {"mean_overlap": 0.9}, {"mean_overlap": None}], fields)
    path = parquet(earlier, "metric_twice.parquet",
                   good_table(mean_overlap=pa.nulls(3, pa.float64()), stability_metrics=metrics))
    message = earlier.reject(path, "column 'stability_metrics.mean_overlap'", "column 'mean_overlap'", "keep one",
                             "row 2: '0.9'")
    record(SUITE, "mean_overlap as a column and a struct field", "exit 2", klass="duplicate column", message=message)
