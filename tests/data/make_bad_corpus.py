"""Generate the bad-input corpus under tests/data/bad/ (deterministic; the files are committed).

    python tests/data/make_bad_corpus.py [OUT_DIR]

Every entry of tests/data/bad/ is one case of tests/reliability/test_bad_inputs.py, which holds the expected
outcome of each (exit 2 with the words the message must contain, or accepted plus a check):

- ``c_*``      a routing-candidates file given as --metrics
- ``raw_*/``   a raw-metrics directory given as --metrics
- ``config_*`` a routing config given as --config, with good metrics

CSV files are written byte by byte (so BOMs, CRLF, bad bytes and bad quoting are exactly as named);
parquet files with pyarrow and explicit schemas.
"""
from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "bad"

HEADER = ["target", "symbol", "score", "sample_size", "stability", "leakage_status", "task_type"]

# A small valid candidates table: two targets, each with a CS row and symbol rows.
GOOD_ROWS: list[list[Any]] = [
    ["ret_5m", "", 0.80, 10000, "STABLE", "SAFE", "REGRESSION"],
    ["ret_5m", "AAA", 0.75, 2000, "STABLE", "SAFE", "REGRESSION"],
    ["ret_5m", "BBB", 0.55, 2000, "UNKNOWN", "SAFE", "REGRESSION"],
    ["ret_5m", "CCC", 0.35, 2000, "DRIFTING", "SAFE", "REGRESSION"],
    ["ret_1d", "", 0.60, 8000, "DRIFTING", "SAFE", "BINARY_CLASSIFICATION"],
    ["ret_1d", "AAA", 0.90, 3000, "STABLE", "SUSPECT", "BINARY_CLASSIFICATION"],
]

ONE_MB = 1024 * 1024


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]], newline: str = "\n") -> str:
    """Plain CSV with no quoting at all: callers quote by hand where a case needs it."""
    lines = [",".join(header)] + [",".join(cell(v) for v in row) for row in rows]
    return newline.join(lines) + newline


def write_bytes(out: Path, name: str, data: bytes) -> None:
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_csv(out: Path, name: str, header: Sequence[str], rows: Sequence[Sequence[Any]], newline: str = "\n") -> None:
    write_bytes(out, name, csv_text(header, rows, newline).encode("utf-8"))


ARROW = {
    "target": pa.string(), "symbol": pa.string(), "score": pa.float64(), "sample_size": pa.int64(),
    "stability": pa.string(), "leakage_status": pa.string(), "task_type": pa.string(),
}


def write_parquet(out: Path, name: str, columns: dict[str, list[Any]], types: dict[str, pa.DataType] | None = None,
                  **kwargs: Any) -> None:
    types = {**ARROW, **(types or {})}
    arrays = [pa.array(values, type=types.get(col, pa.string())) for col, values in columns.items()]
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(arrays, names=list(columns)), path, **kwargs)


def good_columns(rows: Sequence[Sequence[Any]] = GOOD_ROWS, header: Sequence[str] = HEADER) -> dict[str, list[Any]]:
    """Rows as parquet columns (an empty symbol written as null)."""
    cols: dict[str, list[Any]] = {name: [] for name in header}
    for row in rows:
        for name, value in zip(header, row):
            cols[name].append(None if (name == "symbol" and value == "") else value)
    return cols


def modified(index: int, column: str, value: Any, rows: Sequence[Sequence[Any]] = GOOD_ROWS) -> list[list[Any]]:
    out = [list(r) for r in rows]
    out[index][HEADER.index(column)] = value
    return out


def without(column: str) -> tuple[list[str], list[list[Any]]]:
    i = HEADER.index(column)
    return [h for h in HEADER if h != column], [[v for j, v in enumerate(r) if j != i] for r in GOOD_ROWS]


# --- candidates files --------------------------------------------------------------------------

