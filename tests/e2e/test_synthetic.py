"""Seeded synthetic metrics (foxwarehouse.synthetic): determinism, row counts, and agreement
between the two input shapes (routing-candidates file and raw-metrics directory)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from foxwarehouse.synthetic import BASE_TARGETS, PROFILES, generate

ROOT = Path(__file__).resolve().parents[2]
RAW = ("feature_selection", "stability_snapshots", "leakage")
CANDIDATE_COLUMNS = [
    "target", "symbol", "mode", "score", "score_ci_low", "score_ci_high", "stability",
    "sample_size", "leakage_status", "feature_set_id", "metric_name", "failed_model_families",
    "model_status", "task_type", "mean_overlap", "std_overlap", "mean_tau", "std_tau",
    "n_snapshots",
]


def _reader(path: Path) -> str:
    p = str(path).replace("'", "''")
    return f"read_parquet('{p}')" if path.suffix == ".parquet" else f"read_csv('{p}')"


def _paths(out: Path, fmt: str) -> dict[str, Path]:
    paths = {"routing_candidates": out / "routing_candidates" / f"routing_candidates.{fmt}"}
    paths.update({name: out / "raw_metrics" / f"{name}.{fmt}" for name in RAW})
    return paths


def _rows(sql: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _aggregate_sql(paths: dict[str, Path]) -> str:
    """The raw-metrics -> candidates aggregation done independently, with DuckDB aggregates (std in snapshot order,
    which makes the parallel aggregation deterministic)."""
    fs, snaps, leak = (_reader(paths[n]) for n in RAW)
    return f"""
WITH s AS (
    SELECT target, symbol, count(*) AS n_snapshots,
           avg(overlap) AS mean_overlap, stddev_pop(overlap ORDER BY snapshot_id) AS std_overlap,
           avg(tau) AS mean_tau, stddev_pop(tau ORDER BY snapshot_id) AS std_tau
    FROM {snaps} GROUP BY target, symbol),
l AS (
    SELECT target, symbol,
           CASE WHEN leakage_status = 'BLOCKED' AND quarantine_confirmed THEN 'SUSPECT'
                ELSE leakage_status END AS leakage_status
    FROM {leak})
SELECT f.target, f.symbol, f.score, f.score_ci_low, f.score_ci_high, f.sample_size,
       l.leakage_status, f.feature_set_id, f.metric_name, f.failed_model_families,
       f.model_status, f.task_type,
       s.mean_overlap, s.std_overlap, s.mean_tau, s.std_tau, s.n_snapshots
