"""Model versions per run: each run records its models' rendered SQL and a fingerprint of
the sqlglot-normalised form; `runs` shows a models fingerprint; `diff` names the models changed
directly and downstream, with the normalised SQL change, in every output format."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import strict_json_load

from foxwarehouse.context import Context
from foxwarehouse.model_versions import (
    changed_models,
    model_versions,
    models_fingerprint,
    models_fingerprint_for,
    normalize_sql,
    project_git,
)
from foxwarehouse.project import load_project
from foxwarehouse.render import model_order

ROWS = [
    {"target": "T1", "symbol": None, "score": 0.80, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "MSFT", "score": 0.60, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T2", "symbol": None, "score": 0.20, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T2", "symbol": "AAPL", "score": 0.75, "sample_size": 5_000, "stability": "STABLE"},
]
EDITED = "routing_candidates"   # the model every test edits: its rows feed every rule downstream


def read_master_plan(out: Path) -> dict[str, Any]:
    return strict_json_load(Path(out) / "training_plan" / "master_training_plan.json")


def _downstream(project_dir: Path, model: str) -> list[str]:
    """The models that read `model`, directly or not (from the project's DAG)."""
    rendered = Context.load(project_dir=project_dir).renderer.render_all()
    model_order(rendered)
    readers = {model}
    changed = True
    while changed:
        changed = False
        for name, m in rendered.items():
            if name not in readers and readers & set(m.refs):
                readers.add(name)
                changed = True
    return sorted(readers - {model})


def _edit_semantics(project_dir: Path) -> None:
    """Halve every score the models see: a rule-relevant change of one model's meaning."""
    path = project_dir / "sql" / f"{EDITED}.sql"
    path.write_text("SELECT * REPLACE (score * 0.5 AS score) FROM (\n" + path.read_text(encoding="utf-8")
                    + "\n) AS edited\n", encoding="utf-8")


def _reformat(project_dir: Path) -> None:
    """The same model, reformatted: a header comment, comments at line ends, other whitespace."""
    path = project_dir / "sql" / f"{EDITED}.sql"
    text = path.read_text(encoding="utf-8")
    lines = [line.rstrip() + ("    -- reformatted" if line.strip().endswith(",") else "") for line in text.splitlines()]
    path.write_text("-- a comment a team added\n/* and a block comment */\n" + "\n\n".join(lines) + "\n  -- trailing\n",
                    encoding="utf-8")


@pytest.fixture
def project(fw) -> Path:
    """A project of one's own (`init`), without SQL unit tests (an edit here is not meant to pass them)."""
    root = fw.path("proj")
    result = fw.cli("init", root)
    assert result.code == 0, result
    shutil.rmtree(root / "tests", ignore_errors=True)
    return root


def _plan(fw, project: Path, out: str = "out", extra: tuple[str, ...] = ()) -> Any:
    metrics = fw.path("m.parquet")
    if not metrics.exists():
        fw.candidates(ROWS, name="m.parquet")
    config = fw.path("c.yaml")
    if not config.exists():
        fw.config(name="c.yaml")
    result = fw.cli("--project-dir", project, "plan", "--metrics", metrics, "--config", config, "--db", fw.db,
                    "--out", fw.path(out), *extra)
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return result


def _diff(fw, fmt: str, *refs: str) -> str:
    result = fw.cli("diff", *(refs or ("latest~1", "latest")), "--db", fw.db, "--format", fmt)
    assert result.code == 0, result
    return result.out


# --- the fingerprint ------------------------------------------------------------------------

def test_formatting_and_comments_do_not_change_a_fingerprint_a_semantic_change_does(fw, project: Path) -> None:
    before = model_versions(Context.load(project_dir=project).renderer.render_all())
    _reformat(project)
    reformatted = model_versions(Context.load(project_dir=project).renderer.render_all())
    assert reformatted[EDITED].sql != before[EDITED].sql                        # the text did change
    assert reformatted[EDITED].fingerprint == before[EDITED].fingerprint
    assert models_fingerprint(reformatted) == models_fingerprint(before)
    _edit_semantics(project)
    edited = model_versions(Context.load(project_dir=project).renderer.render_all())
    assert edited[EDITED].fingerprint != before[EDITED].fingerprint
    assert models_fingerprint(edited) != models_fingerprint(before)
    assert {n for n in edited if edited[n].fingerprint != before[n].fingerprint} == {EDITED}


def test_normalisation_ignores_case_whitespace_and_comments() -> None:
    a = "select a, b from t where x = 1 -- why\n"
    b = "SELECT\n  A,   b  /* the b */\nFROM T\nWHERE x=1"
    assert normalize_sql(a) == normalize_sql(b)
    assert normalize_sql(a) != normalize_sql("select a, b from t where x = 2")
    assert normalize_sql("select 'A' from t") != normalize_sql("select 'a' from t")   # literals keep their case


def test_changed_models_names_direct_and_downstream() -> None:
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": [], "e": ["d", "c"]}
    old = {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}
    assert changed_models(old, dict(old), deps) == ([], [])
    assert changed_models(old, {**old, "b": "x"}, deps) == (["b"], ["c", "e"])
    assert changed_models(old, {**old, "a": "x", "c": "y"}, deps) == (["a", "c"], ["b", "e"])
    assert changed_models(old, {k: v for k, v in old.items() if k != "d"}, deps) == (["d"], ["e"])


def test_the_packaged_models_fingerprint_is_stable() -> None:
    ctx = Context.load()
    assert models_fingerprint_for(ctx) == models_fingerprint_for(Context.load())
    assert re.fullmatch(r"[0-9a-f]{64}", models_fingerprint_for(ctx))


# --- runs, plans and diff -------------------------------------------------------------------

def test_a_sql_edit_is_named_by_diff_in_every_format(fw, project: Path) -> None:
    _plan(fw, project)
    _edit_semantics(project)
    _plan(fw, project)
    downstream = _downstream(project, EDITED)
    assert {"training_jobs", "master_plan"} <= set(downstream)

    text = _diff(fw, "text")
    line = next((ln for ln in text.splitlines() if ln.startswith("models")), None)
    assert line is not None, text
    assert line.startswith(f"models changed: {EDITED} (directly); ")
    assert line.endswith(" (downstream)")
    assert set(line.split("; ", 1)[1].removesuffix(" (downstream)").split(", ")) == set(downstream)
    assert re.search(r"^\s+\+.*score \* 0\.5", text, re.MULTILINE), text   # the normalised SQL change

    data = json.loads(_diff(fw, "json"))
    models = data["models"]
    assert (models["status"], models["available"], models["direct"]) == ("changed", True, [EDITED])
    assert set(models["downstream"]) == set(downstream)
    assert [c["model"] for c in models["changes"]] == [EDITED]
    assert any("score * 0.5" in ln and ln.startswith("+") for ln in models["changes"][0]["sql_diff"])
    assert data["a"]["models_fingerprint"] != data["b"]["models_fingerprint"]

    markdown = _diff(fw, "markdown")
    assert f"**Models changed:** {EDITED} (directly); " in markdown.replace("\\_", "_"), markdown
    assert "```diff" in markdown and "score * 0.5" in markdown

    # The runs record what changed: `runs` shows two models fingerprints, the plan metadata the new one.
    runs = fw.cli("runs", "--db", fw.db)
    assert runs.out.splitlines()[0].split()[:6] == ["run_id", "created_at", "status", "config", "models", "input"]
    shown = [ln.split()[5] for ln in runs.out.splitlines()[1:]]
    assert len(set(shown)) == 2, runs.out
    meta = read_master_plan(fw.path("out"))["metadata"]
    assert meta["models_fingerprint"][:8] == shown[-1]
    # rendered with the run's config: the fingerprint covers the models as that config renders them
    assert meta["models_fingerprint"] == models_fingerprint_for(Context.load(fw.path("c.yaml"), project_dir=project))
    con = duckdb.connect(str(fw.db), read_only=True)
    try:
        n_models = con.execute("SELECT count(DISTINCT model), count(DISTINCT run_id) FROM run_models").fetchone()
        stored = con.execute("SELECT sql FROM run_models r JOIN runs USING (run_id) WHERE model = ? "
                             "ORDER BY seq DESC LIMIT 1", [EDITED]).fetchone()[0]
    finally:
        con.close()
    assert n_models == (len(Context.load(project_dir=project).project.model_paths()), 2)
    assert "score * 0.5" in stored and "{{" not in stored    # the rendered SQL itself


def test_a_reformatted_model_is_not_a_change(fw, project: Path) -> None:
    _plan(fw, project)
    _reformat(project)
    # the same inputs, config and models: nothing to plan
    assert "no changes" in _plan(fw, project).out
    _plan(fw, project, extra=("--force",))
    text = _diff(fw, "text")
    assert "models: unchanged" in text, text
    assert json.loads(_diff(fw, "json"))["models"]["status"] == "unchanged"
    assert "**Models:** unchanged" in _diff(fw, "markdown")


def test_plan_files_compare_their_models_fingerprints(fw, project: Path) -> None:
    _plan(fw, project, out="one")
    _edit_semantics(project)
    _plan(fw, project, out="two")
    one = fw.path("one") / "training_plan" / "master_training_plan.json"
    two = fw.path("two") / "training_plan" / "master_training_plan.json"
    alone = fw.path("alone.duckdb")   # no warehouse: only the files' metadata

    def file_diff(a: Path, b: Path) -> dict[str, Any]:
        result = fw.cli("diff", a, b, "--db", alone, "--format", "json")
        assert result.code == 0, result
        return json.loads(result.out)["models"]

    assert file_diff(one, two)["status"] == "changed"
    assert file_diff(one, one)["status"] == "unchanged"
    text = fw.cli("diff", one, two, "--db", alone).out
    assert "models changed (models fingerprint" in text, text
    # An older plan file without the key: unknown, and it still loads.
    old = fw.path("old.json")
    doc = json.loads(one.read_text(encoding="utf-8"))
    del doc["metadata"]["models_fingerprint"], doc["metadata"]["git_dirty"]
    old.write_text(json.dumps(doc), encoding="utf-8")
    assert file_diff(old, two)["status"] == "unknown"
    assert fw.cli("validate", old).code == 0
    # With its run in the warehouse, a file side gets the per-model comparison.
    full = fw.cli("diff", one, two, "--db", fw.db, "--format", "json")
    assert json.loads(full.out)["models"]["direct"] == [EDITED], full


# --- the project's commit -------------------------------------------------------------------

def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t",
                           "-c", "commit.gpgsign=false", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_is_the_projects_commit_with_a_dirty_flag(fw, project: Path, monkeypatch) -> None:
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    outside = project_git(load_project(project))
    if outside.commit is not None:
        pytest.skip("the temp folder is inside a git work tree")
    assert (outside.commit, outside.dirty) == (None, None)
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "init")
    head = _git(project, "rev-parse", "HEAD")
    state = project_git(load_project(project))
    assert (state.commit, state.dirty, state.root) == (head, False, str(project.resolve()))
    # The current folder is not the project: the commit is still the project's.
    monkeypatch.chdir(fw.root)
    _plan(fw, project)
    meta = read_master_plan(fw.path("out"))["metadata"]
    assert (meta["git_commit"], meta["git_dirty"]) == (head, False)
    # An uncommitted edit of a model makes it dirty; a file outside sql/macros/config/tests does not.
    (project / "notes.txt").write_text("x", encoding="utf-8")
    assert project_git(load_project(project)).dirty is False
    _edit_semantics(project)
    assert project_git(load_project(project)).dirty is True
    _plan(fw, project)
    con = duckdb.connect(str(fw.db), read_only=True)
    try:
        row = con.execute("SELECT git_commit, project_commit, project_dirty, project_dir FROM runs "
                          "ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        con.close()
    assert row == (head, head, True, str(project.resolve()))
