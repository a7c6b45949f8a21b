"""One project for every command: the project file, its discovery and its settings.

Inside a project made by `init` (found by walking up from the current folder to foxwarehouse.yml),
with `--project-dir` from elsewhere, or with FOXWAREHOUSE_PROJECT_DIR, every command that renders
or reads models uses the project's models, never the packaged ones. The list of commands comes
from the CLI itself, so a new command cannot be forgotten: it is either run here or exempt with a
reason.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from foxwarehouse import cli, render
from foxwarehouse.project import bundled_dir, packaged_project
from helpers import run_cli

PROJECT_FILE = "foxwarehouse.yml"
PROJECT_DIR_ENV = "FOXWAREHOUSE_PROJECT_DIR"
EXAMPLE = bundled_dir("examples") / "routing_candidates" / "routing_candidates.parquet"
TEAM_MODEL = "team_marker"
TEAM_SQL = f"""-- {TEAM_MODEL}: pairs per target, a model the team added
SELECT target, count(*) AS n_pairs
FROM {{{{ ref('routing_decisions') }}}}
GROUP BY target
ORDER BY target
-- the last line is a comment
"""
TEAM_TEST = {
    "model": TEAM_MODEL,
    "cases": {
        "counts_pairs_per_target": {
            "given": {"routing_decisions": {"columns": ["target", "symbol"], "rows": [["t1", "A"], ["t1", "B"], ["t2", "A"]]}},
            "expect": [{"target": "t1", "n_pairs": 2}, {"target": "t2", "n_pairs": 1}],
        },
    },
}
EDIT_MARK = "-- team edit: routing_decisions"
# The test gate and the no-change check are tested elsewhere; here every plan builds.
PLAN_FLAGS = ("--skip-tests", "--force")

# Commands that neither render nor read a model file, each with the reason. Every other command
# of cli.COMMANDS must have an entry in `argv_for` and is checked to use the project's models.
EXEMPT = {
    "init": "makes a project; it reads no models",
    "ingest": "loads metrics into the warehouse's source tables; no model runs",
    "export": "writes the rows a build stored; no model runs",
    "runs": "lists the runs table",
    "diff": "compares stored plans and runs",
    "validate": "checks a plan file against its schema",
    "jobs": "streams the stored training_jobs rows",
}


def make_project(root: Path) -> Path:
    """`init` a project, add a model (with its test) and edit a packaged one."""
    result = run_cli(["init", root])
    assert result.code == 0, result
    (root / "sql" / f"{TEAM_MODEL}.sql").write_text(TEAM_SQL, encoding="utf-8")
    (root / "tests" / "sql" / f"{TEAM_MODEL}.yaml").write_text(yaml.safe_dump(TEAM_TEST, sort_keys=False),
                                                                encoding="utf-8")
    decisions = root / "sql" / "routing_decisions.sql"
    decisions.write_text(decisions.read_text(encoding="utf-8").rstrip("\n") + "\n" + EDIT_MARK + "\n",
                         encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("one_project")
    root = make_project(base / "proj")
    (root / "analysis" / "deep").mkdir(parents=True)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    db = base / "wh.duckdb"
    for _ in range(2):  # two runs, so that latest~1 names one
        result = run_cli(["--project-dir", root, "plan", "--metrics", EXAMPLE, "--db", db, "--out", base / "out",
                          *PLAN_FLAGS])
        assert result.code == 0, result
    return {"root": root, "elsewhere": elsewhere, "db": db, "base": base}


def argv_for(command: str, p: dict[str, Path], tag: str) -> list[Any]:
    db, base = p["db"], p["base"]
    out = base / f"out_{tag}"
    table: dict[str, list[Any]] = {
        "plan": ["plan", "--metrics", EXAMPLE, "--db", db, "--out", out, *PLAN_FLAGS],
        "demo": ["demo", "--db", db, "--out", out, *PLAN_FLAGS],
        "build": ["build", "--db", db, "--skip-tests"],
        "compile": ["compile"],
        "lineage": ["lineage", f"{TEAM_MODEL}.n_pairs"],
        "explain": ["explain", "fwd_ret_15m", "--db", db],
        "docs": ["docs", "--out", base / f"catalog_{tag}.md", "--db", db],
        "test": ["test", "-k", TEAM_MODEL],
        "query": ["query", f"SELECT count(*) AS n FROM latest_{TEAM_MODEL}", "--db", db],
        "report": ["report", "--db", db, "--out", base / f"report_{tag}.html"],
        "create-test": ["create-test", TEAM_MODEL, "--db", db, "--name", f"from_run_{tag}"],
        # exempt ones, run to check they do not render packaged models either
        "init": ["init", base / f"another_{tag}"],
        "ingest": ["ingest", EXAMPLE, "--db", db],
        "export": ["export", "--db", db, "--out", out],
        "runs": ["runs", "--db", db],
        "diff": ["diff", "latest~1", "latest", "--db", db],
        "jobs": ["jobs", "--db", db],
        "validate": ["validate", base / "out" / "training_plan"],
    }
    assert command in table, f"new command {command!r}: add it to argv_for (and to EXEMPT if it uses no models)"
    return table[command]


SCENARIOS = ("inside", "subfolder", "flag_before", "flag_after", "env")


@pytest.fixture
def renderers(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The sql/ folder of every Renderer made while the test runs."""
    seen: list[Path] = []
    original = render.Renderer.__init__

    def init(self: render.Renderer, project: Any, config: Any) -> None:
        seen.append(project.sql_dir.resolve())
        original(self, project, config)

    monkeypatch.setattr(render.Renderer, "__init__", init)
    return seen


