"""Bad input: every class of input error stops `plan` with exit code 2 and one message
that names the file, the column and the offending rows (at most 5), with no traceback. Nothing of
that ingest is kept: the earlier run in the same warehouse is untouched and the export folder of
the earlier run is byte-identical (no export file written or half-written).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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

GOOD = THREE_ROWS


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
