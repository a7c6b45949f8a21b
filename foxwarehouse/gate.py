"""The test gate: `plan` and `build` run the project's SQL unit tests first, once per version.

The tests are those of the project the models come from: ``DIR/tests/sql`` of a project folder,
the packaged tests for the packaged models (``tests_dir``). A failing or
erroring case, or a test file that does not load, stops the command with ``TestGateError`` (exit 1)
before anything is ingested, built or published; ``--skip-tests`` (``skip_tests=True``) overrides.
A model without any test case is a warning here, not a stop (``foxwarehouse test`` counts it).

What passed once is not tested again. The *tests fingerprint* is a sha256 over the bytes of every
file the tests depend on — the project's ``sql/`` and ``macros/`` trees, its test files, the config
file the tests render with, the project file — and over the code that runs them: the foxwarehouse
version and the bytes of its own Python modules, and the DuckDB, sqlglot and Jinja versions. Hashing
is a few milliseconds. A pass is recorded in the warehouse (table ``test_passes``) and in a small
per-machine cache (an empty file named by the fingerprint under ``$FOXWAREHOUSE_CACHE_DIR``, else
``$XDG_CACHE_HOME/foxwarehouse/test-passes``, else ``~/.cache/foxwarehouse/test-passes``), so a
second warehouse on the same machine does not pay for the tests again either. The cases are
deterministic functions of exactly these bytes, so a pass recorded for one fingerprint holds for
every later run with the same fingerprint. ``FOXWAREHOUSE_CACHE_DIR=off`` turns the machine cache
off (the warehouse record is always used).

Each run records what the gate did in ``runs.tests``: ``passed`` (the tests ran and passed),
``cached`` (this version passed before), ``skipped`` (``--skip-tests``) or ``none`` (the project
has no SQL unit tests).
"""
from __future__ import annotations

import contextlib
import hashlib
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .engine import one_row
from .errors import TestGateError
from .project import Project
from .sqlcache import CACHE_ENV, machine_folder  # noqa: F401 (CACHE_ENV: gate's documented setting)
from .warehouse import Warehouse, utc_now

PASSED, CACHED, SKIPPED, NONE = "passed", "cached", "skipped", "none"
MAX_REPORTED = 10          # failing cases shown in full; the count covers all of them
_FINGERPRINT_VERSION = "foxwarehouse-test-gate-1"
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass
class GateResult:
    """What the gate did: one of passed / cached / skipped / none, and what to tell the user."""

    status: str
    fingerprint: str | None = None
    cases: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.status == PASSED:
            return f"SQL unit tests: {self.cases} passed in {self.seconds:.2f}s"
        if self.status == CACHED:
            return "SQL unit tests: passed before for this version of the models and tests (not run again)"
        if self.status == SKIPPED:
            return "SQL unit tests: skipped (--skip-tests)"
        return "SQL unit tests: none in this project"


def tests_dir(project: Project) -> Path:
    """Where the tests of `project` live: the folder `foxwarehouse test` runs for it by default
    (``Project.tests_dir`` of a project folder; the packaged tests for the packaged models)."""
    from .sqltest.suite import packaged_tests_dir

    return project.tests_dir if project.tests_dir is not None else packaged_tests_dir()


