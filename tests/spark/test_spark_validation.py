"""Input validation on Spark: a URI or catalog table input is checked by Spark (its bytes never copied
to the driver) with the local ingest's rules, exit codes and messages, naming the URI or table."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from spark_helpers import assert_same_files, error_line, plan_on

from foxwarehouse.project import bundled_dir

pytestmark = pytest.mark.spark

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
# Every bad metrics file of the corpus (and the good odd ones: BOM, CRLF, blank lines, quoting...).
CORPUS = sorted(p.name for p in BAD.glob("c_*") if p.suffix in (".csv", ".parquet", ".txt"))

# Where Spark cannot give DuckDB's words: a file that is not parquet at all is reported with
# Spark's reason, not DuckDB's (the rest of the line, naming the URI, is the same).
ENGINE_REASON = {"c_not_parquet.parquet", "c_truncated.parquet", "c_zero_bytes.parquet"}


def _same_result(local: Any, uri: Any, path: Path, shown: str, name: str) -> None:
    assert local.code == uri.code, (name, local, uri)
    if local.code == 0:
        return
    expected = error_line(local).replace(str(path), shown)
    got = error_line(uri)
    if name in ENGINE_REASON:
        prefix = expected.split(": cannot be read as ")[0]
        assert got.startswith(prefix + ": cannot be read as PARQUET: "), (name, expected, got)
    else:
        assert got == expected, (name, expected, got)
    assert "Traceback" not in uri.err


def test_a_uri_is_validated_on_spark_without_copying_its_bytes(tmp_path: Path, spark_session: Any) -> None:
    before = set(Path(tempfile.gettempdir()).glob("foxwarehouse-spark-inputs-*"))
    folder = bundled_dir("examples") / "raw_metrics"
    result, out = plan_on("spark", tmp_path, folder.as_uri() + "/")
    assert result.code == 0, result
    assert set(Path(tempfile.gettempdir()).glob("foxwarehouse-spark-inputs-*")) == before
    bad, _ = plan_on("spark", tmp_path, (BAD / "c_duplicate_pair.csv").as_uri())
    assert bad.code == 2
    assert set(Path(tempfile.gettempdir()).glob("foxwarehouse-spark-inputs-*")) == before
    import duckdb

    # The run records what was read: the URI itself, not a local copy of its files.
    with duckdb.connect(str(tmp_path / "spark.duckdb"), read_only=True) as con:
        paths = [row[0] for row in con.execute("SELECT input_path FROM runs").fetchall()]
    assert paths == [folder.as_uri()], paths


def _spark_project(root: Path) -> Path:
    """A project whose engine is spark (what `ingest` reads a URI with)."""
    project = root / "spark_project"
    project.mkdir()
    (project / "foxwarehouse.yml").write_text("engine: spark\n", encoding="utf-8")
    for part in ("sql", "macros"):
        (project / part).mkdir()
    return project


def ingest_on(engine: str, root: Path, metrics: Any) -> Any:
    """`foxwarehouse ingest` (the validation alone, no plan) into the engine's own warehouse under `root`."""
    from helpers import run_cli

    args: list[Any] = ["ingest", "--db", root / f"{engine}.duckdb", metrics]
    if engine == "spark":
        args[1:1] = ["--project-dir", _spark_project(root)]
    return run_cli(args)


@pytest.mark.parametrize("name", CORPUS)
def test_every_bad_file_gives_the_local_message_naming_the_uri(name: str, tmp_path: Path, spark_session: Any) -> None:
    path = BAD / name
    local = ingest_on("duckdb", tmp_path, path)
    uri = ingest_on("spark", tmp_path, path.as_uri())
    _same_result(local, uri, path, path.as_uri(), name)
    if local.code == 0:   # the same counts of rows read, loaded and skipped, and the same rows
        assert local.err == uri.err.replace(path.as_uri(), str(path)), (local, uri)
        assert loaded_rows(tmp_path / "duckdb.duckdb") == loaded_rows(tmp_path / "spark.duckdb")


def loaded_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every source table's rows (without the run id), in load order."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_name LIKE 'source_%' ORDER BY 1").fetchall()]
        return {t: [tuple(map(repr, row)) for row in
                    con.execute(f"SELECT * EXCLUDE (run_id) FROM {t} ORDER BY source_row").fetchall()]
                for t in tables}


# Number text: DuckDB's syntax (digit separators, signed infinities, a bare point), not Java's (1.5d).
NUMBERS_CSV = ("target,symbol,score,sample_size,mean_tau,std_tau\n"
               "ret_5m,,1_0.5,1000,+.5,+0.5\nret_5m,AAA,-INF,2e3,5.e-1,nan\nret_5m,BBB,+Infinity,+7,-1,0\n"
               "ret_5m,CCC,+nan,10,-.25,1E-3\n")


def test_number_text_is_read_as_duckdb_reads_it(tmp_path: Path, spark_session: Any) -> None:
    path = tmp_path / "routing_candidates.csv"
    path.write_text(NUMBERS_CSV, encoding="utf-8")
    local, uri = ingest_on("duckdb", tmp_path, path), ingest_on("spark", tmp_path, path.as_uri())
    assert local.code == uri.code == 0, (local, uri)
    assert loaded_rows(tmp_path / "duckdb.duckdb") == loaded_rows(tmp_path / "spark.duckdb")
    path.write_text(NUMBERS_CSV.replace("+7", "7.0d").replace("1_0.5", "0x1p3"), encoding="utf-8")
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    local, uri = ingest_on("duckdb", tmp_path / "a", path), ingest_on("spark", tmp_path / "b", path.as_uri())
    assert local.code == uri.code == 2, (local, uri)
    assert error_line(uri) == error_line(local).replace(str(path), path.as_uri())


