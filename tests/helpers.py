"""Shared helpers for the end-to-end suite: write metrics and configs, run the CLI in-process,
load what an export wrote.

Everything drives the real pipeline: real DuckDB files, real parquet/CSV files in a temp folder.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from foxwarehouse.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# One target with a CS row and two symbols: the smallest metrics that plan to real jobs.
THREE_ROWS = [
    {"target": "fwd_ret_15m", "symbol": None, "score": 0.8, "sample_size": 10_000},
    {"target": "fwd_ret_15m", "symbol": "AAPL", "score": 0.8, "sample_size": 2_000},
    {"target": "fwd_ret_15m", "symbol": "MSFT", "score": 0.6, "sample_size": 2_000},
]
STATE_DIR = ".foxwarehouse"                 # an output folder's bookkeeping (lock, record, staging)
LEGACY_EXPORTS_DIR = ".foxwarehouse-exports"  # the export store of older versions
FOLDER_MANIFEST = ".foxwarehouse-manifest.json"

# The columns of a routing-candidates file in order, with the Arrow type each is written as.
CANDIDATE_TYPES: dict[str, pa.DataType] = {
    "target": pa.string(),
    "symbol": pa.string(),
    "mode": pa.string(),
    "score": pa.float64(),
    "score_ci_low": pa.float64(),
    "score_ci_high": pa.float64(),
    "stability": pa.string(),
    "sample_size": pa.int64(),
    "leakage_status": pa.string(),
    "feature_set_id": pa.string(),
    "metric_name": pa.string(),
    "failed_model_families": pa.list_(pa.string()),
    "model_status": pa.string(),
    "task_type": pa.string(),
    "mean_overlap": pa.float64(),
    "std_overlap": pa.float64(),
    "mean_tau": pa.float64(),
    "std_tau": pa.float64(),
    "n_snapshots": pa.int64(),
}
# The files of a raw-metrics directory.
FEATURE_SELECTION_TYPES: dict[str, pa.DataType] = {
    name: CANDIDATE_TYPES[name]
    for name in ("target", "symbol", "score", "score_ci_low", "score_ci_high", "sample_size", "task_type",
                 "metric_name", "feature_set_id", "failed_model_families", "model_status")
}
SNAPSHOT_TYPES: dict[str, pa.DataType] = {
    "target": pa.string(), "symbol": pa.string(), "snapshot_id": pa.string(), "overlap": pa.float64(), "tau": pa.float64(),
}
LEAKAGE_TYPES: dict[str, pa.DataType] = {
    "target": pa.string(), "symbol": pa.string(), "leakage_status": pa.string(), "quarantine_confirmed": pa.bool_(),
}

# A small, readable config for rule tests: one number per threshold, so a test's scores read
# directly against it. Sides: min 0.50 / strong 0.70; experimental lane from 0.30.
# FoxML's horizon_extraction block (its CONFIG/data/excluded_features.yaml), as YAML text to paste
# under `routing` (indent it two spaces there).
FOXML_HORIZON_BLOCK_YAML = """\
horizon_extraction:
  patterns:
  - regex: (\\d+)m
    multiplier: 1
  - regex: (\\d+)h
    multiplier: 60
  - regex: (\\d+)d
    multiplier: 1440
"""

# The smallest valid routing config as YAML text, five lines: what a case appends starts at line 6.
BASE_CONFIG_YAML = """\
routing:
  min_sample_size: {cross_sectional: 5000, symbol: 1000}
  cross_sectional: {min_score: 0.5, strong_score: 0.7}
  symbol: {min_score: 0.5, strong_score: 0.7}
  experimental: {min_score: 0.3, max_fraction_symbols_per_target: 0.5}
