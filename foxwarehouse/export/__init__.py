"""The export stage: writing a built plan to disk and publishing it atomically.

``writer`` writes the plan folders (``export``); ``export_views`` the derived views; ``markdown``
the human-readable plan pages; ``publish`` stages, locks and swaps the output folder into place;
``export_record`` keeps the record of what was published (and answers whether a path is inside a
published export).
"""
from __future__ import annotations

from .export_record import inside_published_export, owned_top_level_file
from .writer import ROUTING_PLAN_PATH, SCHEMA_VERSION, ExportResult, export

__all__ = ["ROUTING_PLAN_PATH", "SCHEMA_VERSION", "ExportResult", "export", "inside_published_export",
           "owned_top_level_file"]
