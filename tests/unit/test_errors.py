"""Errors carry data: the fields a caller can act on, the right class at every raise, DuckDB's context kept."""
from __future__ import annotations

import ast
import inspect
import shutil
from pathlib import Path

import duckdb
import pytest

import foxwarehouse
from foxwarehouse import errors
from foxwarehouse.config import validate_config, validate_config_with_notices
from foxwarehouse.errors import ConfigError, FoxError, InputError, ModelError, duckdb_detail
from foxwarehouse.project import bundled_dir, load_project
from foxwarehouse.render import Renderer

from helpers import SIMPLE_CONFIG, config_with

PACKAGE = Path(foxwarehouse.__file__).parent


# --- the base class --------------------------------------------------------------------------------

def test_str_and_message_stay_the_one_line_message_and_fields_hold_only_what_is_set() -> None:
    exc = FoxError("something broke", path=Path("a/b.sql"), line=3)
    assert str(exc) == exc.message == "something broke"
    assert exc.fields == {"path": "a/b.sql", "line": 3}
    assert exc.path == "a/b.sql" and exc.line == 3 and exc.model is None and exc.key is None
    assert FoxError("bare").fields == {}


# --- fields at real raise sites ----------------------------------------------------------------------

def test_a_config_error_names_its_dotted_key() -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(config_with(**{"routing.block_on_leakage": "yes"}))
    assert info.value.key == "routing.block_on_leakage"
    assert info.value.message.startswith("routing.block_on_leakage:")


def test_a_config_file_error_carries_the_file_and_the_key(tmp_path: Path) -> None:
    from foxwarehouse.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("routing:\n  dev_mode: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.fields == {"path": str(path), "key": "routing.dev_mode"}


def test_config_notices_are_data_and_the_plain_call_still_warns() -> None:
    raw = config_with(**{"routing.log_decision_reasons": True})
    validated, notices = validate_config_with_notices(raw)
    assert notices == ["config key routing.log_decision_reasons is not used by foxwarehouse (a FoxML key; ignored)"]
    with pytest.warns(UserWarning, match="routing.log_decision_reasons"):
        assert validate_config(raw) == validated


def test_an_input_error_carries_the_metrics_path(tmp_path: Path) -> None:
    from foxwarehouse.pipeline import run_ingest

    missing = tmp_path / "nope"
    with pytest.raises(InputError) as info:
        run_ingest(missing, db=tmp_path / "w.duckdb")
    assert info.value.path == str(missing)


def test_a_model_render_error_carries_model_path_and_line(tmp_path: Path) -> None:
    for part in ("sql", "macros", "config"):
        shutil.copytree(bundled_dir(part), tmp_path / part)
    model = sorted((tmp_path / "sql").glob("*.sql"))[0]
    text = model.read_text(encoding="utf-8").rstrip("\n") + "\n"
    model.write_text(text + "{% if %}\n", encoding="utf-8")
    with pytest.raises(ModelError) as info:
        Renderer(load_project(tmp_path), validate_config(SIMPLE_CONFIG)).render_all()
    assert info.value.model == model.stem
    assert info.value.path == str(model)
    assert info.value.line == text.count("\n") + 1


# --- DuckDB's detail -----------------------------------------------------------------------------------

def _duckdb_error(sql: str) -> duckdb.Error:
    with pytest.raises(duckdb.Error) as info:
        duckdb.connect().execute(sql)
    return info.value


def test_a_duckdb_failure_keeps_its_line_context_on_one_line() -> None:
    text = duckdb_detail(_duckdb_error("SELECT 1,\n  2 FROM FROM t"))
    assert "\n" not in text
    assert text.startswith("Parser Error: syntax error")
    assert "| LINE 2:" in text and "2 FROM FROM t" in text and "| ^ at character" in text


def test_duckdb_detail_can_drop_the_kind_and_shortens_long_texts() -> None:
    assert duckdb_detail(_duckdb_error("SELECT FROM FROM x"), kind=False).startswith("syntax error")
    long = duckdb_detail(RuntimeError("x" * 1000))
    assert len(long) <= errors.DETAIL_LIMIT and long.endswith("...")
    assert duckdb_detail(RuntimeError("")) == "RuntimeError"


def test_a_failing_query_reports_the_duckdb_line_context(tmp_path: Path) -> None:
    from foxwarehouse.analyst.session import check_read_only

    with pytest.raises(FoxError) as info:
        check_read_only(duckdb.connect(), "SELECT FROM FROM x")
    assert info.value.message.startswith("query failed: Parser Error")
    assert "| LINE 1: SELECT FROM FROM x" in info.value.message


# --- the package as a whole ----------------------------------------------------------------------------

def _raises_of_the_base_class(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
            and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "FoxError"]


def test_no_module_raises_the_bare_base_class() -> None:
    found = {str(p.relative_to(PACKAGE)): lines for p in sorted(PACKAGE.rglob("*.py"))
             if (lines := _raises_of_the_base_class(p))}
    assert found == {}, f"raise a FoxError subclass instead: {found}"


def test_every_error_class_exits_with_2() -> None:
    # Every class exited with 2 before the stage classes were added; none may change a script's view.
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, FoxError)]
    assert {"UsageError", "ProjectError", "ExportError", "QueryError", "OutputError"} <= {c.__name__ for c in classes}
    # The one exception is new with the test gate: failing SQL tests exit 1, like `foxwarehouse test`.
    assert errors.TestGateError.exit_code == 1
    classes = [c for c in classes if c is not errors.TestGateError]
    assert {c.__name__: c.exit_code for c in classes} == {c.__name__: 2 for c in classes}