def _raw_folder(root: Path, files: dict[str, str]) -> Path:
    folder = root / "metrics"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


FEATURES = ("target,symbol,score,sample_size,task_type\nret_5m,,0.8,1000,REGRESSION\n"
            "ret_5m,AAA,0.7,500,REGRESSION\n")
RAW_CASES = {
    "duplicate_snapshot": {"feature_selection.csv": FEATURES,
                           "stability_snapshots.csv": "target,symbol,snapshot_id,overlap,tau\nret_5m,,s1,0.9,0.5\n"
                                                      "ret_5m,,s1,0.8,0.4\n"},
    "overlap_out_of_range": {"feature_selection.csv": FEATURES,
                             "stability_snapshots.csv": "target,symbol,snapshot_id,overlap,tau\nret_5m,,s1,1.5,0.5\n"},
    "two_files_one_source": {"feature_selection.csv": FEATURES, "FEATURE_SELECTION.csv": FEATURES},
    "ambiguous_shape": {"feature_selection.csv": FEATURES,
                        "routing_candidates.csv": "target,symbol,score,sample_size\nret_5m,,0.8,1000\n"},
    "no_feature_selection": {"leakage.csv": "target,symbol,leakage_status\nret_5m,,SAFE\n"},
    "bad_leakage_flag": {"feature_selection.csv": FEATURES,
                         "leakage.csv": "target,symbol,leakage_status,quarantine_confirmed\nret_5m,,SAFE,maybe\n"},
}


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_raw_folders_give_the_local_message_naming_the_uri(case: str, tmp_path: Path, spark_session: Any) -> None:
    folder = _raw_folder(tmp_path, RAW_CASES[case])
    local, _ = plan_on("duckdb", tmp_path, folder)
    uri, _ = plan_on("spark", tmp_path, folder.as_uri())
    assert local.code == 2, local
    _same_result(local, uri, folder, folder.as_uri(), case)


@pytest.mark.parametrize("shape", ["routing_candidates", "raw_metrics"])
def test_good_uris_give_the_same_plan_files_as_the_local_paths(shape: str, tmp_path: Path,
                                                              spark_session: Any) -> None:
    folder = bundled_dir("examples") / shape
    local, local_out = plan_on("duckdb", tmp_path, folder)
    uri, uri_out = plan_on("spark", tmp_path, folder.as_uri())
    assert local.code == uri.code == 0, (local, uri)
    assert_same_files(local_out, uri_out)


def test_a_catalog_table_with_bad_values_gives_the_local_message(tmp_path: Path, spark_session: Any) -> None:
    path = BAD / "c_unknown_model_status.parquet"
    local, _ = plan_on("duckdb", tmp_path, path)
    spark_session.read.parquet(str(path)).createOrReplaceTempView("fw_bad_candidates")
    try:
        table, _ = plan_on("spark", tmp_path, "spark.table:fw_bad_candidates")
    finally:
        spark_session.catalog.dropTempView("fw_bad_candidates")
    assert local.code == table.code == 2
    assert error_line(table) == error_line(local).replace(str(path), "spark.table:fw_bad_candidates")


def test_unchanged_uri_inputs_make_no_new_run_and_changed_bytes_do(tmp_path: Path, spark_session: Any) -> None:
    folder = tmp_path / "in"
    shutil.copytree(bundled_dir("examples") / "routing_candidates", folder)
    first, _ = plan_on("spark", tmp_path, folder.as_uri())
    again, _ = plan_on("spark", tmp_path, folder.as_uri())
    assert first.code == again.code == 0 and "no changes" in again.out, again
    csv_or_parquet = next(folder.iterdir())
    data = csv_or_parquet.read_bytes()
    if csv_or_parquet.suffix == ".csv":
        csv_or_parquet.write_bytes(data + b"\n")
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(csv_or_parquet)
        pq.write_table(table.slice(0, table.num_rows - 1), csv_or_parquet)
    changed, _ = plan_on("spark", tmp_path, folder.as_uri())
    assert changed.code == 0 and "no changes" not in changed.out, changed


def test_the_ingest_command_reads_a_uri_on_spark(tmp_path: Path, spark_session: Any) -> None:
    path = BAD / "c_unknown_stability.csv"
    (tmp_path / "bad").mkdir()
    result = ingest_on("spark", tmp_path / "bad", path.as_uri())
    assert result.code == 2 and error_line(result).startswith(f"error: {path.as_uri()}: column 'stability'"), result
    good = bundled_dir("examples") / "routing_candidates"
    result = ingest_on("spark", tmp_path, good.as_uri())
    assert result.code == 0 and "(candidates)" in result.out, result


@pytest.mark.parametrize("shape", ["routing_candidates", "raw_metrics"])
@pytest.mark.parametrize("name", ["star*", "brace{x}", "q?x", "set[ab]"])
def test_a_uri_with_glob_characters_reads_that_folder_only(shape: str, name: str, tmp_path: Path,
                                                           spark_session: Any) -> None:
    # Spark expands *, ?, [...] and {...} in a path it reads; a metrics folder named with them must
    # be read as itself, not together with the folders its name matches as a pattern (or not at all).
    folder = tmp_path / "in" / name
    shutil.copytree(bundled_dir("examples") / shape, folder)
    for sibling in ("starA", "bracex", "qax", "seta"):
        shutil.copytree(bundled_dir("examples") / shape, tmp_path / "in" / sibling)
    local, local_out = plan_on("duckdb", tmp_path, folder)
    uri, uri_out = plan_on("spark", tmp_path, f"file://{folder}")   # as Spark reads a path: not %-escaped
    assert local.code == uri.code == 0, (local, uri)
    assert_same_files(local_out, uri_out)