# Every command inside the project; every way of naming the project for the commands that plan,
# test and compile (the whole command x scenario matrix runs with the slow sweep).
ALWAYS = ("plan", "test", "compile")
MATRIX = [pytest.param(command, scenario,
                       marks=() if scenario == "inside" or command in ALWAYS else pytest.mark.slow)
          for command in sorted(cli.COMMANDS) for scenario in SCENARIOS]


@pytest.mark.parametrize("command, scenario", MATRIX)
def test_every_command_uses_the_project_models(command: str, scenario: str, project: dict[str, Path],
                                               renderers: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root = project["root"]
    argv = argv_for(command, project, f"{command}_{scenario}")
    if command == "build":
        assert run_cli(["ingest", EXAMPLE, "--db", project["db"]]).code == 0
    monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    if scenario == "inside":
        monkeypatch.chdir(root)
    elif scenario == "subfolder":
        monkeypatch.chdir(root / "analysis" / "deep")
    else:
        monkeypatch.chdir(project["elsewhere"])
        if scenario == "flag_before":
            argv = ["--project-dir", root, *argv]
        elif scenario == "flag_after":
            argv = [*argv, "--project-dir", root]
        else:
            monkeypatch.setenv(PROJECT_DIR_ENV, str(root))
    renderers.clear()
    result = run_cli(argv)
    assert result.code == 0, result
    assert "Traceback" not in result.err
    packaged = packaged_project().sql_dir.resolve()
    assert packaged not in renderers, f"{command} rendered the packaged models"
    if command in EXEMPT:
        return
    assert renderers, f"{command} rendered no models; if it uses none, list it in EXEMPT with the reason"
    assert set(renderers) == {(root / "sql").resolve()}
    # and what each prints or writes shows the project's models
    if command == "compile":
        assert f"-- model: {TEAM_MODEL}" in result.out and EDIT_MARK in result.out
    elif command == "build":
        assert TEAM_MODEL in result.out
    elif command == "test":
        assert f"{TEAM_MODEL}.yaml::counts_pairs_per_target" in result.out and " 0 failed" in result.out
    elif command == "docs":
        assert TEAM_MODEL in (project["base"] / f"catalog_{command}_{scenario}.md").read_text(encoding="utf-8")


def test_the_command_list_is_covered(project: dict[str, Path]) -> None:
    for command in cli.COMMANDS:
        argv_for(command, project, "check")
    assert set(EXEMPT) <= set(cli.COMMANDS), "EXEMPT names a command that no longer exists"


# --- the project file ---------------------------------------------------------------------------

def test_init_writes_the_project_file_and_says_what_next(tmp_path: Path) -> None:
    result = run_cli(["init", tmp_path / "p"])
    assert result.code == 0, result
    assert (tmp_path / "p" / PROJECT_FILE).is_file()
    for name in (PROJECT_FILE, "sql/: ", "routing_decisions.sql", "macros/: ", "config/: routing_config.yaml",
                 "tests/sql/: "):
        assert name in result.out, result.out
    assert "foxwarehouse plan" in result.out and "foxwarehouse test" in result.out
    # a second init writes nothing, the project file included
    before = (tmp_path / "p" / PROJECT_FILE).read_bytes()
    again = run_cli(["init", tmp_path / "p"])
    assert again.code == 2 and "overwrite" in again.err
    assert (tmp_path / "p" / PROJECT_FILE).read_bytes() == before
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / PROJECT_FILE).write_text("db: mine.duckdb\n", encoding="utf-8")
    clash = run_cli(["init", tmp_path / "q"])
    assert clash.code == 2 and PROJECT_FILE in clash.err
    assert (tmp_path / "q" / PROJECT_FILE).read_text(encoding="utf-8") == "db: mine.duckdb\n"
    assert not (tmp_path / "q" / "sql").exists()


