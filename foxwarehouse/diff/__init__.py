"""Plan diffs: comparing two plans (runs in the warehouse or exported plan files).

``plan_diff`` computes the difference (``diff`` → ``PlanDiff``, with the SQL macros it uses
installable through ``install_macros``); ``diff_format`` renders it as text, markdown or JSON.
"""
from __future__ import annotations

from .diff_format import DEFAULT_LIMIT, render, use_color
from .plan_diff import PlanDiff, PlanFileError, config_changes, diff, install_macros

__all__ = ["DEFAULT_LIMIT", "PlanDiff", "PlanFileError", "config_changes", "diff", "install_macros", "render",
           "use_color"]
