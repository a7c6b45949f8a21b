"""Seeded synthetic routing metrics, in both input shapes: one candidates file and a directory of raw
metrics (see docs/ROUTING.md, Inputs).

This module owns the generator behind the bundled example metrics (``examples/``) and the
benchmark data sets (``benchmarks/generate.py``). It writes, for one seed:

* shape 2a: ``routing_candidates/routing_candidates.(parquet|csv)`` — one cross-sectional (CS)
  row per target (symbol null, mode ``CROSS_SECTIONAL``) and one row per ``(target, symbol)``
  (mode ``SYMBOL_SPECIFIC``);
* shape 2b: ``raw_metrics/feature_selection``, ``stability_snapshots`` and ``leakage`` files that
  describe the same metrics, so that aggregating 2b yields exactly the 2a rows: 2a ``stability``
  is ``UNKNOWN`` everywhere (it is classified from the snapshots), the 2a stability metrics are
  DuckDB's ``count``/``avg``/``stddev_pop`` of the snapshot rows (null when a key has none), and
  the 2a ``leakage_status`` is the 2b status with "BLOCKED + quarantine_confirmed" read as
  ``SUSPECT`` (null when a key has no leakage row).

How rows are made. Every row is a pure function of ``(seed, target index, symbol index)``: a
32-bit integer hash evaluated in DuckDB SQL over ``range()``, so generation is vectorised,
streams straight into ``COPY ... TO`` (no per-row Python, nothing materialised) and is
deterministic for a seed. Each row is drawn from an *archetype* (a score band, a snapshot
profile, a sample-size range, a leakage label). Score bands are chosen against the packaged
default config so that a band means the same signal state on both sides, for every task class and
horizon tier (e.g. "weak" is >= every min_score and < every strong_score). Target ``i`` follows
profile ``i % 5`` (its CS archetype plus a 20-slot layout of symbol archetypes): symbol ``j < 20``
takes slot ``j`` (a hand-designed mix), later symbols a hashed slot (the same distribution). With
the default config and at least 5 targets x 20 symbols, every route, every CS state, every
stability class and the experimental cap are therefore reached for any seed.

Snapshot overlap/tau values are multiples of 1/1024, so their sums are exact in floating point
and ``avg`` does not depend on summation order.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

SHAPES = ("both", "candidates", "raw")
FORMATS = ("parquet", "csv")

# Base targets: (name, task_type, metric_name). Horizons cover every tier: 15m short, 2h medium,
# 4h long, 1d / 5d very_long, sector_beta none (default). More targets than bases get a suffix,
# e.g. ``fwd_ret_15m_t007``; the horizon regexes still match (``15m_``).
BASE_TARGETS: tuple[tuple[str, str | None, str], ...] = (
    ("fwd_ret_15m", "REGRESSION", "spearman_ic"),
    ("fwd_ret_2h", "MULTICLASS_CLASSIFICATION", "roc_auc_ovr"),
    ("will_peak_4h", "BINARY_CLASSIFICATION", "roc_auc"),
    ("vol_regime_1d", None, "r2"),
    ("sector_beta", "REGRESSION", "r2"),
    ("fwd_ret_5d", "REGRESSION", "spearman_ic"),
)

TICKERS: tuple[str, ...] = (
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "UNH",
    "XOM", "JNJ", "WMT", "PG", "MA", "HD", "CVX", "ABBV", "KO", "PEP",
    "COST", "MRK", "BAC", "AVGO", "ADBE", "CRM", "NFLX", "AMD", "INTC", "CSCO",
    "ORCL", "QCOM", "TXN", "NKE", "DIS", "MCD", "IBM", "GS", "CAT", "BA",
)

# Score bands as (low, high), per task class. Each band maps to one signal state on both sides
# for every horizon tier of the packaged default config:
#   strong  >= every strong_score                 -> STRONG (if the stability is allowed)
#   weak    >= every min_score, < every strong    -> WEAK_BUT_OK
#   exp     >= experimental.min_score, < every min -> EXPERIMENTAL (DRIFTING/UNKNOWN only)
#   low     < experimental.min_score               -> DISALLOWED
#   missing (null score)                            -> DISALLOWED
BANDS = ("strong", "weak", "exp", "low", "missing")
_CLS_BANDS = {"strong": (0.625, 0.70), "weak": (0.582, 0.598), "exp": (0.522, 0.548),
              "low": (0.48, 0.518), "missing": (0.0, 0.0)}
_REG_BANDS = {"strong": (0.062, 0.08), "weak": (0.031, 0.039), "exp": (0.0105, 0.0145),
              "low": (-0.01, 0.009), "missing": (0.0, 0.0)}

# Snapshot profiles: (n_snapshots rule, overlap centre, overlap spread, tau centre, tau spread).
# "diverged" alternates the overlap between 0.86 and 0.30, so std_overlap > 0.25 > 0.20.
STABS = ("none", "single", "stable", "drifting", "diverged", "weak")
_STAB_PARAMS = {
    "none": (0.0, 0.0, 0.0, 0.0),
    "single": (0.80, 0.06, 0.72, 0.06),   # one snapshot: below min_snapshots -> UNKNOWN
    "stable": (0.80, 0.06, 0.72, 0.06),   # overlap >= 0.74, tau >= 0.66     -> STABLE
    "drifting": (0.60, 0.05, 0.50, 0.05),  # overlap 0.55-0.65, tau 0.45-0.55 -> DRIFTING
    "diverged": (0.86, 0.03, 0.55, 0.08),  # overlap centre 0.86 / 0.30 alt.   -> DIVERGED
    "weak": (0.38, 0.06, 0.30, 0.05),     # overlap < 0.5                    -> UNKNOWN
}
_DIVERGED_LOW_OVERLAP = 0.30
_SNAPSHOT_GRID = 1024  # snapshot values are multiples of 1/1024

_SYMBOL_SAMPLE = (1500, 60000)
_SMALL_SAMPLE = (200, 900)


@dataclass(frozen=True)
class Archetype:
    """How one row is drawn: score band, snapshot profile, sample range and leakage label."""

    band: str
    stab: str
    sample: tuple[int, int] = _SYMBOL_SAMPLE
    leak: str | None = "SAFE"
    quarantine: bool | None = None
    failed: tuple[str, ...] | None = None  # None = random (6% ["xgboost"], else [])


ARCHETYPES: dict[str, Archetype] = {
    # symbol rows
    "strong_stable": Archetype("strong", "stable"),
    "strong_unknown": Archetype("strong", "none", leak=None),
    "weak_stable": Archetype("weak", "stable"),
    "weak_single": Archetype("weak", "single"),
    "strong_drift": Archetype("strong", "drifting"),          # EXPERIMENTAL via stability
    "exp_drift": Archetype("exp", "drifting"),
    "exp_unknown": Archetype("exp", "none", leak="UNKNOWN"),
    "exp_stable": Archetype("exp", "stable"),                  # STABLE not in experimental list
    "low_stable": Archetype("low", "stable"),
    "low_weakstab": Archetype("low", "weak", leak=None),
    "missing": Archetype("missing", "none", leak=None, failed=("lightgbm", "xgboost")),
    "small_n": Archetype("strong", "stable", sample=_SMALL_SAMPLE),
    "leak_blocked": Archetype("strong", "stable", leak="BLOCKED", quarantine=False),
    "leak_quarantined": Archetype("strong", "stable", leak="BLOCKED", quarantine=True),
    "leak_suspect": Archetype("weak", "stable", leak="SUSPECT"),
    "diverged": Archetype("strong", "diverged"),
    "exp_lgbm_failed": Archetype("exp", "drifting", failed=("lightgbm",)),
    # CS rows
    "cs_strong": Archetype("strong", "stable", sample=(60000, 100000)),
    "cs_weak": Archetype("weak", "drifting", sample=(20000, 60000)),
    "cs_exp": Archetype("exp", "single", sample=(20000, 60000), leak=None),
    "cs_leak": Archetype("strong", "stable", sample=(30000, 90000), leak="BLOCKED",
                         quarantine=False),
    "cs_small": Archetype("weak", "stable", sample=(1500, 4900)),
}

_SLOTS = 20


@dataclass(frozen=True)
class Profile:
    """A target's CS archetype and the 20-slot layout its symbol rows are drawn from."""

    name: str
    cs: str
    layout: tuple[str, ...]