"""

SIMPLE_CONFIG: dict[str, Any] = {
    "routing": {
        "min_sample_size": {"cross_sectional": 5000, "symbol": 1000},
        "block_on_leakage": True,
        "dev_mode": False,
        "dev_mode_min_sample_size": 1000,
        "cross_sectional": {"min_score": 0.50, "strong_score": 0.70},
        "symbol": {"min_score": 0.50, "strong_score": 0.70},
        "stability_allowlist": {"cross_sectional": ["STABLE", "DRIFTING", "UNKNOWN"], "symbol": ["STABLE", "UNKNOWN"]},
        "both_strong_behavior": "ROUTE_BOTH",
        "enable_experimental_lane": True,
        "experimental": {
            "min_score": 0.30,
            "allowed_stabilities": ["DRIFTING", "UNKNOWN"],
            "max_fraction_symbols_per_target": 1.0,
        },
        "stability_classification": {
            "stable_overlap_min": 0.70, "drifting_overlap_min": 0.50, "stable_tau_min": 0.60,
            "drifting_tau_min": 0.40, "max_std_overlap": 0.20, "max_std_tau": 0.25,
            "min_snapshots_for_stability": 2,
        },
        "dump_plan_as": ["JSON", "YAML", "MARKDOWN"],
    },
    "training_plan": {
        "model_families": ["lightgbm", "xgboost"],
        "model_families_by_route": {},
        "drop_failed_families": True,
        "include_blocked": False,
        "derived_views": True,
    },
}


# --- writing inputs ---------------------------------------------------------------------------

def _columns(rows: Sequence[Mapping[str, Any]], types: Mapping[str, pa.DataType],
             columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    present = {key for row in rows for key in row}
    unknown = present - set(types)
    ordered = [name for name in types if name in present]
    return ordered + sorted(unknown)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return str(value)


def write_table(path: Path, rows: Sequence[Mapping[str, Any]], types: Mapping[str, pa.DataType],
                columns: Sequence[str] | None = None) -> Path:
    """Write rows (dicts; a missing key is null) as parquet or CSV, chosen by the file suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = _columns(rows, types, columns)
    if path.suffix == ".csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow([_csv_cell(row.get(name)) for name in names])
        path.write_text(buf.getvalue(), encoding="utf-8")
        return path
    arrays = [pa.array([row.get(name) for row in rows], type=types.get(name, pa.string())) for name in names]
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    return path