@pytest.mark.parametrize("text, words", [
    ("engin: duckdb\n", ["engin", "did you mean engine"]),
    ("databse: x.duckdb\n", ["databse"]),
    ("db: [1, 2\n", [PROJECT_FILE]),
    ("- db\n", [PROJECT_FILE, "mapping"]),
    ("engine: sparc\n", ["sparc", "spark"]),
    ("spark: local\n", ["spark", "mapping"]),
    ("engine: postgres\n", ["postgres", "duckdb"]),
    ("db: 3\n", ["db", "text"]),
])
def test_a_bad_project_file_is_exit_2_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      text: str, words: list[str]) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / PROJECT_FILE).write_text(text, encoding="utf-8")
    monkeypatch.chdir(root)
    result = run_cli(["compile", "plan_summary"])
    assert result.code == 2, result
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1, result.err
    for word in words:
        assert word in result.err, result.err
    assert str(root / PROJECT_FILE) in result.err or PROJECT_FILE in result.err


def test_project_settings_and_their_override_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "p")
    (root / "metrics").mkdir()
    metrics = root / "metrics" / "candidates.parquet"
    metrics.write_bytes(EXAMPLE.read_bytes())
    (root / PROJECT_FILE).write_text(
        "db: state/wh.duckdb\nout: exported\nmetrics: metrics/candidates.parquet\nengine: duckdb\n"
        "config: config/routing_config.yaml\n", encoding="utf-8")
    (root / "state").mkdir()
    (root / "sub").mkdir()
    monkeypatch.chdir(root / "sub")
    monkeypatch.delenv("FOXWAREHOUSE_DB", raising=False)
    result = run_cli(["plan", *PLAN_FLAGS])  # metrics, db and out from the project file, relative to its folder
    assert result.code == 0, result
    assert (root / "state" / "wh.duckdb").is_file()
    assert (root / "exported" / "training_plan" / "master_training_plan.json").is_file()
    assert not (root / "sub" / "foxwarehouse.duckdb").exists()
    with duckdb.connect(str(root / "state" / "wh.duckdb"), read_only=True) as con:
        assert con.execute(f"SELECT count(*) FROM published_{TEAM_MODEL}").fetchone()[0] > 0
    # FOXWAREHOUSE_DB beats the project file; --db (before or after the command) beats both
    monkeypatch.setenv("FOXWAREHOUSE_DB", str(tmp_path / "env.duckdb"))
    assert run_cli(["ingest", metrics]).code == 0
    assert (tmp_path / "env.duckdb").is_file()
    assert run_cli(["--db", tmp_path / "flag.duckdb", "ingest", metrics]).code == 0
    assert run_cli(["ingest", metrics, "--db", tmp_path / "flag2.duckdb"]).code == 0
    assert (tmp_path / "flag.duckdb").is_file() and (tmp_path / "flag2.duckdb").is_file()
    # an explicit --out wins over the project's
    assert run_cli(["plan", "--out", tmp_path / "mine", *PLAN_FLAGS]).code == 0
    assert (tmp_path / "mine" / "training_plan" / "master_training_plan.json").is_file()


