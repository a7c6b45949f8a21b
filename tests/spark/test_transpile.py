"""Every model of the bundled examples gives the same rows on Spark (to_spark's SQL) as on DuckDB.

Both input shapes are ingested into a warehouse; the run's source rows go to DuckDB (in memory) and
to Spark (as parquet written by DuckDB, so both read the same values and types); every model runs
on both, in dependency order, each reading its own engine's results; the rows are compared value
for value (floats exactly), in order where the model orders them.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from helpers import run_cli

from foxwarehouse.context import Context
from foxwarehouse.pipeline import run_ingest
from foxwarehouse.project import bundled_dir
from foxwarehouse.render import model_order, quote_identifier
from foxwarehouse.spark.transpile import DOUBLE_TEXT_FUNCTION, SESSION_FUNCTIONS, to_spark
from foxwarehouse.warehouse import SOURCES

pytestmark = pytest.mark.spark

SHAPES = ("routing_candidates", "raw_metrics")
ORDERED = {"master_plan"}  # models whose SQL fixes the row order


def _relation(kind: str, name: str) -> str:
    return quote_identifier(("src_" if kind == "source" else "") + name)


def _plain(value: Any) -> Any:
    """A Spark or DuckDB value as plain Python (structs as dicts, maps as dicts, -0.0 kept apart)."""
    if hasattr(value, "asDict"):
        return {k: _plain(v) for k, v in value.asDict(recursive=False).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return ("float", repr(value)) if not math.isnan(value) else ("float", "nan")
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, bool)):  # Decimal
        return ("float", repr(float(value))) if value != int(value) else int(value)
    return value


@pytest.fixture(scope="module")
def models() -> dict[str, str]:
    rendered = Context.load(None, project=None).renderer.render_all(_relation)
    return {name: rendered[name].sql for name in model_order(rendered)}


@pytest.fixture(scope="module", params=SHAPES)
def engines(request: Any, tmp_path_factory: Any, spark_session: Any,
            models: dict[str, str]) -> Iterator[tuple[duckdb.DuckDBPyConnection, Any]]:
    """DuckDB (in memory) and Spark, each holding the sources of one input shape and every model."""
    root = tmp_path_factory.mktemp(request.param)
    db = root / "warehouse.duckdb"
    run_ingest(bundled_dir("examples") / request.param, db=db)
    con = duckdb.connect()
    con.execute(f"ATTACH {str(db)!r} AS w (READ_ONLY)")
    for name, table in SOURCES.items():
        relation = _relation("source", name)
        con.execute(f"CREATE TABLE {relation} AS SELECT * EXCLUDE (run_id, source_row) FROM w.main.{table}")
        path = root / f"{name}.parquet"
        con.execute(f"COPY {relation} TO {str(path)!r} (FORMAT parquet)")
        spark_session.read.parquet(str(path)).createOrReplaceTempView(f"src_{name}")
    for name, sql in models.items():
        con.execute(f"CREATE TABLE {quote_identifier(name)} AS {sql}")
        # stored and read back, as the engine stores each model: a model's plan then starts at
        # the rows of the models it reads, not at the sources
        path = root / f"{name}.spark.parquet"
        spark_session.sql(to_spark(sql)).write.parquet(str(path))
        spark_session.read.parquet(str(path)).createOrReplaceTempView(name)
    yield con, spark_session
    con.close()


@pytest.mark.parametrize("model", ["routing_candidates", "candidate_signal_states", "cs_decisions",
                                   "routing_decisions", "job_expansion", "training_jobs", "master_plan",
                                   "plan_summary", "decision_trace"])
def test_model_rows_equal_on_both_engines(engines: tuple[duckdb.DuckDBPyConnection, Any], model: str) -> None:
    con, spark = engines
    cursor = con.execute(f"SELECT * FROM {quote_identifier(model)}")
    columns = [d[0] for d in cursor.description]
    expected = [_plain(list(row)) for row in cursor.fetchall()]
    frame = spark.table(model)
    assert frame.columns == columns
    got = [_plain(list(row)) for row in frame.collect()]
    if model not in ORDERED:
        expected.sort(key=repr)
        got.sort(key=repr)
    assert len(got) == len(expected)
    for want, have in zip(expected, got):
        assert have == want, {c: (w, h) for c, w, h in zip(columns, want, have) if w != h}


def test_every_model_spark_sql_parses_back(models: dict[str, str]) -> None:
    for name, sql in models.items():
        spark_sql = to_spark(sql)
        assert len(sqlglot.parse(spark_sql, read="spark")) == 1, name


@pytest.mark.parametrize("value", [0.0683, 1e-05, 0.0001, 0.00012345, 1e15, 1e16, 1.5e16, 123456789.123, 1e7,
                                   100.0, 0.1 + 0.2, -0.0, 2.5e-7, 1e23, 2.0 ** -44, 5e-324, 1 / 3, -4.35, 0.0,
                                   float("inf"), float("-inf"), float("nan"), None])
def test_double_text_as_duckdb_prints_it(spark_session: Any, value: float | None) -> None:
    want = duckdb.execute("SELECT CAST(CAST($1 AS DOUBLE) AS VARCHAR), 'x ' || CAST($1 AS DOUBLE)", [value]).fetchone()
    literal = "CAST(NULL AS DOUBLE)" if value is None else f"CAST('{value!r}' AS DOUBLE)"
    spark_sql = to_spark(f"SELECT CAST({literal} AS VARCHAR) AS t, 'x ' || {literal} AS u")
    got = spark_session.sql(spark_sql).collect()[0]
    assert (got.t, got.u) == want


# Models that cast numbers to text inside unnest (Spark's explode); none is stored by a build.
GENERATOR_TEXT = {"decision_trace"}


def test_the_double_formatter_is_one_session_function_the_models_call(models: dict[str, str]) -> None:
    # The formatter is a few KB of SQL and the routing rules cast numbers to text hundreds of times:
    # inlined, it made the largest models' SQL hundreds of KB, most of Spark's analysis time.
    assert "format_string" in "".join(SESSION_FUNCTIONS)
    calls = 0
    for name, sql in models.items():
        spark_sql = to_spark(sql)
        calls += spark_sql.lower().count(f"{DOUBLE_TEXT_FUNCTION}(")
        if name in GENERATOR_TEXT:
            continue   # Spark takes no session function inside explode(): written out there
        assert "format_string" not in spark_sql, name
        assert len(spark_sql) < 100_000, (name, len(spark_sql))
    assert calls > 0


def test_compile_spark_output_runs_as_printed(spark_session: Any, tmp_path: Path) -> None:
    """`compile --dialect spark` prints the session function first: run statement by statement on a
    session without it, the output defines it and the models' calls work."""
    result = run_cli(["compile", "--dialect", "spark"])
    assert result.code == 0, result
    statements = [s for s in result.out.split(";\n\n") if s.strip()]
    functions = statements[:len(SESSION_FUNCTIONS)]
    assert all(s.startswith("-- session function\nCREATE OR REPLACE TEMPORARY FUNCTION") for s in functions)
    assert statements[len(SESSION_FUNCTIONS)].startswith("-- model: ")
    names = [s.split("FUNCTION ", 1)[1].split("(", 1)[0] for s in functions]
    assert DOUBLE_TEXT_FUNCTION in names
    for name in names:
        spark_session.sql(f"DROP TEMPORARY FUNCTION IF EXISTS {name}")
    try:
        for statement in functions:
            spark_session.sql(statement.split("\n", 1)[1])
        got = spark_session.sql(to_spark("SELECT CAST(CAST('1e-05' AS DOUBLE) AS VARCHAR) AS t")).collect()[0].t
        assert got == "1e-05"
    finally:
        for statement in SESSION_FUNCTIONS:   # as the engine leaves the session
            spark_session.sql(statement)
