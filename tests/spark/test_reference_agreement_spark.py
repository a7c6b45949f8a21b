"""Property: for random candidate sets and configs (the reference-agreement strategies), the Spark
engine exports the same files as the DuckDB engine, or fails with the same line."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from helpers import write_candidates, write_config  # noqa: E402
from spark_helpers import ENGINES, assert_same_files, error_line, plan_on  # noqa: E402
from test_reference_agreement import scenarios  # noqa: E402

pytestmark = pytest.mark.spark


@settings(max_examples=4, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_both_engines_export_the_same_files(scenario: tuple[dict[str, Any], list[dict[str, Any]], bool, str],
                                            tmp_path_factory: pytest.TempPathFactory, spark_session: Any) -> None:
    config, rows, include_blocked, fmt = scenario
    root = tmp_path_factory.mktemp("case")
    metrics = write_candidates(root / f"candidates.{fmt}", rows)
    config_path = write_config(root / "config.yaml", config)
    extra = ("--include-blocked",) if include_blocked else ()
    results = {}
    outs = {}
    for engine in ENGINES:
        results[engine], outs[engine] = plan_on(engine, root, metrics, config_path, extra)
    assert results["duckdb"].code == results["spark"].code, results
    if results["duckdb"].code != 0:   # e.g. two jobs with one job_id: the same refusal
        assert error_line(results["duckdb"]) == error_line(results["spark"])
        return
    assert_same_files(outs["duckdb"], outs["spark"])
