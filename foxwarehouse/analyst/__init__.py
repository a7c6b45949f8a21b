"""The read side for analysts: read-only sessions on the warehouse and what is built on them.

``session`` opens a read-only analyst session and runs queries (``AnalystWarehouse``, ``query``);
``explain`` explains one job's decision; ``lineage`` traces columns through the models;
``catalog`` writes the model catalog; ``report`` the HTML report; ``feed`` streams the published
jobs; ``runs`` lists and prunes runs. Nothing here writes plan data.
"""
from __future__ import annotations

from .catalog import write_catalog
from .explain import explain, format_explanation
from .feed import stream_jobs
from .lineage import LineageGraph
from .report import write_report
from .runs import format_runs, list_runs, prune_runs
from .session import AnalystWarehouse, open_warehouse, query, refresh_latest_views, trace_relation

__all__ = [
    "AnalystWarehouse", "LineageGraph", "explain", "format_explanation", "format_runs", "list_runs", "open_warehouse",
    "prune_runs", "query", "refresh_latest_views", "stream_jobs", "trace_relation", "write_catalog", "write_report",
]
