"""Markdown mirrors of the plans: summaries and top-N tables that stay readable at any size."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..formatting import md_escape, md_table_lines

TOP_N = 50
MAX_CELL = 120   # a plan's Markdown mirror stays readable whatever the names in it


def md_cell(value: Any) -> str:
    return md_escape("" if value is None else str(value), limit=MAX_CELL)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    return "\n".join(md_table_lines(headers, ([md_cell(v) for v in row] for row in rows)))


def metadata_block(metadata: dict[str, Any]) -> str:
    return "\n".join(f"- **{key}**: `{md_cell(value)}`" for key, value in metadata.items())


def training_plan_markdown(metadata: dict[str, Any], summary: dict[str, Any], top_jobs: list[tuple],
                           target_rows: list[tuple], total_targets: int) -> str:
    parts = [
        "# Training plan",
        "",
        metadata_block(metadata),
        "",
        "## Summary",
        "",
        md_table(["measure", "value"], [
            ("total jobs", metadata.get("total_jobs")),
            ("cross-sectional jobs", summary["total_cs_jobs"]),
            ("symbol jobs", summary["total_symbol_jobs"]),
            ("blocked pairs", summary["total_blocked"]),
            ("skipped (no model families)", summary["skipped_no_families"]),
        ]),
        "",
        "### Jobs by route",
        "",
        md_table(["route", "jobs"], summary["by_route"].items()),
        "",
        "### Jobs by training type",
        "",
        md_table(["training_type", "jobs"], summary["by_type"].items()),
        "",
        "### Jobs by priority",
        "",
        md_table(["priority", "jobs"], summary["by_priority"].items()),
        "",
        f"## Targets (first {min(TOP_N, total_targets)} of {total_targets})",
        "",
        md_table(["target", "cs jobs", "symbol jobs", "blocked", "total"], target_rows),
        "",
        f"## Top {min(TOP_N, len(top_jobs))} jobs by priority (of {metadata.get('total_jobs')})",
        "",
        md_table(["job_id", "route", "priority", "model_families", "estimated_samples"], top_jobs),
        "",
        "The full plan is `master_training_plan.json`; per-target and per-symbol files are in `by_target/` and `by_symbol/`.",
        "",
    ]
    return "\n".join(parts)


def routing_plan_markdown(metadata: dict[str, Any], route_rows: list[tuple], target_rows: list[tuple],
                          total_targets: int) -> str:
    parts = [
        "# Routing plan",
        "",
        metadata_block(metadata),
        "",
        "## Pairs by route",
        "",
        md_table(["route", "pairs"], route_rows),
        "",
        f"## Targets (first {min(TOP_N, total_targets)} of {total_targets})",
        "",
        md_table(["target", "cs state", "cross-sectional", "symbols", "both", "symbol-specific",
                  "cross-sectional only", "experimental", "blocked"], target_rows),
        "",
        "Every decision with its reasons is in `routing_plan.json`.",
        "",
    ]
    return "\n".join(parts)
