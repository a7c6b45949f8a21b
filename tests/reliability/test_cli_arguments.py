"""Command arguments at their edges: empty, blank, huge and malformed values, and plan files of the
wrong shape given to `diff` and `validate`.

Every case runs on a workspace that already holds a good run and its export. Each either works (a
check of what it printed) or stops with exit 2 and one readable line (no traceback), and leaves the
earlier runs and the export folder exactly as they were.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import CliResult, run_cli, tree_bytes
from reliability_helpers import assert_runs_intact, copy_workspace, one_exported_run, one_line_error, warehouse_snapshot
from reliability_log import record

from foxwarehouse.consumer import load_plan
from foxwarehouse.errors import PlanError

SUITE = "cli_arguments"
HUGE = "99999999999999999999"   # past every 64-bit integer DuckDB binds
DEEP = 100_000


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with one good run exported: the "earlier run" no argument may touch."""
    return one_exported_run(tmp_path_factory.mktemp("cli-arguments") / "ws")


class Guard:
    """Runs commands in the workspace and checks afterwards that nothing earlier changed."""

    def __init__(self, ws: Path):
        self.ws, self.db, self.out = ws, ws / "w.duckdb", ws / "out"
        self.master = self.out / "training_plan" / "master_training_plan.json"
        self.before_db = warehouse_snapshot(self.db)
        self.before_out = tree_bytes(self.out)

    def cli(self, *args: Any, db: bool = True) -> CliResult:
        return run_cli([*args, *(["--db", self.db] if db else [])])

    def intact(self) -> None:
        assert_runs_intact(self.before_db, warehouse_snapshot(self.db), allow_new=False)
        assert tree_bytes(self.out) == self.before_out, "the export folder changed"


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Guard:
    return Guard(copy_workspace(template, tmp_path / "ws"))


usage_error = one_line_error


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# --- explain: an empty SYMBOL ---------------------------------------------------------------------

@pytest.mark.parametrize("symbol", ["", "   ", "\t"], ids=["empty", "spaces", "tab"])
def test_explain_empty_symbol_is_a_usage_error(ws: Guard, symbol: str) -> None:
    message = usage_error(ws.cli("explain", "fwd_ret_15m", symbol), "SYMBOL", "omit SYMBOL", "cross-sectional")
    ws.intact()
    record(SUITE, f"explain T {symbol!r}", "exit 2", klass="empty argument", message=message)


def test_explain_without_symbol_still_explains_the_cs_decision(ws: Guard) -> None:
    result = ws.cli("explain", "fwd_ret_15m")
    assert result.code == 0, result
    assert "cross-sectional training: ENABLED" in result.out
    record(SUITE, "explain T (no symbol)", "accepted", klass="empty argument")


def test_empty_run_reference_is_a_usage_error(ws: Guard) -> None:
    for ref in ("", "  "):
        usage_error(ws.cli("explain", "fwd_ret_15m", "--run", ref), "empty run reference")
        usage_error(ws.cli("jobs", "--run", ref), "empty run reference")
    ws.intact()
    record(SUITE, "--run ''", "exit 2", klass="empty argument")


# --- diff / validate: plan files of the wrong shape -----------------------------------------------

def _meta_string(doc: dict) -> None:
    doc["metadata"] = "hello"


def _meta_list(doc: dict) -> None:
    doc["metadata"] = [1, 2]


def _jobs_object(doc: dict) -> None:
    doc["jobs"] = {"a": 1}


def _job_not_object(doc: dict) -> None:
    doc["jobs"][0] = 1


def _job_priority_text(doc: dict) -> None:
    doc["jobs"][0]["priority"] = "high"


def _families_text(doc: dict) -> None:
    doc["jobs"][0]["model_families"] = "lightgbm"


def _no_metadata(doc: dict) -> None:
    del doc["metadata"]


