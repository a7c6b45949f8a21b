"""FoxML's own files on the Spark engine: every FoxML candidates file under every FoxML config (and
the default one) gives the same exit code and, when planned, the same plan files as on DuckDB."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from spark_helpers import ENGINES, assert_same_files, error_line, plan_on

pytestmark = pytest.mark.spark

FOXML = Path(__file__).resolve().parents[1] / "data" / "foxml"
CANDIDATES = sorted((FOXML / "candidates").glob("*.parquet"))
CONFIGS: list[Path | None] = [None, *sorted((FOXML / "config").glob("*.yaml"))]


@pytest.mark.parametrize("candidates,config", list(itertools.product(CANDIDATES, CONFIGS)),
                         ids=lambda p: getattr(p, "stem", "default_config"))
def test_foxml_files_plan_the_same_on_both_engines(candidates: Path, config: Path | None, tmp_path: Path,
                                                   spark_session: Any) -> None:
    results, outs = {}, {}
    for engine in ENGINES:
        results[engine], outs[engine] = plan_on(engine, tmp_path, candidates, config)
    assert results["duckdb"].code == results["spark"].code, results
    if results["duckdb"].code == 0:
        assert_same_files(outs["duckdb"], outs["spark"])
    else:
        assert error_line(results["duckdb"]) == error_line(results["spark"])


def test_the_foxml_files_are_there() -> None:
    assert len(CANDIDATES) >= 6 and len(CONFIGS) >= 4