def test_plan_without_metrics_anywhere_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "p")
    monkeypatch.chdir(root)
    result = run_cli(["plan", "--db", tmp_path / "wh.duckdb"])
    assert result.code == 2 and "--metrics" in result.err and PROJECT_FILE in result.err, result


def test_a_missing_project_dir_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROJECT_DIR_ENV, str(tmp_path / "nope"))
    result = run_cli(["compile", "plan_summary"])
    assert result.code == 2 and "nope" in result.err, result


def test_the_library_resolves_the_project_like_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import foxwarehouse
    from foxwarehouse.context import Context

    root = make_project(tmp_path / "p")
    (root / "x").mkdir()
    monkeypatch.chdir(root / "x")
    monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    assert Context.load().project.sql_dir.resolve() == (root / "sql").resolve()
    from foxwarehouse.pipeline import plan

    result = plan(EXAMPLE, db=tmp_path / "wh.duckdb", out=tmp_path / "out", skip_tests=True)
    assert result.fresh
    with foxwarehouse.open(tmp_path / "wh.duckdb") as aw:
        assert aw.sql(f"SELECT count(*) FROM latest_{TEAM_MODEL}").fetchall()[0][0] > 0


# --- views for every model ------------------------------------------------------------------------

def test_an_added_model_gets_latest_and_published_views(project: dict[str, Path]) -> None:
    with duckdb.connect(str(project["db"]), read_only=True) as con:
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        for view in (f"latest_{TEAM_MODEL}", f"published_{TEAM_MODEL}", "latest_job_expansion", "latest_master_plan",
                     "published_job_expansion", "published_master_plan"):
            assert view in views, sorted(views)
        latest = con.execute(f"SELECT * FROM latest_{TEAM_MODEL} ORDER BY target").fetchall()
        assert latest and all(n > 0 for _, n in latest)
        assert con.execute(f"SELECT count(*) FROM published_{TEAM_MODEL}").fetchone()[0] == len(latest)


# --- comments and semicolons cannot change a model's meaning -------------------------------------

ODD_MODELS = {
    "ends_in_line_comment": "SELECT target, count(*) AS n\nFROM {{ ref('routing_decisions') }}\nGROUP BY target\n"
                            "-- a closing remark",
    "ends_in_semicolon": "SELECT target, count(*) AS n FROM {{ ref('routing_decisions') }} GROUP BY target;\n",
    "semicolon_then_comment": "SELECT target, count(*) AS n FROM {{ ref('routing_decisions') }} GROUP BY target; "
                              "-- done\n-- really\n",
    "block_comments": "/* header */ SELECT target, /* inline */ count(*) AS n\n"
                      "FROM {{ ref('routing_decisions') }} GROUP BY target /* tail */",
}


