"""Macro files are separate templates: errors name the right file and line; names are unique."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from foxwarehouse.config import validate_config
from foxwarehouse.errors import ModelError
from foxwarehouse.project import bundled_dir, load_project, packaged_project
from foxwarehouse.render import Renderer

from helpers import SIMPLE_CONFIG

MACRO_FILES = sorted(p.name for p in bundled_dir("macros").glob("*.sql"))


def _project_copy(root: Path) -> Path:
    for part in ("sql", "macros", "config"):
        shutil.copytree(bundled_dir(part), root / part)
    return root


def _render_all(root: Path) -> None:
    Renderer(load_project(root), validate_config(SIMPLE_CONFIG)).render_all()


def test_every_bundled_macro_file_is_found() -> None:
    assert {"values.sql", "rules.sql", "thresholds.sql", "families.sql"} <= set(MACRO_FILES)


@pytest.mark.parametrize("macro_file", MACRO_FILES)
def test_a_syntax_error_names_the_macro_file_and_line(tmp_path: Path, macro_file: str) -> None:
    root = _project_copy(tmp_path)
    path = root / "macros" / macro_file
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    line = text.count("\n") + 1
    path.write_text(text + "{% if %}\n", encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        _render_all(root)
    message = caught.value.message
    assert message.startswith(f"{path}: Jinja syntax error at line {line}:"), message


@pytest.mark.parametrize("macro_file", MACRO_FILES)
def test_a_render_error_inside_a_macro_names_the_macro_file(tmp_path: Path, macro_file: str) -> None:
    root = _project_copy(tmp_path)
    path = root / "macros" / macro_file
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
    line = text.count("\n") + 2
    # A new macro that uses an undefined name, called from a model.
    path.write_text(text + "{% macro broken_probe() %}\n{{ no_such_name }}\n{% endmacro %}\n", encoding="utf-8")
    model = root / "sql" / "master_plan.sql"
    model.write_text(model.read_text(encoding="utf-8").replace("SELECT", "SELECT {{ broken_probe() }} AS probe,", 1),
                     encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        _render_all(root)
    message = caught.value.message
    assert message.startswith(f"{path}, line {line}: undefined name"), message
    assert "no_such_name" in message


def test_a_duplicate_macro_name_is_an_error_naming_both_files(tmp_path: Path) -> None:
    root = _project_copy(tmp_path)
    extra = root / "macros" / "zz_extra.sql"
    extra.write_text("{% macro task_class(task_type) %}'x'{% endmacro %}\n", encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        _render_all(root)
    message = caught.value.message
    assert str(extra) in message and "task_class" in message and "thresholds.sql" in message, message


def test_macros_of_one_file_call_macros_of_another(tmp_path: Path) -> None:
    root = _project_copy(tmp_path)
    (root / "macros" / "aa_first.sql").write_text(
        "{% macro aa_calls_later(x) %}upper({{ zz_later(x) }}){% endmacro %}\n", encoding="utf-8")
    (root / "macros" / "zz_later.sql").write_text(
        "{% macro zz_later(x) %}trim({{ x }}){% endmacro %}\n", encoding="utf-8")
    renderer = Renderer(load_project(root), validate_config(SIMPLE_CONFIG))
    rendered = renderer.render_text("probe", "SELECT {{ aa_calls_later('a') }} AS v", root / "sql" / "probe.sql")
    assert rendered.sql == "SELECT upper(trim('a')) AS v"


def test_packaged_models_render_and_expose_every_macro() -> None:
    renderer = Renderer(packaged_project(), validate_config(SIMPLE_CONFIG))
    assert set(renderer.render_all()) >= {"routing_decisions", "training_jobs", "master_plan"}
    assert {"rule_code", "rule_outcome", "rule_reason", "rule_checks", "task_class", "min_sample_size"} <= set(renderer.macros())
