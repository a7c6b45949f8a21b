"""`create-test`: a SQL unit-test case from a run's rows, round-tripped through `foxwarehouse test`."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from foxwarehouse.warehouse import SOURCE_TABLES
from helpers import EXAMPLES, SIMPLE_CONFIG, run_cli, write_config

EXAMPLE = EXAMPLES / "routing_candidates" / "routing_candidates.parquet"


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A project with two runs of the bundled example: the packaged config, then SIMPLE_CONFIG."""
    base = tmp_path_factory.mktemp("create_test")
    root = base / "proj"
    assert run_cli(["init", root]).code == 0
    db = base / "wh.duckdb"
    simple = write_config(base / "simple.yaml", SIMPLE_CONFIG)
    for extra in ([], ["--config", simple]):
        result = run_cli(["--project-dir", root, "plan", "--metrics", EXAMPLE, "--db", db, "--out", base / "out",
                          "--skip-tests", *extra])
        assert result.code == 0, result
    return {"template": root, "db": db, "base": base}


@pytest.fixture
def project(planned: dict[str, Path], tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(planned["template"], root)
    return root


def create(project: Path, db: Path, *args: Any):
    return run_cli(["--project-dir", project, "create-test", *args, "--db", db])


def cases_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]


def passes(project: Path, path: Path, name: str) -> None:
    result = run_cli(["--project-dir", project, "test", path, "-k", f"::{name}"])
    assert result.code == 0, result
    assert "1 passed, 0 failed" in result.out, result


@pytest.mark.parametrize("model, where, limit", [
    ("routing_decisions", "target = 'fwd_ret_2h' AND symbol IS NOT NULL", 3),
    ("candidate_signal_states", "side = 'symbol' AND target = 'sector_beta'", 4),
    ("training_jobs", "priority > 0", 5),
    ("cs_decisions", None, 2),
])
def test_a_created_case_passes_and_keeps_the_other_cases(model: str, where: str | None, limit: int, project: Path,
                                                          planned: dict[str, Path]) -> None:
    path = project / "tests" / "sql" / f"{model}.yaml"
    before = path.read_text(encoding="utf-8")
    old_cases = cases_of(path)
    args = [model, "--run", "latest~1", "--limit", limit, "--name", "created"]
    if where:
        args += ["--where", where]
    result = create(project, planned["db"], *args)
    assert result.code == 0, result
    assert "created" in result.out and str(path) in result.out
    text = path.read_text(encoding="utf-8")
    assert text.startswith(before.rstrip("\n"))                   # appended: the file as it was, then the case
    cases = cases_of(path)
    assert list(cases) == [*old_cases, "created"]
    assert all(cases[name] == old_cases[name] for name in old_cases)
    case = cases["created"]
    # the run used the project's config: the case only undoes what the file-level config changes
    file_level = yaml.safe_load(before).get("config") or {}
    assert set(case.get("config", {})) <= {k for k in _leaves(file_level)}
    expect = case["expect"]
    assert 0 < len(expect["rows"])
    for relation, given in case["given"].items():
        assert set(given) == {"columns", "rows"}
        all_columns = _columns_of(relation, project)
        assert set(given["columns"]) <= set(all_columns)
        if model != "training_jobs":  # it passes every column of job_expansion on
            assert set(given["columns"]) < set(all_columns), f"{relation}: only the columns the model reads"
    for row in expect["rows"]:
        for value in row:
            if isinstance(value, float):
                assert len(repr(value).lstrip("-").replace(".", "").lstrip("0")) <= 8, value
    passes(project, path, "created")


def _leaves(dotted: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for key, value in dotted.items():
        if isinstance(value, dict):
            out |= {f"{key}.{k}" for k in _leaves(value)}
        else:
            out.add(key)
    return out


def _columns_of(relation: str, project: Path) -> list[str]:
    source = f"source_{relation}"
    if source in SOURCE_TABLES:
        return [c.split()[0] for c in SOURCE_TABLES[source].split(",")][2:]
    from foxwarehouse.context import Context

    ctx = Context.load(None, project)
    from foxwarehouse.sqltest.runner import SqlTestRunner

    runner = SqlTestRunner(ctx.project)
    try:
        return [c for c, _ in runner.scope({}).relation("ref", relation)]
    finally:
        runner.close()


@pytest.mark.slow  # two runs and two cases (~3 s): with the slow sweep
def test_the_runs_config_is_recorded_and_the_case_is_deterministic(project: Path, planned: dict[str, Path]) -> None:
    path = project / "tests" / "sql" / "routing_decisions.yaml"
    where = "target = 'will_peak_4h'"
    first = create(project, planned["db"], "routing_decisions", "--where", where, "--limit", "4", "--name", "one")
    second = create(project, planned["db"], "routing_decisions", "--where", where, "--limit", "4", "--name", "two")
    assert first.code == 0 and second.code == 0, (first, second)
    cases = cases_of(path)
    one, two = cases["one"], cases["two"]
    assert one == two                                               # the same rows, the same order, the same text
    assert one["config"], "the run used SIMPLE_CONFIG: the case must say so"
    assert any(key.startswith("routing.symbol.min_score") for key in one["config"])
    passes(project, path, "one")
    # the default name is taken once, then numbered; an explicit name is never reused
    assert create(project, planned["db"], "routing_decisions", "--limit", "1").code == 0
    assert create(project, planned["db"], "routing_decisions", "--limit", "1").code == 0
    names = list(cases_of(path))
    assert names[-1] == names[-2] + "_2" and names[-2].startswith("from_run_")
    text = path.read_text(encoding="utf-8")
    clash = create(project, planned["db"], "routing_decisions", "--name", "one")
    assert clash.code == 2 and "already has a case 'one'" in clash.err
    assert path.read_text(encoding="utf-8") == text


def test_a_model_without_a_test_file_gets_one(project: Path, planned: dict[str, Path]) -> None:
    path = project / "tests" / "sql" / "plan_summary.yaml"
    path.unlink()
    result = create(project, planned["db"], "plan_summary", "--run", "latest~1")
    assert result.code == 0, result
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["model"] == "plan_summary"
    passes(project, path, "from_run_")


@pytest.mark.parametrize("where, message", [
    ("1=1; DROP TABLE runs", "one SQL expression"),
    ("(SELECT count(*) FROM runs) > 0", "only an expression"),
    ("rout = 'ROUTE_BOTH'", "did you mean 'route'"),
    ("target = ", "not a SQL expression"),
    ("target = 'nothing-like-this'", "no output rows"),
])
def test_where_is_one_expression_over_the_output_columns(where: str, message: str, project: Path,
                                                         planned: dict[str, Path]) -> None:
    path = project / "tests" / "sql" / "routing_decisions.yaml"
    before = path.read_text(encoding="utf-8")
    result = create(project, planned["db"], "routing_decisions", "--where", where)
    assert result.code == 2, result
    assert message in result.err and "Traceback" not in result.err
    assert path.read_text(encoding="utf-8") == before


def test_an_unknown_model_suggests_the_nearest(project: Path, planned: dict[str, Path]) -> None:
    result = create(project, planned["db"], "routing_decision")
    assert result.code == 2 and "routing_decisions" in result.err, result