# Target i follows PROFILES[i % 5]; with the default config (k = floor(0.2 * 20) = 4):
PROFILES: tuple[Profile, ...] = (
    # CS STRONG: ROUTE_BOTH for OK symbols, ROUTE_CROSS_SECTIONAL for the rest
    Profile("cs_strong", "cs_strong", (
        "strong_stable", "strong_unknown", "weak_stable", "weak_single", "strong_stable",
        "strong_drift", "exp_drift", "low_stable", "missing", "small_n",
        "leak_blocked", "leak_quarantined", "diverged", "weak_stable", "strong_stable",
        "exp_stable", "low_weakstab", "leak_suspect", "strong_unknown", "weak_stable")),
    # CS WEAK_BUT_OK (DRIFTING snapshots): ROUTE_BOTH / ROUTE_CROSS_SECTIONAL
    Profile("cs_weak", "cs_weak", (
        "weak_stable", "strong_stable", "strong_unknown", "exp_unknown", "exp_drift",
        "diverged", "diverged", "low_stable", "small_n", "strong_drift",
        "weak_single", "missing", "leak_suspect", "weak_stable", "low_weakstab",
        "strong_stable", "exp_stable", "leak_blocked", "weak_stable", "low_stable")),
    # CS EXPERIMENTAL: ROUTE_SYMBOL_SPECIFIC, 4 ROUTE_EXPERIMENTAL_ONLY (= k), ROUTE_BLOCKED
    Profile("cs_experimental", "cs_exp", (
        "strong_stable", "weak_stable", "strong_unknown", "weak_single", "exp_drift",
        "exp_unknown", "strong_drift", "low_stable", "missing", "small_n",
        "leak_blocked", "diverged", "exp_lgbm_failed", "low_weakstab", "leak_quarantined",
        "weak_stable", "exp_stable", "missing", "strong_stable", "low_stable")),
    # CS DISALLOWED (leakage BLOCKED): 7 EXPERIMENTAL symbols > k, so 3 hit the cap
    Profile("cs_leakage_blocked", "cs_leak", (
        "exp_drift", "exp_unknown", "exp_drift", "strong_drift", "exp_unknown",
        "exp_drift", "exp_unknown", "strong_stable", "weak_stable", "leak_suspect",
        "low_stable", "diverged", "small_n", "missing", "leak_blocked",
        "weak_single", "exp_stable", "low_weakstab", "strong_unknown", "low_stable")),
    # CS DISALLOWED (sample size < 5000): ROUTE_SYMBOL_SPECIFIC, EXPERIMENTAL_ONLY, BLOCKED
    Profile("cs_small_sample", "cs_small", (
        "strong_stable", "strong_unknown", "weak_stable", "weak_stable", "leak_quarantined",
        "leak_suspect", "weak_single", "strong_stable", "exp_drift", "exp_unknown",
        "low_stable", "missing", "missing", "small_n", "small_n",
        "diverged", "leak_blocked", "low_weakstab", "exp_stable", "strong_drift")),
)

