"""The pieces of project resolution and model selection, without running a command."""
from __future__ import annotations

from pathlib import Path

import pytest

from foxwarehouse.errors import ProjectError, UsageError, did_you_mean
from foxwarehouse.project import (
    PROJECT_DIR_ENV,
    PROJECT_FILE,
    find_project_root,
    load_project,
    packaged_project,
    read_project_file,
)
from foxwarehouse.render import embeddable, select_models

GRAPH = {"a": [], "b": ["a"], "c": ["b"], "d": ["a"], "e": []}


def test_did_you_mean() -> None:
    assert did_you_mean("routing_decision", ["routing_decisions", "cs_decisions"]) == \
        "; did you mean routing_decisions?"
    assert did_you_mean("zzz", ["a", "b"], "models") == "; models: a, b"


@pytest.mark.parametrize("selectors, expected", [
    (["c"], ["c"]),
    (["a+"], ["a", "b", "c", "d"]),
    (["+c"], ["c", "a", "b"]),
    (["+b+"], ["b", "a", "c"]),
    (["e,c", "c"], ["e", "c"]),
])
def test_select_models(selectors: list[str], expected: list[str]) -> None:
    assert select_models(GRAPH, selectors) == expected


def test_select_an_unknown_model_suggests() -> None:
    with pytest.raises(UsageError, match="did you mean b"):
        select_models({"bb": [], "b": []}, ["bx+"])


@pytest.mark.parametrize("sql, expected", [
    ("SELECT 1 -- note", "SELECT 1 -- note\n"),
    ("SELECT 1;\n", "SELECT 1"),
    ("SELECT 1; -- done\n", "SELECT 1 -- done\n"),
    ("SELECT ';' AS s;;", "SELECT ';' AS s"),
    ("/* a */ SELECT 1 /* b */", "/* a */ SELECT 1 /* b */"),
])
def test_embeddable(sql: str, expected: str) -> None:
    assert embeddable(sql) == expected
    assert f"SELECT * FROM ({embeddable(sql)}) LIMIT 0".count("(") == 1


def test_discovery_walks_up_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    for part in ("sql", "macros", "deep/er"):
        (tmp_path / "p" / part).mkdir(parents=True)
    (tmp_path / "p" / PROJECT_FILE).write_text("", encoding="utf-8")
    assert find_project_root(tmp_path / "p" / "deep" / "er") == tmp_path / "p"
    monkeypatch.chdir(tmp_path / "p" / "deep" / "er")
    assert load_project().root == tmp_path / "p"
    monkeypatch.setenv(PROJECT_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ProjectError, match="nowhere"):
        load_project()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PROJECT_DIR_ENV)
    assert load_project() == packaged_project()


def test_a_project_without_its_project_file_is_refused_by_every_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder made by an older init: `test` would read its models and `plan` the packaged ones."""
    from foxwarehouse.sqltest.suite import project_for_file
    from helpers import run_cli

    monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    for part in ("sql", "macros", "tests/sql"):
        (tmp_path / "old" / part).mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "old")
    with pytest.raises(ProjectError, match="no foxwarehouse.yml"):
        load_project()
    with pytest.raises(ProjectError, match="no foxwarehouse.yml"):
        project_for_file(tmp_path / "old" / "tests" / "sql" / "m.yaml")
    for argv in (["test"], ["compile"], ["plan", "--metrics", "x.parquet"]):
        result = run_cli(argv)
        assert result.code == 2 and "no foxwarehouse.yml" in result.err and "Traceback" not in result.err, result
    (tmp_path / "old" / PROJECT_FILE).write_text("", encoding="utf-8")
    assert load_project().root == tmp_path / "old"


def test_a_checkout_of_foxwarehouse_itself_is_not_an_older_project(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's first command, `pip install . && foxwarehouse demo`, runs at the root of a clone:
    its sql/ and macros/ are the package's own sources, not a project an older init made."""
    from helpers import run_cli

    monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    for part in ("sql", "macros", "foxwarehouse"):
        (tmp_path / "clone" / part).mkdir(parents=True)
    (tmp_path / "clone" / "foxwarehouse" / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "clone")
    assert load_project().root != tmp_path / "clone"   # the packaged project
    result = run_cli(["compile", "routing_decisions"])
    assert result.code == 0 and "no foxwarehouse.yml" not in result.err, result


def test_project_file_paths_are_relative_to_it(tmp_path: Path) -> None:
    path = tmp_path / PROJECT_FILE
    path.write_text("db: state/w.duckdb\nout: ../out\nengine: DuckDB\n", encoding="utf-8")
    settings = read_project_file(path)
    assert settings.db == tmp_path / "state" / "w.duckdb"
    assert settings.out == tmp_path / ".." / "out"
    assert settings.engine == "duckdb" and settings.metrics is None and settings.config is None


def test_engine_option_names_the_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    for value, message in (("sparc", "did you mean spark"), ("duckdbb", "did you mean duckdb")):
        result = run_cli(["plan", "--engine", value, "--metrics", "m.parquet"])
        assert result.code == 2 and message in result.err and "Traceback" not in result.err, result
    assert not (tmp_path / "foxwarehouse.duckdb").exists()