def test_models_build_whatever_their_comments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "p"
    assert run_cli(["init", root]).code == 0
    for name, sql in ODD_MODELS.items():
        (root / "sql" / f"{name}.sql").write_text(sql, encoding="utf-8")
        case = {"model": name, "cases": {"counts": {
            "given": {"routing_decisions": {"columns": ["target", "symbol"], "rows": [["t", "A"], ["t", "B"]]}},
            "expect": [{"target": "t", "n": 2}]}}}
        (root / "tests" / "sql" / f"{name}.yaml").write_text(yaml.safe_dump(case), encoding="utf-8")
    monkeypatch.chdir(root)
    compiled = run_cli(["compile", *ODD_MODELS])
    assert compiled.code == 0, compiled
    tested = run_cli(["test", "-q", "--select", ",".join(ODD_MODELS)])
    assert tested.code == 0 and f"{len(ODD_MODELS)} passed, 0 failed" in tested.out, tested
    db = tmp_path / "wh.duckdb"
    planned = run_cli(["plan", "--metrics", EXAMPLE, "--db", db, "--out", tmp_path / "out", *PLAN_FLAGS])
    assert planned.code == 0, planned
    with duckdb.connect(str(db), read_only=True) as con:
        counts = {name: con.execute(f"SELECT sum(n) FROM latest_{name}").fetchone()[0] for name in ODD_MODELS}
    assert len(set(counts.values())) == 1 and None not in counts.values(), counts


# --- model selection and names --------------------------------------------------------------------

def test_test_select_a_model_and_its_downstream(project: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project["root"])
    only = run_cli(["test", "--select", TEAM_MODEL])
    assert only.code == 0 and " 0 failed" in only.out, only
    assert {line.split()[1].split("::")[0] for line in only.out.splitlines() if line.startswith("PASS")} == \
        {f"tests/sql/{TEAM_MODEL}.yaml"}
    down = run_cli(["test", "--select", "training_jobs+"])
    assert down.code in (0, 1), down
    ids = {line.split()[1].split("::")[0] for line in down.out.splitlines() if line.startswith(("PASS", "FAIL"))}
    assert {"tests/sql/training_jobs.yaml", "tests/sql/plan_summary.yaml", "tests/sql/master_plan.yaml"} <= ids, ids
    assert not ids & {"tests/sql/routing_decisions.yaml", f"tests/sql/{TEAM_MODEL}.yaml"}, ids
    up = run_cli(["test", "--select", f"+{TEAM_MODEL}"])
    ids = {line.split()[1].split("::")[0] for line in up.out.splitlines() if line.startswith(("PASS", "FAIL"))}
    assert {"tests/sql/routing_decisions.yaml", f"tests/sql/{TEAM_MODEL}.yaml"} <= ids, ids
    assert "tests/sql/training_jobs.yaml" not in ids
    typo = run_cli(["test", "--select", "routing_decision+"])
    assert typo.code == 2 and "did you mean routing_decisions" in typo.err, typo


@pytest.mark.parametrize("argv, words", [
    (["compile", "routing_decision"], ["routing_decision", "did you mean routing_decisions?"]),
    (["compile", "plan_summary", "cs_decison"], ["cs_decison", "did you mean cs_decisions?"]),
    (["lineage", "routing_decision.route"], ["did you mean routing_decisions?"]),
    (["lineage", "routing_decisions.rout"], ["rout", "did you mean route?"]),
])
def test_unknown_names_suggest_the_nearest(argv: list[str], words: list[str]) -> None:
    result = run_cli(argv)
    assert result.code == 2, result
    for word in words:
        assert word in result.err, result.err


def test_compile_several_models(project: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project["root"])
    result = run_cli(["compile", "plan_summary", TEAM_MODEL])
    assert result.code == 0, result
    assert [line for line in result.out.splitlines() if line.startswith("-- model: ")] == \
        ["-- model: plan_summary", f"-- model: {TEAM_MODEL}"]
    downstream = run_cli(["compile", "routing_decisions+", "--dialect", "spark"])
    assert downstream.code == 0 and f"-- model: {TEAM_MODEL}" in downstream.out, downstream
