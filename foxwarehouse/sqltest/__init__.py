"""SQL unit tests for the models: test files, running a case, comparing results, whole suites.

``files`` reads the YAML test files, ``runner`` runs one case on fixture rows in an in-memory
DuckDB, ``compare`` compares actual and expected rows and renders the diff, and ``suite`` runs
suites, checks coverage and ships the packaged tests. See docs/SQL_TESTS.md.
"""
from __future__ import annotations

from .suite import (
    CaseResult,
    ConfigScope,
    SqlCase,
    SqlTestError,
    SqlTestFile,
    SqlTestRunner,
    SuiteResult,
    copy_tests,
    coverage_problems,
    discover,
    format_value,
    load_file,
    packaged_tests_dir,
    project_for_file,
    relation_name,
    run_suite,
)

__all__ = [
    "CaseResult", "ConfigScope", "SqlCase", "SqlTestError", "SqlTestFile", "SqlTestRunner", "SuiteResult",
    "copy_tests", "coverage_problems", "discover", "format_value", "load_file", "packaged_tests_dir",
    "project_for_file", "relation_name", "run_suite",
]
