"""Model docs (sql/models.yml) and the Markdown catalog written by `foxwarehouse docs`."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from foxwarehouse.catalog import (
    catalog_markdown,
    collect_audits,
    collect_tests,
    load_docs,
    missing_descriptions,
)
from foxwarehouse.config import load_config
from foxwarehouse.lineage import LineageGraph
from foxwarehouse.project import init_project, load_project, packaged_project
from helpers import run_cli


@pytest.fixture(scope="module")
def catalog() -> str:
    return catalog_markdown(packaged_project(), load_config())


def test_every_model_and_column_has_a_description() -> None:
    problems = missing_descriptions(packaged_project(), load_config())
    assert problems == [], "\n".join(problems)


def test_documented_views_and_sources_exist() -> None:
    from foxwarehouse.analyst import ALL_LATEST_VIEWS
    from foxwarehouse.warehouse import SOURCES

    docs = load_docs(packaged_project())
    assert set(docs.views) == set(ALL_LATEST_VIEWS)
    assert set(docs.sources) == set(SOURCES.values())
    graph = LineageGraph(packaged_project(), load_config())
    for name, spec in docs.models.items():
        grain = spec.get("grain")
        assert isinstance(grain, list), name
        assert all(g in graph.schema[name] for g in grain), name


def test_catalog_has_dag_columns_and_tests(catalog: str) -> None:
    assert catalog.startswith("# Model catalog")
    assert "```mermaid\ngraph LR" in catalog
    assert "  routing_candidates --> candidate_signal_states" in catalog
    assert "source_routing_candidates[(source_routing_candidates)] --> routing_candidates" in catalog
    for model in packaged_project().model_paths():
        assert f"\n### {model}\n" in catalog, model
    assert "| `route` | `VARCHAR` | Final route" in catalog
    assert "| `allowlist` | `VARCHAR[]` |" in catalog
    trace = catalog.split("\n### decision_trace\n")[1].split("\n### ")[0]
    assert "`decision_trace.yaml::route_both_pair`" in trace
    assert "**config keys**: `routing.block_on_leakage`" in trace
    assert "**stored**: computed when read" in trace
    assert "**stored**: per run, table `routing_decisions`" in catalog
    assert "## Analyst views" in catalog and "`latest_routing_decisions`" in catalog
    assert "## Sources" in catalog and "`quarantine_confirmed` BOOLEAN" in catalog
    assert "_(no description)_" not in catalog


def test_docs_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "CATALOG.md"
    result = run_cli(["docs", "--out", out])
    assert result.code == 0, result
    assert out.read_text(encoding="utf-8") == catalog_markdown(packaged_project(), load_config())


def test_tests_are_collected() -> None:
    tests = collect_tests(packaged_project())
    names = [name for name, _ in tests.get("decision_trace", [])]
    assert "decision_trace.yaml::experimental_cap_blocks_the_second" in names
    assert all(desc for _, desc in tests["decision_trace"])


def test_project_dir_docs_audits_and_missing_descriptions(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_project(root)
    (root / "sql" / "route_counts.sql").write_text(
        "SELECT target, count(*) AS n FROM {{ ref('routing_decisions') }} GROUP BY target\n", encoding="utf-8")
    (root / "sql" / "audits.yml").write_text(yaml.safe_dump({"audits": [
        {"name": "no_duplicate_pairs", "model": "routing_decisions", "description": "one row per pair",
         "sql": "SELECT 1 WHERE FALSE"}]}), encoding="utf-8")
    (root / "tests" / "sql").mkdir(parents=True)
    (root / "tests" / "sql" / "route_counts.yaml").write_text(yaml.safe_dump(
        {"model": "route_counts", "cases": {"counts": {"description": "counts pairs", "given": {}, "expect": []}}}),
        encoding="utf-8")
    project = load_project(root)
    problems = missing_descriptions(project, load_config())
    assert "model route_counts has no description" in problems
    assert "column route_counts.n has no description" in problems
    assert collect_audits(project) == {"routing_decisions": [("no_duplicate_pairs", "one row per pair")]}
    text = catalog_markdown(project, load_config())
    assert "### route_counts" in text and "routing_decisions --> route_counts" in text
    assert "`no_duplicate_pairs` — one row per pair" in text
    assert "`route_counts.yaml::counts` — counts pairs" in text
    result = run_cli(["--project-dir", root, "docs", "--out", tmp_path / "c.md"])
    assert result.code == 0 and "### route_counts" in (tmp_path / "c.md").read_text(encoding="utf-8")


def test_packaged_audits_are_listed(catalog: str) -> None:
    audits = collect_audits(packaged_project())
    assert audits, "the packaged sql/audits.yml declares audits"
    model, entries = next(iter(audits.items()))
    name, text = entries[0]
    section = catalog.split(f"\n### {model}\n")[1].split("\n### ")[0]
    assert "**Audits**" in section and f"`{name}` — {text}" in section


def test_bad_models_yml_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_project(root)
    (root / "sql" / "models.yml").write_text("models: [1, 2]\n", encoding="utf-8")
    result = run_cli(["--project-dir", root, "docs", "--out", tmp_path / "c.md"])
    assert result.code == 2 and "models.yml" in result.err and "Traceback" not in result.err