def write_candidates(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Path:
    """A routing-candidates file (parquet or CSV by suffix)."""
    return write_table(path, rows, CANDIDATE_TYPES, columns)


def write_raw_metrics(folder: Path, feature_selection: Sequence[Mapping[str, Any]],
                      snapshots: Sequence[Mapping[str, Any]] | None = None,
                      leakage: Sequence[Mapping[str, Any]] | None = None, fmt: str = "parquet") -> Path:
    """A raw-metrics directory: feature_selection, and stability_snapshots / leakage when given."""
    folder = Path(folder)
    write_table(folder / f"feature_selection.{fmt}", feature_selection, FEATURE_SELECTION_TYPES)
    if snapshots is not None:
        write_table(folder / f"stability_snapshots.{fmt}", snapshots, SNAPSHOT_TYPES, list(SNAPSHOT_TYPES))
    if leakage is not None:
        write_table(folder / f"leakage.{fmt}", leakage, LEAKAGE_TYPES)
    return folder


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """base with overrides applied; nested mappings merge, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and value:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def config_with(**dotted: Any) -> dict[str, Any]:
    """SIMPLE_CONFIG with dotted-key overrides: config_with(**{"routing.dev_mode": True})."""
    config = copy.deepcopy(SIMPLE_CONFIG)
    for key, value in dotted.items():
        node = config
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return config


def write_config(path: Path, config: Mapping[str, Any] | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config if config is not None else SIMPLE_CONFIG), sort_keys=False),
                    encoding="utf-8")
    return path


# --- running the CLI --------------------------------------------------------------------------

@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def __repr__(self) -> str:  # readable in assertion failures
        return f"CliResult(code={self.code}, out={self.out[-800:]!r}, err={self.err[-1500:]!r})"


def run_cli(args: Iterable[Any], capsys: Any = None) -> CliResult:
    """Run `foxwarehouse ARGS` in-process; stdout/stderr via capsys when given, else redirected."""
    argv = [str(a) for a in args]
    if capsys is not None:
        capsys.readouterr()
        code = cli_main(argv)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    return CliResult(code, out.getvalue(), err.getvalue())


# --- reading outputs --------------------------------------------------------------------------

def strict_json_load(path: Path) -> Any:
    """json.load that refuses NaN/Infinity (RFC 8259)."""
    def refuse(token: str) -> Any:
        raise ValueError(f"{path}: non-finite number {token} in JSON")
    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=refuse)


@dataclass
class Plan:
    """What one export wrote, parsed."""

    out: Path
    result: CliResult
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def master(self) -> dict[str, Any]:
        if "master" not in self._cache:
            self._cache["master"] = strict_json_load(self.out / "training_plan" / "master_training_plan.json")
        return self._cache["master"]

    @property
    def routing(self) -> dict[str, Any]:
        if "routing" not in self._cache:
            self._cache["routing"] = strict_json_load(self.out / "routing_plan" / "routing_plan.json")
        return self._cache["routing"]

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return self.master["jobs"]

    @property
    def job_ids(self) -> list[str]:
        return [job["job_id"] for job in self.jobs]

    @property
    def summary(self) -> dict[str, Any]:
        return self.master["summary"]

    def job(self, job_id: str) -> dict[str, Any]:
        matches = [job for job in self.jobs if job["job_id"] == job_id]
        assert matches, f"no job {job_id!r}; jobs: {self.job_ids}"
        return matches[0]

    def cs(self, target: str) -> dict[str, Any]:
        return self.routing["targets"][target]["cross_sectional"]

    def pair(self, target: str, symbol: str) -> dict[str, Any]:
        return self.routing["targets"][target]["symbols"][symbol]

    def route(self, target: str, symbol: str) -> str:
        return self.pair(target, symbol)["route"]


def plan_in(root: Path, metrics: Sequence[Mapping[str, Any]] | Path, config: Mapping[str, Any] | Path | None = None,
            out: str = "out", extra: Sequence[str] = (), expect: int = 0, db: Path | None = None,
            capsys: Any = None) -> Plan:
    """Run `foxwarehouse plan` in folder `root`: rows are written as parquet, config as YAML
    (SIMPLE_CONFIG by default); asserts the exit code and that stderr has no traceback."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if not isinstance(metrics, (str, Path)):
        metrics = write_candidates(root / f"candidates_{out}.parquet", metrics)
    if not isinstance(config, (str, Path)):
        config = write_config(root / f"config_{out}.yaml", config if config is not None else SIMPLE_CONFIG)
    db = db or root / "warehouse.duckdb"
    result = run_cli(["plan", "--metrics", metrics, "--config", config, "--db", db, "--out", root / out, *extra], capsys)
    assert result.code == expect, result
    assert "Traceback" not in result.err, result
    return Plan(root / out, result)


def visible_files(out: Path) -> dict[str, bytes]:
    """Every plan file an export shows under `out`, by relative path.

    The hidden bookkeeping folders and the folders' ownership manifests (which hold modification
    times) are left out, so two exports of the same inputs compare equal."""
    out = Path(out)
    files: dict[str, bytes] = {}
    if not out.exists():
        return files
    for entry in sorted(out.iterdir()):
        if entry.name in (STATE_DIR, LEGACY_EXPORTS_DIR):
            continue
        if entry.is_dir():
            for path in sorted(entry.rglob("*")):
                if path.is_file() and path.name != FOLDER_MANIFEST:
                    files[str(path.relative_to(out))] = path.read_bytes()
        elif entry.is_file():
            files[entry.name] = entry.read_bytes()
    return files


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` including hidden ones and symlink targets, for "untouched" checks."""
    folder = Path(folder)
    state: dict[str, bytes] = {}
    if not folder.exists():
        return state
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            state[key] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            state[key] = path.read_bytes()
    return state


def warehouse_state(db: Path) -> dict[str, Any]:
    """The runs table and every run's jobs, read from the DuckDB file (read-only)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("SELECT run_id, status, input_fingerprint, plan_fingerprint FROM runs ORDER BY seq").fetchall()
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        jobs = con.execute(
            "SELECT run_id, job_id, route, priority FROM master_plan ORDER BY run_id, plan_order"
        ).fetchall() if "master_plan" in tables else []
        sources = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in sorted(tables) if t.startswith("source_")
        }
        return {"runs": runs, "jobs": jobs, "sources": sources}
    finally:
        con.close()