def make_candidates(out: Path) -> None:
    # Missing required columns.
    write_csv(out, "c_missing_target.csv", *without("target"))
    write_parquet(out, "c_missing_score.parquet", good_columns(header=without("score")[0], rows=without("score")[1]))
    write_csv(out, "c_missing_sample_size.csv", *without("sample_size"))
    # Wrong types.
    write_csv(out, "c_wrong_type_one_row.csv", HEADER, modified(3, "score", "abc"))
    cols = good_columns()
    cols["score"] = [str(v) for v in cols["score"]]
    cols["score"][1] = "high"
    write_parquet(out, "c_score_text_column.parquet", cols, {"score": pa.string()})
    cols = good_columns()
    cols["score"] = [True, False, True, True, False, True]
    write_parquet(out, "c_score_boolean_column.parquet", cols, {"score": pa.bool_()})
    write_csv(out, "c_sample_size_fraction.csv", HEADER, modified(2, "sample_size", "1500.5"))
    write_csv(out, "c_sample_size_nan.csv", HEADER, modified(1, "sample_size", "NaN"))
    write_csv(out, "c_sample_size_too_large.csv", HEADER, modified(1, "sample_size", "99999999999999999999999"))
    cols = good_columns()
    cols["sample_size"][1] = -5
    write_parquet(out, "c_sample_size_negative.parquet", cols)
    write_csv(out, "c_n_snapshots_text.csv", HEADER + ["n_snapshots"],
              [row + [("many" if i == 4 else 3)] for i, row in enumerate(GOOD_ROWS)])
    # Duplicate keys.
    write_csv(out, "c_duplicate_pair.csv", HEADER, GOOD_ROWS[:4] + [GOOD_ROWS[1]] + GOOD_ROWS[4:])
    cols = good_columns(GOOD_ROWS + [["ret_5m", "__AGG__", 0.7, 9000, "STABLE", "SAFE", "REGRESSION"]])
    write_parquet(out, "c_duplicate_cs_row.parquet", cols)
    # Unknown enum values.
    write_csv(out, "c_unknown_stability.csv", HEADER, modified(2, "stability", "SHAKY"))
    cols = good_columns()
    cols["leakage_status"][3] = "LEAKY"
    write_parquet(out, "c_unknown_leakage_status.parquet", cols)
    write_csv(out, "c_unknown_task_type.csv", HEADER, modified(5, "task_type", "REGRESION"))
    write_csv(out, "c_unknown_mode.csv", HEADER + ["mode"],
              [row + [("PER_SYMBOL" if i == 1 else "CROSS_SECTIONAL")] for i, row in enumerate(GOOD_ROWS)])
    cols = good_columns()
    cols["model_status"] = ["OK", "OK", "BROKEN", "OK", "OK", "OK"]
    write_parquet(out, "c_unknown_model_status.parquet", cols)
    # Empty targets.
    rows = modified(1, "target", "")
    rows = modified(2, "target", "   ", rows)
    write_csv(out, "c_empty_target.csv", HEADER, rows)
    cols = good_columns()
    cols["target"][0] = None
    write_parquet(out, "c_null_target.parquet", cols)
    # Bad lists.
    write_csv(out, "c_bad_failed_families.csv", HEADER + ["failed_model_families"],
              [row + [('"[""oops"' if i == 1 else "")] for i, row in enumerate(GOOD_ROWS)])
    # Unreadable files.
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_arrays([pa.array(v, type=ARROW[k]) for k, v in good_columns().items()], names=HEADER), buf)
    whole = buf.getvalue().to_pybytes()
    write_bytes(out, "c_truncated.parquet", whole[: len(whole) // 2])
    write_bytes(out, "c_not_parquet.parquet", b"target,score,sample_size\nret_5m,0.5,100\n")
    write_bytes(out, "c_zero_bytes.parquet", b"")
    write_bytes(out, "c_zero_bytes.csv", b"")
    write_bytes(out, "c_unsupported_type.txt", csv_text(HEADER, GOOD_ROWS).encode())
    # Zero rows.
    write_csv(out, "c_header_only.csv", HEADER, [])
    write_parquet(out, "c_zero_rows.parquet", {name: [] for name in HEADER})
    # CSV structure.
    write_bytes(out, "c_not_utf8.csv", csv_text(HEADER, modified(2, "symbol", "CAF\xc9")).encode("latin-1"))
    text = csv_text(HEADER, GOOD_ROWS).splitlines()
    text[3] += ",EXTRA"
    write_bytes(out, "c_ragged_row.csv", ("\n".join(text) + "\n").encode())
    text = csv_text(HEADER, GOOD_ROWS).splitlines()
    text[4] = "ret_5m,DDD,0.5"
    write_bytes(out, "c_short_row.csv", ("\n".join(text) + "\n").encode())
    text = csv_text(HEADER, GOOD_ROWS).splitlines()
    text[5] = 'ret_1d,"unterminated,0.6,8000,DRIFTING,SAFE,BINARY_CLASSIFICATION'
    write_bytes(out, "c_unterminated_quote.csv", ("\n".join(text) + "\n").encode())
    write_csv(out, "c_duplicate_column.csv", HEADER + ["Score"], [row + [0.1] for row in GOOD_ROWS])

    # Accepted with correct handling.
    write_bytes(out, "c_bom.csv", b"\xef\xbb\xbf" + csv_text(HEADER, GOOD_ROWS).encode())
    write_bytes(out, "c_crlf.csv", csv_text(HEADER, GOOD_ROWS, newline="\r\n").encode())
    write_bytes(out, "c_semicolon.csv", csv_text(HEADER, GOOD_ROWS).replace(",", ";").encode())
    rows = [list(r) for r in GOOD_ROWS]
    rows[1][0] = '"ret,with,commas_5m"'
    rows[0][0] = '"ret,with,commas_5m"'
    rows[2][1] = '"B,B"'
    write_csv(out, "c_quoted_commas.csv", HEADER, rows)
    rows = [list(r) for r in GOOD_ROWS]
    rows[1][1] = '"line one\nline two"'
    rows[2][1] = '"say ""hi"""'
    write_csv(out, "c_embedded_newlines.csv", HEADER, rows)
    rows = [list(r) for r in GOOD_ROWS]
    rows[0][2], rows[1][2], rows[2][2], rows[3][2], rows[4][2] = "NaN", "inf", "-inf", "Infinity", "-Infinity"
    write_csv(out, "c_nan_inf_scores.csv", HEADER, rows)
    cols = good_columns()
    cols["score"][:5] = [math.nan, math.inf, -math.inf, math.nan, math.inf]
    write_parquet(out, "c_nan_inf_scores.parquet", cols)
    rows = [list(r) for r in GOOD_ROWS]
    rows[1][4], rows[1][5], rows[1][6] = " stable ", "Safe", "regression"
    rows[2][4], rows[2][5] = "uNkNoWn", " suspect"
    rows[5][6] = "Binary_Classification "
    write_csv(out, "c_mixed_case_enums.csv", HEADER + ["mode"],
              [row + ([" symbol "] if i in (1, 2) else [""]) for i, row in enumerate(rows)])
    write_csv(out, "c_blank_lines.csv", HEADER, GOOD_ROWS)
    path = out / "c_blank_lines.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + [""] + lines[3:5] + ["", ""] + lines[5:]) + "\n\n")
    write_csv(out, "c_null_sample_size.csv", HEADER, modified(1, "sample_size", ""))
    write_csv(out, "c_extra_columns.csv", HEADER + ["notes", "owner"], [row + ["x", "team"] for row in GOOD_ROWS])
    write_csv(out, "c_aggregate_rows.csv", HEADER + ["mode"],
              [row + ["CROSS_SECTIONAL"] for row in GOOD_ROWS] + [["ret_5m", "", 0.7, 50000, "STABLE", "SAFE", "REGRESSION", "SYMBOL_SPECIFIC"]])
    cols = good_columns()
    cols["sample_size"] = [float(v) for v in cols["sample_size"]]
    write_parquet(out, "c_sample_size_as_double.parquet", cols, {"sample_size": pa.float64()})
    cols = good_columns()
    struct = pa.struct([("mean_overlap", pa.float64()), ("std_overlap", pa.float64()),
                        ("mean_tau", pa.float64()), ("std_tau", pa.float64())])
    cols["stability"] = [None] * 6
    cols["stability_metrics"] = [{"mean_overlap": 0.9, "std_overlap": 0.05, "mean_tau": 0.8, "std_tau": 0.05}] * 6
    cols["stability_metrics"][1] = {"mean_overlap": 0.9, "std_overlap": 0.5, "mean_tau": 0.8, "std_tau": 0.05}
    write_parquet(out, "c_stability_metrics_struct.parquet", cols, {"stability": pa.string(), "stability_metrics": struct})
    make_stability_and_columns(out)
    # A 1 MB target name: one dictionary entry, compressed with zstd, so the file stays small.
    big = "T" * (ONE_MB - 3) + "_5m"
    cols = good_columns()
    cols["target"] = [big if t == "ret_5m" else t for t in cols["target"]]
    write_parquet(out, "c_one_mb_target.parquet", cols, compression="zstd", use_dictionary=True)


STABILITY = pa.struct([("mean_overlap", pa.float64()), ("std_overlap", pa.float64()),
                       ("mean_tau", pa.float64()), ("std_tau", pa.float64())])
STABLE_METRICS = {"mean_overlap": 0.9, "std_overlap": 0.05, "mean_tau": 0.8, "std_tau": 0.05}
METRIC_NAMES = list(STABLE_METRICS)


def write_table(out: Path, name: str, table: pa.Table) -> None:
    """A parquet file from an Arrow table as given (which may repeat a column name)."""
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def with_metrics(**changes: Any) -> list[list[Any]]:
    """GOOD_ROWS plus the four stability metrics columns (stable everywhere), with {(row, column): value} changes."""
    rows = [list(r) + [STABLE_METRICS[m] for m in METRIC_NAMES] for r in GOOD_ROWS]
    for key, value in changes.items():
        row, column = key.split("_", 1)
        rows[int(row[1:])][len(HEADER) + METRIC_NAMES.index(column)] = value
    return rows


def make_stability_and_columns(out: Path) -> None:
    """Repeated column names and the stability metrics' types and ranges."""
    # Two columns of one name: DuckDB reads the second parquet one as score_1, so the real schema decides.
    cols = good_columns()
    arrays = [pa.array(v, type=ARROW[k]) for k, v in cols.items()]
    names = list(cols)
    i = names.index("score")
    write_table(out, "c_duplicate_score_column.parquet", pa.Table.from_arrays(
        arrays[:i] + [pa.nulls(6, pa.float64())] + arrays[i:], names=names[:i] + ["score"] + names[i:]))
    write_table(out, "c_duplicate_column_case.parquet", pa.Table.from_arrays(
        arrays + [pa.array([0.1] * 6)], names=names + ["SCORE"]))
    cols = good_columns()
    fields = pa.struct([("mean_overlap", pa.float64()), ("MEAN_OVERLAP", pa.float64())])
    cols["stability_metrics"] = [{"mean_overlap": 0.1, "MEAN_OVERLAP": 0.9}] * 6
    write_parquet(out, "c_stability_struct_duplicate_field.parquet", cols, {"stability_metrics": fields})
    # Out of range or infinite stability metrics (NaN is a missing value).
    columns = {**good_columns(), **{m: [STABLE_METRICS[m]] * 6 for m in METRIC_NAMES}}
    columns["stability"] = [None] * 6
    columns["mean_overlap"] = [0.9, math.inf, 0.9, 0.9, 0.9, 0.9]
    write_parquet(out, "c_mean_overlap_infinite.parquet", columns, {m: pa.float64() for m in METRIC_NAMES})
    write_csv(out, "c_mean_tau_out_of_range.csv", HEADER + METRIC_NAMES, with_metrics(r1_mean_tau=7.0, r3_mean_tau=-1.5))
    write_csv(out, "c_mean_overlap_above_one.csv", HEADER + METRIC_NAMES, with_metrics(r2_mean_overlap="1.0001"))
    write_csv(out, "c_std_overlap_negative.csv", HEADER + METRIC_NAMES, with_metrics(r4_std_overlap=-0.01))
    write_csv(out, "c_std_tau_infinite.csv", HEADER + METRIC_NAMES, with_metrics(r0_std_tau="Infinity"))
    # Accepted: -0.0 is 0, NaN is missing, the bounds themselves are in range.
    write_csv(out, "c_stability_edge_values.csv", HEADER + METRIC_NAMES,
              with_metrics(r0_std_overlap=-0.0, r0_mean_tau=-1.0, r1_std_tau="-0.0", r1_mean_overlap=1.0,
                           r2_std_overlap="NaN", r2_mean_tau="nan", r3_mean_overlap=0.0, r3_mean_tau=1.0))
    # The struct column: values out of range, text fields, a column of another type, fewer and more fields.
    def struct_file(name: str, values: list[Any], fields: pa.DataType = STABILITY) -> None:
        cols = good_columns()
        cols["stability"] = [None] * 6
        cols["stability_metrics"] = values
        write_parquet(out, name, cols, {"stability": pa.string(), "stability_metrics": fields})
    values: list[Any] = [dict(STABLE_METRICS) for _ in range(6)]
    values[2]["mean_tau"] = 7.0
    values[5]["mean_tau"] = -math.inf
    struct_file("c_stability_struct_out_of_range.parquet", values)
    text = pa.struct([(m, pa.string()) for m in METRIC_NAMES])
    values = [{m: str(v) for m, v in STABLE_METRICS.items()} for _ in range(6)]
    values[1]["std_overlap"] = "x"
    struct_file("c_stability_struct_text_fields.parquet", values, text)
    values = [{m: str(v) for m, v in STABLE_METRICS.items()} for _ in range(6)]
    values[1]["std_overlap"] = "0.5"
    struct_file("c_stability_struct_numeric_text.parquet", values, text)
    struct_file("c_stability_metrics_not_a_struct.parquet",
                ['{"mean_overlap": 0.9}'] + [None] * 5, pa.string())
    partial = pa.struct([("mean_overlap", pa.float64()), ("std_overlap", pa.float64()), ("status", pa.string())])
    values = [{"mean_overlap": 0.9, "std_overlap": 0.05, "status": "stable"} for _ in range(6)]
    values[1]["std_overlap"] = 0.5
    struct_file("c_stability_struct_partial_fields.parquet", values, partial)
    cols = good_columns()
    cols["stability"] = [1, 1, 2, 1, 1, 1]
    write_parquet(out, "c_stability_integer_column.parquet", cols, {"stability": pa.int64()})


# --- raw metrics directories -------------------------------------------------------------------

FS_HEADER = ["target", "symbol", "score", "sample_size", "task_type"]
FS_ROWS = [[r[0], r[1], r[2], r[3], r[6]] for r in GOOD_ROWS]
SNAP_HEADER = ["target", "symbol", "snapshot_id", "overlap", "tau"]
SNAP_ROWS = [["ret_5m", "AAA", "s1", 0.8, 0.7], ["ret_5m", "AAA", "s2", 0.82, 0.72], ["ret_5m", "", "s1", 0.6, 0.5]]
LEAK_HEADER = ["target", "symbol", "leakage_status", "quarantine_confirmed"]
LEAK_ROWS = [["ret_5m", "AAA", "SAFE", "false"], ["ret_1d", "AAA", "BLOCKED", "true"]]


def make_raw(out: Path) -> None:
    d = "raw_no_feature_selection/"
    write_csv(out, d + "leakage.csv", LEAK_HEADER, LEAK_ROWS)
    write_csv(out, d + "stability_snapshots.csv", SNAP_HEADER, SNAP_ROWS)
    d = "raw_both_formats/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_parquet(out, d + "feature_selection.parquet", good_columns(FS_ROWS, FS_HEADER))
    d = "raw_snapshots_missing_tau/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_csv(out, d + "stability_snapshots.csv", SNAP_HEADER[:-1], [r[:-1] for r in SNAP_ROWS])
    d = "raw_snapshots_bad_overlap/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    rows = [list(r) for r in SNAP_ROWS]
    rows[1][3] = "eighty percent"
    write_csv(out, d + "stability_snapshots.csv", SNAP_HEADER, rows)
    d = "raw_leakage_unknown_status/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_csv(out, d + "leakage.csv", LEAK_HEADER, [LEAK_ROWS[0], ["ret_1d", "AAA", "QUARANTINED", "true"]])
    d = "raw_leakage_bad_quarantine/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_csv(out, d + "leakage.csv", LEAK_HEADER, [LEAK_ROWS[0], ["ret_1d", "AAA", "BLOCKED", "maybe"]])
    d = "raw_leakage_duplicate/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_csv(out, d + "leakage.csv", LEAK_HEADER, LEAK_ROWS + [LEAK_ROWS[0]])
    d = "raw_feature_selection_zero_rows/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, [])
    write_csv(out, d + "leakage.csv", LEAK_HEADER, LEAK_ROWS)
    d = "raw_truncated_snapshots/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    buf = pa.BufferOutputStream()
    pq.write_table(pa.table({"target": ["ret_5m"] * 50, "symbol": ["AAA"] * 50, "snapshot_id": [f"s{i}" for i in range(50)],
                             "overlap": [0.5] * 50, "tau": [0.5] * 50}), buf)
    whole = buf.getvalue().to_pybytes()
    write_bytes(out, d + "stability_snapshots.parquet", whole[: len(whole) - 20])
    d = "raw_no_metrics/"
    write_bytes(out, d + "notes.txt", b"metrics were not written here\n")
    # Names matched case-insensitively; two spellings of one source are ambiguous.
    d = "raw_leakage_capitalised/"
    write_csv(out, d + "Feature_Selection.CSV", FS_HEADER, FS_ROWS)
    write_table(out, d + "Leakage.parquet", pa.table({"target": ["ret_1d"], "symbol": ["AAA"], "leakage_status": ["BLOCKED"]}))
    d = "raw_leakage_two_spellings/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_csv(out, d + "leakage.csv", LEAK_HEADER, LEAK_ROWS)
    write_table(out, d + "Leakage.parquet", pa.table({"target": ["ret_1d"], "symbol": ["AAA"], "leakage_status": ["SAFE"]}))
    # Keys: a snapshot id repeated for one pair, CS markers that all mean the CS row.
    d = "raw_snapshots_duplicate/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_csv(out, d + "stability_snapshots.csv", SNAP_HEADER, SNAP_ROWS + [["ret_5m", " AAA ", "s2", 0.1, 0.1]])
    d = "raw_snapshots_cs_markers_collide/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_csv(out, d + "stability_snapshots.csv", SNAP_HEADER, SNAP_ROWS + [["ret_5m", "__AGG__", "s1", 0.9, 0.9]])
    d = "raw_leakage_cs_markers_collide/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_csv(out, d + "leakage.csv", LEAK_HEADER, LEAK_ROWS + [["ret_5m", "", "SAFE", ""], ["ret_5m", "__AGG__", "BLOCKED", ""]])
    d = "raw_feature_selection_duplicate_column/"
    fs = good_columns(FS_ROWS, FS_HEADER)
    write_table(out, d + "feature_selection.parquet", pa.Table.from_arrays(
        [pa.array(v, type=ARROW[k]) for k, v in fs.items()] + [pa.array([None] * 6, pa.float64())],
        names=list(fs) + ["Score"]))
    # Snapshot values out of range (NaN stays a missing value: raw_mixed_case_and_nan).
    d = "raw_snapshots_overlap_out_of_range/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    rows = [list(r) for r in SNAP_ROWS]
    rows[2][3] = 1.5
    write_csv(out, d + "stability_snapshots.csv", SNAP_HEADER, rows)
    d = "raw_snapshots_tau_infinite/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_table(out, d + "stability_snapshots.parquet", pa.table({
        "target": ["ret_5m"] * 2, "symbol": ["AAA"] * 2, "snapshot_id": ["s1", "s2"], "overlap": [0.8, 0.8],
        "tau": [0.7, math.inf]}))
    # Accepted: optional files present but empty, mixed-case enums, NaN overlap.
    d = "raw_empty_optional_files/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, FS_ROWS)
    write_csv(out, d + "stability_snapshots.csv", SNAP_HEADER, [])
    write_csv(out, d + "leakage.csv", LEAK_HEADER, [])
    d = "raw_mixed_case_and_nan/"
    write_csv(out, d + "feature_selection.csv", FS_HEADER, [r[:4] + [str(r[4]).lower()] for r in FS_ROWS])
    rows = [list(r) for r in SNAP_ROWS]
    rows[0][3] = "NaN"
    write_csv(out, d + "stability_snapshots.csv", SNAP_HEADER, rows)
    write_csv(out, d + "leakage.csv", LEAK_HEADER, [["ret_5m", "AAA", " safe", "FALSE"], ["ret_1d", "AAA", "Blocked", "TRUE"]])