# Salts of the independent hash draws (distinct high bits; snapshot salts add k = 0..7).
_SALT = {
    "slot": 0x1B873593, "score": 0x2545F491, "sample": 0x3C6EF372, "failed": 0x4F1BBCDC,
    "quarantine": 0x5851F42D, "nsnap": 0x6A09E667, "overlap": 0x7F4A7C00, "tau": 0x8BB67A00,
}
_MASK = 0xFFFFFFFF


def _lit(value: Any) -> str:
    """A DuckDB SQL literal for a Python value (str, int, float, bool, None, list/tuple)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    raise TypeError(f"no SQL literal for {value!r}")


def _typed_list(values: Sequence[Any], sql_type: str) -> str:
    return f"({_lit(list(values))}::{sql_type}[])"


def _seed_mix(seed: int) -> int:
    return (int(seed) * 0x9E3779B1 + 0x7F4A7C15) & _MASK


def _target_expr(n_targets: int) -> str:
    """SQL expression for the name of target ``i``."""
    width = max(3, len(str(n_targets - 1)))
    base = _typed_list([b[0] for b in BASE_TARGETS], "VARCHAR")
    nb = len(BASE_TARGETS)
    if n_targets <= nb:
        return f"{base}[i % {nb} + 1]"
    return f"{base}[i % {nb} + 1] || '_t' || lpad(i::VARCHAR, {width}, '0')"


def _symbol_expr(n_symbols: int) -> str:
    if n_symbols <= len(TICKERS):
        return f"{_typed_list(TICKERS, 'VARCHAR')}[j + 1]"
    width = max(5, len(str(n_symbols - 1)))
    return f"'SYM' || lpad(j::VARCHAR, {width}, '0')"


def _setup(con: duckdb.DuckDBPyConnection, n_targets: int, n_symbols: int, seed: int) -> None:
    """Create the macros and the ``fw_keys`` view: one row per 2a row, in output order."""
    con.execute("CREATE OR REPLACE TEMP MACRO fw_r(x) AS (xor(x >> 16, x) * 73244475) & 4294967295")
    con.execute("CREATE OR REPLACE TEMP MACRO fw_h(x) AS xor(fw_r(fw_r(x)) >> 16, fw_r(fw_r(x)))")
    con.execute("CREATE OR REPLACE TEMP MACRO fw_u(h, salt) AS fw_h(xor(h, salt)) / 4294967296.0")

    arch_names = list(ARCHETYPES)
    aid = {name: k + 1 for k, name in enumerate(arch_names)}  # 1-based list index
    archs = [ARCHETYPES[n] for n in arch_names]
    layout = [aid[name] for p in PROFILES for name in p.layout]
    cs_arch = [aid[p.cs] for p in PROFILES]
    band_idx = [BANDS.index(a.band) + 1 for a in archs]
    stab_idx = [STABS.index(a.stab) + 1 for a in archs]
    failed = [list(a.failed) if a.failed is not None else None for a in archs]

    def col(values: Sequence[Any], sql_type: str) -> str:
        return _typed_list(values, sql_type)

    target_expr = _target_expr(n_targets)
    nb = len(BASE_TARGETS)
    s1 = n_symbols + 1
    n_rows = n_targets * s1
    stab_p = [_STAB_PARAMS[s] for s in STABS]
    grid = _SNAPSHOT_GRID

    def snap_value(centre: str, spread: str, salt: int) -> str:
        u = f"fw_u(hk, {salt} + k)"
        return f"round(({centre} + ({u} - 0.5) * 2 * {spread}) * {grid}) / {grid}"

    ov_centres = col([p[0] for p in stab_p], "DOUBLE")
    ov_centre = (f"CASE WHEN st = {STABS.index('diverged') + 1} AND k % 2 = 1 "
                 f"THEN {_DIVERGED_LOW_OVERLAP} ELSE {ov_centres}[st] END")
    ov_spread = f"{col([p[1] for p in stab_p], 'DOUBLE')}[st]"
    tau_centre = f"{col([p[2] for p in stab_p], 'DOUBLE')}[st]"
    tau_spread = f"{col([p[3] for p in stab_p], 'DOUBLE')}[st]"

    con.execute(f"""
