"""Metrics paths whose names hold glob characters (*, ?, [...], {...}) are read as themselves.

DuckDB's file readers expand a path with * ? [ as a pattern: a folder named `set[ab]` would be read
as `seta/`, and `star*` together with `starA/`. A decoy folder that such a pattern matches holds
other metrics; the plan must be the one of the folder named, as from a plainly named copy.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from foxwarehouse.project import bundled_dir
from helpers import run_cli, write_candidates

# A name with glob characters, and a decoy sibling the name matches as a pattern.
NAMES = {"star*": "starA", "q?x": "qax", "set[ab]": "seta", "brace{x}": "bracex", "[x]": "x", "a[!b]c": "aac"}
DECOY = [{"target": "decoy_target", "symbol": None, "score": 0.9, "sample_size": 5000},
         {"target": "decoy_target", "symbol": "DECOY", "score": 0.9, "sample_size": 5000}]


def _plan(tmp_path: Path, metrics: Path, tag: str) -> dict:
    out = tmp_path / f"out_{tag}"
    result = run_cli(["plan", "--metrics", metrics, "--db", tmp_path / f"{tag}.duckdb", "--out", out, "--skip-tests"])
    assert result.code == 0, result
    plan = json.loads((out / "training_plan" / "master_training_plan.json").read_text(encoding="utf-8"))
    return {"jobs": plan["jobs"], "summary": plan.get("summary")}


@pytest.mark.parametrize("shape,fmt", [("routing_candidates", "parquet"), ("routing_candidates", "csv"),
                                       ("raw_metrics", "folder")])
# Three names by default (one per kind of pattern DuckDB expands); the others in the slow sweep.
@pytest.mark.parametrize("name", [n if n in ("star*", "q?x", "set[ab]") else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(NAMES)])
def test_a_path_with_glob_characters_reads_that_file_only(name: str, shape: str, fmt: str, tmp_path: Path) -> None:
    source = bundled_dir("examples") / shape
    folder, plain = tmp_path / "in" / name, tmp_path / "in" / "plain"
    for target in (folder, plain):
        shutil.copytree(source, target)
    decoy = tmp_path / "in" / NAMES[name]
    shutil.copytree(source, decoy)
    for path in decoy.iterdir():   # other metrics under the same file names
        if path.name.startswith(("routing_candidates", "feature_selection")):
            path.unlink()
            write_candidates(path.with_suffix(".parquet" if path.suffix == ".parquet" else ".csv"), DECOY)
    if fmt == "csv":
        import duckdb

        # written once from a plainly named copy (the test's own read must not be globbed either)
        shutil.copy(source / "routing_candidates.parquet", tmp_path / "convert.parquet")
        duckdb.execute("COPY (SELECT * REPLACE (array_to_string(failed_model_families, '|') AS failed_model_families) "
                       f"FROM read_parquet('{tmp_path / 'convert.parquet'}')) "
                       f"TO '{tmp_path / 'convert.csv'}' (HEADER)")
        for target in (folder, plain, decoy):
            (target / "routing_candidates.parquet").unlink()
            if target == decoy:
                write_candidates(target / "routing_candidates.csv", DECOY)
            else:
                shutil.copy(tmp_path / "convert.csv", target / "routing_candidates.csv")
    file_name = {"parquet": "routing_candidates.parquet", "csv": "routing_candidates.csv", "folder": ""}[fmt]
    want = _plan(tmp_path, plain / file_name if file_name else plain, "plain")
    got = _plan(tmp_path, folder / file_name if file_name else folder, "named")
    assert "decoy_target" not in json.dumps(got)
    assert got == want


@pytest.mark.parametrize("metrics", ["s3a://bucket/metrics/", "hdfs://nn:8020/m/routing_candidates.parquet",
                                     "spark.table:db.candidates"])
@pytest.mark.parametrize("command", ["plan", "ingest"])
def test_a_uri_on_the_duckdb_engine_says_it_needs_spark(metrics: str, command: str, tmp_path: Path) -> None:
    args = ["plan", "--metrics", metrics] if command == "plan" else ["ingest", metrics]
    result = run_cli([*args, "--db", tmp_path / "w.duckdb", "--engine", "duckdb"]
                     + (["--out", tmp_path / "out"] if command == "plan" else []))
    assert result.code == 2, result
    assert result.err.strip() == (f"error: {metrics}: only the Spark engine reads a URI or spark.table:NAME; "
                                  f"add --engine spark (or engine: spark in foxwarehouse.yml)"), result
    assert not (tmp_path / "out").exists()
