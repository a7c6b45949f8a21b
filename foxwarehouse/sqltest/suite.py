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
from ..project import Project, find_project_root, load_project, packaged_project, refuse_older_project
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
    """The project a test file lies in (a folder above it holding foxwarehouse.yml), else the
    packaged models. A file in a project made before the project file existed is refused (it would
    otherwise be tested against other models than `plan` uses there)."""
    parent = path.resolve().parent
    root = find_project_root(parent)
    if root is not None:
        return load_project(root)
    if parent.name == "sql" and parent.parent.name == "tests":
        refuse_older_project(parent.parent.parent)
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


def _selected_models(project: Project, select: Iterable[str]) -> set[str]:
    from ..context import Context
    from ..render import model_graph, select_models

    return set(select_models(model_graph(Context.load(project=project).renderer), select))


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
              write: Callable[[str], None] = print, verbose: bool = True,
              select: Iterable[str] | None = None, update: bool = False) -> SuiteResult:
    """`foxwarehouse test`: run every case under `paths`, print a line per case and each diff.

    The project is resolved as for every command (foxwarehouse.project.load_project): inside a
    project its models test every file, and its tests/sql is the default. Outside any project each
    file tests the project it lies in, else the packaged models. `select` keeps the cases of the
    models it names (``MODEL``, ``MODEL+`` with its downstream, ``+MODEL`` with its upstream).
    With `update`, every failed case's expectation is rewritten with what its model gives now and
    the case runs again (``update.update_failed``); the result holds the cases as they end up.
    """
    start = time.perf_counter()
    resolved = load_project(project_dir)
    explicit = resolved if resolved.root is not None else None
    paths = list(paths)
    if not paths:
        if explicit is not None and explicit.tests_dir is not None:
            default = explicit.tests_dir
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
    selected = _selected_models(explicit or resolved, select) if select else None
    if selected is not None:
        for test_file in files:
            test_file.cases = [case for case in test_file.cases if case.model in selected]
        if not any(test_file.cases for test_file in files):
            raise UsageError(f"--select {','.join(select or [])} matches no test case (models selected: "
                             f"{', '.join(sorted(selected))}); write tests/sql/<model>.yaml for them")
    if keyword and not any(keyword in case.id for test_file in files for case in test_file.cases):
        # A typo in -k would otherwise report "0 passed, 0 failed" and exit 0.
        total = sum(len(test_file.cases) for test_file in files)
        raise UsageError(f"-k {keyword!r} matches none of the {total} test cases; it is matched against "
                         f"case ids FILE::CASE, as printed by 'foxwarehouse test'")
    runners: dict[Project, SqlTestRunner] = {}
    results: list[CaseResult] = []
    ran: list[tuple[CaseResult, SqlTestRunner]] = []
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
            ran.append((result, runner))
            if result.ok:
                if verbose:
                    write(f"PASS  {case.id} ({result.seconds * 1000:.0f} ms)")
            else:
                write(("FAIL  " if result.status == "failed" else "ERROR ") + result.report())
    coverage: list[str] = []
    if whole_dirs and not keyword and selected is None:
        projects = set(by_project) or ({explicit} if explicit else set())
        for project in projects:
            coverage += coverage_problems(project, by_project.get(project, []))
    for problem in coverage:
        write(f"FAIL  coverage: {problem}")
    suite = SuiteResult(results, coverage + broken, time.perf_counter() - start)
    write(f"{suite.passed} passed, {suite.failed} failed in {suite.seconds:.2f}s")
    if update:
        from .update import update_failed

        try:
            updated = update_failed([(r, n) for r, n in ran if r.status == "failed"], write)
        finally:
            for runner in runners.values():
                runner.close()
        rerun = {(r.case.path, r.case.name): r for r in updated.rerun}
        suite.results = [rerun.get((r.case.path, r.case.name), r) for r in results]
        return suite
    for runner in runners.values():
        runner.close()
    return suite
