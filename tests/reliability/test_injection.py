"""SQL and template injection: hostile config values end up as data or as a config error, never as SQL.

Config strings reach SQL only as literals rendered by the sandboxed Jinja environment
(`render.sql_literal`) or as bound parameters; identifiers only through `quote_identifier`. These
tests put payloads into every config string that reaches a model, into file and folder names,
column names, run references and environment settings, and check that the warehouse keeps its
runs, that `compile` output holds the payload only inside string literals (also after sqlglot
transpiles it to other dialects), and that templates cannot reach Python internals.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from jinja2.sandbox import SandboxedEnvironment
from sqlglot import exp
from sqlglot.tokens import TokenType

from foxwarehouse.config import ROUTES, validate_config
from foxwarehouse.errors import ModelError
from foxwarehouse.project import load_project
from foxwarehouse.render import Renderer
from helpers import SIMPLE_CONFIG, run_cli, tree_bytes, write_candidates, write_config
from reliability_helpers import assert_runs_intact, check_complete_export, copy_workspace, warehouse_snapshot
from reliability_log import record


PAYLOADS = [
    "'; DROP TABLE runs; --",
    "\"; DROP TABLE runs; --",
    "'); DROP TABLE runs; --",
    "\\'; DROP TABLE runs; --",
    "$$; DROP TABLE runs; $$",
    "*/ DROP TABLE runs; /*",
    "x' || (SELECT string_agg(run_id, ',') FROM runs) || '",
    "line\n'); DROP TABLE runs; --",
    "\u02bc; DROP TABLE runs; --",
    "\u2019; DROP TABLE runs; --",
    "{{ config }}",
    "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
]
IDS = [f"p{i}" for i in range(len(PAYLOADS))]
# The default run tries one payload of each kind in each place (a quote, a comment, a line break,
# a Jinja escape); the slow sweep all of them.
QUICK_PAYLOADS = {0, 5, 7, 12}
PAYLOAD_PARAMS = [pytest.param(p, id=i, marks=() if n in QUICK_PAYLOADS else pytest.mark.slow)
                  for n, (p, i) in enumerate(zip(PAYLOADS, IDS))]

ROWS = [
    {"target": "ret_5m", "symbol": None, "score": 0.8, "sample_size": 10000},
    {"target": "ret_5m", "symbol": "AAA", "score": 0.8, "sample_size": 2000, "stability": "STABLE"},
    {"target": "ret_5m", "symbol": "BBB", "score": 0.4, "sample_size": 2000, "stability": "DRIFTING"},
]


def config_with_families(payloads: list[str]) -> dict[str, Any]:
    config = copy.deepcopy(SIMPLE_CONFIG)
    config["training_plan"]["model_families"] = ["lightgbm", *payloads]
    config["training_plan"]["model_families_by_route"] = {route: [*payloads, "xgboost"] for route in ROUTES}
    return config


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("injection") / "ws"
    ws.mkdir()
    write_candidates(ws / "metrics.parquet", ROWS)
    write_config(ws / "config.yaml", SIMPLE_CONFIG)
    result = run_cli(["plan", "--metrics", ws / "metrics.parquet", "--config", ws / "config.yaml",
                      "--db", ws / "w.duckdb", "--out", ws / "out"])
    assert result.code == 0, result
    return ws


def _plan(ws: Path, config: Path, metrics: Path | None = None, out: Path | None = None) -> Any:
    return run_cli(["plan", "--metrics", metrics or ws / "metrics.parquet", "--config", config,
                    "--db", ws / "w.duckdb", "--out", out or ws / "out"])


def test_payloads_in_family_names_are_data(template: Path, tmp_path: Path) -> None:
    """Every payload as a model family (global and per route) is a family name in the plan."""
    ws = copy_workspace(template, tmp_path / "ws")
    before = warehouse_snapshot(ws / "w.duckdb")
    config = write_config(ws / "payloads.yaml", config_with_families(PAYLOADS))
    result = _plan(ws, config)
    assert result.code == 0, result
    after = warehouse_snapshot(ws / "w.duckdb")
    new = assert_runs_intact(before, after)
    assert len(new) == 1 and after["runs"][new[0]]["row"]["status"] == "exported"
    master = check_complete_export(ws / "out")
    expected = [p.strip().lower() for p in PAYLOADS]
    assert master["metadata"]["model_families"] == ["lightgbm", *expected]
    for job in master["jobs"]:
        assert job["model_families"] == [*expected, "xgboost"], job
    for payload in PAYLOADS:
        record("injection", f"model_families: {payload!r}", "data in the plan", nothing_lost=True)


@pytest.mark.parametrize("payload", PAYLOAD_PARAMS)
def test_payload_only_inside_string_literals_of_compiled_sql(payload: str, tmp_path: Path) -> None:
    """`compile` (DuckDB and transpiled dialects): one statement per model, payload only in literals."""
    config = write_config(tmp_path / "c.yaml", config_with_families([payload]))
    result = run_cli(["compile", "--config", config])
    assert result.code == 0, result
    models = [chunk for chunk in result.out.split("-- model: ") if chunk.strip()]
    assert len(models) >= 9
    needle = payload.strip().lower()
    for chunk in models:
        name, _, sql = chunk.partition("\n")
        _assert_only_in_literals(sql, "duckdb", payload, name)
    found = sum(needle in lit or payload in lit for chunk in models
                for lit in _literals(chunk.partition("\n")[2], "duckdb"))
    assert found >= 1, "the payload should be in the SQL as a literal"
    for dialect in ("spark", "snowflake", "trino", "databricks"):
        out = run_cli(["compile", "job_expansion", "--config", config, "--dialect", dialect])
        if dialect != "spark" and out.code == 2:
            # A construct the dialect cannot express is refused in one line, never half-translated.
            assert f"no {dialect} equivalent" in out.err and out.err.count("\n") == 1, out
            continue
        assert out.code == 0, out
        _assert_only_in_literals(out.out, dialect, payload, f"job_expansion ({dialect})")
    record("injection", f"compile: {payload!r}", "only inside string literals", dialects=5, nothing_lost=True)


def _literals(sql: str, dialect: str) -> list[str]:
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    return [lit.this for s in statements for lit in s.find_all(exp.Literal) if lit.is_string]


STRING_TOKENS = {TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.RAW_STRING, TokenType.HEREDOC_STRING,
                 TokenType.BYTE_STRING, TokenType.HEX_STRING, TokenType.BIT_STRING, TokenType.UNICODE_STRING}


def _assert_only_in_literals(sql: str, dialect: str, payload: str, where: str) -> None:
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    # The Spark engine's SQL functions come first (fixed text of the engine's, no config value in them).
    helpers, statements = statements[:-1], statements[-1:]
    assert all(isinstance(h, exp.Create) and h.kind == "FUNCTION" and payload not in h.sql(dialect)
               for h in helpers), f"{where}: {len(helpers) + 1} statements"
    assert len(statements) == 1 and isinstance(statements[0], exp.Query), where
    assert not any(isinstance(node, (exp.Drop, exp.Delete, exp.Insert, exp.Update, exp.Command))
                   for node in statements[0].walk()), where
    for token in sqlglot.tokenize(sql, read=dialect):
        comments = " ".join(token.comments or [])
        assert "DROP" not in comments.upper() and "{{" not in comments, f"{where}: payload in a comment {comments!r}"
        if token.token_type in STRING_TOKENS:
            continue
        text = token.text.upper()
        assert "DROP" not in text and "RUNS" not in text and "{{" not in text and "{%" not in text, \
            f"{where}: payload outside a literal: {token.text!r}"


@pytest.mark.parametrize("payload", PAYLOAD_PARAMS)
@pytest.mark.parametrize("where", [
    "routing.stability_allowlist.symbol", "routing.experimental.allowed_stabilities", "routing.both_strong_behavior",
    "routing.dump_plan_as", "routing.cross_sectional.min_score", "routing.min_sample_size.symbol",
    "training_plan.model_families_by_route (key)", "training_plan.model_families (nested list)", "unknown key",
    "routing.cross_sectional.min_score (threshold key)",
])
def test_payloads_in_other_config_strings_are_config_errors(payload: str, where: str, template: Path,
                                                            tmp_path: Path) -> None:
    config = copy.deepcopy(SIMPLE_CONFIG)
    routing, plan = config["routing"], config["training_plan"]
    if where == "routing.stability_allowlist.symbol":
        routing["stability_allowlist"]["symbol"] = ["STABLE", payload]
        path = "routing.stability_allowlist.symbol[1]"
    elif where == "routing.experimental.allowed_stabilities":
        routing["experimental"]["allowed_stabilities"] = [payload]
        path = "routing.experimental.allowed_stabilities[0]"
    elif where == "routing.both_strong_behavior":
        routing["both_strong_behavior"] = payload
        path = where
    elif where == "routing.dump_plan_as":
        routing["dump_plan_as"] = ["JSON", payload]
        path = "routing.dump_plan_as[1]"
    elif where == "routing.cross_sectional.min_score":
        routing["cross_sectional"]["min_score"] = payload
        path = where
    elif where == "routing.min_sample_size.symbol":
        routing["min_sample_size"]["symbol"] = payload
        path = where
    elif where == "training_plan.model_families_by_route (key)":
        plan["model_families_by_route"] = {payload: ["lightgbm"]}
        path = "training_plan.model_families_by_route."
    elif where == "training_plan.model_families (nested list)":
        plan["model_families"] = ["lightgbm", [payload]]
        path = "training_plan.model_families[1]"
    elif where == "unknown key":
        routing[payload] = True
        path = "routing."
    else:
        routing["cross_sectional"]["min_score"] = {"classification": 0.5, "regression": {"default": 0.5, payload: 0.1}}
        path = "routing.cross_sectional.min_score.regression."
    ws = copy_workspace(template, tmp_path / "ws")
    before_db, before_out = warehouse_snapshot(ws / "w.duckdb"), tree_bytes(ws / "out")
    result = _plan(ws, write_config(ws / "payload.yaml", config))
    assert result.code == 2 and "Traceback" not in result.err, result
    assert path in result.err, result
    assert_runs_intact(before_db, warehouse_snapshot(ws / "w.duckdb"), allow_new=False)
    assert tree_bytes(ws / "out") == before_out
    record("injection", f"{where}: {payload!r}", "config error", nothing_lost=True)


def test_nul_in_a_config_string_is_an_error_not_a_crash(template: Path, tmp_path: Path) -> None:
    ws = copy_workspace(template, tmp_path / "ws")
    before = warehouse_snapshot(ws / "w.duckdb")
    config = config_with_families(["light\x00gbm"])
    result = _plan(ws, write_config(ws / "nul.yaml", config))
    assert result.code == 2 and "NUL" in result.err and "training_plan.model_families[1]" in result.err, result
    assert "Traceback" not in result.err
    after = warehouse_snapshot(ws / "w.duckdb")
    assert_runs_intact(before, after, allow_new=False)
    record("injection", "model_families: NUL character", "error (exit 2)", nothing_lost=True)


def test_hostile_paths_column_names_and_run_references(template: Path, tmp_path: Path) -> None:
    """File and folder names, CSV column names and run references go through parameters or quoting."""
    ws = copy_workspace(template, tmp_path / "ws")
    before = warehouse_snapshot(ws / "w.duckdb")
    evil = "x'; DROP TABLE runs; --"
    folder = ws / f"in {evil}"
    folder.mkdir()
    metrics = write_candidates(folder / f"m {evil}.parquet", ROWS)
    out = ws / f"out {evil}"
    result = _plan(ws, ws / "config.yaml", metrics=metrics, out=out)
    assert result.code == 0, result
    check_complete_export(out)
    (ws / "cols.csv").write_text(
        f'target,symbol,score,sample_size,"score""; DROP TABLE runs; --",{evil.replace(",", "")}\n'
        "ret_5m,,0.8,10000,1,2\nret_5m,AAA,0.8,2000,1,2\n", encoding="utf-8")
    assert _plan(ws, ws / "config.yaml", metrics=ws / "cols.csv").code == 0
    for ref in (f"latest{evil}", evil, "latest~1'; --"):
        diff = run_cli(["diff", ref, "latest", "--db", ws / "w.duckdb"])
        assert diff.code == 2 and "Traceback" not in diff.err, diff
    feed = run_cli(["jobs", "--db", ws / "w.duckdb", "--target", evil, "--symbol", evil])
    assert feed.code == 0 and feed.out == "", feed
    after = warehouse_snapshot(ws / "w.duckdb")
    new = assert_runs_intact(before, after)
    assert len(new) == 2
    record("injection", "metrics path, out folder, CSV column names, run refs, jobs filters", "data", nothing_lost=True)


def test_memory_limit_setting_is_validated(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = copy_workspace(template, tmp_path / "ws")
    before = warehouse_snapshot(ws / "w.duckdb")
    monkeypatch.setenv("FOXWAREHOUSE_MEMORY_LIMIT", "1GB'; DROP TABLE runs; --")
    result = _plan(ws, ws / "config.yaml")
    assert result.code == 2 and "FOXWAREHOUSE_MEMORY_LIMIT" in result.err, result
    monkeypatch.delenv("FOXWAREHOUSE_MEMORY_LIMIT")
    assert_runs_intact(before, warehouse_snapshot(ws / "w.duckdb"), allow_new=False)
    record("injection", "FOXWAREHOUSE_MEMORY_LIMIT", "error (exit 2)", nothing_lost=True)


# --- the template sandbox -----------------------------------------------------------------------

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config.__class__.__init__.__globals__ }}",
    "{{ ref.__globals__ }}",
    "{{ literal.__code__ }}",
    "{{ self._TemplateReference__context }}",
    "{% set x = [].__class__.__base__ %}{{ x }}",
    "{{ range.__self__ }}",
    "{{ cycler.__init__.__globals__.os }}",
]


def test_renderer_uses_a_sandboxed_environment() -> None:
    renderer = Renderer(load_project(None), validate_config(SIMPLE_CONFIG))
    assert isinstance(renderer.env, SandboxedEnvironment)


@pytest.mark.parametrize("template_text", ESCAPES, ids=[f"e{i}" for i in range(len(ESCAPES))])
def test_templates_cannot_reach_python_internals(template_text: str) -> None:
    renderer = Renderer(load_project(None), validate_config(SIMPLE_CONFIG))
    with pytest.raises(ModelError):
        renderer.render_text("evil", f"SELECT 1 AS x WHERE {template_text} IS NOT NULL", Path("sql/evil.sql"))
    record("injection", f"template: {template_text}", "refused (ModelError, exit 2)", nothing_lost=True)


def test_a_hostile_model_in_a_project_is_refused_by_the_cli(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    assert run_cli(["init", project]).code == 0
    (project / "sql" / "evil.sql").write_text(
        "SELECT {{ ''.__class__.__mro__[1].__subclasses__() }} AS x FROM {{ ref('master_plan') }}\n", encoding="utf-8")
    result = run_cli(["--project-dir", project, "compile", "evil"])
    assert result.code == 2 and "evil.sql" in result.err and "Traceback" not in result.err, result
    record("injection", "hostile model file in a project", "refused (exit 2)", nothing_lost=True)