FROM {fs} f
LEFT JOIN s ON s.target = f.target AND s.symbol IS NOT DISTINCT FROM f.symbol
LEFT JOIN l ON l.target = f.target AND l.symbol IS NOT DISTINCT FROM f.symbol"""


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthetic_small")
    return out, generate(out, 5, 20, seed=0)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthetic_small_csv")
    return out, generate(out, 5, 20, seed=0, fmt="csv")


# --------------------------------------------------------------------------------------------------
# determinism and counts

@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_gives_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    a = generate(tmp_path / "a", 13, 45, seed=7, fmt=fmt)
    b = generate(tmp_path / "b", 13, 45, seed=7, fmt=fmt)
    assert a["rows"] == b["rows"]
    for name in a["files"]:
        assert Path(a["files"][name]).read_bytes() == Path(b["files"][name]).read_bytes(), name


def test_other_seed_gives_other_values_but_same_keys(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 5, 20, seed=0, shape="candidates")
    b = generate(tmp_path / "b", 5, 20, seed=1, shape="candidates")
    pa, pb = (_reader(Path(r["files"]["routing_candidates"])) for r in (a, b))
    assert _rows(f"SELECT target, symbol FROM {pa}") == _rows(f"SELECT target, symbol FROM {pb}")
    assert _rows(f"SELECT score FROM {pa}") != _rows(f"SELECT score FROM {pb}")


@pytest.mark.parametrize("n_targets,n_symbols", [(1, 0), (5, 20), (7, 41), (13, 3)])
def test_row_counts(tmp_path: Path, n_targets: int, n_symbols: int) -> None:
    result = generate(tmp_path, n_targets, n_symbols, seed=3)
    paths = _paths(tmp_path, "parquet")
    expected = n_targets * (n_symbols + 1)
    assert result["rows"]["routing_candidates"] == expected
    assert result["rows"]["feature_selection"] == expected
    for name, path in paths.items():
        assert _rows(f"SELECT count(*) FROM {_reader(path)}")[0][0] == result["rows"][name], name
    cand = _reader(paths["routing_candidates"])
    assert _rows(f"SELECT count(*) FROM {cand} WHERE symbol IS NULL")[0][0] == n_targets
    assert _rows(f"SELECT count(DISTINCT target) FROM {cand}")[0][0] == n_targets
    distinct = _rows(f"SELECT count(*) FROM (SELECT DISTINCT target, symbol FROM {cand})")
    assert distinct[0][0] == expected


def test_shape_selection(tmp_path: Path) -> None:
    only_2a = generate(tmp_path / "a", 2, 3, shape="candidates")
    only_2b = generate(tmp_path / "b", 2, 3, shape="raw", fmt="csv")
    assert set(only_2a["files"]) == {"routing_candidates"}
    assert set(only_2b["files"]) == set(RAW)
    assert not (tmp_path / "a" / "raw_metrics").exists()
    assert not (tmp_path / "b" / "routing_candidates").exists()


@pytest.mark.parametrize("kwargs", [
    {"n_targets": 0, "n_symbols": 1}, {"n_targets": 1, "n_symbols": -1},
    {"n_targets": 1, "n_symbols": 1, "shape": "wide"},
    {"n_targets": 1, "n_symbols": 1, "fmt": "json"},
])
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, **kwargs)


# --------------------------------------------------------------------------------------------------
# the two shapes describe the same metrics

@pytest.mark.parametrize("which", ["small", "small_csv"])
def test_both_shapes_have_the_same_keys(which: str, request: pytest.FixtureRequest) -> None:
    out, result = request.getfixturevalue(which)
    paths = _paths(out, result["format"])
    cand = _reader(paths["routing_candidates"])
    keys = f"SELECT target, coalesce(symbol, '') FROM {cand} ORDER BY ALL"
    for name in RAW:
        other = _reader(paths[name])
        other_keys = _rows(
            f"SELECT DISTINCT target, coalesce(symbol, '') FROM {other} ORDER BY ALL")
        if name == "feature_selection":
            assert _rows(keys) == other_keys
        else:
            assert set(other_keys) <= set(_rows(keys)), name


@pytest.mark.parametrize("which", ["small", "small_csv"])
def test_candidates_equal_the_aggregation_of_raw_metrics(
        which: str, request: pytest.FixtureRequest) -> None:
    out, result = request.getfixturevalue(which)
    paths = _paths(out, result["format"])
    cand = _reader(paths["routing_candidates"])
    cols = [c for c in CANDIDATE_COLUMNS if c not in ("mode", "stability")]
    select = ", ".join(cols)
    got = _rows(f"SELECT {select} FROM {cand} ORDER BY target, symbol NULLS FIRST")
    want = _rows(f"SELECT {select} FROM ({_aggregate_sql(paths)}) "
                 "ORDER BY target, symbol NULLS FIRST")
    assert len(got) == 105
    assert got == want  # exact, floats included


def test_aggregates_are_exact_at_scale(tmp_path: Path) -> None:
    """Thousands of keys, parallel aggregation: count/avg/std still equal bit for bit."""
    generate(tmp_path, 12, 2000, seed=5)
    paths = _paths(tmp_path, "parquet")
    cand = _reader(paths["routing_candidates"])
    diff = _rows(f"""
