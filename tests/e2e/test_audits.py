"""Post-build audits (foxwarehouse.build.audits, `audits:` in sql/models.yml): declared checks, their failing rows,
and what a failing audit does to a real build: exit 2, the run marked failed, the export kept."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

import foxwarehouse
from foxwarehouse.build.audits import Audit, check_audits, load_audits
from foxwarehouse.cli import main
from foxwarehouse.errors import AuditError, ModelError
from foxwarehouse.project import init_project, load_project, packaged_project
from foxwarehouse.render import quote_identifier

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "routing_candidates" / "routing_candidates.parquet"


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file an export shows under `folder` (its folders may be links to a staged copy)."""
    files = {}
    for base, _, names in os.walk(folder, followlinks=True):
        for name in names:
            path = Path(base) / name
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files


def broken_project(tmp_path: Path) -> Path:
    """A team project whose job rules emit an unknown training type for symbol jobs."""
    project = tmp_path / "team"
    init_project(project)
    path = project / "macros" / "rules.sql"  # the job rule table
    text = path.read_text(encoding="utf-8")
    assert text.count("'outcome': 'symbol_specific'") == 3  # the BOTH, SYMBOL and EXPERIMENTAL job rules
    path.write_text(text.replace("'outcome': 'symbol_specific'", "'outcome': 'symbol'"), encoding="utf-8")
    return project


# --- in a real build ------------------------------------------------------------------------

