"""SQL unit tests: the front door — suites, coverage, and the files shipped for ``init``.

A test file (``tests/sql/<model>.yaml``) names a model and holds named cases; the runner renders the
model on typed fixture rows in an in-memory DuckDB and compares the result with the expected rows
(``files`` the format, ``runner`` one case, ``compare`` the comparison and
the diff). ``run_suite`` is ``foxwarehouse test``; the pytest plugin (``pytest_plugin``) runs the
same cases as pytest items. See docs/SQL_TESTS.md.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProjectError, UsageError
from ..project import Project, load_project, packaged_project
from .compare import SqlTestError, format_value
from .files import SqlCase, SqlTestFile, discover, load_file
from .runner import CaseResult, ConfigScope, SqlTestRunner, relation_name

__all__ = [
    "CaseResult", "ConfigScope", "SqlCase", "SqlTestError", "SqlTestFile", "SqlTestRunner", "SuiteResult",
    "copy_tests", "coverage_problems", "discover", "format_value", "load_file", "packaged_tests_dir",
    "project_for_file", "relation_name", "run_suite",
]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


# --- suites ---------------------------------------------------------------------------------

def packaged_tests_dir() -> Path:
    """The SQL unit tests shipped for the packaged models (wheel: _bundle/tests_sql)."""
    installed = _PACKAGE_DIR / "_bundle" / "tests_sql"
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / "tests" / "sql"


def project_for_file(path: Path) -> Project:
    """DIR/tests/sql/x.yaml tests the models of DIR when DIR has sql/ and macros/; else the packaged ones."""
    parent = path.resolve().parent
    if parent.name == "sql" and parent.parent.name == "tests":
        root = parent.parent.parent
        if (root / "sql").is_dir() and (root / "macros").is_dir():
            return load_project(root)
    return packaged_project()


def coverage_problems(project: Project, cases: Iterable[SqlCase]) -> list[str]:
    """One message per model of `project` that no case tests."""
    tested = {c.model for c in cases if c.model}
    return [f"model {name} has no SQL unit test cases (add tests/sql/{name}.yaml)"
            for name in project.model_paths() if name not in tested]


def copy_tests(target: str | Path) -> list[Path]:
    """Copy the packaged SQL unit tests into TARGET/tests/sql (for `init`); never overwrites a file."""
    source = packaged_tests_dir()
    dest = Path(target) / "tests" / "sql"
    written: list[Path] = []
    if not source.is_dir():
        return written
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.y*ml")):
        if not (dest / path.name).exists():
            (dest / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
            written.append(dest / path.name)
    return written


@dataclass
class SuiteResult:
    results: list[CaseResult]
    problems: list[str]                  # models without cases, test files that do not load
    seconds: float

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self.results) + len(self.problems)

    @property
    def passed(self) -> int:
        return sum(r.ok for r in self.results)


def run_suite(paths: Iterable[str | Path] = (), project_dir: str | Path | None = None, keyword: str | None = None,
              write: Callable[[str], None] = print, verbose: bool = True) -> SuiteResult:
    """`foxwarehouse test`: run every case under `paths`, print a line per case and each diff."""
    start = time.perf_counter()
    explicit = load_project(project_dir) if project_dir is not None else None
    paths = list(paths)
    if not paths:
        if project_dir is not None:
            default = Path(project_dir) / "tests" / "sql"
        else:
            default = Path("tests") / "sql"
            if not default.is_dir():
                default = packaged_tests_dir()
        if not default.is_dir():
            raise ProjectError(f"no SQL unit tests found in {default}; write tests/sql/<model>.yaml "
                               f"(see docs/SQL_TESTS.md) or copy them from {packaged_tests_dir()}", path=default)
        paths = [default]
    whole_dirs = [Path(p) for p in paths if Path(p).is_dir()]
    files: list[SqlTestFile] = []
    broken: list[str] = []
    for path in discover(paths):
        try:
            files.append(load_file(path))
        except SqlTestError as exc:  # one malformed file is one failure, the others still run
            broken.append(exc.message)
            write(f"ERROR {exc.message}")
    if not files and not broken:
        raise UsageError(f"no SQL unit test files (*.yaml) in {', '.join(str(p) for p in paths)}")
    if keyword and not any(keyword in case.id for test_file in files for case in test_file.cases):
        # A typo in -k would otherwise report "0 passed, 0 failed" and exit 0.
        total = sum(len(test_file.cases) for test_file in files)
        raise UsageError(f"-k {keyword!r} matches none of the {total} test cases; it is matched against "
                         f"case ids FILE::CASE, as printed by 'foxwarehouse test'")
    runners: dict[Project, SqlTestRunner] = {}
    results: list[CaseResult] = []
    by_project: dict[Project, list[SqlCase]] = {}
    for test_file in files:
        project = explicit or project_for_file(test_file.path)
        if project not in runners:
            runners[project] = SqlTestRunner(project)
        runner = runners[project]
        by_project.setdefault(project, []).extend(test_file.cases)
        for case in test_file.cases:
            if keyword and keyword not in case.id:
                continue
            result = runner.run_case(case)
            results.append(result)
            if result.ok:
                if verbose:
                    write(f"PASS  {case.id} ({result.seconds * 1000:.0f} ms)")
            else:
                write(("FAIL  " if result.status == "failed" else "ERROR ") + result.report())
    coverage: list[str] = []
    if whole_dirs and not keyword:
        projects = set(by_project) or ({explicit} if explicit else set())
        for project in projects:
            coverage += coverage_problems(project, by_project.get(project, []))
    for problem in coverage:
        write(f"FAIL  coverage: {problem}")
    for runner in runners.values():
        runner.close()
    suite = SuiteResult(results, coverage + broken, time.perf_counter() - start)
    write(f"{suite.passed} passed, {suite.failed} failed in {suite.seconds:.2f}s")
    return suite
