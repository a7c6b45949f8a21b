"""Progress of `plan`: one line per stage with its time on stderr, live, and stdout unchanged.

Also the pieces behind it: foxwarehouse.progress (lines, --verbose steps, the terminal progress
line) and the machine cache of model work (foxwarehouse.sqlcache) that makes a small plan fast.
"""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from helpers import plan_in, run_cli

from foxwarehouse import progress as progress_mod, sqlcache
from foxwarehouse.progress import Progress

ROWS = [
    {"target": "fwd_ret_15m", "symbol": None, "score": 0.8, "sample_size": 10_000},
    {"target": "fwd_ret_15m", "symbol": "AAPL", "score": 0.8, "sample_size": 2_000},
    {"target": "fwd_ret_15m", "symbol": "MSFT", "score": 0.4, "sample_size": 2_000},
]
STAGE_LINE = re.compile(r"^(ingest|build|export) took \d+\.\d+ s$")


def test_plan_prints_one_line_per_stage_on_stderr_in_order(tmp_path: Path, capsys) -> None:
    plan = plan_in(tmp_path, ROWS, capsys=capsys)
    err = plan.result.err.splitlines()
    stages = [line.split()[0] for line in err if STAGE_LINE.match(line)]
    assert stages == ["ingest", "build", "export"], plan.result.err
    # Reported as they happen: the gate's line and the ingest report come before the stage lines,
    # each once.
    gate = next(i for i, line in enumerate(err) if line.startswith("SQL unit tests:"))
    read = next(i for i, line in enumerate(err) if "rows read" in line)
    assert gate < read < err.index(next(line for line in err if line.startswith("ingest took")))
    assert sum("rows read" in line for line in err) == 1 and sum(line.startswith("SQL unit tests") for line in err) == 1
    # stdout is the plan summary only
    assert " took " not in plan.result.out
    assert plan.result.out.startswith("run ") and "jobs: " in plan.result.out


def test_a_plan_failing_after_a_stage_still_prints_one_error_line(tmp_path: Path, capsys, monkeypatch) -> None:
    """Off a terminal the stage lines wait for success: a failure stays one line on stderr."""
    import foxwarehouse.pipeline as pipeline
    from foxwarehouse.errors import ModelError

    def failing_build(*args, **kwargs):
        raise ModelError("sql/routing_decisions.sql: broken on purpose")

    monkeypatch.setattr(pipeline, "build", failing_build)
    plan = plan_in(tmp_path, ROWS, expect=2, capsys=capsys)
    assert plan.result.err.splitlines() == ["error: sql/routing_decisions.sql: broken on purpose"], plan.result


def test_unchanged_plan_prints_no_stage_lines(tmp_path: Path, capsys) -> None:
    plan_in(tmp_path, ROWS, capsys=capsys)
    again = plan_in(tmp_path, ROWS, capsys=capsys)
    assert "no changes" in again.result.out
    assert not [line for line in again.result.err.splitlines() if STAGE_LINE.match(line)]
    assert sum(line.startswith("SQL unit tests") for line in again.result.err.splitlines()) == 1


def test_plan_result_carries_the_stage_times(tmp_path: Path) -> None:
    from helpers import SIMPLE_CONFIG, write_candidates

    import foxwarehouse.pipeline as pipeline

    metrics = write_candidates(tmp_path / "m.parquet", ROWS)
    lines: list[str] = []
    result = pipeline.plan(metrics, config=SIMPLE_CONFIG, db=tmp_path / "w.duckdb", out=tmp_path / "out",
                           progress=Progress(note=lines.append))
    assert set(result.stage_seconds) == {"ingest", "build", "export"}
    assert all(seconds >= 0 for seconds in result.stage_seconds.values())
    assert [line.split()[0] for line in lines if STAGE_LINE.match(line)] == ["ingest", "build", "export"]


def test_verbose_is_accepted_by_plan_and_demo(tmp_path: Path, capsys) -> None:
    plan = plan_in(tmp_path, ROWS, extra=["--verbose"], capsys=capsys)
    assert [line.split()[0] for line in plan.result.err.splitlines() if STAGE_LINE.match(line)] == [
        "ingest", "build", "export"]
    assert run_cli(["demo", "--help"], capsys).out.count("--verbose") == 1


def test_steps_get_a_line_with_verbose_only() -> None:
    for verbose in (False, True):
        lines: list[str] = []
        progress = Progress(note=lines.append, verbose=verbose)
        with progress.stage("build"):
            with progress_mod.step("routing_decisions"):
                pass
        assert progress.record()["steps"] == {"build": {"routing_decisions": pytest.approx(0, abs=0.5)}}
        step_lines = [line for line in lines if "routing_decisions" in line]
        assert len(step_lines) == (1 if verbose else 0), lines
    with progress_mod.step("outside a plan"):  # no plan in progress: the block just runs
        pass
    assert progress_mod.current() is None


def test_a_failed_stage_prints_no_time() -> None:
    lines: list[str] = []
    progress = Progress(note=lines.append)
    with pytest.raises(RuntimeError), progress.stage("build"):
        raise RuntimeError("boom")
    assert lines == [] and progress.stages == {}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_progress_line_for_long_stages_and_it_is_wiped() -> None:
    terminal = _Terminal()
    progress = Progress(note=None, stream=terminal, tick_after=0.05)
    with progress.stage("build"):
        time.sleep(0.3)
    text = terminal.getvalue()
    assert "\rbuild... " in text and text.endswith("\r\033[K"), repr(text)
    # A short stage draws nothing; a stream that is not a terminal never gets one.
    for stream in (_Terminal(), io.StringIO()):
        quiet = Progress(stream=stream, tick_after=0.05 if isinstance(stream, _Terminal) else 0.0)
        with quiet.stage("ingest"):
            if not isinstance(stream, _Terminal):
                time.sleep(0.1)
        assert stream.getvalue() == ""


# --- the machine cache of model work ------------------------------------------------------------

def test_model_work_is_cached_per_machine_and_can_be_turned_off(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(sqlcache.CACHE_ENV, str(tmp_path / "cache"))
    assert run_cli(["compile", "routing_decisions"], capsys).code == 0
    from foxwarehouse.model_versions import normalize_sql

    normalize_sql.cache_clear()
    normalize_sql("SELECT 1 AS a")
    kinds = {entry.name.split("-")[0] for entry in (tmp_path / "cache" / "models").iterdir()}
    assert {"jinja", "sqlnorm"} <= kinds, kinds
    monkeypatch.setenv(sqlcache.CACHE_ENV, "off")
    assert sqlcache.cache_dir() is None and sqlcache.get("anything") is None
    sqlcache.put("x", b"")  # no cache: nothing happens


def test_a_damaged_cache_entry_is_ignored(tmp_path: Path, monkeypatch) -> None:
    from foxwarehouse.render import _compile_template, _shared_environment

    monkeypatch.setenv(sqlcache.CACHE_ENV, str(tmp_path / "cache"))
    env = _shared_environment()
    template, _ = _compile_template(env, "{% macro m() %}1{% endmacro %}x", "t", "t.sql")
    entries = list((tmp_path / "cache" / "models").iterdir())
    assert len(entries) == 1
    entries[0].write_bytes(b"not marshal data")
    again, defined = _compile_template(env, "{% macro m() %}1{% endmacro %}x", "t", "t.sql")
    assert defined == ["m"] and again.render() == template.render()
