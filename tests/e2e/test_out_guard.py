"""Commands with an --out never write over the warehouse, into a published plan, or over a file
foxwarehouse did not write."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from helpers import run_cli

ROWS = [
    {"target": "T1", "symbol": None, "score": 0.80, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T2", "symbol": None, "score": 0.20, "sample_size": 10_000, "stability": "STABLE"},
]


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers import plan_in

    root = tmp_path_factory.mktemp("outguard")
    plan_in(root, ROWS, out="METRICS")
    return root


def _runs(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        con.close()


def _refused(result, name: str) -> None:
    assert result.code == 2, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], result


@pytest.mark.parametrize("command", ["report", "docs"])
def test_out_over_the_warehouse_is_refused(planned: Path, command: str) -> None:
    db = planned / "warehouse.duckdb"
    before = db.read_bytes()
    result = run_cli([command, "--db", db, "--out", db])
    _refused(result, str(db))
    assert db.read_bytes() == before and _runs(db) == 1


def test_out_over_the_warehouse_through_another_path_is_refused(planned: Path, tmp_path: Path) -> None:
    db = planned / "warehouse.duckdb"
    link = tmp_path / "alias.duckdb"
    link.symlink_to(db)
    before = db.read_bytes()
    _refused(run_cli(["report", "--db", db, "--out", link]), "alias.duckdb")
    relative_twin = planned / "sub" / ".." / "warehouse.duckdb"
    (planned / "sub").mkdir(exist_ok=True)
    _refused(run_cli(["report", "--db", db, "--out", relative_twin]), "warehouse.duckdb")
    assert db.read_bytes() == before


@pytest.mark.parametrize("command", ["report", "docs"])
def test_out_over_any_duckdb_file_is_refused(planned: Path, tmp_path: Path, command: str) -> None:
    other = tmp_path / "other.duckdb"
    shutil.copy(planned / "warehouse.duckdb", other)
    before = other.read_bytes()
    result = run_cli([command, "--db", planned / "warehouse.duckdb", "--out", other])
    _refused(result, "other.duckdb")
    assert other.read_bytes() == before


@pytest.mark.parametrize("command", ["report", "docs"])
def test_out_into_the_published_plan_is_refused(planned: Path, command: str) -> None:
    master = planned / "METRICS" / "training_plan" / "master_training_plan.json"
    before = master.read_bytes()
    result = run_cli([command, "--db", planned / "warehouse.duckdb", "--out", master])
    _refused(result, "master_training_plan.json")
    assert master.read_bytes() == before
    new_file = planned / "METRICS" / "training_plan" / "report.html"
    _refused(run_cli([command, "--db", planned / "warehouse.duckdb", "--out", new_file]), "report.html")
    assert not new_file.exists()


def test_out_into_a_folder_with_a_manifest_or_the_hidden_state_is_refused(planned: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shipped" / "training_plan"
    folder.mkdir(parents=True)
    (folder / ".foxwarehouse-manifest.json").write_text('{"files": {}}', encoding="utf-8")
    for out in (folder / "report.html", folder / "deeper" / "report.html",
                tmp_path / "shipped" / ".foxwarehouse" / "report.html"):
        _refused(run_cli(["report", "--db", planned / "warehouse.duckdb", "--out", out]), "report.html")
        assert not out.exists()


@pytest.mark.parametrize("command, name", [("report", "notes.html"), ("docs", "README.md")])
def test_out_over_a_foreign_file_is_refused_but_an_empty_or_own_file_is_replaced(
        planned: Path, tmp_path: Path, command: str, name: str) -> None:
    db = planned / "warehouse.duckdb"
    foreign = tmp_path / name
    foreign.write_text("my own notes\n", encoding="utf-8")
    _refused(run_cli([command, "--db", db, "--out", foreign]), name)
    assert foreign.read_text(encoding="utf-8") == "my own notes\n"

    empty = tmp_path / ("empty-" + name)
    empty.write_bytes(b"")
    assert run_cli([command, "--db", db, "--out", empty]).code == 0
    first = empty.read_text(encoding="utf-8")
    assert "foxwarehouse" in first.splitlines()[0] or 'name="generator"' in first
    # our own output may be written again
    again = run_cli([command, "--db", db, "--out", empty])
    assert again.code == 0, again
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_out_that_is_a_folder_is_refused(planned: Path, tmp_path: Path) -> None:
    _refused(run_cli(["report", "--db", planned / "warehouse.duckdb", "--out", tmp_path]), str(tmp_path))