SHAPES = {
    "metadata is a string": (_meta_string, "metadata"),
    "metadata is a list": (_meta_list, "metadata"),
    "jobs is an object": (_jobs_object, "jobs"),
    "a job is a number": (_job_not_object, "jobs[0]"),
    "a priority is text": (_job_priority_text, "jobs[0].priority"),
    "model_families is text": (_families_text, "jobs[0].model_families"),
    "no metadata": (_no_metadata, "metadata"),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_diff_refuses_a_plan_file_of_the_wrong_shape(ws: Guard, case: str) -> None:
    change, where = SHAPES[case]
    doc = json.loads(ws.master.read_text(encoding="utf-8"))
    change(doc)
    bad = write_json(ws.ws / "bad.json", doc)
    for args in (("diff", bad, "latest"), ("diff", "latest", bad)):
        usage_error(ws.cli(*args), str(bad), where)
    message = usage_error(ws.cli("validate", bad, db=False), str(bad), where)
    with pytest.raises(PlanError):
        load_plan(bad)
    ws.intact()
    record(SUITE, f"diff: {case}", "exit 2", klass="plan file of the wrong shape", message=message)


@pytest.mark.parametrize("doc", ["[1, 2]", '"a plan"', "42", "null"], ids=["list", "string", "number", "null"])
def test_diff_refuses_a_plan_file_that_is_not_an_object(ws: Guard, doc: str) -> None:
    bad = ws.ws / "scalar.json"
    bad.write_text(doc, encoding="utf-8")
    message = usage_error(ws.cli("diff", bad, "latest"), str(bad))
    usage_error(ws.cli("validate", bad, db=False), str(bad))
    ws.intact()
    record(SUITE, f"diff: top level {doc}", "exit 2", klass="plan file of the wrong shape", message=message)


def test_diff_of_a_hand_edited_plan_with_a_repeated_job_still_warns(ws: Guard) -> None:
    """Shape is checked, not the plan's consistency: a repeated job_id stays a documented warning."""
    doc = json.loads(ws.master.read_text(encoding="utf-8"))
    doc["jobs"].append(dict(doc["jobs"][0]))
    path = write_json(ws.ws / "dup.json", doc)
    result = ws.cli("diff", "latest", path, "--format", "json")
    assert result.code == 0, result
    assert any("job_id is not unique" in w for w in json.loads(result.out)["warnings"])
    record(SUITE, "diff: repeated job_id", "accepted", klass="plan file of the wrong shape")


def _deep_files(folder: Path) -> dict[str, Path]:
    master_like = '{"metadata": {"schema_version": "1.0"}, "jobs": [{"job_id": "x", "metadata": '
    files = {
        "list": "[" * DEEP + "]" * DEEP,
        "object": '{"a":' * DEEP + "1" + "}" * DEEP,
        "jobs": '{"metadata": {}, "jobs": ' + "[" * DEEP + "]" * DEEP + "}",
        "job metadata": master_like + "[" * DEEP + "]" * DEEP + "}]}",
        # shallow enough for Python's parser, deep enough for a recursive validator or printer
        "job metadata 900": master_like + "[" * 900 + "]" * 900 + "}]}",
    }
    out = {}
    for name, text in files.items():
        path = folder / f"deep_{name.replace(' ', '_')}.json"
        path.write_text(text, encoding="utf-8")
        out[name] = path
    return out


def test_deeply_nested_plan_files_are_refused_with_one_line(ws: Guard) -> None:
    for name, path in _deep_files(ws.ws).items():
        for args in (("diff", path, "latest"), ("diff", "latest", path)):
            usage_error(ws.cli(*args), str(path))
        message = usage_error(ws.cli("validate", path, db=False), str(path))
        with pytest.raises(PlanError):
            load_plan(path)
        record(SUITE, f"nested {name}", "exit 2", klass="deeply nested plan file", message=message[:300])
    ws.intact()


# --- validate: the same paths load_plan and diff accept -------------------------------------------

def test_validate_accepts_the_paths_load_plan_and_diff_accept(ws: Guard) -> None:
    master = ws.master.resolve()
    for path in (ws.out, ws.out / "training_plan", ws.master):
        result = ws.cli("validate", path, db=False)
        assert result.code == 0, result
        assert result.out.startswith(f"{master}: valid") or result.out.startswith(f"{ws.master}: valid"), result
        assert load_plan(path).path == ws.master or load_plan(path).path.resolve() == master
        assert ws.cli("diff", path, "latest", "--exit-code").code == 0
        record(SUITE, f"validate {path.relative_to(ws.ws)}", "accepted", klass="validate paths")
    ws.intact()


def test_validate_of_a_mirror_only_folder_says_which_file_it_checked(ws: Guard) -> None:
    folder = ws.ws / "mirror_only"
    folder.mkdir()
    shutil.copyfile(ws.out / "training_plan" / "training_plan.json", folder / "training_plan.json")
    result = ws.cli("validate", folder, db=False)
    assert result.code == 0, result
    assert str(folder / "training_plan.json") in result.out and "mirror" in result.out
    record(SUITE, "validate a mirror-only folder", "accepted", klass="validate paths")


def test_validate_of_missing_empty_and_dangling_paths(ws: Guard) -> None:
    empty = ws.ws / "empty"
    empty.mkdir()
    dangling = ws.ws / "dangling.json"
    dangling.symlink_to(ws.ws / "nowhere.json")
    usage_error(ws.cli("validate", ws.ws / "missing.json", db=False), "missing.json", "no such file")
    usage_error(ws.cli("validate", empty, db=False), str(empty), "master_training_plan.json")
    usage_error(ws.cli("validate", dangling, db=False), str(dangling), "link")
    record(SUITE, "validate missing / empty / dangling", "exit 2", klass="validate paths")


def test_validate_prints_several_problems_on_one_line(ws: Guard) -> None:
    doc = json.loads(ws.master.read_text(encoding="utf-8"))
    doc["jobs"][0]["priority"] = "high"
    doc["jobs"][1]["route"] = 7
    bad = write_json(ws.ws / "two.json", doc)
    usage_error(ws.cli("validate", bad, db=False), "jobs[0].priority", "jobs[1].route")
    record(SUITE, "validate: two problems", "exit 2", klass="plan file of the wrong shape")


# --- query: no statement, --limit ------------------------------------------------------------------

@pytest.mark.parametrize("sql", ["-- comment", "", ";", "  \n ", "/* only a comment */", ";;"],
                         ids=["comment", "empty", "semicolon", "blank", "block-comment", "semicolons"])
def test_query_without_a_statement_is_exit_2(ws: Guard, sql: str) -> None:
    message = usage_error(ws.cli("query", sql), "no SQL statement")
    ws.intact()
    record(SUITE, f"query {sql!r}", "exit 2", klass="empty argument", message=message)


def test_query_limit_bounds(ws: Guard) -> None:
    message = usage_error(ws.cli("query", "SELECT 1 AS x", "--limit", "-1"), "--limit", ">= 0", "-1")
    record(SUITE, "query --limit -1", "exit 2", klass="integer out of range", message=message)
    result = ws.cli("query", "SELECT * FROM range(3)", "--limit", HUGE, "--format", "csv")
    assert result.code == 0 and result.out.split() == ["range", "0", "1", "2"], result
    record(SUITE, "query --limit HUGE", "accepted", klass="integer out of range")
    result = ws.cli("query", "SELECT * FROM range(3)", "--limit", "0", "--format", "csv")
    assert result.code == 0 and result.out.split() == ["range"], result
    record(SUITE, "query --limit 0", "accepted", klass="integer out of range")
    ws.intact()


def test_wait_must_be_a_finite_number_of_seconds(ws: Guard) -> None:
    """--wait nan / inf / -5 were accepted silently (inf or nan would wait forever or not at all)."""
    for value in ("nan", "inf", "-5", "soon"):
        result = ws.cli("runs", "--wait", value)
        assert result.code == 2 and "--wait" in result.err and "Traceback" not in result.err, result
        record(SUITE, f"--wait {value}", "exit 2", klass="number out of range")
    assert ws.cli("runs", "--wait", "0.5").code == 0
    ws.intact()


# --- run references and --keep past every integer ------------------------------------------------

def test_huge_run_references_are_unknown_runs(ws: Guard) -> None:
    for ref in (f"latest~{HUGE}", f"latest~{HUGE}{HUGE}", "latest~1"):
        for args in (("explain", "fwd_ret_15m", "--run", ref), ("jobs", "--run", ref), ("diff", ref, "latest"),
                     ("report", "--run", ref, "--out", ws.ws / "r.html")):
            usage_error(ws.cli(*args), repr(ref), "only 1")
        record(SUITE, f"run {ref[:30]}", "exit 2", klass="integer out of range")
    for ref in (HUGE, HUGE * 5, "9" * 1000):
        usage_error(ws.cli("explain", "fwd_ret_15m", "--run", ref), "unknown run")
        usage_error(ws.cli("diff", ref, "latest"), "unknown run")
    record(SUITE, "run prefix HUGE", "exit 2", klass="integer out of range")
    assert not (ws.ws / "r.html").exists()
    ws.intact()


def test_prune_keep_larger_than_the_runs_keeps_them_all(ws: Guard) -> None:
    for keep in (HUGE, "1000"):
        result = ws.cli("runs", "--prune", "--keep", keep)
        assert result.code == 0 and "removed 0 run(s)" in result.out, result
        ws.intact()
        record(SUITE, f"runs --prune --keep {keep}", "accepted", klass="integer out of range")
    for keep in ("0", "-1", "-" + HUGE):
        usage_error(ws.cli("runs", "--prune", "--keep", keep), "--keep", ">= 1")
    ws.intact()
    record(SUITE, "runs --prune --keep 0 / negative", "exit 2", klass="integer out of range")


def test_a_fifo_or_device_as_a_plan_file_is_refused_at_once(ws: Guard) -> None:
    """A FIFO nobody writes would block the read forever; /dev/zero never ends."""
    import os
    import signal

    fifo = ws.ws / "plan.fifo"
    os.mkfifo(fifo)

    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError("blocked on the FIFO")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(20)
    try:
        for path in (fifo, Path("/dev/zero")):
            usage_error(ws.cli("validate", path, db=False), str(path), "not a regular file")
            usage_error(ws.cli("diff", path, "latest"), str(path), "not a regular file")
            with pytest.raises(PlanError, match="not a regular file"):
                load_plan(path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    ws.intact()
    record(SUITE, "plan file: FIFO and /dev/zero", "exit 2", klass="plan file of the wrong shape")