CREATE OR REPLACE TEMP VIEW fw_idx AS
SELECT r, r // {s1} AS i, r % {s1} - 1 AS j FROM range({n_rows}) t(r)""")
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW fw_hash AS
SELECT i, j, fw_h(xor(fw_h(xor(i, {_seed_mix(seed)})), j + 2)) AS hk FROM fw_idx""")
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW fw_arch AS
SELECT i, j, hk, i % {nb} + 1 AS b,
       CASE WHEN j < 0 THEN {col(cs_arch, 'INTEGER')}[i % {len(PROFILES)} + 1]
            ELSE {col(layout, 'INTEGER')}[(i % {len(PROFILES)}) * {_SLOTS}
                 + (CASE WHEN j < {_SLOTS} THEN j
                         ELSE fw_h(xor(hk, {_SALT['slot']})) % {_SLOTS} END) + 1]
       END AS a
FROM fw_hash""")
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW fw_draw AS
SELECT i, j, hk, b, a,
       {target_expr} AS target,
       CASE WHEN j < 0 THEN NULL ELSE {_symbol_expr(n_symbols)} END AS symbol,
       {col([t[1] for t in BASE_TARGETS], 'VARCHAR')}[b] AS task_type,
       coalesce({col([t[1] for t in BASE_TARGETS], 'VARCHAR')}[b] LIKE '%CLASSIFICATION%', false)
           AS cls,
       {col([t[2] for t in BASE_TARGETS], 'VARCHAR')}[b] AS metric_name,
       {col(band_idx, 'INTEGER')}[a] AS band,
       {col(stab_idx, 'INTEGER')}[a] AS st,
       ({col([x.sample[0] for x in archs], 'BIGINT')}[a]
        + floor(pow(fw_u(hk, {_SALT['sample']}), 2)
                * ({col([x.sample[1] - x.sample[0] + 1 for x in archs], 'BIGINT')}[a])))::BIGINT
           AS sample_size,
       {col([x.leak for x in archs], 'VARCHAR')}[a] AS leak,
       coalesce({col([x.quarantine for x in archs], 'BOOLEAN')}[a],
                CASE WHEN fw_u(hk, {_SALT['quarantine']}) < 0.3 THEN NULL ELSE false END)
           AS quarantine_confirmed,
       coalesce(({_lit(failed)}::VARCHAR[][])[a],
                CASE WHEN fw_u(hk, {_SALT['failed']}) < 0.06 THEN ['xgboost']
                     ELSE []::VARCHAR[] END) AS failed_model_families