SELECT count(*) FROM {cand} c
JOIN ({_aggregate_sql(paths)}) a ON a.target = c.target AND a.symbol IS NOT DISTINCT FROM c.symbol
WHERE a.n_snapshots IS DISTINCT FROM c.n_snapshots
   OR a.mean_overlap IS DISTINCT FROM c.mean_overlap OR a.std_overlap IS DISTINCT FROM c.std_overlap
   OR a.mean_tau IS DISTINCT FROM c.mean_tau OR a.std_tau IS DISTINCT FROM c.std_tau
   OR a.leakage_status IS DISTINCT FROM c.leakage_status""")
    assert diff == [(0,)]


def test_candidate_columns_and_labels(small: tuple[Path, dict]) -> None:
    out, _ = small
    cand = _reader(_paths(out, "parquet")["routing_candidates"])
    con = duckdb.connect()
    rel = con.execute(f"SELECT * FROM {cand}")
    assert [d[0] for d in rel.description] == CANDIDATE_COLUMNS
    con.close()
    assert _rows(f"SELECT DISTINCT stability FROM {cand}") == [("UNKNOWN",)]
    assert _rows(f"SELECT DISTINCT mode FROM {cand} WHERE symbol IS NULL") == [("CROSS_SECTIONAL",)]
    assert _rows(f"SELECT DISTINCT mode FROM {cand} WHERE symbol IS NOT NULL") == [
        ("SYMBOL_SPECIFIC",)]
    # keys without snapshots have null stability metrics, never zeros
    assert _rows(f"SELECT count(*) FROM {cand} WHERE n_snapshots = 0")[0][0] == 0
    assert _rows(f"SELECT count(*) FROM {cand} WHERE n_snapshots IS NULL")[0][0] > 0


def test_small_example_has_the_designed_mix(small: tuple[Path, dict]) -> None:
    out, _ = small
    paths = _paths(out, "parquet")
    cand = _reader(paths["routing_candidates"])
    targets = [r[0] for r in _rows(f"SELECT DISTINCT target FROM {cand} ORDER BY target")]
    assert targets == sorted(b[0] for b in BASE_TARGETS[:5])
    assert {r[0] for r in _rows(f"SELECT DISTINCT task_type FROM {cand}")} == {
        "REGRESSION", "BINARY_CLASSIFICATION", "MULTICLASS_CLASSIFICATION", None}
    # every horizon tier, through the horizon regexes of the thresholds
    tiers = set()
    for t in targets:
        minutes = None
        for rx, mult in ((r"(\d+)m(?:_|$)", 1), (r"(\d+)d(?:_|$)", 1440), (r"(\d+)h(?:_|$)", 60)):
            m = re.search(rx, t)
            if m:
                minutes = int(m.group(1)) * mult
                break
        tiers.add("default" if minutes is None else "short" if minutes < 60 else
                  "medium" if minutes < 240 else "long" if minutes < 1440 else "very_long")
    assert tiers == {"default", "short", "medium", "long", "very_long"}
    leak = _reader(paths["leakage"])
    assert {r[0] for r in _rows(f"SELECT DISTINCT leakage_status FROM {leak}")} == {
        "SAFE", "SUSPECT", "BLOCKED", "UNKNOWN"}
    assert _rows(f"SELECT count(*) FROM {leak} WHERE leakage_status = 'BLOCKED' "
                 "AND quarantine_confirmed")[0][0] > 0
    assert _rows(f"SELECT count(*) FROM {cand} WHERE score IS NULL")[0][0] > 0
    assert _rows(f"SELECT count(*) FROM {cand} WHERE sample_size < 1000")[0][0] > 0
    assert _rows(f"SELECT count(*) FROM {cand} WHERE list_contains(failed_model_families, "
                 "'xgboost')")[0][0] > 0
    # snapshot profiles: STABLE-like, DRIFTING-like and DIVERGED-like aggregates all present
    assert _rows(f"SELECT count(*) FROM {cand} WHERE std_overlap > 0.2 "
                 "AND n_snapshots >= 2")[0][0] > 0
    assert _rows(f"SELECT count(*) FROM {cand} WHERE n_snapshots >= 2 AND std_overlap <= 0.2 "
                 "AND mean_overlap >= 0.7 AND mean_tau >= 0.6")[0][0] > 0
    assert _rows(f"SELECT count(*) FROM {cand} WHERE n_snapshots >= 2 AND std_overlap <= 0.2 "
                 "AND mean_overlap BETWEEN 0.5 AND 0.7 AND mean_tau >= 0.4")[0][0] > 0
    assert len(PROFILES) == 5


def test_large_names_keep_their_horizon(tmp_path: Path) -> None:
    generate(tmp_path, 14, 45, seed=0, shape="candidates")
    cand = _reader(tmp_path / "routing_candidates" / "routing_candidates.parquet")
    targets = [r[0] for r in _rows(f"SELECT DISTINCT target FROM {cand} ORDER BY 1")]
    assert "fwd_ret_15m_t006" in targets and "sector_beta_t004" in targets
    assert re.search(r"(\d+)m(?:_|$)", "fwd_ret_15m_t006").group(1) == "15"
    assert not re.search(r"(\d+)[mdh](?:_|$)", "sector_beta_t010")
    symbols = [r[0] for r in _rows(f"SELECT DISTINCT symbol FROM {cand} WHERE symbol IS NOT NULL "
                                   "ORDER BY 1")]
    assert symbols[0] == "SYM00000" and len(symbols) == 45


# --------------------------------------------------------------------------------------------------
# CSV

def test_csv_output_is_readable(small_csv: tuple[Path, dict], small: tuple[Path, dict]) -> None:
    out, _ = small_csv
    paths = _paths(out, "csv")
    cand = _reader(paths["routing_candidates"])
    families = [r[0] for r in _rows(f"SELECT failed_model_families FROM {cand}")]
    parsed = [json.loads(f) for f in families]
    assert all(isinstance(p, list) for p in parsed)
    assert ["xgboost"] in parsed
    # the CSV holds the same values as the parquet file
    pq = _reader(_paths(small[0], "parquet")["routing_candidates"])
    cols = ", ".join(c for c in CANDIDATE_COLUMNS if c != "failed_model_families")
    assert _rows(f"SELECT {cols} FROM {cand}") == _rows(f"SELECT {cols} FROM {pq}")
    assert parsed == [list(r[0]) for r in _rows(f"SELECT failed_model_families FROM {pq}")]
    header = paths["feature_selection"].read_text().splitlines()[0].split(",")
    assert header[:3] == ["target", "symbol", "score"]


def test_switching_format_removes_the_stale_file(tmp_path: Path) -> None:
    generate(tmp_path, 2, 2, fmt="csv")
    generate(tmp_path, 2, 2, fmt="parquet")
    assert not list(tmp_path.rglob("*.csv"))


# --------------------------------------------------------------------------------------------------
# scripts

def test_bundled_examples_are_up_to_date(tmp_path: Path) -> None:
    examples = ROOT / "examples"
    if not (examples / "routing_candidates" / "routing_candidates.parquet").exists():
        pytest.skip("bundled examples not generated")
    subprocess.run([sys.executable, str(examples / "generate_examples.py"), "--out",
                    str(tmp_path)], check=True, capture_output=True)
    for name, path in _paths(tmp_path, "parquet").items():
        bundled = examples / path.relative_to(tmp_path)
        fresh = _rows(f"SELECT * FROM {_reader(path)}")
        assert fresh == _rows(f"SELECT * FROM {_reader(bundled)}"), name


def test_benchmark_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--targets", "3", "--symbols",
         "25", "--seed", "1", "--shape", "candidates", "--format", "csv", "--out", str(tmp_path)],
        check=True, capture_output=True, text=True)
    assert "78 rows" in proc.stdout
    assert (tmp_path / "routing_candidates" / "routing_candidates.csv").exists()
