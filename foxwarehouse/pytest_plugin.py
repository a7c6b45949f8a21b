"""pytest plugin: every case of a ``tests/sql/*.yaml`` SQL unit-test file is a test item.

Items are named ``tests/sql/routing_decisions.yaml::both_strong_prefer_cs``, so ``python -m pytest``
runs the SQL suite, ``-k`` selects cases, and a failure prints the same diff as
``foxwarehouse test``. Registered by ``tests/conftest.py`` (``pytest_plugins``) in a checkout and by
the ``pytest11`` entry point when installed. Files are collected when they sit in a ``sql`` folder
directly under a ``tests`` folder and hold a ``cases`` mapping.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .project import Project
from .sqltest.suite import SqlCase, SqlTestError, SqlTestRunner, load_file, project_for_file

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

_RUNNERS: dict[Project, SqlTestRunner] = {}


def _is_sql_test_file(path: Path) -> bool:
    if path.suffix not in (".yaml", ".yml"):
        return False
    parent = path.parent
    if parent.name != "sql" or parent.parent.name != "tests":
        return False
    try:
        head = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.startswith("cases:") for line in head.splitlines())


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if _is_sql_test_file(file_path):
        return SqlTestFileItem.from_parent(parent, path=file_path)
    return None


class SqlCaseFailed(Exception):
    """A SQL case failed; the message is the diff."""


class SqlTestFileItem(pytest.File):
    def collect(self):
        test_file = load_file(self.path)
        for case in test_file.cases:
            yield SqlCaseItem.from_parent(self, name=case.name, case=case)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: TracebackStyle | None = None) -> str | TerminalRepr:
        # pytest calls a collector's repr_failure with the exception only, and Collector.repr_failure
        # takes no traceback style; `style` is here to keep Node's signature.
        if isinstance(excinfo.value, SqlTestError):
            return excinfo.value.message  # a malformed test file: the message, not a traceback
        return super().repr_failure(excinfo)


class SqlCaseItem(pytest.Item):
    def __init__(self, *, case: SqlCase, **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        self.add_marker(pytest.mark.sql)

    def runtest(self) -> None:
        project = project_for_file(self.case.path)
        runner = _RUNNERS.get(project)
        if runner is None:
            runner = _RUNNERS[project] = SqlTestRunner(project)
        result = runner.run_case(self.case)
        if not result.ok:
            raise SqlCaseFailed(result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: TracebackStyle | None = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, SqlCaseFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, max(self.case.line - 1, 0), f"{self.case.subject}: {self.name}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sql: a SQL unit-test case collected from tests/sql/*.yaml")


def pytest_unconfigure(config: pytest.Config) -> None:
    for runner in _RUNNERS.values():
        runner.close()
    _RUNNERS.clear()
