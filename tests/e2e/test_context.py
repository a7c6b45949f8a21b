"""One `plan()` does each thing once: one renderer, each macro file read once, each model rendered
once, no config read back from the warehouse, the jobs' JSON made in one pass."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import foxwarehouse
from foxwarehouse import jobs_json, render
from foxwarehouse.analyst import session as analyst
from foxwarehouse.context import Context
from foxwarehouse.project import bundled_dir, packaged_project
from foxwarehouse.warehouse import Warehouse

EXAMPLE = bundled_dir("examples") / "routing_candidates" / "routing_candidates.parquet"


class _RecordingConnection:
    """A DuckDB connection that records the SQL run through it (a C type cannot be patched)."""

    def __init__(self, con: Any, log: list[str]):
        self._con, self._log = con, log

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._log.append(sql)
        return self._con.execute(sql, *args, **kwargs)

    def sql(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._log.append(sql)
        return self._con.sql(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@pytest.fixture
def counted_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    counts: dict[str, Any] = {"renderers": 0, "macro_reads": Counter(), "renders": Counter(),
                              "config_reads": 0, "job_json_tables": 0, "sql": []}
    macro_paths = {p.resolve() for p in packaged_project().macro_paths()}

    original_init = render.Renderer.__init__

    def init(self, *args: Any, **kwargs: Any) -> None:
        counts["renderers"] += 1
        original_init(self, *args, **kwargs)

    original_read_text = Path.read_text

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self.resolve() in macro_paths:
            counts["macro_reads"][self.name] += 1
        return original_read_text(self, *args, **kwargs)

    original_render_text = render.Renderer.render_text

    def render_text(self, name: str, *args: Any, **kwargs: Any):
        counts["renders"][name] += 1
        return original_render_text(self, name, *args, **kwargs)

    original_analyst_config = analyst.run_config
    original_warehouse_config = Warehouse.run_config

    def analyst_config(*args: Any, **kwargs: Any):
        counts["config_reads"] += 1
        return original_analyst_config(*args, **kwargs)

    def warehouse_config(*args: Any, **kwargs: Any):
        counts["config_reads"] += 1
        return original_warehouse_config(*args, **kwargs)

    original_materialise = jobs_json.materialise

    def materialise(*args: Any, **kwargs: Any) -> str:
        counts["job_json_tables"] += 1
        return original_materialise(*args, **kwargs)

    original_connect = Warehouse._connect

    def connect(self: Warehouse, wait: float) -> Any:
        return _RecordingConnection(original_connect(self, wait), counts["sql"])

    monkeypatch.setattr(render.Renderer, "__init__", init)
    monkeypatch.setattr(Path, "read_text", read_text)
    monkeypatch.setattr(render.Renderer, "render_text", render_text)
    monkeypatch.setattr(analyst, "run_config", analyst_config)
    monkeypatch.setattr(Warehouse, "run_config", warehouse_config)
    monkeypatch.setattr(jobs_json, "materialise", materialise)
    monkeypatch.setattr(Warehouse, "_connect", connect)
    result = foxwarehouse.plan(metrics=EXAMPLE, db=tmp_path / "w.duckdb", out=tmp_path / "METRICS")
    assert result.fresh and result.total_jobs > 0
    return counts


def test_one_plan_builds_one_renderer_and_reads_each_macro_file_once(counted_plan: dict[str, Any]) -> None:
    assert counted_plan["renderers"] == 1
    macros = {p.name for p in packaged_project().macro_paths()}
    assert dict(counted_plan["macro_reads"]) == {name: 1 for name in macros}


def test_one_plan_renders_each_model_once(counted_plan: dict[str, Any]) -> None:
    models = set(packaged_project().model_paths())
    rendered = {name: n for name, n in counted_plan["renders"].items() if not name.startswith("audit:")}
    assert rendered == {name: 1 for name in models}


def test_one_plan_never_reads_the_config_back(counted_plan: dict[str, Any]) -> None:
    assert counted_plan["config_reads"] == 0
    assert not [sql for sql in counted_plan["sql"] if "select config " in " ".join(sql.lower().split())]


def test_one_plan_makes_the_job_json_in_one_pass(counted_plan: dict[str, Any]) -> None:
    assert counted_plan["job_json_tables"] == 1
    passes = [sql for sql in counted_plan["sql"] if jobs_json.JOB_JSON_SQL in sql]
    assert len(passes) == 1, passes


def test_context_holds_the_config_hash_of_the_config() -> None:
    from foxwarehouse.config import canonical_json, config_hash

    ctx = Context.load()
    assert ctx.config_hash == config_hash(ctx.config)
    assert ctx.config_json == canonical_json(ctx.config)
    assert ctx.renderer is ctx.renderer