# --- configs -------------------------------------------------------------------------------

BASE_CONFIG = """\
routing:
  min_sample_size: {cross_sectional: 5000, symbol: 1000}
  cross_sectional: {min_score: 0.5, strong_score: 0.7}
  symbol: {min_score: 0.5, strong_score: 0.7}
  experimental: {min_score: 0.3, max_fraction_symbols_per_target: 0.5}
"""


def make_configs(out: Path) -> None:
    configs = {
        "config_invalid_yaml.yaml": BASE_CONFIG + "  dev_mode: [true\n",
        "config_not_a_mapping.yaml": "- routing\n- training_plan\n",
        "config_empty.yaml": "",
        "config_missing_required.yaml": BASE_CONFIG.replace("  symbol: {min_score: 0.5, strong_score: 0.7}\n", "  symbol: {strong_score: 0.7}\n"),
        "config_wrong_type.yaml": BASE_CONFIG + "  block_on_leakage: yes please\n",
        "config_bool_as_number.yaml": BASE_CONFIG + "  dev_mode: 1\n",
        "config_bad_enum.yaml": BASE_CONFIG + "  both_strong_behavior: ROUTE_ALL\n",
        "config_bad_stability.yaml": BASE_CONFIG + "  stability_allowlist: {cross_sectional: [STABLE], symbol: [STABLE, SHAKY]}\n",
        "config_bad_dump_format.yaml": BASE_CONFIG + "  dump_plan_as: [JSON, PDF]\n",
        "config_fraction_out_of_range.yaml": BASE_CONFIG.replace("max_fraction_symbols_per_target: 0.5", "max_fraction_symbols_per_target: 1.5"),
        "config_unknown_key.yaml": BASE_CONFIG + "  min_sample_sizes: {symbol: 10}\n",
        "config_threshold_no_default.yaml": BASE_CONFIG.replace(
            "  cross_sectional: {min_score: 0.5, strong_score: 0.7}",
            "  cross_sectional: {min_score: {classification: 0.5, regression: {short: 0.4}}, strong_score: 0.7}"),
        "config_threshold_infinite.yaml": BASE_CONFIG.replace("strong_score: 0.7}\n  symbol", "strong_score: .inf}\n  symbol"),
        "config_negative_count.yaml": BASE_CONFIG.replace("symbol: 1000}", "symbol: -1}"),
        "config_bad_route_key.yaml": BASE_CONFIG + "training_plan:\n  model_families_by_route: {ROUTE_EVERYWHERE: [lightgbm]}\n",
        "config_families_not_a_list.yaml": BASE_CONFIG + "training_plan:\n  model_families: lightgbm\n",
        "config_experimental_without_min.yaml": BASE_CONFIG.replace("min_score: 0.3, ", ""),
        "config_foxml_only_keys.yaml": BASE_CONFIG + "  require_safe_features_only: true\n  log_decision_reasons: true\n",
    }
    for name, text in configs.items():
        write_bytes(out, name, text.encode("utf-8"))
    write_bytes(out, "config_not_utf8.yaml", (BASE_CONFIG + "# r\xe9glage\n").encode("latin-1"))


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    make_candidates(out)
    make_raw(out)
    make_configs(out)
    count = sum(1 for _ in out.iterdir())
    print(f"wrote {count} bad-input cases to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
