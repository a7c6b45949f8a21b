"""Each small helper has one home: one atomic file writer, one chunk size, one text formatter, and a
model's metadata (storage, audits) in its entry of sql/models.yml."""
from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import duckdb
import pytest
import yaml

from foxwarehouse.analyst.session import trace_relation
from foxwarehouse.atomic import atomic_stream, write_json_atomic, write_text_atomic
from foxwarehouse.build.audits import load_audits
from foxwarehouse.models import model_meta
from foxwarehouse.pipeline import plan
from foxwarehouse.project import init_project, load_project
from helpers import EXAMPLES

PACKAGE = Path(__file__).resolve().parents[2] / "foxwarehouse"
DEMO = EXAMPLES / "routing_candidates" / "routing_candidates.parquet"

# os.rename calls that move whole folders (publishing a staged folder, keeping a superseded one
# aside) or a user's own file into the folder it belongs to: moves, not writes, so they stay in
# export/publish.py. Everything that writes a file goes through foxwarehouse/atomic.py.
FOLDER_MOVES = {("export/publish", "_publish_folder"), ("export/publish", "_clear_superseded"),
                ("export/publish", "_keep"), ("export/publish", "_clear_staging")}


def _calls(module: str) -> list[tuple[str, str, ast.Call]]:
    """(enclosing function, dotted callee, call) for every call in a package module."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    out: list[tuple[str, str, ast.Call]] = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Call):
                out.append((func, ast.unparse(child.func), child))
            visit(child, name)

    visit(tree, "")
    return out


def _modules() -> list[str]:
    """Package modules as paths below foxwarehouse/ without ".py" ("engine", "export/publish", ...)."""
    return sorted(p.relative_to(PACKAGE).with_suffix("").as_posix() for p in PACKAGE.rglob("*.py"))


def test_one_atomic_writer() -> None:
    offenders = []
    for module in _modules():
        if module == "atomic":
            continue
        for func, callee, call in _calls(module):
            if callee in ("os.replace", "tempfile.mkstemp", "tempfile.NamedTemporaryFile", "shutil.copyfile"):
                offenders.append(f"{module}.{func}: {callee}")
            elif callee == "os.rename" and (module, func) not in FOLDER_MOVES:
                offenders.append(f"{module}.{func}: {callee}")
            elif callee == "open" and len(call.args) > 1 and isinstance(call.args[1], ast.Constant) \
                    and "w" in str(call.args[1].value):
                offenders.append(f"{module}.{func}: open(..., {call.args[1].value!r})")
            elif callee.endswith((".write_text", ".write_bytes")) and module not in ("sqltest/suite",):
                offenders.append(f"{module}.{func}: {callee}")
    assert not offenders, "write files through foxwarehouse/atomic.py: " + "; ".join(offenders)


def test_one_chunk_size() -> None:
    defined = []
    for module in _modules():
        tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == "CHUNK_ROWS" for t in targets):
                defined.append(module)
    assert defined == ["engine"]


def test_one_markdown_escaper_and_text_table() -> None:
    # The pipe escape and the column padding of a text table are written once, in formatting.py.
    escaping = [m for m in _modules() if m != "formatting"
                and '"|", "\\\\|"' in (PACKAGE / f"{m}.py").read_text(encoding="utf-8")]
    padding = [m for m in _modules() if m != "formatting"
               and ".ljust(" in (PACKAGE / f"{m}.py").read_text(encoding="utf-8")]
    assert escaping == [] and padding == []


def test_atomic_writers(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.json"
    write_json_atomic(path, {"b": 1, "a": "é"}, sort_keys=True, ensure_ascii=False)
    assert path.read_text(encoding="utf-8") == '{\n  "a": "é",\n  "b": 1\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    write_text_atomic(path, "new\n")
    with pytest.raises(RuntimeError):
        with atomic_stream(path) as fh:
            fh.write("partial")
            raise RuntimeError("stop")
    assert path.read_text(encoding="utf-8") == "new\n"
    assert sorted(os.listdir(path.parent)) == ["a.json"]   # the temp file went with the failure


def _team_project(tmp_path: Path) -> Path:
    root = tmp_path / "team"
    init_project(root)
    (root / "sql" / "route_counts.sql").write_text(
        "SELECT target, route, count(*) AS pairs FROM {{ ref('routing_decisions') }} GROUP BY ALL\n",
        encoding="utf-8")
    docs_path = root / "sql" / "models.yml"
    docs = yaml.safe_load(docs_path.read_text(encoding="utf-8"))
    docs["models"]["route_counts"] = {
        "description": "Pairs per target and route.", "materialized": "view",
        "columns": {"target": "The target.", "route": "The route.", "pairs": "Pairs."}}
    docs["models"]["routing_decisions"]["audits"].append(
        {"name": "team_pairs_have_a_route", "not_null": ["route"], "where": "target IS NOT NULL"})
    docs_path.write_text(yaml.safe_dump(docs, sort_keys=False), encoding="utf-8")
    return root


def test_a_team_models_yml_marks_a_view_that_is_computed_on_read(tmp_path: Path) -> None:
    root = _team_project(tmp_path)
    project = load_project(root)
    assert model_meta(project)["route_counts"].materialized == "view"
    assert "team_pairs_have_a_route" in {a.name for a in load_audits(project)}
    assert not (root / "sql" / "audits.yml").exists(), "init no longer writes a separate audits file"
    db = tmp_path / "wh.duckdb"
    result = plan(DEMO, db=db, out=tmp_path / "out", project_dir=root)
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "route_counts" not in tables and "routing_decisions" in tables
        rows = trace_relation(con, result.run_id, project=project, model="route_counts").fetchall()
        stored = con.execute("SELECT count(*) FROM routing_decisions WHERE run_id = ?", [result.run_id]).fetchone()[0]
        assert rows and sum(r[2] for r in rows) == stored
    finally:
        con.close()


def test_an_older_project_keeps_its_header_comment_and_audits_file(tmp_path: Path) -> None:
    root = tmp_path / "old"
    init_project(root)
    # What an older `init` wrote: the view marked in the SQL, the audits in their own file.
    (root / "sql" / "old_counts.sql").write_text(
        "-- materialized: view\nSELECT target, count(*) AS n FROM {{ ref('routing_decisions') }} GROUP BY ALL\n",
        encoding="utf-8")
    (root / "sql" / "audits.yml").write_text(yaml.safe_dump({"audits": [
        {"name": "old_style", "model": "routing_decisions", "sql": "SELECT 1 WHERE FALSE"}]}), encoding="utf-8")
    assert "old_style" in {a.name for a in load_audits(load_project(root))}
    db = tmp_path / "wh.duckdb"
    plan(DEMO, db=db, out=tmp_path / "out", project_dir=root)
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()
    assert "old_counts" not in tables


def test_an_audit_under_a_model_names_that_model(tmp_path: Path) -> None:
    from foxwarehouse.errors import ModelError

    root = tmp_path / "team"
    init_project(root)
    docs_path = root / "sql" / "models.yml"
    docs = yaml.safe_load(docs_path.read_text(encoding="utf-8"))
    docs["models"]["cs_decisions"]["audits"].append({"name": "x", "model": "training_jobs", "unique": ["job_id"]})
    docs_path.write_text(yaml.safe_dump(docs, sort_keys=False), encoding="utf-8")
    with pytest.raises(ModelError, match="sits under cs_decisions"):
        load_audits(load_project(root))
