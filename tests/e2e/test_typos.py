"""A typo in an option value or a test selection is exit 2 listing what is valid, never a silent
empty answer."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

import foxwarehouse
from foxwarehouse.errors import FoxError
from foxwarehouse.analyst.feed import stream_jobs
from helpers import plan_in, run_cli

ROWS = [
    {"target": "T1", "symbol": None, "score": 0.80, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T2", "symbol": None, "score": 0.20, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T2", "symbol": "AAPL", "score": 0.60, "sample_size": 5_000, "stability": "STABLE"},
]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("typos")
    plan_in(root, ROWS)
    return root / "warehouse.duckdb"


@pytest.mark.parametrize("option, value, valid", [
    ("--route", "BOTH", "ROUTE_BOTH"),
    ("--route", "ROUTE_BOHT", "ROUTE_SYMBOL_SPECIFIC"),
    ("--training-type", "cs", "cross_sectional"),
    ("--training-type", "symbol", "symbol_specific"),
])
def test_jobs_refuses_a_value_outside_the_vocabulary(db: Path, option: str, value: str, valid: str) -> None:
    result = run_cli(["jobs", "--db", db, option, value])
    assert result.code == 2, result
    assert result.out == "" and "Traceback" not in result.err
    assert value in result.err and valid in result.err


def test_jobs_accepts_the_vocabulary_in_any_case(db: Path) -> None:
    exact = run_cli(["jobs", "--db", db, "--route", "ROUTE_BOTH"])
    lower = run_cli(["jobs", "--db", db, "--route", "route_both"])
    assert exact.code == lower.code == 0 and exact.out == lower.out and exact.out.strip()
    typed = run_cli(["jobs", "--db", db, "--training-type", "Cross_Sectional"])
    assert typed.code == 0 and typed.out.strip()


def test_jobs_unknown_format_is_exit_2(db: Path) -> None:
    result = run_cli(["jobs", "--db", db, "--format", "xml"])
    assert result.code == 2 and "jsonl" in result.err


def test_a_target_or_symbol_that_matches_nothing_is_a_note_not_an_error(db: Path) -> None:
    result = run_cli(["jobs", "--db", db, "--target", "T9"])
    assert result.code == 0 and result.out == ""
    notes = result.err.strip().splitlines()
    assert len(notes) == 1 and "T9" in notes[0], result
    result = run_cli(["jobs", "--db", db, "--symbol", "ZZZZ"])
    assert result.code == 0 and "ZZZZ" in result.err
    ok = run_cli(["jobs", "--db", db, "--target", "T1"])
    assert ok.code == 0 and ok.err == "" and ok.out.strip()


def test_library_api_validates_the_same_vocabularies(db: Path) -> None:
    with foxwarehouse.open(db) as wh:
        with pytest.raises(FoxError, match="ROUTE_BOTH"):
            wh.decisions(route="BOTH")
        with pytest.raises(FoxError, match="ROUTE_BOTH"):
            wh.jobs(route="BOTH")
        with pytest.raises(FoxError, match="symbol_specific"):
            wh.jobs(training_type="symbol")
        assert wh.decisions(route="route_both").count("*").fetchall()[0][0] == \
            wh.decisions(route="ROUTE_BOTH").count("*").fetchall()[0][0] > 0
    with pytest.raises(FoxError, match="ROUTE_BOTH"):
        stream_jobs(db, io.StringIO(), route="BOTH")
    with pytest.raises(FoxError, match="cross_sectional"):
        stream_jobs(db, io.StringIO(), training_type="cs")


def test_test_selection_matching_no_case_is_exit_2(tmp_path: Path) -> None:
    result = run_cli(["test", "-k", "no_such_case_anywhere", "-q"])
    assert result.code == 2, result
    assert "no_such_case_anywhere" in result.err and "Traceback" not in result.err
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(["test", empty])
    assert result.code == 2 and str(empty) in result.err, result
    result = run_cli(["test", tmp_path / "missing.yaml"])
    assert result.code == 2 and "missing.yaml" in result.err, result
