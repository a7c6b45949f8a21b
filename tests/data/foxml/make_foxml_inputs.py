"""Write candidates files in the layouts FoxML's metrics aggregator writes (pyarrow only).

FoxML builds its `routing_candidates.parquet` from a list of Python dicts through pandas, so its
files carry what that gives: the run's view in `mode` on every symbol row, all-empty
`failed_model_families` lists (Arrow `list<null>`), all-null columns (Arrow `null`), a
`stability_metrics` struct with more fields than the four foxwarehouse reads, `timestamp` and
`git_commit` columns, older files with `mode: SYMBOL` and a float `sample_size`, and, with its
`allow_mode_fallback`, a second identical CS row marked `mode_fallback`. The rows and values here are
made up for the tests; only the layouts follow FoxML.

    python tests/data/foxml/make_foxml_inputs.py [OUT_DIR]      (default: next to this script)

tests/e2e/test_foxml_inputs.py writes them to a temp folder and plans each one; the expected jobs
are listed there.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
TIMESTAMP = "2025-01-02T03:04:05.678901"
GIT_COMMIT = "0123abc"


def stability_metrics(mean_overlap: float, std_overlap: float, mean_tau: float, std_tau: float,
                      n_snapshots: int = 4) -> dict[str, Any]:
    """A stability_metrics value as FoxML's stability analysis returns it: the four metrics and more."""
    return {"mean_overlap": mean_overlap, "std_overlap": std_overlap, "mean_tau": mean_tau, "std_tau": std_tau,
            "n_comparisons": n_snapshots - 1, "n_snapshots": n_snapshots, "status": "stable", "n_legacy_ignored": 0}


def cs_row(target: str, score: float, sample_size: int, **extra: Any) -> dict[str, Any]:
    row = {"target": target, "symbol": None, "mode": "CROSS_SECTIONAL", "score": score, "score_ci_low": None,
           "score_ci_high": None, "stability": "UNKNOWN", "sample_size": sample_size, "leakage_status": "UNKNOWN",
           "feature_set_id": None, "failed_model_families": [], "stability_metrics": None,
           "task_type": "REGRESSION", "metric_name": "r2"}
    row.update(extra)
    return row


def symbol_row(target: str, symbol: str, mode: str, score: float, sample_size: int, **extra: Any) -> dict[str, Any]:
    row = cs_row(target, score, sample_size, symbol=symbol, mode=mode, model_status="OK")
    row.update(extra)
    return row


def table(rows: list[dict[str, Any]], types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Rows as one table in column order of first appearance, with FoxML's two run columns added;
    types not given are inferred as pandas-through-Arrow would (all None -> null, all [] -> list<null>)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    data = {name: [row.get(name) for row in rows] for name in columns}
    data["timestamp"] = [TIMESTAMP] * len(rows)
    data["git_commit"] = [GIT_COMMIT] * len(rows)
    types = types or {}
    return pa.table({name: pa.array(values, type=types.get(name)) for name, values in data.items()})


def layouts() -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}

    # A CROSS_SECTIONAL run (several symbols): every row says CROSS_SECTIONAL, symbol rows included.
    out["view_labelled"] = table([
        cs_row("fwd_ret_15m", 0.8, 20_000),
        symbol_row("fwd_ret_15m", "AAPL", "CROSS_SECTIONAL", 0.8, 4_000),
        symbol_row("fwd_ret_15m", "MSFT", "CROSS_SECTIONAL", 0.6, 4_000),
        cs_row("fwd_ret_60m", 0.2, 20_000),
        symbol_row("fwd_ret_60m", "AAPL", "CROSS_SECTIONAL", 0.6, 4_000),
    ])

    # No family ever failed: the column is all empty lists, list<null> in Arrow.
    families = table([
        cs_row("fwd_ret_15m", 0.8, 20_000),
        symbol_row("fwd_ret_15m", "AAPL", "CROSS_SECTIONAL", 0.8, 4_000),
    ])
    assert families.schema.field("failed_model_families").type == pa.list_(pa.null())
    out["list_null_families"] = families

    # Columns FoxML fills with None on every row (confidence bounds, feature set, task type, metric,
    # model status): Arrow null columns.
    nulls = table([
        cs_row("fwd_ret_15m", 0.8, 20_000, task_type=None, metric_name=None, model_status=None),
        symbol_row("fwd_ret_15m", "AAPL", "CROSS_SECTIONAL", 0.8, 4_000, task_type=None, metric_name=None,
                   model_status=None),
    ])
    for name in ("score_ci_low", "score_ci_high", "feature_set_id", "task_type", "metric_name", "model_status",
                 "stability_metrics"):
        assert nulls.schema.field(name).type == pa.null(), name
    out["null_columns"] = nulls

    # stability_metrics as a struct with FoxML's extra fields; the stability label stays UNKNOWN,
    # so the four metrics classify it (AAPL stable, MSFT diverged, the CS row drifting).
    out["stability_struct"] = table([
        cs_row("fwd_ret_15m", 0.8, 20_000, stability_metrics=stability_metrics(0.6, 0.05, 0.5, 0.05)),
        symbol_row("fwd_ret_15m", "AAPL", "CROSS_SECTIONAL", 0.8, 4_000,
                   stability_metrics=stability_metrics(0.9, 0.05, 0.8, 0.05)),
        symbol_row("fwd_ret_15m", "MSFT", "CROSS_SECTIONAL", 0.8, 4_000,
                   stability_metrics=stability_metrics(0.9, 0.35, 0.8, 0.05)),
        symbol_row("fwd_ret_15m", "NVDA", "CROSS_SECTIONAL", 0.8, 4_000, stability_metrics=None),
    ])

    # An older file: symbol rows say SYMBOL, sample_size is a float column (pandas after a missing value).
    out["legacy_symbol_float"] = table([
        cs_row("fwd_ret_15m", 0.8, 20_000),
        symbol_row("fwd_ret_15m", "AAPL", "SYMBOL", 0.8, 4_000),
        symbol_row("fwd_ret_15m", "MSFT", "SYMBOL", 0.6, None),
    ], types={"sample_size": pa.float64()})

    # A SYMBOL_SPECIFIC run (one symbol) with allow_mode_fallback: fwd_ret_5d has no symbol metrics,
    # so its CS row is written twice, the copy marked in mode_fallback and fallback_reason.
    fallback = cs_row("fwd_ret_5d", 0.8, 20_000)
    copy_row = dict(fallback, mode_fallback="SYMBOL_SPECIFIC->CROSS_SECTIONAL",
                    fallback_reason="No symbol metrics found (1 missing)")
    out["mode_fallback"] = table([
        cs_row("fwd_ret_15m", 0.8, 20_000),
        symbol_row("fwd_ret_15m", "AAPL", "SYMBOL_SPECIFIC", 0.8, 4_000),
        fallback,
        copy_row,
    ])
    return out


def write(out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in layouts().items():
        path = out_dir / f"{name}.parquet"
        pq.write_table(data, path)
        written[name] = path
    return written


if __name__ == "__main__":
    for name, path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE).items():
        print(f"{name}: {path}")