FROM fw_arch""")
    cls_lo = col([_CLS_BANDS[b][0] for b in BANDS], "DOUBLE")
    cls_hi = col([_CLS_BANDS[b][1] for b in BANDS], "DOUBLE")
    reg_lo = col([_REG_BANDS[b][0] for b in BANDS], "DOUBLE")
    reg_hi = col([_REG_BANDS[b][1] for b in BANDS], "DOUBLE")
    missing = BANDS.index("missing") + 1
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW fw_scored AS
SELECT *,
       CASE WHEN band = {missing} THEN NULL ELSE round(
           CASE WHEN cls THEN {cls_lo}[band] ELSE {reg_lo}[band] END
           + fw_u(hk, {_SALT['score']})
             * (CASE WHEN cls THEN {cls_hi}[band] ELSE {reg_hi}[band] END
                - CASE WHEN cls THEN {cls_lo}[band] ELSE {reg_lo}[band] END), 4) END AS score,
       CASE WHEN cls THEN 0.5 ELSE 0.3 END / sqrt(greatest(sample_size, 1)) AS ci_half,
       CASE st WHEN {STABS.index('none') + 1} THEN 0 WHEN {STABS.index('single') + 1} THEN 1
               ELSE 3 + fw_h(xor(hk, {_SALT['nsnap']})) % 6 END AS n_snap
FROM fw_draw""")
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW fw_keys AS
SELECT target, symbol,
       CASE WHEN symbol IS NULL THEN 'CROSS_SECTIONAL' ELSE 'SYMBOL_SPECIFIC' END AS mode,
       score,
       round(score - ci_half, 4) AS score_ci_low,
       round(score + ci_half, 4) AS score_ci_high,
       sample_size,
       leak,
       quarantine_confirmed,
       'fs_' || {col([t[0] for t in BASE_TARGETS], 'VARCHAR')}[b] || '_v' || (1 + i % 3)
           AS feature_set_id,
       metric_name,
       failed_model_families,
       CASE WHEN score IS NULL THEN 'FAILED' ELSE 'OK' END AS model_status,
       task_type,
       n_snap,
       [{snap_value(ov_centre, ov_spread, _SALT['overlap'])} FOR k IN range(n_snap)]
           AS overlap_list,
       [{snap_value(tau_centre, tau_spread, _SALT['tau'])} FOR k IN range(n_snap)]
           AS tau_list
FROM fw_scored""")


def _candidates_sql(fmt: str) -> str:
    failed = ("to_json(failed_model_families)::VARCHAR" if fmt == "csv"
              else "failed_model_families")
    return f"""
