"""Preview and gate around `plan` and `build`: the SQL unit tests run first (once per version of the
models and tests), `plan --dry-run` shows what a change would do and keeps nothing, and re-planning
what is already published makes no new run."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

import foxwarehouse
from foxwarehouse.errors import TestGateError
from helpers import EXAMPLES, SIMPLE_CONFIG, config_with, run_cli, write_config

EXAMPLE = EXAMPLES / "routing_candidates" / "routing_candidates.parquet"
BREAKER = "gate_breaker"
# A case whose expectation is wrong: the gate must stop on it, whatever the rules say.
FAILING_TEST = {
    "model": "cs_decisions",
    "cases": {
        BREAKER: {
            "description": "a wrong expectation, to trip the gate",
            "given": {"candidate_signal_states": {"columns": ["target", "symbol", "side", "signal_state"],
                                                  "rows": [["t1", None, "cs", "STRONG"]]}},
            "expect": [{"target": "t1", "cs_state": "DISALLOWED"}],
        },
    },
}


@pytest.fixture(autouse=True)
def own_pass_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine-wide pass cache of this test's own, so that every test sees the gate run first."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FOXWAREHOUSE_CACHE_DIR", str(cache))
    return cache


# The project's own tests here: one small case that holds whatever the packaged rules say, so these
# tests are about the gate and not about the packaged test cases.
PASSING_TEST = {
    "model": "cs_decisions",
    "cases": {
        "strong_cs_row": {
            "given": {"candidate_signal_states": {"columns": ["target", "symbol", "side", "signal_state"],
                                                  "rows": [["t1", None, "cs", "STRONG"]]}},
            "expect": [{"target": "t1", "cs_state": "STRONG"}],
        },
    },
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "proj"
    result = run_cli(["init", root])
    assert result.code == 0, result
    for path in (root / "tests" / "sql").glob("*.yaml"):
        path.unlink()
    (root / "tests" / "sql" / "cs_decisions.yaml").write_text(yaml.safe_dump(PASSING_TEST, sort_keys=False),
                                                               encoding="utf-8")
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "proj"
    shutil.copytree(template, root)
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def runs(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT * FROM runs ORDER BY seq")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


def row_counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def plan(project: Path | None, db: Path, out: Path, *extra: Any, metrics: Path = EXAMPLE):
    head = ["--project-dir", project] if project is not None else []
    return run_cli([*head, "plan", "--metrics", metrics, "--db", db, "--out", out, *extra])


# --- the test gate ----------------------------------------------------------------------------------

def test_a_failing_sql_test_stops_plan_and_build_and_skip_tests_overrides(project: Path, tmp_path: Path) -> None:
    db, out = tmp_path / "wh.duckdb", tmp_path / "out"
    first = plan(project, db, out)
    assert first.code == 0, first
    assert [r["tests"] for r in runs(db)] == ["passed"]
    published = snapshot(out)
    counts = row_counts(db)

    (project / "tests" / "sql" / "gate.yaml").write_text(yaml.safe_dump(FAILING_TEST, sort_keys=False),
                                                          encoding="utf-8")
    failed = plan(project, db, out, "--force")
    assert failed.code == 1, failed
    assert BREAKER in failed.err and "--skip-tests" in failed.err
    assert "Traceback" not in failed.err
    assert row_counts(db) == counts                  # nothing ingested, built or recorded
    assert snapshot(out) == published                # nothing published

    assert run_cli(["ingest", EXAMPLE, "--db", db]).code == 0
    built = run_cli(["--project-dir", project, "build", "--db", db])
    assert built.code == 1 and BREAKER in built.err, built
    assert [r["status"] for r in runs(db)] == ["exported", "ingested"]

    skipped = plan(project, db, out, "--skip-tests", "--force")
    assert skipped.code == 0, skipped
    assert runs(db)[-1]["tests"] == "skipped" and runs(db)[-1]["status"] == "exported"
    built = run_cli(["--project-dir", project, "build", "--db", db, "--skip-tests"])
    assert built.code == 0, built
    assert runs(db)[-1]["tests"] == "skipped"


def test_a_version_that_passed_is_not_tested_again(project: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    db, out = tmp_path / "wh.duckdb", tmp_path / "out"
    assert plan(project, db, out).code == 0
    from foxwarehouse.sqltest import suite

    def must_not_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the SQL tests ran again for a version that passed")

    monkeypatch.setattr(suite, "run_suite", must_not_run)
    again = plan(project, db, out, "--force")
    assert again.code == 0, again
    assert [r["tests"] for r in runs(db)] == ["passed", "cached"]
    # another warehouse on the same machine: the machine-wide record of the pass serves it too
    other = tmp_path / "other.duckdb"
    assert plan(project, other, tmp_path / "out2").code == 0
    assert [r["tests"] for r in runs(other)] == ["cached"]
    # a changed test is a new version: it runs again
    monkeypatch.undo()
    monkeypatch.setenv("FOXWAREHOUSE_CACHE_DIR", str(tmp_path / "cache"))
    tests = project / "tests" / "sql" / "cs_decisions.yaml"
    tests.write_text(tests.read_text(encoding="utf-8") + "\n# a comment is a change of the test file\n",
                     encoding="utf-8")
    assert plan(project, db, out, "--force").code == 0
    assert runs(db)[-1]["tests"] == "passed"


def test_the_library_raises_the_gate_error_even_when_non_blocking(project: Path, tmp_path: Path) -> None:
    (project / "tests" / "sql" / "gate.yaml").write_text(yaml.safe_dump(FAILING_TEST, sort_keys=False),
                                                          encoding="utf-8")
    db = tmp_path / "wh.duckdb"
    with pytest.raises(TestGateError) as info:
        foxwarehouse.plan(EXAMPLE, db=db, out=tmp_path / "out", project_dir=project, non_blocking=True)
    assert info.value.exit_code == 1
    assert any(BREAKER in f for f in info.value.failures)
    assert runs(db) == [] and not (tmp_path / "out").exists()
    result = foxwarehouse.plan(EXAMPLE, db=db, out=tmp_path / "out", project_dir=project, skip_tests=True)
    assert result.fresh and result.tests == "skipped"


def test_demo_goes_through_the_gate(project: Path, tmp_path: Path) -> None:
    (project / "tests" / "sql" / "gate.yaml").write_text(yaml.safe_dump(FAILING_TEST, sort_keys=False),
                                                          encoding="utf-8")
    result = run_cli(["--project-dir", project, "demo", "--db", tmp_path / "wh.duckdb", "--out", tmp_path / "out"])
    assert result.code == 1 and BREAKER in result.err, result


# --- plan --dry-run ---------------------------------------------------------------------------------

def test_dry_run_prints_the_diff_and_keeps_nothing(project: Path, tmp_path: Path) -> None:
    db, out = tmp_path / "wh.duckdb", tmp_path / "out"
    base = write_config(tmp_path / "base.yaml", SIMPLE_CONFIG)
    assert plan(project, db, out, "--config", base).code == 0
    before_runs, before_counts, before_out = runs(db), row_counts(db), snapshot(out)
    changed = write_config(tmp_path / "changed.yaml", config_with(**{"routing.symbol.strong_score": 0.95}))
    preview = plan(project, db, out, "--config", changed, "--dry-run")
    assert preview.code == 0, preview
    assert "dry run" in preview.out.lower()
    assert "routing.symbol.strong_score" in preview.out          # the diff against the published plan
    assert before_runs[0]["run_id"] in preview.out
    assert runs(db) == before_runs
    assert row_counts(db) == before_counts
    assert snapshot(out) == before_out
    # what the dry run showed is what the plan then does
    real = plan(project, db, out, "--config", changed)
    assert real.code == 0 and len(runs(db)) == 2


def test_dry_run_with_nothing_published_says_so(project: Path, tmp_path: Path) -> None:
    db, out = tmp_path / "wh.duckdb", tmp_path / "out"
    preview = plan(project, db, out, "--dry-run")
    assert preview.code == 0, preview
    assert "nothing published" in preview.out.lower() or "no plan has been published" in preview.out.lower()
    assert "jobs:" in preview.out
    assert runs(db) == [] and not out.exists()


def test_dry_run_leaves_nothing_behind_when_interrupted(project: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    db, out = tmp_path / "wh.duckdb", tmp_path / "out"
    assert plan(project, db, out).code == 0
    before = row_counts(db)
    from foxwarehouse.diff import plan_diff

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(plan_diff, "diff", interrupted)
    result = plan(project, db, out, "--dry-run", "--config", write_config(tmp_path / "c.yaml", SIMPLE_CONFIG))
    assert result.code == 130, result
    assert row_counts(db) == before


# --- no change, no new run --------------------------------------------------------------------------

@pytest.mark.slow  # four plans (~3 s): with the slow sweep; test_user_story and test_model_versions re-plan too
def test_replanning_what_is_published_makes_no_new_run(project: Path, tmp_path: Path) -> None:
    db, out = tmp_path / "wh.duckdb", tmp_path / "out"
    assert plan(project, db, out).code == 0
    first = runs(db)
    published = snapshot(out)
    again = plan(project, db, out)
    assert again.code == 0, again
    assert (f"no changes: the published plan (run {first[0]['run_id']}) already reflects these inputs, "
            f"config and models") in again.out
    assert runs(db) == first and snapshot(out) == published
    library = foxwarehouse.plan(EXAMPLE, db=db, out=out, project_dir=project)
    assert library.unchanged and not library.fresh and library.run_id == first[0]["run_id"]
    assert library.master_plan_path == out / "training_plan" / "master_training_plan.json"
    forced = plan(project, db, out, "--force")
    assert forced.code == 0 and len(runs(db)) == 2
    # another config, or another output folder, is a change
    config = write_config(tmp_path / "c.yaml", SIMPLE_CONFIG)
    assert plan(project, db, out, "--config", config).code == 0 and len(runs(db)) == 3
    assert plan(project, db, tmp_path / "elsewhere").code == 0 and len(runs(db)) == 4