def test_failing_audit_stops_plan_with_exit_2_and_keeps_the_previous_export(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, out = tmp_path / "w.duckdb", tmp_path / "out"
    code, _, err = cli(capsys, "plan", "--metrics", EXAMPLE, "--db", db, "--out", out)
    assert code == 0, err
    before = snapshot(out)
    assert "training_plan/master_training_plan.json" in before

    project = broken_project(tmp_path)
    code, _, err = cli(capsys, "--project-dir", project, "plan", "--metrics", EXAMPLE, "--db", db, "--out", out)
    assert code == 2
    assert "Traceback" not in err
    assert "error: audit accepted_training_types on training_jobs failed: 49 rows:\n  (job_id=" in err
    assert "training_type='symbol'" in err
    shown = err.split("accepted_training_types on training_jobs failed")[1]
    assert shown.count("(job_id=") == 5 and "\n  ... and 44 more" in shown
    assert snapshot(out) == before                              # the previous export stays, byte for byte

    with duckdb.connect(str(db), read_only=True) as con:
        status, error = con.execute("SELECT status, error FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
        built = con.execute("SELECT count(*) FROM runs WHERE status IN ('built', 'exported')").fetchone()[0]
        jobs_of_failed = con.execute(
            "SELECT count(*) FROM training_jobs WHERE run_id = (SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1)"
        ).fetchone()[0]
    assert status == "failed" and "accepted_training_types" in error
    assert built == 1
    assert jobs_of_failed == 0                                   # the build was rolled back


def test_failing_audit_in_the_build_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "w.duckdb"
    assert cli(capsys, "ingest", EXAMPLE, "--db", db)[0] == 0
    code, _, err = cli(capsys, "--project-dir", broken_project(tmp_path), "build", "--db", db)
    assert code == 2 and "error: audit accepted_training_types on training_jobs failed" in err


def test_failing_audit_raises_from_the_library_even_non_blocking(tmp_path: Path) -> None:
    with pytest.raises(AuditError) as exc:
        foxwarehouse.plan(EXAMPLE, db=tmp_path / "w.duckdb", out=tmp_path / "out",
                          project_dir=broken_project(tmp_path), non_blocking=True)
    assert exc.value.exit_code == 2
    assert not (tmp_path / "out" / "training_plan" / "master_training_plan.json").exists()


def test_packaged_audits_pass_on_the_example_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "plan", "--metrics", ROOT / "examples" / "raw_metrics",
                       "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out", "--include-blocked")
    assert code == 0, err


def test_packaged_audits_cover_the_contract() -> None:
    audits = {a.name: a for a in load_audits(packaged_project())}
    kinds = {(a.model, a.check, tuple(a.spec) if a.check in ("unique", "not_null") else None) for a in audits.values()}
    assert ("training_jobs", "unique", ("job_id",)) in kinds
    assert any(a.model == "training_jobs" and a.check == "not_null" and "job_id" in a.spec for a in audits.values())
    accepted = {c for a in audits.values() if a.check == "accepted_values" for c in a.spec["columns"]}
    assert {"route", "training_type", "cs_state", "local_state", "signal_state"} <= accepted
    assert any(a.check == "relationships" and a.spec["to"] == "routing_decisions" for a in audits.values())
    assert "summary_counts_match_jobs" in audits


# --- the checks on their own ----------------------------------------------------------------

@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("""CREATE TABLE jobs AS SELECT * FROM (VALUES
        ('a', 't', NULL, 'X'), ('a', 't', 's1', 'Y'), ('b', NULL, 's2', NULL), ('c', 't', 's3', 'Z'),
        ('d', 't', 's4', 'X')) v(job_id, target, symbol, route)""")
    con.execute("""CREATE TABLE decisions AS SELECT * FROM (VALUES
        ('t', NULL, 'X'), ('t', 's1', 'Y'), ('t', 's3', 'X')) v(target, symbol, route)""")
    return con


def run(con: duckdb.DuckDBPyConnection, *audits: Audit) -> dict[str, object]:
    return {f.audit.name: f for f in check_audits(con, list(audits), lambda kind, name: quote_identifier(name))}


def test_generic_checks(con: duckdb.DuckDBPyConnection) -> None:
    failures = run(
        con,
        Audit("uniq", "jobs", "unique", ["job_id"]),
        Audit("uniq_pair", "jobs", "unique", ["target", "symbol"]),
        Audit("nn", "jobs", "not_null", ["target", "route"]),
        Audit("acc", "jobs", "accepted_values", {"columns": ["route"], "values": ["X", "Y"], "allow_null": False}),
        Audit("acc_null_ok", "jobs", "accepted_values", {"columns": ["route"], "values": ["X", "Y", "Z"], "allow_null": True}),
        Audit("rel", "jobs", "relationships", {"to": "decisions", "pairs": [("target", "target"), ("symbol", "symbol")], "to_where": None}),
        Audit("rel_where", "jobs", "relationships", {"to": "decisions", "pairs": [("target", "target"), ("symbol", "symbol"), ("route", "route")],
                                                    "to_where": None}, where="symbol IN ('s1', 's3')"),
    )
    assert set(failures) == {"uniq", "nn", "acc", "rel", "rel_where"}
    assert failures["uniq"].count == 1 and failures["uniq"].rows == [{"job_id": "a", "n": 2}]
    assert failures["nn"].count == 1 and failures["nn"].rows[0]["job_id"] == "b"
    assert failures["acc"].count == 2                                   # 'Z' and NULL (NULL fails)
    assert {r["route"] for r in failures["acc"].rows} == {"Z", None}
    assert [r["job_id"] for r in failures["rel"].rows] == ["b", "d"]    # NULL symbol matches NULL
    assert [r["job_id"] for r in failures["rel_where"].rows] == ["c"]   # s3 has route X, not Z
    assert failures["uniq"].message() == "audit uniq on jobs failed: 1 row:\n  (job_id='a', n=2)"


def test_sql_audit_and_the_five_row_limit(con: duckdb.DuckDBPyConnection) -> None:
    from foxwarehouse.render import Renderer

    con.execute("CREATE TABLE many AS SELECT i AS job_id FROM range(12) r(i)")
    audit = Audit("big", "many", "sql", "SELECT job_id FROM {{ ref('many') }} WHERE job_id >= 2", path=Path("audits.yml"))
    failures = check_audits(con, [audit], lambda kind, name: quote_identifier(name), Renderer(packaged_project(), {}))
    message = failures[0].message()
    assert message.startswith("audit big on many failed: 10 rows:\n  (job_id=")
    assert message.count("(job_id=") == 5 and message.endswith("\n  ... and 5 more")


def test_unknown_column_is_a_model_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ModelError, match="audit nn: 'trget' is not a column of jobs"):
        run(con, Audit("nn", "jobs", "not_null", ["trget"]))


@pytest.mark.parametrize("text,message", [
    ("audits:\n  - {name: a, model: nope, unique: [x]}\n", "model 'nope' is not a model"),
    ("audits:\n  - {name: a, model: training_jobs}\n", "give exactly one of"),
    ("audits:\n  - {name: a, model: training_jobs, uniqe: [job_id]}\n", "unknown key 'uniqe'"),
    ("audits:\n  - {name: a, model: training_jobs, unique: [job_id]}\n  - {name: a, model: training_jobs, unique: [job_id]}\n",
     "the name is used twice"),
    ("audits: {}\n", "expected a mapping with an 'audits' list"),
])
def test_malformed_audit_files(tmp_path: Path, text: str, message: str) -> None:
    project = tmp_path / "team"
    init_project(project)
    (project / "sql" / "audits.yml").write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match=message):
        load_audits(load_project(project))
