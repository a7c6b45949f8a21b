"""`compile --dialect`: Spark gets exactly what the Spark engine runs; other dialects read back or fail clearly."""
from __future__ import annotations

import pytest
import sqlglot
from helpers import run_cli

from foxwarehouse.context import Context
from foxwarehouse.errors import ModelError
from foxwarehouse.render import model_order, transpile
from foxwarehouse.spark.models import spark_relation
from foxwarehouse.spark.transpile import SESSION_FUNCTIONS, to_spark


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    models = Context.load(None, project=None).renderer.render_all()
    return {name: models[name].sql for name in model_order(models)}


def test_compile_spark_prints_exactly_what_the_engine_runs(capsys, rendered):
    result = run_cli(["compile", "--dialect", "spark"], capsys)
    assert result.code == 0, result
    renderer = Context.load(None, project=None).renderer
    engine_sql = {name: to_spark(renderer.render(name, spark_relation).sql) for name in rendered}
    functions = "".join(f"-- session function\n{statement};\n\n" for statement in SESSION_FUNCTIONS)
    assert result.out == functions + "".join(f"-- model: {name}\n{sql};\n\n" for name, sql in engine_sql.items())
    for sql in rendered.values():
        assert len(sqlglot.parse(to_spark(sql), read="spark")) == 1


@pytest.mark.parametrize("dialect", ["postgres", "bigquery"])
def test_other_dialects_read_back_or_name_the_construct(rendered, dialect):
    failed = []
    for name, sql in rendered.items():
        try:
            out = transpile(sql, dialect)
        except ModelError as exc:
            assert f"cannot transpile to {dialect}: no {dialect} equivalent" in exc.message, exc.message
            failed.append(name)
            continue
        assert [s for s in sqlglot.parse(out, read=dialect) if s is not None], name
    assert len(failed) < len(rendered)  # most models do have an equivalent


def test_compile_without_an_equivalent_is_one_exit_2_line(capsys):
    result = run_cli(["compile", "job_expansion", "--dialect", "postgres"], capsys)
    assert result.code == 2 and "Traceback" not in result.err, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "compile job_expansion: cannot transpile to postgres: no postgres equivalent" in lines[0]
    assert "list_filter" in lines[0]


def test_duckdb_only_constructs_become_spark_equivalents():
    sql = to_spark("SELECT list_position(['a', 'b'], x) AS p, isfinite(y) AS f, "
                   "list_filter(l, lambda v, i: i = 1) AS first, len(l) AS n, "
                   "count(*) FILTER (WHERE y > 0) OVER (PARTITION BY x) AS c FROM t")
    flat = "".join(sql.upper().split())
    for duckdb_only in ("LIST_POSITION", "ISFINITE", "FILTER(WHERE"):
        assert duckdb_only not in flat
    assert "NULLIF(ARRAY_POSITION(" in flat and "SIZE(L)" in flat
    assert "(I+1)=1" in flat          # DuckDB's list index is 1-based, Spark's 0-based


def test_union_all_by_name_becomes_positional_with_the_same_columns():
    sql = to_spark("WITH a AS (SELECT 1 AS x, 2 AS y), b AS (SELECT 3 AS y, 4 AS z) "
                   "SELECT * FROM a UNION ALL BY NAME SELECT * FROM b")
    assert "BY NAME" not in sql.upper()
    assert "NULL AS `z`" in sql and "NULL AS `x`" in sql
