"""Column-level lineage (`foxwarehouse lineage`): sqlglot across models, source columns, config keys."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from foxwarehouse.config import load_config, validate_config
from foxwarehouse.analyst.lineage import LineageGraph, compress_keys, format_trace, parse_target
from foxwarehouse.project import init_project, load_project, packaged_project
from helpers import config_with, run_cli, write_config


@pytest.fixture(scope="module")
def graph() -> LineageGraph:
    return LineageGraph(packaged_project(), load_config())


def test_route_reaches_source_columns_and_config_keys(graph: LineageGraph) -> None:
    result = graph.trace("routing_decisions", "route")
    sources = set(result["source_columns"])
    assert {"source_routing_candidates.score", "source_routing_candidates.sample_size",
            "source_routing_candidates.leakage_status", "source_feature_selection.score",
            "source_stability_snapshots.overlap", "source_leakage.leakage_status"} <= sources
    keys = result["config_keys"]
    assert keys["routing.both_strong_behavior"] == ["routing_decisions.route"]
    assert "routing_decisions.route" in keys["routing.experimental.max_fraction_symbols_per_target"]
    assert "candidate_signal_states.signal_state" in keys["routing.symbol.min_score.classification"]
    assert "routing.block_on_leakage" in keys and "routing.enable_experimental_lane" in keys
    assert not any(k.startswith("training_plan.") for k in keys)
    direct = {(c.get("model"), c.get("column")) for c in result["tree"]["inputs"]}
    assert ("cs_decisions", "cs_state") in direct and ("candidate_signal_states", "signal_state") in direct


def test_column_level_config_keys(graph: LineageGraph) -> None:
    assert graph.column("candidate_signal_states", "min_n").config_keys == [
        "routing.dev_mode", "routing.min_sample_size.cross_sectional", "routing.min_sample_size.symbol"]
    assert graph.column("candidate_signal_states", "target").config_keys == []
    assert graph.column("candidate_signal_states", "horizon_tier").config_keys == []
    families = graph.column("job_expansion", "model_families")
    assert {"training_plan.model_families", "training_plan.drop_failed_families",
            "training_plan.model_families_by_route.ROUTE_EXPERIMENTAL_ONLY"} <= set(families.config_keys)
    assert ("routing_decisions", "failed_model_families") in families.inputs
    # include_blocked adds the BLOCKED job rule (macros/rules.sql): it feeds the columns the job rules decide
    graph.columns("job_expansion")
    assert "training_plan.include_blocked" in graph.column("job_expansion", "training_type").config_keys
    assert "training_plan.include_blocked" not in graph.unattributed.get("job_expansion", [])


def test_dev_mode_config_adds_its_keys() -> None:
    config = validate_config(config_with(**{"routing.dev_mode": True}))
    g = LineageGraph(packaged_project(), config)
    keys = g.column("candidate_signal_states", "min_n").config_keys
    assert "routing.dev_mode_min_sample_size" in keys and "routing.dev_mode" in keys
    assert ("routing_candidates", "sample_size") in g.column("candidate_signal_states", "min_n").inputs


def test_counted_rows_and_sources(graph: LineageGraph) -> None:
    info = graph.column("plan_summary", "total_jobs")
    assert info.inputs == [] and info.row_sources == ["training_jobs"]
    n = graph.trace("routing_candidates", "n_snapshots")
    assert "source_routing_candidates.n_snapshots" in n["source_columns"]
    assert "source_stability_snapshots (rows counted)" in n["source_columns"]
    plain = graph.trace("master_plan", "job_id")
    assert {"source_routing_candidates.target", "source_routing_candidates.symbol"} <= set(plain["source_columns"])


def test_format_and_compress(graph: LineageGraph) -> None:
    text = format_trace(graph.trace("routing_decisions", "route"), graph.config)
    assert text.startswith("lineage of routing_decisions.route (VARCHAR)")
    assert "(see above)" in text and "(source column)" in text
    assert "routing.stability_classification.*" in text
    assert compress_keys(["routing.min_sample_size.symbol", "routing.min_sample_size.cross_sectional", "routing.dev_mode"],
                         graph.config) == ["routing.dev_mode", "routing.min_sample_size.*"]
    assert parse_target("a.b") == ("a", "b") and parse_target("a") == ("a", None)


@pytest.mark.slow  # every lineage command in-process (~3 s): with the slow sweep
def test_cli(tmp_path: Path) -> None:
    result = run_cli(["lineage", "routing_decisions.route"])
    assert result.code == 0, result
    assert "source_routing_candidates.score" in result.out and "routing.both_strong_behavior" in result.out
    result = run_cli(["lineage", "training_jobs.priority", "--format", "json"])
    data = json.loads(result.out)
    assert data["column"] == "training_jobs.priority" and data["source_columns"]
    result = run_cli(["lineage", "job_expansion"])
    assert result.code == 0 and "model_families (VARCHAR[]) <-" in result.out
    for bad, message in (("nope.x", "unknown model"), ("routing_decisions.nope", "has no column"), (".x", "MODEL.COLUMN")):
        result = run_cli(["lineage", bad])
        assert result.code == 2 and message in result.err and "Traceback" not in result.err, (bad, result)
    config = write_config(tmp_path / "c.yaml", config_with(**{"routing.dev_mode": True}))
    result = run_cli(["lineage", "candidate_signal_states.min_n", "--config", config])
    assert "routing.dev_mode_min_sample_size" in result.out


def test_project_dir_model(tmp_path: Path) -> None:
    """Lineage follows a team's own models, no warehouse needed."""
    init_project(tmp_path / "proj")
    (tmp_path / "proj" / "sql" / "route_counts.sql").write_text(
        "SELECT target, count(*) AS n_both FROM {{ ref('routing_decisions') }} "
        "WHERE route = 'ROUTE_BOTH' GROUP BY target\n", encoding="utf-8")
    g = LineageGraph(load_project(tmp_path / "proj"), load_config())
    result = g.trace("route_counts", "target")
    assert "source_routing_candidates.target" in result["source_columns"]
    assert g.column("route_counts", "n_both").row_sources == ["routing_decisions"]
