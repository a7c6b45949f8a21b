"""Tests of the SQL unit-test runner itself (foxwarehouse.sqltest): comparison, diffs, fixtures,
config overrides, macro cases, coverage, the CLI and the pytest front door.

Most tests use a small project of their own (one or two models over the real sources and the real
macros), so they do not depend on the packaged routing models.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from foxwarehouse.cli import main
from foxwarehouse.project import load_project, packaged_project
from foxwarehouse.sqltest import (
    CaseResult,
    SqlTestError,
    SqlTestRunner,
    coverage_problems,
    discover,
    load_file,
)

ROOT = Path(__file__).resolve().parents[2]

PASS_THROUGH = """
SELECT target, symbol, score, sample_size, failed_model_families
FROM {{ source('routing_candidates') }}
"""
NESTED = """
SELECT
    target,
    failed_model_families AS fams,
    {'score': score, 'n': sample_size} AS st,
    MAP {'n': sample_size, 'twice': sample_size * 2} AS mp,
    score + 0.2 AS shifted
FROM {{ source('routing_candidates') }}
"""
ORDERED = """
SELECT target, symbol, score FROM {{ source('routing_candidates') }} ORDER BY score DESC, symbol
"""
FAMILIES = """
SELECT target, {{ job_families('route', 'failed_model_families') }} AS fams
FROM (SELECT target, 'ROUTE_BOTH' AS route, failed_model_families FROM {{ source('routing_candidates') }})
"""


def make_project(tmp_path: Path, models: dict[str, str]) -> Path:
    root = tmp_path / "proj"
    (root / "sql").mkdir(parents=True)
    shutil.copytree(ROOT / "macros", root / "macros")
    shutil.copytree(ROOT / "config", root / "config")
    for name, sql in models.items():
        (root / "sql" / f"{name}.sql").write_text(sql, encoding="utf-8")
    (root / "tests" / "sql").mkdir(parents=True)
    return root


def run_cases(root: Path, text: str, name: str = "cases.yaml") -> dict[str, CaseResult]:
    path = root / "tests" / "sql" / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    runner = SqlTestRunner(load_project(root))
    try:
        return {c.name: runner.run_case(c) for c in load_file(path).cases}
    finally:
        runner.close()


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return make_project(tmp_path, {"pass_through": PASS_THROUGH, "nested": NESTED, "ordered": ORDERED,
                                   "families": FAMILIES})


# --- comparison and diffs -------------------------------------------------------------------

def test_diff_shows_missing_unexpected_and_only_changed_columns(proj: Path) -> None:
    results = run_cases(proj, """
        model: pass_through
        cases:
          wrong:
            description: a case that is wrong on purpose
            given:
              routing_candidates:
                - {target: t, symbol: A, score: 0.5, sample_size: 10}
                - {target: t, symbol: B, score: 0.6, sample_size: 20}
                - {target: t, symbol: C, score: 0.7, sample_size: 30}
            expect:
              - {target: t, symbol: A, score: 0.5, sample_size: 10}
              - {target: t, symbol: B, score: 0.9, sample_size: 20}
              - {target: t, symbol: D, score: 0.7, sample_size: 30}
        """)
    result = results["wrong"]
    assert result.status == "failed"
    report = result.report()
    assert "cases.yaml::wrong (model pass_through)" in report
    assert "a case that is wrong on purpose" in report
    assert "rows matched on key (target, symbol) with different values: 1" in report
    assert "target='t', symbol='B':" in report
    assert "score: expected 0.9, actual 0.6" in report
    assert "sample_size: expected" not in report           # unchanged columns are not listed
    assert "missing rows (expected, not produced): 1" in report
    assert "unexpected rows (produced, not expected): 1" in report
    missing = report.split("missing rows")[1].split("unexpected rows")[0]
    assert "'D'" in missing and "'C'" not in missing


def test_expect_lists_a_subset_of_columns_and_key_defaults(proj: Path) -> None:
    results = run_cases(proj, """
        model: pass_through
        cases:
          subset:
            given:
              routing_candidates:
                - {target: t, symbol: A, score: 0.5, sample_size: 10}
            expect:
              - {symbol: A, sample_size: 10}
          declared_key:
            key: [symbol]
            given:
              routing_candidates:
                - {target: t, symbol: A, score: 0.5}
            expect:
              - {symbol: A, score: 0.4}
        """)
    assert results["subset"].ok
    report = results["declared_key"].report()
    assert "rows matched on key (symbol)" in report and "symbol='A':" in report and "score: expected 0.4, actual 0.5" in report


def test_null_and_nan_are_different_values(proj: Path) -> None:
    results = run_cases(proj, """
        model: pass_through
        cases:
          nan_is_nan:
            given: {routing_candidates: [{target: t, symbol: A, score: .nan}]}
            expect: [{symbol: A, score: .nan}]
          null_is_null:
            given: {routing_candidates: [{target: t, symbol: A, score: null}]}
            expect: [{symbol: A, score: null}]
          nan_is_not_null:
            given: {routing_candidates: [{target: t, symbol: A, score: .nan}]}
            expect: [{symbol: A, score: null}]
          null_is_not_nan:
            given: {routing_candidates: [{target: t, symbol: A, score: null}]}
            expect: [{symbol: A, score: NaN}]
        """)
    assert results["nan_is_nan"].ok and results["null_is_null"].ok
    assert "score: expected NULL, actual NaN" in results["nan_is_not_null"].report()
    assert "score: expected NaN, actual NULL" in results["null_is_not_nan"].report()


def test_float_tolerance(proj: Path) -> None:
    results = run_cases(proj, """
        model: nested
        cases:
          default_tolerance:
            given: {routing_candidates: [{target: t, score: 0.1}]}
            expect: [{target: t, shifted: 0.3}]
          exact:
            tolerance: 0
            given: {routing_candidates: [{target: t, score: 0.1}]}
            expect: [{target: t, shifted: 0.3}]
          loose:
            tolerance: 0.05
            given: {routing_candidates: [{target: t, score: 0.1}]}
            expect: [{target: t, shifted: 0.33}]
          too_far:
            given: {routing_candidates: [{target: t, score: 0.1}]}
            expect: [{target: t, shifted: 0.33}]
        """)
    assert results["default_tolerance"].ok       # 0.1 + 0.2 = 0.30000000000000004
    assert results["exact"].status == "failed"
    assert results["loose"].ok
    assert "shifted: expected 0.33, actual 0.30000000000000004" in results["too_far"].report()


def test_ordered_cases_check_row_order(proj: Path) -> None:
    given = """
            given:
              routing_candidates:
                - {target: t, symbol: A, score: 0.1}
                - {target: t, symbol: B, score: 0.3}
                - {target: t, symbol: C, score: 0.2}"""
    results = run_cases(proj, f"""
        model: ordered
        cases:
          right_order:
            ordered: true{given}
            expect: [{{symbol: B}}, {{symbol: C}}, {{symbol: A}}]
          wrong_order:
            ordered: true{given}
            expect: [{{symbol: A}}, {{symbol: B}}, {{symbol: C}}]
          any_order:{given}
            expect: [{{symbol: A}}, {{symbol: B}}, {{symbol: C}}]
        """)
    assert results["right_order"].ok
    assert results["any_order"].ok
    report = results["wrong_order"].report()
    assert "the same rows in a different order" in report
    assert "row 1: expected (symbol='A'), actual (symbol='B')" in report


def test_list_struct_and_map_columns(proj: Path) -> None:
    results = run_cases(proj, """
        model: nested
        cases:
          nested_equal:
            given: {routing_candidates: [{target: t, score: 0.5, sample_size: 3, failed_model_families: [b, a]}]}
            expect:
              - {target: t, fams: [b, a], st: {score: 0.5, n: 3}, mp: {twice: 6, n: 3}}
          list_order_matters:
            given: {routing_candidates: [{target: t, failed_model_families: [b, a]}]}
            expect: [{target: t, fams: [a, b]}]
          struct_field_differs:
            given: {routing_candidates: [{target: t, score: 0.5, sample_size: 3}]}
            expect: [{target: t, st: {score: 0.5, n: 4}}]
          empty_and_null_lists:
            given:
              routing_candidates:
                - {target: t1, failed_model_families: []}
                - {target: t2}
            expect:
              - {target: t1, fams: []}
              - {target: t2, fams: null}
        """)
    assert results["nested_equal"].ok, results["nested_equal"].report()
    assert "fams: expected ['a', 'b'], actual ['b', 'a']" in results["list_order_matters"].report()
    assert "st: expected {score: 0.5, n: 4}, actual {score: 0.5, n: 3}" in results["struct_field_differs"].report()
    assert results["empty_and_null_lists"].ok, results["empty_and_null_lists"].report()


def test_fixture_types_come_from_the_real_schema(proj: Path) -> None:
    """A NULL first row, omitted columns and integers given for doubles keep the real types."""
    results = run_cases(proj, """
        model: pass_through
        cases:
          null_first_row:
            given:
              routing_candidates:
                - {target: t, symbol: A, score: null, sample_size: null}
                - {target: t, symbol: B, score: 1, sample_size: 7}
            expect:
              - {symbol: A, score: null, sample_size: null, failed_model_families: null}
              - {symbol: B, score: 1.0, sample_size: 7, failed_model_families: null}
          compact_rows:
            given:
              routing_candidates:
                columns: [target, symbol, score]
                rows:
                  - [t, A, null]
                  - [t, B, 2]
            expect:
              columns: [symbol, score]
              rows: [[A, null], [B, 2.0]]
        """)
    assert all(r.ok for r in results.values()), [r.report() for r in results.values() if not r.ok]


def test_sql_fixture_and_sql_expectation(proj: Path) -> None:
    results = run_cases(proj, """
        model: pass_through
        cases:
          sql_given:
            given:
              routing_candidates:
                sql: "SELECT 't' AS target, 'S' || i AS symbol, i / 10 AS score FROM range(3) AS r(i)"
            expect:
              sql: "SELECT 'S' || i AS symbol, i / 10 AS score FROM range(3) AS r(i)"
          sql_given_unknown_column:
            given:
              routing_candidates:
                sql: "SELECT 't' AS target, 1 AS scroe"
            expect: []
        """)
    assert results["sql_given"].ok, results["sql_given"].report()
    bad = results["sql_given_unknown_column"]
    assert bad.status == "error" and "'scroe', not a column (did you mean 'score'?)" in bad.report()


def test_expect_empty_shows_what_the_model_returned(proj: Path) -> None:
    results = run_cases(proj, """
        model: pass_through
        cases:
          none:
            given: {routing_candidates: [{target: t, symbol: A}]}
            expect: []
        """)
    report = results["none"].report()
    assert "unexpected rows (produced, not expected): 1" in report and "'A'" in report


# --- config overrides and macros ------------------------------------------------------------

def test_config_overrides_reach_macros_called_by_macros(proj: Path) -> None:
    """job_families -> route_families -> normalize_families, all reading training_plan.*."""
    results = run_cases(proj, """
        model: families
        config:
          training_plan.model_families_by_route: {}
        cases:
          overridden:
            config:
              training_plan.model_families: [CatBoost, mlp, catboost]
            given: {routing_candidates: [{target: t, failed_model_families: [MLP]}]}
            expect: [{target: t, fams: [catboost]}]
          file_level_only:
            given: {routing_candidates: [{target: t}]}
            expect: [{target: t, fams: [lightgbm, xgboost]}]
          macro_case:
            macro: job_families
            args: [route, failed_model_families]
            config:
              training_plan.model_families: [a, B]
            given_row: {route: ROUTE_BOTH, failed_model_families: [a]}
            expect: [b]
        """)
    assert all(r.ok for r in results.values()), [r.report() for r in results.values() if not r.ok]


def test_macro_case_failure_shows_the_row_and_the_rendered_sql(proj: Path) -> None:
    results = run_cases(proj, """
        cases:
          tiers:
            macro: horizon_tier
            args: [minutes]
            types: {minutes: DOUBLE}
            given_rows:
              - {minutes: 30}
              - {minutes: null}
            expect: [short, short]
          config_arg:
            macro: resolve_threshold
            args: [{config: routing.symbol.min_score}, task_class, horizon_tier]
            config:
              routing.symbol.min_score: {classification: 0.7, regression: 0.1}
            given_row: {task_class: classification, horizon_tier: short}
            expect: 0.7
          no_such_macro:
            macro: horizon_teir
            expect: 1
        """)
    report = results["tiers"].report()
    assert "horizon_tier(...) on minutes=NULL:" in report
    assert "expected 'short', actual 'default'" in report
    assert "rendered: (CASE" in report
    assert results["config_arg"].ok, results["config_arg"].report()
    assert "did you mean 'horizon_tier'" in results["no_such_macro"].report()


# --- malformed files ------------------------------------------------------------------------

@pytest.mark.parametrize("text,message", [
    ("model: m\ncases:\n  a: {given: {}, expcet: []}\n", "unknown key 'expcet' (did you mean 'expect'?)"),
    ("model: m\ncases:\n  a: {expect: []}\n  a: {expect: []}\n", "key 'a' appears twice"),
    ("model: m\ncases:\n  'bad name': {expect: []}\n", "a case name uses letters"),
    ("cases:\n  a: {expect: []}\n", "name the model under test"),
    ("model: m\ncases: {}\n", "at least one case"),
])
def test_malformed_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SqlTestError) as exc:
        load_file(path)
    assert message in exc.value.message and str(path) in exc.value.message


def test_fixture_mistakes_are_errors_with_hints(proj: Path) -> None:
    results = run_cases(proj, """
        model: pass_through
        cases:
          unread_relation:
            given: {routing_candidate: []}
            expect: []
          unknown_column:
            given: {routing_candidates: [{target: t, scroe: 1}]}
            expect: []
          unknown_output:
            given: {}
            expect: [{symbl: A}]
          bad_value:
            given: {routing_candidates: [{target: t, sample_size: lots}]}
            expect: []
        """)
    assert all(r.status == "error" for r in results.values())
    assert "does not read it (did you mean 'routing_candidates'?)" in results["unread_relation"].report()
    assert "'scroe' is not a column (did you mean 'score'?)" in results["unknown_column"].report()
    assert "'symbl' is not an output column of pass_through (did you mean 'symbol'?)" in results["unknown_output"].report()
    assert "does not fit its column type" in results["bad_value"].report()


# --- coverage, CLI and pytest ---------------------------------------------------------------

def test_every_packaged_model_has_cases() -> None:
    cases = [c for f in discover([ROOT / "tests" / "sql"]) for c in load_file(f).cases]
    assert coverage_problems(packaged_project(), cases) == []


def test_a_model_without_cases_fails_the_suite(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (proj / "tests" / "sql" / "pass_through.yaml").write_text(textwrap.dedent("""
        model: pass_through
        cases:
          empty:
            given: {}
            expect: []
        """), encoding="utf-8")
    code = main(["--project-dir", str(proj), "test"])
    out = capsys.readouterr().out
    assert code == 1
    assert "PASS  " in out and "pass_through.yaml::empty" in out
    for model in ("nested", "ordered", "families"):
        assert f"FAIL  coverage: model {model} has no SQL unit test cases (add tests/sql/{model}.yaml)" in out
    assert "1 passed, 3 failed in " in out.strip().splitlines()[-1]


def test_init_project_is_tested_and_a_mutated_model_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "team"
    assert main(["init", str(project)]) == 0
    assert (project / "tests" / "sql" / "routing_decisions.yaml").is_file()
    capsys.readouterr()
    path = project / "macros" / "rules.sql"  # the route rules are a rule table there
    path.write_text(path.read_text(encoding="utf-8").replace(
        "{'code': 'LOCAL_EXPERIMENTAL', 'outcome': 'ROUTE_EXPERIMENTAL_ONLY'",
        "{'code': 'LOCAL_EXPERIMENTAL', 'outcome': 'ROUTE_BLOCKED'"), encoding="utf-8")
    code = main(["--project-dir", str(project), "test", "-q", str(project / "tests" / "sql" / "routing_decisions.yaml")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  " in out and "routing_decisions.yaml::route_rule4_local_experimental" in out
    assert "route: expected 'ROUTE_EXPERIMENTAL_ONLY', actual 'ROUTE_BLOCKED'" in out
    assert "PASS  " not in out                               # -q: failures and the summary only


def test_cli_keyword_and_missing_path(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(proj / "tests" / "sql" / "nope.yaml")]) == 2
    assert "no such test file or directory" in capsys.readouterr().err


def test_pytest_collects_each_case_as_an_item() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/sql/routing_decisions.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    ).stdout
    assert "tests/sql/routing_decisions.yaml::both_strong_prefer_cs" in out
    assert "tests/sql/routing_decisions.yaml::cap_is_floored" in out