SELECT target, symbol, mode, score, score_ci_low, score_ci_high,
       'UNKNOWN' AS stability,
       sample_size,
       CASE WHEN leak = 'BLOCKED' AND quarantine_confirmed THEN 'SUSPECT' ELSE leak END
           AS leakage_status,
       feature_set_id, metric_name,
       {failed} AS failed_model_families,
       model_status, task_type,
       CASE WHEN n_snap > 0 THEN list_aggregate(overlap_list, 'avg') END AS mean_overlap,
       CASE WHEN n_snap > 0 THEN list_aggregate(overlap_list, 'stddev_pop') END AS std_overlap,
       CASE WHEN n_snap > 0 THEN list_aggregate(tau_list, 'avg') END AS mean_tau,
       CASE WHEN n_snap > 0 THEN list_aggregate(tau_list, 'stddev_pop') END AS std_tau,
       CASE WHEN n_snap > 0 THEN n_snap::BIGINT END AS n_snapshots
FROM fw_keys"""


def _feature_selection_sql(fmt: str) -> str:
    failed = ("to_json(failed_model_families)::VARCHAR" if fmt == "csv"
              else "failed_model_families")
    return f"""
SELECT target, symbol, score, score_ci_low, score_ci_high, sample_size, task_type,
       metric_name, feature_set_id, {failed} AS failed_model_families, model_status
FROM fw_keys"""


_SNAPSHOTS_SQL = """
SELECT target, symbol, 'snap_' || lpad((k + 1)::VARCHAR, 2, '0') AS snapshot_id, overlap, tau
FROM (SELECT target, symbol, unnest(range(n_snap)) AS k, unnest(overlap_list) AS overlap,
             unnest(tau_list) AS tau
      FROM fw_keys WHERE n_snap > 0)"""

_LEAKAGE_SQL = """
SELECT target, symbol, leak AS leakage_status, quarantine_confirmed
FROM fw_keys WHERE leak IS NOT NULL"""


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path, fmt: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    other = path.with_suffix(".csv" if fmt == "parquet" else ".parquet")
    if other.exists():  # a stale file of the other format would make the input ambiguous
        other.unlink()
    opts = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    target = str(path).replace("'", "''")
    row = con.execute(f"COPY ({sql}) TO '{target}' ({opts})").fetchone()
    return int(row[0]) if row else 0


def generate(out_dir: str | Path, n_targets: int, n_symbols: int, seed: int = 0,
             shape: str = "both", fmt: str = "parquet") -> dict[str, Any]:
    """Write seeded synthetic metrics under ``out_dir`` and return what was written.

    ``shape``: ``"both"``, ``"candidates"`` (2a only) or ``"raw"`` (2b only). ``fmt``:
    ``"parquet"`` or ``"csv"`` (in CSV, failed_model_families is a JSON array string).
    Rows: ``n_targets * (n_symbols + 1)`` candidates (one CS row per target). Returns
    ``{"out_dir", "seed", "n_targets", "n_symbols", "shape", "format", "files": {name: path},
    "rows": {name: count}, "seconds"}``.
    """
    if isinstance(n_targets, bool) or not isinstance(n_targets, int) or n_targets < 1:
        raise ValueError(f"n_targets must be an integer >= 1, got {n_targets!r}")
    if isinstance(n_symbols, bool) or not isinstance(n_symbols, int) or n_symbols < 0:
        raise ValueError(f"n_symbols must be an integer >= 0, got {n_symbols!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")

    started = time.perf_counter()
    out = Path(out_dir)
    files: dict[str, str] = {}
    rows: dict[str, int] = {}
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = true")
        _setup(con, n_targets, n_symbols, seed)
        jobs: list[tuple[str, str, Path]] = []
        if shape in ("both", "candidates"):
            jobs.append(("routing_candidates", _candidates_sql(fmt),
                         out / "routing_candidates" / f"routing_candidates.{fmt}"))
        if shape in ("both", "raw"):
            raw = out / "raw_metrics"
            jobs.append(("feature_selection", _feature_selection_sql(fmt),
                         raw / f"feature_selection.{fmt}"))
            jobs.append(("stability_snapshots", _SNAPSHOTS_SQL, raw / f"stability_snapshots.{fmt}"))
            jobs.append(("leakage", _LEAKAGE_SQL, raw / f"leakage.{fmt}"))
        for name, sql, path in jobs:
            rows[name] = _copy(con, sql, path, fmt)
            files[name] = str(path)
    finally:
        con.close()
    return {
        "out_dir": str(out),
        "seed": seed,
        "n_targets": n_targets,
        "n_symbols": n_symbols,
        "shape": shape,
        "format": fmt,
        "files": files,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 3),
    }