def test_files(project: Project) -> list[Path]:
    folder = tests_dir(project)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _tree(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _tests_config(project: Project) -> Path:
    """The config file the SQL tests render with (as ``SqlTestRunner`` picks it)."""
    from .project import packaged_project

    path = project.default_config_path
    return path if path.is_file() else packaged_project().default_config_path


def _code_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _versions() -> str:
    import duckdb
    import jinja2
    import sqlglot

    return f"{__version__} duckdb {duckdb.__version__} sqlglot {sqlglot.__version__} jinja2 {jinja2.__version__} " \
           f"python {sys.version_info[0]}.{sys.version_info[1]}"


def tests_fingerprint(project: Project, files: Iterable[Path] | None = None) -> str:
    """sha256 over what the project's SQL tests depend on (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(f"{_FINGERPRINT_VERSION}\n{_versions()}\n{_code_digest()}\n".encode())
    root = project.root if project.root is not None else project.sql_dir.parent
    parts: list[tuple[str, Path]] = []
    for label, folder in (("sql", project.sql_dir), ("macros", project.macros_dir)):
        parts += [(f"{label}/{p.relative_to(folder).as_posix()}", p) for p in _tree(folder)]
    tests = tests_dir(project)
    parts += [(f"tests/{p.relative_to(tests).as_posix()}", p) for p in (files if files is not None else test_files(project))]
    parts.append(("config", _tests_config(project)))
    for name in ("foxwarehouse.yml", "foxwarehouse.yaml"):
        if (root / name).is_file():
            parts.append((name, root / name))
    for label, path in parts:
        digest.update(label.encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()


# --- where passes are recorded ------------------------------------------------------------------

def machine_cache_dir() -> Path | None:
    """The per-machine record of passes, or None when it is turned off."""
    return machine_folder("test-passes")


def _machine_has(fingerprint: str) -> bool:
    folder = machine_cache_dir()
    return folder is not None and (folder / fingerprint).is_file()


def _machine_record(fingerprint: str) -> None:
    folder = machine_cache_dir()
    if folder is None:
        return
    with contextlib.suppress(OSError):  # a read-only home only costs the next run its tests
        folder.mkdir(parents=True, exist_ok=True)
        (folder / fingerprint).touch()


def _warehouse_has(wh: Warehouse, fingerprint: str) -> bool:
    if "test_passes" not in wh.tables():
        return False
    return one_row(wh.con.execute("SELECT count(*) FROM test_passes WHERE fingerprint = ?", [fingerprint]))[0] > 0


def _warehouse_record(wh: Warehouse, fingerprint: str) -> None:
    if "test_passes" not in wh.tables() or _warehouse_has(wh, fingerprint):
        return
    with wh.transaction() as con:
        con.execute("INSERT INTO test_passes (fingerprint, passed_at) VALUES (?, ?)", [fingerprint, utc_now()])


# --- the gate -----------------------------------------------------------------------------------

def run_gate(wh: Warehouse | None, project: Project, skip: bool = False,
             note: Callable[[str], None] | None = None) -> GateResult:
    """Run the project's SQL unit tests unless this version passed before; raise TestGateError on a failure.

    `wh` (optional) is where the pass is looked up and recorded besides the machine cache.
    """
    if skip:
        return GateResult(SKIPPED)
    files = test_files(project)
    if not files:
        return GateResult(NONE)
    fingerprint = tests_fingerprint(project, files)
    if (wh is not None and _warehouse_has(wh, fingerprint)) or _machine_has(fingerprint):
        if wh is not None:
            _warehouse_record(wh, fingerprint)
        return GateResult(CACHED, fingerprint)
    if note is not None:
        note(f"running the SQL unit tests of {tests_dir(project)} (once per version of the models and tests)")
    start = time.perf_counter()
    result = _run_tests(project)
    if result.failures:
        shown = result.failures[:MAX_REPORTED]
        more = len(result.failures) - len(shown)
        listing = "\n".join(shown) + (f"\n... and {more} more (run 'foxwarehouse test')" if more > 0 else "")
        raise TestGateError(
            f"{len(result.failures)} SQL unit test(s) of {tests_dir(project)} failed; nothing was ingested, built "
            f"or published. Fix the models or the tests (run 'foxwarehouse test'), or pass --skip-tests "
            f"to plan anyway:\n{listing}",
            failures=result.failures, path=tests_dir(project))
    if wh is not None:
        _warehouse_record(wh, fingerprint)
    _machine_record(fingerprint)
    return GateResult(PASSED, fingerprint, result.cases, time.perf_counter() - start, result.warnings)


@dataclass
class _Outcome:
    cases: int
    failures: list[str]
    warnings: list[str]


def _run_tests(project: Project) -> _Outcome:
    from .sqltest import suite
    from .sqltest.suite import coverage_problems

    lines: list[str] = []
    folder = tests_dir(project)
    result = suite.run_suite([folder], project_dir=project.root, write=lines.append, verbose=False)
    failures = ["FAIL  " + r.report() if r.status == "failed" else "ERROR " + r.report()
                for r in result.results if not r.ok]
    coverage = set(coverage_problems(project, [r.case for r in result.results]))
    broken = [p for p in result.problems if p not in coverage]
    warnings = [p for p in result.problems if p in coverage]
    return _Outcome(len(result.results), failures + [f"ERROR {p}" for p in broken], warnings)
