"""The Spark engine: the same plan files as DuckDB on the bundled examples, the same errors on bad
inputs, and a clear line where pyspark is missing or the settings are wrong."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from spark_helpers import ENGINES, assert_same_files, error_line, plan_on

from foxwarehouse.project import bundled_dir

pytestmark = pytest.mark.spark

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"


@pytest.mark.parametrize("shape", ["routing_candidates", "raw_metrics"])
def test_bundled_examples_give_the_same_files_on_both_engines(shape: str, tmp_path: Path, spark_session: Any) -> None:
    metrics = bundled_dir("examples") / shape
    outs = {}
    for engine in ENGINES:
        result, outs[engine] = plan_on(engine, tmp_path, metrics)
        assert result.code == 0, result
    assert_same_files(outs["duckdb"], outs["spark"])


def test_jobs_parquet_is_the_same_on_both_engines(tmp_path: Path, spark_session: Any) -> None:
    from helpers import write_config

    from foxwarehouse.config import load_config

    config = load_config(None)
    config["training_plan"]["jobs_parquet"] = True
    path = write_config(tmp_path / "config.yaml", config)
    outs = {}
    for engine in ENGINES:
        result, outs[engine] = plan_on(engine, tmp_path, bundled_dir("examples") / "routing_candidates", path)
        assert result.code == 0, result
    assert any(name.startswith("training_plan/jobs_parquet/target=") for name in
               [p.relative_to(outs["spark"]).as_posix() for p in outs["spark"].rglob("*.parquet")])
    assert_same_files(outs["duckdb"], outs["spark"])   # the parquet files too, byte for byte


# One file of each kind of refusal: unreadable, wrong shape, bad values, duplicates, empty.
BAD_INPUTS = ["c_not_parquet.parquet", "c_missing_target.csv", "c_duplicate_pair.csv", "c_header_only.csv",
              "c_mean_tau_out_of_range.csv", "c_null_target.parquet", "c_not_utf8.csv", "does_not_exist.parquet"]


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_inputs_give_the_same_exit_code_and_message_on_both_engines(name: str, tmp_path: Path,
                                                                         spark_session: Any) -> None:
    results = {engine: plan_on(engine, tmp_path, BAD / name)[0] for engine in ENGINES}
    assert results["duckdb"].code == results["spark"].code == 2, results
    assert error_line(results["duckdb"]) == error_line(results["spark"])
    assert "Traceback" not in results["spark"].err


def test_engine_spark_without_pyspark_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    # A pyspark that cannot be imported stands in for a machine without the extra.
    shim = tmp_path / "shim" / "pyspark"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named pyspark')\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim.parent), *sys.path])}
    db = tmp_path / "w.duckdb"
    result = subprocess.run(
        [sys.executable, "-m", "foxwarehouse", "plan", "--engine", "spark", "--skip-tests", "--db", str(db),
         "--out", str(tmp_path / "out"), "--metrics", str(bundled_dir("examples") / "routing_candidates")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'foxwarehouse[spark]'" in lines[0], result.stderr
    assert not db.exists()  # refused before a run was made


def test_project_file_chooses_the_spark_engine_and_its_settings(tmp_path: Path) -> None:
    from foxwarehouse.project import read_project_file

    path = tmp_path / "foxwarehouse.yml"
    path.write_text("engine: spark\nspark:\n  master: local[2]\n  conf:\n    spark.sql.shuffle.partitions: 2\n"
                    "    spark.sql.adaptive.enabled: true\n", encoding="utf-8")
    settings = read_project_file(path)
    assert settings.engine == "spark"
    assert settings.spark.master == "local[2]" and settings.spark.remote is None
    assert dict(settings.spark.conf) == {"spark.sql.shuffle.partitions": "2", "spark.sql.adaptive.enabled": "true"}
    # The environment names this machine's cluster and wins over the project file.
    env = {"SPARK_REMOTE": "sc://spark.example:15002", "FOXWAREHOUSE_SPARK_CONF_spark_executor_memory": "4g"}
    on_machine = settings.spark.with_environment(env)
    assert on_machine.remote == "sc://spark.example:15002"
    assert on_machine.conf["spark.executor.memory"] == "4g"


@pytest.mark.parametrize("text, message", [
    ("spark: local\n", "spark must be a mapping"),
    ("spark:\n  mastr: local\n", "unknown key spark.mastr"),
    ("spark:\n  master: local\n  remote: sc://x\n", "not both"),
    ("spark:\n  conf: [a]\n", "spark.conf must be a mapping"),
])
def test_bad_spark_settings_are_one_line(text: str, message: str, tmp_path: Path) -> None:
    from helpers import run_cli

    (tmp_path / "foxwarehouse.yml").write_text(text, encoding="utf-8")
    for part in ("sql", "macros"):
        (tmp_path / part).mkdir()
    result = run_cli(["runs", "--project-dir", tmp_path, "--db", tmp_path / "w.duckdb"])
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1, result


def test_a_file_uri_is_read_by_spark_and_ingested_like_the_local_file(tmp_path: Path, spark_session: Any) -> None:
    from spark_helpers import exported_files

    folder = bundled_dir("examples") / "raw_metrics"
    local, _ = plan_on("duckdb", tmp_path, folder)
    assert local.code == 0, local
    uri, out = plan_on("spark", tmp_path, folder.as_uri() + "/")  # a folder URI: the raw-metrics shape
    assert uri.code == 0, uri
    assert exported_files(tmp_path / "out_duckdb") == exported_files(out)


# Validated on Spark (the whole corpus is in test_spark_validation.py): a missing column, text that is
# not UTF-8, a path that is not there, a duplicate key, a quote left open, a repeated parquet column.
@pytest.mark.parametrize("name", ["c_missing_target.csv", "c_not_utf8.csv", "does_not_exist.parquet",
                                  "c_duplicate_pair.csv", "c_unterminated_quote.csv",
                                  "c_duplicate_score_column.parquet"])
def test_a_bad_file_uri_gives_the_local_files_message_naming_the_uri(name: str, tmp_path: Path,
                                                                    spark_session: Any) -> None:
    local, _ = plan_on("duckdb", tmp_path, BAD / name)
    uri, _ = plan_on("spark", tmp_path, (BAD / name).as_uri())
    assert local.code == uri.code == 2, (local, uri)
    assert error_line(uri) == error_line(local).replace(str(BAD / name), (BAD / name).as_uri()), (local, uri)


def test_a_catalog_table_is_read_as_routing_candidates(tmp_path: Path, spark_session: Any) -> None:
    metrics = bundled_dir("examples") / "routing_candidates" / "routing_candidates.parquet"
    spark_session.read.parquet(str(metrics)).createOrReplaceTempView("fw_test_candidates")
    try:
        table, out = plan_on("spark", tmp_path, "spark.table:fw_test_candidates")
    finally:
        spark_session.catalog.dropTempView("fw_test_candidates")
    assert table.code == 0, table
    assert (out / "training_plan" / "master_training_plan.json").is_file()
    missing, _ = plan_on("spark", tmp_path, "spark.table:no_such_table")
    assert missing.code == 2 and "spark.table:no_such_table: Spark cannot read the table" in error_line(missing)


def test_a_model_that_fails_on_spark_is_one_line_naming_the_model(tmp_path: Path, spark_session: Any) -> None:
    from helpers import run_cli

    project = tmp_path / "project"
    assert run_cli(["init", project]).code == 0
    # jaro_winkler_similarity is DuckDB's own; Spark has no such function.
    (project / "sql" / "extra_scores.sql").write_text(
        "SELECT target, jaro_winkler_similarity(target, 'x') AS similarity FROM {{ ref('routing_candidates') }}\n",
        encoding="utf-8")
    result, out = plan_on("spark", tmp_path, bundled_dir("examples") / "routing_candidates",
                          extra=("--project-dir", str(project)))
    assert result.code == 2, result
    line = error_line(result)
    assert "extra_scores.sql: on Spark:" in line and "Traceback" not in result.err, result
    assert not (out / "training_plan").exists()
